/* Suite: the delivery-report API (evp_delivery_t accessors, the per-event
 * opaque of evp_send_opaque) and poll mode (callbacks.mode=poll: evp_poll,
 * evp_poll_fd, evp_flush and evp_client_destroy serving the reports on the
 * application's thread), against the in-process mock server. */
#include "client_harness.h"
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#define N_EV 1000

/* What the new-style callbacks saw. Event k is sent with &rec->slot[k] as
 * its opaque and "ev-k" as its event_id, so each report can be checked to
 * carry its own event's opaque. */
typedef struct {
  pthread_mutex_t mu;
  char slot[H_MAX]; /* the per-event opaques point here */
  int seen[H_MAX];  /* reports per event, found through the opaque */
  long total, ok, rejected, failed;
  long mismatched;   /* opaque and event_id name different events */
  long foreign;      /* opaque outside slot[] */
  long wrong_client; /* the callback's client is not the one expected */
  evp_client_t *client;
  pthread_t owner; /* callbacks must run on this thread (when check_thread) */
  int check_thread;
  long wrong_thread; /* callbacks seen on another thread */
  volatile int closed;
  long after_close;
  /* the last report */
  evp_err_t last_err;
  int last_http, last_attempts;
  long long last_latency_us;
  char last_reason[300];
  int last_reason_null;
  /* error callback */
  long errors;
  evp_err_t err_code;
  int err_retrying;
  long err_wrong_thread;
  /* reentrancy, from inside a callback */
  int try_reenter;
  long reenter_flush, reenter_poll;
  evp_err_t reenter_send;
  double reenter_send_s;
} rec_t;

static rec_t *rec_new(void) {
  rec_t *r = calloc(1, sizeof *r);
  pthread_mutex_init(&r->mu, NULL);
  r->owner = pthread_self();
  return r;
}

static void rec_free(rec_t *r) {
  pthread_mutex_destroy(&r->mu);
  free(r);
}

static long id_number(const char *id, size_t len) {
  char buf[32];
  if (len <= 3 || len >= sizeof buf || memcmp(id, "ev-", 3)) return -1;
  memcpy(buf, id + 3, len - 3);
  buf[len - 3] = '\0';
  return atol(buf);
}

static void on_report(evp_client_t *c, const evp_delivery_t *d, void *op) {
  rec_t *r = op;
  size_t idl;
  const char *id = evp_delivery_event_id(d, &idl);
  long k = id_number(id, idl);
  char *o = evp_delivery_opaque(d);
  const char *reason = evp_delivery_reason(d);
  if (r->try_reenter) {
    /* From a callback: flush and poll refuse, send never blocks. */
    r->try_reenter = 0;
    r->reenter_flush = evp_flush(c, 1000);
    r->reenter_poll = evp_poll(c, 1000);
    char e[128];
    double t0 = mono_s();
    r->reenter_send = evp_send(c, "{}", 2, e, sizeof e);
    r->reenter_send_s = mono_s() - t0;
  }
  pthread_mutex_lock(&r->mu);
  if (r->closed) r->after_close++;
  if (c != r->client) r->wrong_client++;
  if (r->check_thread && !pthread_equal(pthread_self(), r->owner)) r->wrong_thread++;
  r->total++;
  switch (evp_delivery_status(d)) {
  case EVP_DELIVERY_OK: r->ok++; break;
  case EVP_DELIVERY_REJECTED: r->rejected++; break;
  default: r->failed++; break;
  }
  if (o >= r->slot && o < r->slot + H_MAX) {
    long slot = (long)(o - r->slot);
    r->seen[slot]++;
    if (slot != k) r->mismatched++;
  } else if (o) {
    r->foreign++;
  }
  r->last_err = evp_delivery_error(d);
  r->last_http = evp_delivery_http_status(d);
  r->last_attempts = evp_delivery_attempts(d);
  r->last_latency_us = evp_delivery_latency_us(d);
  r->last_reason_null = reason == NULL;
  snprintf(r->last_reason, sizeof r->last_reason, "%s", reason ? reason : "");
  pthread_mutex_unlock(&r->mu);
}

