/* Request bodies: {"events":[e1,e2,...]} built into the slot's reused buffer, and
 * gzip-compressed (zlib, reused stream) when compression=gzip. */
#include <stdlib.h>
#include <string.h>
#include "client/client_int.h"

static int grow(void **buf, size_t *cap, size_t need) {
  if (*cap >= need) return 0;
  size_t n = *cap ? *cap : 65536;
  while (n < need) n *= 2;
  void *p = realloc(*buf, n);
  if (!p) return -1;
  *buf = p;
  *cap = n;
  return 0;
}

evp_err_t evp__client_batch_build(evp_client_t *c, evp__xfer *x, const void **body, size_t *len) {
  const evp__list *batch = &x->batch;
  size_t need = 14 + batch->n;
  for (evp__item *it = batch->head; it; it = it->next) need += it->len;
  if (grow((void **)&x->body, &x->body_cap, need)) return EVP_ERR_NOMEM;
  char *o = x->body;
  memcpy(o, "{\"events\":[", 11);
  o += 11;
  for (evp__item *it = batch->head; it; it = it->next) {
    if (it != batch->head) *o++ = ',';
    memcpy(o, it->json, it->len);
    o += it->len;
  }
  memcpy(o, "]}", 2);
  o += 2;
  size_t n = (size_t)(o - x->body);
  EVP__INC(c->st.bytes_body, n);
  if (c->conf->compression != EVP__COMP_GZIP) {
    *body = x->body;
    *len = n;
    return EVP_OK;
  }
  if (!c->zs_ready) {
    memset(&c->zs, 0, sizeof c->zs);
    /* windowBits 15 + 16: gzip framing. Level 1: the sender must keep up
     * with evp_send; most of the gain comes at the fastest level. */
    if (deflateInit2(&c->zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      return EVP_ERR_NOMEM;
    c->zs_ready = 1;
  } else if (deflateReset(&c->zs) != Z_OK) {
    return EVP_ERR_INTERNAL;
  }
  size_t bound = deflateBound(&c->zs, (uLong)n) + 32;
  if (grow((void **)&x->zbody, &x->zbody_cap, bound)) return EVP_ERR_NOMEM;
  c->zs.next_in = (Bytef *)x->body;
  c->zs.avail_in = (uInt)n;
  c->zs.next_out = x->zbody;
  c->zs.avail_out = (uInt)x->zbody_cap;
  if (deflate(&c->zs, Z_FINISH) != Z_STREAM_END) return EVP_ERR_INTERNAL;
  *body = x->zbody;
  *len = x->zbody_cap - c->zs.avail_out;
  return EVP_OK;
}
