/* Suite: the official JSON-Schema-Test-Suite, draft7. Every required test
 * must pass (exceptions are listed below, by name, with a reason); the
 * optional/ and optional/format/ directories are run and their pass rates
 * printed, because format and ECMA-262 regex details are best effort. */
#define _POSIX_C_SOURCE 200809L
#include "schema_suite.h"

/* Required tests that are allowed to fail: "file|group|test" and why.
 * (Currently none: the list exists so that an exception is never silent.) */
static const struct {
  const char *name;
  const char *reason;
} known_failures[] = {
    {"", ""},
};

static int is_known_failure(const char *name) {
  for (size_t i = 0; i < sizeof known_failures / sizeof known_failures[0]; i++)
    if (known_failures[i].name[0] && !strcmp(known_failures[i].name, name)) return 1;
  return 0;
}

typedef struct {
  int pass, fail, known;
} tally;

typedef struct {
  evp_schema_loader_t *l;
  evp_schema_ctx_t *ctx;
  int required;
  tally *t;
} run_t;

/* One group: its schema compiled from the file's own text, each instance
 * validated from its own text (schema_suite.h). */
static void run_group(void *opaque, const char *prefix, const char *stext, size_t slen,
                      const suite_test_t *tests, size_t n) {
  run_t *r = opaque;
  char err[512] = "";
  evp_err_t cerr;
  evp_schema_t *s = evp_schema_compile(stext, slen, r->l, &cerr, err, sizeof err);
  for (size_t i = 0; i < n; i++) {
    const suite_test_t *tc = &tests[i];
    char name[1100];
    snprintf(name, sizeof name, "%s|%s", prefix, tc->desc);
    int ok;
    const char *why = err;
    if (!s) {
      ok = 0;
    } else {
      evp_err_t rc = evp_schema_validate(s, r->ctx, tc->data, tc->data_len);
      ok = (rc == EVP_OK) == tc->valid && (rc == EVP_OK || rc == EVP_ERR_INVALID_EVENT);
      why = evp_schema_ctx_error_count(r->ctx) ? evp_schema_ctx_error_message(r->ctx, 0)
                                               : evp_err2name(rc);
    }
    if (ok)
      r->t->pass++;
    else if (r->required && is_known_failure(name))
      r->t->known++;
    else {
      r->t->fail++;
      if (r->required || getenv("EVP_SCHEMA_SUITE_VERBOSE"))
        fprintf(stderr, "%s FAIL %s (expected %s; %s)\n", r->required ? "required" : "optional",
                name, tc->valid ? "valid" : "invalid", why);
    }
  }
  evp_schema_destroy(s);
}

static void run_dir(evp_schema_loader_t *l, evp_schema_ctx_t *ctx, const char *dir,
                    const char *prefix, int required, tally *t) {
  run_t r = {l, ctx, required, t};
  suite_run_dir(dir, prefix, run_group, &r);
}

static evp_schema_loader_t *loader(void) { return suite_loader(); }

static evp_schema_ctx_t *context(void) {
  evp_schema_ctx_t *c = evp_schema_ctx_new();
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(evp_schema_ctx_set_limits(c, 0, 200, 10), EVP_OK);
  return c;
}

START_TEST(required_draft7_all_pass) {
  evp_schema_loader_t *l = loader();
  evp_schema_ctx_t *c = context();
  tally t = {0, 0, 0};
  run_dir(l, c, SUITE_DIR "/tests/draft7", "", 1, &t);
  printf("draft7 required: %d/%d passed, %d known exceptions\n", t.pass, t.pass + t.fail + t.known,
         t.known);
  ck_assert_int_gt(t.pass, 800); /* the suite was found and run */
  ck_assert_int_eq(t.fail, 0);
  evp_schema_ctx_destroy(c);
  evp_schema_loader_destroy(l);
}
END_TEST

START_TEST(optional_draft7_pass_rate) {
  evp_schema_loader_t *l = loader();
  evp_schema_ctx_t *c = context();
  tally t = {0, 0, 0}, f = {0, 0, 0};
  run_dir(l, c, SUITE_DIR "/tests/draft7/optional", "optional/", 0, &t);
  run_dir(l, c, SUITE_DIR "/tests/draft7/optional/format", "optional/format/", 0, &f);
  printf("draft7 optional: %d/%d passed (%.1f%%)\n", t.pass, t.pass + t.fail,
         100.0 * t.pass / (t.pass + t.fail));
  printf("draft7 optional/format: %d/%d passed (%.1f%%)\n", f.pass, f.pass + f.fail,
         100.0 * f.pass / (f.pass + f.fail));
  ck_assert_int_gt(t.pass + t.fail, 50);
  ck_assert_int_gt(f.pass + f.fail, 200);
  evp_schema_ctx_destroy(c);
  evp_schema_loader_destroy(l);
}
END_TEST

int main(void) {
  Suite *s = suite_create("schema_suite");
  TCase *tc = tcase_create("draft7");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, required_draft7_all_pass);
  tcase_add_test(tc, optional_draft7_pass_rate);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
