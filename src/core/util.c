/* Small shared helpers: version, memory, constant-time compare, randomness,
 * clock. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/rand.h>
#include "core/core.h"
#include "evpipe/version.h"

int evp_version(void) { return EVP_VERSION; }

const char *evp_version_str(void) { return EVP_VERSION_STR; }

void evp_free(void *ptr) { free(ptr); }

int evp__ct_memcmp(const void *a, const void *b, size_t n) {
  /* OpenSSL's CRYPTO_memcmp would do; this avoids a call on the hot path and
   * is written so the compiler cannot short-circuit it. */
  const volatile unsigned char *pa = a, *pb = b;
  unsigned char d = 0;
  for (size_t i = 0; i < n; i++)
    d |= (unsigned char)(pa[i] ^ pb[i]);
  return d != 0;
}

evp_err_t evp__random(void *buf, size_t n) {
  if (n > (size_t)INT32_MAX)
    return EVP_ERR_INVALID_ARG;
  return RAND_bytes(buf, (int)n) == 1 ? EVP_OK : EVP_ERR_INTERNAL;
}

int64_t evp__system_clock(void *opaque) {
  (void)opaque;
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
    return (int64_t)time(NULL);
  return (int64_t)ts.tv_sec;
}

char *evp__strdup(const char *s) {
  if (!s)
    return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

void evp__uuid_text(const unsigned char u[16], char out[37]) {
  static const char hx[] = "0123456789abcdef";
  char *o = out;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      *o++ = '-';
    *o++ = hx[u[i] >> 4];
    *o++ = hx[u[i] & 15];
  }
  *o = '\0';
}
