/* Thrift compact protocol encoder. Reference: the Thrift compact protocol
 * spec (field header = delta<<4 | type when the id grows by 1..15, otherwise
 * the type byte followed by the zigzag varint id; booleans live in the type
 * nibble; lists put size<15 in the high nibble). */
#include "lake/thrift_compact.h"

static void put_byte(evp__tc_t *t, uint8_t b) {
  if (t->err) return;
  evp_err_t e = evp__buf_reserve(t->out, 1);
  if (e) {
    t->err = e;
    return;
  }
  evp__buf_u8(t->out, b);
}

void evp__tc_init(evp__tc_t *t, evp__buf_t *out) {
  t->out = out;
  t->depth = 0;
  t->err = EVP_OK;
}

evp_err_t evp__tc_error(const evp__tc_t *t) {
  if (t->err) return t->err;
  return t->depth == 0 ? EVP_OK : EVP_ERR_INTERNAL;
}

void evp__tc_varint(evp__tc_t *t, uint64_t v) {
  if (t->err) return;
  evp_err_t e = evp__buf_reserve(t->out, 10);
  if (e) {
    t->err = e;
    return;
  }
  while (v >= 0x80) {
    evp__buf_u8(t->out, (uint8_t)(v | 0x80));
    v >>= 7;
  }
  evp__buf_u8(t->out, (uint8_t)v);
}

uint64_t evp__tc_zigzag64(int64_t v) {
  /* Shift as unsigned: left-shifting a negative value is undefined in C. */
  return ((uint64_t)v << 1) ^ (uint64_t)(v < 0 ? -1 : 0);
}

static void field_header(evp__tc_t *t, int16_t id, uint8_t type) {
  if (t->err) return;
  if (t->depth <= 0 || id <= 0) {
    t->err = EVP_ERR_INTERNAL;
    return;
  }
  int16_t last = t->last_id[t->depth - 1];
  if (id > last && id - last <= 15) {
    put_byte(t, (uint8_t)(((id - last) << 4) | type));
  } else {
    put_byte(t, type);
    evp__tc_varint(t, evp__tc_zigzag64(id));
  }
  t->last_id[t->depth - 1] = id;
}

void evp__tc_struct_begin(evp__tc_t *t) {
  if (t->err) return;
  if (t->depth >= EVP__TC_MAX_DEPTH) {
    t->err = EVP_ERR_TOO_DEEP;
    return;
  }
  t->last_id[t->depth++] = 0;
}

void evp__tc_struct_end(evp__tc_t *t) {
  if (t->err) return;
  if (t->depth <= 0) {
    t->err = EVP_ERR_INTERNAL;
    return;
  }
  put_byte(t, 0);
  t->depth--;
}

void evp__tc_field_bool(evp__tc_t *t, int16_t id, int v) {
  field_header(t, id, v ? EVP__TC_BOOL_TRUE : EVP__TC_BOOL_FALSE);
}

void evp__tc_field_i8(evp__tc_t *t, int16_t id, int8_t v) {
  field_header(t, id, EVP__TC_BYTE);
  put_byte(t, (uint8_t)v);
}

void evp__tc_field_i32(evp__tc_t *t, int16_t id, int32_t v) {
  field_header(t, id, EVP__TC_I32);
  evp__tc_varint(t, evp__tc_zigzag64(v));
}

void evp__tc_field_i64(evp__tc_t *t, int16_t id, int64_t v) {
  field_header(t, id, EVP__TC_I64);
  evp__tc_varint(t, evp__tc_zigzag64(v));
}

void evp__tc_binary(evp__tc_t *t, const void *p, size_t n) {
  if (t->err) return;
  if (n > INT32_MAX) {
    t->err = EVP_ERR_TOO_LARGE;
    return;
  }
  evp__tc_varint(t, n);
  if (t->err) return;
  evp_err_t e = evp__buf_put(t->out, p, n);
  if (e) t->err = e;
}

void evp__tc_field_binary(evp__tc_t *t, int16_t id, const void *p, size_t n) {
  field_header(t, id, EVP__TC_BINARY);
  evp__tc_binary(t, p, n);
}

void evp__tc_field_string(evp__tc_t *t, int16_t id, const char *s) {
  evp__tc_field_binary(t, id, s, strlen(s));
}

void evp__tc_field_struct(evp__tc_t *t, int16_t id) {
  field_header(t, id, EVP__TC_STRUCT);
  evp__tc_struct_begin(t);
}

void evp__tc_field_list(evp__tc_t *t, int16_t id, uint8_t elem_type, uint32_t n) {
  field_header(t, id, EVP__TC_LIST);
  if (t->err) return;
  if (n > INT32_MAX) {
    t->err = EVP_ERR_TOO_LARGE;
    return;
  }
  if (n < 15) {
    put_byte(t, (uint8_t)((n << 4) | elem_type));
  } else {
    put_byte(t, (uint8_t)(0xF0 | elem_type));
    evp__tc_varint(t, n);
  }
}

void evp__tc_i32(evp__tc_t *t, int32_t v) { evp__tc_varint(t, evp__tc_zigzag64(v)); }
void evp__tc_i64(evp__tc_t *t, int64_t v) { evp__tc_varint(t, evp__tc_zigzag64(v)); }
