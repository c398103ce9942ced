/* What a row of the lake can hold, decided in one place: the server's
 * acceptance of POST /events, the SDK's door check and the row builder all
 * call these functions, so "accepted" and "written" cannot disagree (before,
 * the validator accepted 1e19 for an integer column and 1e400 for a number
 * column, the row builder could not hold them, and the batcher dropped
 * acknowledged events). See table.h and docs/event-schema.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "json/json.h"
#include "json/json_tape.h"
#include "schema/schema.h"
#include "table/table.h"

#define EXP_SATURATE INT64_C(1000000000000000) /* far beyond any representable exponent */

static int is_digit(char c) { return c >= '0' && c <= '9'; }

int evp__json_number_i64(const char *s, size_t n, int64_t *out) {
  size_t i = 0;
  int neg = n > 0 && s[0] == '-';
  i = (size_t)neg;
  /* The common case, plain integer syntax up to 18 digits (cannot overflow). */
  if (i < n && n - i <= 18) {
    int64_t v = 0;
    size_t k = i;
    for (; k < n && is_digit(s[k]); k++) v = v * 10 + (s[k] - '0');
    if (k == n && k > i) {
      *out = neg ? -v : v;
      return 0;
    }
  }
  /* The general case, exactly: the value is the digit string D (integer and
   * fraction digits together) times 10^(exponent - fraction digits). */
  size_t int_start = i;
  while (i < n && is_digit(s[i])) i++;
  size_t ni = i - int_start, frac_start = i, nf = 0;
  if (i < n && s[i] == '.') {
    frac_start = ++i;
    while (i < n && is_digit(s[i])) i++;
    nf = i - frac_start;
  }
  int64_t exp = 0;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    int eneg = 0;
    if (++i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
    for (; i < n && is_digit(s[i]); i++)
      if (exp < EXP_SATURATE) exp = exp * 10 + (s[i] - '0');
    if (eneg) exp = -exp;
  }
  if (i != n || ni == 0) return -1;
#define DIGIT(k) (s[(k) < ni ? int_start + (k) : frac_start + (k)-ni] - '0')
  size_t len = ni + nf, first = 0, last;
  while (first < len && DIGIT(first) == 0) first++;
  if (first == len) { /* 0, -0, 0.000e99 */
    *out = 0;
    return 0;
  }
  for (last = len - 1; DIGIT(last) == 0; last--) {}
  /* The power of ten of the last nonzero digit: below 0 the value has a
   * fraction (1.5, 1e-400); above 18 digits in all it is beyond int64. */
  int64_t e10 = (int64_t)ni - 1 - (int64_t)last + exp;
  if (e10 < 0 || (int64_t)(last - first + 1) + e10 > 19) return -1;
  uint64_t v = 0;
  for (size_t k = first; k <= last; k++) v = v * 10 + (uint64_t)DIGIT(k);
#undef DIGIT
  for (int64_t k = 0; k < e10; k++) v *= 10; /* at most 19 digits: below 2^64 */
  uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  if (v > lim) return -1;
  *out = !neg ? (int64_t)v : v == lim ? INT64_MIN : -(int64_t)v;
  return 0;
}

int evp__json_number_f64(const char *s, size_t n, double *out) {
  double d;
  /* Out of memory for a number of 128+ characters: refused rather than
   * accepted unchecked (the event is refused, never silently dropped). */
  if (evp__json_strtod(s, n, &d) != 0 || !isfinite(d)) return -1;
  if (d == 0) /* a nonzero mantissa that vanished is underflow, not zero */
    for (size_t i = 0; i < n && s[i] != 'e' && s[i] != 'E'; i++)
      if (s[i] >= '1' && s[i] <= '9') return -1;
  *out = d;
  return 0;
}

const char *evp__table_cell(const evp__column_t *c, const evp__jmember_t *m, char *scratch,
                            evp__table_cell_t *out) {
  switch (c->type) {
  case EVP__COL_STRUCT: /* its fields: evp__table_check_struct */
    return m->type == EVP__JS_OBJECT ? NULL : "an object with the struct's fields";
  case EVP__COL_STRING:
    if (c->map == EVP__MAP_JSON_TEXT)
      return m->type == EVP__JS_OBJECT || m->type == EVP__JS_ARRAY ? NULL : "an object or array";
    return m->type == EVP__JS_STRING ? NULL : "a string";
  case EVP__COL_BIGINT:
    if (m->type == EVP__JS_NUMBER && evp__json_number_i64(m->val, m->vallen, &out->i64) == 0)
      return NULL;
    return "an integer from -2^63 to 2^63-1 (bigint), exactly";
  case EVP__COL_DOUBLE:
    if (m->type == EVP__JS_NUMBER && evp__json_number_f64(m->val, m->vallen, &out->f64) == 0)
      return NULL;
    return "a number a double holds: 0 or a magnitude from 4.9e-324 to 1.8e308";
  case EVP__COL_BOOLEAN:
    if (m->type == EVP__JS_TRUE || m->type == EVP__JS_FALSE) {
      out->b = m->type == EVP__JS_TRUE;
      return NULL;
    }
    return "a boolean";
  case EVP__COL_TIMESTAMP:
    if (m->type == EVP__JS_STRING) {
      const char *s = m->val;
      size_t n = m->vallen;
      if (m->val_escaped) {
        n = evp__json_unescape(m->val, m->vallen, scratch);
        s = scratch;
      }
      if (evp__rfc3339_to_us(s, n, &out->i64) == 0) return NULL;
    }
    return "an RFC 3339 date-time with a time zone, years 0000-9999";
  }
  return "a value of its type";
}

