/* Validation: walks the compiled schema graph over a parsed instance.
 *
 * Sub-schemas whose failure is not itself an error (anyOf, oneOf, not, if,
 * contains) are evaluated "quietly": they record nothing and return at the
 * first failing keyword. Recursion is bounded by EVP__MAX_EVAL_DEPTH, and the
 * total work by EVP__MAX_STEPS, so hostile schemas cannot hang a thread. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "schema/schema_int.h"

#define EVP__MAX_EVAL_DEPTH 512
#define EVP__MAX_STEPS 20000000ull
#define EVP__REGEX_MATCH_LIMIT 1000000u

typedef struct {
  const char *key; /* NULL: array index */
  uint32_t klen;
  uint32_t index;
} evp__path_seg_t;

/* One error of a validation: instance path, schema path, keyword and
 * message, as offsets into sb. */
typedef struct {
  uint32_t ip, sp, kw, msg; /* offsets into sb */
} evp__validation_error_t;

/* An array element with its structural hash, sorted for uniqueItems. */
typedef struct {
  uint64_t h;
  const evp__jv *v;
} unique_item_t;

struct evp_schema_ctx_s {
  evp__jdoc doc;
  pcre2_match_data *md;
  pcre2_match_context *mctx;
  size_t max_input, max_errors;
  int max_depth;
  /* results of the last validation */
  evp__validation_error_t *errs;
  size_t nerrs, caperrs;
  char *sb;
  size_t sbn, sbcap;
  int truncated;
  /* per-validation state */
  evp__path_seg_t *ps; /* instance path, max_depth + 2 entries */
  size_t nps;
  unique_item_t *unique; /* uniqueItems: the array's elements, hashed and sorted */
  size_t unique_cap;
  uint64_t steps;
  int quiet, stop;
  evp_err_t hard;
  /* evp__schema_validate_each: the object element being judged (NULL while
   * none is), so the callback can read its members off this parse */
  const evp__jv *each_cur;
  const char *each_doc;
  const char *parsed_doc; /* text of the object in doc after validate_each, else NULL */
};

/* ------------------------------------------------------------ context */

evp_schema_ctx_t *evp_schema_ctx_new(void) {
  evp_schema_ctx_t *c = calloc(1, sizeof *c);
  if (c) {
    c->max_input = EVP_SCHEMA_DEFAULT_MAX_INPUT;
    c->max_depth = EVP_SCHEMA_DEFAULT_MAX_DEPTH;
    c->max_errors = EVP_SCHEMA_DEFAULT_MAX_ERRORS;
    c->ps = malloc((EVP_SCHEMA_MAX_DEPTH_LIMIT + 2) * sizeof *c->ps);
    c->md = pcre2_match_data_create(1, NULL);
    c->mctx = pcre2_match_context_create(NULL);
    if (c->ps && c->md && c->mctx) {
      pcre2_set_match_limit(c->mctx, EVP__REGEX_MATCH_LIMIT);
      return c;
    }
    evp_schema_ctx_destroy(c);
  }
  return NULL;
}

void evp_schema_ctx_destroy(evp_schema_ctx_t *c) {
  if (!c) return;
  evp__jdoc_free(&c->doc);
  pcre2_match_data_free(c->md);
  pcre2_match_context_free(c->mctx);
  free(c->errs);
  free(c->sb);
  free(c->ps);
  free(c->unique);
  free(c);
}

evp_err_t evp_schema_ctx_set_limits(evp_schema_ctx_t *c, size_t max_input, int max_depth,
                                    size_t max_errors) {
  if (!c || max_depth < 0 || max_depth > EVP_SCHEMA_MAX_DEPTH_LIMIT ||
      max_errors > EVP_SCHEMA_MAX_ERRORS_LIMIT || max_input > UINT32_MAX / 2)
    return EVP_ERR_INVALID_ARG;
  c->max_input = max_input ? max_input : EVP_SCHEMA_DEFAULT_MAX_INPUT;
  c->max_depth = max_depth ? max_depth : EVP_SCHEMA_DEFAULT_MAX_DEPTH;
  c->max_errors = max_errors ? max_errors : EVP_SCHEMA_DEFAULT_MAX_ERRORS;
  return EVP_OK;
}

