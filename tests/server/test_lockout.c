/* Suite: the per client id lockout of POST /token (src/server/lockout.c)
 * with a pinned clock — threshold and window, doubling and its cap and
 * decay, what a success clears and what it does not, the exemption of
 * addresses a client authenticated from, the bounded table (guesses at
 * random ids neither grow it nor push a known id out), the rate-limited log
 * hook — and through the issuer: 429 + Retry-After, other ids unaffected. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "evpipe/evpipe.h"
#include "server/server.h"

static double now_s;
static double fake_clock(void *opaque) {
  (void)opaque;
  return now_s;
}

typedef struct {
  int calls, last_failures, last_locked;
  unsigned long suppressed;
  char last_id[256];
} logged_t;

static void log_hook(void *opaque, const char *id, int failures, int locked_s,
                     unsigned long suppressed) {
  logged_t *l = opaque;
  l->calls++;
  l->last_failures = failures;
  l->last_locked = locked_s;
  l->suppressed += suppressed;
  snprintf(l->last_id, sizeof l->last_id, "%s", id);
}

static logged_t logged;

/* @p n failures of @p id at the same moment; what the last one returned. */
static int fail_n(evp__lockout_t *lk, const char *id, int n) {
  int got = 0;
  for (int i = 0; i < n; i++) got = evp__lockout_failed(lk, id, 1, NULL);
  return got;
}

static evp__lockout_t *mk(void) {
  evp__lockout_opts_t o;
  evp__lockout_opts_default(&o);
  o.clock = fake_clock;
  o.log = log_hook;
  o.log_opaque = &logged;
  memset(&logged, 0, sizeof logged);
  now_s = 1000;
  evp__lockout_t *lk = evp__lockout_new(&o);
  ck_assert_ptr_nonnull(lk);
  return lk;
}

START_TEST(options_are_checked) {
  evp__lockout_opts_t o;
  evp__lockout_opts_default(&o);
  ck_assert_int_eq(o.max_failures, 10);
  o.max_failures = 0;
  ck_assert_ptr_null(evp__lockout_new(&o));
  evp__lockout_opts_default(&o);
  o.lock_max_s = 10; /* below lock_s */
  ck_assert_ptr_null(evp__lockout_new(&o));
  ck_assert_ptr_null(evp__lockout_new(NULL));
  evp__lockout_free(NULL);
}
END_TEST

START_TEST(locks_after_the_limit_and_doubles) {
  evp__lockout_t *lk = mk();
  for (int i = 0; i < 9; i++) {
    ck_assert_int_eq(evp__lockout_failed(lk, "app", 1, "10.0.0.9"), 0);
    now_s += 1;
  }
  ck_assert_int_eq(evp__lockout_check(lk, "app", 1, "10.0.0.9"), 0);
  ck_assert_int_eq(evp__lockout_failed(lk, "app", 1, "10.0.0.9"), 30);
  ck_assert_int_eq(evp__lockout_check(lk, "app", 1, "10.0.0.9"), 30);
  ck_assert_int_eq(evp__lockout_check(lk, "app", 1, NULL), 30);
  ck_assert_int_eq(evp__lockout_check(lk, "other", 1, NULL), 0);
  now_s += 29.5;
  ck_assert_int_eq(evp__lockout_check(lk, "app", 1, NULL), 1);
  now_s += 0.5;
  ck_assert_int_eq(evp__lockout_check(lk, "app", 1, NULL), 0);
  /* the next lockouts: 60, 120, ... capped at 900 */
  int want[] = {60, 120, 240, 480, 900, 900};
  for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
    ck_assert_int_eq(fail_n(lk, "app", 10), want[k]);
    now_s += want[k];
  }
  /* quiet for longer than the longest lockout: short again */
  now_s += 901;
  ck_assert_int_eq(fail_n(lk, "app", 10), 30);
  evp__lockout_free(lk);
}
END_TEST

