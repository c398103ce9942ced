/* Suite: groups (structs) in the lake's Parquet writer and reader (lake.h:
 * a schema is a list of nodes in pre-order; a leaf's definition level
 * counts the present optional nodes on its path).
 *
 * Round trips of lake_gen.h's "nested" dataset in every writer variant and
 * of hand-made rows with nulls at every level; the definition levels'
 * bytes for a two-level leaf; refused schemas and rows (the writer stays
 * usable); hostile footers and definition levels (run under ASan); and
 * compaction of nested part files. External readers (DuckDB, hyparquet,
 * parquet-wasm) read the same dataset in tests/scripts/test_lake_readers.sh. */
#define _XOPEN_SOURCE 700 /* nftw (tmpdir.h) */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/files.h"
#include "lake/lake.h"
#include "lake/lake_compact.h"
#include "lake/pq_format.h"
#include "lake/pq_reader.h"
#include "lake/thrift_compact.h"
#include "lake_gen.h"
#include "lake_test_files.h"
#include "suite_main.h"
#include "tmpdir.h"

static char tmpdir[256];

/* Open and read every row: EVP_OK or the first error (its message in @p err). */
static evp_err_t read_all(const char *path, uint64_t *rows, char *err, size_t errn) {
  evp__pq_reader_t *r;
  *rows = 0;
  evp_err_t e = evp__pq_reader_open(&r, path, err, errn);
  if (e) return e;
  size_t n;
  const evp__pq_column_t *cols = evp__pq_reader_columns(r, &n);
  const evp__pq_value_t *row;
  volatile unsigned sum = 0;
  while ((e = evp__pq_reader_next(r, &row, err, errn)) == EVP_OK && row) {
    (*rows)++;
    for (size_t c = 0; c < n; c++) /* touch every string byte (ASan) */
      if (!row[c].is_null && cols[c].type == EVP__PQ_STRING)
        for (size_t k = 0; k < row[c].v.s.len; k++) sum += (unsigned char)row[c].v.s.ptr[k];
  }
  if (e) {
    char e2[256];
    ck_assert_int_eq(evp__pq_reader_next(r, &row, e2, sizeof e2), EVP_ERR_STATE);
  }
  evp__pq_reader_close(r);
  return e;
}

/* Read @p path back and compare every node of every row with @p want
 * (nrows x ncols values). */
static void expect_rows(const char *path, const evp__pq_column_t *cols, size_t ncols,
                        const evp__pq_value_t *want, size_t nrows) {
  char err[512];
  evp__pq_reader_t *r;
  ck_assert_msg(evp__pq_reader_open(&r, path, err, sizeof err) == EVP_OK, "%s", err);
  ck_assert_msg(evp__pq_reader_check_schema(r, cols, ncols, err, sizeof err) == EVP_OK, "%s", err);
  size_t n;
  const evp__pq_column_t *got = evp__pq_reader_columns(r, &n);
  ck_assert_uint_eq(n, ncols);
  for (size_t c = 0; c < n; c++) ck_assert_uint_eq(got[c].nchildren, cols[c].nchildren);
  ck_assert_uint_eq(evp__pq_reader_num_rows(r), nrows);
  const evp__pq_value_t *row;
  for (size_t i = 0; i < nrows; i++) {
    ck_assert_msg(evp__pq_reader_next(r, &row, err, sizeof err) == EVP_OK, "%s", err);
    ck_assert_ptr_nonnull(row);
    for (size_t c = 0; c < ncols; c++)
      ck_assert_msg(lake_same_value(&cols[c], &row[c], &want[i * ncols + c]),
                    "%s: row %zu node %zu '%s' differs (null %d, want %d)", path, i, c,
                    cols[c].name, row[c].is_null, want[i * ncols + c].is_null);
  }
  ck_assert_int_eq(evp__pq_reader_next(r, &row, err, sizeof err), EVP_OK);
  ck_assert_ptr_null(row);
  evp__pq_reader_close(r);
}

static void write_rows(const char *name, const evp__pq_column_t *cols, size_t ncols,
                       const evp__pq_options_t *o, const evp__pq_value_t *rows, size_t nrows) {
  char err[512];
  evp__pq_writer_t *w;
  ck_assert_msg(evp__pq_writer_open(&w, tmpdir, name, cols, ncols, o, err, sizeof err) == EVP_OK,
                "%s", err);
  size_t done = 0;
  ck_assert_msg(evp__pq_writer_append_rows(w, rows, nrows, &done, err, sizeof err) == EVP_OK, "%s",
                err);
  ck_assert_uint_eq(done, nrows);
  ck_assert_msg(evp__pq_writer_close(w, NULL, err, sizeof err) == EVP_OK, "%s", err);
}

#define I64(x)        \
  {                   \
    0, { .i64 = (x) } \
  }
#define STR(x)                   \
  {                              \
    0, {                         \
      .s = {(x), sizeof(x) - 1 } \
    }                            \
  }
#define NUL         \
  {                 \
    1, { .i64 = 0 } \
  }
#define GRP         \
  {                 \
    0, { .i64 = 0 } \
  }

/* ------------------------------------------------------------ round trips */

