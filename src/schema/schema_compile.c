/* Schema compilation: cJSON documents -> an immutable graph of evp__schema_node_t.
 *
 * Pass 1 (scan) walks every document (the schema, the loader's resources,
 * the meta-schema when referenced) through the keywords that hold schemas
 * and indexes each $id by its absolute URI. Pass 2 (compile) builds nodes
 * depth-first, memoised by cJSON node, so a $ref cycle becomes a cycle in
 * the graph instead of infinite recursion, and each $ref is resolved once. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "schema/schema_int.h"

#define EVP__MAX_SCHEMA_DEPTH 1100 /* cJSON nests to 1000; plus $ref hops */

typedef struct {
  const char *uri; /* key */
  const cJSON *node;
  const char *base; /* the base URI around node, before node's own $id */
  const char *path;
} evp__id_entry_t;

typedef struct {
  const cJSON *key;
  evp__schema_node_t *val;
} evp__memo_entry_t;

/* The state of one compilation: the schema being built, the index of the
 * documents' $id and JSON-pointer URIs, the nodes compiled so far (memo)
 * and the first error. */
typedef struct {
  evp_schema_t *s;
  evp__arena_t tmp;     /* strings needed only while compiling */
  evp__id_entry_t *idx; /* open addressing, capidx a power of two */
  size_t nidx, capidx;
  evp__memo_entry_t *memo;
  size_t nmemo, capmemo;
  evp__schema_node_t **refs; /* every $ref node, for the cycle check */
  size_t nrefs, caprefs;
  cJSON *meta; /* parsed lazily */
  int format_assert;
  evp_err_t err;
  char *errstr;
  size_t errsize;
} evp__compiler_t;

/* Record the first error of a compilation; returns NULL for one-line exits. */
static void *FAIL(evp__compiler_t *cc, evp_err_t code, const char *fmt, ...) EVP__PRINTF(3, 4);
static void *FAIL(evp__compiler_t *cc, evp_err_t code, const char *fmt, ...) {
  if (cc->err != EVP_OK) return NULL;
  cc->err = code;
  if (cc->errstr && cc->errsize) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cc->errstr, cc->errsize, fmt, ap);
    va_end(ap);
  }
  return NULL;
}

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
  return h;
}

static uint64_t hash_ptr(const void *p) {
  uint64_t h = (uint64_t)(uintptr_t)p;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 33);
}

/* ------------------------------------------------------------ tables */

static const evp__id_entry_t *idx_get(const evp__compiler_t *cc, const char *uri) {
  if (!cc->capidx) return NULL;
  for (size_t i = hash_str(uri) & (cc->capidx - 1);; i = (i + 1) & (cc->capidx - 1)) {
    if (!cc->idx[i].uri) return NULL;
    if (!strcmp(cc->idx[i].uri, uri)) return &cc->idx[i];
  }
}

static int idx_put(evp__compiler_t *cc, const char *uri, const cJSON *node, const char *base,
                   const char *path) {
  if (idx_get(cc, uri)) return 0; /* first definition wins */
  if ((cc->nidx + 1) * 2 > cc->capidx) {
    size_t nc = cc->capidx ? cc->capidx * 2 : 64;
    evp__id_entry_t *n = calloc(nc, sizeof *n);
    if (!n) return -1;
    for (size_t i = 0; i < cc->capidx; i++) {
      if (!cc->idx[i].uri) continue;
      size_t j = hash_str(cc->idx[i].uri) & (nc - 1);
      while (n[j].uri) j = (j + 1) & (nc - 1);
      n[j] = cc->idx[i];
    }
    free(cc->idx);
    cc->idx = n;
    cc->capidx = nc;
  }
  size_t j = hash_str(uri) & (cc->capidx - 1);
  while (cc->idx[j].uri) j = (j + 1) & (cc->capidx - 1);
  cc->idx[j] = (evp__id_entry_t){uri, node, base, path};
  cc->nidx++;
  return 0;
}

static evp__schema_node_t *memo_get(const evp__compiler_t *cc, const cJSON *key) {
  if (!cc->capmemo) return NULL;
  for (size_t i = hash_ptr(key) & (cc->capmemo - 1);; i = (i + 1) & (cc->capmemo - 1)) {
    if (!cc->memo[i].key) return NULL;
    if (cc->memo[i].key == key) return cc->memo[i].val;
  }
}

static int memo_put(evp__compiler_t *cc, const cJSON *key, evp__schema_node_t *val) {
  if ((cc->nmemo + 1) * 2 > cc->capmemo) {
    size_t nc = cc->capmemo ? cc->capmemo * 2 : 256;
    evp__memo_entry_t *n = calloc(nc, sizeof *n);
    if (!n) return -1;
    for (size_t i = 0; i < cc->capmemo; i++) {
      if (!cc->memo[i].key) continue;
      size_t j = hash_ptr(cc->memo[i].key) & (nc - 1);
      while (n[j].key) j = (j + 1) & (nc - 1);
      n[j] = cc->memo[i];
    }
    free(cc->memo);
    cc->memo = n;
    cc->capmemo = nc;
  }
  size_t j = hash_ptr(key) & (cc->capmemo - 1);
  while (cc->memo[j].key) j = (j + 1) & (cc->capmemo - 1);
  cc->memo[j] = (evp__memo_entry_t){key, val};
  cc->nmemo++;
  return 0;
}

