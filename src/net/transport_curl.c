/* The libcurl transport: one easy handle per slot, each reused so that its
 * connection stays alive, all driven through one multi handle so that
 * another thread can interrupt a wait (curl_multi_wakeup) and several
 * requests can be in flight from one thread. The options every request
 * shares are set once per handle here and nowhere else. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include "net/net.h"
#include "net/transport.h"
#include "evpipe/version.h"

_Static_assert(EVP__NET_ERR_SIZE >= CURL_ERROR_SIZE, "curl's error buffer must fit");

typedef struct {
  CURL *e;
  evp__net_resp_t *resp; /* of the request on it */
  int busy;              /* started, not taken */
  uint64_t done;         /* finished: its order among the finished, else 0 */
  CURLcode res;
  char err[CURL_ERROR_SIZE]; /* libcurl's error text, copied to the response */
} slot_t;

typedef struct {
  CURLM *m;
  slot_t *s;
  size_t n;
  uint64_t done_seq;
} curl_tr_t;

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  slot_t *s = ud;
  size_t len = sz * n;
  /* 0 makes libcurl fail the request with CURLE_WRITE_ERROR. */
  return evp__net_resp_body(s->resp, p, len) == EVP_OK ? len : 0;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
  slot_t *s = ud;
  evp__net_resp_header(s->resp, p, sz * n);
  return sz * n;
}

static int setup(const evp__transport_conf_t *cf, slot_t *s) {
  CURL *e = s->e;
  int bad = 0;
  bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)s) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->err) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "libevpipe/" EVP_VERSION_STR) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)s) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)s) != CURLE_OK;
  /* Verification is never optional for https: there is no setting for it. */
  bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
  if (cf->ca_file) bad |= curl_easy_setopt(e, CURLOPT_CAINFO, cf->ca_file) != CURLE_OK;
  if (cf->ca_path) bad |= curl_easy_setopt(e, CURLOPT_CAPATH, cf->ca_path) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
  bad |=
      curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, cf->http_only ? "http" : "http,https") != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L) != CURLE_OK;
  if (cf->aws_sigv4) {
    bad |= curl_easy_setopt(e, CURLOPT_AWS_SIGV4, cf->aws_sigv4) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_USERNAME, cf->user) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PASSWORD, cf->password) != CURLE_OK;
  }
  return bad;
}

static void tr_free(void *st) {
  curl_tr_t *t = st;
  if (!t) return;
  for (size_t i = 0; t->s && i < t->n; i++) {
    slot_t *s = &t->s[i];
    if (!s->e) continue;
    if (t->m && s->busy && !s->done) curl_multi_remove_handle(t->m, s->e);
    curl_easy_cleanup(s->e);
  }
  free(t->s);
  if (t->m) curl_multi_cleanup(t->m);
  free(t);
}

static evp_err_t tr_start(void *st, size_t i, const evp__net_req_t *req, evp__net_resp_t *resp) {
  curl_tr_t *t = st;
  slot_t *s = &t->s[i];
  CURL *e = s->e;
  if (s->busy) { /* resp may be the one being filled: only say why */
    snprintf(resp->err, sizeof resp->err, "request slot busy");
    return EVP_ERR_TRANSPORT;
  }
  evp__net_resp_reset(resp);
  s->resp = resp;
  s->done = 0;
  s->err[0] = '\0';
  curl_easy_setopt(e, CURLOPT_URL, req->url);
  /* Cleartext requests may carry a secret or a bearer token: never hand
   * them to a proxy from the environment (http_proxy). */
  curl_easy_setopt(e, CURLOPT_NOPROXY,
                   strncasecmp(req->url, "http://", 7) == 0 ? "*" : (const char *)NULL);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
  if (req->body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
  } else {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  }
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
  if (curl_multi_add_handle(t->m, e) != CURLM_OK) {
    snprintf(resp->err, sizeof resp->err, "curl_multi_add_handle failed");
    return EVP_ERR_TRANSPORT;
  }
  s->busy = 1;
  return EVP_OK;
}

static void tr_poll(void *st, int timeout_ms) {
  curl_tr_t *t = st;
  int running;
  if (timeout_ms > 0) curl_multi_poll(t->m, NULL, 0, timeout_ms, NULL);
  /* A failure here leaves the requests to their own timeouts. */
  (void)curl_multi_perform(t->m, &running);
  int left;
  CURLMsg *msg;
  while ((msg = curl_multi_info_read(t->m, &left))) {
    if (msg->msg != CURLMSG_DONE) continue;
    slot_t *s = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
    if (!s || !s->busy || s->done) continue;
    s->res = msg->data.result; /* msg is invalid once the handle is removed */
    s->done = ++t->done_seq;
    curl_multi_remove_handle(t->m, s->e);
  }
}

/* What TLS libraries say when the first bytes back are not a TLS record:
 * the server answered in plain HTTP (OpenSSL and LibreSSL; BoringSSL; GnuTLS;
 * mbedTLS, MBEDTLS_ERR_SSL_INVALID_RECORD). */
static const char *const plain_http_words[] = {"wrong version number", "WRONG_VERSION_NUMBER",
                                               "unexpected TLS packet",
                                               "An invalid SSL record was received", NULL};