START_TEST(failures_outside_the_window_do_not_add_up) {
  evp__lockout_t *lk = mk();
  for (int i = 0; i < 30; i++) {
    ck_assert_int_eq(evp__lockout_failed(lk, "app", 1, NULL), 0);
    now_s += 61.0 / 9; /* 9 per minute and a bit */
  }
  ck_assert_int_eq(evp__lockout_check(lk, "app", 1, NULL), 0);
  evp__lockout_free(lk);
}
END_TEST

START_TEST(success_clears_failures_not_a_running_lock) {
  evp__lockout_t *lk = mk();
  for (int i = 0; i < 9; i++) evp__lockout_failed(lk, "app", 1, "10.0.0.66");
  evp__lockout_succeeded(lk, "app", NULL);
  for (int i = 0; i < 9; i++) ck_assert_int_eq(evp__lockout_failed(lk, "app", 1, "10.0.0.66"), 0);
  ck_assert_int_eq(evp__lockout_failed(lk, "app", 1, "10.0.0.66"), 30);
  evp__lockout_succeeded(lk, "app", NULL); /* e.g. from an exempt address */
  ck_assert_int_eq(evp__lockout_check(lk, "app", 1, "10.0.0.66"), 30);
  /* and the level stays: the next lockout is 60 s */
  now_s += 30;
  ck_assert_int_eq(fail_n(lk, "app", 10), 60);
  evp__lockout_free(lk);
}
END_TEST

START_TEST(addresses_that_authenticated_stay_exempt_until_they_fail) {
  evp__lockout_t *lk = mk();
  evp__lockout_succeeded(lk, "app", "10.0.0.1");
  evp__lockout_succeeded(lk, "app", "10.0.0.2");
  for (int i = 0; i < 10; i++) evp__lockout_failed(lk, "app", 1, "192.0.2.7");
  ck_assert_int_eq(evp__lockout_check(lk, "app", 1, "192.0.2.7"), 30);
  ck_assert_int_eq(evp__lockout_check(lk, "app", 1, "10.0.0.1"), 0);
  ck_assert_int_eq(evp__lockout_check(lk, "app", 1, "10.0.0.2"), 0);
  /* only the last two are remembered */
  evp__lockout_succeeded(lk, "app", "10.0.0.3");
  ck_assert_int_eq(evp__lockout_check(lk, "app", 1, "10.0.0.1"), 30);
  ck_assert_int_eq(evp__lockout_check(lk, "app", 1, "10.0.0.3"), 0);
  /* a failure from an exempt address ends its exemption */
  evp__lockout_failed(lk, "app", 1, "10.0.0.3");
  ck_assert_int_eq(evp__lockout_check(lk, "app", 1, "10.0.0.3"), 30);
  ck_assert_int_eq(evp__lockout_check(lk, "app", 1, "10.0.0.2"), 0);
  evp__lockout_free(lk);
}
END_TEST

START_TEST(random_ids_cannot_push_a_known_id_out) {
  evp__lockout_t *lk = mk();
  evp__lockout_succeeded(lk, "app", "10.0.0.1");
  fail_n(lk, "app", 9);
  /* a flood of guesses at ids no client has, far more than the table holds */
  char id[32];
  for (int i = 0; i < 100000; i++) {
    snprintf(id, sizeof id, "ghost-%d", i);
    evp__lockout_failed(lk, id, 0, NULL);
  }
  ck_assert_int_eq(evp__lockout_failed(lk, "app", 1, NULL), 30);     /* its count survived */
  ck_assert_int_eq(evp__lockout_check(lk, "app", 1, "10.0.0.1"), 0); /* and its exemption */
  /* a known id that never failed before still gets its own entry */
  fail_n(lk, "app-2", 10);
  ck_assert_int_eq(evp__lockout_check(lk, "app-2", 1, NULL), 30);
  ck_assert_int_eq(evp__lockout_check(lk, "app-3", 1, NULL), 0);
  /* ids longer than any client's are locked together, never stored */
  char longid[300];
  memset(longid, 'x', sizeof longid - 1);
  longid[sizeof longid - 1] = '\0';
  for (int i = 0; i < 10; i++) evp__lockout_failed(lk, longid, 0, NULL);
  ck_assert_int_eq(evp__lockout_check(lk, "app-3", 1, NULL), 0);
  evp__lockout_free(lk);
}
END_TEST

