/* Test double of the Lambda Runtime API: see mock_lambda_api.h.
 *
 * libmicrohttpd with one thread per connection: a GET /next blocks in the
 * access handler on the mock's condition variable until an invocation is
 * queued, the mock stops, or the test drops the parked polls (then the
 * handler returns MHD_NO and the connection is closed without an answer). */
#define _POSIX_C_SOURCE 200809L
#include "mock_lambda_api.h"
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define API "/2018-06-01/runtime"
#define BODY_MAX (16u * 1024u * 1024u) /* recorded bodies are capped */
#define ID_MAX 1024
#define DEFAULT_ARN "arn:aws:lambda:us-east-1:123456789012:function:mock"

typedef struct inv {
  struct inv *next;
  char *payload;
  size_t payload_len;
  char id[ID_MAX];
  int64_t deadline_ms;
  char *arn;   /* NULL: omitted */
  char *trace; /* NULL: omitted */
} inv_t;

typedef struct id_node {
  struct id_node *next;
  char id[ID_MAX];
} id_node;

typedef struct res_node {
  struct res_node *next;
  mock_lambda_result_t r;
} res_node;

struct mock_lambda {
  struct MHD_Daemon *d;
  char addr[32];
  pthread_mutex_t mu;
  pthread_cond_t cv;
  inv_t *q_head, *q_tail;
  id_node *inflight;
  res_node *r_head, *r_tail;
  uint64_t n_next, n_out, n_results, n_bad, seq, drop_gen;
  unsigned polling, queued, n_inflight;
  int fail_status;
  unsigned fail_count;
  int stopping;
};

/* Per POST request: the body being received. */
typedef struct {
  char *buf;
  size_t len, cap;
  int over;
} req_t;

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dupn(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}

static void inv_free(inv_t *v) {
  if (v) {
    free(v->payload);
    free(v->arn);
    free(v->trace);
    free(v);
  }
}

static void deadline_after(struct timespec *ts, int timeout_ms) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += timeout_ms / 1000;
  ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

/* ------------------------------------------------------------ GET /next */

/* The runtime went away while its /next was parked (a killed process): the
 * socket reads EOF or an error. An invocation must not be handed to it. */
