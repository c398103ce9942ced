/* A strict, allocation-free JSON scanner for token headers and claims.
 *
 * The verifier needs three things cJSON does not give: duplicate member names
 * detected (RFC 7515 4 / RFC 7519 4 / RFC 8725 3.1 — JSON parsers that keep the
 * last duplicate let an attacker smuggle a second "alg" or "aud"), strict
 * RFC 8259 grammar with UTF-8 validation, and no allocation on the hot path.
 * It validates a whole object and records the top-level members as spans into
 * the input; values are decoded only when asked for. */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include "base/base.h"
#include "json/json.h"

typedef struct {
  const unsigned char *p, *end;
  unsigned depth, max_depth;
  int trusted; /* text known to be valid JSON: find the structure only */
} scan_t;

static void skip_ws(scan_t *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

static int hexval(unsigned c) {
  if (c - '0' < 10)
    return (int)(c - '0');
  c |= 0x20;
  if (c - 'a' < 6)
    return (int)(c - 'a' + 10);
  return -1;
}

static int read_hex4(const unsigned char *p, const unsigned char *end, uint32_t *v) {
  if (end - p < 4)
    return -1;
  uint32_t r = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval(p[i]);
    if (h < 0)
      return -1;
    r = (r << 4) | (uint32_t)h;
  }
  *v = r;
  return 0;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0];
  ptrdiff_t avail = end - p;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    return (avail >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
      return 0;
    if (c == 0xE0 && p[1] < 0xA0)
      return 0; /* overlong */
    if (c == 0xED && p[1] >= 0xA0)
      return 0; /* UTF-16 surrogate */
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
      return 0;
    if (c == 0xF0 && p[1] < 0x90)
      return 0;
    if (c == 0xF4 && p[1] >= 0x90)
      return 0;
    return 4;
  }
  return 0;
}

/* Scan a string starting after its opening quote; leaves p after the closing
 * quote. Sets *escaped when the raw text holds a backslash. */
/* 1 for bytes that need no further look inside a string: printable ASCII
 * other than '"' and '\\'. */
static const unsigned char plain[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(0), R16(0),
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20: '"' */
    R16(1), R16(1),
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50: '\\' */
    R16(1), R16(1),
    R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0),
#undef R16
};

/* Past the closing quote of a string of trusted text: the first quote not
 * escaped by an odd run of backslashes. */
static int skip_string_trusted(scan_t *s, int *escaped) {
  /* Forward to the first '"' that is not part of an escape pair. */
  const unsigned char *q = s->p, *end = s->end;
  int esc = 0;
  for (;;) {
    q = evp__json_quote_end(q, end);
    if (q >= end)
      return -1;
    if (*q == '"') {
      *escaped = esc;
      s->p = q + 1;
      return 0;
    }
    esc = 1;
    q += 2; /* the backslash and the character it escapes */
    if (q > end)
      return -1;
  }
}

static int scan_string(scan_t *s, int *escaped) {
  if (s->trusted)
    return skip_string_trusted(s, escaped);
  *escaped = 0;
  while (s->p < s->end) {
    /* This scanner reads every byte of every batch. */
    s->p = evp__json_plain_end(s->p, s->end);
    if (s->p >= s->end)
      break;
    if (plain[*s->p]) {
      s->p++;
      continue;
    }
    unsigned c = *s->p;
    if (c == '"') {
      s->p++;
      return 0;
    }
    if (c < 0x20)
      return -1;
    if (c == '\\') {
      *escaped = 1;
      if (++s->p >= s->end)
        return -1;
      c = *s->p++;
      if (c == 'u') {
        uint32_t u;
        if (read_hex4(s->p, s->end, &u))
          return -1;
        s->p += 4;
        if (u >= 0xDC00 && u <= 0xDFFF)
          return -1; /* lone low surrogate */
        if (u >= 0xD800 && u <= 0xDBFF) {
          uint32_t lo;
          if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' ||
              read_hex4(s->p + 2, s->end, &lo) || lo < 0xDC00 || lo > 0xDFFF)
            return -1;
          s->p += 6;
        }
      } else if (!strchr("\"\\/bfnrt", (int)c) || c == 0) {
        return -1;
      }
      continue;
    }
    size_t l = utf8_len(s->p, s->end);
    if (!l)
      return -1;
    s->p += l;
  }
  return -1;
}

