/* POST /token: the OAuth 2.0 client-credentials grant (RFC 6749 section 4.4). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "base/base.h"
#include "server/server.h"

#define TOKEN_BODY_MAX 8192 /* a form of four short parameters */

enum { P_GRANT, P_ID, P_SECRET, P_AUD, P_N };

/* Every answer of a token endpoint must not be cached (RFC 6749 5.1). */
static evp_err_t no_store(evp__http_resp_t *r) {
  evp_err_t e = evp__http_resp_header(r, "Cache-Control", "no-store");
  return e ? e : evp__http_resp_header(r, "Pragma", "no-cache");
}

static evp_err_t oauth_error(evp__http_resp_t *r, int status, const char *code, const char *desc) {
  evp_err_t e = evp__http_resp_error(r, status, code, desc);
  if (!e && status == 401) /* RFC 6749 5.2: name the scheme the client may use */
    e = evp__http_resp_header(r, "WWW-Authenticate", "Basic realm=\"evpipe\", charset=\"UTF-8\"");
  return e ? e : no_store(r);
}

/* The client id is locked (evp__lockout_t): 429, like any rate limit, so
 * the SDK waits Retry-After instead of taking it for bad credentials. */
static evp_err_t locked_out(evp__http_resp_t *r, int wait_s) {
  char ra[16];
  snprintf(ra, sizeof ra, "%d", wait_s);
  evp_err_t e = evp__http_resp_error(r, 429, "rate_limited",
                                     "too many failed authentications for this client; retry "
                                     "after Retry-After seconds");
  if (!e) e = evp__http_resp_header(r, "Retry-After", ra);
  r->reason = "client_locked";
  return e ? e : no_store(r);
}

static int is_form(const char *ct) {
  static const char want[] = "application/x-www-form-urlencoded";
  if (!ct || strncasecmp(ct, want, sizeof want - 1) != 0) return 0;
  char c = ct[sizeof want - 1];
  return c == '\0' || c == ';' || c == ' ';
}

/* Sign and render the success body. */
static evp_err_t issue(const evp__issuer_t *iss, const char *id, const char *aud,
                       evp__http_resp_t *resp) {
  char *tok = NULL;
  char err[128];
  evp_err_t e = evp_jwt_sign(iss->signer, id, aud, NULL, &tok, err, sizeof err);
  if (e != EVP_OK) return e == EVP_ERR_NOMEM ? e : EVP_ERR_INTERNAL;
  size_t tl = strlen(tok);
  char *body = malloc(tl + 96);
  if (!body) {
    evp__free_secret(tok);
    return EVP_ERR_NOMEM;
  }
  /* A JWT is base64url and dots: nothing to escape. */
  int n = snprintf(body, tl + 96,
                   "{\"access_token\":\"%s\",\"token_type\":\"Bearer\",\"expires_in\":%lld}", tok,
                   (long long)iss->ttl_s);
  evp__free_secret(tok);
  evp__http_resp_free(resp);
  resp->status = 200;
  resp->body = body;
  resp->body_len = (size_t)n;
  resp->content_type = "application/json";
  return no_store(resp);
}

evp_err_t evp__issuer_handle(const evp__issuer_t *iss, const evp__http_req_t *req,
                             evp__http_resp_t *resp, char **client_id_out) {
  static const char *const names[P_N] = {"grant_type", "client_id", "client_secret", "audience"};
  char *v[P_N] = {NULL, NULL, NULL, NULL};
  char *bid = NULL, *bsecret = NULL;
  evp_err_t e;
  if (client_id_out) *client_id_out = NULL;
  if (strcmp(req->method, "POST") != 0) {
    e = oauth_error(resp, 405, "invalid_request", "use POST");
    return e ? e : evp__http_resp_header(resp, "Allow", "POST");
  }
  if (!is_form(evp__http_req_header(req, "content-type")))
    return oauth_error(resp, 400, "invalid_request",
                       "Content-Type must be application/x-www-form-urlencoded");
  if (req->body_len > TOKEN_BODY_MAX)
    return oauth_error(resp, 400, "invalid_request", "request body too large");
  e = evp__form_parse(req->body, req->body_len, names, P_N, v);
  if (e == EVP_ERR_NOMEM) return e;
  if (e != EVP_OK)
    return oauth_error(resp, 400, "invalid_request",
                       "malformed form body or a parameter given twice");
  const char *authz = evp__http_req_header(req, "authorization");
  if (!v[P_GRANT]) {
    e = oauth_error(resp, 400, "invalid_request", "grant_type is required");
    goto out;
  }
  if (strcmp(v[P_GRANT], "client_credentials") != 0) {
    e = oauth_error(resp, 400, "unsupported_grant_type", "only client_credentials is supported");
    goto out;
  }
  if (authz) {
    e = evp__basic_auth_parse(authz, &bid, &bsecret);
    if (e == EVP_ERR_NOMEM) goto out;
    if (e != EVP_OK) {
      e = oauth_error(resp, 401, "invalid_client", "unsupported or malformed Authorization header");
      goto out;
    }
    /* One authentication method only (RFC 6749 2.3); a client_id in the body
     * is tolerated when it names the same client. */
    if (v[P_SECRET] || (v[P_ID] && strcmp(v[P_ID], bid) != 0)) {
      e = oauth_error(resp, 400, "invalid_request", "more than one client authentication method");
      goto out;
    }
  }
  const char *id = bid ? bid : v[P_ID];
  const char *secret = bid ? bsecret : v[P_SECRET];
  if (!id || !secret) {
    e = oauth_error(resp, 401, "invalid_client", "client authentication required");
    goto out;
  }
  if (v[P_AUD] && (v[P_AUD][0] == '\0' || strlen(v[P_AUD]) > EVP__AUDIENCE_MAX)) {
    e = oauth_error(resp, 400, "invalid_request", "audience must be 1..256 characters");
    goto out;
  }
  const char *aud = NULL;
  size_t idl = strlen(id);
  if (idl > EVP__CLIENT_ID_MAX) idl = 0; /* no client has such an id */
  int known = iss->lockout ? evp__clients_has(iss->clients, id, idl) : 0;
  /* A locked id is refused before its secret is looked at: a guess made
   * now could not tell right from wrong. */
  int wait = iss->lockout ? evp__lockout_check(iss->lockout, id, known, req->source_ip) : 0;
  if (wait > 0) {
    e = locked_out(resp, wait);
    goto out;
  }
  switch (evp__clients_check(iss->clients, id, idl, secret, strlen(secret), v[P_AUD], &aud)) {
  case EVP__CLIENT_UNKNOWN:
    if (iss->lockout) evp__lockout_failed(iss->lockout, id, known, req->source_ip);
    e = oauth_error(resp, 401, "invalid_client", "unknown client or bad secret");
    goto out;
  case EVP__CLIENT_BAD_AUDIENCE:
    if (iss->lockout) /* the secret was right */
      evp__lockout_succeeded(iss->lockout, id, req->source_ip);
    e = oauth_error(resp, 400, "invalid_target", "audience not allowed for this client");
    goto out;
  case EVP__CLIENT_OK:
    if (iss->lockout) evp__lockout_succeeded(iss->lockout, id, req->source_ip);
    break;
  }
  if ((e = issue(iss, id, aud, resp)) != EVP_OK) goto out;
  if (client_id_out && !(*client_id_out = evp__strdup(id))) e = EVP_ERR_NOMEM;
out:
  for (int i = 0; i < P_N; i++) evp__free_secret(v[i]);
  evp__free_secret(bid);
  evp__free_secret(bsecret);
  return e;
}
