/* Suite: the JSON Schema API -- compile errors, error reports (paths,
 * keywords, modes), limits, hostile input and schemas, the loader, and
 * concurrent validation with one compiled schema. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "evpipe/evpipe.h"

static char err[512];

static evp_schema_t *compile_ok(const char *text) {
  evp_err_t rc = EVP_ERR_INTERNAL;
  evp_schema_t *s = evp_schema_compile(text, strlen(text), NULL, &rc, err, sizeof err);
  ck_assert_msg(s != NULL, "compile failed: %s", err);
  ck_assert_int_eq(rc, EVP_OK);
  return s;
}

static evp_err_t compile_err(const char *text, const evp_schema_loader_t *l) {
  evp_err_t rc = EVP_OK;
  err[0] = '\0';
  evp_schema_t *s = evp_schema_compile(text, strlen(text), l, &rc, err, sizeof err);
  ck_assert_ptr_null(s);
  ck_assert_msg(err[0] != '\0', "no message for %s", evp_err2name(rc));
  return rc;
}

static evp_schema_ctx_t *ctx_new(size_t max_errors) {
  evp_schema_ctx_t *c = evp_schema_ctx_new();
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(evp_schema_ctx_set_limits(c, 0, 0, max_errors), EVP_OK);
  return c;
}

static evp_err_t validate(const evp_schema_t *s, evp_schema_ctx_t *c, const char *json) {
  return evp_schema_validate(s, c, json, strlen(json));
}

/* ------------------------------------------------------------ compile errors */

START_TEST(compile_errors_have_codes_and_messages) {
  ck_assert_int_eq(compile_err("{\"type\": ", NULL), EVP_ERR_JSON);
  ck_assert_str_eq(err, "schema is not valid JSON: unexpected end of input at byte 9");
  ck_assert_int_eq(compile_err("{} x", NULL), EVP_ERR_JSON);
  ck_assert_int_eq(compile_err("{\"pattern\": \"(\"}", NULL), EVP_ERR_SCHEMA_REGEX);
  ck_assert_ptr_nonnull(strstr(err, "#"));
  ck_assert_int_eq(compile_err("{\"patternProperties\": {\"[z-a]\": {}}}", NULL),
                   EVP_ERR_SCHEMA_REGEX);
  ck_assert_ptr_nonnull(strstr(err, "#/patternProperties/[z-a]"));
  ck_assert_int_eq(compile_err("{\"pattern\": \"\\\\Qx\"}", NULL),
                   EVP_ERR_SCHEMA_REGEX); /* PCRE-only */
  ck_assert_int_eq(compile_err("{\"pattern\": \"(?i)x\"}", NULL), EVP_ERR_SCHEMA_REGEX);
  ck_assert_int_eq(compile_err("{\"$ref\": \"#/definitions/missing\"}", NULL), EVP_ERR_SCHEMA_REF);
  ck_assert_int_eq(compile_err("{\"$ref\": \"http://example.com/s.json\"}", NULL),
                   EVP_ERR_SCHEMA_REF);
  ck_assert_ptr_nonnull(strstr(err, "evp_schema_add_resource"));
  ck_assert_int_eq(compile_err("{\"$ref\": \"#\"}", NULL), EVP_ERR_SCHEMA_REF); /* pure cycle */
  ck_assert_int_eq(compile_err("{\"definitions\": {\"a\": {\"$ref\": \"#/definitions/b\"}, \"b\": "
                               "{\"$ref\": \"#/definitions/a\"}},"
                               " \"properties\": {\"x\": {\"$ref\": \"#/definitions/a\"}}}",
                               NULL),
                   EVP_ERR_SCHEMA_REF);
  ck_assert_int_eq(compile_err("{\"$ref\": \"#/enum/0\", \"enum\": [{}]}", NULL),
                   EVP_ERR_SCHEMA_REF);
  ck_assert_int_eq(compile_err("{\"type\": \"integr\"}", NULL), EVP_ERR_SCHEMA_INVALID);
  ck_assert_int_eq(compile_err("{\"minLength\": -1}", NULL), EVP_ERR_SCHEMA_INVALID);
  ck_assert_int_eq(compile_err("{\"maxItems\": 1.5}", NULL), EVP_ERR_SCHEMA_INVALID);
  ck_assert_int_eq(compile_err("{\"multipleOf\": 0}", NULL), EVP_ERR_SCHEMA_INVALID);
  ck_assert_int_eq(compile_err("{\"required\": [1]}", NULL), EVP_ERR_SCHEMA_INVALID);
  ck_assert_int_eq(compile_err("{\"anyOf\": []}", NULL), EVP_ERR_SCHEMA_INVALID);
  ck_assert_int_eq(compile_err("{\"properties\": {\"a\": 3}}", NULL), EVP_ERR_SCHEMA_INVALID);
  ck_assert_ptr_nonnull(strstr(err, "#/properties/a"));
  ck_assert_int_eq(compile_err("42", NULL), EVP_ERR_SCHEMA_INVALID);
  evp_err_t rc = EVP_OK;
  ck_assert_ptr_null(evp_schema_compile(NULL, 0, NULL, &rc, err, sizeof err));
  ck_assert_int_eq(rc, EVP_ERR_INVALID_ARG);
  ck_assert_ptr_null(
      evp_schema_compile("{", 1, NULL, NULL, NULL, 0)); /* NULL err outputs are fine */
}
END_TEST

