/* Suite: the Parquet reader (src/lake/pq_reader.c, thrift_read.c) and the
 * compaction of hour partitions (src/lake/lake_compact.c).
 *
 * The reader reads back every dataset of lake_gen.h (dictionary and PLAIN
 * chunks, NaN, nulls, Snappy and uncompressed, empty, one row with key/value
 * metadata, byte-limited row groups, 20 columns) value for value; damaged
 * copies of real files (every truncation length of a small file, thousands
 * of bit flips) give errors, never crashes (run under ASan in CI).
 * Compaction: rows out == rows in; part files at or after the checkpoint and
 * foreign files stay; a lost row stops the swap; leftover staging
 * directories go; repeated runs are stable. */
#define _XOPEN_SOURCE 700 /* nftw (tmpdir.h) */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "lake/lake.h"
#include "lake/lake_compact.h"
#include "lake/pq_reader.h"
#include "lake/thrift_read.h"
#include "lake_gen.h"
#include "lake_test_files.h"
#include "base/files.h"
#include "batcher/batcher.h"
#include "wal/wal.h"
#include "../../bench/bench_events.h" /* --gen-lake ... bench: the benchmarks' events */
#include "suite_main.h"
#include "tmpdir.h"

static char tmpdir[256];

static void mk_tmpdir(void) { test_tmpdir_make(tmpdir, sizeof tmpdir, "lakecompact"); }
static void rm_tmpdir(void) { ck_assert_int_eq(test_tmpdir_remove(tmpdir), 0); }

/* ------------------------------------------------------------ thrift */

