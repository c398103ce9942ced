/* Bounded gunzip of request bodies (Content-Encoding: gzip). The output limit
 * is what stops a zip bomb: inflation stops at max_out + 1 bytes. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "server/server.h"

evp_err_t evp__gunzip(const void *in, size_t len, size_t max_out, char **out, size_t *outlen) {
  *out = NULL;
  *outlen = 0;
  if (len > UINT32_MAX || max_out >= UINT32_MAX) return EVP_ERR_TOO_LARGE;
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) /* 16: gzip wrapper only */
    return EVP_ERR_NOMEM;
  /* Start small (most bodies compress 5-10x) and grow up to the limit + 1. */
  size_t cap = len * 4 + 1024;
  if (cap > max_out + 1) cap = max_out + 1;
  /* Every allocation keeps EVP__REGEX_SLACK bytes past cap (the output's
   * strings are pattern subjects in place), zeroed after the output. */
  char *buf = malloc(cap + EVP__REGEX_SLACK);
  if (!buf) {
    inflateEnd(&z);
    return EVP_ERR_NOMEM;
  }
  z.next_in = (Bytef *)(uintptr_t)in;
  z.avail_in = (uInt)len;
  size_t have = 0;
  evp_err_t e = EVP_OK;
  for (;;) {
    z.next_out = (Bytef *)buf + have;
    z.avail_out = (uInt)(cap - have);
    int r = inflate(&z, Z_NO_FLUSH);
    have = cap - z.avail_out;
    if (r == Z_STREAM_END) break;
    if (r == Z_MEM_ERROR) {
      e = EVP_ERR_NOMEM;
      goto fail;
    }
    if (have > max_out) {
      e = EVP_ERR_TOO_LARGE;
      goto fail;
    }
    if (r != Z_OK && !(r == Z_BUF_ERROR && z.avail_out == 0)) {
      e = EVP_ERR_INVALID_ARG; /* corrupt, or truncated (no progress possible) */
      goto fail;
    }
    if (z.avail_out == 0) {
      size_t ncap = cap * 2 > max_out + 1 ? max_out + 1 : cap * 2;
      char *nb = realloc(buf, ncap + EVP__REGEX_SLACK);
      if (!nb) {
        e = EVP_ERR_NOMEM;
        goto fail;
      }
      buf = nb;
      cap = ncap;
    } else if (z.avail_in == 0) {
      e = EVP_ERR_INVALID_ARG; /* input ended before the gzip trailer */
      goto fail;
    }
  }
  if (have > max_out) {
    e = EVP_ERR_TOO_LARGE;
    goto fail;
  }
  if (z.avail_in != 0) {
    e = EVP_ERR_INVALID_ARG; /* trailing bytes or a second member: not ours */
    goto fail;
  }
  inflateEnd(&z);
  memset(buf + have, 0, EVP__REGEX_SLACK);
  *out = buf;
  *outlen = have;
  return EVP_OK;
fail:
  inflateEnd(&z);
  free(buf);
  return e;
}
