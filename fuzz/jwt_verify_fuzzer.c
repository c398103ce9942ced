/* libFuzzer target for the token verifier.
 *
 * Input byte 0 picks the mode:
 *   even: the rest is a token, verified as received from the network;
 *   odd:  the rest is "HEADER\nCLAIMS": both are signed with the test key and
 *         then verified, so the fuzzer reaches the claims checks behind the
 *         signature instead of stopping at it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "evpipe/evpipe.h"

static evp_keyring_t *kr;
static evp_jwt_verifier_t *ver;
static const unsigned char KEY[32] = "fuzz-key-fuzz-key-fuzz-key-fuzz!";
static int64_t fixed_clock(void *o) {
  (void)o;
  return 1700000000;
}

static void init(void) {
  kr = evp_keyring_new();
  evp_keyring_add(kr, NULL, KEY, sizeof KEY, NULL, 0);
  evp_keyring_add(kr, "k1", KEY, sizeof KEY, NULL, 0);
  ver = evp_jwt_verifier_new(kr, NULL, 0);
  evp_jwt_verifier_set_clock(ver, fixed_clock, NULL);
  evp_jwt_verifier_set_audience(ver, "events");
}

static void verify(const char *tok, size_t len) {
  char err[256];
  evp_jwt_t *jwt = NULL;
  if (evp_jwt_verify(ver, tok, len, &jwt, err, sizeof err) == EVP_OK) {
    int64_t v;
    (void)evp_jwt_claim_str(jwt, "sub");
    (void)evp_jwt_claim_int(jwt, "exp", &v);
    (void)evp_jwt_kid(jwt);
    if (strlen(evp_jwt_claims_json(jwt)) > len)
      abort(); /* claims can never be longer than the token that carried them */
    evp_jwt_destroy(jwt);
  } else if (jwt) {
    abort(); /* nothing partial on failure */
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!kr) init();
  if (size == 0) return 0;
  if (!(data[0] & 1)) {
    verify((const char *)data + 1, size - 1);
    return 0;
  }
  const uint8_t *nl = memchr(data + 1, '\n', size - 1);
  if (!nl || size > 16384) return 0;
  size_t hl = (size_t)(nl - data - 1), cl = size - 1 - hl - 1;
  char *tok = malloc(2 * size + 64);
  if (!tok) return 0;
  size_t n = evp_base64url_encode(data + 1, hl, tok);
  tok[n++] = '.';
  n += evp_base64url_encode(nl + 1, cl, tok + n);
  unsigned char mac[32];
  evp_hmac_sha256(KEY, sizeof KEY, tok, n, mac);
  tok[n++] = '.';
  n += evp_base64url_encode(mac, 32, tok + n);
  verify(tok, n);
  free(tok);
  return 0;
}
