/* Suite: fault injection. For each fault every valid event is delivered
 * exactly once or reported failed; duplicates appear only where a retry is
 * unavoidable (the server processed a request whose response was lost), and
 * are counted and bounded. */
#include "client_harness.h"

#define N 400

static ms_t *s;
static dr_t *d;

static void setup(void) {
  s = ms_start();
  d = dr_new();
}

static void teardown(void) {
  ms_stop(s);
  dr_free(d);
}

/* Events among 0..n-1 that failed with @p err; the first in *first (-1: none). */
static long failed_with(long n, int err, long *first) {
  long k = 0;
  *first = -1;
  for (long i = 0; i < n; i++)
    if (d->status[i] == EVP_DELIVERY_FAILED && d->err[i] == err) {
      if (*first < 0) *first = i;
      k++;
    }
  return k;
}

static long run(evp_client_t *c, long n) {
  send_range(c, 0, n);
  ck_assert_int_eq(evp_flush(c, 15000), 0);
  evp_client_destroy(c, 1000);
  return check_once(s, d, n);
}

START_TEST(server_errors_500_are_retried) {
  for (int i = 0; i < 3; i++) ms_push(s, MS_500, 0);
  evp_client_t *c = mk_client(s, d, "batch.max.events", "100", "linger.ms", "60000", NULL);
  send_range(c, 0, N);
  ck_assert_int_eq(evp_flush(c, 15000), 0);
  char *st = evp_client_stats(c);
  ck_assert_ptr_nonnull(st);
  ck_assert_msg(strstr(st, "\"requests\":7,") && strstr(st, "\"request_errors\":3,") &&
                    strstr(st, "\"sent\":700,") && strstr(st, "\"retries\":300,"),
                "%s", st);
  evp_free(st);
  evp_client_destroy(c, 1000);
  ck_assert_int_eq(check_once(s, d, N), 0);
  ck_assert_int_eq(d->ok, N);
  ck_assert_int_eq(ms_events_requests(s), N / 100 + 3);
  /* Three extra sends of 100 events (whichever batches met the 500s: several
   * are in flight, and a retried one may meet another). */
  long extra = 0;
  for (long i = 0; i < N; i++) extra += d->attempts[i] - 1;
  ck_assert_int_eq(extra, 300);
}
END_TEST

START_TEST(retry_after_is_honoured_on_429_and_503) {
  ms_push(s, MS_429_RA, 1);
  ms_push(s, MS_503_RA, 1);
  /* One at a time: the two pauses follow each other (with more in flight
   * both batches wait out their second at once). */
  evp_client_t *c = mk_client(s, d, "max.in.flight", "1", NULL);
  double t0 = mono_s();
  ck_assert_int_eq(run(c, N), 0);
  double dt = mono_s() - t0;
  ck_assert_msg(dt >= 1.9, "retried after %.3f s, before Retry-After", dt);
  ck_assert_int_eq(d->ok, N);
}
END_TEST

START_TEST(a_401_refreshes_the_token_once_and_retries) {
  ms_set_revoke_after(s, 2); /* tokens die after the 2nd /events request */
  /* One request at a time: exactly one of them meets the revoked token. */
  evp_client_t *c = mk_client(s, d, "batch.max.events", "50", "max.in.flight", "1", NULL);
  ck_assert_int_eq(run(c, N), 0);
  ck_assert_int_eq(d->ok, N);
  ck_assert_int_eq(ms_token_requests(s), 2);
  ck_assert_int_eq(ms_unauthorized(s), 1);
}
END_TEST

START_TEST(a_persistent_401_fails_the_batch_as_auth_error) {
  ms_set_always_401(s, 1);
  evp_client_t *c = mk_client(s, d, "linger.ms", "60000", NULL); /* one batch: flush cuts it */
  ck_assert_int_eq(run(c, 20), 0);
  ck_assert_int_eq(d->failed, 20);
  ck_assert_int_eq(d->err[0], EVP_ERR_AUTH);
  ck_assert_int_eq(ms_token_requests(s), 2); /* one refresh, not a loop */
}
END_TEST