size_t evp_schema_ctx_error_count(const evp_schema_ctx_t *c) { return c ? c->nerrs : 0; }
int evp_schema_ctx_errors_truncated(const evp_schema_ctx_t *c) { return c ? c->truncated : 0; }

#define ERR_FIELD(name, field)                                                   \
  const char *evp_schema_ctx_error_##name(const evp_schema_ctx_t *c, size_t i) { \
    return c && i < c->nerrs ? c->sb + c->errs[i].field : NULL;                  \
  }
ERR_FIELD(instance_path, ip)
ERR_FIELD(schema_path, sp)
ERR_FIELD(keyword, kw)
ERR_FIELD(message, msg)

/* ------------------------------------------------------------ errors */

/* Append to the string buffer; returns the offset or UINT32_MAX on ENOMEM. */
static int sb_reserve(evp_schema_ctx_t *c, size_t n) {
  if (c->sbcap - c->sbn >= n) return 0;
  size_t nc = c->sbcap ? c->sbcap : 1024;
  while (nc - c->sbn < n) nc *= 2;
  char *nb = realloc(c->sb, nc);
  if (!nb) return -1;
  c->sb = nb;
  c->sbcap = nc;
  return 0;
}

static int sb_put(evp_schema_ctx_t *c, const char *s, size_t n) {
  if (sb_reserve(c, n + 1)) return -1;
  memcpy(c->sb + c->sbn, s, n);
  c->sbn += n;
  return 0;
}

static int sb_path(evp_schema_ctx_t *c) {
  for (size_t i = 0; i < c->nps; i++) {
    const evp__path_seg_t *g = &c->ps[i];
    /* worst case: "/" plus every key byte escaped to two, or a number */
    if (sb_reserve(c, 2 + (g->key ? 2 * (size_t)g->klen : 16))) return -1;
    char *o = c->sb + c->sbn;
    *o++ = '/';
    if (!g->key)
      o += snprintf(o, 16, "%u", g->index);
    else
      for (uint32_t k = 0; k < g->klen; k++) {
        char ch = g->key[k];
        if (ch == '~') {
          *o++ = '~';
          *o++ = '0';
        } else if (ch == '/') {
          *o++ = '~';
          *o++ = '1';
        } else
          *o++ = ch;
      }
    c->sbn = (size_t)(o - c->sb);
  }
  return 0;
}

/* Record an error at the current instance path. The schema path is
 * @p spath, plus "/kw" when @p kw_in_path (keywords like "parse" and
 * "limit" are not schema locations). */
static void verr(evp_schema_ctx_t *c, const char *spath, const char *kw, int kw_in_path,
                 const char *fmt, va_list ap) EVP__PRINTF(5, 0);

static void verr(evp_schema_ctx_t *c, const char *spath, const char *kw, int kw_in_path,
                 const char *fmt, va_list ap) {
  if (c->nerrs >= c->max_errors) {
    c->truncated = c->max_errors > 1;
    c->stop = 1;
    return;
  }
  if (c->nerrs == c->caperrs) {
    size_t nc = c->caperrs ? c->caperrs * 2 : 8;
    evp__validation_error_t *n = realloc(c->errs, nc * sizeof *n);
    if (!n) goto nomem;
    c->errs = n;
    c->caperrs = nc;
  }
  char msg[512];
  int mn = vsnprintf(msg, sizeof msg, fmt, ap);
  if (mn < 0) mn = 0;
  if ((size_t)mn >= sizeof msg) mn = sizeof msg - 1;
  evp__validation_error_t e;
  e.ip = (uint32_t)c->sbn;
  if (sb_path(c) || sb_put(c, "", 1)) goto nomem;
  c->sb[c->sbn - 1] = '\0';
  e.sp = (uint32_t)c->sbn;
  if (sb_put(c, spath, strlen(spath)) ||
      (kw_in_path && (sb_put(c, "/", 1) || sb_put(c, kw, strlen(kw)))) || sb_put(c, "", 1))
    goto nomem;
  c->sb[c->sbn - 1] = '\0';
  e.kw = (uint32_t)c->sbn;
  if (sb_put(c, kw, strlen(kw) + 1)) goto nomem;
  e.msg = (uint32_t)c->sbn;
  if (sb_put(c, msg, (size_t)mn + 1)) goto nomem;
  c->errs[c->nerrs++] = e;
  if (c->nerrs >= c->max_errors) {
    c->stop = 1;
    c->truncated = c->max_errors > 1 || c->truncated;
  }
  return;
nomem:
  c->hard = EVP_ERR_NOMEM;
  c->stop = 1;
}

