/* The base layer: what every other area of libevpipe may use — error
 * strings, constant-time compare, hashing, randomness, clocks, HMAC, small
 * byte helpers. It depends on nothing of ours but the public common.h and
 * error.h. Nothing here is public ABI. */
#ifndef EVP_BASE_BASE_H
#define EVP_BASE_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include "evpipe/common.h"
#include "evpipe/error.h"

#if defined(__GNUC__)
#define EVP__PRINTF(f, a) __attribute__((format(printf, f, a)))
/* For the few tiny helpers of per-byte loops that -O2 would leave as calls. */
#define EVP__ALWAYS_INLINE inline __attribute__((always_inline))
#define EVP__LIKELY(x) __builtin_expect(!!(x), 1)
#define EVP__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define EVP__PRINTF(f, a)
#define EVP__ALWAYS_INLINE inline
#define EVP__LIKELY(x) (x)
#define EVP__UNLIKELY(x) (x)
#endif

/* Write a formatted message into a caller's errstr buffer (either may be
 * NULL/0) and return @p err, so error paths are one line. */
evp_err_t evp__seterr(char *errstr, size_t errstr_size, evp_err_t err, const char *fmt, ...)
    EVP__PRINTF(4, 5);

/* Number of codes in evp_err_t (the highest value + 1). */
int evp__err_count(void);

/* Constant-time comparison of two equal-length buffers: 0 when equal. */
int evp__ct_memcmp(const void *a, const void *b, size_t n);
/* FNV-1a of @p n bytes: the hash of the fixed-size probing tables keyed by
 * client id or address (rate limits, lockout). Not for untrusted-key DoS
 * resistance on its own: those tables bound their probes. */
uint32_t evp__fnv1a(const char *s, size_t n);

/* Fill @p buf with cryptographically secure random bytes: OpenSSL's RAND,
 * or the kernel's (getentropy) with EVPIPE_CRYPTO=mbedtls (crypto.c). */
evp_err_t evp__random(void *buf, size_t n);
/* Overwrite @p n bytes of a secret with zeros in a way the compiler cannot
 * drop as a dead store (OPENSSL_cleanse, or mbedTLS's zeroize). NULL or 0:
 * nothing. */
void evp__wipe(void *p, size_t n);
/* Retry jitter, shared by the SDK's sender and the AWS client: a uniform
 * double in [0, 1) from the xorshift state @p rng (spread, not secrecy), and
 * exponential backoff with full jitter: uniform in [0, min(cap, base *
 * 2^(n-1))] ms for the n-th attempt. */
double evp__retry_rand01(uint64_t *rng);
int64_t evp__retry_backoff_ms(uint64_t *rng, int64_t base, int64_t cap, int n);
/* The 36-character text form (8-4-4-4-12 lower-case hex) of a UUID's 16
 * bytes, NUL-terminated. */
void evp__uuid_text(const unsigned char u[16], char out[37]);

/* ---- clocks (util.c): the one place src/ reads the time ----
 * Durations, deadlines and rates use the monotonic clock (it never goes
 * back); times that are shown or stored (timestamps, the receive time of an
 * event, Lambda's deadline, which AWS gives as a wall-clock time) use the
 * wall clock. Tests that need another clock replace it where it is
 * configured (evp_clock_cb_t, the functions' clock and sleep hooks), not here. */
int64_t evp__mono_us(void); /* CLOCK_MONOTONIC, microseconds */
int64_t evp__mono_ms(void); /* the same in milliseconds */
double evp__mono_s(void);   /* the same in seconds */
int64_t evp__wall_us(void); /* CLOCK_REALTIME, microseconds since the epoch */
int64_t evp__wall_ms(void); /* the same in milliseconds */
/* The wall clock in seconds since the epoch (an evp_clock_cb_t). */
int64_t evp__system_clock(void *opaque);
/* A time in microseconds (of either clock) as a struct timespec: the
 * deadline of pthread_cond_timedwait on a condition variable of that clock. */
struct timespec evp__timespec_us(int64_t us);

/* Hex digits, the one place they are spelled: lower-case for output (hashes,
 * UUIDs, \u00XX escapes), and the value of a digit of either case on input
 * (JSON \u escapes, percent-encoding), or -1. */
#define EVP__HEX_DIGITS "0123456789abcdef"
static inline int evp__hex_value(unsigned c) {
  if (c - '0' < 10u) return (int)(c - '0');
  c |= 0x20; /* 'A'..'F' to 'a'..'f'; no other byte lands in that range */
  if (c - 'a' < 6u) return (int)(c - 'a' + 10);
  return -1;
}

/* strdup that returns NULL for NULL. */
char *evp__strdup(const char *s);

/* ---- standard base64 with padding (RFC 4648 4; base64.c, beside the
 * public base64url of evpipe/jwt.h: one codec, two alphabets) ---- */
/* 4 * ceil(n / 3): the encoding's length (the encoder adds a NUL). */
size_t evp__base64_encoded_len(size_t n);
/* Encode and NUL-terminate; returns the length. */
size_t evp__base64_encode(const void *in, size_t n, char *out);
/* Strict decode (padding required, no whitespace, canonical trailing bits):
 * writes at most 3 * len / 4 bytes. EVP_ERR_BASE64 otherwise. */