START_TEST(reset_before_response_loses_nothing_duplicates_nothing) {
  ms_push(s, MS_RESET_BEFORE, 0);
  ms_push(s, MS_RESET_BEFORE, 0);
  evp_client_t *c = mk_client(s, d, NULL);
  ck_assert_int_eq(run(c, N), 0);
  ck_assert_int_eq(d->ok, N);
}
END_TEST

START_TEST(reset_mid_response_body_duplicates_only_that_batch) {
  ms_push(s, MS_OK, 0);
  ms_push(s, MS_RESET_AFTER, 0);
  evp_client_t *c = mk_client(s, d, "batch.max.events", "100", "linger.ms", "100", NULL);
  long dups = run(c, N);
  /* The cut request's events were stored by the server but the client could
   * not know: retrying them is unavoidable, and those are the only copies. */
  ck_assert_int_ge(dups, 1);
  ck_assert_int_le(dups, 100);
  ck_assert_int_eq(ms_accepted_total(s), N + dups);
  ck_assert_int_eq(d->ok, N);
}
END_TEST

START_TEST(a_stalled_server_times_out_and_is_retried) {
  ms_push(s, MS_STALL, 1500);
  evp_client_t *c = mk_client(s, d, "request.timeout.ms", "300", "batch.max.events", "100",
                              "linger.ms", "100", NULL);
  long dups = run(c, N);
  ck_assert_int_le(dups, 100); /* the stalled request may complete server-side */
  ck_assert_int_eq(d->ok, N);
}
END_TEST

START_TEST(partial_rejection_is_honoured_per_item) {
  ms_push(s, MS_REJECT, 3);       /* permanent: event 3 */
  ms_push(s, MS_REJECT_RETRY, 2); /* retriable: the 3rd item of the 2nd request */
  /* One at a time, so that the 2nd request the server sees is the 2nd batch. */
  evp_client_t *c =
      mk_client(s, d, "batch.max.events", "10", "linger.ms", "60000", "max.in.flight", "1", NULL);
  send_range(c, 0, 40);
  ck_assert_int_eq(evp_flush(c, 15000), 0);
  char *st = evp_client_stats(c); /* server rejections are counted by reason */
  ck_assert_msg(strstr(st, "\"rejected\":1,\"rejected_by_reason\":{\"test rejection\":1}"), "%s",
                st);
  evp_free(st);
  evp_client_destroy(c, 1000);
  ck_assert_int_eq(check_once(s, d, 40), 0);
  ck_assert_int_eq(d->rejected, 1);
  ck_assert_int_eq(d->status[3], EVP_DELIVERY_REJECTED);
  ck_assert_int_eq(d->ok, 39);
  ck_assert_int_eq(d->attempts[12], 2); /* retried once, delivered once */
}
END_TEST

START_TEST(payload_too_large_splits_the_batch) {
  ms_set_max_events(s, 30);
  evp_client_t *c = mk_client(s, d, "batch.max.events", "100", "linger.ms", "100", NULL);
  ck_assert_int_eq(run(c, N), 0);
  ck_assert_int_eq(d->ok, N);
  ck_assert_int_le(ms_max_batch_seen(s), 30);
}
END_TEST

START_TEST(a_single_event_413_is_a_final_failure) {
  ms_push(s, MS_413, 0);
  evp_client_t *c = mk_client(s, d, "batch.max.events", "1", NULL);
  ck_assert_int_eq(run(c, 3), 0);
  ck_assert_int_eq(d->failed, 1);
  long first;
  ck_assert_int_eq(failed_with(3, EVP_ERR_TOO_LARGE, &first), 1); /* whichever arrived first */
  ck_assert_int_eq(d->ok, 2);
}
END_TEST

