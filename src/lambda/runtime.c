/* The Lambda Runtime API loop (include/evpipe/lambda.h).
 *
 * One CURL easy handle, one keep-alive connection to the Runtime API (plain
 * http to a loopback or link-local address), blocking transfers: the loop is
 * GET /next (no timeout: the environment may be frozen between invocations),
 * call the handler, POST /response or /error, repeat. The event is read into
 * a buffer kept between invocations and capped at EVP_LAMBDA_MAX_EVENT + 1
 * bytes; a larger event is answered with an error without calling the
 * handler (the rest of it is read and dropped so the connection stays
 * usable). */
#define _XOPEN_SOURCE 700 /* putenv */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include "base/base.h"
#include "json/json.h"
#include "net/net.h"
#include "evpipe/version.h"
#include "lambda/lambda_int.h"

#define API_PREFIX "/2018-06-01/runtime"
#define CONNECT_TIMEOUT_MS 5000L
#define EV_INITIAL_CAP (64u * 1024u)
#define TRACE_ENV "_X_AMZN_TRACE_ID"
#define ERR_BODY_MAX (6 * EVP__LAMBDA_ERRMSG_MAX + 2 * EVP__LAMBDA_ERRTYPE_MAX + 96)

/* The environment entry handed to putenv(): setenv() would keep a copy of
 * every distinct trace id for the life of the process (glibc never frees
 * them), and every invocation has a new one. Only the thread running
 * evp_lambda_run touches it (one runtime at a time may serve). */
static char g_trace_env[sizeof TRACE_ENV + EVP__LAMBDA_TRACE_MAX];

/* ------------------------------------------------------------ accessors */

const char *evp_lambda_request_id(const evp_lambda_invocation_t *inv) {
  return inv ? inv->request_id : "";
}
const char *evp_lambda_function_arn(const evp_lambda_invocation_t *inv) {
  return inv ? inv->arn : "";
}
const char *evp_lambda_trace_id(const evp_lambda_invocation_t *inv) {
  return inv ? inv->trace : "";
}
int64_t evp_lambda_deadline_ms(const evp_lambda_invocation_t *inv) {
  return inv ? inv->deadline_ms : 0;
}
int64_t evp_lambda_remaining_ms(const evp_lambda_invocation_t *inv) {
  if (!inv || inv->deadline_ms <= 0)
    return INT64_MAX;
  return inv->deadline_ms - evp__wall_ms();
}

/* ------------------------------------------------------------ address */

/* "host:port" where host is a loopback or link-local IP literal ([...] for
 * IPv6) or "localhost", and port 1..65535. The Runtime API is always local:
 * anything else would send responses (tokens) in cleartext elsewhere. */
static int api_ok(const char *api, char *why, size_t whysz) {
  size_t n = strnlen(api, EVP__LAMBDA_API_MAX);
  if (n == 0 || n >= EVP__LAMBDA_API_MAX) {
    snprintf(why, whysz, "empty or too long");
    return 0;
  }
  const char *colon = strrchr(api, ':');
  if (!colon || colon == api || !colon[1]) {
    snprintf(why, whysz, "expected host:port");
    return 0;
  }
  unsigned long port = 0;
  for (const char *p = colon + 1; *p; p++) {
    if (*p < '0' || *p > '9' || port > 65535) {
      snprintf(why, whysz, "invalid port");
      return 0;
    }
    port = port * 10 + (unsigned long)(*p - '0');
  }
  if (port == 0 || port > 65535) {
    snprintf(why, whysz, "invalid port");
    return 0;
  }
  char host[EVP__LAMBDA_API_MAX];
  size_t hl = (size_t)(colon - api);
  memcpy(host, api, hl);
  host[hl] = '\0';
  struct in_addr a4;
  struct in6_addr a6;
  if (!strcasecmp(host, "localhost"))
    return 1;
  if (inet_pton(AF_INET, host, &a4) == 1) {
    uint32_t a = ntohl(a4.s_addr);
    if ((a >> 24) == 127 || (a >> 16) == 0xA9FEu) /* 127/8, 169.254/16 */
      return 1;
  } else if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
    host[hl - 1] = '\0';
    if (inet_pton(AF_INET6, host + 1, &a6) == 1 &&
        (IN6_IS_ADDR_LOOPBACK(&a6) || IN6_IS_ADDR_LINKLOCAL(&a6)))
      return 1;
  }
  snprintf(why, whysz, "not a loopback or link-local address");
  return 0;
}

/* ------------------------------------------------------------ callbacks */

