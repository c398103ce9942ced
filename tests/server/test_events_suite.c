/* Suite: the official JSON-Schema-Test-Suite (draft7, required) through the
 * server's event acceptance, POST /events (evp__events_handle), on both of
 * its paths: the one-parse path for ordinary bodies and the general path for
 * bodies above 2 MiB. Every instance that is a JSON object (an event must
 * be one) is sent as the only event of a request validated by the case's
 * schema; it must be accepted exactly when the suite says it is valid. Any
 * other instance I is sent as the event {"v":I} under the schema
 * {"required":["v"],"properties":{"v":S}} — unless S has a "$ref" or "$id",
 * whose meaning would change one level down (those cases are counted as not
 * applicable; the library and the CLI run them). The
 * library runs the same cases in test_schema_suite.c, the CLI in
 * tests/scripts/test_cli_validate_suite.sh. */
#define _POSIX_C_SOURCE 200809L
#include "schema_suite.h"
#include "server/server.h"

#define GENERAL_PATH_PAD (2u * 1024u * 1024u + 16u) /* above events.c FAST_BODY_MAX */

typedef struct {
  evp_schema_loader_t *l;
  evp_schema_ctx_t *ctx;
  int pass, fail, skipped;
} run_t;

/* The verdict of POST /events on {"events":[data]}: 1 accepted, 0 rejected. */
static int accepted(run_t *r, const evp_schema_t *s, const char *data, size_t n, int general,
                    char *why, size_t whycap) {
  size_t pad = general ? GENERAL_PATH_PAD : 0, len = pad + n + 13;
  /* slack as the server's body buffer keeps it (PCRE2's JIT reads ahead) */
  char *body = calloc(1, len + 1 + EVP__REGEX_SLACK);
  ck_assert_ptr_nonnull(body);
  memset(body, ' ', pad);
  memcpy(body + pad, "{\"events\":[", 11);
  memcpy(body + pad + 11, data, n);
  memcpy(body + pad + 11 + n, "]}", 3);
  evp__http_req_t req;
  memset(&req, 0, sizeof req);
  req.method = "POST";
  req.path = "/events";
  req.body = body;
  req.body_len = len;
  evp__events_cfg_t cfg = {s, 0, 8u * 1024u * 1024u, NULL};
  evp__events_result_t res;
  evp__http_resp_t resp;
  evp__http_resp_init(&resp);
  ck_assert_int_eq(evp__events_handle(&cfg, r->ctx, &req, &res, &resp), EVP_OK);
  ck_assert_msg(resp.status == 200, "status %d: %s", resp.status, resp.body ? resp.body : "");
  ck_assert_uint_eq(res.n_events, 1);
  int ok = res.n_accepted == 1;
  snprintf(why, whycap, "%s", res.n_rejected ? res.rejected[0].error : "accepted");
  evp__events_result_free(&res);
  evp__http_resp_free(&resp);
  free(body);
  return ok;
}

static int has(const char *s, size_t n, const char *what) {
  size_t k = strlen(what);
  for (size_t i = 0; i + k <= n; i++)
    if (!memcmp(s + i, what, k)) return 1;
  return 0;
}

/* "prefix" + s[0..n) + "suffix", malloc'd. */
static char *wrap(const char *prefix, const char *s, size_t n, const char *suffix, size_t *len) {
  size_t a = strlen(prefix), b = strlen(suffix);
  char *w = malloc(a + n + b + 1);
  ck_assert_ptr_nonnull(w);
  memcpy(w, prefix, a);
  memcpy(w + a, s, n);
  memcpy(w + a + n, suffix, b + 1);
  *len = a + n + b;
  return w;
}

static void run_group(void *opaque, const char *prefix, const char *stext, size_t slen,
                      const suite_test_t *tests, size_t n) {
  run_t *r = opaque;
  char err[512] = "";
  evp_err_t cerr;
  evp_schema_t *s = evp_schema_compile(stext, slen, r->l, &cerr, err, sizeof err);
  ck_assert_msg(s != NULL, "%s: %s", prefix, err);
  evp_schema_t *ws = NULL; /* the schema one level down, for non-object instances */
  if (!has(stext, slen, "\"$ref\"") && !has(stext, slen, "\"$id\"")) {
    size_t wl;
    char *wt = wrap("{\"required\":[\"v\"],\"properties\":{\"v\":", stext, slen, "}}", &wl);
    ws = evp_schema_compile(wt, wl, r->l, &cerr, err, sizeof err);
    ck_assert_msg(ws != NULL, "%s (wrapped): %s", prefix, err);
    free(wt);
  }
  for (size_t i = 0; i < n; i++) {
    const suite_test_t *tc = &tests[i];
    const evp_schema_t *es = s;
    const char *ev = tc->data;
    size_t evlen = tc->data_len;
    char *wev = NULL;
    if (tc->data_len == 0 || tc->data[0] != '{') { /* an event is an object */
      if (!ws) {
        r->skipped++;
        continue;
      }
      es = ws;
      ev = wev = wrap("{\"v\":", tc->data, tc->data_len, "}", &evlen);
    }
    for (int general = 0; general < 2; general++) {
      char why[256];
      if (accepted(r, es, ev, evlen, general, why, sizeof why) == tc->valid) {
        r->pass++;
        continue;
      }
      r->fail++;
      fprintf(stderr, "FAIL %s|%s (%s path: expected %s; %s)\n", prefix, tc->desc,
              general ? "general" : "one-parse", tc->valid ? "accepted" : "rejected", why);
    }
    free(wev);
  }
  evp_schema_destroy(ws);
  evp_schema_destroy(s);
}

START_TEST(required_draft7_through_post_events) {
  run_t r = {suite_loader(), evp_schema_ctx_new(), 0, 0, 0};
  ck_assert_ptr_nonnull(r.ctx);
  suite_run_dir(SUITE_DIR "/tests/draft7", "", run_group, &r);
  printf("draft7 required through POST /events: %d/%d verdicts right (two paths each), "
         "%d cases not applicable (a non-object instance under a schema with $ref/$id)\n",
         r.pass, r.pass + r.fail, r.skipped);
  ck_assert_int_gt(r.pass, 1500); /* the suite was found and run */
  ck_assert_int_eq(r.fail, 0);
  evp_schema_ctx_destroy(r.ctx);
  evp_schema_loader_destroy(r.l);
}
END_TEST

int main(void) {
  Suite *s = suite_create("events_suite");
  TCase *t = tcase_create("draft7");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, required_draft7_through_post_events);
  suite_add_tcase(s, t);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