START_TEST(nested_dataset_round_trips_in_every_variant) {
  test_tmpdir_make(tmpdir, sizeof tmpdir, "lakenested");
  size_t nds;
  const evp__gen_ds_t *ds = gen_datasets(&nds), *d = NULL;
  for (size_t i = 0; i < nds; i++)
    if (!strcmp(ds[i].name, "nested")) d = &ds[i];
  ck_assert_ptr_nonnull(d);
  char *sb = malloc(2 * GEN_SLOT + 16);
  evp__pq_value_t *row = calloc(d->ncols, sizeof *row);
  ck_assert(sb && row);
  for (size_t v = 0; v < gen_nvariants(); v++) {
    const evp__gen_variant_t *var = &GEN_VARIANTS[v];
    evp__pq_options_t o = d->opt;
    gen_apply_variant(&o, var);
    char name[64], path[512], err[512];
    snprintf(name, sizeof name, "nested%s.parquet", var->suffix);
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    evp__pq_writer_t *w;
    ck_assert_msg(evp__pq_writer_open(&w, tmpdir, name, d->cols, d->ncols, &o, err, sizeof err) ==
                      EVP_OK,
                  "%s", err);
    /* strings point into sb: write, then make the same rows again for the
     * comparison */
    uint64_t s = 99;
    for (size_t r = 0; r < d->nrows; r++) {
      d->row(&s, r, row, sb);
      ck_assert_msg(evp__pq_writer_append(w, row, err, sizeof err) == EVP_OK, "%s", err);
    }
    ck_assert_int_eq(evp__pq_writer_close(w, NULL, err, sizeof err), EVP_OK);
    evp__pq_reader_t *rd;
    ck_assert_msg(evp__pq_reader_open(&rd, path, err, sizeof err) == EVP_OK, "%s", err);
    ck_assert_int_eq(evp__pq_reader_check_schema(rd, d->cols, d->ncols, err, sizeof err), EVP_OK);
    s = 99;
    const evp__pq_value_t *got;
    evp__pq_value_t *want = row;
    size_t nulls[EVP__PQ_MAX_DEPTH * 4] = {0};
    for (size_t r = 0; r < d->nrows; r++) {
      d->row(&s, r, want, sb);
      ck_assert_msg(evp__pq_reader_next(rd, &got, err, sizeof err) == EVP_OK, "%s", err);
      for (size_t c = 0; c < d->ncols; c++) {
        ck_assert_msg(lake_same_value(&d->cols[c], &got[c], &want[c]), "%s row %zu node %s differs",
                      name, r, d->cols[c].name);
        if (got[c].is_null && c < sizeof nulls / sizeof *nulls) nulls[c]++;
      }
    }
    ck_assert_int_eq(evp__pq_reader_next(rd, &got, err, sizeof err), EVP_OK);
    ck_assert_ptr_null(got);
    evp__pq_reader_close(rd);
    /* the data has nulls at every level: each optional group and leaf is
     * null in some rows and not in others */
    for (size_t c = 0; c < d->ncols; c++)
      if (d->cols[c].optional)
        ck_assert_msg(nulls[c] > 0 && nulls[c] < d->nrows, "%s: %s null in %zu rows", name,
                      d->cols[c].name, nulls[c]);
  }
  free(row);
  free(sb);
  test_tmpdir_remove(tmpdir);
}
END_TEST

/* Groups first and last, three deep, required leaves inside optional
 * groups; values under a null group are ignored (written as null). */
static const evp__pq_column_t HAND[] = {
    {"a", EVP__PQ_GROUP, 1, 2},    /* 0 */
    {"x", EVP__PQ_INT64, 0, 0},    /* 1  a.x required: def 0..1 */
    {"b", EVP__PQ_GROUP, 1, 2},    /* 2 */
    {"y", EVP__PQ_STRING, 1, 0},   /* 3  a.b.y: def 0..3 */
    {"c", EVP__PQ_GROUP, 0, 1},    /* 4  a.b.c required group */
    {"z", EVP__PQ_BOOLEAN, 1, 0},  /* 5  a.b.c.z: def 0..3 */
    {"id", EVP__PQ_INT64, 0, 0},   /* 6 */
    {"last", EVP__PQ_GROUP, 1, 1}, /* 7 */
    {"v", EVP__PQ_DOUBLE, 1, 0},   /* 8 */
};
#define NHAND (sizeof HAND / sizeof *HAND)
#define TRUE_     \
  {               \
    0, { .b = 1 } \
  }
#define D25           \
  {                   \
    0, { .f64 = 2.5 } \
  }

/* Rows of HAND with nulls at every level, and how they read back. */
static const evp__pq_value_t HAND_IN[][NHAND] = {
    /* all present */
    {GRP, I64(1), GRP, STR("hi"), GRP, TRUE_, I64(0), GRP, D25},
    /* a null: its subtree's values are ignored, even a required leaf's */
    {NUL, I64(7), GRP, STR("ignored"), GRP, TRUE_, I64(1), NUL, D25},
    /* a present, b null */
    {GRP, I64(2), NUL, STR("ignored"), NUL, NUL, I64(2), GRP, NUL},
    /* a, b present with null leaves */
    {GRP, I64(3), GRP, NUL, GRP, NUL, I64(3), GRP, NUL},
    /* empty string and false */
    {GRP, I64(-4), GRP, STR(""), GRP, {0, {.b = 0}}, I64(4), NUL, NUL},
};
static const evp__pq_value_t HAND_OUT[][NHAND] = {
    {GRP, I64(1), GRP, STR("hi"), GRP, TRUE_, I64(0), GRP, D25},
    {NUL, NUL, NUL, NUL, NUL, NUL, I64(1), NUL, NUL},
    {GRP, I64(2), NUL, NUL, NUL, NUL, I64(2), GRP, NUL},
    {GRP, I64(3), GRP, NUL, GRP, NUL, I64(3), GRP, NUL},
    {GRP, I64(-4), GRP, STR(""), GRP, {0, {.b = 0}}, I64(4), NUL, NUL},
};

