/* Suite: what evp_send's refusal of text that is not a JSON object costs.
 * The door tells "not JSON" (EVP_ERR_JSON) from "JSON, but not an object"
 * (EVP_ERR_INVALID_EVENT) for a text of any length, before the size check
 * (batch.max.bytes): that look must not allocate in proportion to the text.
 * A tape parse of a 32 MiB array of small numbers allocated a copy of the
 * text and a node per element, several hundred MiB on the caller's thread,
 * to refuse it. Measured as the growth of the peak resident set (VmHWM,
 * reset through /proc/self/clear_refs; skipped where that is not
 * available). */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "evpipe/evpipe.h"
#include "suite_main.h"

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
  Suite *s = suite_create("send_refusal_cost");
  TCase *tc = tcase_create("not_an_object");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, a_large_array_is_refused_without_allocating_for_it);
  tcase_add_test(tc, a_large_broken_array_is_refused_without_allocating_for_it);
  tcase_add_test(tc, the_scanner_tells_not_json_from_not_an_object);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
