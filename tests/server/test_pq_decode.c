/* Suite: the lake writer's encodings against their decoders (src/lake/
 * pq_encode.c -> pq_decode.c): DELTA_BINARY_PACKED and DELTA_LENGTH_BYTE_ARRAY
 * and DELTA_BYTE_ARRAY round trips at the edges (no values, one, block and miniblock boundaries,
 * negative deltas, INT64_MIN/MAX), hand-computed bytes from the spec, page
 * decompression (Snappy, ZSTD), and hostile input: every truncation and bit
 * flip of a valid stream gives EVP_OK or an error, never a crash (run under
 * ASan to prove it). Whether real readers agree is
 * tests/scripts/test_lake_readers.sh. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <check.h>
#include <stdio.h>
#include <unistd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <snappy-c.h>
#include <zstd.h>
#include "lake/lake.h"
#include "lake/pq_decode.h"
#include "lake/pq_encode.h"

static uint64_t rng(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Encode, decode, compare; returns the encoded size. */
static size_t delta_round_trip(const uint64_t *v, size_t n) {
  evp__buf_t b = {0};
  ck_assert_int_eq(evp__pq_delta_encode(&b, v, n), EVP_OK);
  uint64_t *out = malloc((n ? n : 1) * sizeof *out);
  size_t count = 99, used = 0;
  char err[128] = "";
  ck_assert_msg(evp__pq_delta_decode(b.p, b.len, out, n, &count, &used, err, sizeof err) == EVP_OK,
                "n=%zu: %s", n, err);
  ck_assert_uint_eq(count, n);
  ck_assert_uint_eq(used, b.len); /* the whole stream, nothing more */
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(out[i] == v[i], "n=%zu value %zu: %llx != %llx", n, i, (unsigned long long)out[i],
                  (unsigned long long)v[i]);
  free(out);
  size_t len = b.len;
  evp__buf_free(&b);
  return len;
}

START_TEST(delta_hand_vector_from_the_spec) {
  /* Encodings.md example 1: 1 2 3 4 5 -> header (128, 4, 5, zigzag(1)=2),
   * block: min delta 1 (zigzag 2), widths 0 0 0 0, no bodies. */
  const uint64_t v[] = {1, 2, 3, 4, 5};
  evp__buf_t b = {0};
  ck_assert_int_eq(evp__pq_delta_encode(&b, v, 5), EVP_OK);
  const uint8_t want[] = {0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 0, 0, 0, 0};
  ck_assert_uint_eq(b.len, sizeof want);
  ck_assert_mem_eq(b.p, want, sizeof want);
  /* Example 2: 7 5 3 1 2 3 4 5: deltas -2 -2 -2 1 1 1 1, min -2 (zigzag 3),
   * adjusted 0 0 0 3 3 3 3 (then zero padding) -> width 2: C0 3F, 32 values =
   * 8 bytes in miniblock 0. */
  const uint64_t v2[] = {7, 5, 3, 1, 2, 3, 4, 5};
  b.len = 0;
  ck_assert_int_eq(evp__pq_delta_encode(&b, v2, 8), EVP_OK);
  const uint8_t want2[] = {0x80, 0x01, 0x04, 0x08, 0x0E, 0x03, 2, 0, 0,
                           0,    0xC0, 0x3F, 0,    0,    0,    0, 0, 0};
  ck_assert_uint_eq(b.len, sizeof want2);
  ck_assert_mem_eq(b.p, want2, sizeof want2);
  evp__buf_free(&b);
}
END_TEST

