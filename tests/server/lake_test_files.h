/* Helpers of the lake reader suites (test_lake_compaction, test_lake_nested):
 * whole files in and out for damage tests, and cell comparison. Header-only,
 * each suite is its own executable. */
#ifndef EVP_TESTS_LAKE_TEST_FILES_H
#define EVP_TESTS_LAKE_TEST_FILES_H

#include <check.h>
#include <stdio.h>
#include <string.h>
#include "base/files.h"
#include "lake/lake.h"

/* Whether two cells of node @p c are equal (doubles bit for bit; a group's
 * cell only says whether it is null). */
static inline int lake_same_value(const evp__pq_column_t *c, const evp__pq_value_t *a,
                                  const evp__pq_value_t *b) {
  if (a->is_null || b->is_null) return a->is_null == b->is_null;
  switch (c->type) {
  case EVP__PQ_STRING:
    return a->v.s.len == b->v.s.len && (!a->v.s.len || !memcmp(a->v.s.ptr, b->v.s.ptr, a->v.s.len));
  case EVP__PQ_DOUBLE: return !memcmp(&a->v.f64, &b->v.f64, 8);
  case EVP__PQ_BOOLEAN: return a->v.b == b->v.b;
  case EVP__PQ_GROUP: return 1;
  default: return a->v.i64 == b->v.i64;
  }
}

/* The file's bytes (caller frees); fails the test when it cannot be read. */
static inline unsigned char *lake_slurp(const char *path, size_t *n) {
  char *b, err[512];
  ck_assert_msg(evp__file_read(path, (size_t)64 << 20, 0, &b, n, NULL, err, sizeof err) == EVP_OK,
                "%s", err);
  return (unsigned char *)b;
}

/* Write @p b[0..n) as the file @p path. */
static inline void lake_spit(const char *path, const unsigned char *b, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(b, 1, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
}

#endif /* EVP_TESTS_LAKE_TEST_FILES_H */
