/* Suite: the one JSON layer and the base helpers it stands on: the buffer's
 * sticky appenders and limits, the JSON string appender, the strict
 * scanner's member walk with located errors (the SDK door check), the
 * tape parser and the scanner agreeing on what is JSON (one lexer), the
 * array splitter, the NUL-escape rewrite, base64 in both alphabets, hex
 * digits and UTF-8 cuts. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "base/buf.h"
#include "json/json.h"
#include "json/json_tape.h"
#include "evpipe/jwt.h"

START_TEST(buf_appenders_are_sticky_and_bounded) {
  evp__buf_t b = {.max = 8};
  ck_assert_int_eq(evp__buf_adds(&b, "abc"), EVP_OK);
  ck_assert_str_eq((const char *)b.p, "abc"); /* NUL-terminated, not counted */
  ck_assert_uint_eq(b.len, 3);
  ck_assert_int_eq(evp__buf_addf(&b, "%d%s", 12, "de"), EVP_OK);
  ck_assert_uint_eq(b.len, 7);
  ck_assert_int_eq(evp__buf_add(&b, "xy", 2), EVP_ERR_TOO_LARGE); /* 9 > max */
  ck_assert_int_eq(b.err, EVP_ERR_TOO_LARGE);
  ck_assert_int_eq(evp__buf_add(&b, "z", 1), EVP_ERR_TOO_LARGE); /* sticky, even if it fits */
  ck_assert_uint_eq(b.len, 7);
  ck_assert_ptr_null(evp__buf_take(&b, NULL)); /* a failed text is never handed out */
  ck_assert_int_eq(b.err, EVP_OK);
  ck_assert_uint_eq(b.max, 8); /* the bound belongs to the use */
  /* Exactly max bytes of text fit (the NUL is not counted). */
  ck_assert_int_eq(evp__buf_adds(&b, "12345678"), EVP_OK);
  size_t n = 0;
  char *s = evp__buf_take(&b, &n);
  ck_assert_str_eq(s, "12345678");
  ck_assert_uint_eq(n, 8);
  free(s);
}
END_TEST

