/* Suite: the client SDK against the in-process mock server: delivery,
 * tokens, batching, compression, door checks, queue limits, close and fork. */
#include "client_harness.h"
#include "mock_tls.h"
#include <cjson/cJSON.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

START_TEST(delivers_every_event_once_with_one_token) {
  ms_t *s = ms_start();
  dr_t *d = dr_new();
  evp_client_t *c = mk_client(s, d, NULL);
  send_range(c, 0, 1000);
  ck_assert_int_eq(evp_flush(c, 10000), 0);
  ck_assert_int_eq(check_once(s, d, 1000), 0);
  ck_assert_int_eq(d->ok, 1000);
  ck_assert_int_eq(ms_token_requests(s), 1);
  /* Kept-alive connections carried the token and every batch: at most one
   * per request in flight (max.in.flight, default 4). */
  ck_assert_int_ge(ms_events_requests(s), 2);
  ck_assert_int_le(ms_connections(s), 4);
  char ua[128], tb[512];
  ms_last_user_agent(s, ua, sizeof ua);
  ck_assert_str_eq(ua, "libevpipe/" EVP_VERSION_STR);
  ms_last_token_body(s, tb, sizeof tb);
  /* The secret "s3cr&t" must arrive form-encoded. */
  ck_assert_str_eq(
      tb,
      "grant_type=client_credentials&client_id=test-client&client_secret=s3cr%26t&audience=events");
  char *st = evp_client_stats(c);
  cJSON *j = cJSON_Parse(st);
  ck_assert_ptr_nonnull(j);
  ck_assert_int_eq(cJSON_GetObjectItem(j, "delivered")->valueint, 1000);
  ck_assert_int_eq(cJSON_GetObjectItem(j, "enqueued")->valueint, 1000);
  ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "token"), "refreshes")->valueint, 1);
  ck_assert_int_ge(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "latency_us"), "samples")->valueint,
                   2);
  cJSON_Delete(j);
  evp_free(st);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  ms_stop(s);
  dr_free(d);
}
END_TEST

START_TEST(cleartext_requests_never_go_through_a_proxy) {
  /* The client secret and bearer tokens travel in the clear over http://
   * (loopback only): a proxy from the environment must not see them. */
  ms_t *s = ms_start(), *proxy = ms_start();
  dr_t *d = dr_new();
  char purl[128];
  snprintf(purl, sizeof purl, "%s", ms_url(proxy));
  setenv("http_proxy", purl, 1);
  setenv("HTTP_PROXY", purl, 1);
  evp_client_t *c = mk_client(s, d, NULL);
  send_range(c, 0, 10);
  ck_assert_int_eq(evp_flush(c, 10000), 0);
  ck_assert_int_eq(d->ok, 10);
  ck_assert_int_eq(ms_connections(proxy), 0);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  unsetenv("http_proxy");
  unsetenv("HTTP_PROXY");
  ms_stop(proxy);
  ms_stop(s);
  dr_free(d);
}
END_TEST

START_TEST(fills_event_id_and_time_only_when_absent) {
  ms_t *s = ms_start();
  dr_t *d = dr_new();
  evp_client_t *c = mk_client(s, d, NULL);
  char e[256];
  ck_assert_int_eq(evp_send(c, "  {\"type\":\"a\"}\n", 15, e, sizeof e), EVP_OK);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  char js[512];
  ck_assert(ms_first_event_json(s, js, sizeof js));
  cJSON *j = cJSON_Parse(js);
  ck_assert_ptr_nonnull(j);
  const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(j, "event_id"));
  const char *tm = cJSON_GetStringValue(cJSON_GetObjectItem(j, "event_time"));
  ck_assert_ptr_nonnull(id);
  ck_assert_ptr_nonnull(tm);
  ck_assert_uint_eq(strlen(id), 36);
  ck_assert_int_eq(id[14], '7');             /* version 7 */
  ck_assert(strchr("89ab", id[19]) != NULL); /* RFC variant */
  ck_assert_uint_eq(strlen(tm), 24);
  ck_assert_int_eq(tm[23], 'Z');
  ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "type")), "a");
  cJSON_Delete(j);
  /* Present fields are kept as they are. */
  const char *ev = "{\"event_id\":\"ev-5\",\"event_time\":\"2020-01-01T00:00:00Z\"}";
  ck_assert_int_eq(evp_send(c, ev, strlen(ev), e, sizeof e), EVP_OK);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  ck_assert(ms_event_json(s, "ev-5", js, sizeof js));
  ck_assert_str_eq(js, ev);
  evp_client_destroy(c, 1000);
  ms_stop(s);
  dr_free(d);
}
END_TEST

