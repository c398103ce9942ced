/* HS256 token signing. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "json/json.h"
#include "token/token_int.h"

#define EVP__MAX_STR_CLAIM 1024     /* sub, aud, iss */
#define EVP__MAX_EXTRA_CLAIMS 65536 /* bytes of caller claims JSON */
#define EVP__MAX_EXTRA_MEMBERS 256

struct evp_jwt_signer_s {
  const evp__key_t *key; /* the keyring's current key when the signer was made */
  char *iss_esc;         /* JSON-escaped, or NULL */
  int64_t ttl;
  evp_clock_cb_t clock;
  void *clock_opaque;
};

static const char *const registered[] = {"iss", "sub", "aud", "iat", "nbf", "exp", "jti"};

evp_jwt_signer_t *evp_jwt_signer_new(const evp_keyring_t *kr, char *errstr, size_t errstr_size) {
  if (!kr || kr->n == 0) {
    evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "keyring has no signing key");
    return NULL;
  }
  evp_jwt_signer_t *s = calloc(1, sizeof *s);
  if (!s) {
    evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    return NULL;
  }
  /* A snapshot: promoting another key later needs a new signer. */
  s->key = &kr->keys[kr->current];
  s->ttl = EVP_JWT_DEFAULT_TTL;
  s->clock = evp__system_clock;
  return s;
}

evp_err_t evp_jwt_signer_set_issuer(evp_jwt_signer_t *s, const char *iss) {
  if (!s) return EVP_ERR_INVALID_ARG;
  char *esc = NULL;
  if (iss) {
    size_t n = strlen(iss);
    if (n == 0 || n > EVP__MAX_STR_CLAIM || !evp__utf8_valid(iss, n)) return EVP_ERR_INVALID_ARG;
    if (!(esc = malloc(6 * n + 1))) return EVP_ERR_NOMEM;
    evp__json_escape(iss, n, esc);
  }
  free(s->iss_esc);
  s->iss_esc = esc;
  return EVP_OK;
}

evp_err_t evp_jwt_signer_set_ttl(evp_jwt_signer_t *s, int64_t ttl_s) {
  if (!s || ttl_s < 1 || ttl_s > 31536000) return EVP_ERR_INVALID_ARG;
  s->ttl = ttl_s;
  return EVP_OK;
}

void evp_jwt_signer_set_clock(evp_jwt_signer_t *s, evp_clock_cb_t fn, void *opaque) {
  if (!s) return;
  s->clock = fn ? fn : evp__system_clock;
  s->clock_opaque = fn ? opaque : NULL;
}

void evp_jwt_signer_destroy(evp_jwt_signer_t *s) {
  if (!s) return;
  free(s->iss_esc);
  free(s);
}

/* Check the caller's claims object and find the text between its braces. */
static evp_err_t extra_claims(const char *json, const char **inner, size_t *innerlen, char *errstr,
                              size_t errstr_size) {
  size_t n = strlen(json), cnt;
  evp__jmember_t m[EVP__MAX_EXTRA_MEMBERS];
  if (n > EVP__MAX_EXTRA_CLAIMS)
    return evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE, "claims JSON exceeds %d bytes",
                       EVP__MAX_EXTRA_CLAIMS);
  evp_err_t e = evp__json_scan_object(json, n, 32, m, EVP__MAX_EXTRA_MEMBERS, &cnt);
  if (e)
    return evp__seterr(errstr, errstr_size, e == EVP_ERR_TOO_LARGE ? e : EVP_ERR_JSON,
                       "claims are not a valid JSON object (%s)", evp_err2str(e));
  if (evp__json_find_dup(m, cnt) >= 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_JWT_DUPLICATE, "duplicate name in claims");
  for (size_t i = 0; i < cnt; i++)
    for (size_t r = 0; r < sizeof registered / sizeof *registered; r++)
      if (evp__json_key_eq(&m[i], registered[r], 3))
        return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                           "claim \"%s\" is set by the signer; it cannot be passed in claims",
                           registered[r]);
  if (cnt == 0) {
    *inner = NULL;
    *innerlen = 0;
    return EVP_OK;
  }
  /* From the first member's opening quote to the end of the last value. */
  const evp__jmember_t *last = &m[cnt - 1];
  *inner = m[0].key - 1;
  *innerlen = (size_t)(last->val + last->vallen + (last->type == EVP__JS_STRING) - *inner);
  return EVP_OK;
}