START_TEST(delta_round_trips_edges) {
  uint64_t v[1200];
  uint64_t s = 7;
  /* no values, one, and lengths around miniblock (32) and block (128)
   * boundaries; the first value does not count as a delta */
  const size_t lens[] = {0, 1, 2, 31, 32, 33, 34, 127, 128, 129, 130, 257, 1025};
  for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
    size_t n = lens[k];
    for (size_t i = 0; i < n; i++) v[i] = (uint64_t)(1700000000000000LL + (int64_t)i * 1000);
    delta_round_trip(v, n);                                              /* sorted */
    for (size_t i = 0; i < n; i++) v[i] = (uint64_t) - (int64_t)(i * 3); /* negative deltas */
    delta_round_trip(v, n);
    for (size_t i = 0; i < n; i++) v[i] = rng(&s); /* full 64-bit widths */
    delta_round_trip(v, n);
    for (size_t i = 0; i < n; i++) v[i] = i % 2 ? (uint64_t)INT64_MIN : (uint64_t)INT64_MAX;
    delta_round_trip(v, n); /* deltas overflow int64: wrapping arithmetic */
    for (size_t i = 0; i < n; i++) v[i] = 42;
    size_t sz = delta_round_trip(v, n); /* constant: width 0 everywhere */
    ck_assert_uint_le(sz, 8 + (n / 128 + 1) * 5);
  }
  /* near-sorted timestamps pack into few bits per value */
  for (size_t i = 0; i < 1200; i++)
    v[i] = (uint64_t)(1732492800000000LL + (int64_t)i * 3000 + (int64_t)(rng(&s) % 2000));
  ck_assert_uint_lt(delta_round_trip(v, 1200), 1200 * 2);
}
END_TEST

START_TEST(delta_decoder_refuses_bad_streams) {
  uint64_t out[300];
  size_t count, used;
  char err[128];
  /* block size not a multiple of 128; miniblocks that do not divide it into
   * multiples of 32; a width above 64; more values than room */
  const uint8_t bad_block[] = {0x40, 0x04, 0x01, 0x00};
  ck_assert_int_eq(
      evp__pq_delta_decode(bad_block, sizeof bad_block, out, 300, &count, &used, err, sizeof err),
      EVP_ERR_INVALID_ARG);
  const uint8_t bad_mini[] = {0x80, 0x01, 0x03, 0x01, 0x00};
  ck_assert_int_eq(
      evp__pq_delta_decode(bad_mini, sizeof bad_mini, out, 300, &count, &used, err, sizeof err),
      EVP_ERR_INVALID_ARG);
  const uint8_t zero_mini[] = {0x80, 0x01, 0x00, 0x01, 0x00};
  ck_assert_int_eq(
      evp__pq_delta_decode(zero_mini, sizeof zero_mini, out, 300, &count, &used, err, sizeof err),
      EVP_ERR_INVALID_ARG);
  const uint8_t wide[] = {0x80, 0x01, 0x04, 0x02, 0x00, 0x00, 65, 0, 0, 0};
  ck_assert_int_eq(
      evp__pq_delta_decode(wide, sizeof wide, out, 300, &count, &used, err, sizeof err),
      EVP_ERR_INVALID_ARG);
  const uint8_t many[] = {0x80, 0x01, 0x04, 0xAD, 0x02, 0x00}; /* 301 values */
  ck_assert_int_eq(
      evp__pq_delta_decode(many, sizeof many, out, 300, &count, &used, err, sizeof err),
      EVP_ERR_INVALID_ARG);
  ck_assert_ptr_nonnull(strstr(err, "301"));
  const uint8_t endless[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80};
  ck_assert_int_eq(
      evp__pq_delta_decode(endless, sizeof endless, out, 300, &count, &used, err, sizeof err),
      EVP_ERR_INVALID_ARG);
}
END_TEST

