/* The one HTTP transport of libevpipe, used by the SDK (client/http.c), the
 * Lambda runtime (lambda/runtime.c) and the AWS client (aws/transport.c).
 *
 * A transport is a small function table over a fixed number of request
 * slots, in the spirit of sentry-native's sentry_transport_new:
 * evp__transport_new builds the libcurl one (one easy handle per slot, each
 * kept alive between requests, all driven by one multi handle so that
 * evp__transport_wakeup interrupts a wait from another thread);
 * evp__transport_new_custom wraps any other implementation (tests use a fake
 * that answers without a server). Either way the response is collected by
 * the functions at the end of this header, so the size limit, header
 * capture and error text behave the same.
 *
 * What every libcurl request gets, and callers cannot change: no signals,
 * the "libevpipe/<version>" user agent, TLS peer and host verification,
 * no redirects, http and https only (http only when asked), TCP keep-alive,
 * and no environment proxy for cleartext URLs (they may carry secrets).
 *
 * Threads: a transport is used by one thread at a time, except
 * evp__transport_wakeup, which any thread may call while it is alive.
 * Nothing here is public ABI. */
#ifndef EVP_NET_TRANSPORT_H
#define EVP_NET_TRANSPORT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "base/base.h"
#include "base/buf.h"

struct curl_slist;

/* Room for an error text (libcurl's CURL_ERROR_SIZE). */
#define EVP__NET_ERR_SIZE 256

/* A response header to capture, by name (case-insensitive, no ':'). The
 * value lands in the caller's val[size], trimmed, with bytes outside
 * printable ASCII replaced by '?'; "" when absent. A value that does not fit
 * is dropped ("") and marked cut. The last occurrence wins; a new status
 * line (after a 100 Continue) clears every capture. */
typedef struct evp__net_hdr {
  const char *name;
  char *val;
  size_t size;
  int cut;
} evp__net_hdr_t;

/* One request. Everything is borrowed until the request has finished. */
typedef struct evp__net_req {
  const char *url;
  struct curl_slist *headers; /* extra request headers, or NULL */
  const void *body;           /* POST this; NULL: GET */
  size_t body_len;
  long timeout_ms;         /* the whole request; 0: no limit */
  long connect_timeout_ms; /* 0: libcurl's default */
} evp__net_req_t;

/* One response: the caller sets the first group (once: it is kept between
 * requests), the transport fills the rest. */
typedef struct evp__net_resp {
  evp__buf_t body;      /* bounded by evp__net_resp_limit; NUL-terminated */
  int keep_over;        /* a body over the limit (or with no memory left for
                           * it): 1 keep what fitted and read the rest away, the
                           * request succeeds and body_err says what happened;
                           * 0 fail the request with body_err */
  int wipe;             /* the body may hold secrets: wiped when reset, moved
                           * (old block wiped) when it grows, wiped when freed */
  evp__net_hdr_t *hdrs; /* headers to capture */
  size_t nhdrs;
  long status;                 /* HTTP status of a finished request; 0 otherwise */
  evp_err_t body_err;          /* EVP_OK, EVP_ERR_TOO_LARGE or EVP_ERR_NOMEM */
  int code;                    /* the implementation's code of a failure (libcurl:
                           * its CURLcode); 0 when none */
  char err[EVP__NET_ERR_SIZE]; /* why a request failed ("" when it did not) */
} evp__net_resp_t;

/* What a transport implementation provides. @p st is the state given to
 * evp__transport_new_custom; @p slot is below the slot count. */
typedef struct evp__transport_ops {
  /* Begin @p req on a free slot; the answer goes to @p resp (reset first
   * with evp__net_resp_reset). Never blocks. EVP_ERR_TRANSPORT (resp->err
   * says why) when it cannot begin: a free slot stays free, a busy one
   * keeps its request (and resp is not reset). */
  evp_err_t (*start)(void *st, size_t slot, const evp__net_req_t *req, evp__net_resp_t *resp);
  /* Wait up to @p timeout_ms (0: not at all) for progress or a wakeup,
   * then move every request along. */
  void (*poll)(void *st, int timeout_ms);
  /* Take a finished request: the one on @p want (SIZE_MAX: any, the
   * earliest finished first). 1 with *slot and *rc (EVP_OK and resp->status,
   * or EVP_ERR_TRANSPORT with resp->err), the slot free again; 0 when none.
   * (A body_err the caller did not keep_over is made the request's error
   * by the transport, for every implementation.) */
  int (*take)(void *st, size_t want, size_t *slot, evp_err_t *rc);
  /* Drop the request on @p slot unfinished (or its unread result). */
  void (*abort)(void *st, size_t slot);
  /* Make a poll that waits, or the next one, return now. Any thread. */
  void (*wakeup)(void *st);
  void (*free)(void *st);
} evp__transport_ops_t;

