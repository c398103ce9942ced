/* Growable byte buffer: doubling growth, overflow-checked. */
#include <stdlib.h>
#include "lake/lake_buf.h"

evp_err_t evp__lbuf_reserve(evp__lbuf_t *b, size_t extra) {
  if (extra <= b->cap - b->len) return EVP_OK;
  if (extra > SIZE_MAX / 2 - b->len) return EVP_ERR_TOO_LARGE;
  size_t need = b->len + extra;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap *= 2;
  uint8_t *p = realloc(b->p, cap);
  if (!p) return EVP_ERR_NOMEM;
  b->p = p;
  b->cap = cap;
  return EVP_OK;
}

evp_err_t evp__lbuf_put(evp__lbuf_t *b, const void *d, size_t n) {
  evp_err_t e = evp__lbuf_reserve(b, n);
  if (e != EVP_OK) return e;
  evp__lbuf_raw(b, d, n);
  return EVP_OK;
}

void evp__lbuf_free(evp__lbuf_t *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}
