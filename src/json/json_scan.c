/* The strict, allocation-free JSON scanner: token headers and claims, the
 * SDK's door check on every event, the server's body check.
 *
 * The verifier needs three things cJSON does not give: duplicate member names
 * detected (RFC 7515 4 / RFC 7519 4 / RFC 8725 3.1 — JSON parsers that keep the
 * last duplicate let an attacker smuggle a second "alg" or "aud"), strict
 * RFC 8259 grammar with UTF-8 validation, and no allocation on the hot path.
 * It validates a whole object and records the top-level members as spans into
 * the input; values are decoded only when asked for (json_members.c). The
 * lexing itself (strings, escapes, numbers) is json_lex.h, shared with the
 * tape parser. The trusted mode and the array splitter read text already
 * validated (the server's own log, a checked body) and only find its
 * structure. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "base/base.h"
#include "json/json.h"
#include "json/json_lex.h"

typedef struct {
  const unsigned char *p, *end;
  unsigned depth, max_depth;
  int trusted; /* text known to be valid JSON: find the structure only */
  /* the first failure: where and why */
  const unsigned char *err_at;
  const char *err_msg;
} scan_t;

/* Called around every token: inlined, with the common no-space case first. */
static EVP__ALWAYS_INLINE void skip_ws(scan_t *s) {
  if (EVP__LIKELY(s->p<s->end && * s->p> ' ')) return;
  s->p = evp__json_skip_ws(s->p, s->end);
}

/* Record the first failure (at the current byte unless @p at is given). */
static evp_err_t fail_at(scan_t *s, const unsigned char *at, const char *msg, evp_err_t e) {
  if (!s->err_msg) {
    s->err_at = at;
    s->err_msg = msg;
  }
  return e;
}
#define fail(s, msg) fail_at((s), (s)->p, (msg), EVP_ERR_JSON)

/* p just past the opening quote; leaves p after the closing quote. */
static EVP__ALWAYS_INLINE evp_err_t scan_string(scan_t *s, int *escaped) {
  const unsigned char *q, *at = NULL; /* set by the lexer on failure */
  const char *msg = NULL;
  if (s->trusted) {
    if (!(q = evp__json_skip_string_trusted(s->p, s->end, escaped)))
      return fail_at(s, s->end, "unterminated string", EVP_ERR_JSON);
    s->p = q;
    return EVP_OK;
  }
  if (!(q = evp__json_lex_string(s->p, s->end, escaped, &at, &msg)))
    return fail_at(s, at, msg, EVP_ERR_JSON);
  s->p = q + 1;
  return EVP_OK;
}

static evp_err_t scan_value(scan_t *s, evp__jstype_t *type, int *escaped);