START_TEST(delta_decoder_survives_truncation_and_bit_flips) {
  uint64_t v[300], out[300];
  uint64_t s = 11;
  for (size_t i = 0; i < 300; i++) v[i] = rng(&s) >> (i % 60);
  evp__buf_t b = {0};
  ck_assert_int_eq(evp__pq_delta_encode(&b, v, 300), EVP_OK);
  char err[128];
  size_t count, used;
  /* every proper prefix is an error (each byte is needed) */
  for (size_t cut = 0; cut < b.len; cut++) {
    uint8_t *p = malloc(cut ? cut : 1); /* exact size: ASan sees any overread */
    memcpy(p, b.p, cut);
    ck_assert_msg(evp__pq_delta_decode(p, cut, out, 300, &count, &used, err, sizeof err) ==
                      EVP_ERR_INVALID_ARG,
                  "prefix of %zu bytes decoded", cut);
    free(p);
  }
  /* bit flips: any outcome but a crash or a count beyond the room */
  uint8_t *p = malloc(b.len);
  for (size_t k = 0; k < 4000; k++) {
    memcpy(p, b.p, b.len);
    for (int f = 0; f < 1 + (int)(k % 3); f++) {
      uint64_t r = rng(&s);
      p[r % b.len] ^= (uint8_t)(1u << ((r >> 32) % 8));
    }
    if (evp__pq_delta_decode(p, b.len, out, 300, &count, &used, err, sizeof err) == EVP_OK) {
      ck_assert_uint_le(count, 300);
      ck_assert_uint_le(used, b.len);
    }
  }
  free(p);
  evp__buf_free(&b);
}
END_TEST

