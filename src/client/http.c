/* The HTTP transport: one CURL easy handle for tokens and one per
 * max.in.flight slot for POST /events, each reused so its connection stays
 * alive, all driven through one multi handle so that evp_client_destroy can
 * interrupt a stalled request (curl_multi_wakeup) instead of waiting for
 * request.timeout.ms, and so that several batches can be in flight from the
 * one sender thread. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include "client/client_int.h"
#include "evpipe/version.h"

#define RESP_MAX (1u << 20) /* responses are small; never buffer more */

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  evp__rbuf *h = ud;
  size_t len = sz * n;
  size_t take = len;
  if (h->resp_len + take > RESP_MAX)
    take = RESP_MAX - h->resp_len;
  if (h->resp_len + take + 1 > h->resp_cap) {
    size_t cap = h->resp_cap ? h->resp_cap : 4096;
    while (cap < h->resp_len + take + 1)
      cap *= 2;
    char *r = realloc(h->resp, cap);
    if (!r)
      return 0; /* curl reports CURLE_WRITE_ERROR: a transport failure */
    h->resp = r;
    h->resp_cap = cap;
  }
  memcpy(h->resp + h->resp_len, p, take);
  h->resp_len += take;
  h->resp[h->resp_len] = '\0';
  return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
  evp__rbuf *h = ud;
  size_t len = sz * n;
  if (len > 12 && !strncasecmp(p, "retry-after:", 12))
    h->retry_after_ms = evp__retry_parse_after(p + 12, len - 12);
  return len;
}

/* Options every handle shares; 0 when libcurl took them all. */
static int setup_easy(const evp_conf_t *cf, CURL *e, evp__rbuf *rb) {
  int bad = 0;
  bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "libevpipe/" EVP_VERSION_STR) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, rb) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, rb) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, rb->curl_err) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cf->request_timeout_ms) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cf->connect_timeout_ms) != CURLE_OK;
  /* Verification is never optional for https. */
  bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK;
  if (cf->ssl_ca_location)
    bad |= curl_easy_setopt(e, CURLOPT_CAINFO, cf->ssl_ca_location) != CURLE_OK;
  if (cf->ssl_ca_path)
    bad |= curl_easy_setopt(e, CURLOPT_CAPATH, cf->ssl_ca_path) != CURLE_OK;
  return bad;
}

evp_err_t evp__client_http_init(evp_client_t *c, char *errstr, size_t es) {
  if (evp__curl_init_once() != 0)
    return evp__seterr(errstr, es, EVP_ERR_TRANSPORT, "curl_global_init failed");
  evp__http *h = &c->http;
  const evp_conf_t *cf = c->conf;
  size_t nx = cf->max_in_flight > 0 ? (size_t)cf->max_in_flight : 1;
  h->h = curl_easy_init();
  h->m = curl_multi_init();
  h->x = calloc(nx, sizeof *h->x);
  if (!h->h || !h->m || !h->x)
    return evp__seterr(errstr, es, EVP_ERR_NOMEM, "cannot create the HTTP handle");
  h->nx = nx;
  int bad = setup_easy(cf, h->h, &h->rb);
  for (size_t i = 0; i < nx; i++) {
    evp__xfer *x = &h->x[i];
    if (!(x->h = curl_easy_init()))
      return evp__seterr(errstr, es, EVP_ERR_NOMEM, "cannot create the HTTP handle");
    bad |= setup_easy(cf, x->h, &x->rb);
    bad |= curl_easy_setopt(x->h, CURLOPT_PRIVATE, (void *)x) != CURLE_OK;
  }
  if (bad)
    return evp__seterr(errstr, es, EVP_ERR_UNSUPPORTED, "libcurl refused an option");
  struct curl_slist *t = NULL, *x;
  const char *th[] = {"Content-Type: application/x-www-form-urlencoded",
                      "Accept: application/json", "Expect:"};
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
  for (struct curl_slist *p = l; p; p = p->next)
    OPENSSL_cleanse(p->data, strlen(p->data));
  curl_slist_free_all(l);
}

void evp__client_http_set_auth(evp__http *h, struct curl_slist *l) {
  wipe_slist(h->ev_headers);
  h->ev_headers = l;
}

static void rbuf_free(evp__rbuf *rb) {
  if (rb->resp) {
    OPENSSL_cleanse(rb->resp, rb->resp_cap);
    free(rb->resp);
  }
}

static void rbuf_reset(evp__rbuf *rb) {
  rb->resp_len = 0;
  if (rb->resp)
    rb->resp[0] = '\0';
  rb->retry_after_ms = -1;
  rb->curl_err[0] = '\0';
}

/* Per-request options: the URL, its headers and body. */
static void set_request(CURL *e, const char *url, struct curl_slist *hdrs, const void *body,
                        size_t len) {
  curl_easy_setopt(e, CURLOPT_URL, url);
  /* Cleartext requests carry the client secret or the bearer token: never
   * hand them to a proxy from the environment (http_proxy). */
  curl_easy_setopt(e, CURLOPT_NOPROXY, strncmp(url, "http://", 7) == 0 ? "*" : (const char *)NULL);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
}

