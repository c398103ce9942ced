/* Parquet encodings: RLE/bit-packed hybrid, PLAIN booleans, dictionary
 * builder, UTF-8 check. See the Parquet Encodings.md document. */
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "json/json.h"
#include "lake/pq_encode.h"
#include "lake/thrift_compact.h"

int evp__pq_bit_width(uint32_t max_value) {
  int w = 0;
  while (max_value) {
    w++;
    max_value >>= 1;
  }
  return w;
}

static void put_varint(evp__buf_t *out, uint64_t v) {
  while (v >= 0x80) {
    evp__buf_u8(out, (uint8_t)(v | 0x80));
    v >>= 7;
  }
  evp__buf_u8(out, (uint8_t)v);
}

/* Length of the run of values equal to v[i] starting at i, capped at cap. */
static size_t run_len(const uint32_t *v, size_t n, size_t i, size_t cap) {
  size_t r = 1;
  while (i + r < n && r < cap && v[i + r] == v[i]) r++;
  return r;
}

/* Largest bit-packed run in groups: keeps the header a single byte. */
#define MAX_GROUPS 63

evp_err_t evp__pq_rle_encode(evp__buf_t *out, const uint32_t *v, size_t n, int bit_width) {
  if (bit_width < 0 || bit_width > 32) return EVP_ERR_INVALID_ARG;
  const size_t vbytes = ((size_t)bit_width + 7) / 8;
  const uint64_t mask = bit_width == 32 ? 0xFFFFFFFFu : ((uint64_t)1 << bit_width) - 1;
  /* Worst case: one bit-packed header per 8*63 values plus the packed bits, or
   * an RLE run per 8 values; reserve a safe upper bound once. */
  size_t bound = (n / 8 + 2) * (10 + vbytes) + (n + 8) * (size_t)bit_width / 8 + 16;
  evp_err_t e = evp__buf_reserve(out, bound);
  if (e) return e;
  size_t i = 0;
  while (i < n) {
    size_t r = run_len(v, n, i, (size_t)1 << 30);
    if (r >= 8) {
      put_varint(out, (uint64_t)r << 1);
      for (size_t b = 0; b < vbytes; b++) evp__buf_u8(out, (uint8_t)(v[i] >> (8 * b)));
      i += r;
      continue;
    }
    /* Bit-pack groups of 8 until a run of 8 equal values starts at a group
     * boundary (or the input ends). */
    size_t groups = 0, j = i;
    while (j < n && groups < MAX_GROUPS) {
      if (groups > 0 && run_len(v, n, j, 8) >= 8) break;
      groups++;
      j += 8;
    }
    put_varint(out, ((uint64_t)groups << 1) | 1);
    uint64_t acc = 0;
    int nbits = 0;
    for (size_t k = 0; k < groups * 8; k++) {
      uint64_t x = (i + k < n) ? (v[i + k] & mask) : 0;
      acc |= x << nbits;
      nbits += bit_width;
      while (nbits >= 8) {
        evp__buf_u8(out, (uint8_t)acc);
        acc >>= 8;
        nbits -= 8;
      }
    }
    /* groups*8*bit_width is a multiple of 8 bits, so nothing is left over. */
    i = j < n ? j : n;
  }
  return EVP_OK;
}

/* ---- DELTA_BINARY_PACKED */

/* Bit-pack @p n values of @p bw bits, LSB first (as the RLE hybrid's groups). */
static void pack_bits(evp__buf_t *out, const uint64_t *v, size_t n, int bw) {
  if (bw == 0) return;
  uint64_t acc = 0;
  int nbits = 0;
  for (size_t k = 0; k < n; k++) {
    uint64_t x = v[k];
    int left = bw;
    /* feed the value in pieces so a 64-bit value never overflows acc */
    while (left > 0) {
      int take = left < 32 ? left : 32; /* nbits < 8 here: acc has room */
      acc |= (x & (((uint64_t)1 << take) - 1)) << nbits;
      nbits += take;
      x >>= take;
      left -= take;
      while (nbits >= 8) {
        evp__buf_u8(out, (uint8_t)acc);
        acc >>= 8;
        nbits -= 8;
      }
    }
  }
  /* n is a whole miniblock (32 values), so n * bw bits end on a byte. */
}

