/* Randomness and secret wiping from the crypto backend chosen at build time
 * (EVPIPE_CRYPTO, docs/building.md): OpenSSL by default; with mbedTLS (the
 * small static client) the kernel's CSPRNG through getentropy() and mbedTLS's
 * zeroize, so that libevpipe needs no libcrypto. HMAC-SHA256 is in hmac.c;
 * the constant-time compare is the library's own (util.c). */
#define _DEFAULT_SOURCE /* getentropy (glibc declares it for the BSD/misc API) */
#include "base/base.h"

#if defined(EVP_CRYPTO_MBEDTLS)
#include <errno.h>
#include <unistd.h>
#include <sys/random.h>
#include <mbedtls/platform_util.h>

/* getentropy() (glibc 2.25, musl 1.1.20, Darwin, bionic API 28, POSIX 2024)
 * reads the kernel's CSPRNG (getrandom on Linux), blocks only until it is
 * seeded at boot, is fork-safe (no user-space state) and gives at most 256
 * bytes a call. */
evp_err_t evp__random(void *buf, size_t n) {
  unsigned char *p = buf;
  while (n > 0) {
    size_t k = n < 256 ? n : 256;
    if (getentropy(p, k) != 0) return EVP_ERR_INTERNAL;
    p += k;
    n -= k;
  }
  return EVP_OK;
}

void evp__wipe(void *p, size_t n) {
  if (p && n) mbedtls_platform_zeroize(p, n);
}
#else
#include <openssl/crypto.h>
#include <openssl/rand.h>

evp_err_t evp__random(void *buf, size_t n) {
  if (n > (size_t)INT32_MAX) return EVP_ERR_INVALID_ARG;
  return RAND_bytes(buf, (int)n) == 1 ? EVP_OK : EVP_ERR_INTERNAL;
}

void evp__wipe(void *p, size_t n) {
  if (p && n) OPENSSL_cleanse(p, n);
}
#endif
