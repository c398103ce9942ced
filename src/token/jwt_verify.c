/* HS256 token verification (RFC 7515, 7519, and the RFC 8725 best current
 * practices). The algorithm comes from the verifier, never from the token:
 * the header's alg must say exactly "HS256" or the token is refused. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "json/json.h"
#include "token/token_int.h"

#define EVP__MAX_HEADER 1024 /* decoded header bytes: ours is ~60 */
#define EVP__HDR_MEMBERS 16
#define EVP__CLAIM_MEMBERS 128
#define EVP__CLAIM_DEPTH 32
#define EVP__SIG_B64_LEN 43 /* 32 bytes, unpadded */

struct evp_jwt_verifier_s {
  const evp_keyring_t *kr;
  char *aud, *iss;
  int64_t leeway;
  int64_t max_lifetime; /* 0: no cap on exp - iat */
  int require_exp;
  size_t max_len;
  evp_clock_cb_t clock;
  void *clock_opaque;
};

evp_jwt_verifier_t *evp_jwt_verifier_new(const evp_keyring_t *kr, char *errstr,
                                         size_t errstr_size) {
  if (!kr) {
    evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "keyring is required");
    return NULL;
  }
  evp_jwt_verifier_t *v = calloc(1, sizeof *v);
  if (!v) {
    evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    return NULL;
  }
  v->kr = kr;
  v->leeway = EVP_JWT_DEFAULT_LEEWAY;
  v->require_exp = 1;
  v->max_len = EVP_JWT_DEFAULT_MAX_LEN;
  v->clock = evp__system_clock;
  return v;
}

static evp_err_t set_str(char **dst, const char *src) {
  char *d = NULL;
  if (src) {
    size_t n = strlen(src);
    if (n == 0 || n > 1024 || !evp__utf8_valid(src, n)) return EVP_ERR_INVALID_ARG;
    if (!(d = evp__strdup(src))) return EVP_ERR_NOMEM;
  }
  free(*dst);
  *dst = d;
  return EVP_OK;
}

evp_err_t evp_jwt_verifier_set_audience(evp_jwt_verifier_t *v, const char *aud) {
  return v ? set_str(&v->aud, aud) : EVP_ERR_INVALID_ARG;
}

evp_err_t evp_jwt_verifier_set_issuer(evp_jwt_verifier_t *v, const char *iss) {
  return v ? set_str(&v->iss, iss) : EVP_ERR_INVALID_ARG;
}

evp_err_t evp_jwt_verifier_set_leeway(evp_jwt_verifier_t *v, int64_t leeway_s) {
  if (!v || leeway_s < 0 || leeway_s > 3600) return EVP_ERR_INVALID_ARG;
  v->leeway = leeway_s;
  return EVP_OK;
}

evp_err_t evp_jwt_verifier_set_max_lifetime(evp_jwt_verifier_t *v, int64_t max_s) {
  if (!v || max_s < 0 || max_s > 31536000) return EVP_ERR_INVALID_ARG;
  v->max_lifetime = max_s;
  return EVP_OK;
}

void evp_jwt_verifier_set_require_exp(evp_jwt_verifier_t *v, int required) {
  if (v) v->require_exp = required != 0;
}

evp_err_t evp_jwt_verifier_set_max_len(evp_jwt_verifier_t *v, size_t max_len) {
  if (!v || max_len < 64 || max_len > 1048576) return EVP_ERR_INVALID_ARG;
  v->max_len = max_len;
  return EVP_OK;
}

void evp_jwt_verifier_set_clock(evp_jwt_verifier_t *v, evp_clock_cb_t fn, void *opaque) {
  if (!v) return;
  v->clock = fn ? fn : evp__system_clock;
  v->clock_opaque = fn ? opaque : NULL;
}

void evp_jwt_verifier_destroy(evp_jwt_verifier_t *v) {
  if (!v) return;
  free(v->aud);
  free(v->iss);
  free(v);
}

#define FAIL(code, ...) return evp__seterr(errstr, errstr_size, (code), __VA_ARGS__)

