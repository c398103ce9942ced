/* Small helpers of the AWS client: standard base64, a bounded body builder
 * that wipes what it held, clocks. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
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

void evp__aws_buf_init(evp__aws_buf *b, size_t max) {
  memset(b, 0, sizeof *b);
  b->max = max;
  b->ok = 1;
}

static int grow(evp__aws_buf *b, size_t add) {
  if (!b->ok)
    return 0;
  if (add > b->max || b->len > b->max - add) {
    b->ok = 0;
    return 0;
  }
  if (b->len + add + 1 <= b->cap)
    return 1;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + add + 1)
    cap *= 2;
  /* No realloc: the old block may hold a secret and must be wiped. */
  char *p = malloc(cap);
  if (!p) {
    b->ok = 0;
    return 0;
  }
  if (b->p) {
    memcpy(p, b->p, b->len);
    OPENSSL_cleanse(b->p, b->cap);
    free(b->p);
  }
  b->p = p;
  b->cap = cap;
  return 1;
}

void evp__aws_buf_raw(evp__aws_buf *b, const char *s, size_t n) {
  if (!grow(b, n))
    return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void evp__aws_buf_str(evp__aws_buf *b, const char *s) { evp__aws_buf_raw(b, s, strlen(s)); }

void evp__aws_buf_jstr(evp__aws_buf *b, const char *s, size_t n) {
  if (n > (SIZE_MAX - 3) / 6 || !grow(b, 6 * n + 2))
    return;
  b->p[b->len++] = '"';
  b->len += evp__json_escape(s, n, b->p + b->len);
  b->p[b->len++] = '"';
  b->p[b->len] = '\0';
}

void evp__aws_buf_free(evp__aws_buf *b) {
  if (b->p) {
    OPENSSL_cleanse(b->p, b->cap);
    free(b->p);
  }
  memset(b, 0, sizeof *b);
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

void evp__aws_sleep_ms(int64_t ms) {
  if (ms <= 0)
    return;
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}
