/* The clients file of `evpipe local` (--clients F): a JSON array of
 * {"client_id","client_secret","audiences"}, mode 0600. A missing file is
 * created with one generated client whose credentials are shown once. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "base/base.h"
#include "local/local.h"
#include "base/files.h"

#define CLIENTS_FILE_MAX (4u * 1024u * 1024u)

/* Write a new file with one random client; print its credentials. */
static evp_err_t create_default(const char *path, FILE *announce, char *errstr,
                                size_t errstr_size) {
  unsigned char idr[9], sec[32];
  char id[16], secret[48], json[256];
  if (evp__random(idr, sizeof idr) != EVP_OK || evp__random(sec, sizeof sec) != EVP_OK)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL, "no randomness");
  memcpy(id, "c-", 2);
  evp_base64url_encode(idr, sizeof idr, id + 2);
  evp_base64url_encode(sec, sizeof sec, secret);
  OPENSSL_cleanse(sec, sizeof sec);
  /* base64url ids may start with '-' or '_': fine for [A-Za-z0-9._~-]. */
  int n = snprintf(json, sizeof json,
                   "[{\"client_id\":\"%s\",\"client_secret\":\"%s\",\"audiences\":[\"%s\"]}]\n", id,
                   secret, EVP__LOCAL_AUDIENCE);
  evp_err_t e = evp__file_write_secret(path, json, (size_t)n, 1, errstr, errstr_size);
  OPENSSL_cleanse(json, sizeof json);
  if (e == EVP_OK && announce) {
    /* Shown once, on stdout only (logs never carry secrets). */
    fprintf(announce,
            "Created %s with a new client (shown only this once):\n"
            "  client_id:     %s\n  client_secret: %s\n  audience:      %s\n",
            path, id, secret, EVP__LOCAL_AUDIENCE);
    fflush(announce);
  }
  OPENSSL_cleanse(secret, sizeof secret);
  return e == EVP_ERR_STATE ? EVP_OK : e; /* created meanwhile by someone else: load it */
}

evp_err_t evp__local_clients_load(const char *path, FILE *announce, evp__clients_t **out,
                                  char *errstr, size_t errstr_size) {
  *out = NULL;
  evp_err_t e = evp__local_clients_read(path, out, NULL, errstr, errstr_size);
  if (e == EVP_ERR_IO && errno == ENOENT) {
    if ((e = create_default(path, announce, errstr, errstr_size)) != EVP_OK) return e;
    e = evp__local_clients_read(path, out, NULL, errstr, errstr_size);
  }
  return e;
}

evp_err_t evp__local_clients_read(const char *path, evp__clients_t **out, struct stat *st,
                                  char *errstr, size_t errstr_size) {
  char *buf;
  size_t len;
  *out = NULL;
  evp_err_t e = evp__file_read(path, CLIENTS_FILE_MAX, 1, &buf, &len, st, errstr, errstr_size);
  if (e != EVP_OK) return e;
  char why[200];
  e = evp__clients_parse(buf, len, out, why, sizeof why);
  OPENSSL_cleanse(buf, len);
  free(buf);
  if (e != EVP_OK) return evp__seterr(errstr, errstr_size, e, "%s: %s", path, why);
  return EVP_OK;
}