/* ------------------------------------------------------------ strings */

static char *tmp_cat(evp__compiler_t *cc, const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *p = evp__arena_alloc(&cc->tmp, la + lb + 1);
  if (!p) return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
  memcpy(p, a, la);
  memcpy(p + la, b, lb + 1);
  return p;
}

/* parent path + "/" + JSON-pointer-escaped token */
static char *path_push(evp__compiler_t *cc, const char *path, const char *tok) {
  size_t lp = strlen(path), n = lp + 2;
  for (const char *t = tok; *t; t++) n += (*t == '~' || *t == '/') ? 2 : 1;
  char *p = evp__arena_alloc(&cc->tmp, n), *o = p + lp;
  if (!p) return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
  memcpy(p, path, lp);
  *o++ = '/';
  for (const char *t = tok; *t; t++) {
    if (*t == '~') {
      *o++ = '~';
      *o++ = '0';
    } else if (*t == '/') {
      *o++ = '~';
      *o++ = '1';
    } else
      *o++ = *t;
  }
  *o = '\0';
  return p;
}

static char *path_idx(evp__compiler_t *cc, const char *path, const char *kw, int i) {
  char num[24];
  snprintf(num, sizeof num, "%d", i);
  char *p = path_push(cc, path, kw);
  return p ? path_push(cc, p, num) : NULL;
}

static char *resolve(evp__compiler_t *cc, const char *base, const char *ref) {
  char *r = evp__uri_resolve(base, ref);
  if (!r) return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
  char *p = evp__arena_strndup(&cc->tmp, r, strlen(r));
  free(r);
  if (!p) return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
  return p;
}

/* The URI without its fragment, in tmp. */
static char *strip_frag(evp__compiler_t *cc, const char *uri) {
  const char *h = strchr(uri, '#');
  if (!h) return (char *)uri;
  char *p = evp__arena_strndup(&cc->tmp, uri, (size_t)(h - uri));
  if (!p) return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
  return p;
}

/* ------------------------------------------------------------ pass 1 */

static const char *const evp__kw_single[] = {"additionalItems",
                                             "additionalProperties",
                                             "contains",
                                             "propertyNames",
                                             "not",
                                             "if",
                                             "then",
                                             "else",
                                             "items"};
static const char *const evp__kw_array[] = {"items", "allOf", "anyOf", "oneOf"};
static const char *const evp__kw_map[] = {"properties", "patternProperties", "definitions",
                                          "dependencies"};
#define NELEM(a) (sizeof(a) / sizeof(a)[0])

/* Apply @p node's $id (if any, and if no $ref hides it) to @p base and index
 * it. Returns the new base, or NULL on error. */
static const char *apply_id(evp__compiler_t *cc, const cJSON *node, const char *base,
                            const char *path, int index) {
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(node, "$id");
  if (!cJSON_IsString(id) || cJSON_GetObjectItemCaseSensitive(node, "$ref")) return base;
  char *abs = resolve(cc, base, id->valuestring);
  if (!abs) return NULL;
  if (id->valuestring[0] == '#') { /* a location-independent identifier only */
    if (index && idx_put(cc, abs, node, base, path))
      return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
    return base;
  }
  char *nb = strip_frag(cc, abs);
  if (!nb) return NULL;
  if (index) {
    if (idx_put(cc, nb, node, nb, path)) return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
    const char *h = strchr(abs, '#');
    if (h && h[1] && h[1] != '/' && idx_put(cc, abs, node, nb, path))
      return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
  }
  return nb;
}

static int scan(evp__compiler_t *cc, const cJSON *node, const char *base, const char *path,
                int depth) {
  if (depth > EVP__MAX_SCHEMA_DEPTH) {
    FAIL(cc, EVP_ERR_TOO_DEEP, "schema nested too deeply at %s", path);
    return -1;
  }
  if (!cJSON_IsObject(node) || cJSON_GetObjectItemCaseSensitive(node, "$ref")) return 0;
  if (!(base = apply_id(cc, node, base, path, 1))) return -1;
  for (size_t k = 0; k < NELEM(evp__kw_single); k++) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(node, evp__kw_single[k]);
    if (cJSON_IsObject(c)) {
      char *p = path_push(cc, path, evp__kw_single[k]);
      if (!p || scan(cc, c, base, p, depth + 1)) return -1;
    }
  }
  for (size_t k = 0; k < NELEM(evp__kw_array); k++) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(node, evp__kw_array[k]);
    if (!cJSON_IsArray(c)) continue;
    int i = 0;
    for (const cJSON *e = c->child; e; e = e->next, i++) {
      char *p = path_idx(cc, path, evp__kw_array[k], i);
      if (!p || scan(cc, e, base, p, depth + 1)) return -1;
    }
  }
  for (size_t k = 0; k < NELEM(evp__kw_map); k++) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(node, evp__kw_map[k]);
    if (!cJSON_IsObject(c)) continue;
    char *pk = path_push(cc, path, evp__kw_map[k]);
    if (!pk) return -1;
    for (const cJSON *e = c->child; e; e = e->next) {
      char *p = path_push(cc, pk, e->string);
      if (!p || scan(cc, e, base, p, depth + 1)) return -1;
    }
  }
  return 0;
}

