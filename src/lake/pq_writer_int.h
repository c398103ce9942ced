/* Private state of the Parquet writer, shared by pq_writer.c (row buffering
 * and pages) and pq_footer.c (the FileMetaData footer). */
#ifndef EVP_LAKE_PQ_WRITER_INT_H
#define EVP_LAKE_PQ_WRITER_INT_H

#include "lake/lake.h"
#include "lake/lake_file.h"
#include "lake/pq_encode.h"

/* Longest string min/max written into statistics; longer ones are omitted
 * rather than truncated (a truncated max would need a valid UTF-8 successor). */
#define EVP__PQ_STATS_MAX 256

/* The byte-wise least and greatest of strings seen so far (statistics and
 * the page index); pointers may be NULL for empty strings, hence found. */
typedef struct evp__pq_bounds {
  const uint8_t *min, *max;
  size_t min_len, max_len;
  int found;
} evp__pq_bounds_t;

static inline void evp__pq_bounds_note(evp__pq_bounds_t *b, const uint8_t *p, size_t l) {
  if (!b->found || evp__pq_bytes_less(p, l, b->min, b->min_len)) {
    b->min = p;
    b->min_len = l;
  }
  if (!b->found || evp__pq_bytes_less(b->max, b->max_len, p, l)) {
    b->max = p;
    b->max_len = l;
  }
  b->found = 1;
}

/* One data page, for the page index (pq_page_index.c). */
typedef struct evp__pq_page_meta {
  int64_t offset;    /* of its page header */
  int32_t size;      /* header + stored body */
  int64_t first_row; /* within the row group */
  int64_t null_count;
  int all_null;
  uint32_t min_len, max_len;
  uint8_t min[EVP__PQ_STATS_MAX], max[EVP__PQ_STATS_MAX]; /* PLAIN, no length prefix */
} evp__pq_page_meta_t;

/* What the footer needs about one column chunk. */
typedef struct evp__pq_chunk_meta {
  int64_t start; /* first byte of the chunk */
  int64_t data_page_offset;
  int64_t dict_page_offset; /* -1: no dictionary page */
  int64_t num_values;       /* including nulls */
  int64_t uncompressed;     /* page headers + uncompressed bodies */
  int64_t compressed;       /* page headers + stored bodies */
  int64_t null_count;
  int data_enc; /* PQ_ENC_* of the data pages */
  int has_minmax;
  uint32_t min_len, max_len;
  uint8_t min[EVP__PQ_STATS_MAX], max[EVP__PQ_STATS_MAX]; /* PLAIN, no length prefix */
  /* page index: the pages, and where their ColumnIndex / OffsetIndex went */
  evp__pq_page_meta_t *pages;
  size_t npages, cap_pages;
  int no_column_index;          /* a page's bounds cannot be given (NaN, long string) */
  int64_t ci_offset, oi_offset; /* -1: not written */
  int32_t ci_length, oi_length;
} evp__pq_chunk_meta_t;

typedef struct evp__pq_rg_meta {
  int64_t num_rows;
  evp__pq_chunk_meta_t *cols; /* ncols */
} evp__pq_rg_meta_t;

/* One leaf column's buffered values for the current row group. The fields
 * every appended row touches come first, in as few cache lines as they
 * fit: a row visits every leaf, and an event table has about twenty. */
typedef struct evp__pq_col {
  /* per row */
  evp__pq_column_t spec; /* the leaf's node (name owned by the writer's nodes) */
  int max_def;           /* optional nodes on its root path: 0 = no levels stored */
  int dict_on;
  int have_minmax;
  size_t node;       /* index of the leaf in the schema's node list */
  uint8_t *defs;     /* per row, when max_def > 0: the definition level */
  size_t nn, cap_nn; /* non-null values buffered / capacity */
  uint64_t *fixed;   /* INT64/TIMESTAMP/DOUBLE bit patterns */
  uint64_t *soff;    /* STRING: value i is sbytes[soff[i] .. soff[i+1]) */
  evp__buf_t sbytes;
  uint32_t *didx;     /* dictionary index per value, while dict_on (strings; integers
                            unless no_int_dict: their 8 little-endian bytes are the key) */
  uint32_t dict_last; /* the entry the previous value got (a hint: checked by its bytes) */
  evp__pq_dict_t dict;
  int64_t null_count;
  int64_t imin, imax;
  /* less often */
  uint8_t *bools;
  int nan_seen;
  double dmin, dmax;
  const char *path; /* "group.leaf" for messages (owned by the writer's nodes) */
  size_t depth;     /* nodes on its root path, the leaf included */
  size_t path_nodes[EVP__PQ_MAX_DEPTH]; /* their indices, root side first */
  /* page index of a dictionary column: per entry, the last page (seen_gen)
   * whose bounds compared it, so each distinct value is compared once a page */
  uint32_t *seen;
  size_t cap_seen;
  uint32_t seen_gen;
} evp__pq_col_t;

struct evp__pq_writer {
  evp__pq_options_t opt; /* defaults filled in; kv deep-copied */
  /* the schema's nodes in pre-order (names owned): a row has one value each */
  evp__pq_column_t *nodes;
  char **paths;        /* per node, dotted from the root, for messages */
  int32_t *parent;     /* per node: its group's index, -1 at the top */
  uint8_t *def;        /* per node, scratch of append: the level reached */
  uint8_t *up;         /* per node, scratch of append: the node is not null */
  size_t nnodes, ntop; /* nodes, and those at the top level (the root's children) */
  evp__pq_col_t *cols; /* the leaves: one column chunk each */
  size_t ncols;
  size_t rows, cap_rows; /* rows buffered in the current row group */
  size_t buffered_bytes;
  uint64_t total_rows;
  evp__pq_rg_meta_t *rgs;
  size_t nrgs, cap_rgs;
  evp__lake_file_t file;
  int failed;
  int done; /* the file was committed or discarded: only reopen/free remain */
  /* scratch buffers reused for every page */
  evp__buf_t page, comp, hdr;
  void *zctx; /* ZSTD_CCtx, created on the first ZSTD page */
  uint32_t *scratch;
  size_t cap_scratch;
};

/* Page index (pq_page_index.c). Record data page [r0, r1) of rows holding
 * values [v0, v1) of @p c, written at @p offset with @p size bytes. */
evp_err_t evp__pq_page_note(evp__pq_col_t *c, evp__pq_chunk_meta_t *m, int64_t offset, int64_t size,
                            size_t r0, size_t r1, size_t v0, size_t v1);
/* Write every chunk's ColumnIndex, then every OffsetIndex, at the file's
 * current end (before the footer), and note their places in the chunks. */
evp_err_t evp__pq_page_index_write(evp__pq_writer_t *w, char *errstr, size_t errstr_size);
void evp__pq_chunk_free(evp__pq_chunk_meta_t *m);

/* Serialize the FileMetaData into @p out. */
evp_err_t evp__pq_footer_encode(const evp__pq_writer_t *w, evp__buf_t *out);

#endif /* EVP_LAKE_PQ_WRITER_INT_H */
