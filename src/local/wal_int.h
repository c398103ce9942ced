/* Internals of the local durable log shared by wal*.c, batcher*.c and their
 * tests: the on-disk record format, the reader the batcher drains the log
 * with, and the checkpoint. Not used by the HTTP front. See
 * docs/local-durability.md. */
#ifndef EVP_LOCAL_WAL_INT_H
#define EVP_LOCAL_WAL_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "local/wal.h"

/* ---- record format (all integers little endian) ----
 * header, 16 bytes:
 *   [0,4)   magic "EVWR"
 *   [4]     version (2; 1 is still read)
 *   [5]     flags (0)
 *   [6,8)   reserved (0)
 *   [8,12)  payload length
 *   [12,16) CRC-32C of header bytes [4,12) followed by the payload
 *           (version 1: zlib's CRC-32)
 * payload:
 *   [0,8)   received_at, microseconds since the epoch (signed)
 *   [8,12)  number of events n
 *   [12,14) client_id length c, then c bytes of client_id
 *   n times: u32 length, then the event's JSON bytes */
#define EVP__WAL_HDR 16u
#define EVP__WAL_VERSION 2u
#define EVP__WAL_VERSION_ZLIB_CRC 1u /* logs written by earlier releases: zlib CRC-32 */
#define EVP__WAL_PAYLOAD_FIXED 14u
#define EVP__WAL_MAX_CLIENT_ID 1024u
/* Largest payload a reader accepts, whatever the writer's configured limit:
 * a longer length field is corruption, not a record. */
#define EVP__WAL_HARD_MAX_RECORD (256u * 1024u * 1024u)
#define EVP__WAL_DEFAULT_MAX_RECORD (16u * 1024u * 1024u)
#define EVP__WAL_DEFAULT_SEGMENT (64u * 1024u * 1024u)
#define EVP__WAL_DEFAULT_INTERVAL_MS 200
#define EVP__WAL_DEFAULT_RETAIN (64u * 1024u * 1024u)

/* Size of the record (header + payload) for these events, or 0 when a field
 * does not fit the format (client_id too long, too many events). */
size_t evp__wal_record_size(size_t client_id_len, const size_t *lens, size_t n);

/* Encode into @p out (evp__wal_record_size bytes). */
void evp__wal_record_encode(unsigned char *out, const char *client_id, size_t client_id_len,
                            int64_t received_at_us, const char *const *events, const size_t *lens,
                            size_t n);

/* Check a header: 0 and *payload_len when the magic/version/flags are right
 * and the length is at most EVP__WAL_HARD_MAX_RECORD, else -1. */
int evp__wal_header_check(const unsigned char hdr[EVP__WAL_HDR], uint32_t *payload_len);

/* CRC-32C (wal_crc.c); _sw is the portable path, exposed for tests. */
uint32_t evp__crc32c(uint32_t crc, const unsigned char *p, size_t n);
uint32_t evp__crc32c_sw(uint32_t crc, const unsigned char *p, size_t n);
int evp__crc32c_hw_available(void);
/* CRC of a record: header bytes [4,12) then the payload. */
uint32_t evp__wal_record_crc(const unsigned char hdr[EVP__WAL_HDR], const unsigned char *payload,
                             size_t len);
uint32_t evp__wal_get32(const unsigned char *p);

/* A decoded payload; the pointers point into the payload bytes. */
typedef struct {
  uint64_t offset;        /* log offset of the record's header */
  uint64_t end;           /* offset just past the record */
  int64_t received_at_us;
  const char *client_id;
  size_t client_id_len;
  uint32_t nevents;
  const unsigned char *events; /* n x (u32 length, bytes) */
  size_t events_len;
  const unsigned char *payload; /* the whole payload */
  size_t payload_len;
} evp__wal_record_t;

/* Decode and check the structure of a payload (the event lengths must add
 * up exactly). 0 on success, -1 when malformed. offset/end are left alone. */
int evp__wal_payload_decode(const unsigned char *payload, size_t len, evp__wal_record_t *rec);

