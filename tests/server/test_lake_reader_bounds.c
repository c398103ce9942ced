/* Suite: memory bounds of the Parquet reader (src/lake/pq_read_page.c)
 * against a hostile file whose footer and page headers lie.
 *
 * A row group holds one page per column at a time, each up to
 * EVP__PQR_MAX_PAGE_VALUES values, and the reader keeps a decoded array per
 * column (definition levels, values, dictionary indices). A page of
 * millions of null values is a few bytes (one RLE run), so a ~20 KB file of
 * 1,024 such columns made the reader allocate and fill 1,024 x 16 MiB of
 * levels: an out-of-memory kill of `evpipe lake compact` (or of evpipe
 * local, which compacts on its compaction thread) from a file dropped into an
 * hour partition. The reader must refuse such a file as damaged, with its
 * memory bounded by the row group's column count, not multiplied by it. */
#define _XOPEN_SOURCE 700 /* nftw (tmpdir.h) */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <snappy-c.h>
#include "base/buf.h"
#include "lake/pq_format.h"
#include "lake/pq_reader.h"
#include "lake/thrift_compact.h"
#include "suite_main.h"
#include "tmpdir.h"

#define NCOLS 1024
#define PAGE_VALUES ((int64_t)1 << 22) /* the reader's per-page bound, exactly */

static char tmpdir[256];

/* One column chunk: an uncompressed data page of PAGE_VALUES nulls (an
 * optional INT64 column: definition levels = one RLE run of 0, no values). */
static void put_chunk(evp__buf_t *f) {
  uint8_t body[16];
  size_t n = 4;
  uint64_t h = (uint64_t)PAGE_VALUES << 1; /* RLE run header */
  while (h >= 0x80) {
    body[n++] = (uint8_t)(h | 0x80);
    h >>= 7;
  }
  body[n++] = (uint8_t)h;
  body[n++] = 0; /* the run's value: not defined */
  uint32_t dl = (uint32_t)(n - 4);
  for (int k = 0; k < 4; k++) body[k] = (uint8_t)(dl >> (8 * k));
  evp__tc_t t;
  evp__tc_init(&t, f);
  evp__tc_struct_begin(&t);
  evp__tc_field_i32(&t, PQ_PH_TYPE, PQ_PAGE_DATA);
  evp__tc_field_i32(&t, PQ_PH_UNCOMPRESSED_SIZE, (int32_t)n);
  evp__tc_field_i32(&t, PQ_PH_COMPRESSED_SIZE, (int32_t)n);
  evp__tc_field_struct(&t, PQ_PH_DATA_PAGE_HEADER);
  evp__tc_field_i32(&t, PQ_DPH_NUM_VALUES, (int32_t)PAGE_VALUES);
  evp__tc_field_i32(&t, PQ_DPH_ENCODING, PQ_ENC_PLAIN);
  evp__tc_field_i32(&t, PQ_DPH_DEF_ENCODING, PQ_ENC_RLE);
  evp__tc_struct_end(&t);
  evp__tc_struct_end(&t);
  ck_assert_int_eq(evp__tc_error(&t), EVP_OK);
  ck_assert_int_eq(evp__buf_add(f, body, n), EVP_OK);
}

/* A file of NCOLS optional columns of physical type @p type and codec
 * @p codec, each chunk written by @p put, one row group of PAGE_VALUES rows. */