START_TEST(nested_nulls_at_every_level_round_trip) {
  test_tmpdir_make(tmpdir, sizeof tmpdir, "lakenested");
  const evp__pq_value_t(*in)[NHAND] = HAND_IN, (*out)[NHAND] = HAND_OUT;
  const size_t n = sizeof HAND_IN / sizeof *HAND_IN;
  /* enough rows for several pages and row groups, every option variant */
  const size_t reps = 700;
  evp__pq_value_t *rows = calloc(n * reps * NHAND, sizeof *rows),
                  *want = calloc(n * reps * NHAND, sizeof *want);
  ck_assert(rows && want);
  for (size_t k = 0; k < reps; k++) {
    memcpy(rows + k * n * NHAND, in, sizeof HAND_IN);
    memcpy(want + k * n * NHAND, out, sizeof HAND_OUT);
  }
  for (size_t v = 0; v < gen_nvariants(); v++) {
    evp__pq_options_t o = {0};
    o.no_fsync = 1;
    o.row_group_rows = 1500;
    o.page_bytes = 1024;
    gen_apply_variant(&o, &GEN_VARIANTS[v]);
    char name[64], path[512];
    snprintf(name, sizeof name, "hand%s.parquet", GEN_VARIANTS[v].suffix);
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    write_rows(name, HAND, NHAND, &o, rows, n * reps);
    expect_rows(path, HAND, NHAND, want, n * reps);
  }
  free(rows);
  free(want);
  test_tmpdir_remove(tmpdir);
}
END_TEST

/* The definition levels of a leaf whose largest level is 2 are written at
 * bit width 2: levels 2,1,0,2,2,1,0,2 are one bit-packed group 03, then
 * 0x86 0x86, after the 4-byte length 3. */
START_TEST(nested_levels_use_the_bit_width_of_the_deepest_level) {
  test_tmpdir_make(tmpdir, sizeof tmpdir, "lakenested");
  static const evp__pq_column_t cols[] = {{"g", EVP__PQ_GROUP, 1, 1}, {"x", EVP__PQ_INT64, 1, 0}};
  const evp__pq_value_t rows[8][2] = {
      {GRP, I64(11)}, {GRP, NUL}, {NUL, NUL}, {GRP, I64(12)},
      {GRP, I64(13)}, {GRP, NUL}, {NUL, NUL}, {GRP, I64(14)},
  };
  evp__pq_options_t o = {0};
  o.no_fsync = 1;
  o.codec = EVP__PQ_UNCOMPRESSED;
  o.no_delta_int = o.no_int_dict = o.no_page_index = 1;
  write_rows("w.parquet", cols, 2, &o, &rows[0][0], 8);
  char path[512];
  snprintf(path, sizeof path, "%s/w.parquet", tmpdir);
  size_t n;
  unsigned char *b = lake_slurp(path, &n);
  const unsigned char want[] = {3, 0, 0, 0, 0x03, 0x86, 0x86, 11, 0, 0, 0, 0, 0, 0, 0, 12};
  size_t lv = n;
  for (size_t i = 0; i + sizeof want <= n && lv == n; i++)
    if (!memcmp(b + i, want, sizeof want)) lv = i;
  ck_assert_msg(lv < n, "definition levels 2,1,0,2,2,1,0,2 not found at bit width 2");
  /* a level of 3 (above the leaf's 2) is damage, not a value */
  char dmg[512], err[512];
  uint64_t nrows;
  snprintf(dmg, sizeof dmg, "%s/damaged.parquet", tmpdir);
  b[lv + 5] = 0x87;
  lake_spit(dmg, b, n);
  ck_assert_int_eq(read_all(dmg, &nrows, err, sizeof err), EVP_ERR_IO);
  ck_assert_msg(strstr(err, "level 3 above its 2") && strstr(err, "g.x"), "%s", err);
  b[lv + 5] = 0x86;
  int found;
  /* the footer names the group: no type, OPTIONAL, one child; the leaf's
   * path is g.x */
  const unsigned char grp[] = {0x35, 0x02, 0x18, 0x01, 'g', 0x15, 0x02, 0x00};
  found = 0;
  for (size_t i = 0; i + sizeof grp <= n && !found; i++) found = !memcmp(b + i, grp, sizeof grp);
  ck_assert_msg(found, "group SchemaElement {repetition OPTIONAL, name g, num_children 1} missing");
  const unsigned char pth[] = {0x19, 0x28, 0x01, 'g', 0x01, 'x'};
  found = 0;
  for (size_t i = 0; i + sizeof pth <= n && !found; i++) found = !memcmp(b + i, pth, sizeof pth);
  ck_assert_msg(found, "path_in_schema [g, x] missing");
  free(b);
  const evp__pq_value_t back[8][2] = {
      {GRP, I64(11)}, {GRP, NUL}, {NUL, NUL}, {GRP, I64(12)},
      {GRP, I64(13)}, {GRP, NUL}, {NUL, NUL}, {GRP, I64(14)},
  };
  expect_rows(path, cols, 2, &back[0][0], 8);
  test_tmpdir_remove(tmpdir);
}
END_TEST

