/* Parquet reader for the files the lake writer writes (lake.h): a schema
 * of the five evp__pq_type_t types and groups (structs) of them, data pages v1 with PLAIN or
 * RLE_DICTIONARY values and RLE definition levels, Snappy or uncompressed.
 * Rows come out as evp__pq_value_t, the type evp__pq_writer_append takes, so
 * a file can be copied row by row (compaction, lake_compact.h).
 *
 * Every byte of the file is treated as hostile: a truncated or damaged file,
 * offsets or lengths past the end, bad Thrift, an unsupported encoding or
 * codec give an error naming the file (and the column), never a crash or a
 * read outside the file. Memory is bounded by one column chunk (compressed)
 * plus one decoded page and one dictionary per column.
 *
 * Thread-safety: a reader is used by one thread at a time; distinct readers
 * are independent. */
#ifndef EVP_LAKE_PQ_READER_H
#define EVP_LAKE_PQ_READER_H

#include <stddef.h>
#include <stdint.h>
#include "lake/lake.h"

typedef struct evp__pq_reader evp__pq_reader_t;

/* Open @p path and parse its footer (schema, row groups, key/value
 * metadata). Errors: EVP_ERR_IO (open/read failed, or the file is not
 * Parquet or is damaged: the message says where), EVP_ERR_UNSUPPORTED (a
 * schema, encoding or codec this reader does not handle), EVP_ERR_NOMEM. On success *out is owned by the
 * caller (evp__pq_reader_close). */
evp_err_t evp__pq_reader_open(evp__pq_reader_t **out, const char *path, char *errstr,
                              size_t errstr_size);

/* The schema read from the footer as lake.h describes it: *n nodes in
 * pre-order, groups (EVP__PQ_GROUP with nchildren) included; names owned by
 * the reader. */
const evp__pq_column_t *evp__pq_reader_columns(const evp__pq_reader_t *r, size_t *n);
/* Rows the footer declares (sum of the row groups'). */
uint64_t evp__pq_reader_num_rows(const evp__pq_reader_t *r);
/* The key/value metadata (strings owned by the reader; value may be NULL). */
const evp__pq_kv_t *evp__pq_reader_kv(const evp__pq_reader_t *r, size_t *n);
/* The file's size in bytes. */
uint64_t evp__pq_reader_file_bytes(const evp__pq_reader_t *r);

/* EVP_OK when the file's nodes are exactly @p want (names, types,
 * nullability, children, order); EVP_ERR_SCHEMA_INVALID naming the first
 * difference. */
evp_err_t evp__pq_reader_check_schema(const evp__pq_reader_t *r, const evp__pq_column_t *want,
                                      size_t n, char *errstr, size_t errstr_size);

/* The next row: *row points to one value per node (a group's says only
 * whether it is null; the leaves under a null group are null), valid until the next
 * call (strings point into the reader's buffers); *row is NULL after the
 * last row. Errors (EVP_ERR_IO: damaged data or a failed read;
 * EVP_ERR_UNSUPPORTED, EVP_ERR_NOMEM) are final: later calls return EVP_ERR_STATE. */
evp_err_t evp__pq_reader_next(evp__pq_reader_t *r, const evp__pq_value_t **row, char *errstr,
                              size_t errstr_size);

/* Close the file and free @p r (NULL is fine). */
void evp__pq_reader_close(evp__pq_reader_t *r);

#endif /* EVP_LAKE_PQ_READER_H */