static int scan_number(scan_t *s) {
  if (s->p < s->end && *s->p == '-')
    s->p++;
  if (s->p >= s->end)
    return -1;
  if (*s->p == '0') {
    s->p++;
  } else if (*s->p >= '1' && *s->p <= '9') {
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
      s->p++;
  } else {
    return -1;
  }
  if (s->p < s->end && *s->p == '.') {
    s->p++;
    if (s->p >= s->end || *s->p < '0' || *s->p > '9')
      return -1;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
      s->p++;
  }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
    s->p++;
    if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
      s->p++;
    if (s->p >= s->end || *s->p < '0' || *s->p > '9')
      return -1;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
      s->p++;
  }
  return 0;
}

static int scan_lit(scan_t *s, const char *lit, size_t n) {
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
    return -1;
  s->p += n;
  return 0;
}

static evp_err_t scan_value(scan_t *s, evp__jstype_t *type);

/* Objects and arrays below the top level: validated, not recorded. */
static evp_err_t scan_container(scan_t *s, int is_obj) {
  if (s->trusted) {
    /* Only the matching close bracket matters; strings are skipped whole. */
    size_t depth = 1;
    while (s->p < s->end) {
      unsigned c = *s->p++;
      int esc;
      if (c == '"') {
        if (skip_string_trusted(s, &esc))
          return EVP_ERR_JSON;
      } else if (c == '{' || c == '[') {
        depth++;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        return EVP_OK;
      }
    }
    return EVP_ERR_JSON;
  }
  if (++s->depth > s->max_depth)
    return EVP_ERR_TOO_DEEP;
  char close = is_obj ? '}' : ']';
  skip_ws(s);
  if (s->p < s->end && *s->p == (unsigned char)close) {
    s->p++;
    s->depth--;
    return EVP_OK;
  }
  for (;;) {
    evp__jstype_t t;
    int esc;
    if (is_obj) {
      skip_ws(s);
      if (s->p >= s->end || *s->p != '"')
        return EVP_ERR_JSON;
      s->p++;
      if (scan_string(s, &esc))
        return EVP_ERR_JSON;
      skip_ws(s);
      if (s->p >= s->end || *s->p != ':')
        return EVP_ERR_JSON;
      s->p++;
    }
    skip_ws(s);
    evp_err_t e = scan_value(s, &t);
    if (e)
      return e;
    skip_ws(s);
    if (s->p >= s->end)
      return EVP_ERR_JSON;
    if (*s->p == ',') {
      s->p++;
      continue;
    }
    if (*s->p == (unsigned char)close) {
      s->p++;
      s->depth--;
      return EVP_OK;
    }
    return EVP_ERR_JSON;
  }
}

static evp_err_t scan_value(scan_t *s, evp__jstype_t *type) {
  int esc;
  if (s->p >= s->end)
    return EVP_ERR_JSON;
  switch (*s->p) {
  case '"':
    s->p++;
    *type = EVP__JS_STRING;
    return scan_string(s, &esc) ? EVP_ERR_JSON : EVP_OK;
  case '{':
    s->p++;
    *type = EVP__JS_OBJECT;
    return scan_container(s, 1);
  case '[':
    s->p++;
    *type = EVP__JS_ARRAY;
    return scan_container(s, 0);
  case 't':
    *type = EVP__JS_TRUE;
    return scan_lit(s, "true", 4) ? EVP_ERR_JSON : EVP_OK;
  case 'f':
    *type = EVP__JS_FALSE;
    return scan_lit(s, "false", 5) ? EVP_ERR_JSON : EVP_OK;
  case 'n':
    *type = EVP__JS_NULL;
    return scan_lit(s, "null", 4) ? EVP_ERR_JSON : EVP_OK;
  default:
    *type = EVP__JS_NUMBER;
    return scan_number(s) ? EVP_ERR_JSON : EVP_OK;
  }
}

static evp_err_t scan_object(const char *text, size_t n, unsigned max_depth, evp__jmember_t *m,
                             size_t max_m, size_t *count, int trusted);

evp_err_t evp__json_scan_object(const char *text, size_t n, unsigned max_depth,
                                evp__jmember_t *m, size_t max_m, size_t *count) {
  return scan_object(text, n, max_depth, m, max_m, count, 0);
}

evp_err_t evp__json_scan_object_trusted(const char *text, size_t n, evp__jmember_t *m,
                                        size_t max_m, size_t *count) {
  return scan_object(text, n, UINT32_MAX, m, max_m, count, 1);
}

