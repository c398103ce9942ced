/* Suite: the Parquet lake writer (src/lake/).
 *
 * Unit tests check the Thrift compact encoder and the RLE/bit-packed hybrid
 * against hand-computed bytes, and the writer's error paths. Whether the
 * files are real Parquet is proven by external readers: `test_lake --gen DIR`
 * writes a set of files plus the expected values (NDJSON) and
 * tests/scripts/test_lake_readers.sh checks them with DuckDB and hyparquet. */
#define _XOPEN_SOURCE 700 /* nftw (tmpdir.h) */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lake/lake.h"
#include "lake/pq_encode.h"
#include "lake/pq_writer_int.h"
#include "lake/thrift_compact.h"
#include "lake_gen.h"
#include "base/files.h"
#include "tmpdir.h"

#define ck_bytes(buf, ...)                                                                      \
  do {                                                                                          \
    const uint8_t exp_[] = {__VA_ARGS__};                                                       \
    ck_assert_uint_eq((buf)->len, sizeof exp_);                                                 \
    for (size_t k_ = 0; k_ < sizeof exp_; k_++)                                                 \
      ck_assert_msg((buf)->p[k_] == exp_[k_], "byte %zu: got %02x want %02x", k_, (buf)->p[k_], \
                    exp_[k_]);                                                                  \
  } while (0)

/* ------------------------------------------------------------ thrift */

START_TEST(thrift_struct_fields_hand_vectors) {
  evp__buf_t b = {0};
  evp__tc_t t;
  evp__tc_init(&t, &b);
  evp__tc_struct_begin(&t);
  evp__tc_field_i32(&t, 1, 5);                /* 0x15, zigzag 10 */
  evp__tc_field_i64(&t, 2, -1);               /* 0x16, zigzag 1 */
  evp__tc_field_bool(&t, 3, 1);               /* 0x11: true in the type nibble */
  evp__tc_field_bool(&t, 20, 0);              /* delta 17: long form 0x02, id zigzag 40 */
  evp__tc_field_binary(&t, 21, "ab", 2);      /* 0x18, len 2 */
  evp__tc_field_struct(&t, 22);               /* 0x1C */
  evp__tc_field_i32(&t, 1, 300);              /* 0x15, zigzag 600 = d8 04 */
  evp__tc_struct_end(&t);                     /* 0x00; last id back to 22 */
  evp__tc_field_list(&t, 23, EVP__TC_I32, 2); /* 0x19, 0x25 */
  evp__tc_i32(&t, 1);
  evp__tc_i32(&t, -2);
  evp__tc_struct_end(&t);
  ck_assert_int_eq(evp__tc_error(&t), EVP_OK);
  ck_bytes(&b, 0x15, 0x0A, 0x16, 0x01, 0x11, 0x02, 0x28, 0x18, 0x02, 0x61, 0x62, 0x1C, 0x15, 0xD8,
           0x04, 0x00, 0x19, 0x25, 0x02, 0x03, 0x00);
  evp__buf_free(&b);
}
END_TEST

START_TEST(thrift_decreasing_ids_long_lists_and_extremes) {
  evp__buf_t b = {0};
  evp__tc_t t;
  evp__tc_init(&t, &b);
  evp__tc_struct_begin(&t);
  evp__tc_field_i32(&t, 5, 0);                   /* 0x55 0x00 */
  evp__tc_field_i32(&t, 2, 0);                   /* backwards: 0x05, id zigzag 4, value 0 */
  evp__tc_field_list(&t, 3, EVP__TC_BINARY, 15); /* 0x19, 0xF8, 15 */
  for (int i = 0; i < 15; i++) evp__tc_binary(&t, "", 0);
  evp__tc_field_i64(&t, 4, INT64_MIN); /* 0x16, ff*9 01 */
  evp__tc_field_i64(&t, 5, INT64_MAX); /* 0x16, fe ff*8 01 */
  evp__tc_struct_end(&t);
  ck_assert_int_eq(evp__tc_error(&t), EVP_OK);
  ck_bytes(&b, 0x55, 0x00, 0x05, 0x04, 0x00, 0x19, 0xF8, 0x0F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
           0, 0, 0, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x16, 0xFE,
           0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00);
  evp__buf_free(&b);
}
END_TEST

