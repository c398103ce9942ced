/* The Lambda custom runtime (include/evpipe/lambda.h) against the Runtime
 * API test double (mock_lambda_api.h): in-process handlers on a runtime
 * thread, and a crash-restart at process level (the test binary re-executes
 * itself as the runtime process). */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "evpipe/lambda.h"
#include "base/base.h"
#include "json/json.h"
#include "lambda/lambda_int.h"
#include "mock_lambda_api.h"
#include "mock_transport.h"

extern char **environ;

#define WAIT_MS 20000 /* generous: valgrind */

/* ------------------------------------------------------------ harness */

typedef struct {
  char api[64];
  evp_lambda_handler_cb_t handler;
  void *opaque;
  uint64_t max;
  evp_err_t rc;
  pthread_t th;
} runner_t;

static void *runner_main(void *arg) {
  runner_t *r = arg;
  char err[256];
  evp_lambda_runtime_t *rt = evp_lambda_runtime_new(r->api, err, sizeof err);
  if (!rt) {
    r->rc = EVP_ERR_INTERNAL;
    return NULL;
  }
  r->rc = evp_lambda_run(rt, r->handler, r->opaque, r->max);
  evp_lambda_runtime_destroy(rt);
  return NULL;
}

static void runner_start(runner_t *r, mock_lambda_t *m, evp_lambda_handler_cb_t h, void *opaque,
                         uint64_t max) {
  memset(r, 0, sizeof *r);
  snprintf(r->api, sizeof r->api, "%s", mock_lambda_address(m));
  r->handler = h;
  r->opaque = opaque;
  r->max = max;
  r->rc = EVP_ERR_STATE;
  ck_assert_int_eq(pthread_create(&r->th, NULL, runner_main, r), 0);
}

static evp_err_t runner_join(runner_t *r) {
  pthread_join(r->th, NULL);
  return r->rc;
}

static char *dup_mem(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}

/* Echo the event back. */
static evp_err_t h_echo(void *opaque, const evp_lambda_invocation_t *inv, const char *ev,
                        size_t len, char **out, size_t *out_len, char *et, size_t ets, char *em,
                        size_t ems) {
  (void)opaque, (void)inv, (void)et, (void)ets, (void)em, (void)ems;
  if (!(*out = dup_mem(ev, len))) return EVP_ERR_NOMEM;
  *out_len = len;
  return EVP_OK;
}

/* ------------------------------------------------------------ tests */

START_TEST(test_success) {
  mock_lambda_t *m = mock_lambda_start();
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(mock_lambda_enqueue_simple(m, "id-1", "{\"hello\":\"world\"}"), 0);
  ck_assert_int_eq(mock_lambda_enqueue_simple(m, "id-2", ""), 0); /* an empty event */
  runner_t r;
  runner_start(&r, m, h_echo, NULL, 2);
  mock_lambda_result_t res;
  ck_assert_int_eq(mock_lambda_wait_result(m, "id-1", WAIT_MS, &res), 0);
  ck_assert_int_eq(res.kind, MOCK_LAMBDA_RESPONSE);
  ck_assert_str_eq(res.body, "{\"hello\":\"world\"}");
  ck_assert_str_eq(res.content_type, "application/json");
  mock_lambda_result_free(&res);
  ck_assert_int_eq(mock_lambda_wait_result(m, "id-2", WAIT_MS, &res), 0);
  ck_assert_int_eq(res.kind, MOCK_LAMBDA_RESPONSE);
  mock_lambda_result_free(&res);
  ck_assert_int_eq(runner_join(&r), EVP_OK);
  mock_lambda_stats_t st;
  mock_lambda_stats(m, &st);
  ck_assert_uint_eq(st.bad_requests, 0);
  ck_assert_uint_eq(st.inflight, 0);
  mock_lambda_stop(m);
}
END_TEST

static evp_err_t h_fail(void *opaque, const evp_lambda_invocation_t *inv, const char *ev,
                        size_t len, char **out, size_t *out_len, char *et, size_t ets, char *em,
                        size_t ems) {
  (void)opaque, (void)inv, (void)ev, (void)len;
  /* A response set together with an error must be freed, not sent. */
  *out = dup_mem("leak?", 5);
  *out_len = 5;
  snprintf(et, ets, "Unauthorized");
  snprintf(em, ems, "token \"expired\"\nsee docs");
  return EVP_ERR_AUTH;
}

static cJSON *parse_error_body(const mock_lambda_result_t *res) {
  cJSON *j = cJSON_ParseWithLength(res->body, res->body_len);
  ck_assert_msg(j != NULL, "error body is not JSON: %s", res->body);
  ck_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "errorMessage")));
  ck_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "errorType")));
  ck_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "stackTrace")));
  return j;
}

START_TEST(test_handler_error) {
  mock_lambda_t *m = mock_lambda_start();
  ck_assert_ptr_nonnull(m);
  mock_lambda_enqueue_simple(m, "e-1", "{}");
  runner_t r;
  runner_start(&r, m, h_fail, NULL, 1);
  mock_lambda_result_t res;
  ck_assert_int_eq(mock_lambda_wait_result(m, "e-1", WAIT_MS, &res), 0);
  ck_assert_int_eq(res.kind, MOCK_LAMBDA_ERROR);
  ck_assert_str_eq(res.error_type, "Unauthorized");
  cJSON *j = parse_error_body(&res);
  ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "errorType")->valuestring, "Unauthorized");
  ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "errorMessage")->valuestring,
                   "token \"expired\"\nsee docs");
  cJSON_Delete(j);
  mock_lambda_result_free(&res);
  ck_assert_int_eq(runner_join(&r), EVP_OK);
  mock_lambda_stop(m);
}
END_TEST

