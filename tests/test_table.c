/* Suite: the table model (schema -> columns) and its Athena/Glue generators. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "table/table.h"
#include "catalog/catalog.h"

#define STARTS_WITH(s, lit) (strncmp((s), (lit), sizeof(lit) - 1) == 0)
#define DEFAULT_SCHEMA EVP_SOURCE_DIR "/examples/schemas/glue-data-catalog-json-schema.json"

/* Test schemas are written with ' for " to stay readable. */
static char *dq(const char *s) {
  char *d = strdup(s);
  ck_assert_ptr_nonnull(d);
  for (char *p = d; *p; p++)
    if (*p == '\'') *p = '"';
  return d;
}

static evp__table_t *parse_ok(const char *sq) {
  char *json = dq(sq), err[256] = "";
  evp__table_t *t = NULL;
  evp_err_t e = evp__table_parse(json, strlen(json), &t, err, sizeof err);
  ck_assert_msg(e == EVP_OK, "%s: %s", sq, err);
  ck_assert_ptr_nonnull(t);
  free(json);
  return t;
}

static void expect_reject(const char *sq, evp_err_t code, const char *msg) {
  char *json = dq(sq), err[256] = "";
  evp__table_t *t = (evp__table_t *)1;
  evp_err_t e = evp__table_parse(json, strlen(json), &t, err, sizeof err);
  ck_assert_msg(e == code, "%s: got %d (%s), want %d", sq, (int)e, err, (int)code);
  ck_assert_ptr_null(t);
  ck_assert_msg(strstr(err, msg) != NULL, "%s: message '%s' lacks '%s'", sq, err, msg);
  free(json);
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  char *buf = malloc(1 << 20);
  ck_assert_ptr_nonnull(buf);
  *len = fread(buf, 1, (1 << 20) - 1, f);
  buf[*len] = '\0';
  fclose(f);
  return buf;
}

static evp__table_t *default_table(void) {
  size_t len;
  char *text = slurp(DEFAULT_SCHEMA, &len), err[256] = "";
  evp__table_t *t = NULL;
  ck_assert_msg(evp__table_parse(text, len, &t, err, sizeof err) == EVP_OK, "%s", err);
  free(text);
  return t;
}

static const evp__column_t *col(const evp__table_t *t, const char *name) {
  for (size_t i = 0; i < t->ncols; i++)
    if (!strcmp(t->cols[i].name, name)) return &t->cols[i];
  ck_abort_msg("no column %s", name);
  return NULL;
}

/* One property of the given schema text under 'p', required or not. */
static evp__table_t *one_prop(const char *prop, int required) {
  char buf[1024];
  snprintf(buf, sizeof buf, "{'type':'object',%s'properties':{'p':%s}}",
           required ? "'required':['p']," : "", prop);
  return parse_ok(buf);
}

/* ------------------------------------------------------------- mapping */

START_TEST(default_schema_columns) {
  evp__table_t *t = default_table();
  static const struct {
    const char *name;
    evp__col_type_t type;
    int nullable;
    evp__col_role_t role;
    evp__col_map_t map;
  } want[] = {
      {"event_id", EVP__COL_STRING, 0, EVP__ROLE_EVENT, EVP__MAP_SCALAR},
      {"event_type", EVP__COL_STRING, 0, EVP__ROLE_EVENT, EVP__MAP_SCALAR},
      {"event_time", EVP__COL_TIMESTAMP, 0, EVP__ROLE_EVENT, EVP__MAP_RFC3339},
      {"app_id", EVP__COL_STRING, 0, EVP__ROLE_EVENT, EVP__MAP_SCALAR},
      {"user_id", EVP__COL_STRING, 1, EVP__ROLE_EVENT, EVP__MAP_SCALAR},
      {"session_id", EVP__COL_STRING, 1, EVP__ROLE_EVENT, EVP__MAP_SCALAR},
      {"platform", EVP__COL_STRING, 1, EVP__ROLE_EVENT, EVP__MAP_SCALAR},
      {"app_version", EVP__COL_STRING, 1, EVP__ROLE_EVENT, EVP__MAP_SCALAR},
      {"context", EVP__COL_STRUCT, 1, EVP__ROLE_EVENT, EVP__MAP_STRUCT},
      {"properties", EVP__COL_STRING, 1, EVP__ROLE_EVENT, EVP__MAP_JSON_TEXT},
      {"received_at", EVP__COL_TIMESTAMP, 0, EVP__ROLE_SERVER, EVP__MAP_DERIVED},
      {"client_id", EVP__COL_STRING, 0, EVP__ROLE_SERVER, EVP__MAP_DERIVED},
      {"event_time_corrected", EVP__COL_TIMESTAMP, 1, EVP__ROLE_SERVER, EVP__MAP_DERIVED},
      {"clock_skew_ms", EVP__COL_BIGINT, 1, EVP__ROLE_SERVER, EVP__MAP_DERIVED},
      {"dt", EVP__COL_STRING, 0, EVP__ROLE_PARTITION, EVP__MAP_DERIVED},
      {"hour", EVP__COL_STRING, 0, EVP__ROLE_PARTITION, EVP__MAP_DERIVED},
  };
  ck_assert_uint_eq(t->ncols, sizeof want / sizeof want[0]);
  ck_assert_uint_eq(t->ndata, 14);
  for (size_t i = 0; i < t->ncols; i++) {
    const evp__column_t *c = &t->cols[i];
    ck_assert_str_eq(c->name, want[i].name);
    ck_assert_msg(c->type == want[i].type, "%s type", c->name);
    ck_assert_msg(c->nullable == want[i].nullable, "%s nullable", c->name);
    ck_assert_msg(c->role == want[i].role, "%s role", c->name);
    ck_assert_msg(c->map == want[i].map, "%s map", c->name);
    ck_assert_msg(c->description[0] != '\0', "%s has no description", c->name);
  }
  ck_assert_ptr_nonnull(strstr(t->description, "POST /events"));
  ck_assert_ptr_nonnull(strstr(col(t, "context")->description, "struct"));
  ck_assert_ptr_nonnull(strstr(col(t, "properties")->description, "JSON text"));
  evp__table_free(t);
}
END_TEST