static void write_bomb_shared(const char *path, void (*put)(evp__buf_t *), int type, int codec,
                              int shared) {
  evp__buf_t f = {0};
  ck_assert_int_eq(evp__buf_add(&f, "PAR1", 4), EVP_OK);
  int64_t start[NCOLS], len[NCOLS];
  for (int i = 0; i < NCOLS; i++) {
    if (shared && i > 0) { /* every column claims the first column's bytes */
      start[i] = start[0];
      len[i] = len[0];
      continue;
    }
    start[i] = (int64_t)f.len;
    put(&f);
    len[i] = (int64_t)f.len - start[i];
  }
  size_t foot0 = f.len;
  evp__tc_t t;
  evp__tc_init(&t, &f);
  evp__tc_struct_begin(&t);
  evp__tc_field_i32(&t, PQ_FMD_VERSION, 1);
  evp__tc_field_list(&t, PQ_FMD_SCHEMA, EVP__TC_STRUCT, NCOLS + 1);
  evp__tc_struct_begin(&t);
  evp__tc_field_string(&t, PQ_SE_NAME, "schema");
  evp__tc_field_i32(&t, PQ_SE_NUM_CHILDREN, NCOLS);
  evp__tc_struct_end(&t);
  for (int i = 0; i < NCOLS; i++) {
    char name[16];
    snprintf(name, sizeof name, "c%d", i);
    evp__tc_struct_begin(&t);
    evp__tc_field_i32(&t, PQ_SE_TYPE, type);
    evp__tc_field_i32(&t, PQ_SE_REPETITION, PQ_REP_OPTIONAL);
    evp__tc_field_string(&t, PQ_SE_NAME, name);
    evp__tc_struct_end(&t);
  }
  evp__tc_field_i64(&t, PQ_FMD_NUM_ROWS, PAGE_VALUES);
  evp__tc_field_list(&t, PQ_FMD_ROW_GROUPS, EVP__TC_STRUCT, 1);
  evp__tc_struct_begin(&t);
  evp__tc_field_list(&t, PQ_RG_COLUMNS, EVP__TC_STRUCT, NCOLS);
  for (int i = 0; i < NCOLS; i++) {
    evp__tc_struct_begin(&t);
    evp__tc_field_i64(&t, PQ_CC_FILE_OFFSET, start[i]);
    evp__tc_field_struct(&t, PQ_CC_META_DATA);
    evp__tc_field_i32(&t, PQ_CMD_TYPE, type);
    evp__tc_field_i32(&t, PQ_CMD_CODEC, codec);
    evp__tc_field_i64(&t, PQ_CMD_NUM_VALUES, PAGE_VALUES);
    evp__tc_field_i64(&t, PQ_CMD_UNCOMPRESSED, len[i]);
    evp__tc_field_i64(&t, PQ_CMD_COMPRESSED, len[i]);
    evp__tc_field_i64(&t, PQ_CMD_DATA_PAGE_OFFSET, start[i]);
    evp__tc_struct_end(&t);
    evp__tc_struct_end(&t);
  }
  evp__tc_field_i64(&t, PQ_RG_NUM_ROWS, PAGE_VALUES);
  evp__tc_struct_end(&t);
  evp__tc_struct_end(&t);
  ck_assert_int_eq(evp__tc_error(&t), EVP_OK);
  uint32_t flen = (uint32_t)(f.len - foot0);
  uint8_t tail[8] = {(uint8_t)flen,
                     (uint8_t)(flen >> 8),
                     (uint8_t)(flen >> 16),
                     (uint8_t)(flen >> 24),
                     'P',
                     'A',
                     'R',
                     '1'};
  ck_assert_int_eq(evp__buf_add(&f, tail, 8), EVP_OK);
  FILE *o = fopen(path, "wb");
  ck_assert_ptr_nonnull(o);
  ck_assert_uint_eq(fwrite(f.p, 1, f.len, o), f.len);
  ck_assert_int_eq(fclose(o), 0);
  evp__buf_free(&f);
}

/* Columns with chunks of their own. */
static void write_bomb(const char *path, void (*put)(evp__buf_t *), int type, int codec) {
  write_bomb_shared(path, put, type, codec, 0);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define EVP_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define EVP_TEST_SANITIZED 1
#endif
#endif

/* Opening @p path and reading a row fails with EVP_ERR_IO naming the file. */
static void refused_as_damaged(const char *path) {
  /* In a child with its address space capped (not under a sanitizer, whose
   * shadow memory needs more), so that a reader without the bound fails
   * with out-of-memory here instead of taking the machine's memory. */
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
#ifndef EVP_TEST_SANITIZED
    struct rlimit rl = {(rlim_t)1 << 30, (rlim_t)1 << 30};
    setrlimit(RLIMIT_AS, &rl);
#endif
    char err[512] = "";
    evp__pq_reader_t *r;
    evp_err_t e = evp__pq_reader_open(&r, path, err, sizeof err);
    const evp__pq_value_t *row = NULL;
    if (!e) {
      e = evp__pq_reader_next(r, &row, err, sizeof err);
      evp__pq_reader_close(r);
    }
    fprintf(stderr, "bomb.parquet: %d %s\n", (int)e, err);
    /* refused as damaged (EVP_ERR_IO), not out of memory, and the file named */
    _exit(e == EVP_ERR_IO && strstr(err, strrchr(path, '/') + 1) ? 0 : 1);
  }
  int st;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                "the reader did not refuse %s as damaged (status %d)", path, st);
}

START_TEST(reader_bounds_decoded_pages_across_columns) {
  test_tmpdir_make(tmpdir, sizeof tmpdir, "lakebounds");
  char path[512];
  snprintf(path, sizeof path, "%s/bomb.parquet", tmpdir);
  write_bomb(path, put_chunk, PQ_T_INT64, PQ_CODEC_UNCOMPRESSED);
  refused_as_damaged(path);
  ck_assert_int_eq(test_tmpdir_remove(tmpdir), 0);
}
END_TEST

/* One column chunk: a Snappy dictionary page of PAGE_VALUES PLAIN booleans
 * (512 KiB of zero bits, ~25 KB compressed), which the reader expands into
 * PAGE_VALUES cells of its value type. */
