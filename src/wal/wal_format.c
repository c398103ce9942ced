/* The log's record encoding: a fixed header with a CRC-32C over the header
 * fields and the payload, so a torn write, stale bytes or a flipped bit is
 * detected before anything is replayed. Pure functions, no I/O. */
#include <string.h>
#include <zlib.h>
#include "wal/wal_format.h"

static const unsigned char MAGIC[4] = {'E', 'V', 'W', 'R'};

static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

uint32_t evp__wal_get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

size_t evp__wal_record_size(size_t client_id_len, const size_t *lens, size_t n) {
  return evp__wal_record_size_sent(client_id_len, EVP__WAL_NO_SENT_AT, lens, n);
}

size_t evp__wal_record_size_sent(size_t client_id_len, int64_t sent_at_us, const size_t *lens,
                                 size_t n) {
  if (client_id_len > EVP__WAL_MAX_CLIENT_ID || n > UINT32_MAX) return 0;
  size_t total = EVP__WAL_HDR + EVP__WAL_PAYLOAD_FIXED + client_id_len;
  if (sent_at_us != EVP__WAL_NO_SENT_AT) total += EVP__WAL_SENT_AT_BYTES;
  for (size_t i = 0; i < n; i++) {
    /* Saturate instead of wrapping: the caller compares against its limit. */
    if (lens[i] > EVP__WAL_HARD_MAX_RECORD || total > SIZE_MAX - 4 - lens[i]) return SIZE_MAX;
    total += 4 + lens[i];
  }
  return total;
}

/* CRC-32 of a buffer of any size (zlib takes uInt lengths). */
static uint32_t crc_add(uint32_t crc, const unsigned char *p, size_t n) {
  uLong c = crc;
  while (n > 0) {
    uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
    c = crc32(c, p, k);
    p += k;
    n -= k;
  }
  return (uint32_t)c;
}

uint32_t evp__wal_record_crc(const unsigned char hdr[EVP__WAL_HDR], const unsigned char *payload,
                             size_t len) {
  if (hdr[4] == EVP__WAL_VERSION_ZLIB_CRC) {
    uint32_t c = crc_add((uint32_t)crc32(0L, Z_NULL, 0), hdr + 4, 8);
    return crc_add(c, payload, len);
  }
  return evp__crc32c(evp__crc32c(0, hdr + 4, 8), payload, len);
}

void evp__wal_record_encode(unsigned char *out, const char *client_id, size_t client_id_len,
                            int64_t received_at_us, const char *const *events, const size_t *lens,
                            size_t n) {
  evp__wal_record_encode_sent(out, client_id, client_id_len, received_at_us, EVP__WAL_NO_SENT_AT,
                              events, lens, n);
}

void evp__wal_record_encode_sent(unsigned char *out, const char *client_id, size_t client_id_len,
                                 int64_t received_at_us, int64_t sent_at_us,
                                 const char *const *events, const size_t *lens, size_t n) {
  unsigned char *p = out + EVP__WAL_HDR;
  put64(p, (uint64_t)received_at_us);
  put32(p + 8, (uint32_t)n);
  p[12] = (unsigned char)(client_id_len & 0xff);
  p[13] = (unsigned char)(client_id_len >> 8);
  p += EVP__WAL_PAYLOAD_FIXED;
  if (client_id_len) memcpy(p, client_id, client_id_len);
  p += client_id_len;
  for (size_t i = 0; i < n; i++) {
    put32(p, (uint32_t)lens[i]);
    if (lens[i]) memcpy(p + 4, events[i], lens[i]);
    p += 4 + lens[i];
  }
  int has_sent = sent_at_us != EVP__WAL_NO_SENT_AT;
  if (has_sent) {
    put64(p, (uint64_t)sent_at_us);
    p += EVP__WAL_SENT_AT_BYTES;
  }
  size_t plen = (size_t)(p - out) - EVP__WAL_HDR;
  memcpy(out, MAGIC, 4);
  out[4] = EVP__WAL_VERSION;
  out[5] = has_sent ? EVP__WAL_FLAG_SENT_AT : 0;
  out[6] = out[7] = 0;
  put32(out + 8, (uint32_t)plen);
  put32(out + 12, evp__wal_record_crc(out, out + EVP__WAL_HDR, plen));
}

int evp__wal_header_check(const unsigned char hdr[EVP__WAL_HDR], uint32_t *payload_len) {
  if (memcmp(hdr, MAGIC, 4) != 0 ||
      (hdr[4] != EVP__WAL_VERSION && hdr[4] != EVP__WAL_VERSION_ZLIB_CRC) ||
      (hdr[5] & ~EVP__WAL_FLAG_SENT_AT) || hdr[6] || hdr[7])
    return -1;
  uint32_t len = evp__wal_get32(hdr + 8);
  if (len < EVP__WAL_PAYLOAD_FIXED || len > EVP__WAL_HARD_MAX_RECORD) return -1;
  *payload_len = len;
  return 0;
}

int evp__wal_payload_decode(const unsigned char *payload, size_t len, evp__wal_record_t *rec) {
  if (len < EVP__WAL_PAYLOAD_FIXED) return -1;
  rec->payload = payload;
  rec->payload_len = len;
  rec->received_at_us = (int64_t)get64(payload);
  rec->nevents = evp__wal_get32(payload + 8);
  rec->client_id_len = (size_t)payload[12] | (size_t)payload[13] << 8;
  size_t pos = EVP__WAL_PAYLOAD_FIXED;
  if (rec->client_id_len > EVP__WAL_MAX_CLIENT_ID || rec->client_id_len > len - pos) return -1;
  rec->client_id = (const char *)payload + pos;
  pos += rec->client_id_len;
  rec->events = payload + pos;
  size_t first = pos;
  for (uint32_t i = 0; i < rec->nevents; i++) {
    if (len - pos < 4) return -1;
    uint32_t l = evp__wal_get32(payload + pos);
    pos += 4;
    if (l > len - pos) return -1;
    pos += l;
  }
  rec->events_len = pos - first;
  rec->sent_at_us = EVP__WAL_NO_SENT_AT;
  if (len - pos == EVP__WAL_SENT_AT_BYTES) {
    rec->sent_at_us = (int64_t)get64(payload + pos);
    /* The value that means "none" is never written as a sent_at. */
    if (rec->sent_at_us == EVP__WAL_NO_SENT_AT) return -1;
    pos += EVP__WAL_SENT_AT_BYTES;
  }
  return pos == len ? 0 : -1;
}

int evp__wal_record_next_event(const evp__wal_record_t *rec, size_t *cursor, const char **ev,
                               size_t *len) {
  /* The structure was checked by evp__wal_payload_decode. */
  if (*cursor + 4 > rec->events_len) return 0;
  uint32_t l = evp__wal_get32(rec->events + *cursor);
  *ev = (const char *)rec->events + *cursor + 4;
  *len = l;
  *cursor += 4 + (size_t)l;
  return 1;
}
