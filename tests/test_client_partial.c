/* Suite: the client under partial faults and permanent errors (issue 12).
 * A failure delays only its own batch; the retry budget lets a lossy link
 * keep its goodput but does not hammer a dead server; a Retry-After pauses
 * every sender; permanent errors (bad credentials, a wrong URL) fail every
 * event at once with the right code and reach the error callback once; and
 * every transport error names the URL it tried.
 * Timing: assertions are on counts, with generous time bounds (CI runs this
 * under valgrind and TSan on two busy cores). */
#include "client_harness.h"

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

static void sleep_s(double sec) {
  struct timespec ts = {(time_t)sec, (long)((sec - (double)(time_t)sec) * 1e9)};
  nanosleep(&ts, NULL);
}

static long ok_now(void) {
  pthread_mutex_lock(&d->mu);
  long n = d->ok;
  pthread_mutex_unlock(&d->mu);
  return n;
}

static long errors_now(void) {
  pthread_mutex_lock(&d->mu);
  long n = d->errors;
  pthread_mutex_unlock(&d->mu);
  return n;
}

/* Wait until cond() or the time runs out; returns the seconds waited. */
static double wait_for(int (*cond)(void), double max_s) {
  double t0 = mono_s();
  while (!cond() && mono_s() - t0 < max_s) sleep_s(0.005);
  return mono_s() - t0;
}

static long g_want;
static int ok_reached(void) { return ok_now() >= g_want; }
static int all_reported(void) { return dr_total(d) >= g_want; }
static int an_error(void) { return errors_now() >= 1; }

/* A stats counter: "\"name\":<n>" anywhere in the JSON. */
static long stat_of(evp_client_t *c, const char *name) {
  char *st = evp_client_stats(c);
  ck_assert_ptr_nonnull(st);
  char key[64];
  snprintf(key, sizeof key, "\"%s\":", name);
  const char *p = strstr(st, key);
  long v = p ? atol(p + strlen(key)) : -1;
  evp_free(st);
  return v;
}

START_TEST(one_failing_batch_does_not_stall_the_others) {
  /* ev-0's batch always gets 503: its own backoff (at least half of 3 s
   * with the jitter) must not hold back the 39 other batches. */
  ms_set_poison(s, "ev-0");
  /* A long linger: batches leave full (ev-0..ev-9 together) however slowly
   * the 400 events are queued (valgrind), so exactly 390 are healthy. */
  evp_client_t *c =
      mk_client(s, d, "batch.max.events", "10", "max.in.flight", "4", "retry.backoff.ms", "3000",
                "retry.backoff.max.ms", "3000", "linger.ms", "5000", NULL);
  send_range(c, 0, 400);
  g_want = 390;
  double dt = wait_for(ok_reached, 12.0);
  ck_assert_msg(ok_now() == 390, "after %.2f s: %ld of the 390 healthy events delivered", dt,
                ok_now());
  ck_assert_msg(dt < 12.0, "the healthy batches took %.2f s", dt);
  ck_assert_int_le(ms_events_requests(s), 39 + 12); /* the poisoned batch: a few tries */
  ms_set_poison(s, NULL);
  ck_assert_int_eq(evp_flush(c, 15000), 0);
  evp_client_destroy(c, 1000);
  ck_assert_int_eq(check_once(s, d, 400), 0);
  ck_assert_int_eq(d->ok, 400);
}
END_TEST

START_TEST(budget_survives_a_sustained_30_percent_failure_rate) {
  /* 3 in every 10 requests fail (503, no Retry-After) for the whole run. The
   * old budget (10 tokens, 0.1 back per success) ran dry within a few dozen
   * requests, and then every retry waited the 2 s cap. */
  ms_set_fail_share(s, MS_503, 0, 3, 10);
  evp_client_t *c = mk_client(s, d, "batch.max.events", "20", "retry.backoff.max.ms", "2000", NULL);
  double t0 = mono_s();
  send_range(c, 0, 2000);
  ck_assert_int_eq(evp_flush(c, 60000), 0);
  double dt = mono_s() - t0;
  long throttled = stat_of(c, "budget_throttled");
  evp_client_destroy(c, 1000);
  ck_assert_int_eq(check_once(s, d, 2000), 0);
  ck_assert_int_eq(d->ok, 2000);
  ck_assert_int_ge(ms_events_requests(s), 100 + 30); /* the faults did happen */
  ck_assert_msg(throttled == 0, "%ld retries throttled on a 30%%-lossy link", throttled);
  ck_assert_msg(dt < 15.0, "2000 events took %.2f s", dt);
}
END_TEST

