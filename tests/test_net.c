/* The one transport (src/net/transport.h): the response rules (body limit,
 * header capture, error text) through the fake that answers without a
 * server (tests/mock_transport.c), and the libcurl implementation against the test doubles
 * of the Lambda Runtime API and of AWS (tests/mock_*.c): headers, body
 * limits, timeouts, a wakeup interrupting a stalled request, several slots
 * on one multi handle, and https that is always verified. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include "net/transport.h"
#include "mock_aws.h"
#include "mock_lambda_api.h"
#include "mock_tls.h"
#include "mock_transport.h"

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ fake */

START_TEST(fake_answers_through_the_capture_rules) {
  static const char *const lines[] = {"HTTP/1.1 100 Continue\r\n",
                                      "X-Early: gone\r\n",
                                      "\r\n",
                                      "HTTP/1.1 200 OK\r\n",
                                      "x-request-id:   abc-1 \t\r\n",
                                      "X-Ctl: a\x01"
                                      "b\r\n",
                                      "X-Long: 0123456789abcdef\r\n",
                                      "Content-Length: 11\r\n",
                                      "\r\n",
                                      NULL};
  mock_transport_t *f;
  int freed = 0;
  evp__transport_t *t = mock_transport_new(&f, &freed);
  ck_assert_ptr_nonnull(t);
  mock_transport_answer(f, 200, lines, "hello world", 7);
  char id[16], early[16], ctl[16], lng[8], none[8];
  evp__net_hdr_t h[] = {{"X-Request-Id", id, sizeof id, 0},
                        {"X-Early", early, sizeof early, 0},
                        {"X-Ctl", ctl, sizeof ctl, 0},
                        {"X-Long", lng, sizeof lng, 0},
                        {"X-None", none, sizeof none, 0}};
  evp__net_resp_t r = {.hdrs = h, .nhdrs = 5};
  evp__net_resp_limit(&r, 64);
  evp__net_req_t rq = {.url = "http://fake/", .body = "q=1", .body_len = 3};
  ck_assert_int_eq(evp__transport_perform(t, 0, &rq, &r, NULL), EVP_OK);
  ck_assert_str_eq(mock_transport_last_body(f), "q=1");
  ck_assert_int_eq(r.status, 200);
  ck_assert_uint_eq(r.body.len, 11);
  ck_assert_str_eq(evp__net_resp_text(&r), "hello world"); /* NUL-terminated */
  ck_assert_str_eq(id, "abc-1");                           /* name case-insensitive, trimmed */
  ck_assert_str_eq(early, "");                             /* from the 100: cleared */
  ck_assert_str_eq(ctl, "a?b");                            /* control bytes replaced */
  ck_assert_str_eq(lng, "");                               /* too long: dropped, marked */
  ck_assert_int_eq(h[3].cut, 1);
  ck_assert_str_eq(none, "");
  ck_assert_int_eq(r.body_err, EVP_OK);
  /* The next request starts from an empty response. */
  mock_transport_answer(f, 204, NULL, NULL, 0);
  ck_assert_int_eq(evp__transport_perform(t, 0, &rq, &r, NULL), EVP_OK);
  ck_assert_int_eq(r.status, 204);
  ck_assert_uint_eq(r.body.len, 0);
  ck_assert_str_eq(evp__net_resp_text(&r), "");
  ck_assert_str_eq(id, "");
  ck_assert_int_eq(h[3].cut, 0);
  /* Out of range slots are refused, not passed on. */
  ck_assert_int_eq(evp__transport_start(t, 1, &rq, &r), EVP_ERR_TRANSPORT);
  ck_assert_int_eq(mock_transport_requests(f), 2);
  evp__net_resp_free(&r);
  evp__transport_free(t);
  ck_assert_int_eq(freed, 1);
}
END_TEST

