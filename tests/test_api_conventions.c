/* Suite: the conventions common.h states for every public header, checked
 * across the headers' constructors and destructors (the Lambda runtime's are
 * checked in test_lambda.c):
 *  - a constructor that can fail for other reasons than memory writes the
 *    reason to errstr, and accepts errstr NULL / size 0;
 *  - a memory-only constructor takes no error parameters and succeeds;
 *  - evp_schema_compile() and evp_client_create() report their code through
 *    the optional errp;
 *  - every destructor is a no-op for NULL. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "evpipe/evpipe.h"

static const unsigned char key32[32] = "0123456789abcdef0123456789abcdef";

START_TEST(fallible_constructors_say_why_in_errstr) {
  char err[256];
  evp_keyring_t *empty = evp_keyring_new();
  ck_assert_ptr_nonnull(empty);

  err[0] = '\0';
  ck_assert_ptr_null(evp_jwt_signer_new(empty, err, sizeof err)); /* no key */
  ck_assert_msg(err[0] != '\0', "signer: no reason");
  err[0] = '\0';
  ck_assert_ptr_null(evp_jwt_signer_new(NULL, err, sizeof err));
  ck_assert_msg(err[0] != '\0', "signer(NULL): no reason");
  err[0] = '\0';
  ck_assert_ptr_null(evp_jwt_verifier_new(NULL, err, sizeof err));
  ck_assert_msg(err[0] != '\0', "verifier(NULL): no reason");

  evp_conf_t *conf = evp_conf_new(); /* no endpoint: unusable */
  ck_assert_ptr_nonnull(conf);
  err[0] = '\0';
  ck_assert_ptr_null(evp_client_new(conf, err, sizeof err));
  ck_assert_msg(err[0] != '\0', "client: no reason");

  /* errstr is optional: NULL with size 0 is accepted. */
  ck_assert_ptr_null(evp_jwt_signer_new(empty, NULL, 0));
  ck_assert_ptr_null(evp_jwt_verifier_new(NULL, NULL, 0));
  ck_assert_ptr_null(evp_client_new(conf, NULL, 0));

  evp_conf_destroy(conf); /* still ours: evp_client_new failed */
  evp_keyring_destroy(empty);
}
END_TEST

START_TEST(successful_constructors_return_handles) {
  char err[256] = "";
  evp_keyring_t *kr = evp_keyring_new();
  ck_assert_ptr_nonnull(kr);
  ck_assert_int_eq(evp_keyring_add(kr, "k1", key32, sizeof key32, err, sizeof err), EVP_OK);
  evp_jwt_signer_t *s = evp_jwt_signer_new(kr, err, sizeof err);
  ck_assert_msg(s != NULL, "%s", err);
  evp_jwt_verifier_t *v = evp_jwt_verifier_new(kr, NULL, 0);
  ck_assert_ptr_nonnull(v);
  /* Memory-only constructors take no error parameters. */
  evp_schema_loader_t *l = evp_schema_loader_new();
  ck_assert_ptr_nonnull(l);
  evp_schema_ctx_t *c = evp_schema_ctx_new();
  ck_assert_ptr_nonnull(c);
  evp_conf_t *conf = evp_conf_new();
  ck_assert_ptr_nonnull(conf);
  evp_conf_t *dup = evp_conf_dup(conf);
  ck_assert_ptr_nonnull(dup);
  evp_conf_destroy(dup);
  evp_conf_destroy(conf);
  evp_schema_ctx_destroy(c);
  evp_schema_loader_destroy(l);
  evp_jwt_verifier_destroy(v);
  evp_jwt_signer_destroy(s);
  evp_keyring_destroy(kr);
}
END_TEST

START_TEST(schema_compile_reports_code_and_reason) {
  char err[256] = "";
  evp_err_t code = EVP_OK;
  ck_assert_ptr_null(evp_schema_compile("{\"type\": 3}", 11, NULL, &code, err, sizeof err));
  ck_assert_int_eq(code, EVP_ERR_SCHEMA_INVALID);
  ck_assert(err[0] != '\0');
  ck_assert_ptr_null(evp_schema_compile("{", 1, NULL, NULL, NULL, 0)); /* both optional */
  code = EVP_ERR_INTERNAL;
  evp_schema_t *s = evp_schema_compile("{}", 2, NULL, &code, err, sizeof err);
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(code, EVP_OK);
  evp_schema_destroy(s);
}
END_TEST

