/* Suite: the crypto backend (EVPIPE_CRYPTO=openssl or mbedtls, src/base/crypto.c
 * and hmac.c): randomness, wiping, and HMAC-SHA256 at the edges the RFC 4231
 * vectors of test_jwt do not reach. The same checks run in both builds. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "base/base.h"
#include "evpipe/jwt.h"

static size_t distinct_bytes(const unsigned char *p, size_t n) {
  unsigned char seen[256] = {0};
  size_t d = 0;
  for (size_t i = 0; i < n; i++) d += !seen[p[i]]++;
  return d;
}

START_TEST(random_fills_large_buffers_with_fresh_bytes) {
  /* 5000 bytes: more than one 256-byte getentropy() call, with a remainder. */
  enum { N = 5000 };
  static unsigned char a[N], b[N];
  memset(a, 0, sizeof a);
  memset(b, 0, sizeof b);
  ck_assert_int_eq(evp__random(a, N), EVP_OK);
  ck_assert_int_eq(evp__random(b, N), EVP_OK);
  ck_assert(memcmp(a, b, N) != 0);
  /* The tail is filled too, and looks uniform: in 5000 random bytes every
   * value appears (the chance that one is missing is 256 * e^-19.5, 1e-6). */
  static const unsigned char zero[64];
  ck_assert(memcmp(a + N - 64, zero, 64) != 0);
  ck_assert_uint_ge(distinct_bytes(a, N), 250);
  ck_assert_uint_ge(distinct_bytes(a + N - 300, 300), 150);
  ck_assert_int_eq(evp__random(a, 0), EVP_OK);
}
END_TEST

START_TEST(random_differs_in_a_forked_child) {
  unsigned char parent[32], child[32];
  int fd[2];
  ck_assert_int_eq(pipe(fd), 0);
  ck_assert_int_eq(evp__random(parent, sizeof parent), EVP_OK); /* state exists before fork */
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    unsigned char c[32];
    int ok = evp__random(c, sizeof c) == EVP_OK && write(fd[1], c, sizeof c) == (ssize_t)sizeof c;
    _exit(ok ? 0 : 1);
  }
  close(fd[1]);
  ck_assert_int_eq(evp__random(parent, sizeof parent), EVP_OK);
  ck_assert_int_eq(read(fd[0], child, sizeof child), (ssize_t)sizeof child);
  close(fd[0]);
  int st = 0;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  ck_assert(memcmp(parent, child, sizeof child) != 0);
}
END_TEST

START_TEST(wipe_zeroes_and_tolerates_null) {
  unsigned char s[100];
  memset(s, 0xA5, sizeof s);
  evp__wipe(s + 1, 98);
  ck_assert_uint_eq(s[0], 0xA5);
  ck_assert_uint_eq(s[99], 0xA5);
  for (size_t i = 1; i < 99; i++) ck_assert_uint_eq(s[i], 0);
  evp__wipe(NULL, 10);
  evp__wipe(s, 0);
  ck_assert_uint_eq(s[0], 0xA5);
}
END_TEST

static void hex(const unsigned char *p, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
}

START_TEST(hmac_edges) {
  unsigned char mac[32], mac2[32];
  char h[65];
  /* Empty key and empty message (NULL, 0): HMAC-SHA256("", ""). */
  ck_assert_int_eq(evp_hmac_sha256(NULL, 0, NULL, 0, mac), EVP_OK);
  hex(mac, 32, h);
  ck_assert_str_eq(h, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  /* RFC 2104 at the block size: a 64-byte key is used as it is, a 65-byte
   * key is hashed first; both paths agree with the prepared key's. */
  unsigned char key[65];
  for (size_t i = 0; i < sizeof key; i++) key[i] = (unsigned char)i;
  for (size_t kl = 63; kl <= 65; kl++) {
    ck_assert_int_eq(evp_hmac_sha256(key, kl, "abc", 3, mac), EVP_OK);
    evp__hmac_key_t *k = evp__hmac_key_new(key, kl);
    ck_assert_ptr_nonnull(k);
    ck_assert_int_eq(evp__hmac_compute(k, "abc", 3, mac2), 0);
    ck_assert_int_eq(evp__hmac_compute(k, "abc", 3, mac2), 0); /* a prepared key is reusable */
    evp__hmac_key_free(k);
    ck_assert(memcmp(mac, mac2, 32) == 0);
  }
  /* Python: hmac.new(bytes(range(64)), b"abc", "sha256").hexdigest() */
  ck_assert_int_eq(evp_hmac_sha256(key, 64, "abc", 3, mac), EVP_OK);
  hex(mac, 32, h);
  ck_assert_str_eq(h, "6ab541b4869dca71c4ca11d8bb1b02533b789a557583161429292c7404bc21f6");
  /* and bytes(range(65)): longer than the block, so hashed first */
  ck_assert_int_eq(evp_hmac_sha256(key, 65, "abc", 3, mac), EVP_OK);
  hex(mac, 32, h);
  ck_assert_str_eq(h, "dfbffee4671bad00ed5d1e1999d55ed3b0cc774ac357f9ebf649c1612414fcec");
}
END_TEST

int main(void) {
  Suite *s = suite_create("crypto");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, random_fills_large_buffers_with_fresh_bytes);
  tcase_add_test(tc, random_differs_in_a_forked_child);
  tcase_add_test(tc, wipe_zeroes_and_tolerates_null);
  tcase_add_test(tc, hmac_edges);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
