/* Suite: many threads calling evp_send (and evp_flush) on one client at once,
 * with faults in the way; run under TSan in CI. */
#include "client_harness.h"

#define THREADS 8
#define PER 2500

typedef struct {
  evp_client_t *c;
  long base;
  long refused;
} arg_t;

static void *producer(void *p) {
  arg_t *a = p;
  for (long k = a->base; k < a->base + PER; k++) {
    evp_err_t e;
    while ((e = send_ev(a->c, k)) == EVP_ERR_QUEUE_FULL)
      ;
    if (e != EVP_OK) a->refused++;
    if (k % 1000 == 0) evp_flush(a->c, 0);
  }
  /* Concurrent flush waiters, woken by the same sender. */
  if (evp_flush(a->c, 20000) < 0) a->refused++;
  return NULL;
}

START_TEST(concurrent_senders_lose_and_duplicate_nothing) {
  ms_t *s = ms_start();
  dr_t *d = dr_new();
  ms_push(s, MS_500, 0);
  ms_push(s, MS_OK, 0);
  ms_push(s, MS_RESET_BEFORE, 0);
  ms_push(s, MS_OK, 0);
  ms_push(s, MS_REJECT_RETRY, 7);
  /* A small queue with blocking forces the producers to wait for room. */
  evp_client_t *c = mk_client(s, d, "queue.max.events", "2000", "queue.block.timeout.ms", "50",
                              "batch.max.events", "250", NULL);
  pthread_t t[THREADS];
  arg_t a[THREADS];
  for (int i = 0; i < THREADS; i++) {
    a[i] = (arg_t){c, (long)i * PER, 0};
    ck_assert_int_eq(pthread_create(&t[i], NULL, producer, &a[i]), 0);
  }
  /* Stats read concurrently with everything else. */
  for (int i = 0; i < 5; i++) {
    char *st = evp_client_stats(c);
    ck_assert_ptr_nonnull(st);
    evp_free(st);
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
    ck_assert_int_eq(a[i].refused, 0);
  }
  ck_assert_int_eq(evp_flush(c, 30000), 0);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  ck_assert_int_eq(check_once(s, d, THREADS * PER), 0);
  ck_assert_int_eq(d->ok, THREADS * PER);
  ms_stop(s);
  dr_free(d);
}
END_TEST

int main(void) {
  Suite *su = suite_create("client_concurrency");
  TCase *tc = tcase_create("threads");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, concurrent_senders_lose_and_duplicate_nothing);
  suite_add_tcase(su, tc);
  SRunner *sr = srunner_create(su);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
