/* What a struct column holds (table.h, "values"): an object whose members
 * are its declared fields, each holding a value of its field. One rule for
 * the doors (evp__table_check_event) and the row builder (lake_row.c), like
 * the scalar rule in table_value.c: a member no field has would be lost in
 * the lake, so it is refused, never dropped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "json/json.h"
#include "table/table.h"

/* How much of s[0..n) a message shows: at most @p max bytes, never half a
 * UTF-8 sequence (the message goes into a JSON response). */
static int shown(const char *s, size_t n, size_t max) { return (int)evp__utf8_cut(s, n, max); }

evp_err_t evp__table_match_struct(const evp__column_t *c, const evp__jmember_t *obj,
                                  evp__jmember_t *m, const evp__jmember_t **by_field,
                                  const char *path, const char **reason, char *errstr,
                                  size_t errstr_size) {
  size_t nm = 0;
  memset(by_field, 0, c->nfields * sizeof *by_field);
  evp_err_t e = evp__json_scan_object_trusted(obj->val, obj->vallen, m, c->nfields + 1, &nm);
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
  for (size_t i = 0; i < nm; i++) {
    size_t k = 0;
    while (k < c->nfields && !evp__json_key_eq(&m[i], c->fields[k].name, c->fields[k].namelen)) k++;
    int w = shown(m[i].key, m[i].keylen, 64);
    if (k == c->nfields) {
      *reason = EVP__REASON_NOT_REPRESENTABLE;
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_EVENT,
                         "%s/%.*s: the struct column has no field \"%.*s\"; the schema "
                         "declares its fields (add it there, or leave the member out)",
                         path, w, m[i].key, w, m[i].key);
    }
    if (by_field[k]) {
      *reason = EVP__REASON_DUPLICATE_MEMBER;
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_EVENT,
                         "%s/%.*s: the member \"%.*s\" appears more than once; send each name "
                         "once (a row holds one value per name)",
                         path, w, m[i].key, w, m[i].key);
    }
    by_field[k] = &m[i];
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
  char stack_s[128], *scratch = stack_s, *sub = NULL;
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
    size_t plen = strlen(path);
    if (f->type == EVP__COL_STRUCT) {
      /* The path grows by one name per level: bounded by the depth limit. */
      if (!(sub = malloc(plen + f->namelen + 2))) {
        e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
        break;
      }
      snprintf(sub, plen + f->namelen + 2, "%s/%s", path, f->name);
      e = evp__table_check_struct(f, mk, sub, reason, errstr, errstr_size);
      free(sub);
      sub = NULL;
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
