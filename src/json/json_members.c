/* Reading the members the scanner found: comparing and decoding raw string
 * bodies, duplicate names, NumericDate values; and the NUL-escape rewrite
 * for cJSON. Escapes are decoded by the lexer's own evp__json_lex_escape. */
#include <stddef.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include "base/base.h"
#include "json/json.h"
#include "json/json_lex.h"

/* The escape at raw[*i] (a validated body) decoded into out as UTF-8. */
static size_t decode_escape(const char *raw, size_t len, size_t *i, unsigned char out[4]) {
  const unsigned char *p = (const unsigned char *)raw;
  uint32_t cp = 0;
  const char *msg;
  size_t k = evp__json_lex_escape(p + *i, p + len, &cp, &msg);
  *i += k ? k : 1; /* never 0 on a validated body; still make progress */
  return evp__utf8_put((char *)out, cp);
}

/* Yields the decoded bytes of a raw JSON string body one at a time. */
typedef struct {
  const char *s;
  size_t len, i;
  int esc;
  unsigned char buf[4];
  size_t bl, bi;
} byte_iter;

static int byte_next(byte_iter *it) {
  if (it->bi < it->bl) return it->buf[it->bi++];
  if (it->i >= it->len) return -1;
  if (!it->esc || it->s[it->i] != '\\') return (unsigned char)it->s[it->i++];
  it->bl = decode_escape(it->s, it->len, &it->i, it->buf);
  it->bi = 1;
  return it->buf[0];
}

int evp__json_raw_eq(const char *a, size_t alen, int a_esc, const char *b, size_t blen, int b_esc) {
  if (!a_esc && !b_esc) return alen == blen && memcmp(a, b, alen) == 0;
  byte_iter x = {a, alen, 0, a_esc, {0}, 0, 0}, y = {b, blen, 0, b_esc, {0}, 0, 0};
  for (;;) {
    int ca = byte_next(&x), cb = byte_next(&y);
    if (ca != cb) return 0;
    if (ca < 0) return 1;
  }
}

size_t evp__json_unescape(const char *raw, size_t len, char *out) {
  size_t i = 0, o = 0;
  while (i < len) {
    /* Copy the run up to the next escape whole. */
    const char *bs = memchr(raw + i, '\\', len - i);
    size_t run = (bs ? (size_t)(bs - raw) : len) - i;
    memcpy(out + o, raw + i, run);
    o += run;
    i += run;
    if (i < len) {
      unsigned char c[4];
      size_t l = decode_escape(raw, len, &i, c);
      memcpy(out + o, c, l);
      o += l;
    }
  }
  out[o] = '\0';
  return o;
}

static int names_eq(const evp__jmember_t *x, const evp__jmember_t *y) {
  if (x->key_escaped || y->key_escaped)
    return evp__json_raw_eq(x->key, x->keylen, x->key_escaped, y->key, y->keylen, y->key_escaped);
  /* Plain names: lengths and the two end bytes reject almost every pair
   * (claims are mostly 3-letter names) before a memcmp call. */
  size_t l = x->keylen;
  return l == y->keylen && (l == 0 || (x->key[0] == y->key[0] && x->key[l - 1] == y->key[l - 1] &&
                                       memcmp(x->key, y->key, l) == 0));
}

/* Pairwise: for the few members of tokens and most events. */
static long find_dup_pairs(const evp__jmember_t *m, size_t n) {
  for (size_t i = 1; i < n; i++)
    for (size_t j = 0; j < i; j++)
      if (names_eq(&m[i], &m[j])) return (long)i;
  return -1;
}

#define FIND_DUP_PAIRS_MAX 32