static int peer_closed(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (!ci) return 0;
  char b;
  ssize_t r = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static enum MHD_Result serve_next(mock_lambda_t *m, struct MHD_Connection *c) {
  pthread_mutex_lock(&m->mu);
  m->n_next++;
  if (m->fail_count) {
    m->fail_count--;
    int st = m->fail_status;
    pthread_mutex_unlock(&m->mu);
    return reply(c, (unsigned)st, "");
  }
  uint64_t gen = m->drop_gen;
  m->polling++;
  pthread_cond_broadcast(&m->cv);
  int gone = 0;
  for (;;) {
    if (m->stopping || m->drop_gen != gen) break;
    /* Checked before taking an invocation too: the runtime may have died
     * since its last check (and its invocation would be lost). */
    if ((gone = peer_closed(c)) != 0) break;
    if (m->q_head) break;
    struct timespec dl;
    deadline_after(&dl, 100);
    pthread_cond_timedwait(&m->cv, &m->mu, &dl);
  }
  m->polling--;
  if (gone) pthread_cond_broadcast(&m->cv);
  if (gone || m->stopping || m->drop_gen != gen) {
    pthread_mutex_unlock(&m->mu);
    return MHD_NO; /* connection closed without an answer */
  }
  inv_t *v = m->q_head;
  m->q_head = v->next;
  if (!m->q_head) m->q_tail = NULL;
  m->queued--;
  id_node *in = malloc(sizeof *in);
  if (in) {
    snprintf(in->id, sizeof in->id, "%s", v->id);
    in->next = m->inflight;
    m->inflight = in;
    m->n_inflight++;
  }
  m->n_out++;
  pthread_cond_broadcast(&m->cv);
  pthread_mutex_unlock(&m->mu);
  if (!in) {
    inv_free(v);
    return MHD_NO;
  }

  struct MHD_Response *r =
      MHD_create_response_from_buffer(v->payload_len, v->payload, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    inv_free(v);
    return MHD_NO;
  }
  v->payload = NULL; /* now the response's */
  char dl[32];
  MHD_add_response_header(r, "Content-Type", "application/json");
  MHD_add_response_header(r, "Lambda-Runtime-Aws-Request-Id", v->id);
  if (v->deadline_ms >= 0) {
    snprintf(dl, sizeof dl, "%lld", (long long)v->deadline_ms);
    MHD_add_response_header(r, "Lambda-Runtime-Deadline-Ms", dl);
  }
  if (v->arn) MHD_add_response_header(r, "Lambda-Runtime-Invoked-Function-Arn", v->arn);
  if (v->trace) MHD_add_response_header(r, "Lambda-Runtime-Trace-Id", v->trace);
  enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  inv_free(v);
  return ret;
}

/* ------------------------------------------------------------ POST results */

static void push_result(mock_lambda_t *m, res_node *n) {
  n->next = NULL;
  if (m->r_tail)
    m->r_tail->next = n;
  else
    m->r_head = n;
  m->r_tail = n;
  m->n_results++;
  pthread_cond_broadcast(&m->cv);
}

/* Remove id from the in-flight list: 1 when it was there. Locked. */
static int take_inflight(mock_lambda_t *m, const char *id) {
  for (id_node **pp = &m->inflight; *pp; pp = &(*pp)->next)
    if (!strcmp((*pp)->id, id)) {
      id_node *n = *pp;
      *pp = n->next;
      free(n);
      m->n_inflight--;
      return 1;
    }
  return 0;
}

static enum MHD_Result record(mock_lambda_t *m, struct MHD_Connection *c, req_t *rq,
                              mock_lambda_kind_t kind, const char *id, size_t idlen) {
  if (rq->over)
    return reply(c, 413,
                 "{\"errorMessage\":\"too large\",\"errorType\":\"RequestEntityTooLarge\"}");
  res_node *n = calloc(1, sizeof *n);
  if (!n) return MHD_NO;
  n->r.kind = kind;
  snprintf(n->r.request_id, sizeof n->r.request_id, "%.*s", (int)idlen, id);
  const char *et =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Lambda-Runtime-Function-Error-Type");
  const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
  snprintf(n->r.error_type, sizeof n->r.error_type, "%s", et ? et : "");
  snprintf(n->r.content_type, sizeof n->r.content_type, "%s", ct ? ct : "");
  n->r.body = rq->buf ? rq->buf : dupn("", 0);
  n->r.body_len = rq->len;
  rq->buf = NULL;
  n->r.received_ns = mono_ns();
  if (!n->r.body) {
    free(n);
    return MHD_NO;
  }
  pthread_mutex_lock(&m->mu);
  char idz[ID_MAX];
  snprintf(idz, sizeof idz, "%.*s", (int)idlen, id);
  if (kind != MOCK_LAMBDA_INIT_ERROR && !take_inflight(m, idz)) {
    m->n_bad++;
    pthread_mutex_unlock(&m->mu);
    free(n->r.body);
    free(n);
    return reply(c, MHD_HTTP_BAD_REQUEST,
                 "{\"errorMessage\":\"Invalid request ID\",\"errorType\":\"InvalidRequestID\"}");
  }
  push_result(m, n);
  pthread_mutex_unlock(&m->mu);
  return reply(c, MHD_HTTP_ACCEPTED, "{\"status\":\"OK\"}");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
  (void)version;
  mock_lambda_t *m = cls;
  req_t *rq = *con_cls;
  if (!rq) {
    /* First call, headers only. Answering now would make libmicrohttpd close
     * the connection after the response ("Connection: close"): keep-alive
     * matters (the runtime reuses one connection), so answer on the next call. */
    if (!(rq = calloc(1, sizeof *rq))) return MHD_NO;
    *con_cls = rq;
    return MHD_YES;
  }
  if (!strcmp(method, "GET")) {
    if (!strcmp(url, API "/invocation/next")) return serve_next(m, c);
    pthread_mutex_lock(&m->mu);
    m->n_bad++;
    pthread_mutex_unlock(&m->mu);
    return reply(c, MHD_HTTP_NOT_FOUND, "{}");
  }
  if (strcmp(method, "POST") != 0) {
    pthread_mutex_lock(&m->mu);
    m->n_bad++;
    pthread_mutex_unlock(&m->mu);
    return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "{}");
  }
  if (*upload_size) {
    size_t n = *upload_size;
    *upload_size = 0;
    if (rq->over || n > BODY_MAX - rq->len) {
      rq->over = 1;
      return MHD_YES;
    }
    if (rq->len + n + 1 > rq->cap) {
      size_t cap = rq->cap ? rq->cap : 1024;
      while (cap < rq->len + n + 1) cap *= 2;
      char *b = realloc(rq->buf, cap);
      if (!b) return MHD_NO;
      rq->buf = b;
      rq->cap = cap;
    }
    memcpy(rq->buf + rq->len, upload, n);
    rq->len += n;
    rq->buf[rq->len] = '\0';
    return MHD_YES;
  }
  /* The whole body is here. */
  static const char pre[] = API "/invocation/";
  size_t ul = strlen(url);
  if (!strcmp(url, API "/init/error")) return record(m, c, rq, MOCK_LAMBDA_INIT_ERROR, "", 0);
  if (ul > sizeof pre - 1 && !strncmp(url, pre, sizeof pre - 1)) {
    const char *id = url + sizeof pre - 1;
    const char *slash = strchr(id, '/');
    if (slash && slash > id && (size_t)(slash - id) < ID_MAX) {
      if (!strcmp(slash, "/response"))
        return record(m, c, rq, MOCK_LAMBDA_RESPONSE, id, (size_t)(slash - id));
      if (!strcmp(slash, "/error"))
        return record(m, c, rq, MOCK_LAMBDA_ERROR, id, (size_t)(slash - id));
    }
  }
  pthread_mutex_lock(&m->mu);
  m->n_bad++;
  pthread_mutex_unlock(&m->mu);
  return reply(c, MHD_HTTP_NOT_FOUND, "{}");
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  req_t *rq = *con_cls;
  if (rq) {
    free(rq->buf);
    free(rq);
    *con_cls = NULL;
  }
}