/* Garbage in the error buffers: no NUL anywhere, invalid UTF-8, header
 * breaking characters. */
static evp_err_t h_garbage(void *opaque, const evp_lambda_invocation_t *inv, const char *ev,
                           size_t len, char **out, size_t *out_len, char *et, size_t ets, char *em,
                           size_t ems) {
  (void)opaque, (void)inv, (void)ev, (void)len, (void)out, (void)out_len;
  for (size_t i = 0; i < ets; i++) et[i] = (char)(i % 3 == 0 ? '\n' : i % 3 == 1 ? '\xff' : 'T');
  for (size_t i = 0; i < ems; i++)
    em[i] = (char)(i % 4 == 0 ? '\xc3' : i % 4 == 1 ? '"' : i % 4 == 2 ? '\x01' : '\xe2');
  return EVP_ERR_INTERNAL;
}

/* Error without a type or message. */
static evp_err_t h_bare_error(void *opaque, const evp_lambda_invocation_t *inv, const char *ev,
                              size_t len, char **out, size_t *out_len, char *et, size_t ets,
                              char *em, size_t ems) {
  (void)opaque, (void)inv, (void)ev, (void)len, (void)out, (void)out_len;
  (void)et, (void)ets, (void)em, (void)ems;
  return EVP_ERR_INVALID_EVENT;
}

START_TEST(test_garbage_error_buffers) {
  mock_lambda_t *m = mock_lambda_start();
  ck_assert_ptr_nonnull(m);
  mock_lambda_enqueue_simple(m, "g-1", "{}");
  runner_t r;
  runner_start(&r, m, h_garbage, NULL, 1);
  mock_lambda_result_t res;
  ck_assert_int_eq(mock_lambda_wait_result(m, "g-1", WAIT_MS, &res), 0);
  ck_assert_int_eq(res.kind, MOCK_LAMBDA_ERROR);
  ck_assert_int_gt((int)strlen(res.error_type), 0);
  ck_assert_uint_lt(strlen(res.error_type), EVP__LAMBDA_ERRTYPE_MAX);
  ck_assert(strspn(res.error_type, "T_") == strlen(res.error_type));
  cJSON *j = parse_error_body(&res);
  ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "errorType")->valuestring, res.error_type);
  cJSON_Delete(j);
  mock_lambda_result_free(&res);
  ck_assert_int_eq(runner_join(&r), EVP_OK);

  mock_lambda_enqueue_simple(m, "g-2", "{}");
  runner_start(&r, m, h_bare_error, NULL, 1);
  ck_assert_int_eq(mock_lambda_wait_result(m, "g-2", WAIT_MS, &res), 0);
  ck_assert_int_eq(res.kind, MOCK_LAMBDA_ERROR);
  ck_assert_str_eq(res.error_type, "Runtime.HandlerError");
  j = parse_error_body(&res);
  ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItemCaseSensitive(j, "errorMessage")->valuestring,
                               "EVP_ERR_INVALID_EVENT"));
  cJSON_Delete(j);
  mock_lambda_result_free(&res);
  ck_assert_int_eq(runner_join(&r), EVP_OK);
  mock_lambda_stop(m);
}
END_TEST

typedef struct {
  char id[128], arn[512], trace[512], env_trace[512];
  int64_t deadline, remaining;
  int env_set;
  int calls;
} seen_t;

static evp_err_t h_seen(void *opaque, const evp_lambda_invocation_t *inv, const char *ev,
                        size_t len, char **out, size_t *out_len, char *et, size_t ets, char *em,
                        size_t ems) {
  (void)ev, (void)len, (void)out, (void)out_len, (void)et, (void)ets, (void)em, (void)ems;
  seen_t *s = opaque;
  s->calls++;
  snprintf(s->id, sizeof s->id, "%s", evp_lambda_request_id(inv));
  snprintf(s->arn, sizeof s->arn, "%s", evp_lambda_function_arn(inv));
  snprintf(s->trace, sizeof s->trace, "%s", evp_lambda_trace_id(inv));
  s->deadline = evp_lambda_deadline_ms(inv);
  s->remaining = evp_lambda_remaining_ms(inv);
  const char *t = getenv("_X_AMZN_TRACE_ID");
  s->env_set = t != NULL;
  snprintf(s->env_trace, sizeof s->env_trace, "%s", t ? t : "");
  return EVP_OK; /* NULL response: "null" */
}

