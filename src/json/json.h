/* The JSON layer: the one strict scanner (RFC 8259, UTF-8 checked) and its
 * trusted twin, escaping and unescaping, UTF-8 checks, and the SIMD string
 * stop finder every scanner uses. The tape parser the schema validator
 * walks is json/json_tape.h. Nothing here is public ABI. */
#ifndef EVP_JSON_JSON_H
#define EVP_JSON_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* EVP_NO_SIMD (cmake -DEVPIPE_NO_SIMD=ON): the portable code only, so that
 * x86-64 tests run what other CPUs run (docs/embedded.md). */
#if defined(__SSE2__) && defined(__GNUC__) && !defined(EVP_NO_SIMD)
#include <emmintrin.h>
#define EVP__HAVE_SSE2 1
#endif
#include "base/base.h"
#include "base/buf.h"

/* ---- the strict JSON scanner (tokens, events, bodies) (json_scan.c) ---- */
typedef enum {
  EVP__JS_STRING,
  EVP__JS_NUMBER,
  EVP__JS_OBJECT,
  EVP__JS_ARRAY,
  EVP__JS_TRUE,
  EVP__JS_FALSE,
  EVP__JS_NULL
} evp__jstype_t;

struct evp__jv;

/* A top-level member: spans into the scanned text. For strings, val/vallen
 * exclude the quotes and are still JSON-escaped when val_escaped is set. */
typedef struct {
  const char *key, *val;
  size_t keylen, vallen;
  int key_escaped, val_escaped;
  evp__jstype_t type;
  /* An object or array read off a tape parse: its node there (val is its
   * text at the node's offset), for evp__json_tape_members; else NULL. */
  const struct evp__jv *node;
} evp__jmember_t;

/* Validate that text is exactly one JSON object (RFC 8259, UTF-8 checked,
 * nesting <= max_depth) and record up to max_m top-level members.
 * EVP_ERR_JSON, EVP_ERR_TOO_DEEP, or EVP_ERR_TOO_LARGE (too many members). */
evp_err_t evp__json_scan_object(const char *text, size_t n, unsigned max_depth, evp__jmember_t *m,
                                size_t max_m, size_t *count);
/* evp__json_scan_object for text already known to be one valid JSON object (events read
 * back from the server's own checksummed log): only the structure is found —
 * strings are skipped with memchr, nested values by bracket counting — so
 * invalid JSON may give a wrong result instead of EVP_ERR_JSON. */
evp_err_t evp__json_scan_object_trusted(const char *text, size_t n, evp__jmember_t *m, size_t max_m,
                                        size_t *count);
/* What evp__json_scan_object_each found: the object's span in the text
 * (surrounding whitespace excluded) and its member count or, on failure,
 * the offending byte and why. */
typedef struct {
  size_t start, end;   /* offset of '{' and just past its '}' */
  size_t count;        /* top-level members */
  int not_object;      /* failure: the text does not start with an object */
  size_t err_off;      /* failure: offset of the byte where the text stops being JSON */
  const char *err_msg; /* failure: why (static text) */
} evp__json_object_info_t;
/* evp__json_scan_object that hands each top-level member to @p member (the
 * member struct lives only for the call; its spans point into @p text)
 * instead of recording it, so any number of members is accepted: the SDK's
 * door check on every event. Same grammar, depth rule and errors. */
evp_err_t evp__json_scan_object_each(const char *text, size_t n, unsigned max_depth,
                                     void (*member)(void *opaque, const evp__jmember_t *m),
                                     void *opaque, evp__json_object_info_t *info);
/* Whether @p text is exactly one JSON value of any type (RFC 8259, UTF-8
 * checked, nesting <= max_depth), with the same scanner and no allocation:
 * what the SDK's door says about a text that is not an object ("not JSON"
 * or "JSON, but not an object") at a cost that does not grow with it.
 * EVP_OK, or EVP_ERR_JSON / EVP_ERR_TOO_DEEP with *err_off and *err_msg
 * (static text) saying where and why. */
evp_err_t evp__json_scan_value(const char *text, size_t n, unsigned max_depth, size_t *err_off,
                               const char **err_msg);
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
  /* inline for the short names of tables probed per event (base.h) */
  if (!m->key_escaped) return m->keylen == n && evp__bytes_eq(m->key, s, n);
  return evp__json_raw_eq(m->key, m->keylen, 1, s, n, 0);
}
/* Member is a string equal to s[0..n). */
static inline int evp__json_str_eqn(const evp__jmember_t *m, const char *s, size_t n) {
  if (m->type != EVP__JS_STRING) return 0;
  if (!m->val_escaped) return m->vallen == n && evp__bytes_eq(m->val, s, n);
  return evp__json_raw_eq(m->val, m->vallen, 1, s, n, 0);
}
#define evp__json_str_eq(m, s) evp__json_str_eqn((m), (s), strlen(s))
/* Decode a validated raw string body into out (at least len + 1 bytes): the
 * decoded length; out is NUL-terminated. (json_members.c) */