START_TEST(thrift_reader_decodes_what_the_encoder_writes) {
  evp__buf_t b = {0};
  evp__tc_t t;
  evp__tc_init(&t, &b);
  evp__tc_struct_begin(&t);
  evp__tc_field_i32(&t, 1, -5);
  evp__tc_field_i64(&t, 20, INT64_MIN);
  evp__tc_field_bool(&t, 21, 1);
  evp__tc_field_binary(&t, 3, "xyz", 3);
  evp__tc_field_list(&t, 4, EVP__TC_I32, 20);
  for (int i = 0; i < 20; i++) evp__tc_i32(&t, i * 1000);
  evp__tc_field_struct(&t, 5);
  evp__tc_field_i64(&t, 1, INT64_MAX);
  evp__tc_struct_end(&t);
  evp__tc_struct_end(&t);
  ck_assert_int_eq(evp__tc_error(&t), EVP_OK);

  evp__tr_t r;
  int16_t id;
  uint8_t ty;
  evp__tr_init(&r, b.p, b.len);
  evp__tr_struct_begin(&r);
  ck_assert(evp__tr_field(&r, &id, &ty) && id == 1);
  ck_assert_int_eq(evp__tr_int(&r, ty), -5);
  ck_assert(evp__tr_field(&r, &id, &ty) && id == 20);
  ck_assert(evp__tr_int(&r, ty) == INT64_MIN);
  ck_assert(evp__tr_field(&r, &id, &ty) && id == 21);
  ck_assert_int_eq(evp__tr_bool(&r, ty), 1);
  ck_assert(evp__tr_field(&r, &id, &ty) && id == 3);
  const uint8_t *p;
  size_t n;
  evp__tr_binary(&r, ty, &p, &n);
  ck_assert(n == 3 && !memcmp(p, "xyz", 3));
  ck_assert(evp__tr_field(&r, &id, &ty) && id == 4);
  uint8_t et;
  ck_assert_uint_eq(evp__tr_list(&r, ty, &et), 20);
  for (int i = 0; i < 20; i++) ck_assert_int_eq(evp__tr_int(&r, et), i * 1000);
  ck_assert(evp__tr_field(&r, &id, &ty) && id == 5);
  evp__tr_skip(&r, ty); /* the nested struct, skipped whole */
  ck_assert(!evp__tr_field(&r, &id, &ty));
  ck_assert(!evp__tr_failed(&r));
  ck_assert_uint_eq(r.pos, b.len);

  /* every truncation fails, never reads past the end */
  for (size_t cut = 0; cut < b.len; cut++) {
    evp__tr_init(&r, b.p, cut);
    evp__tr_skip(&r, EVP__TC_STRUCT);
    ck_assert_msg(evp__tr_failed(&r), "cut at %zu not detected", cut);
  }
  /* deep nesting stops at the bound */
  uint8_t deep[64];
  memset(deep, 0x1C, sizeof deep); /* field +1, struct ... */
  evp__tr_init(&r, deep, sizeof deep);
  evp__tr_skip(&r, EVP__TC_STRUCT);
  ck_assert(evp__tr_failed(&r));
  evp__buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------ reader */

START_TEST(reader_reads_every_generated_dataset_back) {
  mk_tmpdir();
  char err[512] = "";
  ck_assert_msg(evp__gen_all(tmpdir, 7, err, sizeof err) == EVP_OK, "%s", err);
  size_t nds;
  const evp__gen_ds_t *ds = gen_datasets(&nds);
  char *sb = malloc(2 * GEN_SLOT + 16);
  ck_assert_ptr_nonnull(sb);
  /* every dataset in every variant: each encoding and codec the writer
   * can produce (lake_gen.h's GEN_VARIANTS), which compaction must read.
   * Under TSan and valgrind only the default variant is written
   * (gen_nvariants): the normal and ASan builds read them all. */
  size_t nvar = gen_nvariants();
  for (size_t iv = 0; iv < nds * nvar; iv++) {
    const evp__gen_ds_t *d = &ds[iv / nvar];
    char name[160], path[512];
    snprintf(name, sizeof name, "%s%s", d->name, GEN_VARIANTS[iv % nvar].suffix);
    snprintf(path, sizeof path, "%s/%s.parquet", tmpdir, name);
    evp__pq_reader_t *r;
    ck_assert_msg(evp__pq_reader_open(&r, path, err, sizeof err) == EVP_OK, "%s", err);
    ck_assert_msg(evp__pq_reader_check_schema(r, d->cols, d->ncols, err, sizeof err) == EVP_OK,
                  "%s", err);
    ck_assert_uint_eq(evp__pq_reader_num_rows(r), d->nrows);
    size_t nkv;
    const evp__pq_kv_t *kv = evp__pq_reader_kv(r, &nkv);
    ck_assert_uint_eq(nkv, d->opt.nkv);
    for (size_t k = 0; k < nkv; k++) {
      ck_assert_str_eq(kv[k].key, d->opt.kv[k].key);
      if (d->opt.kv[k].value)
        ck_assert_str_eq(kv[k].value, d->opt.kv[k].value);
      else
        ck_assert_ptr_null(kv[k].value);
    }
    uint64_t s = 7 * 1000003u + (uint64_t)strlen(name);
    evp__pq_value_t *want = calloc(d->ncols, sizeof *want);
    const evp__pq_value_t *row;
    for (size_t n = 0; n < d->nrows; n++) {
      d->row(&s, n, want, sb);
      ck_assert_msg(evp__pq_reader_next(r, &row, err, sizeof err) == EVP_OK, "%s: %s", name, err);
      ck_assert_ptr_nonnull(row);
      for (size_t c = 0; c < d->ncols; c++)
        ck_assert_msg(lake_same_value(&d->cols[c], &row[c], &want[c]),
                      "%s row %zu column %s differs", name, n, d->cols[c].name);
    }
    ck_assert_int_eq(evp__pq_reader_next(r, &row, err, sizeof err), EVP_OK);
    ck_assert_ptr_null(row);
    free(want);
    evp__pq_reader_close(r);
  }
  /* a different schema is named */
  char path[512];
  snprintf(path, sizeof path, "%s/one.parquet", tmpdir);
  evp__pq_reader_t *r;
  ck_assert_int_eq(evp__pq_reader_open(&r, path, err, sizeof err), EVP_OK);
  const evp__pq_column_t other[] = {{"s", EVP__PQ_STRING, 1, 0}, {"i", EVP__PQ_DOUBLE, 1, 0}};
  ck_assert_int_eq(evp__pq_reader_check_schema(r, other, 2, err, sizeof err),
                   EVP_ERR_SCHEMA_INVALID);
  ck_assert_msg(strstr(err, "'i'") && strstr(err, "double"), "%s", err);
  evp__pq_reader_close(r);
  /* not Parquet, missing */
  snprintf(path, sizeof path, "%s/one.ndjson", tmpdir);
  ck_assert_int_eq(evp__pq_reader_open(&r, path, err, sizeof err), EVP_ERR_IO);
  ck_assert_msg(strstr(err, "one.ndjson"), "%s", err);
  snprintf(path, sizeof path, "%s/nope.parquet", tmpdir);
  ck_assert_int_eq(evp__pq_reader_open(&r, path, err, sizeof err), EVP_ERR_IO);
  free(sb);
  rm_tmpdir();
}
END_TEST

/* Open and read every row: the result code (EVP_OK or the first error). */
static evp_err_t read_all(const char *path, uint64_t *rows) {
  char err[512];
  evp__pq_reader_t *r;
  *rows = 0;
  evp_err_t e = evp__pq_reader_open(&r, path, err, sizeof err);
  if (e) return e;
  const evp__pq_value_t *row;
  size_t ncols;
  evp__pq_reader_columns(r, &ncols);
  volatile unsigned sum = 0;
  while ((e = evp__pq_reader_next(r, &row, err, sizeof err)) == EVP_OK && row) {
    (*rows)++;
    /* touch every string byte, so a pointer past its buffer shows (ASan) */
    for (size_t c = 0; c < ncols; c++)
      if (!row[c].is_null && evp__pq_reader_columns(r, &ncols)[c].type == EVP__PQ_STRING)
        for (size_t k = 0; k < row[c].v.s.len; k++) sum += (unsigned char)row[c].v.s.ptr[k];
  }
  if (e) ck_assert_int_eq(evp__pq_reader_next(r, &row, err, sizeof err), EVP_ERR_STATE);
  evp__pq_reader_close(r);
  return e;
}

START_TEST(reader_survives_truncation_and_bit_flips) {
  mk_tmpdir();
  char err[512] = "";
  ck_assert_msg(evp__gen_all(tmpdir, 3, err, sizeof err) == EVP_OK, "%s", err);
  const char *names[] = {"wide", "fallback", "plain_none", "one"};
  char dmg[512];
  snprintf(dmg, sizeof dmg, "%s/damaged.parquet", tmpdir);
  uint64_t seed = 42;
  size_t runs = 0, failures = 0;
  /* Under TSan and valgrind a tenth of the damage (ASan runs it all). */
  const int slow = gen_nvariants() == 1;
  const int nflips = slow ? 70 : 700, nrandom = slow ? 15 : 150;
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.parquet", tmpdir, names[k]);
    size_t n;
    unsigned char *orig = lake_slurp(path, &n);
    uint64_t rows;
    ck_assert_int_eq(read_all(path, &rows), EVP_OK);
    /* Truncations: every length of small files, 300 spread over large ones. */
    size_t step = n <= 3000 ? 1 : n / 300;
    if (slow) step = n <= 300 ? 1 : n / 30;
    for (size_t cut = 0; cut < n; cut += step) {
      lake_spit(dmg, orig, cut);
      ck_assert_msg(read_all(dmg, &rows) != EVP_OK, "%s cut to %zu bytes read fine", names[k], cut);
      runs++;
    }
    /* Bit flips: half in the footer (where offsets and lengths live), half
     * anywhere; one to three at once. */
    unsigned char *b = malloc(n);
    uint32_t flen = (uint32_t)orig[n - 8] | (uint32_t)orig[n - 7] << 8 |
                    (uint32_t)orig[n - 6] << 16 | (uint32_t)orig[n - 5] << 24;
    for (int it = 0; it < nflips; it++) {
      memcpy(b, orig, n);
      int flips = 1 + (int)(evp__gen_next(&seed) % 3);
      for (int f = 0; f < flips; f++) {
        size_t at = (it & 1) ? (size_t)(evp__gen_next(&seed) % n)
                             : n - 8 - flen + (size_t)(evp__gen_next(&seed) % (flen + 8));
        b[at] ^= (unsigned char)(1u << (evp__gen_next(&seed) % 8));
      }
      lake_spit(dmg, b, n);
      if (read_all(dmg, &rows) != EVP_OK) failures++;
      runs++;
    }
    /* random bytes over a range of the footer */
    for (int it = 0; it < nrandom; it++) {
      memcpy(b, orig, n);
      size_t at = n - 8 - flen + (size_t)(evp__gen_next(&seed) % flen);
      for (size_t j = 0; j < 8 && at + j < n - 8; j++)
        b[at + j] = (unsigned char)evp__gen_next(&seed);
      lake_spit(dmg, b, n);
      if (read_all(dmg, &rows) != EVP_OK) failures++;
      runs++;
    }
    free(b);
    free(orig);
  }
  /* Most damage must be noticed (a flip inside a value may not be). */
  ck_assert_msg(failures > runs / 10, "%zu of %zu damaged reads failed", failures, runs);
  rm_tmpdir();
}
END_TEST