/* Iterate over a decoded record's events: start with *cursor = 0; returns 1
 * and the next event, or 0 at the end. */
int evp__wal_record_next_event(const evp__wal_record_t *rec, size_t *cursor, const char **ev,
                               size_t *len);

/* ---- reader: sequential access to records at or after an offset ---- */
typedef struct evp__wal_reader evp__wal_reader_t;

/* A reader starting at @p from (a record boundary, normally the checkpoint). */
evp_err_t evp__wal_reader_open(evp__wal_t *w, uint64_t from, evp__wal_reader_t **out,
                               char *errstr, size_t errstr_size);

/* The next record written so far: EVP_OK with *got = 1 and @p rec filled
 * (its pointers valid until the next call), or *got = 0 when the reader is at
 * the end. EVP_ERR_IO for a read error or a record that fails its checksum
 * (the log was damaged after it was opened). */
evp_err_t evp__wal_reader_next(evp__wal_reader_t *r, evp__wal_record_t *rec, int *got,
                               char *errstr, size_t errstr_size);
/* The same, with the payload appended to the caller's growing buffer
 * (*buf, *len bytes used of *cap; realloc'd as needed, so rec->payload is
 * valid until the buffer next grows). */
evp_err_t evp__wal_reader_next_append(evp__wal_reader_t *r, evp__wal_record_t *rec, int *got,
                                      unsigned char **buf, size_t *len, size_t *cap,
                                      char *errstr, size_t errstr_size);

/* Offset of the next record the reader will return. */
uint64_t evp__wal_reader_pos(const evp__wal_reader_t *r);

void evp__wal_reader_close(evp__wal_reader_t *r);

/* ---- log state for the batcher ---- */

/* The committed offset (the checkpoint) and the end of what was written. */
uint64_t evp__wal_checkpoint(const evp__wal_t *w);
/* The oldest offset still on disk (committed records are retained up to
 * retain_bytes). */
uint64_t evp__wal_first_offset(const evp__wal_t *w);
uint64_t evp__wal_end(const evp__wal_t *w);

/* Block until something is written past @p pos, evp__wal_wake() has been
 * called since evp__wal_wake_gen() returned @p gen (so a wake between the
 * caller's last look and the wait is not missed), the log is closing, or
 * @p timeout_ms passes. */
uint64_t evp__wal_wake_gen(const evp__wal_t *w);
void evp__wal_wait(evp__wal_t *w, uint64_t pos, uint64_t gen, int timeout_ms);
void evp__wal_wake(evp__wal_t *w);

/* Record that everything before @p offset (a record end) is in committed lake
 * files and @p nevents events left the pending gauge: the log before @p
 * offset is made durable, the checkpoint file is replaced atomically (temp,
 * fsync, rename, directory fsync), and segments entirely before it are
 * deleted (unlinked by a background thread). Called by the batcher only. */
evp_err_t evp__wal_commit(evp__wal_t *w, uint64_t offset, uint64_t nevents, char *errstr,
                          size_t errstr_size);
/* Make the log durable up to @p offset (no-op under EVP__FSYNC_NEVER). */
evp_err_t evp__wal_sync(evp__wal_t *w, uint64_t offset, char *errstr, size_t errstr_size);
/* Wait until the segments deleted by past commits are unlinked (tests). */
void evp__wal_reap_wait(evp__wal_t *w);
#define EVP__WAL_REAP_MAX 64


/* Helpers shared by wal*.c (wal_fs.c). */
evp_err_t evp__wal_fsync_dir(int dirfd, const char *dir, char *errstr, size_t errstr_size);
int evp__wal_pwrite_full(int fd, const void *buf, size_t n, uint64_t off);
int evp__wal_pread_full(int fd, void *buf, size_t n, uint64_t off, size_t *got);

/* Checkpoint file (wal_ckpt.c): "checkpoint" in the log directory. */
evp_err_t evp__wal_ckpt_read(int dirfd, const char *dir, uint64_t *offset, char *errstr,
                             size_t errstr_size);