static evp_err_t check_header(const evp_jwt_verifier_t *v, const char *b64, size_t len,
                              const evp__key_t **keyp, char *errstr, size_t errstr_size) {
  unsigned char hdr[EVP__MAX_HEADER];
  size_t hl, cnt;
  evp__jmember_t m[EVP__HDR_MEMBERS];
  if (len > (EVP__MAX_HEADER / 3) * 4)
    FAIL(EVP_ERR_JWT_MALFORMED, "token header is larger than %d bytes", EVP__MAX_HEADER);
  if (evp_base64url_decode(b64, len, hdr, &hl) != EVP_OK)
    FAIL(EVP_ERR_JWT_MALFORMED, "token header is not base64url");
  evp_err_t e = evp__json_scan_object((const char *)hdr, hl, 4, m, EVP__HDR_MEMBERS, &cnt);
  if (e) FAIL(EVP_ERR_JWT_MALFORMED, "token header is not a JSON object (%s)", evp_err2str(e));
  if (evp__json_find_dup(m, cnt) >= 0)
    FAIL(EVP_ERR_JWT_DUPLICATE, "duplicate member name in token header");
  const evp__jmember_t *alg = NULL, *kid = NULL;
  for (size_t i = 0; i < cnt; i++) {
    if (evp__json_key_eq(&m[i], "alg", 3)) {
      alg = &m[i];
    } else if (evp__json_key_eq(&m[i], "typ", 3)) {
      /* RFC 8725 3.11: an explicit type keeps other kinds of JWS from being
       * accepted as access tokens; ours is exactly "JWT". */
      if (!evp__json_str_eq(&m[i], "JWT")) FAIL(EVP_ERR_JWT_BAD_TYP, "token typ is not \"JWT\"");
    } else if (evp__json_key_eq(&m[i], "kid", 3)) {
      kid = &m[i];
    } else if (evp__json_key_eq(&m[i], "crit", 4)) {
      /* RFC 7515 4.1.11: extensions we do not implement must be refused. */
      FAIL(EVP_ERR_JWT_MALFORMED, "token header lists critical extensions (crit), none supported");
    }
  }
  if (!alg) FAIL(EVP_ERR_JWT_BAD_ALG, "token header has no alg");
  if (!evp__json_str_eq(alg, "HS256")) FAIL(EVP_ERR_JWT_BAD_ALG, "token alg is not HS256");
  if (kid &&
      (kid->type != EVP__JS_STRING || kid->vallen == 0 || kid->vallen > 6 * EVP_JWT_MAX_KID_LEN))
    FAIL(EVP_ERR_JWT_MALFORMED, "token kid is not a non-empty string");
  *keyp = kid ? evp__keyring_find(v->kr, kid->val, kid->vallen, kid->val_escaped)
              : evp__keyring_find(v->kr, NULL, 0, 0);
  if (!*keyp)
    FAIL(EVP_ERR_JWT_UNKNOWN_KEY, kid ? "no key for the token's kid"
                                      : "token has no kid and the keyring has no kid-less key");
  return EVP_OK;
}

static int aud_matches(const evp__jmember_t *aud, const char *want) {
  if (aud->type == EVP__JS_STRING) return evp__json_str_eq(aud, want);
  /* An array of strings: scan it as the members of a synthetic object would
   * be awkward, so walk it here; it was already validated as JSON. */
  const char *p = aud->val + 1, *end = aud->val + aud->vallen - 1;
  size_t wl = strlen(want);
  for (;;) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',')) p++;
    if (p >= end) return 0;
    if (*p != '"') return -1; /* a non-string element: the claim is malformed */
    const char *s = ++p;
    int esc = 0;
    while (*p != '"') {
      if (*p == '\\') {
        esc = 1;
        p++;
      }
      p++;
    }
    if (evp__json_raw_eq(s, (size_t)(p - s), esc, want, wl, 0)) return 1;
    p++;
  }
}

