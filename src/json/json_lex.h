/* The lexing primitives of JSON (RFC 8259), defined once for every reader
 * in the json area: the strict scanner (json_scan.c, which also serves the
 * SDK's door check and the server's body check) and the tape parser the
 * schema validator walks (json_tape.c). A string body, an escape and a
 * number are each spelled here and nowhere else. Inline, because both
 * callers run them on every byte of every event; a caller that ignores a
 * result (the scanner does not want a number's value) lets the compiler
 * drop the work. Internal to the json area: not exported. */
#ifndef EVP_JSON_JSON_LEX_H
#define EVP_JSON_JSON_LEX_H

#include <stddef.h>
#include <stdint.h>
#include "json/json.h"

/* The JSON whitespace bytes (RFC 8259 2). */
static inline int evp__json_is_ws(unsigned c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline const unsigned char *evp__json_skip_ws(const unsigned char *p,
                                                     const unsigned char *end) {
  while (p < end && evp__json_is_ws(*p)) p++;
  return p;
}

/* The four hex digits at @p p (the caller has checked they are there) as a
 * number in *v; -1 when one is not a hex digit. */
static inline int evp__json_lex_hex4(const unsigned char *p, uint32_t *v) {
  uint32_t r = 0;
  for (int i = 0; i < 4; i++) {
    int h = evp__hex_value(p[i]);
    if (h < 0) return -1;
    r = r << 4 | (uint32_t)h;
  }
  *v = r;
  return 0;
}

/* The escape at @p q (q[0] is the backslash): its length (2, 6 for \uXXXX,
 * 12 for a surrogate pair) with the code point it stands for in *cp; 0 when
 * it is not a valid escape, with *msg saying why. Lone surrogates are
 * refused (RFC 8259 8.2 leaves them undefined; they are not text). */
static inline size_t evp__json_lex_escape(const unsigned char *q, const unsigned char *end,
                                          uint32_t *cp, const char **msg) {
  if (end - q < 2) {
    *msg = "unterminated string";
    return 0;
  }
  switch (q[1]) {
  case '"': *cp = '"'; return 2;
  case '\\': *cp = '\\'; return 2;
  case '/': *cp = '/'; return 2;
  case 'b': *cp = '\b'; return 2;
  case 'f': *cp = '\f'; return 2;
  case 'n': *cp = '\n'; return 2;
  case 'r': *cp = '\r'; return 2;
  case 't': *cp = '\t'; return 2;
  case 'u': break;
  default: *msg = "bad escape in string"; return 0;
  }
  uint32_t hi, lo;
  if (end - q < 6 || evp__json_lex_hex4(q + 2, &hi)) {
    *msg = "bad \\u escape";
    return 0;
  }
  if (hi >= 0xDC00 && hi <= 0xDFFF) {
    *msg = "lone low surrogate";
    return 0;
  }
  if (hi < 0xD800 || hi > 0xDBFF) {
    *cp = hi;
    return 6;
  }
  if (end - q < 12 || q[6] != '\\' || q[7] != 'u' || evp__json_lex_hex4(q + 8, &lo) ||
      lo < 0xDC00 || lo > 0xDFFF) {
    *msg = "lone high surrogate";
    return 0;
  }
  *cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
  return 12;
}

/* The closing quote of the string whose body starts at @p p (just past the
 * opening quote), checking the whole body: escapes, UTF-8 (RFC 3629), no
 * control characters. *escaped says whether the body holds an escape (a
 * plain body can be used in place). NULL when the body is not valid, with
 * *at the offending byte and *msg why. */
static EVP__ALWAYS_INLINE const unsigned char *
evp__json_lex_string(const unsigned char *p, const unsigned char *end, int *escaped,
                     const unsigned char **at, const char **msg) {
  int esc = 0;
  for (;;) {
    p = evp__json_plain_end(p, end);
    if (p >= end) {
      *at = p;
      *msg = "unterminated string";
      return NULL;
    }
    unsigned c = *p;
    if (c == '"') {
      *escaped = esc;
      return p;
    }
    size_t k;
    if (c >= 0x80) {
      if (!(k = evp__utf8_seq(p, end))) {
        *at = p;
        *msg = "invalid UTF-8 in string";
        return NULL;
      }
    } else if (c < 0x20) {
      *at = p;
      *msg = "control character in string";
      return NULL;
    } else { /* the backslash */
      uint32_t cp;
      if (!(k = evp__json_lex_escape(p, end, &cp, msg))) {
        *at = p;
        return NULL;
      }
      esc = 1;
    }
    p += k;
  }
}

/* A number's parts as read: the first 19 significant digits as an integer,
 * how many digits of those came after the point, the exponent, and whether
 * digits were dropped (the tape parser turns these into a double). */
typedef struct {
  uint64_t mant;
  int frac_digits, exp, neg, exact;
} evp__json_number_t;

static inline int evp__json_is_digit(unsigned c) { return c - '0' < 10u; }

/* The end of the number at @p p (RFC 8259 6: -?(0|[1-9][0-9]*)(.[0-9]+)?
 * ([eE][+-]?[0-9]+)?), its parts in *n; NULL when it is not one, with
 * *at the offending byte and *msg why. */
static EVP__ALWAYS_INLINE const unsigned char *
evp__json_lex_number(const unsigned char *p, const unsigned char *end, evp__json_number_t *n,
                     const unsigned char **at, const char **msg) {
  int ndig = 0;
  n->mant = 0;
  n->frac_digits = n->exp = n->neg = 0;
  n->exact = 1;
  if (p < end && *p == '-') {
    n->neg = 1;
    p++;
  }
  if (p >= end || !evp__json_is_digit(*p)) {
    *at = p;
    *msg = "bad number";
    return NULL;
  }
  if (*p == '0') {
    p++;
  } else {
    for (; p < end && evp__json_is_digit(*p); p++, ndig++) {
      if (ndig < 19)
        n->mant = n->mant * 10 + (uint64_t)(*p - '0');
      else
        n->exact = 0;
    }
  }
  if (p < end && *p == '.') {
    p++;
    if (p >= end || !evp__json_is_digit(*p)) {
      *at = p;
      *msg = "bad number: digit expected after '.'";
      return NULL;
    }
    for (; p < end && evp__json_is_digit(*p); p++, ndig++) {
      if (ndig < 19) {
        n->mant = n->mant * 10 + (uint64_t)(*p - '0');
        n->frac_digits++;
      } else {
        n->exact = 0;
      }
    }
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    int eneg = 0, e = 0;
    p++;
    if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
    if (p >= end || !evp__json_is_digit(*p)) {
      *at = p;
      *msg = "bad number: digit expected in exponent";
      return NULL;
    }
    for (; p < end && evp__json_is_digit(*p); p++)
      if (e < 100000) e = e * 10 + (*p - '0');
    n->exp = eneg ? -e : e;
  }
  return p;
}

/* The literal @p lit (true, false, null) at @p p: its end, or NULL. */
static inline const unsigned char *
evp__json_lex_literal(const unsigned char *p, const unsigned char *end, const char *lit, size_t n) {
  return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0 ? p + n : NULL;
}

/* Past the closing quote of a string of text already known to be valid
 * JSON (@p p just past the opening quote): the first quote not escaped,
 * found 16 bytes a step; NULL when the text ends first. *escaped says
 * whether a backslash was met. */
static inline const unsigned char *
evp__json_skip_string_trusted(const unsigned char *p, const unsigned char *end, int *escaped) {
  int esc = 0;
  for (;;) {
    p = evp__json_quote_end(p, end);
    if (p >= end) return NULL;
    if (*p == '"') {
      *escaped = esc;
      return p + 1;
    }
    esc = 1;
    p += 2; /* the backslash and the character it escapes */
    if (p > end) return NULL;
  }
}

#endif /* EVP_JSON_JSON_LEX_H */