START_TEST(log_hook_is_rate_limited_and_counts_what_it_skips) {
  evp__lockout_t *lk = mk();
  fail_n(lk, "app", 1000);
  ck_assert_int_le(logged.calls, 21); /* the burst */
  ck_assert_int_ge(logged.calls, 20);
  ck_assert_str_eq(logged.last_id, "app");
  now_s += 10; /* 5 a second come back */
  evp__lockout_failed(lk, "other", 1, NULL);
  ck_assert_str_eq(logged.last_id, "other");
  ck_assert_uint_eq(logged.suppressed, 1000 - 20);
  evp__lockout_free(lk);
}
END_TEST

/* ------------------------------------------------------------ through the issuer */

static const char CLIENTS[] = "[{\"client_id\":\"app-1\",\"client_secret\":\"s3cret-s3cret-"
                              "s3cret\",\"audiences\":[\"events\"]},"
                              " {\"client_id\":\"app-2\",\"client_secret\":\"other-other-other-1\","
                              "\"audiences\":[\"events\"]}]";

static int token(const evp__issuer_t *iss, const char *id, const char *secret, const char *ip,
                 char *retry_after, size_t ra_size) {
  char body[256];
  snprintf(body, sizeof body, "grant_type=client_credentials&client_id=%s&client_secret=%s", id,
           secret);
  evp__http_hdr_t h[] = {{"content-type", "application/x-www-form-urlencoded"}};
  evp__http_req_t q = {"POST", "/token", h, 1, body, strlen(body), ip};
  evp__http_resp_t r;
  evp__http_resp_init(&r);
  ck_assert_int_eq(evp__issuer_handle(iss, &q, &r, NULL), EVP_OK);
  if (retry_after) {
    retry_after[0] = '\0';
    for (size_t i = 0; i < r.n_headers; i++)
      if (strcmp(r.headers[i].name, "Retry-After") == 0)
        snprintf(retry_after, ra_size, "%s", r.headers[i].value);
  }
  if (r.status == 429) {
    ck_assert_str_eq(r.reason, "client_locked");
    ck_assert_ptr_nonnull(strstr(r.body, "\"error\":\"rate_limited\""));
  }
  int status = r.status;
  evp__http_resp_free(&r);
  return status;
}

START_TEST(issuer_answers_429_with_retry_after_for_a_locked_id) {
  char err[256];
  evp_keyring_t *kr = evp_keyring_new();
  static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
  ck_assert_int_eq(evp_keyring_add(kr, "k1", key, 32, err, sizeof err), EVP_OK);
  evp_jwt_signer_t *s = evp_jwt_signer_new(kr, err, sizeof err);
  evp__clients_t *cs;
  ck_assert_int_eq(evp__clients_parse(CLIENTS, strlen(CLIENTS), &cs, err, sizeof err), EVP_OK);
  evp__lockout_t *lk = mk();
  evp__issuer_t iss = {cs, s, 1200, lk};
  char ra[32], ip[32];
  ck_assert_int_eq(token(&iss, "app-1", "s3cret-s3cret-s3cret", "10.0.0.1", NULL, 0), 200);
  for (int i = 0; i < 10; i++) {
    snprintf(ip, sizeof ip, "192.0.2.%d", i + 1);
    ck_assert_int_eq(token(&iss, "app-1", "wrong-wrong-wrong-wrong", ip, NULL, 0), 401);
  }
  ck_assert_int_eq(logged.last_locked, 30);
  ck_assert_str_eq(logged.last_id, "app-1");
  ck_assert_int_eq(token(&iss, "app-1", "wrong-wrong-wrong-wrong", "192.0.2.50", ra, sizeof ra),
                   429);
  ck_assert_str_eq(ra, "30");
  /* the right secret does not get through from elsewhere: no oracle */
  ck_assert_int_eq(token(&iss, "app-1", "s3cret-s3cret-s3cret", "192.0.2.51", NULL, 0), 429);
  /* but does from the address it used before */
  ck_assert_int_eq(token(&iss, "app-1", "s3cret-s3cret-s3cret", "10.0.0.1", NULL, 0), 200);
  ck_assert_int_eq(token(&iss, "app-2", "other-other-other-1", "192.0.2.52", NULL, 0), 200);
  ck_assert_int_eq(token(&iss, "app-2", "wrong-wrong-wrong-wrong", "192.0.2.53", NULL, 0), 401);
  now_s += 31;
  ck_assert_int_eq(token(&iss, "app-1", "s3cret-s3cret-s3cret", "192.0.2.51", NULL, 0), 200);
  /* without a lockout the issuer behaves as before */
  evp__issuer_t plain = {cs, s, 1200, NULL};
  for (int i = 0; i < 20; i++)
    ck_assert_int_eq(token(&plain, "app-2", "wrong-wrong-wrong-wrong", NULL, NULL, 0), 401);
  evp__lockout_free(lk);
  evp__clients_free(cs);
  evp_jwt_signer_destroy(s);
  evp_keyring_destroy(kr);
}
END_TEST