static void on_error(evp_err_t err, int retrying, const char *reason, void *op) {
  rec_t *r = op;
  (void)reason;
  pthread_mutex_lock(&r->mu);
  if (r->closed) r->after_close++;
  if (r->check_thread && !pthread_equal(pthread_self(), r->owner)) r->err_wrong_thread++;
  r->errors++;
  r->err_code = err;
  r->err_retrying = retrying;
  pthread_mutex_unlock(&r->mu);
}

static long rec_total(rec_t *r) {
  pthread_mutex_lock(&r->mu);
  long n = r->total;
  pthread_mutex_unlock(&r->mu);
  return n;
}

/* A client reporting to r through evp_conf_set_delivery_cb; extra settings
 * as name, value, ..., NULL. */
static evp_client_t *mk_rec_client(ms_t *s, rec_t *r, ...) {
  va_list ap;
  va_start(ap, r);
  evp_conf_t *c = mk_conf_v(s, ap);
  va_end(ap);
  evp_conf_set_delivery_cb(c, on_report, r);
  evp_conf_set_error_cb(c, on_error);
  evp_conf_set_opaque(c, r);
  char e[256];
  evp_client_t *cl = evp_client_new(c, e, sizeof e);
  ck_assert_msg(cl != NULL, "%s", e);
  r->client = cl;
  return cl;
}

static evp_err_t send_op(evp_client_t *c, rec_t *r, long k) {
  char buf[128];
  int n = snprintf(buf, sizeof buf, "{\"event_id\":\"ev-%ld\",\"n\":%ld}", k, k);
  char e[256];
  return evp_send_opaque(c, buf, (size_t)n, &r->slot[k], e, sizeof e);
}

static void send_op_range(evp_client_t *c, rec_t *r, long from, long to) {
  for (long k = from; k < to; k++) ck_assert_int_eq(send_op(c, r, k), EVP_OK);
}

