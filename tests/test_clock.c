/* Suite: the one clock of src/ (base/base.h): the monotonic clock in its
 * three units agrees with itself and never goes back, the wall clock is the
 * system's, and evp__timespec_us gives the deadlines condition variables
 * wait for. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include "base/base.h"
#include "suite_main.h"

START_TEST(monotonic_units_agree_and_never_go_back) {
  int64_t prev = evp__mono_us();
  for (int i = 0; i < 100000; i++) {
    int64_t now = evp__mono_us();
    ck_assert_int_ge(now, prev);
    prev = now;
  }
  int64_t us = evp__mono_us();
  int64_t ms = evp__mono_ms();
  double s = evp__mono_s();
  int64_t us2 = evp__mono_us();
  ck_assert_int_ge(ms, us / 1000);
  ck_assert_int_le(ms, us2 / 1000);
  ck_assert(s * 1e6 >= (double)us - 1.0 && s * 1e6 <= (double)us2 + 1.0);
}
END_TEST

START_TEST(wall_clock_is_the_system_clock) {
  time_t before = time(NULL);
  int64_t us = evp__wall_us();
  int64_t ms = evp__wall_ms();
  int64_t s = evp__system_clock(NULL);
  time_t after = time(NULL);
  ck_assert_int_ge(us / 1000000, (int64_t)before);
  ck_assert_int_le(us / 1000000, (int64_t)after);
  ck_assert_int_ge(ms, us / 1000);
  ck_assert_int_le(ms / 1000, (int64_t)after);
  ck_assert_int_ge(s, (int64_t)before);
  ck_assert_int_le(s, (int64_t)after);
}
END_TEST

START_TEST(timespec_of_microseconds) {
  struct timespec ts = evp__timespec_us(INT64_C(1234567890123));
  ck_assert_int_eq((int64_t)ts.tv_sec, 1234567);
  ck_assert_int_eq(ts.tv_nsec, 890123000L);
  ts = evp__timespec_us(999999);
  ck_assert_int_eq((int64_t)ts.tv_sec, 0);
  ck_assert_int_eq(ts.tv_nsec, 999999000L);
}
END_TEST

/* A monotonic condition variable given evp__timespec_us(evp__mono_us() +
 * 50 ms) times out after 50 ms, not at once and not much later. */
START_TEST(deadline_of_a_monotonic_condition_variable) {
  pthread_condattr_t at;
  pthread_cond_t cv;
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  ck_assert_int_eq(pthread_condattr_init(&at), 0);
  ck_assert_int_eq(pthread_condattr_setclock(&at, CLOCK_MONOTONIC), 0);
  ck_assert_int_eq(pthread_cond_init(&cv, &at), 0);
  int64_t t0 = evp__mono_us();
  struct timespec dl = evp__timespec_us(t0 + 50000);
  pthread_mutex_lock(&mu);
  int rc;
  while ((rc = pthread_cond_timedwait(&cv, &mu, &dl)) == 0) {}
  pthread_mutex_unlock(&mu);
  int64_t took = evp__mono_us() - t0;
  ck_assert_int_eq(rc, ETIMEDOUT);
  ck_assert_int_ge(took, 50000);
  ck_assert_int_lt(took, 5000000);
  pthread_cond_destroy(&cv);
  pthread_condattr_destroy(&at);
}
END_TEST

int main(void) {
  Suite *s = suite_create("clock");
  TCase *tc = tcase_create("clock");
  tcase_add_test(tc, monotonic_units_agree_and_never_go_back);
  tcase_add_test(tc, wall_clock_is_the_system_clock);
  tcase_add_test(tc, timespec_of_microseconds);
  tcase_add_test(tc, deadline_of_a_monotonic_condition_variable);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