START_TEST(fill_can_be_turned_off) {
  ms_t *s = ms_start();
  dr_t *d = dr_new();
  evp_client_t *c = mk_client(s, d, "fill.event_id", "false", "fill.event_time", "false", NULL);
  char e[256];
  ck_assert_int_eq(evp_send(c, "{}", 2, e, sizeof e), EVP_OK);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  char js[128];
  ck_assert(ms_first_event_json(s, js, sizeof js));
  ck_assert_str_eq(js, "{}");
  evp_client_destroy(c, 1000);
  ms_stop(s);
  dr_free(d);
}
END_TEST

START_TEST(invalid_events_are_refused_synchronously) {
  ms_t *s = ms_start();
  dr_t *d = dr_new();
  evp_client_t *c = mk_client(s, d, NULL);
  char e[256];
  const char *bad[] = {"[1,2]",
                       "\"str\"",
                       "42",
                       "",
                       "   ",
                       "{\"a\":}",
                       "{\"a\":1,}",
                       "{\"a\":1}x",
                       "{\"a\":\"\x01\"}",
                       "{\"a\":\"\xff\"}",
                       "{\"a\":01}",
                       "{\"a\":tru}",
                       "{\"a\":\"\\q\"}",
                       "{\"a\":[1,2}",
                       "{'a':1}",
                       "{\"a\":1} {}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    e[0] = '\0';
    evp_err_t r = evp_send(c, bad[i], strlen(bad[i]), e, sizeof e);
    ck_assert_msg(r == EVP_ERR_INVALID_EVENT || r == EVP_ERR_JSON, "accepted %s", bad[i]);
    ck_assert_msg(e[0] == '$', "no path in \"%s\"", e);
  }
  ck_assert_int_eq(evp_send(c, NULL, 3, e, sizeof e), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp_send(NULL, "{}", 2, e, sizeof e), EVP_ERR_INVALID_ARG);
  /* Valid edge cases pass. */
  const char *good[] = {"{}", "{\"a\":[{\"b\":null}],\"c\":-1.5e+3,\"d\":\"\\u00e9\xc3\xa9\"}"};
  for (size_t i = 0; i < 2; i++)
    ck_assert_int_eq(evp_send(c, good[i], strlen(good[i]), e, sizeof e), EVP_OK);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  ck_assert_int_eq(ms_accepted_total(s), 2);
  char *st = evp_client_stats(c);
  ck_assert_ptr_nonnull(strstr(st, "\"invalid_event\":16"));
  evp_free(st);
  evp_client_destroy(c, 1000);
  ms_stop(s);
  dr_free(d);
}
END_TEST

START_TEST(batches_respect_event_and_byte_limits) {
  ms_t *s = ms_start();
  dr_t *d = dr_new();
  evp_client_t *c = mk_client(s, d, "batch.max.events", "10", "linger.ms", "60000", NULL);
  send_range(c, 0, 95);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  check_once(s, d, 95);
  ck_assert_int_eq(ms_max_batch_seen(s), 10);
  ck_assert_int_ge(ms_events_requests(s), 10);
  evp_client_destroy(c, 1000);
  ms_stop(s);
  dr_free(d);
  /* Byte limit: ~40-byte events, 1024-byte batches hold at most ~25. */
  s = ms_start();
  d = dr_new();
  c = mk_client(s, d, "batch.max.bytes", "1024", NULL);
  send_range(c, 0, 200);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  check_once(s, d, 200);
  ck_assert_int_le(ms_max_batch_seen(s), 1024 / 38);
  char big[2048];
  memset(big, ' ', sizeof big);
  big[0] = '{';
  big[sizeof big - 1] = '}';
  char e[256];
  ck_assert_int_eq(evp_send(c, big, sizeof big, e, sizeof e), EVP_ERR_TOO_LARGE);
  evp_client_destroy(c, 1000);
  ms_stop(s);
  dr_free(d);
}
END_TEST