START_TEST(deeply_nested_schema_is_refused_not_crashed) {
  size_t depth = 5000, n = 0;
  char *s = malloc(depth * 10 + 16);
  for (size_t i = 0; i < depth; i++) n += (size_t)sprintf(s + n, "{\"not\":");
  n += (size_t)sprintf(s + n, "{}");
  for (size_t i = 0; i < depth; i++) s[n++] = '}';
  evp_err_t rc = EVP_OK;
  ck_assert_ptr_null(evp_schema_compile(s, n, NULL, &rc, err, sizeof err));
  ck_assert_int_eq(rc, EVP_ERR_TOO_DEEP); /* cJSON stops at 1000 levels; we say why */
  ck_assert_str_eq(err, "schema nested deeper than 1000 levels");
  free(s);
}
END_TEST

/* ------------------------------------------------------------ error reports */

START_TEST(errors_report_paths_keyword_and_message) {
  evp_schema_t *s =
      compile_ok("{\"properties\": {\"a/b\": {\"properties\": {\"c~d\": {\"type\": \"integer\"}}},"
                 " \"list\": {\"items\": {\"minimum\": 3}}}, \"required\": [\"need\"]}");
  evp_schema_ctx_t *c = ctx_new(10);
  ck_assert_int_eq(validate(s, c, "{\"a/b\": {\"c~d\": 1.5}, \"list\": [5, 1], \"need\": 0}"),
                   EVP_ERR_INVALID_EVENT);
  ck_assert_uint_eq(evp_schema_ctx_error_count(c), 2);
  ck_assert_str_eq(evp_schema_ctx_error_instance_path(c, 0), "/a~1b/c~0d");
  ck_assert_str_eq(evp_schema_ctx_error_schema_path(c, 0),
                   "#/properties/a~1b/properties/c~0d/type");
  ck_assert_str_eq(evp_schema_ctx_error_keyword(c, 0), "type");
  ck_assert_str_eq(evp_schema_ctx_error_message(c, 0), "must be integer, not number");
  ck_assert_str_eq(evp_schema_ctx_error_instance_path(c, 1), "/list/1");
  ck_assert_str_eq(evp_schema_ctx_error_schema_path(c, 1), "#/properties/list/items/minimum");
  ck_assert_str_eq(evp_schema_ctx_error_message(c, 1), "must be >= 3");
  ck_assert_int_eq(evp_schema_ctx_errors_truncated(c), 0);
  ck_assert_ptr_null(evp_schema_ctx_error_message(c, 2));
  ck_assert_ptr_null(evp_schema_ctx_error_keyword(NULL, 0));
  /* a valid document clears the previous errors */
  ck_assert_int_eq(validate(s, c, "{\"need\": 1}"), EVP_OK);
  ck_assert_uint_eq(evp_schema_ctx_error_count(c), 0);
  ck_assert_int_eq(validate(s, c, "{}"), EVP_ERR_INVALID_EVENT);
  ck_assert_str_eq(evp_schema_ctx_error_instance_path(c, 0), "");
  ck_assert_str_eq(evp_schema_ctx_error_keyword(c, 0), "required");
  ck_assert_str_eq(evp_schema_ctx_error_message(c, 0), "missing required property \"need\"");
  evp_schema_ctx_destroy(c);
  evp_schema_destroy(s);
}
END_TEST

