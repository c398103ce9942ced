/* The queued copy of an event: one allocation with the bookkeeping and the
 * text, event_id / event_time inserted after the opening brace when absent. */
#include <stdlib.h>
#include <string.h>
#include "client/client_int.h"

evp__item *evp__client_item_alloc(size_t n) {
  /* Rounding up lets an item be reused for events of slightly larger size. */
  size_t cap = (n + 31) & ~(size_t)31;
  if (cap > UINT32_MAX) return NULL;
  evp__item *it = malloc(sizeof *it + cap);
  if (it) it->cap = (uint32_t)cap;
  return it;
}

static evp__item *plain_get(void *ctx, size_t n) {
  (void)ctx;
  return evp__client_item_alloc(n);
}

evp__item *evp__client_event_make(const char *json, const evp__scan *s, int fill_id, int fill_time,
                                  evp__item_get_fn get, void *ctx) {
  char add[96];
  size_t al = 0;
  size_t id_at = 0;
  fill_id = fill_id && !s->has_id;
  fill_time = fill_time && !s->has_time;
  if (fill_id) {
    char u[37];
    if (evp__client_uuid7(u) != EVP_OK) return NULL;
    memcpy(add, "\"event_id\":\"", 12);
    id_at = 12;
    memcpy(add + 12, u, 36);
    add[48] = '"';
    al = 49;
  }
  if (fill_time) {
    char t[25];
    evp__client_rfc3339_now(t);
    if (al) add[al++] = ',';
    memcpy(add + al, "\"event_time\":\"", 14);
    memcpy(add + al + 14, t, 24);
    add[al + 38] = '"';
    al += 39;
  }
  if (al && !s->empty) add[al++] = ',';
  /* Only the object itself is kept: surrounding whitespace (an NDJSON line
   * end) would only waste queue memory. */
  size_t olen = s->obj_end - s->obj_start;
  size_t n = olen + al;
  if (n > UINT32_MAX) return NULL;
  evp__item *it = (get ? get : plain_get)(ctx, n);
  if (!it) return NULL;
  it->next = NULL;
  it->len = (uint32_t)n;
  it->attempts = 0;
  it->err = 0;
  it->http_status = 0;
  it->status = 0;
  it->opaque = NULL;
  it->why = NULL;
  it->spool_seq = UINT64_MAX;
  it->from_spool = 0;
  const char *o = json + s->obj_start;
  it->json[0] = '{';
  memcpy(it->json + 1, add, al);
  memcpy(it->json + 1 + al, o + 1, olen - 1);
  if (fill_id) {
    it->id_off = (uint32_t)(1 + id_at);
    it->id_len = 36;
  } else if (s->id && s->id_len <= UINT16_MAX) {
    it->id_off = (uint32_t)(s->id - o) + (uint32_t)al;
    it->id_len = (uint16_t)s->id_len;
  } else {
    it->id_off = 0;
    it->id_len = 0;
  }
  return it;
}
