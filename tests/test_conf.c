/* Suite: client configuration (evp_conf_t) and its generated reference. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client/conf_int.h"
#include "evpipe/evpipe.h"

static void get(const evp_conf_t *c, const char *name, char *buf, size_t n) {
  size_t sz = n;
  ck_assert_int_eq(evp_conf_get(c, name, buf, &sz), EVP_OK);
}

START_TEST(defaults_come_from_the_table) {
  evp_conf_t *c = evp_conf_new();
  ck_assert_ptr_nonnull(c);
  char b[64];
  get(c, "batch.max.events", b, sizeof b);
  ck_assert_str_eq(b, "500");
  get(c, "batch.max.bytes", b, sizeof b);
  ck_assert_str_eq(b, "262144");
  get(c, "compression", b, sizeof b);
  ck_assert_str_eq(b, "none");
  get(c, "allow.insecure.http", b, sizeof b);
  ck_assert_str_eq(b, "false");
  get(c, "queue.block.timeout.ms", b, sizeof b);
  ck_assert_str_eq(b, "0");
  get(c, "delivery.report.mode", b, sizeof b);
  ck_assert_str_eq(b, "all");
  get(c, "endpoint", b, sizeof b);
  ck_assert_str_eq(b, "");
  /* Every property reads back its documented default. */
  for (size_t i = 0; i < evp__conf_nprops; i++) {
    const evp__prop *p = &evp__conf_props[i];
    char v[256];
    get(c, p->name, v, sizeof v);
    if (p->def && p->type != EVP__P_DBL)
      ck_assert_str_eq(v, p->def);
    else if (!p->def)
      ck_assert_str_eq(v, "");
  }
  evp_conf_destroy(c);
}
END_TEST

START_TEST(set_checks_names_types_and_ranges) {
  evp_conf_t *c = evp_conf_new();
  char e[256], b[64];
  ck_assert_int_eq(evp_conf_set(c, "no.such", "1", e, sizeof e), EVP_ERR_CONF_UNKNOWN);
  ck_assert_ptr_nonnull(strstr(e, "no.such"));
  ck_assert_int_eq(evp_conf_set(c, "batch.max.events", "0", e, sizeof e), EVP_ERR_CONF_INVALID);
  ck_assert_ptr_nonnull(strstr(e, "batch.max.events"));
  ck_assert_int_eq(evp_conf_set(c, "batch.max.events", "100001", e, sizeof e),
                   EVP_ERR_CONF_INVALID);
  ck_assert_int_eq(evp_conf_set(c, "batch.max.events", "12x", e, sizeof e), EVP_ERR_CONF_INVALID);
  ck_assert_int_eq(evp_conf_set(c, "batch.max.events", "", e, sizeof e), EVP_ERR_CONF_INVALID);
  ck_assert_int_eq(evp_conf_set(c, "batch.max.events", "99999999999999999999", e, sizeof e),
                   EVP_ERR_CONF_INVALID);
  ck_assert_int_eq(evp_conf_set(c, "batch.max.events", "42", e, sizeof e), EVP_OK);
  get(c, "batch.max.events", b, sizeof b);
  ck_assert_str_eq(b, "42");
  ck_assert_int_eq(evp_conf_set(c, "compression", "zstd", e, sizeof e), EVP_ERR_CONF_INVALID);
  ck_assert_int_eq(evp_conf_set(c, "compression", "gzip", e, sizeof e), EVP_OK);
  get(c, "compression", b, sizeof b);
  ck_assert_str_eq(b, "gzip");
  ck_assert_int_eq(evp_conf_set(c, "fill.event_id", "maybe", e, sizeof e), EVP_ERR_CONF_INVALID);
  ck_assert_int_eq(evp_conf_set(c, "fill.event_id", "FALSE", e, sizeof e), EVP_OK);
  get(c, "fill.event_id", b, sizeof b);
  ck_assert_str_eq(b, "false");
  ck_assert_int_eq(evp_conf_set(c, "token.refresh.ratio", "0.95", e, sizeof e),
                   EVP_ERR_CONF_INVALID);
  ck_assert_int_eq(evp_conf_set(c, "token.refresh.ratio", "nan", e, sizeof e),
                   EVP_ERR_CONF_INVALID);
  ck_assert_int_eq(evp_conf_set(c, "token.refresh.ratio", "0.6", e, sizeof e), EVP_OK);
  get(c, "token.refresh.ratio", b, sizeof b);
  ck_assert_str_eq(b, "0.6");
  ck_assert_int_eq(evp_conf_set(NULL, "x", "y", e, sizeof e), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp_conf_set(c, "endpoint", NULL, NULL, 0), EVP_ERR_INVALID_ARG);
  /* A failed set leaves the old value. */
  get(c, "batch.max.events", b, sizeof b);
  ck_assert_str_eq(b, "42");
  evp_conf_destroy(c);
}
END_TEST