/* How much of s[0..n) a message shows: at most @p max bytes, never half a
 * UTF-8 sequence (the message goes into a JSON response). */
static int shown(const char *s, size_t n, size_t max) { return (int)evp__utf8_cut(s, n, max); }

/* Member name for a message: its raw text, cut (the caller bounds the whole). */
static int name_width(const evp__jmember_t *m) { return shown(m->key, m->keylen, 64); }

static evp_err_t duplicate(const evp__jmember_t *m, const char **reason, char *errstr,
                           size_t errstr_size) {
  *reason = EVP__REASON_DUPLICATE_MEMBER;
  return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_EVENT,
                     "/%.*s: the member \"%.*s\" appears more than once; send each name once "
                     "(a row holds one value per name)",
                     name_width(m), m->key, name_width(m), m->key);
}

evp_err_t evp__table_match(const evp__table_t *t, const evp__jmember_t *m, size_t nm,
                           const evp__jmember_t **by_col, const char **reason, char *errstr,
                           size_t errstr_size) {
  long d;
  if (!t) {
    if ((d = evp__json_find_dup(m, nm)) >= 0) return duplicate(&m[d], reason, errstr, errstr_size);
    return EVP_OK;
  }
  /* A repeated column name shows as a column matched twice; names of no
   * column are compared among themselves only when there are two or more
   * (never, with "additionalProperties": false). */
  memset(by_col, 0, t->ndata * sizeof *by_col);
  size_t hint = 0, others = 0; /* clients usually send members in schema order */
  for (size_t i = 0; i < nm; i++) {
    size_t k = 0;
    for (; k < t->ndata; k++) {
      size_t c = hint + k < t->ndata ? hint + k : hint + k - t->ndata;
      if (t->cols[c].role != EVP__ROLE_EVENT ||
          !evp__json_key_eq(&m[i], t->cols[c].name, t->cols[c].namelen))
        continue;
      if (by_col[c]) return duplicate(&m[i], reason, errstr, errstr_size);
      by_col[c] = &m[i];
      hint = c + 1 < t->ndata ? c + 1 : 0;
      break;
    }
    others += k == t->ndata;
  }
  if (others >= 2 && (d = evp__json_find_dup(m, nm)) >= 0)
    return duplicate(&m[d], reason, errstr, errstr_size);
  return EVP_OK;
}

/* Refuse member @p m: its value is not one @p what holds. */
static evp_err_t unrepresentable(const evp__jmember_t *m, const char *what, const char **reason,
                                 char *errstr, size_t errstr_size) {
  *reason = EVP__REASON_NOT_REPRESENTABLE;
  int vw = shown(m->val, m->vallen, 40);
  return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_EVENT,
                     "/%.*s: %.*s%s does not fit the column, which holds %s", name_width(m), m->key,
                     vw, m->val, m->vallen > 40 ? "..." : "", what);
}

/* ---------------------------------------------------------- structs
 * What a struct column holds: an object whose members are its declared
 * fields, each holding a value of its field. A member no field has would
 * be lost in the lake, so it is refused, never dropped. */

