/* The growable byte buffer of libevpipe: doubling growth, overflow-checked,
 * with an optional size limit so that input-driven growth (a response
 * body, a request) is bounded where it is declared. Zero-initialise it
 * (`evp__buf_t b = {0};`); set max before the first write to bound it. */
#ifndef EVP_BASE_BUF_H
#define EVP_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "evpipe/error.h"

typedef struct evp__buf {
  uint8_t *p;
  size_t len;
  size_t cap;
  size_t max; /* largest len allowed; 0: no limit but SIZE_MAX / 2 */
} evp__buf_t;

/* Make room for @p extra more bytes: EVP_ERR_NOMEM, or EVP_ERR_TOO_LARGE
 * past b->max (nothing is changed then). */
evp_err_t evp__buf_reserve(evp__buf_t *b, size_t extra);
evp_err_t evp__buf_put(evp__buf_t *b, const void *d, size_t n);
void evp__buf_free(evp__buf_t *b);

/* The unchecked writers below require a prior evp__buf_reserve. */
static inline void evp__buf_u8(evp__buf_t *b, uint8_t v) { b->p[b->len++] = v; }
static inline void evp__buf_le32(evp__buf_t *b, uint32_t v) {
  for (int i = 0; i < 4; i++) b->p[b->len++] = (uint8_t)(v >> (8 * i));
}
static inline void evp__buf_le64(evp__buf_t *b, uint64_t v) {
  for (int i = 0; i < 8; i++) b->p[b->len++] = (uint8_t)(v >> (8 * i));
}
static inline void evp__buf_raw(evp__buf_t *b, const void *d, size_t n) {
  if (n) memcpy(b->p + b->len, d, n);
  b->len += n;
}

#endif /* EVP_BASE_BUF_H */
