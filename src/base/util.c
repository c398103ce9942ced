/* Small shared helpers: version, memory, constant-time compare, clock
 * (randomness and wiping: crypto.c). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/base.h"
#include "evpipe/version.h"

int evp_version(void) { return EVP_VERSION; }

const char *evp_version_str(void) { return EVP_VERSION_STR; }

void evp_free(void *ptr) { free(ptr); }

int evp__ct_memcmp(const void *a, const void *b, size_t n) {
  /* OpenSSL's CRYPTO_memcmp would do; this avoids a call on the hot path and
   * is written so the compiler cannot short-circuit it. */
  const volatile unsigned char *pa = a, *pb = b;
  unsigned char d = 0;
  for (size_t i = 0; i < n; i++) d |= (unsigned char)(pa[i] ^ pb[i]);
  return d != 0;
}

uint32_t evp__fnv1a(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

int64_t evp__mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t evp__mono_ms(void) { return evp__mono_us() / 1000; }

double evp__mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t evp__wall_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t evp__wall_ms(void) { return evp__wall_us() / 1000; }

int64_t evp__system_clock(void *opaque) {
  (void)opaque;
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return (int64_t)time(NULL);
  return (int64_t)ts.tv_sec;
}

struct timespec evp__timespec_us(int64_t us) {
  struct timespec ts;
  ts.tv_sec = (time_t)(us / 1000000);
  ts.tv_nsec = (long)(us % 1000000) * 1000;
  return ts;
}

char *evp__strdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

void evp__uuid_text(const unsigned char u[16], char out[37]) {
  static const char hx[] = EVP__HEX_DIGITS;
  char *o = out;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
    *o++ = hx[u[i] >> 4];
    *o++ = hx[u[i] & 15];
  }
  *o = '\0';
}

static uint64_t next_rand(uint64_t *s) {
  /* xorshift64*: jitter needs spread, not secrecy. */
  uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

double evp__retry_rand01(uint64_t *s) { return (double)(next_rand(s) >> 11) / 9007199254740992.0; }

int64_t evp__retry_backoff_ms(uint64_t *rng, int64_t base, int64_t cap, int n) {
  int64_t ceil = base;
  for (int i = 1; i < n && ceil < cap; i++) ceil *= 2;
  if (ceil > cap) ceil = cap;
  return (int64_t)(evp__retry_rand01(rng) * (double)(ceil + 1));
}

static pthread_once_t hash_seed_once = PTHREAD_ONCE_INIT;
static uint64_t hash_seed;

static void hash_seed_init(void) {
  if (evp__random(&hash_seed, sizeof hash_seed) != EVP_OK) {
    /* No randomness: still not a constant an attacker can read in the source. */
    int local;
    hash_seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)&local ^
                (uint64_t)(uintptr_t)&hash_seed << 17;
  }
}

uint64_t evp__hash_seed(void) {
  pthread_once(&hash_seed_once, hash_seed_init);
  return hash_seed;
}