evp_err_t evp__wal_ckpt_write(int dirfd, const char *dir, uint64_t offset, char *errstr,
                              size_t errstr_size);

/* ---- the log object (shared by wal.c, wal_recover.c, wal_reader.c) ---- */

/* A segment file "wal-<base, 20 digits>.seg" holds the records of log
 * offsets [base, base + size). Segments are ordered by base; a gap between
 * two is possible where a damaged segment was cut short on open. */
typedef struct {
  uint64_t base, size;
} evp__wal_seg_t;

/* A damaged region [start, end) of the log that recovery found between
 * valid records; readers jump over it (wal_reader.c). */
typedef struct {
  uint64_t start, end;
} evp__wal_skip_t;
/* More damaged regions than this on open: the log is refused (a disk that
 * damaged so much needs a person, and the skip map must stay small). */
#define EVP__WAL_MAX_SKIPS 65536u
#define EVP__WAL_DEFAULT_QUARANTINE (64u * 1024u * 1024u)

struct evp__wal {
  char *dir;
  int dirfd, lockfd, fd;        /* fd: the active (last) segment, written with pwrite */
  evp__fsync_policy_t policy;
  int interval_ms;
  size_t segment_bytes, max_record, retain;
  size_t quarantine_max;        /* bound on DIR/quarantine/ (wal_quarantine.c) */
  uint64_t quarantine_used;     /* bytes of the files in it, once counted */
  int quarantine_counted;
  void (*on_damage)(void *arg, const evp__wal_damage_t *d);
  void *damage_arg;

  pthread_mutex_t mu;           /* everything below */
  pthread_cond_t sync_cv;       /* a group-commit fsync finished */
  pthread_cond_t data_cv;       /* a record was written, or evp__wal_wake */
  pthread_cond_t tick_cv;       /* wakes the interval syncer on close */
  evp__wal_seg_t *segs;
  size_t nsegs, segcap;
  evp__wal_skip_t *skips;       /* in log order; written by recovery only, so read unlocked */
  size_t nskips, skipcap;
  uint64_t end;                 /* offset past the last written record */
  uint64_t durable;             /* everything before it has been fsynced */
  uint64_t checkpoint;
  uint64_t pending;             /* events after the checkpoint */
  uint64_t wake_gen;
  int syncing;                  /* a group-commit leader is in fdatasync */
  int closing;
  evp_err_t failed;             /* sticky: a failed fsync poisons the log */
  char failmsg[200];
  evp__wal_stats_t st;

  pthread_t ticker;             /* EVP__FSYNC_INTERVAL syncer */
  int has_ticker;
  pthread_t reaper;             /* unlinks the segments commits delete */
  int has_reaper, reaping;
  pthread_cond_t reap_cv;
  uint64_t reap[EVP__WAL_REAP_MAX]; /* bases of segments to unlink */
  size_t nreap;
  pthread_mutex_t ckpt_mu;      /* serializes evp__wal_commit */
};

#define EVP__WAL_SEG_FMT "wal-%020llu.seg"
#define EVP__WAL_SEG_NAME_LEN 28

/* Scan the directory, truncate damaged tails, read the checkpoint, delete
 * segments below it and open (or create) the active segment (wal_recover.c). */
evp_err_t evp__wal_recover(evp__wal_t *w, char *errstr, size_t errstr_size);

/* Copy bytes [off, off + len) of segment @p base (open as @p fd) to
 * DIR/quarantine/wal-<log offset>-<len>.bad (0600 in a 0700 directory,
 * written to a temporary, fsynced, renamed, directory fsynced), unless a
 * copy is there already or the directory's total would pass quarantine_max.
 * Never fails the open: the bytes stay in the segment either way. @p path
 * gets the file's path ("" when not copied), @p note what happened;
 * returns 1 when a copy exists afterwards (wal_quarantine.c). */
int evp__wal_quarantine(evp__wal_t *w, int fd, uint64_t base, uint64_t off, uint64_t len,
                        char *path, size_t path_size, char *note, size_t note_size);

