/* Request bodies: {"sent_at":"<now>","events":[e1,e2,...]} built into the slot's
 * reused buffer, and gzip-compressed (zlib, reused stream) when compression=gzip.
 * sent_at is the device's clock when the body is built (each attempt builds
 * its own), so the server can correct event times for the device's clock skew
 * (docs/protocol.md). */
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

#define SENT_AT_BYTES EVP__BATCH_SENT_AT

evp_err_t evp__client_batch_build(evp_client_t *c, evp__xfer *x, const void **body, size_t *len) {
  const evp__list *batch = &x->batch;
  size_t events = 0;
  for (evp__item *it = batch->head; it; it = it->next) events += it->len;
  /* {"events":[ ]} and the commas: the size the batch was filled to. */
  size_t plain = EVP__BATCH_FRAME + events + (batch->n ? batch->n - 1 : 0);
  /* A batch filled to within SENT_AT_BYTES of batch.max.bytes goes without
   * sent_at rather than over the limit (which may be the queue's, 256 KiB). */
  int with_sent = plain + SENT_AT_BYTES <= (size_t)c->conf->batch_max_bytes;
  if (grow((void **)&x->body, &x->body_cap, plain + SENT_AT_BYTES + 1)) return EVP_ERR_NOMEM;
  char *o = x->body;
  if (with_sent) {
    char now[25];
    evp__client_rfc3339_now(now);
    memcpy(o, "{\"sent_at\":\"", 12);
    memcpy(o + 12, now, 24);
    memcpy(o + 36, "\",", 2);
    o += 12 + 24 + 2;
    memcpy(o, "\"events\":[", 10);
    o += 10;
  } else {
    memcpy(o, "{\"events\":[", 11);
    o += 11;
  }
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
