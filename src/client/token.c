/* Access tokens: the OAuth 2.0 client-credentials grant (RFC 6749 section
 * 4.4) against token.url. Runs on the sender thread only, so at most one
 * refresh is ever in flight. Refreshes happen before expiry with jitter;
 * failures back off exponentially. The secret and tokens are wiped after use
 * and never logged. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cjson/cJSON.h>
#include "client/client_int.h"

void evp__client_token_wipe(evp__token *t) {
  if (t->access) {
    evp__wipe(t->access, strlen(t->access));
    free(t->access);
    t->access = NULL;
  }
}

/* Append "&name=<urlencoded value>" to the form body. */
static int form_add(char **body, size_t *len, const char *name, const char *val) {
  char *esc = curl_easy_escape(NULL, val, 0); /* the handle is unused since libcurl 7.82 */
  if (!esc) return -1;
  size_t el = strlen(esc), nl = strlen(name);
  char *b = malloc(*len + nl + el + 3);
  if (!b) {
    evp__wipe(esc, el);
    curl_free(esc);
    return -1;
  }
  size_t o = 0;
  if (*body) {
    memcpy(b, *body, *len);
    o = *len;
    b[o++] = '&';
    evp__wipe(*body, *len);
    free(*body);
  }
  memcpy(b + o, name, nl);
  o += nl;
  b[o++] = '=';
  memcpy(b + o, esc, el);
  o += el;
  b[o] = '\0';
  evp__wipe(esc, el);
  curl_free(esc);
  *body = b;
  *len = o;
  return 0;
}

/* A failed fetch: remember why and when to try again. A permanent failure
 * (asking again cannot help) waits retry.backoff.max.ms; the sender then
 * fails the pending events instead of letting them wait. */
static evp_err_t failed(evp_client_t *c, evp_err_t e, int permanent, const char *fmt, ...)
    EVP__PRINTF(4, 5);

static evp_err_t failed(evp_client_t *c, evp_err_t e, int permanent, const char *fmt, ...) {
  evp__token *t = &c->tok;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->last_msg, sizeof t->last_msg, fmt, ap);
  va_end(ap);
  t->last_err = e;
  t->permanent = permanent;
  t->failures++;
  int64_t d = permanent ? c->conf->retry_backoff_max_ms
                        : evp__retry_backoff_ms(&c->rng, c->conf->retry_backoff_ms,
                                                c->conf->retry_backoff_max_ms, t->failures);
  if (c->http.rb.retry_after_ms > d) d = c->http.rb.retry_after_ms;
  t->next_try_us = evp__mono_us() + d * 1000;
  EVP__INC(c->st.token_failures, 1);
  evp__client_log(c, EVP_LOG_WARNING, "token: %s (%s %lld ms)", t->last_msg,
                  permanent ? "permanent; next try in" : "retry in", (long long)d);
  return e;
}

static evp_err_t install(evp_client_t *c, const char *tok, double life_s, int64_t t0) {
  size_t tl = strlen(tok);
  char *line = malloc(tl + 23);
  if (!line) return EVP_ERR_NOMEM;
  memcpy(line, "Authorization: Bearer ", 22);
  memcpy(line + 22, tok, tl + 1);
  /* The /events header list is built fresh so the old token can be wiped. */
  struct curl_slist *l = NULL, *x;
  const char *fixed[] = {"Content-Type: application/json", "Expect:",
                         c->conf->compression == EVP__COMP_GZIP ? "Content-Encoding: gzip" : NULL};
  for (size_t i = 0; i < 3 && fixed[i]; i++) {
    if (!(x = curl_slist_append(l, fixed[i]))) goto nomem;
    l = x;
  }
  if (!(x = curl_slist_append(l, line))) goto nomem;
  l = x;
  evp__client_http_set_auth(&c->http, l);
  evp__token *t = &c->tok;
  evp__client_token_wipe(t);
  t->access = line;
  t->gen++;
  double ratio = c->conf->token_refresh_ratio * (1.0 - 0.25 * evp__retry_rand01(&c->rng));
  t->expires_at_us = t0 + (int64_t)(life_s * 1e6);
  t->refresh_at_us = t0 + (int64_t)(life_s * 1e6 * ratio);
  t->failures = 0;
  t->last_err = EVP_OK;
  t->last_msg[0] = '\0';
  EVP__INC(c->st.token_refreshes, 1);
  evp__client_log(c, EVP_LOG_DEBUG, "token: refreshed, lifetime %.0f s", life_s);
  return EVP_OK;
nomem:
  evp__wipe(line, tl + 22);
  free(line);
  curl_slist_free_all(l);
  return EVP_ERR_NOMEM;
}