/* Write @p data to DIR/quarantine/@p name the same way (replacing a file of
 * that name, within the same bound). Returns 1 when written, 0 when it
 * failed and -1 when it does not fit; @p note says why. */
int evp__wal_quarantine_put(evp__wal_t *w, const char *name, const void *data, size_t len,
                            char *path, size_t path_size, char *note, size_t note_size);

/* Create the segment starting at w->end and append it to w->segs; the
 * caller holds w->mu (or is still opening) and closes the previous fd. */
evp_err_t evp__wal_new_segment(evp__wal_t *w, int *fd_out, char *errstr, size_t errstr_size);
/* Unlink segment file @p base (a failure only costs disk space). */
void evp__wal_unlink_seg(evp__wal_t *w, uint64_t base);

/* ---- batcher internals (batcher_*.c) ---- */

/* The set of event ids written within the dedup window: 128-bit keyed
 * hashes of the ids in a hash table plus a FIFO ring in insertion order, so
 * expiry and the size bound both drop the oldest ids first. Times are the
 * events' received_at. Not thread-safe (the batcher thread owns it). */
typedef struct evp__dedup evp__dedup_t;

evp__dedup_t *evp__dedup_new(int64_t window_us, size_t max_ids);
void evp__dedup_free(evp__dedup_t *d);
/* Ids are per client: the scope of a record's ids is a keyed hash of its
 * client_id, computed once per record and passed with each of its ids. */
uint64_t evp__dedup_scope(const evp__dedup_t *d, const char *client_id, size_t len);
/* 1 when @p id was seen in @p scope within the window before @p ts_us;
 * otherwise the id is remembered at @p ts_us and 0 is returned; -1 when out
 * of memory. A UUID (36 characters, 8-4-4-4-12 hex digits) matches in any
 * case; other ids byte for byte. */
int evp__dedup_check(evp__dedup_t *d, uint64_t scope, const char *id, size_t len, int64_t ts_us);
/* The same in two steps, so that the table slot of an id checked soon can
 * be loaded ahead (a cache miss on a table of millions otherwise stalls the
 * check): the id's keyed hash, a prefetch hint, and the check itself. */
typedef struct {
  uint64_t h1, h2;
} evp__dedup_key_t;
void evp__dedup_key(const evp__dedup_t *d, uint64_t scope, const char *id, size_t len,
                    evp__dedup_key_t *k);
void evp__dedup_prefetch(const evp__dedup_t *d, const evp__dedup_key_t *k);
int evp__dedup_check_key(evp__dedup_t *d, const evp__dedup_key_t *k, int64_t ts_us);
/* A mark of the insertions so far; rollback forgets every id remembered
 * after it (the undo of a file that could not be written). */
uint64_t evp__dedup_mark(const evp__dedup_t *d);
void evp__dedup_rollback(evp__dedup_t *d, uint64_t mark);
size_t evp__dedup_size(const evp__dedup_t *d);

/* Event JSON -> one Parquet row of the table's data columns (batcher_row.c).
 * The event is scanned once (top-level members as spans, no tree); strings
 * are unescaped, numbers parsed exactly from their text (integers never pass
 * through a double), date-times converted to UTC microseconds, and objects
 * or arrays stored as their JSON text with insignificant whitespace removed
 * (numbers keep their digits). */
typedef struct evp__rowb evp__rowb_t;
struct evp__table;
struct evp__pq_value;
struct evp__pq_column;

evp_err_t evp__rowb_new(const struct evp__table *t, evp__rowb_t **out, char *errstr,
                        size_t errstr_size);
void evp__rowb_free(evp__rowb_t *rb);
/* The Parquet columns (cols[0..ndata) of the table) and their count. */
const struct evp__pq_column *evp__rowb_columns(const evp__rowb_t *rb, size_t *n);
/* Build the row for one event; the values point into @p rb (and @p ev,
 * @p client_id) and stay valid until the next call. @p id / @p idlen get the
 * event_id string (NULL when the event has none). EVP_ERR_JSON or
 * EVP_ERR_INVALID_EVENT (a value that fits no column) with the reason. */
