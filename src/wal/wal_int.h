/* Internals of the durable log shared by wal*.c and their tests: the log
 * object and its defaults, file helpers, the checkpoint file, segments,
 * recovery and the quarantine copies of damaged regions. Producers use
 * wal/wal.h, the consumer wal/wal_read.h, and both the record format in
 * wal/wal_format.h. See docs/local-durability.md. */
#ifndef EVP_WAL_WAL_INT_H
#define EVP_WAL_WAL_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "wal/wal.h"
#include "wal/wal_read.h"

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

/* Defaults of evp__wal_opts_t (wal.h documents them). */
#define EVP__WAL_DEFAULT_MAX_RECORD (16u * 1024u * 1024u)
#define EVP__WAL_DEFAULT_SEGMENT (64u * 1024u * 1024u)
#define EVP__WAL_DEFAULT_INTERVAL_MS 200
#define EVP__WAL_DEFAULT_RETAIN (64u * 1024u * 1024u)
#define EVP__WAL_DEFAULT_QUARANTINE (64u * 1024u * 1024u)
/* Segments deleted by commits and not yet unlinked by the reaper thread. */
#define EVP__WAL_REAP_MAX 64

struct evp__wal {
  char *dir;
  int dirfd, lockfd, fd; /* fd: the active (last) segment, written with pwrite or through map */
  int mapped;            /* evp__wal_opts_t.mapped */
  int lock_registered;   /* lockfd is in wal.c's list (closed in forked children) */
  unsigned char *map;    /* mapped mode: the active segment, map_len bytes */
  size_t map_len;
  /* Mapped mode: the reaper thread populates the pages of the active
   * segment ahead of the appends (wal_map.c), so an append rarely takes a
   * page fault. Guarded by mu. */
  size_t prefault_to;  /* pages before it are populated */
  uint64_t map_gen;    /* mappings made so far */
  int prefault_want;   /* the appends came within reach of prefault_to */
  int prefaulting;     /* the reaper is populating (a roll waits) */
  int prefault_broken; /* the kernel cannot (no MADV_POPULATE_WRITE): stop asking */
  evp__fsync_policy_t policy;
  int interval_ms;
  size_t segment_bytes, max_record, retain;
  size_t quarantine_max;    /* bound on DIR/quarantine/ (wal_quarantine.c) */
  uint64_t quarantine_used; /* bytes of the files in it, once counted */
  int quarantine_counted;
  void (*on_damage)(void *arg, const evp__wal_damage_t *d);
  void *damage_arg;

  pthread_mutex_t mu;     /* everything below */
  pthread_cond_t sync_cv; /* a group-commit fsync finished */
  pthread_cond_t data_cv; /* a record was written, or evp__wal_wake */
  pthread_cond_t tick_cv; /* wakes the interval syncer on close */
  evp__wal_seg_t *segs;
  size_t nsegs, segcap;
  evp__wal_skip_t *skips; /* in log order; written by recovery only, so read unlocked */
  size_t nskips, skipcap;
  uint64_t end;     /* offset past the last written record */
  uint64_t durable; /* everything before it has been fsynced */
  uint64_t checkpoint;
  uint64_t pending; /* events after the checkpoint */
  uint64_t wake_gen;
  int syncing;     /* a group-commit leader is in fdatasync */
  int ticker_idle; /* the interval syncer sleeps until the next append */
  int closing;
  evp_err_t failed; /* sticky: a failed fsync poisons the log */
  char failmsg[200];
  evp__wal_stats_t st;

  pthread_t ticker; /* EVP__FSYNC_INTERVAL syncer */
  int has_ticker;
  pthread_t reaper; /* unlinks the segments commits delete */
  int has_reaper, reaping;
  pthread_cond_t reap_cv;
  uint64_t reap[EVP__WAL_REAP_MAX]; /* bases of segments to unlink */
  size_t nreap;
  pthread_mutex_t ckpt_mu; /* serializes evp__wal_commit */
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

/* Create the segment starting at w->end and append it to w->segs; the
 * caller holds w->mu (or is still opening) and closes the previous fd. */
evp_err_t evp__wal_new_segment(evp__wal_t *w, int *fd_out, char *errstr, size_t errstr_size);
/* Mapped mode (wal_map.c): preallocate the active segment @p fd (of which
 * @p used bytes hold records) to segment_bytes and map it (on a nearly full
 * disk, to just enough for @p need more bytes); undo that when it stops
 * being active, cutting the unused tail. */
evp_err_t evp__wal_map_active(evp__wal_t *w, int fd, uint64_t used, size_t need, char *errstr,
                              size_t errstr_size);
void evp__wal_unmap_active(evp__wal_t *w, int fd, uint64_t used);
/* Populate ahead (caller holds mu; called by the reaper thread when
 * prefault_want is set: unlocks around the system call). Appends call
 * evp__wal_prefault_check after each record. */
void evp__wal_prefault_run(evp__wal_t *w);
void evp__wal_prefault_check(evp__wal_t *w, uint64_t used);
/* Unlink segment file @p base (a failure only costs disk space). */
void evp__wal_unlink_seg(evp__wal_t *w, uint64_t base);

#endif /* EVP_WAL_WAL_INT_H */
