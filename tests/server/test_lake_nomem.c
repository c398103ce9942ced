/* The lake writer when memory runs out, at every allocation in turn: each
 * call either fails cleanly with EVP_ERR_NOMEM (no file left behind, nothing
 * leaked: the sanitizer and valgrind stages check that) or, where the writer
 * can do without (a dictionary it gives up), writes a file that reads back
 * as the rows appended. The binary links with --wrap=malloc,calloc,realloc
 * (tests/CMakeLists.txt), so the allocations of the library's objects come
 * here first. */
#define _XOPEN_SOURCE 700 /* nftw (tmpdir.h) */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "lake/lake.h"
#include "lake/lake_compact.h"
#include "lake/pq_reader.h"
#include "tmpdir.h"

/* ------------------------------------------------------------ allocator */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

static long fail_at = -1; /* the allocation (counted from 0) to fail; -1: none */
static long allocs;       /* allocations since armed */

static int fail_now(void) { return fail_at >= 0 && allocs++ == fail_at; }

void *__wrap_malloc(size_t n);
void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size) { return fail_now() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n) { return fail_now() ? NULL : __real_realloc(p, n); }

static void arm(long at) {
  allocs = 0;
  fail_at = at;
}

static void disarm(void) { fail_at = -1; }

/* ------------------------------------------------------------ the file */

static char tmpdir[256];
static long absorbed; /* failed allocations after which the file was still written */

/* id, a repeating name (a dictionary), an event time (an integer
 * dictionary), a near-unique text (its dictionary gives up midway), and a
 * struct of two fields. */
static const evp__pq_column_t COLS[] = {
    {"id", EVP__PQ_INT64, 0, 0},       {"name", EVP__PQ_STRING, 1, 0},
    {"t", EVP__PQ_TIMESTAMP_US, 1, 0}, {"text", EVP__PQ_STRING, 1, 0},
    {"ctx", EVP__PQ_GROUP, 1, 2},      {"os", EVP__PQ_STRING, 1, 0},
    {"build", EVP__PQ_INT64, 1, 0},
};
#define NCOLS (sizeof COLS / sizeof *COLS)
#define NROWS 1500

static char names[NROWS][8], texts[NROWS][40];

static void row_of(int i, evp__pq_value_t *r) {
  memset(r, 0, NCOLS * sizeof *r);
  r[0].v.i64 = i;
  snprintf(names[i], sizeof names[i], "n%d", i % 13);
  r[1].v.s.ptr = names[i];
  r[1].v.s.len = strlen(names[i]);
  r[1].is_null = i % 7 == 0;
  r[2].v.i64 = INT64_C(1764590000000000) + (int64_t)(i % 50) * 1000000;
  snprintf(texts[i], sizeof texts[i], "text-%d-%d", i, i * 7919 % 1000);
  r[3].v.s.ptr = texts[i];
  r[3].v.s.len = strlen(texts[i]);
  r[4].is_null = i % 5 == 0;
  r[5].v.s.ptr = i % 2 ? "iOS" : "Android";
  r[5].v.s.len = strlen(r[5].v.s.ptr);
  r[6].v.i64 = 100 + i % 3;
  r[6].is_null = i % 11 == 0;
}

/* The file holds the rows appended, value for value. (Compared without
 * an assertion per value: Check records each one's location.) */
static void check_file(const char *path) {
  evp__pq_reader_t *r = NULL;
  char err[256] = "", bad[128] = "";
  ck_assert_msg(evp__pq_reader_open(&r, path, err, sizeof err) == EVP_OK, "%s", err);
  ck_assert_uint_eq(evp__pq_reader_num_rows(r), NROWS);
  const evp__pq_value_t *got = NULL;
  for (int i = 0; i < NROWS && !bad[0]; i++) {
    if (evp__pq_reader_next(r, &got, err, sizeof err) != EVP_OK || !got) {
      snprintf(bad, sizeof bad, "row %d: cannot read (%s)", i, err);
      break;
    }
    evp__pq_value_t want[NCOLS];
    row_of(i, want);
    for (size_t c = 0; c < NCOLS && !bad[0]; c++) {
      int null = want[c].is_null || (c >= 5 && want[4].is_null);
      int same = got[c].is_null == null;
      if (same && !null && COLS[c].type == EVP__PQ_STRING)
        same = got[c].v.s.len == want[c].v.s.len &&
               !memcmp(got[c].v.s.ptr, want[c].v.s.ptr, want[c].v.s.len);
      else if (same && !null && COLS[c].type != EVP__PQ_GROUP)
        same = got[c].v.i64 == want[c].v.i64;
      if (!same)
        snprintf(bad, sizeof bad, "row %d, column %s: not the value appended", i, COLS[c].name);
    }
  }
  ck_assert_msg(!bad[0], "%s: %s", path, bad);
  ck_assert_int_eq(evp__pq_reader_next(r, &got, err, sizeof err), EVP_OK);
  ck_assert_ptr_null(got);
  evp__pq_reader_close(r);
}

