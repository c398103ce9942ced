/* The log's record format (wal_format.c) and its checksum (wal_crc.c):
 * encoding a record, checking a header, decoding a payload and walking its
 * events. Pure functions on bytes: no file, no log object. */
#ifndef EVP_WAL_WAL_FORMAT_H
#define EVP_WAL_WAL_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* ---- record format (all integers little endian) ----
 * header, 16 bytes:
 *   [0,4)   magic "EVWR"
 *   [4]     version (2; 1 is still read)
 *   [5]     flags: 0, or EVP__WAL_FLAG_SENT_AT
 *   [6,8)   reserved (0)
 *   [8,12)  payload length
 *   [12,16) CRC-32C of header bytes [4,12) followed by the payload
 *           (version 1: zlib's CRC-32)
 * payload:
 *   [0,8)   received_at, microseconds since the epoch (signed)
 *   [8,12)  number of events n
 *   [12,14) client_id length c, then c bytes of client_id
 *   n times: u32 length, then the event's JSON bytes
 *   with EVP__WAL_FLAG_SENT_AT: [8 bytes] sent_at, microseconds since the
 *           epoch on the sender's clock (signed), after the last event
 * The payload describes itself (after the n events either nothing or exactly
 * the 8 sent_at bytes are left), so readers that hold only payloads (the
 * batcher's buffer, recovery) decode it without the header; the writer sets
 * the flag with it, so a reader from before sent_at refuses such a record at
 * its header instead of misreading it. */
#define EVP__WAL_HDR 16u
#define EVP__WAL_VERSION 2u
#define EVP__WAL_VERSION_ZLIB_CRC 1u /* logs written by earlier releases: zlib CRC-32 */
#define EVP__WAL_PAYLOAD_FIXED 14u
#define EVP__WAL_FLAG_SENT_AT 0x01u /* the payload ends with the batch's sent_at */
#define EVP__WAL_SENT_AT_BYTES 8u
#define EVP__WAL_NO_SENT_AT INT64_MIN /* a record without sent_at */
#define EVP__WAL_MAX_CLIENT_ID 1024u
/* Largest payload a reader accepts, whatever the writer's configured limit:
 * a longer length field is corruption, not a record. */
#define EVP__WAL_HARD_MAX_RECORD (256u * 1024u * 1024u)

/* Size of the record (header + payload) for these events, or 0 when a field
 * does not fit the format (client_id too long, too many events). */
size_t evp__wal_record_size(size_t client_id_len, const size_t *lens, size_t n);
/* The same for a record that carries @p sent_at_us (8 bytes more unless it
 * is EVP__WAL_NO_SENT_AT). */
size_t evp__wal_record_size_sent(size_t client_id_len, int64_t sent_at_us, const size_t *lens,
                                 size_t n);

/* Encode into @p out (evp__wal_record_size bytes). */
void evp__wal_record_encode(unsigned char *out, const char *client_id, size_t client_id_len,
                            int64_t received_at_us, const char *const *events, const size_t *lens,
                            size_t n);
/* Encode a record with the batch's @p sent_at_us (the sender's clock when it
 * sent the request; EVP__WAL_NO_SENT_AT: none, the record is what
 * evp__wal_record_encode writes) into @p out (evp__wal_record_size_sent
 * bytes). */
void evp__wal_record_encode_sent(unsigned char *out, const char *client_id, size_t client_id_len,
                                 int64_t received_at_us, int64_t sent_at_us,
                                 const char *const *events, const size_t *lens, size_t n);

/* Check a header: 0 and *payload_len when the magic/version/flags (no bit
 * but EVP__WAL_FLAG_SENT_AT) are right
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
  uint64_t offset; /* log offset of the record's header */
  uint64_t end;    /* offset just past the record */
  int64_t received_at_us;
  int64_t sent_at_us; /* EVP__WAL_NO_SENT_AT when the record has none */
  const char *client_id;
  size_t client_id_len;
  uint32_t nevents;
  const unsigned char *events; /* n x (u32 length, bytes) */
  size_t events_len;
  const unsigned char *payload; /* the whole payload */
  size_t payload_len;
} evp__wal_record_t;

/* Decode and check the structure of a payload (the event lengths must add
 * up exactly, then nothing or the 8 bytes of sent_at may follow). 0 on
 * success, -1 when malformed. offset/end are left alone. */
int evp__wal_payload_decode(const unsigned char *payload, size_t len, evp__wal_record_t *rec);

/* Iterate over a decoded record's events: start with *cursor = 0; returns 1
 * and the next event, or 0 at the end. */
int evp__wal_record_next_event(const evp__wal_record_t *rec, size_t *cursor, const char **ev,
                               size_t *len);

#endif /* EVP_WAL_WAL_FORMAT_H */