START_TEST(linger_delays_partial_batches_and_flush_cuts_it) {
  ms_t *s = ms_start();
  dr_t *d = dr_new();
  evp_client_t *c = mk_client(s, d, "linger.ms", "60000", NULL);
  send_range(c, 0, 5);
  struct timespec ts = {0, 200 * 1000000L};
  nanosleep(&ts, NULL);
  ck_assert_int_eq(ms_accepted_total(s), 0); /* still lingering */
  double t0 = mono_s();
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  ck_assert(mono_s() - t0 < 2.0);
  check_once(s, d, 5);
  evp_client_destroy(c, 1000);
  ms_stop(s);
  dr_free(d);
}
END_TEST

START_TEST(gzip_bodies_are_sent_and_accepted) {
  ms_t *s = ms_start();
  dr_t *d = dr_new();
  evp_client_t *c = mk_client(s, d, "compression", "gzip", NULL);
  send_range(c, 0, 700);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  check_once(s, d, 700);
  ck_assert_int_ge(ms_gzip_requests(s), 2);
  ck_assert_int_eq(ms_gzip_requests(s), ms_events_requests(s));
  evp_client_destroy(c, 1000);
  ms_stop(s);
  dr_free(d);
}
END_TEST

START_TEST(delivery_report_mode_errors_skips_successes) {
  ms_t *s = ms_start();
  dr_t *d = dr_new();
  evp_client_t *c = mk_client(s, d, "delivery.report.mode", "errors", "linger.ms", "60000", NULL);
  ms_push(s, MS_REJECT, 1);
  send_range(c, 0, 3);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  ck_assert_int_eq(d->total, 1);
  ck_assert_int_eq(d->rejected, 1);
  ck_assert_int_eq(d->reports[1], 1);
  evp_client_destroy(c, 1000);
  ms_stop(s);
  dr_free(d);
}
END_TEST

START_TEST(full_queue_fails_fast_or_waits_bounded) {
  ms_t *s = ms_start();
  ms_set_token_delay_ms(s, 1500); /* nothing can leave the queue meanwhile */
  dr_t *d = dr_new();
  evp_client_t *c = mk_client(s, d, "queue.max.events", "10", NULL);
  send_range(c, 0, 10);
  double t0 = mono_s();
  ck_assert_int_eq(send_ev(c, 10), EVP_ERR_QUEUE_FULL);
  ck_assert(mono_s() - t0 < 0.15); /* fail fast: no waiting */
  evp_client_destroy(c, 5000);
  ck_assert_int_eq(check_once(s, d, 10), 0);
  dr_free(d);
  d = dr_new();
  c = mk_client(s, d, "queue.max.events", "10", "queue.block.timeout.ms", "200", NULL);
  send_range(c, 0, 10);
  t0 = mono_s();
  ck_assert_int_eq(send_ev(c, 10), EVP_ERR_QUEUE_FULL);
  double waited = mono_s() - t0;
  ck_assert_msg(waited >= 0.18 && waited < 2.0, "waited %.3f s", waited);
  /* Once the token arrives the queue drains and the blocked sender gets in. */
  ck_assert_int_eq(send_ev(c, 10), EVP_ERR_QUEUE_FULL);
  ms_set_token_delay_ms(s, 0);
  evp_client_destroy(c, 5000);
  dr_free(d);
  ms_stop(s);
  /* Byte bound. */
  s = ms_start();
  d = dr_new();
  ms_set_token_delay_ms(s, 1000);
  c = mk_client(s, d, "queue.max.bytes", "4096", NULL);
  long k = 0;
  while (send_ev(c, k) == EVP_OK) k++;
  ck_assert_int_gt(k, 10);
  ck_assert_int_lt(k, 4096 / 40);
  evp_client_destroy(c, 3000);
  ck_assert_int_eq(check_once(s, d, k), 0);
  ms_stop(s);
  dr_free(d);
}
END_TEST

