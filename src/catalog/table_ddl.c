/* Athena CREATE EXTERNAL TABLE and Glue TableInput text from the table model.
 * Both describe the same table: Parquet files with Snappy under
 * LOCATION/dt=YYYY-MM-DD/hour=HH/, found through partition projection so no
 * partition ever has to be registered (no MSCK REPAIR, no crawler). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "json/json.h"
#include "table/table.h"
#include "catalog/catalog.h"

/* Glue's limits (Column.Comment 255, TableInput.Description 2048 characters);
 * longer descriptions are cut at a character boundary rather than refused. */
#define EVP__GLUE_COMMENT_MAX 255
#define EVP__GLUE_DESCRIPTION_MAX 2048

#define EVP__PARQUET_INPUT "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
#define EVP__PARQUET_OUTPUT "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
#define EVP__PARQUET_SERDE "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"

/* The resolved options, with the location normalized to end in '/'. */
typedef struct {
  const char *table;
  char location[EVP__TABLE_MAX_LOCATION + 2];
  char dt_range[32];
  char template_[EVP__TABLE_MAX_LOCATION + 32];
} evp__ddl_ctx_t;

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* YYYY-MM-DD naming a real day (the range start Athena parses with the
 * projection's yyyy-MM-dd format). */
static int date_ok(const char *s) {
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return 0;
  for (int i = 0; i < 10; i++)
    if (i != 4 && i != 7 && !is_digit(s[i])) return 0;
  int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  int m = (s[5] - '0') * 10 + (s[6] - '0');
  int d = (s[8] - '0') * 10 + (s[9] - '0');
  if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) return 0;
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return !(m == 2 && d == 29 && !leap);
}

/* s3://bucket[/prefix]: a DNS-style bucket name, then printable ASCII without
 * quotes, backslashes or the ${} of location templates, so the text can be
 * embedded in SQL and in the storage.location.template unchanged. */
static int location_ok(const char *s) {
  if (strncmp(s, "s3://", 5) != 0) return 0;
  const char *b = s + 5, *p = b;
  while ((*p >= 'a' && *p <= 'z') || is_digit(*p) || *p == '.' || *p == '-') p++;
  if (p - b < 3 || p - b > 63 || (*p && *p != '/')) return 0;
  for (; *p; p++)
    if (*p <= ' ' || *p > '~' || strchr("'\"\\`${}", *p)) return 0;
  return 1;
}

static evp_err_t resolve_opts(const evp__table_t *t, const evp__table_ddl_opts_t *o,
                              evp__ddl_ctx_t *c, char *errstr, size_t errstr_size) {
  if (!t || t->ndata == 0 || t->ncols != t->ndata + 2)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "not a table model from evp__table_from_schema");
  const char *loc = o && o->location ? o->location : EVP__TABLE_DEFAULT_LOCATION;
  const char *dt = o && o->dt_start ? o->dt_start : EVP__TABLE_DEFAULT_DT_START;
  c->table = o && o->table ? o->table : EVP__TABLE_DEFAULT_TABLE;
  if (!evp__table_name_ok(c->table))
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "table name '%.64s' is not a safe identifier: use lower-case "
                       "[a-z_][a-z0-9_]*, at most %d characters",
                       c->table, EVP__TABLE_MAX_NAME);
  size_t n = strlen(loc);
  if (n > EVP__TABLE_MAX_LOCATION || !location_ok(loc))
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "location '%.64s' is not an s3://bucket/prefix URI (lower-case bucket, "
                       "no quotes, spaces, backslashes or ${}, at most %d bytes)",
                       loc, EVP__TABLE_MAX_LOCATION);
  memcpy(c->location, loc, n + 1);
  if (c->location[n - 1] != '/') memcpy(c->location + n, "/", 2);
  if (!date_ok(dt))
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "projection start '%.32s' is not a date YYYY-MM-DD (1970 or later)", dt);
  snprintf(c->dt_range, sizeof c->dt_range, "%s,NOW", dt);
  snprintf(c->template_, sizeof c->template_, "%sdt=${dt}/hour=${hour}/", c->location);
  return EVP_OK;
}

/* Table properties shared by the DDL and Glue (Athena reads Glue Parameters as
 * TBLPROPERTIES). dt is a date projected day by day; hour an integer 0-23
 * printed with two digits, matching the writer's hour=HH directories. */
