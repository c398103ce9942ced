/* Suite: what differs between CPUs and C libraries, pinned with known answers
 * so that a foreign build (scripts/cross-test: arm64, armhf with 32-bit size_t,
 * big-endian s390x) and the portable-only build (-DEVPIPE_NO_SIMD=ON) must
 * compute the same bytes as x86-64: CRC-32C, base64url, UUID text and UUIDv7
 * time order; and times past 2038-01-19 (the end of a 32-bit time_t): event
 * times, Retry-After dates and 20-minute tokens. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "evpipe/jwt.h"
#include "base/base.h"
#include "client/client_int.h"
#include "wal/wal_format.h"
#include "suite_main.h"

/* 2040-01-01T00:00:00Z, past the last second of a 32-bit time_t. */
#define T2040 INT64_C(2208988800)

START_TEST(crc32c_known_answers_at_every_alignment) {
  /* RFC 3720 B.4 check value, then 32 zero bytes (iSCSI test vector). */
  ck_assert_uint_eq(evp__crc32c(0, (const unsigned char *)"123456789", 9), 0xE3069283u);
  unsigned char z[40] = {0};
  ck_assert_uint_eq(evp__crc32c(0, z, 32), 0x8A9136AAu);
  /* The dispatching function (SSE 4.2 on x86-64 unless EVP_NO_SIMD) and the
   * slicing-by-8 code agree at every offset and length, chained too. */
  unsigned char b[300];
  for (size_t i = 0; i < sizeof b; i++) b[i] = (unsigned char)(i * 131 + 7);
  for (size_t off = 0; off < 8; off++)
    for (size_t n = 0; n + off <= sizeof b; n += 37) {
      uint32_t c = evp__crc32c(0, b + off, n);
      ck_assert_uint_eq(c, evp__crc32c_sw(0, b + off, n));
      ck_assert_uint_eq(evp__crc32c(evp__crc32c(0, b + off, n / 2), b + off + n / 2, n - n / 2), c);
    }
}
END_TEST

START_TEST(base64url_and_uuid_text_are_byte_order_free) {
  static const unsigned char in[] = {0xfb, 0xff, 0xbf, 0x00, 0x01, 0x02, 0x03, 0xfe, 0x10};
  char out[32];
  for (size_t n = 0; n <= sizeof in; n++) {
    static const char *want[] = {
        "",        "-w",       "-_8",        "-_-_",        "-_-_AA",
        "-_-_AAE", "-_-_AAEC", "-_-_AAECAw", "-_-_AAECA_4", "-_-_AAECA_4Q"};
    size_t k = evp_base64url_encode(in, n, out);
    out[k] = '\0';
    ck_assert_str_eq(out, want[n]);
    ck_assert_uint_eq(k, evp_base64url_encoded_len(n));
    unsigned char back[16];
    size_t bn = 0;
    ck_assert_int_eq(evp_base64url_decode(out, k, back, &bn), EVP_OK);
    ck_assert_uint_eq(bn, n);
    ck_assert(memcmp(back, in, n) == 0);
  }
  unsigned char u[16];
  for (int i = 0; i < 16; i++) u[i] = (unsigned char)(0x01 + 0x11 * i);
  char text[37];
  evp__uuid_text(u, text);
  ck_assert_str_eq(text, "01122334-4556-6778-899a-abbccddeef00");
}
END_TEST

/* A UUIDv7 starts with the wall clock's milliseconds, most significant byte
 * first: its first 12 hex digits, read as a number, are that time. */
START_TEST(uuid7_time_prefix_is_big_endian_milliseconds) {
  int64_t before = evp__wall_ms();
  char id[37];
  ck_assert_int_eq(evp__client_uuid7(id), EVP_OK);
  int64_t after = evp__wall_ms();
  char hex[13];
  memcpy(hex, id, 8);
  memcpy(hex + 8, id + 9, 4);
  hex[12] = '\0';
  long long ms = strtoll(hex, NULL, 16);
  ck_assert_int_ge(ms, before);
  ck_assert_int_le(ms, after);
  ck_assert_int_eq(id[14], '7');
}
END_TEST

/* The event_time the SDK fills in is right past 2038: formatted from a
 * 64-bit count, through a time_t that is 64-bit on every target (32-bit
 * glibc needs _TIME_BITS=64; with a 32-bit time_t this prints 1903). */
START_TEST(event_time_past_2038) {
  char t[25];
  evp__client_rfc3339_ms(T2040 * 1000 + 123, t);
  ck_assert_str_eq(t, "2040-01-01T00:00:00.123Z");
  evp__client_rfc3339_ms(INT64_C(2147483648) * 1000, t); /* 2^31 s */
  ck_assert_str_eq(t, "2038-01-19T03:14:08.000Z");
  evp__client_rfc3339_ms(INT64_C(4102444799) * 1000 + 999, t);
  ck_assert_str_eq(t, "2099-12-31T23:59:59.999Z");
  /* and back through the lake's parser, which must agree */
  int64_t us = 0;
  ck_assert_int_eq(evp__rfc3339_to_us("2040-01-01T00:00:00.123Z", 24, &us), 0);
  ck_assert_int_eq(us, T2040 * 1000000 + 123000);
  /* the wall clock is not truncated (it is after 2025-01-01 and before 2100) */
  ck_assert_int_gt(evp__wall_ms(), INT64_C(1735689600000));
  ck_assert_int_lt(evp__wall_ms(), INT64_C(4102444800000));
}
END_TEST

