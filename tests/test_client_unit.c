/* Suite: the client's internal pieces in isolation: the door scanner, event
 * filling, UUIDv7, backoff, Retry-After, response parsing, loopback test. */
#include <check.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include "client/client_int.h"

static evp_err_t scan(const char *j, evp__scan *s) {
  char e[128];
  return evp__client_event_scan(j, strlen(j), s, e, sizeof e);
}

START_TEST(scanner_finds_top_level_fields_only) {
  evp__scan s;
  ck_assert_int_eq(scan("{\"x\":{\"event_id\":\"inner\"},\"event_id\":\"outer\"}", &s), EVP_OK);
  ck_assert(s.has_id);
  ck_assert_uint_eq(s.id_len, 5);
  ck_assert(!memcmp(s.id, "outer", 5));
  ck_assert(!s.has_time);
  ck_assert_int_eq(scan("{\"x\":{\"event_time\":1}}", &s), EVP_OK);
  ck_assert(!s.has_time);
  ck_assert_int_eq(scan("{\"event_time\":1, \"event_id\": 7}", &s), EVP_OK);
  ck_assert(s.has_time && s.has_id && s.id == NULL);
  ck_assert_int_eq(scan(" \n{ } \r\n", &s), EVP_OK);
  ck_assert(s.empty);
  ck_assert_uint_eq(s.obj_start, 2);
  ck_assert_uint_eq(s.obj_end, 5);
}
END_TEST

