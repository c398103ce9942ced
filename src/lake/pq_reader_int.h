/* Private state of the Parquet reader, shared by pq_reader.c (opening,
 * the footer, the schema) and pq_read_page.c (pages and rows). */
#ifndef EVP_LAKE_PQ_READER_INT_H
#define EVP_LAKE_PQ_READER_INT_H

#include <stddef.h>
#include <stdint.h>
#include "lake/pq_reader.h"
#include "base/buf.h"

/* Parquet format numbers the writer does not emit (pq_format.h holds the
 * ones it does and belongs to the writer). */
#define PQ_T_INT32 1
#define PQ_ENC_PLAIN_DICTIONARY 2
#define PQ_PAGE_INDEX 1
#define PQ_PAGE_DATA_V2 3
#define PQ_SE_TYPE_LENGTH 2
#define PQ_CC_FILE_PATH 1
#define PQ_LT_TIMESTAMP_UNIT_MILLIS 1
#define PQ_LT_TIMESTAMP_UNIT_NANOS 3

/* Bounds that keep a damaged header from asking for absurd memory. */
#define EVP__PQR_MAX_COLUMNS EVP__PQ_MAX_NODES
#define EVP__PQR_MAX_FOOTER ((size_t)64 << 20)
#define EVP__PQR_MAX_PAGE_BYTES ((size_t)1 << 30)
#define EVP__PQR_MAX_PAGE_VALUES ((size_t)1 << 22)
#define EVP__PQR_MAX_CHUNK_BYTES ((int64_t)2 << 30)
/* Values of the data pages decoded at once, over all columns of a row group
 * (each column holds one page's levels, values and indices, ~32 bytes a
 * value): a page of millions of nulls is a few bytes, so without this a
 * small file of many columns asks for gigabytes. A column's page may hold
 * EVP__PQR_MAX_DECODED_VALUES / ncols values, never fewer than
 * EVP__PQR_MIN_PAGE_VALUES (the lake writer's pages hold at most 20,000). */
#define EVP__PQR_MAX_DECODED_VALUES ((size_t)1 << 24)
#define EVP__PQR_MIN_PAGE_VALUES ((size_t)1 << 15)
/* The same for dictionaries (held for a whole row group, one per column):
 * EVP__PQR_MAX_DECODED_VALUES / ncols entries, never fewer than the lake
 * writer's default dict_max_entries. */
#define EVP__PQR_MIN_DICT_ENTRIES ((size_t)1 << 16)

typedef struct {
  int64_t start, len; /* compressed bytes of the chunk: [start, start + len) */
  int codec;
  int64_t num_values;
} evp__pqr_chunk_t;

typedef struct {
  int64_t num_rows;
  evp__pqr_chunk_t *cols;
} evp__pqr_rgroup_t;

/* One column's cursor through the current row group. */
typedef struct {
  const evp__pqr_chunk_t *ch;
  uint8_t *buf; /* the chunk's bytes */
  size_t pos;   /* next page header in buf */
  int64_t values_left;
  /* dictionary: values point into dbuf */
  uint8_t *dbuf;
  evp__pq_value_t *dict;
  size_t ndict, capdict;
  int have_dict;
  /* current data page: body in pbuf; nulls from defs; non-null values */
  uint8_t *pbuf;
  size_t cap_pbuf;
  uint32_t *defs; /* per row of the page when optional */
  size_t cap_defs;
  evp__pq_value_t *vals;
  size_t cap_vals;
  uint32_t *idx;
  size_t cap_idx;
  /* DELTA_* pages (pq_decode.h): integers, string offsets and lengths, and
   * DELTA_BYTE_ARRAY's rebuilt values (strings point into sbytes) */
  uint64_t *u64;
  size_t cap_u64;
  size_t *soff;
  size_t cap_soff;
  uint32_t *slen;
  size_t cap_slen;
  evp__buf_t sbytes;
  size_t page_rows, row_i, nvals, val_i;
  size_t node; /* the leaf's index in the reader's nodes */
  int max_def; /* its largest definition level (0: no levels stored) */
} evp__pqr_col_t;

struct evp__pq_reader {
  int fd;
  char *path;
  uint64_t file_bytes;
  /* the schema as lake.h describes it: nodes in pre-order, groups included */
  evp__pq_column_t *nodes;
  size_t nnodes, ngroups;
  int32_t *parent;   /* per node: its group, -1 at the top */
  uint8_t *node_def; /* per node: the optional nodes on its root path, itself included */
  int8_t *state;     /* per node, scratch of a row: a group's presence (-1 unknown) */
  size_t *leaf_node; /* per leaf: its node */
  /* the leaves, one column chunk each (names are dotted paths, owned) */
  evp__pq_column_t *cols;
  size_t ncols;
  evp__pqr_rgroup_t *rgs;
  size_t nrgs;
  uint64_t num_rows;
  evp__pq_kv_t *kv;
  size_t nkv;
  evp__pqr_col_t *cur;
  size_t rg_i;          /* next row group to load */
  int64_t rg_rows_left; /* rows left in the loaded one */
  evp__pq_value_t *row; /* nnodes */
  int failed;
};

/* Record an error "parquet reader: FILE: MESSAGE" in errstr and mark @p r
 * failed (its later reads return EVP_ERR_STATE). Returns @p e. */
evp_err_t evp__pq_rerr(evp__pq_reader_t *r, char *errstr, size_t errstr_size, evp_err_t e,
                       const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* pread exactly @p n bytes at @p off; EVP_ERR_IO with errno set otherwise
 * (EIO when the file ended early). */
evp_err_t evp__pq_pread_all(int fd, void *p, size_t n, uint64_t off);

#endif /* EVP_LAKE_PQ_READER_INT_H */