evp_err_t evp__rowb_build(evp__rowb_t *rb, const char *ev, size_t len, int64_t received_at_us,
                          const char *client_id, size_t client_id_len,
                          const struct evp__pq_value **row, const char **id, size_t *idlen,
                          char *errstr, size_t errstr_size);

/* ---- the batcher object (batcher.c: thread; batcher_flush.c: files) ---- */

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
} evp__brec_t;

/* Records of hour @p hour in [first, last] are in an existing lake file
 * (written before a crash, after the checkpoint). */
typedef struct {
  int64_t hour;
  uint64_t first, last;
} evp__bcover_t;

struct evp__batcher {
  evp__wal_t *w;
  char *lake_dir;
  size_t buffer_bytes;
  int buffer_seconds;
  int64_t dedup_window_us;
  struct evp__table *table;
  evp__rowb_t *rb;
  evp__dedup_t *dd;             /* NULL: dedup off */

  pthread_t thread;
  pthread_mutex_t mu;           /* the fields up to last_err */
  pthread_cond_t cv;            /* a flush finished or failed; stop */
  int stop;
  uint64_t flush_target;        /* evp__batcher_flush wants the log committed to here */
  uint64_t committed;           /* the checkpoint as last written */
  uint64_t fail_gen;            /* failed flush attempts */
  evp__batcher_stats_t st;
  char last_err[512];
  /* the outage in progress, if any (evp__batcher_failing) */
  int failing;                  /* the last attempt failed */
  int64_t fail_since_us;        /* wall clock of its first failure */
  uint64_t fail_count;          /* failed attempts in it */
  char fail_err[512];

  /* set at start */
  void (*notice)(void *arg, const struct evp__batcher_notice *n);
  void *notice_arg;
  int notice_interval_ms;

  /* owned by the batcher thread */
  int noticed;                  /* something was told ... */
  int64_t noticed_at_ms;        /* ... at this monotonic time (the last time) */
  uint64_t untold;              /* failures not in any notice yet */
  int outage_told;              /* the outage in progress was told */
  evp_err_t final_err;          /* the flush at stop failed: its error ... */
  char final_msg[512];          /* ... and reason */
  evp__wal_reader_t *r;
  evp__brec_t *buf;
  size_t nbuf, capbuf, buf_bytes;
  unsigned char *arena;         /* the buffered payloads, back to back */
  size_t arena_len, arena_cap;
  uint64_t buf_events;
  int64_t first_at_ms;          /* monotonic time the oldest buffered record was read */
  uint64_t replay_end;          /* log end at start: lake files may already hold records below it */
  uint64_t start_ckpt;
  evp__bcover_t *cov;
  size_t ncov, capcov;
  int64_t *scanned;             /* hours whose directory was scanned for such files */
  size_t nscanned, capscanned;
  struct evp__pq_writer *pw;    /* reused file after file (its buffers keep their size) */
  /* Parallel parts (batcher_parts.c): nparts files per large group, the
   * last built on this thread, the others on the pool's helpers. */
  size_t nparts, part_min_events;
  struct evp__bpool *pool;
  struct evp__bpart *parts;     /* nparts, each with its own row builder and writer */
  struct evp__bev *pev;         /* per event of the group: its id and dedup verdict */
  size_t cappev;
  /* Events of the group being written that the row builder refused, as
   * NDJSON lines for the quarantine (batcher_refused.c), and what is still
   * to be told about the ones already copied. */
  char *rq;
  size_t rqlen, rqcap;
  uint64_t rqevents;
  uint64_t refused_untold, refused_total;
  int64_t refused_told_at_ms;
  int refused_told;
  char refused_why[256];
  char refused_file[4400];
};

/* Write the buffer to lake files (one per hour of received_at), advance
 * the checkpoint and empty the buffer; on error the buffer is kept and the
 * same files are retried later (batcher_flush.c). */