static evp_err_t scan_object(const char *text, size_t n, unsigned max_depth, evp__jmember_t *m,
                             size_t max_m, size_t *count, int trusted) {
  scan_t s = {(const unsigned char *)text, (const unsigned char *)text + n, 1, max_depth, trusted};
  size_t k = 0;
  *count = 0;
  skip_ws(&s);
  if (s.p >= s.end || *s.p != '{')
    return EVP_ERR_JSON;
  s.p++;
  skip_ws(&s);
  if (s.p < s.end && *s.p == '}') {
    s.p++;
    goto done;
  }
  for (;;) {
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '"')
      return EVP_ERR_JSON;
    if (k == max_m)
      return EVP_ERR_TOO_LARGE;
    const unsigned char *ks = ++s.p;
    if (scan_string(&s, &m[k].key_escaped))
      return EVP_ERR_JSON;
    m[k].key = (const char *)ks;
    m[k].keylen = (size_t)(s.p - 1 - ks);
    skip_ws(&s);
    if (s.p >= s.end || *s.p != ':')
      return EVP_ERR_JSON;
    s.p++;
    skip_ws(&s);
    const unsigned char *vs = s.p;
    evp_err_t e = scan_value(&s, &m[k].type);
    if (e)
      return e;
    m[k].val_escaped = 0;
    if (m[k].type == EVP__JS_STRING) {
      /* Spans of strings exclude the quotes; escapes are rechecked cheaply. */
      m[k].val = (const char *)vs + 1;
      m[k].vallen = (size_t)(s.p - vs - 2);
      m[k].val_escaped = memchr(m[k].val, '\\', m[k].vallen) != NULL;
    } else {
      m[k].val = (const char *)vs;
      m[k].vallen = (size_t)(s.p - vs);
    }
    k++;
    skip_ws(&s);
    if (s.p >= s.end)
      return EVP_ERR_JSON;
    if (*s.p == ',') {
      s.p++;
      continue;
    }
    if (*s.p == '}') {
      s.p++;
      break;
    }
    return EVP_ERR_JSON;
  }
done:
  skip_ws(&s);
  if (s.p != s.end)
    return EVP_ERR_JSON; /* trailing bytes after the object */
  *count = k;
  return EVP_OK;
}

/* Decode the next code point of a validated raw JSON string into UTF-8. */
static size_t next_utf8(const char *raw, size_t len, size_t *i, unsigned char out[4]) {
  const unsigned char *p = (const unsigned char *)raw;
  if (p[*i] != '\\') {
    size_t l = utf8_len(p + *i, p + len);
    memcpy(out, p + *i, l);
    *i += l;
    return l;
  }
  unsigned c = p[*i + 1];
  *i += 2;
  switch (c) {
  case 'b': out[0] = '\b'; return 1;
  case 'f': out[0] = '\f'; return 1;
  case 'n': out[0] = '\n'; return 1;
  case 'r': out[0] = '\r'; return 1;
  case 't': out[0] = '\t'; return 1;
  case 'u': break;
  default: out[0] = (unsigned char)c; return 1;
  }
  uint32_t u = 0, lo = 0xDC00; /* set by read_hex4 on the validated input; initialised for -O3 -Wmaybe-uninitialized */
  read_hex4(p + *i, p + len, &u);
  *i += 4;
  if (u >= 0xD800 && u <= 0xDBFF) {
    read_hex4(p + *i + 2, p + len, &lo);
    *i += 6;
    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
  }
  if (u < 0x80) {
    out[0] = (unsigned char)u;
    return 1;
  }
  if (u < 0x800) {
    out[0] = (unsigned char)(0xC0 | (u >> 6));
    out[1] = (unsigned char)(0x80 | (u & 0x3F));
    return 2;
  }
  if (u < 0x10000) {
    out[0] = (unsigned char)(0xE0 | (u >> 12));
    out[1] = (unsigned char)(0x80 | ((u >> 6) & 0x3F));
    out[2] = (unsigned char)(0x80 | (u & 0x3F));
    return 3;
  }
  out[0] = (unsigned char)(0xF0 | (u >> 18));
  out[1] = (unsigned char)(0x80 | ((u >> 12) & 0x3F));
  out[2] = (unsigned char)(0x80 | ((u >> 6) & 0x3F));
  out[3] = (unsigned char)(0x80 | (u & 0x3F));
  return 4;
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
  if (it->bi < it->bl)
    return it->buf[it->bi++];
  if (it->i >= it->len)
    return -1;
  if (!it->esc || it->s[it->i] != '\\')
    return (unsigned char)it->s[it->i++];
  it->bl = next_utf8(it->s, it->len, &it->i, it->buf);
  it->bi = 1;
  return it->buf[0];
}

int evp__json_raw_eq(const char *a, size_t alen, int a_esc, const char *b, size_t blen, int b_esc) {
  if (!a_esc && !b_esc)
    return alen == blen && memcmp(a, b, alen) == 0;
  byte_iter x = {a, alen, 0, a_esc, {0}, 0, 0}, y = {b, blen, 0, b_esc, {0}, 0, 0};
  for (;;) {
    int ca = byte_next(&x), cb = byte_next(&y);
    if (ca != cb)
      return 0;
    if (ca < 0)
      return 1;
  }
}

