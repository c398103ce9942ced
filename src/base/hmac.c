/* HMAC-SHA256 via OpenSSL.
 *
 * Keys are used many times (every token of a 20-minute lifetime, on every
 * request), so a key is prepared once: the SHA-256 states after absorbing
 * key^ipad and key^opad are kept, and each MAC only hashes the message and
 * one outer block. That is RFC 2104 HMAC, computed with OpenSSL's SHA-256
 * (hardware-accelerated where the CPU has SHA extensions). OpenSSL 3 marks the
 * low-level SHA256_* calls deprecated in favour of EVP, whose per-call context
 * duplication costs an allocation; builds without the deprecated API fall
 * back to EVP_MAC. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include "base/base.h"
#include "evpipe/jwt.h"

#if defined(OPENSSL_NO_DEPRECATED_3_0)
#define EVP_HMAC_SLOW_PATH 1
#endif

struct evp__hmac_key {
#ifndef EVP_HMAC_SLOW_PATH
  SHA256_CTX inner; /* after absorbing key ^ ipad */
  SHA256_CTX outer; /* after absorbing key ^ opad */
#else
  unsigned char key[SHA256_CBLOCK];
  size_t keylen;
#endif
};

evp_err_t evp_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                          unsigned char mac[32]) {
  unsigned int maclen = 32;
  if ((!key && keylen) || (!msg && msglen) || !mac || keylen > (size_t)INT32_MAX)
    return EVP_ERR_INVALID_ARG;
  static const unsigned char empty[1] = {0};
  if (!HMAC(EVP_sha256(), key ? key : empty, (int)keylen, msg ? msg : empty, msglen, mac, &maclen))
    return EVP_ERR_INTERNAL;
  return EVP_OK;
}

evp__hmac_key_t *evp__hmac_key_new(const void *key, size_t keylen) {
  evp__hmac_key_t *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  unsigned char block[SHA256_CBLOCK];
  memset(block, 0, sizeof block);
  /* RFC 2104: keys longer than the block are hashed first. */
  if (keylen > SHA256_CBLOCK)
    SHA256(key, keylen, block);
  else
    memcpy(block, key, keylen);
#ifndef EVP_HMAC_SLOW_PATH
  unsigned char pad[SHA256_CBLOCK];
  for (size_t i = 0; i < sizeof pad; i++) pad[i] = block[i] ^ 0x36;
  SHA256_Init(&k->inner);
  SHA256_Update(&k->inner, pad, sizeof pad);
  for (size_t i = 0; i < sizeof pad; i++) pad[i] = block[i] ^ 0x5c;
  SHA256_Init(&k->outer);
  SHA256_Update(&k->outer, pad, sizeof pad);
  OPENSSL_cleanse(pad, sizeof pad);
#else
  memcpy(k->key, block, sizeof block);
  k->keylen = keylen > SHA256_CBLOCK ? 32 : keylen;
#endif
  OPENSSL_cleanse(block, sizeof block);
  return k;
}

void evp__hmac_compute(const evp__hmac_key_t *k, const void *msg, size_t n, unsigned char out[32]) {
#ifndef EVP_HMAC_SLOW_PATH
  SHA256_CTX c = k->inner;
  unsigned char ih[32];
  SHA256_Update(&c, msg, n);
  SHA256_Final(ih, &c);
  c = k->outer;
  SHA256_Update(&c, ih, sizeof ih);
  SHA256_Final(out, &c);
  OPENSSL_cleanse(&c, sizeof c);
  OPENSSL_cleanse(ih, sizeof ih);
#else
  if (evp_hmac_sha256(k->key, k->keylen, msg, n, out) != EVP_OK)
    memset(out, 0, 32); /* a zero MAC never matches a real signature */
#endif
}

void evp__hmac_key_free(evp__hmac_key_t *k) {
  if (!k) return;
  OPENSSL_cleanse(k, sizeof *k);
  free(k);
}