static void put_dict_chunk(evp__buf_t *f) {
  size_t raw_len = (size_t)PAGE_VALUES / 8;
  char *raw = calloc(1, raw_len);
  size_t zlen = snappy_max_compressed_length(raw_len);
  char *z = malloc(zlen);
  ck_assert(raw && z);
  ck_assert_int_eq(snappy_compress(raw, raw_len, z, &zlen), SNAPPY_OK);
  evp__tc_t t;
  evp__tc_init(&t, f);
  evp__tc_struct_begin(&t);
  evp__tc_field_i32(&t, PQ_PH_TYPE, PQ_PAGE_DICTIONARY);
  evp__tc_field_i32(&t, PQ_PH_UNCOMPRESSED_SIZE, (int32_t)raw_len);
  evp__tc_field_i32(&t, PQ_PH_COMPRESSED_SIZE, (int32_t)zlen);
  evp__tc_field_struct(&t, PQ_PH_DICTIONARY_PAGE_HEADER);
  evp__tc_field_i32(&t, PQ_DICT_NUM_VALUES, (int32_t)PAGE_VALUES);
  evp__tc_field_i32(&t, PQ_DICT_ENCODING, PQ_ENC_PLAIN);
  evp__tc_struct_end(&t);
  evp__tc_struct_end(&t);
  ck_assert_int_eq(evp__tc_error(&t), EVP_OK);
  ck_assert_int_eq(evp__buf_add(f, z, zlen), EVP_OK);
  free(raw);
  free(z);
  /* then a data page of 32,768 rows, every one entry 0 of the dictionary, so
   * that the reader goes on to the next column's dictionary */
  uint8_t body[32];
  size_t n = 4;
  uint64_t run = (uint64_t)32768 << 1;
  body[n++] = (uint8_t)(run | 0x80);
  body[n++] = (uint8_t)((run >> 7) | 0x80);
  body[n++] = (uint8_t)(run >> 14);
  body[n++] = 1; /* defined */
  for (int k = 0; k < 4; k++) body[k] = (uint8_t)((n - 4) >> (8 * k));
  body[n++] = 0; /* index bit width */
  body[n++] = (uint8_t)(run | 0x80);
  body[n++] = (uint8_t)((run >> 7) | 0x80);
  body[n++] = (uint8_t)(run >> 14);
  zlen = snappy_max_compressed_length(n);
  char zb[64];
  ck_assert_uint_le(zlen, sizeof zb);
  ck_assert_int_eq(snappy_compress((const char *)body, n, zb, &zlen), SNAPPY_OK);
  evp__tc_init(&t, f);
  evp__tc_struct_begin(&t);
  evp__tc_field_i32(&t, PQ_PH_TYPE, PQ_PAGE_DATA);
  evp__tc_field_i32(&t, PQ_PH_UNCOMPRESSED_SIZE, (int32_t)n);
  evp__tc_field_i32(&t, PQ_PH_COMPRESSED_SIZE, (int32_t)zlen);
  evp__tc_field_struct(&t, PQ_PH_DATA_PAGE_HEADER);
  evp__tc_field_i32(&t, PQ_DPH_NUM_VALUES, 32768);
  evp__tc_field_i32(&t, PQ_DPH_ENCODING, PQ_ENC_RLE_DICTIONARY);
  evp__tc_field_i32(&t, PQ_DPH_DEF_ENCODING, PQ_ENC_RLE);
  evp__tc_struct_end(&t);
  evp__tc_struct_end(&t);
  ck_assert_int_eq(evp__tc_error(&t), EVP_OK);
  ck_assert_int_eq(evp__buf_add(f, zb, zlen), EVP_OK);
}

/* The same through dictionaries: 1,024 dictionaries of 4M booleans from a
 * 25 MB file asked for 1,024 x 4M cells (~96 GiB). */
START_TEST(reader_bounds_dictionaries_across_columns) {
  test_tmpdir_make(tmpdir, sizeof tmpdir, "lakebounds");
  char path[512];
  snprintf(path, sizeof path, "%s/dictbomb.parquet", tmpdir);
  write_bomb(path, put_dict_chunk, PQ_T_BOOLEAN, PQ_CODEC_SNAPPY);
  refused_as_damaged(path);
  ck_assert_int_eq(test_tmpdir_remove(tmpdir), 0);
}
END_TEST

/* One column chunk of 2 MiB (its content does not matter: the reader loads
 * every column's chunk before decoding a page). */
static void put_big_chunk(evp__buf_t *f) {
  size_t n = (size_t)2 << 20;
  ck_assert_int_eq(evp__buf_reserve(f, n), EVP_OK);
  memset(f->p + f->len, 0, n);
  f->len += n;
}

/* Column chunks must not overlap: 1,024 columns all claiming the same 2 MiB
 * made the reader load 2 GiB for one row group of a 2 MiB file. */
START_TEST(reader_refuses_overlapping_column_chunks) {
  test_tmpdir_make(tmpdir, sizeof tmpdir, "lakebounds");
  char path[512];
  snprintf(path, sizeof path, "%s/overlap.parquet", tmpdir);
  write_bomb_shared(path, put_big_chunk, PQ_T_INT64, PQ_CODEC_UNCOMPRESSED, 1);
  refused_as_damaged(path);
  ck_assert_int_eq(test_tmpdir_remove(tmpdir), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("lake_reader_bounds");
  TCase *tc = tcase_create("bounds");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, reader_bounds_decoded_pages_across_columns);
  tcase_add_test(tc, reader_bounds_dictionaries_across_columns);
  tcase_add_test(tc, reader_refuses_overlapping_column_chunks);
  suite_add_tcase(s, tc);
  return test_run_suite(s);
}