typedef struct evp__transport evp__transport_t;

/* Settings of the libcurl transport. */
typedef struct evp__transport_conf {
  size_t slots;          /* requests that may be in flight at once (>= 1) */
  const char *ca_file;   /* CA bundle to verify https with; NULL: libcurl's */
  const char *ca_path;   /* CA directory; NULL: libcurl's */
  int http_only;         /* refuse https (and everything but http) */
  const char *aws_sigv4; /* sign every request, "aws:amz:<region>:<service>"; NULL: not */
  const char *user;      /* with aws_sigv4: the access key */
  const char *password;  /* with aws_sigv4: the secret key */
} evp__transport_conf_t;

/** The libcurl transport into *out. Calls curl_global_init once per
 * process. EVP_OK, or EVP_ERR_TRANSPORT, EVP_ERR_NOMEM, EVP_ERR_UNSUPPORTED
 * (libcurl refused an option) with @p errstr set and *out NULL. Free with
 * evp__transport_free. */
evp_err_t evp__transport_new(const evp__transport_conf_t *conf, evp__transport_t **out,
                             char *errstr, size_t es);
/** A transport over @p ops and @p st (owned from now on: ops->free(st) runs
 * when the transport is freed, or here when it cannot be created, which
 * returns NULL). */
evp__transport_t *evp__transport_new_custom(const evp__transport_ops_t *ops, void *st,
                                            size_t slots);
/** Free @p t; requests in flight are dropped. NULL is a no-op. */
void evp__transport_free(evp__transport_t *t);
size_t evp__transport_slots(const evp__transport_t *t);

/** See evp__transport_ops_t. */
evp_err_t evp__transport_start(evp__transport_t *t, size_t slot, const evp__net_req_t *req,
                               evp__net_resp_t *resp);
void evp__transport_poll(evp__transport_t *t, int timeout_ms);
/** A finished request (any slot): 1 with *slot and *rc, or 0. */
int evp__transport_next_done(evp__transport_t *t, size_t *slot, evp_err_t *rc);
void evp__transport_abort(evp__transport_t *t, size_t slot);
/** Any thread; NULL is a no-op. */
void evp__transport_wakeup(evp__transport_t *t);

/** One request on @p slot from start to finish (other slots move along
 * too, their results are kept for next_done). Returns EVP_OK with
 * resp->status, EVP_ERR_TRANSPORT (resp->err), EVP_ERR_TOO_LARGE /
 * EVP_ERR_NOMEM (the body, when not keep_over), or EVP_ERR_TIMED_OUT when
 * @p cancel (may be NULL) became non-zero: it is looked at at least once a
 * second and after every wakeup. */
evp_err_t evp__transport_perform(evp__transport_t *t, size_t slot, const evp__net_req_t *req,
                                 evp__net_resp_t *resp, const atomic_int *cancel);

/* ---- the response, as every implementation fills it */

/** Bound the body to @p bytes (one more is kept for the NUL). */
static inline void evp__net_resp_limit(evp__net_resp_t *r, size_t bytes) {
  r->body.max = bytes + 1;
}
/** The body as text ("" when there is none). */
static inline const char *evp__net_resp_text(const evp__net_resp_t *r) {
  return r->body.p ? (const char *)r->body.p : "";
}
/** Before a request: empty body (its memory kept), no status, no error, no
 * captures. */
void evp__net_resp_reset(evp__net_resp_t *r);
/** Append body bytes. EVP_OK while the request may go on (also when
 * keep_over drops them); otherwise the error, also left in body_err. */
evp_err_t evp__net_resp_body(evp__net_resp_t *r, const void *p, size_t n);
/** One response header line ("Name: value\r\n", or a status line). */
void evp__net_resp_header(evp__net_resp_t *r, const char *line, size_t len);
/** Free (and wipe) the body; the settings stay. */
void evp__net_resp_free(evp__net_resp_t *r);

#endif /* EVP_NET_TRANSPORT_H */