evp_err_t evp__base64_decode(const char *in, size_t len, unsigned char *out, size_t *outlen);

/* ---- HMAC-SHA256 with a prepared key (hmac.c) ---- */
typedef struct evp__hmac_key evp__hmac_key_t;
/* Prepare @p key for repeated use; NULL on allocation failure. */
evp__hmac_key_t *evp__hmac_key_new(const void *key, size_t keylen);
/* 0, or -1 when the hash backend failed (@p out is then zero, which an
 * attacker can also send: callers must refuse, never compare). */
int evp__hmac_compute(const evp__hmac_key_t *k, const void *msg, size_t n, unsigned char out[32]);
/* Wipe and free. NULL is a no-op. */
void evp__hmac_key_free(evp__hmac_key_t *k);

/* The first and the last @p w bytes (w <= 8, w <= n) of x and y are equal:
 * with n <= 2w, that is all of them. */
static inline int evp__ends_eq(const unsigned char *x, const unsigned char *y, size_t n, size_t w) {
  uint64_t p = 0, q = 0, r = 0, t = 0;
  memcpy(&p, x, w);
  memcpy(&q, y, w);
  memcpy(&r, x + n - w, w);
  memcpy(&t, y + n - w, w);
  return ((p ^ q) | (r ^ t)) == 0;
}

/* a[0..n) == b[0..n) for the short keys and values of tables probed per
 * event (member names, dictionary entries): up to 16 bytes with two
 * overlapping loads instead of a libc call, longer with memcmp. */
static inline int evp__bytes_eq(const void *a, const void *b, size_t n) {
  const unsigned char *x = a, *y = b;
  if (n >= 8 && n <= 16) return evp__ends_eq(x, y, n, 8);
  if (n >= 4 && n < 8) return evp__ends_eq(x, y, n, 4);
  if (n < 4) {
    for (size_t i = 0; i < n; i++)
      if (x[i] != y[i]) return 0;
    return 1;
  }
  return memcmp(x, y, n) == 0;
}

/* Room a buffer keeps after its last byte when strings inside it are
 * matched against schema patterns in place: PCRE2's JIT reads up to 16
 * bytes at a time and may load bytes past a subject's end (it never uses
 * them, but they must be readable, and memory checkers flag the read). */
#define EVP__REGEX_SLACK 16u

/* MurmurHash3's 64-bit finaliser: a bijection in which every input bit
 * moves every output bit, so any slice of the result can pick a slot (the
 * dedup set's keys, the lake writer's integer dictionary). */
static inline uint64_t evp__mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ull;
  x ^= x >> 33;
  return x;
}

/* 64-bit multiply-xorshift hash of n bytes, 8 a step, with @p seed mixed
 * in before the first byte. Tables whose keys a client chooses use a
 * random per-process seed: with a fixed one, any set of names sharing a
 * slot can be computed offline. The seed is not a key, though: some
 * differences (in the top bits of consecutive 8-byte blocks) cancel for
 * every seed or for many. The lake's dictionaries therefore also bound
 * their probes (EVP__PQ_DICT_MAX_PROBE); JSON's duplicate finder does not,
 * as its keys are the names of one object of one body, so what collides
 * costs that request alone. */
static inline uint32_t evp__hash32_seeded(uint64_t seed, const void *data, size_t n) {
  const unsigned char *p = data;
  uint64_t h = 0x9E3779B97F4A7C15ull ^ seed ^ n;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  for (size_t i = 0; i < n; i++) w |= (uint64_t)p[i] << (8 * i);
  h = (h ^ w) * 0x94D049BB133111EBull;
  h ^= h >> 31;
  return (uint32_t)(h ^ (h >> 32));
}

/* The random seed, drawn once per process, of the hash tables whose keys a
 * client chooses (JSON member names, the lake writer's dictionaries): with a
 * fixed seed, keys that share a slot can be computed offline and sent, and
 * each lookup becomes a scan (see evp__hash32_seeded for what a seed does
 * not stop). Thread-safe. */
uint64_t evp__hash_seed(void);

/* evp__hash32_seeded with seed 0 (tables whose keys come from the schema,
 * such as its property tables: far faster than a bytewise hash on longer
 * strings). */
static inline uint32_t evp__hash32(const void *data, size_t n) {
  return evp__hash32_seeded(0, data, n);
}

/* ---- RFC 3339 timestamps (rfc3339.c) ---- */
/* RFC 3339 date-time ("2024-05-01T10:02:11.250+02:00", 'T'/'t', 'Z'/'z',
 * 1 or more fraction digits, numeric offsets up to +-23:59, leap second :60)
 * to microseconds since the epoch, UTC; digits past the sixth are dropped.
 * Years 0000-9999. Returns 0, or -1 when @p s is not such a string. */
int evp__rfc3339_to_us(const char *s, size_t n, int64_t *out);

/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t evp__days_from_civil(int64_t y, unsigned m, unsigned d);

#endif /* EVP_BASE_BASE_H */