/* The error text of a failed request: libcurl's, and in front of it what to
 * do when an https:// URL reached a server that speaks plain HTTP (evpipe
 * local does), which the TLS library's words alone do not tell. */
static void failure_text(slot_t *s, char *out, size_t cap) {
  const char *why = s->err[0] ? s->err : curl_easy_strerror(s->res);
  int plain = 0;
  for (size_t i = 0; !plain && s->res == CURLE_SSL_CONNECT_ERROR && plain_http_words[i]; i++)
    plain = strstr(why, plain_http_words[i]) != NULL;
  const char *url = NULL;
  if (!plain) {
    /* evpipe local sometimes resets the connection before its 400 to the
     * ClientHello is read: then OpenSSL only says SSL_ERROR_SYSCALL. On
     * loopback that is almost always a plain-HTTP server; say what to try. */
    if (s->res == CURLE_SSL_CONNECT_ERROR && strstr(why, "SSL_ERROR_SYSCALL") &&
        curl_easy_getinfo(s->e, CURLINFO_EFFECTIVE_URL, &url) == CURLE_OK && url &&
        evp__url_is_loopback(url)) {
      evp__seterr(out, cap, EVP_ERR_TRANSPORT,
                  "the connection closed during the TLS handshake; if the server speaks plain HTTP "
                  "(evpipe local does), use http:// (allowed for loopback only) (%s)",
                  why);
      return;
    }
    snprintf(out, cap, "%s", why);
    return;
  }
  curl_easy_getinfo(s->e, CURLINFO_EFFECTIVE_URL, &url);
  /* Cut at cap when it must be: the front says what to do. */
  evp__seterr(out, cap, EVP_ERR_TRANSPORT, "the server answered in plain HTTP, not TLS; %s (%s)",
              url && evp__url_is_loopback(url)
                  ? "use http:// for evpipe local (allowed for loopback only)"
                  : "check the URL's scheme and port",
              why);
}

static int tr_take(void *st, size_t want, size_t *slot, evp_err_t *rc) {
  curl_tr_t *t = st;
  slot_t *s = NULL;
  if (want != SIZE_MAX) {
    s = t->s[want].done ? &t->s[want] : NULL;
  } else {
    for (size_t i = 0; i < t->n; i++)
      if (t->s[i].done && (!s || t->s[i].done < s->done)) s = &t->s[i];
  }
  if (!s) return 0;
  evp__net_resp_t *r = s->resp;
  /* Leave no pointers to the caller's headers and body behind. */
  curl_easy_setopt(s->e, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
  curl_easy_setopt(s->e, CURLOPT_POSTFIELDS, (const char *)NULL);
  *slot = (size_t)(s - t->s);
  *rc = EVP_OK;
  if (s->res == CURLE_OK) {
    curl_easy_getinfo(s->e, CURLINFO_RESPONSE_CODE, &r->status);
  } else {
    r->code = (int)s->res;
    r->status = 0;
    *rc = EVP_ERR_TRANSPORT;
    failure_text(s, r->err, sizeof r->err);
  }
  s->busy = 0;
  s->done = 0;
  s->resp = NULL;
  return 1;
}

static void tr_abort(void *st, size_t i) {
  curl_tr_t *t = st;
  slot_t *s = &t->s[i];
  if (s->busy && !s->done) curl_multi_remove_handle(t->m, s->e);
  s->busy = 0;
  s->done = 0;
  s->resp = NULL;
}

static void tr_wakeup(void *st) {
  curl_tr_t *t = st;
  curl_multi_wakeup(t->m);
}

static const evp__transport_ops_t curl_ops = {tr_start, tr_poll,   tr_take,
                                              tr_abort, tr_wakeup, tr_free};

evp_err_t evp__transport_new(const evp__transport_conf_t *cf, evp__transport_t **out, char *errstr,
                             size_t es) {
  *out = NULL;
  if (evp__curl_init_once() != 0)
    return evp__seterr(errstr, es, EVP_ERR_TRANSPORT, "curl_global_init failed");
  size_t n = cf->slots ? cf->slots : 1;
  curl_tr_t *t = calloc(1, sizeof *t);
  if (t) {
    t->n = n;
    t->m = curl_multi_init();
    t->s = calloc(n, sizeof *t->s);
  }
  for (size_t i = 0; t && t->s && i < n; i++)
    if (!(t->s[i].e = curl_easy_init())) break;
  if (!t || !t->m || !t->s || !t->s[n - 1].e) {
    tr_free(t);
    return evp__seterr(errstr, es, EVP_ERR_NOMEM, "cannot create the HTTP handle");
  }
  int bad = 0;
  for (size_t i = 0; i < n; i++) bad |= setup(cf, &t->s[i]);
  if (bad) {
    tr_free(t);
    return evp__seterr(errstr, es, EVP_ERR_UNSUPPORTED, "libcurl refused an option");
  }
  if (!(*out = evp__transport_new_custom(&curl_ops, t, n)))
    return evp__seterr(errstr, es, EVP_ERR_NOMEM, "out of memory");
  return EVP_OK;
}