static int grow(evp_lambda_runtime_t *rt, size_t need) {
  if (need <= rt->ev_cap)
    return 1;
  size_t cap = rt->ev_cap ? rt->ev_cap : EV_INITIAL_CAP;
  while (cap < need)
    cap *= 2;
  if (cap > EVP_LAMBDA_MAX_EVENT + 1)
    cap = EVP_LAMBDA_MAX_EVENT + 1;
  char *p = realloc(rt->ev, cap);
  if (!p)
    return 0;
  rt->ev = p;
  rt->ev_cap = cap;
  return 1;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  evp_lambda_runtime_t *rt = ud;
  size_t len = sz * n;
  if (rt->sink != EVP__LAMBDA_SINK_EVENT || rt->ev_over)
    return len; /* read and dropped: the connection stays usable */
  if (len > EVP_LAMBDA_MAX_EVENT - rt->ev_len) {
    rt->ev_over = 1;
    return len;
  }
  if (!grow(rt, rt->ev_len + len + 1)) {
    rt->ev_over = 2; /* out of memory: reported as an error of this invocation */
    return len;
  }
  memcpy(rt->ev + rt->ev_len, p, len);
  rt->ev_len += len;
  return len;
}

/* Copy a header value (trimmed) into dst; 0 when it does not fit. */
static int copy_val(char *dst, size_t dsz, const char *v, size_t vl) {
  if (vl >= dsz) {
    dst[0] = '\0';
    return 0;
  }
  memcpy(dst, v, vl);
  dst[vl] = '\0';
  return 1;
}

static int hdr_is(const char *line, size_t len, const char *name, size_t nl) {
  return len > nl && line[nl] == ':' && !strncasecmp(line, name, nl);
}
#define HDR_IS(l, len, lit) hdr_is((l), (len), lit, sizeof lit - 1)

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
  evp_lambda_runtime_t *rt = ud;
  size_t len = sz * n;
  if (rt->sink != EVP__LAMBDA_SINK_EVENT)
    return len;
  evp_lambda_invocation_t *inv = &rt->inv;
  if (len >= 5 && !memcmp(p, "HTTP/", 5)) {
    /* A new response (a 100 Continue may precede the real one). */
    memset(inv, 0, sizeof *inv);
    return len;
  }
  const char *colon = memchr(p, ':', len);
  if (!colon)
    return len;
  const char *v = colon + 1, *e = p + len;
  while (v < e && (*v == ' ' || *v == '\t'))
    v++;
  while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
    e--;
  size_t vl = (size_t)(e - v);
  if (HDR_IS(p, len, "Lambda-Runtime-Aws-Request-Id")) {
    if (!copy_val(inv->request_id, sizeof inv->request_id, v, vl))
      inv->id_bad = 1;
  } else if (HDR_IS(p, len, "Lambda-Runtime-Deadline-Ms")) {
    int64_t d = 0;
    size_t i = 0;
    for (; i < vl && i < 18 && v[i] >= '0' && v[i] <= '9'; i++)
      d = d * 10 + (v[i] - '0');
    inv->deadline_ms = (i == vl && vl > 0) ? d : 0;
  } else if (HDR_IS(p, len, "Lambda-Runtime-Invoked-Function-Arn")) {
    copy_val(inv->arn, sizeof inv->arn, v, vl);
  } else if (HDR_IS(p, len, "Lambda-Runtime-Trace-Id")) {
    copy_val(inv->trace, sizeof inv->trace, v, vl);
  } else if (HDR_IS(p, len, "Content-Length")) {
    /* Size the buffer once for the whole event instead of doubling. */
    uint64_t cl = 0;
    size_t i = 0;
    for (; i < vl && i < 19 && v[i] >= '0' && v[i] <= '9'; i++)
      cl = cl * 10 + (uint64_t)(v[i] - '0');
    if (i == vl && vl > 0) {
      if (cl > EVP_LAMBDA_MAX_EVENT)
        rt->ev_over = 1;
      else
        (void)grow(rt, (size_t)cl + 1); /* failure: on_body retries and reports */
    }
  }
  return len;
}

/* ------------------------------------------------------------ lifecycle */

