/* Internal header of the core area: helpers shared by every part of
 * libevpipe. Nothing here is public ABI. */
#ifndef EVP_CORE_CORE_H
#define EVP_CORE_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#define EVP__HAVE_SSE2 1
#endif
#include "evpipe/common.h"
#include "evpipe/error.h"
#include "evpipe/jwt.h"
#include "evpipe/schema.h"

#if defined(__GNUC__)
#  define EVP__PRINTF(f, a) __attribute__((format(printf, f, a)))
#  define EVP__LIKELY(x) __builtin_expect(!!(x), 1)
#  define EVP__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#  define EVP__PRINTF(f, a)
#  define EVP__LIKELY(x) (x)
#  define EVP__UNLIKELY(x) (x)
#endif

/* Write a formatted message into a caller's errstr buffer (either may be
 * NULL/0) and return @p err, so error paths are one line. */
evp_err_t evp__seterr(char *errstr, size_t errstr_size, evp_err_t err,
                      const char *fmt, ...) EVP__PRINTF(4, 5);

/* Number of codes in evp_err_t (the highest value + 1). */
int evp__err_count(void);

/* Constant-time comparison of two equal-length buffers: 0 when equal. */
int evp__ct_memcmp(const void *a, const void *b, size_t n);
/* FNV-1a of @p n bytes: the hash of the fixed-size probing tables keyed by
 * client id or address (rate limits, lockout). Not for untrusted-key DoS
 * resistance on its own: those tables bound their probes. */
uint32_t evp__fnv1a(const char *s, size_t n);

/* Fill @p buf with cryptographically secure random bytes (OpenSSL RAND). */
evp_err_t evp__random(void *buf, size_t n);
/* Retry jitter, shared by the SDK's sender and the AWS client: a uniform
 * double in [0, 1) from the xorshift state @p rng (spread, not secrecy), and
 * exponential backoff with full jitter: uniform in [0, min(cap, base *
 * 2^(n-1))] ms for the n-th attempt. */
double evp__retry_rand01(uint64_t *rng);
int64_t evp__retry_backoff_ms(uint64_t *rng, int64_t base, int64_t cap, int n);
/* curl_global_init, once per process (curl_once.c); 0 or -1 when it failed. */
int evp__curl_init_once(void);
/* The 36-character text form (8-4-4-4-12 lower-case hex) of a UUID's 16
 * bytes, NUL-terminated. */
void evp__uuid_text(const unsigned char u[16], char out[37]);

/* The system clock in seconds since the epoch (an evp_clock_cb_t). */
int64_t evp__system_clock(void *opaque);
/* CLOCK_MONOTONIC in seconds, for deadlines and rates (never goes back). */
double evp__mono_s(void);

/* strdup that returns NULL for NULL. */
char *evp__strdup(const char *s);


/* ---- HMAC-SHA256 with a prepared key (hmac.c) ---- */
typedef struct evp__hmac_key_s evp__hmac_key_t;
/* Prepare @p key for repeated use; NULL on allocation failure. */
evp__hmac_key_t *evp__hmac_key_new(const void *key, size_t keylen);
void evp__hmac_compute(const evp__hmac_key_t *k, const void *msg, size_t n, unsigned char out[32]);
/* Wipe and free. NULL is a no-op. */
void evp__hmac_key_free(evp__hmac_key_t *k);

/* ---- strict JSON scanning for token headers and claims (jwt_json.c) ---- */
typedef enum {
  EVP__JS_STRING, EVP__JS_NUMBER, EVP__JS_OBJECT, EVP__JS_ARRAY,
  EVP__JS_TRUE, EVP__JS_FALSE, EVP__JS_NULL
} evp__jstype_t;

/* A top-level member: spans into the scanned text. For strings, val/vallen
 * exclude the quotes and are still JSON-escaped when val_escaped is set. */
typedef struct {
  const char *key, *val;
  size_t keylen, vallen;
  int key_escaped, val_escaped;
  evp__jstype_t type;
} evp__jmember_t;

/* Validate that text is exactly one JSON object (RFC 8259, UTF-8 checked,
 * nesting <= max_depth) and record up to max_m top-level members.
 * EVP_ERR_JSON, EVP_ERR_TOO_DEEP, or EVP_ERR_TOO_LARGE (too many members). */