/* ------------------------------------------------------------ compaction */

static const evp__pq_column_t EV_COLS[] = {{"event_id", EVP__PQ_STRING, 0, 0},
                                           {"event_type", EVP__PQ_STRING, 0, 0},
                                           {"n", EVP__PQ_INT64, 1, 0},
                                           {"received_at", EVP__PQ_TIMESTAMP_US, 0, 0}};

static char hour_dir[512];

/* A part file of rows [first, last] (row r has event_id "id-<r>"). */
static void write_part(const char *dir, uint64_t first, uint64_t last) {
  char name[128], id[32];
  snprintf(name, sizeof name, "part-%020llu-%020llu.parquet", (unsigned long long)first,
           (unsigned long long)last);
  evp__pq_options_t o = {0};
  o.no_fsync = 1;
  static const evp__pq_kv_t kv[1] = {{"evpipe.test", "kept"}};
  o.kv = kv;
  o.nkv = 1;
  evp__pq_writer_t *w;
  char err[512];
  ck_assert_msg(evp__pq_writer_open(&w, dir, name, EV_COLS, 4, &o, err, sizeof err) == EVP_OK, "%s",
                err);
  for (uint64_t r = first; r <= last; r++) {
    snprintf(id, sizeof id, "id-%llu", (unsigned long long)r);
    evp__pq_value_t row[4];
    memset(row, 0, sizeof row);
    row[0].v.s.ptr = id;
    row[0].v.s.len = strlen(id);
    row[1].v.s.ptr = r % 3 ? "click" : "view";
    row[1].v.s.len = strlen(row[1].v.s.ptr);
    row[2].is_null = r % 5 == 0;
    row[2].v.i64 = (int64_t)r * 7;
    row[3].v.i64 = 1764900000000000 + (int64_t)r;
    ck_assert_int_eq(evp__pq_writer_append(w, row, err, sizeof err), EVP_OK);
  }
  ck_assert_int_eq(evp__pq_writer_close(w, NULL, err, sizeof err), EVP_OK);
}

static void make_hour(void) {
  mk_tmpdir();
  snprintf(hour_dir, sizeof hour_dir, "%s/events/dt=2026-12-05/hour=03", tmpdir);
  char err[512];
  ck_assert_int_eq(evp__mkdirs(hour_dir, err, sizeof err), EVP_OK);
}

/* Every id of [0, n) exactly once over the hour's files; the file count. */
static size_t check_ids(uint64_t n, size_t *compact_files) {
  unsigned char *seen = calloc(n, 1);
  DIR *d = opendir(hour_dir);
  ck_assert_ptr_nonnull(d);
  struct dirent *de;
  size_t files = 0;
  *compact_files = 0;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    files++;
    if (!strncmp(de->d_name, "compact-", 8)) (*compact_files)++;
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/%s", hour_dir, de->d_name);
    evp__pq_reader_t *r;
    ck_assert_msg(evp__pq_reader_open(&r, path, err, sizeof err) == EVP_OK, "%s", err);
    ck_assert_int_eq(evp__pq_reader_check_schema(r, EV_COLS, 4, err, sizeof err), EVP_OK);
    size_t nkv;
    const evp__pq_kv_t *kv = evp__pq_reader_kv(r, &nkv);
    ck_assert_uint_eq(nkv, 1);
    ck_assert_str_eq(kv[0].value, "kept");
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    const evp__pq_value_t *row;
    while (evp__pq_reader_next(r, &row, err, sizeof err) == EVP_OK && row) {
      char idb[32];
      ck_assert_uint_lt(row[0].v.s.len, sizeof idb);
      memcpy(idb, row[0].v.s.ptr, row[0].v.s.len);
      idb[row[0].v.s.len] = 0;
      unsigned long long id = strtoull(idb + 3, NULL, 10);
      ck_assert_uint_lt(id, n);
      ck_assert_msg(!seen[id], "id %llu twice", id);
      seen[id] = 1;
      ck_assert(row[2].is_null == (id % 5 == 0));
      if (!row[2].is_null) ck_assert(row[2].v.i64 == (int64_t)id * 7);
    }
    evp__pq_reader_close(r);
  }
  closedir(d);
  for (uint64_t i = 0; i < n; i++) ck_assert_msg(seen[i], "id %llu missing", (unsigned long long)i);
  free(seen);
  return files;
}

#define PART "part-%020llu-%020llu.parquet"

