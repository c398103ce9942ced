/* The SDK's requests, over the one transport (net/transport.h): a slot per
 * max.in.flight transfer and one for tokens, each keeping its connection
 * alive, all driven from the sender thread; evp_client_destroy interrupts a
 * stalled request with a wakeup instead of waiting for request.timeout.ms. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include "client/client_int.h"

#define RESP_MAX (1u << 20) /* responses are small; never buffer more */

static void rbuf_init(evp__rbuf *rb) {
  evp__net_resp_limit(&rb->r, RESP_MAX);
  rb->r.keep_over = 1; /* a longer answer is cut, not an error */
  rb->hdr = (evp__net_hdr_t){"Retry-After", rb->retry_after, sizeof rb->retry_after, 0};
  rb->r.hdrs = &rb->hdr;
  rb->r.nhdrs = 1;
  rb->retry_after_ms = -1;
}

/* What the response says once it is complete. */
static void rbuf_done(evp__rbuf *rb) {
  size_t n = strlen(rb->retry_after);
  rb->retry_after_ms = n ? evp__retry_parse_after(rb->retry_after, n) : -1;
}

static void rbuf_reset(evp__rbuf *rb) {
  evp__net_resp_reset(&rb->r);
  rb->retry_after_ms = -1;
}

evp_err_t evp__client_http_init(evp_client_t *c, char *errstr, size_t es) {
  evp__http *h = &c->http;
  const evp_conf_t *cf = c->conf;
  size_t nx = cf->max_in_flight > 0 ? (size_t)cf->max_in_flight : 1;
  evp__transport_conf_t tc = {
      .slots = nx + 1, .ca_file = cf->ssl_ca_location, .ca_path = cf->ssl_ca_path};
  evp_err_t e = evp__transport_new(&tc, &h->t, errstr, es);
  if (e != EVP_OK) return e;
  if (!(h->x = calloc(nx, sizeof *h->x)))
    return evp__seterr(errstr, es, EVP_ERR_NOMEM, "cannot create the HTTP handle");
  h->nx = nx;
  rbuf_init(&h->rb);
  for (size_t i = 0; i < nx; i++) {
    h->x[i].slot = i;
    rbuf_init(&h->x[i].rb);
  }
  struct curl_slist *t = NULL, *x;
  const char *th[] = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json",
                      "Expect:"};
  for (size_t i = 0; i < 3; i++) {
    if (!(x = curl_slist_append(t, th[i]))) {
      curl_slist_free_all(t);
      return evp__seterr(errstr, es, EVP_ERR_NOMEM, "out of memory");
    }
    t = x;
  }
  h->tok_headers = t;
  return EVP_OK;
}

static void wipe_slist(struct curl_slist *l) {
  for (struct curl_slist *p = l; p; p = p->next) evp__wipe(p->data, strlen(p->data));
  curl_slist_free_all(l);
}

void evp__client_http_set_auth(evp__http *h, struct curl_slist *l) {
  wipe_slist(h->ev_headers);
  h->ev_headers = l;
}

void evp__client_http_free(evp__http *h) {
  evp__transport_free(h->t); /* drops what is in flight */
  for (size_t i = 0; h->x && i < h->nx; i++) {
    evp__xfer *x = &h->x[i];
    evp__net_resp_free(&x->rb.r);
    free(x->body);
    free(x->zbody);
  }
  free(h->x);
  wipe_slist(h->ev_headers);
  curl_slist_free_all(h->tok_headers);
  evp__net_resp_free(&h->rb.r);
  memset(h, 0, sizeof *h);
}

static evp__net_req_t request(const evp_client_t *c, const char *url, struct curl_slist *hdrs,
                              const void *body, size_t len) {
  return (evp__net_req_t){
      url, hdrs, body, len, (long)c->conf->request_timeout_ms, (long)c->conf->connect_timeout_ms};
}

evp_err_t evp__client_xfer_start(evp_client_t *c, evp__xfer *x, const char *url, const void *body,
                                 size_t len) {
  rbuf_reset(&x->rb);
  evp__net_req_t rq = request(c, url, c->http.ev_headers, body, len);
  evp_err_t e = evp__transport_start(c->http.t, x->slot, &rq, &x->rb.r);
  if (e != EVP_OK) return e;
  x->busy = 1;
  c->http.busy_n++;
  return EVP_OK;
}

void evp__client_xfer_drive(evp_client_t *c) { evp__transport_poll(c->http.t, 0); }

void evp__client_xfer_wait(evp_client_t *c, int ms) { evp__transport_poll(c->http.t, ms); }

void evp__client_http_wakeup(evp__http *h) { evp__transport_wakeup(h->t); }

/* A response that could not be kept whole in memory is a failed request:
 * it is retried like any other transport failure. */
static evp_err_t settle(evp__rbuf *rb, evp_err_t e) {
  rbuf_done(rb);
  if (e == EVP_OK && rb->r.body_err == EVP_ERR_NOMEM) {
    snprintf(rb->r.err, sizeof rb->r.err, "out of memory for the response");
    return EVP_ERR_TRANSPORT;
  }
  return e;
}

evp__xfer *evp__client_xfer_next_done(evp_client_t *c, evp_err_t *rc, long *status) {
  size_t slot;
  evp_err_t e;
  while (evp__transport_next_done(c->http.t, &slot, &e)) {
    if (slot >= c->http.nx || !c->http.x[slot].busy) continue;
    evp__xfer *x = &c->http.x[slot];
    x->busy = 0;
    c->http.busy_n--;
    *rc = settle(&x->rb, e) == EVP_OK ? EVP_OK : EVP_ERR_TRANSPORT;
    *status = *rc == EVP_OK ? x->rb.r.status : 0;
    return x;
  }
  return NULL;
}

void evp__client_xfer_abort(evp_client_t *c, evp__xfer *x) {
  if (!x->busy) return;
  evp__transport_abort(c->http.t, x->slot);
  x->busy = 0;
  c->http.busy_n--;
}

evp_err_t evp__client_http_post(evp_client_t *c, const char *url, struct curl_slist *hdrs,
                                const void *body, size_t len, long *status) {
  evp__http *h = &c->http;
  rbuf_reset(&h->rb);
  evp__net_req_t rq = request(c, url, hdrs, body, len);
  evp_err_t e = evp__transport_perform(h->t, h->nx, &rq, &h->rb.r, &c->abort_io);
  if (e == EVP_ERR_TIMED_OUT) snprintf(h->rb.r.err, sizeof h->rb.r.err, "aborted: client closed");
  e = settle(&h->rb, e);
  if (e != EVP_OK && e != EVP_ERR_TIMED_OUT) e = EVP_ERR_TRANSPORT;
  *status = e == EVP_OK ? h->rb.r.status : 0;
  return e;
}