long evp__json_find_dup(const evp__jmember_t *m, size_t n) {
  if (n <= FIND_DUP_PAIRS_MAX) return find_dup_pairs(m, n);
  /* Open addressing on the hash of each decoded name (escaped names are
   * decoded into one buffer first, so "a" and "\u0061" meet). */
  size_t cap = 64, esc = 0;
  while (cap < 2 * n) cap *= 2;
  for (size_t i = 0; i < n; i++)
    if (m[i].key_escaped) esc += m[i].keylen + 1;
  const uint64_t dup_seed = evp__hash_seed(); /* the names are the client's */
  uint32_t *tab = calloc(cap, sizeof *tab);
  char *dec = esc ? malloc(esc) : NULL;
  uint32_t *hash = malloc(n * sizeof *hash);
  long dup = -1;
  if (!tab || !hash || (esc && !dec)) {
    free(tab), free(dec), free(hash);
    return find_dup_pairs(m, n); /* out of memory: slower, same answer */
  }
  for (size_t i = 0, off = 0; i < n && dup < 0; i++) {
    const char *k = m[i].key;
    size_t kl = m[i].keylen;
    if (m[i].key_escaped) {
      kl = evp__json_unescape(k, kl, dec + off);
      k = dec + off;
      off += m[i].keylen + 1;
    }
    hash[i] = evp__hash32_seeded(dup_seed, k, kl);
    for (size_t h = hash[i] & (cap - 1);; h = (h + 1) & (cap - 1)) {
      if (!tab[h]) {
        tab[h] = (uint32_t)i + 1;
        break;
      }
      size_t j = tab[h] - 1;
      if (hash[j] == hash[i] && names_eq(&m[i], &m[j])) {
        dup = (long)i;
        break;
      }
    }
  }
  free(tab);
  free(dec);
  free(hash);
  return dup;
}

int evp__json_numericdate(const evp__jmember_t *m, int64_t *out) {
  /* A locale-independent parse of a JSON number to whole seconds, saturating
   * at +-2^62 so that adding a leeway can never overflow. Fractions are
   * truncated toward zero (RFC 7519 allows fractional NumericDates). */
  const int64_t lim = INT64_C(1) << 62;
  if (m->type != EVP__JS_NUMBER) return -1;
  const char *p = m->val, *end = m->val + m->vallen;
  int neg = 0;
  if (p < end && *p == '-') {
    neg = 1;
    p++;
  }
  /* Collect up to 20 significant digits of mantissa and the decimal exponent. */
  int64_t mant = 0;
  int exp10 = 0, sat = 0;
  for (; p < end && *p >= '0' && *p <= '9'; p++) {
    if (mant < lim / 10)
      mant = mant * 10 + (*p - '0');
    else
      exp10++, sat = 1;
  }
  if (p < end && *p == '.') {
    for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
      if (mant < lim / 10) {
        mant = mant * 10 + (*p - '0');
        exp10--;
      }
    }
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    int eneg = 0, e = 0;
    if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
    for (; p < end && *p >= '0' && *p <= '9'; p++)
      if (e < 10000) e = e * 10 + (*p - '0');
    exp10 += eneg ? -e : e;
  }
  (void)sat;
  while (exp10 > 0 && mant != 0) {
    if (mant >= lim / 10) {
      mant = lim;
      break;
    }
    mant *= 10;
    exp10--;
  }
  while (exp10 < 0 && mant != 0) {
    mant /= 10;
    exp10++;
  }
  if (mant > lim) mant = lim;
  *out = neg ? -mant : mant;
  return 0;
}

char *evp__json_replace_nul_escapes(const char *json, size_t len, char nul, size_t *outlen,
                                    int *copied) {
  const unsigned char *p = (const unsigned char *)json, *end = p + len, *from = p;
  char *out = NULL;
  size_t o = 0;
  *copied = 0;
  for (;;) {
    /* Outside strings: to the next opening quote. */
    const unsigned char *q = memchr(p, '"', (size_t)(end - p));
    if (!q) break;
    p = q + 1;
    /* Inside: stop at each backslash until the closing quote. */
    for (;;) {
      p = evp__json_quote_end(p, end);
      if (p >= end || *p == '"') break;
      if (end - p >= 6 && memcmp(p + 1, "u0000", 5) == 0) {
        if (!out && !(out = malloc(len))) {
          *copied = 1;
          return NULL;
        }
        memcpy(out + o, from, (size_t)(p - from));
        o += (size_t)(p - from);
        out[o++] = nul;
        p += 6;
        from = p;
        continue;
      }
      p += 2; /* any other escape */
      if (p > end) p = end;
    }
    if (p >= end) break;
    p++;
  }
  if (!out) return NULL;
  memcpy(out + o, from, (size_t)(end - from));
  *outlen = o + (size_t)(end - from);
  *copied = 1;
  return out;
}