/* Request threads share one table: failures, checks and successes from
 * many threads at once keep it consistent (TSan runs this). */
typedef struct {
  evp__lockout_t *lk;
  int n, wrongly_locked; /* counted here: Check's asserts belong to the main thread */
} hammer_t;

static void *hammer(void *arg) {
  hammer_t *h = arg;
  char id[32], addr[32];
  for (int i = 0; i < 20000; i++) {
    snprintf(addr, sizeof addr, "10.0.%d.%d", h->n, i % 200);
    if (i % 7 == 0) { /* clients that authenticate, next to ids being guessed */
      snprintf(id, sizeof id, "ok-%d", i % 50);
      evp__lockout_succeeded(h->lk, id, addr);
      h->wrongly_locked += evp__lockout_check(h->lk, id, 1, NULL) != 0;
    } else {
      snprintf(id, sizeof id, "id-%d", i % 50);
      if (evp__lockout_check(h->lk, id, 1, addr) == 0)
        evp__lockout_failed(h->lk, id, i % 3 != 0, addr);
    }
  }
  return NULL;
}

static atomic_int hook_calls;
static void count_hook(void *opaque, const char *id, int failures, int locked_s,
                       unsigned long suppressed) {
  (void)opaque, (void)id, (void)failures, (void)locked_s, (void)suppressed;
  atomic_fetch_add(&hook_calls, 1);
}

START_TEST(shared_by_request_threads) {
  evp__lockout_opts_t o;
  evp__lockout_opts_default(&o);
  o.log = count_hook; /* called outside the table's lock, from any thread; real clock */
  atomic_store(&hook_calls, 0);
  evp__lockout_t *lk = evp__lockout_new(&o);
  ck_assert_ptr_nonnull(lk);
  pthread_t t[4];
  hammer_t h[4];
  for (int i = 0; i < 4; i++) {
    h[i] = (hammer_t){lk, i, 0};
    ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, &h[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    ck_assert_int_eq(h[i].wrongly_locked, 0);
  }
  ck_assert_int_gt(evp__lockout_check(lk, "id-1", 1, "192.0.2.1"), 0);
  ck_assert_int_ge(atomic_load(&hook_calls), 20); /* the burst at least */
  evp__lockout_free(lk);
}
END_TEST

int main(void) {
  Suite *s = suite_create("lockout");
  TCase *t = tcase_create("lockout");
  tcase_set_timeout(t, 60);
  tcase_add_test(t, options_are_checked);
  tcase_add_test(t, locks_after_the_limit_and_doubles);
  tcase_add_test(t, failures_outside_the_window_do_not_add_up);
  tcase_add_test(t, success_clears_failures_not_a_running_lock);
  tcase_add_test(t, addresses_that_authenticated_stay_exempt_until_they_fail);
  tcase_add_test(t, random_ids_cannot_push_a_known_id_out);
  tcase_add_test(t, log_hook_is_rate_limited_and_counts_what_it_skips);
  tcase_add_test(t, issuer_answers_429_with_retry_after_for_a_locked_id);
  tcase_add_test(t, shared_by_request_threads);
  suite_add_tcase(s, t);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
