/* Reading the durable log, for its consumer (the batcher) and the tools
 * that inspect it: the record format, a sequential reader, the log's
 * offsets and wake-ups, and committing what the consumer has stored. */
#ifndef EVP_WAL_WAL_READ_H
#define EVP_WAL_WAL_READ_H

#include <stddef.h>
#include <stdint.h>
#include "wal/wal.h"

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
