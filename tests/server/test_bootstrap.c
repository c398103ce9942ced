#define _POSIX_C_SOURCE 200809L
/* Suite: the real `bootstrap` executable (EVP_BOOTSTRAP), started with
 * fork/exec against the Runtime API test double (mock_lambda_api.h) and the
 * AWS test double (mock_aws.h): a successful invocation, a handler error
 * (the authorizer's "Unauthorized"), the deadline exposed to the processor
 * (it stops retrying Firehose and answers in time), a crash-restart (kill -9
 * mid-invocation, a new process serves the next one) and configuration
 * errors reported as init errors. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "evpipe/evpipe.h"
#include "mock_aws.h"
#include "mock_lambda_api.h"

#ifndef EVP_BOOTSTRAP
#error "EVP_BOOTSTRAP (the bootstrap executable) is required"
#endif

#define WAIT_MS 30000
#define SIGNING "evpipe/signing"
#define KEY_VER "11111111-1111-4111-8111-111111111111"
#define ARN "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/POST/events"

extern char **environ;

static const unsigned char KEY[32] = "0123456789abcdef0123456789abcdef";
static mock_aws_t *aws;
static mock_lambda_t *lam;

static void setup(void) {
  aws = mock_aws_start(NULL);
  lam = mock_lambda_start();
  ck_assert_ptr_nonnull(aws);
  ck_assert_ptr_nonnull(lam);
  char k[64];
  evp_base64url_encode(KEY, 32, k);
  ck_assert_int_eq(mock_aws_secret_create(aws, SIGNING, k, strlen(k), KEY_VER), 0);
  ck_assert_int_eq(mock_aws_stream_create(aws, "events"), 0);
  ck_assert_int_eq(mock_aws_stream_create(aws, "events-dlq"), 0);
}

static void teardown(void) {
  mock_lambda_stop(lam);
  mock_aws_stop(aws);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start the bootstrap with _HANDLER=@p handler, the mocks' addresses and
 * credentials, the sanitizers' options, and @p extra ("NAME=value"). */
static pid_t spawn(const char *handler, const char *const *extra, size_t n_extra) {
  static char bufs[64][512];
  char *envp[80];
  size_t n = 0;
  snprintf(bufs[n], sizeof bufs[n], "AWS_LAMBDA_RUNTIME_API=%s", mock_lambda_address(lam));
  envp[n] = bufs[n];
  n++;
  if (handler) {
    snprintf(bufs[n], sizeof bufs[n], "_HANDLER=%s", handler);
    envp[n] = bufs[n];
    n++;
  }
  size_t na;
  const char *const *ae = mock_aws_env(aws, &na);
  for (size_t i = 0; i < na; i++) {
    snprintf(bufs[n], sizeof bufs[n], "%s", ae[i]);
    envp[n] = bufs[n];
    n++;
  }
  for (size_t i = 0; i < n_extra; i++) {
    snprintf(bufs[n], sizeof bufs[n], "%s", extra[i]);
    envp[n] = bufs[n];
    n++;
  }
  static const char *const pass[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS",
                                     "LSAN_OPTIONS", "PATH"};
  for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++) {
    const char *v = getenv(pass[i]);
    if (v && n < 60) {
      snprintf(bufs[n], sizeof bufs[n], "%s=%s", pass[i], v);
      envp[n] = bufs[n];
      n++;
    }
  }
  envp[n] = NULL;
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    char *argv[] = {(char *)EVP_BOOTSTRAP, NULL};
    execve(EVP_BOOTSTRAP, argv, envp);
    _exit(127);
  }
  return pid;
}

static int reap(pid_t pid, int sig) {
  if (sig) kill(pid, sig);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  return st;
}

static char *mint(const char *sub, const char *aud, int64_t at) {
  char err[256];
  evp_keyring_t *kr = evp_keyring_new();
  ck_assert_int_eq(evp_keyring_add(kr, KEY_VER, KEY, 32, err, sizeof err), EVP_OK);
  evp_jwt_signer_t *s = evp_jwt_signer_new(kr, err, sizeof err);
  evp_jwt_signer_set_issuer(s, "evpipe");
  (void)at;
  char *tok;
  ck_assert_int_eq(evp_jwt_sign(s, sub, aud, NULL, &tok, err, sizeof err), EVP_OK);
  evp_jwt_signer_destroy(s);
  evp_keyring_destroy(kr);
  return tok;
}

static char *token_event(const char *value) {
  char *b = malloc(strlen(value) + 256);
  sprintf(b, "{\"type\":\"TOKEN\",\"authorizationToken\":\"%s\",\"methodArn\":\"%s\"}", value, ARN);
  return b;
}

