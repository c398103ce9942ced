/* The Lambda Runtime API loop (include/evpipe/lambda.h).
 *
 * One slot of the transport (net/transport.h), one keep-alive connection to
 * the Runtime API (plain http to a loopback or link-local address), blocking
 * requests: the loop is
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
#include "base/base.h"
#include "json/json.h"
#include "net/transport.h"
#include "lambda/lambda_int.h"

#define API_PREFIX "/2018-06-01/runtime"
#define CONNECT_TIMEOUT_MS 5000L
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
  if (!inv || inv->deadline_ms <= 0) return INT64_MAX;
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
  if (!strcasecmp(host, "localhost")) return 1;
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

/* ------------------------------------------------------------ lifecycle */

evp_lambda_runtime_t *evp_lambda_runtime_new(const char *api, char *errstr, size_t errstr_size) {
  if (!api) api = getenv("AWS_LAMBDA_RUNTIME_API");
  if (!api || !*api) {
    evp__seterr(errstr, errstr_size, EVP_ERR_CONF_INVALID, "AWS_LAMBDA_RUNTIME_API is not set");
    return NULL;
  }
  char why[64];
  if (!api_ok(api, why, sizeof why)) {
    evp__seterr(errstr, errstr_size, EVP_ERR_CONF_INVALID, "invalid Runtime API address (%s): %s",
                why, "host:port of a local address");
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
  /* The event: bounded, a larger one is read away (the connection stays
   * usable) and answered with an error; the invocation's metadata comes
   * from the headers, straight into rt->inv. */
  evp__net_resp_limit(&rt->ev, EVP_LAMBDA_MAX_EVENT);
  rt->ev.keep_over = 1;
  evp_lambda_invocation_t *inv = &rt->inv;
  rt->hdrs[0] =
      (evp__net_hdr_t){"Lambda-Runtime-Aws-Request-Id", inv->request_id, sizeof inv->request_id, 0};
  rt->hdrs[1] =
      (evp__net_hdr_t){"Lambda-Runtime-Deadline-Ms", rt->deadline, sizeof rt->deadline, 0};
  rt->hdrs[2] =
      (evp__net_hdr_t){"Lambda-Runtime-Invoked-Function-Arn", inv->arn, sizeof inv->arn, 0};
  rt->hdrs[3] = (evp__net_hdr_t){"Lambda-Runtime-Trace-Id", inv->trace, sizeof inv->trace, 0};
  rt->ev.hdrs = rt->hdrs;
  rt->ev.nhdrs = sizeof rt->hdrs / sizeof rt->hdrs[0];
  /* Answers to our POSTs say nothing we use: read and dropped. */
  evp__net_resp_limit(&rt->post_resp, 0);
  rt->post_resp.keep_over = 1;
  /* Plain http only: the Runtime API is local (api_ok). */
  evp__transport_conf_t tc = {.slots = 1, .http_only = 1};
  if (evp__transport_new(&tc, &rt->t, errstr, errstr_size) != EVP_OK) {
    evp_lambda_runtime_destroy(rt);
    return NULL;
  }
  struct curl_slist *l1 = NULL, *l2 = NULL;
  if ((l1 = curl_slist_append(NULL, "Content-Type: application/json")) &&
      (l2 = curl_slist_append(l1, "Expect:")))
    rt->post_headers = l2;
  else
    curl_slist_free_all(l1);
  if (!rt->post_headers) {
    evp_lambda_runtime_destroy(rt);
    evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    return NULL;
  }
  return rt;
}

void evp_lambda_runtime_destroy(evp_lambda_runtime_t *rt) {
  if (!rt) return;
  evp__transport_free(rt->t);
  curl_slist_free_all(rt->post_headers);
  evp__net_resp_free(&rt->ev); /* wiped: events carry bearer tokens */
  evp__net_resp_free(&rt->post_resp);
  free(rt);
}

void evp__lambda_runtime_set_transport(evp_lambda_runtime_t *rt, evp__transport_t *t) {
  evp__transport_free(rt->t);
  rt->t = t;
}

/* ------------------------------------------------------------ requests */

/* One request (body NULL: GET) to @p url, answered into @p resp. No overall
 * timeout: /next blocks until Lambda has an invocation, and the environment
 * may be frozen in between. Connecting must be quick. Returns EVP_OK with
 * *status set, or EVP_ERR_TRANSPORT. */
static evp_err_t perform(evp_lambda_runtime_t *rt, const char *url, struct curl_slist *headers,
                         const char *body, size_t len, evp__net_resp_t *resp, long *status) {
  evp__net_req_t rq = {url, headers, body, len, 0, CONNECT_TIMEOUT_MS};
  evp_err_t err = evp__transport_perform(rt->t, 0, &rq, resp, NULL);
  *status = resp->status;
  return err == EVP_OK ? EVP_OK : EVP_ERR_TRANSPORT;
}

static void log_transport(const char *what, const char *why) {
  char f[EVP__NET_ERR_SIZE * 6 + 32], esc[EVP__NET_ERR_SIZE * 6];
  evp__json_escape_text(why, strlen(why), esc, sizeof esc, NULL);
  snprintf(f, sizeof f, "{\"error\":\"%s\"}", esc);
  evp_lambda_log(NULL, EVP_LOG_ERR, what, f);
}

static void log_status(const char *what, long status) {
  char f[48];
  snprintf(f, sizeof f, "{\"status\":%ld}", status);
  evp_lambda_log(NULL, EVP_LOG_ERR, what, f);
}

/* POST body to rt->url with @p headers; maps the answer: 2xx EVP_OK; 400,
 * 403, 413 (this invocation's answer was refused: logged, the loop goes on)
 * EVP_OK with *refused set; anything else EVP_ERR_HTTP (the Runtime API
 * wants the runtime to exit, e.g. 500 Container error). */
static evp_err_t post(evp_lambda_runtime_t *rt, struct curl_slist *headers, const char *body,
                      size_t len, int *refused) {
  long status;
  *refused = 0;
  evp_err_t err = perform(rt, rt->url, headers, body, len, &rt->post_resp, &status);
  if (err != EVP_OK) {
    log_transport("Runtime API unreachable", rt->post_resp.err);
    return err;
  }
  if (status >= 200 && status < 300) return EVP_OK;
  if (status == 400 || status == 403 || status == 413) {
    *refused = 1;
    char f[64];
    snprintf(f, sizeof f, "{\"status\":%ld}", status);
    evp_lambda_log(NULL, EVP_LOG_WARNING, "Runtime API refused the invocation result", f);
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
  if (!o) snprintf(dst, dsz, "%s", fallback);
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

/* Lambda-Runtime-Deadline-Ms: ms since the epoch; 0 when absent or not a
 * plain number. */
static int64_t parse_deadline(const char *v) {
  int64_t d = 0;
  size_t i = 0, vl = strlen(v);
  for (; i < vl && i < 18 && v[i] >= '0' && v[i] <= '9'; i++) d = d * 10 + (v[i] - '0');
  return (i == vl && vl > 0) ? d : 0;
}

evp_err_t evp_lambda_init_error(evp_lambda_runtime_t *rt, const char *error_type,
                                const char *message) {
  if (!rt) return EVP_ERR_INVALID_ARG;
  snprintf(rt->url, sizeof rt->url, "http://%s" API_PREFIX "/init/error", rt->api);
  char t[EVP__LAMBDA_ERRTYPE_MAX], f[EVP__LAMBDA_ERRTYPE_MAX + 32];
  clean_type(t, sizeof t, error_type ? error_type : "", "Runtime.InitError");
  snprintf(f, sizeof f, "{\"errorType\":\"%s\"}", t);
  evp_lambda_log(NULL, EVP_LOG_ERR, "initialisation failed", f);
  int refused;
  evp_err_t err = post_error(rt, t, message, &refused);
  return err == EVP_OK && refused ? EVP_ERR_HTTP : err;
}

static int id_ok(const char *id) {
  if (!id[0]) return 0;
  for (const char *p = id; *p; p++) {
    char c = *p;
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == ':' || c == '-'))
      return 0;
  }
  return 1;
}

static void free_out(char *out, size_t len) {
  if (out) {
    evp__wipe(out, len);
    free(out);
  }
}

/* Serve one invocation whose event is in rt->ev. */
static evp_err_t serve(evp_lambda_runtime_t *rt, evp_lambda_handler_cb_t handler, void *opaque) {
  evp_lambda_invocation_t *inv = &rt->inv;
  int refused = 0;
  snprintf(rt->url, sizeof rt->url, "http://%s" API_PREFIX "/invocation/%s/error", rt->api,
           inv->request_id);
  if (rt->ev_over) {
    const int nomem = rt->ev_over == 2;
    evp_lambda_log(inv, EVP_LOG_WARNING,
                   nomem ? "no memory for the event" : "event larger than the limit", NULL);
    return post_error(rt, nomem ? "Runtime.OutOfMemory" : "Runtime.EventTooLarge",
                      nomem ? "out of memory while reading the event"
                            : "the event exceeds the runtime's limit (6 MiB)",
                      &refused);
  }
  char *ev = (char *)rt->ev.body.p;
  ev[rt->ev.body.len] = '\0';

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
  evp_err_t herr = handler(opaque, inv, ev, rt->ev.body.len, &out, &out_len, errtype,
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
    evp_lambda_log(inv, EVP_LOG_WARNING, "invocation failed", f);
    return post_error(rt, t, errmsg, &refused);
  }
  snprintf(rt->url, sizeof rt->url, "http://%s" API_PREFIX "/invocation/%s/response", rt->api,
           inv->request_id);
  evp_err_t err = out ? post(rt, rt->post_headers, out, out_len, &refused)
                      : post(rt, rt->post_headers, "null", 4, &refused);
  free_out(out, out_len);
  return err;
}

evp_err_t evp_lambda_run(evp_lambda_runtime_t *rt, evp_lambda_handler_cb_t handler, void *opaque,
                         uint64_t max_invocations) {
  if (!rt || !handler) return EVP_ERR_INVALID_ARG;
  for (uint64_t n = 0; max_invocations == 0 || n < max_invocations; n++) {
    long status;
    memset(&rt->inv, 0, sizeof rt->inv);
    evp_err_t err = perform(rt, rt->next_url, NULL, NULL, 0, &rt->ev, &status);
    if (err != EVP_OK) {
      log_transport("Runtime API unreachable", rt->ev.err);
      return err;
    }
    rt->inv.id_bad = rt->hdrs[0].cut;
    rt->inv.deadline_ms = parse_deadline(rt->deadline);
    rt->ev_over = rt->ev.body_err == EVP_ERR_TOO_LARGE ? 1
                  : rt->ev.body_err == EVP_ERR_NOMEM   ? 2
                                                       : 0;
    if (status != 200) {
      log_status("Runtime API answered /next with an unexpected status", status);
      return EVP_ERR_HTTP;
    }
    if (rt->inv.id_bad || !id_ok(rt->inv.request_id)) {
      /* Without a usable id the invocation cannot be answered. */
      evp_lambda_log(NULL, EVP_LOG_ERR, "invocation without a valid request id", NULL);
      return EVP_ERR_HTTP;
    }
    if (!rt->ev_over && evp__buf_reserve(&rt->ev.body, 1) != EVP_OK)
      rt->ev_over = 2; /* an empty event still needs its NUL */
    if ((err = serve(rt, handler, opaque)) != EVP_OK) return err;
  }
  return EVP_OK;
}