START_TEST(send_never_waits_for_a_slow_token) {
  ms_t *s = ms_start();
  ms_set_token_delay_ms(s, 800);
  dr_t *d = dr_new();
  evp_client_t *c = mk_client(s, d, NULL);
  double worst = 0;
  for (long k = 0; k < 200; k++) {
    double t0 = mono_s();
    ck_assert_int_eq(send_ev(c, k), EVP_OK);
    double dt = mono_s() - t0;
    if (dt > worst) worst = dt;
  }
  ck_assert_msg(worst < 0.25, "evp_send took %.3f s", worst); /* token takes 0.8 s */
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  check_once(s, d, 200);
  evp_client_destroy(c, 1000);
  ms_stop(s);
  dr_free(d);
}
END_TEST

START_TEST(token_failures_back_off_then_recover) {
  ms_t *s = ms_start();
  ms_set_token_unavailable(s, 2); /* 503: transient, unlike 401 invalid_client */
  dr_t *d = dr_new();
  evp_client_t *c = mk_client(s, d, NULL);
  send_range(c, 0, 50);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  ck_assert_int_eq(check_once(s, d, 50), 0);
  ck_assert_int_eq(ms_token_requests(s), 3);
  char *st = evp_client_stats(c);
  ck_assert_ptr_nonnull(strstr(st, "\"token\":{\"refreshes\":1,\"failures\":2}"));
  evp_free(st);
  evp_client_destroy(c, 1000);
  ms_stop(s);
  dr_free(d);
}
END_TEST

START_TEST(token_is_refreshed_before_expiry) {
  ms_t *s = ms_start();
  ms_set_token_ttl_s(s, 1); /* refresh due after 0.6-0.8 s */
  dr_t *d = dr_new();
  evp_client_t *c = mk_client(s, d, NULL);
  send_range(c, 0, 10);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  struct timespec ts = {1, 700 * 1000000L};
  nanosleep(&ts, NULL);
  ck_assert_int_ge(ms_token_requests(s), 2);
  send_range(c, 10, 20);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  ck_assert_int_eq(check_once(s, d, 20), 0);
  ck_assert_int_eq(ms_unauthorized(s), 0); /* never used an expired token */
  evp_client_destroy(c, 1000);
  ms_stop(s);
  dr_free(d);
}
END_TEST

START_TEST(client_new_checks_the_configuration) {
  char e[256];
  evp_conf_t *c = evp_conf_new();
  ck_assert_ptr_null(evp_client_new(c, e, sizeof e));
  ck_assert_ptr_nonnull(strstr(e, "endpoint"));
  evp_conf_set(c, "endpoint", "http://ingest.example.com", NULL, 0);
  evp_conf_set(c, "client.id", "x", NULL, 0);
  ck_assert_ptr_null(evp_client_new(c, e, sizeof e));
  ck_assert_ptr_nonnull(strstr(e, "client.secret"));
  evp_conf_set(c, "client.secret", "y", NULL, 0);
  ck_assert_ptr_null(evp_client_new(c, e, sizeof e));
  ck_assert_ptr_nonnull(strstr(e, "loopback"));
  evp_conf_set(c, "endpoint", "ftp://127.0.0.1", NULL, 0);
  ck_assert_ptr_null(evp_client_new(c, e, sizeof e));
  evp_conf_set(c, "endpoint", "http://127.0.0.1:9", NULL, 0);
  evp_conf_set(c, "token.url", "http://auth.example.com/token", NULL, 0);
  ck_assert_ptr_null(evp_client_new(c, e, sizeof e));
  ck_assert_ptr_nonnull(strstr(e, "token.url"));
  evp_conf_set(c, "schema.file", "/nonexistent/schema.json", NULL, 0);
  evp_conf_set(c, "token.url", "", NULL, 0);
  ck_assert_ptr_null(evp_client_new(c, e, sizeof e));
  ck_assert_ptr_nonnull(strstr(e, "schema.file"));
  evp_conf_set(c, "schema.file", "", NULL, 0);
  evp_conf_set(c, "endpoint", "http://ingest.example.com", NULL, 0);
  evp_conf_set(c, "allow.insecure.http", "true", NULL, 0);
  evp_client_t *cl = evp_client_new(c, e, sizeof e); /* takes c */
  ck_assert_ptr_nonnull(cl);
  ck_assert_int_eq(evp_client_destroy(cl, 0), 0);
  ck_assert_ptr_null(evp_client_new(NULL, e, sizeof e));
  ck_assert_int_eq(evp_client_destroy(NULL, 0), 0);
  ck_assert_int_eq(evp_flush(NULL, 0), -1);
  ck_assert_ptr_null(evp_client_stats(NULL));
}
END_TEST