evp_err_t evp__json_scan_object(const char *text, size_t n, unsigned max_depth,
                                evp__jmember_t *m, size_t max_m, size_t *count);
/* Parse @p doc once and validate each element of the array in its top-level
 * member @p key against @p schema with @p c (limits as for one
 * evp_schema_validate per element), calling @p fn with the element's span
 * (exact for objects; for other values only the first byte) and verdict;
 * the context's errors describe a failed verdict during the call. Returns 0
 * after the last element, 1 when fn returned non-zero, -2 on ENOMEM, and -1
 * when doc is not JSON within the nesting bound, not an object of at most
 * @p max_members distinct members, or @p key is not an array: the caller's
 * general path then says why. Borrows everything; @p c is not shared. */
int evp__schema_validate_each(const evp_schema_t *schema, evp_schema_ctx_t *c, const char *doc,
                              size_t len, const char *key, size_t max_members,
                              int (*fn)(void *opaque, size_t i, const char *v, size_t n,
                                        evp_err_t verdict),
                              void *opaque);
/* In an evp__schema_validate_each callback for an object element: its
 * top-level members read off the parse just made, so the caller does not
 * scan the element's text again. Names and string values are given decoded
 * (key_escaped, val_escaped 0), other values as their text. *count is the
 * number of members; EVP_ERR_TOO_LARGE when more than @p max_m (nothing
 * else is filled), EVP_ERR_STATE outside such a callback. */
evp_err_t evp__schema_each_members(const evp_schema_ctx_t *c, evp__jmember_t *m, size_t max_m,
                                   size_t *count);
/* evp__json_scan_object for text already known to be one valid JSON object (events read
 * back from the server's own checksummed log): only the structure is found —
 * strings are skipped with memchr, nested values by bracket counting — so
 * invalid JSON may give a wrong result instead of EVP_ERR_JSON. */
evp_err_t evp__json_scan_object_trusted(const char *text, size_t n, evp__jmember_t *m,
                                        size_t max_m, size_t *count);
/* Index of the first member whose name repeats an earlier one (names
 * compared by their decoded value), or -1. Linear in @p n on average (a
 * hash of the names past a few members, seeded at random per process so
 * that names cannot be chosen to collide from reading the source): a
 * hostile event of thousands of members costs about as much as reading it. */
long evp__json_find_dup(const evp__jmember_t *m, size_t n);
/* The correctly rounded double of the JSON number text s[0..n), whatever the
 * process locale (strtod in the C locale). 0, or -1 when out of memory. */
int evp__json_strtod(const char *s, size_t n, double *out);
/* Compare two raw JSON string bodies by their decoded value. */
int evp__json_raw_eq(const char *a, size_t alen, int a_esc, const char *b, size_t blen, int b_esc);
/* Member name equals the UTF-8 bytes s[0..n). Inline: the verifier calls it
 * for every member of every token. */
static inline int evp__json_key_eq(const evp__jmember_t *m, const char *s, size_t n) {
  if (!m->key_escaped)
    return m->keylen == n && memcmp(m->key, s, n) == 0;
  return evp__json_raw_eq(m->key, m->keylen, 1, s, n, 0);
}
/* Member is a string equal to s[0..n). */
static inline int evp__json_str_eqn(const evp__jmember_t *m, const char *s, size_t n) {
  if (m->type != EVP__JS_STRING)
    return 0;
  if (!m->val_escaped)
    return m->vallen == n && memcmp(m->val, s, n) == 0;
  return evp__json_raw_eq(m->val, m->vallen, 1, s, n, 0);
}
#define evp__json_str_eq(m, s) evp__json_str_eqn((m), (s), strlen(s))
/* Decode a validated raw string body into out (at least len + 1 bytes). */
size_t evp__json_unescape(const char *raw, size_t len, char *out);
/* A number member as whole seconds (saturating); -1 when not a number. */
int evp__json_numericdate(const evp__jmember_t *m, int64_t *out);
/* JSON-escape s[0..n) into out (at least 6n + 1 bytes); returns the length. */
size_t evp__json_escape(const char *s, size_t n, char *out);
/* JSON-escape text that may be anything (a path, a message): bytes that are
 * not UTF-8 become \ufffd, controls \u00XX; at most @p cap - 1 bytes are
 * written (never part of an escape or a character) and NUL-terminated;
 * *cut (may be NULL) says whether s was cut short. */