START_TEST(compaction_merges_below_the_checkpoint_and_keeps_the_rest) {
  make_hour();
  for (uint64_t f = 0; f < 10; f++) write_part(hour_dir, f * 1000, f * 1000 + 999);
  {
    char p[1024];
    snprintf(p, sizeof p, "%s/README.txt", hour_dir);
    lake_spit(p, (const unsigned char *)"not parquet", 11);
    snprintf(p, sizeof p, "%s/.part-00000000000000000001-00000000000000000002.parquet.tmp",
             hour_dir);
    lake_spit(p, (const unsigned char *)"crash leftover", 14);
  }
  evp__compact_opts_t o = {0};
  o.root = tmpdir;
  o.checkpoint = 8000; /* the files of 8000.. may still be needed by recovery */
  o.no_fsync = 1;
  evp__compact_result_t res;
  char err[512] = "";
  ck_assert_msg(evp__lake_compact_hour(&o, "2026-12-05", 3, &res, err, sizeof err) == EVP_OK, "%s",
                err);
  ck_assert_int_eq(res.compacted, 1);
  ck_assert_uint_eq(res.files_in, 8);
  ck_assert_uint_eq(res.files_out, 1);
  ck_assert_uint_eq(res.files_kept, 3); /* two part files and the README */
  ck_assert_uint_eq(res.rows, 8000);
  ck_assert_uint_lt(res.bytes_out, res.bytes_in);
  char p[1024];
  snprintf(p, sizeof p, "%s/README.txt", hour_dir);
  ck_assert_int_eq(unlink(p), 0); /* (check_ids reads Parquet only) */
  size_t ncompact;
  ck_assert_uint_eq(check_ids(10000, &ncompact), 3);
  ck_assert_uint_eq(ncompact, 1);
  snprintf(p, sizeof p, "%s/compact-%020d-%020d-000.parquet", hour_dir, 0, 7999);
  ck_assert_int_eq(access(p, F_OK), 0);
  struct stat st;
  ck_assert_int_eq(stat(hour_dir, &st), 0);
  ck_assert_uint_eq(st.st_mode & 0777, 0700);
  /* the staging area is empty again */
  snprintf(p, sizeof p, "%s/compact", tmpdir);
  DIR *d = opendir(p);
  ck_assert_ptr_nonnull(d);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) ck_assert_msg(de->d_name[0] == '.', "%s left", de->d_name);
  closedir(d);

  /* Not due again (one file at size plus newer ones above the checkpoint). */
  ck_assert_int_eq(evp__lake_compact_hour(&o, "2026-12-05", 3, &res, err, sizeof err), EVP_OK);
  ck_assert_int_eq(res.compacted, 0);
  /* The checkpoint moves on: the late files merge with the compacted one. */
  o.checkpoint = 100000;
  ck_assert_int_eq(evp__lake_compact_hour(&o, "2026-12-05", 3, &res, err, sizeof err), EVP_OK);
  ck_assert_int_eq(res.compacted, 1);
  ck_assert_uint_eq(res.files_in, 3);
  ck_assert_uint_eq(res.files_out, 1);
  ck_assert_uint_eq(check_ids(10000, &ncompact), 1);
  snprintf(p, sizeof p, "%s/compact-%020d-%020d-000.parquet", hour_dir, 0, 9999);
  ck_assert_int_eq(access(p, F_OK), 0);
  rm_tmpdir();
}
END_TEST

/* An hour of six part files (30,000 rows) compacted at a 100 kB target:
 * into several files; @p o is left as used. */
static void compact_split_hour(evp__compact_opts_t *o, evp__compact_result_t *res) {
  make_hour();
  for (uint64_t f = 0; f < 6; f++) write_part(hour_dir, f * 5000, f * 5000 + 4999);
  memset(o, 0, sizeof *o);
  o->root = tmpdir;
  o->checkpoint = UINT64_MAX;
  o->no_fsync = 1;
  o->target_bytes = 100000;
  char err[512] = "";
  ck_assert_msg(evp__lake_compact_hour(o, "2026-12-05", 3, res, err, sizeof err) == EVP_OK, "%s",
                err);
  ck_assert_int_eq(res->compacted, 1);
  ck_assert_uint_ge(res->files_out, 2);
}

START_TEST(compaction_splits_at_the_target_size) {
  evp__compact_opts_t o;
  evp__compact_result_t res;
  compact_split_hour(&o, &res);
  size_t ncompact;
  ck_assert_uint_eq(check_ids(30000, &ncompact), res.files_out);
  ck_assert_uint_eq(ncompact, res.files_out);
  rm_tmpdir();
}
END_TEST

static void count_step(void *arg, const char *step) {
  (void)step;
  (*(int *)arg)++;
}

START_TEST(compaction_refuses_to_swap_when_rows_differ) {
  make_hour();
  for (uint64_t f = 0; f < 4; f++) write_part(hour_dir, f * 100, f * 100 + 99);
  evp__compact_opts_t o = {0};
  o.root = tmpdir;
  o.checkpoint = UINT64_MAX;
  o.no_fsync = 1;
  o.test_drop_rows = 1;
  int steps = 0;
  o.hook = count_step;
  o.hook_arg = &steps;
  evp__compact_result_t res;
  char err[512] = "";
  ck_assert_int_eq(evp__lake_compact_hour(&o, "2026-12-05", 3, &res, err, sizeof err),
                   EVP_ERR_INTERNAL);
  ck_assert_msg(strstr(err, "399 rows, the old 400") && strstr(err, "nothing was swapped"), "%s",
                err);
  ck_assert_int_eq(res.compacted, 0);
  size_t ncompact;
  ck_assert_uint_eq(check_ids(400, &ncompact), 4);
  ck_assert_uint_eq(ncompact, 0);
  char p[1024];
  snprintf(p, sizeof p, "%s/compact/events.dt=2026-12-05.hour=03", tmpdir);
  ck_assert_int_eq(access(p, F_OK), -1); /* the unfinished set is gone */
  /* A damaged input stops it too, with the file named. */
  snprintf(p, sizeof p, "%s/" PART, hour_dir, 100ULL, 199ULL);
  ck_assert_int_eq(truncate(p, 100), 0);
  o.test_drop_rows = 0;
  ck_assert_int_eq(evp__lake_compact_hour(&o, "2026-12-05", 3, &res, err, sizeof err), EVP_ERR_IO);
  ck_assert_msg(strstr(err, "part-00000000000000000100"), "%s", err);
  ck_assert_int_eq(res.compacted, 0);
  rm_tmpdir();
}
END_TEST

