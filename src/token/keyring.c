/* The keyring: HS256 keys selected by kid, one of them current for signing.
 * Holding the previous key next to the current one is what lets tokens from
 * both verify during a rotation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "json/json.h"
#include "token/token_int.h"

evp_keyring_t *evp_keyring_new(void) { return calloc(1, sizeof(evp_keyring_t)); }

const evp__key_t *evp__keyring_find(const evp_keyring_t *kr, const char *kid, size_t kidlen,
                                    int kid_escaped) {
  for (size_t i = 0; i < kr->n; i++) {
    const evp__key_t *k = &kr->keys[i];
    if (!kid) {
      if (!k->kid) return k;
    } else if (k->kid && evp__json_raw_eq(kid, kidlen, kid_escaped, k->kid, k->kidlen, 0)) {
      return k;
    }
  }
  return NULL;
}

/* The protected header our signer writes for a key, base64url-encoded once:
 * signing copies it, and verification recognises it with one comparison. */
static char *encode_header(const char *kid, size_t kidlen, size_t *outlen) {
  char hdr[64 + 6 * EVP_JWT_MAX_KID_LEN];
  size_t n = (size_t)snprintf(hdr, sizeof hdr, "{\"alg\":\"HS256\",\"typ\":\"JWT\"");
  if (kid) {
    memcpy(hdr + n, ",\"kid\":\"", 8);
    n += 8;
    n += evp__json_escape(kid, kidlen, hdr + n);
    hdr[n++] = '"';
  }
  hdr[n++] = '}';
  char *b64 = malloc(evp_base64url_encoded_len(n) + 1);
  if (b64) *outlen = evp_base64url_encode(hdr, n, b64);
  return b64;
}

evp_err_t evp_keyring_add(evp_keyring_t *kr, const char *kid, const void *key, size_t keylen,
                          char *errstr, size_t errstr_size) {
  if (!kr || (!key && keylen))
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "keyring and key are required");
  if (keylen < EVP_JWT_MIN_KEY_LEN)
    return evp__seterr(errstr, errstr_size, EVP_ERR_KEY_TOO_SHORT,
                       "HS256 key is %zu bytes; at least %d are required (RFC 7518 3.2)", keylen,
                       EVP_JWT_MIN_KEY_LEN);
  size_t kidlen = kid ? strlen(kid) : 0;
  if (kid && (kidlen == 0 || kidlen > EVP_JWT_MAX_KID_LEN || !evp__utf8_valid(kid, kidlen)))
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "kid must be 1..%d bytes of UTF-8",
                       EVP_JWT_MAX_KID_LEN);
  if (evp__keyring_find(kr, kid, kidlen, 0))
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "keyring already has kid %s",
                       kid ? kid : "(none)");
  if (kr->n == EVP__KEYRING_MAX)
    return evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE, "keyring holds at most %d keys",
                       EVP__KEYRING_MAX);
  evp__key_t *k = &kr->keys[kr->n];
  k->kid = kid ? evp__strdup(kid) : NULL;
  k->kidlen = kidlen;
  k->hmac = evp__hmac_key_new(key, keylen);
  k->hdr_b64 = encode_header(kid, kidlen, &k->hdr_b64_len);
  if ((kid && !k->kid) || !k->hmac || !k->hdr_b64) {
    free(k->kid);
    free(k->hdr_b64);
    evp__hmac_key_free(k->hmac);
    memset(k, 0, sizeof *k);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  }
  if (kr->n == 0) kr->current = 0;
  kr->n++;
  return EVP_OK;
}

evp_err_t evp_keyring_set_current(evp_keyring_t *kr, const char *kid) {
  if (!kr) return EVP_ERR_INVALID_ARG;
  const evp__key_t *k = evp__keyring_find(kr, kid, kid ? strlen(kid) : 0, 0);
  if (!k) return EVP_ERR_JWT_UNKNOWN_KEY;
  kr->current = (size_t)(k - kr->keys);
  return EVP_OK;
}

size_t evp_keyring_count(const evp_keyring_t *kr) { return kr ? kr->n : 0; }

void evp_keyring_destroy(evp_keyring_t *kr) {
  if (!kr) return;
  for (size_t i = 0; i < kr->n; i++) {
    free(kr->keys[i].kid);
    free(kr->keys[i].hdr_b64);
    evp__hmac_key_free(kr->keys[i].hmac);
  }
  free(kr);
}
