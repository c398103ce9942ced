/* Internal header of the token area: the keyring's layout and the
 * verified-token object shared by keyring.c, jwt_sign.c and jwt_verify.c. */
#ifndef EVP_TOKEN_TOKEN_INT_H
#define EVP_TOKEN_TOKEN_INT_H

#include "base/base.h"
#include "json/json.h"
#include "evpipe/jwt.h"
#include "token/token.h"

/* ---- JWT internals shared by keyring.c, jwt_sign.c, jwt_verify.c ---- */

typedef struct {
  char *kid; /* NULL: the kid-less key */
  size_t kidlen;
  evp__hmac_key_t *hmac; /* the prepared key; raw bytes are not kept */
  char *hdr_b64;         /* our signer's header for this key, encoded */
  size_t hdr_b64_len;
} evp__key_t;

struct evp_keyring_s {
  evp__key_t keys[EVP__KEYRING_MAX];
  size_t n;
  size_t current; /* index of the signing key */
};

/* The key for a kid given as a raw JSON string body (kid == NULL: no kid in
 * the token), or NULL. */
const evp__key_t *evp__keyring_find(const evp_keyring_t *kr, const char *kid, size_t kidlen,
                                    int kid_escaped);

/* A verified token: one allocation holding the decoded claims. */
struct evp_jwt_s {
  const evp__key_t *key;
  void *tree; /* cJSON of the claims, parsed on the first accessor call */
  size_t len;
  char claims[]; /* decoded claims JSON, NUL-terminated */
};

#endif /* EVP_TOKEN_TOKEN_INT_H */
