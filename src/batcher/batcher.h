/* The batcher: drains the durable log into Parquet files of the lake (the
 * Firehose of `evpipe local`). See docs/local-durability.md. */
#ifndef EVP_BATCHER_BATCHER_H
#define EVP_BATCHER_BATCHER_H

#include <stddef.h>
#include <stdint.h>
#include "evpipe/error.h"
#include "wal/wal.h"

/* ---- the batcher: log -> Parquet files under lake_dir/events/dt=/hour= ---- */

struct evp__batcher_notice;
struct evp__batcher_file;
struct evp__batcher_compaction;

/* Options; zero means the default shown. */
typedef struct {
  const char *lake_dir; /* root of the lake; files go to lake_dir/events/dt=YYYY-MM-DD/hour=HH/ */
  const char *schema_json; /* the event schema text: columns come from src/table/table.h */
  size_t buffer_bytes;    /* flush when this many bytes of events are buffered (Firehose: 1-128 MB);
                               default 5 MiB, at most 1 GiB */
  int buffer_seconds;     /* ... or when the oldest buffered event is this old (Firehose: 0-900 s);
                               default 60, at most 900 */
  int dedup_window_s;     /* drop an event_id already written within this window
                               (by received_at); 0 disables dedup */
  size_t dedup_max_ids;   /* bound on remembered ids (oldest forgotten first); default 1,000,000 */
  int parts;              /* files a large flush is written as at once, by as many threads;
                               default: the online CPUs, at most 4; 1: one file, one thread */
  size_t part_min_events; /* ... each of at least this many events; default 1000 */
  /* Told, on the batcher thread, when lake writes start failing and while
   * they keep failing — at most once per notice_interval_ms (default 10000),
   * with the failures since the last notice — and when an outage that was
   * told is over; and (EVP__LAKE_REFUSED) when logged events the lake
   * cannot take were copied to the quarantine instead — at once, then at
   * most once per interval, the rest when the batcher stops; NULL: not
   * told. The log lines of `evpipe local`. */
  void (*notice)(void *arg, const struct evp__batcher_notice *n);
  void *notice_arg; /* for notice and written */
  int notice_interval_ms;
  /* Told, on the batcher thread, after each lake file is committed (renamed
   * into its partition; the checkpoint moves when the whole flush is done),
   * with what it holds and why the flush wrote it; NULL: not told. The
   * "lake file written" log lines of `evpipe local`. */
  void (*written)(void *arg, const struct evp__batcher_file *f);
  /* Compact closed hour partitions (lake/lake_compact.h) on a thread of
   * their own, so lake writes go on meanwhile: the hours that ended at
   * least buffer_seconds + 60 s ago, checked at start and once per hour
   * after. The hour being compacted is fenced off: a (late) file for it
   * waits until that hour is done. A leftover compaction staging directory
   * is removed at start either way. 0: off. */
  int compact;
  uint64_t compact_target_bytes; /* size of the compacted files; 0: 128 MiB */
  /* Codec of every lake file written, by flushes and compaction alike:
   * EVP__PQ_SNAPPY (0, the default: Firehose's and every engine's) or
   * EVP__PQ_ZSTD (smaller; Athena, Trino, Spark, DuckDB read it). */
  int lake_codec;
  /* Told, on the compaction thread, after each hour compacted or failed to
   * (the log line "lake hour compacted"); NULL: not told. */
  void (*compacted)(void *arg, const struct evp__batcher_compaction *c);
  /* Tests only: compaction's step hook (evp__compact_opts_t.hook). */
  void (*compact_hook)(void *arg, const char *step);
  void *compact_hook_arg;
} evp__batcher_opts_t;

/* Why a flush wrote the buffer: Firehose's buffering hints, a request, or
 * the batcher stopping. A retried flush keeps the reason of its first try. */
typedef enum {
  EVP__FLUSH_SIZE,    /* buffer_bytes were buffered */
  EVP__FLUSH_AGE,     /* the oldest buffered event was buffer_seconds old */
  EVP__FLUSH_FORCED,  /* evp__batcher_flush asked */
  EVP__FLUSH_SHUTDOWN /* evp__batcher_close */
} evp__flush_why_t;

/* "size", "age", "forced", "shutdown" (static text). Thread-safe. */
const char *evp__flush_why_name(evp__flush_why_t why);

/* A lake file just committed; every pointer lives until the callback returns. */
typedef struct evp__batcher_file {
  const char *path;    /* relative to lake_dir: events/dt=YYYY-MM-DD/hour=HH/part-*.parquet */
  const char *dt;      /* its partition: "YYYY-MM-DD" ... */
  int hour;            /* ... and 0-23 (UTC, of received_at) */
  uint64_t rows;       /* rows it holds (duplicates and refused events not included) */
  uint64_t bytes;      /* its size */
  int64_t duration_ms; /* building, encoding and writing it (parallel parts: their group's) */
  evp__flush_why_t why;
} evp__batcher_file_t;