static evp_err_t check_claims(const evp_jwt_verifier_t *v, const char *claims, size_t len,
                              char *errstr, size_t errstr_size) {
  evp__jmember_t m[EVP__CLAIM_MEMBERS];
  size_t cnt;
  evp_err_t e = evp__json_scan_object(claims, len, EVP__CLAIM_DEPTH, m, EVP__CLAIM_MEMBERS, &cnt);
  if (e) FAIL(EVP_ERR_JWT_MALFORMED, "token claims are not a JSON object (%s)", evp_err2str(e));
  if (evp__json_find_dup(m, cnt) >= 0) FAIL(EVP_ERR_JWT_DUPLICATE, "duplicate claim name in token");
  const evp__jmember_t *exp = NULL, *nbf = NULL, *iat = NULL, *iss = NULL, *aud = NULL;
  for (size_t i = 0; i < cnt; i++) {
    /* Registered names are 3 ASCII letters; an escaped spelling still counts. */
    if (m[i].keylen != 3 && !m[i].key_escaped) continue;
    if (evp__json_key_eq(&m[i], "exp", 3))
      exp = &m[i];
    else if (evp__json_key_eq(&m[i], "nbf", 3))
      nbf = &m[i];
    else if (evp__json_key_eq(&m[i], "iat", 3))
      iat = &m[i];
    else if (evp__json_key_eq(&m[i], "iss", 3))
      iss = &m[i];
    else if (evp__json_key_eq(&m[i], "aud", 3))
      aud = &m[i];
    else if ((evp__json_key_eq(&m[i], "sub", 3) || evp__json_key_eq(&m[i], "jti", 3)) &&
             m[i].type != EVP__JS_STRING)
      FAIL(EVP_ERR_JWT_BAD_CLAIM, "claim %.3s is not a string", m[i].key);
  }
  int64_t now = v->clock(v->clock_opaque), t, exp_t = 0;
  if (exp) {
    if (evp__json_numericdate(exp, &t)) FAIL(EVP_ERR_JWT_BAD_CLAIM, "claim exp is not a number");
    /* RFC 7519 4.1.4: the token is valid only before exp. */
    if (now >= t + v->leeway)
      FAIL(EVP_ERR_JWT_EXPIRED,
           "token expired at %" PRId64 " (now %" PRId64 ", leeway %" PRId64 " s)", t, now,
           v->leeway);
    exp_t = t;
  } else if (v->require_exp || v->max_lifetime) {
    FAIL(EVP_ERR_JWT_BAD_CLAIM, "token has no exp claim");
  }
  if (nbf) {
    if (evp__json_numericdate(nbf, &t)) FAIL(EVP_ERR_JWT_BAD_CLAIM, "claim nbf is not a number");
    if (t > now + v->leeway)
      FAIL(EVP_ERR_JWT_NOT_YET_VALID, "token not valid before %" PRId64 " (now %" PRId64 ")", t,
           now);
  }
  if (iat) {
    if (evp__json_numericdate(iat, &t)) FAIL(EVP_ERR_JWT_BAD_CLAIM, "claim iat is not a number");
    if (t > now + v->leeway)
      FAIL(EVP_ERR_JWT_ISSUED_IN_FUTURE,
           "token issued in the future (%" PRId64 ", now %" PRId64 ")", t, now);
    /* A token that lives longer than its issuer grants was not made by
     * the issuer's own code path (a leaked key, or a signer misconfigured):
     * it would stay usable long after a client is removed. NumericDates
     * saturate at 2^62, so the sum cannot overflow. */
    if (v->max_lifetime && exp_t > t + v->max_lifetime + v->leeway)
      FAIL(EVP_ERR_JWT_BAD_CLAIM,
           "token lifetime exp - iat is longer than the %" PRId64 " s accepted (the issuer's "
           "lifetime %" PRId64 " s plus leeway %" PRId64 " s)",
           v->max_lifetime + v->leeway, v->max_lifetime, v->leeway);
  } else if (v->max_lifetime) {
    FAIL(EVP_ERR_JWT_BAD_CLAIM,
         "token has no iat claim, which is required to bound its lifetime (at most %" PRId64 " s)",
         v->max_lifetime);
  }
  if (iss && iss->type != EVP__JS_STRING) FAIL(EVP_ERR_JWT_BAD_CLAIM, "claim iss is not a string");
  if (v->iss && (!iss || !evp__json_str_eq(iss, v->iss)))
    FAIL(EVP_ERR_JWT_BAD_ISSUER, iss ? "token issuer does not match" : "token has no iss claim");
  if (aud && aud->type != EVP__JS_STRING && aud->type != EVP__JS_ARRAY)
    FAIL(EVP_ERR_JWT_BAD_CLAIM, "claim aud is not a string or an array");
  if (aud && aud->type == EVP__JS_ARRAY && aud_matches(aud, "") < 0)
    FAIL(EVP_ERR_JWT_BAD_CLAIM, "claim aud holds a non-string");
  if (v->aud) {
    if (!aud) FAIL(EVP_ERR_JWT_BAD_AUDIENCE, "token has no aud claim");
    if (aud_matches(aud, v->aud) != 1)
      FAIL(EVP_ERR_JWT_BAD_AUDIENCE, "token audience does not include the expected audience");
  }
  return EVP_OK;
}