/* Retry-After as an HTTP-date (IMF-fixdate): a date two minutes ahead of the
 * wall clock is a two-minute wait, also where time_t is 32-bit in libcurl
 * (Debian 12 armhf) and 64-bit in libevpipe, and dates past 2038 are the cap,
 * not an error. */
START_TEST(retry_after_http_date_on_every_target) {
  static const char *wd[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
  static const char *mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int64_t at = evp__wall_ms() / 1000 + 120;
  time_t tt = (time_t)at;
  struct tm tm;
  ck_assert_ptr_nonnull(gmtime_r(&tt, &tm));
  char d[40];
  snprintf(d, sizeof d, "%s, %02d %s %04d %02d:%02d:%02d GMT", wd[(at / 86400) % 7], tm.tm_mday,
           mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  long ms = evp__retry_parse_after(d, strlen(d));
  ck_assert_msg(ms >= 115000 && ms <= 120000, "%s: %ld ms", d, ms);
  const char *late = "Mon, 19 Mar 2040 10:00:00 GMT";
  ck_assert_int_eq(evp__retry_parse_after(late, strlen(late)), 86400000L);
  const char *edge = "Tue, 19 Jan 2038 03:14:08 GMT";
  ck_assert_int_eq(evp__retry_parse_after(edge, strlen(edge)), 86400000L);
  static const char *bad[] = {"Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Now 1994 08:49:37 GMT",
                              "Sun, 36 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:49:37 GMT",
                              "Sun, 06 Nov 94 08:49:37 GMT",   "Sun, 06 Nov 1994 08:49:3x GMT"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    ck_assert_int_eq(evp__retry_parse_after(bad[i], strlen(bad[i])), -1);
}
END_TEST

static int64_t clock_at(void *opaque) { return *(const int64_t *)opaque; }

/* A token signed in 2040 lives its 20 minutes: iat and exp are past 2038
 * as numbers, it verifies 19 minutes later and is expired 21 minutes later. */
START_TEST(token_lifetime_past_2038) {
  evp_keyring_t *kr = evp_keyring_new();
  ck_assert_ptr_nonnull(kr);
  ck_assert_int_eq(evp_keyring_add(kr, "k1", "0123456789abcdef0123456789abcdef", 32, NULL, 0),
                   EVP_OK);
  int64_t now = T2040;
  evp_jwt_signer_t *s = evp_jwt_signer_new(kr, NULL, 0);
  evp_jwt_verifier_t *v = evp_jwt_verifier_new(kr, NULL, 0);
  ck_assert_ptr_nonnull(s);
  ck_assert_ptr_nonnull(v);
  evp_jwt_signer_set_clock(s, clock_at, &now);
  evp_jwt_verifier_set_clock(v, clock_at, &now);
  ck_assert_int_eq(evp_jwt_verifier_set_audience(v, "events"), EVP_OK);
  char *tok = NULL, err[128];
  ck_assert_int_eq(evp_jwt_sign(s, "device-1", "events", NULL, &tok, err, sizeof err), EVP_OK);
  now = T2040 + 19 * 60;
  evp_jwt_t *jwt = NULL;
  ck_assert_int_eq(evp_jwt_verify(v, tok, strlen(tok), &jwt, err, sizeof err), EVP_OK);
  int64_t iat = 0, exp = 0;
  ck_assert_int_eq(evp_jwt_claim_int(jwt, "iat", &iat), EVP_OK);
  ck_assert_int_eq(evp_jwt_claim_int(jwt, "exp", &exp), EVP_OK);
  ck_assert_int_eq(iat, T2040);
  ck_assert_int_eq(exp, T2040 + 1200);
  ck_assert_ptr_nonnull(strstr(evp_jwt_claims_json(jwt), "\"exp\":2208990000"));
  evp_jwt_destroy(jwt);
  now = T2040 + 21 * 60;
  ck_assert_int_eq(evp_jwt_verify(v, tok, strlen(tok), &jwt, err, sizeof err), EVP_ERR_JWT_EXPIRED);
  ck_assert_ptr_null(jwt);
  evp_free(tok);
  evp_jwt_verifier_destroy(v);
  evp_jwt_signer_destroy(s);
  evp_keyring_destroy(kr);
}
END_TEST

int main(void) {
  Suite *s = suite_create("portability");
  TCase *tc = tcase_create("portability");
  tcase_add_test(tc, crc32c_known_answers_at_every_alignment);
  tcase_add_test(tc, base64url_and_uuid_text_are_byte_order_free);
  tcase_add_test(tc, uuid7_time_prefix_is_big_endian_milliseconds);
  tcase_add_test(tc, event_time_past_2038);
  tcase_add_test(tc, retry_after_http_date_on_every_target);
  tcase_add_test(tc, token_lifetime_past_2038);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