static void add_err(evp_schema_ctx_t *c, const char *spath, const char *kw, const char *fmt, ...)
    EVP__PRINTF(4, 5);

static void add_err(evp_schema_ctx_t *c, const char *spath, const char *kw, const char *fmt, ...) {
  if (c->quiet) return;
  va_list ap;
  va_start(ap, fmt);
  verr(c, spath, kw, 1, fmt, ap);
  va_end(ap);
}

static void hard_err1(evp_schema_ctx_t *c, const char *spath, const char *kw, const char *fmt, ...)
    EVP__PRINTF(4, 5);

static void hard_err1(evp_schema_ctx_t *c, const char *spath, const char *kw, const char *fmt,
                      ...) {
  va_list ap;
  va_start(ap, fmt);
  verr(c, spath, kw, 0, fmt, ap);
  va_end(ap);
}

/* A failure that ends validation whatever the mode: it is recorded even
 * inside quiet evaluation, replacing the last error if the list is full. */
static void hard_err(evp_schema_ctx_t *c, evp_err_t code, const char *spath, const char *kw,
                     const char *msg) {
  if (c->hard) return;
  if (c->nerrs >= c->max_errors) c->nerrs = c->max_errors - 1;
  c->stop = 0;
  hard_err1(c, spath, kw, "%s", msg);
  if (!c->hard) c->hard = code;
  c->stop = 1;
}

/* ------------------------------------------------------------ helpers */

static const char *type_name(const evp__jv *x) {
  switch (x->type) {
  case EVP__J_NULL: return "null";
  case EVP__J_TRUE:
  case EVP__J_FALSE: return "boolean";
  case EVP__J_NUM: return x->isint ? "integer" : "number";
  case EVP__J_STR: return "string";
  case EVP__J_ARR: return "array";
  default: return "object";
  }
}

static void types_str(uint32_t t, char *buf, size_t n) {
  static const char *const names[] = {"null",   "boolean", "object", "array",
                                      "number", "integer", "string"};
  buf[0] = '\0';
  size_t o = 0;
  if (t & EVP__T_NUM) t &= ~(uint32_t)EVP__T_INT; /* "number" already says it */
  for (int i = 0; i < 7; i++)
    if (t & (1u << i)) {
      int w = snprintf(buf + o, n - o, "%s%s", o ? " or " : "", names[i]);
      if (w < 0 || (size_t)w >= n - o) break;
      o += (size_t)w;
    }
}

static int type_ok(uint32_t types, const evp__jv *x) {
  switch (x->type) {
  case EVP__J_NULL: return types & EVP__T_NULL;
  case EVP__J_TRUE:
  case EVP__J_FALSE: return types & EVP__T_BOOL;
  case EVP__J_NUM: return (types & EVP__T_NUM) || ((types & EVP__T_INT) && x->isint);
  case EVP__J_STR: return types & EVP__T_STR;
  case EVP__J_ARR: return types & EVP__T_ARR;
  default: return types & EVP__T_OBJ;
  }
}

/* 1 match, 0 no match, -1 limit exceeded (a hard error is recorded). */
static int re_match(evp_schema_ctx_t *c, pcre2_code *re, int jit, const char *s, size_t n,
                    const char *spath) {
  if (EVP__UNLIKELY(++c->steps > EVP__MAX_STEPS)) { /* many patterns x many keys */
    hard_err(c, EVP_ERR_TOO_LARGE, spath, "limit", "validation work limit exceeded");
    return -1;
  }
  /* pcre2_jit_match skips pcre2_match's argument checks: the subject is
   * valid UTF-8 (the parser checked) and the match data is ours. */
  int rc = jit ? pcre2_jit_match(re, (PCRE2_SPTR)s, n, 0, PCRE2_NO_UTF_CHECK, c->md, c->mctx)
               : pcre2_match(re, (PCRE2_SPTR)s, n, 0, PCRE2_NO_UTF_CHECK, c->md, c->mctx);
  if (rc >= 0) return 1;
  if (rc == PCRE2_ERROR_NOMATCH) return 0;
  hard_err(c, EVP_ERR_TOO_LARGE, spath, "limit", "regular expression match limit exceeded");
  return -1;
}