evp_lambda_runtime_t *evp_lambda_runtime_new(const char *api, char *errstr, size_t errstr_size) {
  if (!api)
    api = getenv("AWS_LAMBDA_RUNTIME_API");
  if (!api || !*api) {
    evp__seterr(errstr, errstr_size, EVP_ERR_CONF_INVALID, "AWS_LAMBDA_RUNTIME_API is not set");
    return NULL;
  }
  char why[64];
  if (!api_ok(api, why, sizeof why)) {
    evp__seterr(errstr, errstr_size, EVP_ERR_CONF_INVALID,
                "invalid Runtime API address (%s): %s", why, "host:port of a local address");
    return NULL;
  }
  if (evp__curl_init_once() != 0) {
    evp__seterr(errstr, errstr_size, EVP_ERR_TRANSPORT, "curl_global_init failed");
    return NULL;
  }
  evp__lambda_log_reload();
  evp_lambda_runtime_t *rt = calloc(1, sizeof *rt);
  if (!rt) {
    evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    return NULL;
  }
  snprintf(rt->api, sizeof rt->api, "%s", api);
  snprintf(rt->next_url, sizeof rt->next_url, "http://%s" API_PREFIX "/invocation/next", rt->api);
  rt->h = curl_easy_init();
  struct curl_slist *l1 = NULL, *l2 = NULL;
  if (rt->h && (l1 = curl_slist_append(NULL, "Content-Type: application/json")) &&
      (l2 = curl_slist_append(l1, "Expect:")))
    rt->post_headers = l2;
  else
    curl_slist_free_all(l1);
  if (!rt->h || !rt->post_headers) {
    evp_lambda_runtime_destroy(rt);
    evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    return NULL;
  }
  CURL *e = rt->h;
  int bad = 0;
  bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "libevpipe/" EVP_VERSION_STR) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, rt) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, rt) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, rt->curl_err) != CURLE_OK;
  /* No overall timeout: /next blocks until Lambda has an invocation, and
   * the environment may be frozen in between. Connecting must be quick. */
  bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 0L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http") != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_NOPROXY, "*") != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L) != CURLE_OK;
  bad |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) != CURLE_OK;
  if (bad) {
    evp_lambda_runtime_destroy(rt);
    evp__seterr(errstr, errstr_size, EVP_ERR_UNSUPPORTED, "libcurl refused an option");
    return NULL;
  }
  return rt;
}

void evp_lambda_runtime_destroy(evp_lambda_runtime_t *rt) {
  if (!rt)
    return;
  if (rt->h)
    curl_easy_cleanup(rt->h);
  curl_slist_free_all(rt->post_headers);
  if (rt->ev) {
    OPENSSL_cleanse(rt->ev, rt->ev_cap); /* events carry bearer tokens */
    free(rt->ev);
  }
  free(rt);
}

/* ------------------------------------------------------------ requests */

/* Perform the prepared transfer; returns EVP_OK with *status set, or
 * EVP_ERR_TRANSPORT. */
static evp_err_t perform(evp_lambda_runtime_t *rt, long *status) {
  rt->curl_err[0] = '\0';
  *status = 0;
  CURLcode rc = curl_easy_perform(rt->h);
  if (rc != CURLE_OK) {
    if (!rt->curl_err[0])
      snprintf(rt->curl_err, sizeof rt->curl_err, "%s", curl_easy_strerror(rc));
    return EVP_ERR_TRANSPORT;
  }
  curl_easy_getinfo(rt->h, CURLINFO_RESPONSE_CODE, status);
  return EVP_OK;
}

static void log_transport(const char *what, const char *curl_err) {
  char f[CURL_ERROR_SIZE * 6 + 32], esc[CURL_ERROR_SIZE * 6];
  evp__json_escape_text(curl_err, strlen(curl_err), esc, sizeof esc, NULL);
  snprintf(f, sizeof f, "{\"error\":\"%s\"}", esc);
  evp_lambda_log(NULL, EVP_LAMBDA_LOG_ERROR, what, f);
}

static void log_status(const char *what, long status) {
  char f[48];
  snprintf(f, sizeof f, "{\"status\":%ld}", status);
  evp_lambda_log(NULL, EVP_LAMBDA_LOG_ERROR, what, f);
}

/* POST body to rt->url with @p headers; maps the answer: 2xx EVP_OK; 400,
 * 403, 413 (this invocation's answer was refused: logged, the loop goes on)
 * EVP_OK with *refused set; anything else EVP_ERR_HTTP (the Runtime API
 * wants the runtime to exit, e.g. 500 Container error). */
