/* Shared by the spool suites (test_client_spool, test_client_spool_faults):
 * the test's spool directory, a delivery-report recorder that also notes
 * evp_delivery_from_spool and the opaque, a spooling client on the mock
 * server, and small checks. Header-only; the including suite defines
 * _GNU_SOURCE first and makes spool_test_dir in its fixture. */
#ifndef EVP_TESTS_SPOOL_HARNESS_H
#define EVP_TESTS_SPOOL_HARNESS_H

#include <stdarg.h>
#include "client_harness.h"
#include "tmpdir.h"

static char spool_test_dir[256];

/* The spool directory: "spool" under the test's temporary directory. */
static inline const char *spool_dir(void) {
  static char spool[300];
  snprintf(spool, sizeof spool, "%s/spool", spool_test_dir);
  return spool;
}

/* Delivery reports by event number ("ev-<n>"). */
typedef struct {
  pthread_mutex_t mu;
  int reports[H_MAX];
  unsigned char status[H_MAX], err[H_MAX], from_spool[H_MAX];
  long total, ok, failed, resumed;
  void *opaque[64];
} rec_t;

static inline void on_report(evp_client_t *cl, const evp_delivery_t *d, void *op) {
  (void)cl;
  rec_t *r = op;
  size_t idl;
  const char *id = evp_delivery_event_id(d, &idl);
  long k = -1;
  if (idl > 3 && idl < 30 && !memcmp(id, "ev-", 3)) k = atol(id + 3);
  pthread_mutex_lock(&r->mu);
  r->total++;
  if (evp_delivery_status(d) == EVP_DELIVERY_OK)
    r->ok++;
  else
    r->failed++;
  if (evp_delivery_from_spool(d)) r->resumed++;
  if (k >= 0 && k < H_MAX) {
    r->reports[k]++;
    r->status[k] = (unsigned char)evp_delivery_status(d);
    r->err[k] = (unsigned char)evp_delivery_error(d);
    r->from_spool[k] = (unsigned char)evp_delivery_from_spool(d);
    if (k < 64) r->opaque[k] = evp_delivery_opaque(d);
  }
  pthread_mutex_unlock(&r->mu);
}

static inline rec_t *rec_new(void) {
  rec_t *r = calloc(1, sizeof *r);
  pthread_mutex_init(&r->mu, NULL);
  return r;
}

static inline void rec_free(rec_t *r) {
  pthread_mutex_destroy(&r->mu);
  free(r);
}

/* A spooling client on the mock server reporting to @p r (NULL: no
 * reports); extra settings as name, value, ..., NULL. NULL with the error
 * in @p err when evp_client_new refuses. */
static inline evp_client_t *spool_client_v(ms_t *s, rec_t *r, char *err, size_t es, va_list ap) {
  evp_conf_t *c = mk_conf(s, "spool.dir", spool_dir(), NULL);
  const char *k;
  while ((k = va_arg(ap, const char *))) {
    const char *v = va_arg(ap, const char *);
    char e[256];
    ck_assert_msg(evp_conf_set(c, k, v, e, sizeof e) == EVP_OK, "%s", e);
  }
  if (r) evp_conf_set_delivery_cb(c, on_report, r);
  evp_client_t *cl = evp_client_new(c, err, es);
  if (!cl) evp_conf_destroy(c);
  return cl;
}

static inline evp_client_t *try_client(ms_t *s, rec_t *r, char *err, size_t es, ...) {
  va_list ap;
  va_start(ap, es);
  evp_client_t *cl = spool_client_v(s, r, err, es, ap);
  va_end(ap);
  return cl;
}

/* The same, failing the test when the client cannot be made. */
static inline evp_client_t *spool_client(ms_t *s, rec_t *r, ...) {
  va_list ap;
  va_start(ap, r);
  char e[512];
  evp_client_t *cl = spool_client_v(s, r, e, sizeof e, ap);
  va_end(ap);
  ck_assert_msg(cl != NULL, "%s", e);
  return cl;
}

/* Every event in [from, to) reached the server exactly once. */
static inline void server_has_once(ms_t *s, long from, long to) {
  for (long k = from; k < to; k++) {
    char id[32];
    snprintf(id, sizeof id, "ev-%ld", k);
    ck_assert_msg(ms_count(s, id) == 1, "event %ld reached the server %d times", k,
                  ms_count(s, id));
  }
}

/* The number after @p path in evp_client_stats' JSON. */
static inline long stat_num(evp_client_t *c, const char *path) {
  char *j = evp_client_stats(c);
  ck_assert_ptr_nonnull(j);
  const char *p = strstr(j, path);
  ck_assert_msg(p != NULL, "%s not in %s", path, j);
  long v = atol(p + strlen(path));
  evp_free(j);
  return v;
}

#endif /* EVP_TESTS_SPOOL_HARNESS_H */