static int multiple_of(double x, double m) {
  double q = x / m;
  if (!isfinite(q)) return fmod(x, m) == 0.0;
  double r = nearbyint(q);
  return fabs(q - r) <= fabs(q) * 4 * DBL_EPSILON;
}

static const evp__jv *member(const evp__jv *obj, const char *name, uint32_t len) {
  const evp__jv *k = obj + 1;
  for (uint32_t i = 0; i < obj->len; i++) {
    if (k->len == len && evp__bytes_eq(k->u.str, name, len)) return k + 1;
    k += 1 + k[1].skip;
  }
  return NULL;
}

static const evp__schema_prop_t *find_prop(const evp__schema_node_t *s, const char *name,
                                           uint32_t len) {
  uint32_t h = evp__hash32(name, len);
  for (uint32_t k = h & s->ptab_mask; s->ptab[k]; k = (k + 1) & s->ptab_mask) {
    const evp__schema_prop_t *p = &s->props[s->ptab[k] - 1];
    if (p->hash == h && p->name.len == len && evp__bytes_eq(p->name.s, name, len)) return p;
  }
  return NULL;
}

static int cmp_unique_items(const void *a, const void *b) {
  const unique_item_t *x = a, *y = b;
  return x->h < y->h ? -1 : x->h > y->h;
}

/* Index pair (i < j) of two equal items, or -1. Hashing keeps this
 * O(n log n) for long arrays instead of O(n^2) comparisons. */
static int find_duplicate(evp_schema_ctx_t *c, const evp__jv *arr, uint32_t *pi, uint32_t *pj) {
  const evp__jv *x = arr + 1;
  if (arr->len <= 16) {
    const evp__jv *a = x;
    for (uint32_t i = 0; i < arr->len; i++, a += a->skip) {
      const evp__jv *b = a + a->skip;
      for (uint32_t j = i + 1; j < arr->len; j++, b += b->skip)
        if (evp__json_equal(a, b)) {
          *pi = i;
          *pj = j;
          return 1;
        }
    }
    return 0;
  }
  if (c->unique_cap < arr->len) {
    unique_item_t *n = realloc(c->unique, arr->len * sizeof *n);
    if (!n) {
      c->hard = EVP_ERR_NOMEM;
      c->stop = 1;
      return 0;
    }
    c->unique = n;
    c->unique_cap = arr->len;
  }
  for (uint32_t i = 0; i < arr->len; i++, x += x->skip)
    c->unique[i] = (unique_item_t){evp__json_hash(x), x};
  qsort(c->unique, arr->len, sizeof *c->unique, cmp_unique_items);
  for (uint32_t i = 0; i + 1 < arr->len; i++)
    for (uint32_t j = i + 1; j < arr->len && c->unique[j].h == c->unique[i].h; j++)
      if (evp__json_equal(c->unique[i].v, c->unique[j].v)) {
        /* report positions in the array, smaller first */
        const evp__jv *a = c->unique[i].v, *b = c->unique[j].v, *y = arr + 1;
        uint32_t ia = 0, ib = 0;
        for (uint32_t k = 0; k < arr->len; k++, y += y->skip) {
          if (y == a) ia = k;
          if (y == b) ib = k;
        }
        *pi = ia < ib ? ia : ib;
        *pj = ia < ib ? ib : ia;
        return 1;
      }
  return 0;
}

/* ------------------------------------------------------------ evaluation */

static int ev(evp_schema_ctx_t *c, const evp__schema_node_t *s, const evp__jv *x, int depth);

#define FAILED()                       \
  do {                                 \
    ok = 0;                            \
    if (c->quiet || c->stop) return 0; \
  } while (0)

static int quiet_ev(evp_schema_ctx_t *c, const evp__schema_node_t *s, const evp__jv *x, int depth) {
  c->quiet++;
  int r = ev(c, s, x, depth);
  c->quiet--;
  return r && !c->hard;
}

static void push_key(evp_schema_ctx_t *c, const evp__jv *k) {
  c->ps[c->nps++] = (evp__path_seg_t){k->u.str, k->len, 0};
}
static void push_idx(evp_schema_ctx_t *c, uint32_t i) {
  c->ps[c->nps++] = (evp__path_seg_t){NULL, 0, i};
}