#define EVP__NPROPS 13
static void table_props(const evp__ddl_ctx_t *c, const char *kv[EVP__NPROPS][2]) {
  const char *tmp[EVP__NPROPS][2] = {
      {"classification", "parquet"},
      {"parquet.compression", "SNAPPY"},
      {"projection.enabled", "true"},
      {"projection.dt.type", "date"},
      {"projection.dt.format", "yyyy-MM-dd"},
      {"projection.dt.range", c->dt_range},
      {"projection.dt.interval", "1"},
      {"projection.dt.interval.unit", "DAYS"},
      {"projection.hour.type", "integer"},
      {"projection.hour.range", "0,23"},
      {"projection.hour.interval", "1"},
      {"projection.hour.digits", "2"},
      {"storage.location.template", c->template_},
  };
  memcpy(kv, tmp, sizeof tmp);
}

/* A description fit for a comment: control characters become spaces (Glue's
 * comment pattern refuses them; in SQL they would break the line) and the
 * text is cut after @p maxchars code points. Caller frees. */
static char *comment_dup(const char *s, size_t maxchars) {
  size_t n = 0, chars = 0;
  while (s[n]) {
    if (((unsigned char)s[n] & 0xC0) != 0x80 && chars++ == maxchars) break;
    n++;
  }
  char *d = malloc(n + 1);
  if (!d) return NULL;
  for (size_t i = 0; i < n; i++) d[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? ' ' : s[i];
  d[n] = '\0';
  return d;
}

/* ------------------------------------------------------------ Athena DDL */

typedef struct {
  char *p;
  size_t len, cap;
  int oom;
} evp__sb_t;

static void sb_add(evp__sb_t *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_puts(evp__sb_t *b, const char *s) { sb_add(b, s, strlen(s)); }

/* A Hive/Athena DDL string literal: single quotes, with ' and \ escaped by a
 * backslash (DDL literals are Hive's, where '' is not an escaped quote). */
static void sb_sql_str(evp__sb_t *b, const char *s) {
  sb_add(b, "'", 1);
  for (; *s; s++) {
    if (*s == '\'' || *s == '\\') sb_add(b, "\\", 1);
    sb_add(b, s, 1);
  }
  sb_add(b, "'", 1);
}

/* "  `name` type COMMENT '...'" — names are safe identifiers (checked when
 * the model was built), so backticks cannot occur inside them. */
static void sb_column(evp__sb_t *b, const evp__column_t *col, int last) {
  sb_puts(b, "  `");
  sb_puts(b, col->name);
  sb_puts(b, "` ");
  char *type = evp__col_type_ddl(col);
  if (!type) {
    b->oom = 1;
    return;
  }
  sb_puts(b, type);
  free(type);
  if (col->description[0]) {
    char *cm = comment_dup(col->description, EVP__GLUE_COMMENT_MAX);
    if (!cm) {
      b->oom = 1;
      return;
    }
    sb_puts(b, " COMMENT ");
    sb_sql_str(b, cm);
    free(cm);
  }
  sb_puts(b, last ? "\n" : ",\n");
}

evp_err_t evp__table_athena_ddl(const evp__table_t *t, const evp__table_ddl_opts_t *opts,
                                char **out, char *errstr, size_t errstr_size) {
  evp__ddl_ctx_t c;
  if (!out) return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "out is NULL");
  *out = NULL;
  evp_err_t e = resolve_opts(t, opts, &c, errstr, errstr_size);
  if (e != EVP_OK) return e;
  evp__sb_t b = {0};
  sb_puts(&b, "CREATE EXTERNAL TABLE IF NOT EXISTS `");
  sb_puts(&b, c.table);
  sb_puts(&b, "` (\n");
  for (size_t i = 0; i < t->ndata; i++) sb_column(&b, &t->cols[i], i + 1 == t->ndata);
  sb_puts(&b, ")\n");
  if (t->description[0]) {
    char *cm = comment_dup(t->description, EVP__GLUE_DESCRIPTION_MAX);
    if (!cm)
      b.oom = 1;
    else {
      sb_puts(&b, "COMMENT ");
      sb_sql_str(&b, cm);
      sb_puts(&b, "\n");
      free(cm);
    }
  }
  sb_puts(&b, "PARTITIONED BY (\n");
  for (size_t i = t->ndata; i < t->ncols; i++) sb_column(&b, &t->cols[i], i + 1 == t->ncols);
  sb_puts(&b, ")\nSTORED AS PARQUET\nLOCATION ");
  sb_sql_str(&b, c.location);
  sb_puts(&b, "\nTBLPROPERTIES (\n");
  const char *kv[EVP__NPROPS][2];
  table_props(&c, kv);
  for (size_t i = 0; i < EVP__NPROPS; i++) {
    sb_puts(&b, "  ");
    sb_sql_str(&b, kv[i][0]);
    sb_puts(&b, "=");
    sb_sql_str(&b, kv[i][1]);
    sb_puts(&b, i + 1 < EVP__NPROPS ? ",\n" : "\n");
  }
  sb_puts(&b, ");\n");
  if (b.oom) {
    free(b.p);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  }
  *out = b.p;
  return EVP_OK;
}

/* ------------------------------------------------------- Glue TableInput */

static int add_str(cJSON *obj, const char *key, const char *val) {
  return cJSON_AddStringToObject(obj, key, val) != NULL;
}

/* {"Name", "Type", "Comment"} for each column in [from, to). */
static cJSON *glue_columns(const evp__table_t *t, size_t from, size_t to) {
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = from; arr && i < to; i++) {
    const evp__column_t *col = &t->cols[i];
    cJSON *o = cJSON_CreateObject();
    char *cm = comment_dup(col->description, EVP__GLUE_COMMENT_MAX);
    char *type = evp__col_type_text(col);
    int ok = o && cm && type && cJSON_AddItemToArray(arr, o);
    if (!ok) cJSON_Delete(o);
    ok = ok && add_str(o, "Name", col->name) && add_str(o, "Type", type) &&
         (!cm[0] || add_str(o, "Comment", cm));
    free(cm);
    free(type);
    if (!ok) {
      cJSON_Delete(arr);
      return NULL;
    }
  }
  return arr;
}