static evp_conf_t *client_conf(const char *endpoint) {
  evp_conf_t *conf = evp_conf_new();
  ck_assert_ptr_nonnull(conf);
  if (endpoint) ck_assert_int_eq(evp_conf_set(conf, "endpoint", endpoint, NULL, 0), EVP_OK);
  ck_assert_int_eq(evp_conf_set(conf, "client.id", "c1", NULL, 0), EVP_OK);
  ck_assert_int_eq(evp_conf_set(conf, "client.secret", "0123456789abcdef0123456789abcdef", NULL, 0),
                   EVP_OK);
  return conf;
}

/* The code of each kind of failure reaches the caller (bindings raise the
 * matching exception from it), and the reason still names the thing. */
static void expect_create_fails(evp_conf_t *conf, evp_err_t want, const char *in_reason) {
  char err[512] = "";
  evp_err_t code = EVP_OK;
  ck_assert_ptr_null(evp_client_create(conf, &code, err, sizeof err));
  ck_assert_msg(code == want, "code %s, wanted %s (%s)", evp_err2name(code), evp_err2name(want),
                err);
  ck_assert_msg(strstr(err, in_reason) != NULL, "reason '%s' lacks '%s'", err, in_reason);
  evp_conf_destroy(conf); /* still ours on failure */
}

START_TEST(client_create_reports_code_and_reason) {
  char err[256] = "";
  evp_err_t code = EVP_OK;
  ck_assert_ptr_null(evp_client_create(NULL, &code, err, sizeof err));
  ck_assert_int_eq(code, EVP_ERR_INVALID_ARG);
  expect_create_fails(client_conf(NULL), EVP_ERR_CONF_INVALID, "endpoint");
  expect_create_fails(client_conf("ftp://example.com"), EVP_ERR_CONF_INVALID, "endpoint");

  evp_conf_t *conf = client_conf("http://127.0.0.1:9");
  ck_assert_int_eq(evp_conf_set(conf, "schema.file", "/nonexistent/schema.json", NULL, 0), EVP_OK);
  expect_create_fails(conf, EVP_ERR_IO, "/nonexistent/schema.json");

  char dir[] = "/tmp/evp_conv_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  ck_assert_int_eq(chmod(dir, 0755), 0);
  conf = client_conf("http://127.0.0.1:9");
  ck_assert_int_eq(evp_conf_set(conf, "spool.dir", dir, NULL, 0), EVP_OK);
  expect_create_fails(conf, EVP_ERR_PERMISSION, "chmod 700");

  ck_assert_int_eq(chmod(dir, 0700), 0);
  conf = client_conf("http://127.0.0.1:9");
  ck_assert_int_eq(evp_conf_set(conf, "spool.dir", dir, NULL, 0), EVP_OK);
  code = EVP_ERR_INTERNAL;
  evp_client_t *c = evp_client_create(conf, &code, err, sizeof err);
  ck_assert_msg(c != NULL, "%s", err);
  ck_assert_int_eq(code, EVP_OK);
  evp_conf_t *second = client_conf("http://127.0.0.1:9");
  ck_assert_int_eq(evp_conf_set(second, "spool.dir", dir, NULL, 0), EVP_OK);
  expect_create_fails(second, EVP_ERR_STATE, "in use by another client");
  ck_assert_int_eq(evp_client_destroy(c, 0), 0);
  ck_assert_ptr_null(evp_client_create(NULL, NULL, NULL, 0)); /* errp and errstr optional */

  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(destructors_accept_null) {
  evp_conf_destroy(NULL);
  evp_keyring_destroy(NULL);
  evp_jwt_signer_destroy(NULL);
  evp_jwt_verifier_destroy(NULL);
  evp_jwt_destroy(NULL);
  evp_schema_loader_destroy(NULL);
  evp_schema_destroy(NULL);
  evp_schema_ctx_destroy(NULL);
  ck_assert_int_eq(evp_client_destroy(NULL, 0), 0);
  evp_free(NULL);
}
END_TEST

int main(void) {
  Suite *s = suite_create("api_conventions");
  TCase *tc = tcase_create("constructors");
  tcase_add_test(tc, fallible_constructors_say_why_in_errstr);
  tcase_add_test(tc, successful_constructors_return_handles);
  tcase_add_test(tc, schema_compile_reports_code_and_reason);
  tcase_add_test(tc, destructors_accept_null);
  tcase_add_test(tc, client_create_reports_code_and_reason);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