START_TEST(test_invocation_metadata) {
  mock_lambda_t *m = mock_lambda_start();
  ck_assert_ptr_nonnull(m);
  unsetenv("_X_AMZN_TRACE_ID");
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t dl = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 60000;
  const char *trace = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1";
  const char *arn = "arn:aws:lambda:eu-west-1:123456789012:function:evpipe-authorizer:live";
  mock_lambda_invocation_t in = {.payload = "{}",
                                 .request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
                                 .deadline_ms = dl,
                                 .function_arn = arn,
                                 .trace_id = trace};
  ck_assert_int_eq(mock_lambda_enqueue(m, &in, NULL, 0), 0);
  seen_t s;
  memset(&s, 0, sizeof s);
  runner_t r;
  runner_start(&r, m, h_seen, &s, 1);
  mock_lambda_result_t res;
  ck_assert_int_eq(mock_lambda_wait_result(m, in.request_id, WAIT_MS, &res), 0);
  ck_assert_int_eq(res.kind, MOCK_LAMBDA_RESPONSE);
  ck_assert_str_eq(res.body, "null");
  mock_lambda_result_free(&res);
  ck_assert_int_eq(runner_join(&r), EVP_OK);
  ck_assert_int_eq(s.calls, 1);
  ck_assert_str_eq(s.id, in.request_id);
  ck_assert_str_eq(s.arn, arn);
  ck_assert_str_eq(s.trace, trace);
  ck_assert(s.env_set);
  ck_assert_str_eq(s.env_trace, trace);
  ck_assert_ptr_null(getenv("_X_AMZN_TRACE_ID")); /* unset after the call */
  ck_assert_int_eq(s.deadline, dl);
  ck_assert(s.remaining > 0 && s.remaining <= 60000);

  /* No deadline, no ARN, no trace: documented defaults, and no stale
   * _X_AMZN_TRACE_ID from the environment. */
  setenv("_X_AMZN_TRACE_ID", "stale", 1);
  mock_lambda_invocation_t bare = {.request_id = "bare-1", .deadline_ms = -1, .function_arn = ""};
  ck_assert_int_eq(mock_lambda_enqueue(m, &bare, NULL, 0), 0);
  memset(&s, 0, sizeof s);
  runner_start(&r, m, h_seen, &s, 1);
  ck_assert_int_eq(mock_lambda_wait_result(m, "bare-1", WAIT_MS, &res), 0);
  mock_lambda_result_free(&res);
  ck_assert_int_eq(runner_join(&r), EVP_OK);
  ck_assert_str_eq(s.arn, "");
  ck_assert_str_eq(s.trace, "");
  ck_assert(!s.env_set);
  ck_assert_int_eq(s.deadline, 0);
  ck_assert(s.remaining == INT64_MAX);
  ck_assert_ptr_null(getenv("_X_AMZN_TRACE_ID"));
  mock_lambda_stop(m);
}
END_TEST

static evp_err_t h_count(void *opaque, const evp_lambda_invocation_t *inv, const char *ev,
                         size_t len, char **out, size_t *out_len, char *et, size_t ets, char *em,
                         size_t ems) {
  (void)inv, (void)et, (void)ets, (void)em, (void)ems;
  size_t *last_len = opaque;
  *last_len = len;
  if (ev[len] != '\0') return EVP_ERR_INTERNAL; /* the event must be NUL-terminated */
  *out = dup_mem("\"ok\"", 4);
  *out_len = *out ? 4 : 0;
  return *out ? EVP_OK : EVP_ERR_NOMEM;
}

START_TEST(test_oversized_event) {
  mock_lambda_t *m = mock_lambda_start();
  ck_assert_ptr_nonnull(m);
  size_t big = EVP_LAMBDA_MAX_EVENT + 1;
  char *p = malloc(big);
  ck_assert_ptr_nonnull(p);
  memset(p, 'a', big);
  p[0] = '"';
  mock_lambda_invocation_t in = {.payload = p, .payload_len = big, .request_id = "big-1"};
  ck_assert_int_eq(mock_lambda_enqueue(m, &in, NULL, 0), 0);
  /* Exactly at the limit is accepted. */
  in.payload_len = EVP_LAMBDA_MAX_EVENT;
  in.request_id = "max-1";
  ck_assert_int_eq(mock_lambda_enqueue(m, &in, NULL, 0), 0);
  free(p);
  mock_lambda_enqueue_simple(m, "small-1", "{}");
  size_t last = 0;
  runner_t r;
  runner_start(&r, m, h_count, &last, 3);
  mock_lambda_result_t res;
  ck_assert_int_eq(mock_lambda_wait_result(m, "big-1", WAIT_MS, &res), 0);
  ck_assert_int_eq(res.kind, MOCK_LAMBDA_ERROR);
  ck_assert_str_eq(res.error_type, "Runtime.EventTooLarge");
  cJSON_Delete(parse_error_body(&res));
  mock_lambda_result_free(&res);
  ck_assert_int_eq(mock_lambda_wait_result(m, "max-1", WAIT_MS, &res), 0);
  ck_assert_int_eq(res.kind, MOCK_LAMBDA_RESPONSE);
  mock_lambda_result_free(&res);
  ck_assert_int_eq(mock_lambda_wait_result(m, "small-1", WAIT_MS, &res), 0);
  ck_assert_int_eq(res.kind, MOCK_LAMBDA_RESPONSE);
  ck_assert_str_eq(res.body, "\"ok\"");
  mock_lambda_result_free(&res);
  ck_assert_int_eq(runner_join(&r), EVP_OK);
  ck_assert_uint_eq(last, 2); /* the handler saw "{}" last, never the oversized event */
  mock_lambda_stop(m);
}
END_TEST

static evp_err_t h_bad_response(void *opaque, const evp_lambda_invocation_t *inv, const char *ev,
                                size_t len, char **out, size_t *out_len, char *et, size_t ets,
                                char *em, size_t ems) {
  (void)opaque, (void)inv, (void)ev, (void)len, (void)et, (void)ets, (void)em, (void)ems;
  *out = NULL;
  *out_len = 10; /* a contract violation: reported, not sent */
  return EVP_OK;
}

static evp_err_t h_huge_response(void *opaque, const evp_lambda_invocation_t *inv, const char *ev,
                                 size_t len, char **out, size_t *out_len, char *et, size_t ets,
                                 char *em, size_t ems) {
  (void)opaque, (void)inv, (void)ev, (void)len, (void)et, (void)ets, (void)em, (void)ems;
  size_t n = EVP_LAMBDA_MAX_RESPONSE + 1;
  if (!(*out = malloc(n))) return EVP_ERR_NOMEM;
  memset(*out, ' ', n);
  *out_len = n;
  return EVP_OK;
}