START_TEST(a_dead_server_is_not_hammered) {
  /* Every request fails at once (500) and backoffs are tiny: only the retry
   * budget (5 tokens, then at most retry.budget.min.per.sec = 10 a second,
   * plus half a token per first attempt) bounds the requests. */
  ms_set_fail_share(s, MS_500, 0, 1, 1);
  evp_client_t *c = mk_client(s, d, "batch.max.events", "10", "retry.backoff.ms", "1",
                              "retry.backoff.max.ms", "20", "retry.budget.tokens", "5", NULL);
  send_range(c, 0, 100); /* 10 batches */
  sleep_s(2.0);
  long n = ms_events_requests(s);
  evp_client_destroy(c, 0);
  /* 10 first attempts + 5 saved + 10 first attempts x 0.5 + 2 s x 10/s = 40;
   * with the old policy (a retry every 20 ms at most) it was hundreds. */
  ck_assert_int_ge(n, 10);
  ck_assert_msg(n <= 45, "%ld requests in 2 s to a server that fails them all", n);
  check_once(s, d, 100);
  ck_assert_int_eq(d->failed, 100);
}
END_TEST

START_TEST(retry_after_pauses_every_sender) {
  /* The first request gets 503 + Retry-After: 2. No request may reach the
   * server during that pause, though four connections were free. */
  ms_push(s, MS_503_RA, 2);
  evp_client_t *c =
      mk_client(s, d, "batch.max.events", "10", "max.in.flight", "4", "linger.ms", "0", NULL);
  double t0 = mono_s();
  send_range(c, 0, 200);
  ck_assert_int_eq(evp_flush(c, 20000), 0);
  double dt = mono_s() - t0;
  evp_client_destroy(c, 1000);
  ck_assert_int_eq(check_once(s, d, 200), 0);
  ck_assert_int_eq(d->ok, 200);
  ck_assert_int_eq(ms_requests_in_pause(s), 0);
  ck_assert_msg(dt >= 1.8, "done after %.2f s, inside the Retry-After", dt);
}
END_TEST

START_TEST(invalid_client_fails_every_event_at_once_as_auth) {
  /* A wrong secret: /token answers 401 invalid_client every time. The old
   * client retried /token until message.timeout.ms (here 10 s). */
  ms_set_token_fail(s, 1000000);
  evp_client_t *c = mk_client(s, d, NULL);
  send_range(c, 0, 100);
  g_want = 100;
  double dt = wait_for(all_reported, 8.0);
  ck_assert_msg(dr_total(d) == 100, "after %.2f s only %ld of 100 events reported", dt,
                dr_total(d));
  ck_assert_int_eq(evp_flush(c, 1000), 0);
  ck_assert_int_eq(stat_of(c, "auth"), 100);
  char *st = evp_client_stats(c);
  ck_assert_msg(strstr(st, "\"last_error\":{\"code\":\"EVP_ERR_AUTH\"") &&
                    strstr(st, "invalid_client"),
                "%s", st);
  evp_free(st);
  long token_reqs = ms_token_requests(s);
  evp_client_destroy(c, 1000);
  ck_assert_int_eq(d->failed, 100);
  for (long k = 0; k < 100; k++) ck_assert_int_eq(d->err[k], EVP_ERR_AUTH);
  ck_assert_msg(strstr(d->last_reason, "invalid_client"), "%s", d->last_reason);
  ck_assert_int_eq(d->errors, 1);
  ck_assert_int_eq(d->err_code, EVP_ERR_AUTH);
  ck_assert_int_eq(d->err_retrying, 0);
  ck_assert_msg(strstr(d->err_text, ms_url(s)) && strstr(d->err_text, "/token"), "%s", d->err_text);
  ck_assert_int_le(token_reqs, 3);
  ck_assert_int_eq(ms_events_requests(s), 0);
}
END_TEST

START_TEST(a_wrong_path_fails_fast_naming_the_url) {
  /* endpoint with a /v1 prefix the server does not have: /v1/token is 404. */
  char ep[128];
  snprintf(ep, sizeof ep, "%s/v1", ms_url(s));
  evp_client_t *c = mk_client(s, d, "endpoint", ep, NULL);
  send_range(c, 0, 50);
  g_want = 50;
  double dt = wait_for(all_reported, 8.0);
  ck_assert_msg(dr_total(d) == 50, "after %.2f s only %ld of 50 events reported", dt, dr_total(d));
  evp_client_destroy(c, 1000);
  ck_assert_int_eq(d->failed, 50);
  ck_assert_int_eq(d->err[0], EVP_ERR_HTTP);
  ck_assert_msg(strstr(d->last_reason, "404") && strstr(d->last_reason, "/v1/token"), "%s",
                d->last_reason);
  ck_assert_int_eq(d->errors, 1);
  ck_assert_int_eq(d->err_retrying, 0);
  ck_assert_int_le(ms_token_requests(s), 3);
}
END_TEST