START_TEST(thrift_misuse_is_reported) {
  evp__buf_t b = {0};
  evp__tc_t t;
  evp__tc_init(&t, &b);
  evp__tc_field_i32(&t, 1, 1); /* no open struct */
  ck_assert_int_eq(evp__tc_error(&t), EVP_ERR_INTERNAL);
  evp__tc_init(&t, &b);
  evp__tc_struct_begin(&t); /* never closed */
  ck_assert_int_eq(evp__tc_error(&t), EVP_ERR_INTERNAL);
  evp__tc_init(&t, &b);
  for (int i = 0; i < EVP__TC_MAX_DEPTH + 1; i++) evp__tc_struct_begin(&t);
  ck_assert_int_eq(evp__tc_error(&t), EVP_ERR_TOO_DEEP);
  evp__buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------ RLE hybrid */

START_TEST(rle_hand_vectors) {
  evp__buf_t b = {0};
  uint32_t ones[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  ck_assert_int_eq(evp__pq_rle_encode(&b, ones, 10, 1), EVP_OK);
  ck_bytes(&b, 0x14, 0x01); /* RLE run: (10 << 1), value byte */
  b.len = 0;
  uint32_t seq[8] = {0, 1, 2, 3, 4, 5, 6, 7}; /* the example in Encodings.md */
  ck_assert_int_eq(evp__pq_rle_encode(&b, seq, 8, 3), EVP_OK);
  ck_bytes(&b, 0x03, 0x88, 0xC6, 0xFA);
  b.len = 0;
  uint32_t few[3] = {1, 0, 1}; /* one padded group */
  ck_assert_int_eq(evp__pq_rle_encode(&b, few, 3, 1), EVP_OK);
  ck_bytes(&b, 0x03, 0x05);
  b.len = 0;
  uint32_t mix[11] = {3, 3, 3, 3, 3, 3, 3, 3, 0, 1, 2};
  ck_assert_int_eq(evp__pq_rle_encode(&b, mix, 11, 2), EVP_OK);
  ck_bytes(&b, 0x10, 0x03, 0x03, 0x24, 0x00);
  b.len = 0;
  uint32_t pk_then_run[17] = {1, 2, 3, 4, 5, 6, 7, 0, 5, 5, 5, 5, 5, 5, 5, 5, 5};
  ck_assert_int_eq(evp__pq_rle_encode(&b, pk_then_run, 17, 3), EVP_OK);
  ck_bytes(&b, 0x03, 0xD1, 0x58, 0x1F, 0x12, 0x05);
  b.len = 0;
  uint32_t wide[20];
  for (int i = 0; i < 20; i++) wide[i] = 300;
  ck_assert_int_eq(evp__pq_rle_encode(&b, wide, 20, 9), EVP_OK);
  ck_bytes(&b, 0x28, 0x2C, 0x01); /* value in ceil(9/8) = 2 bytes LE */
  b.len = 0;
  ck_assert_int_eq(evp__pq_rle_encode(&b, wide, 0, 9), EVP_OK);
  ck_assert_uint_eq(b.len, 0);
  ck_assert_int_eq(evp__pq_rle_encode(&b, wide, 1, 33), EVP_ERR_INVALID_ARG);
  evp__buf_free(&b);
}
END_TEST

/* An independent decoder, straight from the spec, for the round trips. */
static size_t rle_decode(const uint8_t *p, size_t len, int bw, uint32_t *out, size_t n) {
  size_t i = 0, got = 0;
  while (got < n && i < len) {
    uint64_t h = 0;
    int sh = 0;
    while (i < len) {
      uint8_t c = p[i++];
      h |= (uint64_t)(c & 0x7F) << sh;
      sh += 7;
      if (!(c & 0x80)) break;
    }
    if (h & 1) {
      size_t cnt = (size_t)(h >> 1) * 8;
      for (size_t k = 0; k < cnt; k++) {
        uint32_t v = 0;
        for (int bit = 0; bit < bw; bit++) {
          size_t pos = k * (size_t)bw + (size_t)bit;
          if (i + pos / 8 < len && (p[i + pos / 8] >> (pos % 8)) & 1) v |= 1u << bit;
        }
        if (got < n) out[got++] = v;
      }
      i += cnt * (size_t)bw / 8;
    } else {
      size_t cnt = (size_t)(h >> 1);
      uint32_t v = 0;
      for (int k = 0; k < (bw + 7) / 8; k++) v |= (uint32_t)p[i++] << (8 * k);
      for (size_t k = 0; k < cnt && got < n; k++) out[got++] = v;
    }
  }
  return got;
}

START_TEST(rle_round_trips_random_sequences) {
  uint64_t s = 12345;
  evp__buf_t b = {0};
  enum { N = 5000 };
  static uint32_t in[N], out[N];
  for (int iter = 0; iter < 200; iter++) {
    int bw = iter % 33;
    size_t n = (size_t)(evp__gen_next(&s) % N);
    uint64_t mask = bw == 32 ? 0xFFFFFFFFu : ((1ull << bw) - 1);
    for (size_t i = 0; i < n; i++) {
      /* mixture of runs and noise */
      if (i > 0 && evp__gen_next(&s) % 4 != 0)
        in[i] = in[i - 1];
      else
        in[i] = (uint32_t)(evp__gen_next(&s) & mask);
    }
    b.len = 0;
    ck_assert_int_eq(evp__pq_rle_encode(&b, in, n, bw), EVP_OK);
    ck_assert_uint_eq(rle_decode(b.p, b.len, bw, out, n), n);
    for (size_t i = 0; i < n; i++) ck_assert_uint_eq(out[i], in[i]);
  }
  evp__buf_free(&b);
}
END_TEST

START_TEST(plain_bool_and_bit_width) {
  evp__buf_t b = {0};
  uint8_t v[10] = {1, 0, 0, 1, 0, 0, 0, 1, 1, 1};
  ck_assert_int_eq(evp__pq_plain_bool(&b, v, 10), EVP_OK);
  ck_bytes(&b, 0x89, 0x03);
  evp__buf_free(&b);
  ck_assert_int_eq(evp__pq_bit_width(0), 0);
  ck_assert_int_eq(evp__pq_bit_width(1), 1);
  ck_assert_int_eq(evp__pq_bit_width(19), 5);
  ck_assert_int_eq(evp__pq_bit_width(65535), 16);
  ck_assert_int_eq(evp__pq_bit_width(UINT32_MAX), 32);
}
END_TEST

START_TEST(utf8_validation) {
  ck_assert(evp__pq_utf8_valid((const uint8_t *)"", 0));
  ck_assert(evp__pq_utf8_valid((const uint8_t *)"h\xC3\xA9 \xE6\x97\xA5 \xF0\x9F\x98\x80", 12));
  ck_assert(!evp__pq_utf8_valid((const uint8_t *)"\xC0\xAF", 2));         /* overlong */
  ck_assert(!evp__pq_utf8_valid((const uint8_t *)"\xED\xA0\x80", 3));     /* surrogate */
  ck_assert(!evp__pq_utf8_valid((const uint8_t *)"\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
  ck_assert(!evp__pq_utf8_valid((const uint8_t *)"\xE6\x97", 2));         /* truncated */
  ck_assert(!evp__pq_utf8_valid((const uint8_t *)"\xFF", 1));
}
END_TEST

/* String order for statistics and the page index is memcmp's, then the
 * shorter first: for every length, a difference at every position (bytes
 * above 0x7f included: unsigned), and a prefix of the other. */
static int bytes_less_ref(const uint8_t *a, size_t la, const uint8_t *b, size_t lb) {
  size_t n = la < lb ? la : lb;
  int r = n ? memcmp(a, b, n) : 0;
  return r < 0 || (r == 0 && la < lb);
}

START_TEST(string_order_is_memcmp_order) {
  uint8_t a[48], b[48];
  const uint8_t deltas[] = {1, 0x7f, 0x80, 0xff};
  for (size_t n = 0; n <= 40; n++) {
    for (size_t i = 0; i < sizeof a; i++) a[i] = b[i] = (uint8_t)(i * 37 + 11);
    for (size_t m = 0; m <= n + 2; m++) /* prefixes, equal, longer */
      ck_assert_int_eq(evp__pq_bytes_less(a, n, b, m), bytes_less_ref(a, n, b, m));
    for (size_t pos = 0; pos < n; pos++)
      for (size_t d = 0; d < sizeof deltas; d++) {
        b[pos] = (uint8_t)(a[pos] + deltas[d]);
        ck_assert_msg(evp__pq_bytes_less(a, n, b, n) == bytes_less_ref(a, n, b, n) &&
                          evp__pq_bytes_less(b, n, a, n) == bytes_less_ref(b, n, a, n),
                      "n %zu pos %zu delta %u", n, pos, deltas[d]);
        b[pos] = a[pos];
      }
  }
}
END_TEST

START_TEST(dictionary_dedups_in_order) {
  evp__pq_dict_t d = {0};
  uint32_t idx;
  char key[32];
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < 1000; i++) {
      int n = snprintf(key, sizeof key, "k%d", i);
      ck_assert_int_eq(evp__pq_dict_insert(&d, (const uint8_t *)key, (size_t)n, &idx), EVP_OK);
      ck_assert_uint_eq(idx, (uint32_t)i);
    }
  ck_assert_uint_eq(d.n, 1000);
  ck_assert_int_eq(evp__pq_dict_insert(&d, (const uint8_t *)"", 0, &idx), EVP_OK);
  ck_assert_uint_eq(idx, 1000);
  evp__pq_dict_clear(&d);
  ck_assert_int_eq(evp__pq_dict_insert(&d, (const uint8_t *)"k5", 2, &idx), EVP_OK);
  ck_assert_uint_eq(idx, 0);
  evp__pq_dict_free(&d);
}
END_TEST

/* The 8-byte-key dictionary: entries in first-seen order through several
 * growths, keys that collide in the low bits (multiples of 2^32, negative
 * numbers), and its bytes are the keys little-endian: the PLAIN page. */
START_TEST(integer_dictionary_dedups_in_order) {
  evp__pq_dict_t d = {0};
  uint32_t idx;
  uint64_t keys[3000];
  for (size_t i = 0; i < 3000; i++)
    keys[i] = i % 3 == 0   ? (uint64_t)i << 32
              : i % 3 == 1 ? (uint64_t) - (int64_t)i
                           : (uint64_t)i * 1000000u;
  for (int round = 0; round < 2; round++)
    for (size_t i = 0; i < 3000; i++) {
      ck_assert_int_eq(evp__pq_dict_insert_u64(&d, keys[i], &idx), EVP_OK);
      ck_assert_uint_eq(idx, (uint32_t)i);
    }
  ck_assert_uint_eq(d.n, 3000);
  ck_assert_uint_eq(d.bytes.len, 3000 * 8);
  for (size_t i = 0; i < 3000; i++)
    for (int b = 0; b < 8; b++)
      ck_assert_uint_eq(d.bytes.p[8 * i + (size_t)b], (uint8_t)(keys[i] >> (8 * b)));
  evp__pq_dict_clear(&d);
  ck_assert_int_eq(evp__pq_dict_insert_u64(&d, keys[7], &idx), EVP_OK);
  ck_assert_uint_eq(idx, 0);
  ck_assert_int_eq(evp__pq_dict_insert_u64(&d, 0, &idx), EVP_OK);
  ck_assert_uint_eq(idx, 1);
  ck_assert_int_eq(evp__pq_dict_insert_u64(&d, keys[7], &idx), EVP_OK);
  ck_assert_uint_eq(idx, 0);
  evp__pq_dict_free(&d);
}
END_TEST

/* Integer keys that differ only in their high bits (client-chosen bigints
 * such as i << 48) still get spread home slots: each slot keeps its entry's
 * hash, so the homes are read off the table. A hash that ignores the high
 * bits puts them all in one slot, and linear probing turns quadratic. */
START_TEST(integer_dictionary_spreads_high_bit_keys) {
  const int shifts[] = {0, 32, 40, 48, 49, 52}; /* 4096 << 52 still fits */
  for (size_t k = 0; k < sizeof shifts / sizeof *shifts; k++) {
    evp__pq_dict_t d = {0};
    uint32_t idx;
    const size_t n = 4096;
    for (size_t i = 0; i < n; i++)
      ck_assert_int_eq(evp__pq_dict_insert_u64(&d, (uint64_t)i << shifts[k], &idx), EVP_OK);
    ck_assert_uint_eq(d.n, n);
    unsigned char *home = calloc(d.nslots, 1);
    ck_assert_ptr_nonnull(home);
    size_t homes = 0;
    for (size_t s = 0; s < d.nslots; s++) {
      if (!d.slots[s]) continue;
      size_t h = (size_t)(d.slots[s] >> 32) & (d.nslots - 1);
      homes += !home[h];
      home[h] = 1;
    }
    /* n keys in 2n+ slots: a uniform hash gives ~0.8 n distinct homes */
    ck_assert_msg(homes > n / 2, "keys << %d: %zu home slots for %zu keys", shifts[k], homes, n);
    free(home);
    evp__pq_dict_free(&d);
  }
}
END_TEST

/* Distinct home slots of a dictionary's entries (slot = hash & (nslots - 1)). */
static size_t dict_homes(const evp__pq_dict_t *d) {
  unsigned char *home = calloc(d->nslots, 1);
  ck_assert_ptr_nonnull(home);
  size_t homes = 0;
  for (size_t s = 0; s < d->nslots; s++) {
    if (!d->slots[s]) continue;
    size_t h = (size_t)(d->slots[s] >> 32) & (d->nslots - 1);
    homes += !home[h];
    home[h] = 1;
  }
  free(home);
  return homes;
}

/* Values a client crafted offline to share one slot, as they would with an
 * unseeded hash (seed 0): the dictionaries' seeded hashes spread them. */
START_TEST(dictionaries_spread_keys_crafted_for_a_fixed_seed) {
  enum { N = 1024, MASK = 4095 }; /* N entries take at most 4096 slots */
  evp__pq_dict_t d = {0};
  uint32_t idx;
  char key[32];
  size_t found = 0;
  for (unsigned long i = 0; found < N; i++) {
    int n = snprintf(key, sizeof key, "u-%lu", i);
    if ((evp__hash32_seeded(0, key, (size_t)n) & MASK) != 0) continue;
    ck_assert_int_eq(evp__pq_dict_insert(&d, (const uint8_t *)key, (size_t)n, &idx), EVP_OK);
    ck_assert_uint_eq(idx, found);
    found++;
  }
  ck_assert_uint_le(d.nslots, MASK + 1);
  size_t homes = dict_homes(&d);
  ck_assert_msg(homes > N / 2, "strings: %zu home slots for %d keys", homes, N);
  evp__pq_dict_free(&d);
  found = 0;
  for (uint64_t k = 0; found < N; k++) {
    if ((evp__mix64(k) & MASK) != 0) continue; /* the old unseeded key hash */
    ck_assert_int_eq(evp__pq_dict_insert_u64(&d, k, &idx), EVP_OK);
    found++;
  }
  homes = dict_homes(&d);
  ck_assert_msg(homes > N / 2, "integers: %zu home slots for %d keys", homes, N);
  evp__pq_dict_free(&d);
}
END_TEST

/* Strings whose hashes are equal for every seed (a difference in the top
 * bit of one 8-byte block's last byte, cancelled by bits 63 and 34 of the
 * next): a lookup gives up after EVP__PQ_DICT_MAX_PROBE slots instead of
 * scanning them all (the writer then writes the chunk without a
 * dictionary, as for any failed insert: dict_note). */
START_TEST(dictionary_gives_up_on_values_colliding_for_every_seed) {
  enum { K = 10, N = 1 << K }; /* K independent flips: 1,024 strings, 16 bytes a pair */
  uint8_t key[16 * K];
  evp__pq_dict_t d = {0};
  uint32_t idx;
  evp_err_t e = EVP_OK;
  size_t inserted = 0;
  for (unsigned v = 0; v < N && !e; v++) {
    memset(key, 'a', sizeof key);
    for (unsigned b = 0; b < K; b++)
      if (v >> b & 1) {
        key[16 * b + 7] ^= 0x80;  /* top bit of block 2b */
        key[16 * b + 15] ^= 0x80; /* bit 63 of block 2b+1 */
        key[16 * b + 12] ^= 0x04; /* bit 34 of block 2b+1 */
      }
    if (v == 1) /* the family does collide, with this process's seed too */
      ck_assert_uint_eq(evp__hash32_seeded(evp__hash_seed(), key, sizeof key), d.ent[0].hash);
    e = evp__pq_dict_insert(&d, key, sizeof key, &idx);
    inserted += e == EVP_OK;
  }
  ck_assert_int_eq(e, EVP_ERR_TOO_LARGE);
  ck_assert_uint_eq(inserted, EVP__PQ_DICT_MAX_PROBE + 1);
  ck_assert_uint_eq(d.n, inserted); /* the refused one was not added */
  evp__pq_dict_free(&d);
}
END_TEST

/* ------------------------------------------------------------ writer */

static char tmpdir[256];

static void mk_tmpdir(void) { test_tmpdir_make(tmpdir, sizeof tmpdir, "lake_test"); }

static void rm_tmpdir(void) { test_tmpdir_remove(tmpdir); }

static int count_entries(void) { return test_tmpdir_count(tmpdir); }

static const evp__pq_column_t COLS2[] = {
    {"id", EVP__PQ_INT64, 0, 0},
    {"name", EVP__PQ_STRING, 1, 0},
};

static evp__pq_value_t v_i64(int64_t x) {
  evp__pq_value_t v = {0};
  v.v.i64 = x;
  return v;
}
static evp__pq_value_t v_str(const char *s) {
  evp__pq_value_t v = {0};
  v.v.s.ptr = s;
  v.v.s.len = strlen(s);
  return v;
}
static evp__pq_value_t v_null(void) {
  evp__pq_value_t v = {0};
  v.is_null = 1;
  return v;
}

START_TEST(writer_commits_atomically_with_mode_0600) {
  mk_tmpdir();
  evp__pq_writer_t *w;
  char err[256];
  ck_assert_int_eq(
      evp__pq_writer_open(&w, tmpdir, "part-1.parquet", COLS2, 2, NULL, err, sizeof err), EVP_OK);
  char tmp[512], fin[512];
  snprintf(tmp, sizeof tmp, "%s/.part-1.parquet.tmp", tmpdir);
  snprintf(fin, sizeof fin, "%s/part-1.parquet", tmpdir);
  struct stat st;
  ck_assert_int_eq(stat(tmp, &st), 0); /* only the hidden temporary exists */
  ck_assert_int_eq(st.st_mode & 0777, 0600);
  ck_assert_int_ne(stat(fin, &st), 0);
  for (int i = 0; i < 100; i++) {
    evp__pq_value_t row[2] = {v_i64(i), i % 3 ? v_str("x") : v_null()};
    ck_assert_int_eq(evp__pq_writer_append(w, row, err, sizeof err), EVP_OK);
  }
  ck_assert_uint_eq(evp__pq_writer_rows(w), 100);
  /* 100 rows: 8 (id) + 1 (definition level) each, 12 + 1 per "x" */
  ck_assert_uint_eq(evp__pq_writer_buffered_bytes(w), 100 * 9 + 66 * 13);
  ck_assert_uint_eq(evp__pq_writer_file_bytes(w), 4); /* only the magic so far */
  uint64_t size = 0;
  ck_assert_int_eq(evp__pq_writer_close(w, &size, err, sizeof err), EVP_OK);
  ck_assert_int_ne(stat(tmp, &st), 0);
  ck_assert_int_eq(stat(fin, &st), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0600);
  ck_assert_uint_eq((uint64_t)st.st_size, size);
  /* PAR1 ... footer, footer length, PAR1 */
  FILE *f = fopen(fin, "rb");
  ck_assert_ptr_nonnull(f);
  uint8_t *buf = malloc((size_t)st.st_size);
  ck_assert_uint_eq(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
  fclose(f);
  ck_assert_int_eq(memcmp(buf, "PAR1", 4), 0);
  ck_assert_int_eq(memcmp(buf + st.st_size - 4, "PAR1", 4), 0);
  uint32_t flen = (uint32_t)buf[st.st_size - 8] | (uint32_t)buf[st.st_size - 7] << 8 |
                  (uint32_t)buf[st.st_size - 6] << 16 | (uint32_t)buf[st.st_size - 5] << 24;
  ck_assert_uint_lt(flen, (uint32_t)st.st_size - 12);
  /* the footer starts with FileMetaData.version = 2 (field 1, i32) */
  ck_assert_uint_eq(buf[st.st_size - 8 - flen], 0x15);
  ck_assert_uint_eq(buf[st.st_size - 8 - flen + 1], 0x04);
  free(buf);
  /* the name is taken now: a second writer refuses it */
  ck_assert_int_eq(
      evp__pq_writer_open(&w, tmpdir, "part-1.parquet", COLS2, 2, NULL, err, sizeof err),
      EVP_ERR_IO);
  ck_assert_ptr_null(w);
  rm_tmpdir();
}
END_TEST

START_TEST(writer_rejects_bad_schema_and_names) {
  mk_tmpdir();
  evp__pq_writer_t *w = (evp__pq_writer_t *)1;
  char err[256];
  evp__pq_column_t bad[2] = {{"a", EVP__PQ_INT64, 0, 0}, {"a", EVP__PQ_STRING, 0, 0}};
  ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, "f.parquet", bad, 2, NULL, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  ck_assert_ptr_null(w);
  ck_assert_ptr_nonnull(strstr(err, "duplicate"));
  bad[1].name = "";
  ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, "f.parquet", bad, 2, NULL, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  bad[1].name = NULL;
  ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, "f.parquet", bad, 2, NULL, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  bad[1].name = "b";
  bad[1].type = (evp__pq_type_t)42;
  ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, "f.parquet", bad, 2, NULL, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, "f.parquet", bad, 0, NULL, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, "f.parquet", NULL, 1, NULL, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  bad[1].name = "b\xFF";
  bad[1].type = EVP__PQ_STRING;
  ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, "f.parquet", bad, 2, NULL, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, "a/b.parquet", COLS2, 2, NULL, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, ".hidden", COLS2, 2, NULL, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, "", COLS2, 2, NULL, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  evp__pq_options_t o = {0};
  o.page_bytes = 10; /* below 1 KiB */
  ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, "f.parquet", COLS2, 2, &o, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  o.page_bytes = 0;
  o.codec = (evp__pq_codec_t)7;
  ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, "f.parquet", COLS2, 2, &o, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(count_entries(), 0); /* nothing left behind */
  rm_tmpdir();
}
END_TEST

START_TEST(writer_unwritable_or_missing_dir) {
  char err[256];
  evp__pq_writer_t *w;
  ck_assert_int_eq(
      evp__pq_writer_open(&w, "/nonexistent/evp/dir", "f.parquet", COLS2, 2, NULL, err, sizeof err),
      EVP_ERR_IO);
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/evp/dir"));
  if (geteuid() != 0) { /* root ignores directory permissions */
    mk_tmpdir();
    chmod(tmpdir, 0500);
    ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, "f.parquet", COLS2, 2, NULL, err, sizeof err),
                     EVP_ERR_IO);
    chmod(tmpdir, 0700);
    rm_tmpdir();
  }
}
END_TEST

START_TEST(writer_rejects_bad_rows_and_stays_usable) {
  mk_tmpdir();
  char err[256];
  evp__pq_writer_t *w;
  evp__pq_options_t o = {0};
  o.max_value_bytes = 16;
  o.no_fsync = 1;
  evp__pq_column_t cols[3] = {
      {"id", EVP__PQ_INT64, 0, 0}, {"name", EVP__PQ_STRING, 1, 0}, {"ok", EVP__PQ_BOOLEAN, 1, 0}};
  ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, "f.parquet", cols, 3, &o, err, sizeof err),
                   EVP_OK);
  evp__pq_value_t row[3] = {v_null(), v_str("a"), v_null()};
  ck_assert_int_eq(evp__pq_writer_append(w, row, err, sizeof err), EVP_ERR_INVALID_ARG);
  ck_assert_ptr_nonnull(strstr(err, "required column 'id'"));
  row[0] = v_i64(1);
  row[1] = v_str("this string is longer than 16");
  ck_assert_int_eq(evp__pq_writer_append(w, row, err, sizeof err), EVP_ERR_TOO_LARGE);
  row[1] = v_str("bad \xC3");
  ck_assert_int_eq(evp__pq_writer_append(w, row, err, sizeof err), EVP_ERR_INVALID_ARG);
  row[1] = v_str("ok");
  row[2].is_null = 0;
  row[2].v.b = 2;
  ck_assert_int_eq(evp__pq_writer_append(w, row, err, sizeof err), EVP_ERR_INVALID_ARG);
  row[2].v.b = 1;
  ck_assert_int_eq(evp__pq_writer_append(w, row, err, sizeof err), EVP_OK);
  ck_assert_uint_eq(evp__pq_writer_rows(w), 1); /* only the good row */
  ck_assert_int_eq(evp__pq_writer_append(w, NULL, err, sizeof err), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__pq_writer_close(w, NULL, err, sizeof err), EVP_OK);
  rm_tmpdir();
}
END_TEST