START_TEST(buf_grows_formats_long_text_and_keeps_secrets_intact) {
  evp__buf_t b = {.secret = 1};
  char big[1000];
  memset(big, 'q', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  for (int i = 0; i < 20; i++) /* several moves of a secret buffer */
    ck_assert_int_eq(evp__buf_addf(&b, "[%d:%s]", i, big), EVP_OK);
  ck_assert_uint_eq(b.len, 20 * (sizeof big - 1) + 10 * 4 + 10 * 5);
  ck_assert(!memcmp(b.p, "[0:qqq", 6));
  ck_assert(!memcmp(b.p + b.len - 6, "qqqqq]", 6));
  ck_assert_uint_eq(strlen((const char *)b.p), b.len);
  evp__buf_free(&b);
  ck_assert_ptr_null(b.p);
  ck_assert_int_eq(b.secret, 1);
}
END_TEST

START_TEST(buf_json_str_quotes_and_escapes) {
  evp__buf_t b = {0};
  ck_assert_int_eq(evp__buf_json_str(&b, "a\"b\\c\n\x01", 7), EVP_OK);
  ck_assert_str_eq((const char *)b.p, "\"a\\\"b\\\\c\\u000a\\u0001\"");
  evp__buf_free(&b);
  evp__buf_t small = {.max = 10};
  ck_assert_int_eq(evp__buf_json_str(&small, "0123456789", 10), EVP_ERR_TOO_LARGE);
  ck_assert_int_eq(evp__buf_adds(&small, "x"), EVP_ERR_TOO_LARGE);
  evp__buf_free(&small);
}
END_TEST

typedef struct {
  size_t n;
  char names[8][16];
  evp__jstype_t types[8];
  int val_escaped[8];
} seen_t;

static void seen(void *opaque, const evp__jmember_t *m) {
  seen_t *s = opaque;
  if (s->n < 8) {
    memcpy(s->names[s->n], m->key, m->keylen < 15 ? m->keylen : 15);
    s->types[s->n] = m->type;
    s->val_escaped[s->n] = m->val_escaped;
  }
  s->n++;
}

START_TEST(scan_each_walks_members_and_locates_errors) {
  seen_t s = {0};
  evp__json_object_info_t info;
  const char *j = "  {\"a\":1,\"b\":\"x\\ny\",\"c\":[{\"d\":2}],\"e\":null} \n";
  ck_assert_int_eq(evp__json_scan_object_each(j, strlen(j), 8, seen, &s, &info), EVP_OK);
  ck_assert_uint_eq(s.n, 4);
  ck_assert_uint_eq(info.count, 4);
  ck_assert_uint_eq(info.start, 2);
  ck_assert_uint_eq(info.end, strlen(j) - 2); /* just past the closing brace */
  ck_assert_str_eq(s.names[1], "b");
  ck_assert_int_eq(s.types[1], EVP__JS_STRING);
  ck_assert_int_eq(s.val_escaped[1], 1);
  ck_assert_int_eq(s.val_escaped[0], 0);
  ck_assert_int_eq(s.types[2], EVP__JS_ARRAY);
  ck_assert_int_eq(s.types[3], EVP__JS_NULL);
  /* More members than any array the caller could size: each is handed over. */
  char many[8000] = "{";
  for (int i = 0; i < 600; i++) sprintf(many + strlen(many), "%s\"k%d\":%d", i ? "," : "", i, i);
  strcat(many, "}");
  memset(&s, 0, sizeof s);
  ck_assert_int_eq(evp__json_scan_object_each(many, strlen(many), 8, seen, &s, &info), EVP_OK);
  ck_assert_uint_eq(s.n, 600);
  /* Failures say where and why, with the lexer's words. */
  static const struct {
    const char *doc;
    evp_err_t err;
    size_t off;
    const char *msg;
  } bad[] = {
      {"{\"a\":1.}", EVP_ERR_JSON, 7, "bad number: digit expected after '.'"},
      {"{\"a\":1e}", EVP_ERR_JSON, 7, "bad number: digit expected in exponent"},
      {"{\"a\":\"\\ud800\"}", EVP_ERR_JSON, 6, "lone high surrogate"},
      {"{\"a\":\"\\udc00\"}", EVP_ERR_JSON, 6, "lone low surrogate"},
      {"{\"a\":\"\\x\"}", EVP_ERR_JSON, 6, "bad escape in string"},
      {"{\"a\":\"\xc0\x80\"}", EVP_ERR_JSON, 6, "invalid UTF-8 in string"},
      {"{\"a\":\"\t\"}", EVP_ERR_JSON, 6, "control character in string"},
      {"{\"a\":tru}", EVP_ERR_JSON, 5, "unexpected token"},
      {"{\"a\":1} x", EVP_ERR_JSON, 8, "trailing characters after the object"},
      {"{\"a\" 1}", EVP_ERR_JSON, 5, "expected ':'"},
      {"{\"a\":[[[1]]]}", EVP_ERR_TOO_DEEP, 7, "nesting too deep"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    memset(&s, 0, sizeof s);
    evp_err_t e = evp__json_scan_object_each(bad[i].doc, strlen(bad[i].doc), 3, seen, &s, &info);
    ck_assert_msg(e == bad[i].err, "%s: %d", bad[i].doc, (int)e);
    ck_assert_msg(info.err_off == bad[i].off, "%s: at %zu", bad[i].doc, info.err_off);
    ck_assert_str_eq(info.err_msg, bad[i].msg);
    ck_assert(!info.not_object);
  }
  ck_assert_int_eq(evp__json_scan_object_each(" [1]", 4, 8, seen, &s, &info), EVP_ERR_JSON);
  ck_assert(info.not_object);
  ck_assert_int_eq(evp__json_scan_object_each("", 0, 8, seen, &s, &info), EVP_ERR_JSON);
  ck_assert(info.not_object);
}
END_TEST

/* The scanner and the tape parser read JSON through one lexer: they accept
 * and refuse the same texts. */
START_TEST(scanner_and_tape_parser_agree) {
  static const char *vals[] = {"0",
                               "-0",
                               "1.5e3",
                               "1E-2",
                               "-1.25",
                               "01",
                               "1.",
                               ".5",
                               "+1",
                               "-",
                               "1e",
                               "1e+",
                               "2e-0",
                               "\"\"",
                               "\"a\\/\\b\\f\\n\\r\\t\\\"\\\\\"",
                               "\"\\u0041\\ud83d\\ude00\"",
                               "\"\\u12\"",
                               "\"\\ud800\"",
                               "\"\\udc00\"",
                               "\"\\ud800\\u0041\"",
                               "\"\xf0\x9f\x98\x80\"",
                               "\"\xed\xa0\x80\"",
                               "\"\xf4\x90\x80\x80\"",
                               "\"\xe0\x80\xaf\"",
                               "\"x\xe2\x82\"",
                               "\"\x7f\"",
                               "\"\x1f\"",
                               "true",
                               "false",
                               "null",
                               "nul",
                               "tru",
                               "[1,2]",
                               "[1 2]",
                               "[1,]",
                               "{\"a\":{}}",
                               "{\"a\"}",
                               "\"\\q\"",
                               "\"abc",
                               "[",
                               "\"\\",
                               "\"\\u00"};
  evp__jdoc d = {0};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    char doc[128];
    snprintf(doc, sizeof doc, "{\"v\":%s}", vals[i]);
    evp__jmember_t m[4];
    size_t n;
    int scan_ok = evp__json_scan_object(doc, strlen(doc), 8, m, 4, &n) == EVP_OK;
    int tape_ok = evp__json_parse(&d, doc, strlen(doc), 8) == EVP_OK;
    ck_assert_msg(scan_ok == tape_ok, "%s: scanner %d, tape %d", vals[i], scan_ok, tape_ok);
  }
  /* And decode escapes the same way. */
  const char *doc = "{\"v\":\"a\\u00e9\\ud83d\\ude00\\n\"}";
  evp__jmember_t m[2];
  size_t n;
  ck_assert_int_eq(evp__json_scan_object(doc, strlen(doc), 8, m, 2, &n), EVP_OK);
  char out[64];
  size_t l = evp__json_unescape(m[0].val, m[0].vallen, out);
  ck_assert_int_eq(evp__json_parse(&d, doc, strlen(doc), 8), EVP_OK);
  ck_assert_uint_eq(d.v[2].len, l);
  ck_assert(!memcmp(d.v[2].u.str, out, l));
  ck_assert_str_eq(out, "a\xc3\xa9\xf0\x9f\x98\x80\n");
  evp__jdoc_free(&d);
}
END_TEST

static int collect(void *opaque, size_t i, const char *v, size_t n) {
  char *out = opaque;
  sprintf(out + strlen(out), "%s%zu<%.*s>", i ? "," : "", i, (int)n, v);
  return 0;
}

static int stop_at_one(void *opaque, size_t i, const char *v, size_t n) {
  (void)opaque, (void)v, (void)n;
  return i == 1;
}

START_TEST(array_each_splits_trusted_arrays) {
  const char *arr = "[ {\"a\":\"],\\\"[\"} ,\n[1,[2]], \"x\\\\\" ,-1.5e3,true ]";
  char out[256] = "";
  ck_assert_uint_eq(evp__json_array_each(arr, strlen(arr), collect, out), 5);
  ck_assert_str_eq(out, "0<{\"a\":\"],\\\"[\"}>,1<[1,[2]]>,2<\"x\\\\\">,3<-1.5e3>,4<true>");
  ck_assert_uint_eq(evp__json_array_each("[]", 2, collect, out), 0);
  ck_assert_uint_eq(evp__json_array_each("[ ]", 3, NULL, NULL), 0);
  ck_assert_uint_eq(evp__json_array_each("[1,2,3]", 7, stop_at_one, NULL), (size_t)-1);
}
END_TEST

START_TEST(nul_escapes_are_replaced_inside_strings_only) {
  const char *j = "{\"a\\u0000\":\"x\\u0000y\",\"\\\\u0000\":\"\\\"\\u0000\"}";
  size_t n = 0;
  int copied = 0;
  char *c = evp__json_replace_nul_escapes(j, strlen(j), '#', &n, &copied);
  ck_assert(copied);
  ck_assert_ptr_nonnull(c);
  const char *want = "{\"a#\":\"x#y\",\"\\\\u0000\":\"\\\"#\"}";
  ck_assert_uint_eq(n, strlen(want));
  ck_assert(!memcmp(c, want, n));
  free(c);
  /* Outside strings, or none at all: no copy. */
  c = evp__json_replace_nul_escapes("{\"a\":1} \\u0000", 14, '#', &n, &copied);
  ck_assert_ptr_null(c);
  ck_assert(!copied);
  c = evp__json_replace_nul_escapes("\"abc\\u000", 9, '#', &n, &copied);
  ck_assert_ptr_null(c);
  ck_assert(!copied);
}
END_TEST

START_TEST(base64_one_codec_two_alphabets) {
  unsigned char in[64], out[64];
  for (size_t i = 0; i < sizeof in; i++) in[i] = (unsigned char)(i * 37 + 251);
  for (size_t n = 0; n < 20; n++) {
    char std[128], url[128];
    size_t sl = evp__base64_encode(in, n, std), ul = evp_base64url_encode(in, n, url), ol = 0;
    ck_assert_uint_eq(sl, evp__base64_encoded_len(n));
    ck_assert_uint_eq(ul, evp_base64url_encoded_len(n));
    ck_assert_int_eq(evp__base64_decode(std, sl, out, &ol), EVP_OK);
    ck_assert_uint_eq(ol, n);
    ck_assert(!memcmp(in, out, n));
    ck_assert_int_eq(evp_base64url_decode(url, ul, out, &ol), EVP_OK);
    ck_assert_uint_eq(ol, n);
    ck_assert(!memcmp(in, out, n));
  }
  size_t ol;
  char s[8];
  ck_assert_uint_eq(evp__base64_encode("\xfb\xff", 2, s), 4);
  ck_assert_str_eq(s, "+/8=");
  ck_assert_uint_eq(evp_base64url_encode("\xfb\xff", 2, s), 3);
  ck_assert_str_eq(s, "-_8");
  /* Each alphabet refuses the other's two characters, and padding rules. */
  ck_assert_int_eq(evp__base64_decode("-_8=", 4, out, &ol), EVP_ERR_BASE64);
  ck_assert_int_eq(evp_base64url_decode("+/8", 3, out, &ol), EVP_ERR_BASE64);
  ck_assert_int_eq(evp__base64_decode("+/8", 3, out, &ol), EVP_ERR_BASE64);    /* no padding */
  ck_assert_int_eq(evp_base64url_decode("-_8=", 4, out, &ol), EVP_ERR_BASE64); /* padding */
  ck_assert_int_eq(evp__base64_decode("+/9=", 4, out, &ol), EVP_ERR_BASE64);   /* trailing bits */
  ck_assert_int_eq(evp__base64_decode("QQ==", 4, out, &ol), EVP_OK);
  ck_assert_int_eq(evp__base64_decode("QR==", 4, out, &ol), EVP_ERR_BASE64);
  ck_assert_int_eq(evp__base64_decode("Q===", 4, out, &ol), EVP_ERR_BASE64);
  ck_assert_int_eq(evp__base64_decode("QQ=A", 4, out, &ol), EVP_ERR_BASE64);
  ck_assert_int_eq(evp__base64_decode("====", 4, out, &ol), EVP_ERR_BASE64);
}
END_TEST

START_TEST(hex_digits_and_utf8_cuts) {
  const char *digits = "0123456789abcdefABCDEF";
  for (int i = 0; digits[i]; i++)
    ck_assert_int_eq(evp__hex_value((unsigned char)digits[i]), i < 16 ? i : i - 6);
  for (unsigned c = 0; c < 256; c++)
    if (!strchr(digits, (int)c) || c == 0) ck_assert_int_eq(evp__hex_value(c), -1);
  ck_assert_int_eq(EVP__HEX_DIGITS[10], 'a');
  const char *s = "ab\xc3\xa9"
                  "cd\xf0\x9f\x98\x80";
  size_t n = strlen(s);
  ck_assert_uint_eq(evp__utf8_cut(s, n, 100), n);
  ck_assert_uint_eq(evp__utf8_cut(s, n, 3), 2); /* not inside the é */
  ck_assert_uint_eq(evp__utf8_cut(s, n, 4), 4);
  ck_assert_uint_eq(evp__utf8_cut(s, n, 8), 6); /* not inside the emoji */
  ck_assert_uint_eq(evp__utf8_cut(s, n, 0), 0);
  char o[8];
  ck_assert_uint_eq(evp__utf8_put(o, 0x1F600), 4);
  ck_assert(!memcmp(o, "\xf0\x9f\x98\x80", 4));
  ck_assert_uint_eq(evp__utf8_put(o, 0xE9), 2);
  ck_assert_uint_eq(evp__utf8_seq((const unsigned char *)o, (const unsigned char *)o + 2), 2);
  ck_assert_uint_eq(evp__utf8_seq((const unsigned char *)o, (const unsigned char *)o + 1), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("json_layer");
  TCase *t = tcase_create("core");
  tcase_add_test(t, buf_appenders_are_sticky_and_bounded);
  tcase_add_test(t, buf_grows_formats_long_text_and_keeps_secrets_intact);
  tcase_add_test(t, buf_json_str_quotes_and_escapes);
  tcase_add_test(t, scan_each_walks_members_and_locates_errors);
  tcase_add_test(t, scanner_and_tape_parser_agree);
  tcase_add_test(t, array_each_splits_trusted_arrays);
  tcase_add_test(t, nul_escapes_are_replaced_inside_strings_only);
  tcase_add_test(t, base64_one_codec_two_alphabets);
  tcase_add_test(t, hex_digits_and_utf8_cuts);
  suite_add_tcase(s, t);
  SRunner *r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
