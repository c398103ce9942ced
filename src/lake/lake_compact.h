/* Compaction of the lake's hour partitions (lake_compact.c): the files of
 * ROOT/events/dt=D/hour=H merged into few large ones and swapped in with one
 * atomic directory exchange, so a reader sees the old set or the new set,
 * never both or neither, whenever the process is killed. See
 * docs/local-durability.md ("Compaction").
 *
 * Thread-safety: one compaction per lake at a time; the caller guarantees
 * that nothing else writes the hour (evpipe local fences each hour off from
 * its batcher with hour_begin/hour_end; `evpipe lake compact` holds the
 * log's lock). */
#ifndef EVP_LAKE_LAKE_COMPACT_H
#define EVP_LAKE_LAKE_COMPACT_H

#include <stddef.h>
#include <stdint.h>
#include "lake/lake.h"

/* Default size of a compacted file. */
#define EVP__COMPACT_TARGET_BYTES ((uint64_t)128 << 20)

typedef struct evp__compact_opts {
  const char *root;      /* the data directory: tables under ROOT/events, staging in ROOT/compact */
  uint64_t checkpoint;   /* the log's checkpoint: only files whose last offset is below it are
                            merged (the batcher's crash recovery reads the names of the others);
                            UINT64_MAX when there is no log */
  uint64_t target_bytes; /* size of the files written; 0: EVP__COMPACT_TARGET_BYTES */
  evp__pq_codec_t codec; /* of the files written: EVP__PQ_SNAPPY (0, the default) or ZSTD */
  int force;             /* compact an hour with two or more files even when they are not
                            below the target size (an explicit --hour) */
  int no_fsync;          /* tests only */
  /* Tests only: called at each step ("staged", "file", "verified", "linked", "exchanged",
   * "cleaned"); the crash test kills the process there. */
  void (*hook)(void *arg, const char *step);
  void *hook_arg;
  uint64_t test_drop_rows; /* tests only: rows left out of the copy (the verification refuses) */
  /* evp__lake_compact_closed calls hour_begin before an hour (the start of
   * the hour, µs) and hour_end after it: evpipe local keeps its batcher
   * from writing into the hour meanwhile (batcher_compact.c). hour_begin
   * returning non-zero skips the hour. May be NULL. */
  int (*hour_begin)(void *arg, int64_t hour_start_us);
  void (*hour_end)(void *arg, int64_t hour_start_us);
  /* Polled while rows are copied: non-zero stops the compaction in
   * progress (EVP_ERR_STATE, nothing swapped, its staging removed) and the
   * scan. May be NULL. */
  int (*cancelled)(void *arg);
  void *fence_arg; /* of the three above */
} evp__compact_opts_t;

typedef struct evp__compact_result {
  char dt[11]; /* "YYYY-MM-DD" */
  int hour;
  int compacted; /* 0: nothing to do (fewer than two files, or already at size) */
  size_t files_in, files_out, files_kept; /* kept: not merged (part files at or after the
                                             checkpoint, foreign files) */
  uint64_t rows, bytes_in, bytes_out;
  int64_t duration_ms;
} evp__compact_result_t;

/* Compact ROOT/events/dt=@p dt/hour=@p hour. Nothing changes unless the new
 * files hold exactly the rows of the old (rows out == rows in, read back
 * from the new files' footers) and the exchange succeeds. Errors:
 * EVP_ERR_INVALID_ARG, EVP_ERR_IO, EVP_ERR_NOMEM, EVP_ERR_SCHEMA_INVALID
 * (files of one hour with different schemas), EVP_ERR_UNSUPPORTED (the
 * file system cannot exchange directories atomically), EVP_ERR_INTERNAL
 * (the row counts differ: nothing was swapped). */
evp_err_t evp__lake_compact_hour(const evp__compact_opts_t *o, const char *dt, int hour,
                                 evp__compact_result_t *res, char *errstr, size_t errstr_size);

/* Every hour of ROOT/events whose end is at or before @p closed_before_us
 * (µs since the epoch) and that needs it (more files than its size at the
 * target needs) is compacted; @p done (may be NULL) is told each result,
 * or the error of an hour (then @p res is that hour's, with compacted 0),
 * and the scan goes on with the next hour. Returns the first error. */
evp_err_t evp__lake_compact_closed(const evp__compact_opts_t *o, int64_t closed_before_us,
                                   void (*done)(void *arg, const evp__compact_result_t *res,
                                                evp_err_t err, const char *msg),
                                   void *arg, char *errstr, size_t errstr_size);

/* Remove what a compaction killed midway left in ROOT/compact: before the
 * exchange the unfinished new files, after it the old ones. Call before
 * anything reads or compacts the lake. */
evp_err_t evp__lake_compact_recover(const char *root, char *errstr, size_t errstr_size);

/* Hour directory path pieces from a time: dt "YYYY-MM-DD" and hour of the
 * hour holding @p ts_us (UTC); -1 for a time outside 0000..9999. */
int evp__lake_hour_of(int64_t ts_us, char dt[11], int *hour);

#endif /* EVP_LAKE_LAKE_COMPACT_H */