evp_err_t evp_jwt_verify(const evp_jwt_verifier_t *v, const char *token, size_t len,
                         evp_jwt_t **jwtp, char *errstr, size_t errstr_size) {
  if (jwtp) *jwtp = NULL;
  if (!v || (!token && len)) FAIL(EVP_ERR_INVALID_ARG, "verifier and token are required");
  if (len > v->max_len)
    FAIL(EVP_ERR_TOO_LARGE, "token is %zu bytes; the limit is %zu", len, v->max_len);
  const char *d1 = len ? memchr(token, '.', len) : NULL;
  const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
  if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
    FAIL(EVP_ERR_JWT_MALFORMED, "token is not three dot-separated segments");
  size_t hlen = (size_t)(d1 - token), plen = (size_t)(d2 - d1 - 1),
         slen = len - (size_t)(d2 + 1 - token);
  if (hlen == 0 || plen == 0)
    FAIL(EVP_ERR_JWT_MALFORMED, "token has an empty header or claims segment");

  /* Our own signer's headers are byte-identical per key: recognising one
   * proves it valid (it is the exact text the slow path would accept). */
  const evp__key_t *key = NULL;
  evp_err_t e;
  for (size_t i = 0; i < v->kr->n && !key; i++)
    if (v->kr->keys[i].hdr_b64_len == hlen && memcmp(v->kr->keys[i].hdr_b64, token, hlen) == 0)
      key = &v->kr->keys[i];
  if (!key && (e = check_header(v, token, hlen, &key, errstr, errstr_size))) return e;

  unsigned char sig[48], mac[32];
  size_t siglen;
  if (slen != EVP__SIG_B64_LEN || evp_base64url_decode(d2 + 1, slen, sig, &siglen) != EVP_OK)
    FAIL(EVP_ERR_JWT_BAD_SIGNATURE, "token signature is not a base64url HMAC-SHA256 value");
  if (evp__hmac_compute(key->hmac, token, (size_t)(d2 - token), mac) != 0)
    FAIL(EVP_ERR_INTERNAL, "HMAC-SHA256 failed in the crypto library");
  int bad = evp__ct_memcmp(mac, sig, sizeof mac);
  evp__wipe(mac, sizeof mac);
  if (bad) FAIL(EVP_ERR_JWT_BAD_SIGNATURE, "token signature does not match");

  /* Claims are only looked at once the signature holds. */
  size_t cap = plen / 4 * 3 + 3, clen;
  evp_jwt_t *jwt = NULL;
  char stackbuf[6144];
  char *claims = stackbuf;
  if (jwtp) {
    jwt = malloc(sizeof *jwt + cap + 1);
    if (!jwt) FAIL(EVP_ERR_NOMEM, "out of memory");
    claims = jwt->claims;
  } else if (cap + 1 > sizeof stackbuf) {
    claims = malloc(cap + 1);
    if (!claims) FAIL(EVP_ERR_NOMEM, "out of memory");
  }
  if (evp_base64url_decode(d1 + 1, plen, (unsigned char *)claims, &clen) != EVP_OK) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_JWT_MALFORMED, "token claims are not base64url");
  } else {
    claims[clen] = '\0';
    e = check_claims(v, claims, clen, errstr, errstr_size);
  }
  if (jwt) {
    if (e) {
      free(jwt);
    } else {
      jwt->key = key;
      jwt->tree = NULL;
      jwt->len = clen;
      *jwtp = jwt;
    }
  } else if (claims != stackbuf) {
    free(claims);
  }
  return e;
}
