/* Small helpers of the AWS client: standard base64, identifiers, clocks.
 * (Request bodies are built in the one buffer type, base/buf.h, with
 * secret set so that what they held is wiped.) */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "aws/aws_int.h"
#include "base/base.h"
#include "json/json.h"

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t evp__aws_b64_enc_len(size_t n) { return (n + 2) / 3 * 4; }

void evp__aws_b64_encode(const unsigned char *in, size_t n, char *out) {
  size_t i = 0, o = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = B64[v >> 18];
    out[o++] = B64[(v >> 12) & 63];
    out[o++] = B64[(v >> 6) & 63];
    out[o++] = B64[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    out[o++] = B64[v >> 18];
    out[o++] = B64[(v >> 12) & 63];
    out[o++] = '=';
    out[o++] = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    out[o++] = B64[v >> 18];
    out[o++] = B64[(v >> 12) & 63];
    out[o++] = B64[(v >> 6) & 63];
    out[o++] = '=';
  }
  out[o] = '\0';
}

static int b64v(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

evp_err_t evp__aws_b64_decode(const char *in, size_t len, unsigned char *out, size_t *out_len) {
  *out_len = 0;
  if (len % 4)
    return EVP_ERR_BASE64;
  size_t o = 0;
  for (size_t i = 0; i < len; i += 4) {
    int a = b64v(in[i]), b = b64v(in[i + 1]), c, d;
    if (a < 0 || b < 0)
      return EVP_ERR_BASE64;
    int last = i + 4 == len;
    if (last && in[i + 2] == '=' && in[i + 3] == '=') {
      if (b & 15)
        return EVP_ERR_BASE64; /* non-canonical trailing bits */
      out[o++] = (unsigned char)(a << 2 | b >> 4);
      break;
    }
    c = b64v(in[i + 2]);
    if (c < 0)
      return EVP_ERR_BASE64;
    if (last && in[i + 3] == '=') {
      if (c & 3)
        return EVP_ERR_BASE64;
      out[o++] = (unsigned char)(a << 2 | b >> 4);
      out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
      break;
    }
    d = b64v(in[i + 3]);
    if (d < 0)
      return EVP_ERR_BASE64;
    out[o++] = (unsigned char)(a << 2 | b >> 4);
    out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
    out[o++] = (unsigned char)((c & 3) << 6 | d);
  }
  *out_len = o;
  return EVP_OK;
}

int evp__aws_ident_ok(const char *s, size_t max) {
  if (!s)
    return 0;
  size_t n = strlen(s);
  if (!n || n > max || !evp__utf8_valid(s, n))
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      return 0;
  return 1;
}

int64_t evp__aws_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void evp__aws_sleep_ms(int64_t ms) {
  if (ms <= 0)
    return;
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}