/* Open, append, close with allocation @p at failing. 1 when the failure
 * point was reached (and handled), 0 when everything ran without reaching
 * it. */
static int write_failing_at(long at, evp__pq_codec_t codec) {
  evp__pq_options_t o;
  memset(&o, 0, sizeof o);
  o.codec = codec;
  o.no_fsync = 1;
  o.row_group_rows = 600;   /* three row groups */
  o.page_bytes = 1024;      /* many pages: the page index grows */
  o.dict_max_entries = 400; /* "text" gives its dictionary up in every group */
  evp__pq_writer_t *w = NULL;
  char err[256] = "";
  evp_err_t e;
  arm(at);
  e = evp__pq_writer_open(&w, tmpdir, "f.parquet", COLS, NCOLS, &o, err, sizeof err);
  for (int i = 0; e == EVP_OK && i < NROWS; i++) {
    evp__pq_value_t row[NCOLS];
    row_of(i, row);
    e = evp__pq_writer_append(w, row, err, sizeof err);
  }
  uint64_t size = 0;
  if (e == EVP_OK) {
    e = evp__pq_writer_close(w, &size, err, sizeof err);
  } else {
    evp__pq_writer_abort(w);
  }
  int reached = allocs > at;
  disarm();
  char path[512];
  snprintf(path, sizeof path, "%s/f.parquet", tmpdir);
  if (e == EVP_OK) {
    absorbed += reached;
    ck_assert_int_eq(test_tmpdir_count(tmpdir), 1);
    check_file(path);
    remove(path);
  } else {
    ck_assert_msg(reached, "allocation %ld: %s (%d) without a failed allocation", at, err, (int)e);
    ck_assert_msg(e == EVP_ERR_NOMEM, "allocation %ld failed: error %d (%s), not EVP_ERR_NOMEM", at,
                  (int)e, err);
    ck_assert_msg(strstr(err, "out of memory") != NULL, "allocation %ld: '%s'", at, err);
    ck_assert_msg(test_tmpdir_count(tmpdir) == 0, "allocation %ld: a file was left behind", at);
  }
  return reached;
}

static void every_allocation(evp__pq_codec_t codec) {
  test_tmpdir_make(tmpdir, sizeof tmpdir, "lake_nomem");
  long at = 0;
  absorbed = 0;
  while (write_failing_at(at, codec)) at++;
  /* The workload allocates: otherwise the test proves nothing. */
  ck_assert_msg(at > 50, "only %ld allocations", at);
  printf("lake_nomem: %ld allocations, each failed once: %ld refused with EVP_ERR_NOMEM, %ld "
         "absorbed (the file written all the same)\n",
         at, at - absorbed, absorbed);
  test_tmpdir_remove(tmpdir);
}

START_TEST(writer_survives_every_failed_allocation) { every_allocation(EVP__PQ_SNAPPY); }
END_TEST

START_TEST(writer_survives_every_failed_allocation_zstd) { every_allocation(EVP__PQ_ZSTD); }
END_TEST

/* ------------------------------------------------------------ compaction */

#define HOUR_DIR "events/dt=2025-12-01/hour=12"
#define NPARTS 3

/* The hour as three flushes left it: part files of rows [k*500, k*500+500). */
static void write_parts(void) {
  char dir[512], name[80], err[256];
  snprintf(dir, sizeof dir, "%s/events", tmpdir);
  mkdir(dir, 0700);
  snprintf(dir, sizeof dir, "%s/events/dt=2025-12-01", tmpdir);
  mkdir(dir, 0700);
  snprintf(dir, sizeof dir, "%s/" HOUR_DIR, tmpdir);
  mkdir(dir, 0700);
  evp__pq_options_t o;
  memset(&o, 0, sizeof o);
  o.no_fsync = 1;
  for (int k = 0; k < NPARTS; k++) {
    snprintf(name, sizeof name, "part-%020d-%020d.parquet", k * 10, k * 10 + 9);
    evp__pq_writer_t *w = NULL;
    ck_assert_msg(evp__pq_writer_open(&w, dir, name, COLS, NCOLS, &o, err, sizeof err) == EVP_OK,
                  "%s", err);
    for (int i = k * (NROWS / NPARTS); i < (k + 1) * (NROWS / NPARTS); i++) {
      evp__pq_value_t row[NCOLS];
      row_of(i, row);
      ck_assert_msg(evp__pq_writer_append(w, row, err, sizeof err) == EVP_OK, "%s", err);
    }
    ck_assert_msg(evp__pq_writer_close(w, NULL, err, sizeof err) == EVP_OK, "%s", err);
  }
}