START_TEST(first_error_mode_and_collect_mode) {
  evp_schema_t *s = compile_ok("{\"items\": {\"type\": \"string\"}}");
  evp_schema_ctx_t *one = ctx_new(1), *three = ctx_new(3), *many = ctx_new(100);
  const char *doc = "[1, 2, 3, 4, 5]";
  ck_assert_int_eq(validate(s, one, doc), EVP_ERR_INVALID_EVENT);
  ck_assert_uint_eq(evp_schema_ctx_error_count(one), 1);
  ck_assert_str_eq(evp_schema_ctx_error_instance_path(one, 0), "/0");
  ck_assert_int_eq(evp_schema_ctx_errors_truncated(one),
                   0); /* stop-at-first promises nothing more */
  ck_assert_int_eq(validate(s, three, doc), EVP_ERR_INVALID_EVENT);
  ck_assert_uint_eq(evp_schema_ctx_error_count(three), 3);
  ck_assert_int_eq(evp_schema_ctx_errors_truncated(three), 1);
  ck_assert_str_eq(evp_schema_ctx_error_instance_path(three, 2), "/2");
  ck_assert_int_eq(validate(s, many, doc), EVP_ERR_INVALID_EVENT);
  ck_assert_uint_eq(evp_schema_ctx_error_count(many), 5);
  ck_assert_int_eq(evp_schema_ctx_errors_truncated(many), 0);
  evp_schema_ctx_destroy(one);
  evp_schema_ctx_destroy(three);
  evp_schema_ctx_destroy(many);
  evp_schema_destroy(s);
}
END_TEST

START_TEST(combinator_errors_do_not_leak_branch_errors) {
  evp_schema_t *s = compile_ok(
      "{\"anyOf\": [{\"type\": \"string\"}, {\"minimum\": 10}], \"not\": {\"const\": 50},"
      " \"oneOf\": [{\"minimum\": 0}, {\"maximum\": 100}]}");
  evp_schema_ctx_t *c = ctx_new(10);
  ck_assert_int_eq(validate(s, c, "5"), EVP_ERR_INVALID_EVENT);
  ck_assert_uint_eq(evp_schema_ctx_error_count(c), 2);
  ck_assert_str_eq(evp_schema_ctx_error_keyword(c, 0), "anyOf");
  ck_assert_str_eq(evp_schema_ctx_error_keyword(c, 1), "oneOf");
  ck_assert_ptr_nonnull(strstr(evp_schema_ctx_error_message(c, 1), "matches 0 and 1"));
  ck_assert_int_eq(validate(s, c, "50"), EVP_ERR_INVALID_EVENT);
  ck_assert_uint_eq(evp_schema_ctx_error_count(c), 2);
  ck_assert_str_eq(evp_schema_ctx_error_keyword(c, 0), "oneOf");
  ck_assert_str_eq(evp_schema_ctx_error_keyword(c, 1), "not");
  ck_assert_str_eq(evp_schema_ctx_error_schema_path(c, 1), "#/not");
  ck_assert_int_eq(validate(s, c, "\"x\""), EVP_ERR_INVALID_EVENT); /* oneOf: both match a string */
  ck_assert_int_eq(validate(s, c, "150"), EVP_OK);
  evp_schema_ctx_destroy(c);
  evp_schema_destroy(s);
}
END_TEST

/* ------------------------------------------------------------ semantics */

