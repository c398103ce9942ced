/* Decoders for what the Parquet writer encodes beyond PLAIN and the RLE
 * hybrid: DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY and page
 * decompression (Snappy, ZSTD). They back the round-trip tests of the
 * encoders and are meant for the lake's reader (compaction). Every input is
 * treated as hostile: any byte string gives EVP_OK or EVP_ERR_INVALID_ARG (with
 * a reason in errstr), never a read or write outside the given buffers.
 * Internal; thread-safe (no shared state). */
#ifndef EVP_LAKE_PQ_DECODE_H
#define EVP_LAKE_PQ_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include "evpipe/error.h"
#include "base/buf.h"
#include "lake/lake.h"

/* Decode one DELTA_BINARY_PACKED stream at @p p[0..n): its value count goes
 * to *count and must be <= @p max (else EVP_ERR_INVALID_ARG), the values (64-bit
 * patterns; cast to int64_t) to @p out[0..*count), and the bytes the stream
 * took to *used (DELTA_LENGTH_BYTE_ARRAY's bytes follow it). */
evp_err_t evp__pq_delta_decode(const uint8_t *p, size_t n, uint64_t *out, size_t max, size_t *count,
                               size_t *used, char *errstr, size_t errstr_size);

/* Decode DELTA_LENGTH_BYTE_ARRAY of exactly @p nvalues values at
 * @p p[0..n): value i is p[off[i] .. off[i] + len[i]) (pointers into @p p;
 * @p off and @p len hold nvalues entries, the caller's). */
evp_err_t evp__pq_dlba_decode(const uint8_t *p, size_t n, size_t nvalues, size_t *off,
                              uint32_t *len, char *errstr, size_t errstr_size);

/* Decode DELTA_BYTE_ARRAY of exactly @p nvalues values at @p p[0..n): prefix
 * lengths and suffix lengths (two DELTA_BINARY_PACKED streams), then the
 * suffixes. Value i (its first prefix[i] bytes are value i-1's) is rebuilt
 * into @p bytes (appended; the caller's buffer) at bytes->p[off[i] ..
 * off[i] + len[i]). A prefix longer than the previous value, a first
 * prefix other than 0, suffixes past the page, or values of more than
 * EVP__PQ_DBA_MAX_BYTES in all are EVP_ERR_INVALID_ARG. */
/* Most bytes one page's DELTA_BYTE_ARRAY values may rebuild to: each value
 * may repeat its predecessor's bytes, so without a bound a page of a few
 * bytes could ask for terabytes. A page the writer writes rebuilds to its
 * logical size (page_bytes plus one value: at most 128 MiB). */
#define EVP__PQ_DBA_MAX_BYTES ((size_t)1 << 30)
evp_err_t evp__pq_dba_decode(const uint8_t *p, size_t n, size_t nvalues, evp__buf_t *bytes,
                             size_t *off, uint32_t *len, char *errstr, size_t errstr_size);

/* Decompress a page body stored with @p codec into exactly @p out_len bytes
 * (the page header's uncompressed size): EVP_ERR_INVALID_ARG when the body is
 * damaged or decompresses to another size, EVP_ERR_UNSUPPORTED for an
 * unknown codec. */
evp_err_t evp__pq_decompress(evp__pq_codec_t codec, const uint8_t *in, size_t in_len, uint8_t *out,
                             size_t out_len, char *errstr, size_t errstr_size);

#endif /* EVP_LAKE_PQ_DECODE_H */
