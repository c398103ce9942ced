/* Bounds-checked decoders for the writer's encodings (pq_decode.h). */
#include "lake/pq_decode.h"
#include <stdlib.h>
#include <string.h>
#include <snappy-c.h>
#include <zstd.h>
#include <zstd_errors.h> /* ZSTD_error_memory_allocation */
#include "base/base.h"
#include "lake/pq_encode.h"

#define BAD(...) evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, __VA_ARGS__)

/* ULEB128 of at most 10 bytes that fits 64 bits; 0 when truncated or too long. */
static int get_varint(const uint8_t *p, size_t n, size_t *at, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (*at >= n) return 0;
    uint8_t b = p[(*at)++];
    if (shift == 63 && (b & 0x7E)) return 0; /* beyond 64 bits */
    x |= (uint64_t)(b & 0x7F) << shift;
    if (!(b & 0x80)) {
      *v = x;
      return 1;
    }
  }
  return 0;
}

/* Value of @p bw (0..64) bits starting at bit @p bit of @p q, LSB first. Reads
 * only the bytes that hold those bits, so a caller that checked the
 * miniblock's length is in bounds. */
static uint64_t get_bits(const uint8_t *q, size_t bit, int bw) {
  if (bw == 0) return 0;
  size_t byte = bit >> 3;
  int sh = (int)(bit & 7), need = (sh + bw + 7) / 8; /* 1..9 bytes */
  uint64_t x = 0;
  for (int i = 0; i < need && i < 8; i++) x |= (uint64_t)q[byte + (size_t)i] << (8 * i);
  x >>= sh;
  if (need == 9) x |= (uint64_t)q[byte + 8] << (64 - sh);
  return bw == 64 ? x : x & (((uint64_t)1 << bw) - 1);
}

static int64_t unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

evp_err_t evp__pq_delta_decode(const uint8_t *p, size_t n, uint64_t *out, size_t max, size_t *count,
                               size_t *used, char *errstr, size_t errstr_size) {
  size_t at = 0;
  uint64_t block, minis, total, first;
  if (!get_varint(p, n, &at, &block) || !get_varint(p, n, &at, &minis) ||
      !get_varint(p, n, &at, &total) || !get_varint(p, n, &at, &first))
    return BAD("delta: truncated header");
  /* Spec: block size a multiple of 128, miniblock size a multiple of 32. */
  if (block == 0 || block % 128 || block > 1u << 20 || minis == 0 || block % minis ||
      (block / minis) % 32)
    return BAD("delta: bad block layout %llu/%llu", (unsigned long long)block,
               (unsigned long long)minis);
  if (total > max) return BAD("delta: %llu values, room for %zu", (unsigned long long)total, max);
  size_t per_mini = (size_t)(block / minis);
  uint64_t prev = (uint64_t)unzigzag(first);
  if (total) out[0] = prev;
  size_t got = total ? 1 : 0;
  uint8_t widths[1u << 15];
  if (minis > sizeof widths) return BAD("delta: %llu miniblocks", (unsigned long long)minis);
  while (got < total) {
    uint64_t zmin;
    if (!get_varint(p, n, &at, &zmin)) return BAD("delta: truncated block header");
    uint64_t mind = (uint64_t)unzigzag(zmin);
    if (n - at < minis) return BAD("delta: truncated bit widths");
    memcpy(widths, p + at, (size_t)minis);
    at += (size_t)minis;
    for (size_t m = 0; m < minis && got < total; m++) {
      int bw = widths[m];
      if (bw > 64) return BAD("delta: bit width %d", bw);
      size_t bytes = per_mini * (size_t)bw / 8;
      if (n - at < bytes) return BAD("delta: truncated miniblock");
      const uint8_t *q = p + at;
      for (size_t k = 0; k < per_mini && got < total; k++) {
        prev += mind + get_bits(q, k * (size_t)bw, bw); /* wrapping, as the writer's deltas */
        out[got++] = prev;
      }
      at += bytes;
    }
  }
  *count = (size_t)total;
  if (used) *used = at;
  return EVP_OK;
}

evp_err_t evp__pq_dlba_decode(const uint8_t *p, size_t n, size_t nvalues, size_t *off,
                              uint32_t *len, char *errstr, size_t errstr_size) {
  /* The lengths are a DELTA_BINARY_PACKED stream; decode into off[] first
   * (as 64-bit patterns), then check each against the bytes that follow. */
  if (nvalues > SIZE_MAX / sizeof(uint64_t)) return BAD("dlba: too many values");
  uint64_t *tmp = malloc((nvalues ? nvalues : 1) * sizeof *tmp);
  if (!tmp) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "dlba: out of memory");
  size_t count = 0, at = 0;
  evp_err_t e = evp__pq_delta_decode(p, n, tmp, nvalues, &count, &at, errstr, errstr_size);
  if (!e && count != nvalues) e = BAD("dlba: %zu lengths for %zu values", count, nvalues);
  for (size_t i = 0; !e && i < nvalues; i++) {
    if (tmp[i] > UINT32_MAX || tmp[i] > n - at) {
      e = BAD("dlba: value %zu of %llu bytes runs past the page", i, (unsigned long long)tmp[i]);
      break;
    }
    off[i] = at;
    len[i] = (uint32_t)tmp[i];
    at += (size_t)tmp[i];
  }
  free(tmp);
  return e;
}