START_TEST(every_type_maps) {
  static const struct {
    const char *prop;
    evp__col_type_t type;
    evp__col_map_t map;
    int nullable; /* when required */
  } cases[] = {
      {"{'type':'string'}", EVP__COL_STRING, EVP__MAP_SCALAR, 0},
      {"{'type':'string','format':'email'}", EVP__COL_STRING, EVP__MAP_SCALAR, 0},
      {"{'type':'string','format':'date'}", EVP__COL_STRING, EVP__MAP_SCALAR, 0},
      {"{'type':'string','format':'date-time'}", EVP__COL_TIMESTAMP, EVP__MAP_RFC3339, 0},
      {"{'type':['null','string'],'format':'date-time'}", EVP__COL_TIMESTAMP, EVP__MAP_RFC3339, 1},
      {"{'type':'integer'}", EVP__COL_BIGINT, EVP__MAP_SCALAR, 0},
      {"{'type':['integer','null']}", EVP__COL_BIGINT, EVP__MAP_SCALAR, 1},
      {"{'type':'number'}", EVP__COL_DOUBLE, EVP__MAP_SCALAR, 0},
      {"{'type':['integer','number']}", EVP__COL_DOUBLE, EVP__MAP_SCALAR, 0},
      {"{'type':'boolean'}", EVP__COL_BOOLEAN, EVP__MAP_SCALAR, 0},
      {"{'type':['boolean']}", EVP__COL_BOOLEAN, EVP__MAP_SCALAR, 0},
      {"{'type':['string','null']}", EVP__COL_STRING, EVP__MAP_SCALAR, 1},
      {"{'type':'object','properties':{'a':{'type':'integer'}}}", EVP__COL_STRING,
       EVP__MAP_JSON_TEXT, 0},
      {"{'type':['object','null']}", EVP__COL_STRING, EVP__MAP_JSON_TEXT, 1},
      {"{'type':'array','items':{'type':'string'}}", EVP__COL_STRING, EVP__MAP_JSON_TEXT, 0},
      {"{'type':['array','object']}", EVP__COL_STRING, EVP__MAP_JSON_TEXT, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    for (int req = 0; req < 2; req++) {
      evp__table_t *t = one_prop(cases[i].prop, req);
      const evp__column_t *c = &t->cols[0];
      ck_assert_str_eq(c->name, "p");
      ck_assert_msg(c->type == cases[i].type, "%s: type %s", cases[i].prop,
                    evp__col_type_name(c->type));
      ck_assert_msg(c->map == cases[i].map, "%s: map", cases[i].prop);
      ck_assert_msg(c->nullable == (req ? cases[i].nullable : 1), "%s req=%d: nullable",
                    cases[i].prop, req);
      ck_assert(c->role == EVP__ROLE_EVENT);
      ck_assert_str_eq(c->description, "");
      evp__table_free(t);
    }
  }
}
END_TEST

START_TEST(type_names) {
  ck_assert_str_eq(evp__col_type_name(EVP__COL_STRING), "string");
  ck_assert_str_eq(evp__col_type_name(EVP__COL_BIGINT), "bigint");
  ck_assert_str_eq(evp__col_type_name(EVP__COL_DOUBLE), "double");
  ck_assert_str_eq(evp__col_type_name(EVP__COL_BOOLEAN), "boolean");
  ck_assert_str_eq(evp__col_type_name(EVP__COL_TIMESTAMP), "timestamp");
}
END_TEST

START_TEST(order_descriptions_and_server_columns) {
  evp__table_t *t = parse_ok("{'type':'object','description':'top','required':['b'],"
                             "'properties':{'z':{'type':'integer','description':'zed'},"
                             "'b':{'type':'string'},'a_1':{'type':'boolean'}}}");
  ck_assert_uint_eq(t->ncols, 9);
  ck_assert_uint_eq(t->ndata, 7);
  ck_assert_str_eq(t->cols[0].name, "z");
  ck_assert_str_eq(t->cols[0].description, "zed");
  ck_assert_str_eq(t->cols[1].name, "b");
  ck_assert_int_eq(t->cols[1].nullable, 0);
  ck_assert_str_eq(t->cols[2].name, "a_1");
  ck_assert_str_eq(t->cols[3].name, "received_at");
  ck_assert(t->cols[3].type == EVP__COL_TIMESTAMP && t->cols[3].role == EVP__ROLE_SERVER);
  ck_assert_str_eq(t->cols[4].name, "client_id");
  ck_assert(t->cols[4].type == EVP__COL_STRING && t->cols[4].role == EVP__ROLE_SERVER);
  ck_assert_str_eq(t->cols[5].name, "event_time_corrected");
  ck_assert(t->cols[5].type == EVP__COL_TIMESTAMP && t->cols[5].role == EVP__ROLE_SERVER &&
            t->cols[5].nullable);
  ck_assert_str_eq(t->cols[6].name, "clock_skew_ms");
  ck_assert(t->cols[6].type == EVP__COL_BIGINT && t->cols[6].role == EVP__ROLE_SERVER &&
            t->cols[6].nullable);
  ck_assert_str_eq(t->cols[7].name, "dt");
  ck_assert(t->cols[7].role == EVP__ROLE_PARTITION && t->cols[7].map == EVP__MAP_DERIVED);
  ck_assert_str_eq(t->cols[8].name, "hour");
  ck_assert(t->cols[8].role == EVP__ROLE_PARTITION && t->cols[8].type == EVP__COL_STRING);
  ck_assert_str_eq(t->description, "top");
  evp__table_free(t);
}
END_TEST

START_TEST(from_parsed_cjson) {
  cJSON *doc = cJSON_Parse("{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"number\"}}}");
  ck_assert_ptr_nonnull(doc);
  evp__table_t *t = NULL;
  ck_assert_int_eq(evp__table_from_schema(doc, &t, NULL, 0), EVP_OK);
  ck_assert(t->cols[0].type == EVP__COL_DOUBLE && t->cols[0].nullable);
  evp__table_free(t);
  ck_assert_int_eq(evp__table_from_schema(doc, NULL, NULL, 0), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__table_from_schema(NULL, &t, NULL, 0), EVP_ERR_SCHEMA_INVALID);
  ck_assert_ptr_null(t);
  cJSON_Delete(doc);
  evp__table_free(NULL);
}
END_TEST

/* ------------------------------------------------------------ rejections */

START_TEST(rejects_bad_top_level) {
  expect_reject("[]", EVP_ERR_SCHEMA_INVALID, "must be a JSON object");
  expect_reject("'x'", EVP_ERR_SCHEMA_INVALID, "must be a JSON object");
  expect_reject("true", EVP_ERR_SCHEMA_INVALID, "must be a JSON object");
  expect_reject("{'properties':{'a':{'type':'string'}}}", EVP_ERR_SCHEMA_INVALID,
                "top-level \"type\" must be \"object\"");
  expect_reject("{'type':'array','items':{}}", EVP_ERR_SCHEMA_INVALID,
                "top-level \"type\" must be \"object\"");
  expect_reject("{'type':['object']}", EVP_ERR_SCHEMA_INVALID, "top-level \"type\"");
  expect_reject("{'type':'object'}", EVP_ERR_SCHEMA_INVALID, "non-empty \"properties\"");
  expect_reject("{'type':'object','properties':{}}", EVP_ERR_SCHEMA_INVALID,
                "non-empty \"properties\"");
  expect_reject("{'type':'object','properties':[]}", EVP_ERR_SCHEMA_INVALID,
                "non-empty \"properties\"");
  expect_reject("{'type':'object','required':'a','properties':{'a':{'type':'string'}}}",
                EVP_ERR_SCHEMA_INVALID, "\"required\" must be an array of strings");
  expect_reject("{'type':'object','required':['a',1],'properties':{'a':{'type':'string'}}}",
                EVP_ERR_SCHEMA_INVALID, "\"required\" must be an array of strings");
  expect_reject("{'type':'object','description':5,'properties':{'a':{'type':'string'}}}",
                EVP_ERR_SCHEMA_INVALID, "the schema: \"description\" must be a string");
}
END_TEST

START_TEST(rejects_unmappable_properties) {
  static const struct {
    const char *prop, *msg;
  } cases[] = {
      {"true", "property 'p': its schema must be an object"},
      {"{}", "property 'p' has no \"type\""},
      {"{'$ref':'#/definitions/x'}", "property 'p' has no \"type\""},
      {"{'type':5}", "\"type\" must be a string or an array of strings"},
      {"{'type':[]}", "\"type\" is an empty array"},
      {"{'type':['string',1]}", "\"type\" must be a string or an array of strings"},
      {"{'type':'date'}", "unsupported type 'date'"},
      {"{'type':['string','any']}", "unsupported type 'any'"},
      {"{'type':'null'}", "type \"null\" alone carries no data"},
      {"{'type':['string','integer']}", "a mix of types cannot map to one column"},
      {"{'type':['boolean','number','null']}", "a mix of types"},
      {"{'type':['object','string']}", "a mix of types"},
      {"{'type':'string','description':['x']}", "property 'p': \"description\" must be a string"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[512];
    snprintf(buf, sizeof buf, "{'type':'object','properties':{'p':%s}}", cases[i].prop);
    expect_reject(buf, EVP_ERR_SCHEMA_INVALID, cases[i].msg);
  }
}
END_TEST

START_TEST(rejects_unsafe_and_reserved_names) {
  static const char *bad[] = {"EventId", "1abc", "a-b", "a.b", "", "a b", "caf\xc3\xa9", "x`y"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char buf[256];
    snprintf(buf, sizeof buf, "{'type':'object','properties':{'%s':{'type':'string'}}}", bad[i]);
    expect_reject(buf, EVP_ERR_SCHEMA_INVALID, "is not a safe column name");
  }
  expect_reject("{'type':'object','properties':{'received_at':{'type':'string'}}}",
                EVP_ERR_SCHEMA_INVALID, "'received_at' collides with the server-added column");
  expect_reject("{'type':'object','properties':{'client_id':{'type':'string'}}}",
                EVP_ERR_SCHEMA_INVALID, "'client_id' collides with the server-added column");
  expect_reject("{'type':'object','properties':{'event_time_corrected':{'type':'string'}}}",
                EVP_ERR_SCHEMA_INVALID,
                "'event_time_corrected' collides with the server-added column");
  expect_reject("{'type':'object','properties':{'clock_skew_ms':{'type':'integer'}}}",
                EVP_ERR_SCHEMA_INVALID, "'clock_skew_ms' collides with the server-added column");
  expect_reject("{'type':'object','properties':{'dt':{'type':'string'}}}", EVP_ERR_SCHEMA_INVALID,
                "'dt' collides with the partition column");
  expect_reject("{'type':'object','properties':{'hour':{'type':'integer'}}}",
                EVP_ERR_SCHEMA_INVALID, "'hour' collides with the partition column");
  expect_reject("{'type':'object','properties':{'a':{'type':'string'},'b':{'type':'string'},"
                "'a':{'type':'integer'}}}",
                EVP_ERR_SCHEMA_INVALID, "property 'a' is defined twice");
}
END_TEST

START_TEST(name_length_limit) {
  char name[EVP__TABLE_MAX_NAME + 2];
  memset(name, 'a', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  ck_assert_int_eq(evp__table_name_ok(name), 0); /* 129 */
  name[EVP__TABLE_MAX_NAME] = '\0';
  ck_assert_int_eq(evp__table_name_ok(name), 1); /* 128 */
  ck_assert_int_eq(evp__table_name_ok("_x9"), 1);
  ck_assert_int_eq(evp__table_name_ok("9x"), 0);
  ck_assert_int_eq(evp__table_name_ok(""), 0);
  ck_assert_int_eq(evp__table_name_ok(NULL), 0);
  char buf[512];
  memset(name, 'a', sizeof name - 1);
  snprintf(buf, sizeof buf, "{'type':'object','properties':{'%s':{'type':'string'}}}", name);
  expect_reject(buf, EVP_ERR_SCHEMA_INVALID, "is not a safe column name");
}
END_TEST

START_TEST(rejects_too_many_properties) {
  size_t cap = 64 * 1024, n = 0;
  char *s = malloc(cap);
  ck_assert_ptr_nonnull(s);
  n += (size_t)snprintf(s + n, cap - n, "{\"type\":\"object\",\"properties\":{");
  for (int i = 0; i <= EVP__TABLE_MAX_COLUMNS; i++)
    n += (size_t)snprintf(s + n, cap - n, "%s\"c%d\":{\"type\":\"integer\"}", i ? "," : "", i);
  n += (size_t)snprintf(s + n, cap - n, "}}");
  ck_assert_uint_lt(n, cap);
  char err[256] = "";
  evp__table_t *t = NULL;
  ck_assert_int_eq(evp__table_parse(s, n, &t, err, sizeof err), EVP_ERR_SCHEMA_INVALID);
  ck_assert_ptr_nonnull(strstr(err, "more than 1000 properties"));
  /* Exactly the limit is fine. */
  char *cut = strstr(s, ",\"c1000\"");
  ck_assert_ptr_nonnull(cut);
  memcpy(cut, "}}", 3);
  ck_assert_int_eq(evp__table_parse(s, strlen(s), &t, err, sizeof err), EVP_OK);
  ck_assert_uint_eq(t->ndata, EVP__TABLE_MAX_COLUMNS + 4);
  evp__table_free(t);
  free(s);
}
END_TEST

START_TEST(rejects_bad_text) {
  char err[256] = "";
  evp__table_t *t = NULL;
  expect_reject("{'type':", EVP_ERR_JSON, "not valid JSON");
  expect_reject("{'type':'object','properties':{'a':{'type':'string'}}} x", EVP_ERR_JSON,
                "after the JSON value");
  expect_reject("", EVP_ERR_JSON, "not valid JSON");
  /* Trailing whitespace is not data. */
  evp__table_free(parse_ok("{'type':'object','properties':{'a':{'type':'string'}}} \n\t\r\n"));
  /* Too large: refused before parsing. */
  size_t big = EVP__TABLE_MAX_SCHEMA_BYTES + 1;
  char *s = malloc(big);
  ck_assert_ptr_nonnull(s);
  memset(s, ' ', big);
  ck_assert_int_eq(evp__table_parse(s, big, &t, err, sizeof err), EVP_ERR_TOO_LARGE);
  ck_assert_ptr_nonnull(strstr(err, "limit"));
  free(s);
  ck_assert_int_eq(evp__table_parse("{}", 2, NULL, err, sizeof err), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__table_parse(NULL, 3, &t, err, sizeof err), EVP_ERR_INVALID_ARG);
  /* A description must be UTF-8 (Glue refuses anything else): the schema
   * text itself is refused (RFC 8259 JSON text is UTF-8), where it is. */
  const char bad_utf8[] = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\","
                          "\"description\":\"\xc0\xaf\"}}}";
  ck_assert_int_eq(evp__table_parse(bad_utf8, strlen(bad_utf8), &t, err, sizeof err), EVP_ERR_JSON);
  ck_assert_str_eq(err, "schema is not valid UTF-8 at byte 67");
  const char surrogate[] = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\","
                           "\"description\":\"\xed\xa0\x80\"}}}";
  ck_assert_int_eq(evp__table_parse(surrogate, strlen(surrogate), &t, err, sizeof err),
                   EVP_ERR_JSON);
  const char good_utf8[] = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\","
                           "\"description\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}}}";
  ck_assert_int_eq(evp__table_parse(good_utf8, strlen(good_utf8), &t, err, sizeof err), EVP_OK);
  evp__table_free(t);
}
END_TEST

/* ------------------------------------------------------------ Athena DDL */

static char *ddl(const evp__table_t *t, const char *table, const char *loc, const char *since) {
  evp__table_ddl_opts_t o = {table, loc, since};
  char *out = NULL, err[256] = "";
  ck_assert_msg(evp__table_athena_ddl(t, &o, &out, err, sizeof err) == EVP_OK, "%s", err);
  return out;
}

START_TEST(ddl_for_default_schema) {
  evp__table_t *t = default_table();
  char *s = ddl(t, NULL, "s3://my-lake/events", NULL);
  ck_assert_msg(STARTS_WITH(s, "CREATE EXTERNAL TABLE IF NOT EXISTS `events` (\n"), "%s", s);
  /* Every data column, with its type, before PARTITIONED BY; keys after. */
  const char *parts = strstr(s, "\nPARTITIONED BY (\n");
  ck_assert_ptr_nonnull(parts);
  for (size_t i = 0; i < t->ncols; i++) {
    char want[256];
    char *type = evp__col_type_ddl(&t->cols[i]);
    snprintf(want, sizeof want, "\n  `%s` %s COMMENT '", t->cols[i].name, type);
    free(type);
    const char *at = strstr(s, want);
    ck_assert_msg(at != NULL, "missing %s", want);
    ck_assert_msg(i < t->ndata ? at < parts : at > parts, "%s on the wrong side", t->cols[i].name);
  }
  ck_assert_ptr_nonnull(strstr(s, "`event_time` timestamp"));
  ck_assert_ptr_nonnull(strstr(s, "`received_at` timestamp"));
  ck_assert_ptr_nonnull(strstr(s, "`event_time_corrected` timestamp"));
  ck_assert_ptr_nonnull(strstr(s, "`clock_skew_ms` bigint"));
  ck_assert_ptr_nonnull(strstr(s, "`context` struct<`locale`:string,`os`:string,"));
  ck_assert_ptr_nonnull(strstr(s, "\n  `dt` string COMMENT"));
  ck_assert_ptr_nonnull(strstr(s, "\n  `hour` string COMMENT"));
  static const char *props[] = {
      "\nSTORED AS PARQUET\n",
      "\nLOCATION 's3://my-lake/events/'\n",
      "'parquet.compression'='SNAPPY'",
      "'projection.enabled'='true'",
      "'projection.dt.type'='date'",
      "'projection.dt.format'='yyyy-MM-dd'",
      "'projection.dt.range'='2024-01-01,NOW'",
      "'projection.dt.interval.unit'='DAYS'",
      "'projection.hour.type'='integer'",
      "'projection.hour.range'='0,23'",
      "'projection.hour.digits'='2'",
      "'storage.location.template'='s3://my-lake/events/dt=${dt}/hour=${hour}/'\n);\n",
      "\nCOMMENT 'One analytics event",
      /* The apostrophe in a description is escaped for Hive. */
      "COMMENT 'The app\\'s identifier",
  };
  for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
    ck_assert_msg(strstr(s, props[i]) != NULL, "missing %s", props[i]);
  ck_assert_ptr_null(strstr(s, "`context` string,")); /* comments are always printed */
  free(s);
  evp__table_free(t);
}
END_TEST

START_TEST(ddl_options_and_escaping) {
  cJSON *doc = cJSON_Parse("{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"},"
                           "\"q\":{\"type\":\"string\"}}}");
  ck_assert_ptr_nonnull(doc);
  cJSON *q = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "properties"), "q");
  cJSON_AddStringToObject(q, "description", "it's a \\ back\nslash\t'end");
  evp__table_t *t = NULL;
  ck_assert_int_eq(evp__table_from_schema(doc, &t, NULL, 0), EVP_OK);
  cJSON_Delete(doc);
  char *s = ddl(t, "app_events", "s3://b-1.x/a/b/", "2023-02-28");
  ck_assert_msg(STARTS_WITH(s, "CREATE EXTERNAL TABLE IF NOT EXISTS `app_events` (\n"), "%s", s);
  ck_assert_ptr_nonnull(strstr(s, "\n  `n` bigint,\n"));
  ck_assert_ptr_nonnull(strstr(s, "`q` string COMMENT 'it\\'s a \\\\ back slash \\'end',\n"));
  ck_assert_ptr_nonnull(strstr(s, "\nLOCATION 's3://b-1.x/a/b/'\n"));
  ck_assert_ptr_nonnull(strstr(s, "'projection.dt.range'='2023-02-28,NOW'"));
  ck_assert_ptr_null(strstr(s, "\nCOMMENT")); /* no table description */
  free(s);
  s = ddl(t, NULL, NULL, NULL);
  ck_assert_ptr_nonnull(strstr(s, "\nLOCATION '" EVP__TABLE_DEFAULT_LOCATION "'\n"));
  ck_assert_ptr_nonnull(strstr(s, "`" EVP__TABLE_DEFAULT_TABLE "`"));
  free(s);
  ck_assert_int_eq(evp__table_athena_ddl(t, NULL, &s, NULL, 0), EVP_OK);
  free(s);
  evp__table_free(t);
}
END_TEST