size_t evp__json_unescape(const char *raw, size_t len, char *out) {
  size_t i = 0, o = 0;
  while (i < len) {
    unsigned char c[4];
    size_t l = next_utf8(raw, len, &i, c);
    memcpy(out + o, c, l);
    o += l;
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
      if (names_eq(&m[i], &m[j]))
        return (long)i;
  return -1;
}

#define FIND_DUP_PAIRS_MAX 32

/* Member names are the client's: the table's hash is seeded once per
 * process, so no set of names collides everywhere. */
static pthread_once_t dup_seed_once = PTHREAD_ONCE_INIT;
static uint64_t dup_seed;

static void dup_seed_init(void) {
  if (evp__random(&dup_seed, sizeof dup_seed) != EVP_OK) {
    /* No randomness: still not a constant an attacker can read in the source. */
    int local;
    dup_seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)&local ^
               (uint64_t)(uintptr_t)&dup_seed << 17;
  }
}

long evp__json_find_dup(const evp__jmember_t *m, size_t n) {
  if (n <= FIND_DUP_PAIRS_MAX)
    return find_dup_pairs(m, n);
  /* Open addressing on the hash of each decoded name (escaped names are
   * decoded into one buffer first, so "a" and "\u0061" meet). */
  size_t cap = 64, esc = 0;
  while (cap < 2 * n) cap *= 2;
  for (size_t i = 0; i < n; i++)
    if (m[i].key_escaped) esc += m[i].keylen + 1;
  pthread_once(&dup_seed_once, dup_seed_init);
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
  if (m->type != EVP__JS_NUMBER)
    return -1;
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
    if (p < end && (*p == '+' || *p == '-'))
      eneg = *p++ == '-';
    for (; p < end && *p >= '0' && *p <= '9'; p++)
      if (e < 10000)
        e = e * 10 + (*p - '0');
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
  if (mant > lim)
    mant = lim;
  *out = neg ? -mant : mant;
  return 0;
}

size_t evp__json_escape(const char *s, size_t n, char *out) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c < 0x20) {
      out[o++] = '\\';
      out[o++] = 'u';
      out[o++] = '0';
      out[o++] = '0';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = '\0';
  return o;
}

/* Log lines and error bodies hold text from outside (paths, messages): an
 * invalid UTF-8 byte becomes U+FFFD, so the line stays valid JSON. */
size_t evp__json_escape_text(const char *s, size_t n, char *out, size_t cap, int *cut) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  size_t o = 0;
  if (cut)
    *cut = 0;
  if (!cap)
    return 0;
  while (p < end) {
    char tmp[8];
    size_t tl, adv;
    unsigned c = *p;
    if (c == '"' || c == '\\') {
      tmp[0] = '\\';
      tmp[1] = (char)c;
      tl = 2;
      adv = 1;
    } else if (c < 0x20 || c == 0x7F) {
      tmp[0] = '\\';
      if (c == '\n') {
        tmp[1] = 'n';
        tl = 2;
      } else if (c == '\r') {
        tmp[1] = 'r';
        tl = 2;
      } else if (c == '\t') {
        tmp[1] = 't';
        tl = 2;
      } else {
        memcpy(tmp + 1, "u00", 3);
        tmp[4] = hex[c >> 4];
        tmp[5] = hex[c & 15];
        tl = 6;
      }
      adv = 1;
    } else if (c < 0x80) {
      tmp[0] = (char)c;
      tl = adv = 1;
    } else if ((adv = evp__utf8_seq(p, end)) != 0) {
      memcpy(tmp, p, adv);
      tl = adv;
    } else {
      memcpy(tmp, "\\ufffd", 6);
      tl = 6;
      adv = 1;
    }
    if (o + tl + 1 > cap) {
      if (cut)
        *cut = 1;
      break;
    }
    memcpy(out + o, tmp, tl);
    o += tl;
    p += adv;
  }
  out[o] = '\0';
  return o;
}

int evp__utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  while (p < end) {
    /* Text is mostly ASCII: skip 8 such bytes at a time. */
    if (end - p >= 8) {
      uint64_t w;
      memcpy(&w, p, 8);
      if (!(w & 0x8080808080808080ull)) {
        p += 8;
        continue;
      }
    }
    size_t l = utf8_len(p, end);
    if (!l)
      return 0;
    p += l;
  }
  return 1;
}