void evp__client_http_free(evp__http *h) {
  if (h->m && h->h)
    curl_multi_remove_handle(h->m, h->h);
  if (h->h)
    curl_easy_cleanup(h->h);
  for (size_t i = 0; h->x && i < h->nx; i++) {
    evp__xfer *x = &h->x[i];
    if (x->h) {
      if (h->m && x->busy)
        curl_multi_remove_handle(h->m, x->h);
      curl_easy_cleanup(x->h);
    }
    rbuf_free(&x->rb);
    free(x->body);
    free(x->zbody);
  }
  free(h->x);
  if (h->m)
    curl_multi_cleanup(h->m);
  wipe_slist(h->ev_headers);
  curl_slist_free_all(h->tok_headers);
  rbuf_free(&h->rb);
  memset(h, 0, sizeof *h);
}

evp_err_t evp__client_xfer_start(evp_client_t *c, evp__xfer *x, const char *url, const void *body,
                                 size_t len) {
  rbuf_reset(&x->rb);
  set_request(x->h, url, c->http.ev_headers, body, len);
  if (curl_multi_add_handle(c->http.m, x->h) != CURLM_OK) {
    snprintf(x->rb.curl_err, sizeof x->rb.curl_err, "curl_multi_add_handle failed");
    return EVP_ERR_TRANSPORT;
  }
  x->busy = 1;
  c->http.busy_n++;
  return EVP_OK;
}

void evp__client_xfer_drive(evp_client_t *c) {
  int running;
  /* A failure here leaves the transfers to their own timeouts. */
  (void)curl_multi_perform(c->http.m, &running);
}

static void xfer_off(evp_client_t *c, evp__xfer *x) {
  curl_multi_remove_handle(c->http.m, x->h);
  x->busy = 0;
  c->http.busy_n--;
}

evp__xfer *evp__client_xfer_next_done(evp_client_t *c, evp_err_t *rc, long *status) {
  int left;
  CURLMsg *msg;
  while ((msg = curl_multi_info_read(c->http.m, &left))) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    evp__xfer *x = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    if (!x || !x->busy)
      continue;
    CURLcode res = msg->data.result; /* msg is invalid once the handle is removed */
    *status = 0;
    *rc = EVP_OK;
    if (res != CURLE_OK) {
      if (!x->rb.curl_err[0])
        snprintf(x->rb.curl_err, sizeof x->rb.curl_err, "%s", curl_easy_strerror(res));
      *rc = EVP_ERR_TRANSPORT;
    } else {
      curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, status);
    }
    xfer_off(c, x);
    return x;
  }
  return NULL;
}

void evp__client_xfer_abort(evp_client_t *c, evp__xfer *x) {
  if (x->busy)
    xfer_off(c, x);
}

evp_err_t evp__client_http_post(evp_client_t *c, const char *url, struct curl_slist *hdrs,
                         const void *body, size_t len, long *status) {
  evp__http *h = &c->http;
  CURL *e = h->h;
  rbuf_reset(&h->rb);
  *status = 0;
  set_request(e, url, hdrs, body, len);
  if (curl_multi_add_handle(h->m, e) != CURLM_OK) {
    snprintf(h->rb.curl_err, sizeof h->rb.curl_err, "curl_multi_add_handle failed");
    return EVP_ERR_TRANSPORT;
  }
  evp_err_t rc = EVP_OK;
  int running = 1;
  while (running) {
    if (atomic_load(&c->abort_io)) {
      snprintf(h->rb.curl_err, sizeof h->rb.curl_err, "aborted: client closed");
      rc = EVP_ERR_TIMED_OUT;
      break;
    }
    if (curl_multi_perform(h->m, &running) != CURLM_OK) {
      snprintf(h->rb.curl_err, sizeof h->rb.curl_err, "curl_multi_perform failed");
      rc = EVP_ERR_TRANSPORT;
      break;
    }
    if (running && curl_multi_poll(h->m, NULL, 0, 1000, NULL) != CURLM_OK) {
      snprintf(h->rb.curl_err, sizeof h->rb.curl_err, "curl_multi_poll failed");
      rc = EVP_ERR_TRANSPORT;
      break;
    }
  }
  if (rc == EVP_OK) {
    int left;
    CURLMsg *msg;
    CURLcode res = CURLE_OK;
    while ((msg = curl_multi_info_read(h->m, &left)))
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == e)
        res = msg->data.result;
    if (res != CURLE_OK) {
      if (!h->rb.curl_err[0])
        snprintf(h->rb.curl_err, sizeof h->rb.curl_err, "%s", curl_easy_strerror(res));
      rc = EVP_ERR_TRANSPORT;
    } else {
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
    }
  }
  curl_multi_remove_handle(h->m, e);
  return rc;
}
