/* The HTTP front of `evpipe local` on libmicrohttpd: one thread per
 * connection (so a request waiting for the log's group commit blocks only
 * its own connection), bounded bodies, gzip, routing to the pure handlers of
 * src/server/, rate limiting, persistence, metrics and one log line per
 * request. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include "base/base.h"
#include "local/http_conns.h"
#include "local/local.h"
#include "wal/wal_format.h"

/* A request's sent_at goes to the log as the door read it. */
_Static_assert(EVP__EVENTS_NO_SENT_AT == EVP__WAL_NO_SENT_AT, "one value means no sent_at");

#define TOKEN_BODY_LIMIT (64u * 1024u)
#define DRAIN_FACTOR 4 /* read and drop up to this many limits of an oversized body, then close */

struct evp__http {
  struct MHD_Daemon *d;
  evp__conns_t *conns; /* the listening socket, admission and deadlines */
  evp__http_deps_t deps;
  pthread_key_t ctx_key;
};

typedef struct {
  evp__route_t route;
  char *buf;
  size_t len, cap, limit, dropped;
  int too_large;
  int authed; /* /events: the bearer token was checked before the body */
  char cid[EVP__CLIENT_ID_MAX + 1];
  double t0;
} reqstate_t;

static evp__route_t route_of(const char *url) {
  if (strcmp(url, "/token") == 0) return EVP__ROUTE_TOKEN;
  if (strcmp(url, "/events") == 0) return EVP__ROUTE_EVENTS;
  if (strcmp(url, "/metrics") == 0) return EVP__ROUTE_METRICS;
  if (strcmp(url, "/healthz") == 0) return EVP__ROUTE_HEALTHZ;
  return EVP__ROUTE_OTHER;
}

/* Response bodies may carry a token: wiped when libmicrohttpd is done. */
static void wipe_free(void *p) {
  if (p) {
    OPENSSL_cleanse(p, strlen(p));
    free(p);
  }
}

static void client_ip(struct MHD_Connection *c, char *out, size_t cap) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  evp__sockaddr_ip(ci ? ci->client_addr : NULL, out, cap);
}

/* Send @p r (taking its body), count it and log one line. @p extra holds
 * already-rendered log members (may be NULL). */
static enum MHD_Result send_resp(evp__http_t *h, struct MHD_Connection *c, reqstate_t *rs,
                                 const char *method, const char *url, evp__http_resp_t *r,
                                 const char *client_id, const char *extra) {
  struct MHD_Response *mr;
  if (r->body) {
    mr = MHD_create_response_from_buffer_with_free_callback(r->body_len, r->body, wipe_free);
    if (mr) r->body = NULL; /* libmicrohttpd owns it now */
  } else {
    mr = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  }
  if (!mr) {
    evp__http_resp_free(r);
    return MHD_NO;
  }
  if (r->content_type) MHD_add_response_header(mr, "Content-Type", r->content_type);
  for (size_t i = 0; i < r->n_headers; i++)
    MHD_add_response_header(mr, r->headers[i].name, r->headers[i].value);
  enum MHD_Result q = MHD_queue_response(c, (unsigned)r->status, mr);
  MHD_destroy_response(mr);
  double dt = evp__mono_s() - rs->t0;
  evp__metrics_request(h->deps.metrics, rs->route, r->status, dt);
  if (h->deps.opts->log_requests || r->status >= 500) {
    char f[1024], ip[64];
    size_t n = 0;
    client_ip(c, ip, sizeof ip);
    evp__local_log_str(f, sizeof f, &n, "method", method);
    evp__local_log_str(f, sizeof f, &n, "path", url);
    evp__local_log_num(f, sizeof f, &n, "status", r->status);
    evp__local_log_num(f, sizeof f, &n, "duration_us", (long long)(dt * 1e6));
    evp__local_log_str(f, sizeof f, &n, "remote", ip);
    if (client_id && client_id[0]) evp__local_log_str(f, sizeof f, &n, "client_id", client_id);
    if (r->reason) evp__local_log_str(f, sizeof f, &n, "reason", r->reason);
    if (extra && n + strlen(extra) + 2 < sizeof f) {
      f[n++] = ',';
      memcpy(f + n, extra, strlen(extra) + 1);
      n += strlen(extra);
    }
    evp__local_log(r->status >= 500 ? "error" : r->status >= 400 ? "warn" : "info", "request", f);
  }
  evp__http_resp_free(r);
  return q;
}

