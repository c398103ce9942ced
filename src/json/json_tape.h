/* The JSON tape parser: a document parsed into one array of values, which
 * the schema validator walks and reuses between documents. */
#ifndef EVP_JSON_JSON_TAPE_H
#define EVP_JSON_JSON_TAPE_H

#include <stddef.h>
#include <stdint.h>
#include "base/base.h"
#include "json/json.h"

/* A parsed JSON document is an array of values in document order. A
 * container is followed by its children (objects: key string, then value),
 * and `skip` jumps over the whole subtree, so walking needs no pointers and
 * the array can be reused between documents without reallocation. */
enum { EVP__J_NULL = 1, EVP__J_FALSE, EVP__J_TRUE, EVP__J_NUM, EVP__J_STR, EVP__J_ARR, EVP__J_OBJ };

typedef struct evp__jv {
  uint8_t type;
  uint8_t isint; /* numbers: the value is finite and integral (1.0 counts) */
  uint32_t len;  /* strings: bytes; arrays: elements; objects: members */
  uint32_t skip; /* number of tape entries of this value's subtree (>= 1) */
  uint32_t off;  /* byte offset of the value in the parsed text (fills padding) */
  union {
    double num;
    const char *str; /* not NUL-terminated */
    size_t end;      /* objects and arrays: offset just past the closing bracket */
  } u;
} evp__jv;

typedef struct evp__jdoc {
  evp__jv *v;
  size_t n, cap;
  char *sbuf; /* unescaped strings; sized to the input so it never moves */
  size_t scap, sused;
  /* set by a failed parse */
  size_t err_off;
  const char *err_msg;
} evp__jdoc;

/* Parse @p s into @p d (reusing its buffers). EVP_ERR_JSON, EVP_ERR_TOO_DEEP
 * or EVP_ERR_NOMEM; err_off/err_msg describe a failure. */
evp_err_t evp__json_parse(evp__jdoc *d, const char *s, size_t len, int max_depth);
void evp__jdoc_free(evp__jdoc *d);
/* Deep equality under JSON Schema rules (1 == 1.0, member order ignored). */
int evp__json_equal(const evp__jv *a, const evp__jv *b);
/* Structural hash consistent with evp__json_equal. */
uint64_t evp__json_hash(const evp__jv *a);

/* The members of object @p x of the parse of @p doc (json_tape_members.c),
 * like a scan's: names and string values as the parser decoded them
 * (key_escaped, val_escaped 0), other values as their text in @p doc; an
 * object's or array's member also gets its node, so its own members can be
 * read the same way. *count is the number of members; EVP_ERR_TOO_LARGE
 * when more than @p max_m (nothing else is filled). */
evp_err_t evp__json_tape_members(const evp__jv *x, const char *doc, evp__jmember_t *m, size_t max_m,
                                 size_t *count);

#endif /* EVP_JSON_JSON_TAPE_H */
