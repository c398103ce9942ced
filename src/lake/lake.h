/* Internal API of the lake area: a Parquet file writer for schemas of
 * scalar columns and groups (structs) of them.
 *
 * One writer produces one file. Rows are buffered per row group (bounded by
 * rows and bytes), then each column chunk is written as an optional
 * dictionary page plus data pages (v1), Snappy-compressed. The file is
 * written as a hidden temporary next to its final name and only appears
 * under the final name after evp__pq_writer_close() has fsynced it, renamed
 * it and fsynced the directory. See docs/parquet.md.
 *
 * Thread-safety: a writer is used by one thread at a time; distinct writers
 * are independent. */
#ifndef EVP_LAKE_LAKE_H
#define EVP_LAKE_LAKE_H

#include <stddef.h>
#include <stdint.h>
#include "evpipe/error.h"

/* Column types (physical + logical annotation). */
typedef enum evp__pq_type {
  EVP__PQ_STRING = 0,       /* BYTE_ARRAY, String logical type / UTF8; UTF-8 only */
  EVP__PQ_INT64 = 1,        /* INT64 (SQL BIGINT) */
  EVP__PQ_DOUBLE = 2,       /* DOUBLE */
  EVP__PQ_BOOLEAN = 3,      /* BOOLEAN */
  EVP__PQ_TIMESTAMP_US = 4, /* INT64 micros since the epoch, UTC-adjusted */
  EVP__PQ_GROUP = 5         /* a group (SQL struct) of the nchildren nodes that follow */
} evp__pq_type_t;

/* Most nodes on a path from the root to a leaf (groups plus the leaf), so
 * a definition level fits in 4 bits. Deeper schemas are refused at open. */
#define EVP__PQ_MAX_DEPTH 8
/* Most schema nodes (groups and leaves) in a file the writer writes and
 * the reader reads; a table model stays within it (EVP__TABLE_MAX_NODES). */
#define EVP__PQ_MAX_NODES 1024

/* One node of the schema. A schema is a list of nodes in pre-order: a
 * group (type EVP__PQ_GROUP, nchildren >= 1) is followed by its children,
 * each with its own subtree, then by its next sibling. Leaves have
 * nchildren 0. A flat schema is a list of leaves (nchildren 0 everywhere),
 * written exactly as before groups existed.
 * A row has one evp__pq_value_t per NODE, in the same order: a group's
 * value only says whether the group is null (is_null; a required group is
 * never null); when a group is null, the values of its whole subtree are
 * ignored (written as null). A leaf's definition level is the number of
 * optional nodes on its path from the root that are not null. */
typedef struct evp__pq_column {
  const char *name; /* non-empty UTF-8, <= 255 bytes, unique among its siblings */
  evp__pq_type_t type;
  int optional;       /* non-zero: nullable (one definition level) */
  unsigned nchildren; /* EVP__PQ_GROUP: its direct children (>= 1); leaves: 0 */
} evp__pq_column_t;

/* Page compression. ZSTD is opt-in: smaller files, read by Athena/Trino,
 * Spark 3.2+, DuckDB, arrow; Snappy stays the default (Firehose's choice). */
typedef enum evp__pq_codec {
  EVP__PQ_SNAPPY = 0,
  EVP__PQ_UNCOMPRESSED = 1,
  EVP__PQ_ZSTD = 2
} evp__pq_codec_t;

/* The codec a user names ("snappy", "zstd": the choices `evpipe local
 * --lake-codec` and `evpipe lake compact --codec` offer), or -1. */
int evp__pq_codec_from_name(const char *name);

typedef struct evp__pq_kv {
  const char *key;
  const char *value;
} evp__pq_kv_t;

/* Options; zero means the default shown. */
typedef struct evp__pq_options {
  evp__pq_codec_t codec; /* default SNAPPY */
  size_t row_group_rows; /* default 1,000,000; max 64 Mi */
  size_t
      row_group_bytes; /* buffered bytes before a row group is flushed; default 64 MiB, max 1 GiB */
  size_t page_bytes;   /* target uncompressed data page size; default 1 MiB, 1 KiB..64 MiB */
  size_t dict_max_bytes;   /* per column chunk; above it the chunk is PLAIN; default 1 MiB */
  size_t dict_max_entries; /* default 65,536 */
  size_t max_value_bytes;  /* longest string accepted; default 16 MiB, max 64 MiB */
  int no_fsync;            /* tests only: skip fsync (rename is still atomic) */
  int utf8_checked;        /* the caller guarantees every string is valid UTF-8 (skips the
                              per-value check; the batcher's come from validated JSON) */
  int zstd_level;          /* EVP__PQ_ZSTD only: 1..19; 0 means the default (see docs) */
  /* Encodings, each on by default where it was measured to win (docs/parquet.md);
   * turning one off gives files that older readers also read. */
  int no_delta_int;       /* INT64/TIMESTAMP: no DELTA_BINARY_PACKED (PLAIN instead) */
  int no_int_dict;        /* INT64/TIMESTAMP: no dictionary */
  int no_delta_str;       /* strings without a dictionary: PLAIN, not DELTA_LENGTH_BYTE_ARRAY */
  int no_prefix_str;      /* ... nor DELTA_BYTE_ARRAY (chosen when values share prefixes) */
  int no_page_index;      /* no ColumnIndex/OffsetIndex after the row groups */
  const evp__pq_kv_t *kv; /* optional key_value_metadata, copied at open */
  size_t nkv;
} evp__pq_options_t;

