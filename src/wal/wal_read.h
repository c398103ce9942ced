/* The durable log as its consumer (the batcher) sees it: a sequential
 * reader, the log's offsets and wake-ups, committing what the consumer has
 * stored, and the quarantine directory for what it cannot store. The
 * records it reads are described in wal/wal_format.h. */
#ifndef EVP_WAL_WAL_READ_H
#define EVP_WAL_WAL_READ_H

#include <stddef.h>
#include <stdint.h>
#include "wal/wal.h"
#include "wal/wal_format.h"

/* ---- reader: sequential access to records at or after an offset ---- */
typedef struct evp__wal_reader evp__wal_reader_t;

/* A reader starting at @p from (a record boundary, normally the checkpoint). */
evp_err_t evp__wal_reader_open(evp__wal_t *w, uint64_t from, evp__wal_reader_t **out, char *errstr,
                               size_t errstr_size);

/* The next record written so far: EVP_OK with *got = 1 and @p rec filled
 * (its pointers valid until the next call), or *got = 0 when the reader is at
 * the end. EVP_ERR_IO for a read error or a record that fails its checksum
 * (the log was damaged after it was opened). */
evp_err_t evp__wal_reader_next(evp__wal_reader_t *r, evp__wal_record_t *rec, int *got, char *errstr,
                               size_t errstr_size);
/* The same, with the payload appended to the caller's growing buffer
 * (*buf, *len bytes used of *cap; realloc'd as needed, so rec->payload is
 * valid until the buffer next grows). */
evp_err_t evp__wal_reader_next_append(evp__wal_reader_t *r, evp__wal_record_t *rec, int *got,
                                      unsigned char **buf, size_t *len, size_t *cap, char *errstr,
                                      size_t errstr_size);

/* After evp__wal_reader_next failed: 1 when a record failed its checks
 * (damaged after the log was opened), 0 for a read error. */
int evp__wal_reader_damaged(const evp__wal_reader_t *r);
/* Step over the damaged record evp__wal_reader_next just reported: to the
 * next offset of its segment where a whole valid record starts, or to the
 * segment's end; *skipped gets the bytes stepped over. EVP_ERR_IO on a read
 * error. */
evp_err_t evp__wal_reader_skip(evp__wal_reader_t *r, uint64_t *skipped, char *errstr,
                               size_t errstr_size);

/* Offset of the next record the reader will return. */
uint64_t evp__wal_reader_pos(const evp__wal_reader_t *r);

void evp__wal_reader_close(evp__wal_reader_t *r);

/* ---- the log's offsets, wake-ups and commits, for its consumer ---- */

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

/* ---- the quarantine directory ---- */

/* The log's directory and the bound on its quarantine directory's size, for
 * consumers that put files there (wal_quarantine.c). */
const char *evp__wal_dir(const evp__wal_t *w);
size_t evp__wal_quarantine_max(const evp__wal_t *w);

/* Write @p data to DIR/quarantine/@p name the same way (replacing a file of
 * that name, within the same bound). Returns 1 when written, 0 when it
 * failed and -1 when it does not fit; @p note says why. */
int evp__wal_quarantine_put(evp__wal_t *w, const char *name, const void *data, size_t len,
                            char *path, size_t path_size, char *note, size_t note_size);

#endif /* EVP_WAL_WAL_READ_H */