START_TEST(writer_abort_leaves_nothing) {
  mk_tmpdir();
  char err[256];
  evp__pq_writer_t *w;
  ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, "f.parquet", COLS2, 2, NULL, err, sizeof err),
                   EVP_OK);
  evp__pq_value_t row[2] = {v_i64(1), v_str("x")};
  ck_assert_int_eq(evp__pq_writer_append(w, row, err, sizeof err), EVP_OK);
  evp__pq_writer_abort(w);
  evp__pq_writer_abort(NULL);
  ck_assert_int_eq(count_entries(), 0);
  rm_tmpdir();
}
END_TEST

/* Disk full, simulated with RLIMIT_FSIZE: writes past the limit fail with
 * EFBIG (SIGXFSZ ignored), exactly like ENOSPC from the writer's view. */
START_TEST(writer_disk_full_fails_cleanly) {
  mk_tmpdir();
  char err[256];
  evp__pq_writer_t *w;
  evp__pq_options_t o = {0};
  o.row_group_rows = 1000;
  o.no_fsync = 1;
  ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, "f.parquet", COLS2, 2, &o, err, sizeof err),
                   EVP_OK);
  struct rlimit old, lim;
  ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
  lim = old;
  lim.rlim_cur = 64 * 1024;
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  /* No ck_assert until the limit is lifted: the limit binds the whole
   * process, Check's own message file included. */
  int lim_rc = setrlimit(RLIMIT_FSIZE, &lim);
  evp_err_t e = lim_rc == 0 ? EVP_OK : EVP_ERR_INTERNAL;
  char val[200];
  uint64_t s = 7;
  int i;
  for (i = 0; i < 100000 && e == EVP_OK; i++) {
    for (size_t k = 0; k + 1 < sizeof val; k++) val[k] = (char)('a' + evp__gen_next(&s) % 26);
    val[sizeof val - 1] = 0;
    evp__pq_value_t row[2] = {v_i64(i), v_str(val)};
    e = evp__pq_writer_append(w, row, err, sizeof err);
  }
  evp__pq_value_t row[2] = {v_i64(1), v_str("x")};
  evp_err_t after = evp__pq_writer_append(w, row, err, sizeof err);
  evp_err_t closed = evp__pq_writer_finish(w, NULL, err, sizeof err);
  int restore_rc = setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, prev);
  ck_assert_int_eq(lim_rc, 0);
  ck_assert_int_eq(restore_rc, 0);
  ck_assert_int_eq(e, EVP_ERR_IO);
  ck_assert_int_lt(i, 100000);
  ck_assert_int_eq(after, EVP_ERR_STATE);
  ck_assert_int_ne(closed, EVP_OK);
  ck_assert_int_eq(count_entries(), 0); /* temporary removed, no final file */
  /* the failed writer is reusable once the disk has room again */
  ck_assert_int_eq(evp__pq_writer_reopen(w, tmpdir, "g.parquet", err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp__pq_writer_append(w, row, err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp__pq_writer_finish(w, NULL, err, sizeof err), EVP_OK);
  evp__pq_writer_free(w);
  ck_assert_int_eq(count_entries(), 1);
  rm_tmpdir();
}
END_TEST

/* A writer reused file after file (the batcher's) must write exactly the
 * bytes a fresh writer writes, whatever the earlier files left in its
 * buffers and dictionaries, a discarded file and a failed one included. */
static void put_rows(evp__pq_writer_t *w, int n, int salt, int strlen_) {
  char err[256], val[300];
  uint64_t s = (uint64_t)salt * 7919 + 1;
  for (int i = 0; i < n; i++) {
    int k = strlen_ > 0 ? strlen_ : 1 + (int)(evp__gen_next(&s) % 40);
    for (int j = 0; j < k; j++) val[j] = (char)('a' + (salt + (i % 50) + j) % 26);
    val[k] = 0;
    evp__pq_value_t row[2] = {v_i64((int64_t)i * salt - 3), (i + salt) % 7 ? v_str(val) : v_null()};
    ck_assert_int_eq(evp__pq_writer_append(w, row, err, sizeof err), EVP_OK);
  }
}

static uint8_t *slurp(const char *name, size_t *len) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", tmpdir, name);
  FILE *f = fopen(p, "rb");
  ck_assert_msg(f != NULL, "%s missing", p);
  uint8_t *b = malloc(1 << 22);
  *len = fread(b, 1, 1 << 22, f);
  fclose(f);
  return b;
}