static int bits64(uint64_t v) {
  int w = 0;
  while (v) {
    w++;
    v >>= 1;
  }
  return w;
}

#define DELTA_MINI (EVP__PQ_DELTA_BLOCK / EVP__PQ_DELTA_MINIBLOCKS)

evp_err_t evp__pq_delta_encode(evp__buf_t *out, const uint64_t *v, size_t n) {
  /* Upper bound: header + per block (min delta, widths, 64-bit values). */
  size_t nblocks = n > 1 ? (n - 1 + EVP__PQ_DELTA_BLOCK - 1) / EVP__PQ_DELTA_BLOCK : 0;
  size_t bound = 40 + nblocks * (10 + EVP__PQ_DELTA_MINIBLOCKS + 8 * EVP__PQ_DELTA_BLOCK);
  evp_err_t e = evp__buf_reserve(out, bound);
  if (e) return e;
  put_varint(out, EVP__PQ_DELTA_BLOCK);
  put_varint(out, EVP__PQ_DELTA_MINIBLOCKS);
  put_varint(out, (uint64_t)n);
  put_varint(out, n ? evp__tc_zigzag64((int64_t)v[0]) : 0);
  uint64_t d[EVP__PQ_DELTA_BLOCK];
  for (size_t i = 1; i < n; i += EVP__PQ_DELTA_BLOCK) {
    size_t cnt = n - i < EVP__PQ_DELTA_BLOCK ? n - i : EVP__PQ_DELTA_BLOCK;
    int64_t mind = INT64_MAX;
    for (size_t k = 0; k < cnt; k++) {
      d[k] = v[i + k] - v[i + k - 1]; /* wraps: the reader adds back modulo 2^64 */
      if ((int64_t)d[k] < mind) mind = (int64_t)d[k];
    }
    for (size_t k = 0; k < cnt; k++) d[k] -= (uint64_t)mind;
    for (size_t k = cnt; k < EVP__PQ_DELTA_BLOCK; k++) d[k] = 0; /* padding */
    put_varint(out, evp__tc_zigzag64(mind));
    size_t used = (cnt + DELTA_MINI - 1) / DELTA_MINI;
    int bw[EVP__PQ_DELTA_MINIBLOCKS];
    for (size_t m = 0; m < EVP__PQ_DELTA_MINIBLOCKS; m++) {
      uint64_t all = 0;
      if (m < used)
        for (size_t k = m * DELTA_MINI; k < (m + 1) * DELTA_MINI; k++) all |= d[k];
      bw[m] = bits64(all);
      evp__buf_u8(out, (uint8_t)bw[m]);
    }
    /* Unused miniblocks of the last block have width 0 and no body. */
    for (size_t m = 0; m < used; m++) pack_bits(out, d + m * DELTA_MINI, DELTA_MINI, bw[m]);
  }
  return EVP_OK;
}

evp_err_t evp__pq_delta_encode_u32(evp__buf_t *out, const uint32_t *v, size_t n) {
  uint64_t tmp[256] = {0};
  /* one delta stream: widen all values at once */
  uint64_t *w = n <= 256 ? tmp : malloc(n * sizeof *w);
  if (!w) return EVP_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) w[i] = v[i];
  evp_err_t e = evp__pq_delta_encode(out, w, n);
  if (w != tmp) free(w);
  return e;
}

evp_err_t evp__pq_plain_bool(evp__buf_t *out, const uint8_t *v, size_t n) {
  evp_err_t e = evp__buf_reserve(out, (n + 7) / 8);
  if (e) return e;
  for (size_t i = 0; i < n; i += 8) {
    uint8_t b = 0;
    for (size_t k = 0; k < 8 && i + k < n; k++)
      if (v[i + k]) b |= (uint8_t)(1u << k);
    evp__buf_u8(out, b);
  }
  return EVP_OK;
}

evp_err_t evp__pq_dlba_encode(evp__buf_t *out, const uint8_t *bytes, const uint64_t *soff, size_t n,
                              uint32_t *scratch) {
  for (size_t i = 0; i < n; i++) scratch[i] = (uint32_t)(soff[i + 1] - soff[i]);
  evp_err_t e = evp__pq_delta_encode_u32(out, scratch, n);
  if (e || n == 0) return e;
  size_t nb = (size_t)(soff[n] - soff[0]);
  if ((e = evp__buf_reserve(out, nb))) return e;
  evp__buf_raw(out, bytes + soff[0], nb);
  return EVP_OK;
}

