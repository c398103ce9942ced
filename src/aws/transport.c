/* The client and its transport: one keep-alive CURL easy handle per client,
 * requests signed by libcurl (CURLOPT_AWS_SIGV4), answers bounded in size,
 * AWS JSON 1.1 error bodies parsed. One attempt per evp__aws_transport_post;
 * the retry loop is in call.c.
 *
 * libcurl 7.88 signs every header of CURLOPT_HTTPHEADER (lower-cased, sorted)
 * plus host and x-amz-date, so the X-Amz-Security-Token header we add is in
 * SignedHeaders, as SigV4 requires for services that expect the token in the
 * canonical request. It also signs an empty "Expect:" line that it then does
 * not send, which the service would reject: we never add one. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include "aws/aws_int.h"
#include "base/base.h"
#include "net/net.h"
#include "evpipe/version.h"

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  evp__aws_client_t *c = ud;
  size_t len = sz * n;
  if (len > c->max_resp || c->resp_len > c->max_resp - len) {
    c->resp_overflow = 1;
    return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
  }
  if (c->resp_len + len + 1 > c->resp_cap) {
    size_t cap = c->resp_cap ? c->resp_cap : 4096;
    while (cap < c->resp_len + len + 1)
      cap *= 2;
    /* Answers may hold secret values: move them, wiping the old block. */
    char *r = malloc(cap);
    if (!r) {
      c->resp_nomem = 1;
      return 0;
    }
    if (c->resp) {
      memcpy(r, c->resp, c->resp_len);
      OPENSSL_cleanse(c->resp, c->resp_cap);
      free(c->resp);
    }
    c->resp = r;
    c->resp_cap = cap;
  }
  memcpy(c->resp + c->resp_len, p, len);
  c->resp_len += len;
  c->resp[c->resp_len] = '\0';
  return len;
}

/* Copy a header value (trimmed, printable ASCII, up to ':' when @p colon). */
static void hdr_copy(char *dst, size_t dsz, const char *v, size_t len, int colon) {
  while (len && (*v == ' ' || *v == '\t'))
    v++, len--;
  size_t o = 0;
  for (size_t i = 0; i < len && o + 1 < dsz; i++) {
    unsigned char ch = (unsigned char)v[i];
    if (ch == '\r' || ch == '\n' || (colon && ch == ':'))
      break;
    dst[o++] = (ch < 0x20 || ch > 0x7e) ? '?' : (char)ch;
  }
  while (o && dst[o - 1] == ' ')
    o--;
  dst[o] = '\0';
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
  evp__aws_client_t *c = ud;
  size_t len = sz * n;
  if (len >= 5 && !memcmp(p, "HTTP/", 5)) { /* a new response (after a 100) */
    c->hdr_err_type[0] = c->hdr_request_id[0] = '\0';
  } else if (len > 17 && !strncasecmp(p, "x-amzn-errortype:", 17)) {
    hdr_copy(c->hdr_err_type, sizeof c->hdr_err_type, p + 17, len - 17, 1);
  } else if (len > 17 && !strncasecmp(p, "x-amzn-requestid:", 17)) {
    hdr_copy(c->hdr_request_id, sizeof c->hdr_request_id, p + 17, len - 17, 0);
  }
  return len;
}

/* The CA bundle to verify AWS endpoints with. libcurl looks where the
 * distribution it was built on keeps it (Debian: /etc/ssl/certs/...), but the
 * Lambda zip bundles Debian's libcurl and runs on Amazon Linux 2023, which
 * keeps it in /etc/pki/tls/certs: without this every HTTPS call would fail
 * verification there. SSL_CERT_FILE (OpenSSL's variable) wins; NULL leaves
 * libcurl's default. */
static const char *ca_bundle(void) {
  const char *env = getenv("SSL_CERT_FILE");
  if (env && *env && access(env, R_OK) == 0)
    return env;
  static const char *const known[] = {"/etc/pki/tls/certs/ca-bundle.crt",
                                      "/etc/ssl/certs/ca-certificates.crt"};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (access(known[i], R_OK) == 0)
      return known[i];
  return NULL;
}