static int scan_doc(evp__compiler_t *cc, const cJSON *doc, const char *uri) {
  /* The root's path names its document unless it is the schema itself. */
  char *path = tmp_cat(cc, uri, "#");
  if (!path) return -1;
  if (*uri && idx_put(cc, uri, doc, uri, path)) {
    FAIL(cc, EVP_ERR_NOMEM, "out of memory");
    return -1;
  }
  return scan(cc, doc, uri, path, 0);
}

/* ------------------------------------------------------------ $ref lookup */

typedef struct {
  const cJSON *node;
  const char *base;
  const char *path;
} evp__ref_target_t;

/* Where a pointer step leads: a schema, a map of schemas, an array of
 * schemas, or plain data (whose "$id"s mean nothing). */
enum { POS_SCHEMA, POS_MAP, POS_ARRAY, POS_DATA };

static int step_pos(int pos, const char *tok) {
  if (pos == POS_MAP || pos == POS_ARRAY) return POS_SCHEMA;
  if (pos == POS_DATA) return POS_DATA;
  for (size_t k = 0; k < NELEM(evp__kw_map); k++)
    if (!strcmp(tok, evp__kw_map[k])) return POS_MAP;
  if (!strcmp(tok, "items") || !strcmp(tok, "allOf") || !strcmp(tok, "anyOf") ||
      !strcmp(tok, "oneOf"))
    return POS_ARRAY; /* an object under "items" is handled by the caller */
  for (size_t k = 0; k < NELEM(evp__kw_single); k++)
    if (!strcmp(tok, evp__kw_single[k])) return POS_SCHEMA;
  return POS_DATA;
}

static int lookup(evp__compiler_t *cc, const char *uri, evp__ref_target_t *t) {
  const char *hash = strchr(uri, '#');
  const char *frag = hash ? hash + 1 : "";
  if (*frag && *frag != '/') { /* plain-name fragment: a location-independent $id */
    const evp__id_entry_t *e = idx_get(cc, uri);
    if (!e) {
      FAIL(cc, EVP_ERR_SCHEMA_REF, "cannot resolve $ref %s", uri);
      return -1;
    }
    *t = (evp__ref_target_t){e->node, e->base, e->path};
    return 0;
  }
  char *doc = strip_frag(cc, uri);
  if (!doc) return -1;
  const evp__id_entry_t *e = idx_get(cc, doc);
  if (!e && !cc->meta && !strcmp(doc, EVP__META7_URI)) {
    evp_err_t err = EVP_OK;
    cc->meta = evp__schema_parse_doc(evp__schema_meta7, strlen(evp__schema_meta7), &err, NULL, 0);
    if (!cc->meta) {
      FAIL(cc, err, "cannot load the draft-07 meta-schema");
      return -1;
    }
    if (scan_doc(cc, cc->meta, EVP__META7_URI)) return -1;
    e = idx_get(cc, doc);
  }
  if (!e) {
    FAIL(cc, EVP_ERR_SCHEMA_REF,
         "cannot resolve $ref %s: no such resource (remote schemas must be registered with "
         "evp_schema_add_resource)",
         uri);
    return -1;
  }
  char *ptr;
  evp_err_t perr = evp__uri_pct_decode(frag, strlen(frag), &ptr);
  if (perr) {
    if (perr == EVP_ERR_NOMEM)
      FAIL(cc, perr, "out of memory");
    else
      FAIL(cc, perr, "bad %%-escape in $ref %s", uri);
    return -1;
  }
  const cJSON *n = e->node;
  const char *base = e->base;
  int pos = POS_SCHEMA;
  char *p = ptr, *tok = NULL;
  int rc = 0;
  while (*p == '/') {
    /* unescape one token in place: ~1 -> '/', ~0 -> '~' */
    tok = ++p;
    char *o = tok;
    while (*p && *p != '/') {
      if (*p == '~' && (p[1] == '0' || p[1] == '1')) {
        *o++ = p[1] == '0' ? '~' : '/';
        p += 2;
      } else if (*p == '~') {
        rc = -1;
        break;
      } else
        *o++ = *p++;
    }
    if (rc) break;
    char save = *p;
    *o = '\0';
    const cJSON *next = NULL;
    if (cJSON_IsObject(n))
      next = cJSON_GetObjectItemCaseSensitive(n, tok);
    else if (cJSON_IsArray(n)) {
      char *end;
      long i = strtol(tok, &end, 10);
      if (*tok >= '0' && *tok <= '9' && !*end && !(tok[0] == '0' && tok[1]))
        next = cJSON_GetArrayItem(n, (int)i);
    }
    if (!next) {
      rc = -1;
      break;
    }
    int npos = (pos == POS_SCHEMA && cJSON_IsObject(next) && !strcmp(tok, "items"))
                   ? POS_SCHEMA
                   : step_pos(pos, tok);
    /* entering a child of a schema: that schema's own $id now applies */
    if (pos == POS_SCHEMA && cJSON_IsObject(n) && !(base = apply_id(cc, n, base, NULL, 0))) {
      free(ptr);
      return -1;
    }
    *p = save;
    n = next;
    pos = npos;
  }
  char *path = rc ? NULL : tmp_cat(cc, e->path, frag);
  free(ptr);
  if (rc) {
    FAIL(cc, EVP_ERR_SCHEMA_REF, "cannot resolve $ref %s: no such location", uri);
    return -1;
  }
  if (!path) return -1;
  if (pos != POS_SCHEMA) {
    FAIL(cc, EVP_ERR_SCHEMA_REF, "$ref %s does not point at a schema", uri);
    return -1;
  }
  *t = (evp__ref_target_t){n, base, path};
  return 0;
}