START_TEST(test_response_too_large) {
  mock_lambda_t *m = mock_lambda_start();
  ck_assert_ptr_nonnull(m);
  mock_lambda_enqueue_simple(m, "huge-1", "{}");
  runner_t r;
  runner_start(&r, m, h_huge_response, NULL, 1);
  mock_lambda_result_t res;
  ck_assert_int_eq(mock_lambda_wait_result(m, "huge-1", WAIT_MS, &res), 0);
  ck_assert_int_eq(res.kind, MOCK_LAMBDA_ERROR);
  ck_assert_str_eq(res.error_type, "Function.ResponseSizeTooLarge");
  cJSON_Delete(parse_error_body(&res));
  mock_lambda_result_free(&res);
  ck_assert_int_eq(runner_join(&r), EVP_OK);
  mock_lambda_stop(m);
}
END_TEST

START_TEST(test_null_response_with_length) {
  mock_lambda_t *m = mock_lambda_start();
  ck_assert_ptr_nonnull(m);
  mock_lambda_enqueue_simple(m, "n-1", "{}");
  runner_t r;
  runner_start(&r, m, h_bad_response, NULL, 1);
  mock_lambda_result_t res;
  ck_assert_int_eq(mock_lambda_wait_result(m, "n-1", WAIT_MS, &res), 0);
  ck_assert_int_eq(res.kind, MOCK_LAMBDA_ERROR);
  ck_assert_str_eq(res.error_type, "Runtime.InvalidResponse");
  mock_lambda_result_free(&res);
  ck_assert_int_eq(runner_join(&r), EVP_OK);
  mock_lambda_stop(m);
}
END_TEST

START_TEST(test_init_error) {
  mock_lambda_t *m = mock_lambda_start();
  ck_assert_ptr_nonnull(m);
  char err[256];
  evp_lambda_runtime_t *rt = evp_lambda_runtime_new(mock_lambda_address(m), err, sizeof err);
  ck_assert_msg(rt != NULL, "%s", err);
  ck_assert_int_eq(
      evp_lambda_init_error(rt, "Runtime.ConfigError", "EVP_SIGNING_SECRET_ID is not set"), EVP_OK);
  mock_lambda_result_t res;
  ck_assert_int_eq(mock_lambda_wait_result(m, "", WAIT_MS, &res), 0);
  ck_assert_int_eq(res.kind, MOCK_LAMBDA_INIT_ERROR);
  ck_assert_str_eq(res.error_type, "Runtime.ConfigError");
  cJSON *j = parse_error_body(&res);
  ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "errorMessage")->valuestring,
                   "EVP_SIGNING_SECRET_ID is not set");
  cJSON_Delete(j);
  mock_lambda_result_free(&res);
  ck_assert_int_eq(evp_lambda_init_error(NULL, "x", "y"), EVP_ERR_INVALID_ARG);
  evp_lambda_runtime_destroy(rt);
  mock_lambda_stop(m);
}
END_TEST

START_TEST(test_api_goes_away) {
  /* The connection of a parked /next is closed without an answer. */
  mock_lambda_t *m = mock_lambda_start();
  ck_assert_ptr_nonnull(m);
  runner_t r;
  runner_start(&r, m, h_echo, NULL, 0);
  ck_assert_int_eq(mock_lambda_wait_polling(m, 1, WAIT_MS), 0);
  mock_lambda_drop_polls(m);
  ck_assert_int_eq(runner_join(&r), EVP_ERR_TRANSPORT);

  /* After some invocations on a kept-alive connection, the whole API stops
   * mid-long-poll (curl may retry once on a fresh connection: refused). */
  mock_lambda_enqueue_simple(m, "a-1", "{}");
  runner_start(&r, m, h_echo, NULL, 0);
  mock_lambda_result_t res;
  ck_assert_int_eq(mock_lambda_wait_result(m, "a-1", WAIT_MS, &res), 0);
  mock_lambda_result_free(&res);
  ck_assert_int_eq(mock_lambda_wait_polling(m, 1, WAIT_MS), 0);
  mock_lambda_stop(m);
  ck_assert_int_eq(runner_join(&r), EVP_ERR_TRANSPORT);
}
END_TEST

START_TEST(test_unexpected_answers) {
  mock_lambda_t *m = mock_lambda_start();
  ck_assert_ptr_nonnull(m);
  runner_t r;
  mock_lambda_fail_next(m, 500, 1);
  runner_start(&r, m, h_echo, NULL, 0);
  ck_assert_int_eq(runner_join(&r), EVP_ERR_HTTP);
  /* A request id that cannot be put in a URL path. */
  mock_lambda_enqueue_simple(m, "../../init/error", "{}");
  runner_start(&r, m, h_echo, NULL, 0);
  ck_assert_int_eq(runner_join(&r), EVP_ERR_HTTP);
  char longid[300];
  memset(longid, 'x', sizeof longid - 1);
  longid[sizeof longid - 1] = '\0';
  mock_lambda_enqueue_simple(m, longid, "{}");
  runner_start(&r, m, h_echo, NULL, 0);
  ck_assert_int_eq(runner_join(&r), EVP_ERR_HTTP);
  mock_lambda_result_t res;
  ck_assert_int_eq(mock_lambda_wait_result(m, NULL, 100, &res), -1); /* nothing was posted */
  /* Nothing listening at all. */
  mock_lambda_stop(m);
}
END_TEST

