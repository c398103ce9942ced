/* A single-pass JSON parser (RFC 8259) into a reusable tape (see
 * json_tape.h). It exists because validation speed is dominated by
 * parsing: with the tape and string buffer reused, parsing a document
 * allocates nothing once the buffers are large enough. Strings, escapes and
 * numbers are read by the lexer the strict scanner uses (json_lex.h). */
#define _GNU_SOURCE /* strtod_l: numbers must not depend on the process locale */
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "json/json_tape.h"
#include "json/json.h"
#include "json/json_lex.h"

/* The parse in progress: the document being filled and the read position. */
typedef struct {
  evp__jdoc *d;
  const unsigned char *p, *end, *start;
  int max_depth;
} tape_parser_t;

static locale_t evp__c_locale;
static pthread_once_t evp__c_locale_once = PTHREAD_ONCE_INIT;
static void evp__c_locale_init(void) {
  evp__c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

int evp__json_strtod(const char *s, size_t n, double *out) {
  char stackbuf[128], *buf = n < sizeof stackbuf ? stackbuf : malloc(n + 1);
  if (!buf) return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  pthread_once(&evp__c_locale_once, evp__c_locale_init);
  *out = evp__c_locale ? strtod_l(buf, NULL, evp__c_locale) : strtod(buf, NULL);
  if (buf != stackbuf) free(buf);
  return 0;
}

static evp_err_t fail(tape_parser_t *p, const char *msg) {
  p->d->err_off = (size_t)(p->p - p->start);
  p->d->err_msg = msg;
  return EVP_ERR_JSON;
}

/* A failure the lexer located at @p at. */
static evp_err_t fail_at(tape_parser_t *p, const unsigned char *at, const char *msg) {
  p->p = at;
  return fail(p, msg);
}

static int grow(evp__jdoc *d) {
  size_t nc = d->cap ? d->cap * 2 : 64;
  evp__jv *nv = realloc(d->v, nc * sizeof *nv);
  if (!nv) return -1;
  d->v = nv;
  d->cap = nc;
  return 0;
}

static inline evp__jv *push(tape_parser_t *p, size_t *idx) {
  evp__jdoc *d = p->d;
  if (EVP__UNLIKELY(d->n == d->cap) && grow(d)) return NULL;
  *idx = d->n;
  evp__jv *v = &d->v[d->n++];
  v->isint = 0;
  v->len = 0;
  v->skip = 1;
  return v;
}

/* Called around every token: inlined, with the common no-space case first. */
static EVP__ALWAYS_INLINE void skip_ws(tape_parser_t *p) {
  if (EVP__LIKELY(p->p<p->end && * p->p> ' ')) return;
  p->p = evp__json_skip_ws(p->p, p->end);
}

/* p->p is just past the opening quote. Plain strings point into the input;
 * strings with escapes are decoded into sbuf (which cannot overflow:
 * decoding never makes text longer, and the quotes leave room for the NUL
 * evp__json_unescape writes). */
static evp_err_t parse_string(tape_parser_t *p, evp__jv *v) {
  const unsigned char *s = p->p, *q, *at = NULL; /* set by the lexer on failure */
  const char *msg = NULL;
  int escaped;
  if (!(q = evp__json_lex_string(s, p->end, &escaped, &at, &msg))) return fail_at(p, at, msg);
  v->type = EVP__J_STR;
  p->p = q + 1;
  if (!escaped) {
    v->u.str = (const char *)s;
    v->len = (uint32_t)(q - s);
    return EVP_OK;
  }
  evp__jdoc *d = p->d;
  char *o = d->sbuf + d->sused;
  size_t n = evp__json_unescape((const char *)s, (size_t)(q - s), o);
  v->u.str = o;
  v->len = (uint32_t)n;
  d->sused += n;
  return EVP_OK;
}

static const double evp__pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static evp_err_t parse_number(tape_parser_t *p, evp__jv *v) {
  const unsigned char *s = p->p, *q, *at = NULL; /* set by the lexer on failure */
  const char *msg = NULL;
  evp__json_number_t num;
  if (!(q = evp__json_lex_number(s, p->end, &num, &at, &msg))) return fail_at(p, at, msg);
  int e10 = num.exp - num.frac_digits;
  double val;
  /* Clinger's fast path: exact when the mantissa and the power of ten are
   * both exactly representable; otherwise strtod_l does correct rounding. */
  if (num.exact && num.mant <= (1ull << 53) && e10 >= -22 && e10 <= 22) {
    val = (double)num.mant;
    val = e10 < 0 ? val / evp__pow10[-e10] : val * evp__pow10[e10];
    if (num.neg) val = -val;
  } else if (evp__json_strtod((const char *)s, (size_t)(q - s), &val) != 0) {
    return EVP_ERR_NOMEM;
  }
  v->type = EVP__J_NUM;
  v->u.num = val;
  v->isint = isfinite(val) && floor(val) == val;
  p->p = q;
  return EVP_OK;
}

static evp_err_t parse_value(tape_parser_t *p, int depth) {
  size_t idx;
  evp_err_t rc;
  const unsigned char *q;
  skip_ws(p);
  if (p->p >= p->end) return fail(p, "unexpected end of input");
  evp__jv *v = push(p, &idx);
  if (!v) return EVP_ERR_NOMEM;
  v->off = (uint32_t)(p->p - p->start); /* documents are < 2 GiB (evp__json_parse) */
  unsigned c = *p->p;
  switch (c) {
  case '{':
  case '[': {
    if (depth >= p->max_depth) {
      fail(p, "nesting too deep");
      return EVP_ERR_TOO_DEEP;
    }
    int obj = c == '{';
    v->type = obj ? EVP__J_OBJ : EVP__J_ARR;
    p->p++;
    uint32_t count = 0;
    skip_ws(p);
    if (p->p < p->end && *p->p == (obj ? '}' : ']')) {
      p->p++;
      v->u.end = (size_t)(p->p - p->start);
      return EVP_OK;
    }
    for (;;) {
      if (obj) {
        skip_ws(p);
        if (p->p >= p->end || *p->p != '"') return fail(p, "object key expected");
        p->p++;
        size_t kidx;
        evp__jv *k = push(p, &kidx);
        if (!k) return EVP_ERR_NOMEM;
        if ((rc = parse_string(p, k))) return rc;
        skip_ws(p);
        if (p->p >= p->end || *p->p != ':') return fail(p, "':' expected");
        p->p++;
      }
      if ((rc = parse_value(p, depth + 1))) return rc;
      count++;
      skip_ws(p);
      if (p->p >= p->end) return fail(p, "unexpected end of input");
      if (*p->p == ',') {
        p->p++;
        continue;
      }
      if (*p->p == (obj ? '}' : ']')) {
        p->p++;
        break;
      }
      return fail(p, obj ? "',' or '}' expected" : "',' or ']' expected");
    }
    v = &p->d->v[idx]; /* the tape may have moved */
    v->len = count;
    v->skip = (uint32_t)(p->d->n - idx);
    v->u.end = (size_t)(p->p - p->start);
    return EVP_OK;
  }
  case '"': p->p++; return parse_string(p, v);
  case 't':
    if (!(q = evp__json_lex_literal(p->p, p->end, "true", 4))) return fail(p, "invalid literal");
    v->type = EVP__J_TRUE;
    p->p = q;
    return EVP_OK;
  case 'f':
    if (!(q = evp__json_lex_literal(p->p, p->end, "false", 5))) return fail(p, "invalid literal");
    v->type = EVP__J_FALSE;
    p->p = q;
    return EVP_OK;
  case 'n':
    if (!(q = evp__json_lex_literal(p->p, p->end, "null", 4))) return fail(p, "invalid literal");
    v->type = EVP__J_NULL;
    p->p = q;
    return EVP_OK;
  default:
    if (c == '-' || evp__json_is_digit(c)) return parse_number(p, v);
    return fail(p, "unexpected character");
  }
}

evp_err_t evp__json_parse(evp__jdoc *d, const char *s, size_t len, int max_depth) {
  d->n = 0;
  d->sused = 0;
  d->err_off = 0;
  d->err_msg = NULL;
  if (len > UINT32_MAX / 2) {
    d->err_msg = "document too large";
    return EVP_ERR_TOO_LARGE;
  }
  if (d->scap < len) {
    /* zeroed: PCRE2's JIT may read a few bytes past a subject (harmlessly,
     * within the allocation), and valgrind should not see garbage there */
    char *nb = calloc(1, len);
    if (!nb) return EVP_ERR_NOMEM;
    free(d->sbuf);
    d->sbuf = nb;
    d->scap = len;
  }
  const unsigned char *text = (const unsigned char *)s;
  tape_parser_t p = {d, text, text + len, text, max_depth};
  evp_err_t rc = parse_value(&p, 0);
  if (rc) return rc;
  skip_ws(&p);
  if (p.p != p.end) return fail(&p, "trailing characters after the JSON value");
  return EVP_OK;
}

void evp__jdoc_free(evp__jdoc *d) {
  free(d->v);
  free(d->sbuf);
  memset(d, 0, sizeof *d);
}

int evp__json_equal(const evp__jv *a, const evp__jv *b) {
  int ta = a->type == EVP__J_TRUE ? EVP__J_FALSE : a->type; /* booleans share a type ... */
  int tb = b->type == EVP__J_TRUE ? EVP__J_FALSE : b->type;
  if (ta != tb) return 0;
  switch (a->type) {
  case EVP__J_NULL: return 1;
  case EVP__J_TRUE:
  case EVP__J_FALSE: return a->type == b->type; /* ... but differ in value */
  case EVP__J_NUM: return a->u.num == b->u.num;
  case EVP__J_STR: return a->len == b->len && !memcmp(a->u.str, b->u.str, a->len);
  case EVP__J_ARR: {
    if (a->len != b->len) return 0;
    const evp__jv *x = a + 1, *y = b + 1;
    for (uint32_t i = 0; i < a->len; i++, x += x->skip, y += y->skip)
      if (!evp__json_equal(x, y)) return 0;
    return 1;
  }
  case EVP__J_OBJ: {
    if (a->len != b->len) return 0;
    const evp__jv *x = a + 1;
    for (uint32_t i = 0; i < a->len; i++) {
      const evp__jv *y = b + 1, *found = NULL;
      for (uint32_t j = 0; j < b->len; j++) {
        if (y->len == x->len && !memcmp(y->u.str, x->u.str, x->len)) {
          found = y + 1;
          break;
        }
        y += 1 + y[1].skip;
      }
      if (!found || !evp__json_equal(x + 1, found)) return 0;
      x += 1 + x[1].skip;
    }
    return 1;
  }
  }
  return 0;
}

static uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

uint64_t evp__json_hash(const evp__jv *a) {
  switch (a->type) {
  case EVP__J_NUM: {
    double d = a->u.num == 0 ? 0.0 : a->u.num; /* -0 == 0 */
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return mix(bits ^ 0x4e);
  }
  case EVP__J_STR: return hash_bytes(a->u.str, a->len);
  case EVP__J_ARR: {
    uint64_t h = 0x4a;
    const evp__jv *x = a + 1;
    for (uint32_t i = 0; i < a->len; i++, x += x->skip) h = mix(h * 31 + evp__json_hash(x));
    return h;
  }
  case EVP__J_OBJ: {
    uint64_t h = 0x4f; /* member order must not matter: combine with + */
    const evp__jv *x = a + 1;
    for (uint32_t i = 0; i < a->len; i++) {
      h += mix(hash_bytes(x->u.str, x->len) ^ evp__json_hash(x + 1));
      x += 1 + x[1].skip;
    }
    return h;
  }
  default: return (uint64_t)a->type * 0x9e3779b97f4a7c15ull;
  }
}