START_TEST(recovery_removes_leftover_staging_directories) {
  make_hour();
  for (uint64_t f = 0; f < 3; f++) write_part(hour_dir, f * 100, f * 100 + 99);
  char stage[1024], p[1200], err[512] = "";
  /* before the exchange: an unfinished new set; after it: the old set */
  snprintf(stage, sizeof stage, "%s/compact/events.dt=2026-12-05.hour=03", tmpdir);
  ck_assert_int_eq(evp__mkdirs(stage, err, sizeof err), EVP_OK);
  snprintf(p, sizeof p, "%s/.compact-x.tmp", stage);
  lake_spit(p, (const unsigned char *)"x", 1);
  snprintf(p, sizeof p, "%s/compact-%020d-%020d-000.parquet", stage, 0, 299);
  lake_spit(p, (const unsigned char *)"half", 4);
  snprintf(stage, sizeof stage, "%s/compact/events.dt=2026-12-04.hour=22", tmpdir);
  ck_assert_int_eq(evp__mkdirs(stage, err, sizeof err), EVP_OK);
  snprintf(p, sizeof p, "%s/compact/unrelated", tmpdir);
  lake_spit(p, (const unsigned char *)"u", 1);
  ck_assert_msg(evp__lake_compact_recover(tmpdir, err, sizeof err) == EVP_OK, "%s", err);
  ck_assert_int_eq(access(stage, F_OK), -1);
  snprintf(stage, sizeof stage, "%s/compact/events.dt=2026-12-05.hour=03", tmpdir);
  ck_assert_int_eq(access(stage, F_OK), -1);
  ck_assert_int_eq(access(p, F_OK), 0); /* only staging directories are touched */
  size_t ncompact;
  ck_assert_uint_eq(check_ids(300, &ncompact), 3);
  /* and a compaction after it works */
  evp__compact_opts_t o = {0};
  o.root = tmpdir;
  o.checkpoint = UINT64_MAX;
  o.no_fsync = 1;
  evp__compact_result_t res;
  ck_assert_int_eq(evp__lake_compact_hour(&o, "2026-12-05", 3, &res, err, sizeof err), EVP_OK);
  ck_assert_uint_eq(check_ids(300, &ncompact), 1);
  /* no lake at all is fine */
  ck_assert_int_eq(evp__lake_compact_recover("/nonexistent-evp", err, sizeof err), EVP_OK);
  rm_tmpdir();
}
END_TEST

static void collect(void *arg, const evp__compact_result_t *res, evp_err_t e, const char *msg) {
  ck_assert_msg(e == EVP_OK, "%s", msg);
  (*(int *)arg) += res->compacted;
}

