/* Suite: the library's messages a new user meets first (issue 18), each
 * pinned by its key facts rather than its whole sentence:
 *  - evp_conf_set on an enum lists the allowed values (from the property
 *    table);
 *  - evp_conf_set on an unknown name suggests the closest property names,
 *    and none when nothing is close;
 *  - evp_send of a line that is not JSON says EVP_ERR_JSON (JSON that is
 *    not an object stays EVP_ERR_INVALID_EVENT);
 *  - https:// to a server that speaks plain HTTP says so, in the transport's
 *    error and so in the client's error callback and delivery reports, with
 *    the TLS library's own words kept at the end. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "net/transport.h"
#include "evpipe/evpipe.h"
#include "suite_main.h"

#define HAS(hay, needle) \
  ck_assert_msg(strstr((hay), (needle)) != NULL, "no '%s' in: %s", (needle), (hay))
#define HASNT(hay, needle) \
  ck_assert_msg(strstr((hay), (needle)) == NULL, "'%s' in: %s", (needle), (hay))

static evp_err_t conf_set(const char *name, const char *value, char *err, size_t es) {
  evp_conf_t *c = evp_conf_new();
  ck_assert_ptr_nonnull(c);
  err[0] = '\0';
  evp_err_t e = evp_conf_set(c, name, value, err, es);
  evp_conf_destroy(c);
  return e;
}

/* ------------------------------------------------------------ conf */

START_TEST(enum_value_error_lists_the_allowed_values) {
  char err[512];
  ck_assert_int_eq(conf_set("compression", "zstd", err, sizeof err), EVP_ERR_CONF_INVALID);
  HAS(err, "compression");
  HAS(err, "\"zstd\"");
  HAS(err, "allowed values: none, gzip");
  ck_assert_int_eq(conf_set("spool.sync", "sometimes", err, sizeof err), EVP_ERR_CONF_INVALID);
  HAS(err, "always, interval, never");
  /* A short buffer still gets the start of it, NUL-terminated. */
  char small[24];
  ck_assert_int_eq(conf_set("compression", "zstd", small, sizeof small), EVP_ERR_CONF_INVALID);
  ck_assert_uint_eq(strlen(small), sizeof small - 1);
}
END_TEST

START_TEST(unknown_property_suggests_the_closest_names) {
  char err[512];
  /* A shared word: batch.size is about batch.max.events / batch.max.bytes. */
  ck_assert_int_eq(conf_set("batch.size", "10", err, sizeof err), EVP_ERR_CONF_UNKNOWN);
  HAS(err, "unknown configuration property \"batch.size\"");
  HAS(err, "did you mean");
  HAS(err, "batch.max.events");
  /* A typo: one edit away. */
  ck_assert_int_eq(conf_set("compresion", "gzip", err, sizeof err), EVP_ERR_CONF_UNKNOWN);
  HAS(err, "did you mean compression?");
  /* Another spelling of the separators. */
  ck_assert_int_eq(conf_set("linger_ms", "5", err, sizeof err), EVP_ERR_CONF_UNKNOWN);
  HAS(err, "linger.ms");
  /* Nothing close: no suggestion at all. */
  ck_assert_int_eq(conf_set("no.such", "1", err, sizeof err), EVP_ERR_CONF_UNKNOWN);
  HAS(err, "\"no.such\"");
  HASNT(err, "did you mean");
  ck_assert_int_eq(conf_set("zzzzzzzz", "1", err, sizeof err), EVP_ERR_CONF_UNKNOWN);
  HASNT(err, "did you mean");
}
END_TEST

/* ------------------------------------------------------------ evp_send */