static int ev_number(evp_schema_ctx_t *c, const evp__schema_node_t *s, const evp__jv *x) {
  int ok = 1;
  double d = x->u.num;
  if ((s->flags & EVP__F_MIN) && d < s->min) {
    add_err(c, s->path, "minimum", "must be >= %.17g", s->min);
    FAILED();
  }
  if ((s->flags & EVP__F_MAX) && d > s->max) {
    add_err(c, s->path, "maximum", "must be <= %.17g", s->max);
    FAILED();
  }
  if ((s->flags & EVP__F_XMIN) && d <= s->xmin) {
    add_err(c, s->path, "exclusiveMinimum", "must be > %.17g", s->xmin);
    FAILED();
  }
  if ((s->flags & EVP__F_XMAX) && d >= s->xmax) {
    add_err(c, s->path, "exclusiveMaximum", "must be < %.17g", s->xmax);
    FAILED();
  }
  if ((s->flags & EVP__F_MULT) && !multiple_of(d, s->mult)) {
    add_err(c, s->path, "multipleOf", "must be a multiple of %.17g", s->mult);
    FAILED();
  }
  return ok;
}

static int ev_string(evp_schema_ctx_t *c, const evp__schema_node_t *s, const evp__jv *x) {
  int ok = 1;
  if (s->flags & (EVP__F_MINLEN | EVP__F_MAXLEN)) {
    /* bytes / 4 <= code points <= bytes (UTF-8): count only when those
     * bounds cannot decide */
    uint64_t bytes = x->len, cps = bytes;
    int need = ((s->flags & EVP__F_MAXLEN) && bytes > s->maxlen) ||
               ((s->flags & EVP__F_MINLEN) && bytes >= s->minlen && (bytes + 3) / 4 < s->minlen);
    if (need) cps = evp__utf8_len(x->u.str, x->len);
    if ((s->flags & EVP__F_MINLEN) && cps < s->minlen) {
      add_err(c, s->path, "minLength", "must be at least %llu %s long",
              (unsigned long long)s->minlen, s->minlen == 1 ? "character" : "characters");
      FAILED();
    }
    if ((s->flags & EVP__F_MAXLEN) && cps > s->maxlen) {
      add_err(c, s->path, "maxLength", "must be at most %llu %s long",
              (unsigned long long)s->maxlen, s->maxlen == 1 ? "character" : "characters");
      FAILED();
    }
  }
  if (s->pattern) {
    int m = re_match(c, s->pattern, s->pattern_jit, x->u.str, x->len, s->path);
    if (m < 0) return 0;
    if (!m) {
      add_err(c, s->path, "pattern", "must match pattern \"%s\"", s->pattern_src);
      FAILED();
    }
  }
  if (s->format && !evp__format_check(s->format, x->u.str, x->len)) {
    add_err(c, s->path, "format", "must be a valid %s", evp__format_name(s->format));
    FAILED();
  }
  return ok;
}

static int ev_array(evp_schema_ctx_t *c, const evp__schema_node_t *s, const evp__jv *x, int depth) {
  int ok = 1;
  if ((s->flags & EVP__F_MINITEMS) && x->len < s->minitems) {
    add_err(c, s->path, "minItems", "must have at least %llu %s", (unsigned long long)s->minitems,
            s->minitems == 1 ? "item" : "items");
    FAILED();
  }
  if ((s->flags & EVP__F_MAXITEMS) && x->len > s->maxitems) {
    add_err(c, s->path, "maxItems", "must have at most %llu %s", (unsigned long long)s->maxitems,
            s->maxitems == 1 ? "item" : "items");
    FAILED();
  }
  if (s->items || (s->flags & EVP__F_ITEMS_ARR)) {
    const evp__jv *e = x + 1;
    for (uint32_t i = 0; i < x->len; i++, e += e->skip) {
      const evp__schema_node_t *sub = s->items;
      if (s->flags & EVP__F_ITEMS_ARR) {
        sub = i < s->nitems ? s->items_arr[i] : s->add_items;
        if (!sub) break;
      }
      push_idx(c, i);
      int r = ev(c, sub, e, depth + 1);
      c->nps--;
      if (!r) FAILED();
    }
  }
  if (s->unique && x->len > 1) {
    uint32_t i, j;
    if (find_duplicate(c, x, &i, &j)) {
      add_err(c, s->path, "uniqueItems", "must not contain duplicates (items %u and %u are equal)",
              i, j);
      FAILED();
    }
    if (c->stop) return 0;
  }
  if (s->contains) {
    const evp__jv *e = x + 1;
    int found = 0;
    for (uint32_t i = 0; i < x->len && !found; i++, e += e->skip)
      found = quiet_ev(c, s->contains, e, depth + 1);
    if (c->hard) return 0;
    if (!found) {
      add_err(c, s->path, "contains", "must contain at least one matching item");
      FAILED();
    }
  }
  return ok;
}