START_TEST(dlba_round_trips_and_refuses_overruns) {
  /* what the writer emits for DELTA_LENGTH_BYTE_ARRAY: delta lengths, then bytes */
  const char *vals[] = {"", "a", "", "日本語", "{\"k\":1}", ""};
  const size_t n = sizeof vals / sizeof *vals;
  uint32_t lens[6];
  evp__buf_t b = {0};
  for (size_t i = 0; i < n; i++) lens[i] = (uint32_t)strlen(vals[i]);
  ck_assert_int_eq(evp__pq_delta_encode_u32(&b, lens, n), EVP_OK);
  for (size_t i = 0; i < n; i++) evp__buf_add(&b, vals[i], lens[i]);
  size_t off[6];
  uint32_t len[6];
  char err[128];
  ck_assert_int_eq(evp__pq_dlba_decode(b.p, b.len, n, off, len, err, sizeof err), EVP_OK);
  for (size_t i = 0; i < n; i++) {
    ck_assert_uint_eq(len[i], lens[i]);
    ck_assert_int_eq(memcmp(b.p + off[i], vals[i], lens[i]), 0);
  }
  /* the bytes cut short: the last value runs past the page */
  ck_assert_int_eq(evp__pq_dlba_decode(b.p, b.len - 1, n, off, len, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  /* a count that disagrees with the page's */
  ck_assert_int_eq(evp__pq_dlba_decode(b.p, b.len, n - 1, off, len, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  /* no values at all: just the header */
  b.len = 0;
  ck_assert_int_eq(evp__pq_delta_encode_u32(&b, lens, 0), EVP_OK);
  ck_assert_int_eq(evp__pq_dlba_decode(b.p, b.len, 0, off, len, err, sizeof err), EVP_OK);
  /* a huge length (2^40) must not wrap the bounds check */
  uint64_t big[2] = {(uint64_t)1 << 40, 1};
  b.len = 0;
  ck_assert_int_eq(evp__pq_delta_encode(&b, big, 2), EVP_OK);
  evp__buf_add(&b, "xyz", 3);
  ck_assert_int_eq(evp__pq_dlba_decode(b.p, b.len, 2, off, len, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  evp__buf_free(&b);
}
END_TEST

/* Strings as the writer holds them: bytes back to back, n + 1 offsets. */
typedef struct {
  uint8_t bytes[4096];
  uint64_t soff[64];
  size_t n;
} strs_t;

static void strs_set(strs_t *t, const char *const *vals, size_t n) {
  t->n = n;
  t->soff[0] = 0;
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(vals[i]);
    memcpy(t->bytes + t->soff[i], vals[i], l);
    t->soff[i + 1] = t->soff[i] + l;
  }
}

START_TEST(dba_round_trips_and_refuses_bad_prefixes) {
  /* shared prefixes of every size: none, all of the previous value, part of
   * a multi-byte character, empty values around them */
  const char *vals[] = {"",
                        "{\"screen\":\"home\"}",
                        "{\"screen\":\"home\"}",
                        "{\"screen\":\"search\"}",
                        "{\"screen\"",
                        "",
                        "日本語",
                        "日本",
                        "日本語x",
                        "abc"};
  const size_t n = sizeof vals / sizeof *vals;
  strs_t t;
  strs_set(&t, vals, n);
  uint32_t scratch[128];
  evp__buf_t b = {0}, out = {0};
  ck_assert_int_eq(evp__pq_dba_encode(&b, t.bytes, t.soff, n, scratch), EVP_OK);
  size_t off[16];
  uint32_t len[16];
  char err[128];
  ck_assert_int_eq(evp__pq_dba_decode(b.p, b.len, n, &out, off, len, err, sizeof err), EVP_OK);
  for (size_t i = 0; i < n; i++) {
    ck_assert_uint_eq(len[i], strlen(vals[i]));
    ck_assert_int_eq(memcmp(out.p + off[i], vals[i], len[i]), 0);
  }
  /* prefixes are stored: fewer bytes than DELTA_LENGTH_BYTE_ARRAY's */
  evp__buf_t l = {0};
  ck_assert_int_eq(evp__pq_dlba_encode(&l, t.bytes, t.soff, n, scratch), EVP_OK);
  ck_assert_uint_lt(b.len, l.len);
  /* the DLBA encoder's output decodes too */
  size_t loff[16];
  ck_assert_int_eq(evp__pq_dlba_decode(l.p, l.len, n, loff, len, err, sizeof err), EVP_OK);
  for (size_t i = 0; i < n; i++) ck_assert_int_eq(memcmp(l.p + loff[i], vals[i], len[i]), 0);
  /* every proper prefix of the page is an error, with exact-size copies */
  for (size_t cut = 0; cut < b.len; cut++) {
    uint8_t *p = malloc(cut ? cut : 1);
    memcpy(p, b.p, cut);
    out.len = 0;
    ck_assert_msg(evp__pq_dba_decode(p, cut, n, &out, off, len, err, sizeof err) ==
                      EVP_ERR_INVALID_ARG,
                  "prefix of %zu bytes decoded", cut);
    free(p);
  }
  /* hand-made pages: a first value with a prefix, a prefix longer than its
   * predecessor */
  const uint64_t pre_bad1[2] = {1, 0}, pre_bad2[2] = {0, 5}, suf[2] = {2, 1};
  for (int k = 0; k < 2; k++) {
    evp__buf_t h = {0};
    ck_assert_int_eq(evp__pq_delta_encode(&h, k ? pre_bad2 : pre_bad1, 2), EVP_OK);
    ck_assert_int_eq(evp__pq_delta_encode(&h, suf, 2), EVP_OK);
    evp__buf_add(&h, "abc", 3);
    out.len = 0;
    ck_assert_int_eq(evp__pq_dba_decode(h.p, h.len, 2, &out, off, len, err, sizeof err),
                     EVP_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "predecessor"));
    evp__buf_free(&h);
  }
  /* no values: two empty streams */
  b.len = 0;
  ck_assert_int_eq(evp__pq_dba_encode(&b, t.bytes, NULL, 0, scratch), EVP_OK);
  ck_assert_int_eq(evp__pq_dba_decode(b.p, b.len, 0, &out, off, len, err, sizeof err), EVP_OK);
  /* bit flips never crash */
  uint64_t s = 5;
  evp__buf_t g = {0};
  ck_assert_int_eq(evp__pq_dba_encode(&g, t.bytes, t.soff, n, scratch), EVP_OK);
  uint8_t *p = malloc(g.len);
  for (int k = 0; k < 3000; k++) {
    memcpy(p, g.p, g.len);
    uint64_t r = rng(&s);
    p[r % g.len] ^= (uint8_t)(1u << ((r >> 32) % 8));
    out.len = 0;
    (void)evp__pq_dba_decode(p, g.len, n, &out, off, len, err, sizeof err);
  }
  free(p);
  evp__buf_free(&g);
  evp__buf_free(&b);
  evp__buf_free(&l);
  evp__buf_free(&out);
}
END_TEST

START_TEST(decompress_snappy_zstd_and_damage) {
  char src[5000];
  uint64_t s = 3;
  for (size_t i = 0; i < sizeof src; i++) src[i] = "abcdefgh"[rng(&s) % 8];
  uint8_t out[5000], comp[8000];
  char err[128];
  size_t clen = sizeof comp;
  ck_assert_int_eq(snappy_compress(src, sizeof src, (char *)comp, &clen), SNAPPY_OK);
  ck_assert_int_eq(evp__pq_decompress(EVP__PQ_SNAPPY, comp, clen, out, sizeof out, err, sizeof err),
                   EVP_OK);
  ck_assert_mem_eq(out, src, sizeof src);
  /* the header's size disagrees with the body */
  ck_assert_int_eq(
      evp__pq_decompress(EVP__PQ_SNAPPY, comp, clen, out, sizeof out - 1, err, sizeof err),
      EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(
      evp__pq_decompress(EVP__PQ_SNAPPY, comp, clen / 2, out, sizeof out, err, sizeof err),
      EVP_ERR_INVALID_ARG);
  size_t z = ZSTD_compress(comp, sizeof comp, src, sizeof src, 1);
  ck_assert(!ZSTD_isError(z));
  ck_assert_int_eq(evp__pq_decompress(EVP__PQ_ZSTD, comp, z, out, sizeof out, err, sizeof err),
                   EVP_OK);
  ck_assert_mem_eq(out, src, sizeof src);
  ck_assert_int_eq(evp__pq_decompress(EVP__PQ_ZSTD, comp, z, out, 100, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__pq_decompress(EVP__PQ_ZSTD, comp, z - 3, out, sizeof out, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(
      evp__pq_decompress(EVP__PQ_UNCOMPRESSED, (const uint8_t *)src, 10, out, 10, err, sizeof err),
      EVP_OK);
  ck_assert_int_eq(
      evp__pq_decompress(EVP__PQ_UNCOMPRESSED, (const uint8_t *)src, 10, out, 11, err, sizeof err),
      EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(
      evp__pq_decompress((evp__pq_codec_t)9, comp, z, out, sizeof out, err, sizeof err),
      EVP_ERR_UNSUPPORTED);
  /* bit flips in both codecs: errors or (for undetected damage) OK, never a crash */
  for (int k = 0; k < 2000; k++) {
    uint8_t buf[8000];
    evp__pq_codec_t c = k % 2 ? EVP__PQ_ZSTD : EVP__PQ_SNAPPY;
    size_t n = c == EVP__PQ_ZSTD ? z : clen;
    if (c == EVP__PQ_SNAPPY) {
      size_t cl = sizeof buf;
      snappy_compress(src, sizeof src, (char *)buf, &cl);
    } else {
      ZSTD_compress(buf, sizeof buf, src, sizeof src, 1);
    }
    uint64_t r = rng(&s);
    buf[r % n] ^= (uint8_t)(1u << ((r >> 32) % 8));
    (void)evp__pq_decompress(c, buf, n, out, sizeof out, err, sizeof err);
  }
}
END_TEST

START_TEST(writer_zstd_level_is_checked) {
  /* ZSTD levels outside 1..19 are refused at open; 0 means the default */
  char dir[] = "/tmp/evp-pq-decode-XXXXXX", err[256];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  const evp__pq_column_t cols[] = {{"n", EVP__PQ_INT64, 0, 0}};
  evp__pq_options_t o = {0};
  o.codec = EVP__PQ_ZSTD;
  o.no_fsync = 1;
  evp__pq_writer_t *w = NULL;
  const int bad[] = {-1, 20, 1000};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    o.zstd_level = bad[i];
    ck_assert_int_eq(evp__pq_writer_open(&w, dir, "a.parquet", cols, 1, &o, err, sizeof err),
                     EVP_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "zstd level"));
    ck_assert_ptr_null(w);
  }
  const int good[] = {0, 1, 19};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    char name[32];
    snprintf(name, sizeof name, "ok-%zu.parquet", i);
    o.zstd_level = good[i];
    ck_assert_int_eq(evp__pq_writer_open(&w, dir, name, cols, 1, &o, err, sizeof err), EVP_OK);
    evp__pq_value_t v = {0};
    v.v.i64 = 7;
    ck_assert_int_eq(evp__pq_writer_append(w, &v, err, sizeof err), EVP_OK);
    ck_assert_int_eq(evp__pq_writer_close(w, NULL, err, sizeof err), EVP_OK);
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ck_assert_int_eq(unlink(path), 0);
  }
  ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(dba_decoder_bounds_what_a_page_rebuilds_to) {
  /* A value may repeat its predecessor's bytes: one 1 MiB suffix then 2,000
   * values of prefix 1 MiB and no suffix is a ~1 MiB page asking for 2 GiB.
   * Refused (EVP__PQ_DBA_MAX_BYTES) before anything is copied; 100 MiB of
   * it is a legitimate page and is rebuilt. */
  const size_t big = (size_t)1 << 20;
  for (int round = 0; round < 2; round++) {
    size_t n = round == 0 ? 2000 : 100;
    uint64_t *pre = calloc(n, sizeof *pre), *suf = calloc(n, sizeof *suf);
    ck_assert_ptr_nonnull(pre);
    ck_assert_ptr_nonnull(suf);
    for (size_t i = 1; i < n; i++) pre[i] = big;
    suf[0] = big;
    evp__buf_t b = {0};
    ck_assert_int_eq(evp__pq_delta_encode(&b, pre, n), EVP_OK);
    ck_assert_int_eq(evp__pq_delta_encode(&b, suf, n), EVP_OK);
    ck_assert_int_eq(evp__buf_reserve(&b, big), EVP_OK);
    memset(b.p + b.len, 'x', big);
    b.len += big;
    evp__buf_t out = {0};
    size_t *off = calloc(n, sizeof *off);
    uint32_t *len = calloc(n, sizeof *len);
    char err[160] = "";
    evp_err_t e = evp__pq_dba_decode(b.p, b.len, n, &out, off, len, err, sizeof err);
    if (round == 0) {
      ck_assert_int_eq(e, EVP_ERR_INVALID_ARG);
      ck_assert_msg(strstr(err, "rebuild to more than") != NULL, "%s", err);
      ck_assert_uint_eq(out.len, 0); /* refused before anything was copied */
    } else {
      ck_assert_msg(e == EVP_OK, "%s", err);
      ck_assert_uint_eq(out.len, n * big);
      ck_assert_uint_eq(len[n - 1], big);
    }
    evp__buf_free(&out);
    evp__buf_free(&b);
    free(off);
    free(len);
    free(pre);
    free(suf);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("pq_decode");
  TCase *tc = tcase_create("codecs");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, delta_hand_vector_from_the_spec);
  tcase_add_test(tc, delta_round_trips_edges);
  tcase_add_test(tc, delta_decoder_refuses_bad_streams);
  tcase_add_test(tc, delta_decoder_survives_truncation_and_bit_flips);
  tcase_add_test(tc, dlba_round_trips_and_refuses_overruns);
  tcase_add_test(tc, dba_round_trips_and_refuses_bad_prefixes);
  tcase_add_test(tc, decompress_snappy_zstd_and_damage);
  tcase_add_test(tc, writer_zstd_level_is_checked);
  tcase_add_test(tc, dba_decoder_bounds_what_a_page_rebuilds_to);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