size_t evp__json_escape_text(const char *s, size_t n, char *out, size_t cap, int *cut);
/* Whether s[0..n) is well-formed UTF-8. */
int evp__utf8_valid(const char *s, size_t n);
/* The first byte in [p, end) that a JSON string scanner must stop at: '"'
 * or '\\', and with @p strict also a control character or a non-ASCII byte
 * (end when there is none). Strings are most of an event's bytes, and the
 * scanners (SDK door check, server parser, batcher) read every one: 16 bytes
 * a step with SSE2, else 8 with the "has zero byte" bit trick on each
 * condition. Called with a constant @p strict, the other branch folds away. */
static inline const unsigned char *evp__json_stop(const unsigned char *p, const unsigned char *end,
                                                  int strict) {
#ifdef EVP__HAVE_SSE2
  const __m128i quote = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), sp = _mm_set1_epi8(0x20);
  while (end - p >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i stop = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bs));
    /* Signed compare: bytes >= 0x80 are negative, so "< 0x20" catches both
     * the controls and non-ASCII. */
    if (strict) stop = _mm_or_si128(stop, _mm_cmplt_epi8(v, sp));
    unsigned m = (unsigned)_mm_movemask_epi8(stop);
    if (m)
      return p + __builtin_ctz(m);
    p += 16;
  }
#endif
  while (end - p >= 8) {
    uint64_t w, ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    memcpy(&w, p, 8);
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    uint64_t stop = ((q - ones) & ~q) | ((b - ones) & ~b);
    if (strict) stop |= (w - ones * 0x20) | w;
    if (stop & highs)
      break;
    p += 8;
  }
  while (p < end && *p != '"' && *p != '\\' && (!strict || (*p >= 0x20 && *p < 0x80)))
    p++;
  return p;
}
#define evp__json_plain_end(p, end) evp__json_stop((p), (end), 1)
#define evp__json_quote_end(p, end) evp__json_stop((p), (end), 0)

/* The first and the last @p w bytes (w <= 8, w <= n) of x and y are equal:
 * with n <= 2w, that is all of them. */
static inline int evp__ends_eq(const unsigned char *x, const unsigned char *y, size_t n,
                               size_t w) {
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

/* 64-bit multiply-xorshift hash of n bytes, 8 a step, with @p seed mixed
 * in before the first byte. Tables whose keys a client chooses use a
 * random per-process seed: with a fixed one, crafted names can be made to
 * share a slot and turn each lookup into a scan. */
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

/* evp__hash32_seeded with seed 0 (dictionary and property tables, whose
 * keys come from the schema or are bounded per file: far faster than a
 * bytewise hash on longer strings). */
static inline uint32_t evp__hash32(const void *data, size_t n) {
  return evp__hash32_seeded(0, data, n);
}

/* Length of the valid UTF-8 sequence at @p p (1 for ASCII, 2..4), 0 when it
 * is not one (overlong, surrogate, above U+10FFFF, truncated at @p end). */
static inline size_t evp__utf8_seq(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0], min;
  size_t n;
  if (c < 0x80)
    return 1;
  if (c < 0xC2 || c > 0xF4)
    return 0;
  if (c < 0xE0) n = 2, min = 0x80;
  else if (c < 0xF0) n = 3, min = 0x800;
  else n = 4, min = 0x10000;
  if ((size_t)(end - p) < n)
    return 0;
  unsigned cp = c & (0x3Fu >> (n - 1));
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3Fu);
  }
  return cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : n;
}

/* ---- JWT internals shared by keyring.c, jwt_sign.c, jwt_verify.c ---- */
#define EVP__KEYRING_MAX 16 /* current + previous in practice; a few spare */

typedef struct {
  char *kid;               /* NULL: the kid-less key */
  size_t kidlen;
  evp__hmac_key_t *hmac;   /* the prepared key; raw bytes are not kept */
  char *hdr_b64;           /* our signer's header for this key, encoded */
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
  void *tree;     /* cJSON of the claims, parsed on the first accessor call */
  size_t len;
  char claims[];  /* decoded claims JSON, NUL-terminated */
};

#endif /* EVP_CORE_CORE_H */