evp_err_t evp__batcher_flush_buffer(evp__batcher_t *b, char *errstr, size_t errstr_size);

/* The buffered record @p br decoded (EVP_ERR_INTERNAL when it does not
 * decode: it passed its checksum when read, so that is a bug). */
evp_err_t evp__batcher_record(const evp__batcher_t *b, const evp__brec_t *br,
                              evp__wal_record_t *rec, char *errstr, size_t errstr_size);

/* Open (or reopen, keeping its buffers) *pw on dir/name with the columns of rb. */
struct evp__pq_writer;
evp_err_t evp__batcher_open_file(const evp__rowb_t *rb, struct evp__pq_writer **pw,
                                 const char *dir, const char *name, char *errstr,
                                 size_t errstr_size);

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
evp_err_t evp__batcher_refused_write(evp__batcher_t *b, uint64_t first, uint64_t last,
                                     char *errstr, size_t errstr_size);
/* Tell the refused events copied since the last notice: at once the first
 * time, then at most once per notice interval, and always with @p force
 * (the batcher stopping). Batcher thread. */
void evp__batcher_refused_tell(evp__batcher_t *b, int force);

/* What a flush wrote and dropped. */
typedef struct {
  uint64_t files, bytes, rows, dups, bad;
} evp__btally_t;

/* The id an SDK puts first ({"event_id":"...") and its dedup key, computed
 * a few events ahead of the check so the table slot can be loaded. */
#define EVP__BPREFETCH_AHEAD 6
typedef struct {
  const char *id; /* NULL: the event has another shape (checked as usual) */
  size_t len;
  evp__dedup_key_t key;
} evp__bahead_t;
void evp__batcher_look_ahead(const evp__dedup_t *d, uint64_t scope, const char *ev, size_t len,
                             evp__bahead_t *a);

/* Helper threads (batcher_pool.c): run n jobs at once, n - 1 of them on the
 * helpers and the last on the caller; returns when all are done (with fewer
 * helpers than n - 1, all run on the caller). One caller at a time. */
typedef struct evp__bpool evp__bpool_t;
typedef void (*evp__bjob_fn)(void *arg);
evp__bpool_t *evp__bpool_new(size_t nthreads); /* NULL: out of memory or threads */
size_t evp__bpool_threads(const evp__bpool_t *p);
void evp__bpool_run(evp__bpool_t *p, evp__bjob_fn fn, void *const *args, size_t n);
void evp__bpool_free(evp__bpool_t *p);

/* A group of records (one hour, sorted by offset, none already in a file)
 * written as up to b->nparts files at once, one per contiguous run of
 * records, each named by its own first and last offsets (batcher_parts.c).
 * The dedup set is consulted first, in order, on this thread; the rows are
 * then built and encoded in parallel. *fallback is set, with the dedup set
 * and nothing written changed, when the group holds an event the parallel
 * path does not decide exactly as the one-file path would (a bad event, an
 * id found differently): the caller then writes it as one file. */
evp_err_t evp__batcher_write_parts(evp__batcher_t *b, const size_t *idx, size_t n,
                                   const char *dir, evp__btally_t *t, int *fallback,
                                   char *errstr, size_t errstr_size);
void evp__batcher_parts_free(evp__batcher_t *b);

#define EVP__LAKE_TABLE "events"
#define EVP__PART_FMT "part-%020llu-%020llu.parquet"

/* Only the event_id of an event (for re-learning dedup state): 0 and the id
 * (valid until the next call), or -1 when the event has none. */
int evp__rowb_event_id(evp__rowb_t *rb, const char *ev, size_t len, const char **id,
                       size_t *idlen);

/* Feed the event ids of retained, already-committed log records (below the
 * checkpoint) to the dedup set, so a restart does not forget which ids were
 * written within the window (batcher.c). */
evp_err_t evp__batcher_relearn(evp__batcher_t *b, char *errstr, size_t errstr_size);

#endif /* EVP_LOCAL_WAL_INT_H */