static evp_err_t post(evp_lambda_runtime_t *rt, struct curl_slist *headers, const char *body,
                      size_t len, int *refused) {
  CURL *e = rt->h;
  long status;
  *refused = 0;
  rt->sink = EVP__LAMBDA_SINK_DISCARD;
  curl_easy_setopt(e, CURLOPT_URL, rt->url);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  evp_err_t err = perform(rt, &status);
  rt->sink = EVP__LAMBDA_SINK_EVENT;
  if (err != EVP_OK) {
    log_transport("Runtime API unreachable", rt->curl_err);
    return err;
  }
  if (status >= 200 && status < 300)
    return EVP_OK;
  if (status == 400 || status == 403 || status == 413) {
    *refused = 1;
    char f[64];
    snprintf(f, sizeof f, "{\"status\":%ld}", status);
    evp_lambda_log(NULL, EVP_LAMBDA_LOG_WARN, "Runtime API refused the invocation result", f);
    return EVP_OK;
  }
  log_status("Runtime API answered an unexpected status", status);
  return EVP_ERR_HTTP;
}

/* A header-safe error type: [A-Za-z0-9._:-], others replaced by '_';
 * @p fallback when empty. */
static void clean_type(char *dst, size_t dsz, const char *src, const char *fallback) {
  size_t o = 0;
  for (size_t i = 0; src[i] && o + 1 < dsz; i++) {
    unsigned char c = (unsigned char)src[i];
    int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == ':' || c == '-';
    dst[o++] = ok ? (char)c : '_';
  }
  dst[o] = '\0';
  if (!o)
    snprintf(dst, dsz, "%s", fallback);
}

/* POST an error report ({"errorMessage","errorType","stackTrace":[]} with
 * the Lambda-Runtime-Function-Error-Type header) to rt->url. */
static evp_err_t post_error(evp_lambda_runtime_t *rt, const char *type, const char *msg,
                            int *refused) {
  char t[EVP__LAMBDA_ERRTYPE_MAX];
  clean_type(t, sizeof t, type ? type : "", "Runtime.Unknown");
  char hdr[sizeof "Lambda-Runtime-Function-Error-Type: " + EVP__LAMBDA_ERRTYPE_MAX];
  snprintf(hdr, sizeof hdr, "Lambda-Runtime-Function-Error-Type: %s", t);
  /* A list on the stack: curl only reads it during the transfer. */
  struct curl_slist h3 = {hdr, NULL};
  struct curl_slist h2 = {(char *)"Expect:", &h3};
  struct curl_slist h1 = {(char *)"Content-Type: application/json", &h2};
  char body[ERR_BODY_MAX];
  size_t o = 0;
  memcpy(body, "{\"errorMessage\":\"", 17);
  o = 17;
  const char *m = msg ? msg : "";
  o += evp__json_escape_text(m, strnlen(m, EVP__LAMBDA_ERRMSG_MAX), body + o,
                               6 * EVP__LAMBDA_ERRMSG_MAX + 1, NULL);
  o += (size_t)snprintf(body + o, sizeof body - o, "\",\"errorType\":\"%s\",\"stackTrace\":[]}", t);
  return post(rt, &h1, body, o, refused);
}

/* ------------------------------------------------------------ loop */

evp_err_t evp_lambda_init_error(evp_lambda_runtime_t *rt, const char *error_type,
                                const char *message) {
  if (!rt)
    return EVP_ERR_INVALID_ARG;
  snprintf(rt->url, sizeof rt->url, "http://%s" API_PREFIX "/init/error", rt->api);
  char t[EVP__LAMBDA_ERRTYPE_MAX], f[EVP__LAMBDA_ERRTYPE_MAX + 32];
  clean_type(t, sizeof t, error_type ? error_type : "", "Runtime.InitError");
  snprintf(f, sizeof f, "{\"errorType\":\"%s\"}", t);
  evp_lambda_log(NULL, EVP_LAMBDA_LOG_ERROR, "initialisation failed", f);
  int refused;
  evp_err_t err = post_error(rt, t, message, &refused);
  return err == EVP_OK && refused ? EVP_ERR_HTTP : err;
}

static int id_ok(const char *id) {
  if (!id[0])
    return 0;
  for (const char *p = id; *p; p++) {
    char c = *p;
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == ':' || c == '-'))
      return 0;
  }
  return 1;
}

static void free_out(char *out, size_t len) {
  if (out) {
    OPENSSL_cleanse(out, len);
    free(out);
  }
}