START_TEST(semantics_spot_checks) {
  evp_schema_ctx_t *c = ctx_new(1);
  evp_schema_t *s = compile_ok("{\"type\": \"integer\"}");
  ck_assert_int_eq(validate(s, c, "1.0"), EVP_OK);
  ck_assert_int_eq(validate(s, c, "1e2"), EVP_OK);
  ck_assert_int_eq(validate(s, c, "-0"), EVP_OK);
  ck_assert_int_eq(validate(s, c, "1.5"), EVP_ERR_INVALID_EVENT);
  evp_schema_destroy(s);
  s = compile_ok("{\"type\": [\"integer\", \"number\", \"null\"], \"minLength\": 1}");
  ck_assert_int_eq(validate(s, c, "\"x\""), EVP_ERR_INVALID_EVENT);
  ck_assert_str_eq(evp_schema_ctx_error_message(c, 0), "must be null or number, not string");
  evp_schema_destroy(s);
  s = compile_ok("{\"minLength\": 1, \"maxItems\": 2}");
  ck_assert_int_eq(validate(s, c, "\"\""), EVP_ERR_INVALID_EVENT);
  ck_assert_str_eq(evp_schema_ctx_error_message(c, 0), "must be at least 1 character long");
  ck_assert_int_eq(validate(s, c, "[1,2,3]"), EVP_ERR_INVALID_EVENT);
  ck_assert_str_eq(evp_schema_ctx_error_message(c, 0), "must have at most 2 items");
  evp_schema_destroy(s);
  s = compile_ok("{\"maxLength\": 2, \"minLength\": 2}"); /* code points, not bytes */
  ck_assert_int_eq(validate(s, c, "\"\\u00e9\\ud83d\\ude00\""), EVP_OK);
  ck_assert_int_eq(validate(s, c, "\"\xc3\xa9\xf0\x9f\x98\x80\""), EVP_OK);
  ck_assert_int_eq(validate(s, c, "\"\xc3\xa9\""), EVP_ERR_INVALID_EVENT);
  evp_schema_destroy(s);
  s = compile_ok("{\"uniqueItems\": true}");
  char big[4096];
  size_t n = (size_t)sprintf(big, "[");
  for (int i = 0; i < 100; i++)
    n += (size_t)sprintf(big + n, "%s{\"k\":[%d,\"x\"],\"z\":1}", i ? "," : "", i);
  sprintf(big + n, "]");
  ck_assert_int_eq(validate(s, c, big), EVP_OK); /* the hashing path (> 16 items) */
  sprintf(big + n, ",{\"z\":1.0,\"k\":[42,\"x\"]}]");
  ck_assert_int_eq(validate(s, c, big), EVP_ERR_INVALID_EVENT);
  ck_assert_ptr_nonnull(strstr(evp_schema_ctx_error_message(c, 0), "items 42 and 100"));
  evp_schema_destroy(s);
  s = compile_ok("{\"pattern\": \"^\\\\d+$\"}"); /* \d is ASCII-only, as in ECMA-262 */
  ck_assert_int_eq(validate(s, c, "\"123\""), EVP_OK);
  ck_assert_int_eq(validate(s, c, "\"\xe0\xa7\xaa\""), EVP_ERR_INVALID_EVENT);
  ck_assert_int_eq(validate(s, c, "\"123\\n\""), EVP_ERR_INVALID_EVENT); /* $ is the very end */
  evp_schema_destroy(s);
  s = compile_ok("{\"pattern\": \"^\\\\s$\"}"); /* \s is Unicode white space */
  ck_assert_int_eq(validate(s, c, "\"\\u00a0\""), EVP_OK);
  ck_assert_int_eq(validate(s, c, "\"\\ufeff\""), EVP_OK);
  ck_assert_int_eq(validate(s, c, "\"x\""), EVP_ERR_INVALID_EVENT);
  evp_schema_destroy(s);
  s = compile_ok("{\"format\": \"date-time\"}");
  ck_assert_int_eq(validate(s, c, "\"2024-02-29T22:59:60Z\""),
                   EVP_ERR_INVALID_EVENT); /* leap second not at 23:59 UTC */
  ck_assert_int_eq(validate(s, c, "\"2024-02-29T10:00:00.5+02:00\""), EVP_OK);
  ck_assert_int_eq(validate(s, c, "\"2023-02-29T10:00:00Z\""), EVP_ERR_INVALID_EVENT);
  ck_assert_int_eq(validate(s, c, "7"), EVP_OK); /* formats ignore other types */
  evp_schema_destroy(s);
  s = compile_ok("{\"format\": \"no-such-format\"}");
  ck_assert_int_eq(validate(s, c, "\"anything\""), EVP_OK);
  evp_schema_destroy(s);
  evp_schema_ctx_destroy(c);
}
END_TEST