static int str_arg_ok(const char *v) {
  size_t n;
  return v && (n = strlen(v)) > 0 && n <= EVP__MAX_STR_CLAIM && evp__utf8_valid(v, n);
}

evp_err_t evp_jwt_sign(const evp_jwt_signer_t *s, const char *sub, const char *aud,
                       const char *claims_json, char **tokenp, char *errstr, size_t errstr_size) {
  if (tokenp) *tokenp = NULL;
  if (!s || !tokenp)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "signer and tokenp are required");
  if (!str_arg_ok(sub) || !str_arg_ok(aud))
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "sub and aud must be 1..%d bytes of UTF-8", EVP__MAX_STR_CLAIM);
  const char *inner = NULL;
  size_t innerlen = 0;
  if (claims_json) {
    evp_err_t e = extra_claims(claims_json, &inner, &innerlen, errstr, errstr_size);
    if (e) return e;
  }

  unsigned char jti_raw[16];
  char jti[32];
  if (evp__random(jti_raw, sizeof jti_raw) != EVP_OK)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL, "random generator failed");
  evp_base64url_encode(jti_raw, sizeof jti_raw, jti);

  int64_t iat = s->clock(s->clock_opaque);
  int64_t exp = iat + s->ttl;
  size_t subl = strlen(sub), audl = strlen(aud), issl = s->iss_esc ? strlen(s->iss_esc) : 0;
  size_t cap = 256 + issl + 6 * (subl + audl) + innerlen;
  char *payload = malloc(cap);
  if (!payload) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  size_t n = 0;
#define PUT(str, len) (memcpy(payload + n, (str), (len)), n += (len))
  PUT("{", 1);
  if (s->iss_esc) {
    PUT("\"iss\":\"", 7);
    PUT(s->iss_esc, issl);
    PUT("\",", 2);
  }
  PUT("\"sub\":\"", 7);
  n += evp__json_escape(sub, subl, payload + n);
  PUT("\",\"aud\":\"", 9);
  n += evp__json_escape(aud, audl, payload + n);
  n += (size_t)snprintf(payload + n, cap - n,
                        "\",\"iat\":%" PRId64 ",\"nbf\":%" PRId64 ",\"exp\":%" PRId64
                        ",\"jti\":\"%s\"",
                        iat, iat, exp, jti);
  if (innerlen) {
    PUT(",", 1);
    PUT(inner, innerlen);
  }
  PUT("}", 1);
#undef PUT

  size_t plen = evp_base64url_encoded_len(n);
  size_t total = s->key->hdr_b64_len + 1 + plen + 1 + 43;
  char *tok = malloc(total + 1);
  if (!tok) {
    free(payload);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  }
  memcpy(tok, s->key->hdr_b64, s->key->hdr_b64_len);
  tok[s->key->hdr_b64_len] = '.';
  evp_base64url_encode(payload, n, tok + s->key->hdr_b64_len + 1);
  free(payload);
  size_t signed_len = s->key->hdr_b64_len + 1 + plen;
  unsigned char mac[32];
  if (evp__hmac_compute(s->key->hmac, tok, signed_len, mac) != 0) {
    evp__wipe(tok, signed_len);
    free(tok);
    return evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL,
                       "HMAC-SHA256 failed in the crypto library");
  }
  tok[signed_len] = '.';
  evp_base64url_encode(mac, sizeof mac, tok + signed_len + 1);
  evp__wipe(mac, sizeof mac);
  *tokenp = tok;
  return EVP_OK;
}
