/* Tokens without a server: sign an HS256 access token with a keyring and
 * verify it, as the token issuer and the authorizer of the pipeline do
 * (docs/tokens.md). The key id ("v1") travels in the token's `kid`, so keys
 * can be rotated while old tokens stay verifiable. The smallest libevpipe
 * program; it talks to no server.
 *
 *   ./build/examples/c/tokens
 */
#include <stdio.h>
#include <string.h>
#include <evpipe/evpipe.h>

int main(void) {
  static const unsigned char key[32] = "an-example-key-of-32-bytes-long!";
  char err[256];
  int rc = 1;
  char *tok = NULL;
  evp_jwt_signer_t *s = NULL;
  evp_jwt_verifier_t *v = NULL;
  evp_jwt_t *jwt = NULL;

  if (evp_version() != EVP_VERSION)
    fprintf(stderr, "note: built against %s, running %s\n", EVP_VERSION_STR, evp_version_str());
  evp_keyring_t *kr = evp_keyring_new();
  if (!kr || evp_keyring_add(kr, "v1", key, sizeof key, err, sizeof err) != EVP_OK) goto out;
  if (!(s = evp_jwt_signer_new(kr, err, sizeof err)) ||
      evp_jwt_sign(s, "hello-client", "events", NULL, &tok, err, sizeof err) != EVP_OK)
    goto out;
  if (!(v = evp_jwt_verifier_new(kr, err, sizeof err)) ||
      evp_jwt_verifier_set_audience(v, "events") != EVP_OK ||
      evp_jwt_verify(v, tok, strlen(tok), &jwt, err, sizeof err) != EVP_OK)
    goto out;
  printf("libevpipe %s: token for %s verified\n", evp_version_str(), evp_jwt_claim_str(jwt, "sub"));
  rc = 0;
out:
  if (rc) fprintf(stderr, "hello: %s\n", err);
  evp_jwt_destroy(jwt);
  evp_jwt_verifier_destroy(v);
  evp_jwt_signer_destroy(s);
  evp_free(tok);
  evp_keyring_destroy(kr);
  return rc;
}