START_TEST(test_max_invocations) {
  mock_lambda_t *m = mock_lambda_start();
  ck_assert_ptr_nonnull(m);
  for (int i = 0; i < 5; i++) ck_assert_int_eq(mock_lambda_enqueue_simple(m, NULL, "{\"n\":1}"), 0);
  runner_t r;
  runner_start(&r, m, h_echo, NULL, 3);
  ck_assert_int_eq(runner_join(&r), EVP_OK);
  mock_lambda_stats_t st;
  mock_lambda_stats(m, &st);
  ck_assert_uint_eq(st.handed_out, 3);
  ck_assert_uint_eq(st.results, 3);
  ck_assert_uint_eq(st.queued, 2);
  ck_assert_uint_eq(st.next_requests, 3);
  mock_lambda_stop(m);
}
END_TEST

START_TEST(test_runtime_new_address) {
  char err[256];
  const char *good[] = {"127.0.0.1:9001", "localhost:9001", "[::1]:9001", "169.254.100.1:9001",
                        "127.1.2.3:1"};
  const char *bad[] = {"",
                       "127.0.0.1",
                       "127.0.0.1:",
                       "127.0.0.1:0",
                       "127.0.0.1:70000",
                       "10.0.0.1:9001",
                       "example.com:80",
                       "[::2]:9001",
                       "127.0.0.1:90a1",
                       ":9001"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    evp_lambda_runtime_t *rt = evp_lambda_runtime_new(good[i], err, sizeof err);
    ck_assert_msg(rt != NULL, "%s: %s", good[i], err);
    evp_lambda_runtime_destroy(rt);
  }
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    err[0] = '\0';
    ck_assert_msg(evp_lambda_runtime_new(bad[i], err, sizeof err) == NULL, "%s accepted", bad[i]);
    ck_assert(err[0] != '\0');
  }
  unsetenv("AWS_LAMBDA_RUNTIME_API");
  ck_assert_ptr_null(evp_lambda_runtime_new(NULL, err, sizeof err));
  ck_assert_ptr_nonnull(strstr(err, "AWS_LAMBDA_RUNTIME_API"));
  setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001", 1);
  evp_lambda_runtime_t *rt = evp_lambda_runtime_new(NULL, err, sizeof err);
  ck_assert_ptr_nonnull(rt);
  evp_lambda_runtime_destroy(rt);
  unsetenv("AWS_LAMBDA_RUNTIME_API");
  evp_lambda_runtime_destroy(NULL);
  ck_assert_int_eq(evp_lambda_run(NULL, h_echo, NULL, 1), EVP_ERR_INVALID_ARG);
  ck_assert_str_eq(evp_lambda_request_id(NULL), "");
  ck_assert(evp_lambda_remaining_ms(NULL) == INT64_MAX);
}
END_TEST

/* ------------------------------------------------------------ logs */

/* Capture what is written to fd 2 between cap_begin and cap_end. Output is
 * kept small (under the pipe's capacity), so no reader thread is needed. */
typedef struct {
  int saved, rd;
} capture_t;

static void cap_begin(capture_t *c) {
  int p[2];
  fflush(stderr);
  ck_assert_int_eq(pipe(p), 0);
  c->saved = dup(STDERR_FILENO);
  ck_assert_int_ge(c->saved, 0);
  ck_assert_int_eq(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
  close(p[1]);
  c->rd = p[0];
}

/* Restores stderr; returns the captured text (malloc'd). */
static char *cap_end(capture_t *c) {
  fflush(stderr);
  dup2(c->saved, STDERR_FILENO);
  close(c->saved);
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap + 1);
  ck_assert_ptr_nonnull(buf);
  ssize_t n;
  while (len < cap && (n = read(c->rd, buf + len, cap - len)) > 0) len += (size_t)n;
  close(c->rd);
  buf[len] = '\0';
  return buf;
}

/* Every line is a JSON object with timestamp/level/message; returns the
 * number of lines. */
static int check_lines(const char *text, int *levels_seen) {
  int n = 0;
  const char *p = text;
  while (*p) {
    const char *nl = strchr(p, '\n');
    ck_assert_msg(nl != NULL, "unterminated log line: %s", p);
    cJSON *j = cJSON_ParseWithLength(p, (size_t)(nl - p));
    ck_assert_msg(j && cJSON_IsObject(j), "not a JSON object: %.*s", (int)(nl - p), p);
    cJSON *lv = cJSON_GetObjectItemCaseSensitive(j, "level");
    ck_assert(cJSON_IsString(lv));
    ck_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "timestamp")));
    ck_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "message")));
    const char *ts = cJSON_GetObjectItemCaseSensitive(j, "timestamp")->valuestring;
    ck_assert_uint_eq(strlen(ts), 24);
    ck_assert_int_eq(ts[23], 'Z');
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    for (int i = 0; i < 4; i++)
      if (!strcmp(lv->valuestring, names[i])) levels_seen[i]++;
    cJSON_Delete(j);
    n++;
    p = nl + 1;
  }
  return n;
}

