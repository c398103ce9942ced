/* Thrift compact protocol encoder (write side only), enough for Parquet's
 * metadata structs: fields with delta ids, zigzag varints, binary, lists and
 * nested structs. Errors are sticky: call evp__tc_error() once at the end. */
#ifndef EVP_LAKE_THRIFT_COMPACT_H
#define EVP_LAKE_THRIFT_COMPACT_H

#include <stdint.h>
#include "base/buf.h"

/* Compact-protocol type ids (as used in field headers and list headers). */
enum {
  EVP__TC_BOOL_TRUE = 1,
  EVP__TC_BOOL_FALSE = 2,
  EVP__TC_BYTE = 3,
  EVP__TC_I16 = 4,
  EVP__TC_I32 = 5,
  EVP__TC_I64 = 6,
  EVP__TC_DOUBLE = 7,
  EVP__TC_BINARY = 8,
  EVP__TC_LIST = 9,
  EVP__TC_SET = 10,
  EVP__TC_MAP = 11,
  EVP__TC_STRUCT = 12
};

#define EVP__TC_MAX_DEPTH 16

typedef struct evp__tc {
  evp__buf_t *out;
  int16_t last_id[EVP__TC_MAX_DEPTH]; /* previous field id per open struct */
  int depth;                          /* number of open structs */
  evp_err_t err;                      /* first error, sticky */
} evp__tc_t;

void evp__tc_init(evp__tc_t *t, evp__buf_t *out);
/* The first error seen (EVP_OK if none); also reports unbalanced structs. */
evp_err_t evp__tc_error(const evp__tc_t *t);

/* Raw pieces (exposed for tests). */
void evp__tc_varint(evp__tc_t *t, uint64_t v);
uint64_t evp__tc_zigzag64(int64_t v);

/* Open a struct that is not a field: the top-level struct or a list element. */
void evp__tc_struct_begin(evp__tc_t *t);
/* Close the innermost struct (writes the STOP byte). */
void evp__tc_struct_end(evp__tc_t *t);

/* Fields of the innermost open struct; ids must be > 0. */
void evp__tc_field_bool(evp__tc_t *t, int16_t id, int v);
void evp__tc_field_i8(evp__tc_t *t, int16_t id, int8_t v);
void evp__tc_field_i32(evp__tc_t *t, int16_t id, int32_t v);
void evp__tc_field_i64(evp__tc_t *t, int16_t id, int64_t v);
void evp__tc_field_binary(evp__tc_t *t, int16_t id, const void *p, size_t n);
void evp__tc_field_string(evp__tc_t *t, int16_t id, const char *s);
/* A struct-valued field: opens the nested struct; close with struct_end. */
void evp__tc_field_struct(evp__tc_t *t, int16_t id);
/* A list-valued field header; then write @p n elements of @p elem_type. */
void evp__tc_field_list(evp__tc_t *t, int16_t id, uint8_t elem_type, uint32_t n);

/* List elements. */
void evp__tc_i32(evp__tc_t *t, int32_t v);
void evp__tc_i64(evp__tc_t *t, int64_t v);
void evp__tc_binary(evp__tc_t *t, const void *p, size_t n);

#endif /* EVP_LAKE_THRIFT_COMPACT_H */