evp_err_t evp__client_token_refresh(evp_client_t *c) {
  const evp_conf_t *cf = c->conf;
  char *body = NULL;
  size_t len = 0;
  if (form_add(&body, &len, "grant_type", "client_credentials") ||
      form_add(&body, &len, "client_id", cf->client_id) ||
      form_add(&body, &len, "client_secret", cf->client_secret) ||
      (cf->audience && form_add(&body, &len, "audience", cf->audience))) {
    if (body) {
      evp__wipe(body, len);
      free(body);
    }
    return failed(c, EVP_ERR_NOMEM, 0, "out of memory");
  }
  int64_t t0 = evp__mono_us();
  long status = 0;
  evp_err_t e = evp__client_http_post(c, c->token_url, c->http.tok_headers, body, len, &status);
  evp__wipe(body, len);
  free(body);
  if (e != EVP_OK) return failed(c, e, 0, "POST %.120s: %s", c->token_url_shown, c->http.rb.r.err);
  evp__net_resp_t *rs = &c->http.rb.r;
  cJSON *root = cJSON_ParseWithLength(evp__net_resp_text(rs), rs->body.len);
  if (rs->body.p) evp__wipe(rs->body.p, rs->body.len);
  if (status != 200) {
    /* RFC 6749 section 5.2 error response. */
    cJSON *er = cJSON_GetObjectItemCaseSensitive(root, "error");
    cJSON *ed = cJSON_GetObjectItemCaseSensitive(root, "error_description");
    char code[32];
    snprintf(code, sizeof code, "HTTP %ld", status);
    char what[200];
    snprintf(what, sizeof what, "%s%s%.80s%s%.80s", code, cJSON_IsString(er) ? " " : "",
             cJSON_IsString(er) ? er->valuestring : "", cJSON_IsString(ed) ? ": " : "",
             cJSON_IsString(ed) ? ed->valuestring : "");
    cJSON_Delete(root);
    /* 4xx other than 408/429 will not change by asking again: bad
     * credentials (400/401/403 per RFC 6749 5.2) or no such endpoint. */
    int permanent = status >= 400 && status < 500 && status != 408 && status != 429;
    const char *hint = status == 404 || status == 405
                           ? " (no token endpoint at this URL: check endpoint / token.url)"
                           : "";
    return failed(c,
                  (status == 400 || status == 401 || status == 403) ? EVP_ERR_AUTH : EVP_ERR_HTTP,
                  permanent, "POST %.120s: %s%s", c->token_url_shown, what, hint);
  }
  cJSON *at = cJSON_GetObjectItemCaseSensitive(root, "access_token");
  cJSON *tt = cJSON_GetObjectItemCaseSensitive(root, "token_type");
  cJSON *ei = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
  evp_err_t r;
  if (!cJSON_IsString(at) || !at->valuestring[0] || strpbrk(at->valuestring, "\r\n") ||
      !cJSON_IsString(tt) || strcasecmp(tt->valuestring, "Bearer") != 0) {
    r = failed(c, EVP_ERR_AUTH, 0, "token response lacks a Bearer access_token");
  } else {
    /* expires_in is RECOMMENDED only; without it assume a short life. */
    double life = cJSON_IsNumber(ei) && ei->valuedouble > 0 ? ei->valuedouble : 300.0;
    r = install(c, at->valuestring, life, t0);
    if (r != EVP_OK) failed(c, r, 0, "out of memory");
  }
  if (cJSON_IsString(at)) evp__wipe(at->valuestring, strlen(at->valuestring));
  cJSON_Delete(root);
  return r;
}
