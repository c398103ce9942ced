/* Suite: error codes and version. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "evpipe/evpipe.h"

START_TEST(every_code_has_a_unique_name_and_description) {
  int n = evp__err_count();
  ck_assert_int_ge(n, EVP_ERR_PERMISSION + 1);
  for (int i = 0; i < n; i++) {
    const char *name = evp_err2name((evp_err_t)i);
    ck_assert_msg(strcmp(name, "EVP_ERR_UNKNOWN") != 0, "code %d has no name", i);
    ck_assert_msg(strncmp(name, "EVP_", 4) == 0, "code %d: %s", i, name);
    ck_assert_str_ne(evp_err2str((evp_err_t)i), "Unknown error");
    for (int j = 0; j < i; j++) ck_assert_str_ne(name, evp_err2name((evp_err_t)j));
  }
  ck_assert_str_eq(evp_err2name(EVP_ERR_JWT_EXPIRED), "EVP_ERR_JWT_EXPIRED");
  ck_assert_str_eq(evp_err2name(EVP_OK), "EVP_OK");
}
END_TEST

START_TEST(unknown_codes_are_reported_not_crashed) {
  ck_assert_str_eq(evp_err2str((evp_err_t)-1), "Unknown error");
  ck_assert_str_eq(evp_err2name((evp_err_t)100000), "EVP_ERR_UNKNOWN");
}
END_TEST

START_TEST(seterr_formats_and_tolerates_null) {
  char buf[16];
  ck_assert_int_eq(evp__seterr(buf, sizeof buf, EVP_ERR_IO, "x=%d and more text", 42), EVP_ERR_IO);
  ck_assert_str_eq(buf, "x=42 and more t"); /* truncated, NUL-terminated */
  ck_assert_int_eq(evp__seterr(NULL, 0, EVP_ERR_NOMEM, "ignored"), EVP_ERR_NOMEM);
}
END_TEST

START_TEST(version_matches_header) {
  ck_assert_int_eq(evp_version(), EVP_VERSION);
  ck_assert_str_eq(evp_version_str(), EVP_VERSION_STR);
  char buf[32];
  snprintf(buf, sizeof buf, "%d.%d.%d", EVP_VERSION_MAJOR, EVP_VERSION_MINOR, EVP_VERSION_PATCH);
  ck_assert_str_eq(evp_version_str(), buf);
}
END_TEST

START_TEST(ct_memcmp_compares) {
  ck_assert_int_eq(evp__ct_memcmp("abcd", "abcd", 4), 0);
  ck_assert_int_ne(evp__ct_memcmp("abcd", "abce", 4), 0);
  ck_assert_int_ne(evp__ct_memcmp("xbcd", "abcd", 4), 0);
  ck_assert_int_eq(evp__ct_memcmp("", "", 0), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("error");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, every_code_has_a_unique_name_and_description);
  tcase_add_test(tc, unknown_codes_are_reported_not_crashed);
  tcase_add_test(tc, seterr_formats_and_tolerates_null);
  tcase_add_test(tc, version_matches_header);
  tcase_add_test(tc, ct_memcmp_compares);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