evp_err_t evp__table_match_struct(const evp__column_t *c, const evp__jmember_t *obj,
                                  evp__jmember_t *m, const evp__jmember_t **by_field,
                                  const char *path, const char **reason, char *errstr,
                                  size_t errstr_size) {
  size_t nm = 0;
  memset(by_field, 0, c->nfields * sizeof *by_field);
  /* Read off the validator's parse when the object came from one (the
   * server's door), else scanned; nfields + 1 finds one member too many. */
  evp_err_t e =
      obj->node
          ? evp__json_tape_members(obj->node, obj->val - obj->node->off, m, c->nfields + 1, &nm)
          : evp__json_scan_object_trusted(obj->val, obj->vallen, m, c->nfields + 1, &nm);
  if (e == EVP_ERR_TOO_LARGE) {
    *reason = EVP__REASON_NOT_REPRESENTABLE;
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_EVENT,
                       "%s: the object has more members than the %zu fields of the struct "
                       "column; send only its declared members, each once",
                       path, c->nfields);
  }
  if (e != EVP_OK) {
    *reason = "parse";
    return evp__seterr(errstr, errstr_size, EVP_ERR_JSON, "%s: not one JSON object", path);
  }
  size_t hint = 0; /* members usually come in the schema's order */
  for (size_t i = 0; i < nm; i++) {
    size_t j = 0, k = hint;
    for (; j < c->nfields; j++, k = k + 1 < c->nfields ? k + 1 : 0)
      if (evp__json_key_eq(&m[i], c->fields[k].name, c->fields[k].namelen)) break;
    if (j == c->nfields) {
      int w = name_width(&m[i]);
      *reason = EVP__REASON_NOT_REPRESENTABLE;
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_EVENT,
                         "%s/%.*s: the struct column has no field \"%.*s\"; the schema "
                         "declares its fields (add it there, or leave the member out)",
                         path, w, m[i].key, w, m[i].key);
    }
    if (by_field[k]) {
      int w = name_width(&m[i]);
      *reason = EVP__REASON_DUPLICATE_MEMBER;
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_EVENT,
                         "%s/%.*s: the member \"%.*s\" appears more than once; send each name "
                         "once (a row holds one value per name)",
                         path, w, m[i].key, w, m[i].key);
    }
    by_field[k] = &m[i];
    hint = k + 1 < c->nfields ? k + 1 : 0;
  }
  for (size_t k = 0; k < c->nfields; k++)
    if (!c->fields[k].nullable && (!by_field[k] || by_field[k]->type == EVP__JS_NULL)) {
      *reason = EVP__REASON_NOT_REPRESENTABLE;
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_EVENT,
                         "%s/%s: the field is required and may not be null", path,
                         c->fields[k].name);
    }
  return EVP_OK;
}

#define STACK_FIELDS 32

evp_err_t evp__table_check_struct(const evp__column_t *c, const evp__jmember_t *obj,
                                  const char *path, const char **reason, char *errstr,
                                  size_t errstr_size) {
  if (obj->type != EVP__JS_OBJECT) {
    *reason = EVP__REASON_NOT_REPRESENTABLE;
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_EVENT,
                       "%s: a struct column holds an object (or null)", path);
  }
  evp__jmember_t stack_m[STACK_FIELDS + 1], *m = stack_m;
  const evp__jmember_t *stack_by[STACK_FIELDS], **by = stack_by;
  char stack_s[128], *scratch = stack_s;
  evp_err_t e = EVP_OK;
  if (c->nfields > STACK_FIELDS &&
      (!(m = malloc((c->nfields + 1) * sizeof *m)) || !(by = malloc(c->nfields * sizeof *by)))) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    goto out;
  }
  if ((e = evp__table_match_struct(c, obj, m, by, path, reason, errstr, errstr_size)) != EVP_OK)
    goto out;
  for (size_t k = 0; k < c->nfields && e == EVP_OK; k++) {
    const evp__jmember_t *mk = by[k];
    const evp__column_t *f = &c->fields[k];
    if (!mk || mk->type == EVP__JS_NULL) continue;
    if (f->type == EVP__COL_STRUCT) {
      /* The path grows by one name per level, within the depth limit;
       * copied, not formatted: this runs for every event at the door. */
      char sub[EVP__TABLE_STRUCT_PATH_MAX];
      size_t plen = strlen(path);
      memcpy(sub, path, plen);
      sub[plen] = '/';
      memcpy(sub + plen + 1, f->name, f->namelen + 1);
      e = evp__table_check_struct(f, mk, sub, reason, errstr, errstr_size);
      continue;
    }
    if (mk->val_escaped && mk->vallen >= sizeof stack_s) { /* unescaping never grows */
      if (scratch != stack_s) free(scratch);
      if (!(scratch = malloc(mk->vallen + 1))) {
        scratch = stack_s;
        e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
        break;
      }
    }
    evp__table_cell_t cell;
    const char *what = evp__table_cell(f, mk, scratch, &cell);
    if (what) {
      *reason = EVP__REASON_NOT_REPRESENTABLE;
      int vw = shown(mk->val, mk->vallen, 40);
      e = evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_EVENT,
                      "%s/%s: %.*s%s does not fit the field, which holds %s", path, f->name, vw,
                      mk->val, mk->vallen > 40 ? "..." : "", what);
    }
  }
out:
  if (m != stack_m) free(m);
  if (by != stack_by) free(by);
  if (scratch != stack_s) free(scratch);
  return e;
}

#define STACK_MEMBERS 64

/* The rules once the members are known (from a scan or from the
 * validator's parse). */
