/* libFuzzer target for the lake's Parquet reader (src/lake/pq_reader.c,
 * pq_read_page.c, pq_decode.c, thrift_read.c), which compaction runs over
 * every file of an hour: arbitrary bytes are written as a file, opened, and
 * every row read, string values touched byte by byte. Checked, beyond
 * memory safety and leaks: a file that reads to its end without an error
 * yields exactly the rows its footer counts (compaction's rows out == rows
 * in rests on it). Seeds (fuzz/seeds/pq_reader): files of the lake writer
 * with groups nested two deep, optional and required leaves of every type,
 * nulls at every level, 3 row groups, uncompressed, Snappy and ZSTD. */
#define _XOPEN_SOURCE 700
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "lake/pq_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char path[64];
  static int fd = -1;
  if (fd < 0) {
    snprintf(path, sizeof path, "/tmp/pq_reader_fuzzer.XXXXXX");
    if ((fd = mkstemp(path)) < 0) abort();
  }
  if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) abort();
  char err[512];
  evp__pq_reader_t *r;
  if (evp__pq_reader_open(&r, path, err, sizeof err) != EVP_OK) return 0;
  size_t n;
  const evp__pq_column_t *c = evp__pq_reader_columns(r, &n);
  const evp__pq_value_t *row;
  uint64_t rows = 0;
  unsigned sum = 0; /* string bytes read: ASan sees each one */
  evp_err_t e;
  while ((e = evp__pq_reader_next(r, &row, err, sizeof err)) == EVP_OK && row) {
    rows++;
    for (size_t i = 0; i < n; i++)
      if (!row[i].is_null && c[i].type == EVP__PQ_STRING)
        for (size_t k = 0; k < row[i].v.s.len; k++) sum += (unsigned char)row[i].v.s.ptr[k];
    if (rows > evp__pq_reader_num_rows(r)) abort(); /* more rows than the footer says */
  }
  if (e == EVP_OK && rows != evp__pq_reader_num_rows(r)) abort(); /* fewer, without an error */
  evp__pq_reader_close(r);
  sink = sum; /* the loads are not optimised away */
  return 0;
}
