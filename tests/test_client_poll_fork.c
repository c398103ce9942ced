/* Poll mode across fork(): a client belongs to the process that created it,
 * and in a forked child evp_send/evp_flush/evp_poll refuse work. So must
 * evp_poll_fd(): the child would get the parent's pipe, which the parent's
 * sender keeps making readable and which nobody in the child can drain, so an
 * event loop in the child that watches it would spin. (Red before: the child
 * got the parent's descriptor.) */
#include "client_harness.h"
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

START_TEST(forked_child_gets_no_poll_descriptor) {
  ms_t *s = ms_start();
  dr_t *d = dr_new();
  evp_client_t *c = mk_client(s, d, "callbacks.mode", "poll", NULL);
  ck_assert_int_ge(evp_poll_fd(c), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    int rc = 0;
    if (evp_poll(c, 0) != -1) rc |= 1;
    if (evp_poll_fd(c) != -1) rc |= 2;
    /* Success is reported by SIGKILL so that no exit-time hook (valgrind's
     * leak check of the parent's copied heap) can change the verdict. */
    if (!rc) kill(getpid(), SIGKILL);
    _exit(rc);
  }
  int st = 0;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
    st = 0; /* both refused */
  else
    ck_assert(WIFEXITED(st));
  ck_assert_msg((WEXITSTATUS(st) & 1) == 0, "evp_poll() works in a forked child");
  ck_assert_msg((WEXITSTATUS(st) & 2) == 0,
                "evp_poll_fd() in a forked child returns the parent's pipe, which the child "
                "cannot drain (evp_poll returns -1 there)");
  evp_client_destroy(c, 1000);
  dr_free(d);
  ms_stop(s);
}
END_TEST

/* evp_client_destroy from the client's own delivery callback would join the
 * thread it runs on (thread mode) or free what the caller runs on (poll
 * mode): it refuses, returns -1 and leaves the client working. */
static atomic_long destroy_rc = 0, reports = 0;
static void destroy_from_report(evp_client_t *c, const evp_delivery_t *r, void *op) {
  (void)r, (void)op;
  if (atomic_fetch_add(&reports, 1) == 0) atomic_store(&destroy_rc, evp_client_destroy(c, 0));
}

START_TEST(destroy_from_a_callback_is_refused) {
  static const char *const modes[] = {"thread", "poll"};
  for (int m = 0; m < 2; m++) {
    ms_t *s = ms_start();
    evp_conf_t *conf = mk_conf(s, "callbacks.mode", modes[m], NULL);
    evp_conf_set_delivery_cb(conf, destroy_from_report, NULL);
    char err[256];
    evp_client_t *c = evp_client_new(conf, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    atomic_store(&reports, 0);
    atomic_store(&destroy_rc, 0);
    for (int i = 0; i < 3; i++)
      ck_assert_int_eq(evp_send(c, "{\"event_type\":\"t\"}", 18, err, sizeof err), EVP_OK);
    ck_assert_int_eq(evp_flush(c, 10000), 0);
    ck_assert_int_eq(atomic_load(&reports), 3);
    ck_assert_int_eq(atomic_load(&destroy_rc), -1);
    ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
    ms_stop(s);
  }
}
END_TEST

/* The same from a log callback: the token refresh is logged on the sender
 * thread, and a flush there would wait for that very thread. (Red before:
 * the flush waited its whole timeout and returned the events still
 * pending.) */
static _Atomic(evp_client_t *) log_client;
static atomic_long flush_from_log = 0;
static void flush_on_log(int level, const char *msg, void *op) {
  (void)level, (void)op;
  evp_client_t *c = atomic_load(&log_client);
  if (c && strstr(msg, "token: refreshed")) atomic_store(&flush_from_log, evp_flush(c, 2000));
}

START_TEST(flush_from_a_log_callback_is_refused) {
  ms_t *s = ms_start();
  ms_set_token_delay_ms(s, 300); /* the events are queued before the token comes */
  evp_conf_t *conf = mk_conf(s, "log.level", "7", NULL);
  evp_conf_set_log_cb(conf, flush_on_log);
  char err[256];
  atomic_store(&flush_from_log, 0);
  evp_client_t *c = evp_client_new(conf, err, sizeof err);
  ck_assert_msg(c != NULL, "%s", err);
  atomic_store(&log_client, c);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(evp_send(c, "{\"event_type\":\"t\"}", 18, err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp_flush(c, 10000), 0);
  ck_assert_int_eq(atomic_load(&flush_from_log), -1);
  atomic_store(&log_client, NULL);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  ms_stop(s);
}
END_TEST

int main(void) {
  Suite *su = suite_create("client_poll_fork");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, forked_child_gets_no_poll_descriptor);
  tcase_add_test(tc, destroy_from_a_callback_is_refused);
  tcase_add_test(tc, flush_from_a_log_callback_is_refused);
  suite_add_tcase(su, tc);
  SRunner *sr = srunner_create(su);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