START_TEST(body_limit_cuts_or_fails_as_asked) {
  mock_transport_t *f;
  evp__transport_t *t = mock_transport_new(&f, NULL);
  const char *body = "0123456789abcdefghijklmnopqrstuvwxyz";
  mock_transport_answer(f, 200, NULL, body, 7);
  evp__net_req_t rq = {.url = "http://fake/"};
  evp__net_resp_t r = {0};
  /* Room enough: everything. */
  evp__net_resp_limit(&r, 36);
  ck_assert_int_eq(evp__transport_perform(t, 0, &rq, &r, NULL), EVP_OK);
  ck_assert_uint_eq(r.body.len, 36);
  /* keep_over: the head that fits, the request succeeds, body_err says so.
   * The buffer already has room for more than the new limit: the limit
   * still holds. */
  r.keep_over = 1;
  evp__net_resp_limit(&r, 10);
  ck_assert_int_eq(evp__transport_perform(t, 0, &rq, &r, NULL), EVP_OK);
  ck_assert_int_eq(r.status, 200);
  ck_assert_uint_eq(r.body.len, 10);
  ck_assert_str_eq(evp__net_resp_text(&r), "0123456789");
  ck_assert_int_eq(r.body_err, EVP_ERR_TOO_LARGE);
  /* Otherwise the request fails with EVP_ERR_TOO_LARGE. */
  r.keep_over = 0;
  ck_assert_int_eq(evp__transport_perform(t, 0, &rq, &r, NULL), EVP_ERR_TOO_LARGE);
  ck_assert_int_eq(r.status, 0);
  ck_assert_ptr_nonnull(strstr(r.err, "larger than the limit"));
  evp__net_resp_free(&r);
  /* A secret-holding body moves when it grows, and is still whole. */
  evp__net_resp_t w = {.wipe = 1};
  mock_transport_answer(f, 200, NULL, body, 1);
  ck_assert_int_eq(evp__transport_perform(t, 0, &rq, &w, NULL), EVP_OK);
  ck_assert_str_eq(evp__net_resp_text(&w), body);
  evp__net_resp_free(&w);
  ck_assert_ptr_null(w.body.p);
  evp__transport_free(t);
}
END_TEST

typedef struct {
  evp__transport_t *t;
  atomic_int *cancel;
  int after_ms;
  mock_lambda_t *server;   /* when set: cancel once it holds the request */
  _Atomic int64_t woke_ms; /* when the wakeup was sent */
} waker_t;

