/* Thrift compact protocol decoder; the encoder (thrift_compact.c) documents
 * the wire format. Hostile input gives a sticky error, never a read outside
 * the buffer, unbounded recursion or an allocation. */
#include "lake/thrift_read.h"

static void fail(evp__tr_t *t, const char *why) {
  if (!t->err) t->err = why;
}

void evp__tr_init(evp__tr_t *t, const uint8_t *p, size_t n) {
  t->p = p;
  t->n = n;
  t->pos = 0;
  t->depth = 0;
  t->bool_val = 0;
  t->err = NULL;
}

int evp__tr_failed(const evp__tr_t *t) { return t->err != NULL; }

static uint8_t get_byte(evp__tr_t *t) {
  if (t->err) return 0;
  if (t->pos >= t->n) {
    fail(t, "thrift: truncated");
    return 0;
  }
  return t->p[t->pos++];
}

static uint64_t varint(evp__tr_t *t) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    uint8_t b = get_byte(t);
    if (t->err) return 0;
    v |= (uint64_t)(b & 0x7F) << shift;
    if (!(b & 0x80)) return v;
  }
  fail(t, "thrift: varint longer than 10 bytes");
  return 0;
}

static int64_t unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

void evp__tr_struct_begin(evp__tr_t *t) {
  if (t->err) return;
  if (t->depth >= EVP__TC_MAX_DEPTH) {
    fail(t, "thrift: structs nested too deep");
    return;
  }
  t->last_id[t->depth++] = 0;
}

int evp__tr_field(evp__tr_t *t, int16_t *id, uint8_t *type) {
  *id = 0;
  *type = 0;
  if (t->err) return 0;
  if (t->depth <= 0) {
    fail(t, "thrift: field outside a struct");
    return 0;
  }
  uint8_t b = get_byte(t);
  if (t->err) return 0;
  if (b == 0) { /* STOP */
    t->depth--;
    return 0;
  }
  uint8_t ty = b & 0x0F;
  int64_t fid;
  if (b >> 4) {
    fid = t->last_id[t->depth - 1] + (b >> 4);
  } else {
    fid = unzigzag(varint(t));
    if (t->err) return 0;
  }
  if (fid <= 0 || fid > INT16_MAX) {
    fail(t, "thrift: bad field id");
    return 0;
  }
  if (ty < EVP__TC_BOOL_TRUE || ty > EVP__TC_STRUCT) {
    fail(t, "thrift: bad field type");
    return 0;
  }
  t->last_id[t->depth - 1] = (int16_t)fid;
  t->bool_val = ty == EVP__TC_BOOL_TRUE;
  *id = (int16_t)fid;
  *type = ty;
  return 1;
}

int64_t evp__tr_int(evp__tr_t *t, uint8_t type) {
  if (t->err) return 0;
  switch (type) {
  case EVP__TC_BYTE: return (int8_t)get_byte(t);
  case EVP__TC_I16:
  case EVP__TC_I32:
  case EVP__TC_I64: {
    int64_t v = unzigzag(varint(t));
    if (type == EVP__TC_I16 && (v < INT16_MIN || v > INT16_MAX)) fail(t, "thrift: i16 overflow");
    if (type == EVP__TC_I32 && (v < INT32_MIN || v > INT32_MAX)) fail(t, "thrift: i32 overflow");
    return t->err ? 0 : v;
  }
  default: fail(t, "thrift: integer expected"); return 0;
  }
}

int evp__tr_bool(evp__tr_t *t, uint8_t type) {
  if (type != EVP__TC_BOOL_TRUE && type != EVP__TC_BOOL_FALSE) fail(t, "thrift: boolean expected");
  return t->err ? 0 : t->bool_val;
}

void evp__tr_binary(evp__tr_t *t, uint8_t type, const uint8_t **p, size_t *len) {
  *p = NULL;
  *len = 0;
  if (type != EVP__TC_BINARY) fail(t, "thrift: binary expected");
  uint64_t n = varint(t);
  if (t->err) return;
  if (n > t->n - t->pos) {
    fail(t, "thrift: binary runs past the end");
    return;
  }
  *p = t->p + t->pos;
  *len = (size_t)n;
  t->pos += (size_t)n;
}

uint32_t evp__tr_list(evp__tr_t *t, uint8_t type, uint8_t *elem_type) {
  *elem_type = 0;
  if (type != EVP__TC_LIST && type != EVP__TC_SET) fail(t, "thrift: list expected");
  uint8_t b = get_byte(t);
  if (t->err) return 0;
  uint64_t n = b >> 4;
  if (n == 15) n = varint(t);
  uint8_t et = b & 0x0F;
  /* In lists booleans are 1 (true) or 2 (false) as in fields. */
  if (et < EVP__TC_BOOL_TRUE || et > EVP__TC_STRUCT) fail(t, "thrift: bad list element type");
  if (!t->err && n > t->n - t->pos) fail(t, "thrift: list longer than the input");
  if (t->err) return 0;
  *elem_type = et;
  return (uint32_t)n;
}

static void skip(evp__tr_t *t, uint8_t type, int depth) {
  if (t->err) return;
  if (depth >= EVP__TC_MAX_DEPTH) {
    fail(t, "thrift: values nested too deep");
    return;
  }
  switch (type) {
  case EVP__TC_BOOL_TRUE:
  case EVP__TC_BOOL_FALSE: return; /* in the field header */
  case EVP__TC_BYTE: get_byte(t); return;
  case EVP__TC_I16:
  case EVP__TC_I32:
  case EVP__TC_I64: varint(t); return;
  case EVP__TC_DOUBLE:
    if (t->n - t->pos < 8)
      fail(t, "thrift: truncated double");
    else
      t->pos += 8;
    return;
  case EVP__TC_BINARY: {
    const uint8_t *p;
    size_t n;
    evp__tr_binary(t, type, &p, &n);
    return;
  }
  case EVP__TC_LIST:
  case EVP__TC_SET: {
    uint8_t et;
    uint32_t n = evp__tr_list(t, type, &et);
    /* A list element boolean is one byte, unlike a field's. */
    for (uint32_t i = 0; i < n && !t->err; i++) {
      if (et == EVP__TC_BOOL_TRUE || et == EVP__TC_BOOL_FALSE)
        get_byte(t);
      else
        skip(t, et, depth + 1);
    }
    return;
  }
  case EVP__TC_MAP: {
    uint64_t n = varint(t);
    if (t->err || n == 0) return;
    uint8_t kv = get_byte(t);
    if (n > t->n - t->pos) fail(t, "thrift: map longer than the input");
    for (uint64_t i = 0; i < n && !t->err; i++) {
      uint8_t kt = kv >> 4, vt = kv & 0x0F;
      if (kt == EVP__TC_BOOL_TRUE || kt == EVP__TC_BOOL_FALSE)
        get_byte(t);
      else
        skip(t, kt, depth + 1);
      if (vt == EVP__TC_BOOL_TRUE || vt == EVP__TC_BOOL_FALSE)
        get_byte(t);
      else
        skip(t, vt, depth + 1);
    }
    return;
  }
  case EVP__TC_STRUCT: {
    int16_t id;
    uint8_t ft;
    int d0 = t->depth;
    evp__tr_struct_begin(t);
    while (!t->err && evp__tr_field(t, &id, &ft)) skip(t, ft, depth + 1);
    if (!t->err && t->depth != d0) fail(t, "thrift: unbalanced struct");
    return;
  }
  default: fail(t, "thrift: unknown type"); return;
  }
}

void evp__tr_skip(evp__tr_t *t, uint8_t type) { skip(t, type, 0); }