/* A plain error answer (the handler never ran, or could not answer). */
static enum MHD_Result send_error(evp__http_t *h, struct MHD_Connection *c, reqstate_t *rs,
                                  const char *method, const char *url, int status, const char *code,
                                  const char *desc, const char *retry_after) {
  evp__http_resp_t r;
  evp__http_resp_init(&r);
  if (evp__http_resp_error(&r, status, code, desc) != EVP_OK) return MHD_NO;
  if (retry_after) evp__http_resp_header(&r, "Retry-After", retry_after);
  return send_resp(h, c, rs, method, url, &r, NULL, NULL);
}

/* An error after which the connection cannot be trusted (its framing is
 * ambiguous, or a body we will not read is coming): answer, then close. An
 * answer queued before the body is read also makes libmicrohttpd discard
 * that body rather than read it. */
static enum MHD_Result send_error_close(evp__http_t *h, struct MHD_Connection *c, reqstate_t *rs,
                                        const char *method, const char *url, int status,
                                        const char *code, const char *desc) {
  evp__http_resp_t r;
  evp__http_resp_init(&r);
  if (evp__http_resp_error(&r, status, code, desc) != EVP_OK ||
      evp__http_resp_header(&r, "Connection", "close") != EVP_OK) {
    evp__http_resp_free(&r);
    return MHD_NO;
  }
  return send_resp(h, c, rs, method, url, &r, NULL, NULL);
}

static enum MHD_Result framing_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t key_size, const char *value, size_t value_size) {
  (void)kind;
  evp__http_framing_add(cls, key, key_size, value ? value : "", value ? value_size : 0);
  return MHD_YES;
}

/* Why the request's framing or syntax is refused (RFC 9112 §6.1, §6.3), or
 * NULL. What libmicrohttpd 0.9.75 lets through: both Content-Length and
 * Transfer-Encoding (it uses the chunked framing and keeps the connection),
 * repeated Content-Length (the first wins), whitespace before the colon (the
 * header is then ignored), a bare CR in a value, a NUL in the target, no or
 * two Host headers. */
static const char *framing_problem(struct MHD_Connection *c, const char *version) {
  if (evp__conn_nul_in_target(evp__conn_of(c), version)) return "NUL in the request target";
  evp__http_framing_t f;
  memset(&f, 0, sizeof f);
  MHD_get_connection_values_n(c, MHD_HEADER_KIND, framing_header, &f);
  return evp__http_framing_verdict(&f, version && strcmp(version, "HTTP/1.1") == 0);
}

