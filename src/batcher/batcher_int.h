/* The batcher object and what its files do to it, for batcher*.c and the
 * batcher's tests. Who calls whom, one way down:
 *   batcher.c          the thread: reads the log into the buffer, flushes
 *   batcher_flush.c    buffer -> one lake file per hour group -> checkpoint
 *   batcher_parts.c    a large group as several files at once
 *   batcher_record.c   what both writers share: a buffered record decoded,
 *                      event ids looked up ahead, a file opened
 *   batcher_refused.c  events the lake cannot take, to the quarantine
 *   dedup.c (dedup.h), thread_pool.c (thread_pool.h): self-contained. */
#ifndef EVP_BATCHER_BATCHER_INT_H
#define EVP_BATCHER_BATCHER_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "base/buf.h"
#include "batcher/batcher.h"
#include "lake/lake.h"
#include "lake/lake_row.h"
#include "wal/wal_read.h"
#include "batcher/dedup.h"
#include "batcher/thread_pool.h"

/* ---- the batcher object ---- */

/* A log record held in the buffer: its payload is copied into the
 * batcher's arena at @p poff (one buffer reused from flush to flush: a
 * malloc per record of this size would be an mmap/munmap and fresh page
 * faults each time). */
typedef struct {
  uint64_t offset, end;
  int64_t received_at_us;
  uint32_t nevents;
  size_t poff;
  size_t len;
} evp__buffered_record_t;

/* Records of hour @p hour in [first, last] are in an existing lake file
 * (written before a crash, after the checkpoint). */
typedef struct {
  int64_t hour;
  uint64_t first, last;
} evp__existing_file_t;

struct evp__batcher {
  evp__wal_t *w;
  char *lake_dir;
  size_t buffer_bytes;
  int buffer_seconds;
  int64_t dedup_window_us;
  struct evp__table *table;
  evp__row_builder_t *rb;
  evp__dedup_t *dd; /* NULL: dedup off */

  pthread_t thread;
  pthread_mutex_t mu; /* the fields up to last_err */
  pthread_cond_t cv;  /* a flush finished or failed; stop */
  int stop;
  /* The compaction thread's fence (batcher_compact.c): the hour (hours
   * since the epoch) it is compacting, and the hour a flush is writing
   * into; EVP__NO_HOUR when none. Neither starts on the other's hour. */
  int64_t compacting_hour, writing_hour;
  uint64_t flush_target; /* evp__batcher_flush wants the log committed to here */
  uint64_t committed;    /* the checkpoint as last written */
  uint64_t fail_gen;     /* failed flush attempts */
  evp__batcher_stats_t st;
  char last_err[512];
  /* the outage in progress, if any (evp__batcher_failing) */
  int failing;           /* the last attempt failed */
  int64_t fail_since_us; /* wall clock of its first failure */
  uint64_t fail_count;   /* failed attempts in it */
  char fail_err[512];

  /* set at start */
  void (*notice)(void *arg, const struct evp__batcher_notice *n);
  void *notice_arg;
  int notice_interval_ms;
  void (*written)(void *arg, const struct evp__batcher_file *f);
  int compact;
  uint64_t compact_target;
  int lake_codec; /* evp__pq_codec_t of every file written (opts.lake_codec) */
  void (*compacted)(void *arg, const struct evp__batcher_compaction *c);
  void (*compact_hook)(void *arg, const char *step);
  void *compact_hook_arg;
  pthread_t compact_thread;
  int compact_running;     /* compact_thread was started */
  int64_t compact_scanned; /* the last closed hour (hours since the epoch) scanned, or -1;
                              the compaction thread's own */

  /* owned by the batcher thread */
  int noticed;           /* something was told ... */
  int64_t noticed_at_ms; /* ... at this monotonic time (the last time) */
  uint64_t untold;       /* failures not in any notice yet */
  int outage_told;       /* the outage in progress was told */
  evp__flush_why_t why;  /* of the flush in progress (kept by its retries) */
  evp_err_t final_err;   /* the flush at stop failed: its error ... */
  char final_msg[512];   /* ... and reason */
  evp__wal_reader_t *r;
  evp__buffered_record_t *buf;
  size_t nbuf, capbuf, buf_bytes;
  unsigned char *arena; /* the buffered payloads, back to back */
  size_t arena_len, arena_cap;
  uint64_t buf_events;
  int64_t first_at_ms; /* monotonic time the oldest buffered record was read */
  uint64_t replay_end; /* log end at start: lake files may already hold records below it */
  uint64_t start_ckpt;
  evp__existing_file_t *cov;
  size_t ncov, capcov;
  int64_t *scanned; /* hours whose directory was scanned for such files */
  size_t nscanned, capscanned;
  evp__pq_writer_t *pw; /* reused file after file (its buffers keep their size) */
  /* Parallel parts (batcher_parts.c): nparts files per large group, the
   * last built on this thread, the others on the pool's helpers. */
  size_t nparts, part_min_events;
  evp__thread_pool_t *pool;
  struct evp__batcher_part *parts; /* nparts, each with its own row builder and writer */
  struct evp__part_event *pev;     /* per event of the group: its id and dedup verdict */
  size_t cappev;
  /* Events of the group being written that the row builder refused, as
   * NDJSON lines for the quarantine (batcher_refused.c), and what is still
   * to be told about the ones already copied. */
  evp__buf_t rq;
  uint64_t rqevents;
  uint64_t refused_untold, refused_total;
  int64_t refused_told_at_ms;
  int refused_told;
  char refused_why[256];
  char refused_file[4400];
};

/* The lake table the batcher writes, and the name of each of its files:
 * the log offsets of the first and last record it holds. */
#define EVP__LAKE_TABLE "events"
#define EVP__PART_FMT "part-%020llu-%020llu.parquet"