START_TEST(schema_file_validates_at_the_door) {
  ms_t *s = ms_start();
  dr_t *d = dr_new();
  char path[] = "/tmp/evp-schema-XXXXXX";
  int fd = mkstemp(path);
  const char *sch = "{\"type\":\"object\",\"required\":[\"type\"],"
                    "\"properties\":{\"type\":{\"type\":\"string\"},\"n\":{\"type\":\"integer\"}}}";
  ck_assert_int_eq(write(fd, sch, strlen(sch)), (ssize_t)strlen(sch));
  close(fd);
  evp_client_t *c = mk_client(s, d, "schema.file", path, NULL);
  char e[256];
  ck_assert_int_eq(evp_send(c, "{\"n\":1}", 7, e, sizeof e), EVP_ERR_INVALID_EVENT);
  ck_assert_msg(strlen(e) > 0, "no message");
  ck_assert_int_eq(evp_send(c, "{\"type\":\"x\",\"n\":\"one\"}", 22, e, sizeof e),
                   EVP_ERR_INVALID_EVENT);
  ck_assert_ptr_nonnull(strstr(e, "/n"));
  ck_assert_int_eq(send_ev(c, 0), EVP_OK);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  ck_assert_int_eq(ms_accepted_total(s), 1);
  evp_client_destroy(c, 1000);
  unlink(path);
  ms_stop(s);
  dr_free(d);
}
END_TEST

START_TEST(destroy_while_server_down_returns_in_time) {
  ms_t *s = ms_start();
  ms_set_down(s, 1);
  dr_t *d = dr_new();
  evp_client_t *c = mk_client(s, d, NULL);
  send_range(c, 0, 300);
  double t0 = mono_s();
  long n = evp_client_destroy(c, 400);
  double dt = mono_s() - t0;
  d->closed = 1;
  ck_assert_msg(dt < 1.5, "destroy took %.3f s", dt);
  ck_assert_int_eq(n, 300);
  check_once(s, d, 300);
  ck_assert_int_eq(d->failed, 300);
  ck_assert_int_eq(d->err[7], EVP_ERR_STATE);
  ck_assert_int_eq(d->after_close, 0);
  ms_stop(s);
  dr_free(d);
}
END_TEST

START_TEST(destroy_interrupts_a_stalled_request) {
  ms_t *s = ms_start();
  ms_push(s, MS_STALL, 5000);
  dr_t *d = dr_new();
  /* One request at a time: if the 20 events leave as two batches (a slow
   * run, valgrind), the second waits behind the stalled one instead of
   * being delivered on another connection. */
  evp_client_t *c = mk_client(s, d, "request.timeout.ms", "20000", "max.in.flight", "1", NULL);
  send_range(c, 0, 20);
  struct timespec ts = {0, 300 * 1000000L};
  nanosleep(&ts, NULL);
  double t0 = mono_s();
  evp_client_destroy(c, 300);
  double dt = mono_s() - t0;
  ck_assert_msg(dt < 2.0, "destroy took %.3f s", dt); /* the stall lasts 5 s */
  /* Reported undelivered (the server may still record them later). */
  pthread_mutex_lock(&d->mu);
  ck_assert_int_eq(d->failed, 20);
  pthread_mutex_unlock(&d->mu);
  ms_stop(s);
  dr_free(d);
}
END_TEST