START_TEST(other_4xx_fail_the_batch_without_retry) {
  ms_push(s, MS_400, 0);
  evp_client_t *c = mk_client(s, d, "batch.max.events", "10", "linger.ms", "60000", NULL);
  ck_assert_int_eq(run(c, 30), 0);
  ck_assert_int_eq(d->failed, 10);
  /* One whole batch (whichever the server saw first), sent once. */
  long first;
  ck_assert_int_eq(failed_with(30, EVP_ERR_HTTP, &first), 10);
  ck_assert_int_eq(first % 10, 0);
  for (long i = first; i < first + 10; i++) {
    ck_assert_int_eq(d->status[i], EVP_DELIVERY_FAILED);
    ck_assert_int_eq(d->attempts[i], 1);
  }
  ck_assert_int_eq(d->ok, 20);
}
END_TEST

START_TEST(message_timeout_bounds_retries) {
  ms_set_down(s, 1);
  evp_client_t *c = mk_client(s, d, "message.timeout.ms", "300", NULL);
  send_range(c, 0, 50);
  double t0 = mono_s();
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  ck_assert(mono_s() - t0 < 3.0);
  evp_client_destroy(c, 100);
  check_once(s, d, 50);
  ck_assert_int_eq(d->failed, 50);
  ck_assert_int_eq(d->err[0], EVP_ERR_TIMED_OUT);
}
END_TEST

START_TEST(retry_budget_slows_a_failing_server) {
  for (int i = 0; i < 200; i++) ms_push(s, MS_500, 0);
  /* budget 4 saved tokens, then 2 a second: a retry waits for a token */
  evp_client_t *c = mk_client(s, d, "retry.budget.tokens", "4", "retry.budget.min.per.sec", "2",
                              "retry.backoff.ms", "1", "retry.backoff.max.ms", "200",
                              "message.timeout.ms", "1000", NULL);
  send_range(c, 0, 10);
  evp_flush(c, 5000);
  evp_client_destroy(c, 100);
  check_once(s, d, 10);
  ck_assert_int_eq(d->failed, 10);
  /* Without the budget ~1 ms backoffs would allow hundreds of requests. */
  ck_assert_int_le(ms_events_requests(s), 10);
  ck_assert_int_ge(ms_events_requests(s), 3);
}
END_TEST

START_TEST(slow_token_endpoint_delays_but_delivers) {
  ms_set_token_delay_ms(s, 700);
  evp_client_t *c = mk_client(s, d, NULL);
  ck_assert_int_eq(run(c, N), 0);
  ck_assert_int_eq(d->ok, N);
  ck_assert_int_eq(ms_token_requests(s), 1);
}
END_TEST

START_TEST(a_401_with_requests_in_flight_refreshes_the_token_once) {
  ms_set_revoke_after(s, 2);
  ms_set_events_delay_ms(s, 20); /* the batches overlap */
  evp_client_t *c = mk_client(s, d, "batch.max.events", "50", "max.in.flight", "4", NULL);
  ck_assert_int_eq(run(c, N), 0);
  ck_assert_int_eq(d->ok, N);
  /* Every request that carried the revoked token is retried with the one
   * new token; none of them fails and none asks for a token of its own. */
  ck_assert_int_eq(ms_token_requests(s), 2);
  ck_assert_int_ge(ms_unauthorized(s), 1);
  ck_assert_int_le(ms_unauthorized(s), 4);
}
END_TEST

START_TEST(a_persistent_401_with_requests_in_flight_fails_after_one_refresh) {
  ms_set_always_401(s, 1);
  ms_set_events_delay_ms(s, 20);
  evp_client_t *c =
      mk_client(s, d, "batch.max.events", "10", "max.in.flight", "4", "linger.ms", "60000", NULL);
  ck_assert_int_eq(run(c, 40), 0);
  ck_assert_int_eq(d->failed, 40);
  ck_assert_int_eq(d->err[0], EVP_ERR_AUTH);
  ck_assert_int_eq(ms_token_requests(s), 2); /* one refresh for all four, not one each */
}
END_TEST