/* An SQS event of one message with @p n valid events. */
static char *sqs_event(const char *msg_id, int n) {
  cJSON *body = cJSON_CreateObject();
  cJSON *evs = cJSON_AddArrayToObject(body, "events");
  for (int i = 0; i < n; i++) {
    cJSON *e = cJSON_CreateObject();
    char id[64];
    snprintf(id, sizeof id, "0190b6c2-3f4a-7d2e-9c1b-%012d", i);
    cJSON_AddStringToObject(e, "event_id", id);
    cJSON_AddStringToObject(e, "event_type", "app.opened");
    cJSON_AddStringToObject(e, "event_time", "2024-05-01T12:00:00.000Z");
    cJSON_AddStringToObject(e, "app_id", "demo");
    cJSON_AddItemToArray(evs, e);
  }
  char *bt = cJSON_PrintUnformatted(body);
  cJSON_Delete(body);
  cJSON *ev = cJSON_CreateObject();
  cJSON *recs = cJSON_AddArrayToObject(ev, "Records");
  cJSON *r = cJSON_CreateObject();
  cJSON_AddStringToObject(r, "messageId", msg_id);
  cJSON_AddStringToObject(r, "body", bt);
  cJSON *ma = cJSON_AddObjectToObject(r, "messageAttributes");
  cJSON *a = cJSON_AddObjectToObject(ma, "client_id");
  cJSON_AddStringToObject(a, "stringValue", "app-1");
  cJSON_AddStringToObject(a, "dataType", "String");
  cJSON_AddStringToObject(r, "eventSource", "aws:sqs");
  cJSON_AddItemToArray(recs, r);
  char *t = cJSON_PrintUnformatted(ev);
  cJSON_Delete(ev);
  free(bt);
  return t;
}

static const char *const AUTHZ_ENV[] = {"EVP_SIGNING_KEY_SECRET_ID=" SIGNING};
static const char *const PROC_ENV[] = {
    "EVP_DELIVERY_STREAM=events",      "EVP_DEADLETTER_STREAM=events-dlq",
    "EVP_DEADLINE_MARGIN_MS=500",      "EVP_FIREHOSE_BACKOFF_MS=50",
    "EVP_FIREHOSE_BACKOFF_MAX_MS=200", "EVP_FIREHOSE_MAX_ATTEMPTS=100"};
#define NPROC (sizeof PROC_ENV / sizeof PROC_ENV[0])

START_TEST(success_and_handler_error) {
  pid_t pid = spawn("evpipe.authorizer", AUTHZ_ENV, 1);
  char *tok = mint("app-1", "events", 0);
  char bearer[2048];
  snprintf(bearer, sizeof bearer, "Bearer %s", tok);
  char *ev = token_event(bearer);
  ck_assert_int_eq(mock_lambda_enqueue_simple(lam, "ok-1", ev), 0);
  free(ev);
  mock_lambda_result_t r;
  ck_assert_int_eq(mock_lambda_wait_result(lam, "ok-1", WAIT_MS, &r), 0);
  ck_assert_int_eq(r.kind, MOCK_LAMBDA_RESPONSE);
  cJSON *o = cJSON_Parse(r.body);
  ck_assert_ptr_nonnull(o);
  ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(o, "principalId")->valuestring, "app-1");
  ck_assert_ptr_nonnull(strstr(r.body, "\"Effect\":\"Allow\""));
  cJSON_Delete(o);
  mock_lambda_result_free(&r);
  /* a forged token: the error API Gateway turns into a 401 */
  bearer[strlen(bearer) - 2] ^= 1;
  ev = token_event(bearer);
  ck_assert_int_eq(mock_lambda_enqueue_simple(lam, "bad-1", ev), 0);
  free(ev);
  ck_assert_int_eq(mock_lambda_wait_result(lam, "bad-1", WAIT_MS, &r), 0);
  ck_assert_int_eq(r.kind, MOCK_LAMBDA_ERROR);
  o = cJSON_Parse(r.body);
  ck_assert_ptr_nonnull(o);
  ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(o, "errorMessage")->valuestring,
                   "Unauthorized");
  ck_assert_ptr_null(strstr(r.body, tok)); /* the token is not echoed */
  cJSON_Delete(o);
  mock_lambda_result_free(&r);
  /* the process keeps serving */
  ck_assert_int_eq(mock_lambda_wait_polling(lam, 1, WAIT_MS), 0);
  evp_free(tok);
  int st = reap(pid, SIGTERM);
  ck_assert(WIFSIGNALED(st) || WIFEXITED(st));
}
END_TEST

START_TEST(deadline_exposed_to_processor) {
  pid_t pid = spawn("processor", PROC_ENV, NPROC);
  mock_aws_500_next(aws, "PutRecordBatch", 100000);
  char *ev = sqs_event("msg-1", 3);
  int64_t t0 = now_ms();
  mock_lambda_invocation_t inv = {ev, 0, "dl-1", t0 + 2500, NULL, NULL};
  ck_assert_int_eq(mock_lambda_enqueue(lam, &inv, NULL, 0), 0);
  mock_lambda_result_t r;
  ck_assert_int_eq(mock_lambda_wait_result(lam, "dl-1", WAIT_MS, &r), 0);
  int64_t took = now_ms() - t0;
  ck_assert_int_eq(r.kind, MOCK_LAMBDA_RESPONSE);
  ck_assert_ptr_nonnull(strstr(r.body, "\"itemIdentifier\":\"msg-1\""));
  ck_assert_int_lt(took, 2500); /* answered before the deadline */
  mock_lambda_result_free(&r);
  mock_aws_stats_t st;
  mock_aws_stats(aws, "PutRecordBatch", &st);
  ck_assert_uint_ge(st.faults, 1);
  free(ev);
  reap(pid, SIGTERM);
}
END_TEST