START_TEST(get_reports_size_and_refuses_short_buffers) {
  evp_conf_t *c = evp_conf_new();
  ck_assert_int_eq(evp_conf_set(c, "endpoint", "https://ingest.example", NULL, 0), EVP_OK);
  size_t sz = 0;
  ck_assert_int_eq(evp_conf_get(c, "endpoint", NULL, &sz), EVP_OK);
  ck_assert_uint_eq(sz, strlen("https://ingest.example") + 1);
  char small[4];
  sz = sizeof small;
  ck_assert_int_eq(evp_conf_get(c, "endpoint", small, &sz), EVP_ERR_TOO_LARGE);
  sz = 8;
  ck_assert_int_eq(evp_conf_get(c, "nope", small, &sz), EVP_ERR_CONF_UNKNOWN);
  /* Setting "" unsets a string. */
  ck_assert_int_eq(evp_conf_set(c, "endpoint", "", NULL, 0), EVP_OK);
  char b[8];
  get(c, "endpoint", b, sizeof b);
  ck_assert_str_eq(b, "");
  evp_conf_destroy(c);
}
END_TEST

START_TEST(secret_is_never_read_back_or_echoed) {
  evp_conf_t *c = evp_conf_new();
  char e[256] = "", b[64];
  get(c, "client.secret", b, sizeof b);
  ck_assert_str_eq(b, "");
  ck_assert_int_eq(evp_conf_set(c, "client.secret", "hunter2-very-secret", e, sizeof e), EVP_OK);
  get(c, "client.secret", b, sizeof b);
  ck_assert_str_eq(b, "[redacted]");
  ck_assert_ptr_null(strstr(e, "hunter2"));
  /* The internal copy holds the real value for the token request. */
  ck_assert_str_eq(c->client_secret, "hunter2-very-secret");
  evp_conf_destroy(c);
}
END_TEST

static void dr(const char *id, size_t idl, evp_delivery_status_t st, evp_err_t err,
               const char *reason, int attempts, void *op) {
  (void)id, (void)idl, (void)st, (void)err, (void)reason, (void)attempts, (void)op;
}
static void lg(int level, const char *msg, void *op) { (void)level, (void)msg, (void)op; }

START_TEST(dup_is_deep_and_keeps_callbacks) {
  evp_conf_t *c = evp_conf_new();
  int token;
  evp_conf_set(c, "client.id", "abc", NULL, 0);
  evp_conf_set(c, "client.secret", "s", NULL, 0);
  evp_conf_set(c, "linger.ms", "77", NULL, 0);
  evp_conf_set_dr_cb(c, dr);
  evp_conf_set_log_cb(c, lg);
  evp_conf_set_opaque(c, &token);
  evp_conf_t *d = evp_conf_dup(c);
  ck_assert_ptr_nonnull(d);
  evp_conf_set(c, "client.id", "changed", NULL, 0);
  char b[32];
  get(d, "client.id", b, sizeof b);
  ck_assert_str_eq(b, "abc");
  get(d, "linger.ms", b, sizeof b);
  ck_assert_str_eq(b, "77");
  ck_assert(d->dr_cb == dr);
  ck_assert(d->log_cb == lg);
  ck_assert_ptr_eq(d->opaque, &token);
  ck_assert_ptr_ne(d->client_secret, c->client_secret);
  evp_conf_destroy(c);
  evp_conf_destroy(d);
  evp_conf_destroy(NULL);
  ck_assert_ptr_null(evp_conf_dup(NULL));
}
END_TEST

START_TEST(committed_reference_matches_the_table) {
  char *doc = evp__conf_doc_markdown();
  ck_assert_ptr_nonnull(doc);
  for (size_t i = 0; i < evp__conf_nprops; i++)
    ck_assert_ptr_nonnull(strstr(doc, evp__conf_props[i].name));
  FILE *f = fopen(EVP_SOURCE_DIR "/docs/CONFIGURATION.md", "rb");
  ck_assert_msg(f != NULL,
                "docs/CONFIGURATION.md missing: run evpipe conf-doc > docs/CONFIGURATION.md");
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  ck_assert_msg(strcmp(buf, doc) == 0,
                "docs/CONFIGURATION.md is stale: run evpipe conf-doc > docs/CONFIGURATION.md");
  free(doc);
}
END_TEST

int main(void) {
  Suite *s = suite_create("conf");
  TCase *tc = tcase_create("conf");
  tcase_add_test(tc, defaults_come_from_the_table);
  tcase_add_test(tc, set_checks_names_types_and_ranges);
  tcase_add_test(tc, get_reports_size_and_refuses_short_buffers);
  tcase_add_test(tc, secret_is_never_read_back_or_echoed);
  tcase_add_test(tc, dup_is_deep_and_keeps_callbacks);
  tcase_add_test(tc, committed_reference_matches_the_table);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