START_TEST(batches_are_in_flight_at_once_up_to_the_limit) {
  ms_set_events_delay_ms(s, 50);
  evp_client_t *c =
      mk_client(s, d, "batch.max.events", "25", "max.in.flight", "3", "linger.ms", "60000", NULL);
  ck_assert_int_eq(run(c, N), 0); /* 16 batches */
  ck_assert_int_eq(d->ok, N);
  ck_assert_int_eq(ms_events_requests(s), N / 25);
  ck_assert_int_ge(ms_max_concurrent(s), 2);
  ck_assert_int_le(ms_max_concurrent(s), 3);
  ck_assert_int_le(ms_connections(s), 3); /* kept alive, one per slot */
}
END_TEST

START_TEST(one_in_flight_sends_one_batch_at_a_time) {
  ms_set_events_delay_ms(s, 20);
  evp_client_t *c =
      mk_client(s, d, "batch.max.events", "25", "max.in.flight", "1", "linger.ms", "60000", NULL);
  ck_assert_int_eq(run(c, 200), 0);
  ck_assert_int_eq(d->ok, 200);
  ck_assert_int_eq(ms_max_concurrent(s), 1);
  ck_assert_int_eq(ms_connections(s), 1);
}
END_TEST

START_TEST(close_abandons_requests_in_flight_and_reports_them) {
  ms_set_events_delay_ms(s, 4000);
  evp_client_t *c =
      mk_client(s, d, "batch.max.events", "10", "max.in.flight", "3", "linger.ms", "0", NULL);
  send_range(c, 0, 30);
  double t0 = mono_s();
  while (ms_max_concurrent(s) < 3 && mono_s() - t0 < 10) {
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
  }
  ck_assert_int_eq(ms_max_concurrent(s), 3);
  long left = evp_client_destroy(c, 200);
  double dt = mono_s() - t0;
  ck_assert_int_eq(left, 30);
  ck_assert_int_eq(d->failed, 30);
  ck_assert_int_eq(d->err[0], EVP_ERR_STATE);
  ck_assert_msg(dt < 3.5, "close waited %.2f s for the stalled requests", dt);
}
END_TEST

int main(void) {
  Suite *su = suite_create("client_faults");
  TCase *tc = tcase_create("faults");
  tcase_set_timeout(tc, 60);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, server_errors_500_are_retried);
  tcase_add_test(tc, retry_after_is_honoured_on_429_and_503);
  tcase_add_test(tc, a_401_refreshes_the_token_once_and_retries);
  tcase_add_test(tc, a_persistent_401_fails_the_batch_as_auth_error);
  tcase_add_test(tc, reset_before_response_loses_nothing_duplicates_nothing);
  tcase_add_test(tc, reset_mid_response_body_duplicates_only_that_batch);
  tcase_add_test(tc, a_stalled_server_times_out_and_is_retried);
  tcase_add_test(tc, partial_rejection_is_honoured_per_item);
  tcase_add_test(tc, payload_too_large_splits_the_batch);
  tcase_add_test(tc, a_single_event_413_is_a_final_failure);
  tcase_add_test(tc, other_4xx_fail_the_batch_without_retry);
  tcase_add_test(tc, message_timeout_bounds_retries);
  tcase_add_test(tc, retry_budget_slows_a_failing_server);
  tcase_add_test(tc, slow_token_endpoint_delays_but_delivers);
  tcase_add_test(tc, a_401_with_requests_in_flight_refreshes_the_token_once);
  tcase_add_test(tc, a_persistent_401_with_requests_in_flight_fails_after_one_refresh);
  tcase_add_test(tc, batches_are_in_flight_at_once_up_to_the_limit);
  tcase_add_test(tc, one_in_flight_sends_one_batch_at_a_time);
  tcase_add_test(tc, close_abandons_requests_in_flight_and_reports_them);
  suite_add_tcase(su, tc);
  SRunner *sr = srunner_create(su);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