START_TEST(reused_writer_writes_what_a_fresh_one_writes) {
  mk_tmpdir();
  char err[256];
  evp__pq_options_t o = {0};
  o.row_group_rows = 700; /* several row groups per file */
  o.no_fsync = 1;
  evp__pq_writer_t *w;
  ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, "fresh.parquet", COLS2, 2, &o, err, sizeof err),
                   EVP_OK);
  put_rows(w, 2000, 3, 0);
  ck_assert_int_eq(evp__pq_writer_close(w, NULL, err, sizeof err), EVP_OK);

  evp__pq_writer_t *r;
  ck_assert_int_eq(evp__pq_writer_open(&r, tmpdir, "big.parquet", COLS2, 2, &o, err, sizeof err),
                   EVP_OK);
  ck_assert_int_eq(evp__pq_writer_reopen(r, tmpdir, "x.parquet", err, sizeof err), EVP_ERR_STATE);
  put_rows(r, 5000, 11, 250); /* long values: buffers grow past what "fresh" needs */
  uint64_t size = 0;
  ck_assert_int_eq(evp__pq_writer_finish(r, &size, err, sizeof err), EVP_OK);
  ck_assert_uint_gt(size, 0);
  evp__pq_value_t row[2] = {v_i64(1), v_str("x")};
  ck_assert_int_eq(evp__pq_writer_append(r, row, err, sizeof err), EVP_ERR_STATE);
  ck_assert_int_eq(evp__pq_writer_finish(r, NULL, err, sizeof err), EVP_ERR_STATE);
  /* a discarded file leaves nothing, and its rows do not leak into the next */
  ck_assert_int_eq(evp__pq_writer_reopen(r, tmpdir, "dropped.parquet", err, sizeof err), EVP_OK);
  put_rows(r, 900, 5, 0);
  evp__pq_writer_discard(r);
  /* a name that exists is refused; the writer stays reusable */
  ck_assert_int_eq(evp__pq_writer_reopen(r, tmpdir, "big.parquet", err, sizeof err), EVP_ERR_IO);
  ck_assert_int_eq(evp__pq_writer_reopen(r, tmpdir, "reused.parquet", err, sizeof err), EVP_OK);
  put_rows(r, 2000, 3, 0);
  ck_assert_uint_eq(evp__pq_writer_rows(r), 2000);
  ck_assert_int_eq(evp__pq_writer_finish(r, NULL, err, sizeof err), EVP_OK);
  size_t la, lb;
  uint8_t *a = slurp("fresh.parquet", &la), *b = slurp("reused.parquet", &lb);
  ck_assert_uint_eq(la, lb);
  ck_assert_int_eq(memcmp(a, b, la), 0);
  free(a);
  free(b);
  ck_assert_int_eq(count_entries(), 3); /* fresh, big, reused */
  /* free with a file open discards it */
  ck_assert_int_eq(evp__pq_writer_reopen(r, tmpdir, "open.parquet", err, sizeof err), EVP_OK);
  put_rows(r, 10, 2, 0);
  evp__pq_writer_free(r);
  ck_assert_int_eq(count_entries(), 3);
  rm_tmpdir();
}
END_TEST