START_TEST(closed_hours_only_and_bad_arguments) {
  make_hour();
  for (uint64_t f = 0; f < 3; f++) write_part(hour_dir, f * 100, f * 100 + 99);
  char open_dir[600], err[512] = "";
  snprintf(open_dir, sizeof open_dir, "%s/events/dt=2026-12-05/hour=04", tmpdir);
  ck_assert_int_eq(evp__mkdirs(open_dir, err, sizeof err), EVP_OK);
  for (uint64_t f = 3; f < 6; f++) write_part(open_dir, f * 100, f * 100 + 99);
  evp__compact_opts_t o = {0};
  o.root = tmpdir;
  o.checkpoint = UINT64_MAX;
  o.no_fsync = 1;
  /* 2026-12-05T04:00Z: hour 03 is closed, hour 04 is not */
  int64_t t = INT64_C(1796443200) * 1000000;
  char dt[11];
  int h;
  ck_assert_int_eq(evp__lake_hour_of(t, dt, &h), 0);
  ck_assert_str_eq(dt, "2026-12-05");
  ck_assert_int_eq(h, 4);
  int n = 0;
  ck_assert_int_eq(evp__lake_compact_closed(&o, t, collect, &n, err, sizeof err), EVP_OK);
  ck_assert_int_eq(n, 1);
  size_t ncompact;
  ck_assert_uint_eq(check_ids(300, &ncompact), 1);
  n = 0;
  ck_assert_int_eq(evp__lake_compact_closed(&o, t, collect, &n, err, sizeof err), EVP_OK);
  ck_assert_int_eq(n, 0); /* stable */
  evp__compact_result_t res;
  ck_assert_int_eq(evp__lake_compact_hour(&o, "2026-13-05", 3, &res, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__lake_compact_hour(&o, "2026-12-05", 24, &res, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__lake_compact_hour(&o, "2026-12-05", 7, &res, err, sizeof err), EVP_ERR_IO);
  ck_assert_msg(strstr(err, "hour=07"), "%s", err);
  rm_tmpdir();
}
END_TEST

/* ------------------------------------------------------------ the batcher */

static const char *BATCHER_SCHEMA =
    "{\"type\":\"object\",\"properties\":{\"event_id\":{\"type\":\"string\"},"
    "\"n\":{\"type\":\"integer\"}},\"required\":[\"event_id\"]}";

typedef struct {
  int n;
  uint64_t rows;
  size_t files_out;
  char err[256];
} told_t;

/* on_compacted runs on the batcher's compaction thread. */
static pthread_mutex_t told_mu = PTHREAD_MUTEX_INITIALIZER;

static void on_compacted(void *arg, const evp__batcher_compaction_t *c) {
  told_t *t = arg;
  pthread_mutex_lock(&told_mu);
  t->n++;
  t->rows += c->rows;
  t->files_out += c->files_out;
  if (c->error) snprintf(t->err, sizeof t->err, "%s", c->error);
  pthread_mutex_unlock(&told_mu);
}

/* One batcher run appending @p n events "b-<first..>" in hour @p at. */
static void batcher_run(int compact, int64_t at, int first, int n, told_t *t) {
  char q[600], err[512];
  snprintf(q, sizeof q, "%s/queue", tmpdir);
  evp__wal_opts_t wo = {0};
  wo.fsync = EVP__FSYNC_NEVER;
  evp__wal_t *w;
  ck_assert_msg(evp__wal_open(q, &wo, &w, err, sizeof err) == EVP_OK, "%s", err);
  evp__batcher_opts_t bo = {0};
  bo.lake_dir = tmpdir;
  bo.schema_json = BATCHER_SCHEMA;
  bo.parts = 1;
  bo.buffer_bytes = 1;
  bo.compact = compact;
  bo.compacted = on_compacted;
  bo.notice_arg = t;
  evp__batcher_t *b;
  ck_assert_msg(evp__batcher_start(w, &bo, &b, err, sizeof err) == EVP_OK, "%s", err);
  for (int i = first; i < first + n; i++) {
    char ev[64];
    snprintf(ev, sizeof ev, "{\"event_id\":\"b-%d\",\"n\":%d}", i, i);
    const char *e = ev;
    size_t len = strlen(ev);
    ck_assert_int_eq(evp__wal_append(w, "c", at + i, &e, &len, 1, err, sizeof err), EVP_OK);
    ck_assert_int_eq(evp__batcher_flush(b, 10000), EVP_OK); /* one file per event */
  }
  /* Compaction runs on its own thread and a close cuts it short: wait for
   * it to be told (up to 30 s) before closing. */
  for (int waited = 0; compact && waited < 3000; waited++) {
    pthread_mutex_lock(&told_mu);
    int told = t->n > 0;
    pthread_mutex_unlock(&told_mu);
    if (told) break;
    poll(NULL, 0, 10);
  }
  ck_assert_msg(evp__batcher_close(b, err, sizeof err) == EVP_OK, "%s", err);
  evp__wal_close(w);
}

START_TEST(batcher_compacts_closed_hours_and_cleans_staging) {
  mk_tmpdir();
  told_t t = {0};
  /* 2026-12-04T10: long closed */
  const int64_t at = INT64_C(1796378400) * 1000000;
  batcher_run(0, at, 0, 6, &t); /* compaction off: six part files stay */
  ck_assert_int_eq(t.n, 0);
  snprintf(hour_dir, sizeof hour_dir, "%s/events/dt=2026-12-04/hour=10", tmpdir);
  size_t files = 0;
  DIR *d = opendir(hour_dir);
  ck_assert_ptr_nonnull(d);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) files += !strncmp(de->d_name, "part-", 5);
  closedir(d);
  ck_assert_uint_eq(files, 6);
  /* a staging directory a killed compaction left is removed at start */
  char stage[600], err[512];
  snprintf(stage, sizeof stage, "%s/compact/events.dt=2026-12-04.hour=10", tmpdir);
  ck_assert_int_eq(evp__mkdirs(stage, err, sizeof err), EVP_OK);
  batcher_run(1, at, 6, 2, &t); /* compaction on: the hour becomes one file */
  ck_assert_int_eq(access(stage, F_OK), -1);
  ck_assert_msg(t.err[0] == 0, "%s", t.err);
  ck_assert_int_ge(t.n, 1);
  ck_assert_uint_ge(t.rows, 6);
  files = 0;
  uint64_t rows = 0;
  d = opendir(hour_dir);
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    files++;
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", hour_dir, de->d_name);
    uint64_t r;
    ck_assert_int_eq(read_all(p, &r), EVP_OK);
    rows += r;
  }
  closedir(d);
  ck_assert_uint_eq(rows, 8);  /* every event once */
  ck_assert_uint_le(files, 3); /* compacted (+ the files of the second run's late flushes) */
  rm_tmpdir();
}
END_TEST

/* ------------------------------------------------------------ --gen-lake */

/* The names of one hour's files, sorted, joined by spaces, into out. */
static void hour_names(char *out, size_t n) {
  struct dirent **list;
  int k = scandir(hour_dir, &list, NULL, alphasort);
  ck_assert_int_ge(k, 0);
  out[0] = 0;
  for (int i = 0; i < k; i++) {
    if (list[i]->d_name[0] != '.') {
      strncat(out, list[i]->d_name, n - strlen(out) - 1);
      strncat(out, " ", n - strlen(out) - 1);
    }
    free(list[i]);
  }
  free(list);
}

/* Bytes of the hour's Parquet files. */
static uint64_t hour_bytes(void) {
  struct dirent **list;
  int k = scandir(hour_dir, &list, NULL, alphasort);
  ck_assert_int_ge(k, 0);
  uint64_t sum = 0;
  for (int i = 0; i < k; i++) {
    char p[1024];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", hour_dir, list[i]->d_name);
    if (list[i]->d_name[0] != '.' && stat(p, &st) == 0) sum += (uint64_t)st.st_size;
    free(list[i]);
  }
  free(list);
  return sum;
}

/* `evpipe lake compact --hour` on an hour holding only compacted files
 * (e.g. at a smaller target) gives files of the same first and last
 * offsets: a name of the old set must never name a file of the new one
 * with other rows, or a query that listed the hour before the swap and
 * opens its files after it reads rows twice or misses some, silently. */