/* The batcher's long-lived writer: a reopened nested writer (buffers kept,
 * levels reset) writes the same bytes as a fresh one. */
START_TEST(nested_reopened_writer_writes_what_a_fresh_one_writes) {
  test_tmpdir_make(tmpdir, sizeof tmpdir, "lakenested");
  const size_t nin = sizeof HAND_IN / sizeof *HAND_IN;
  evp__pq_options_t o = {0};
  o.no_fsync = 1;
  char err[512], p1[512], p2[512];
  write_rows("fresh.parquet", HAND, NHAND, &o, &HAND_IN[0][0], nin);
  evp__pq_writer_t *w;
  ck_assert_int_eq(
      evp__pq_writer_open(&w, tmpdir, "first.parquet", HAND, NHAND, &o, err, sizeof err), EVP_OK);
  /* the first file ends inside a null group, with other rows buffered */
  ck_assert_int_eq(evp__pq_writer_append_rows(w, &HAND_IN[1][0], 2, NULL, err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp__pq_writer_finish(w, NULL, err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp__pq_writer_reopen(w, tmpdir, "again.parquet", err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp__pq_writer_append_rows(w, &HAND_IN[0][0], nin, NULL, err, sizeof err),
                   EVP_OK);
  ck_assert_int_eq(evp__pq_writer_finish(w, NULL, err, sizeof err), EVP_OK);
  evp__pq_writer_free(w);
  snprintf(p1, sizeof p1, "%s/fresh.parquet", tmpdir);
  snprintf(p2, sizeof p2, "%s/again.parquet", tmpdir);
  size_t n1, n2;
  unsigned char *b1 = lake_slurp(p1, &n1), *b2 = lake_slurp(p2, &n2);
  ck_assert_msg(n1 == n2 && !memcmp(b1, b2, n1), "reopened writer wrote other bytes");
  free(b1);
  free(b2);
  test_tmpdir_remove(tmpdir);
}
END_TEST

/* ------------------------------------------------------------ refusals */

static void refused_schema(const evp__pq_column_t *cols, size_t n, const char *names) {
  char err[512] = "";
  evp__pq_writer_t *w = NULL;
  ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, "r.parquet", cols, n, NULL, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  ck_assert_ptr_null(w);
  ck_assert_msg(strstr(err, names), "'%s' not named in: %s", names, err);
}

START_TEST(nested_bad_schemas_are_refused_naming_the_node) {
  test_tmpdir_make(tmpdir, sizeof tmpdir, "lakenested");
  const evp__pq_column_t empty[] = {{"g", EVP__PQ_GROUP, 1, 0}, {"x", EVP__PQ_INT64, 1, 0}};
  refused_schema(empty, 2, "'g'");
  const evp__pq_column_t past[] = {{"x", EVP__PQ_INT64, 1, 0},
                                   {"g", EVP__PQ_GROUP, 1, 3},
                                   {"a", EVP__PQ_INT64, 1, 0},
                                   {"b", EVP__PQ_INT64, 1, 0}};
  refused_schema(past, 4, "'g'");
  /* nested group's count runs past its parent's end of the list */
  const evp__pq_column_t past2[] = {
      {"g", EVP__PQ_GROUP, 1, 1}, {"h", EVP__PQ_GROUP, 1, 2}, {"a", EVP__PQ_INT64, 1, 0}};
  refused_schema(past2, 3, "'h'");
  const evp__pq_column_t leafkids[] = {{"x", EVP__PQ_INT64, 1, 1}, {"y", EVP__PQ_INT64, 1, 0}};
  refused_schema(leafkids, 2, "'x'");
  const evp__pq_column_t dup[] = {
      {"g", EVP__PQ_GROUP, 1, 2}, {"a", EVP__PQ_INT64, 1, 0}, {"a", EVP__PQ_STRING, 1, 0}};
  refused_schema(dup, 3, "'a'");
  const evp__pq_column_t badtype[] = {{"x", (evp__pq_type_t)6, 1, 0}};
  refused_schema(badtype, 1, "'x'");
  /* EVP__PQ_MAX_DEPTH nodes on a path are fine, one more is refused */
  evp__pq_column_t deep[EVP__PQ_MAX_DEPTH + 1];
  static const char *const names[] = {"l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8", "l9"};
  for (size_t k = 0; k <= EVP__PQ_MAX_DEPTH; k++)
    deep[k] = (evp__pq_column_t){names[k], EVP__PQ_GROUP, 1, 1};
  deep[EVP__PQ_MAX_DEPTH].type = EVP__PQ_STRING;
  deep[EVP__PQ_MAX_DEPTH].nchildren = 0;
  refused_schema(deep, EVP__PQ_MAX_DEPTH + 1, "'l9'");
  char err[512];
  evp__pq_writer_t *w;
  ck_assert_msg(evp__pq_writer_open(&w, tmpdir, "deep.parquet", deep + 1, EVP__PQ_MAX_DEPTH, NULL,
                                    err, sizeof err) == EVP_OK,
                "%s", err);
  evp__pq_writer_abort(w);
  /* the same name in different groups, and a group and a leaf of the
   * same name at different levels, are fine */
  const evp__pq_column_t ok[] = {{"a", EVP__PQ_GROUP, 1, 1},
                                 {"a", EVP__PQ_INT64, 1, 0},
                                 {"b", EVP__PQ_GROUP, 0, 1},
                                 {"a", EVP__PQ_STRING, 1, 0}};
  ck_assert_msg(evp__pq_writer_open(&w, tmpdir, "ok.parquet", ok, 4, NULL, err, sizeof err) ==
                    EVP_OK,
                "%s", err);
  evp__pq_writer_abort(w);
  test_tmpdir_remove(tmpdir);
}
END_TEST

START_TEST(nested_refused_rows_leave_the_writer_usable) {
  test_tmpdir_make(tmpdir, sizeof tmpdir, "lakenested");
  char err[512], path[512];
  evp__pq_writer_t *w;
  evp__pq_options_t o = {0};
  o.no_fsync = 1;
  ck_assert_int_eq(
      evp__pq_writer_open(&w, tmpdir, "rows.parquet", HAND, NHAND, &o, err, sizeof err), EVP_OK);
  evp__pq_value_t t = {0, {.b = 1}}, bad_b = {0, {.b = 2}}, bad_s = {0, {.s = {"\xff", 1}}};
  const evp__pq_value_t good[NHAND] = {GRP, I64(1), GRP, STR("s"), GRP, t, I64(0), GRP, NUL};
  /* a required group that is null (a.b.c) */
  const evp__pq_value_t r1[NHAND] = {GRP, I64(1), GRP, STR("s"), NUL, t, I64(0), GRP, NUL};
  ck_assert_int_eq(evp__pq_writer_append(w, r1, err, sizeof err), EVP_ERR_INVALID_ARG);
  ck_assert_msg(strstr(err, "'a.b.c'"), "%s", err);
  /* a required leaf that is null inside a present group */
  const evp__pq_value_t r2[NHAND] = {GRP, NUL, GRP, STR("s"), GRP, t, I64(0), GRP, NUL};
  ck_assert_int_eq(evp__pq_writer_append(w, r2, err, sizeof err), EVP_ERR_INVALID_ARG);
  ck_assert_msg(strstr(err, "'a.x'"), "%s", err);
  /* a bad value in a present group is refused naming its path ... */
  const evp__pq_value_t r3[NHAND] = {GRP, I64(1), GRP, bad_s, GRP, t, I64(0), GRP, NUL};
  ck_assert_int_eq(evp__pq_writer_append(w, r3, err, sizeof err), EVP_ERR_INVALID_ARG);
  ck_assert_msg(strstr(err, "'a.b.y'"), "%s", err);
  const evp__pq_value_t r4[NHAND] = {GRP, I64(1), GRP, STR("s"), GRP, bad_b, I64(0), GRP, NUL};
  ck_assert_int_eq(evp__pq_writer_append(w, r4, err, sizeof err), EVP_ERR_INVALID_ARG);
  ck_assert_msg(strstr(err, "'a.b.c.z'"), "%s", err);
  /* ... and ignored under a null group, like the null required ones */
  const evp__pq_value_t r5[NHAND] = {NUL, NUL, NUL, bad_s, NUL, bad_b, I64(5), NUL, NUL};
  ck_assert_msg(evp__pq_writer_append(w, r5, err, sizeof err) == EVP_OK, "%s", err);
  ck_assert_int_eq(evp__pq_writer_append(w, good, err, sizeof err), EVP_OK);
  ck_assert_uint_eq(evp__pq_writer_rows(w), 2);
  ck_assert_int_eq(evp__pq_writer_close(w, NULL, err, sizeof err), EVP_OK);
  snprintf(path, sizeof path, "%s/rows.parquet", tmpdir);
  const evp__pq_value_t want[2][NHAND] = {{NUL, NUL, NUL, NUL, NUL, NUL, I64(5), NUL, NUL},
                                          {GRP, I64(1), GRP, STR("s"), GRP, t, I64(0), GRP, NUL}};
  expect_rows(path, HAND, NHAND, &want[0][0], 2);
  test_tmpdir_remove(tmpdir);
}
END_TEST

/* ------------------------------------------------------------ hostile files */

/* A file of no row groups whose footer's schema is @p nel elements
 * (root first), each given as {type or -1, repetition, name, num_children
 * or -1 for none}. */
typedef struct {
  int type, rep;
  const char *name;
  int nchildren;
} hel_t;

static void write_schema_file(const char *path, const hel_t *el, size_t nel) {
  evp__buf_t b = {0};
  evp__tc_t t;
  evp__tc_init(&t, &b);
  evp__tc_struct_begin(&t);
  evp__tc_field_i32(&t, PQ_FMD_VERSION, 2);
  evp__tc_field_list(&t, PQ_FMD_SCHEMA, EVP__TC_STRUCT, (uint32_t)nel);
  for (size_t i = 0; i < nel; i++) {
    evp__tc_struct_begin(&t);
    if (el[i].type >= 0) evp__tc_field_i32(&t, PQ_SE_TYPE, el[i].type);
    if (el[i].rep >= 0) evp__tc_field_i32(&t, PQ_SE_REPETITION, el[i].rep);
    evp__tc_field_string(&t, PQ_SE_NAME, el[i].name);
    if (el[i].nchildren != -1) evp__tc_field_i32(&t, PQ_SE_NUM_CHILDREN, el[i].nchildren);
    evp__tc_struct_end(&t);
  }
  evp__tc_field_i64(&t, PQ_FMD_NUM_ROWS, 0);
  evp__tc_field_list(&t, PQ_FMD_ROW_GROUPS, EVP__TC_STRUCT, 0);
  evp__tc_struct_end(&t);
  ck_assert_int_eq(evp__tc_error(&t), EVP_OK);
  size_t flen = b.len;
  unsigned char *f = malloc(flen + 12);
  memcpy(f, "PAR1", 4);
  memcpy(f + 4, b.p, flen);
  for (int i = 0; i < 4; i++) f[4 + flen + (size_t)i] = (unsigned char)(flen >> (8 * i));
  memcpy(f + 8 + flen, "PAR1", 4);
  lake_spit(path, f, flen + 12);
  free(f);
  evp__buf_free(&b);
}

#define OPT PQ_REP_OPTIONAL
#define REQ PQ_REP_REQUIRED
#define I64T PQ_T_INT64

START_TEST(nested_hostile_schemas_are_refused) {
  test_tmpdir_make(tmpdir, sizeof tmpdir, "lakenested");
  char path[512], err[512];
  snprintf(path, sizeof path, "%s/h.parquet", tmpdir);
  uint64_t rows;
  /* a well-formed nested schema opens (and reads no rows) */
  const hel_t good[] = {{-1, -1, "schema", 2},
                        {-1, OPT, "g", 2},
                        {I64T, OPT, "a", -1},
                        {I64T, REQ, "b", -1},
                        {I64T, OPT, "c", -1}};
  write_schema_file(path, good, 5);
  ck_assert_msg(read_all(path, &rows, err, sizeof err) == EVP_OK, "%s", err);
  struct {
    const char *what;
    hel_t el[12];
    size_t n;
  } bad[] = {
      {"root with -1 children", {{-1, -1, "schema", -1}, {I64T, OPT, "a", -1}}, 2},
      {"root with 0 children", {{-1, -1, "schema", 0}, {I64T, OPT, "a", -1}}, 2},
      {"root with too many", {{-1, -1, "schema", 1000000}, {I64T, OPT, "a", -1}}, 2},
      {"root with too few", {{-1, -1, "schema", 1}, {I64T, OPT, "a", -1}, {I64T, OPT, "b", -1}}, 3},
      {"group with -5 children",
       {{-1, -1, "schema", 1}, {-1, OPT, "g", -5}, {I64T, OPT, "a", -1}},
       3},
      {"group with huge children",
       {{-1, -1, "schema", 1}, {-1, OPT, "g", 2147483647}, {I64T, OPT, "a", -1}},
       3},
      {"group past the end",
       {{-1, -1, "schema", 1}, {-1, OPT, "g", 3}, {I64T, OPT, "a", -1}, {I64T, OPT, "b", -1}},
       4},
      {"group with a physical type",
       {{-1, -1, "schema", 1}, {I64T, OPT, "g", 1}, {I64T, OPT, "a", -1}},
       3},
      {"no type and no children", {{-1, -1, "schema", 1}, {-1, OPT, "g", -1}}, 2},
      {"leaf with 0 children and no type", {{-1, -1, "schema", 1}, {-1, OPT, "g", 0}}, 2},
      {"repeated group", {{-1, -1, "schema", 1}, {-1, 2, "g", 1}, {I64T, OPT, "a", -1}}, 3},
      {"duplicate siblings",
       {{-1, -1, "schema", 1}, {-1, OPT, "g", 2}, {I64T, OPT, "a", -1}, {I64T, OPT, "a", -1}},
       4},
      {"nine deep",
       {{-1, -1, "schema", 1},
        {-1, OPT, "l1", 1},
        {-1, OPT, "l2", 1},
        {-1, OPT, "l3", 1},
        {-1, OPT, "l4", 1},
        {-1, OPT, "l5", 1},
        {-1, OPT, "l6", 1},
        {-1, OPT, "l7", 1},
        {-1, OPT, "l8", 1},
        {I64T, OPT, "l9", -1}},
       10},
  };
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    write_schema_file(path, bad[k].el, bad[k].n);
    evp_err_t e = read_all(path, &rows, err, sizeof err);
    ck_assert_msg(e == EVP_ERR_IO || e == EVP_ERR_UNSUPPORTED, "%s: opened (%d)", bad[k].what, e);
    ck_assert_msg(strstr(err, "h.parquet"), "%s: %s", bad[k].what, err);
  }
  /* eight deep is fine */
  const hel_t eight[] = {{-1, -1, "schema", 1}, {-1, OPT, "l1", 1}, {-1, OPT, "l2", 1},
                         {-1, OPT, "l3", 1},    {-1, OPT, "l4", 1}, {-1, OPT, "l5", 1},
                         {-1, OPT, "l6", 1},    {-1, OPT, "l7", 1}, {I64T, OPT, "l8", -1}};
  write_schema_file(path, eight, 9);
  ck_assert_msg(read_all(path, &rows, err, sizeof err) == EVP_OK, "%s", err);
  test_tmpdir_remove(tmpdir);
}
END_TEST

/* Index of the @p nth occurrence of needle in b[0..n), or n. */
static size_t find_nth(const unsigned char *b, size_t n, const void *needle, size_t len, int nth) {
  for (size_t i = 0; i + len <= n; i++)
    if (!memcmp(b + i, needle, len) && nth-- == 0) return i;
  return n;
}

START_TEST(nested_damaged_levels_and_paths_are_errors) {
  test_tmpdir_make(tmpdir, sizeof tmpdir, "lakenested");
  /* two leaves of one group, 8 rows all present: each page's levels are
   * the RLE run (8 x level 1): 02 00 00 00 10 01 */
  static const evp__pq_column_t cols[] = {
      {"g", EVP__PQ_GROUP, 1, 2}, {"a", EVP__PQ_INT64, 0, 0}, {"b", EVP__PQ_INT64, 0, 0}};
  evp__pq_value_t rows[8][3];
  for (int r = 0; r < 8; r++) {
    evp__pq_value_t g = GRP, a = I64(r), b = I64(100 + r);
    rows[r][0] = g;
    rows[r][1] = a;
    rows[r][2] = b;
  }
  evp__pq_options_t o = {0};
  o.no_fsync = 1;
  o.codec = EVP__PQ_UNCOMPRESSED;
  o.no_delta_int = o.no_int_dict = 1;
  write_rows("d.parquet", cols, 3, &o, &rows[0][0], 8);
  char path[512], dmg[512], err[512];
  snprintf(path, sizeof path, "%s/d.parquet", tmpdir);
  snprintf(dmg, sizeof dmg, "%s/damaged.parquet", tmpdir);
  uint64_t nrows;
  ck_assert_msg(read_all(path, &nrows, err, sizeof err) == EVP_OK, "%s", err);
  ck_assert_uint_eq(nrows, 8);
  size_t n;
  unsigned char *orig = lake_slurp(path, &n), *b = malloc(n);
  const unsigned char lv[] = {2, 0, 0, 0, 0x10, 0x01};
  size_t at = find_nth(orig, n, lv, sizeof lv, 0);
  ck_assert_uint_lt(at, n);
  ck_assert_uint_lt(find_nth(orig, n, lv, sizeof lv, 1), n); /* b's page too */
  /* a's levels say the group is null, b's that it is present */
  memcpy(b, orig, n);
  b[at + 5] = 0x00;
  lake_spit(dmg, b, n);
  ck_assert_int_eq(read_all(dmg, &nrows, err, sizeof err), EVP_ERR_IO);
  ck_assert_msg(strstr(err, "damaged.parquet") && strstr(err, "g.b") && strstr(err, "'g'"), "%s",
                err);
  /* a level above the leaf's largest (at bit width 1, a run of 2) */
  memcpy(b, orig, n);
  b[at + 5] = 0x02;
  lake_spit(dmg, b, n);
  ck_assert_int_eq(read_all(dmg, &nrows, err, sizeof err), EVP_ERR_IO);
  ck_assert_msg(strstr(err, "g.a"), "%s", err);
  /* path_in_schema that is not the leaf's: [g, b] for a */
  const unsigned char pa[] = {0x28, 0x01, 'g', 0x01, 'a'};
  size_t p = find_nth(orig, n, pa, sizeof pa, 0);
  ck_assert_uint_lt(p, n);
  memcpy(b, orig, n);
  b[p + 4] = 'b';
  lake_spit(dmg, b, n);
  ck_assert_int_eq(read_all(dmg, &nrows, err, sizeof err), EVP_ERR_IO);
  ck_assert_msg(strstr(err, "path_in_schema") && strstr(err, "g.a"), "%s", err);
  free(b);
  free(orig);
  test_tmpdir_remove(tmpdir);
}
END_TEST

/* Bit flips and truncations of a nested file: errors, never a crash or a
 * read outside the file (run under ASan). */
START_TEST(nested_file_survives_bit_flips_and_truncation) {
  test_tmpdir_make(tmpdir, sizeof tmpdir, "lakenested");
  const size_t nin = sizeof HAND_IN / sizeof *HAND_IN;
  evp__pq_value_t *rows = calloc(nin * 40 * NHAND, sizeof *rows);
  for (size_t k = 0; k < 40; k++) memcpy(rows + k * nin * NHAND, HAND_IN, sizeof HAND_IN);
  evp__pq_options_t o = {0};
  o.no_fsync = 1;
  o.row_group_rows = 120;
  write_rows("f.parquet", HAND, NHAND, &o, rows, nin * 40);
  free(rows);
  char path[512], dmg[512], err[512];
  snprintf(path, sizeof path, "%s/f.parquet", tmpdir);
  snprintf(dmg, sizeof dmg, "%s/damaged.parquet", tmpdir);
  size_t n;
  unsigned char *orig = lake_slurp(path, &n), *b = malloc(n);
  uint64_t seed = 17, nrows;
  const int slow = gen_nvariants() == 1;
  size_t step = slow ? n / 40 + 1 : n / 400 + 1, failures = 0, runs = 0;
  for (size_t cut = 0; cut < n; cut += step) {
    lake_spit(dmg, orig, cut);
    ck_assert_msg(read_all(dmg, &nrows, err, sizeof err) != EVP_OK, "cut at %zu read fine", cut);
  }
  for (int it = 0; it < (slow ? 60 : 600); it++) {
    memcpy(b, orig, n);
    int flips = 1 + (int)(evp__gen_next(&seed) % 3);
    for (int f = 0; f < flips; f++)
      b[evp__gen_next(&seed) % n] ^= (unsigned char)(1u << (evp__gen_next(&seed) % 8));
    lake_spit(dmg, b, n);
    if (read_all(dmg, &nrows, err, sizeof err) != EVP_OK) failures++;
    runs++;
  }
  ck_assert_msg(failures > runs / 10, "%zu of %zu damaged reads failed", failures, runs);
  free(b);
  free(orig);
  test_tmpdir_remove(tmpdir);
}
END_TEST

/* ------------------------------------------------------------ compaction */

START_TEST(nested_part_files_compact_row_for_row) {
  test_tmpdir_make(tmpdir, sizeof tmpdir, "lakenested");
  char hour[512], err[512];
  snprintf(hour, sizeof hour, "%s/events/dt=2026-12-05/hour=03", tmpdir);
  ck_assert_int_eq(evp__mkdirs(hour, err, sizeof err), EVP_OK);
  size_t nds;
  const evp__gen_ds_t *ds = gen_datasets(&nds), *d = NULL;
  for (size_t i = 0; i < nds; i++)
    if (!strcmp(ds[i].name, "nested")) d = &ds[i];
  ck_assert_ptr_nonnull(d);
  char *sb = malloc(2 * GEN_SLOT + 16);
  evp__pq_value_t *row = calloc(d->ncols, sizeof *row);
  uint64_t s = 5;
  const size_t per = 400, nfiles = 3;
  for (size_t f = 0; f < nfiles; f++) {
    char name[128];
    snprintf(name, sizeof name, "part-%020zu-%020zu.parquet", f * per, f * per + per - 1);
    evp__pq_writer_t *w;
    evp__pq_options_t o = {0};
    o.no_fsync = 1;
    ck_assert_int_eq(evp__pq_writer_open(&w, hour, name, d->cols, d->ncols, &o, err, sizeof err),
                     EVP_OK);
    for (size_t r = f * per; r < (f + 1) * per; r++) {
      d->row(&s, r, row, sb);
      ck_assert_msg(evp__pq_writer_append(w, row, err, sizeof err) == EVP_OK, "%s", err);
    }
    ck_assert_int_eq(evp__pq_writer_close(w, NULL, err, sizeof err), EVP_OK);
  }
  evp__compact_opts_t co = {0};
  co.root = tmpdir;
  co.checkpoint = UINT64_MAX;
  co.force = 1;
  co.no_fsync = 1;
  evp__compact_result_t res;
  ck_assert_msg(evp__lake_compact_hour(&co, "2026-12-05", 3, &res, err, sizeof err) == EVP_OK, "%s",
                err);
  ck_assert_int_eq(res.compacted, 1);
  ck_assert_uint_eq(res.files_out, 1);
  ck_assert_uint_eq(res.rows, per * nfiles);
  /* the one file left holds every row, in order, groups and all */
  DIR *dir = opendir(hour);
  ck_assert_ptr_nonnull(dir);
  struct dirent *de;
  char path[1024] = "";
  int nparq = 0;
  while ((de = readdir(dir)))
    if (strstr(de->d_name, ".parquet") && de->d_name[0] != '.') {
      snprintf(path, sizeof path, "%s/%s", hour, de->d_name);
      nparq++;
    }
  closedir(dir);
  ck_assert_int_eq(nparq, 1);
  evp__pq_reader_t *r;
  ck_assert_msg(evp__pq_reader_open(&r, path, err, sizeof err) == EVP_OK, "%s", err);
  ck_assert_int_eq(evp__pq_reader_check_schema(r, d->cols, d->ncols, err, sizeof err), EVP_OK);
  s = 5;
  const evp__pq_value_t *got;
  for (size_t i = 0; i < per * nfiles; i++) {
    d->row(&s, i, row, sb);
    ck_assert_msg(evp__pq_reader_next(r, &got, err, sizeof err) == EVP_OK, "%s", err);
    for (size_t c = 0; c < d->ncols; c++)
      ck_assert_msg(lake_same_value(&d->cols[c], &got[c], &row[c]), "row %zu node %s differs", i,
                    d->cols[c].name);
  }
  ck_assert_int_eq(evp__pq_reader_next(r, &got, err, sizeof err), EVP_OK);
  ck_assert_ptr_null(got);
  evp__pq_reader_close(r);
  free(row);
  free(sb);
  test_tmpdir_remove(tmpdir);
}
END_TEST

int main(void) {
  (void)evp__gen_all; /* lake_gen.h helpers this suite does not need */
  (void)evp__gen_count;
  (void)evp__gen_name;
  Suite *s = suite_create("lake_nested");
  TCase *tc = tcase_create("nested");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, nested_dataset_round_trips_in_every_variant);
  tcase_add_test(tc, nested_nulls_at_every_level_round_trip);
  tcase_add_test(tc, nested_levels_use_the_bit_width_of_the_deepest_level);
  tcase_add_test(tc, nested_reopened_writer_writes_what_a_fresh_one_writes);
  tcase_add_test(tc, nested_bad_schemas_are_refused_naming_the_node);
  tcase_add_test(tc, nested_refused_rows_leave_the_writer_usable);
  tcase_add_test(tc, nested_hostile_schemas_are_refused);
  tcase_add_test(tc, nested_damaged_levels_and_paths_are_errors);
  tcase_add_test(tc, nested_file_survives_bit_flips_and_truncation);
  tcase_add_test(tc, nested_part_files_compact_row_for_row);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