static void *waker_main(void *p) {
  waker_t *w = p;
  struct timespec ts = {w->after_ms / 1000, (long)(w->after_ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
  /* A loaded machine may take longer than after_ms to connect: the test is
   * about interrupting a request the server holds, so wait for that. */
  if (w->server) ck_assert_int_eq(mock_lambda_wait_polling(w->server, 1, 20000), 0);
  atomic_store(&w->woke_ms, now_ms());
  if (w->cancel) atomic_store(w->cancel, 1);
  evp__transport_wakeup(w->t);
  return NULL;
}

/* How long a wakeup may take to end a wait that would otherwise last its
 * full second: far less, but memory checkers slow everything down. */
static int64_t wakeup_bound_ms(void) { return getenv("EVP_VALGRIND") ? 5000 : 800; }

START_TEST(fake_wakeup_ends_a_cancelled_wait_at_once) {
  mock_transport_t *f;
  evp__transport_t *t = mock_transport_new(&f, NULL);
  mock_transport_stall(f, 1);
  atomic_int cancel = 0;
  waker_t w = {t, &cancel, 100, NULL, 0};
  pthread_t th;
  evp__net_req_t rq = {.url = "http://fake/"};
  evp__net_resp_t r = {0};
  pthread_create(&th, NULL, waker_main, &w);
  ck_assert_int_eq(evp__transport_perform(t, 0, &rq, &r, &cancel), EVP_ERR_TIMED_OUT);
  int64_t took = now_ms() - atomic_load(&w.woke_ms);
  pthread_join(th, NULL);
  ck_assert_msg(took < wakeup_bound_ms(), "took %lld ms after the wakeup",
                (long long)took); /* polls wait 1000 ms */
  ck_assert_str_eq(r.err, "aborted");
  ck_assert_int_eq(mock_transport_busy(f), 0); /* the request was dropped */
  evp__transport_wakeup(NULL);                 /* a no-op */
  evp__transport_free(t);
}
END_TEST

/* ------------------------------------------------------------ libcurl */

static evp__transport_t *curl_transport(const evp__transport_conf_t *cf) {
  evp__transport_t *t = NULL;
  char err[256] = "";
  ck_assert_msg(evp__transport_new(cf, &t, err, sizeof err) == EVP_OK, "%s", err);
  ck_assert_ptr_nonnull(t);
  return t;
}

START_TEST(lambda_headers_and_body_are_captured) {
  mock_lambda_t *m = mock_lambda_start();
  ck_assert_ptr_nonnull(m);
  mock_lambda_invocation_t inv = {.payload = "{\"k\":\"v\"}",
                                  .request_id = "req-net-1",
                                  .deadline_ms = 1700000000123,
                                  .trace_id = "Root=1-abc;Sampled=1"};
  ck_assert_int_eq(mock_lambda_enqueue(m, &inv, NULL, 0), 0);
  evp__transport_conf_t cf = {.slots = 1, .http_only = 1};
  evp__transport_t *t = curl_transport(&cf);
  char id[128], dl[24], trace[64], arn[128];
  evp__net_hdr_t h[] = {{"Lambda-Runtime-Aws-Request-Id", id, sizeof id, 0},
                        {"Lambda-Runtime-Deadline-Ms", dl, sizeof dl, 0},
                        {"Lambda-Runtime-Trace-Id", trace, sizeof trace, 0},
                        {"Lambda-Runtime-Invoked-Function-Arn", arn, sizeof arn, 0}};
  evp__net_resp_t r = {.hdrs = h, .nhdrs = 4};
  evp__net_resp_limit(&r, 1 << 20);
  char url[256];
  snprintf(url, sizeof url, "http://%s/2018-06-01/runtime/invocation/next", mock_lambda_address(m));
  evp__net_req_t rq = {.url = url, .connect_timeout_ms = 5000};
  ck_assert_int_eq(evp__transport_perform(t, 0, &rq, &r, NULL), EVP_OK);
  ck_assert_int_eq(r.status, 200);
  ck_assert_str_eq(evp__net_resp_text(&r), "{\"k\":\"v\"}");
  ck_assert_str_eq(id, "req-net-1");
  ck_assert_str_eq(dl, "1700000000123");
  ck_assert_str_eq(trace, "Root=1-abc;Sampled=1");
  ck_assert_ptr_nonnull(strstr(arn, "arn:aws:lambda:"));
  /* An answer goes back on the same kept-alive handle. */
  snprintf(url, sizeof url, "http://%s/2018-06-01/runtime/invocation/req-net-1/response",
           mock_lambda_address(m));
  evp__net_req_t post = {.url = url, .body = "\"ok\"", .body_len = 4};
  ck_assert_int_eq(evp__transport_perform(t, 0, &post, &r, NULL), EVP_OK);
  ck_assert_int_eq(r.status, 202);
  ck_assert_str_eq(id, ""); /* captures belong to one response */
  mock_lambda_result_t res;
  ck_assert_int_eq(mock_lambda_wait_result(m, "req-net-1", 5000, &res), 0);
  ck_assert_str_eq(res.body, "\"ok\"");
  mock_lambda_result_free(&res);
  /* http_only: https is refused before anything is sent. */
  evp__net_req_t tls = {.url = "https://127.0.0.1:1/"};
  ck_assert_int_eq(evp__transport_perform(t, 0, &tls, &r, NULL), EVP_ERR_TRANSPORT);
  ck_assert_int_eq(r.code, CURLE_UNSUPPORTED_PROTOCOL);
  evp__net_resp_free(&r);
  evp__transport_free(t);
  mock_lambda_stop(m);
}
END_TEST

START_TEST(wakeup_interrupts_a_stalled_request) {
  /* GET /next with nothing queued is held by the mock indefinitely. */
  mock_lambda_t *m = mock_lambda_start();
  ck_assert_ptr_nonnull(m);
  evp__transport_conf_t cf = {.slots = 1, .http_only = 1};
  evp__transport_t *t = curl_transport(&cf);
  char url[256];
  snprintf(url, sizeof url, "http://%s/2018-06-01/runtime/invocation/next", mock_lambda_address(m));
  evp__net_req_t rq = {.url = url};
  evp__net_resp_t r = {0};
  atomic_int cancel = 0;
  waker_t w = {t, &cancel, 300, m, 0};
  pthread_t th;
  pthread_create(&th, NULL, waker_main, &w);
  ck_assert_int_eq(evp__transport_perform(t, 0, &rq, &r, &cancel), EVP_ERR_TIMED_OUT);
  int64_t took = now_ms() - atomic_load(&w.woke_ms);
  pthread_join(th, NULL);
  /* Without the wakeup the wait would last its full second. */
  ck_assert_msg(took < wakeup_bound_ms(), "took %lld ms after the wakeup", (long long)took);
  /* The slot is usable again. */
  mock_lambda_enqueue_simple(m, "req-after", "{}");
  ck_assert_int_eq(evp__transport_perform(t, 0, &rq, &r, NULL), EVP_OK);
  ck_assert_int_eq(r.status, 200);
  evp__net_resp_free(&r);
  evp__transport_free(t);
  mock_lambda_stop(m);
}
END_TEST

/* An AWS JSON 1.1 request to the AWS double (signed by the transport). */
static struct curl_slist *aws_headers(const char *op) {
  char target[96];
  snprintf(target, sizeof target, "X-Amz-Target: secretsmanager.%s", op);
  struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/x-amz-json-1.1");
  l = curl_slist_append(l, target);
  ck_assert_ptr_nonnull(l);
  return l;
}

static evp__transport_conf_t aws_conf(void) {
  return (evp__transport_conf_t){.slots = 2,
                                 .aws_sigv4 = "aws:amz:" MOCK_AWS_REGION ":secretsmanager",
                                 .user = MOCK_AWS_ACCESS_KEY,
                                 .password = MOCK_AWS_SECRET_KEY};
}

START_TEST(aws_error_headers_body_limit_and_timeout) {
  mock_aws_conf_t mc = {0}; /* no session token */
  mock_aws_t *m = mock_aws_start(&mc);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(mock_aws_secret_create(m, "s", "value", 5, NULL), 0);
  evp__transport_conf_t cf = aws_conf();
  evp__transport_t *t = curl_transport(&cf);
  struct curl_slist *l = aws_headers("DescribeSecret");
  const char *body = "{\"SecretId\":\"s\"}";
  evp__net_req_t rq = {mock_aws_url(m), l, body, strlen(body), 5000, 5000};
  char et[128], rid[80];
  evp__net_hdr_t h[] = {{"x-amzn-ErrorType", et, sizeof et, 0},
                        {"x-amzn-RequestId", rid, sizeof rid, 0}};
  evp__net_resp_t r = {.hdrs = h, .nhdrs = 2, .wipe = 1};
  evp__net_resp_limit(&r, 1 << 16);
  /* Signed, answered. */
  ck_assert_int_eq(evp__transport_perform(t, 0, &rq, &r, NULL), EVP_OK);
  ck_assert_msg(r.status == 200, "%ld %s", r.status, evp__net_resp_text(&r));
  ck_assert_ptr_nonnull(strstr(evp__net_resp_text(&r), "\"Name\""));
  ck_assert_str_eq(et, "");
  /* An error: its type from the header. */
  mock_aws_fail_next(m, "DescribeSecret", 1, 400, "ThrottlingException");
  ck_assert_int_eq(evp__transport_perform(t, 0, &rq, &r, NULL), EVP_OK);
  ck_assert_int_eq(r.status, 400);
  ck_assert_ptr_nonnull(strstr(et, "ThrottlingException"));
  /* A body over the limit fails the request (keep_over off)... */
  static char big[5000];
  memset(big, 'x', sizeof big - 1);
  evp__net_resp_limit(&r, 100);
  mock_aws_raw_next(m, "DescribeSecret", 200, "application/json", big, sizeof big - 1);
  ck_assert_int_eq(evp__transport_perform(t, 0, &rq, &r, NULL), EVP_ERR_TOO_LARGE);
  ck_assert_uint_le(r.body.len, 100);
  /* ... or keeps its head. */
  r.keep_over = 1;
  mock_aws_raw_next(m, "DescribeSecret", 200, "application/json", big, sizeof big - 1);
  ck_assert_int_eq(evp__transport_perform(t, 0, &rq, &r, NULL), EVP_OK);
  ck_assert_uint_eq(r.body.len, 100);
  ck_assert_int_eq(r.body_err, EVP_ERR_TOO_LARGE);
  /* The request's timeout holds. */
  mock_aws_delay_next(m, "DescribeSecret", 1, 3000);
  rq.timeout_ms = 300;
  int64_t t0 = now_ms();
  ck_assert_int_eq(evp__transport_perform(t, 0, &rq, &r, NULL), EVP_ERR_TRANSPORT);
  int64_t took = now_ms() - t0;
  ck_assert_int_eq(r.code, CURLE_OPERATION_TIMEDOUT);
  ck_assert_msg(took < 2000, "took %lld ms", (long long)took);
  ck_assert_msg(strstr(r.err, "timed out") || strstr(r.err, "Timeout"), "%s", r.err);
  evp__net_resp_free(&r);
  evp__transport_free(t);
  curl_slist_free_all(l);
  mock_aws_stop(m);
}
END_TEST

START_TEST(slots_finish_independently_on_one_multi_handle) {
  mock_lambda_t *ml = mock_lambda_start();
  mock_aws_conf_t mc = {0};
  mock_aws_t *ma = mock_aws_start(&mc);
  ck_assert_ptr_nonnull(ml);
  ck_assert_ptr_nonnull(ma);
  ck_assert_int_eq(mock_aws_secret_create(ma, "s", "value", 5, NULL), 0);
  evp__transport_conf_t cf = aws_conf(); /* two slots */
  evp__transport_t *t = curl_transport(&cf);
  ck_assert_uint_eq(evp__transport_slots(t), 2);
  /* Slot 0: a long poll that is not answered yet. */
  char url[256], id[64];
  snprintf(url, sizeof url, "http://%s/2018-06-01/runtime/invocation/next",
           mock_lambda_address(ml));
  evp__net_hdr_t h = {"Lambda-Runtime-Aws-Request-Id", id, sizeof id, 0};
  evp__net_resp_t r0 = {.hdrs = &h, .nhdrs = 1};
  evp__net_req_t q0 = {.url = url};
  ck_assert_int_eq(evp__transport_start(t, 0, &q0, &r0), EVP_OK);
  ck_assert_int_eq(evp__transport_start(t, 0, &q0, &r0), EVP_ERR_TRANSPORT); /* busy */
  /* Slot 1: a whole request meanwhile; slot 0 is still out. */
  struct curl_slist *l = aws_headers("DescribeSecret");
  evp__net_req_t q1 = {mock_aws_url(ma), l, "{\"SecretId\":\"s\"}", 16, 5000, 5000};
  evp__net_resp_t r1 = {0};
  ck_assert_int_eq(evp__transport_perform(t, 1, &q1, &r1, NULL), EVP_OK);
  ck_assert_int_eq(r1.status, 200);
  size_t slot;
  evp_err_t rc;
  evp__transport_poll(t, 0);
  ck_assert_int_eq(evp__transport_next_done(t, &slot, &rc), 0);
  /* Now answer slot 0: next_done hands it over. */
  ck_assert_int_eq(mock_lambda_enqueue_simple(ml, "req-slot-0", "{}"), 0);
  int64_t until = now_ms() + 5000;
  int got = 0;
  while (!got && now_ms() < until) {
    evp__transport_poll(t, 200);
    got = evp__transport_next_done(t, &slot, &rc);
  }
  ck_assert_int_eq(got, 1);
  ck_assert_uint_eq(slot, 0);
  ck_assert_int_eq(rc, EVP_OK);
  ck_assert_int_eq(r0.status, 200);
  ck_assert_str_eq(id, "req-slot-0");
  /* Aborting a request in flight frees its slot. */
  ck_assert_int_eq(evp__transport_start(t, 0, &q0, &r0), EVP_OK);
  evp__transport_poll(t, 50);
  evp__transport_abort(t, 0);
  ck_assert_int_eq(evp__transport_next_done(t, &slot, &rc), 0);
  ck_assert_int_eq(evp__transport_start(t, 0, &q0, &r0), EVP_OK);
  evp__transport_free(t); /* with a request in flight */
  evp__net_resp_free(&r0);
  evp__net_resp_free(&r1);
  curl_slist_free_all(l);
  mock_aws_stop(ma);
  mock_lambda_stop(ml);
}
END_TEST

START_TEST(https_is_always_verified) {
  mock_tls_t tls;
  ck_assert_int_eq(mock_tls_make(&tls), 0);
  mock_aws_conf_t mc = {.tls_cert_pem = tls.cert_pem, .tls_key_pem = tls.key_pem};
  mock_aws_t *m = mock_aws_start(&mc);
  ck_assert_ptr_nonnull(m);
  ck_assert(strncmp(mock_aws_url(m), "https://", 8) == 0);
  ck_assert_int_eq(mock_aws_secret_create(m, "s", "value", 5, NULL), 0);
  struct curl_slist *l = aws_headers("DescribeSecret");
  evp__net_req_t rq = {mock_aws_url(m), l, "{\"SecretId\":\"s\"}", 16, 5000, 5000};
  evp__net_resp_t r = {0};
  mock_aws_stats_t st;
  /* Self-signed, not trusted: refused, nothing reaches the service. There
   * is no setting that turns verification off. */
  evp__transport_conf_t cf = aws_conf();
  evp__transport_t *t = curl_transport(&cf);
  ck_assert_int_eq(evp__transport_perform(t, 0, &rq, &r, NULL), EVP_ERR_TRANSPORT);
  ck_assert_msg(r.code == CURLE_PEER_FAILED_VERIFICATION, "%d %s", r.code, r.err);
  ck_assert_int_eq(r.status, 0);
  evp__transport_free(t);
  mock_aws_stats(m, NULL, &st);
  ck_assert_uint_eq(st.requests, 0);
  /* Trusted through ca_file: answered. */
  cf.ca_file = tls.cert_path;
  t = curl_transport(&cf);
  ck_assert_int_eq(evp__transport_perform(t, 0, &rq, &r, NULL), EVP_OK);
  ck_assert_int_eq(r.status, 200);
  evp__transport_free(t);
  evp__net_resp_free(&r);
  curl_slist_free_all(l);
  mock_aws_stop(m);
  mock_tls_remove(&tls);
}
END_TEST

int main(void) {
  Suite *s = suite_create("net");
  TCase *tc = tcase_create("transport");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, fake_answers_through_the_capture_rules);
  tcase_add_test(tc, body_limit_cuts_or_fails_as_asked);
  tcase_add_test(tc, fake_wakeup_ends_a_cancelled_wait_at_once);
  tcase_add_test(tc, lambda_headers_and_body_are_captured);
  tcase_add_test(tc, wakeup_interrupts_a_stalled_request);
  tcase_add_test(tc, aws_error_headers_body_limit_and_timeout);
  tcase_add_test(tc, slots_finish_independently_on_one_multi_handle);
  tcase_add_test(tc, https_is_always_verified);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