/* ------------------------------------------------------------ loader */

START_TEST(loader_resources_and_options) {
  evp_schema_loader_t *l = evp_schema_loader_new();
  ck_assert_ptr_nonnull(l);
  const char *r = "{\"definitions\": {\"id\": {\"type\": \"string\", \"format\": \"uuid\"}}}";
  ck_assert_int_eq(
      evp_schema_add_resource(l, "https://example.com/common.json#", r, strlen(r), err, sizeof err),
      EVP_OK);
  ck_assert_int_eq(
      evp_schema_add_resource(l, "https://example.com/common.json", r, strlen(r), err, sizeof err),
      EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(
      evp_schema_add_resource(l, "https://example.com/x#frag", r, strlen(r), err, sizeof err),
      EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp_schema_add_resource(l, "", r, strlen(r), err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(
      evp_schema_add_resource(l, "https://example.com/bad.json", "{", 1, err, sizeof err),
      EVP_ERR_JSON);
  ck_assert_int_eq(evp_schema_add_resource(NULL, "u", r, strlen(r), err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  const char *text = "{\"$id\": \"https://example.com/event.json\", \"properties\": {\"id\": "
                     "{\"$ref\": \"common.json#/definitions/id\"}}}";
  evp_schema_t *s = evp_schema_compile(text, strlen(text), l, NULL, err, sizeof err);
  ck_assert_msg(s != NULL, "%s", err);
  evp_schema_ctx_t *c = ctx_new(1);
  ck_assert_int_eq(validate(s, c, "{\"id\": \"3f1b6c2e-8a4d-4f7e-9b21-0c5d7e9a1f34\"}"), EVP_OK);
  ck_assert_int_eq(validate(s, c, "{\"id\": \"nope\"}"), EVP_ERR_INVALID_EVENT);
  ck_assert_str_eq(evp_schema_ctx_error_schema_path(c, 0),
                   "https://example.com/common.json#/definitions/id/format");
  evp_schema_destroy(s);
  /* format as annotation only */
  evp_schema_loader_set_format_assert(l, 0);
  s = evp_schema_compile(text, strlen(text), l, NULL, err, sizeof err);
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(validate(s, c, "{\"id\": \"nope\"}"), EVP_OK);
  evp_schema_destroy(s);
  /* the meta-schema is built in */
  s = compile_ok("{\"$ref\": \"http://json-schema.org/draft-07/schema#\"}");
  ck_assert_int_eq(validate(s, c, "{\"type\": \"string\", \"minLength\": 2}"), EVP_OK);
  ck_assert_int_eq(validate(s, c, "{\"minLength\": -2}"), EVP_ERR_INVALID_EVENT);
  evp_schema_destroy(s);
  evp_schema_ctx_destroy(c);
  evp_schema_loader_destroy(l); /* schemas never depend on the loader */
  evp_schema_loader_destroy(NULL);
}
END_TEST

/* ------------------------------------------------------------ limits */

START_TEST(limits_and_hostile_instances) {
  evp_schema_t *s = compile_ok("{}");
  evp_schema_ctx_t *c = ctx_new(5);
  ck_assert_int_eq(evp_schema_ctx_set_limits(c, 0, EVP_SCHEMA_MAX_DEPTH_LIMIT + 1, 0),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp_schema_ctx_set_limits(c, 0, -1, 0), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp_schema_ctx_set_limits(c, 0, 0, EVP_SCHEMA_MAX_ERRORS_LIMIT + 1),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp_schema_ctx_set_limits(NULL, 0, 0, 0), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp_schema_ctx_set_limits(c, 64, 8, 5), EVP_OK);
  ck_assert_int_eq(validate(s, c, "[[[[[[[[1]]]]]]]]"), EVP_OK);
  ck_assert_int_eq(validate(s, c, "[[[[[[[[[1]]]]]]]]]"), EVP_ERR_TOO_DEEP);
  ck_assert_str_eq(evp_schema_ctx_error_keyword(c, 0), "limit");
  ck_assert_int_eq(
      validate(s, c, "\"0123456789012345678901234567890123456789012345678901234567890123\""),
      EVP_ERR_TOO_LARGE);
  ck_assert_ptr_nonnull(strstr(evp_schema_ctx_error_message(c, 0), "exceeds the limit of 64"));
  ck_assert_int_eq(evp_schema_ctx_set_limits(c, 0, 0, 5), EVP_OK);
  /* 100000 open brackets with the default depth limit */
  size_t n = 100000;
  char *deep = malloc(n);
  memset(deep, '[', n);
  ck_assert_int_eq(evp_schema_validate(s, c, deep, n), EVP_ERR_TOO_DEEP);
  free(deep);
  static const struct {
    const char *doc;
    const char *msg;
  } bad[] = {
      {"{\"a\":1,}", "object key expected at byte 7"},
      {"[1 2]", "',' or ']' expected at byte 3"},
      {"01", "trailing characters after the JSON value at byte 1"},
      {"\"\\ud800\"", "lone high surrogate at byte 1"},
      {"\"\xff\"", "invalid UTF-8 in string at byte 1"},
      {"\"\xc0\xaf\"", "invalid UTF-8 in string at byte 1"},
      {"\"a\tb\"", "control character in string at byte 2"},
      {"1.", "bad number: digit expected after '.' at byte 2"},
      {"nul", "invalid literal at byte 0"},
      {"", "unexpected end of input at byte 0"},
      {"{\"a\" 1}", "':' expected at byte 5"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_int_eq(validate(s, c, bad[i].doc), EVP_ERR_JSON);
    ck_assert_uint_eq(evp_schema_ctx_error_count(c), 1);
    ck_assert_str_eq(evp_schema_ctx_error_keyword(c, 0), "parse");
    ck_assert_str_eq(evp_schema_ctx_error_message(c, 0), bad[i].msg);
  }
  ck_assert_int_eq(evp_schema_validate(s, c, "1", 0),
                   EVP_ERR_JSON); /* length, not NUL, bounds the text */
  ck_assert_int_eq(evp_schema_validate(s, c, "[1]xyz", 3), EVP_OK);
  ck_assert_int_eq(evp_schema_validate(NULL, c, "1", 1), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp_schema_validate(s, NULL, "1", 1), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp_schema_validate(s, c, NULL, 1), EVP_ERR_INVALID_ARG);
  evp_schema_ctx_destroy(c);
  evp_schema_destroy(s);
}
END_TEST

START_TEST(hostile_schemas_are_bounded) {
  evp_schema_ctx_t *c = ctx_new(1);
  /* infinite recursion through a combinator: bounded, reported, no crash */
  evp_schema_t *s = compile_ok("{\"allOf\": [{\"$ref\": \"#\"}]}");
  ck_assert_int_eq(validate(s, c, "1"), EVP_ERR_TOO_DEEP);
  ck_assert_str_eq(evp_schema_ctx_error_keyword(c, 0), "limit");
  evp_schema_destroy(s);
  /* recursion that consumes the instance is fine */
  s = compile_ok("{\"items\": {\"$ref\": \"#\"}, \"type\": \"array\"}");
  ck_assert_int_eq(validate(s, c, "[[[]],[]]"), EVP_OK);
  ck_assert_int_eq(validate(s, c, "[[1]]"), EVP_ERR_INVALID_EVENT);
  evp_schema_destroy(s);
  /* exponential anyOf fan-out: 2^40 paths are cut off by the work limit */
  char text[8192];
  size_t n = (size_t)sprintf(text, "{\"$ref\": \"#/definitions/l0\", \"definitions\": {");
  for (int i = 0; i < 40; i++)
    n += (size_t)sprintf(text + n,
                         "\"l%d\": {\"anyOf\": [{\"$ref\": \"#/definitions/l%d\"}, {\"$ref\": "
                         "\"#/definitions/l%d\"}]},",
                         i, i + 1, i + 1);
  sprintf(text + n, "\"l40\": {\"type\": \"string\"}}}");
  s = compile_ok(text);
  ck_assert_int_eq(validate(s, c, "1"), EVP_ERR_TOO_LARGE); /* returns at all: 2^40 would not */
  ck_assert_str_eq(evp_schema_ctx_error_keyword(c, 0), "limit");
  evp_schema_destroy(s);
  /* catastrophic backtracking hits the regex match limit (or JIT copes) */
  s = compile_ok("{\"pattern\": \"^(a|aa)+$\"}");
  char subj[80];
  memset(subj, 'a', sizeof subj);
  subj[0] = '"';
  subj[sizeof subj - 3] = 'b';
  subj[sizeof subj - 2] = '"';
  subj[sizeof subj - 1] = '\0';
  evp_err_t rc = validate(s, c, subj);
  ck_assert(rc == EVP_ERR_TOO_LARGE || rc == EVP_ERR_INVALID_EVENT);
  evp_schema_destroy(s);
  evp_schema_ctx_destroy(c);
}
END_TEST

/* ------------------------------------------------------------ threads */

typedef struct {
  const evp_schema_t *s;
  int bad;
} thread_arg;

static void *worker(void *p) {
  thread_arg *a = p;
  evp_schema_ctx_t *c = evp_schema_ctx_new();
  evp_schema_ctx_set_limits(c, 0, 0, 5);
  for (int i = 0; i < 2000 && c; i++) {
    char doc[128];
    snprintf(doc, sizeof doc, "{\"id\": \"u-%d\", \"n\": %d, \"tags\": [\"a\", \"b%d\"]}", i, i, i);
    evp_err_t rc = evp_schema_validate(a->s, c, doc, strlen(doc));
    int want_ok = i % 3 != 0;
    if ((rc == EVP_OK) != want_ok) a->bad++;
    if (rc == EVP_ERR_INVALID_EVENT && strcmp(evp_schema_ctx_error_instance_path(c, 0), "/n"))
      a->bad++;
  }
  if (!c) a->bad++;
  evp_schema_ctx_destroy(c);
  return NULL;
}

START_TEST(one_schema_many_threads) {
  evp_schema_t *s =
      compile_ok("{\"properties\": {\"id\": {\"pattern\": \"^u-[0-9]+$\"},"
                 " \"n\": {\"not\": {\"multipleOf\": 3}}, \"tags\": {\"uniqueItems\": true}}}");
  pthread_t t[4];
  thread_arg a[4];
  for (int i = 0; i < 4; i++) {
    a[i] = (thread_arg){s, 0};
    ck_assert_int_eq(pthread_create(&t[i], NULL, worker, &a[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    ck_assert_int_eq(a[i].bad, 0);
  }
  evp_schema_destroy(s);
}
END_TEST

int main(void) {
  Suite *s = suite_create("schema");
  TCase *tc = tcase_create("api");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, compile_errors_have_codes_and_messages);
  tcase_add_test(tc, deeply_nested_schema_is_refused_not_crashed);
  tcase_add_test(tc, errors_report_paths_keyword_and_message);
  tcase_add_test(tc, first_error_mode_and_collect_mode);
  tcase_add_test(tc, combinator_errors_do_not_leak_branch_errors);
  tcase_add_test(tc, semantics_spot_checks);
  tcase_add_test(tc, loader_resources_and_options);
  tcase_add_test(tc, limits_and_hostile_instances);
  tcase_add_test(tc, hostile_schemas_are_bounded);
  tcase_add_test(tc, one_schema_many_threads);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