evp_err_t evp__aws_client_new(const evp__aws_env_t *env, const char *service,
                              const char *env_suffix, const char *target_prefix,
                              evp__aws_client_t **out, char *es, size_t esz) {
  if (!out)
    return evp__seterr(es, esz, EVP_ERR_INVALID_ARG, "NULL argument");
  *out = NULL;
  if (!env || !service || !target_prefix || !*service || strlen(service) >= 64 ||
      !*target_prefix || strlen(target_prefix) >= 64)
    return evp__seterr(es, esz, EVP_ERR_INVALID_ARG, "invalid service or target prefix");
  for (const char *p = target_prefix; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '_' || *p == '.'))
      return evp__seterr(es, esz, EVP_ERR_INVALID_ARG, "invalid target prefix");
  if (evp__curl_init_once() != 0)
    return evp__seterr(es, esz, EVP_ERR_TRANSPORT, "curl_global_init failed");
  char url[2100];
  evp_err_t rc = evp__aws_endpoint_resolve(env, service, env_suffix, url, sizeof url, es, esz);
  if (rc != EVP_OK)
    return rc;
  evp__aws_client_t *c = calloc(1, sizeof *c);
  if (!c)
    return evp__seterr(es, esz, EVP_ERR_NOMEM, "out of memory");
  c->env = env;
  memcpy(c->service, service, strlen(service) + 1);
  memcpy(c->target_prefix, target_prefix, strlen(target_prefix) + 1);
  snprintf(c->sigv4, sizeof c->sigv4, "aws:amz:%s:%s", env->region, service);
  c->max_resp = EVP__AWS_MAX_RESPONSE;
  c->backoff_base_ms = EVP__AWS_BACKOFF_BASE_MS;
  c->backoff_cap_ms = EVP__AWS_BACKOFF_CAP_MS;
  c->max_attempts = EVP__AWS_MAX_ATTEMPTS;
  c->call_timeout_ms = EVP__AWS_DEFAULT_TIMEOUT_MS;
  c->quota = EVP__AWS_QUOTA_MAX;
  if (evp__random(&c->rng, sizeof c->rng) != EVP_OK)
    c->rng = (uint64_t)(uintptr_t)c ^ (uint64_t)evp__mono_ms();
  c->url = evp__strdup(url);
  c->h = curl_easy_init();
  if (!c->url || !c->h) {
    evp__aws_client_free(c);
    return evp__seterr(es, esz, EVP_ERR_NOMEM, "cannot create the HTTP handle");
  }
  CURL *e = c->h;
  int bad = 0;
  bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "libevpipe/" EVP_VERSION_STR) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_URL, c->url) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, c) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, c) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->curl_err) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
  const char *ca = ca_bundle();
  if (ca)
    bad |= curl_easy_setopt(e, CURLOPT_CAINFO, ca) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK;
  /* Cleartext (loopback only) never goes through an environment proxy. */
  if (!strncasecmp(c->url, "http://", 7))
    bad |= curl_easy_setopt(e, CURLOPT_NOPROXY, "*") != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_AWS_SIGV4, c->sigv4) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_USERNAME, env->access_key) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_PASSWORD, env->secret_key) != CURLE_OK;
  if (bad) {
    evp__aws_client_free(c);
    return evp__seterr(es, esz, EVP_ERR_UNSUPPORTED, "libcurl refused an option (no SigV4?)");
  }
  *out = c;
  return EVP_OK;
}

void evp__aws_client_free(evp__aws_client_t *c) {
  if (!c)
    return;
  if (c->h)
    curl_easy_cleanup(c->h);
  free(c->url);
  if (c->resp) {
    OPENSSL_cleanse(c->resp, c->resp_cap);
    free(c->resp);
  }
  free(c);
}

const char *evp__aws_client_endpoint(const evp__aws_client_t *c) { return c ? c->url : NULL; }

void evp__aws_transport_reset(evp__aws_client_t *c) {
  if (c->resp)
    OPENSSL_cleanse(c->resp, c->resp_cap);
  c->resp_len = 0;
  c->resp_overflow = 0;
  c->resp_nomem = 0;
  c->hdr_err_type[0] = c->hdr_request_id[0] = '\0';
  c->curl_err[0] = '\0';
}

CURLcode evp__aws_transport_post(evp__aws_client_t *c, struct curl_slist *hdrs, const char *body,
                                 size_t body_len, int64_t timeout_ms, long *status) {
  evp__aws_transport_reset(c);
  *status = 0;
  if (timeout_ms < 1)
    timeout_ms = 1;
  CURL *e = c->h;
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms < 5000 ? timeout_ms : 5000));
  CURLcode rc = curl_easy_perform(e);
  /* Do not leave pointers to the caller's headers and body behind. */
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, (const char *)NULL);
  if (rc == CURLE_OK)
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
  if (!c->resp_len && c->resp_cap)
    c->resp[0] = '\0';
  return rc;
}

static void copy_clean(char *dst, size_t dsz, const char *s) {
  size_t o = 0;
  for (; s && *s && o + 1 < dsz; s++)
    dst[o++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? ' ' : *s;
  dst[o] = '\0';
}

void evp__aws_parse_error(const char *body, size_t len, const char *hdr_type,
                          evp__aws_result_t *res) {
  res->err_type[0] = res->err_msg[0] = '\0';
  if (hdr_type && *hdr_type)
    copy_clean(res->err_type, sizeof res->err_type, hdr_type);
  cJSON *j = (body && len) ? cJSON_ParseWithLength(body, len) : NULL;
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return;
  }
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "__type");
  if (!res->err_type[0] && cJSON_IsString(t)) {
    /* "com.amazon.coral.service#InvalidSignatureException" or "Code:uri" */
    const char *v = t->valuestring, *h = strrchr(v, '#');
    if (h)
      v = h + 1;
    copy_clean(res->err_type, sizeof res->err_type, v);
    char *colon = strchr(res->err_type, ':');
    if (colon)
      *colon = '\0';
  }
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
  if (!cJSON_IsString(m))
    m = cJSON_GetObjectItemCaseSensitive(j, "Message");
  if (cJSON_IsString(m))
    copy_clean(res->err_msg, sizeof res->err_msg, m->valuestring);
  cJSON_Delete(j);
}