START_TEST(send_after_close_and_in_forked_child_is_refused) {
  ms_t *s = ms_start();
  dr_t *d = dr_new();
  evp_client_t *c = mk_client(s, d, NULL);
  ck_assert_int_eq(send_ev(c, 0), EVP_OK);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    int bad =
        send_ev(c, 1) != EVP_ERR_STATE || evp_flush(c, 0) != -1 || evp_client_destroy(c, 0) != -1;
    /* Success is reported by SIGKILL so that no exit-time hook (valgrind's
     * leak check of the parent's copied heap) can change the verdict. */
    if (!bad) kill(getpid(), SIGKILL);
    _exit(1);
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ck_assert_int_eq(send_ev(c, 1), EVP_OK); /* the parent is unaffected */
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  evp_client_destroy(c, 1000);
  check_once(s, d, 2);
  ms_stop(s);
  dr_free(d);
}
END_TEST

static void count_log(int level, const char *msg, void *op) {
  (void)level;
  /* The secret must never reach the log. */
  if (strstr(msg, "s3cr")) ((dr_t *)op)->bad_ids += 1000;
}

START_TEST(log_callback_never_sees_the_secret) {
  ms_t *s = ms_start();
  ms_set_token_unavailable(s, 1);
  ms_push(s, MS_500, 0);
  dr_t *d = dr_new();
  evp_conf_t *cf = evp_conf_new();
  char e[256];
  evp_conf_set(cf, "endpoint", ms_url(s), e, sizeof e);
  evp_conf_set(cf, "client.id", "test-client", e, sizeof e);
  evp_conf_set(cf, "client.secret", "s3cr&t", e, sizeof e);
  evp_conf_set(cf, "retry.backoff.ms", "5", e, sizeof e);
  evp_conf_set(cf, "log.level", "7", e, sizeof e);
  evp_conf_set_log_cb(cf, count_log);
  evp_conf_set_dr_cb(cf, dr_cb);
  evp_conf_set_opaque(cf, d);
  evp_client_t *c = evp_client_new(cf, e, sizeof e);
  ck_assert_ptr_nonnull(c);
  send_range(c, 0, 10);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  evp_client_destroy(c, 1000);
  ck_assert_int_eq(check_once(s, d, 10), 0);
  ms_stop(s);
  dr_free(d);
}
END_TEST

START_TEST(token_url_override_and_trailing_slash) {
  ms_t *s = ms_start();
  dr_t *d = dr_new();
  char ep[96], tu[96];
  snprintf(ep, sizeof ep, "%s//", ms_url(s));
  snprintf(tu, sizeof tu, "%s/token", ms_url(s));
  evp_client_t *c = mk_client(s, d, "endpoint", ep, "token.url", tu, NULL);
  send_range(c, 0, 3);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  evp_client_destroy(c, 1000);
  ck_assert_int_eq(check_once(s, d, 3), 0);
  ck_assert_int_eq(d->ok, 3);
  /* A token.url that does not serve tokens (404): a permanent error, the
   * events fail at once naming the URL (they used to wait for the timeout). */
  dr_free(d);
  d = dr_new();
  snprintf(tu, sizeof tu, "%s/nowhere", ms_url(s));
  c = mk_client(s, d, "token.url", tu, "message.timeout.ms", "300", NULL);
  send_range(c, 10, 12);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  evp_client_destroy(c, 100);
  ck_assert_int_eq(d->failed, 2);
  ck_assert_int_eq(d->err[10], EVP_ERR_HTTP);
  ck_assert_msg(strstr(d->last_reason, "/nowhere: HTTP 404"), "%s", d->last_reason);
  ms_stop(s);
  dr_free(d);
}
END_TEST

