/* Suite: evpipe send (the CLI) against the mock server: NDJSON in, summary
 * out, exit status 0 only when everything was delivered. */
#include "client_harness.h"
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64], secret[128], input[128], out[128];
static ms_t *s;

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/evp-cli-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(secret, sizeof secret, "%s/secret", dir);
  snprintf(input, sizeof input, "%s/in.ndjson", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  FILE *f = fopen(secret, "w");
  fputs("s3cr&t\n", f);
  fclose(f);
  chmod(secret, 0600);
  s = ms_start();
}

static void teardown(void) {
  ms_stop(s);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
}

static int run_cli(const char *extra) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "%s/evpipe send --endpoint %s --client-id test-client --client-secret-file %s "
           "--audience events --set retry.backoff.ms=5 %s %s >%s 2>&1",
           EVP_BINARY_DIR, ms_url(s), secret, extra, input, out);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int out_has(const char *needle) {
  static char buf[8192];
  FILE *f = fopen(out, "r");
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return strstr(buf, needle) != NULL;
}

static void write_input(int n, int with_bad) {
  FILE *f = fopen(input, "w");
  for (int k = 0; k < n; k++) fprintf(f, "{\"event_id\":\"ev-%d\",\"n\":%d}\n", k, k);
  if (with_bad) fputs("not json\n", f);
  fputs("\n", f); /* blank lines are skipped */
  fclose(f);
}

START_TEST(all_delivered_exits_zero) {
  write_input(1200, 0);
  ms_push(s, MS_500, 0);
  ck_assert_int_eq(run_cli(""), 0);
  ck_assert(out_has("delivered: 1200  rejected: 0  failed: 0"));
  for (int k = 0; k < 1200; k++) {
    char id[32];
    snprintf(id, sizeof id, "ev-%d", k);
    ck_assert_int_eq(ms_count(s, id), 1);
  }
}
END_TEST

START_TEST(refused_and_rejected_lines_exit_one_with_reasons) {
  write_input(10, 1);
  ms_push(s, MS_REJECT, 4);
  /* Exactly one batch whatever the machine's speed: it is sent when the 10th
   * valid event fills it, long before the linger runs out. Index 4 is ev-4. */
  ck_assert_int_eq(run_cli("--set linger.ms=10000 --set batch.max.events=10"), 1);
  ck_assert(out_has("in.ndjson:11: refused: EVP_ERR_JSON"));
  ck_assert(out_has("delivered: 9  rejected: 1  failed: 0"));
  ck_assert(out_has("test rejection"));
  ck_assert(out_has("refused: 1"));
}
END_TEST

START_TEST(undeliverable_events_exit_one) {
  write_input(5, 0);
  ms_set_always_401(s, 1);
  ck_assert_int_eq(run_cli("--timeout 5000"), 1);
  ck_assert(out_has("failed: 5"));
  ck_assert(out_has("EVP_ERR_AUTH"));
}
END_TEST

START_TEST(usage_errors_exit_two) {
  write_input(1, 0);
  chmod(secret, 0644); /* a world-readable secret is refused */
  ck_assert_int_eq(run_cli(""), 2);
  chmod(secret, 0600);
  ck_assert_int_eq(run_cli("--set no.such=1"), 2);
  ck_assert(out_has("no.such"));
  ck_assert_int_eq(run_cli("--bogus"), 2);
  ck_assert_int_eq(ms_events_requests(s), 0);
}
END_TEST

START_TEST(example_script_sends_three_events) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "EVPIPE=%s/evpipe EVPIPE_ENDPOINT=%s EVPIPE_CLIENT_ID=test-client "
           "EVPIPE_CLIENT_SECRET_FILE=%s sh %s/examples/cli/send_events.sh >%s 2>&1",
           EVP_BINARY_DIR, ms_url(s), secret, EVP_SOURCE_DIR, out);
  int st = system(cmd);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  ck_assert(out_has("delivered: 3  rejected: 0  failed: 0"));
  ck_assert_int_eq(ms_accepted_total(s), 3);
}
END_TEST

static char g_cmd_endpoint[128];

/* Like run_cli, against another endpoint and secret, returning the seconds taken. */
static int run_cli_at(const char *endpoint, const char *secret_text, double *took) {
  FILE *f = fopen(secret, "w");
  fputs(secret_text, f);
  fclose(f);
  chmod(secret, 0600);
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "%s/evpipe send --endpoint %s --client-id test-client --client-secret-file %s "
           "--audience events %s >%s 2>&1",
           EVP_BINARY_DIR, endpoint, secret, input, out);
  double t0 = mono_s();
  int st = system(cmd);
  *took = mono_s() - t0;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(a_wrong_secret_exits_at_once_with_the_reason) {
  /* It used to retry /token for the whole --timeout (60 s) and then report
   * "EVP_ERR_STATE: client closed before delivery". */
  write_input(100, 0);
  double took;
  ck_assert_int_eq(run_cli_at(ms_url(s), "wrong\n", &took), 1);
  ck_assert_msg(took < 15.0, "took %.1f s", took);
  ck_assert(out_has("invalid_client"));
  ck_assert(out_has("giving up: EVP_ERR_AUTH: POST "));
  ck_assert(out_has("delivered: 0"));
  ck_assert_int_le(ms_token_requests(s), 3);
}
END_TEST

START_TEST(a_wrong_path_exits_at_once_naming_the_url) {
  write_input(100, 0);
  snprintf(g_cmd_endpoint, sizeof g_cmd_endpoint, "%s/v1", ms_url(s));
  double took;
  ck_assert_int_eq(run_cli_at(g_cmd_endpoint, "s3cr&t\n", &took), 1);
  ck_assert_msg(took < 15.0, "took %.1f s", took);
  char want[160];
  snprintf(want, sizeof want, "POST %s/token: HTTP 404", g_cmd_endpoint);
  ck_assert(out_has(want));
  ck_assert(out_has("delivered: 0"));
}
END_TEST

START_TEST(a_server_not_running_exits_within_seconds_naming_the_url) {
  write_input(100, 0);
  double took;
  ck_assert_int_eq(run_cli_at("http://127.0.0.1:1", "s3cr&t\n", &took), 1);
  ck_assert_msg(took < 20.0, "took %.1f s", took);
  ck_assert(out_has("POST http://127.0.0.1:1/token: "));
  ck_assert(out_has("giving up: cannot reach the server"));
  ck_assert(out_has("delivered: 0"));
}
END_TEST

int main(void) {
  Suite *su = suite_create("client_cli");
  TCase *tc = tcase_create("send");
  tcase_set_timeout(tc, 120);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, all_delivered_exits_zero);
  tcase_add_test(tc, refused_and_rejected_lines_exit_one_with_reasons);
  tcase_add_test(tc, undeliverable_events_exit_one);
  tcase_add_test(tc, usage_errors_exit_two);
  tcase_add_test(tc, example_script_sends_three_events);
  tcase_add_test(tc, a_wrong_secret_exits_at_once_with_the_reason);
  tcase_add_test(tc, a_wrong_path_exits_at_once_naming_the_url);
  tcase_add_test(tc, a_server_not_running_exits_within_seconds_naming_the_url);
  suite_add_tcase(su, tc);
  SRunner *sr = srunner_create(su);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