START_TEST(recompaction_never_reuses_a_name_for_other_rows) {
  evp__compact_opts_t o;
  evp__compact_result_t res;
  char err[512] = "", before[4096], after[4096];
  compact_split_hour(&o, &res);
  for (int round = 0; round < 2; round++) {
    hour_names(before, sizeof before);
    o.force = 1; /* --hour */
    /* targets from the hour's current size, so both rounds split it in
     * another number of files whatever the writer's encodings make of it */
    o.target_bytes = hour_bytes() / (uint64_t)(round ? 2 : 3) + 1;
    ck_assert_msg(evp__lake_compact_hour(&o, "2026-12-05", 3, &res, err, sizeof err) == EVP_OK,
                  "%s", err);
    ck_assert_msg(res.compacted == 1, "round %d: not compacted: %zu files in, %llu bytes (%s)",
                  round, res.files_in, (unsigned long long)res.bytes_in, before);
    hour_names(after, sizeof after);
    for (char *tok = strtok(after, " "); tok; tok = strtok(NULL, " "))
      ck_assert_msg(!strstr(before, tok), "round %d: %s names other rows now (before: %s)", round,
                    tok, before);
    size_t ncompact;
    ck_assert_uint_eq(check_ids(30000, &ncompact), res.files_out);
  }
  rm_tmpdir();
}
END_TEST

/* ------------------------------------------------------------ file system layout */

/* The staging directory on another file system than the lake (DATA/compact
 * a symbolic link to a tmpfs): the exchange cannot work there. Refused
 * before anything is written, saying why and what to do; the hour intact. */
START_TEST(compaction_refuses_a_staging_directory_on_another_file_system) {
  make_hour();
  for (uint64_t f = 0; f < 3; f++) write_part(hour_dir, f * 100, f * 100 + 99);
  char other[] = "/dev/shm/evp_xfs_XXXXXX", link_path[1024], err[512] = "";
  struct stat a, b;
  if (!mkdtemp(other)) {
    fprintf(stderr, "skipped: no /dev/shm\n");
    rm_tmpdir();
    return;
  }
  ck_assert_int_eq(stat(tmpdir, &a), 0);
  ck_assert_int_eq(stat(other, &b), 0);
  if (a.st_dev == b.st_dev) { /* no second file system here: nothing to check */
    fprintf(stderr, "skipped: /dev/shm is on the file system of /tmp\n");
    rmdir(other);
    rm_tmpdir();
    return;
  }
  snprintf(link_path, sizeof link_path, "%s/compact", tmpdir);
  ck_assert_int_eq(symlink(other, link_path), 0);
  evp__compact_opts_t o = {0};
  o.root = tmpdir;
  o.checkpoint = UINT64_MAX;
  o.no_fsync = 1;
  int steps = 0;
  o.hook = count_step;
  o.hook_arg = &steps;
  evp__compact_result_t res;
  evp_err_t e = evp__lake_compact_hour(&o, "2026-12-05", 3, &res, err, sizeof err);
  ck_assert_msg(e == EVP_ERR_UNSUPPORTED && strstr(err, "file system") && strstr(err, link_path),
                "%d %s", (int)e, err);
  ck_assert_int_eq(steps, 0); /* nothing staged */
  ck_assert_int_eq(res.compacted, 0);
  size_t ncompact;
  ck_assert_uint_eq(check_ids(300, &ncompact), 3);
  DIR *d = opendir(other);
  ck_assert_ptr_nonnull(d);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) ck_assert_msg(de->d_name[0] == '.', "%s left", de->d_name);
  closedir(d);
  ck_assert_int_eq(rmdir(other), 0);
  rm_tmpdir();
}
END_TEST

/* An hour directory that is a symbolic link (the hour moved to another
 * disk): the exchange would swap the link itself and the clean-up would
 * then fail on it at every start of evpipe local. Refused, the link and its
 * files untouched, and recovery still fine. */
START_TEST(compaction_refuses_an_hour_directory_that_is_a_symlink) {
  make_hour();
  char real[1024], err[512] = "";
  snprintf(real, sizeof real, "%s/elsewhere/hour03", tmpdir);
  ck_assert_int_eq(evp__mkdirs(real, err, sizeof err), EVP_OK);
  for (uint64_t f = 0; f < 3; f++) write_part(real, f * 100, f * 100 + 99);
  ck_assert_int_eq(rmdir(hour_dir), 0);
  ck_assert_int_eq(symlink(real, hour_dir), 0);
  evp__compact_opts_t o = {0};
  o.root = tmpdir;
  o.checkpoint = UINT64_MAX;
  o.no_fsync = 1;
  evp__compact_result_t res;
  evp_err_t e = evp__lake_compact_hour(&o, "2026-12-05", 3, &res, err, sizeof err);
  ck_assert_msg(e == EVP_ERR_UNSUPPORTED && strstr(err, "symbolic link") && strstr(err, hour_dir),
                "%d %s", (int)e, err);
  struct stat st;
  ck_assert_int_eq(lstat(hour_dir, &st), 0);
  ck_assert(S_ISLNK(st.st_mode));
  size_t ncompact;
  ck_assert_uint_eq(check_ids(300, &ncompact), 3);
  ck_assert_msg(evp__lake_compact_recover(tmpdir, err, sizeof err) == EVP_OK, "%s", err);
  rm_tmpdir();
}
END_TEST

/* A directory among the hour's files stops the compaction with an error
 * that names it (the exchange would retire it with the old files); the
 * names listed before it are freed (ASan: they leaked). */
START_TEST(compaction_refuses_a_directory_in_the_hour) {
  make_hour();
  /* Made first: tmpfs lists the newest entry first, and the leak needs
   * names listed before the directory. */
  char sub[1100], err[512] = "";
  snprintf(sub, sizeof sub, "%s/zz-subdir", hour_dir);
  ck_assert_int_eq(mkdir(sub, 0700), 0);
  for (uint64_t f = 0; f < 3; f++) write_part(hour_dir, f * 100, f * 100 + 99);
  evp__compact_opts_t o = {0};
  o.root = tmpdir;
  o.checkpoint = UINT64_MAX;
  o.no_fsync = 1;
  evp__compact_result_t res;
  evp_err_t e = evp__lake_compact_hour(&o, "2026-12-05", 3, &res, err, sizeof err);
  ck_assert_msg(e == EVP_ERR_IO && strstr(err, "zz-subdir") && strstr(err, "not a regular file"),
                "%d %s", (int)e, err);
  ck_assert_int_eq(rmdir(sub), 0);
  size_t ncompact;
  ck_assert_uint_eq(check_ids(300, &ncompact), 3);
  ck_assert_uint_eq(ncompact, 0);
  rm_tmpdir();
}
END_TEST

