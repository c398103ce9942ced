/* HMAC-SHA256 over the crypto backend's SHA-256 (EVPIPE_CRYPTO: OpenSSL by
 * default, mbedTLS for the small static client; docs/building.md).
 *
 * Keys are used many times (every token of a 20-minute lifetime, on every
 * request), so a key is prepared once: the SHA-256 states after absorbing
 * key^ipad and key^opad are kept, and each MAC only hashes the message and
 * one outer block. That is RFC 2104 HMAC, computed with the backend's SHA-256
 * (OpenSSL's is hardware-accelerated where the CPU has SHA extensions).
 * OpenSSL 3 marks the low-level SHA256_* calls deprecated in favour of EVP,
 * whose per-call context duplication costs an allocation; OpenSSL builds
 * without the deprecated API fall back to EVP_MAC. */
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "evpipe/jwt.h"

#define SHA_BLOCK 64 /* SHA-256's block size, in bytes (RFC 6234) */

#if defined(EVP_CRYPTO_MBEDTLS)
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
/* mbedTLS 3 dropped the _ret suffix of 2.x (Debian 12 ships 2.28). */
#if MBEDTLS_VERSION_MAJOR >= 3
#define EVP_SHA256_STARTS mbedtls_sha256_starts
#define EVP_SHA256_UPDATE mbedtls_sha256_update
#define EVP_SHA256_FINISH mbedtls_sha256_finish
#else
#define EVP_SHA256_STARTS mbedtls_sha256_starts_ret
#define EVP_SHA256_UPDATE mbedtls_sha256_update_ret
#define EVP_SHA256_FINISH mbedtls_sha256_finish_ret
#endif
typedef mbedtls_sha256_context sha_ctx;
/* Each returns 0 on success (a hardware accelerator could fail). */
static int sha_start(sha_ctx *c) {
  mbedtls_sha256_init(c);
  return EVP_SHA256_STARTS(c, 0);
}
static int sha_update(sha_ctx *c, const void *p, size_t n) { return EVP_SHA256_UPDATE(c, p, n); }
static int sha_final(sha_ctx *c, unsigned char out[32]) { return EVP_SHA256_FINISH(c, out); }
#else
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#if defined(OPENSSL_NO_DEPRECATED_3_0)
#define EVP_HMAC_SLOW_PATH 1
#else
typedef SHA256_CTX sha_ctx;
static int sha_start(sha_ctx *c) { return SHA256_Init(c) != 1; }
static int sha_update(sha_ctx *c, const void *p, size_t n) { return SHA256_Update(c, p, n) != 1; }
static int sha_final(sha_ctx *c, unsigned char out[32]) { return SHA256_Final(out, c) != 1; }
#endif
#endif

struct evp__hmac_key {
#ifndef EVP_HMAC_SLOW_PATH
  sha_ctx inner; /* after absorbing key ^ ipad */
  sha_ctx outer; /* after absorbing key ^ opad */
  int bad;       /* the backend failed while preparing: every MAC is zero */
#else
  unsigned char key[SHA_BLOCK];
  size_t keylen;
#endif
};

#ifndef EVP_HMAC_SLOW_PATH
static int sha_oneshot(const void *p, size_t n, unsigned char out[32]) {
  sha_ctx c;
  int bad = sha_start(&c) | sha_update(&c, p, n) | sha_final(&c, out);
  evp__wipe(&c, sizeof c);
  return bad;
}
#endif

static void prepare(evp__hmac_key_t *k, const void *key, size_t keylen) {
  unsigned char block[SHA_BLOCK];
  memset(block, 0, sizeof block);
  /* RFC 2104: keys longer than the block are hashed first. */
#ifndef EVP_HMAC_SLOW_PATH
  k->bad = 0;
  if (keylen > SHA_BLOCK)
    k->bad |= sha_oneshot(key, keylen, block);
  else if (keylen)
    memcpy(block, key, keylen);
  unsigned char pad[SHA_BLOCK];
  for (size_t i = 0; i < sizeof pad; i++) pad[i] = block[i] ^ 0x36;
  k->bad |= sha_start(&k->inner) | sha_update(&k->inner, pad, sizeof pad);
  for (size_t i = 0; i < sizeof pad; i++) pad[i] = block[i] ^ 0x5c;
  k->bad |= sha_start(&k->outer) | sha_update(&k->outer, pad, sizeof pad);
  evp__wipe(pad, sizeof pad);
#else
  if (keylen > SHA_BLOCK)
    SHA256(key, keylen, block);
  else if (keylen)
    memcpy(block, key, keylen);
  memcpy(k->key, block, sizeof block);
  k->keylen = keylen > SHA_BLOCK ? 32 : keylen;
#endif
  evp__wipe(block, sizeof block);
}

#ifdef EVP_HMAC_SLOW_PATH
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
#else
/* The one-shot MAC is the prepared key's, on the stack. */
static int compute(const evp__hmac_key_t *k, const void *msg, size_t n, unsigned char out[32]) {
  sha_ctx c = k->inner;
  unsigned char ih[32];
  int bad = k->bad | sha_update(&c, msg, n) | sha_final(&c, ih);
  c = k->outer;
  bad |= sha_update(&c, ih, sizeof ih) | sha_final(&c, out);
  evp__wipe(&c, sizeof c);
  evp__wipe(ih, sizeof ih);
  if (bad) memset(out, 0, 32); /* and the callers refuse: an attacker can send a zero MAC */
  return bad;
}

evp_err_t evp_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                          unsigned char mac[32]) {
  if ((!key && keylen) || (!msg && msglen) || !mac || keylen > (size_t)INT32_MAX)
    return EVP_ERR_INVALID_ARG;
  evp__hmac_key_t k;
  prepare(&k, key, keylen);
  int bad = compute(&k, msg, msglen, mac);
  evp__wipe(&k, sizeof k);
  return bad ? EVP_ERR_INTERNAL : EVP_OK;
}
#endif

evp__hmac_key_t *evp__hmac_key_new(const void *key, size_t keylen) {
  evp__hmac_key_t *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  prepare(k, key, keylen);
  return k;
}

int evp__hmac_compute(const evp__hmac_key_t *k, const void *msg, size_t n, unsigned char out[32]) {
#ifndef EVP_HMAC_SLOW_PATH
  return compute(k, msg, n, out) ? -1 : 0;
#else
  if (evp_hmac_sha256(k->key, k->keylen, msg, n, out) == EVP_OK) return 0;
  memset(out, 0, 32);
  return -1;
#endif
}

void evp__hmac_key_free(evp__hmac_key_t *k) {
  if (!k) return;
  evp__wipe(k, sizeof *k);
  free(k);
}
