/* Suite: allocation failures in the JSON Schema code. malloc/calloc/realloc
 * are interposed (glibc) to fail the Nth call; for every N the compiler,
 * the context constructor and validation must return EVP_ERR_NOMEM (or
 * succeed), never crash, leak or give a wrong verdict. Sanitizer builds and
 * valgrind own malloc themselves, so there the suite only reports a skip. */
#define _GNU_SOURCE
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "schema/schema.h"
#include "evpipe/evpipe.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || !defined(__GLIBC__)
#define INTERPOSE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define INTERPOSE 0
#endif
#endif
#ifndef INTERPOSE
#define INTERPOSE 1
#endif

static long fail_at = -1; /* index of the allocation to fail; -1: none */
static long calls;

#if INTERPOSE
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static int should_fail(void) { return fail_at >= 0 && calls++ == fail_at; }
/* default visibility: the build hides symbols, and shared libraries (cJSON,
 * PCRE2) must bind to these too */
#define EXPORT __attribute__((visibility("default")))
EXPORT void *malloc(size_t n) { return should_fail() ? NULL : __libc_malloc(n); }
EXPORT void *calloc(size_t a, size_t b) { return should_fail() ? NULL : __libc_calloc(a, b); }
EXPORT void *realloc(void *p, size_t n) { return should_fail() ? NULL : __libc_realloc(p, n); }
#endif

static const char schema_text[] =
    "{\"$id\": \"http://x.example/root.json\", \"definitions\": {\"pos\": {\"type\": \"integer\", "
    "\"minimum\": 1}},"
    " \"type\": \"object\", \"required\": [\"id\", \"n\"],"
    " \"properties\": {\"id\": {\"type\": \"string\", \"format\": \"uuid\"},"
    "   \"n\": {\"$ref\": \"#/definitions/pos\"}, \"r\": {\"$ref\": \"other.json#/definitions/s\"},"
    "   \"tags\": {\"type\": \"array\", \"uniqueItems\": true, \"items\": {\"anyOf\": [{\"type\": "
    "\"integer\"},"
    "     {\"enum\": [\"a\", \"b\", \"c\", \"a\\u00e9\", {\"k\": [1]}]}]}},"
    "   \"name\": {\"pattern\": \"^[a-z]+(\\\\.[a-z]+)*$\"}},"
    " \"patternProperties\": {\"^x-\": {\"type\": \"string\"}}, \"additionalProperties\": false}";
static const char other_text[] =
    "{\"definitions\": {\"s\": {\"type\": \"string\", \"maxLength\": 3}}}";
static const char valid_doc[] = "{\"id\": \"3f1b6c2e-8a4d-4f7e-9b21-0c5d7e9a1f34\", \"n\": 2, "
                                "\"r\": \"abc\", \"name\": \"a.b\","
                                " \"tags\": [\"a\", \"b\", \"c\", \"a\\u00e9\", {\"k\": [1]}, 1, "
                                "2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17],"
                                " \"x-y\": \"\\n\"}";
static const char invalid_doc[] =
    "{\"id\": \"nope\", \"n\": 0, \"r\": \"abcd\", \"name\": \"A\", \"zz\": 1, \"x-1\": 2,"
    " \"tags\": [\"a\", \"a\", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]}";

/* What went wrong in run_once(), checked after injection stops (Check's own
 * assertions allocate, so none may run while allocations can fail). */
static char problem[512];

#define EXPECT(cond, ...)                                                       \
  do {                                                                          \
    if (!(cond) && !problem[0]) snprintf(problem, sizeof problem, __VA_ARGS__); \
  } while (0)

typedef struct {
  size_t n;
  evp_err_t e[2];
} verdicts_t;

static int collect(void *opaque, size_t i, const char *v, size_t n, evp_err_t verdict) {
  (void)v;
  (void)n;
  verdicts_t *r = opaque;
  if (i < 2) r->e[i] = verdict;
  r->n++;
  return 0;
}

/* Compile @p text (resources from @p l, may be NULL) and make a context
 * for it: 0 with both, 1 (nothing to free) when an allocation failed, which
 * compile must report as EVP_ERR_NOMEM. */
static int compile_with_ctx(const char *text, evp_schema_loader_t *l, evp_schema_t **s,
                            evp_schema_ctx_t **c) {
  char err[256];
  evp_err_t rc;
  *c = NULL;
  if (!(*s = evp_schema_compile(text, strlen(text), l, &rc, err, sizeof err))) {
    EXPECT(rc == EVP_ERR_NOMEM, "compile: %s: %s", evp_err2name(rc), err);
    return 1;
  }
  if (!(*c = evp_schema_ctx_new())) {
    evp_schema_destroy(*s);
    return 1;
  }
  return 0;
}

/* One full run: loader, compile, context, two validations (alone, then as
 * one body's events). Returns 1 when
 * an allocation failure was reported (as EVP_ERR_NOMEM or a NULL object). */