static int ev_object(evp_schema_ctx_t *c, const evp__schema_node_t *s, const evp__jv *x,
                     int depth) {
  int ok = 1;
  if ((s->flags & EVP__F_MINPROPS) && x->len < s->minprops) {
    add_err(c, s->path, "minProperties", "must have at least %llu %s",
            (unsigned long long)s->minprops, s->minprops == 1 ? "property" : "properties");
    FAILED();
  }
  if ((s->flags & EVP__F_MAXPROPS) && x->len > s->maxprops) {
    add_err(c, s->path, "maxProperties", "must have at most %llu %s",
            (unsigned long long)s->maxprops, s->maxprops == 1 ? "property" : "properties");
    FAILED();
  }
  for (uint32_t i = 0; i < s->nrequired; i++)
    if (!member(x, s->required[i].s, s->required[i].len)) {
      add_err(c, s->path, "required", "missing required property \"%s\"", s->required[i].s);
      FAILED();
    }
  if (s->nprops || s->npprops || s->add_props || s->prop_names) {
    const evp__jv *k = x + 1;
    for (uint32_t i = 0; i < x->len; i++, k += 1 + k[1].skip) {
      const evp__jv *val = k + 1;
      int matched = 0;
      push_key(c, k);
      if (s->nprops) {
        const evp__schema_prop_t *p = find_prop(s, k->u.str, k->len);
        if (p) {
          matched = 1;
          if (!ev(c, p->schema, val, depth + 1)) {
            c->nps--;
            FAILED();
            c->nps++;
          }
        }
      }
      for (uint32_t j = 0; j < s->npprops; j++) {
        int m = re_match(c, s->pprops[j].re, s->pprops[j].jit, k->u.str, k->len, s->path);
        if (m < 0) {
          c->nps--;
          return 0;
        }
        if (m) {
          matched = 1;
          if (!ev(c, s->pprops[j].schema, val, depth + 1)) {
            c->nps--;
            FAILED();
            c->nps++;
          }
        }
      }
      if (!matched && s->add_props) {
        if (s->add_props->kind == EVP__S_FALSE) {
          c->nps--;
          add_err(c, s->path, "additionalProperties", "property \"%.*s\" is not allowed",
                  (int)(k->len > 200 ? 200 : k->len), k->u.str);
          FAILED();
          c->nps++;
        } else if (!ev(c, s->add_props, val, depth + 1)) {
          c->nps--;
          FAILED();
          c->nps++;
        }
      }
      if (s->prop_names && !ev(c, s->prop_names, k, depth + 1)) {
        c->nps--;
        FAILED();
        c->nps++;
      }
      c->nps--;
    }
  }
  for (uint32_t i = 0; i < s->ndeps; i++) {
    const evp__schema_dependency_t *d = &s->deps[i];
    if (!member(x, d->name.s, d->name.len)) continue;
    if (d->schema) {
      if (!ev(c, d->schema, x, depth + 1)) FAILED();
    } else
      for (uint32_t j = 0; j < d->nreq; j++)
        if (!member(x, d->req[j].s, d->req[j].len)) {
          add_err(c, s->path, "dependencies", "property \"%s\" is required when \"%s\" is present",
                  d->req[j].s, d->name.s);
          FAILED();
        }
  }
  return ok;
}