START_TEST(test_log_json_and_levels) {
  int seen[4] = {0};
  capture_t c;
  setenv("AWS_LAMBDA_LOG_LEVEL", "WARN", 1);
  evp__lambda_log_reload();
  cap_begin(&c);
  evp_lambda_log(NULL, EVP_LOG_DEBUG, "dropped debug", NULL);
  evp_lambda_log(NULL, EVP_LOG_INFO, "dropped info", NULL);
  evp_lambda_log(NULL, EVP_LOG_WARNING, "a \"quoted\"\nmulti-line\tmessage \xff\xfe end", NULL);
  evp_lambda_log(NULL, EVP_LOG_ERR, "with fields", "{\n  \"status\": 500,\n  \"a\": [1, 2]\n}");
  evp_lambda_log(NULL, EVP_LOG_ERR, "bad fields", "{\"unterminated\": ");
  evp_lambda_log(NULL, EVP_LOG_ERR, "not an object", "[1,2]");
  evp_lambda_log(NULL, EVP_LOG_ERR, "bad utf8 in fields", "{\"k\":\"\xff\"}");
  evp_lambda_log(NULL, EVP_LOG_ERR, NULL, "{}");
  evp_lambda_log(NULL, (evp_log_level_t)42, "out of range level", NULL);
  char *longmsg = malloc(20000);
  ck_assert_ptr_nonnull(longmsg);
  memset(longmsg, '\n', 19999);
  longmsg[19999] = '\0';
  evp_lambda_log(NULL, EVP_LOG_ERR, longmsg, NULL);
  free(longmsg);
  char *text = cap_end(&c);
  int n = check_lines(text, seen);
  ck_assert_int_eq(n, 8);
  ck_assert_int_eq(seen[0] + seen[1], 0);
  ck_assert_int_eq(seen[2], 1);
  ck_assert_ptr_null(strstr(text, "dropped"));
  ck_assert_ptr_nonnull(strstr(text, "\"status\": 500"));
  ck_assert_ptr_nonnull(strstr(text, "\"messageTruncated\":true"));
  ck_assert_ptr_nonnull(strstr(text, "fieldsError"));
  free(text);

  /* DEBUG lets everything through; FATAL nothing; unknown values mean INFO. */
  setenv("AWS_LAMBDA_LOG_LEVEL", "debug", 1);
  evp__lambda_log_reload();
  memset(seen, 0, sizeof seen);
  cap_begin(&c);
  evp_lambda_log(NULL, EVP_LOG_DEBUG, "d", NULL);
  evp_lambda_log(NULL, EVP_LOG_INFO, "i", NULL);
  text = cap_end(&c);
  ck_assert_int_eq(check_lines(text, seen), 2);
  free(text);
  setenv("AWS_LAMBDA_LOG_LEVEL", "FATAL", 1);
  evp__lambda_log_reload();
  cap_begin(&c);
  evp_lambda_log(NULL, EVP_LOG_ERR, "e", NULL);
  text = cap_end(&c);
  ck_assert_str_eq(text, "");
  free(text);
  setenv("AWS_LAMBDA_LOG_LEVEL", "bogus", 1);
  evp__lambda_log_reload();
  cap_begin(&c);
  evp_lambda_log(NULL, EVP_LOG_DEBUG, "d", NULL);
  evp_lambda_log(NULL, EVP_LOG_INFO, "i", NULL);
  text = cap_end(&c);
  memset(seen, 0, sizeof seen);
  ck_assert_int_eq(check_lines(text, seen), 1);
  ck_assert_int_eq(seen[1], 1);
  free(text);
  unsetenv("AWS_LAMBDA_LOG_LEVEL");
  evp__lambda_log_reload();
}
END_TEST

#define MARKER "SECRET-PAYLOAD-MARKER-7f3a"

static evp_err_t h_logs(void *opaque, const evp_lambda_invocation_t *inv, const char *ev,
                        size_t len, char **out, size_t *out_len, char *et, size_t ets, char *em,
                        size_t ems) {
  (void)opaque, (void)inv, (void)ev, (void)len, (void)out, (void)out_len;
  evp_lambda_log(NULL, EVP_LOG_INFO, "handling", "{\"step\":1}");
  snprintf(et, ets, "InvalidEvent");
  snprintf(em, ems, "the event is not valid");
  return EVP_ERR_INVALID_EVENT;
}

START_TEST(test_log_request_id_no_payload) {
  mock_lambda_t *m = mock_lambda_start();
  ck_assert_ptr_nonnull(m);
  setenv("AWS_LAMBDA_LOG_LEVEL", "DEBUG", 1);
  mock_lambda_enqueue_simple(m, "log-1", "{\"token\":\"" MARKER "\"}");
  capture_t c;
  cap_begin(&c);
  runner_t r;
  runner_start(&r, m, h_logs, NULL, 1);
  mock_lambda_result_t res;
  int got = mock_lambda_wait_result(m, "log-1", WAIT_MS, &res);
  evp_err_t rc = runner_join(&r);
  char *text = cap_end(&c);
  unsetenv("AWS_LAMBDA_LOG_LEVEL");
  evp__lambda_log_reload();
  ck_assert_int_eq(got, 0);
  ck_assert_int_eq(rc, EVP_OK);
  ck_assert_ptr_null(strstr(res.body, MARKER));
  mock_lambda_result_free(&res);
  int seen[4] = {0};
  ck_assert_int_ge(check_lines(text, seen), 2);
  ck_assert_ptr_nonnull(
      strstr(text, "\"requestId\":\"log-1\",\"message\":\"handling\",\"step\":1}"));
  ck_assert_ptr_nonnull(strstr(text, "\"errorType\":\"InvalidEvent\""));
  ck_assert_ptr_null(strstr(text, MARKER));
  free(text);
  mock_lambda_stop(m);
}
END_TEST

START_TEST(test_json_escape) {
  char out[64];
  int cut;
  size_t n = evp__json_escape_text("a\"b\\c\x01\xc3\xa9\xed\xa0\x80z", 12, out, sizeof out, &cut);
  ck_assert_str_eq(out, "a\\\"b\\\\c\\u0001\xc3\xa9\\ufffd\\ufffd\\ufffdz");
  ck_assert_uint_eq(n, strlen(out));
  ck_assert_int_eq(cut, 0);
  /* Cut at a character boundary, never inside an escape or a sequence. */
  n = evp__json_escape_text("abc\xe2\x82\xac", 6, out, 6, &cut);
  ck_assert_str_eq(out, "abc");
  ck_assert_int_eq(cut, 1);
  n = evp__json_escape_text("ab\"", 3, out, 4, &cut);
  ck_assert_str_eq(out, "ab");
  ck_assert_int_eq(cut, 1);
}
END_TEST