static int run_once(void) {
  char err[256];
  evp_err_t rc;
  int hit = 0;
  evp_schema_loader_t *l = evp_schema_loader_new();
  if (!l) return 1;
  rc = evp_schema_add_resource(l, "http://x.example/other.json", other_text, strlen(other_text),
                               err, sizeof err);
  if (rc != EVP_OK) {
    EXPECT(rc == EVP_ERR_NOMEM, "add_resource: %s: %s", evp_err2name(rc), err);
    evp_schema_loader_destroy(l);
    return 1;
  }
  evp_schema_t *s;
  evp_schema_ctx_t *c;
  int failed = compile_with_ctx(schema_text, l, &s, &c);
  evp_schema_loader_destroy(l);
  if (failed) return 1;
  EXPECT(evp_schema_ctx_set_limits(c, 0, 0, 20) == EVP_OK, "set_limits");
  rc = evp_schema_validate(s, c, valid_doc, strlen(valid_doc));
  EXPECT(rc == EVP_OK || rc == EVP_ERR_NOMEM, "valid doc: %s: %s", evp_err2name(rc),
         evp_schema_ctx_error_count(c) ? evp_schema_ctx_error_message(c, 0) : "");
  hit |= rc == EVP_ERR_NOMEM;
  rc = evp_schema_validate(s, c, invalid_doc, strlen(invalid_doc));
  EXPECT(rc == EVP_ERR_INVALID_EVENT || rc == EVP_ERR_NOMEM, "invalid doc: %s", evp_err2name(rc));
  if (rc == EVP_ERR_INVALID_EVENT) {
    EXPECT(evp_schema_ctx_error_count(c) >= 1, "invalid doc without errors");
    for (size_t i = 0; i < evp_schema_ctx_error_count(c); i++)
      EXPECT(evp_schema_ctx_error_message(c, i) != NULL, "error %zu without message", i);
  }
  hit |= rc == EVP_ERR_NOMEM;
  /* The same two documents as the events of one body, validated on the
   * body's parse (POST /events): -2 when the parse ran out of memory. */
  char body[sizeof valid_doc + sizeof invalid_doc + 32];
  snprintf(body, sizeof body, "{\"events\":[%s,%s]}", valid_doc, invalid_doc);
  verdicts_t v = {0};
  int each = evp__schema_validate_each(s, c, body, strlen(body), "events", 16, collect, &v);
  EXPECT(each == 0 || each == -2, "validate_each: %d", each);
  if (each == 0) {
    EXPECT(v.n == 2, "validate_each: %zu elements", v.n);
    EXPECT(v.e[0] == EVP_OK || v.e[0] == EVP_ERR_NOMEM, "each valid: %s", evp_err2name(v.e[0]));
    EXPECT(v.e[1] == EVP_ERR_INVALID_EVENT || v.e[1] == EVP_ERR_NOMEM, "each invalid: %s",
           evp_err2name(v.e[1]));
  }
  hit |= each == -2 || v.e[0] == EVP_ERR_NOMEM || v.e[1] == EVP_ERR_NOMEM;
  evp_schema_ctx_destroy(c);
  evp_schema_destroy(s);
  return hit;
}

/* Run @p run clean, count its allocations, then fail each one in turn:
 * every run must report a problem-free outcome. The number of runs that saw
 * the failure reported goes to *failed_runs; returns the count. */
static long fail_each(int (*run)(void), long *failed_runs) {
  problem[0] = '\0';
  fail_at = -1;
  calls = 0;
  ck_assert_int_eq(run(), 0);
  ck_assert_msg(!problem[0], "%s", problem);
  fail_at = LONG_MAX; /* count without failing (1L << 40 overflowed a 32-bit long) */
  calls = 0;
  int r = run();
  long total = calls;
  fail_at = -1;
  ck_assert_int_eq(r, 0);
  *failed_runs = 0;
  for (long k = 0; k < total; k++) {
    fail_at = k;
    calls = 0;
    r = run();
    fail_at = -1;
    ck_assert_msg(!problem[0], "failing allocation %ld: %s", k, problem);
    *failed_runs += r != 0;
  }
  return total;
}

START_TEST(every_allocation_failure_is_reported) {
  if (!INTERPOSE || getenv("EVP_VALGRIND")) {
    printf("schema_nomem: skipped (sanitizer or valgrind owns malloc)\n");
    return;
  }
  long failed_runs, total = fail_each(run_once, &failed_runs);
  ck_assert_int_gt(total, 20);
  printf("schema_nomem: %ld allocation points, %ld runs saw the failure reported\n", total,
         failed_runs);
  ck_assert_int_gt(failed_runs, total / 2); /* the failures really were injected */
}
END_TEST

/* A schema whose string holds "\u0000": the loader rewrites it into a copy
 * first, and that copy's allocation failing must be EVP_ERR_NOMEM, not a
 * schema compiled from the original text (cJSON cuts the string at the NUL,
 * so const "a\u0000b" would become const "a"). */
static const char nul_schema[] = "{\"const\": \"a\\u0000b\"}";

static int run_nul_once(void) {
  evp_schema_t *s;
  evp_schema_ctx_t *c;
  if (compile_with_ctx(nul_schema, NULL, &s, &c)) return 1;
  evp_err_t rc = evp_schema_validate(s, c, "\"a\"", 3);
  EXPECT(rc == EVP_ERR_INVALID_EVENT || rc == EVP_ERR_NOMEM,
         "\"a\" against const \"a\\u0000b\": %s", evp_err2name(rc));
  int hit = rc == EVP_ERR_NOMEM;
  rc = evp_schema_validate(s, c, "\"a\\u0000b\"", 10);
  EXPECT(rc == EVP_OK || rc == EVP_ERR_NOMEM, "\"a\\u0000b\" against its own const: %s",
         evp_err2name(rc));
  hit |= rc == EVP_ERR_NOMEM;
  evp_schema_ctx_destroy(c);
  evp_schema_destroy(s);
  return hit;
}

START_TEST(nul_escape_copy_failure_is_reported) {
  if (!INTERPOSE || getenv("EVP_VALGRIND")) {
    printf("schema_nomem: skipped (sanitizer or valgrind owns malloc)\n");
    return;
  }
  long failed_runs;
  ck_assert_int_gt(fail_each(run_nul_once, &failed_runs), 2);
  ck_assert_int_gt(failed_runs, 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("schema_nomem");
  TCase *tc = tcase_create("nomem");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, every_allocation_failure_is_reported);
  tcase_add_test(tc, nul_escape_copy_failure_is_reported);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
