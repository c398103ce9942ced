/* Table model: a JSON Schema's top-level properties -> ordered, typed columns.
 * See table.h for the mapping and docs/event-schema.md for the reasons. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "json/json.h"
#include "schema/schema.h"
#include "table/table.h"

/* Columns every table has after the event's own. Their names are reserved:
 * a schema property with one of them would be ambiguous, so it is rejected. */
static const struct {
  const char *name;
  evp__col_type_t type;
  evp__col_role_t role;
  int nullable;
  const char *desc;
} evp__fixed_cols[] = {
    {"received_at", EVP__COL_TIMESTAMP, EVP__ROLE_SERVER, 0,
     "Server time (UTC) when the event was accepted by POST /events."},
    {"client_id", EVP__COL_STRING, EVP__ROLE_SERVER, 0,
     "Authenticated client that sent the event (the access token's sub claim)."},
    /* Appended after the first two so lake files and tables of earlier
     * releases keep their column positions. */
    {EVP__COL_EVENT_TIME_CORRECTED, EVP__COL_TIMESTAMP, EVP__ROLE_SERVER, 1,
     "event_time corrected for the sending device's clock: received_at - (sent_at - event_time); "
     "event_time when the batch carried no usable sent_at; null when event_time is not an RFC "
     "3339 date-time."},
    {EVP__COL_CLOCK_SKEW_MS, EVP__COL_BIGINT, EVP__ROLE_SERVER, 1,
     "received_at - sent_at of the event's batch in milliseconds: how far the device clock was "
     "behind the server's, plus the request's transit time; null when the batch carried no "
     "usable sent_at."},
    {"dt", EVP__COL_STRING, EVP__ROLE_PARTITION, 0,
     "Partition key: UTC date of received_at, YYYY-MM-DD."},
    {"hour", EVP__COL_STRING, EVP__ROLE_PARTITION, 0,
     "Partition key: UTC hour of received_at, 00 to 23."},
};
#define EVP__NFIXED (sizeof evp__fixed_cols / sizeof evp__fixed_cols[0])

/* JSON Schema primitive types as bits, so "type" arrays become one set. */
enum {
  T_NULL = 1 << 0,
  T_STRING = 1 << 1,
  T_INTEGER = 1 << 2,
  T_NUMBER = 1 << 3,
  T_BOOLEAN = 1 << 4,
  T_OBJECT = 1 << 5,
  T_ARRAY = 1 << 6
};

static const struct {
  const char *name;
  unsigned bit;
} evp__types[] = {
    {"null", T_NULL},       {"string", T_STRING}, {"integer", T_INTEGER}, {"number", T_NUMBER},
    {"boolean", T_BOOLEAN}, {"object", T_OBJECT}, {"array", T_ARRAY},
};

const char *evp__col_type_name(evp__col_type_t type) {
  switch (type) {
  case EVP__COL_STRING: return "string";
  case EVP__COL_BIGINT: return "bigint";
  case EVP__COL_DOUBLE: return "double";
  case EVP__COL_BOOLEAN: return "boolean";
  case EVP__COL_TIMESTAMP: return "timestamp";
  case EVP__COL_STRUCT: return "struct";
  }
  return "string";
}

/* The length of c's full type text, without the NUL; @p q: field names in
 * backticks (DDL). */
static size_t type_text_len(const evp__column_t *c, int q) {
  if (c->type != EVP__COL_STRUCT) return strlen(evp__col_type_name(c->type));
  size_t n = strlen("struct<>");
  for (size_t i = 0; i < c->nfields; i++)
    n += (i ? 1 : 0) + (q ? 2 : 0) + c->fields[i].namelen + 1 + type_text_len(&c->fields[i], q);
  return n;
}

static char *type_text_put(const evp__column_t *c, char *o, int q) {
  if (c->type != EVP__COL_STRUCT) {
    const char *t = evp__col_type_name(c->type);
    size_t n = strlen(t);
    memcpy(o, t, n);
    return o + n;
  }
  memcpy(o, "struct<", 7);
  o += 7;
  for (size_t i = 0; i < c->nfields; i++) {
    if (i) *o++ = ',';
    if (q) *o++ = '`';
    memcpy(o, c->fields[i].name, c->fields[i].namelen);
    o += c->fields[i].namelen;
    if (q) *o++ = '`';
    *o++ = ':';
    o = type_text_put(&c->fields[i], o, q);
  }
  *o++ = '>';
  return o;
}