/* Moves *child under @p parent as @p key; on failure *child stays the
 * caller's to free (cJSON copies the key, which can fail). */
static int attach(cJSON *parent, const char *key, cJSON **child) {
  if (!cJSON_AddItemToObject(parent, key, *child)) return 0;
  *child = NULL;
  return 1;
}

static cJSON *glue_doc(const evp__table_t *t, const evp__ddl_ctx_t *c) {
  cJSON *doc = cJSON_CreateObject();
  cJSON *params = cJSON_CreateObject();
  cJSON *sd = cJSON_CreateObject();
  cJSON *serde = cJSON_CreateObject();
  cJSON *serde_params = cJSON_CreateObject();
  cJSON *cols = glue_columns(t, 0, t->ndata);
  cJSON *parts = glue_columns(t, t->ndata, t->ncols);
  char *desc = comment_dup(t->description, EVP__GLUE_DESCRIPTION_MAX);
  const char *kv[EVP__NPROPS][2];
  table_props(c, kv);
  int ok = doc && params && sd && serde && serde_params && cols && parts && desc;
  for (size_t i = 0; ok && i < EVP__NPROPS; i++) ok = add_str(params, kv[i][0], kv[i][1]);
  /* EXTERNAL=TRUE is what Athena's own CREATE EXTERNAL TABLE records. */
  ok = ok && add_str(params, "EXTERNAL", "TRUE") &&
       add_str(serde_params, "serialization.format", "1") &&
       add_str(serde, "SerializationLibrary", EVP__PARQUET_SERDE) &&
       attach(serde, "Parameters", &serde_params) && attach(sd, "Columns", &cols) &&
       add_str(sd, "Location", c->location) && add_str(sd, "InputFormat", EVP__PARQUET_INPUT) &&
       add_str(sd, "OutputFormat", EVP__PARQUET_OUTPUT) && attach(sd, "SerdeInfo", &serde) &&
       add_str(doc, "Name", c->table) && (!desc[0] || add_str(doc, "Description", desc)) &&
       add_str(doc, "TableType", "EXTERNAL_TABLE") && attach(doc, "Parameters", &params) &&
       attach(doc, "StorageDescriptor", &sd) && attach(doc, "PartitionKeys", &parts);
  free(desc);
  cJSON_Delete(params);
  cJSON_Delete(sd);
  cJSON_Delete(serde);
  cJSON_Delete(serde_params);
  cJSON_Delete(cols);
  cJSON_Delete(parts);
  if (!ok) {
    cJSON_Delete(doc);
    return NULL;
  }
  return doc;
}

evp_err_t evp__table_glue_input(const evp__table_t *t, const evp__table_ddl_opts_t *opts,
                                char **out, char *errstr, size_t errstr_size) {
  evp__ddl_ctx_t c;
  if (!out) return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "out is NULL");
  *out = NULL;
  evp_err_t e = resolve_opts(t, opts, &c, errstr, errstr_size);
  if (e != EVP_OK) return e;
  return evp__json_print_take(glue_doc(t, &c), out, errstr, errstr_size);
}

evp_err_t evp__json_print_take(cJSON *doc, char **out, char *errstr, size_t errstr_size) {
  char *text = doc ? cJSON_Print(doc) : NULL;
  cJSON_Delete(doc);
  /* Copied so the caller frees with free() whatever cJSON's hooks are. */
  char *copy = evp__strdup(text);
  if (text) cJSON_free(text);
  if (!copy) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  *out = copy;
  return EVP_OK;
}