START_TEST(ddl_rejects_bad_options) {
  evp__table_t *t = one_prop("{'type':'string'}", 1);
  static const struct {
    const char *table, *loc, *since, *msg;
  } cases[] = {
      {"Events", NULL, NULL, "table name 'Events' is not a safe identifier"},
      {"db.events", NULL, NULL, "not a safe identifier"},
      {"", NULL, NULL, "not a safe identifier"},
      {NULL, "https://b/x", NULL, "not an s3://bucket/prefix URI"},
      {NULL, "s3://", NULL, "not an s3://bucket/prefix URI"},
      {NULL, "s3://ab/x", NULL, "not an s3"},            /* bucket too short */
      {NULL, "s3://Bucket/x", NULL, "not an s3"},        /* upper case */
      {NULL, "s3://bucket/it's", NULL, "not an s3"},     /* quote */
      {NULL, "s3://bucket/a b", NULL, "not an s3"},      /* space */
      {NULL, "s3://bucket/${dt}", NULL, "not an s3"},    /* template syntax */
      {NULL, "s3://bucket/a\\b", NULL, "not an s3"},     /* backslash */
      {NULL, "s3://bucket/\xc3\xa9", NULL, "not an s3"}, /* non-ASCII */
      {NULL, NULL, "2024-1-01", "is not a date YYYY-MM-DD"},
      {NULL, NULL, "2023-02-29", "is not a date"},
      {NULL, NULL, "2024-13-01", "is not a date"},
      {NULL, NULL, "2024-04-31", "is not a date"},
      {NULL, NULL, "1969-12-31", "is not a date"},
      {NULL, NULL, "NOW", "is not a date"},
      {NULL, NULL, "2024-01-01,NOW", "is not a date"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    evp__table_ddl_opts_t o = {cases[i].table, cases[i].loc, cases[i].since};
    for (int glue = 0; glue < 2; glue++) {
      char *out = (char *)1, err[256] = "";
      evp_err_t e = glue ? evp__table_glue_input(t, &o, &out, err, sizeof err)
                         : evp__table_athena_ddl(t, &o, &out, err, sizeof err);
      ck_assert_msg(e == EVP_ERR_INVALID_ARG, "case %zu glue=%d: %d", i, glue, (int)e);
      ck_assert_ptr_null(out);
      ck_assert_msg(strstr(err, cases[i].msg) != NULL, "case %zu: '%s'", i, err);
    }
  }
  /* 2024-02-29 is a real day. */
  evp__table_ddl_opts_t leap = {NULL, NULL, "2024-02-29"};
  char *out = NULL;
  ck_assert_int_eq(evp__table_athena_ddl(t, &leap, &out, NULL, 0), EVP_OK);
  free(out);
  /* Location length limit. */
  char loc[EVP__TABLE_MAX_LOCATION + 2];
  memset(loc, 'a', sizeof loc - 1);
  loc[sizeof loc - 1] = '\0';
  memcpy(loc, "s3://bucket/", 12);
  evp__table_ddl_opts_t lo = {NULL, loc, NULL};
  ck_assert_int_eq(evp__table_athena_ddl(t, &lo, &out, NULL, 0), EVP_ERR_INVALID_ARG);
  loc[EVP__TABLE_MAX_LOCATION] = '\0';
  ck_assert_int_eq(evp__table_athena_ddl(t, &lo, &out, NULL, 0), EVP_OK);
  free(out);
  ck_assert_int_eq(evp__table_athena_ddl(t, NULL, NULL, NULL, 0), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__table_glue_input(t, NULL, NULL, NULL, 0), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__table_athena_ddl(NULL, NULL, &out, NULL, 0), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__table_glue_input(NULL, NULL, &out, NULL, 0), EVP_ERR_INVALID_ARG);
  evp__table_free(t);
}
END_TEST

/* ------------------------------------------------------------------ Glue */

static cJSON *glue(const evp__table_t *t, const char *table, const char *loc) {
  evp__table_ddl_opts_t o = {table, loc, NULL};
  char *out = NULL, err[256] = "";
  ck_assert_msg(evp__table_glue_input(t, &o, &out, err, sizeof err) == EVP_OK, "%s", err);
  cJSON *doc = cJSON_Parse(out);
  ck_assert_msg(doc != NULL, "not JSON: %s", out);
  free(out);
  return doc;
}

static const char *str_at(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  ck_assert_msg(cJSON_IsString(v), "%s is not a string", key);
  return v->valuestring;
}

START_TEST(glue_for_default_schema) {
  evp__table_t *t = default_table();
  cJSON *doc = glue(t, "app_events", "s3://my-lake/events");
  ck_assert_str_eq(str_at(doc, "Name"), "app_events");
  ck_assert_str_eq(str_at(doc, "TableType"), "EXTERNAL_TABLE");
  ck_assert_ptr_nonnull(strstr(str_at(doc, "Description"), "POST /events"));
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(doc, "Parameters");
  static const char *kv[][2] = {
      {"classification", "parquet"},
      {"parquet.compression", "SNAPPY"},
      {"EXTERNAL", "TRUE"},
      {"projection.enabled", "true"},
      {"projection.dt.type", "date"},
      {"projection.dt.format", "yyyy-MM-dd"},
      {"projection.dt.range", "2024-01-01,NOW"},
      {"projection.dt.interval", "1"},
      {"projection.dt.interval.unit", "DAYS"},
      {"projection.hour.type", "integer"},
      {"projection.hour.range", "0,23"},
      {"projection.hour.digits", "2"},
      {"storage.location.template", "s3://my-lake/events/dt=${dt}/hour=${hour}/"},
  };
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
    ck_assert_str_eq(str_at(p, kv[i][0]), kv[i][1]);
  const cJSON *sd = cJSON_GetObjectItemCaseSensitive(doc, "StorageDescriptor");
  ck_assert_str_eq(str_at(sd, "Location"), "s3://my-lake/events/");
  ck_assert_str_eq(str_at(sd, "InputFormat"),
                   "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat");
  ck_assert_str_eq(str_at(sd, "OutputFormat"),
                   "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat");
  const cJSON *serde = cJSON_GetObjectItemCaseSensitive(sd, "SerdeInfo");
  ck_assert_str_eq(str_at(serde, "SerializationLibrary"),
                   "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe");
  const cJSON *cols = cJSON_GetObjectItemCaseSensitive(sd, "Columns");
  const cJSON *keys = cJSON_GetObjectItemCaseSensitive(doc, "PartitionKeys");
  ck_assert_int_eq(cJSON_GetArraySize(cols), (int)t->ndata);
  ck_assert_int_eq(cJSON_GetArraySize(keys), 2);
  for (size_t i = 0; i < t->ncols; i++) {
    const cJSON *c = i < t->ndata ? cJSON_GetArrayItem(cols, (int)i)
                                  : cJSON_GetArrayItem(keys, (int)(i - t->ndata));
    ck_assert_str_eq(str_at(c, "Name"), t->cols[i].name);
    char *type = evp__col_type_text(&t->cols[i]);
    ck_assert_str_eq(str_at(c, "Type"), type);
    free(type);
    ck_assert_str_eq(str_at(c, "Comment"), t->cols[i].description);
  }
  ck_assert_str_eq(str_at(cJSON_GetArrayItem(cols, 2), "Type"), "timestamp");
  ck_assert_str_eq(str_at(cJSON_GetArrayItem(keys, 0), "Name"), "dt");
  ck_assert_str_eq(str_at(cJSON_GetArrayItem(keys, 1), "Name"), "hour");
  ck_assert_str_eq(str_at(cJSON_GetArrayItem(keys, 1), "Type"), "string");
  cJSON_Delete(doc);
  evp__table_free(t);
}
END_TEST

START_TEST(glue_comments_are_sanitized_and_bounded) {
  /* 300 two-byte characters: the comment keeps 255 whole ones. */
  size_t n = 300;
  char *desc = malloc(2 * n + 8);
  ck_assert_ptr_nonnull(desc);
  strcpy(desc, "a\"b\n");
  for (size_t i = 0; i < n; i++) memcpy(desc + 4 + 2 * i, "\xc3\xa9", 3);
  cJSON *doc = cJSON_CreateObject();
  cJSON_AddStringToObject(doc, "type", "object");
  cJSON *props = cJSON_AddObjectToObject(doc, "properties");
  cJSON *p = cJSON_AddObjectToObject(props, "p");
  cJSON_AddStringToObject(p, "type", "string");
  cJSON_AddStringToObject(p, "description", desc);
  evp__table_t *t = NULL;
  ck_assert_int_eq(evp__table_from_schema(doc, &t, NULL, 0), EVP_OK);
  cJSON_Delete(doc);
  cJSON *g = glue(t, NULL, NULL);
  const cJSON *c0 = cJSON_GetArrayItem(
      cJSON_GetObjectItem(cJSON_GetObjectItem(g, "StorageDescriptor"), "Columns"), 0);
  const char *cm = str_at(c0, "Comment");
  ck_assert_int_eq(strncmp(cm, "a\"b ", 4), 0);              /* newline became a space */
  ck_assert_uint_eq(strlen(cm), 4 + 2 * 251);                /* 255 characters in all */
  ck_assert_ptr_null(cJSON_GetObjectItem(g, "Description")); /* none in the schema */
  ck_assert_str_eq(str_at(g, "Name"), EVP__TABLE_DEFAULT_TABLE);
  cJSON_Delete(g);
  char *s = ddl(t, NULL, NULL, NULL);
  const char *at = strstr(s, "COMMENT 'a\"b ");
  ck_assert_ptr_nonnull(at);
  ck_assert_int_eq(strncmp(at + 13 + 2 * 251, "',\n", 3), 0);
  free(s);
  free(desc);
  evp__table_free(t);
}
END_TEST

/* cJSON allocations fail one after another: every failure must come back as
 * EVP_ERR_NOMEM with nothing leaked (checked by ASan/valgrind). */
static int fail_after = -1;
static void *failing_malloc(size_t n) {
  if (fail_after == 0) return NULL;
  if (fail_after > 0) fail_after--;
  return malloc(n);
}

START_TEST(glue_survives_allocation_failures) {
  evp__table_t *t = default_table();
  cJSON_Hooks hooks = {failing_malloc, free};
  cJSON_InitHooks(&hooks);
  int n;
  for (n = 0; n < 100000; n++) {
    char *out = NULL, err[64] = "";
    fail_after = n;
    evp_err_t e = evp__table_glue_input(t, NULL, &out, err, sizeof err);
    if (e == EVP_OK) {
      free(out);
      break;
    }
    ck_assert_int_eq(e, EVP_ERR_NOMEM);
    ck_assert_str_eq(err, "out of memory");
    ck_assert_ptr_null(out);
  }
  fail_after = -1;
  cJSON_InitHooks(NULL);
  ck_assert_int_gt(n, 50); /* the document takes many allocations */
  ck_assert_int_lt(n, 100000);
  evp__table_free(t);
}
END_TEST

/* A name is its bytes: "a\u0000b" is not the column "a" (cJSON alone cut
 * it there, so the table got a column the validator never fills). */
START_TEST(nul_in_a_name_is_not_cut) {
  expect_reject("{'type':'object','properties':{'a\\u0000b':{'type':'string'}}}",
                EVP_ERR_SCHEMA_INVALID, "not a safe column name");
  /* a NUL in a value the table does not use is fine */
  evp__table_free(
      parse_ok("{'type':'object','properties':{'a':{'type':'string','const':'x\\u0000'}}}"));
}
END_TEST

/* What a column holds (table_value.c), at the unit level: exact int64 from
 * any spelling, doubles without overflow or underflow to 0, and messages
 * that stay valid UTF-8 when they quote a value. */
START_TEST(column_values_exact) {
  static const struct {
    const char *s;
    int ok;
    int64_t v;
  } ints[] = {{"0", 1, 0},
              {"-0", 1, 0},
              {"0e-5", 1, 0},
              {"0.000e99999999999", 1, 0},
              {"1e-0", 1, 1},
              {"100e-2", 1, 1},
              {"9223372036854775807e0", 1, INT64_MAX},
              {"922337203685477580.7e1", 1, INT64_MAX},
              {"-9223372036854775808.000", 1, INT64_MIN},
              {"123456789012345678", 1, INT64_C(123456789012345678)},
              {"-1234567890123456789", 1, INT64_C(-1234567890123456789)},
              {"9007199254740993.0", 1, INT64_C(9007199254740993)},
              {"1E19", 0, 0},
              {"9223372036854775808", 0, 0},
              {"-9223372036854775809", 0, 0},
              {"12345678901234567890123e-4", 0, 0},
              {"0.5", 0, 0},
              {"1e-400", 0, 0},
              {"1e99999999999999999999", 0, 0},
              {"10000000000000000000000e-3", 0, 0}};
  for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
    int64_t v = 42;
    int r = evp__json_number_i64(ints[i].s, strlen(ints[i].s), &v);
    ck_assert_msg((r == 0) == ints[i].ok, "%s: %d", ints[i].s, r);
    if (ints[i].ok) ck_assert_msg(v == ints[i].v, "%s -> %lld", ints[i].s, (long long)v);
  }
  double d;
  ck_assert_int_eq(evp__json_number_f64("1e308", 5, &d), 0);
  ck_assert(d == 1e308);
  ck_assert_int_eq(evp__json_number_f64("-0.0", 4, &d), 0);
  ck_assert(d == 0);
  ck_assert_int_eq(evp__json_number_f64("0e-99999", 8, &d), 0);
  ck_assert_int_eq(evp__json_number_f64("5e-324", 6, &d), 0);
  ck_assert(d > 0);
  ck_assert_int_eq(evp__json_number_f64("1e309", 5, &d), -1);
  ck_assert_int_eq(evp__json_number_f64("-1e400", 6, &d), -1);
  ck_assert_int_eq(evp__json_number_f64("2e-324", 6, &d), -1);
  ck_assert_int_eq(evp__json_number_f64("0.00000000001e-320", 18, &d), -1);

  evp__table_t *t =
      parse_ok("{'type':'object','properties':{'at':{'type':'string','format':'date-time'}}}");
  char ev[200], err[300];
  const char *why = NULL;
  snprintf(ev, sizeof ev, "{\"at\":\"2024-05-01T08:00:00Z\"}");
  ck_assert_int_eq(evp__table_check_event(t, ev, strlen(ev), &why, err, sizeof err), EVP_OK);
  /* 30 two-byte characters: the quoted value is cut between characters */
  snprintf(ev, sizeof ev, "{\"at\":\"x%s\"}",
           "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
           "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
           "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
  ck_assert_int_eq(evp__table_check_event(t, ev, strlen(ev), &why, err, sizeof err),
                   EVP_ERR_INVALID_EVENT);
  ck_assert_str_eq(why, "not_representable");
  ck_assert_msg(evp__utf8_valid(err, strlen(err)), "%s", err);
  ck_assert_ptr_nonnull(strstr(err, "/at: x"));
  evp__table_free(t);
}
END_TEST

/* A description may hold "\u0000" (any JSON string may): it reaches the
 * table model as a space, as comments show every control character, with
 * the text after it kept; it is not refused as "not valid UTF-8" (the byte
 * the loader carries NUL in is not UTF-8). */
START_TEST(nul_in_a_description_is_a_space) {
  evp__table_t *t =
      parse_ok("{'type':'object','description':'x\\u0000y',"
               "'properties':{'a':{'type':'string','description':'b\\u0000\\u0000c'}}}");
  ck_assert_str_eq(t->description, "x y");
  ck_assert_str_eq(col(t, "a")->description, "b  c");
  evp__table_free(t);
  /* a real invalid byte is still refused */
  expect_reject("{'type':'object','description':'x\xffy','properties':{'a':{'type':'string'}}}",
                EVP_ERR_JSON, "not valid UTF-8");
}
END_TEST

/* ------------------------------------------------------------- structs */

/* An object whose keys are all declared becomes a struct of typed fields;
 * anything looser stays JSON text, which keeps every key. */
START_TEST(closed_objects_become_structs) {
  evp__table_t *t = parse_ok(
      "{'type':'object','properties':{'c':{'type':'object','additionalProperties':false,"
      "'required':['n'],'properties':{'n':{'type':'integer'},'s':{'type':['string','null']},"
      "'at':{'type':'string','format':'date-time'},'free':{'type':'object'},"
      "'d':{'type':'object','additionalProperties':false,'properties':{'x':{'type':'number'}}}}},"
      "'e':{'type':'string'}}}");
  const evp__column_t *c = col(t, "c");
  ck_assert_int_eq(c->type, EVP__COL_STRUCT);
  ck_assert_int_eq(c->map, EVP__MAP_STRUCT);
  ck_assert_int_eq(c->nullable, 1);
  ck_assert_uint_eq(c->nfields, 5);
  ck_assert_str_eq(c->fields[0].name, "n");
  ck_assert_int_eq(c->fields[0].type, EVP__COL_BIGINT);
  ck_assert_int_eq(c->fields[0].nullable, 0);
  ck_assert_int_eq(c->fields[1].nullable, 1);
  ck_assert_int_eq(c->fields[2].type, EVP__COL_TIMESTAMP);
  ck_assert_int_eq(c->fields[3].map, EVP__MAP_JSON_TEXT);
  ck_assert_int_eq(c->fields[4].type, EVP__COL_STRUCT);
  char *type = evp__col_type_text(c);
  ck_assert_str_eq(type, "struct<n:bigint,s:string,at:timestamp,free:string,d:struct<x:double>>");
  free(type);
  ck_assert_int_eq(col(t, "e")->type, EVP__COL_STRING);
  /* columns c and e, 4 server columns, and c's 5 fields plus d's one */
  ck_assert_uint_eq(t->nnodes, 2 + 4 + 5 + 1);
  evp__table_free(t);

  static const char *const loose[] = {
      "{'type':'object','properties':{'a':{'type':'integer'}}}",
      "{'type':'object','additionalProperties':true,'properties':{'a':{'type':'integer'}}}",
      "{'type':'object','additionalProperties':false,'patternProperties':{'^x':{}},"
      "'properties':{'a':{'type':'integer'}}}",
      "{'type':'object','additionalProperties':false,'properties':{}}",
      "{'type':'object','additionalProperties':false,'properties':{'osVersion':{'type':'string'}}}",
      "{'type':'object','additionalProperties':false,'properties':{'a':{'minLength':1}}}",
      "{'type':'object','additionalProperties':false,'properties':{'a':{'type':['string',"
      "'integer']}}}",
      "{'type':'object','additionalProperties':false,'required':'a','properties':{'a':{'type':"
      "'string'}}}",
      "{'type':['object','array'],'additionalProperties':false,'properties':{'a':{'type':"
      "'string'}}}",
  };
  for (size_t i = 0; i < sizeof loose / sizeof *loose; i++) {
    t = one_prop(loose[i], 0);
    ck_assert_msg(col(t, "p")->type == EVP__COL_STRING && col(t, "p")->map == EVP__MAP_JSON_TEXT,
                  "%s", loose[i]);
    ck_assert_uint_eq(t->nnodes, t->ndata);
    evp__table_free(t);
  }
  /* Four struct levels; the fifth object stays JSON text. */
  t = one_prop("{'type':'object','additionalProperties':false,'properties':{'a':{'type':'object',"
               "'additionalProperties':false,'properties':{'b':{'type':'object',"
               "'additionalProperties':false,'properties':{'c':{'type':'object',"
               "'additionalProperties':false,'properties':{'d':{'type':'object',"
               "'additionalProperties':false,'properties':{'e':{'type':'string'}}}}}}}}}}}",
               1);
  type = evp__col_type_text(col(t, "p"));
  ck_assert_str_eq(type, "struct<a:struct<b:struct<c:struct<d:string>>>>");
  free(type);
  evp__table_free(t);
  /* A field's bad description is the schema's error, naming the field. */
  expect_reject("{'type':'object','properties':{'c':{'type':'object','additionalProperties':false,"
                "'properties':{'n':{'type':'integer','description':5}}}}}",
                EVP_ERR_SCHEMA_INVALID, "property 'c.n'");
}
END_TEST

static void check_event(const evp__table_t *t, const char *sq, evp_err_t want, const char *reason,
                        const char *msg) {
  char *ev = dq(sq), err[256] = "";
  const char *why = NULL;
  evp_err_t e = evp__table_check_event(t, ev, strlen(ev), &why, err, sizeof err);
  ck_assert_msg(e == want, "%s: got %d (%s), want %d", sq, (int)e, err, (int)want);
  if (reason) ck_assert_msg(why && strcmp(why, reason) == 0, "%s: reason %s", sq, why);
  if (msg) ck_assert_msg(strstr(err, msg) != NULL, "%s: message '%s' lacks '%s'", sq, err, msg);
  free(ev);
}

/* A struct holds its declared fields only: a member it has no field for
 * would be lost in the lake, so the door refuses it (by the same rule the
 * row builder applies), like a value that fits no field. */
/* A schema of one object property "big" with @p n boolean fields whose
 * names are 128 characters but for the first @p shorter, of 127: its struct
 * type text is n * 137 - shorter + 7 characters. */
static evp__table_t *wide_struct(size_t n, size_t shorter, char *err, size_t errsz) {
  size_t cap = 256 + n * 200, o = 0;
  char *s = malloc(cap);
  ck_assert_ptr_nonnull(s);
  o += (size_t)snprintf(s + o, cap - o,
                        "{\"type\":\"object\",\"properties\":{\"big\":{\"type\":\"object\","
                        "\"additionalProperties\":false,\"properties\":{");
  for (size_t i = 0; i < n; i++)
    o += (size_t)snprintf(s + o, cap - o, "%s\"f%04zu%0*d\":{\"type\":\"boolean\"}", i ? "," : "",
                          i, i < shorter ? 122 : 123, 0);
  o += (size_t)snprintf(s + o, cap - o, "}}}}");
  evp__table_t *t = NULL;
  evp_err_t e = evp__table_parse(s, o, &t, err, errsz);
  free(s);
  ck_assert_msg(e == EVP_OK, "%s", err);
  return t;
}

/* Glue allows a column's Type 131,072 characters: a struct whose type text
 * would be longer stays JSON text, and every type the table gives fits. */
START_TEST(struct_type_text_fits_glue) {
  char err[256] = "";
  evp__table_t *t = wide_struct(957, 44, err, sizeof err); /* 131,072 characters: fits */
  const evp__column_t *c = col(t, "big");
  ck_assert_int_eq(c->type, EVP__COL_STRUCT);
  char *type = evp__col_type_text(c);
  ck_assert_uint_eq(strlen(type), EVP__TABLE_MAX_TYPE_TEXT);
  free(type);
  evp__table_free(t);
  t = wide_struct(957, 43, err, sizeof err); /* 131,073 */
  c = col(t, "big");
  ck_assert_int_eq(c->type, EVP__COL_STRING);
  ck_assert_int_eq(c->map, EVP__MAP_JSON_TEXT);
  ck_assert_uint_eq(t->nnodes, t->ndata); /* no field took a node */
  evp__table_free(t);
}
END_TEST

START_TEST(struct_values_checked_deeply) {
  evp__table_t *t = parse_ok(
      "{'type':'object','properties':{'c':{'type':'object','additionalProperties':false,"
      "'required':['n'],'properties':{'n':{'type':'integer'},'s':{'type':'string'},"
      "'d':{'type':'object','additionalProperties':false,'properties':{'x':{'type':'number'},"
      "'at':{'type':'string','format':'date-time'}}}}}}}");
  check_event(t, "{'c':{'n':1,'s':'a','d':{'x':1.5,'at':'2024-01-01T00:00:00Z'}}}", EVP_OK, NULL,
              NULL);
  check_event(t, "{'c':null}", EVP_OK, NULL, NULL);
  check_event(t, "{}", EVP_OK, NULL, NULL);
  check_event(t, "{'c':{'n':1,'s':null,'d':null}}", EVP_OK, NULL, NULL);
  check_event(t, "{'c':{'n':1,'ip':'1.2.3.4'}}", EVP_ERR_INVALID_EVENT,
              EVP__REASON_NOT_REPRESENTABLE, "/c/ip: the struct column has no field");
  check_event(t, "{'c':{'n':1,'n':2}}", EVP_ERR_INVALID_EVENT, EVP__REASON_DUPLICATE_MEMBER,
              "/c/n: the member");
  check_event(t, "{'c':{'s':'a'}}", EVP_ERR_INVALID_EVENT, EVP__REASON_NOT_REPRESENTABLE,
              "/c/n: the field is required");
  check_event(t, "{'c':{'n':null}}", EVP_ERR_INVALID_EVENT, EVP__REASON_NOT_REPRESENTABLE,
              "/c/n: the field is required");
  check_event(t, "{'c':{'n':1e19}}", EVP_ERR_INVALID_EVENT, EVP__REASON_NOT_REPRESENTABLE,
              "/c/n: 1e19 does not fit the field");
  check_event(t, "{'c':{'n':1,'d':{'x':1e400}}}", EVP_ERR_INVALID_EVENT,
              EVP__REASON_NOT_REPRESENTABLE, "/c/d/x: 1e400");
  check_event(t, "{'c':{'n':1,'d':{'at':'yesterday'}}}", EVP_ERR_INVALID_EVENT,
              EVP__REASON_NOT_REPRESENTABLE, "/c/d/at:");
  check_event(t, "{'c':{'n':1,'d':{'y':1}}}", EVP_ERR_INVALID_EVENT, EVP__REASON_NOT_REPRESENTABLE,
              "/c/d/y: the struct column has no field");
  check_event(t, "{'c':[1]}", EVP_ERR_INVALID_EVENT, EVP__REASON_NOT_REPRESENTABLE,
              "an object with the struct's fields");
  check_event(t, "{'c':{'n':1,'a':1,'b':2,'c':3,'d':null}}", EVP_ERR_INVALID_EVENT,
              EVP__REASON_NOT_REPRESENTABLE, "/c: the object has more members than the 3 fields");
  evp__table_free(t);
}
END_TEST

/* Athena's DDL parser refuses a reserved word (date, user, order, ...) or a
 * name starting with '_' as an unquoted identifier, also as a field name
 * inside struct<...>: the DDL quotes every field name as it quotes the
 * columns. The Glue Type string is not SQL and stays unquoted. */
START_TEST(ddl_quotes_struct_field_names) {
  evp__table_t *t = parse_ok(
      "{'type':'object','properties':{'c':{'type':'object','additionalProperties':false,"
      "'properties':{'date':{'type':'string'},'_id':{'type':'integer'},'order':{'type':'object',"
      "'additionalProperties':false,'properties':{'user':{'type':'boolean'}}}}}}}");
  char *s = ddl(t, NULL, "s3://my-lake/events", NULL);
  ck_assert_msg(strstr(s, "`c` struct<`date`:string,`_id`:bigint,`order`:struct<`user`:boolean>>"),
                "%s", s);
  free(s);
  evp__table_ddl_opts_t o = {NULL, "s3://my-lake/events", NULL};
  char err[256] = "";
  ck_assert_msg(evp__table_glue_input(t, &o, &s, err, sizeof err) == EVP_OK, "%s", err);
  ck_assert_msg(strstr(s, "\"struct<date:string,_id:bigint,order:struct<user:boolean>>\""), "%s",
                s);
  free(s);
  evp__table_free(t);
}
END_TEST

/* A bad description is the schema's error at any depth. Two levels down it
 * used to make the outer object JSON text without a word (the nested
 * struct's error was taken for a field that maps to no column), while one
 * level down it refused the schema. */
START_TEST(nested_bad_description_is_refused) {
  expect_reject("{'type':'object','properties':{'c':{'type':'object','additionalProperties':false,"
                "'properties':{'d':{'type':'object','additionalProperties':false,'properties':{"
                "'x':{'type':'string','description':5}}}}}}}",
                EVP_ERR_SCHEMA_INVALID, "property 'd.x'");
  expect_reject("{'type':'object','properties':{'c':{'type':'object','additionalProperties':false,"
                "'properties':{'d':{'type':'object','additionalProperties':false,'description':[],"
                "'properties':{'x':{'type':'string'}}}}}}}",
                EVP_ERR_SCHEMA_INVALID, "property 'c.d'");
  /* a field that maps to no column still only makes its object JSON text */
  evp__table_t *t = one_prop("{'type':'object','additionalProperties':false,'properties':{'d':{"
                             "'type':'object','additionalProperties':false,'properties':{'x':{"
                             "'type':['string','integer']}}}}}",
                             0);
  ck_assert_int_eq(col(t, "p")->type, EVP__COL_STRUCT);
  ck_assert_int_eq(col(t, "p")->fields[0].map, EVP__MAP_JSON_TEXT);
  evp__table_free(t);
}
END_TEST

int main(void) {
  Suite *s = suite_create("table");
  TCase *m = tcase_create("model");
  tcase_add_test(m, default_schema_columns);
  tcase_add_test(m, every_type_maps);
  tcase_add_test(m, type_names);
  tcase_add_test(m, order_descriptions_and_server_columns);
  tcase_add_test(m, from_parsed_cjson);
  tcase_add_test(m, rejects_bad_top_level);
  tcase_add_test(m, rejects_unmappable_properties);
  tcase_add_test(m, rejects_unsafe_and_reserved_names);
  tcase_add_test(m, name_length_limit);
  tcase_add_test(m, rejects_too_many_properties);
  tcase_add_test(m, rejects_bad_text);
  suite_add_tcase(s, m);
  TCase *g = tcase_create("generators");
  tcase_add_test(g, ddl_for_default_schema);
  tcase_add_test(g, ddl_options_and_escaping);
  tcase_add_test(g, ddl_rejects_bad_options);
  tcase_add_test(g, glue_for_default_schema);
  tcase_add_test(g, glue_comments_are_sanitized_and_bounded);
  tcase_add_test(g, glue_survives_allocation_failures);
  tcase_add_test(g, nul_in_a_name_is_not_cut);
  tcase_add_test(g, column_values_exact);
  tcase_add_test(g, nul_in_a_description_is_a_space);
  suite_add_tcase(s, g);
  TCase *st = tcase_create("structs");
  tcase_add_test(st, closed_objects_become_structs);
  tcase_add_test(st, struct_type_text_fits_glue);
  tcase_add_test(st, struct_values_checked_deeply);
  suite_add_tcase(s, st);
  TCase *dq = tcase_create("struct ddl");
  tcase_add_test(dq, ddl_quotes_struct_field_names);
  suite_add_tcase(s, dq);
  tcase_add_test(dq, nested_bad_description_is_refused);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