/* One cell of a row. For strings, s.ptr need not be NUL-terminated and is
 * copied during the append call. */
typedef struct evp__pq_value {
  int is_null;
  union {
    int64_t i64; /* INT64 and TIMESTAMP_US */
    double f64;
    int b; /* BOOLEAN: 0 or 1 */
    struct {
      const char *ptr;
      size_t len;
    } s;
  } v;
} evp__pq_value_t;

typedef struct evp__pq_writer evp__pq_writer_t;

/* Create DIR/.FINAL_NAME.tmp (mode 0600, O_EXCL) for writing. @p final_name is
 * a plain file name (no '/'), must not exist yet, and the dot-prefixed
 * temporary is what Hive/Athena/DuckDB-style globs skip. @p cols (@p ncols
 * schema nodes, groups included) is copied.
 * Errors: EVP_ERR_INVALID_ARG (bad schema/options/name), EVP_ERR_IO,
 * EVP_ERR_NOMEM. */
evp_err_t evp__pq_writer_open(evp__pq_writer_t **out, const char *dir, const char *final_name,
                              const evp__pq_column_t *cols, size_t ncols,
                              const evp__pq_options_t *opts, char *errstr, size_t errstr_size);

/* Append one row: @p row has one value per column, in schema order. The row is
 * validated as a whole first; EVP_ERR_INVALID_ARG (NULL in a required column,
 * invalid UTF-8, boolean not 0/1) and EVP_ERR_TOO_LARGE (string longer than
 * max_value_bytes) leave the writer unchanged and usable. EVP_ERR_IO or
 * EVP_ERR_NOMEM while flushing a row group put the writer in a failed state:
 * later calls return EVP_ERR_STATE and only close/abort remain. */
evp_err_t evp__pq_writer_append(evp__pq_writer_t *w, const evp__pq_value_t *row, char *errstr,
                                size_t errstr_size);

/* Append @p nrows rows stored row-major (nrows * ncols values). Stops at the
 * first error; @p appended (may be NULL) receives the rows accepted, so the
 * caller knows which row failed. Errors as for evp__pq_writer_append. */
evp_err_t evp__pq_writer_append_rows(evp__pq_writer_t *w, const evp__pq_value_t *rows, size_t nrows,
                                     size_t *appended, char *errstr, size_t errstr_size);

/* Rows appended so far, and bytes written to the file so far (the buffered
 * row group is not included). */
uint64_t evp__pq_writer_rows(const evp__pq_writer_t *w);
uint64_t evp__pq_writer_file_bytes(const evp__pq_writer_t *w);
/* Bytes of values buffered for the current row group (what row_group_bytes
 * limits; dictionaries not included). file_bytes + buffered_bytes is a
 * rough upper bound of the final file size, for rolling files by size. */
uint64_t evp__pq_writer_buffered_bytes(const evp__pq_writer_t *w);

/* Flush the buffered row group, write the footer, fsync, rename to the final
 * name, fsync the directory, and free @p w (always, also on error). On error
 * the temporary is removed and no final file appears, except when only the
 * final directory fsync fails (EVP_ERR_IO with the file already renamed).
 * @p file_size (may be NULL) receives the final size. */
evp_err_t evp__pq_writer_close(evp__pq_writer_t *w, uint64_t *file_size, char *errstr,
                               size_t errstr_size);

/* Discard: remove the temporary and free @p w (NULL is fine). */
void evp__pq_writer_abort(evp__pq_writer_t *w);

/* A writer kept for several files in turn (the batcher's): finish commits
 * like evp__pq_writer_close and discard removes the temporary like
 * evp__pq_writer_abort, but both keep @p w and its buffers; reopen starts the
 * next file (same columns and options) in @p dir, and free releases the
 * writer (discarding an open file). reopen is EVP_ERR_STATE unless the
 * previous file was finished or discarded. */
evp_err_t evp__pq_writer_finish(evp__pq_writer_t *w, uint64_t *file_size, char *errstr,
                                size_t errstr_size);
void evp__pq_writer_discard(evp__pq_writer_t *w);
evp_err_t evp__pq_writer_reopen(evp__pq_writer_t *w, const char *dir, const char *final_name,
                                char *errstr, size_t errstr_size);
void evp__pq_writer_free(evp__pq_writer_t *w);

/* Partition directory of an event time (UTC), Hive style:
 * "ROOT/TABLE/dt=YYYY-MM-DD/hour=HH". EVP_ERR_TOO_LARGE when @p out is too
 * small, EVP_ERR_INVALID_ARG for a bad table name or a time outside years
 * 0..9999. */
evp_err_t evp__lake_partition_dir(char *out, size_t out_size, const char *root, const char *table,
                                  int64_t ts_us, char *errstr, size_t errstr_size);

#endif /* EVP_LAKE_LAKE_H */