/* ------------------------------------------------------------ API */

mock_lambda_t *mock_lambda_start(void) {
  mock_lambda_t *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_mutex_init(&m->mu, NULL);
  pthread_cond_init(&m->cv, &ca);
  pthread_condattr_destroy(&ca);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  m->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                              MHD_USE_POLL | MHD_USE_ERROR_LOG,
                          0, NULL, NULL, handler, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
                          MHD_OPTION_NOTIFY_COMPLETED, completed, m, MHD_OPTION_CONNECTION_TIMEOUT,
                          (unsigned)0, MHD_OPTION_END);
  const union MHD_DaemonInfo *di =
      m->d ? MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
  if (!di || !di->port) {
    fprintf(stderr, "mock_lambda_start: cannot start libmicrohttpd\n");
    if (m->d) MHD_stop_daemon(m->d);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
    return NULL;
  }
  snprintf(m->addr, sizeof m->addr, "127.0.0.1:%u", (unsigned)di->port);
  return m;
}

const char *mock_lambda_address(const mock_lambda_t *m) { return m->addr; }

int mock_lambda_enqueue(mock_lambda_t *m, const mock_lambda_invocation_t *in, char *id_out,
                        size_t id_out_size) {
  static const mock_lambda_invocation_t none;
  if (!in) in = &none;
  inv_t *v = calloc(1, sizeof *v);
  if (!v) return -1;
  const char *p = in->payload ? in->payload : "{}";
  v->payload_len = in->payload ? (in->payload_len ? in->payload_len : strlen(p)) : 2;
  v->payload = dupn(p, v->payload_len);
  v->deadline_ms = in->deadline_ms ? in->deadline_ms : now_ms() + 30000;
  const char *arn = in->function_arn ? in->function_arn : DEFAULT_ARN;
  if (*arn) v->arn = dupn(arn, strlen(arn));
  if (in->trace_id && *in->trace_id) v->trace = dupn(in->trace_id, strlen(in->trace_id));
  if (!v->payload || (*arn && !v->arn) || (in->trace_id && *in->trace_id && !v->trace) ||
      (in->request_id && strlen(in->request_id) >= ID_MAX)) {
    inv_free(v);
    return -1;
  }
  pthread_mutex_lock(&m->mu);
  if (m->stopping) {
    pthread_mutex_unlock(&m->mu);
    inv_free(v);
    return -1;
  }
  m->seq++;
  if (in->request_id)
    snprintf(v->id, sizeof v->id, "%s", in->request_id);
  else
    snprintf(v->id, sizeof v->id, "mock-req-%llu", (unsigned long long)m->seq);
  if (id_out && id_out_size) snprintf(id_out, id_out_size, "%s", v->id);
  if (m->q_tail)
    m->q_tail->next = v;
  else
    m->q_head = v;
  m->q_tail = v;
  m->queued++;
  pthread_cond_broadcast(&m->cv);
  pthread_mutex_unlock(&m->mu);
  return 0;
}

int mock_lambda_enqueue_simple(mock_lambda_t *m, const char *request_id, const char *payload) {
  mock_lambda_invocation_t in = {0};
  in.request_id = request_id;
  in.payload = payload;
  return mock_lambda_enqueue(m, &in, NULL, 0);
}