/* test_lake_compaction --gen-lake DATA SCHEMA N HOURS FIRST_HOUR_UNIX_S [FILES]: what
 * `evpipe local` would have left in DATA after receiving N events spread
 * evenly over HOURS hours from FIRST_HOUR_UNIX_S (received_at comes from the
 * server clock, so a test cannot send into past hours over HTTP): the real
 * log (DATA/queue, checkpoint) drained by the real batcher into many small
 * part files per hour (FILES, default 12). Event i has event_id "c-<i>";
 * with a last argument "bench", the events of bench/bench_events.h (random
 * ids and values: realistic sizes, for measuring). For
 * tests/scripts/test_lake_compact.sh and the numbers in docs/parquet.md. */
static int gen_lake(int argc, char **argv) {
  if (argc < 7) return 2;
  const char *data = argv[2];
  long n = atol(argv[4]), hours = atol(argv[5]);
  int64_t t0 = (int64_t)atoll(argv[6]) * 1000000;
  char err[512], queue[1024];
  char *schema = NULL;
  size_t slen;
  if (evp__file_read(argv[3], 1 << 20, 0, &schema, &slen, NULL, err, sizeof err)) goto fail;
  snprintf(queue, sizeof queue, "%s/queue", data);
  evp__wal_opts_t wo = {0};
  wo.fsync = EVP__FSYNC_NEVER;
  evp__wal_t *w;
  if (evp__wal_open(queue, &wo, &w, err, sizeof err)) goto fail;
  evp__batcher_opts_t bo = {0};
  bo.lake_dir = data;
  bo.schema_json = schema;
  bo.parts = 1;
  long files = argc >= 8 ? atol(argv[7]) : 12; /* per hour, roughly */
  int bench = argc >= 9 && !strcmp(argv[8], "bench");
  uint64_t seed = 88172645463325252ull;
  if (files < 1) files = 1;
  bo.buffer_bytes = (size_t)(n / hours / files) * 330 + 1;
  evp__batcher_t *b;
  if (evp__batcher_start(w, &bo, &b, err, sizeof err)) goto fail;
  static const char *types[] = {"app.opened",       "screen.viewed",   "product.viewed",
                                "search.performed", "cart.item_added", "checkout.completed"};
  static const char *plat[] = {"ios", "android", "web"};
  int64_t span = hours * INT64_C(3600000000);
  for (long i = 0; i < n; i += 50) {
    char buf[50][512];
    const char *ev[50];
    size_t len[50];
    int k = 0;
    int64_t at = t0 + span * i / n;
    for (; k < 50 && i + k < n; k++) {
      long j = i + k;
      time_t et = (time_t)(at / 1000000);
      struct tm tm;
      gmtime_r(&et, &tm);
      char when[32];
      strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
      len[k] = (size_t)snprintf(
          buf[k], sizeof buf[k],
          "{\"event_id\":\"c-%ld\",\"event_type\":\"%s\",\"event_time\":\"%s\","
          "\"app_id\":\"shop-%s\",\"user_id\":\"u-%ld\",\"session_id\":\"s-%ld\","
          "\"platform\":\"%s\",\"app_version\":\"4.2.%ld\",\"context\":{\"locale\":"
          "\"en-US\",\"os\":\"iOS\",\"device\":\"iPhone15,2\"},\"properties\":{"
          "\"screen\":\"product\",\"load_ms\":%ld,\"price\":%ld.99}}",
          j, types[j % 6], when, plat[j % 3], j % 5000, j / 20, plat[j % 3], j % 9, j % 900,
          j % 300);
      if (bench) len[k] = make_event(&seed, j, buf[k], sizeof buf[k]);
      ev[k] = buf[k];
    }
    if (evp__wal_append(w, "client-gen", at, ev, len, (size_t)k, err, sizeof err)) goto fail;
  }
  if (evp__batcher_close(b, err, sizeof err)) goto fail;
  evp__wal_close(w);
  free(schema);
  return 0;
fail:
  fprintf(stderr, "test_lake_compaction --gen-lake: %s\n", err);
  return 1;
}

int main(int argc, char **argv) {
  (void)evp__gen_count; /* lake_gen.h helpers this suite does not need */
  (void)evp__gen_name;
  if (argc >= 2 && !strcmp(argv[1], "--gen-lake")) return gen_lake(argc, argv);
  Suite *s = suite_create("lake_compact");
  TCase *tr = tcase_create("reader");
  tcase_set_timeout(tr, 300);
  tcase_add_test(tr, thrift_reader_decodes_what_the_encoder_writes);
  tcase_add_test(tr, reader_reads_every_generated_dataset_back);
  tcase_add_test(tr, reader_survives_truncation_and_bit_flips);
  suite_add_tcase(s, tr);
  TCase *tc = tcase_create("compaction");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, compaction_merges_below_the_checkpoint_and_keeps_the_rest);
  tcase_add_test(tc, compaction_splits_at_the_target_size);
  tcase_add_test(tc, compaction_refuses_to_swap_when_rows_differ);
  tcase_add_test(tc, recovery_removes_leftover_staging_directories);
  tcase_add_test(tc, closed_hours_only_and_bad_arguments);
  tcase_add_test(tc, batcher_compacts_closed_hours_and_cleans_staging);
  tcase_add_test(tc, compaction_refuses_a_staging_directory_on_another_file_system);
  tcase_add_test(tc, compaction_refuses_an_hour_directory_that_is_a_symlink);
  tcase_add_test(tc, compaction_refuses_a_directory_in_the_hour);
  tcase_add_test(tc, recompaction_never_reuses_a_name_for_other_rows);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