static char *type_text(const evp__column_t *c, int q) {
  char *s = malloc(type_text_len(c, q) + 1);
  if (s) *type_text_put(c, s, q) = '\0';
  return s;
}

char *evp__col_type_text(const evp__column_t *c) { return type_text(c, 0); }

char *evp__col_type_ddl(const evp__column_t *c) { return type_text(c, 1); }

int evp__table_name_ok(const char *s) {
  if (!s || !((*s >= 'a' && *s <= 'z') || *s == '_')) return 0;
  size_t n = 0;
  for (; s[n]; n++) {
    char c = s[n];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return 0;
    if (n >= EVP__TABLE_MAX_NAME) return 0;
  }
  return 1;
}

/* Reads "description" of @p node into a fresh string ("" when absent). A
 * "\u0000" in it reaches us as EVP__SCHEMA_NUL (schema_loader.c), a byte
 * UTF-8 never holds: it becomes a space, which is what the comments made
 * from a description show for NUL and every other control character
 * (table_ddl.c: comment_dup); the text after it is kept. */
static evp_err_t dup_description(const cJSON *node, const char *what, char **out, char *errstr,
                                 size_t errstr_size) {
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(node, "description");
  if (d && !cJSON_IsString(d))
    return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                       "%s: \"description\" must be a string", what);
  if (!(*out = evp__strdup(d ? d->valuestring : "")))
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  for (char *p = *out; (p = strchr(p, EVP__SCHEMA_NUL)) != NULL; p++) *p = ' ';
  /* Strict UTF-8 (no overlongs or surrogates): Glue refuses anything else. */
  if (!evp__utf8_valid(*out, strlen(*out))) {
    free(*out);
    *out = NULL;
    return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                       "%s: \"description\" is not valid UTF-8", what);
  }
  return EVP_OK;
}

/* The set of types a property's "type" allows. */
static evp_err_t type_bits(const cJSON *prop, const char *name, unsigned *bits, char *errstr,
                           size_t errstr_size) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(prop, "type");
  *bits = 0;
  if (!t)
    return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                       "property '%s' has no \"type\"; every property needs one to map "
                       "to a column",
                       name);
  if (!cJSON_IsString(t) && !cJSON_IsArray(t))
    return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                       "property '%s': \"type\" must be a string or an array of strings", name);
  const cJSON *one = cJSON_IsString(t) ? t : t->child;
  if (!one)
    return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                       "property '%s': \"type\" is an empty array", name);
  for (; one; one = cJSON_IsString(t) ? NULL : one->next) {
    if (!cJSON_IsString(one))
      return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                         "property '%s': \"type\" must be a string or an array of strings", name);
    size_t k = 0;
    while (k < sizeof evp__types / sizeof evp__types[0] &&
           strcmp(evp__types[k].name, one->valuestring) != 0)
      k++;
    if (k == sizeof evp__types / sizeof evp__types[0])
      return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                         "property '%s': unsupported type '%.32s'", name, one->valuestring);
    *bits |= evp__types[k].bit;
  }
  return EVP_OK;
}

static evp_err_t map_struct(const cJSON *prop, const char *name, unsigned depth, size_t *budget,
                            evp__column_t *col, char *errstr, size_t errstr_size);

/* Fill @p col's type, map and nullability from the property schema (and a
 * struct's fields: @p depth struct levels are above @p col, @p budget is
 * how many more schema nodes the table may have). */