/* Write the buffer to lake files (one per hour of received_at), advance
 * the checkpoint and empty the buffer; on error the buffer is kept and the
 * same files are retried later (batcher_flush.c). */
evp_err_t evp__batcher_flush_buffer(evp__batcher_t *b, char *errstr, size_t errstr_size);

/* ---- shared by the two writers (batcher_record.c) ---- */

/* The buffered record @p br decoded (EVP_ERR_INTERNAL when it does not
 * decode: it passed its checksum when read, so that is a bug). */
evp_err_t evp__batcher_record(const evp__batcher_t *b, const evp__buffered_record_t *br,
                              evp__wal_record_t *rec, char *errstr, size_t errstr_size);

/* Open (or reopen, keeping its buffers) *pw on dir/name with the columns of
 * rb and @p codec (evp__pq_codec_t: the batcher's lake_codec). */
evp_err_t evp__batcher_open_file(const evp__row_builder_t *rb, evp__pq_writer_t **pw, int codec,
                                 const char *dir, const char *name, char *errstr,
                                 size_t errstr_size);

/* A lake file of @p rows rows and @p bytes bytes was committed as dir/name
 * (dir under b->lake_dir; @p ts_us any received_at of its hour; its work
 * started at monotonic @p started_us): told to the written callback, if
 * any, with the flush's reason. Batcher thread. */
void evp__batcher_tell_written(const evp__batcher_t *b, const char *dir, const char *name,
                               int64_t ts_us, uint64_t rows, uint64_t bytes, int64_t started_us);

/* The id an SDK puts first ({"event_id":"...") and its dedup key, computed
 * a few events ahead of the check so the table slot can be loaded
 * (evp__batcher_look_ahead fills one and prefetches the slot). */
#define EVP__ID_LOOK_AHEAD 6
typedef struct {
  const char *id; /* NULL: the event has another shape (checked as usual) */
  size_t len;
  evp__dedup_key_t key;
} evp__id_ahead_t;
void evp__batcher_look_ahead(const evp__dedup_t *d, uint64_t scope, const char *ev, size_t len,
                             evp__id_ahead_t *a);

/* ---- refused events (batcher_refused.c) ---- */

/* Event @p ev of record @p rec (log offset @p offset) is refused for
 * @p why: kept as one line for the group's quarantine file. EVP_ERR_NOMEM
 * (or EVP_ERR_TOO_LARGE past the quarantine bound) fails the flush: it is
 * retried, and the checkpoint does not pass the event meanwhile. */
evp_err_t evp__batcher_refuse(evp__batcher_t *b, uint64_t offset, const evp__wal_record_t *rec,
                              const char *ev, size_t len, const char *why, char *errstr,
                              size_t errstr_size);
/* The group's refused events (if any) to DIR/quarantine/refused-<first>-
 * <last>.ndjson, synced, before the group's file is committed; a failure
 * fails the flush. Empties the lines either way. */
evp_err_t evp__batcher_refused_write(evp__batcher_t *b, uint64_t first, uint64_t last, char *errstr,
                                     size_t errstr_size);
/* Tell the refused events copied since the last notice: at once the first
 * time, then at most once per notice interval, and always with @p force
 * (the batcher stopping). Batcher thread. */
void evp__batcher_refused_tell(evp__batcher_t *b, int force);

/* What a flush wrote and dropped. */
typedef struct {
  uint64_t files, bytes, rows, dups, bad;
} evp__flush_tally_t;

/* A group of records (one hour, sorted by offset, none already in a file)
 * written as up to b->nparts files at once, one per contiguous run of
 * records, each named by its own first and last offsets (batcher_parts.c).
 * The dedup set is consulted first, in order, on this thread; the rows are
 * then built and encoded in parallel. *fallback is set, with the dedup set
 * and nothing written changed, when the group holds an event the parallel
 * path does not decide exactly as the one-file path would (a bad event, an
 * id found differently): the caller then writes it as one file. */
evp_err_t evp__batcher_write_parts(evp__batcher_t *b, const size_t *idx, size_t n, const char *dir,
                                   evp__flush_tally_t *t, int *fallback, char *errstr,
                                   size_t errstr_size);
void evp__batcher_parts_free(evp__batcher_t *b);

#define EVP__NO_HOUR INT64_MIN
#define EVP__US_PER_HOUR INT64_C(3600000000)
/* The hour (hours since the epoch, floored) holding @p us: a partition of
 * the lake, and the unit the compaction fence works in. Inline: the flush
 * and the compaction thread both use it, and their files may not call each
 * other both ways (scripts/check-layers). */
static inline int64_t evp__batcher_hour_of(int64_t us) {
  return us >= 0 ? us / EVP__US_PER_HOUR : -((-us + EVP__US_PER_HOUR - 1) / EVP__US_PER_HOUR);
}
/* batcher_compact.c: start the compaction thread when compaction is on
 * (it compacts the hours that closed since its last look, then waits a
 * second or for stop); join it after stop was set. */
evp_err_t evp__batcher_compact_start(evp__batcher_t *b, char *errstr, size_t errstr_size);
void evp__batcher_compact_join(evp__batcher_t *b);
/* A flush writes into hour @p hour (hours since the epoch) between enter
 * and leave; enter waits while the compaction thread compacts that hour. */
void evp__batcher_write_enter(evp__batcher_t *b, int64_t hour);
void evp__batcher_write_leave(evp__batcher_t *b);

/* Feed the event ids of retained, already-committed log records (below the
 * checkpoint) to the dedup set, so a restart does not forget which ids were
 * written within the window (batcher.c). */
evp_err_t evp__batcher_relearn(evp__batcher_t *b, char *errstr, size_t errstr_size);

#endif /* EVP_BATCHER_BATCHER_INT_H */