static int ev(evp_schema_ctx_t *c, const evp__schema_node_t *s, const evp__jv *x, int depth) {
  if (EVP__UNLIKELY(++c->steps > EVP__MAX_STEPS)) {
    hard_err(c, EVP_ERR_TOO_LARGE, s->path, "limit", "validation work limit exceeded");
    return 0;
  }
  if (EVP__UNLIKELY(depth > EVP__MAX_EVAL_DEPTH)) {
    hard_err(c, EVP_ERR_TOO_DEEP, s->path, "limit",
             "schema evaluation nested too deeply (recursive $ref?)");
    return 0;
  }
  switch (s->kind) {
  case EVP__S_TRUE: return 1;
  case EVP__S_FALSE:
    if (!c->quiet) hard_err1(c, s->path, "false", "no value is allowed here (false schema)");
    return 0;
  case EVP__S_REF: return ev(c, s->ref, x, depth + 1);
  default: break;
  }
  int ok = 1;
  if (s->types && !type_ok(s->types, x)) {
    char want[96];
    types_str(s->types, want, sizeof want);
    add_err(c, s->path, "type", "must be %s, not %s", want, type_name(x));
    FAILED();
  }
  if ((s->flags & EVP__F_CONST) && !evp__json_equal(s->const_val, x)) {
    add_err(c, s->path, "const", "must be equal to the constant");
    FAILED();
  }
  if (s->flags & EVP__F_ENUM) {
    c->steps += s->enum_val->len; /* long enums count as work (checked at the next step) */
    const evp__jv *e = s->enum_val + 1;
    uint32_t i = 0;
    for (; i < s->enum_val->len; i++, e += e->skip)
      if (evp__json_equal(e, x)) break;
    if (i == s->enum_val->len) {
      add_err(c, s->path, "enum", "must be one of the allowed values");
      FAILED();
    }
  }
  switch (x->type) {
  case EVP__J_NUM:
    if (!ev_number(c, s, x)) FAILED();
    break;
  case EVP__J_STR:
    if (!ev_string(c, s, x)) FAILED();
    break;
  case EVP__J_ARR:
    if (!ev_array(c, s, x, depth)) FAILED();
    break;
  case EVP__J_OBJ:
    if (!ev_object(c, s, x, depth)) FAILED();
    break;
  default: break;
  }
  if (!(s->flags & EVP__F_COMBINATORS)) return ok;
  for (uint32_t i = 0; i < s->nall_of; i++)
    if (!ev(c, s->all_of[i], x, depth + 1)) FAILED();
  if (s->nany_of) {
    uint32_t i = 0;
    while (i < s->nany_of && !quiet_ev(c, s->any_of[i], x, depth + 1) && !c->hard) i++;
    if (c->hard) return 0;
    if (i == s->nany_of) {
      add_err(c, s->path, "anyOf", "must match at least one schema in anyOf");
      FAILED();
    }
  }
  if (s->none_of) {
    uint32_t n = 0, first = 0, second = 0;
    for (uint32_t i = 0; i < s->none_of && n < 2 && !c->hard; i++)
      if (quiet_ev(c, s->one_of[i], x, depth + 1)) {
        if (n++)
          second = i;
        else
          first = i;
      }
    if (c->hard) return 0;
    if (n == 0) {
      add_err(c, s->path, "oneOf", "must match exactly one schema in oneOf (matches none)");
      FAILED();
    }
    if (n > 1) {
      add_err(c, s->path, "oneOf", "must match exactly one schema in oneOf (matches %u and %u)",
              first, second);
      FAILED();
    }
  }
  if (s->not_) {
    int r = quiet_ev(c, s->not_, x, depth + 1);
    if (c->hard) return 0;
    if (r) {
      add_err(c, s->path, "not", "must not match the schema in not");
      FAILED();
    }
  }
  if (s->if_) {
    int r = quiet_ev(c, s->if_, x, depth + 1);
    if (c->hard) return 0;
    const evp__schema_node_t *next = r ? s->then_ : s->else_;
    if (next && !ev(c, next, x, depth + 1)) FAILED();
  }
  return ok;
}

static void reset(evp_schema_ctx_t *c) {
  c->nerrs = 0;
  c->sbn = 0;
  c->truncated = 0;
  c->nps = 0;
  c->steps = 0;
  c->quiet = 0;
  c->stop = 0;
  c->hard = EVP_OK;
}