/* Serve one invocation whose event is in rt->ev. */
static evp_err_t serve(evp_lambda_runtime_t *rt, evp_lambda_handler_t handler, void *opaque) {
  evp_lambda_invocation_t *inv = &rt->inv;
  int refused = 0;
  snprintf(rt->url, sizeof rt->url, "http://%s" API_PREFIX "/invocation/%s/error", rt->api,
           inv->request_id);
  if (rt->ev_over) {
    const int nomem = rt->ev_over == 2;
    evp_lambda_log(inv, EVP_LAMBDA_LOG_WARN,
                   nomem ? "no memory for the event" : "event larger than the limit", NULL);
    return post_error(rt, nomem ? "Runtime.OutOfMemory" : "Runtime.EventTooLarge",
                      nomem ? "out of memory while reading the event"
                            : "the event exceeds the runtime's limit (6 MiB)",
                      &refused);
  }
  rt->ev[rt->ev_len] = '\0';

  char errtype[EVP__LAMBDA_ERRTYPE_MAX], errmsg[EVP__LAMBDA_ERRMSG_MAX];
  errtype[0] = errmsg[0] = '\0';
  char *out = NULL;
  size_t out_len = 0;
  int traced = inv->trace[0] != '\0';
  if (traced) {
    snprintf(g_trace_env, sizeof g_trace_env, TRACE_ENV "=%s", inv->trace);
    traced = putenv(g_trace_env) == 0;
  } else {
    unsetenv(TRACE_ENV);
  }
  evp__lambda_set_current(inv);
  evp_err_t herr = handler(opaque, inv, rt->ev, rt->ev_len, &out, &out_len, errtype,
                           sizeof errtype, errmsg, sizeof errmsg);
  evp__lambda_set_current(NULL);
  unsetenv(TRACE_ENV);
  /* The handler may have left anything in the buffers. */
  errtype[sizeof errtype - 1] = '\0';
  errmsg[sizeof errmsg - 1] = '\0';

  if (herr == EVP_OK && !out && out_len) {
    herr = EVP_ERR_INTERNAL;
    snprintf(errtype, sizeof errtype, "Runtime.InvalidResponse");
    snprintf(errmsg, sizeof errmsg, "the handler returned a NULL response of non-zero length");
  } else if (herr == EVP_OK && out_len > EVP_LAMBDA_MAX_RESPONSE) {
    herr = EVP_ERR_TOO_LARGE;
    snprintf(errtype, sizeof errtype, "Function.ResponseSizeTooLarge");
    snprintf(errmsg, sizeof errmsg, "the response exceeds the limit (6 MiB)");
  }
  if (herr != EVP_OK) {
    free_out(out, out_len);
    if (!errmsg[0])
      snprintf(errmsg, sizeof errmsg, "%s (%s)", evp_err2str(herr), evp_err2name(herr));
    char t[EVP__LAMBDA_ERRTYPE_MAX], f[EVP__LAMBDA_ERRTYPE_MAX + 32];
    clean_type(t, sizeof t, errtype, "Runtime.HandlerError");
    snprintf(f, sizeof f, "{\"errorType\":\"%s\"}", t);
    evp_lambda_log(inv, EVP_LAMBDA_LOG_WARN, "invocation failed", f);
    return post_error(rt, t, errmsg, &refused);
  }
  snprintf(rt->url, sizeof rt->url, "http://%s" API_PREFIX "/invocation/%s/response", rt->api,
           inv->request_id);
  evp_err_t err = out ? post(rt, rt->post_headers, out, out_len, &refused)
                      : post(rt, rt->post_headers, "null", 4, &refused);
  free_out(out, out_len);
  return err;
}

evp_err_t evp_lambda_run(evp_lambda_runtime_t *rt, evp_lambda_handler_t handler, void *opaque,
                         uint64_t max_invocations) {
  if (!rt || !handler)
    return EVP_ERR_INVALID_ARG;
  CURL *e = rt->h;
  for (uint64_t n = 0; max_invocations == 0 || n < max_invocations; n++) {
    long status;
    rt->ev_len = 0;
    rt->ev_over = 0;
    rt->sink = EVP__LAMBDA_SINK_EVENT;
    memset(&rt->inv, 0, sizeof rt->inv);
    curl_easy_setopt(e, CURLOPT_URL, rt->next_url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    evp_err_t err = perform(rt, &status);
    if (err != EVP_OK) {
      log_transport("Runtime API unreachable", rt->curl_err);
      return err;
    }
    if (status != 200) {
      log_status("Runtime API answered /next with an unexpected status", status);
      return EVP_ERR_HTTP;
    }
    if (rt->inv.id_bad || !id_ok(rt->inv.request_id)) {
      /* Without a usable id the invocation cannot be answered. */
      evp_lambda_log(NULL, EVP_LAMBDA_LOG_ERROR, "invocation without a valid request id", NULL);
      return EVP_ERR_HTTP;
    }
    if (!rt->ev_over && !grow(rt, rt->ev_len + 1))
      rt->ev_over = 2;
    if ((err = serve(rt, handler, opaque)) != EVP_OK)
      return err;
  }
  return EVP_OK;
}
