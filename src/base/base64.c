/* Base64 (RFC 4648), one codec with two alphabets: base64url without
 * padding (section 5: tokens, the public evp_base64url_*), and the standard
 * alphabet with padding (section 4: AWS request and response bodies).
 * Both decoders are strict: only the canonical form is accepted, so a
 * token has exactly one encoding and signatures cannot be malleated by
 * trailing bits. */
#include <stdint.h>
#include "base/base.h"
#include "evpipe/jwt.h"

static const char url_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char std_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* One decoding table for both alphabets: the value in the low 6 bits, 0x40
 * on '+' and '/' (standard only), 0x80 on '-' and '_' (URL-safe only), both
 * on every other byte ('=' included). An alphabet refuses a byte by one of
 * the two bits. */
#define STD_ONLY 0x40u
#define URL_ONLY 0x80u
static const unsigned char dec_tab[256] = {
    0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0,
    0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0,
    0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0x7E, 0xC0, 0xBE, 0xC0, 0x7F,
    0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0,
    0xC0, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E,
    0x0F, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0xC0, 0xC0, 0xC0, 0xC0, 0xBF,
    0xC0, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2A, 0x2B, 0x2C, 0x2D, 0x2E, 0x2F, 0x30, 0x31, 0x32, 0x33, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0,
    0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0,
    0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0,
    0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0,
    0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0,
    0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0,
    0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0,
    0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0,
    0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0,
};

static size_t encode(const char *alpha, int pad, const void *in, size_t n, char *out) {
  const unsigned char *p = in;
  char *o = out;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8) | p[i + 2];
    o[0] = alpha[v >> 18];
    o[1] = alpha[(v >> 12) & 63];
    o[2] = alpha[(v >> 6) & 63];
    o[3] = alpha[v & 63];
    o += 4;
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)p[i] << 16;
    *o++ = alpha[v >> 18];
    *o++ = alpha[(v >> 12) & 63];
    if (pad) *o++ = '=', *o++ = '=';
  } else if (n - i == 2) {
    uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8);
    *o++ = alpha[v >> 18];
    *o++ = alpha[(v >> 12) & 63];
    *o++ = alpha[(v >> 6) & 63];
    if (pad) *o++ = '=';
  }
  *o = '\0';
  return (size_t)(o - out);
}

/* Unpadded text of the alphabet that does not have the @p refuse bit. */
static evp_err_t decode(unsigned refuse, const char *in, size_t len, unsigned char *out,
                        size_t *outlen) {
  const unsigned char *p = (const unsigned char *)in;
  unsigned char *o = out;
  size_t i = 0;
  if (len % 4 == 1) return EVP_ERR_BASE64;
  for (; i + 4 <= len; i += 4) {
    uint32_t a = dec_tab[p[i]], b = dec_tab[p[i + 1]], c = dec_tab[p[i + 2]], d = dec_tab[p[i + 3]];
    if ((a | b | c | d) & refuse) return EVP_ERR_BASE64;
    uint32_t v = ((a & 63) << 18) | ((b & 63) << 12) | ((c & 63) << 6) | (d & 63);
    o[0] = (unsigned char)(v >> 16);
    o[1] = (unsigned char)(v >> 8);
    o[2] = (unsigned char)v;
    o += 3;
  }
  size_t rest = len - i;
  if (rest) {
    uint32_t a = dec_tab[p[i]], b = dec_tab[p[i + 1]], c = rest == 3 ? dec_tab[p[i + 2]] : 0;
    if ((a | b | c) & refuse) return EVP_ERR_BASE64;
    a &= 63, b &= 63, c &= 63;
    /* Non-zero bits past the last whole byte would give a second spelling
     * of the same bytes: refuse them. */
    if (rest == 2 ? (b & 0x0F) : (c & 0x03)) return EVP_ERR_BASE64;
    uint32_t v = (a << 18) | (b << 12) | (c << 6);
    *o++ = (unsigned char)(v >> 16);
    if (rest == 3) *o++ = (unsigned char)(v >> 8);
  }
  if (outlen) *outlen = (size_t)(o - out);
  return EVP_OK;
}

size_t evp_base64url_encoded_len(size_t n) { return (n / 3) * 4 + ((n % 3) ? (n % 3) + 1 : 0); }

size_t evp_base64url_encode(const void *in, size_t n, char *out) {
  return encode(url_alphabet, 0, in, n, out);
}

evp_err_t evp_base64url_decode(const char *in, size_t len, unsigned char *out, size_t *outlen) {
  if (!in && len) return EVP_ERR_INVALID_ARG;
  return decode(STD_ONLY, in, len, out, outlen);
}

size_t evp__base64_encoded_len(size_t n) { return (n + 2) / 3 * 4; }

size_t evp__base64_encode(const void *in, size_t n, char *out) {
  return encode(std_alphabet, 1, in, n, out);
}

evp_err_t evp__base64_decode(const char *in, size_t len, unsigned char *out, size_t *outlen) {
  if (outlen) *outlen = 0;
  if (len % 4) return EVP_ERR_BASE64;
  /* The padding is required and says how many bytes the last group holds;
   * without it the text is the unpadded form the decoder reads. */
  if (len && in[len - 1] == '=') len -= in[len - 2] == '=' ? 2 : 1;
  return decode(URL_ONLY, in, len, out, outlen);
}
