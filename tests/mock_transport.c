/* A fake of the one HTTP transport for the suites (mock_transport.h). */
#define _POSIX_C_SOURCE 200809L
#include "mock_transport.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mock_transport {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int woken;
  int status;
  const char *const *lines;
  const char *body;
  size_t chunk;
  int stall;
  int requests, busy, done;
  evp__net_resp_t *resp;
  char url[512];
  char req_body[4096];
  int *freed;
};

static evp_err_t m_start(void *st, size_t slot, const evp__net_req_t *req, evp__net_resp_t *resp) {
  mock_transport_t *m = st;
  (void)slot;
  pthread_mutex_lock(&m->mu);
  int busy = m->busy;
  if (!busy) {
    evp__net_resp_reset(resp);
    m->resp = resp;
    m->busy = 1;
    m->done = 0;
    m->requests++;
    snprintf(m->url, sizeof m->url, "%s", req->url);
    size_t n = req->body ? req->body_len : 0;
    if (n >= sizeof m->req_body) n = sizeof m->req_body - 1;
    if (n) memcpy(m->req_body, req->body, n);
    m->req_body[n] = '\0';
  }
  pthread_mutex_unlock(&m->mu);
  if (busy) snprintf(resp->err, sizeof resp->err, "request slot busy");
  return busy ? EVP_ERR_TRANSPORT : EVP_OK;
}

static void m_poll(void *st, int timeout_ms) {
  mock_transport_t *m = st;
  pthread_mutex_lock(&m->mu);
  if (timeout_ms > 0 && !m->woken) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
    pthread_cond_timedwait(&m->cv, &m->mu, &ts);
  }
  m->woken = 0;
  if (m->busy && !m->done && !m->stall) {
    evp__net_resp_t *r = m->resp;
    for (size_t i = 0; m->lines && m->lines[i]; i++)
      evp__net_resp_header(r, m->lines[i], strlen(m->lines[i]));
    size_t n = m->body ? strlen(m->body) : 0, c = m->chunk ? m->chunk : n;
    for (size_t o = 0; o < n; o += c)
      if (evp__net_resp_body(r, m->body + o, n - o < c ? n - o : c) != EVP_OK)
        break; /* libcurl stops a transfer there too */
    r->status = m->status;
    m->done = 1;
  }
  pthread_mutex_unlock(&m->mu);
}

static int m_take(void *st, size_t want, size_t *slot, evp_err_t *rc) {
  mock_transport_t *m = st;
  (void)want;
  pthread_mutex_lock(&m->mu);
  int got = m->busy && m->done;
  if (got) m->busy = m->done = 0;
  pthread_mutex_unlock(&m->mu);
  *slot = 0;
  *rc = EVP_OK;
  return got;
}

static void m_abort(void *st, size_t slot) {
  mock_transport_t *m = st;
  (void)slot;
  pthread_mutex_lock(&m->mu);
  m->busy = m->done = 0;
  pthread_mutex_unlock(&m->mu);
}

static void m_wakeup(void *st) {
  mock_transport_t *m = st;
  pthread_mutex_lock(&m->mu);
  m->woken = 1;
  pthread_cond_signal(&m->cv);
  pthread_mutex_unlock(&m->mu);
}

static void m_free(void *st) {
  mock_transport_t *m = st;
  if (m->freed) *m->freed = 1;
  pthread_mutex_destroy(&m->mu);
  pthread_cond_destroy(&m->cv);
  free(m);
}

static const evp__transport_ops_t mock_ops = {m_start, m_poll, m_take, m_abort, m_wakeup, m_free};

evp__transport_t *mock_transport_new(mock_transport_t **out, int *freed) {
  mock_transport_t *m = calloc(1, sizeof *m);
  *out = m;
  if (!m) return NULL;
  pthread_mutex_init(&m->mu, NULL);
  pthread_cond_init(&m->cv, NULL);
  m->status = 200;
  m->freed = freed;
  evp__transport_t *t = evp__transport_new_custom(&mock_ops, m, 1);
  if (!t) *out = NULL;
  return t;
}

void mock_transport_answer(mock_transport_t *m, int status, const char *const *lines,
                           const char *body, size_t chunk) {
  pthread_mutex_lock(&m->mu);
  m->status = status;
  m->lines = lines;
  m->body = body;
  m->chunk = chunk;
  pthread_mutex_unlock(&m->mu);
}

void mock_transport_stall(mock_transport_t *m, int on) {
  pthread_mutex_lock(&m->mu);
  m->stall = on;
  pthread_mutex_unlock(&m->mu);
}

int mock_transport_requests(mock_transport_t *m) {
  pthread_mutex_lock(&m->mu);
  int n = m->requests;
  pthread_mutex_unlock(&m->mu);
  return n;
}

int mock_transport_busy(mock_transport_t *m) {
  pthread_mutex_lock(&m->mu);
  int n = m->busy;
  pthread_mutex_unlock(&m->mu);
  return n;
}

const char *mock_transport_last_url(mock_transport_t *m) { return m->url; }
const char *mock_transport_last_body(mock_transport_t *m) { return m->req_body; }
