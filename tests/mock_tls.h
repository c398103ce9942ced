/* A throw-away TLS identity for the test doubles that serve https
 * (client_mock_server's ms_start_tls, mock_aws's tls_cert_pem): a
 * self-signed P-256 certificate for CN=localhost, DNS name localhost and IP
 * 127.0.0.1, made with the openssl tool in a fresh directory under /tmp.
 * The https doubles are addressed as https://localhost:PORT: mbedTLS 2.28
 * (a libcurl built with it, scripts/build-static-client --tls mbedtls)
 * matches a certificate's DNS names only, not its IP addresses.
 *
 *   mock_tls_t t;
 *   if (mock_tls_make(&t) == 0) {
 *     ... t.cert_pem, t.key_pem (PEM text), t.cert_path (file, for a CA) ...
 *     mock_tls_remove(&t);
 *   }
 *
 * Test-only; not thread-safe (one identity per call, owned by the caller). */
#ifndef EVP_TESTS_MOCK_TLS_H
#define EVP_TESTS_MOCK_TLS_H
typedef struct {
  char dir[64];
  char cert_path[128];
  char key_path[128];
  char cert_pem[8192];
  char key_pem[8192];
} mock_tls_t;
/* 0, or -1 (no openssl tool, or I/O failure; nothing is left behind). */
int mock_tls_make(mock_tls_t *t);
/* Delete the directory and its files. */
void mock_tls_remove(mock_tls_t *t);
#endif /* EVP_TESTS_MOCK_TLS_H */