static evp_err_t map_property(const cJSON *prop, const char *name, int required, unsigned depth,
                              size_t *budget, evp__column_t *col, char *errstr,
                              size_t errstr_size) {
  if (!cJSON_IsObject(prop))
    return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                       "property '%s': its schema must be an object with a \"type\"", name);
  unsigned bits;
  evp_err_t e = type_bits(prop, name, &bits, errstr, errstr_size);
  if (e != EVP_OK) return e;
  unsigned nonnull = bits & ~(unsigned)T_NULL;
  col->nullable = !required || (bits & T_NULL);
  col->map = EVP__MAP_SCALAR;
  if (nonnull == T_STRING) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(prop, "format");
    if (cJSON_IsString(f) && strcmp(f->valuestring, "date-time") == 0) {
      col->type = EVP__COL_TIMESTAMP;
      col->map = EVP__MAP_RFC3339;
    } else {
      col->type = EVP__COL_STRING;
    }
  } else if (nonnull == T_INTEGER) {
    col->type = EVP__COL_BIGINT;
  } else if (nonnull == T_NUMBER || nonnull == (T_NUMBER | T_INTEGER)) {
    /* Every integer is a number: one double column holds both. */
    col->type = EVP__COL_DOUBLE;
  } else if (nonnull == T_BOOLEAN) {
    col->type = EVP__COL_BOOLEAN;
  } else if (nonnull && (nonnull & ~(unsigned)(T_OBJECT | T_ARRAY)) == 0) {
    /* Lossless and schema-free: queried with json_extract_scalar. An
     * object whose keys are all declared becomes a struct instead. */
    col->type = EVP__COL_STRING;
    col->map = EVP__MAP_JSON_TEXT;
    if (nonnull == T_OBJECT) return map_struct(prop, name, depth, budget, col, errstr, errstr_size);
  } else if (!nonnull) {
    return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                       "property '%s': type \"null\" alone carries no data", name);
  } else {
    return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                       "property '%s': a mix of types cannot map to one column; use one "
                       "type (plus \"null\")",
                       name);
  }
  return EVP_OK;
}

static int is_required(const cJSON *required, const char *name) {
  const cJSON *r;
  cJSON_ArrayForEach(r, required) {
    if (cJSON_IsString(r) && strcmp(r->valuestring, name) == 0) return 1;
  }
  return 0;
}

static void free_fields(evp__column_t *fields, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free_fields(fields[i].fields, fields[i].nfields);
    free(fields[i].name);
    free(fields[i].description);
  }
  free(fields);
}

/* Whether an object schema has exactly its declared keys, so that a struct
 * holds every value it can carry: additionalProperties false, no
 * patternProperties, a non-empty properties object of safe, unique names,
 * a "required" that is an array of strings, within the depth and budget. */
static int closed_object(const cJSON *prop, unsigned depth, size_t budget, size_t *nprops) {
  const cJSON *ap = cJSON_GetObjectItemCaseSensitive(prop, "additionalProperties");
  const cJSON *props = cJSON_GetObjectItemCaseSensitive(prop, "properties");
  const cJSON *req = cJSON_GetObjectItemCaseSensitive(prop, "required");
  if (!cJSON_IsFalse(ap) || cJSON_GetObjectItemCaseSensitive(prop, "patternProperties") ||
      !cJSON_IsObject(props) || !props->child || depth >= EVP__TABLE_MAX_STRUCT_DEPTH)
    return 0;
  if (req) {
    const cJSON *r;
    if (!cJSON_IsArray(req)) return 0;
    cJSON_ArrayForEach(r, req) {
      if (!cJSON_IsString(r)) return 0;
    }
  }
  size_t n = 0;
  for (const cJSON *p = props->child; p; p = p->next, n++) {
    if (n >= budget || !evp__table_name_ok(p->string)) return 0;
    for (const cJSON *q = props->child; q != p; q = q->next)
      if (strcmp(q->string, p->string) == 0) return 0;
  }
  *nprops = n;
  return 1;
}

/* @p col (a JSON-text object so far) becomes a struct when its schema is a
 * closed object whose every property maps to a field; otherwise it stays
 * JSON text, which holds any object (the rule in table.h). Only running
 * out of memory is an error. */
