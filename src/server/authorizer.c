/* The authorizer: "Authorization: Bearer <jwt>" -> the client id, or the
 * RFC 6750 section 3 challenge. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "base/base.h"
#include "server/server.h"

typedef struct {
  evp_err_t err;
  int status;
  const char *reason; /* metrics label */
  const char *desc;   /* error_description: static text, safe in a quoted-string */
} verdict_t;

static const verdict_t verdicts[] = {
    {EVP_ERR_JWT_EXPIRED, 401, "expired", "the token has expired"},
    {EVP_ERR_JWT_BAD_SIGNATURE, 401, "bad_signature", "the token signature is invalid"},
    {EVP_ERR_JWT_UNKNOWN_KEY, 401, "unknown_key", "the token was signed with an unknown key"},
    {EVP_ERR_JWT_BAD_ALG, 401, "bad_alg", "the token algorithm is not accepted"},
    {EVP_ERR_JWT_NOT_YET_VALID, 401, "not_yet_valid", "the token is not valid yet"},
    {EVP_ERR_JWT_ISSUED_IN_FUTURE, 401, "not_yet_valid", "the token is not valid yet"},
    {EVP_ERR_JWT_BAD_ISSUER, 401, "bad_issuer", "the token issuer is not accepted"},
    /* Also a token without iat, or one living longer than the issuer's TTL
     * (evp_jwt_verifier_set_max_lifetime). */
    {EVP_ERR_JWT_BAD_CLAIM, 401, "bad_claim",
     "the token claims are invalid (a claim such as iat is missing or of the wrong type, or the "
     "token lives longer than the issuer grants)"},
    /* A genuine token minted for another audience: docs/protocol.md maps
     * "valid but not allowed (audience)" to 403, which the client does not
     * retry with a fresh token (it would get the same audience again). */
    {EVP_ERR_JWT_BAD_AUDIENCE, 403, "wrong_audience", "the token is not for this audience"},
};

static evp_err_t challenge(evp__http_resp_t *r, int status, const char *reason, const char *desc) {
  evp_err_t e = evp__http_resp_error(r, status, "invalid_token", desc);
  if (e) return e;
  r->reason = reason;
  char h[256];
  snprintf(h, sizeof h,
           "Bearer realm=\"evpipe\", error=\"invalid_token\", error_description=\"%s\"", desc);
  e = evp__http_resp_header(r, "WWW-Authenticate", h);
  return e ? e : EVP_ERR_AUTH;
}

evp_err_t evp__authorize(const evp_jwt_verifier_t *v, const evp__http_req_t *req,
                         char client_id[EVP__CLIENT_ID_MAX + 1], evp__http_resp_t *resp) {
  client_id[0] = '\0';
  const char *h = evp__http_req_header(req, "authorization");
  if (!h) return challenge(resp, 401, "missing", "a bearer token is required");
  if (strncasecmp(h, "Bearer ", 7) != 0)
    return challenge(resp, 401, "malformed", "the Authorization scheme must be Bearer");
  const char *tok = h + 7;
  while (*tok == ' ') tok++;
  size_t tl = strnlen(tok, EVP_JWT_DEFAULT_MAX_LEN * 16 + 1);
  while (tl > 0 && tok[tl - 1] == ' ') tl--;
  evp_jwt_t *jwt = NULL;
  /* The verifier's reason text may quote the token's contents: not used. */
  evp_err_t e = evp_jwt_verify(v, tok, tl, &jwt, NULL, 0);
  if (e == EVP_ERR_NOMEM) return e;
  if (e != EVP_OK) {
    for (size_t i = 0; i < sizeof verdicts / sizeof verdicts[0]; i++)
      if (verdicts[i].err == e)
        return challenge(resp, verdicts[i].status, verdicts[i].reason, verdicts[i].desc);
    return challenge(resp, 401, "malformed", "the token is malformed");
  }
  const char *sub = evp_jwt_claim_str(jwt, "sub");
  size_t sl = sub ? strlen(sub) : 0;
  if (sl == 0 || sl > EVP__CLIENT_ID_MAX) {
    evp_jwt_destroy(jwt);
    return challenge(resp, 401, "bad_claim", "the token claims are invalid");
  }
  memcpy(client_id, sub, sl + 1);
  evp_jwt_destroy(jwt);
  return EVP_OK;
}
