/* Thrift compact protocol decoder (read side), enough for Parquet's
 * metadata: field headers with delta ids, zigzag varints, binary, lists and
 * nested structs, and skipping any value the caller does not want. Every
 * read is bounds-checked against the input; the first error is sticky (the
 * cursor then returns zeros and "no more fields"), so a caller may parse a
 * whole struct and check evp__tr_failed() once. Internal to the lake. */
#ifndef EVP_LAKE_THRIFT_READ_H
#define EVP_LAKE_THRIFT_READ_H

#include <stddef.h>
#include <stdint.h>
#include "lake/thrift_compact.h"

typedef struct evp__tr {
  const uint8_t *p;
  size_t n, pos;
  int16_t last_id[EVP__TC_MAX_DEPTH]; /* previous field id per open struct */
  int depth;                          /* open structs */
  int bool_val;                       /* value of the last boolean field header */
  const char *err;                    /* first error (static text), NULL if none */
} evp__tr_t;

/* A cursor over @p p[0..n) (borrowed). */
void evp__tr_init(evp__tr_t *t, const uint8_t *p, size_t n);
/* Non-zero after any error; evp__tr_t.err says what. */
int evp__tr_failed(const evp__tr_t *t);

/* Enter a struct (the top-level one, a list element or a struct field). */
void evp__tr_struct_begin(evp__tr_t *t);
/* The next field of the innermost struct: 1 with *id and *type set, 0 at
 * its STOP byte (the struct is then left) or after an error. A boolean
 * field's value is in the header: read it with evp__tr_bool. */
int evp__tr_field(evp__tr_t *t, int16_t *id, uint8_t *type);

/* Values. Each checks @p type against what it reads and fails otherwise. */
int64_t evp__tr_int(evp__tr_t *t, uint8_t type); /* BYTE, I16, I32 or I64 */
int evp__tr_bool(evp__tr_t *t, uint8_t type);    /* a boolean field's value */
/* A binary/string: *p points into the input (not NUL-terminated). */
void evp__tr_binary(evp__tr_t *t, uint8_t type, const uint8_t **p, size_t *len);
/* A list header: element type and count (count bounded by the bytes left,
 * since every element takes at least one byte, except booleans in lists,
 * which also take one). Returns the count, 0 after an error. */
uint32_t evp__tr_list(evp__tr_t *t, uint8_t type, uint8_t *elem_type);
/* Skip one value of @p type (nested structs, lists, maps included, to
 * EVP__TC_MAX_DEPTH). */
void evp__tr_skip(evp__tr_t *t, uint8_t type);

#endif /* EVP_LAKE_THRIFT_READ_H */