/* Every event from..to-1 reported exactly once, through its own opaque. */
static void check_opaques_once(rec_t *r, long from, long to) {
  pthread_mutex_lock(&r->mu);
  ck_assert_int_eq(r->mismatched, 0);
  ck_assert_int_eq(r->foreign, 0);
  ck_assert_int_eq(r->wrong_client, 0);
  for (long k = from; k < to; k++)
    ck_assert_msg(r->seen[k] == 1, "event %ld: its opaque came back %d times", k, r->seen[k]);
  pthread_mutex_unlock(&r->mu);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void wait_accepted(ms_t *s, long n) {
  double t0 = mono_s();
  while (ms_accepted_total(s) < n && mono_s() - t0 < 10) sleep_ms(2);
  ck_assert_int_ge(ms_accepted_total(s), n);
}

static long stats_number(evp_client_t *c, const char *key) {
  char *st = evp_client_stats(c);
  ck_assert_ptr_nonnull(st);
  char *p = strstr(st, key);
  ck_assert_msg(p != NULL, "%s not in %s", key, st);
  long v = atol(p + strlen(key));
  evp_free(st);
  return v;
}

/* ------------------------------------------------------------ tests */

START_TEST(each_report_carries_its_own_opaque_once) {
  /* Both modes: 1000 events, each report back with its own opaque. */
  const char *modes[] = {"thread", "poll"};
  for (int m = 0; m < 2; m++) {
    ms_t *s = ms_start();
    rec_t *r = rec_new();
    evp_client_t *c = mk_rec_client(s, r, "callbacks.mode", modes[m], NULL);
    send_op_range(c, r, 0, N_EV);
    ck_assert_int_eq(evp_flush(c, 10000), 0);
    ck_assert_int_eq(rec_total(r), N_EV);
    check_opaques_once(r, 0, N_EV);
    ck_assert_int_eq(r->ok, N_EV);
    ck_assert_int_eq(r->last_err, EVP_OK);
    ck_assert_int_eq(r->last_http, 200);
    ck_assert_int_eq(r->last_attempts, 1);
    ck_assert(r->last_reason_null); /* delivered: no reason */
    ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
    ck_assert_int_eq(rec_total(r), N_EV);
    rec_free(r);
    ms_stop(s);
  }
}
END_TEST

START_TEST(evp_send_reports_a_null_opaque) {
  ms_t *s = ms_start();
  rec_t *r = rec_new();
  evp_client_t *c = mk_rec_client(s, r, NULL);
  char e[128];
  ck_assert_int_eq(evp_send(c, "{\"event_id\":\"ev-7\"}", 19, e, sizeof e), EVP_OK);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  ck_assert_int_eq(r->total, 1);
  ck_assert_int_eq(r->seen[7], 0); /* no opaque, so no slot */
  ck_assert_int_eq(r->foreign, 0);
  /* Refused events never get a report, so their opaque never comes back. */
  ck_assert_int_eq(evp_send_opaque(c, "[1]", 3, &r->slot[8], e, sizeof e), EVP_ERR_INVALID_EVENT);
  ck_assert_int_eq(evp_send_opaque(c, "{", 1, &r->slot[8], e, sizeof e), EVP_ERR_JSON);
  ck_assert_int_eq(evp_send_opaque(NULL, "{}", 2, &r->slot[8], e, sizeof e), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  evp_client_destroy(c, 1000);
  ck_assert_int_eq(r->total, 1);
  ck_assert_int_eq(r->seen[8], 0);
  rec_free(r);
  ms_stop(s);
}
END_TEST

START_TEST(accessors_tell_status_error_reason_http_attempts_latency) {
  ms_t *s = ms_start();
  rec_t *r = rec_new();
  evp_client_t *c = mk_rec_client(s, r, "callbacks.mode", "poll", "linger.ms", "300", NULL);
  /* Latency: the event lingers 300 ms before it is sent. */
  ck_assert_int_eq(send_op(c, r, 0), EVP_OK);
  double t0 = mono_s();
  while (rec_total(r) < 1 && mono_s() - t0 < 5) evp_poll(c, 100);
  ck_assert_int_eq(r->ok, 1);
  ck_assert_int_ge(r->last_latency_us, 250000);
  ck_assert_int_lt(r->last_latency_us, 5000000);
  /* A rejection by the server: 200 with the item refused, and its reason. */
  ms_push(s, MS_REJECT, 0);
  ck_assert_int_eq(send_op(c, r, 1), EVP_OK);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  ck_assert_int_eq(r->rejected, 1);
  ck_assert_int_eq(r->last_err, EVP_ERR_INVALID_EVENT);
  ck_assert_int_eq(r->last_http, 200);
  ck_assert(!r->last_reason_null && r->last_reason[0]);
  /* A failure with an HTTP status: 400 fails the batch for good. */
  ms_push(s, MS_400, 0);
  ck_assert_int_eq(send_op(c, r, 2), EVP_OK);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  ck_assert_int_eq(r->failed, 1);
  ck_assert_int_eq(r->last_err, EVP_ERR_HTTP);
  ck_assert_int_eq(r->last_http, 400);
  ck_assert_int_eq(r->last_attempts, 1);
  ck_assert_ptr_nonnull(strstr(r->last_reason, "HTTP 400"));
  /* Retried after a 503, then delivered: two attempts, the last status. */
  ms_push(s, MS_503, 0);
  ck_assert_int_eq(send_op(c, r, 3), EVP_OK);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  ck_assert_int_eq(r->ok, 2);
  ck_assert_int_eq(r->last_attempts, 2);
  ck_assert_int_eq(r->last_http, 200);
  check_opaques_once(r, 0, 4);
  evp_client_destroy(c, 1000);
  /* Never answered: no HTTP status. */
  ms_set_down(s, 1);
  rec_t *r2 = rec_new();
  c = mk_rec_client(s, r2, NULL);
  ck_assert_int_eq(send_op(c, r2, 0), EVP_OK);
  ck_assert_int_eq(evp_client_destroy(c, 100), 1);
  ck_assert_int_eq(r2->failed, 1);
  ck_assert_int_eq(r2->last_err, EVP_ERR_STATE);
  ck_assert_int_eq(r2->last_http, 0);
  ck_assert_ptr_nonnull(strstr(r2->last_reason, "client closed"));
  rec_free(r2);
  /* NULL reports are harmless. */
  size_t len = 9;
  ck_assert_ptr_null(evp_delivery_event_id(NULL, &len));
  ck_assert_uint_eq(len, 0);
  ck_assert_ptr_null(evp_delivery_opaque(NULL));
  ck_assert_ptr_null(evp_delivery_reason(NULL));
  ck_assert_int_eq(evp_delivery_attempts(NULL), 0);
  rec_free(r);
  ms_stop(s);
}
END_TEST

START_TEST(poll_mode_runs_callbacks_only_on_the_polling_thread) {
  ms_t *s = ms_start();
  rec_t *r = rec_new();
  r->check_thread = 1; /* owner: this thread */
  evp_client_t *c = mk_rec_client(s, r, "callbacks.mode", "poll", NULL);
  send_op_range(c, r, 0, N_EV);
  wait_accepted(s, N_EV);
  sleep_ms(100);
  /* Delivered, yet nothing reported: the background thread ran no callback. */
  ck_assert_int_eq(rec_total(r), 0);
  ck_assert_int_eq(stats_number(c, "\"delivered\":"), N_EV);
  ck_assert_int_eq(stats_number(c, "\"waiting_reports\":"), N_EV);
  long served = 0;
  double t0 = mono_s();
  while (served < N_EV && mono_s() - t0 < 10) {
    long n = evp_poll(c, 1000);
    ck_assert_int_ge(n, 0);
    served += n;
  }
  ck_assert_int_eq(served, N_EV);
  ck_assert_int_eq(rec_total(r), N_EV);
  ck_assert_int_eq(r->wrong_thread, 0);
  ck_assert_int_eq(stats_number(c, "\"waiting_reports\":"), 0);
  check_opaques_once(r, 0, N_EV);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  ck_assert_int_eq(r->wrong_thread, 0);
  rec_free(r);
  ms_stop(s);
}
END_TEST

typedef struct {
  evp_client_t *c;
  rec_t *r;
  long want;
} poller_t;

static void *poller_main(void *p) {
  poller_t *pl = p;
  double t0 = mono_s();
  while (rec_total(pl->r) < pl->want && mono_s() - t0 < 20) evp_poll(pl->c, 100);
  return NULL;
}

typedef struct {
  evp_client_t *c;
  rec_t *r;
  long from, to;
} producer_t;

static void *producer_main(void *p) {
  producer_t *pr = p;
  for (long k = pr->from; k < pr->to; k++) {
    evp_err_t e;
    while ((e = send_op(pr->c, pr->r, k)) == EVP_ERR_QUEUE_FULL) sleep_ms(1);
    if (e != EVP_OK) return (void *)1;
  }
  return NULL;
}

START_TEST(a_poller_thread_serves_concurrent_producers) {
  /* Four producers, one poller thread (the only one allowed to run the
   * callbacks); a small queue, so producers wait for the poller's room. */
  ms_t *s = ms_start();
  rec_t *r = rec_new();
  r->check_thread = 1;
  evp_client_t *c = mk_rec_client(s, r, "callbacks.mode", "poll", "queue.max.events", "500", NULL);
  poller_t pl = {c, r, 4 * 5000};
  pthread_t pt, prod[4];
  ck_assert_int_eq(pthread_create(&pt, NULL, poller_main, &pl), 0);
  pthread_mutex_lock(&r->mu);
  r->owner = pt;
  pthread_mutex_unlock(&r->mu);
  producer_t pr[4];
  for (int i = 0; i < 4; i++) {
    pr[i] = (producer_t){c, r, i * 5000L, (i + 1) * 5000L};
    ck_assert_int_eq(pthread_create(&prod[i], NULL, producer_main, &pr[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    void *ret;
    pthread_join(prod[i], &ret);
    ck_assert_ptr_null(ret);
  }
  pthread_join(pt, NULL);
  ck_assert_int_eq(rec_total(r), 4 * 5000);
  ck_assert_int_eq(r->wrong_thread, 0);
  check_opaques_once(r, 0, 4 * 5000);
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  rec_free(r);
  ms_stop(s);
}
END_TEST

static int readable(int fd, int timeout_ms) {
  struct pollfd p = {fd, POLLIN, 0};
  int n;
  while ((n = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
    ;
  return n == 1 && (p.revents & POLLIN);
}

START_TEST(poll_fd_is_readable_while_reports_wait_and_drains) {
  ms_t *s = ms_start();
  rec_t *r = rec_new();
  evp_client_t *c = mk_rec_client(s, r, "callbacks.mode", "poll", NULL);
  int fd = evp_poll_fd(c);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(evp_poll_fd(c), fd); /* the same descriptor every time */
  ck_assert(!readable(fd, 0));
  send_op_range(c, r, 0, 100);
  long served = 0;
  while (served < 100) {
    ck_assert_msg(readable(fd, 5000), "no readiness with %ld of 100 reports served", served);
    long n = evp_poll(c, 0);
    ck_assert_int_gt(n, 0); /* readable means something to serve */
    served += n;
  }
  ck_assert_int_eq(served, 100);
  ck_assert(!readable(fd, 50)); /* drained, and nothing more to come */
  check_opaques_once(r, 0, 100);
  /* Again, the same descriptor works for the next round. */
  send_op_range(c, r, 100, 110);
  ck_assert(readable(fd, 5000));
  while (rec_total(r) < 110) ck_assert_int_ge(evp_poll(c, 1000), 0);
  ck_assert(!readable(fd, 0));
  ck_assert_int_eq(evp_client_destroy(c, 1000), 0);
  rec_free(r);
  ms_stop(s);
}
END_TEST

START_TEST(poll_timeouts_and_refusals) {
  ms_t *s = ms_start();
  rec_t *r = rec_new();
  evp_client_t *c = mk_rec_client(s, r, "callbacks.mode", "poll", NULL);
  double t0 = mono_s();
  ck_assert_int_eq(evp_poll(c, 0), 0); /* nothing waiting: at once */
  ck_assert(mono_s() - t0 < 0.1);
  t0 = mono_s();
  ck_assert_int_eq(evp_poll(c, 200), 0);
  double dt = mono_s() - t0;
  ck_assert_msg(dt >= 0.19 && dt < 2.0, "evp_poll(200) took %.3f s", dt);
  /* Negative: waits until a report comes. */
  ck_assert_int_eq(send_op(c, r, 0), EVP_OK);
  ck_assert_int_eq(evp_poll(c, -1), 1);
  ck_assert_int_eq(r->total, 1);
  ck_assert_int_eq(evp_poll(NULL, 0), -1);
  ck_assert_int_eq(evp_poll_fd(NULL), -1);
  evp_client_destroy(c, 1000);
  /* Thread mode has nothing to poll. */
  rec_t *r2 = rec_new();
  c = mk_rec_client(s, r2, NULL);
  ck_assert_int_eq(evp_poll(c, 0), -1);
  ck_assert_int_eq(evp_poll(c, 100), -1);
  ck_assert_int_eq(evp_poll_fd(c), -1);
  evp_client_destroy(c, 1000);
  rec_free(r2);
  rec_free(r);
  ms_stop(s);
}
END_TEST

START_TEST(poll_mode_destroy_serves_leftovers_on_its_thread) {
  ms_t *s = ms_start();
  rec_t *r = rec_new();
  r->check_thread = 1;
  evp_client_t *c = mk_rec_client(s, r, "callbacks.mode", "poll", NULL);
  /* Delivered but never polled, then failed at close (server down). */
  send_op_range(c, r, 0, 50);
  wait_accepted(s, 50);
  ms_set_down(s, 1);
  send_op_range(c, r, 50, 300);
  ck_assert_int_eq(rec_total(r), 0);
  double t0 = mono_s();
  long n = evp_client_destroy(c, 300);
  r->closed = 1;
  ck_assert_msg(mono_s() - t0 < 2.0, "destroy took %.3f s", mono_s() - t0);
  ck_assert_int_eq(n, 250);
  ck_assert_int_eq(r->total, 300);
  ck_assert_int_eq(r->ok, 50);
  ck_assert_int_eq(r->failed, 250);
  ck_assert_int_eq(r->wrong_thread, 0);
  check_opaques_once(r, 0, 300);
  sleep_ms(50);
  ck_assert_int_eq(r->after_close, 0);
  rec_free(r);
  ms_stop(s);
}
END_TEST

START_TEST(waiting_reports_count_against_the_queue_bound) {
  ms_t *s = ms_start();
  rec_t *r = rec_new();
  evp_client_t *c = mk_rec_client(s, r, "callbacks.mode", "poll", "queue.max.events", "100", NULL);
  send_op_range(c, r, 0, 100);
  wait_accepted(s, 100);
  double t0 = mono_s();
  while (stats_number(c, "\"delivered\":") < 100 && mono_s() - t0 < 5) sleep_ms(2);
  /* All delivered, none polled: the reports hold the room. */
  ck_assert_int_eq(send_op(c, r, 100), EVP_ERR_QUEUE_FULL);
  ck_assert_int_eq(stats_number(c, "\"queue_full\":"), 1);
  ck_assert_int_eq(stats_number(c, "\"pending\":"), 100);
  ck_assert_int_eq(evp_poll(c, 0), 100);
  ck_assert_int_eq(stats_number(c, "\"pending\":"), 0);
  ck_assert_int_eq(send_op(c, r, 100), EVP_OK);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  check_opaques_once(r, 0, 101);
  evp_client_destroy(c, 1000);
  rec_free(r);
  ms_stop(s);
  /* The byte bound counts them too. */
  s = ms_start();
  r = rec_new();
  c = mk_rec_client(s, r, "callbacks.mode", "poll", "queue.max.bytes", "4096", NULL);
  long k = 0;
  while (send_op(c, r, k) == EVP_OK) k++;
  ck_assert_int_gt(k, 10);
  wait_accepted(s, k);
  sleep_ms(50);
  ck_assert_int_eq(send_op(c, r, k), EVP_ERR_QUEUE_FULL);
  ck_assert_int_eq(evp_flush(c, 5000), 0); /* flush serves them */
  ck_assert_int_eq(send_op(c, r, k), EVP_OK);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  check_opaques_once(r, 0, k + 1);
  evp_client_destroy(c, 1000);
  rec_free(r);
  ms_stop(s);
}
END_TEST

START_TEST(flush_in_poll_mode_serves_on_the_calling_thread) {
  ms_t *s = ms_start();
  rec_t *r = rec_new();
  r->check_thread = 1;
  evp_client_t *c = mk_rec_client(s, r, "callbacks.mode", "poll", "linger.ms", "50", NULL);
  send_op_range(c, r, 0, N_EV);
  ck_assert_int_eq(evp_flush(c, 10000), 0);
  ck_assert_int_eq(r->total, N_EV); /* returning 0 means every report was served */
  ck_assert_int_eq(r->wrong_thread, 0);
  check_opaques_once(r, 0, N_EV);
  ck_assert_int_eq(evp_poll(c, 0), 0);
  evp_client_destroy(c, 1000);
  rec_free(r);
  ms_stop(s);
}
END_TEST

START_TEST(error_callback_waits_for_poll) {
  ms_t *s = ms_start();
  ms_set_down(s, 1);
  rec_t *r = rec_new();
  r->check_thread = 1;
  evp_client_t *c = mk_rec_client(s, r, "callbacks.mode", "poll", NULL);
  int fd = evp_poll_fd(c);
  ck_assert_int_eq(send_op(c, r, 0), EVP_OK);
  /* The token fetch fails: the error is raised, and waits. */
  ck_assert(readable(fd, 5000));
  pthread_mutex_lock(&r->mu);
  ck_assert_int_eq(r->errors, 0);
  pthread_mutex_unlock(&r->mu);
  ck_assert_int_ge(evp_poll(c, 0), 1);
  ck_assert_int_eq(r->errors, 1);
  ck_assert_int_eq(r->err_code, EVP_ERR_TRANSPORT);
  ck_assert_int_eq(r->err_retrying, 1);
  ck_assert_int_eq(r->err_wrong_thread, 0);
  ck_assert_int_eq(r->total, 0); /* the event is still retried */
  ck_assert_int_eq(evp_client_destroy(c, 0), 1);
  ck_assert_int_eq(r->total, 1);
  /* Once per condition: at most one more, when the close cuts a token
   * request short (EVP_ERR_TIMED_OUT), served by destroy on this thread. */
  ck_assert_msg(r->errors == 1 || (r->errors == 2 && r->err_code == EVP_ERR_TIMED_OUT),
                "errors %ld, last %s", r->errors, evp_err2name(r->err_code));
  ck_assert_int_eq(r->err_wrong_thread, 0);
  rec_free(r);
  ms_stop(s);
}
END_TEST

START_TEST(callbacks_cannot_reenter_flush_or_poll_and_send_never_blocks) {
  const char *modes[] = {"thread", "poll"};
  for (int m = 0; m < 2; m++) {
    ms_t *s = ms_start();
    rec_t *r = rec_new();
    r->try_reenter = 1;
    evp_client_t *c = mk_rec_client(s, r, "callbacks.mode", modes[m], "queue.max.events", "1",
                                    "queue.block.timeout.ms", "5000", NULL);
    ck_assert_int_eq(send_op(c, r, 0), EVP_OK);
    ck_assert_int_eq(evp_flush(c, 5000), 0);
    evp_client_destroy(c, 1000);
    ck_assert_int_eq(r->try_reenter, 0); /* the callback ran */
    ck_assert_int_eq(r->reenter_flush, -1);
    ck_assert_int_eq(r->reenter_poll, -1);
    /* The event being reported still holds the only slot: full, at once. */
    ck_assert_int_eq(r->reenter_send, EVP_ERR_QUEUE_FULL);
    ck_assert(r->reenter_send_s < 0.5);
    rec_free(r);
    ms_stop(s);
  }
}
END_TEST

START_TEST(deprecated_callback_still_works_and_is_replaced_by_the_new_one) {
  /* The 7-argument callback, in poll mode (thread mode: every test_client
   * suite uses it through the harness). */
  ms_t *s = ms_start();
  dr_t *d = dr_new();
  evp_client_t *c = mk_client(s, d, "callbacks.mode", "poll", NULL);
  send_range(c, 0, 200);
  wait_accepted(s, 200);
  ck_assert_int_eq(dr_total(d), 0);
  long served = 0;
  while (served < 200) served += evp_poll(c, 1000);
  ck_assert_int_eq(served, 200);
  check_once(s, d, 200);
  ck_assert_int_eq(d->ok, 200);
  evp_client_destroy(c, 1000);
  dr_free(d);
  /* The last setter wins: new after old, old after new. */
  for (int newer = 0; newer < 2; newer++) {
    d = dr_new();
    rec_t *r = rec_new();
    evp_conf_t *cf = mk_conf(s, NULL);
    if (newer) {
      evp_conf_set_dr_cb(cf, dr_cb);
      evp_conf_set_delivery_cb(cf, on_report, r);
    } else {
      evp_conf_set_delivery_cb(cf, on_report, r);
      evp_conf_set_dr_cb(cf, dr_cb);
    }
    evp_conf_set_opaque(cf, d);
    evp_conf_t *dup = evp_conf_dup(cf); /* callbacks are copied */
    evp_conf_destroy(cf);
    char e[256];
    c = evp_client_new(dup, e, sizeof e);
    ck_assert_ptr_nonnull(c);
    r->client = c;
    ck_assert_int_eq(send_op(c, r, 0), EVP_OK);
    ck_assert_int_eq(evp_flush(c, 5000), 0);
    evp_client_destroy(c, 1000);
    ck_assert_int_eq(r->total, newer ? 1 : 0);
    ck_assert_int_eq(dr_total(d), newer ? 0 : 1);
    rec_free(r);
    dr_free(d);
  }
  /* NULL removes it. */
  rec_t *r = rec_new();
  evp_conf_t *cf = mk_conf(s, NULL);
  evp_conf_set_delivery_cb(cf, on_report, r);
  evp_conf_set_dr_cb(cf, NULL);
  char e[256];
  c = evp_client_new(cf, e, sizeof e);
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(send_op(c, r, 0), EVP_OK);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  evp_client_destroy(c, 1000);
  ck_assert_int_eq(r->total, 0);
  rec_free(r);
  ms_stop(s);
}
END_TEST

START_TEST(errors_only_mode_in_poll_mode_frees_room_of_successes) {
  ms_t *s = ms_start();
  rec_t *r = rec_new();
  evp_client_t *c = mk_rec_client(s, r, "callbacks.mode", "poll", "delivery.report.mode", "errors",
                                  "queue.max.events", "10", NULL);
  /* Delivered events have no report to wait for: their room comes back
   * without polling. */
  for (long k = 0; k < 100; k++) {
    evp_err_t e;
    double t0 = mono_s();
    while ((e = send_op(c, r, k)) == EVP_ERR_QUEUE_FULL && mono_s() - t0 < 5) sleep_ms(1);
    ck_assert_int_eq(e, EVP_OK);
  }
  wait_accepted(s, 100);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  ms_push(s, MS_REJECT, 0);
  ck_assert_int_eq(send_op(c, r, 100), EVP_OK);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  ck_assert_int_eq(r->total, 1);
  ck_assert_int_eq(r->rejected, 1);
  ck_assert_int_eq(r->seen[100], 1);
  evp_client_destroy(c, 1000);
  rec_free(r);
  ms_stop(s);
}
END_TEST

Suite *client_poll_suite(void) {
  Suite *s = suite_create("client_poll");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, each_report_carries_its_own_opaque_once);
  tcase_add_test(tc, evp_send_reports_a_null_opaque);
  tcase_add_test(tc, accessors_tell_status_error_reason_http_attempts_latency);
  tcase_add_test(tc, poll_mode_runs_callbacks_only_on_the_polling_thread);
  tcase_add_test(tc, a_poller_thread_serves_concurrent_producers);
  tcase_add_test(tc, poll_fd_is_readable_while_reports_wait_and_drains);
  tcase_add_test(tc, poll_timeouts_and_refusals);
  tcase_add_test(tc, poll_mode_destroy_serves_leftovers_on_its_thread);
  tcase_add_test(tc, waiting_reports_count_against_the_queue_bound);
  tcase_add_test(tc, flush_in_poll_mode_serves_on_the_calling_thread);
  tcase_add_test(tc, error_callback_waits_for_poll);
  tcase_add_test(tc, callbacks_cannot_reenter_flush_or_poll_and_send_never_blocks);
  tcase_add_test(tc, deprecated_callback_still_works_and_is_replaced_by_the_new_one);
  tcase_add_test(tc, errors_only_mode_in_poll_mode_frees_room_of_successes);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(client_poll_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