START_TEST(crash_restart) {
  pid_t pid = spawn("processor", PROC_ENV, NPROC);
  /* the first PutRecordBatch hangs: the process is killed mid-invocation */
  mock_aws_delay_next(aws, "PutRecordBatch", 1, 8000);
  char *ev = sqs_event("msg-crash", 2);
  ck_assert_int_eq(mock_lambda_enqueue_simple(lam, "c-1", ev), 0);
  mock_aws_stats_t st;
  for (int i = 0; i < 2000; i++) {
    mock_aws_stats(aws, "PutRecordBatch", &st);
    if (st.requests >= 1) break;
    nanosleep(&(struct timespec){0, 10000000L}, NULL);
  }
  ck_assert_uint_ge(st.requests, 1);
  int ws = reap(pid, SIGKILL);
  ck_assert(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
  ck_assert_uint_eq(mock_lambda_fail_inflight(lam, "Runtime.ExitError"), 1);
  mock_lambda_result_t r;
  ck_assert_int_eq(mock_lambda_wait_result(lam, "c-1", WAIT_MS, &r), 0);
  ck_assert_int_eq(r.kind, MOCK_LAMBDA_LOST);
  mock_lambda_result_free(&r);
  /* Lambda starts a new process; the message comes back and is delivered */
  pid = spawn("processor", PROC_ENV, NPROC);
  ck_assert_int_eq(mock_lambda_enqueue_simple(lam, "c-2", ev), 0);
  ck_assert_int_eq(mock_lambda_wait_result(lam, "c-2", WAIT_MS, &r), 0);
  ck_assert_int_eq(r.kind, MOCK_LAMBDA_RESPONSE);
  ck_assert_str_eq(r.body, "{\"batchItemFailures\":[]}");
  mock_lambda_result_free(&r);
  ck_assert_uint_ge(mock_aws_stream_count(aws, "events"), 2);
  free(ev);
  reap(pid, SIGTERM);
}
END_TEST

static void expect_init_error(const char *handler, const char *const *extra, size_t n,
                              const char *needle) {
  pid_t pid = spawn(handler, extra, n);
  mock_lambda_result_t r;
  ck_assert_int_eq(mock_lambda_wait_result(lam, "", WAIT_MS, &r), 0);
  ck_assert_int_eq(r.kind, MOCK_LAMBDA_INIT_ERROR);
  ck_assert_str_eq(r.error_type, "Runtime.ConfigError");
  ck_assert_msg(strstr(r.body, needle) != NULL, "%s", r.body);
  mock_lambda_result_free(&r);
  int st = reap(pid, 0);
  ck_assert(WIFEXITED(st));
  ck_assert_int_eq(WEXITSTATUS(st), 1);
}

START_TEST(config_errors) {
  expect_init_error("bogus", NULL, 0, "_HANDLER");
  expect_init_error(NULL, NULL, 0, "_HANDLER");
  expect_init_error("issuer", AUTHZ_ENV, 1, "EVP_CLIENTS_SECRET_ID");
  expect_init_error("processor", PROC_ENV + 1, NPROC - 1, "EVP_DELIVERY_STREAM");
  const char *bad_schema[] = {"EVP_DELIVERY_STREAM=events", "EVP_DEADLETTER_STREAM=events-dlq",
                              "EVP_SCHEMA_FILE=/nonexistent/schema.json"};
  expect_init_error("processor", bad_schema, 3, "EVP_SCHEMA_FILE");
  const char *bad_ttl[] = {"EVP_SIGNING_KEY_SECRET_ID=x", "EVP_SECRET_CACHE_TTL=soon"};
  expect_init_error("authorizer", bad_ttl, 2, "EVP_SECRET_CACHE_TTL");
  mock_lambda_stats_t st;
  mock_lambda_stats(lam, &st);
  ck_assert_uint_eq(st.handed_out, 0); /* no invocation was taken */
}
END_TEST

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  Suite *s = suite_create("bootstrap");
  TCase *t = tcase_create("process");
  tcase_set_timeout(t, 240);
  tcase_add_checked_fixture(t, setup, teardown);
  tcase_add_test(t, success_and_handler_error);
  tcase_add_test(t, deadline_exposed_to_processor);
  tcase_add_test(t, crash_restart);
  tcase_add_test(t, config_errors);
  suite_add_tcase(s, t);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
