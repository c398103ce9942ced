/* Collecting a response: the body into the one buffer type, bounded, and
 * the headers the caller asked for. Every transport implementation (the
 * libcurl one, test fakes) feeds its bytes through here, so the limits and
 * the capture rules are the same whatever carries the request. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "net/transport.h"

static void wipe(evp__buf_t *b) {
  if (b->p) evp__wipe(b->p, b->cap);
}

void evp__net_resp_reset(evp__net_resp_t *r) {
  if (r->wipe) wipe(&r->body);
  r->body.len = 0;
  if (r->body.p) r->body.p[0] = '\0';
  r->status = 0;
  r->body_err = EVP_OK;
  r->code = 0;
  r->err[0] = '\0';
  for (size_t i = 0; i < r->nhdrs; i++) {
    if (r->hdrs[i].size) r->hdrs[i].val[0] = '\0';
    r->hdrs[i].cut = 0;
  }
}

void evp__net_resp_free(evp__net_resp_t *r) {
  wipe(&r->body); /* whatever it held, it is gone with the response */
  evp__buf_free(&r->body);
}

/* Room for n more bytes and the NUL. A body that may hold secrets moves to
 * a new block and wipes the old one instead of leaving it to realloc. */
static evp_err_t room(evp__net_resp_t *r, size_t n) {
  evp__buf_t *b = &r->body;
  /* The limit may have shrunk below what the buffer already holds room
   * for (it is kept between requests): check it here, not only on growth. */
  if (n >= SIZE_MAX / 2 || (b->max && b->len + n + 1 > b->max)) return EVP_ERR_TOO_LARGE;
  if (!r->wipe || n + 1 <= b->cap - b->len) return evp__buf_reserve(b, n + 1);
  evp__buf_t nb = {.max = b->max};
  evp_err_t e = evp__buf_reserve(&nb, b->len + n + 1);
  if (e != EVP_OK) return e;
  evp__buf_raw(&nb, b->p, b->len);
  evp__net_resp_free(r);
  *b = nb;
  return EVP_OK;
}

static void append(evp__buf_t *b, const void *p, size_t n) {
  evp__buf_raw(b, p, n);
  b->p[b->len] = '\0';
}

evp_err_t evp__net_resp_body(evp__net_resp_t *r, const void *p, size_t n) {
  if (r->body_err != EVP_OK) return r->keep_over ? EVP_OK : r->body_err;
  if (!n) return EVP_OK;
  evp_err_t e = room(r, n);
  if (e == EVP_ERR_TOO_LARGE && r->keep_over && r->body.max) {
    /* Keep the head that fits; the rest is read and dropped so the
     * connection stays usable. */
    size_t fit = r->body.max - 1 - r->body.len;
    if (fit && room(r, fit) == EVP_OK) append(&r->body, p, fit);
  } else if (e == EVP_OK) {
    append(&r->body, p, n);
    return EVP_OK;
  }
  r->body_err = e;
  return r->keep_over ? EVP_OK : e;
}

/* The value of "Name: value" trimmed into [*v, *v + *vl). */
static void value_of(const char *colon, const char *end, const char **v, size_t *vl) {
  const char *s = colon + 1, *e = end;
  while (s < e && (*s == ' ' || *s == '\t')) s++;
  while (e > s && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t')) e--;
  *v = s;
  *vl = (size_t)(e - s);
}

/* Size the body once from Content-Length instead of doubling up to it. */
static void presize(evp__net_resp_t *r, const char *v, size_t vl) {
  uint64_t cl = 0;
  size_t i = 0;
  for (; i < vl && i < 19 && v[i] >= '0' && v[i] <= '9'; i++) cl = cl * 10 + (uint64_t)(v[i] - '0');
  size_t lim = r->body.max ? r->body.max - 1 : SIZE_MAX / 2;
  if (i == vl && vl > 0 && cl <= lim && r->body_err == EVP_OK)
    (void)room(r, (size_t)cl); /* a failure shows with the body */
}

void evp__net_resp_header(evp__net_resp_t *r, const char *line, size_t len) {
  if (len >= 5 && !memcmp(line, "HTTP/", 5)) {
    /* A new response (a 100 Continue may precede the real one). */
    for (size_t i = 0; i < r->nhdrs; i++) {
      if (r->hdrs[i].size) r->hdrs[i].val[0] = '\0';
      r->hdrs[i].cut = 0;
    }
    return;
  }
  const char *colon = memchr(line, ':', len);
  if (!colon) return;
  size_t nl = (size_t)(colon - line);
  const char *v;
  size_t vl;
  value_of(colon, line + len, &v, &vl);
  if (nl == 14 && !strncasecmp(line, "Content-Length", 14)) {
    presize(r, v, vl);
    return;
  }
  for (size_t i = 0; i < r->nhdrs; i++) {
    evp__net_hdr_t *h = &r->hdrs[i];
    if (strlen(h->name) != nl || strncasecmp(line, h->name, nl) || !h->size) continue;
    h->cut = vl >= h->size;
    size_t o = 0;
    for (size_t k = 0; !h->cut && k < vl; k++) {
      unsigned char ch = (unsigned char)v[k];
      h->val[o++] = (ch < 0x20 || ch > 0x7e) ? '?' : (char)ch;
    }
    h->val[o] = '\0';
  }
}