static evp_client_t *offline_client(void) {
  evp_conf_t *c = evp_conf_new();
  char err[256];
  ck_assert_int_eq(evp_conf_set(c, "endpoint", "http://127.0.0.1:9", err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp_conf_set(c, "client.id", "x", err, sizeof err), EVP_OK);
  ck_assert_int_eq(
      evp_conf_set(c, "client.secret", "0123456789abcdef0123456789abcdef", err, sizeof err),
      EVP_OK);
  evp_client_t *cl = evp_client_new(c, err, sizeof err);
  ck_assert_msg(cl != NULL, "%s", err);
  return cl;
}

START_TEST(a_line_that_is_not_json_is_evp_err_json) {
  evp_client_t *c = offline_client();
  char err[256];
  static const char *const not_json[] = {"not json", "hello", "", "   ", "nul", "{\"a\":", "'x'"};
  for (size_t i = 0; i < sizeof not_json / sizeof *not_json; i++) {
    err[0] = '\0';
    evp_err_t e = evp_send(c, not_json[i], strlen(not_json[i]), err, sizeof err);
    ck_assert_msg(e == EVP_ERR_JSON, "\"%s\": %s: %s", not_json[i], evp_err2name(e), err);
    HAS(err, "invalid JSON at byte");
  }
  /* JSON, but not an object: the event is invalid, the text is not. */
  static const char *const not_object[] = {"[1]", "42", "\"x\"", "null", " true "};
  for (size_t i = 0; i < sizeof not_object / sizeof *not_object; i++) {
    err[0] = '\0';
    evp_err_t e = evp_send(c, not_object[i], strlen(not_object[i]), err, sizeof err);
    ck_assert_msg(e == EVP_ERR_INVALID_EVENT, "\"%s\": %s: %s", not_object[i], evp_err2name(e),
                  err);
    HAS(err, "must be a JSON object");
  }
  ck_assert_int_eq(evp_client_destroy(c, 0), 0);
}
END_TEST

/* ------------------------------------------------------------ https to plain HTTP */

/* A loopback server that speaks plain HTTP whatever it is sent: it reads the
 * client's first bytes (a TLS ClientHello), answers 400 in plain HTTP, and
 * waits for the client to hang up, so the answer is read, never reset. */
typedef struct {
  int fd, port;
  atomic_int stop;
  pthread_t th;
} plain_t;

static void *plain_run(void *arg) {
  plain_t *p = arg;
  static const char resp[] =
      "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  while (!atomic_load(&p->stop)) {
    int c = accept(p->fd, NULL, NULL);
    if (c < 0) continue;
    struct timeval tv = {2, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    if (read(c, buf, sizeof buf) > 0 && write(c, resp, sizeof resp - 1) > 0) {
      shutdown(c, SHUT_WR);
      while (read(c, buf, sizeof buf) > 0) {}
    }
    close(c);
  }
  return NULL;
}

static void plain_start(plain_t *p) {
  memset(p, 0, sizeof *p);
  p->fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(p->fd, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_int_eq(bind(p->fd, (struct sockaddr *)&a, sizeof a), 0);
  ck_assert_int_eq(listen(p->fd, 16), 0);
  socklen_t al = sizeof a;
  ck_assert_int_eq(getsockname(p->fd, (struct sockaddr *)&a, &al), 0);
  p->port = ntohs(a.sin_port);
  ck_assert_int_eq(pthread_create(&p->th, NULL, plain_run, p), 0);
}

static void plain_stop(plain_t *p) {
  atomic_store(&p->stop, 1);
  shutdown(p->fd, SHUT_RDWR); /* wakes accept */
  pthread_join(p->th, NULL);
  close(p->fd);
}

/* The TLS library's own words for "not a TLS record": OpenSSL's, or
 * mbedTLS's when libcurl is built with it (scripts/build-static-client). */
static const char *tls_words(const char *text) {
  const char *w = strstr(text, "wrong version number");
  return w ? w : strstr(text, "An invalid SSL record was received");
}

static void plain_http_facts(const char *text, int port) {
  HAS(text, "plain HTTP, not TLS");
  HAS(text, "use http://");
  char url[64];
  snprintf(url, sizeof url, "https://127.0.0.1:%d/token", port);
  HAS(text, url);
  /* The TLS library's own words stay, at the end. */
  const char *tls = tls_words(text);
  ck_assert_msg(tls != NULL && tls > strstr(text, "plain HTTP"), "%s", text);
}

START_TEST(https_to_a_plain_http_server_says_so_in_the_transport) {
  plain_t p;
  plain_start(&p);
  evp__transport_conf_t cf = {.slots = 1};
  evp__transport_t *t = NULL;
  char err[256];
  ck_assert_int_eq(evp__transport_new(&cf, &t, err, sizeof err), EVP_OK);
  char url[64];
  snprintf(url, sizeof url, "https://127.0.0.1:%d/token", p.port);
  evp__net_req_t rq = {url, NULL, "a=b", 3, 5000, 5000};
  evp__net_resp_t r = {0};
  ck_assert_int_eq(evp__transport_perform(t, 0, &rq, &r, NULL), EVP_ERR_TRANSPORT);
  HAS(r.err, "plain HTTP, not TLS");
  HAS(r.err, "use http://");
  HAS(r.err, "loopback");
  const char *tls = tls_words(r.err);
  ck_assert_msg(tls != NULL && tls > strstr(r.err, "plain HTTP"), "%s", r.err);
  evp__net_resp_free(&r);
  evp__transport_free(t);
  plain_stop(&p);
}
END_TEST

typedef struct {
  pthread_mutex_t mu;
  char error[512];  /* the last error callback's reason */
  char report[512]; /* the last failed delivery report's reason */
} seen_t;

static void on_error(evp_err_t err, int retrying, const char *reason, void *opaque) {
  (void)err, (void)retrying;
  seen_t *s = opaque;
  pthread_mutex_lock(&s->mu);
  snprintf(s->error, sizeof s->error, "%s", reason);
  pthread_mutex_unlock(&s->mu);
}

static void on_report(evp_client_t *c, const evp_delivery_t *r, void *opaque) {
  (void)c;
  seen_t *s = opaque;
  const char *why = evp_delivery_reason(r);
  pthread_mutex_lock(&s->mu);
  if (why) snprintf(s->report, sizeof s->report, "%s", why);
  pthread_mutex_unlock(&s->mu);
}

START_TEST(https_to_a_plain_http_server_says_so_in_callbacks_and_reports) {
  plain_t p;
  plain_start(&p);
  static seen_t s = {.mu = PTHREAD_MUTEX_INITIALIZER};
  evp_conf_t *c = evp_conf_new();
  char err[256], url[64];
  snprintf(url, sizeof url, "https://127.0.0.1:%d", p.port);
  ck_assert_int_eq(evp_conf_set(c, "endpoint", url, err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp_conf_set(c, "client.id", "x", err, sizeof err), EVP_OK);
  ck_assert_int_eq(
      evp_conf_set(c, "client.secret", "0123456789abcdef0123456789abcdef", err, sizeof err),
      EVP_OK);
  ck_assert_int_eq(evp_conf_set(c, "retry.backoff.ms", "1", err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp_conf_set(c, "retry.backoff.max.ms", "20", err, sizeof err), EVP_OK);
  evp_conf_set_error_cb(c, on_error);
  evp_conf_set_opaque(c, &s);
  evp_conf_set_delivery_cb(c, on_report, &s);
  evp_client_t *cl = evp_client_new(c, err, sizeof err);
  ck_assert_msg(cl != NULL, "%s", err);
  ck_assert_int_eq(evp_send(cl, "{\"a\":1}", 7, err, sizeof err), EVP_OK);
  /* The token request fails again and again: the error callback says why. */
  for (int i = 0; i < 200; i++) {
    pthread_mutex_lock(&s.mu);
    int said = s.error[0] != '\0';
    pthread_mutex_unlock(&s.mu);
    if (said) break;
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  ck_assert_int_eq(evp_client_destroy(cl, 0), 1);
  plain_http_facts(s.error, p.port);
  plain_http_facts(s.report, p.port); /* "client closed before delivery; last error: ..." */
  plain_stop(&p);
}
END_TEST

/* ------------------------------------------------------------ the cost of a refusal */

/* What evp_send's refusal of text that is not a JSON object costs: the door
 * tells "not JSON" from "JSON, but not an object" for a text of any length,
 * before the size check (batch.max.bytes), so that look must not allocate
 * in proportion to the text (a tape parse of a 32 MiB array of small
 * numbers allocated ~384 MiB to refuse it). Measured as the growth of the
 * peak resident set (VmHWM, reset through /proc/self/clear_refs; not
 * measured where that is not available). */

/* Peak resident set in KiB since the last reset, or -1. */
static long peak_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

/* Reset the peak to the current resident set (Linux >= 4.0); 0 when done. */
static int reset_peak(void) {
  FILE *f = fopen("/proc/self/clear_refs", "w");
  if (!f) return -1;
  int ok = fputs("5", f) >= 0;
  return fclose(f) == 0 && ok ? 0 : -1;
}

#define TEXT_BYTES ((32u << 20) + 1) /* odd: "[" "0,"... "0]" */
#define ALLOWED_KIB (8L << 10)       /* far below the text's own 32 MiB */

/* "[0,0,...,0]" of @p n bytes (odd), or, @p broken, with a stray byte near
 * the end, so that a parser reads nearly all of it before it fails. */
static char *big_array(size_t n, int broken) {
  char *t = malloc(n);
  ck_assert_ptr_nonnull(t);
  t[0] = '[';
  for (size_t i = 1; i + 1 < n; i++) t[i] = (i & 1) ? '0' : ',';
  t[n - 1] = ']';
  if (broken) t[n - 3] = 'x'; /* "0x0]" */
  return t;
}

static void refused_cheaply(int broken, evp_err_t want) {
  evp_client_t *c = offline_client();
  char *t = big_array(TEXT_BYTES, broken);
  char err[256];
  if (reset_peak() != 0 || peak_kib() < 0) {
    free(t);
    evp_client_destroy(c, 0);
    fprintf(stderr, "no /proc/self/clear_refs or VmHWM: the cost is not measured\n");
    return;
  }
  long before = peak_kib();
  evp_err_t e = evp_send(c, t, TEXT_BYTES, err, sizeof err);
  long grew = peak_kib() - before;
  free(t);
  ck_assert_int_eq(evp_client_destroy(c, 0), 0);
  ck_assert_msg(e == want, "%s: %s", evp_err2name(e), err);
  ck_assert_msg(grew < ALLOWED_KIB,
                "refusing a %u MiB text that is not an object raised the peak resident set by "
                "%ld KiB",
                TEXT_BYTES >> 20, grew);
}

START_TEST(a_large_array_is_refused_without_allocating_for_it) {
  refused_cheaply(0, EVP_ERR_INVALID_EVENT);
}
END_TEST

START_TEST(a_large_broken_array_is_refused_without_allocating_for_it) {
  refused_cheaply(1, EVP_ERR_JSON);
}
END_TEST

/* The look that replaced the parse says the same things: where the text
 * stops being JSON, and that JSON of another type is not an event. */
START_TEST(the_scanner_tells_not_json_from_not_an_object) {
  static const struct {
    const char *text;
    evp_err_t want;
    const char *says;
  } cases[] = {
      {"[1] x", EVP_ERR_JSON, "invalid JSON at byte 4: trailing characters"},
      {"[1", EVP_ERR_JSON, "invalid JSON at byte 2"},
      {"  [1, {\"a\": nul}]", EVP_ERR_JSON, "invalid JSON at byte 12"},
      {"\"\xff\"", EVP_ERR_JSON, "invalid JSON at byte 1"},
      {" [1, {\"a\": [null]}] \n", EVP_ERR_INVALID_EVENT, "must be a JSON object"},
      {"-0.5e3", EVP_ERR_INVALID_EVENT, "must be a JSON object"},
  };
  evp_client_t *c = offline_client();
  char err[256];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    err[0] = '\0';
    evp_err_t e = evp_send(c, cases[i].text, strlen(cases[i].text), err, sizeof err);
    ck_assert_msg(e == cases[i].want && strstr(err, cases[i].says), "%s: %s: %s", cases[i].text,
                  evp_err2name(e), err);
  }
  /* Nested deeper than the door allows, but JSON: still not an event. */
  char deep[600];
  memset(deep, '[', 300);
  memset(deep + 300, ']', 300);
  ck_assert_int_eq(evp_send(c, deep, sizeof deep, err, sizeof err), EVP_ERR_INVALID_EVENT);
  ck_assert_int_eq(evp_client_destroy(c, 0), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("messages");
  TCase *tc = tcase_create("first_hour");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, enum_value_error_lists_the_allowed_values);
  tcase_add_test(tc, unknown_property_suggests_the_closest_names);
  tcase_add_test(tc, a_line_that_is_not_json_is_evp_err_json);
  tcase_add_test(tc, https_to_a_plain_http_server_says_so_in_the_transport);
  tcase_add_test(tc, https_to_a_plain_http_server_says_so_in_callbacks_and_reports);
  tcase_add_test(tc, a_large_array_is_refused_without_allocating_for_it);
  tcase_add_test(tc, a_large_broken_array_is_refused_without_allocating_for_it);
  tcase_add_test(tc, the_scanner_tells_not_json_from_not_an_object);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
