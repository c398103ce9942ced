/* The growable byte buffer of libevpipe: doubling growth, overflow-checked,
 * with an optional size limit so that input-driven growth (a response
 * body, a request) is bounded where it is declared. Zero-initialise it
 * (`evp__buf_t b = {0};`); set max (and secret) before the first write.
 *
 * Two ways to write: evp__buf_reserve / evp__buf_put return each failure
 * (binary encoders that check every step), and the appenders evp__buf_add*
 * are sticky, for text built in many small pieces (a JSON body, a metrics
 * page): the first failure is kept in b->err, later appends do nothing, and
 * the caller checks once at the end. The appenders keep a NUL after the
 * last byte (not counted in len), so b->p is also a C string. */
#ifndef EVP_BASE_BUF_H
#define EVP_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "base/base.h"

typedef struct evp__buf {
  uint8_t *p;
  size_t len;
  size_t cap;
  size_t max;    /* largest len allowed; 0: no limit but SIZE_MAX / 2 */
  evp_err_t err; /* the first failure of an appender; EVP_OK while none */
  int secret;    /* the bytes may be secret (request bodies with keys): growth
                    copies instead of realloc and wipes the old block, and
                    evp__buf_free wipes before freeing */
} evp__buf_t;

/* Make room for @p extra more bytes: EVP_ERR_NOMEM, or EVP_ERR_TOO_LARGE
 * past b->max (nothing is changed then). */
evp_err_t evp__buf_reserve(evp__buf_t *b, size_t extra);
evp_err_t evp__buf_put(evp__buf_t *b, const void *d, size_t n);
/* Free the bytes (wiped first when b->secret); the buffer is empty and
 * reusable, keeping max and secret, and err is cleared. */
void evp__buf_free(evp__buf_t *b);
/* Hand the bytes (NUL-terminated when written by the appenders) to the
 * caller, who frees them with free(); NULL when b->err is set (the bytes
 * are freed then) or nothing was written. The buffer is left empty. */
char *evp__buf_take(evp__buf_t *b, size_t *len);

/* Sticky appenders: return b->err after the call. */
evp_err_t evp__buf_add(evp__buf_t *b, const void *d, size_t n);
evp_err_t evp__buf_adds(evp__buf_t *b, const char *s); /* strlen(s) bytes */
evp_err_t evp__buf_addf(evp__buf_t *b, const char *fmt, ...) EVP__PRINTF(2, 3);

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