typedef struct {
  evp_client_t *c;
  int calls;
  evp_err_t rc;
  double took;
} reent_t;

static void reent_cb(const char *id, size_t idl, evp_delivery_status_t st, evp_err_t err,
                     const char *reason, int attempts, void *op) {
  (void)id, (void)idl, (void)st, (void)err, (void)reason, (void)attempts;
  reent_t *r = op;
  if (r->calls++) return;
  char e[128];
  double t0 = mono_s();
  r->rc = evp_send(r->c, "{\"again\":1}", 11, e, sizeof e);
  r->took = mono_s() - t0;
}

START_TEST(send_from_a_callback_never_blocks) {
  ms_t *s = ms_start();
  static reent_t r;
  memset(&r, 0, sizeof r);
  evp_conf_t *cf = evp_conf_new();
  char e[256];
  evp_conf_set(cf, "endpoint", ms_url(s), e, sizeof e);
  evp_conf_set(cf, "client.id", "test-client", e, sizeof e);
  evp_conf_set(cf, "client.secret", "s3cr&t", e, sizeof e);
  evp_conf_set(cf, "queue.max.events", "1", e, sizeof e);
  evp_conf_set(cf, "queue.block.timeout.ms", "5000", e, sizeof e);
  evp_conf_set_dr_cb(cf, reent_cb);
  evp_conf_set_opaque(cf, &r);
  evp_client_t *c = evp_client_new(cf, e, sizeof e);
  ck_assert_ptr_nonnull(c);
  r.c = c;
  ck_assert_int_eq(evp_send(c, "{}", 2, e, sizeof e), EVP_OK);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  evp_client_destroy(c, 1000);
  /* The event being reported still holds the only slot: full, at once. */
  ck_assert_int_eq(r.rc, EVP_ERR_QUEUE_FULL);
  ck_assert(r.took < 0.5); /* vs. a 5 s block timeout */
  ms_stop(s);
}
END_TEST

START_TEST(https_is_always_verified) {
  mock_tls_t tls;
  ck_assert_int_eq(mock_tls_make(&tls), 0);
  const char *cert = tls.cert_path;
  ms_t *s = ms_start_tls(tls.cert_pem, tls.key_pem);
  ck_assert_ptr_nonnull(s);
  ck_assert(strncmp(ms_url(s), "https://", 8) == 0);
  /* Self-signed and not trusted: nothing may be sent, not even the secret. */
  dr_t *d = dr_new();
  evp_client_t *c = mk_client(s, d, "message.timeout.ms", "400", NULL);
  send_range(c, 0, 5);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  evp_client_destroy(c, 100);
  ck_assert_int_eq(d->failed, 5);
  ck_assert_int_eq(ms_token_requests(s), 0);
  dr_free(d);
  /* Trusted through ssl.ca.location: delivered. */
  d = dr_new();
  c = mk_client(s, d, "ssl.ca.location", cert, NULL);
  send_range(c, 0, 5);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  evp_client_destroy(c, 100);
  ck_assert_int_eq(check_once(s, d, 5), 0);
  ck_assert_int_eq(d->ok, 5);
  ms_stop(s);
  dr_free(d);
  mock_tls_remove(&tls);
}
END_TEST

/* The wall clock now as the SDK writes times: YYYY-MM-DDTHH:MM:SS.mmmZ. */
static void rfc3339_now(char out[32]) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char sec[24];
  strftime(sec, sizeof sec, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, 32, "%.19s.%03uZ", sec, (unsigned)(ts.tv_nsec / 1000000L) % 1000u);
}

/* Every request body carries the device's sent_at (docs/protocol.md), taken
 * when the body is built, plain or gzip, and batch.max.bytes counts it. */