/* ------------------------------------------------------------ JSON values */

static size_t count_nodes(const cJSON *j) {
  size_t n = 1;
  if (cJSON_IsArray(j) || cJSON_IsObject(j))
    for (const cJSON *c = j->child; c; c = c->next)
      n += (cJSON_IsObject(j) ? 1 : 0) + count_nodes(c);
  return n;
}

/* A schema string the compiled schema keeps, as counted bytes: "\u0000"
 * reaches cJSON as EVP__SCHEMA_NUL (schema_loader.c) and becomes NUL again
 * here, so a const, an enum, a property name or a pattern holding NUL is
 * compared in full rather than cut at it. NULL when out of memory. */
static const char *sstr(evp__compiler_t *cc, const char *s, uint32_t *len) {
  size_t n = strlen(s);
  char *d = evp__arena_strndup(&cc->s->arena, s, n);
  if (!d) return NULL;
  for (char *p = memchr(d, EVP__SCHEMA_NUL, n); p;
       p = memchr(p + 1, EVP__SCHEMA_NUL, n - (size_t)(p + 1 - d)))
    *p = '\0';
  *len = (uint32_t)n;
  return d;
}

static evp__jv *fill(evp__compiler_t *cc, const cJSON *j, evp__jv *v) {
  evp__jv *start = v;
  v->skip = 1;
  if (cJSON_IsNull(j))
    v->type = EVP__J_NULL;
  else if (cJSON_IsTrue(j))
    v->type = EVP__J_TRUE;
  else if (cJSON_IsFalse(j))
    v->type = EVP__J_FALSE;
  else if (cJSON_IsNumber(j)) {
    v->type = EVP__J_NUM;
    v->u.num = j->valuedouble;
    v->isint = isfinite(v->u.num) && floor(v->u.num) == v->u.num;
  } else if (cJSON_IsString(j)) {
    v->type = EVP__J_STR;
    if (!(v->u.str = sstr(cc, j->valuestring, &v->len))) return NULL;
  } else {
    int obj = cJSON_IsObject(j);
    v->type = obj ? EVP__J_OBJ : EVP__J_ARR;
    evp__jv *o = v + 1;
    for (const cJSON *c = j->child; c; c = c->next) {
      v->len++;
      if (obj) {
        o->type = EVP__J_STR;
        o->skip = 1;
        if (!(o->u.str = sstr(cc, c->string, &o->len))) return NULL;
        o++;
      }
      if (!(o = fill(cc, c, o))) return NULL;
    }
    v->skip = (uint32_t)(o - start);
    return o;
  }
  return v + 1;
}

static const evp__jv *to_tape(evp__compiler_t *cc, const cJSON *j) {
  size_t n = count_nodes(j);
  evp__jv *v = evp__arena_alloc(&cc->s->arena, n * sizeof *v);
  if (!v || !fill(cc, j, v)) return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
  return v;
}

/* ------------------------------------------------------------ pass 2 */

static evp__schema_node_t *compile(evp__compiler_t *cc, const cJSON *node, const char *base,
                                   const char *path, int depth);

static int get_count(evp__compiler_t *cc, const cJSON *node, const char *kw, const char *path,
                     uint64_t *out) {
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(node, kw);
  if (!c) return 0;
  double d = c->valuedouble;
  if (!cJSON_IsNumber(c) || d < 0 || floor(d) != d || !isfinite(d)) {
    FAIL(cc, EVP_ERR_SCHEMA_INVALID, "%s/%s must be a non-negative integer", path, kw);
    return -1;
  }
  *out = d >= 1.8e19 ? UINT64_MAX : (uint64_t)d;
  return 1;
}

static int get_num(evp__compiler_t *cc, const cJSON *node, const char *kw, const char *path,
                   double *out) {
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(node, kw);
  if (!c) return 0;
  if (!cJSON_IsNumber(c)) {
    FAIL(cc, EVP_ERR_SCHEMA_INVALID, "%s/%s must be a number", path, kw);
    return -1;
  }
  *out = c->valuedouble;
  return 1;
}

static const evp__schema_node_t *sub(evp__compiler_t *cc, const cJSON *node, const char *kw,
                                     const char *base, const char *path, int depth) {
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(node, kw);
  char *p = path_push(cc, path, kw);
  return p ? compile(cc, c, base, p, depth + 1) : NULL;
}