static int matches(const res_node *n, const char *id) {
  if (!id) return 1;
  if (!*id) return n->r.kind == MOCK_LAMBDA_INIT_ERROR;
  return n->r.kind != MOCK_LAMBDA_INIT_ERROR && !strcmp(n->r.request_id, id);
}

int mock_lambda_wait_result(mock_lambda_t *m, const char *request_id, int timeout_ms,
                            mock_lambda_result_t *out) {
  struct timespec dl;
  deadline_after(&dl, timeout_ms);
  memset(out, 0, sizeof *out);
  int timed_out = 0;
  pthread_mutex_lock(&m->mu);
  for (;;) {
    res_node *prev = NULL;
    for (res_node *n = m->r_head; n; prev = n, n = n->next) {
      if (!matches(n, request_id)) continue;
      if (prev)
        prev->next = n->next;
      else
        m->r_head = n->next;
      if (m->r_tail == n) m->r_tail = prev;
      pthread_mutex_unlock(&m->mu);
      *out = n->r;
      free(n);
      return 0;
    }
    if (timed_out) {
      pthread_mutex_unlock(&m->mu);
      return -1;
    }
    /* On a timeout, look once more: a result may have come with it. */
    timed_out = pthread_cond_timedwait(&m->cv, &m->mu, &dl) != 0;
  }
}

void mock_lambda_result_free(mock_lambda_result_t *r) {
  if (r) {
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
  }
}

int mock_lambda_wait_polling(mock_lambda_t *m, unsigned n, int timeout_ms) {
  struct timespec dl;
  deadline_after(&dl, timeout_ms);
  int rc = 0;
  pthread_mutex_lock(&m->mu);
  while (m->polling < n) {
    if (pthread_cond_timedwait(&m->cv, &m->mu, &dl) != 0) {
      rc = m->polling >= n ? 0 : -1;
      break;
    }
  }
  pthread_mutex_unlock(&m->mu);
  return rc;
}

unsigned mock_lambda_fail_inflight(mock_lambda_t *m, const char *error_type) {
  unsigned k = 0;
  pthread_mutex_lock(&m->mu);
  while (m->inflight) {
    id_node *in = m->inflight;
    m->inflight = in->next;
    m->n_inflight--;
    res_node *n = calloc(1, sizeof *n);
    if (n && (n->r.body = dupn("", 0))) {
      n->r.kind = MOCK_LAMBDA_LOST;
      snprintf(n->r.request_id, sizeof n->r.request_id, "%.127s", in->id);
      snprintf(n->r.error_type, sizeof n->r.error_type, "%s", error_type ? error_type : "");
      n->r.received_ns = mono_ns();
      push_result(m, n);
      k++;
    } else {
      free(n);
    }
    free(in);
  }
  pthread_mutex_unlock(&m->mu);
  return k;
}

void mock_lambda_fail_next(mock_lambda_t *m, int status, unsigned count) {
  pthread_mutex_lock(&m->mu);
  m->fail_status = status;
  m->fail_count = count;
  pthread_mutex_unlock(&m->mu);
}

void mock_lambda_drop_polls(mock_lambda_t *m) {
  pthread_mutex_lock(&m->mu);
  m->drop_gen++;
  pthread_cond_broadcast(&m->cv);
  pthread_mutex_unlock(&m->mu);
}

void mock_lambda_stats(mock_lambda_t *m, mock_lambda_stats_t *out) {
  pthread_mutex_lock(&m->mu);
  out->next_requests = m->n_next;
  out->handed_out = m->n_out;
  out->results = m->n_results;
  out->bad_requests = m->n_bad;
  out->polling = m->polling;
  out->queued = m->queued;
  out->inflight = m->n_inflight;
  pthread_mutex_unlock(&m->mu);
}

void mock_lambda_stop(mock_lambda_t *m) {
  if (!m) return;
  pthread_mutex_lock(&m->mu);
  m->stopping = 1;
  pthread_cond_broadcast(&m->cv);
  pthread_mutex_unlock(&m->mu);
  MHD_stop_daemon(m->d);
  while (m->q_head) {
    inv_t *v = m->q_head;
    m->q_head = v->next;
    inv_free(v);
  }
  while (m->inflight) {
    id_node *n = m->inflight;
    m->inflight = n->next;
    free(n);
  }
  while (m->r_head) {
    res_node *n = m->r_head;
    m->r_head = n->next;
    free(n->r.body);
    free(n);
  }
  pthread_cond_destroy(&m->cv);
  pthread_mutex_destroy(&m->mu);
  free(m);
}