START_TEST(bodies_carry_sent_at) {
  for (int gz = 0; gz < 2; gz++) {
    ms_t *s = ms_start();
    dr_t *d = dr_new();
    evp_client_t *c = mk_client(s, d, "compression", gz ? "gzip" : "none", NULL);
    char before[32], after[32], got[64];
    rfc3339_now(before);
    send_range(c, 0, 700);
    ck_assert_int_eq(evp_flush(c, 5000), 0);
    rfc3339_now(after);
    check_once(s, d, 700);
    ck_assert_int_ge(ms_events_requests(s), 2);
    ck_assert_int_eq(ms_sent_at_bodies(s), ms_events_requests(s));
    ms_last_sent_at(s, got, sizeof got);
    /* fixed width: text order is time order */
    ck_assert_uint_eq(strlen(got), 24);
    ck_assert_msg(strcmp(before, got) <= 0 && strcmp(got, after) <= 0, "%s not in [%s, %s]", got,
                  before, after);
    evp_client_destroy(c, 1000);
    ms_stop(s);
    dr_free(d);
  }
  /* batch.max.bytes counts sent_at: an event that would fit only without it
   * is refused by evp_send, one that fits with it is sent with it. */
  ms_t *s = ms_start();
  dr_t *d = dr_new();
  evp_client_t *c = mk_client(s, d, "batch.max.bytes", "1024", NULL);
  char ev[1024], err[256];
  memcpy(ev, "{\"pad\":\"", 8);
  memset(ev + 8, 'x', 890); /* 990 bytes once event_id and event_time are added */
  memcpy(ev + 898, "\"}", 3);
  ck_assert_int_eq(evp_send(c, ev, strlen(ev), err, sizeof err), EVP_ERR_TOO_LARGE);
  ck_assert_msg(strstr(err, "batch.max.bytes") != NULL, "%s", err);
  memcpy(ev + 8 + 874, "\"}", 3); /* 974 bytes once filled: + 13 + 37 = 1024 */
  ck_assert_msg(evp_send(c, ev, strlen(ev), err, sizeof err) == EVP_OK, "%s", err);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  ck_assert_int_eq(ms_accepted_total(s), 1);
  char full[1100];
  ck_assert_int_eq(ms_first_event_json(s, full, sizeof full), 1);
  ck_assert_uint_eq(strlen(full) + 13 + 37, 1024);
  ck_assert_int_eq(ms_sent_at_bodies(s), 1);
  evp_client_destroy(c, 1000);
  ms_stop(s);
  dr_free(d);
}
END_TEST

int main(void) {
  Suite *s = suite_create("client");
  TCase *tc = tcase_create("client");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, delivers_every_event_once_with_one_token);
  tcase_add_test(tc, fills_event_id_and_time_only_when_absent);
  tcase_add_test(tc, cleartext_requests_never_go_through_a_proxy);
  tcase_add_test(tc, fill_can_be_turned_off);
  tcase_add_test(tc, invalid_events_are_refused_synchronously);
  tcase_add_test(tc, batches_respect_event_and_byte_limits);
  tcase_add_test(tc, linger_delays_partial_batches_and_flush_cuts_it);
  tcase_add_test(tc, gzip_bodies_are_sent_and_accepted);
  tcase_add_test(tc, delivery_report_mode_errors_skips_successes);
  tcase_add_test(tc, full_queue_fails_fast_or_waits_bounded);
  tcase_add_test(tc, send_never_waits_for_a_slow_token);
  tcase_add_test(tc, token_failures_back_off_then_recover);
  tcase_add_test(tc, token_is_refreshed_before_expiry);
  tcase_add_test(tc, client_new_checks_the_configuration);
  tcase_add_test(tc, schema_file_validates_at_the_door);
  tcase_add_test(tc, destroy_while_server_down_returns_in_time);
  tcase_add_test(tc, destroy_interrupts_a_stalled_request);
  tcase_add_test(tc, send_after_close_and_in_forked_child_is_refused);
  tcase_add_test(tc, log_callback_never_sees_the_secret);
  tcase_add_test(tc, https_is_always_verified);
  tcase_add_test(tc, send_from_a_callback_never_blocks);
  tcase_add_test(tc, token_url_override_and_trailing_slash);
  tcase_add_test(tc, bodies_carry_sent_at);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