static const char *hdr(struct MHD_Connection *c, const char *name) {
  return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* Fill the handler's request from the connection. */
static void fill_req(struct MHD_Connection *c, const char *method, const char *url,
                     const char *body, size_t len, evp__http_hdr_t *hs, evp__http_req_t *q) {
  size_t n = 0;
  const char *v;
  if ((v = hdr(c, "Authorization"))) hs[n++] = (evp__http_hdr_t){"authorization", v};
  if ((v = hdr(c, "Content-Type"))) hs[n++] = (evp__http_hdr_t){"content-type", v};
  q->method = method;
  q->path = url;
  q->headers = hs;
  q->n_headers = n;
  q->body = body;
  q->body_len = len;
  q->source_ip = NULL;
}

static int is_gzip(struct MHD_Connection *c) {
  const char *ce = hdr(c, "Content-Encoding");
  return ce && strcasecmp(ce, "gzip") == 0;
}

static evp_schema_ctx_t *thread_ctx(evp__http_t *h) {
  evp_schema_ctx_t *ctx = pthread_getspecific(h->ctx_key);
  if (!ctx && (ctx = evp_schema_ctx_new()) && pthread_setspecific(h->ctx_key, ctx) != 0) {
    evp_schema_ctx_destroy(ctx);
    ctx = NULL;
  }
  return ctx;
}

static enum MHD_Result do_token(evp__http_t *h, struct MHD_Connection *c, reqstate_t *rs,
                                const char *method, const char *url, const char *body, size_t len) {
  evp__http_hdr_t hs[2];
  evp__http_req_t q;
  evp__http_resp_t r;
  fill_req(c, method, url, body, len, hs, &q);
  evp__http_resp_init(&r);
  char ip[64];
  client_ip(c, ip, sizeof ip);
  q.source_ip = ip; /* the issuer's lockout exempts addresses a client used before */
  if (h->deps.token_ratelimit) {
    /* Per source address: bounds guessing of client secrets and the work an
     * anonymous caller can make us do (API Gateway + WAF rate rules in AWS). */
    int wait = evp__ratelimit_take(h->deps.token_ratelimit, ip[0] ? ip : "?", evp__mono_s());
    if (wait > 0) {
      char ra[16];
      snprintf(ra, sizeof ra, "%d", wait);
      evp__metrics_token(h->deps.metrics, "rate_limited");
      if (evp__http_resp_error(&r, 429, "rate_limited", "too many token requests; retry later") ||
          evp__http_resp_header(&r, "Retry-After", ra) ||
          evp__http_resp_header(&r, "Cache-Control", "no-store")) {
        evp__http_resp_free(&r);
        return send_error(h, c, rs, method, url, 500, "server_error", "could not answer", NULL);
      }
      return send_resp(h, c, rs, method, url, &r, NULL, NULL);
    }
  }
  evp__keystate_t *ks = evp__keywatch_acquire(h->deps.keys);
  evp__issuer_t iss = {ks->clients, ks->signer, h->deps.opts->token_ttl_s, h->deps.token_lockout};
  char *cid = NULL;
  evp_err_t e = evp__issuer_handle(&iss, &q, &r, &cid);
  char extra[256];
  size_t n = 0;
  evp__local_log_str(extra, sizeof extra, &n, "kid", ks->current);
  evp__keystate_release(ks);
  if (e != EVP_OK) {
    evp__http_resp_free(&r);
    free(cid);
    return send_error(h, c, rs, method, url, 500, "server_error", "could not answer", NULL);
  }
  if (r.status != 405) evp__metrics_token(h->deps.metrics, r.status == 200 ? NULL : r.reason);
  enum MHD_Result res = send_resp(h, c, rs, method, url, &r, cid, r.status == 200 ? extra : NULL);
  free(cid);
  return res;
}

/* Backpressure: while more than max_backlog events wait for the batcher,
 * hold the request (up to 2 s, in 1 ms naps) so the batcher gets the CPU
 * the requests would take — ingestion then runs at the pace the lake is
 * written, and a crash never has more than that to replay. 0 when the
 * backlog did not come down in time. */
static int backlog_ok(evp__http_t *h) {
  uint64_t max = h->deps.opts->max_backlog;
  for (int i = 0; i < 2000; i++) {
    if (evp__wal_pending_events(h->deps.wal) <= max) return 1;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

static enum MHD_Result do_events(evp__http_t *h, struct MHD_Connection *c, reqstate_t *rs,
                                 const char *method, const char *url) {
  evp__http_hdr_t hs[2];
  evp__http_req_t q;
  evp__http_resp_t r;
  char cid[EVP__CLIENT_ID_MAX + 1];
  fill_req(c, method, url, NULL, 0, hs, &q);
  evp__http_resp_init(&r);
  /* The token was checked from the headers before the body was accepted
   * (begin()), so unauthenticated callers get no buffering, decompression or
   * parsing work out of us. */
  evp_err_t e;
  if (!rs->authed) {
    evp__keystate_t *ks = evp__keywatch_acquire(h->deps.keys);
    e = evp__authorize(ks->verifier, &q, cid, &r);
    evp__keystate_release(ks);
    if (e == EVP_ERR_AUTH) {
      evp__metrics_auth_failure(h->deps.metrics, r.reason);
      return send_resp(h, c, rs, method, url, &r, NULL, NULL);
    }
    if (e != EVP_OK)
      return send_error(h, c, rs, method, url, 500, "server_error", "could not answer", NULL);
  } else {
    memcpy(cid, rs->cid, sizeof cid);
  }
  int wait = evp__ratelimit_take(h->deps.ratelimit, cid, evp__mono_s());
  if (wait > 0) {
    char ra[16];
    snprintf(ra, sizeof ra, "%d", wait);
    evp__http_resp_error(&r, 429, "rate_limited", "too many requests; retry later");
    evp__http_resp_header(&r, "Retry-After", ra);
    return send_resp(h, c, rs, method, url, &r, cid, NULL);
  }
  char *plain = NULL;
  size_t plen = rs->len;
  if (rs->buf) /* the slack every body buffer has (EVP__REGEX_SLACK), defined */
    memset(rs->buf + rs->len, 0, EVP__REGEX_SLACK);
  const char *body = rs->buf ? rs->buf : "";
  if (is_gzip(c)) {
    e = evp__gunzip(rs->buf, rs->len, h->deps.opts->max_body, &plain, &plen);
    if (e == EVP_ERR_TOO_LARGE)
      return send_error(h, c, rs, method, url, 413, "too_large", "decompressed body too large",
                        NULL);
    if (e != EVP_OK)
      return send_error(h, c, rs, method, url, e == EVP_ERR_NOMEM ? 500 : 400,
                        e == EVP_ERR_NOMEM ? "server_error" : "invalid_request",
                        "body is not valid gzip", NULL);
    body = plain;
  }
  q.body = body;
  q.body_len = plen;
  evp_schema_ctx_t *ctx = thread_ctx(h);
  evp__events_cfg_t cfg = {h->deps.schema, h->deps.opts->max_events, h->deps.opts->max_body,
                           h->deps.table};
  evp__events_result_t res;
  e = ctx ? evp__events_handle(&cfg, ctx, &q, &res, &r) : EVP_ERR_NOMEM;
  enum MHD_Result out;
  if (e != EVP_OK) {
    evp__http_resp_free(&r);
    out = send_error(h, c, rs, method, url, 500, "server_error", "could not answer", NULL);
    goto done;
  }
  if (r.status == 200 && res.n_accepted > 0 && h->deps.wal && h->deps.opts->max_backlog &&
      !backlog_ok(h)) {
    /* The lake cannot keep up: refuse rather than grow the log without
     * bound; the client retries after the pause (docs/protocol.md). */
    evp__events_result_free(&res);
    evp__http_resp_free(&r);
    out = send_error(h, c, rs, method, url, 503, "busy", "the lake writer is behind; retry", "1");
    goto done;
  }
  if (r.status == 200 && res.n_accepted > 0) {
    char why[256];
    evp_err_t we =
        h->deps.wal
            ? evp__wal_append_sent(h->deps.wal, cid, evp__wall_us(), res.sent_at_us, res.accepted,
                                   res.accepted_lens, res.n_accepted, why, sizeof why)
            : evp__seterr(why, sizeof why, EVP_ERR_STATE, "no durable log");
    if (we != EVP_OK) {
      /* Not durable: nothing of this request may be acknowledged. */
      char f[512];
      size_t n = 0;
      evp__local_log_str(f, sizeof f, &n, "error", why);
      evp__local_log("error", "durable log append failed", f);
      evp__events_result_free(&res);
      evp__http_resp_free(&r);
      out = send_error(h, c, rs, method, url, 503, "unavailable", "storage unavailable", "1");
      goto done;
    }
  }
  evp__metrics_accepted(h->deps.metrics, res.n_accepted);
  for (size_t i = 0; i < res.n_rejected; i++)
    evp__metrics_rejected(h->deps.metrics, res.rejected[i].reason);
  char extra[128];
  size_t n = 0;
  if (r.status == 200) {
    evp__local_log_num(extra, sizeof extra, &n, "events", (long long)res.n_events);
    evp__local_log_num(extra, sizeof extra, &n, "accepted", (long long)res.n_accepted);
    evp__local_log_num(extra, sizeof extra, &n, "rejected", (long long)res.n_rejected);
  }
  evp__events_result_free(&res);
  out = send_resp(h, c, rs, method, url, &r, cid, n ? extra : NULL);
done:
  free(plain); /* events, not secrets: no wipe */
  return out;
}

static enum MHD_Result do_get(evp__http_t *h, struct MHD_Connection *c, reqstate_t *rs,
                              const char *method, const char *url) {
  evp__http_resp_t r;
  evp__http_resp_init(&r);
  if (strcmp(method, "GET") != 0) {
    if (evp__http_resp_error(&r, 405, "method_not_allowed", "use GET") != EVP_OK) return MHD_NO;
    evp__http_resp_header(&r, "Allow", "GET");
    return send_resp(h, c, rs, method, url, &r, NULL, NULL);
  }
  if (rs->route == EVP__ROUTE_HEALTHZ) {
    char *body;
    size_t blen;
    if (evp__local_health(h->deps.batcher, &r.status, &body, &blen) != EVP_OK) return MHD_NO;
    r.body = body;
    r.body_len = blen;
    r.content_type = "application/json";
    return send_resp(h, c, rs, method, url, &r, NULL, NULL);
  }
  char *txt;
  size_t len;
  if (evp__metrics_render(h->deps.metrics, h->deps.wal, h->deps.batcher, &txt, &len) != EVP_OK)
    return send_error(h, c, rs, method, url, 500, "server_error", "out of memory", NULL);
  r.status = 200;
  r.body = txt;
  r.body_len = len;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return send_resp(h, c, rs, method, url, &r, NULL, NULL);
}

/* First call for a request: route, and refuse early what needs no body. */
static enum MHD_Result begin(evp__http_t *h, struct MHD_Connection *c, reqstate_t *rs,
                             const char *method, const char *url) {
  if (rs->route == EVP__ROUTE_OTHER)
    return send_error(h, c, rs, method, url, 404, "not_found", "no such endpoint", NULL);
  if (rs->route == EVP__ROUTE_METRICS || rs->route == EVP__ROUTE_HEALTHZ) {
    /* They take no body: one announced (a length other than 0, or chunked)
     * is refused before it is read, and the connection closed, so a client
     * cannot make us read (and drop) an unbounded stream. */
    const char *len = hdr(c, "Content-Length");
    if (hdr(c, "Transfer-Encoding") || (len && strcmp(len, "0") != 0))
      return send_error_close(h, c, rs, method, url, 413, "too_large",
                              "GET /healthz and /metrics take no request body");
    return MHD_YES; /* answered on the final call */
  }
  rs->limit = rs->route == EVP__ROUTE_TOKEN ? TOKEN_BODY_LIMIT : h->deps.opts->max_body;
  if (rs->route == EVP__ROUTE_EVENTS) {
    /* Authorize from the headers alone, before accepting a byte of body:
     * otherwise anyone could make us hold max_body per connection. */
    evp__http_hdr_t hs[2];
    evp__http_req_t q;
    evp__http_resp_t r;
    fill_req(c, method, url, NULL, 0, hs, &q);
    evp__http_resp_init(&r);
    evp__keystate_t *ks = evp__keywatch_acquire(h->deps.keys);
    evp_err_t e = evp__authorize(ks->verifier, &q, rs->cid, &r);
    evp__keystate_release(ks);
    if (e == EVP_ERR_AUTH) {
      evp__metrics_auth_failure(h->deps.metrics, r.reason);
      return send_resp(h, c, rs, method, url, &r, NULL, NULL);
    }
    if (e != EVP_OK)
      return send_error(h, c, rs, method, url, 500, "server_error", "could not answer", NULL);
    evp__http_resp_free(&r);
    rs->authed = 1;
  }
  const char *cl = hdr(c, "Content-Length");
  if (cl) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(cl, &end, 10);
    if (errno == 0 && *end == '\0' && v > rs->limit)
      return send_error(h, c, rs, method, url, 413, "too_large", "request body too large", NULL);
    /* Known length: one buffer of the right size, no regrowth copies. */
    if (errno == 0 && *end == '\0' && v > 0 && (rs->buf = malloc((size_t)v + EVP__REGEX_SLACK)))
      rs->cap = (size_t)v;
  }
  const char *ce = hdr(c, "Content-Encoding");
  if (ce && strcasecmp(ce, "gzip") != 0 && strcasecmp(ce, "identity") != 0)
    return send_error(h, c, rs, method, url, 415, "unsupported_encoding",
                      "Content-Encoding must be gzip or identity", NULL);
  return MHD_YES;
}

/* Body bytes: kept up to the limit; beyond it dropped, then the connection is
 * closed if the client keeps going (a chunked body has no length up front). */
static enum MHD_Result take_body(reqstate_t *rs, const char *data, size_t n) {
  if (rs->too_large || n > rs->limit - rs->len) {
    if (!rs->too_large) {
      OPENSSL_cleanse(rs->buf, rs->len);
      free(rs->buf);
      rs->buf = NULL;
      rs->dropped = rs->len;
      rs->len = rs->cap = 0;
      rs->too_large = 1;
    }
    rs->dropped += n;
    return rs->dropped > (size_t)DRAIN_FACTOR * rs->limit ? MHD_NO : MHD_YES;
  }
  if (rs->len + n > rs->cap) {
    size_t nc = rs->cap ? rs->cap * 2 : 16384;
    while (nc < rs->len + n) nc *= 2;
    if (nc > rs->limit) nc = rs->limit;
    /* EVP__REGEX_SLACK bytes past the end: the body's strings are pattern
     * subjects in place, and PCRE2's JIT loads 16 bytes at a time. */
    char *nb = malloc(nc + EVP__REGEX_SLACK);
    if (!nb) return MHD_NO;
    /* Not realloc: the old buffer may hold a client secret; wipe it. */
    if (rs->buf) {
      memcpy(nb, rs->buf, rs->len);
      OPENSSL_cleanse(rs->buf, rs->len);
      free(rs->buf);
    }
    rs->buf = nb;
    rs->cap = nc;
  }
  memcpy(rs->buf + rs->len, data, n);
  rs->len += n;
  return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls) {
  evp__http_t *h = cls;
  reqstate_t *rs = *con_cls;
  if (!rs) {
    if (!(rs = calloc(1, sizeof *rs))) return MHD_NO;
    rs->t0 = evp__mono_s();
    rs->route = route_of(url);
    *con_cls = rs;
    evp__conn_headers_done(h->conns, evp__conn_of(c));
    const char *why = framing_problem(c, version);
    if (why) return send_error_close(h, c, rs, method, url, 400, "invalid_request", why);
    return begin(h, c, rs, method, url);
  }
  if (*data_size) {
    size_t n = *data_size;
    *data_size = 0;
    evp__conn_body(h->conns, evp__conn_of(c), n);
    if (rs->route == EVP__ROUTE_METRICS || rs->route == EVP__ROUTE_HEALTHZ)
      return MHD_YES; /* ignored */
    return take_body(rs, data, n);
  }
  evp__conn_body_done(h->conns, evp__conn_of(c));
  if (rs->route == EVP__ROUTE_METRICS || rs->route == EVP__ROUTE_HEALTHZ)
    return do_get(h, c, rs, method, url);
  if (rs->too_large)
    return send_error(h, c, rs, method, url, 413, "too_large", "request body too large", NULL);
  if (rs->route == EVP__ROUTE_TOKEN) {
    char *plain = NULL;
    size_t plen = rs->len;
    if (is_gzip(c)) {
      evp_err_t e = evp__gunzip(rs->buf, rs->len, TOKEN_BODY_LIMIT, &plain, &plen);
      if (e != EVP_OK)
        return send_error(h, c, rs, method, url, e == EVP_ERR_TOO_LARGE ? 413 : 400,
                          e == EVP_ERR_TOO_LARGE ? "too_large" : "invalid_request",
                          "body is not valid gzip or too large", NULL);
    }
    enum MHD_Result res = do_token(h, c, rs, method, url,
                                   plain     ? plain
                                   : rs->buf ? rs->buf
                                             : "",
                                   plen);
    if (plain) {
      OPENSSL_cleanse(plain, plen);
      free(plain);
    }
    return res;
  }
  return do_events(h, c, rs, method, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)toe;
  evp__http_t *h = cls;
  evp__conn_request_done(h->conns, evp__conn_of(c));
  reqstate_t *rs = *con_cls;
  if (!rs) return;
  if (rs->buf) {
    /* A token request body holds a secret; event bodies (up to max_body
     * each, hot at full rate) do not. */
    if (rs->route != EVP__ROUTE_EVENTS) OPENSSL_cleanse(rs->buf, rs->len);
    free(rs->buf);
  }
  free(rs);
  *con_cls = NULL;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[512], f[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
  n = 0;
  evp__local_log_str(f, sizeof f, &n, "detail", msg);
  /* A client can provoke these at will (one per broken connection): rate-
   * limited per message. */
  evp__local_log_limited(fmt, "warn", "http", f);
}
#pragma GCC diagnostic pop

/* The raw request target, before decoding (see evp__conn_nul_in_target). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
  (void)cls;
  evp__conn_set_target(evp__conn_of(c), uri);
  return NULL; /* no request state yet: on_request's first call makes it */
}

/* libmicrohttpd's own %-decoding, noting a decoded NUL (it would cut the
 * path short: "/healthz%00x" would be served as /healthz). */
static size_t on_unescape(void *cls, struct MHD_Connection *c, char *s) {
  (void)cls;
  size_t n = MHD_http_unescape(s);
  if (strlen(s) != n) evp__conn_set_nul_in_target(evp__conn_of(c));
  return n;
}

static void ctx_destroy(void *p) { evp_schema_ctx_destroy(p); }

evp_err_t evp__http_start(evp__listener_t *lis, const evp__http_deps_t *deps, evp__http_t **out,
                          char *errstr, size_t errstr_size) {
  *out = NULL;
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC |
                   MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET;
  evp__http_t *h = calloc(1, sizeof *h);
  if (!h) {
    evp__listener_free(lis);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  }
  h->deps = *deps;
  int ipv6 = lis->ipv6;
  evp_err_t e = evp__conns_new(lis, deps->opts, deps->metrics, &h->conns, errstr, errstr_size);
  if (e != EVP_OK) {
    free(h);
    return e;
  }
  if (ipv6) flags |= MHD_USE_IPv6;
  if (pthread_key_create(&h->ctx_key, ctx_destroy) != 0) {
    evp__conns_free(h->conns);
    free(h);
    return evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL, "pthread_key_create failed");
  }
  /* The logger goes first so that option errors are logged through it too.
   * The connection limit is enforced by the accept thread (http_conns.c);
   * the daemon's own, which resets connections past it, is only a backstop
   * above it: a closed connection leaves the daemon's count a moment after
   * it leaves ours. */
  h->d = MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, evp__conns_notify,
      h->conns, MHD_OPTION_URI_LOG_CALLBACK, on_uri, h, MHD_OPTION_UNESCAPE_CALLBACK, on_unescape,
      h, MHD_OPTION_CONNECTION_LIMIT, 2u * (unsigned)deps->opts->threads_max,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
  if (!h->d || evp__conns_run(h->conns, h->d, errstr, errstr_size) != EVP_OK) {
    if (!h->d) evp__seterr(errstr, errstr_size, EVP_ERR_IO, "cannot start the HTTP daemon");
    evp__conns_stop_accepting(h->conns);
    if (h->d) MHD_stop_daemon(h->d);
    evp__conns_free(h->conns);
    pthread_key_delete(h->ctx_key);
    free(h);
    return EVP_ERR_IO;
  }
  *out = h;
  return EVP_OK;
}

void evp__http_quiesce(evp__http_t *h) {
  if (h) evp__conns_stop_accepting(h->conns);
}

void evp__http_stop(evp__http_t *h) {
  if (!h) return;
  evp__conns_stop_accepting(h->conns);
  MHD_stop_daemon(h->d);
  evp__conns_free(h->conns);
  /* The calling thread may have used the key too (it did not, but be exact). */
  evp_schema_ctx_t *ctx = pthread_getspecific(h->ctx_key);
  evp_schema_ctx_destroy(ctx);
  pthread_key_delete(h->ctx_key);
  free(h);
}
