/* The HTTP transport: one CURL easy handle, reused for every request so the
 * connection stays alive, driven through a multi handle so that
 * evp_client_destroy can interrupt a stalled request (curl_multi_wakeup)
 * instead of waiting for request.timeout.ms. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include "client/client_int.h"
#include "evpipe/version.h"

#define RESP_MAX (1u << 20) /* responses are small; never buffer more */

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  evp__http *h = ud;
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
  evp__http *h = ud;
  size_t len = sz * n;
  if (len > 12 && !strncasecmp(p, "retry-after:", 12))
    h->retry_after_ms = evp__retry_parse_after(p + 12, len - 12);
  return len;
}

int evp__client_url_is_loopback(const char *url) {
  CURLU *u = curl_url();
  char *host = NULL;
  int lo = 0;
  if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
    /* Only literal loopback addresses (and "localhost"): a name such as
     * "127.0.0.1.example" must not pass. */
    struct in_addr a4;
    struct in6_addr a6;
    size_t hl = strlen(host);
    if (!strcasecmp(host, "localhost")) {
      lo = 1;
    } else if (inet_pton(AF_INET, host, &a4) == 1) {
      lo = (ntohl(a4.s_addr) >> 24) == 127;
    } else if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
      host[hl - 1] = '\0';
      lo = inet_pton(AF_INET6, host + 1, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
    }
  }
  curl_free(host);
  curl_url_cleanup(u);
  return lo;
}

evp_err_t evp__client_http_init(evp_client_t *c, char *errstr, size_t es) {
  if (evp__curl_init_once() != 0)
    return evp__seterr(errstr, es, EVP_ERR_TRANSPORT, "curl_global_init failed");
  evp__http *h = &c->http;
  h->h = curl_easy_init();
  h->m = curl_multi_init();
  if (!h->h || !h->m)
    return evp__seterr(errstr, es, EVP_ERR_NOMEM, "cannot create the HTTP handle");
  const evp_conf_t *cf = c->conf;
  CURL *e = h->h;
  int bad = 0;
  bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "libevpipe/" EVP_VERSION_STR) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, h) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, h) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->curl_err) != CURLE_OK;
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

void evp__client_http_free(evp__http *h) {
  if (h->m && h->h)
    curl_multi_remove_handle(h->m, h->h);
  if (h->h)
    curl_easy_cleanup(h->h);
  if (h->m)
    curl_multi_cleanup(h->m);
  wipe_slist(h->ev_headers);
  curl_slist_free_all(h->tok_headers);
  if (h->resp) {
    OPENSSL_cleanse(h->resp, h->resp_cap);
    free(h->resp);
  }
  memset(h, 0, sizeof *h);
}

evp_err_t evp__client_http_post(evp_client_t *c, const char *url, struct curl_slist *hdrs,
                         const void *body, size_t len, long *status) {
  evp__http *h = &c->http;
  CURL *e = h->h;
  h->resp_len = 0;
  if (h->resp)
    h->resp[0] = '\0';
  h->retry_after_ms = -1;
  h->curl_err[0] = '\0';
  *status = 0;
  curl_easy_setopt(e, CURLOPT_URL, url);
  /* Cleartext requests carry the client secret or the bearer token: never
   * hand them to a proxy from the environment (http_proxy). */
  curl_easy_setopt(e, CURLOPT_NOPROXY, strncmp(url, "http://", 7) == 0 ? "*" : (const char *)NULL);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  if (curl_multi_add_handle(h->m, e) != CURLM_OK) {
    snprintf(h->curl_err, sizeof h->curl_err, "curl_multi_add_handle failed");
    return EVP_ERR_TRANSPORT;
  }
  evp_err_t rc = EVP_OK;
  int running = 1;
  while (running) {
    if (atomic_load(&c->abort_io)) {
      snprintf(h->curl_err, sizeof h->curl_err, "aborted: client closed");
      rc = EVP_ERR_TIMED_OUT;
      break;
    }
    if (curl_multi_perform(h->m, &running) != CURLM_OK) {
      snprintf(h->curl_err, sizeof h->curl_err, "curl_multi_perform failed");
      rc = EVP_ERR_TRANSPORT;
      break;
    }
    if (running && curl_multi_poll(h->m, NULL, 0, 1000, NULL) != CURLM_OK) {
      snprintf(h->curl_err, sizeof h->curl_err, "curl_multi_poll failed");
      rc = EVP_ERR_TRANSPORT;
      break;
    }
  }
  if (rc == EVP_OK) {
    int left;
    CURLMsg *msg;
    CURLcode res = CURLE_OK;
    while ((msg = curl_multi_info_read(h->m, &left)))
      if (msg->msg == CURLMSG_DONE)
        res = msg->data.result;
    if (res != CURLE_OK) {
      if (!h->curl_err[0])
        snprintf(h->curl_err, sizeof h->curl_err, "%s", curl_easy_strerror(res));
      rc = EVP_ERR_TRANSPORT;
    } else {
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
    }
  }
  curl_multi_remove_handle(h->m, e);
  return rc;
}