static int sub_array(evp__compiler_t *cc, const cJSON *arr, const char *kw, const char *base,
                     const char *path, int depth, const evp__schema_node_t ***out, uint32_t *n) {
  int cnt = cJSON_GetArraySize(arr);
  if (!cJSON_IsArray(arr) || (cnt == 0 && strcmp(kw, "items"))) {
    FAIL(cc, EVP_ERR_SCHEMA_INVALID, "%s/%s must be a non-empty array of schemas", path, kw);
    return -1;
  }
  const evp__schema_node_t **v =
      evp__arena_alloc(&cc->s->arena, (size_t)(cnt ? cnt : 1) * sizeof *v);
  if (!v) {
    FAIL(cc, EVP_ERR_NOMEM, "out of memory");
    return -1;
  }
  int i = 0;
  for (const cJSON *e = arr->child; e; e = e->next, i++) {
    char *p = path_idx(cc, path, kw, i);
    if (!p || !(v[i] = compile(cc, e, base, p, depth + 1))) return -1;
  }
  *out = v;
  *n = (uint32_t)cnt;
  return 0;
}

static int add_code(evp__compiler_t *cc, pcre2_code *code) {
  evp_schema_t *s = cc->s;
  if (s->ncodes == s->capcodes) {
    size_t nc = s->capcodes ? s->capcodes * 2 : 8;
    pcre2_code **n = realloc(s->codes, nc * sizeof *n);
    if (!n) {
      pcre2_code_free(code);
      FAIL(cc, EVP_ERR_NOMEM, "out of memory");
      return -1;
    }
    s->codes = n;
    s->capcodes = nc;
  }
  s->codes[s->ncodes++] = code;
  return 0;
}

static pcre2_code *regex(evp__compiler_t *cc, const char *src, uint32_t len, const char *path,
                         int *jit) {
  char msg[200];
  evp_err_t err;
  pcre2_code *code = evp__regex_compile(src, len, jit, &err, msg, sizeof msg);
  if (!code && err == EVP_ERR_NOMEM) return FAIL(cc, err, "out of memory");
  if (!code) return FAIL(cc, err, "%s: invalid pattern \"%s\": %s", path, src, msg);
  return add_code(cc, code) ? NULL : code;
}

static int cmp_prop(const void *a, const void *b) {
  const evp__schema_prop_t *x = a, *y = b;
  if (x->name.len != y->name.len) return x->name.len < y->name.len ? -1 : 1;
  return memcmp(x->name.s, y->name.s, x->name.len);
}

static int types_of(evp__compiler_t *cc, const cJSON *t, const char *path, uint32_t *out) {
  static const struct {
    const char *n;
    uint32_t bit;
  } names[] = {{"null", EVP__T_NULL}, {"boolean", EVP__T_BOOL}, {"object", EVP__T_OBJ},
               {"array", EVP__T_ARR}, {"number", EVP__T_NUM},   {"integer", EVP__T_INT},
               {"string", EVP__T_STR}};
  const cJSON *one = t, *e = NULL;
  if (cJSON_IsArray(t)) {
    e = t->child;
    one = e;
  }
  *out = 0;
  while (one) {
    size_t k;
    if (!cJSON_IsString(one))
      k = NELEM(names);
    else
      for (k = 0; k < NELEM(names) && strcmp(names[k].n, one->valuestring); k++) {}
    if (k == NELEM(names)) {
      FAIL(cc, EVP_ERR_SCHEMA_INVALID, "%s/type: unknown type", path);
      return -1;
    }
    *out |= names[k].bit;
    if (!e) break;
    one = e = e->next;
  }
  if (!*out) {
    FAIL(cc, EVP_ERR_SCHEMA_INVALID, "%s/type: empty", path);
    return -1;
  }
  return 0;
}

#define TRY(x)                \
  do {                        \
    if ((x) < 0) return NULL; \
  } while (0)
#define HAS(kw) (cJSON_GetObjectItemCaseSensitive(node, kw) != NULL)