evp_err_t evp__pq_dba_encode(evp__buf_t *out, const uint8_t *bytes, const uint64_t *soff, size_t n,
                             uint32_t *scratch) {
  uint32_t *pre = scratch, *suf = scratch + n;
  size_t nb = 0;
  for (size_t i = 0; i < n; i++) {
    size_t len = (size_t)(soff[i + 1] - soff[i]), k = 0;
    if (i > 0) { /* the first value of a page has no predecessor */
      const uint8_t *a = bytes + soff[i - 1], *b = bytes + soff[i];
      size_t pl = (size_t)(soff[i] - soff[i - 1]), m = pl < len ? pl : len;
      while (k < m && a[k] == b[k]) k++;
    }
    pre[i] = (uint32_t)k;
    suf[i] = (uint32_t)(len - k);
    nb += len - k;
  }
  evp_err_t e;
  if ((e = evp__pq_delta_encode_u32(out, pre, n)) || (e = evp__pq_delta_encode_u32(out, suf, n)) ||
      (e = evp__buf_reserve(out, nb)))
    return e;
  for (size_t i = 0; i < n; i++) evp__buf_raw(out, bytes + soff[i] + pre[i], suf[i]);
  return EVP_OK;
}

int evp__pq_utf8_valid(const uint8_t *s, size_t n) { return evp__utf8_valid((const char *)s, n); }

#define SLOT(h, i) ((uint64_t)(h) << 32 | ((uint64_t)(i) + 1))
#define SLOT_INDEX(x) ((uint32_t)(x)-1)
#define SLOT_HASH(x) ((uint32_t)((x) >> 32))

/* A table of @p nslots slots holding every entry, each hash @p hash_of. */
static evp_err_t rehash(evp__pq_dict_t *d, size_t nslots,
                        uint32_t (*hash_of)(const evp__pq_dict_t *d, size_t i)) {
  uint64_t *slots = calloc(nslots, sizeof *slots);
  if (!slots) return EVP_ERR_NOMEM;
  for (size_t i = 0; i < d->n; i++) {
    uint32_t h = hash_of(d, i);
    size_t s = h & (nslots - 1);
    while (slots[s]) s = (s + 1) & (nslots - 1);
    slots[s] = SLOT(h, i);
  }
  free(d->slots);
  d->slots = slots;
  d->nslots = nslots;
  return EVP_OK;
}

static uint32_t bytes_hash_of(const evp__pq_dict_t *d, size_t i) { return d->ent[i].hash; }

evp_err_t evp__pq_dict_insert(evp__pq_dict_t *d, const uint8_t *p, size_t n, uint32_t *idx) {
  if (n > UINT32_MAX || d->n >= UINT32_MAX - 1) return EVP_ERR_TOO_LARGE;
  if (!d->nslots) d->seed = evp__hash_seed(); /* a new table: see evp__pq_dict_t */
  uint32_t h = evp__hash32_seeded(d->seed, p, n);
  if (d->nslots) {
    size_t s = h & (d->nslots - 1), probes = 0;
    for (uint64_t x; (x = d->slots[s]) != 0; s = (s + 1) & (d->nslots - 1)) {
      if (++probes > EVP__PQ_DICT_MAX_PROBE) return EVP_ERR_TOO_LARGE;
      if (SLOT_HASH(x) != h) continue;
      const evp__pq_dict_entry_t *en = &d->ent[SLOT_INDEX(x)];
      if (en->len == n && evp__bytes_eq(d->bytes.p + en->off, p, n)) {
        *idx = SLOT_INDEX(x);
        return EVP_OK;
      }
    }
  }
  /* New entry: grow every array first so a failure changes nothing. */
  if (d->n == d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 64;
    evp__pq_dict_entry_t *ent = realloc(d->ent, cap * sizeof *ent);
    if (!ent) return EVP_ERR_NOMEM;
    d->ent = ent;
    d->cap = cap;
  }
  evp_err_t e = evp__buf_reserve(&d->bytes, n);
  if (e) return e;
  if ((d->n + 1) * 2 > d->nslots) { /* load factor <= 1/2 */
    e = rehash(d, d->nslots ? d->nslots * 2 : 128, bytes_hash_of);
    if (e) return e;
  }
  uint32_t k = (uint32_t)d->n;
  d->ent[k].off = d->bytes.len;
  d->ent[k].len = (uint32_t)n;
  d->ent[k].hash = h;
  evp__buf_raw(&d->bytes, p, n);
  size_t s = h & (d->nslots - 1);
  while (d->slots[s]) s = (s + 1) & (d->nslots - 1);
  d->slots[s] = SLOT(h, k);
  d->n++;
  *idx = k;
  return EVP_OK;
}

