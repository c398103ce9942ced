/* The durable log: the local pipeline's queue (the SQS of `evpipe local`).
 * The HTTP front (src/local/) appends accepted events; the batcher
 * (src/batcher/, reading through wal/wal_read.h) drains them into the lake.
 *
 * Contract: a request is answered 200 only after evp__wal_append() returned
 * EVP_OK for its accepted events, so a crash at any moment loses no
 * acknowledged event; the batcher advances the log only after the Parquet file
 * holding those events has been committed (temp + fsync + rename + dir fsync),
 * names each file by the log offsets it holds, so a replay after a crash skips
 * what is already in the lake, and drops event_ids already written within the
 * dedup window (client retries). Formats and guarantees:
 * docs/local-durability.md. */
#ifndef EVP_WAL_WAL_H
#define EVP_WAL_WAL_H

#include <stddef.h>
#include <stdint.h>
#include "evpipe/error.h"

typedef enum {
  EVP__FSYNC_ALWAYS =
      0,               /* fsync before acknowledging; concurrent appends share one (group commit) */
  EVP__FSYNC_INTERVAL, /* acknowledge after write(); fsync every interval_ms */
  EVP__FSYNC_NEVER     /* leave it to the OS (tests, benchmarks) */
} evp__fsync_policy_t;

/* A damaged region of the log found by evp__wal_open: bytes between two
 * valid records (or between one and the end of a segment that is not the
 * last) that are no record. They are left in place and skipped by readers,
 * so the offsets of the records after them do not change. */
typedef struct {
  const char *segment;     /* path of the segment file */
  uint64_t segment_offset; /* where the region starts in that file */
  uint64_t log_offset;     /* ... and in the log */
  uint64_t length;         /* bytes */
  const char *quarantine;  /* path of the file holding a copy, or NULL when not copied */
  const char *note;        /* "copied", "already copied", or why it was not copied */
} evp__wal_damage_t;

/* Options; zero means the default shown. */
typedef struct {
  evp__fsync_policy_t fsync;
  int interval_ms;         /* for EVP__FSYNC_INTERVAL; default 200 */
  size_t segment_bytes;    /* roll to a new segment file past this size; default 64 MiB */
  size_t max_record_bytes; /* largest record (one request's events + ~20 bytes);
                               default 16 MiB, at most 256 MiB; larger: EVP_ERR_TOO_LARGE */
  size_t retain_bytes;     /* keep up to this much of the newest already-committed log, from
                               which a restarted batcher re-learns recent event ids for dedup;
                               default 64 MiB; 1 keeps none beyond the active segment */
  size_t quarantine_bytes; /* bound on the copies of damaged regions kept in DIR/quarantine/
                               (all files together); default 64 MiB. A region that does not fit
                               is skipped and counted but not copied */
  /* 1: preallocate the active segment to segment_bytes and append by copying
   * into a shared mapping of it (no system call per append; the client
   * spool). Disk full shows as EVP_ERR_IO when a segment is started. */
  int mapped;
  /* Called by evp__wal_open once per damaged region (for a log line); NULL: not told. */
  void (*on_damage)(void *arg, const evp__wal_damage_t *d);
  void *damage_arg;
} evp__wal_opts_t;

typedef struct evp__wal evp__wal_t;

/* Open (creating, mode 0700 dir / 0600 files) the log in @p dir and recover:
 * a torn tail of the last segment (bad checksum, nothing valid after it) is
 * truncated, never replayed; damage with valid records after it is skipped,
 * copied to DIR/quarantine/ and reported through on_damage. The
 * directory is locked (flock) against a second opener: EVP_ERR_STATE.
 * Errors: EVP_ERR_IO (with the errno text; also a corrupt checkpoint file),
 * EVP_ERR_INVALID_ARG, EVP_ERR_NOMEM. */
evp_err_t evp__wal_open(const char *dir, const evp__wal_opts_t *opts, evp__wal_t **out,
                        char *errstr, size_t errstr_size);

/* Append one record: the @p n accepted events of one request (each a JSON
 * object text, already validated), with the client id from the token and the
 * receive time in microseconds since the epoch. Returns once the record is
 * durable per the fsync policy. Thread-safe.
 * Errors: EVP_ERR_TOO_LARGE (record over max_record_bytes, client_id over
 * 1024 bytes), EVP_ERR_INVALID_ARG (also a time outside the years
 * 0000-9999), EVP_ERR_NOMEM, EVP_ERR_IO (write or fsync
 * failed: the record is not acknowledged; after a failed fsync the log
 * refuses further appends, since the kernel may have dropped dirty pages). */
evp_err_t evp__wal_append(evp__wal_t *w, const char *client_id, int64_t received_at_us,
                          const char *const *events, const size_t *lens, size_t n, char *errstr,
                          size_t errstr_size);
/* evp__wal_append with the request's sent_at: microseconds since the epoch
 * on the sender's clock, stored as given (the row builder decides whether
 * it is usable, lake/lake_row.h), or INT64_MIN (EVP__WAL_NO_SENT_AT,
 * wal/wal_format.h) for none: then the record is the one evp__wal_append
 * writes. Same contract otherwise. */
evp_err_t evp__wal_append_sent(evp__wal_t *w, const char *client_id, int64_t received_at_us,
                               int64_t sent_at_us, const char *const *events, const size_t *lens,
                               size_t n, char *errstr, size_t errstr_size);

/* Append a record the caller encoded (evp__wal_record_encode, wal_format.h)
 * before taking a lock of its own, so that under it only a copy happens.
 * The record's header and structure are checked (not its CRC). Returns the
 * record's log offset and end in @p off / @p end (either may be NULL), and
 * never waits for the disk, whatever the policy: under EVP__FSYNC_ALWAYS
 * the caller runs evp__wal_sync(w, *end) (wal_read.h) before it
 * acknowledges the record. */
evp_err_t evp__wal_append_encoded(evp__wal_t *w, const unsigned char *rec, size_t size,
                                  uint64_t *off, uint64_t *end, char *errstr, size_t errstr_size);

/* Events appended but not yet in a committed Parquet file (a gauge). */
uint64_t evp__wal_pending_events(const evp__wal_t *w);

/* Counters for tests, the bench and /metrics. */
typedef struct {
  uint64_t records;           /* appended since open */
  uint64_t fsyncs;            /* data syncs of segments (group commits) */
  uint64_t segments;          /* segment files now */
  uint64_t recovered_records; /* valid records found on open */
  uint64_t truncated_bytes;   /* bytes of torn tails cut on open */
  uint64_t unused_bytes;      /* zero bytes cut from segment ends on open (the preallocated,
                                 unused tail of a mapped segment) */
  uint64_t corrupt_records;   /* damaged regions skipped on open (each one damaged record or
                                several adjacent ones) */
  uint64_t corrupt_bytes;     /* their bytes */
  uint64_t quarantined_bytes; /* of those, bytes that have a copy in the quarantine directory */
} evp__wal_stats_t;
void evp__wal_get_stats(const evp__wal_t *w, evp__wal_stats_t *out);

/* Close the log (after the batcher has stopped). NULL is a no-op. */
void evp__wal_close(evp__wal_t *w);

#endif /* EVP_WAL_WAL_H */
