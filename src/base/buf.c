/* Growable byte buffer: doubling growth, overflow-checked, optionally
 * bounded and wiping; sticky appenders for text. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "base/buf.h"

/* A secret buffer moves by copy: realloc could leave the old bytes in freed
 * memory. */
static uint8_t *regrow(evp__buf_t *b, size_t cap) {
  if (!b->secret) return realloc(b->p, cap);
  uint8_t *p = malloc(cap);
  if (p && b->p) {
    memcpy(p, b->p, b->len);
    evp__wipe(b->p, b->cap);
    free(b->p);
  }
  return p;
}

evp_err_t evp__buf_reserve(evp__buf_t *b, size_t extra) {
  if (extra <= b->cap - b->len) return EVP_OK;
  size_t max = b->max ? b->max : SIZE_MAX / 2;
  if (b->len > max || extra > max - b->len) return EVP_ERR_TOO_LARGE;
  size_t need = b->len + extra;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap *= 2;
  if (cap > max) cap = need; /* a bounded buffer never holds more than it may use */
  uint8_t *p = regrow(b, cap);
  if (!p) return EVP_ERR_NOMEM;
  b->p = p;
  b->cap = cap;
  return EVP_OK;
}

evp_err_t evp__buf_put(evp__buf_t *b, const void *d, size_t n) {
  evp_err_t e = evp__buf_reserve(b, n);
  if (e != EVP_OK) return e;
  evp__buf_raw(b, d, n);
  return EVP_OK;
}

void evp__buf_free(evp__buf_t *b) {
  if (b->p && b->secret) evp__wipe(b->p, b->cap);
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0; /* max and secret are kept: they belong to the use */
  b->err = EVP_OK;
}

char *evp__buf_take(evp__buf_t *b, size_t *len) {
  char *p = NULL;
  if (b->err == EVP_OK) {
    p = (char *)b->p;
    if (len) *len = b->len;
    b->p = NULL;
  }
  evp__buf_free(b);
  return p;
}

/* Room for @p n bytes of text and the NUL after them: the limit is on the
 * text, so a bounded buffer may hold max + 1 bytes. */
static evp_err_t reserve_text(evp__buf_t *b, size_t n) {
  size_t max = b->max;
  if (n >= SIZE_MAX / 2 || (max && (b->len > max || n > max - b->len))) return EVP_ERR_TOO_LARGE;
  if (max && max < SIZE_MAX) b->max = max + 1;
  evp_err_t e = evp__buf_reserve(b, n + 1);
  b->max = max;
  return e;
}

evp_err_t evp__buf_add(evp__buf_t *b, const void *d, size_t n) {
  if (b->err != EVP_OK) return b->err;
  evp_err_t e = reserve_text(b, n);
  if (e != EVP_OK) return b->err = e;
  evp__buf_raw(b, d, n);
  b->p[b->len] = '\0';
  return EVP_OK;
}

evp_err_t evp__buf_adds(evp__buf_t *b, const char *s) { return evp__buf_add(b, s, strlen(s)); }

evp_err_t evp__buf_addf(evp__buf_t *b, const char *fmt, ...) {
  if (b->err != EVP_OK) return b->err;
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return b->err = EVP_ERR_INVALID_ARG;
  if ((size_t)n < sizeof small) return evp__buf_add(b, small, (size_t)n);
  /* Longer than the stack copy: format in place. */
  evp_err_t e = reserve_text(b, (size_t)n);
  if (e != EVP_OK) return b->err = e;
  va_start(ap, fmt);
  vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return EVP_OK;
}