static evp_err_t map_struct(const cJSON *prop, const char *name, unsigned depth, size_t *budget,
                            evp__column_t *col, char *errstr, size_t errstr_size) {
  size_t n = 0;
  if (!closed_object(prop, depth, *budget, &n)) return EVP_OK;
  evp__column_t *f = calloc(n, sizeof *f);
  if (!f) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  size_t left = *budget - n, k = 0;
  const cJSON *req = cJSON_GetObjectItemCaseSensitive(prop, "required");
  char why[512];
  evp_err_t e = EVP_OK;
  for (const cJSON *p = cJSON_GetObjectItemCaseSensitive(prop, "properties")->child; p;
       p = p->next, k++) {
    evp__column_t *c = &f[k];
    /* A field that maps to no column (no type, a mix of types) makes the
     * whole object JSON text: its error is not the schema's. A field that
     * is an object maps (to a struct or JSON text), so its error is from
     * its own fields' descriptions (or memory): the schema's, at any depth. */
    unsigned bits = 0;
    evp_err_t fe = map_property(p, p->string, is_required(req, p->string), depth + 1, &left, c, why,
                                sizeof why);
    if (fe != EVP_OK) {
      if (fe == EVP_ERR_NOMEM || (type_bits(p, p->string, &bits, NULL, 0) == EVP_OK &&
                                  (bits & ~(unsigned)T_NULL) == T_OBJECT))
        e = evp__seterr(errstr, errstr_size, fe, "%s", why);
      k++;
      goto fallback;
    }
    c->role = EVP__ROLE_EVENT;
    char what[2 * EVP__TABLE_MAX_NAME + 16];
    snprintf(what, sizeof what, "property '%s.%s'", name, p->string);
    if ((e = dup_description(p, what, &c->description, errstr, errstr_size)) != EVP_OK ||
        !(c->name = evp__strdup(p->string))) {
      if (e == EVP_OK) e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
      k++;
      goto fallback;
    }
    c->namelen = strlen(c->name);
  }
  if (depth == 0) {
    /* The column's type must fit a Glue column's Type (the Athena table is
     * a Glue table): a longer one stays JSON text, as the rule says. */
    evp__column_t as_struct = *col;
    as_struct.type = EVP__COL_STRUCT;
    as_struct.fields = f;
    as_struct.nfields = n;
    if (type_text_len(&as_struct, 0) > EVP__TABLE_MAX_TYPE_TEXT) goto fallback;
  }
  col->type = EVP__COL_STRUCT;
  col->map = EVP__MAP_STRUCT;
  col->fields = f;
  col->nfields = n;
  *budget = left;
  return EVP_OK;
fallback:
  free_fields(f, k);
  return e;
}

/* Checks the top level and counts the properties. */
static evp_err_t check_top(const cJSON *schema, const cJSON **props, const cJSON **required,
                           size_t *nprops, char *errstr, size_t errstr_size) {
  if (!cJSON_IsObject(schema))
    return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                       "the schema must be a JSON object describing an event object");
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(schema, "type");
  if (!cJSON_IsString(t) || strcmp(t->valuestring, "object") != 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                       "the schema's top-level \"type\" must be \"object\"");
  *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
  if (!cJSON_IsObject(*props) || !(*props)->child)
    return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                       "the schema needs a non-empty \"properties\" object: one column each");
  *required = cJSON_GetObjectItemCaseSensitive(schema, "required");
  if (*required) {
    const cJSON *r;
    if (!cJSON_IsArray(*required))
      return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                         "\"required\" must be an array of strings");
    cJSON_ArrayForEach(r, *required) {
      if (!cJSON_IsString(r))
        return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                           "\"required\" must be an array of strings");
    }
  }
  size_t n = 0;
  const cJSON *p;
  cJSON_ArrayForEach(p, *props) {
    if (++n > EVP__TABLE_MAX_COLUMNS)
      return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                         "the schema has more than %d properties", EVP__TABLE_MAX_COLUMNS);
  }
  *nprops = n;
  return EVP_OK;
}

/* A property name must be a safe identifier, not reserved, not a duplicate. */
static evp_err_t check_name(const evp__table_t *t, const char *name, char *errstr,
                            size_t errstr_size) {
  if (!evp__table_name_ok(name))
    return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                       "property '%.64s' is not a safe column name: use lower-case "
                       "[a-z_][a-z0-9_]*, at most %d characters",
                       name, EVP__TABLE_MAX_NAME);
  for (size_t k = 0; k < EVP__NFIXED; k++)
    if (strcmp(name, evp__fixed_cols[k].name) == 0)
      return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                         "property '%s' collides with the %s column of the same name", name,
                         evp__fixed_cols[k].role == EVP__ROLE_SERVER ? "server-added"
                                                                     : "partition");
  for (size_t k = 0; k < t->ncols; k++)
    if (strcmp(name, t->cols[k].name) == 0)
      return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                         "property '%s' is defined twice", name);
  return EVP_OK;
}