static evp_err_t check_members(const evp__table_t *t, const evp__jmember_t *m, size_t nm,
                               const char **reason, char *errstr, size_t errstr_size) {
  const evp__jmember_t *stack_by[STACK_MEMBERS], **by_col = stack_by;
  char stack_s[128], *scratch = stack_s;
  evp_err_t e;
  if (t && t->ndata > STACK_MEMBERS && !(by_col = malloc(t->ndata * sizeof *by_col)))
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  if ((e = evp__table_match(t, m, nm, by_col, reason, errstr, errstr_size)) != EVP_OK) goto out;
  evp__table_cell_t cell;
  if (!t) {
    /* No table: a top-level number must fit some numeric column. */
    for (size_t i = 0; i < nm; i++)
      if (m[i].type == EVP__JS_NUMBER && evp__json_number_i64(m[i].val, m[i].vallen, &cell.i64) &&
          evp__json_number_f64(m[i].val, m[i].vallen, &cell.f64)) {
        e = unrepresentable(&m[i], "a bigint or a double", reason, errstr, errstr_size);
        goto out;
      }
    goto out;
  }
  for (size_t k = 0; k < t->ndata; k++) {
    const evp__jmember_t *mk = by_col[k];
    if (!mk || mk->type == EVP__JS_NULL) continue;
    if (mk->val_escaped && mk->vallen >= sizeof stack_s) { /* unescaping never grows */
      if (scratch != stack_s) free(scratch);
      if (!(scratch = malloc(mk->vallen + 1))) {
        scratch = stack_s;
        e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
        goto out;
      }
    }
    if (t->cols[k].type == EVP__COL_STRUCT && mk->type == EVP__JS_OBJECT) {
      char path[EVP__TABLE_MAX_NAME + 2]; /* copied, not formatted: per event */
      path[0] = '/';
      memcpy(path + 1, t->cols[k].name, t->cols[k].namelen + 1);
      if ((e = evp__table_check_struct(&t->cols[k], mk, path, reason, errstr, errstr_size)) !=
          EVP_OK)
        break;
      continue;
    }
    const char *what = evp__table_cell(&t->cols[k], mk, scratch, &cell);
    if (what) {
      e = unrepresentable(mk, what, reason, errstr, errstr_size);
      break;
    }
  }
out:
  if (by_col != stack_by) free(by_col);
  if (scratch != stack_s) free(scratch);
  return e;
}

static evp_err_t too_many_members(const char **reason, char *errstr, size_t errstr_size) {
  *reason = EVP__REASON_TOO_MANY_MEMBERS;
  return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_EVENT,
                     "the event has more than %d top-level members", EVP__TABLE_MAX_MEMBERS);
}

evp_err_t evp__table_check_event(const evp__table_t *t, const char *ev, size_t len,
                                 const char **reason, char *errstr, size_t errstr_size) {
  evp__jmember_t stack_m[STACK_MEMBERS], *m = stack_m;
  size_t nm = 0;
  *reason = NULL;
  evp_err_t e = evp__json_scan_object_trusted(ev, len, m, STACK_MEMBERS, &nm);
  if (e == EVP_ERR_TOO_LARGE) { /* a large event: the bound itself, from the heap */
    if (!(m = malloc(EVP__TABLE_MAX_MEMBERS * sizeof *m)))
      return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    e = evp__json_scan_object_trusted(ev, len, m, EVP__TABLE_MAX_MEMBERS, &nm);
  }
  if (e == EVP_ERR_TOO_LARGE)
    e = too_many_members(reason, errstr, errstr_size);
  else if (e != EVP_OK) {
    *reason = "parse";
    e = evp__seterr(errstr, errstr_size, EVP_ERR_JSON, "the event is not one JSON object");
  } else
    e = check_members(t, m, nm, reason, errstr, errstr_size);
  if (m != stack_m) free(m);
  return e;
}

evp_err_t evp__table_check_judged(const evp__table_t *t, const evp_schema_ctx_t *ctx,
                                  const char **reason, char *errstr, size_t errstr_size) {
  evp__jmember_t stack_m[STACK_MEMBERS], *m = stack_m;
  size_t nm = 0;
  *reason = NULL;
  evp_err_t e = evp__schema_each_members(ctx, m, STACK_MEMBERS, &nm);
  if (e == EVP_ERR_TOO_LARGE && nm <= EVP__TABLE_MAX_MEMBERS) {
    if (!(m = malloc(nm * sizeof *m)))
      return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    e = evp__schema_each_members(ctx, m, nm, &nm);
  }
  if (e == EVP_ERR_TOO_LARGE)
    e = too_many_members(reason, errstr, errstr_size);
  else if (e != EVP_OK)
    e = evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL, "no event is being judged");
  else
    e = check_members(t, m, nm, reason, errstr, errstr_size);
  if (m != stack_m) free(m);
  return e;
}