/* ------------------------------------------------------------ crash-restart */

/* The runtime process: this binary re-executed with EVP_TEST_LAMBDA_CHILD=1.
 * Its handler dies by SIGKILL on a payload containing "CRASH". */
static evp_err_t h_crashy(void *opaque, const evp_lambda_invocation_t *inv, const char *ev,
                          size_t len, char **out, size_t *out_len, char *et, size_t ets, char *em,
                          size_t ems) {
  if (strstr(ev, "CRASH")) raise(SIGKILL);
  return h_echo(opaque, inv, ev, len, out, out_len, et, ets, em, ems);
}

static int child_main(void) {
  char err[256];
  evp_lambda_runtime_t *rt = evp_lambda_runtime_new(NULL, err, sizeof err);
  if (!rt) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  const char *mx = getenv("EVP_TEST_LAMBDA_MAX");
  evp_err_t e = evp_lambda_run(rt, h_crashy, NULL, mx ? strtoull(mx, NULL, 10) : 0);
  evp_lambda_runtime_destroy(rt);
  return e == EVP_OK ? 0 : 1;
}

static char g_self[PATH_MAX];

/* Start the runtime process (what Lambda does on a cold start). */
static pid_t spawn_runtime(mock_lambda_t *m, const char *max) {
  size_t n = 0;
  while (environ[n]) n++;
  char **envp = calloc(n + 4, sizeof *envp);
  ck_assert_ptr_nonnull(envp);
  char api[96], mx[64];
  snprintf(api, sizeof api, "AWS_LAMBDA_RUNTIME_API=%s", mock_lambda_address(m));
  snprintf(mx, sizeof mx, "EVP_TEST_LAMBDA_MAX=%s", max);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "AWS_LAMBDA_RUNTIME_API=", 23) &&
        strncmp(environ[i], "EVP_TEST_LAMBDA_", 16))
      envp[k++] = environ[i];
  envp[k++] = api;
  envp[k++] = mx;
  envp[k++] = (char *)"EVP_TEST_LAMBDA_CHILD=1";
  envp[k] = NULL;
  char *argv[] = {g_self, NULL};
  pid_t pid = fork();
  if (pid == 0) {
    execve(g_self, argv, envp);
    _exit(127);
  }
  free(envp);
  ck_assert_int_gt(pid, 0);
  return pid;
}

START_TEST(test_crash_restart) {
  mock_lambda_t *m = mock_lambda_start();
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(mock_lambda_enqueue_simple(m, "c-1", "{\"action\":\"CRASH\"}"), 0);
  pid_t p1 = spawn_runtime(m, "0");
  int st = 0;
  ck_assert_int_eq(waitpid(p1, &st, 0), p1);
  ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  mock_lambda_result_t res;
  ck_assert_int_eq(mock_lambda_wait_result(m, "c-1", 200, &res), -1); /* no answer */
  /* Lambda reports the invocation as failed and starts a new runtime. */
  ck_assert_uint_eq(mock_lambda_fail_inflight(m, "Runtime.ExitError"), 1);
  ck_assert_int_eq(mock_lambda_wait_result(m, "c-1", WAIT_MS, &res), 0);
  ck_assert_int_eq(res.kind, MOCK_LAMBDA_LOST);
  ck_assert_str_eq(res.error_type, "Runtime.ExitError");
  mock_lambda_result_free(&res);

  ck_assert_int_eq(mock_lambda_enqueue_simple(m, "c-2", "{\"action\":\"ok\"}"), 0);
  pid_t p2 = spawn_runtime(m, "1");
  ck_assert_int_eq(mock_lambda_wait_result(m, "c-2", WAIT_MS, &res), 0);
  ck_assert_int_eq(res.kind, MOCK_LAMBDA_RESPONSE);
  ck_assert_str_eq(res.body, "{\"action\":\"ok\"}");
  mock_lambda_result_free(&res);
  ck_assert_int_eq(waitpid(p2, &st, 0), p2);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  mock_lambda_stats_t s;
  mock_lambda_stats(m, &s);
  ck_assert_uint_eq(s.bad_requests, 0);
  mock_lambda_stop(m);
}
END_TEST

/* The one log-level enum (evp_log_level_t, syslog numbering) against
 * AWS_LAMBDA_LOG_LEVEL's names: each name lets through exactly the levels at
 * least as severe, NOTICE is written and filtered as INFO (Lambda has no
 * NOTICE), and values outside ERR..DEBUG are written as ERROR. */
static char *log_all_levels(const char *threshold) {
  capture_t c;
  setenv("AWS_LAMBDA_LOG_LEVEL", threshold, 1);
  evp__lambda_log_reload();
  cap_begin(&c);
  evp_lambda_log(NULL, EVP_LOG_DEBUG, "m7", NULL);
  evp_lambda_log(NULL, EVP_LOG_INFO, "m6", NULL);
  evp_lambda_log(NULL, EVP_LOG_NOTICE, "m5", NULL);
  evp_lambda_log(NULL, EVP_LOG_WARNING, "m4", NULL);
  evp_lambda_log(NULL, EVP_LOG_ERR, "m3", NULL);
  return cap_end(&c);
}

static int logged(const char *text, const char *msg, const char *level) {
  char want[64];
  snprintf(want, sizeof want, "\"level\":\"%s\",\"message\":\"%s\"", level, msg);
  return strstr(text, want) != NULL;
}