evp_err_t evp__table_from_schema(const cJSON *schema, evp__table_t **out, char *errstr,
                                 size_t errstr_size) {
  if (!out) return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "out is NULL");
  *out = NULL;
  const cJSON *props = NULL, *required = NULL;
  size_t nprops = 0;
  evp_err_t e = check_top(schema, &props, &required, &nprops, errstr, errstr_size);
  if (e != EVP_OK) return e;
  evp__table_t *t = calloc(1, sizeof *t);
  if (!t || !(t->cols = calloc(nprops + EVP__NFIXED, sizeof *t->cols))) {
    free(t);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  }
  e = dup_description(schema, "the schema", &t->description, errstr, errstr_size);
  /* Struct fields may use the lake file's nodes the data columns leave
   * (at least 20: at most 1000 properties plus the 4 server columns). */
  size_t ndata_fixed = 0;
  for (size_t k = 0; k < EVP__NFIXED; k++)
    ndata_fixed += evp__fixed_cols[k].role != EVP__ROLE_PARTITION;
  const size_t fields_max = EVP__TABLE_MAX_NODES - nprops - ndata_fixed;
  size_t budget = fields_max;
  const cJSON *p;
  cJSON_ArrayForEach(p, props) {
    if (e != EVP_OK) break;
    evp__column_t *c = &t->cols[t->ncols];
    char what[EVP__TABLE_MAX_NAME + 16];
    if ((e = check_name(t, p->string, errstr, errstr_size)) != EVP_OK ||
        (e = map_property(p, p->string, is_required(required, p->string), 0, &budget, c, errstr,
                          errstr_size)) != EVP_OK)
      break;
    c->role = EVP__ROLE_EVENT;
    t->ncols++; /* from here on evp__table_free releases what c holds */
    snprintf(what, sizeof what, "property '%s'", p->string);
    if ((e = dup_description(p, what, &c->description, errstr, errstr_size)) != EVP_OK) break;
    if (!(c->name = evp__strdup(p->string)))
      e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    else
      c->namelen = strlen(c->name);
  }
  for (size_t k = 0; e == EVP_OK && k < EVP__NFIXED; k++) {
    evp__column_t *c = &t->cols[t->ncols];
    c->type = evp__fixed_cols[k].type;
    c->role = evp__fixed_cols[k].role;
    c->map = EVP__MAP_DERIVED;
    c->nullable = evp__fixed_cols[k].nullable;
    c->name = evp__strdup(evp__fixed_cols[k].name);
    c->namelen = c->name ? strlen(c->name) : 0;
    c->description = evp__strdup(evp__fixed_cols[k].desc);
    t->ncols++; /* counted first so evp__table_free releases a partial pair */
    if (!c->name || !c->description)
      e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    if (c->role != EVP__ROLE_PARTITION) t->ndata = t->ncols;
  }
  t->nnodes = t->ndata + (fields_max - budget);
  if (e != EVP_OK) {
    evp__table_free(t);
    return e;
  }
  *out = t;
  return EVP_OK;
}

evp_err_t evp__table_parse(const char *json, size_t len, evp__table_t **out, char *errstr,
                           size_t errstr_size) {
  if (!out || (!json && len))
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "json or out is NULL");
  *out = NULL;
  if (len > EVP__TABLE_MAX_SCHEMA_BYTES)
    return evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE,
                       "schema is %zu bytes; the limit is %u", len, EVP__TABLE_MAX_SCHEMA_BYTES);
  /* The schema compiler's reader: one document, UTF-8, and a NUL escaped
   * in a name arrives as a byte that no column name allows (cJSON alone
   * would cut "a\u0000b" to the valid name "a"). */
  evp_err_t e = EVP_OK;
  cJSON *doc = evp__schema_parse_doc(json, len, &e, errstr, errstr_size);
  if (!doc) return e;
  e = evp__table_from_schema(doc, out, errstr, errstr_size);
  cJSON_Delete(doc);
  return e;
}

void evp__table_free(evp__table_t *t) {
  if (!t) return;
  for (size_t i = 0; i < t->ncols; i++) {
    free_fields(t->cols[i].fields, t->cols[i].nfields);
    free(t->cols[i].name);
    free(t->cols[i].description);
  }
  free(t->cols);
  free(t->description);
  free(t);
}
