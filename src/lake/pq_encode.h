/* Parquet value encodings used by the writer: the RLE/bit-packed hybrid (for
 * definition levels and dictionary indices), PLAIN booleans, a dictionary
 * builder for BYTE_ARRAY values, and UTF-8 validation. Internal. */
#ifndef EVP_LAKE_PQ_ENCODE_H
#define EVP_LAKE_PQ_ENCODE_H

#include <stddef.h>
#include <stdint.h>
#include "base/buf.h"

/* Bits needed to store values 0..max_value (0 for 0). */
int evp__pq_bit_width(uint32_t max_value);

/* Append the RLE/bit-packed hybrid encoding of @p n values of @p bit_width
 * (0..32) bits, without any length prefix. Runs of >= 8 equal values become
 * RLE runs; the rest is bit-packed in groups of 8 (the final group is padded
 * with zeros, which readers ignore because they know the value count). */
evp_err_t evp__pq_rle_encode(evp__buf_t *out, const uint32_t *v, size_t n, int bit_width);

/* Append @p n booleans (0/1 bytes) PLAIN-encoded: bit-packed, LSB first. */
evp_err_t evp__pq_plain_bool(evp__buf_t *out, const uint8_t *v, size_t n);

/* DELTA_BINARY_PACKED (Parquet Encodings.md): blocks of
 * EVP__PQ_DELTA_BLOCK values in EVP__PQ_DELTA_MINIBLOCKS miniblocks, deltas
 * in wrapping 64-bit arithmetic (so INT64_MIN..INT64_MAX round-trips), each
 * miniblock bit-packed at its own width. Appends the header and all blocks
 * of @p n values (n == 0 gives just the header: readers parse it even when a
 * page holds no values). Used for INT64/TIMESTAMP values and for the
 * lengths of DELTA_LENGTH_BYTE_ARRAY. */
#define EVP__PQ_DELTA_BLOCK 128
#define EVP__PQ_DELTA_MINIBLOCKS 4
evp_err_t evp__pq_delta_encode(evp__buf_t *out, const uint64_t *v, size_t n);
/* The same for values given as 32-bit unsigned lengths. */
evp_err_t evp__pq_delta_encode_u32(evp__buf_t *out, const uint32_t *v, size_t n);

/* DELTA_LENGTH_BYTE_ARRAY (lengths as DELTA_BINARY_PACKED, then the bytes)
 * and DELTA_BYTE_ARRAY (lengths of the prefix shared with the previous value
 * and of the rest, both DELTA_BINARY_PACKED, then the rests) of the @p n
 * strings bytes[soff[i] .. soff[i + 1]) (soff has n + 1 entries; NULL when
 * n is 0). @p scratch has room for 2 * n entries. */
evp_err_t evp__pq_dlba_encode(evp__buf_t *out, const uint8_t *bytes, const uint64_t *soff, size_t n,
                              uint32_t *scratch);
evp_err_t evp__pq_dba_encode(evp__buf_t *out, const uint8_t *bytes, const uint64_t *soff, size_t n,
                             uint32_t *scratch);

/* The 8 bytes at p as a big-endian number: comparing two of them orders
 * the bytes as memcmp does (compilers turn this into one load and a swap). */
static inline uint64_t evp__pq_load_be64(const uint8_t *p) {
  return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 | (uint64_t)p[3] << 32 |
         (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 | (uint64_t)p[6] << 8 | (uint64_t)p[7];
}

/* 1 when a[0..la) sorts before b[0..lb) in unsigned byte-wise order (Parquet's
 * TypeDefinedOrder for strings: statistics and the page index). Inline, 8
 * bytes a step: the page index compares every value of a page without a
 * dictionary twice, and most values (ids) differ in their first 8 bytes. */
static inline int evp__pq_bytes_less(const uint8_t *a, size_t la, const uint8_t *b, size_t lb) {
  size_t n = la < lb ? la : lb, i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x = evp__pq_load_be64(a + i), y = evp__pq_load_be64(b + i);
    if (x != y) return x < y;
  }
  for (; i < n; i++)
    if (a[i] != b[i]) return a[i] < b[i];
  return la < lb;
}

/* 1 when @p s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code
 * points above U+10FFFF), else 0. Readers such as DuckDB reject invalid
 * UTF-8 in String columns, so the writer refuses it up front. */
int evp__pq_utf8_valid(const uint8_t *s, size_t n);

/* One dictionary entry: its bytes and their hash, side by side so a probe
 * that finds the hash equal reads one cache line for the rest. */
typedef struct evp__pq_dict_entry {
  uint64_t off; /* bytes.p[off .. off+len) */
  uint32_t len;
  uint32_t hash;
} evp__pq_dict_entry_t;

/* Dictionary of distinct byte strings in insertion order. */
typedef struct evp__pq_dict {
  /* open addressing: (hash << 32) | (entry index + 1), 0 = empty; the hash
   * in the slot spares a probe the entry's line when it differs */
  uint64_t *slots;
  size_t nslots; /* power of two */
  evp__pq_dict_entry_t *ent;
  size_t n, cap;
  evp__buf_t bytes;
  /* The hash's seed, evp__hash_seed() from the first insert on: clients
   * choose the values, and with a fixed seed any values that share a slot
   * could be computed offline and sent. The seed does not stop every
   * collision (EVP__PQ_DICT_MAX_PROBE bounds what is left). The entries'
   * order, and so the file, does not depend on it. */
  uint64_t seed;
} evp__pq_dict_t;

/* Most slots one lookup walks. Linear probing at a load of at most 1/2
 * with a good hash walks a few; a run this long among 131,072 slots is
 * about as likely as 10^-16, so it means values crafted to collide (the
 * seeded hash is fast, not keyed: differences in the top bits of 8-byte
 * blocks cancel for every seed): the lookup gives up with
 * EVP_ERR_TOO_LARGE and the writer writes the chunk without a dictionary,
 * so crafted values cost their own column's compression, never a scan per
 * value. */
#define EVP__PQ_DICT_MAX_PROBE 256

/* Index of the entry equal to @p p[0..n), inserting it when new.
 * EVP_ERR_NOMEM, and EVP_ERR_TOO_LARGE (a lookup past
 * EVP__PQ_DICT_MAX_PROBE slots), leave the dictionary unchanged. */
evp_err_t evp__pq_dict_insert(evp__pq_dict_t *d, const uint8_t *p, size_t n, uint32_t *idx);
/* The same for an INT64/TIMESTAMP column, whose keys are 8 bytes: entry i
 * is bytes.p[8i .. 8i+8), @p key little-endian (so the bytes are the PLAIN
 * dictionary page), and ent stays unused. One multiply for the hash
 * and one 8-byte compare per probe, where the byte-string table takes a
 * general hash, an entry and a byte compare. A dictionary takes
 * only one of the two kinds of insert. */
evp_err_t evp__pq_dict_insert_u64(evp__pq_dict_t *d, uint64_t key, uint32_t *idx);
void evp__pq_dict_clear(evp__pq_dict_t *d); /* empty, keep allocations */
void evp__pq_dict_free(evp__pq_dict_t *d);

#endif /* EVP_LAKE_PQ_ENCODE_H */