START_TEST(scanner_enforces_the_grammar) {
  evp__scan s;
  const char *ok[] = {"{\"a\":[]}", "{\"a\":[1,-0,0.5,1e9,1E-2,true,false,null,\"\",{}]}",
                      "{\"\\ud83d\\ude00\":\"\xf0\x9f\x98\x80\"}",
                      "{\"a\":\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"}"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    ck_assert_msg(scan(ok[i], &s) == EVP_OK, "refused %s", ok[i]);
  const char *bad[] = {"{", "{\"a\"}", "{\"a\":1", "{\"a\":-}", "{\"a\":1.}", "{\"a\":1e}",
                       "{\"a\":.5}", "{\"a\":+1}", "{\"a\":\"\\u12\"}", "{\"a\":\"\xc0\x80\"}",
                       "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}", "{a:1}",
                       "{\"a\":nul}", "{\"a\":[1 2]}", "{\"a\":1,,}", "{\"a\":\"x\xe2\x82\"}",
                       /* lone surrogates: the server refuses them, so must we */
                       "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}", "{\"a\":\"\\ud800\\u0041\"}",
                       "{\"a\":\"\\ud800x\"}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert_msg(scan(bad[i], &s) == EVP_ERR_JSON, "accepted %s", bad[i]);
  /* Nesting is bounded like the server's body check: 60 levels pass, more
   * than the schema validator's limit do not. */
  char mid[200] = "{\"a\":";
  for (int i = 0; i < 60; i++) strcat(mid, "[");
  for (int i = 0; i < 60; i++) strcat(mid, "]");
  strcat(mid, "}");
  ck_assert_int_eq(scan(mid, &s), EVP_OK);
  /* Nesting is bounded, not recursion without end. */
  char deep[400];
  size_t n = 0;
  deep[n++] = '{';
  deep[n++] = '"';
  deep[n++] = 'a';
  deep[n++] = '"';
  deep[n++] = ':';
  for (int i = 0; i < 150; i++) deep[n++] = '[';
  for (int i = 0; i < 150; i++) deep[n++] = ']';
  deep[n++] = '}';
  deep[n] = '\0';
  ck_assert_int_eq(scan(deep, &s), EVP_ERR_JSON);
}
END_TEST

START_TEST(filling_inserts_fields_and_tracks_the_id) {
  evp__scan s;
  const char *j = " {\"a\":1} ";
  ck_assert_int_eq(scan(j, &s), EVP_OK);
  evp__item *it = evp__client_event_make(j, &s, 1, 1, NULL, NULL);
  ck_assert_ptr_nonnull(it);
  ck_assert_uint_eq(it->len, 1 + 49 + 1 + 39 + 1 + 6);
  ck_assert(!memcmp(it->json, "{\"event_id\":\"", 13));
  ck_assert(!memcmp(it->json + it->len - 7, ",\"a\":1}", 7));
  ck_assert_uint_eq(it->id_len, 36);
  ck_assert_int_eq(it->json[it->id_off + 36], '"');
  free(it);
  ck_assert_int_eq(scan("{\"event_id\":\"abc\"}", &s), EVP_OK);
  it = evp__client_event_make("{\"event_id\":\"abc\"}", &s, 1, 1, NULL, NULL);
  ck_assert_uint_eq(it->id_len, 3);
  ck_assert(!memcmp(it->json + it->id_off, "abc", 3));
  ck_assert(!memcmp(it->json, "{\"event_time\":\"", 15));
  free(it);
  ck_assert_int_eq(scan("{}", &s), EVP_OK);
  it = evp__client_event_make("{}", &s, 0, 1, NULL, NULL);
  ck_assert_uint_eq(it->len, 2 + 38 + 1);
  ck_assert_int_eq(it->json[it->len - 2], '"');
  ck_assert_uint_eq(it->id_len, 0);
  free(it);
}
END_TEST

START_TEST(uuid7_is_well_formed_and_unique) {
  char prev[37] = "", u[37];
  for (int i = 0; i < 2000; i++) {
    ck_assert_int_eq(evp__client_uuid7(u), EVP_OK);
    ck_assert_uint_eq(strlen(u), 36);
    ck_assert(u[8] == '-' && u[13] == '-' && u[18] == '-' && u[23] == '-');
    ck_assert_int_eq(u[14], '7');
    ck_assert(strchr("89ab", u[19]));
    ck_assert_str_ne(u, prev);
    /* Time-ordered: the 48-bit millisecond prefix never goes backwards. */
    if (prev[0]) ck_assert(memcmp(prev, u, 13) <= 0);
    memcpy(prev, u, 37);
  }
  char t[25];
  evp__client_rfc3339_now(t);
  ck_assert_uint_eq(strlen(t), 24);
  ck_assert(t[4] == '-' && t[10] == 'T' && t[19] == '.' && t[23] == 'Z');
}
END_TEST

START_TEST(backoff_is_bounded_full_jitter) {
  uint64_t rng = 12345;
  int64_t max_seen = 0;
  for (int i = 0; i < 1000; i++) {
    int64_t d = evp__retry_backoff_ms(&rng, 100, 1000, 1);
    ck_assert(d >= 0 && d <= 100);
    d = evp__retry_backoff_ms(&rng, 100, 1000, 30);
    ck_assert(d >= 0 && d <= 1000);
    if (d > max_seen) max_seen = d;
  }
  ck_assert_int_gt(max_seen, 500); /* jitter spreads over the range */
}
END_TEST

START_TEST(retry_after_parses_both_forms) {
  ck_assert_int_eq(evp__retry_parse_after(" 3\r\n", 4), 3000);
  ck_assert_int_eq(evp__retry_parse_after("0", 1), 0);
  ck_assert_int_eq(evp__retry_parse_after("-1", 2), -1);
  ck_assert_int_eq(evp__retry_parse_after("soon", 4), -1);
  ck_assert_int_eq(evp__retry_parse_after("", 0), -1);
  const char *past = "Wed, 21 Oct 2015 07:28:00 GMT";
  ck_assert_int_eq(evp__retry_parse_after(past, strlen(past)), 0);
  const char *future = "Fri, 01 Jan 2100 00:00:00 GMT";
  ck_assert_int_eq(evp__retry_parse_after(future, strlen(future)), 86400000L);
}
END_TEST

START_TEST(responses_are_parsed_defensively) {
  evp__resp r;
  const char *b =
      "{\"accepted\":2,\"rejected\":[{\"index\":1,\"error\":\"bad\",\"retriable\":true},"
      "{\"index\":9},{\"index\":-1},{\"index\":0.5},{\"nothing\":1}]}";
  ck_assert_int_eq(evp__events_resp_parse(b, strlen(b), 3, &r), EVP_OK);
  ck_assert_int_eq(r.accepted, 2);
  ck_assert_uint_eq(r.n, 1); /* out-of-range and malformed indexes ignored */
  ck_assert_uint_eq(r.rej[0].index, 1);
  ck_assert(r.rej[0].retriable);
  ck_assert_str_eq(r.rej[0].reason, "bad");
  evp__events_resp_free(&r);
  ck_assert_int_eq(evp__events_resp_parse("nope", 4, 3, &r), EVP_ERR_JSON);
  ck_assert_int_eq(evp__events_resp_parse("{\"rejected\":5}", 14, 3, &r), EVP_ERR_JSON);
  ck_assert_int_eq(evp__events_resp_parse("{}", 2, 3, &r), EVP_OK);
  ck_assert_uint_eq(r.n, 0);
  evp__events_resp_free(&r);
}
END_TEST

START_TEST(loopback_detection) {
  ck_assert(evp__url_is_loopback("http://localhost:8080/x"));
  ck_assert(evp__url_is_loopback("http://127.0.0.1"));
  ck_assert(evp__url_is_loopback("http://127.8.9.10:1"));
  ck_assert(evp__url_is_loopback("http://[::1]:80/"));
  ck_assert(!evp__url_is_loopback("http://127.0.0.1.evil.example/"));
  ck_assert(!evp__url_is_loopback("http://example.com"));
  ck_assert(!evp__url_is_loopback("http://localhost.example.com"));
  ck_assert(!evp__url_is_loopback("not a url"));
}
END_TEST

START_TEST(rejection_reasons_are_bounded) {
  evp__stats st;
  evp__client_stats_init(&st);
  char r[32];
  for (int i = 0; i < EVP__REJ_REASONS + 4; i++) {
    snprintf(r, sizeof r, "reason %d", i);
    evp__client_stats_rejected(&st, r);
    evp__client_stats_rejected(&st, r);
  }
  evp__client_stats_rejected(&st, NULL);
  ck_assert_str_eq(st.rej[0].text, "reason 0");
  ck_assert_int_eq(st.rej[0].n, 2);
  ck_assert_int_eq(st.rej[EVP__REJ_REASONS - 1].n, 2);
  ck_assert_int_eq(st.rej_other, 4 * 2 + 1); /* later reasons and the unnamed one */
  char longr[300];
  memset(longr, 'x', sizeof longr - 1);
  longr[sizeof longr - 1] = '\0';
  evp__client_stats_rejected(&st, longr); /* truncated, never overflows */
  ck_assert_int_eq(st.rej_other, 10);
  evp__client_stats_free(&st);
}
END_TEST

/* A forked child draws fresh random bits for its ids: the per-thread pool
 * it inherited from the parent would otherwise give both the same ids. */
START_TEST(forked_child_makes_its_own_ids) {
  char parent[37], child[37] = "";
  ck_assert_int_eq(evp__client_uuid7(parent), EVP_OK); /* fills this thread's pool */
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    char id[37];
    int ok = evp__client_uuid7(id) == EVP_OK && write(p[1], id, 36) == 36;
    _exit(ok ? 0 : 1);
  }
  close(p[1]);
  ck_assert_int_eq(read(p[0], child, 36), 36);
  close(p[0]);
  int st;
  waitpid(pid, &st, 0);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  ck_assert_int_eq(evp__client_uuid7(parent), EVP_OK); /* the parent's next id */
  /* The time prefix may match (same millisecond); the random part must not. */
  ck_assert_msg(memcmp(parent + 14, child + 14, 22) != 0, "parent %s, child %s", parent, child);
}
END_TEST

int main(void) {
  Suite *s = suite_create("client_unit");
  TCase *tc = tcase_create("unit");
  tcase_add_test(tc, scanner_finds_top_level_fields_only);
  tcase_add_test(tc, rejection_reasons_are_bounded);
  tcase_add_test(tc, scanner_enforces_the_grammar);
  tcase_add_test(tc, filling_inserts_fields_and_tracks_the_id);
  tcase_add_test(tc, uuid7_is_well_formed_and_unique);
  tcase_add_test(tc, backoff_is_bounded_full_jitter);
  tcase_add_test(tc, retry_after_parses_both_forms);
  tcase_add_test(tc, responses_are_parsed_defensively);
  tcase_add_test(tc, loopback_detection);
  tcase_add_test(tc, forked_child_makes_its_own_ids);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