START_TEST(partition_dir_and_mkdirs) {
  char out[256], err[256];
  ck_assert_int_eq(evp__lake_partition_dir(out, sizeof out, "/data", "events", 0, err, sizeof err),
                   EVP_OK);
  ck_assert_str_eq(out, "/data/events/dt=1970-01-01/hour=00");
  /* 1732540000.123456 s = 2024-11-25 13:06:40 UTC */
  ck_assert_int_eq(
      evp__lake_partition_dir(out, sizeof out, "d", "events", 1732540000123456LL, err, sizeof err),
      EVP_OK);
  ck_assert_str_eq(out, "d/events/dt=2024-11-25/hour=13");
  /* one microsecond before the epoch is the previous day's last hour */
  ck_assert_int_eq(evp__lake_partition_dir(out, sizeof out, "d", "events", -1, err, sizeof err),
                   EVP_OK);
  ck_assert_str_eq(out, "d/events/dt=1969-12-31/hour=23");
  ck_assert_int_eq(evp__lake_partition_dir(out, 10, "d", "events", 0, err, sizeof err),
                   EVP_ERR_TOO_LARGE);
  ck_assert_int_eq(evp__lake_partition_dir(out, sizeof out, "d", "a/b", 0, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(
      evp__lake_partition_dir(out, sizeof out, "d", "events", INT64_MAX, err, sizeof err),
      EVP_ERR_INVALID_ARG);

  mk_tmpdir();
  char p[512];
  snprintf(p, sizeof p, "%s/events/dt=2024-11-25/hour=13", tmpdir);
  ck_assert_int_eq(evp__mkdirs(p, err, sizeof err), EVP_OK);
  struct stat st;
  ck_assert_int_eq(stat(p, &st), 0);
  ck_assert(S_ISDIR(st.st_mode));
  ck_assert_int_eq(st.st_mode & 0777, 0700);
  ck_assert_int_eq(evp__mkdirs(p, err, sizeof err), EVP_OK); /* exists: fine */
  /* a file written into it with the writer */
  evp__pq_writer_t *w;
  ck_assert_int_eq(evp__pq_writer_open(&w, p, "part-0.parquet", COLS2, 2, NULL, err, sizeof err),
                   EVP_OK);
  ck_assert_int_eq(evp__pq_writer_close(w, NULL, err, sizeof err), EVP_OK);
  char f[600];
  snprintf(f, sizeof f, "%s/part-0.parquet", p);
  ck_assert_int_eq(stat(f, &st), 0);
  /* a regular file in the way */
  snprintf(f, sizeof f, "%s/file", tmpdir);
  FILE *fp = fopen(f, "w");
  ck_assert_ptr_nonnull(fp);
  fclose(fp);
  snprintf(p, sizeof p, "%s/file/sub", tmpdir);
  ck_assert_int_eq(evp__mkdirs(p, err, sizeof err), EVP_ERR_IO);
  ck_assert_int_eq(evp__mkdirs("", err, sizeof err), EVP_ERR_INVALID_ARG);
  /* clean up the nested tree */
  snprintf(p, sizeof p, "%s/events/dt=2024-11-25/hour=13/part-0.parquet", tmpdir);
  unlink(p);
  snprintf(p, sizeof p, "%s/events/dt=2024-11-25/hour=13", tmpdir);
  rmdir(p);
  snprintf(p, sizeof p, "%s/events/dt=2024-11-25", tmpdir);
  rmdir(p);
  snprintf(p, sizeof p, "%s/events", tmpdir);
  rmdir(p);
  rm_tmpdir();
}
END_TEST

START_TEST(writer_append_rows_reports_progress) {
  mk_tmpdir();
  char err[256];
  evp__pq_writer_t *w;
  ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, "f.parquet", COLS2, 2, NULL, err, sizeof err),
                   EVP_OK);
  evp__pq_value_t rows[4 * 2] = {v_i64(1), v_str("a"), v_i64(2),
                                 v_null(), v_null(),   v_str("bad: id is required"),
                                 v_i64(4), v_str("d")};
  size_t done = 99;
  ck_assert_int_eq(evp__pq_writer_append_rows(w, rows, 2, &done, err, sizeof err), EVP_OK);
  ck_assert_uint_eq(done, 2);
  ck_assert_int_eq(evp__pq_writer_append_rows(w, rows + 4, 2, &done, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  ck_assert_uint_eq(done, 0); /* the first of the two rows failed */
  ck_assert_int_eq(evp__pq_writer_append_rows(w, rows + 6, 1, &done, err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp__pq_writer_append_rows(w, NULL, 1, &done, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  ck_assert_uint_eq(evp__pq_writer_rows(w), 3);
  ck_assert_int_eq(evp__pq_writer_close(w, NULL, err, sizeof err), EVP_OK);
  rm_tmpdir();
}
END_TEST

/* Writers share no state: two threads writing their own files (TSan). */
struct thr_arg {
  int id;
  evp_err_t rc;
};

static void *thr_write(void *p) {
  struct thr_arg *a = p;
  char err[256], name[64];
  snprintf(name, sizeof name, "part-%d.parquet", a->id);
  evp__pq_writer_t *w;
  evp__pq_options_t o = {0};
  o.row_group_rows = 500;
  o.no_fsync = 1;
  a->rc = evp__pq_writer_open(&w, tmpdir, name, COLS2, 2, &o, err, sizeof err);
  for (int i = 0; a->rc == EVP_OK && i < 3000; i++) {
    char s[32];
    snprintf(s, sizeof s, "t%d-%d", a->id, i % 37);
    evp__pq_value_t row[2] = {v_i64(i), v_str(s)};
    a->rc = evp__pq_writer_append(w, row, err, sizeof err);
  }
  if (a->rc == EVP_OK) a->rc = evp__pq_writer_close(w, NULL, err, sizeof err);
  return NULL;
}

START_TEST(writers_in_parallel_threads) {
  mk_tmpdir();
  pthread_t t[2];
  struct thr_arg a[2] = {{1, EVP_ERR_INTERNAL}, {2, EVP_ERR_INTERNAL}};
  for (int i = 0; i < 2; i++) ck_assert_int_eq(pthread_create(&t[i], NULL, thr_write, &a[i]), 0);
  for (int i = 0; i < 2; i++) ck_assert_int_eq(pthread_join(t[i], NULL), 0);
  ck_assert_int_eq(a[0].rc, EVP_OK);
  ck_assert_int_eq(a[1].rc, EVP_OK);
  ck_assert_int_eq(count_entries(), 2);
  rm_tmpdir();
}
END_TEST

START_TEST(generator_writes_all_datasets) {
  /* The same generator the reader script uses; here it must at least succeed
   * and produce every file (the script checks the contents). */
  mk_tmpdir();
  char err[256] = "";
  ck_assert_msg(evp__gen_all(tmpdir, 1, err, sizeof err) == EVP_OK, "%s", err);
  char p[512];
  struct stat st;
  for (size_t i = 0; i < evp__gen_count(); i++) {
    snprintf(p, sizeof p, "%s/%s.parquet", tmpdir, evp__gen_name(i));
    ck_assert_msg(stat(p, &st) == 0, "%s missing", p);
    snprintf(p, sizeof p, "%s/%s.ndjson", tmpdir, evp__gen_name(i));
    ck_assert_msg(stat(p, &st) == 0, "%s missing", p);
  }
  snprintf(p, sizeof p, "%s/manifest.json", tmpdir);
  ck_assert_int_eq(stat(p, &st), 0);
  rm_tmpdir();
}
END_TEST

/* Every data page's ColumnIndex bounds and every chunk's string statistics
 * against a byte loop over the values appended: a dictionary column whose
 * values repeat across pages (each compared once a page), runs of nulls
 * (null-only pages), a dictionary that falls back to plain values mid-chunk,
 * and a near-unique column (chunk statistics taken from its pages). */
#define PB_ROWS 60000
static char pb_vals[PB_ROWS][24];
static int pb_null[PB_ROWS];

static int pb_less(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), n = la < lb ? la : lb;
  int r = memcmp(a, b, n);
  return r < 0 || (r == 0 && la < lb);
}

static int pb_is(const uint8_t *p, uint32_t len, const char *want) {
  return len == strlen(want) && memcmp(p, want, len) == 0;
}

static void pb_check(const evp__pq_writer_t *w, const char *mode) {
  size_t row0 = 0;
  ck_assert_uint_ge(w->nrgs, 3);
  for (size_t g = 0; g < w->nrgs; g++) {
    const evp__pq_chunk_meta_t *m = &w->rgs[g].cols[0];
    const char *cmin = NULL, *cmax = NULL;
    ck_assert_uint_ge(m->npages, 4);
    ck_assert(!m->no_column_index);
    for (size_t p = 0; p < m->npages; p++) {
      const evp__pq_page_meta_t *pg = &m->pages[p];
      size_t r1 =
          p + 1 < m->npages ? (size_t)m->pages[p + 1].first_row : (size_t)w->rgs[g].num_rows;
      const char *mn = NULL, *mx = NULL;
      for (size_t r = row0 + (size_t)pg->first_row; r < row0 + r1; r++) {
        if (pb_null[r]) continue;
        if (!mn || pb_less(pb_vals[r], mn)) mn = pb_vals[r];
        if (!mx || pb_less(mx, pb_vals[r])) mx = pb_vals[r];
      }
      ck_assert_msg(!mn == !!pg->all_null, "%s: rg %zu page %zu all_null %d", mode, g, p,
                    pg->all_null);
      if (!mn) continue;
      ck_assert_msg(pb_is(pg->min, pg->min_len, mn) && pb_is(pg->max, pg->max_len, mx),
                    "%s: rg %zu page %zu bounds %.*s..%.*s, want %s..%s", mode, g, p,
                    (int)pg->min_len, pg->min, (int)pg->max_len, pg->max, mn, mx);
      if (!cmin || pb_less(mn, cmin)) cmin = mn;
      if (!cmax || pb_less(cmax, mx)) cmax = mx;
    }
    ck_assert_msg(cmin && m->has_minmax && pb_is(m->min, m->min_len, cmin) &&
                      pb_is(m->max, m->max_len, cmax),
                  "%s: rg %zu statistics %.*s..%.*s, want %s..%s", mode, g, (int)m->min_len, m->min,
                  (int)m->max_len, m->max, cmin ? cmin : "-", cmax ? cmax : "-");
    row0 += (size_t)w->rgs[g].num_rows;
  }
}

START_TEST(page_bounds_and_statistics_match_the_values) {
  for (int mode = 0; mode < 3; mode++) {
    for (size_t r = 0; r < PB_ROWS; r++) {
      pb_null[r] = (r / 700) % 5 == 3;
      if (mode == 0) /* few values, repeating in every page */
        snprintf(pb_vals[r], sizeof pb_vals[r], "v%03zu", (r * 7919) % 97);
      else if (mode == 1 && r % 20000 < 5000) /* then more than dict_max_entries */
        snprintf(pb_vals[r], sizeof pb_vals[r], "v%03zu", r % 10);
      else
        snprintf(pb_vals[r], sizeof pb_vals[r], "u%08zu", (r * 2654435761u) % 100000000u);
    }
    evp__pq_column_t col = {"s", EVP__PQ_STRING, 1, 0};
    evp__pq_options_t o = {0};
    o.codec = EVP__PQ_UNCOMPRESSED;
    o.page_bytes = 1024;
    o.row_group_rows = mode == 0 ? 10000 : mode == 1 ? 20000 : 15000;
    o.no_fsync = 1;
    if (mode == 1) o.dict_max_entries = 3000;
    evp__pq_writer_t *w;
    char err[256];
    mk_tmpdir();
    ck_assert_int_eq(evp__pq_writer_open(&w, tmpdir, "pb.parquet", &col, 1, &o, err, sizeof err),
                     EVP_OK);
    for (size_t r = 0; r < PB_ROWS; r++) {
      evp__pq_value_t v = {0};
      v.is_null = pb_null[r];
      v.v.s.ptr = pb_vals[r];
      v.v.s.len = strlen(pb_vals[r]);
      ck_assert_int_eq(evp__pq_writer_append(w, &v, err, sizeof err), EVP_OK);
    }
    /* the row groups are full, so all were written: check before the close frees them */
    pb_check(w, mode == 0 ? "repeating" : mode == 1 ? "fallback" : "near-unique");
    evp__pq_writer_abort(w);
    rm_tmpdir();
  }
}
END_TEST

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "--gen") == 0) {
    /* test_lake --gen DIR [SEED]: write the reader-check datasets */
    char err[512] = "";
    uint64_t seed = argc >= 4 ? strtoull(argv[3], NULL, 10) : 1;
    evp_err_t e = evp__gen_all(argv[2], seed, err, sizeof err);
    if (e != EVP_OK) {
      fprintf(stderr, "test_lake --gen: %s\n", err);
      return 1;
    }
    return 0;
  }
  Suite *s = suite_create("lake");
  TCase *tc = tcase_create("encoding");
  tcase_add_test(tc, thrift_struct_fields_hand_vectors);
  tcase_add_test(tc, thrift_decreasing_ids_long_lists_and_extremes);
  tcase_add_test(tc, thrift_misuse_is_reported);
  tcase_add_test(tc, rle_hand_vectors);
  tcase_add_test(tc, rle_round_trips_random_sequences);
  tcase_add_test(tc, plain_bool_and_bit_width);
  tcase_add_test(tc, utf8_validation);
  tcase_add_test(tc, string_order_is_memcmp_order);
  tcase_add_test(tc, integer_dictionary_dedups_in_order);
  tcase_add_test(tc, integer_dictionary_spreads_high_bit_keys);
  tcase_add_test(tc, dictionaries_spread_keys_crafted_for_a_fixed_seed);
  tcase_add_test(tc, dictionary_gives_up_on_values_colliding_for_every_seed);
  tcase_add_test(tc, dictionary_dedups_in_order);
  suite_add_tcase(s, tc);
  TCase *tw = tcase_create("writer");
  tcase_set_timeout(tw, 120);
  tcase_add_test(tw, writer_commits_atomically_with_mode_0600);
  tcase_add_test(tw, writer_rejects_bad_schema_and_names);
  tcase_add_test(tw, writer_unwritable_or_missing_dir);
  tcase_add_test(tw, writer_rejects_bad_rows_and_stays_usable);
  tcase_add_test(tw, writer_abort_leaves_nothing);
  tcase_add_test(tw, writer_disk_full_fails_cleanly);
  tcase_add_test(tw, reused_writer_writes_what_a_fresh_one_writes);
  tcase_add_test(tw, partition_dir_and_mkdirs);
  tcase_add_test(tw, writer_append_rows_reports_progress);
  tcase_add_test(tw, writers_in_parallel_threads);
  tcase_add_test(tw, generator_writes_all_datasets);
  tcase_add_test(tw, page_bounds_and_statistics_match_the_values);
  suite_add_tcase(s, tw);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
