/* Shared by the test_client* suites: a delivery-report recorder and a client
 * factory pointed at the mock server with small timeouts. */
#ifndef EVP_TESTS_CLIENT_HARNESS_H
#define EVP_TESTS_CLIENT_HARNESS_H

#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "client_mock_server.h"
#include "evpipe/evpipe.h"

#define H_MAX 200000

typedef struct {
  pthread_mutex_t mu;
  int reports[H_MAX]; /* per event number: delivery reports received */
  unsigned char status[H_MAX];
  unsigned char err[H_MAX];
  unsigned char attempts[H_MAX];
  long total, ok, rejected, failed, bad_ids;
  volatile int closed;   /* set after evp_client_destroy returned */
  long after_close;      /* callbacks seen after that: must stay 0 */
  char last_reason[300]; /* the last failure's reason */
  long errors;           /* error callback calls */
  int err_code, err_retrying;
  char err_text[300]; /* the last error callback's reason */
} dr_t;

static inline dr_t *dr_new(void) {
  dr_t *d = calloc(1, sizeof *d);
  pthread_mutex_init(&d->mu, NULL);
  return d;
}

static inline void dr_free(dr_t *d) {
  pthread_mutex_destroy(&d->mu);
  free(d);
}

static inline void dr_cb(const char *id, size_t idl, evp_delivery_status_t st, evp_err_t err,
                         const char *reason, int attempts, void *op) {
  dr_t *d = op;
  char buf[32];
  long k = -1;
  if (idl > 3 && idl < sizeof buf && !memcmp(id, "ev-", 3)) {
    memcpy(buf, id + 3, idl - 3);
    buf[idl - 3] = '\0';
    k = atol(buf);
  }
  pthread_mutex_lock(&d->mu);
  if (d->closed) d->after_close++;
  d->total++;
  if (st == EVP_DELIVERY_OK)
    d->ok++;
  else if (st == EVP_DELIVERY_REJECTED)
    d->rejected++;
  else
    d->failed++;
  if (st != EVP_DELIVERY_OK) snprintf(d->last_reason, sizeof d->last_reason, "%s", reason);
  if (k >= 0 && k < H_MAX) {
    d->reports[k]++;
    d->status[k] = (unsigned char)st;
    d->err[k] = (unsigned char)err;
    d->attempts[k] = (unsigned char)(attempts > 255 ? 255 : attempts);
  } else {
    d->bad_ids++;
  }
  pthread_mutex_unlock(&d->mu);
}

static inline void er_cb(evp_err_t err, int retrying, const char *reason, void *op) {
  dr_t *d = op;
  pthread_mutex_lock(&d->mu);
  if (d->closed) d->after_close++;
  d->errors++;
  d->err_code = (int)err;
  d->err_retrying = retrying;
  snprintf(d->err_text, sizeof d->err_text, "%s", reason);
  pthread_mutex_unlock(&d->mu);
}

static inline long dr_total(dr_t *d) {
  pthread_mutex_lock(&d->mu);
  long n = d->total;
  pthread_mutex_unlock(&d->mu);
  return n;
}

/* A configuration for the mock server with small timeouts and no
 * callbacks; extra settings as name, value, ..., NULL. */
static inline evp_conf_t *mk_conf_v(ms_t *s, va_list ap) {
  evp_conf_t *c = evp_conf_new();
  char e[256];
  const char *base[][2] = {{"endpoint", ms_url(s)},
                           {"client.id", "test-client"},
                           {"client.secret", "s3cr&t"},
                           {"audience", "events"},
                           {"retry.backoff.ms", "5"},
                           {"retry.backoff.max.ms", "50"},
                           {"linger.ms", "2"},
                           {"message.timeout.ms", "10000"},
                           {"request.timeout.ms", "3000"},
                           {"connect.timeout.ms", "1000"}};
  for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
    ck_assert_int_eq(evp_conf_set(c, base[i][0], base[i][1], e, sizeof e), EVP_OK);
  const char *k;
  while ((k = va_arg(ap, const char *))) {
    const char *v = va_arg(ap, const char *);
    ck_assert_msg(evp_conf_set(c, k, v, e, sizeof e) == EVP_OK, "%s", e);
  }
  return c;
}

static inline evp_conf_t *mk_conf(ms_t *s, ...) {
  va_list ap;
  va_start(ap, s);
  evp_conf_t *c = mk_conf_v(s, ap);
  va_end(ap);
  return c;
}

/* A client on the mock server reporting to d (the 7-argument delivery
 * callback and the error callback); extra settings as name, value, ..., NULL. */
static inline evp_client_t *mk_client(ms_t *s, dr_t *d, ...) {
  va_list ap;
  va_start(ap, d);
  evp_conf_t *c = mk_conf_v(s, ap);
  va_end(ap);
  char e[256];
  evp_conf_set_dr_cb(c, dr_cb);
  evp_conf_set_error_cb(c, er_cb);
  evp_conf_set_opaque(c, d);
  evp_client_t *cl = evp_client_new(c, e, sizeof e);
  ck_assert_msg(cl != NULL, "%s", e);
  return cl;
}

static inline evp_err_t send_ev(evp_client_t *c, long k) {
  char buf[300];
  int n = snprintf(buf, sizeof buf, "{\"event_id\":\"ev-%ld\",\"type\":\"test\",\"n\":%ld}", k, k);
  char e[256];
  return evp_send(c, buf, (size_t)n, e, sizeof e);
}

static inline void send_range(evp_client_t *c, long from, long to) {
  for (long k = from; k < to; k++) ck_assert_int_eq(send_ev(c, k), EVP_OK);
}

static inline double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Every event 0..n-1 reported exactly once; delivered ones reached the server
 * at least once, failed/rejected ones never; returns the duplicates the
 * server saw. */
static inline long check_once(ms_t *s, dr_t *d, long n) {
  long dups = 0;
  pthread_mutex_lock(&d->mu);
  ck_assert_int_eq(d->bad_ids, 0);
  for (long k = 0; k < n; k++) {
    char id[32];
    snprintf(id, sizeof id, "ev-%ld", k);
    int seen = ms_count(s, id);
    ck_assert_msg(d->reports[k] == 1, "event %ld reported %d times", k, d->reports[k]);
    if (d->status[k] == EVP_DELIVERY_OK)
      ck_assert_msg(seen >= 1, "event %ld reported delivered but never reached the server", k);
    else
      ck_assert_msg(seen == 0, "event %ld reported failed but reached the server", k);
    if (seen > 1) dups += seen - 1;
  }
  pthread_mutex_unlock(&d->mu);
  return dups;
}

#endif