static evp__schema_node_t *compile(evp__compiler_t *cc, const cJSON *node, const char *base,
                                   const char *path, int depth) {
  if (depth > EVP__MAX_SCHEMA_DEPTH)
    return FAIL(cc, EVP_ERR_TOO_DEEP, "schema nested too deeply at %s", path);
  evp__schema_node_t *s = memo_get(cc, node);
  if (s) return s;
  s = evp__arena_alloc(&cc->s->arena, sizeof *s);
  if (!s || memo_put(cc, node, s)) return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
  if (!(s->path = evp__arena_strndup(&cc->s->arena, path, strlen(path))))
    return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
  if (cJSON_IsTrue(node)) {
    s->kind = EVP__S_TRUE;
    return s;
  }
  if (cJSON_IsFalse(node)) {
    s->kind = EVP__S_FALSE;
    return s;
  }
  if (!cJSON_IsObject(node))
    return FAIL(cc, EVP_ERR_SCHEMA_INVALID, "%s: a schema must be an object or a boolean", path);

  const cJSON *ref = cJSON_GetObjectItemCaseSensitive(node, "$ref");
  if (ref) { /* draft-07: $ref replaces every sibling keyword */
    if (!cJSON_IsString(ref))
      return FAIL(cc, EVP_ERR_SCHEMA_INVALID, "%s/$ref must be a string", path);
    s->kind = EVP__S_REF;
    char *abs = resolve(cc, base, ref->valuestring);
    evp__ref_target_t t;
    if (!abs || lookup(cc, abs, &t)) return NULL;
    if (cc->nrefs == cc->caprefs) {
      size_t nc = cc->caprefs ? cc->caprefs * 2 : 16;
      evp__schema_node_t **n = realloc(cc->refs, nc * sizeof *n);
      if (!n) return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
      cc->refs = n;
      cc->caprefs = nc;
    }
    cc->refs[cc->nrefs++] = s;
    if (!(s->ref = compile(cc, t.node, t.base, t.path, depth + 1))) return NULL;
    return s;
  }
  s->kind = EVP__S_NORMAL;
  if (!(base = apply_id(cc, node, base, path, 0))) return NULL;
  const cJSON *c;
  if ((c = cJSON_GetObjectItemCaseSensitive(node, "type"))) TRY(types_of(cc, c, path, &s->types));
  if ((c = cJSON_GetObjectItemCaseSensitive(node, "enum"))) {
    if (!cJSON_IsArray(c))
      return FAIL(cc, EVP_ERR_SCHEMA_INVALID, "%s/enum must be an array", path);
    if (!(s->enum_val = to_tape(cc, c))) return NULL;
    s->flags |= EVP__F_ENUM;
  }
  if ((c = cJSON_GetObjectItemCaseSensitive(node, "const"))) {
    if (!(s->const_val = to_tape(cc, c))) return NULL;
    s->flags |= EVP__F_CONST;
  }
  int r;
  TRY(r = get_num(cc, node, "minimum", path, &s->min));
  if (r) s->flags |= EVP__F_MIN;
  TRY(r = get_num(cc, node, "maximum", path, &s->max));
  if (r) s->flags |= EVP__F_MAX;
  TRY(r = get_num(cc, node, "exclusiveMinimum", path, &s->xmin));
  if (r) s->flags |= EVP__F_XMIN;
  TRY(r = get_num(cc, node, "exclusiveMaximum", path, &s->xmax));
  if (r) s->flags |= EVP__F_XMAX;
  TRY(r = get_num(cc, node, "multipleOf", path, &s->mult));
  if (r) {
    if (!(s->mult > 0))
      return FAIL(cc, EVP_ERR_SCHEMA_INVALID, "%s/multipleOf must be greater than 0", path);
    s->flags |= EVP__F_MULT;
  }
  TRY(r = get_count(cc, node, "minLength", path, &s->minlen));
  if (r) s->flags |= EVP__F_MINLEN;
  TRY(r = get_count(cc, node, "maxLength", path, &s->maxlen));
  if (r) s->flags |= EVP__F_MAXLEN;
  TRY(r = get_count(cc, node, "minItems", path, &s->minitems));
  if (r) s->flags |= EVP__F_MINITEMS;
  TRY(r = get_count(cc, node, "maxItems", path, &s->maxitems));
  if (r) s->flags |= EVP__F_MAXITEMS;
  TRY(r = get_count(cc, node, "minProperties", path, &s->minprops));
  if (r) s->flags |= EVP__F_MINPROPS;
  TRY(r = get_count(cc, node, "maxProperties", path, &s->maxprops));
  if (r) s->flags |= EVP__F_MAXPROPS;
  if ((c = cJSON_GetObjectItemCaseSensitive(node, "pattern"))) {
    if (!cJSON_IsString(c))
      return FAIL(cc, EVP_ERR_SCHEMA_INVALID, "%s/pattern must be a string", path);
    uint32_t plen;
    if (!(s->pattern_src = sstr(cc, c->valuestring, &plen)))
      return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
    if (!(s->pattern = regex(cc, s->pattern_src, plen, path, &s->pattern_jit))) return NULL;
  }
  if ((c = cJSON_GetObjectItemCaseSensitive(node, "format"))) {
    if (!cJSON_IsString(c))
      return FAIL(cc, EVP_ERR_SCHEMA_INVALID, "%s/format must be a string", path);
    if (cc->format_assert) s->format = (uint8_t)evp__format_id(c->valuestring);
  }
  if ((c = cJSON_GetObjectItemCaseSensitive(node, "uniqueItems"))) {
    if (!cJSON_IsBool(c))
      return FAIL(cc, EVP_ERR_SCHEMA_INVALID, "%s/uniqueItems must be a boolean", path);
    s->unique = cJSON_IsTrue(c);
  }
  if ((c = cJSON_GetObjectItemCaseSensitive(node, "items"))) {
    if (cJSON_IsArray(c)) {
      TRY(sub_array(cc, c, "items", base, path, depth, &s->items_arr, &s->nitems));
      s->flags |= EVP__F_ITEMS_ARR;
    } else if (!(s->items = sub(cc, node, "items", base, path, depth)))
      return NULL;
  }
  if (HAS("additionalItems") &&
      !(s->add_items = sub(cc, node, "additionalItems", base, path, depth)))
    return NULL;
  if (HAS("contains") && !(s->contains = sub(cc, node, "contains", base, path, depth))) return NULL;
  if (HAS("additionalProperties") &&
      !(s->add_props = sub(cc, node, "additionalProperties", base, path, depth)))
    return NULL;
  if (HAS("propertyNames") && !(s->prop_names = sub(cc, node, "propertyNames", base, path, depth)))
    return NULL;
  if (HAS("not") && !(s->not_ = sub(cc, node, "not", base, path, depth))) return NULL;
  if (HAS("if")) {
    if (!(s->if_ = sub(cc, node, "if", base, path, depth))) return NULL;
    if (HAS("then") && !(s->then_ = sub(cc, node, "then", base, path, depth))) return NULL;
    if (HAS("else") && !(s->else_ = sub(cc, node, "else", base, path, depth))) return NULL;
  }
  if ((c = cJSON_GetObjectItemCaseSensitive(node, "allOf")))
    TRY(sub_array(cc, c, "allOf", base, path, depth, &s->all_of, &s->nall_of));
  if ((c = cJSON_GetObjectItemCaseSensitive(node, "anyOf")))
    TRY(sub_array(cc, c, "anyOf", base, path, depth, &s->any_of, &s->nany_of));
  if ((c = cJSON_GetObjectItemCaseSensitive(node, "oneOf")))
    TRY(sub_array(cc, c, "oneOf", base, path, depth, &s->one_of, &s->none_of));
  if ((c = cJSON_GetObjectItemCaseSensitive(node, "properties"))) {
    if (!cJSON_IsObject(c))
      return FAIL(cc, EVP_ERR_SCHEMA_INVALID, "%s/properties must be an object", path);
    int n = cJSON_GetArraySize(c);
    char *pk = path_push(cc, path, "properties");
    if (!pk ||
        !(s->props = evp__arena_alloc(&cc->s->arena, (size_t)(n ? n : 1) * sizeof *s->props)))
      return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
    for (const cJSON *e = c->child; e; e = e->next) {
      evp__schema_prop_t *p = &s->props[s->nprops++];
      char *pp = path_push(cc, pk, e->string);
      if (!pp || !(p->name.s = sstr(cc, e->string, &p->name.len)))
        return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
      if (!(p->schema = compile(cc, e, base, pp, depth + 1))) return NULL;
    }
    qsort(s->props, s->nprops, sizeof *s->props, cmp_prop);
    uint32_t size = 4;
    while (size < 2 * s->nprops) size *= 2;
    if (!(s->ptab = evp__arena_alloc(&cc->s->arena, size * sizeof *s->ptab)))
      return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
    memset(s->ptab, 0, size * sizeof *s->ptab);
    s->ptab_mask = size - 1;
    for (uint32_t i = 0; i < s->nprops; i++) {
      evp__schema_prop_t *p = &s->props[i];
      p->hash = evp__hash32(p->name.s, p->name.len);
      uint32_t k = p->hash & s->ptab_mask;
      while (s->ptab[k]) k = (k + 1) & s->ptab_mask;
      s->ptab[k] = i + 1;
    }
  }
  if ((c = cJSON_GetObjectItemCaseSensitive(node, "patternProperties"))) {
    if (!cJSON_IsObject(c))
      return FAIL(cc, EVP_ERR_SCHEMA_INVALID, "%s/patternProperties must be an object", path);
    int n = cJSON_GetArraySize(c);
    char *pk = path_push(cc, path, "patternProperties");
    if (!pk ||
        !(s->pprops = evp__arena_alloc(&cc->s->arena, (size_t)(n ? n : 1) * sizeof *s->pprops)))
      return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
    for (const cJSON *e = c->child; e; e = e->next) {
      evp__schema_pattern_t *p = &s->pprops[s->npprops++];
      char *pp = path_push(cc, pk, e->string);
      if (!pp) return NULL;
      uint32_t plen;
      if (!(p->src = sstr(cc, e->string, &plen))) return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
      if (!(p->re = regex(cc, p->src, plen, pp, &p->jit))) return NULL;
      if (!(p->schema = compile(cc, e, base, pp, depth + 1))) return NULL;
    }
  }
  if ((c = cJSON_GetObjectItemCaseSensitive(node, "required"))) {
    int n = cJSON_GetArraySize(c);
    if (!cJSON_IsArray(c))
      return FAIL(cc, EVP_ERR_SCHEMA_INVALID, "%s/required must be an array of strings", path);
    if (!(s->required = evp__arena_alloc(&cc->s->arena, (size_t)(n ? n : 1) * sizeof *s->required)))
      return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
    for (const cJSON *e = c->child; e; e = e->next) {
      if (!cJSON_IsString(e))
        return FAIL(cc, EVP_ERR_SCHEMA_INVALID, "%s/required must be an array of strings", path);
      evp__schema_str_t *r2 = &s->required[s->nrequired++];
      if (!(r2->s = sstr(cc, e->valuestring, &r2->len)))
        return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
    }
  }
  if ((c = cJSON_GetObjectItemCaseSensitive(node, "dependencies"))) {
    if (!cJSON_IsObject(c))
      return FAIL(cc, EVP_ERR_SCHEMA_INVALID, "%s/dependencies must be an object", path);
    int n = cJSON_GetArraySize(c);
    char *pk = path_push(cc, path, "dependencies");
    if (!pk || !(s->deps = evp__arena_alloc(&cc->s->arena, (size_t)(n ? n : 1) * sizeof *s->deps)))
      return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
    for (const cJSON *e = c->child; e; e = e->next) {
      evp__schema_dependency_t *d = &s->deps[s->ndeps++];
      if (!(d->name.s = sstr(cc, e->string, &d->name.len)))
        return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
      if (cJSON_IsArray(e)) {
        int m = cJSON_GetArraySize(e);
        evp__schema_str_t *req = evp__arena_alloc(&cc->s->arena, (size_t)(m ? m : 1) * sizeof *req);
        if (!req) return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
        for (const cJSON *x = e->child; x; x = x->next) {
          if (!cJSON_IsString(x))
            return FAIL(cc, EVP_ERR_SCHEMA_INVALID, "%s/dependencies/%s must hold strings", path,
                        e->string);
          evp__schema_str_t *q = &req[d->nreq++];
          if (!(q->s = sstr(cc, x->valuestring, &q->len)))
            return FAIL(cc, EVP_ERR_NOMEM, "out of memory");
        }
        d->req = req;
      } else {
        char *pp = path_push(cc, pk, e->string);
        if (!pp || !(d->schema = compile(cc, e, base, pp, depth + 1))) return NULL;
      }
    }
  }
  if (s->nall_of || s->nany_of || s->none_of || s->not_ || s->if_) s->flags |= EVP__F_COMBINATORS;
  return s;
}

