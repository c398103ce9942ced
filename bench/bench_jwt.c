/* JWT benchmark: HS256 sign and verify operations per second on one thread.
 * Prints one line per measurement: "<name> <ops/s> ops/s". bench/run_jwt.sh
 * runs it next to node jose doing the same work. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "evpipe/evpipe.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t fixed_clock(void *opaque) { return *(int64_t *)opaque; }

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 2.0;
  static const unsigned char key[32] = "bench-key-bench-key-bench-key-32";
  char err[256];
  int64_t t = 1700000000;
  evp_keyring_t *kr = evp_keyring_new();
  if (!kr || evp_keyring_add(kr, "v1", key, sizeof key, err, sizeof err) != EVP_OK) {
    fprintf(stderr, "keyring: %s\n", err);
    return 1;
  }
  evp_jwt_signer_t *s = evp_jwt_signer_new(kr, err, sizeof err);
  evp_jwt_verifier_t *v = evp_jwt_verifier_new(kr, err, sizeof err);
  if (!s || !v) return 1;
  evp_jwt_signer_set_issuer(s, "https://auth.example.com");
  evp_jwt_signer_set_clock(s, fixed_clock, &t);
  evp_jwt_verifier_set_clock(v, fixed_clock, &t);
  evp_jwt_verifier_set_audience(v, "events");
  evp_jwt_verifier_set_issuer(v, "https://auth.example.com");

  /* sign */
  char *tok = NULL;
  long n = 0;
  double t0 = now_s(), el;
  do {
    for (int i = 0; i < 1000; i++) {
      evp_free(tok);
      if (evp_jwt_sign(s, "client-0001", "events", NULL, &tok, err, sizeof err) != EVP_OK) {
        fprintf(stderr, "sign: %s\n", err);
        return 1;
      }
    }
    n += 1000;
  } while ((el = now_s() - t0) < secs);
  printf("sign %.0f ops/s\n", n / el);
  printf("token_bytes %zu\n", strlen(tok));

  /* verify, verdict only (no claims object) */
  size_t len = strlen(tok);
  n = 0;
  t0 = now_s();
  do {
    for (int i = 0; i < 1000; i++)
      if (evp_jwt_verify(v, tok, len, NULL, err, sizeof err) != EVP_OK) {
        fprintf(stderr, "verify: %s\n", err);
        return 1;
      }
    n += 1000;
  } while ((el = now_s() - t0) < secs);
  printf("verify %.0f ops/s\n", n / el);

  /* verify and keep the claims, then read sub (what a server does) */
  n = 0;
  t0 = now_s();
  do {
    for (int i = 0; i < 1000; i++) {
      evp_jwt_t *j;
      if (evp_jwt_verify(v, tok, len, &j, err, sizeof err) != EVP_OK) return 1;
      evp_jwt_destroy(j);
    }
    n += 1000;
  } while ((el = now_s() - t0) < secs);
  printf("verify_claims %.0f ops/s\n", n / el);

  evp_free(tok);
  evp_jwt_signer_destroy(s);
  evp_jwt_verifier_destroy(v);
  evp_keyring_destroy(kr);
  return 0;
}