evp_err_t evp__pq_dba_decode(const uint8_t *p, size_t n, size_t nvalues, evp__buf_t *bytes,
                             size_t *off, uint32_t *len, char *errstr, size_t errstr_size) {
  if (nvalues > SIZE_MAX / (2 * sizeof(uint64_t))) return BAD("dba: too many values");
  uint64_t *pre = malloc((nvalues ? nvalues : 1) * 2 * sizeof *pre), *suf = pre + nvalues;
  if (!pre) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "dba: out of memory");
  size_t count = 0, at = 0, used = 0;
  evp_err_t e = evp__pq_delta_decode(p, n, pre, nvalues, &count, &used, errstr, errstr_size);
  if (!e && count != nvalues) e = BAD("dba: %zu prefix lengths for %zu values", count, nvalues);
  at = used;
  size_t start = bytes->len;
  if (!e)
    e = evp__pq_delta_decode(p + at, n - at, suf, nvalues, &count, &used, errstr, errstr_size);
  if (!e && count != nvalues) e = BAD("dba: %zu suffix lengths for %zu values", count, nvalues);
  at += used;
  /* What the page rebuilds to, before anything is copied: prefix lengths
   * are at most the predecessor's length (checked below), so this sum is
   * the exact total of a valid page. */
  uint64_t total = 0;
  for (size_t i = 0; !e && i < nvalues; i++) {
    total += pre[i] > EVP__PQ_DBA_MAX_BYTES ? (uint64_t)EVP__PQ_DBA_MAX_BYTES + 1 : pre[i];
    total += suf[i] > EVP__PQ_DBA_MAX_BYTES ? (uint64_t)EVP__PQ_DBA_MAX_BYTES + 1 : suf[i];
    if (total > EVP__PQ_DBA_MAX_BYTES)
      e = BAD("dba: the values rebuild to more than %zu bytes", EVP__PQ_DBA_MAX_BYTES);
  }
  for (size_t i = 0; !e && i < nvalues; i++) {
    uint64_t plen = i ? len[i - 1] : 0;
    if (pre[i] > plen) {
      e = BAD("dba: value %zu shares %llu bytes of a %llu-byte predecessor", i,
              (unsigned long long)pre[i], (unsigned long long)plen);
      break;
    }
    if (suf[i] > n - at || pre[i] + suf[i] > UINT32_MAX) {
      e = BAD("dba: value %zu runs past the page", i);
      break;
    }
    if (pre[i] + suf[i] > EVP__PQ_DBA_MAX_BYTES - (bytes->len - start)) {
      e = BAD("dba: the values rebuild to more than %zu bytes", EVP__PQ_DBA_MAX_BYTES);
      break;
    }
    size_t o = bytes->len;
    if (evp__buf_reserve(bytes, (size_t)(pre[i] + suf[i]))) {
      e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "dba: out of memory");
      break;
    }
    if (pre[i]) evp__buf_raw(bytes, bytes->p + off[i - 1], (size_t)pre[i]);
    evp__buf_raw(bytes, p + at, (size_t)suf[i]);
    at += (size_t)suf[i];
    off[i] = o;
    len[i] = (uint32_t)(pre[i] + suf[i]);
  }
  free(pre);
  return e;
}

evp_err_t evp__pq_decompress(evp__pq_codec_t codec, const uint8_t *in, size_t in_len, uint8_t *out,
                             size_t out_len, char *errstr, size_t errstr_size) {
  switch (codec) {
  case EVP__PQ_UNCOMPRESSED:
    if (in_len != out_len) return BAD("page: stored %zu bytes, header says %zu", in_len, out_len);
    if (in_len) memcpy(out, in, in_len);
    return EVP_OK;
  case EVP__PQ_SNAPPY: {
    size_t want = 0, got = out_len;
    if (snappy_uncompressed_length((const char *)in, in_len, &want) != SNAPPY_OK || want != out_len)
      return BAD("page: snappy body does not hold %zu bytes", out_len);
    if (snappy_uncompress((const char *)in, in_len, (char *)out, &got) != SNAPPY_OK ||
        got != out_len)
      return BAD("page: damaged snappy body");
    return EVP_OK;
  }
  case EVP__PQ_ZSTD: {
    size_t got = ZSTD_decompress(out, out_len, in, in_len);
    if (ZSTD_isError(got) && ZSTD_getErrorCode(got) == ZSTD_error_memory_allocation)
      return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "page: out of memory (zstd)");
    if (ZSTD_isError(got)) return BAD("page: zstd: %s", ZSTD_getErrorName(got));
    if (got != out_len)
      return BAD("page: zstd body holds %zu bytes, header says %zu", got, out_len);
    return EVP_OK;
  }
  }
  return evp__seterr(errstr, errstr_size, EVP_ERR_UNSUPPORTED, "page: unknown codec %d",
                     (int)codec);
}
