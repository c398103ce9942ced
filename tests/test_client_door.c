/* Suite: the SDK's door check (evp_send) with a schema file refuses what the
 * server must refuse because no row of the schema's table can hold it — the
 * same rule (table/table_value.c) — so the SDK never queues an event the
 * server will reject. Without a schema file the server is the door (it
 * answers such events per item: test_handlers). */
#include "client_harness.h"
#include <unistd.h>

/* The schema of the lake: integer, number, timestamp and string columns. */
static const char SCHEMA[] = "{\"type\":\"object\",\"required\":[\"event_id\"],\"properties\":{"
                             "\"event_id\":{\"type\":\"string\"},\"n\":{\"type\":\"integer\"},"
                             "\"x\":{\"type\":\"number\"},\"s\":{\"type\":\"string\"}}}";

static char *members(int copies, int distinct) {
  char *b = malloc((size_t)copies * 16 + 64), *p = b;
  ck_assert_ptr_nonnull(b);
  p += sprintf(p, "{\"event_id\":\"e\"");
  for (int i = 0; i < copies; i++)
    p += distinct ? sprintf(p, ",\"m%d\":1", i) : sprintf(p, ",\"s\":\"a\"");
  strcpy(p, "}");
  return b;
}

static evp_err_t send_text(evp_client_t *c, const char *ev, char *e, size_t es) {
  return evp_send(c, ev, strlen(ev), e, es);
}

/* Refused whatever the table: no lake table holds these. */
static void refuses_for_every_table(evp_client_t *c) {
  char e[256];
  static const char *const bad[] = {
      "{\"event_id\":\"e\",\"x\":1e400}", "{\"event_id\":\"e\",\"x\":-1e400}",
      "{\"event_id\":\"e\",\"x\":1e-400}", "{\"event_id\":\"e\",\"s\":\"a\",\"s\":\"b\"}",
      "{\"event_id\":\"e\",\"\\u0073\":1,\"s\":2}"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    e[0] = '\0';
    ck_assert_msg(send_text(c, bad[i], e, sizeof e) == EVP_ERR_INVALID_EVENT, "queued %s", bad[i]);
    ck_assert_msg(strlen(e) > 0, "no reason for %s", bad[i]);
  }
  char *big = members(4097, 0);
  ck_assert_int_eq(send_text(c, big, e, sizeof e), EVP_ERR_INVALID_EVENT);
  ck_assert_msg(strstr(e, "more than 4096 top-level members") != NULL, "%s", e);
  free(big);
  /* The members counted are those sent, with the event_time the SDK fills
   * in: 4095 + event_id + event_time is one too many ... */
  big = members(4095, 1);
  ck_assert_int_eq(send_text(c, big, e, sizeof e), EVP_ERR_INVALID_EVENT);
  free(big);
  big = members(4094, 1); /* ... and 4096 members, the bound itself, are fine */
  ck_assert_msg(send_text(c, big, e, sizeof e) == EVP_OK, "%s", e);
  free(big);
  ck_assert_int_eq(send_text(c, "{\"event_id\":\"e\",\"s\":\"a\",\"s\":\"a\"}", e, sizeof e),
                   EVP_ERR_INVALID_EVENT);
  ck_assert_ptr_nonnull(strstr(e, "more than once"));
}

START_TEST(door_without_schema_leaves_it_to_the_server) {
  ms_t *s = ms_start();
  dr_t *d = dr_new();
  evp_client_t *c = mk_client(s, d, NULL); /* no schema file */
  char e[256];
  ck_assert_int_eq(send_text(c, "{\"event_id\":\"e1\",\"x\":1e400}", e, sizeof e), EVP_OK);
  ck_assert_int_eq(send_text(c, "{\"event_id\":\"e2\",\"s\":1,\"s\":2}", e, sizeof e), EVP_OK);
  ck_assert_int_eq(evp_flush(c, 5000), 0);
  evp_client_destroy(c, 1000);
  ms_stop(s);
  dr_free(d);
}
END_TEST

START_TEST(door_with_schema_refuses_what_its_table_cannot_hold) {
  ms_t *s = ms_start();
  dr_t *d = dr_new();
  char path[] = "/tmp/evp-door-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_eq(write(fd, SCHEMA, strlen(SCHEMA)), (ssize_t)strlen(SCHEMA));
  close(fd);
  evp_client_t *c = mk_client(s, d, "schema.file", path, NULL);
  refuses_for_every_table(c);
  char e[256];
  static const char *const bad[] = {
      "{\"event_id\":\"e\",\"n\":9223372036854775808}", "{\"event_id\":\"e\",\"n\":1e19}",
      "{\"event_id\":\"e\",\"n\":1e-400}", "{\"event_id\":\"e\",\"n\":-9223372036854775809}",
      "{\"event_id\":\"e\",\"n\":9007199254740993.5}"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    e[0] = '\0';
    ck_assert_msg(send_text(c, bad[i], e, sizeof e) == EVP_ERR_INVALID_EVENT, "queued %s", bad[i]);
    ck_assert_msg(strstr(e, "/n: ") == e, "reason for %s: %s", bad[i], e);
  }
  static const char *const good[] = {"{\"event_id\":\"e\",\"n\":9007199254740993.0}",
                                     "{\"event_id\":\"e\",\"n\":-9223372036854775808}",
                                     "{\"event_id\":\"e\",\"x\":9223372036854775808}",
                                     "{\"event_id\":\"e\",\"x\":5e-324}",
                                     /* nested values are JSON text, stored as sent */
                                     "{\"event_id\":\"e\",\"o\":{\"x\":1e400,\"y\":1,\"y\":2}}"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    ck_assert_msg(send_text(c, good[i], e, sizeof e) == EVP_OK, "refused %s: %s", good[i], e);
  evp_client_destroy(c, 0);
  unlink(path);
  ms_stop(s);
  dr_free(d);
}
END_TEST

int main(void) {
  Suite *s = suite_create("client_door");
  TCase *tc = tcase_create("door");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, door_without_schema_leaves_it_to_the_server);
  tcase_add_test(tc, door_with_schema_refuses_what_its_table_cannot_hold);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