/* A chain of $refs that returns to itself without any other keyword would
 * validate nothing and loop forever, so it is refused at compile time. */
static int check_ref_cycles(evp__compiler_t *cc) {
  for (size_t i = 0; i < cc->nrefs; i++) {
    const evp__schema_node_t *s = cc->refs[i];
    size_t steps = 0;
    while (s->kind == EVP__S_REF && steps <= cc->nrefs) {
      s = s->ref;
      steps++;
    }
    if (s->kind == EVP__S_REF) {
      FAIL(cc, EVP_ERR_SCHEMA_REF, "%s: $ref cycle that never reaches a schema", cc->refs[i]->path);
      return -1;
    }
  }
  return 0;
}

evp_schema_t *evp_schema_compile(const char *json, size_t len, const evp_schema_loader_t *loader,
                                 evp_err_t *err, char *errstr, size_t errstr_size) {
  evp_err_t dummy;
  if (!err) err = &dummy;
  *err = EVP_OK;
  if (!json) {
    *err = evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "NULL schema text");
    return NULL;
  }
  cJSON *doc = evp__schema_parse_doc(json, len, err, errstr, errstr_size);
  if (!doc) return NULL;
  evp__compiler_t cc = {0};
  cc.errstr = errstr;
  cc.errsize = errstr_size;
  cc.format_assert = loader ? loader->format_assert : 1;
  cc.s = calloc(1, sizeof *cc.s);
  if (!cc.s) {
    cJSON_Delete(doc);
    *err = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    return NULL;
  }
  cc.s->format_assert = cc.format_assert;
  int ok = 0;
  /* The schema's own $id (if absolute) is its base URI; otherwise "". */
  const cJSON *id = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "$id") : NULL;
  const char *root_base = "";
  if (cJSON_IsString(id) && !cJSON_GetObjectItemCaseSensitive(doc, "$ref")) {
    char *b = resolve(&cc, "", id->valuestring);
    root_base = b ? strip_frag(&cc, b) : NULL;
  }
  if (root_base && !scan(&cc, doc, "", "#", 0)) {
    if (*root_base) idx_put(&cc, root_base, doc, root_base, "#");
    if (idx_put(&cc, "", doc, "", "#"))
      FAIL(&cc, EVP_ERR_NOMEM, "out of memory");
    else {
      size_t i = 0;
      for (; loader && i < loader->n; i++)
        if (scan_doc(&cc, loader->res[i].doc, loader->res[i].uri)) break;
      if (!loader || i == loader->n) {
        const evp__schema_node_t *root = compile(&cc, doc, "", "#", 0);
        if (root && !check_ref_cycles(&cc)) {
          cc.s->root = root;
          ok = 1;
        }
      }
    }
  }
  if (!ok && cc.err == EVP_OK)
    cc.err = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  cJSON_Delete(doc);
  cJSON_Delete(cc.meta);
  evp__arena_free(&cc.tmp);
  free(cc.idx);
  free(cc.memo);
  free(cc.refs);
  if (!ok) {
    *err = cc.err;
    evp_schema_destroy(cc.s);
    return NULL;
  }
  return cc.s;
}

void evp_schema_destroy(evp_schema_t *s) {
  if (!s) return;
  for (size_t i = 0; i < s->ncodes; i++) pcre2_code_free(s->codes[i]);
  free(s->codes);
  evp__arena_free(&s->arena);
  free(s);
}