/* The one file of the hour, or "" (its path in @p path) when not exactly one
 * file whose name starts with @p prefix is there; the number of files. */
static int hour_files(const char *prefix, char *path, size_t n) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/" HOUR_DIR, tmpdir);
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  int files = 0, match = 0;
  struct dirent *e;
  path[0] = '\0';
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    files++;
    if (!strncmp(e->d_name, prefix, strlen(prefix)) && !match++ &&
        strlen(dir) + strlen(e->d_name) + 2 <= n) {
      strcpy(path, dir);
      strcat(path, "/");
      strcat(path, e->d_name);
    }
  }
  closedir(d);
  if (match != 1) path[0] = '\0';
  return files;
}

/* Compaction of the hour with allocation @p at failing: done with every
 * row once, or refused with the hour as it was. 1 when the failure point
 * was reached. */
static int compact_failing_at(long at) {
  write_parts();
  evp__compact_opts_t o;
  memset(&o, 0, sizeof o);
  o.root = tmpdir;
  o.checkpoint = UINT64_MAX;
  o.no_fsync = 1;
  o.force = 1;
  evp__compact_result_t res;
  char err[512] = "", path[700];
  arm(at);
  evp_err_t e = evp__lake_compact_hour(&o, "2025-12-01", 12, &res, err, sizeof err);
  int reached = allocs > at;
  disarm();
  if (e == EVP_OK) {
    absorbed += reached;
    ck_assert_msg(res.compacted && res.rows == NROWS, "allocation %ld: %zu files, %llu rows", at,
                  res.files_out, (unsigned long long)res.rows);
    ck_assert_int_eq(hour_files("compact-", path, sizeof path), 1);
    ck_assert_msg(path[0], "allocation %ld: no compacted file", at);
    check_file(path);
  } else {
    ck_assert_msg(reached, "allocation %ld: %s (%d) without a failed allocation", at, err, (int)e);
    ck_assert_msg(e == EVP_ERR_NOMEM, "allocation %ld failed: error %d (%s), not EVP_ERR_NOMEM", at,
                  (int)e, err);
    ck_assert_msg(strstr(err, "out of memory") != NULL, "allocation %ld: '%s'", at, err);
    /* The hour as it was: its three files, nothing else. */
    ck_assert_msg(hour_files("part-", path, sizeof path) == NPARTS,
                  "allocation %ld: the hour changed (%s)", at, err);
    ck_assert_msg(evp__lake_compact_recover(tmpdir, err, sizeof err) == EVP_OK, "%s", err);
    char stage[512];
    snprintf(stage, sizeof stage, "%s/compact", tmpdir);
    ck_assert_msg(test_tmpdir_count(stage) == 0, "allocation %ld: staging left after recovery", at);
  }
  char dir[512];
  snprintf(dir, sizeof dir, "%s/events", tmpdir);
  test_tmpdir_remove(dir);
  return reached;
}

START_TEST(compaction_survives_every_failed_allocation) {
  test_tmpdir_make(tmpdir, sizeof tmpdir, "lake_nomem");
  /* Under valgrind every fifth (each run takes ~0.3 s there); ASan runs
   * them all. */
  const long step = getenv("EVP_VALGRIND") ? 5 : 1;
  long at = 0, runs = 0;
  absorbed = 0;
  for (; compact_failing_at(at); at += step) runs++;
  ck_assert_msg(at > 50, "only %ld allocations", at);
  printf("lake_nomem: compaction: %ld allocations, %ld failed in turn: %ld refused with "
         "EVP_ERR_NOMEM and the hour unchanged, %ld absorbed (compacted all the same)\n",
         at, runs, runs - absorbed, absorbed);
  test_tmpdir_remove(tmpdir);
}
END_TEST

int main(void) {
  Suite *s = suite_create("lake_nomem");
  TCase *tc = tcase_create("nomem");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, writer_survives_every_failed_allocation);
  tcase_add_test(tc, writer_survives_every_failed_allocation_zstd);
  tcase_add_test(tc, compaction_survives_every_failed_allocation);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