evp_err_t evp_schema_validate(const evp_schema_t *schema, evp_schema_ctx_t *c, const char *json,
                              size_t len) {
  if (!schema || !c || (!json && len)) return EVP_ERR_INVALID_ARG;
  reset(c);
  if (len > c->max_input) {
    char msg[96];
    snprintf(msg, sizeof msg, "document of %zu bytes exceeds the limit of %zu", len, c->max_input);
    hard_err(c, EVP_ERR_TOO_LARGE, "", "limit", msg);
    return c->hard;
  }
  c->parsed_doc = NULL;
  evp_err_t rc = evp__json_parse(&c->doc, json ? json : "", len, c->max_depth);
  if (rc) {
    if (rc == EVP_ERR_NOMEM) return rc;
    char msg[160];
    snprintf(msg, sizeof msg, "%s at byte %zu", c->doc.err_msg ? c->doc.err_msg : "invalid JSON",
             c->doc.err_off);
    hard_err(c, rc, "", rc == EVP_ERR_TOO_DEEP ? "limit" : "parse", msg);
    return c->hard;
  }
  int ok = ev(c, schema->root, c->doc.v, 0);
  if (c->hard) return c->hard;
  return ok ? EVP_OK : EVP_ERR_INVALID_EVENT;
}

/* The body is parsed once, and each element validated on the parsed tape:
 * validating element texts one by one would parse every byte twice (the
 * body must be checked as a whole first, or a bad body could be half
 * accepted). The nesting bound is the context's, counted from the element,
 * as if each element were validated alone. */
int evp__schema_validate_each(const evp_schema_t *schema, evp_schema_ctx_t *c, const char *doc,
                              size_t len, const char *key, size_t max_members,
                              int (*fn)(void *opaque, size_t i, const char *v, size_t n,
                                        evp_err_t verdict),
                              void *opaque) {
  if (!schema || !c || !doc || !key) return -1;
  size_t klen = strlen(key);
  c->parsed_doc = NULL;
  evp_err_t rc = evp__json_parse(&c->doc, doc, len, c->max_depth + 2);
  if (rc == EVP_ERR_NOMEM) return -2;
  if (rc) return -1;
  const evp__jv *root = c->doc.v;
  if (root->type != EVP__J_OBJ || root->len > max_members) return -1;
  c->parsed_doc = doc;
  const evp__jv *arr = NULL, *k = root + 1;
  for (uint32_t i = 0; i < root->len; i++) {
    const evp__jv *val = k + 1;
    /* any duplicate member: the general path names it */
    for (const evp__jv *k2 = val + val->skip; k2 < root + root->skip; k2 += 1 + k2[1].skip)
      if (k2->len == k->len && memcmp(k2->u.str, k->u.str, k->len) == 0) return -1;
    if (k->len == klen && memcmp(k->u.str, key, klen) == 0) arr = val;
    k = val + val->skip;
  }
  if (!arr || arr->type != EVP__J_ARR) return -1;
  const evp__jv *x = arr + 1;
  for (uint32_t i = 0; i < arr->len; i++, x += x->skip) {
    /* Only objects are validated (events.c rejects anything else by its
     * first byte); their span is exact, other values get their first byte. */
    size_t n = x->type == EVP__J_OBJ ? x->u.end - x->off : 1;
    evp_err_t verdict = EVP_OK;
    if (x->type == EVP__J_OBJ) {
      reset(c);
      if (n > c->max_input) {
        char msg[96];
        snprintf(msg, sizeof msg, "document of %zu bytes exceeds the limit of %zu", n,
                 c->max_input);
        hard_err(c, EVP_ERR_TOO_LARGE, "", "limit", msg);
        verdict = c->hard;
      } else {
        int ok = ev(c, schema->root, x, 0);
        verdict = c->hard ? c->hard : ok ? EVP_OK : EVP_ERR_INVALID_EVENT;
      }
    }
    c->each_cur = x->type == EVP__J_OBJ ? x : NULL;
    c->each_doc = doc;
    int stop = fn(opaque, i, doc + x->off, n, verdict);
    c->each_cur = NULL;
    if (stop) return 1;
  }
  return 0;
}

evp_err_t evp__schema_each_members(const evp_schema_ctx_t *c, evp__jmember_t *m, size_t max_m,
                                   size_t *count) {
  if (!c || !c->each_cur) return EVP_ERR_STATE;
  return evp__json_tape_members(c->each_cur, c->each_doc, m, max_m, count);
}

evp_err_t evp__schema_doc_members(const evp_schema_ctx_t *c, evp__jmember_t *m, size_t max_m,
                                  size_t *count) {
  if (!c || !c->parsed_doc) return EVP_ERR_STATE;
  return evp__json_tape_members(c->doc.v, c->parsed_doc, m, max_m, count);
}