/* Keys are held as their little-endian bytes; compared and hashed as those
 * 8 bytes loaded natively, which is the same on every machine's own terms. */
static uint64_t u64_key_at(const evp__pq_dict_t *d, size_t k) {
  uint64_t v;
  memcpy(&v, d->bytes.p + 8 * k, 8);
  return v;
}

/* @p key as the 8-byte value whose bytes in memory are its little-endian
 * bytes: itself, or swapped on a big-endian machine. Not by storing bytes
 * and loading them back: the load waits for the stores (a store-forwarding
 * stall on every value, most of this table's time in perf). */
static uint64_t u64_le(uint64_t key) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return key;
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return __builtin_bswap64(key);
#else
  uint8_t le[8];
  for (int b = 0; b < 8; b++) le[b] = (uint8_t)(key >> (8 * b));
  uint64_t k;
  memcpy(&k, le, 8);
  return k;
#endif
}

/* Every bit of the key moves every bit of the hash: the slot is taken from
 * the low bits, and keys that differ only high up (client-chosen bigints
 * such as i << 48) must not share a slot. The seed goes in first: the mixer
 * alone is a bijection anyone can invert to make keys for one slot. */
static uint32_t u64_hash(const evp__pq_dict_t *d, uint64_t k) {
  return (uint32_t)evp__mix64(k ^ d->seed);
}

static uint32_t u64_hash_of(const evp__pq_dict_t *d, size_t i) {
  return u64_hash(d, u64_key_at(d, i));
}

evp_err_t evp__pq_dict_insert_u64(evp__pq_dict_t *d, uint64_t key, uint32_t *idx) {
  if (d->n >= UINT32_MAX - 1) return EVP_ERR_TOO_LARGE;
  uint64_t k = u64_le(key);
  if (!d->nslots) d->seed = evp__hash_seed(); /* a new table: see evp__pq_dict_t */
  uint32_t h = u64_hash(d, k);
  if (d->nslots) {
    size_t s = h & (d->nslots - 1), probes = 0;
    for (uint64_t x; (x = d->slots[s]) != 0; s = (s + 1) & (d->nslots - 1)) {
      if (++probes > EVP__PQ_DICT_MAX_PROBE) return EVP_ERR_TOO_LARGE;
      if (SLOT_HASH(x) == h && u64_key_at(d, SLOT_INDEX(x)) == k) {
        *idx = SLOT_INDEX(x);
        return EVP_OK;
      }
    }
  }
  /* New entry: make room first so a failure changes nothing. */
  evp_err_t e = evp__buf_reserve(&d->bytes, 8);
  if (e) return e;
  if ((d->n + 1) * 2 > d->nslots) { /* load factor <= 1/2 */
    e = rehash(d, d->nslots ? d->nslots * 2 : 128, u64_hash_of);
    if (e) return e;
  }
  evp__buf_raw(&d->bytes, &k, 8);
  size_t s = h & (d->nslots - 1);
  while (d->slots[s]) s = (s + 1) & (d->nslots - 1);
  d->slots[s] = SLOT(h, d->n);
  *idx = (uint32_t)d->n++;
  return EVP_OK;
}

void evp__pq_dict_clear(evp__pq_dict_t *d) {
  if (d->slots) memset(d->slots, 0, d->nslots * sizeof *d->slots);
  d->n = 0;
  d->bytes.len = 0;
}

void evp__pq_dict_free(evp__pq_dict_t *d) {
  free(d->slots);
  free(d->ent);
  evp__buf_free(&d->bytes);
  memset(d, 0, sizeof *d);
}