START_TEST(a_wrong_events_path_fails_every_event_fast) {
  /* The token works, POST /v1/events is 404: every batch would meet it. */
  char ep[128], tok[128];
  snprintf(ep, sizeof ep, "%s/v1", ms_url(s));
  snprintf(tok, sizeof tok, "%s/token", ms_url(s));
  evp_client_t *c = mk_client(s, d, "endpoint", ep, "token.url", tok, "batch.max.events", "10",
                              "max.in.flight", "1", NULL);
  send_range(c, 0, 200);
  g_want = 200;
  double dt = wait_for(all_reported, 8.0);
  ck_assert_msg(dr_total(d) == 200, "after %.2f s only %ld reported", dt, dr_total(d));
  evp_client_destroy(c, 1000);
  ck_assert_int_eq(d->failed, 200);
  ck_assert_int_eq(d->err[199], EVP_ERR_HTTP);
  ck_assert_msg(strstr(d->last_reason, "/v1/events") && strstr(d->last_reason, "404"), "%s",
                d->last_reason);
  ck_assert_int_eq(d->errors, 1);
  ck_assert_int_eq(d->err_retrying, 0);
  /* Not one request per batch: the first 404 fails everything pending. */
  ck_assert_int_le(ms_connections(s), 6);
}
END_TEST

START_TEST(an_unreachable_server_is_reported_naming_the_url_and_retried) {
  /* Nothing listens on port 1: the library keeps the events (offline
   * first) and says so once through the error callback, naming the URL. */
  evp_client_t *c = mk_client(s, d, "endpoint", "http://127.0.0.1:1", NULL);
  send_range(c, 0, 10);
  double dt = wait_for(an_error, 8.0);
  ck_assert_msg(errors_now() == 1, "no error callback after %.2f s", dt);
  ck_assert_int_eq(dr_total(d), 0); /* still retrying */
  evp_client_destroy(c, 0);
  ck_assert_int_eq(d->errors, 1);
  ck_assert_int_eq(d->err_code, EVP_ERR_TRANSPORT);
  ck_assert_int_eq(d->err_retrying, 1);
  ck_assert_msg(strstr(d->err_text, "POST http://127.0.0.1:1/token: "), "%s", d->err_text);
  ck_assert_int_eq(d->failed, 10);
  ck_assert_msg(strstr(d->last_reason, "POST http://127.0.0.1:1/token: "), "%s", d->last_reason);
  ck_assert_int_eq(d->after_close, 0);
}
END_TEST

START_TEST(messages_never_show_credentials_from_the_url) {
  /* The reason reaches the error callback, the stats and logs: userinfo and
   * query (where credentials may sit) are left out, the host is named. */
  evp_client_t *c = mk_client(s, d, "endpoint", "http://evuser:s3cretpw@127.0.0.1:1/?k=qtok", NULL);
  ck_assert_ptr_nonnull(c);
  send_range(c, 0, 3);
  double dt = wait_for(an_error, 8.0);
  ck_assert_msg(errors_now() == 1, "no error callback after %.2f s", dt);
  evp_client_destroy(c, 0);
  ck_assert_msg(strstr(d->err_text, "http://127.0.0.1:1/"), "%s", d->err_text);
  ck_assert_msg(!strstr(d->err_text, "s3cretpw") && !strstr(d->err_text, "evuser") &&
                    !strstr(d->err_text, "qtok"),
                "%s", d->err_text);
  ck_assert_msg(!strstr(d->last_reason, "s3cretpw") && !strstr(d->last_reason, "qtok"), "%s",
                d->last_reason);
}
END_TEST

int main(void) {
  Suite *su = suite_create("client_partial");
  TCase *tc = tcase_create("partial");
  tcase_set_timeout(tc, 120);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, one_failing_batch_does_not_stall_the_others);
  tcase_add_test(tc, budget_survives_a_sustained_30_percent_failure_rate);
  tcase_add_test(tc, a_dead_server_is_not_hammered);
  tcase_add_test(tc, retry_after_pauses_every_sender);
  tcase_add_test(tc, invalid_client_fails_every_event_at_once_as_auth);
  tcase_add_test(tc, a_wrong_path_fails_fast_naming_the_url);
  tcase_add_test(tc, a_wrong_events_path_fails_every_event_fast);
  tcase_add_test(tc, an_unreachable_server_is_reported_naming_the_url_and_retried);
  tcase_add_test(tc, messages_never_show_credentials_from_the_url);
  suite_add_tcase(su, tc);
  SRunner *sr = srunner_create(su);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