START_TEST(test_log_levels_map_to_syslog_enum) {
  static const struct {
    const char *threshold;
    int shown[5]; /* m7 (DEBUG) m6 (INFO) m5 (NOTICE) m4 (WARNING) m3 (ERR) */
  } cases[] = {
      {"TRACE", {1, 1, 1, 1, 1}}, {"debug", {1, 1, 1, 1, 1}}, {"INFO", {0, 1, 1, 1, 1}},
      {"WARN", {0, 0, 0, 1, 1}},  {"ERROR", {0, 0, 0, 0, 1}}, {"FATAL", {0, 0, 0, 0, 0}},
      {"bogus", {0, 1, 1, 1, 1}},
  };
  static const char *msgs[] = {"m7", "m6", "m5", "m4", "m3"};
  static const char *names[] = {"DEBUG", "INFO", "INFO", "WARN", "ERROR"};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    char *text = log_all_levels(cases[k].threshold);
    int seen[4] = {0};
    int n = check_lines(text, seen), want = 0;
    for (int i = 0; i < 5; i++) {
      want += cases[k].shown[i];
      ck_assert_msg(logged(text, msgs[i], names[i]) == cases[k].shown[i], "%s: %s as %s: %s",
                    cases[k].threshold, msgs[i], names[i], text);
    }
    ck_assert_int_eq(n, want);
    free(text);
  }
  /* syslog's EMERG..CRIT and anything past DEBUG are written as ERROR. */
  capture_t c;
  setenv("AWS_LAMBDA_LOG_LEVEL", "ERROR", 1);
  evp__lambda_log_reload();
  cap_begin(&c);
  evp_lambda_log(NULL, (evp_log_level_t)0, "emerg", NULL);
  evp_lambda_log(NULL, (evp_log_level_t)8, "past-debug", NULL);
  char *text = cap_end(&c);
  ck_assert(logged(text, "emerg", "ERROR"));
  ck_assert(logged(text, "past-debug", "ERROR"));
  free(text);
  unsetenv("AWS_LAMBDA_LOG_LEVEL");
  evp__lambda_log_reload();
}
END_TEST

/* The loop over the transport's fake (tests/mock_transport.h): no Runtime
 * API, no socket; what the runtime needs from the transport is all there
 * is to it. */
START_TEST(test_runs_over_a_fake_transport) {
  char err[256];
  evp_lambda_runtime_t *rt = evp_lambda_runtime_new("127.0.0.1:9", err, sizeof err);
  ck_assert_msg(rt != NULL, "%s", err);
  mock_transport_t *f;
  int freed = 0;
  evp__transport_t *t = mock_transport_new(&f, &freed);
  ck_assert_ptr_nonnull(t);
  static const char *const lines[] = {"HTTP/1.1 200 OK\r\n",
                                      "Lambda-Runtime-Aws-Request-Id: fake-1\r\n",
                                      "Lambda-Runtime-Deadline-Ms: 4102444800000\r\n", NULL};
  mock_transport_answer(f, 200, lines, "{\"n\":42}", 3);
  evp__lambda_runtime_set_transport(rt, t);
  ck_assert_int_eq(evp_lambda_run(rt, h_echo, NULL, 1), EVP_OK);
  ck_assert_int_eq(mock_transport_requests(f), 2); /* GET /next, POST the response */
  ck_assert_str_eq(mock_transport_last_url(f),
                   "http://127.0.0.1:9/2018-06-01/runtime/invocation/fake-1/response");
  ck_assert_str_eq(mock_transport_last_body(f), "{\"n\":42}");
  ck_assert_int_eq(rt->inv.deadline_ms, 4102444800000);
  /* An answer without a request id cannot be served. */
  mock_transport_answer(f, 200, NULL, "{}", 0);
  ck_assert_int_eq(evp_lambda_run(rt, h_echo, NULL, 1), EVP_ERR_HTTP);
  evp_lambda_runtime_destroy(rt);
  ck_assert_int_eq(freed, 1);
}
END_TEST

int main(void) {
  if (getenv("EVP_TEST_LAMBDA_CHILD")) return child_main();
  ssize_t sl = readlink("/proc/self/exe", g_self, sizeof g_self - 1);
  if (sl <= 0) return 2;
  g_self[sl] = '\0';
  signal(SIGPIPE, SIG_IGN);
  Suite *s = suite_create("lambda");
  TCase *tc = tcase_create("runtime");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_success);
  tcase_add_test(tc, test_handler_error);
  tcase_add_test(tc, test_garbage_error_buffers);
  tcase_add_test(tc, test_invocation_metadata);
  tcase_add_test(tc, test_oversized_event);
  tcase_add_test(tc, test_null_response_with_length);
  tcase_add_test(tc, test_response_too_large);
  tcase_add_test(tc, test_init_error);
  tcase_add_test(tc, test_api_goes_away);
  tcase_add_test(tc, test_unexpected_answers);
  tcase_add_test(tc, test_max_invocations);
  tcase_add_test(tc, test_runtime_new_address);
  tcase_add_test(tc, test_json_escape);
  suite_add_tcase(s, tc);
  TCase *tl = tcase_create("logs");
  tcase_set_timeout(tl, 60);
  tcase_add_test(tl, test_log_json_and_levels);
  tcase_add_test(tl, test_log_request_id_no_payload);
  tcase_add_test(tl, test_log_levels_map_to_syslog_enum);
  suite_add_tcase(s, tl);
  TCase *tp = tcase_create("process");
  tcase_set_timeout(tp, 120);
  tcase_add_test(tp, test_crash_restart);
  suite_add_tcase(s, tp);
  TCase *tf = tcase_create("transport");
  tcase_add_test(tf, test_runs_over_a_fake_transport);
  suite_add_tcase(s, tf);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
