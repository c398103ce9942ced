/* Growable byte buffer used by the lake writer for page bodies, page headers
 * and the footer. Internal. */
#ifndef EVP_LAKE_LAKE_BUF_H
#define EVP_LAKE_LAKE_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "evpipe/error.h"

typedef struct evp__lbuf {
  uint8_t *p;
  size_t len;
  size_t cap;
} evp__lbuf_t;

/* Make room for @p extra more bytes (EVP_ERR_NOMEM / EVP_ERR_TOO_LARGE). */
evp_err_t evp__lbuf_reserve(evp__lbuf_t *b, size_t extra);
evp_err_t evp__lbuf_put(evp__lbuf_t *b, const void *d, size_t n);
void evp__lbuf_free(evp__lbuf_t *b);

/* The unchecked writers below require a prior evp__lbuf_reserve. */
static inline void evp__lbuf_u8(evp__lbuf_t *b, uint8_t v) { b->p[b->len++] = v; }
static inline void evp__lbuf_le32(evp__lbuf_t *b, uint32_t v) {
  for (int i = 0; i < 4; i++) b->p[b->len++] = (uint8_t)(v >> (8 * i));
}
static inline void evp__lbuf_le64(evp__lbuf_t *b, uint64_t v) {
  for (int i = 0; i < 8; i++) b->p[b->len++] = (uint8_t)(v >> (8 * i));
}
static inline void evp__lbuf_raw(evp__lbuf_t *b, const void *d, size_t n) {
  if (n) memcpy(b->p + b->len, d, n);
  b->len += n;
}

#endif /* EVP_LAKE_LAKE_BUF_H */
