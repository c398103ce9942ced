/* A throw-away TLS identity for the https test doubles (mock_tls.h). */
#define _POSIX_C_SOURCE 200809L
#include "mock_tls.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int slurp(const char *path, char *out, size_t n) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t got = fread(out, 1, n - 1, f);
  int full = !feof(f) && fgetc(f) != EOF;
  fclose(f);
  out[got] = '\0';
  return got && !full ? 0 : -1;
}

void mock_tls_remove(mock_tls_t *t) {
  unlink(t->cert_path);
  unlink(t->key_path);
  rmdir(t->dir);
}

int mock_tls_make(mock_tls_t *t) {
  memset(t, 0, sizeof *t);
  snprintf(t->dir, sizeof t->dir, "/tmp/evp-tls-XXXXXX");
  if (!mkdtemp(t->dir)) return -1;
  snprintf(t->cert_path, sizeof t->cert_path, "%s/cert.pem", t->dir);
  snprintf(t->key_path, sizeof t->key_path, "%s/key.pem", t->dir);
  char cmd[512];
  snprintf(
      cmd, sizeof cmd,
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
      "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout %s -out %s "
      ">/dev/null 2>&1",
      t->key_path, t->cert_path);
  if (system(cmd) != 0 || slurp(t->cert_path, t->cert_pem, sizeof t->cert_pem) != 0 ||
      slurp(t->key_path, t->key_pem, sizeof t->key_pem) != 0) {
    mock_tls_remove(t);
    return -1;
  }
  return 0;
}
