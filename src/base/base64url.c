/* base64url without padding (RFC 4648 section 5), strict on decode: the
 * only accepted form is the canonical one, so a token has exactly one
 * encoding and signatures cannot be malleated by trailing bits. */
#include <stdint.h>
#include "base/base.h"
#include "evpipe/jwt.h"

static const char enc_tab[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 0xFF marks every byte outside the URL-safe alphabet, '=' included. */
static const unsigned char dec_tab[256] = {
#define X 0xFF
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, 62, X, X,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X, X, X, X, X, X,
    X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X, X, X, X, 63,
    X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
#undef X
};

size_t evp_base64url_encoded_len(size_t n) { return (n / 3) * 4 + ((n % 3) ? (n % 3) + 1 : 0); }

size_t evp_base64url_encode(const void *in, size_t n, char *out) {
  const unsigned char *p = in;
  char *o = out;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8) | p[i + 2];
    o[0] = enc_tab[v >> 18];
    o[1] = enc_tab[(v >> 12) & 63];
    o[2] = enc_tab[(v >> 6) & 63];
    o[3] = enc_tab[v & 63];
    o += 4;
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)p[i] << 16;
    *o++ = enc_tab[v >> 18];
    *o++ = enc_tab[(v >> 12) & 63];
  } else if (n - i == 2) {
    uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8);
    *o++ = enc_tab[v >> 18];
    *o++ = enc_tab[(v >> 12) & 63];
    *o++ = enc_tab[(v >> 6) & 63];
  }
  *o = '\0';
  return (size_t)(o - out);
}

evp_err_t evp_base64url_decode(const char *in, size_t len, unsigned char *out, size_t *outlen) {
  const unsigned char *p = (const unsigned char *)in;
  unsigned char *o = out;
  size_t i = 0;
  if (!in && len)
    return EVP_ERR_INVALID_ARG;
  if (len % 4 == 1)
    return EVP_ERR_BASE64;
  for (; i + 4 <= len; i += 4) {
    uint32_t a = dec_tab[p[i]], b = dec_tab[p[i + 1]], c = dec_tab[p[i + 2]], d = dec_tab[p[i + 3]];
    if ((a | b | c | d) & 0x80)
      return EVP_ERR_BASE64;
    uint32_t v = (a << 18) | (b << 12) | (c << 6) | d;
    o[0] = (unsigned char)(v >> 16);
    o[1] = (unsigned char)(v >> 8);
    o[2] = (unsigned char)v;
    o += 3;
  }
  size_t rest = len - i;
  if (rest) {
    uint32_t a = dec_tab[p[i]], b = dec_tab[p[i + 1]], c = rest == 3 ? dec_tab[p[i + 2]] : 0;
    if ((a | b | c) & 0x80)
      return EVP_ERR_BASE64;
    /* Non-zero bits past the last whole byte would give a second spelling
     * of the same bytes: refuse them. */
    if (rest == 2 ? (b & 0x0F) : (c & 0x03))
      return EVP_ERR_BASE64;
    uint32_t v = (a << 18) | (b << 12) | (c << 6);
    *o++ = (unsigned char)(v >> 16);
    if (rest == 3)
      *o++ = (unsigned char)(v >> 8);
  }
  if (outlen)
    *outlen = (size_t)(o - out);
  return EVP_OK;
}
