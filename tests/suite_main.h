/* The end of every Check suite's main(): run the suite (CK_FORK=no from
 * CTest keeps sanitizer reports with the test that caused them) and turn the
 * failures into the exit status. */
#ifndef EVP_TESTS_SUITE_MAIN_H
#define EVP_TESTS_SUITE_MAIN_H

#include <check.h>
#include <stdlib.h>

static inline int test_run_suite(Suite *s) {
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif /* EVP_TESTS_SUITE_MAIN_H */