/* Objects and arrays below the top level: validated, not recorded. */
static evp_err_t scan_container(scan_t *s, int is_obj) {
  if (s->trusted) {
    /* Only the matching close bracket matters; strings are skipped whole. */
    size_t depth = 1;
    while (s->p < s->end) {
      unsigned c = *s->p++;
      int esc;
      if (c == '"') {
        if (scan_string(s, &esc)) return EVP_ERR_JSON;
      } else if (c == '{' || c == '[') {
        depth++;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        return EVP_OK;
      }
    }
    return fail(s, "unexpected end of input");
  }
  if (++s->depth > s->max_depth) return fail_at(s, s->p - 1, "nesting too deep", EVP_ERR_TOO_DEEP);
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
      if (s->p >= s->end || *s->p != '"') return fail(s, "expected a member name");
      s->p++;
      if (scan_string(s, &esc)) return EVP_ERR_JSON;
      skip_ws(s);
      if (s->p >= s->end || *s->p != ':') return fail(s, "expected ':'");
      s->p++;
    }
    skip_ws(s);
    evp_err_t e = scan_value(s, &t, &esc);
    if (e) return e;
    skip_ws(s);
    if (s->p < s->end && *s->p == ',') {
      s->p++;
      continue;
    }
    if (s->p < s->end && *s->p == (unsigned char)close) {
      s->p++;
      s->depth--;
      return EVP_OK;
    }
    return fail(s, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static evp_err_t scan_literal(scan_t *s, const char *lit, size_t n) {
  const unsigned char *q = evp__json_lex_literal(s->p, s->end, lit, n);
  if (!q) return fail(s, "unexpected token");
  s->p = q;
  return EVP_OK;
}

/* One value; *escaped: a string value holds an escape. */
static evp_err_t scan_value(scan_t *s, evp__jstype_t *type, int *escaped) {
  if (s->p >= s->end) return fail(s, "unexpected end of input");
  switch (*s->p) {
  case '"':
    s->p++;
    *type = EVP__JS_STRING;
    return scan_string(s, escaped);
  case '{':
    s->p++;
    *type = EVP__JS_OBJECT;
    return scan_container(s, 1);
  case '[':
    s->p++;
    *type = EVP__JS_ARRAY;
    return scan_container(s, 0);
  case 't': *type = EVP__JS_TRUE; return scan_literal(s, "true", 4);
  case 'f': *type = EVP__JS_FALSE; return scan_literal(s, "false", 5);
  case 'n': *type = EVP__JS_NULL; return scan_literal(s, "null", 4);
  default: {
    *type = EVP__JS_NUMBER;
    if (*s->p != '-' && !evp__json_is_digit(*s->p)) return fail(s, "unexpected character");
    evp__json_number_t num;             /* only the grammar matters here */
    const unsigned char *q, *at = NULL; /* set by the lexer on failure */
    const char *msg = NULL;
    if (!(q = evp__json_lex_number(s->p, s->end, &num, &at, &msg)))
      return fail_at(s, at, msg, EVP_ERR_JSON);
    s->p = q;
    return EVP_OK;
  }
  }
}

/* The one object walk behind the three entry points: members go to m[k]
 * (at most max_m), or, with @p each, one at a time through m[0]. */
static evp_err_t scan_object(scan_t *s, evp__jmember_t *m, size_t max_m,
                             void (*each)(void *opaque, const evp__jmember_t *m), void *opaque,
                             size_t *count, evp__json_object_info_t *info) {
  const unsigned char *text = s->p;
  size_t k = 0;
  *count = 0;
  skip_ws(s);
  if (s->p >= s->end || *s->p != '{') {
    if (info) info->not_object = 1;
    return fail(s, "expected an object");
  }
  if (info) info->start = (size_t)(s->p - text);
  s->p++;
  skip_ws(s);
  if (s->p < s->end && *s->p == '}') {
    s->p++;
    goto done;
  }
  for (;;) {
    skip_ws(s);
    if (s->p >= s->end || *s->p != '"') return fail(s, "expected a member name");
    if (!each && k == max_m) return fail_at(s, s->p, "too many members", EVP_ERR_TOO_LARGE);
    evp__jmember_t *cur = each ? m : &m[k];
    const unsigned char *ks = ++s->p;
    if (scan_string(s, &cur->key_escaped)) return EVP_ERR_JSON;
    cur->node = NULL;
    cur->key = (const char *)ks;
    cur->keylen = (size_t)(s->p - 1 - ks);
    skip_ws(s);
    if (s->p >= s->end || *s->p != ':') return fail(s, "expected ':'");
    s->p++;
    skip_ws(s);
    const unsigned char *vs = s->p;
    int esc = 0;
    evp_err_t e;
    if (s->p < s->end && *s->p == '"') { /* most values: no call, no switch */
      s->p++;
      cur->type = EVP__JS_STRING;
      e = scan_string(s, &esc);
    } else {
      e = scan_value(s, &cur->type, &esc);
    }
    if (e) return e;
    cur->val_escaped = 0;
    if (cur->type == EVP__JS_STRING) {
      /* Spans of strings exclude the quotes. */
      cur->val = (const char *)vs + 1;
      cur->vallen = (size_t)(s->p - vs - 2);
      cur->val_escaped = esc;
    } else {
      cur->val = (const char *)vs;
      cur->vallen = (size_t)(s->p - vs);
    }
    k++;
    if (each) each(opaque, cur);
    skip_ws(s);
    if (s->p < s->end && *s->p == ',') {
      s->p++;
      continue;
    }
    if (s->p < s->end && *s->p == '}') {
      s->p++;
      break;
    }
    return fail(s, "expected ',' or '}'");
  }
done:
  if (info) info->end = (size_t)(s->p - text);
  skip_ws(s);
  if (s->p != s->end) return fail(s, "trailing characters after the object");
  *count = k;
  return EVP_OK;
}

static scan_t scanner(const char *text, size_t n, unsigned max_depth, int trusted) {
  scan_t s = {(const unsigned char *)text,
              (const unsigned char *)text + n,
              1,
              max_depth,
              trusted,
              NULL,
              NULL};
  return s;
}

evp_err_t evp__json_scan_object(const char *text, size_t n, unsigned max_depth, evp__jmember_t *m,
                                size_t max_m, size_t *count) {
  scan_t s = scanner(text, n, max_depth, 0);
  return scan_object(&s, m, max_m, NULL, NULL, count, NULL);
}

evp_err_t evp__json_scan_object_trusted(const char *text, size_t n, evp__jmember_t *m, size_t max_m,
                                        size_t *count) {
  scan_t s = scanner(text, n, UINT32_MAX, 1);
  return scan_object(&s, m, max_m, NULL, NULL, count, NULL);
}

evp_err_t evp__json_scan_object_each(const char *text, size_t n, unsigned max_depth,
                                     void (*member)(void *opaque, const evp__jmember_t *m),
                                     void *opaque, evp__json_object_info_t *info) {
  scan_t s = scanner(text, n, max_depth, 0);
  evp__jmember_t m;
  memset(info, 0, sizeof *info);
  evp_err_t e = scan_object(&s, &m, 1, member, opaque, &info->count, info);
  if (e != EVP_OK) {
    info->err_off = (size_t)(s.err_at - (const unsigned char *)text);
    info->err_msg = s.err_msg;
  }
  return e;
}

evp_err_t evp__json_scan_value(const char *text, size_t n, unsigned max_depth, size_t *err_off,
                               const char **err_msg) {
  scan_t s = scanner(text, n, max_depth, 0);
  s.depth = 0; /* the value itself is the first level, as an object's members are */
  evp__jstype_t t;
  int esc;
  skip_ws(&s);
  evp_err_t e = scan_value(&s, &t, &esc);
  if (e == EVP_OK) {
    skip_ws(&s);
    if (s.p != s.end) e = fail(&s, "trailing characters after the value");
  }
  if (e != EVP_OK) {
    *err_off = (size_t)(s.err_at - (const unsigned char *)text);
    *err_msg = s.err_msg;
  }
  return e;
}

size_t evp__json_array_each(const char *arr, size_t len,
                            int (*fn)(void *opaque, size_t i, const char *v, size_t vlen),
                            void *opaque) {
  /* The trusted scanner finds each element's end: strings are skipped 16
   * bytes a step, nested values by bracket counting. */
  scan_t s = scanner(arr, len, UINT32_MAX, 1);
  size_t count = 0;
  s.p++; /* past '[' */
  for (;;) {
    skip_ws(&s);
    if (s.p >= s.end || *s.p == ']') return count;
    const unsigned char *start = s.p;
    evp__jstype_t t;
    int esc;
    if (scan_value(&s, &t, &esc) != EVP_OK)
      return count; /* not the valid JSON the caller promised: stop at the damage */
    if (fn && fn(opaque, count, (const char *)start, (size_t)(s.p - start)) != 0) return (size_t)-1;
    count++;
    skip_ws(&s);
    if (s.p < s.end && *s.p == ',') s.p++;
  }
}