size_t evp__json_unescape(const char *raw, size_t len, char *out);
/* A number member as whole seconds (saturating); -1 when not a number. */
int evp__json_numericdate(const evp__jmember_t *m, int64_t *out);
/* A copy of the JSON text @p json whose "\\u0000" escapes inside strings are
 * replaced by the byte @p nul (malloc'd, its length in *outlen), or NULL with
 * *copied 0 when there is none. Out of memory is NULL with *copied 1. For
 * parsers that cut strings at a NUL (cJSON): the text need not be valid. */
char *evp__json_replace_nul_escapes(const char *json, size_t len, char nul, size_t *outlen,
                                    int *copied);
/* ---- escaping (json_escape.c) ---- */
/* JSON-escape s[0..n) into out (at least 6n + 1 bytes); returns the length. */
size_t evp__json_escape(const char *s, size_t n, char *out);
/* JSON-escape text that may be anything (a path, a message): bytes that are
 * not UTF-8 become \ufffd, controls \u00XX; at most @p cap - 1 bytes are
 * written (never part of an escape or a character) and NUL-terminated;
 * *cut (may be NULL) says whether s was cut short. */
size_t evp__json_escape_text(const char *s, size_t n, char *out, size_t cap, int *cut);
/* Append s[0..n) to @p b as a quoted, escaped JSON string (escapes as
 * evp__json_escape): a sticky appender like evp__buf_add (returns b->err). */
evp_err_t evp__buf_json_str(evp__buf_t *b, const char *s, size_t n);
/* Whether s[0..n) is well-formed UTF-8. */
int evp__utf8_valid(const char *s, size_t n);
/* Code points in a string already known to be UTF-8 (the parsers check it). */
size_t evp__utf8_len(const char *s, size_t n);
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
    if (m) return p + __builtin_ctz(m);
    p += 16;
  }
#endif
  while (end - p >= 8) {
    uint64_t w, ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    memcpy(&w, p, 8);
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    uint64_t stop = ((q - ones) & ~q) | ((b - ones) & ~b);
    if (strict) stop |= (w - ones * 0x20) | w;
    if (stop & highs) break;
    p += 8;
  }
  while (p < end && *p != '"' && *p != '\\' && (!strict || (*p >= 0x20 && *p < 0x80))) p++;
  return p;
}
#define evp__json_plain_end(p, end) evp__json_stop((p), (end), 1)
#define evp__json_quote_end(p, end) evp__json_stop((p), (end), 0)

/* Length of the valid UTF-8 sequence at @p p (1 for ASCII, 2..4), 0 when it
 * is not one (RFC 3629: overlong, surrogate, above U+10FFFF, truncated at
 * @p end). The one UTF-8 check of the project: the scanners, the tape parser
 * and every "is this text" test use it. */
static inline size_t evp__utf8_seq(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0];
  ptrdiff_t avail = end - p;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return (avail >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && p[1] < 0xA0) return 0;  /* overlong */
    if (c == 0xED && p[1] >= 0xA0) return 0; /* UTF-16 surrogate */
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
      return 0;
    if (c == 0xF0 && p[1] < 0x90) return 0;  /* overlong */
    if (c == 0xF4 && p[1] >= 0x90) return 0; /* above U+10FFFF */
    return 4;
  }
  return 0;
}

/* Write code point @p cp (<= U+10FFFF, not a surrogate) as UTF-8 at @p o
 * (room for 4 bytes); returns the number of bytes. */
static inline size_t evp__utf8_put(char *o, uint32_t cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | cp >> 6);
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12);
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | cp >> 18);
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* The longest prefix of UTF-8 text s[0..n) that is at most @p max bytes and
 * does not end inside a character: where to cut a message for a bounded
 * field or log line. */
static inline size_t evp__utf8_cut(const char *s, size_t n, size_t max) {
  if (n <= max) return n;
  while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80) max--;
  return max;
}

/* Split the elements of a JSON array text that is already known to be valid
 * JSON (@p arr starts with '['): calls @p fn for each element's span. Returns
 * the number of elements, or (size_t)-1 when @p fn returned non-zero. */
size_t evp__json_array_each(const char *arr, size_t len,
                            int (*fn)(void *opaque, size_t i, const char *v, size_t vlen),
                            void *opaque); /* json_scan.c */

#endif /* EVP_JSON_JSON_H */