/* An hour partition compacted; pointers live until the callback returns. */
typedef struct evp__batcher_compaction {
  const char *dt; /* "YYYY-MM-DD" */
  int hour;       /* 0-23 */
  size_t files_in, files_out;
  uint64_t rows, bytes_in, bytes_out;
  int64_t duration_ms;
  const char *error; /* NULL, or why it failed (nothing was changed; retried next hour) */
} evp__batcher_compaction_t;

typedef enum {
  EVP__LAKE_FAILED,
  EVP__LAKE_STILL_FAILING,
  EVP__LAKE_RECOVERED,
  EVP__LAKE_REFUSED /* events the lake cannot take were copied to the quarantine */
} evp__lake_notice_t;

typedef struct evp__batcher_notice {
  evp__lake_notice_t kind;
  const char *error;       /* the last failure's reason ("" when recovered) */
  uint64_t failures;       /* failed attempts since the previous notice */
  uint64_t failures_total; /* ... since the first failure of this outage */
  int64_t since_unix_us;   /* wall-clock time of that first failure */
  /* EVP__LAKE_REFUSED: error is the last event's reason, failures and
   * failures_total count refused events (since the previous such notice,
   * since start), file is the quarantine file of the last one. */
  const char *file;
} evp__batcher_notice_t;

typedef struct {
  uint64_t files, bytes, rows, duplicates;
  uint64_t errors;     /* failed flush attempts (retried) + events that fit no row */
  uint64_t bad_events; /* of those: events that fit no row, copied to the quarantine
                               (DIR/quarantine/refused-*.ndjson) instead of the lake */
  /* received_at (wall clock, microseconds) of the oldest event read from
   * the log and not yet in a committed lake file; 0 when none is waiting.
   * The lake lag is now minus this. */
  int64_t oldest_unwritten_us;
  uint64_t compactions;         /* hour partitions compacted (options.compact) */
  uint64_t compaction_failures; /* hours whose compaction failed: nothing swapped, the
                                   hour keeps its files; tried again when the next
                                   hour closes (the reason: evp__batcher_last_error) */
} evp__batcher_stats_t;

typedef struct evp__batcher evp__batcher_t;

/* Start the background thread draining @p w (borrowed; must outlive it).
 * Creates lake_dir/events, re-learns recent event ids from the retained log
 * (see docs/local-durability.md). Errors: EVP_ERR_INVALID_ARG (options),
 * EVP_ERR_SCHEMA_INVALID / EVP_ERR_JSON (schema), EVP_ERR_IO, EVP_ERR_NOMEM. */
evp_err_t evp__batcher_start(evp__wal_t *w, const evp__batcher_opts_t *opts, evp__batcher_t **out,
                             char *errstr, size_t errstr_size);

/* Write everything appended so far into committed Parquet files now; returns
 * EVP_OK when done, EVP_ERR_IO when a flush attempt failed meanwhile (it is
 * retried in the background; evp__batcher_last_error has the reason),
 * EVP_ERR_TIMED_OUT after @p timeout_ms. Thread-safe. */
evp_err_t evp__batcher_flush(evp__batcher_t *b, int timeout_ms);

void evp__batcher_get_stats(const evp__batcher_t *b, evp__batcher_stats_t *out);

/* The batcher's last error message (a failed flush, a refused event), for
 * logs; "" when none. */
void evp__batcher_last_error(const evp__batcher_t *b, char *out, size_t n);

/* Whether the lake is failing: 1 while the last attempt to read the log or
 * write the lake failed (retried with backoff), with the reason, the
 * wall-clock time of the first failure of this outage and the failed
 * attempts since; 0 when healthy. Thread-safe. */
int evp__batcher_failing(const evp__batcher_t *b, char *reason, size_t n, int64_t *since_unix_us,
                         uint64_t *failures);

/* Flush, stop and join the thread, free. EVP_OK when everything read from
 * the log was committed to the lake; otherwise the error of the final flush
 * (with its reason in @p errstr): the events stay in the log and are
 * written at the next start. NULL is a no-op (EVP_OK). */
evp_err_t evp__batcher_close(evp__batcher_t *b, char *errstr, size_t errstr_size);
/* The same without the reason. */
evp_err_t evp__batcher_stop(evp__batcher_t *b);

#endif /* EVP_BATCHER_BATCHER_H */
