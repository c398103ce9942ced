/* Growable byte buffer: doubling growth, overflow-checked. */
#include <stdlib.h>
#include "base/buf.h"

evp_err_t evp__buf_reserve(evp__buf_t *b, size_t extra) {
  if (extra <= b->cap - b->len) return EVP_OK;
  size_t max = b->max ? b->max : SIZE_MAX / 2;
  if (b->len > max || extra > max - b->len) return EVP_ERR_TOO_LARGE;
  size_t need = b->len + extra;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap *= 2;
  if (cap > max) cap = need; /* a bounded buffer never holds more than it may use */
  uint8_t *p = realloc(b->p, cap);
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
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0; /* max is kept: the bound belongs to the use */
}
