/* The local pipeline's durable log (src/wal/wal*.c): round trip, recovery
 * from torn and corrupted tails, group commit under many threads, checkpoint
 * and segment deletion, limits and error paths. */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "wal/wal.h"
#include "wal/wal_read.h"
#include "wal/wal_int.h"
#include "tmpdir.h"

static char tmpdir[256];
static char waldir[300];

static void mk_tmpdir(void) {
  test_tmpdir_make(tmpdir, sizeof tmpdir, "wal_test");
  snprintf(waldir, sizeof waldir, "%s/wal", tmpdir);
}

static void rm_tmpdir(void) { test_tmpdir_remove(tmpdir); }

static void seg_path(char *out, size_t n, uint64_t base) {
  snprintf(out, n, "%s/" EVP__WAL_SEG_FMT, waldir, (unsigned long long)base);
}

static evp__wal_t *open_wal(evp__fsync_policy_t pol, size_t seg_bytes) {
  evp__wal_opts_t o = {0};
  o.fsync = pol;
  o.segment_bytes = seg_bytes;
  o.retain_bytes = 1; /* delete committed segments at once (retention has its own test) */
  evp__wal_t *w = NULL;
  char err[512] = "";
  evp_err_t e = evp__wal_open(waldir, &o, &w, err, sizeof err);
  ck_assert_msg(e == EVP_OK, "open: %s", err);
  return w;
}

/* Append record k: (k % 4) events "{\"k\":K,\"i\":I}", client "c<k>", time k. */
static void append_k(evp__wal_t *w, int k) {
  char buf[4][64];
  const char *ev[4];
  size_t len[4];
  size_t n = (size_t)(k % 4);
  for (size_t i = 0; i < n; i++) {
    snprintf(buf[i], sizeof buf[i], "{\"k\":%d,\"i\":%zu}", k, i);
    ev[i] = buf[i];
    len[i] = strlen(buf[i]);
  }
  char cid[32];
  snprintf(cid, sizeof cid, "c%d", k);
  char err[256];
  evp_err_t e = evp__wal_append(w, cid, (int64_t)k * 1000003, ev, len, n, err, sizeof err);
  ck_assert_msg(e == EVP_OK, "append %d: %s", k, err);
}

static void check_k(const evp__wal_record_t *r, int k) {
  char cid[32];
  snprintf(cid, sizeof cid, "c%d", k);
  ck_assert_uint_eq(r->client_id_len, strlen(cid));
  ck_assert(memcmp(r->client_id, cid, r->client_id_len) == 0);
  ck_assert_int_eq(r->received_at_us, (int64_t)k * 1000003);
  ck_assert_uint_eq(r->nevents, (unsigned)(k % 4));
  size_t cur = 0, i = 0;
  const char *ev;
  size_t len;
  while (evp__wal_record_next_event(r, &cur, &ev, &len)) {
    char want[64];
    snprintf(want, sizeof want, "{\"k\":%d,\"i\":%zu}", k, i);
    ck_assert_uint_eq(len, strlen(want));
    ck_assert(memcmp(ev, want, len) == 0);
    i++;
  }
  ck_assert_uint_eq(i, (unsigned)(k % 4));
}

/* Read everything from @p from; check it is records first..first+count-1. */
static uint64_t read_expect(evp__wal_t *w, uint64_t from, int first, int count) {
  evp__wal_reader_t *r;
  char err[256];
  ck_assert_int_eq(evp__wal_reader_open(w, from, &r, err, sizeof err), EVP_OK);
  evp__wal_record_t rec;
  int got, k = first;
  uint64_t last_end = from;
  for (;;) {
    evp_err_t e = evp__wal_reader_next(r, &rec, &got, err, sizeof err);
    ck_assert_msg(e == EVP_OK, "read: %s", err);
    if (!got) break;
    ck_assert_int_lt(k, first + count);
    check_k(&rec, k);
    ck_assert_uint_ge(rec.offset, last_end);
    last_end = rec.end;
    k++;
  }
  ck_assert_int_eq(k, first + count);
  evp__wal_reader_close(r);
  return last_end;
}

static uint64_t events_in(int first, int count) {
  uint64_t n = 0;
  for (int k = first; k < first + count; k++) n += (uint64_t)(k % 4);
  return n;
}

START_TEST(round_trip_and_modes) {
  mk_tmpdir();
  evp__wal_t *w = open_wal(EVP__FSYNC_ALWAYS, 0);
  for (int k = 0; k < 20; k++) append_k(w, k);
  ck_assert_uint_eq(evp__wal_pending_events(w), events_in(0, 20));
  read_expect(w, 0, 0, 20); /* visible to a reader before close */
  evp__wal_close(w);
  struct stat st;
  ck_assert_int_eq(stat(waldir, &st), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0700);
  char p[512];
  seg_path(p, sizeof p, 0);
  ck_assert_int_eq(stat(p, &st), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0600);

  w = open_wal(EVP__FSYNC_ALWAYS, 0);
  evp__wal_stats_t s;
  evp__wal_get_stats(w, &s);
  ck_assert_uint_eq(s.recovered_records, 20);
  ck_assert_uint_eq(s.truncated_bytes, 0);
  ck_assert_uint_eq(evp__wal_pending_events(w), events_in(0, 20));
  append_k(w, 20);
  read_expect(w, 0, 0, 21);
  evp__wal_close(w);
  evp__wal_close(NULL);
  rm_tmpdir();
}
END_TEST

static uint64_t file_size(const char *p) {
  struct stat st;
  ck_assert_int_eq(stat(p, &st), 0);
  return (uint64_t)st.st_size;
}

/* Write @p n bytes of @p b to @p p with fopen mode @p mode. */
static void spit(const char *p, const unsigned char *b, uint64_t n, const char *mode) {
  FILE *f = fopen(p, mode);
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(b, 1, n, f), n);
  fclose(f);
}

/* The whole file @p p (caller frees). */
static unsigned char *slurp(const char *p, uint64_t *total) {
  *total = file_size(p);
  unsigned char *b = malloc(*total ? *total : 1);
  ck_assert_ptr_nonnull(b);
  FILE *f = fopen(p, "rb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fread(b, 1, *total, f), *total);
  fclose(f);
  return b;
}

/* Cut the segment at every length inside the last record: the first records
 * survive, the torn one is gone, and appending continues cleanly. */
START_TEST(torn_tail_is_truncated) {
  mk_tmpdir();
  evp__wal_t *w = open_wal(EVP__FSYNC_NEVER, 0);
  for (int k = 0; k < 5; k++) append_k(w, k);
  uint64_t end4 = read_expect(w, 0, 0, 5);
  evp__wal_close(w);
  char p[512];
  seg_path(p, sizeof p, 0);
  /* offset of record 4 = end of record 3 */
  w = open_wal(EVP__FSYNC_NEVER, 0);
  evp__wal_reader_t *r;
  char err[256];
  ck_assert_int_eq(evp__wal_reader_open(w, 0, &r, err, sizeof err), EVP_OK);
  evp__wal_record_t rec;
  int got;
  uint64_t start4 = 0;
  for (int k = 0; k < 5; k++) {
    ck_assert_int_eq(evp__wal_reader_next(r, &rec, &got, err, sizeof err), EVP_OK);
    start4 = rec.offset;
  }
  evp__wal_reader_close(r);
  evp__wal_close(w);
  unsigned char *copy = malloc(end4);
  ck_assert_ptr_nonnull(copy);
  FILE *f = fopen(p, "rb");
  ck_assert_uint_eq(fread(copy, 1, end4, f), end4);
  fclose(f);
  for (uint64_t cut = start4 + 1; cut < end4; cut += 3) {
    spit(p, copy, cut, "wb");
    w = open_wal(EVP__FSYNC_NEVER, 0);
    evp__wal_stats_t s;
    evp__wal_get_stats(w, &s);
    ck_assert_uint_eq(s.recovered_records, 4);
    ck_assert_uint_eq(s.truncated_bytes, cut - start4);
    ck_assert_uint_eq(evp__wal_pending_events(w), events_in(0, 4));
    append_k(w, 4); /* lands where the torn record was */
    read_expect(w, 0, 0, 5);
    evp__wal_close(w);
  }
  /* Zeros after the last record (a filesystem that extended the file but
   * never wrote the data, or the preallocated tail of a mapped segment) are
   * cut too, counted as unused space rather than a torn record. */
  f = fopen(p, "ab");
  char zeros[100] = {0};
  ck_assert_uint_eq(fwrite(zeros, 1, sizeof zeros, f), sizeof zeros);
  fclose(f);
  w = open_wal(EVP__FSYNC_NEVER, 0);
  evp__wal_stats_t s;
  evp__wal_get_stats(w, &s);
  ck_assert_uint_eq(s.truncated_bytes, 0);
  ck_assert_uint_eq(s.unused_bytes, sizeof zeros);
  read_expect(w, 0, 0, 5);
  evp__wal_close(w);
  free(copy);
  rm_tmpdir();
}
END_TEST

static void flip_bit(const char *p, uint64_t off, int bit) {
  int fd = open(p, O_RDWR);
  ck_assert_int_ge(fd, 0);
  unsigned char c;
  ck_assert_int_eq(pread(fd, &c, 1, (off_t)off), 1);
  c ^= (unsigned char)(1u << bit);
  ck_assert_int_eq(pwrite(fd, &c, 1, (off_t)off), 1);
  close(fd);
}

/* A fresh log (fsync never) in a new directory holding records 0..n-1 in
 * segment 0, whose path goes to @p p; left open. */
static evp__wal_t *log_with(int n, char *p, size_t cap) {
  mk_tmpdir();
  seg_path(p, cap, 0);
  evp__wal_t *w = open_wal(EVP__FSYNC_NEVER, 0);
  for (int k = 0; k < n; k++) append_k(w, k);
  return w;
}

/* A flipped bit anywhere in record 6 (header or payload) loses record 6
 * only: recovery resynchronises at record 7, whose offset is unchanged, and
 * nothing is cut. */
START_TEST(flipped_bit_loses_only_that_record) {
  char p[512];
  evp__wal_t *w = log_with(6, p, sizeof p);
  uint64_t start6 = evp__wal_end(w);
  for (int k = 6; k < 10; k++) append_k(w, k);
  evp__wal_close(w);
  uint64_t total;
  unsigned char *orig = slurp(p, &total);
  FILE *f;
  uint64_t rec6_len = 0;
  {
    uint32_t len;
    ck_assert_int_eq(evp__wal_header_check(orig + start6, &len), 0);
    rec6_len = EVP__WAL_HDR + len;
  }
  for (uint64_t off = start6; off < start6 + rec6_len; off++) {
    f = fopen(p, "wb");
    ck_assert_uint_eq(fwrite(orig, 1, total, f), total);
    fclose(f);
    flip_bit(p, off, (int)(off % 8));
    w = open_wal(EVP__FSYNC_NEVER, 0);
    evp__wal_stats_t s;
    evp__wal_get_stats(w, &s);
    ck_assert_msg(s.recovered_records == 9, "flip at %llu: %llu records", (unsigned long long)off,
                  (unsigned long long)s.recovered_records);
    ck_assert_uint_eq(s.truncated_bytes, 0);
    ck_assert_uint_eq(evp__wal_end(w), total);
    evp__wal_reader_t *r;
    char err[256];
    ck_assert_int_eq(evp__wal_reader_open(w, 0, &r, err, sizeof err), EVP_OK);
    evp__wal_record_t rec;
    int got, k = 0;
    while (evp__wal_reader_next(r, &rec, &got, err, sizeof err) == EVP_OK && got) {
      if (k == 6) {
        ck_assert_uint_eq(rec.offset, start6 + rec6_len); /* record 7, where it was */
        k++;
      }
      check_k(&rec, k++);
    }
    ck_assert_int_eq(k, 10);
    evp__wal_reader_close(r);
    evp__wal_close(w);
  }
  free(orig);
  rm_tmpdir();
}
END_TEST

/* CRC-32C: published check values, the portable path equal to the one in
 * use at every length and alignment, and chaining. */
START_TEST(crc32c_values) {
  ck_assert_uint_eq(evp__crc32c(0, (const unsigned char *)"123456789", 9), 0xE3069283u);
  ck_assert_uint_eq(evp__crc32c_sw(0, (const unsigned char *)"123456789", 9), 0xE3069283u);
  unsigned char z[32] = {0}, b[600];
  ck_assert_uint_eq(evp__crc32c(0, z, 32), 0x8A9136AAu); /* RFC 3720 B.4 */
  memset(z, 0xff, sizeof z);
  ck_assert_uint_eq(evp__crc32c(0, z, 32), 0x62A8AB43u);
  uint32_t x = 12345;
  for (size_t i = 0; i < sizeof b; i++)
    b[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 16);
  for (size_t off = 0; off < 8; off++)
    for (size_t n = 0; n + off <= 520; n += 7) {
      uint32_t c = evp__crc32c(0, b + off, n);
      ck_assert_uint_eq(c, evp__crc32c_sw(0, b + off, n));
      size_t h = n / 3;
      ck_assert_uint_eq(evp__crc32c(evp__crc32c(0, b + off, h), b + off + h, n - h), c);
    }
#if defined(__x86_64__) && defined(__linux__) && !defined(EVP_NO_SIMD)
  /* The SSE4.2 path is the one in use exactly when the CPU has it (the
   * kernel's flags say), so the comparisons above compared two paths. */
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[4096];
    int sse42 = 0;
    while (!sse42 && fgets(line, sizeof line, f))
      sse42 = strncmp(line, "flags", 5) == 0 && strstr(line, " sse4_2") != NULL;
    fclose(f);
    ck_assert_int_eq(evp__crc32c_hw_available(), sse42);
  }
#endif
}
END_TEST

/* Logs written by earlier releases (version 1 records, zlib CRC-32) are
 * still recovered and read; new records are version 2 after them. */
START_TEST(version_1_records_are_still_read) {
  char p[512];
  evp__wal_t *w = log_with(6, p, sizeof p);
  evp__wal_close(w);
  uint64_t total;
  unsigned char *b = slurp(p, &total);
  int n = 0;
  for (uint64_t off = 0; off < total; n++) {
    uint32_t len;
    ck_assert_int_eq(evp__wal_header_check(b + off, &len), 0);
    ck_assert_uint_eq(b[off + 4], 2);
    b[off + 4] = 1;
    uLong c = crc32(crc32(0L, Z_NULL, 0), b + off + 4, 8);
    c = crc32(c, b + off + EVP__WAL_HDR, len);
    for (int i = 0; i < 4; i++) b[off + 12 + i] = (unsigned char)(c >> (8 * i));
    off += EVP__WAL_HDR + len;
  }
  ck_assert_int_eq(n, 6);
  spit(p, b, total, "wb");
  w = open_wal(EVP__FSYNC_NEVER, 0);
  evp__wal_stats_t s;
  evp__wal_get_stats(w, &s);
  ck_assert_uint_eq(s.recovered_records, 6);
  ck_assert_uint_eq(s.truncated_bytes, 0);
  append_k(w, 6);
  read_expect(w, 0, 0, 7);
  evp__wal_close(w);
  /* a version 1 record whose zlib CRC does not match is skipped like any
   * other (record 6 after it stays) */
  b[total - 1] ^= 1;
  spit(p, b, total, "r+b");
  w = open_wal(EVP__FSYNC_NEVER, 0);
  evp__wal_get_stats(w, &s);
  ck_assert_uint_eq(s.recovered_records, 6);
  ck_assert_uint_eq(s.corrupt_records, 1);
  evp__wal_close(w);
  free(b);
  rm_tmpdir();
}
END_TEST

/* ---- group commit ---- */
#define GC_THREADS 8
#define GC_PER_THREAD 150

typedef struct {
  evp__wal_t *w;
  int id;
  int failures;
} gc_arg_t;

static void *gc_thread(void *p) {
  gc_arg_t *a = p;
  for (int i = 0; i < GC_PER_THREAD; i++) {
    char ev[64], cid[16];
    snprintf(ev, sizeof ev, "{\"t\":%d,\"i\":%d}", a->id, i);
    snprintf(cid, sizeof cid, "t%d", a->id);
    const char *evs[1] = {ev};
    size_t len[1] = {strlen(ev)};
    char err[256];
    if (evp__wal_append(a->w, cid, i, evs, len, 1, err, sizeof err) != EVP_OK) a->failures++;
  }
  return NULL;
}

START_TEST(group_commit_many_threads) {
  mk_tmpdir();
  /* Small segments: rolls happen while other threads wait on a sync. */
  evp__wal_t *w = open_wal(EVP__FSYNC_ALWAYS, 16 * 1024);
  pthread_t th[GC_THREADS];
  gc_arg_t args[GC_THREADS];
  for (int t = 0; t < GC_THREADS; t++) {
    args[t] = (gc_arg_t){w, t, 0};
    ck_assert_int_eq(pthread_create(&th[t], NULL, gc_thread, &args[t]), 0);
  }
  for (int t = 0; t < GC_THREADS; t++) {
    ck_assert_int_eq(pthread_join(th[t], NULL), 0);
    ck_assert_int_eq(args[t].failures, 0);
  }
  evp__wal_stats_t s;
  evp__wal_get_stats(w, &s);
  ck_assert_uint_eq(s.records, GC_THREADS * GC_PER_THREAD);
  ck_assert_uint_ge(s.fsyncs, 1);
  ck_assert_uint_lt(s.fsyncs, s.records); /* appenders shared syncs */
  ck_assert_uint_gt(s.segments, 2);
  fprintf(stderr, "group commit: %llu records, %llu fsyncs, %llu segments\n",
          (unsigned long long)s.records, (unsigned long long)s.fsyncs,
          (unsigned long long)s.segments);
  evp__wal_close(w);
  /* Every record is there after reopening, each thread's in its order. */
  w = open_wal(EVP__FSYNC_ALWAYS, 16 * 1024);
  evp__wal_reader_t *r;
  char err[256];
  ck_assert_int_eq(evp__wal_reader_open(w, 0, &r, err, sizeof err), EVP_OK);
  int next[GC_THREADS] = {0};
  evp__wal_record_t rec;
  int got, total = 0;
  while (evp__wal_reader_next(r, &rec, &got, err, sizeof err) == EVP_OK && got) {
    const char *ev;
    size_t len, cur = 0;
    ck_assert(evp__wal_record_next_event(&rec, &cur, &ev, &len));
    int t, i;
    char txt[64];
    ck_assert_uint_lt(len, sizeof txt);
    memcpy(txt, ev, len);
    txt[len] = 0;
    ck_assert_int_eq(sscanf(txt, "{\"t\":%d,\"i\":%d}", &t, &i), 2);
    ck_assert(t >= 0 && t < GC_THREADS);
    ck_assert_int_eq(i, next[t]);
    ck_assert_int_eq(rec.received_at_us, i);
    next[t]++;
    total++;
  }
  ck_assert_int_eq(total, GC_THREADS * GC_PER_THREAD);
  evp__wal_reader_close(r);
  evp__wal_close(w);
  rm_tmpdir();
}
END_TEST

/* A reader waiting for data wakes up when a record is appended. */
static void *late_append(void *p) {
  usleep(20000);
  append_k(p, 1);
  return NULL;
}

START_TEST(interval_policy_and_wait) {
  mk_tmpdir();
  evp__wal_opts_t o = {0};
  o.fsync = EVP__FSYNC_INTERVAL;
  o.interval_ms = 5;
  evp__wal_t *w;
  char err[256];
  ck_assert_int_eq(evp__wal_open(waldir, &o, &w, err, sizeof err), EVP_OK);
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, late_append, w), 0);
  evp__wal_wait(w, 0, evp__wal_wake_gen(w), 10000);
  ck_assert_uint_gt(evp__wal_end(w), 0);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  evp__wal_stats_t s;
  for (int i = 0; i < 400; i++) {
    evp__wal_get_stats(w, &s);
    if (s.fsyncs > 0) break;
    usleep(5000);
  }
  ck_assert_uint_gt(s.fsyncs, 0); /* the interval syncer ran */
  evp__wal_close(w);
  rm_tmpdir();
}
END_TEST

static int count_segments(void) {
  int n = 0;
  DIR *d = opendir(waldir);
  ck_assert_ptr_nonnull(d);
  struct dirent *e;
  while ((e = readdir(d)))
    if (strncmp(e->d_name, "wal-", 4) == 0) n++;
  closedir(d);
  return n;
}

START_TEST(checkpoint_deletes_old_segments) {
  mk_tmpdir();
  evp__wal_t *w = open_wal(EVP__FSYNC_INTERVAL, 512);
  uint64_t ends[60];
  for (int k = 0; k < 60; k++) {
    append_k(w, k);
    ends[k] = evp__wal_end(w);
  }
  int before = count_segments();
  ck_assert_int_gt(before, 5);
  char err[256];
  ck_assert_int_eq(evp__wal_commit(w, ends[29], events_in(0, 30), err, sizeof err), EVP_OK);
  evp__wal_reap_wait(w); /* segments are unlinked in the background */
  ck_assert_uint_eq(evp__wal_checkpoint(w), ends[29]);
  ck_assert_uint_eq(evp__wal_pending_events(w), events_in(30, 30));
  int after = count_segments();
  ck_assert_int_lt(after, before);
  evp__wal_stats_t s;
  evp__wal_get_stats(w, &s);
  ck_assert_int_eq((int)s.segments, after);
  /* going backwards or past the end is refused */
  ck_assert_int_eq(evp__wal_commit(w, ends[10], 0, err, sizeof err), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__wal_commit(w, ends[59] + 1, 0, err, sizeof err), EVP_ERR_INVALID_ARG);
  evp__wal_close(w);

  w = open_wal(EVP__FSYNC_INTERVAL, 512);
  ck_assert_uint_eq(evp__wal_checkpoint(w), ends[29]);
  ck_assert_uint_eq(evp__wal_pending_events(w), events_in(30, 30));
  read_expect(w, ends[29], 30, 30);
  /* Committing everything leaves only the active segment; appends go on. */
  ck_assert_int_eq(evp__wal_commit(w, ends[59], events_in(30, 30), err, sizeof err), EVP_OK);
  evp__wal_reap_wait(w); /* segments are unlinked in the background */
  ck_assert_uint_eq(evp__wal_pending_events(w), 0);
  ck_assert_int_eq(count_segments(), 1);
  append_k(w, 60);
  evp__wal_close(w);
  w = open_wal(EVP__FSYNC_INTERVAL, 512);
  read_expect(w, ends[59], 60, 1);
  ck_assert_uint_eq(evp__wal_pending_events(w), events_in(60, 1));
  evp__wal_close(w);
  rm_tmpdir();
}
END_TEST

/* Committed segments are kept, newest first, up to retain_bytes: the batcher
 * re-learns recent event ids from them after a restart. */
START_TEST(retention_of_committed_segments) {
  mk_tmpdir();
  evp__wal_opts_t o = {0};
  o.fsync = EVP__FSYNC_NEVER;
  o.segment_bytes = 512;
  o.retain_bytes = 2048;
  evp__wal_t *w;
  char err[256];
  ck_assert_int_eq(evp__wal_open(waldir, &o, &w, err, sizeof err), EVP_OK);
  uint64_t ends[80];
  for (int k = 0; k < 80; k++) {
    append_k(w, k);
    ends[k] = evp__wal_end(w);
  }
  ck_assert_uint_eq(evp__wal_first_offset(w), 0);
  ck_assert_int_eq(evp__wal_commit(w, ends[79], events_in(0, 80), err, sizeof err), EVP_OK);
  evp__wal_reap_wait(w); /* segments are unlinked in the background */
  uint64_t first = evp__wal_first_offset(w);
  ck_assert_uint_gt(first, 0);                     /* old segments went */
  ck_assert_uint_ge(first + 2048, ends[79] - 512); /* about retain_bytes are left */
  ck_assert_uint_le(ends[79] - first, 2048 + 512 + 512);
  int n = count_segments();
  evp__wal_close(w);
  /* reopening applies the same rule and keeps them; they are readable */
  ck_assert_int_eq(evp__wal_open(waldir, &o, &w, err, sizeof err), EVP_OK);
  ck_assert_uint_eq(evp__wal_first_offset(w), first);
  ck_assert_int_eq(count_segments(), n);
  ck_assert_uint_eq(evp__wal_pending_events(w), 0);
  int k0 = 0;
  while (k0 < 80 && (k0 == 0 ? 0 : ends[k0 - 1]) != first) k0++;
  read_expect(w, first, k0, 80 - k0);
  evp__wal_close(w);
  /* a smaller budget on open deletes down to it */
  o.retain_bytes = 1;
  ck_assert_int_eq(evp__wal_open(waldir, &o, &w, err, sizeof err), EVP_OK);
  ck_assert_int_eq(count_segments(), 1);
  evp__wal_close(w);
  rm_tmpdir();
}
END_TEST

/* Damage in a segment that is not the last: its valid prefix is kept, the
 * later segments too, and readers skip the gap. */
START_TEST(damaged_middle_segment_leaves_a_gap) {
  mk_tmpdir();
  evp__wal_t *w = open_wal(EVP__FSYNC_NEVER, 200);
  uint64_t starts[30];
  for (int k = 0; k < 30; k++) {
    starts[k] = evp__wal_end(w);
    append_k(w, k);
  }
  evp__wal_close(w);
  /* find a segment base > 0 and the one before it */
  uint64_t second = 0;
  char p[512];
  for (int k = 1; k < 30 && !second; k++) {
    seg_path(p, sizeof p, starts[k]);
    if (access(p, F_OK) == 0) second = starts[k];
  }
  ck_assert_uint_gt(second, 0);
  int first_in_second = 0;
  while (starts[first_in_second] != second) first_in_second++;
  ck_assert_int_ge(first_in_second, 2);
  /* damage the last record of segment 0 */
  seg_path(p, sizeof p, 0);
  flip_bit(p, starts[first_in_second - 1] + EVP__WAL_HDR + 3, 2);
  w = open_wal(EVP__FSYNC_NEVER, 200);
  evp__wal_reader_t *r;
  char err[256];
  ck_assert_int_eq(evp__wal_reader_open(w, 0, &r, err, sizeof err), EVP_OK);
  evp__wal_record_t rec;
  int got, k = 0, n = 0;
  while (evp__wal_reader_next(r, &rec, &got, err, sizeof err) == EVP_OK && got) {
    if (k == first_in_second - 1) k++; /* the damaged record is skipped */
    check_k(&rec, k);
    k++;
    n++;
  }
  ck_assert_int_eq(n, 29);
  evp__wal_reader_close(r);
  evp__wal_close(w);
  rm_tmpdir();
}
END_TEST

START_TEST(limits_and_errors) {
  mk_tmpdir();
  char err[512];
  evp__wal_t *w = NULL;
  /* a path below a regular file: cannot be created */
  char bad[400];
  snprintf(bad, sizeof bad, "%s/file", tmpdir);
  FILE *f = fopen(bad, "w");
  ck_assert_ptr_nonnull(f);
  fclose(f);
  snprintf(bad, sizeof bad, "%s/file/wal", tmpdir);
  ck_assert_int_eq(evp__wal_open(bad, NULL, &w, err, sizeof err), EVP_ERR_IO);
  ck_assert_ptr_null(w);
  ck_assert_ptr_nonnull(strstr(err, "Not a directory"));
  ck_assert_int_eq(evp__wal_open(NULL, NULL, &w, err, sizeof err), EVP_ERR_INVALID_ARG);
  evp__wal_opts_t o = {0};
  o.fsync = (evp__fsync_policy_t)7;
  ck_assert_int_eq(evp__wal_open(waldir, &o, &w, err, sizeof err), EVP_ERR_INVALID_ARG);
  o.fsync = EVP__FSYNC_NEVER;
  o.max_record_bytes = 1024;
  ck_assert_int_eq(evp__wal_open(waldir, &o, &w, err, sizeof err), EVP_OK);

  /* a second handle on the same directory is refused */
  evp__wal_t *w2 = NULL;
  ck_assert_int_eq(evp__wal_open(waldir, NULL, &w2, err, sizeof err), EVP_ERR_STATE);
  ck_assert_ptr_null(w2);

  /* record limit: exactly at the limit passes, one byte more does not */
  static char big[2048];
  memset(big, 'x', sizeof big);
  const char *ev[1] = {big};
  size_t fixed = EVP__WAL_PAYLOAD_FIXED + 1 /* "c" */ + 4;
  size_t len[1] = {1024 - fixed};
  ck_assert_int_eq(evp__wal_append(w, "c", 1, ev, len, 1, err, sizeof err), EVP_OK);
  len[0]++;
  ck_assert_int_eq(evp__wal_append(w, "c", 1, ev, len, 1, err, sizeof err), EVP_ERR_TOO_LARGE);
  ck_assert_ptr_nonnull(strstr(err, "max_record_bytes"));
  char cid[EVP__WAL_MAX_CLIENT_ID + 2];
  memset(cid, 'a', sizeof cid - 1);
  cid[sizeof cid - 1] = 0;
  len[0] = 1;
  ck_assert_int_eq(evp__wal_append(w, cid, 1, ev, len, 1, err, sizeof err), EVP_ERR_TOO_LARGE);
  ck_assert_int_eq(evp__wal_append(w, NULL, 1, ev, len, 1, err, sizeof err), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__wal_append(w, "c", 1, NULL, len, 1, err, sizeof err), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(
      evp__wal_append(w, "c", INT64_C(253402300800000000), ev, len, 1, err, sizeof err),
      EVP_ERR_INVALID_ARG); /* year 10000: no dt= partition for it */
  ck_assert_int_eq(
      evp__wal_append(w, "c", INT64_C(-62167219200000001), ev, len, 1, err, sizeof err),
      EVP_ERR_INVALID_ARG);
  ck_assert_uint_eq(evp__wal_pending_events(w), 1);

  /* Disk full mid-record (RLIMIT_FSIZE): the append fails with the errno
   * text, the partial record is cut, and appends work again afterwards. */
  struct rlimit old, lim;
  ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
  lim = old;
  lim.rlim_cur = evp__wal_end(w) + 100;
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  /* No ck_assert until the limit is lifted: the limit binds the whole
   * process, Check's own message file included. */
  int lim_rc = setrlimit(RLIMIT_FSIZE, &lim);
  len[0] = 500;
  evp_err_t e =
      lim_rc == 0 ? evp__wal_append(w, "c", 2, ev, len, 1, err, sizeof err) : EVP_ERR_INTERNAL;
  int restore_rc = setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, prev);
  ck_assert_int_eq(lim_rc, 0);
  ck_assert_int_eq(restore_rc, 0);
  ck_assert_int_eq(e, EVP_ERR_IO);
  ck_assert_ptr_nonnull(strstr(err, "File too large"));
  len[0] = 10;
  ck_assert_int_eq(evp__wal_append(w, "c", 3, ev, len, 1, err, sizeof err), EVP_OK);
  evp__wal_close(w);
  ck_assert_int_eq(evp__wal_open(waldir, &o, &w, err, sizeof err), EVP_OK);
  evp__wal_stats_t s;
  evp__wal_get_stats(w, &s);
  ck_assert_uint_eq(s.recovered_records, 2);
  ck_assert_uint_eq(s.truncated_bytes, 0);
  evp__wal_close(w);

  /* A damaged checkpoint is refused with a clear message, not guessed at. */
  char ck[400];
  snprintf(ck, sizeof ck, "%s/checkpoint", waldir);
  f = fopen(ck, "wb");
  ck_assert_ptr_nonnull(f);
  fputs("not a checkpoint at all!", f); /* 24 bytes, wrong magic */
  fclose(f);
  ck_assert_int_eq(evp__wal_open(waldir, &o, &w, err, sizeof err), EVP_ERR_IO);
  ck_assert_ptr_nonnull(strstr(err, "corrupt"));
  /* a valid checkpoint with one flipped bit too */
  unlink(ck);
  ck_assert_int_eq(evp__wal_open(waldir, &o, &w, err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp__wal_commit(w, evp__wal_end(w), 2, err, sizeof err), EVP_OK);
  evp__wal_reap_wait(w); /* segments are unlinked in the background */
  evp__wal_close(w);
  ck_assert_uint_eq(file_size(ck), 24);
  flip_bit(ck, 9, 0);
  ck_assert_int_eq(evp__wal_open(waldir, &o, &w, err, sizeof err), EVP_ERR_IO);
  ck_assert_ptr_nonnull(strstr(err, "checksum"));
  flip_bit(ck, 9, 0);
  ck_assert_int_eq(evp__wal_open(waldir, &o, &w, err, sizeof err), EVP_OK);
  ck_assert_uint_eq(evp__wal_pending_events(w), 0);
  evp__wal_close(w);
  rm_tmpdir();
}
END_TEST

/* A checkpoint beyond everything on disk (the log's tail was lost): offsets
 * do not go back, new records start at the checkpoint. */
START_TEST(checkpoint_beyond_log_end) {
  mk_tmpdir();
  evp__wal_t *w = open_wal(EVP__FSYNC_NEVER, 0);
  for (int k = 0; k < 4; k++) append_k(w, k);
  uint64_t end = evp__wal_end(w);
  char err[256];
  ck_assert_int_eq(evp__wal_commit(w, end, events_in(0, 4), err, sizeof err), EVP_OK);
  evp__wal_reap_wait(w); /* segments are unlinked in the background */
  evp__wal_close(w);
  char p[512];
  seg_path(p, sizeof p, 0);
  ck_assert_int_eq(truncate(p, 10), 0);
  w = open_wal(EVP__FSYNC_NEVER, 0);
  ck_assert_uint_eq(evp__wal_end(w), end);
  ck_assert_uint_eq(evp__wal_pending_events(w), 0);
  append_k(w, 5);
  read_expect(w, end, 5, 1);
  evp__wal_close(w);
  ck_assert_int_eq(access(p, F_OK), -1); /* the old segment is gone */
  rm_tmpdir();
}
END_TEST

/* ---- damage in the middle of the log: resynchronise, quarantine, count ---- */

/* Append records first..first+n-1, noting each one's offset in starts[k]
 * and the log end after the last in starts[first + n]. */
static void append_noting(evp__wal_t *w, int first, int n, uint64_t *starts) {
  for (int k = first; k < first + n; k++) {
    starts[k] = evp__wal_end(w);
    append_k(w, k);
  }
  starts[first + n] = evp__wal_end(w);
}

/* A fresh directory whose log holds records 0..n-1 (offsets in starts[],
 * see append_noting) in segment 0, whose path goes to @p p; closed. */
static void closed_log_with(int n, uint64_t *starts, char *p, size_t cap) {
  evp__wal_t *w = log_with(0, p, cap);
  append_noting(w, 0, n, starts);
  evp__wal_close(w);
}

/* Read everything from @p from and check it is records 0..n-1 except those
 * with skip[k] set, each at offset starts[k]. */
static void read_all_but(evp__wal_t *w, uint64_t from, int n, const int *skip,
                         const uint64_t *starts) {
  evp__wal_reader_t *r;
  char err[256];
  ck_assert_int_eq(evp__wal_reader_open(w, from, &r, err, sizeof err), EVP_OK);
  evp__wal_record_t rec;
  int got, k = 0;
  for (;;) {
    evp_err_t e = evp__wal_reader_next(r, &rec, &got, err, sizeof err);
    ck_assert_msg(e == EVP_OK, "read: %s", err);
    if (!got) break;
    while (k < n && skip[k]) k++;
    ck_assert_int_lt(k, n);
    check_k(&rec, k);
    ck_assert_uint_eq(rec.offset, starts[k]); /* offsets after the damage are unchanged */
    k++;
  }
  while (k < n && skip[k]) k++;
  ck_assert_int_eq(k, n);
  evp__wal_reader_close(r);
}

static void quarantine_path(char *out, size_t n, uint64_t off, uint64_t len) {
  snprintf(out, n, "%s/quarantine/wal-%020llu-%llu.bad", waldir, (unsigned long long)off,
           (unsigned long long)len);
}

static int count_quarantined(void) {
  char q[400];
  snprintf(q, sizeof q, "%s/quarantine", waldir);
  DIR *d = opendir(q);
  if (!d) return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

/* The quarantine file for [off, off+len) exists (0600 in a 0700 directory)
 * and holds exactly @p want. */
static void check_quarantined(uint64_t off, uint64_t len, const unsigned char *want) {
  char q[512];
  quarantine_path(q, sizeof q, off, len);
  struct stat st;
  ck_assert_msg(stat(q, &st) == 0, "no quarantine file %s", q);
  ck_assert_int_eq(st.st_mode & 0777, 0600);
  uint64_t got_len;
  unsigned char *got = slurp(q, &got_len);
  ck_assert_uint_eq(got_len, len);
  ck_assert(memcmp(got, want, len) == 0);
  free(got);
  snprintf(q, sizeof q, "%s/quarantine", waldir);
  ck_assert_int_eq(stat(q, &st), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0700);
}

/* What on_damage was told, one entry per damaged region. */
typedef struct {
  int n;
  char segment[8][512], quarantine[8][512], note[8][512];
  uint64_t seg_off[8], log_off[8], len[8];
} damage_log_t;

static void on_damage(void *arg, const evp__wal_damage_t *d) {
  damage_log_t *l = arg;
  if (l->n >= 8) return;
  snprintf(l->segment[l->n], sizeof l->segment[0], "%s", d->segment);
  snprintf(l->quarantine[l->n], sizeof l->quarantine[0], "%s", d->quarantine ? d->quarantine : "");
  snprintf(l->note[l->n], sizeof l->note[0], "%s", d->note);
  l->seg_off[l->n] = d->segment_offset;
  l->log_off[l->n] = d->log_offset;
  l->len[l->n] = d->length;
  l->n++;
}

/* open_wal with on_damage reporting into @p l (reset) and a quarantine
 * bound (0: the default). */
static evp__wal_t *open_wal_told(evp__fsync_policy_t pol, size_t seg_bytes, damage_log_t *l,
                                 size_t qbytes) {
  memset(l, 0, sizeof *l);
  evp__wal_opts_t o = {0};
  o.fsync = pol;
  o.segment_bytes = seg_bytes;
  o.retain_bytes = 1;
  o.quarantine_bytes = qbytes;
  o.on_damage = on_damage;
  o.damage_arg = l;
  evp__wal_t *w = NULL;
  char err[512] = "";
  evp_err_t e = evp__wal_open(waldir, &o, &w, err, sizeof err);
  ck_assert_msg(e == EVP_OK, "open: %s", err);
  return w;
}

/* One flipped byte in the middle of the active segment: after reopening, the
 * 19 other records are read at their old offsets, the damaged bytes are in
 * a quarantine file, appends go on after the end, and a second reopen gives
 * the same result. */
START_TEST(damage_in_active_segment_loses_one_record) {
  uint64_t starts[22];
  char p[512];
  closed_log_with(20, starts, p, sizeof p);
  evp__wal_t *w;
  uint64_t dmg = starts[10] + (starts[11] - starts[10]) / 2, dlen = starts[11] - starts[10];
  flip_bit(p, dmg, 3);
  uint64_t total;
  unsigned char *bytes = slurp(p, &total);
  int skip[21] = {0};
  skip[10] = 1;
  for (int round = 0; round < 3; round++) {
    damage_log_t told;
    w = open_wal_told(round == 1 ? EVP__FSYNC_ALWAYS : EVP__FSYNC_NEVER, 0, &told, 0);
    evp__wal_stats_t s;
    evp__wal_get_stats(w, &s);
    ck_assert_uint_eq(s.recovered_records, round == 0 ? 19 : 20);
    ck_assert_uint_eq(s.truncated_bytes, 0);
    /* counted and told the same way on every open while the bytes are there */
    ck_assert_uint_eq(s.corrupt_records, 1);
    ck_assert_uint_eq(s.corrupt_bytes, dlen);
    ck_assert_uint_eq(s.quarantined_bytes, dlen);
    ck_assert_int_eq(told.n, 1);
    ck_assert_str_eq(told.segment[0], p);
    ck_assert_uint_eq(told.seg_off[0], starts[10]);
    ck_assert_uint_eq(told.log_off[0], starts[10]);
    ck_assert_uint_eq(told.len[0], dlen);
    char q[512];
    quarantine_path(q, sizeof q, starts[10], dlen);
    ck_assert_str_eq(told.quarantine[0], q);
    ck_assert_str_eq(told.note[0], round == 0 ? "copied" : "already copied");
    ck_assert_uint_eq(evp__wal_pending_events(w), events_in(0, round == 0 ? 20 : 21) - 10 % 4);
    if (round == 0) {
      ck_assert_uint_eq(evp__wal_end(w), starts[20]);
      append_k(w, 20);
      starts[21] = evp__wal_end(w);
    }
    read_all_but(w, 0, 21, skip, starts);
    evp__wal_close(w);
    check_quarantined(starts[10], dlen, bytes + starts[10]);
    ck_assert_int_eq(count_quarantined(), 1);
  }
  free(bytes);
  rm_tmpdir();
}
END_TEST

/* The same in a segment that is not the last one (the retained history the
 * batcher re-learns dedup ids from): the records after the damage in that
 * segment are kept. */
START_TEST(damage_in_older_segment_loses_one_record) {
  mk_tmpdir();
  evp__wal_t *w = open_wal(EVP__FSYNC_NEVER, 300);
  uint64_t starts[41];
  append_noting(w, 0, 40, starts);
  evp__wal_close(w);
  /* a record with another record of its segment on each side, not in the last segment */
  int victim = -1;
  uint64_t base = 0;
  char p[512];
  for (int k = 1; k < 39 && victim < 0; k++) {
    seg_path(p, sizeof p, starts[k]);
    if (access(p, F_OK) == 0) {
      base = starts[k];
      continue;
    }
    seg_path(p, sizeof p, starts[k + 1]);
    if (starts[k - 1] >= base && access(p, F_OK) != 0 && k > 0 && starts[k] != base &&
        starts[k + 1] < starts[40] - 300)
      victim = k;
  }
  ck_assert_int_ge(victim, 0);
  seg_path(p, sizeof p, base);
  flip_bit(p, starts[victim] - base + 20, 0);
  uint64_t total;
  unsigned char *bytes = slurp(p, &total);
  int skip[40] = {0};
  skip[victim] = 1;
  for (int round = 0; round < 2; round++) {
    w = open_wal(EVP__FSYNC_NEVER, 300);
    evp__wal_stats_t s;
    evp__wal_get_stats(w, &s);
    ck_assert_uint_eq(s.recovered_records, 39);
    ck_assert_uint_eq(s.truncated_bytes, 0);
    read_all_but(w, 0, 40, skip, starts);
    evp__wal_close(w);
    check_quarantined(starts[victim], starts[victim + 1] - starts[victim],
                      bytes + (starts[victim] - base));
    ck_assert_int_eq(count_quarantined(), 1);
  }
  free(bytes);
  rm_tmpdir();
}
END_TEST

/* A torn tail (the last record cut short, or zeros after it) is still cut
 * silently: nothing is quarantined. */
START_TEST(torn_tail_is_not_quarantined) {
  uint64_t starts[9];
  char p[512];
  closed_log_with(8, starts, p, sizeof p);
  evp__wal_t *w;
  ck_assert_int_eq(truncate(p, (off_t)(starts[7] + 20)), 0);
  damage_log_t told;
  w = open_wal_told(EVP__FSYNC_NEVER, 0, &told, 0);
  evp__wal_stats_t s;
  evp__wal_get_stats(w, &s);
  ck_assert_uint_eq(s.recovered_records, 7);
  ck_assert_uint_eq(s.truncated_bytes, 20);
  ck_assert_uint_eq(s.corrupt_records, 0);
  ck_assert_int_eq(told.n, 0);
  read_expect(w, 0, 0, 7);
  evp__wal_close(w);
  ck_assert_int_eq(count_quarantined(), 0);
  /* a complete last record whose CRC fails, then zeros: a torn write too */
  w = open_wal(EVP__FSYNC_NEVER, 0);
  append_k(w, 7);
  evp__wal_close(w);
  flip_bit(p, starts[7] + 20, 1);
  unsigned char zeros[64] = {0};
  spit(p, zeros, sizeof zeros, "ab");
  w = open_wal(EVP__FSYNC_NEVER, 0);
  evp__wal_get_stats(w, &s);
  ck_assert_uint_eq(s.recovered_records, 7);
  ck_assert_uint_eq(s.truncated_bytes, starts[8] - starts[7] + sizeof zeros);
  ck_assert_uint_eq(s.corrupt_records, 0);
  evp__wal_close(w);
  ck_assert_int_eq(count_quarantined(), 0);
  rm_tmpdir();
}
END_TEST

static void put_le32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* A record's bytes replaced by garbage holding a valid-looking header (bad
 * CRC; right CRC but a malformed payload; a length past the end; zeros):
 * none of it is taken for a record, the next real record is. */
START_TEST(garbage_with_fake_headers_is_skipped) {
  uint64_t starts[11];
  char p[512];
  closed_log_with(10, starts, p, sizeof p);
  evp__wal_t *w;
  uint64_t total;
  unsigned char *orig = slurp(p, &total);
  uint64_t at = starts[5], len = starts[6] - starts[5];
  ck_assert_uint_ge(len, 40);
  int skip[10] = {0};
  skip[5] = 1;
  for (int variant = 0; variant < 4; variant++) {
    unsigned char *b = malloc(total);
    ck_assert_ptr_nonnull(b);
    memcpy(b, orig, total);
    unsigned char *g = b + at;
    memset(g, variant == 3 ? 0 : 0xAA, len);
    if (variant < 3) {
      unsigned char *h = g + (variant == 2 ? 3 : 0);
      memcpy(h, "EVWR\x02\0\0\0", 8);
      put_le32(h + 8, variant == 2 ? 0x7fffff : 14);
      memset(h + 16, 0, 14);
      h[16 + 8] = 5; /* five events announced, none there */
      uint32_t crc = evp__wal_record_crc(h, h + 16, 14);
      put_le32(h + 12, variant == 1 ? crc : crc ^ 1);
    }
    spit(p, b, total, "wb");
    char q[512];
    quarantine_path(q, sizeof q, at, len);
    unlink(q); /* the previous variant's copy */
    for (int round = 0; round < 2; round++) {
      w = open_wal(EVP__FSYNC_NEVER, 0);
      evp__wal_stats_t s;
      evp__wal_get_stats(w, &s);
      ck_assert_msg(s.recovered_records == 9, "variant %d: %llu records", variant,
                    (unsigned long long)s.recovered_records);
      read_all_but(w, 0, 10, skip, starts);
      evp__wal_close(w);
      check_quarantined(at, len, g);
    }
    free(b);
  }
  free(orig);
  rm_tmpdir();
}
END_TEST

/* The quarantine directory is bounded: a region that does not fit is
 * skipped and counted but not copied, and so is one whose copy fails; the
 * open succeeds either way and the other records are read. */
START_TEST(quarantine_is_bounded_and_best_effort) {
  uint64_t starts[13];
  char p[512];
  closed_log_with(12, starts, p, sizeof p);
  evp__wal_t *w;
  uint64_t len3 = starts[4] - starts[3];
  ck_assert_uint_eq(starts[8] - starts[7], len3); /* both hold 3 events */
  flip_bit(p, starts[3] + 30, 0);
  flip_bit(p, starts[7] + 30, 0);
  int skip[12] = {0};
  skip[3] = skip[7] = 1;
  damage_log_t told;
  w = open_wal_told(EVP__FSYNC_ALWAYS, 0, &told, (size_t)len3 + 1);
  evp__wal_stats_t s;
  evp__wal_get_stats(w, &s);
  ck_assert_uint_eq(s.corrupt_records, 2);
  ck_assert_uint_eq(s.corrupt_bytes, 2 * len3);
  ck_assert_uint_eq(s.quarantined_bytes, len3);
  ck_assert_int_eq(told.n, 2);
  ck_assert_str_eq(told.note[0], "copied");
  ck_assert_str_eq(told.quarantine[1], "");
  ck_assert_msg(strstr(told.note[1], "not copied") && strstr(told.note[1], "may hold"), "%s",
                told.note[1]);
  read_all_but(w, 0, 12, skip, starts);
  evp__wal_close(w);
  ck_assert_int_eq(count_quarantined(), 1);
  /* a copy that cannot be made (the directory is a file): told why */
  char q[400];
  snprintf(q, sizeof q, "%s/quarantine", waldir);
  ck_assert_int_eq(test_tmpdir_remove(q), 0);
  spit(q, (const unsigned char *)"x", 1, "wb");
  w = open_wal_told(EVP__FSYNC_NEVER, 0, &told, 0);
  evp__wal_get_stats(w, &s);
  ck_assert_uint_eq(s.corrupt_records, 2);
  ck_assert_uint_eq(s.quarantined_bytes, 0);
  ck_assert_int_eq(told.n, 2);
  ck_assert_msg(strstr(told.note[0], "not copied") && strstr(told.note[0], "directory"), "%s",
                told.note[0]);
  read_all_but(w, 0, 12, skip, starts);
  evp__wal_close(w);
  rm_tmpdir();
}
END_TEST

/* Damage found by the reader that recovery did not see (the file changed
 * while the log was open) is still an error, not skipped. */
START_TEST(damage_after_open_is_an_error) {
  char p[512];
  evp__wal_t *w = log_with(6, p, sizeof p);
  flip_bit(p, 40, 2);
  evp__wal_reader_t *r;
  char err[512];
  ck_assert_int_eq(evp__wal_reader_open(w, 0, &r, err, sizeof err), EVP_OK);
  evp__wal_record_t rec;
  int got;
  ck_assert_int_eq(evp__wal_reader_next(r, &rec, &got, err, sizeof err), EVP_OK); /* record 0 */
  ck_assert_int_eq(got, 1);
  ck_assert_int_eq(evp__wal_reader_next(r, &rec, &got, err, sizeof err), EVP_ERR_IO);
  ck_assert_ptr_nonnull(strstr(err, "changed after the log was opened"));
  evp__wal_reader_close(r);
  evp__wal_close(w);
  rm_tmpdir();
}
END_TEST

/* The log's tail was lost below the checkpoint while older committed
 * segments are retained: a reader of the retained history reaches the new,
 * still empty active segment past a gap and sees the end, not an error. */
START_TEST(reader_past_a_gap_to_an_empty_segment) {
  mk_tmpdir();
  evp__wal_opts_t o = {0};
  o.fsync = EVP__FSYNC_NEVER;
  o.segment_bytes = 200;
  o.retain_bytes = 1 << 20;
  evp__wal_t *w;
  char err[512];
  ck_assert_int_eq(evp__wal_open(waldir, &o, &w, err, sizeof err), EVP_OK);
  uint64_t starts[21];
  append_noting(w, 0, 20, starts);
  ck_assert_int_eq(evp__wal_commit(w, starts[20], events_in(0, 20), err, sizeof err), EVP_OK);
  evp__wal_close(w);
  int last = 19;
  char p[512];
  for (;; last--) {
    seg_path(p, sizeof p, starts[last]);
    if (access(p, F_OK) == 0) break;
  }
  ck_assert_int_gt(last, 0);
  ck_assert_int_eq(truncate(p, 10), 0); /* the last segment's records are lost */
  ck_assert_int_eq(evp__wal_open(waldir, &o, &w, err, sizeof err), EVP_OK);
  ck_assert_uint_eq(evp__wal_end(w), starts[20]);
  read_expect(w, 0, 0, last);
  append_k(w, 20);
  int skip[21] = {0};
  for (int k = last; k < 20; k++) skip[k] = 1;
  read_all_but(w, 0, 21, skip, starts);
  evp__wal_close(w);
  rm_tmpdir();
}
END_TEST

/* The search for the next record reads the file in 16 KiB chunks: a damaged
 * record about that long puts the next record's magic across a chunk
 * boundary at each possible split, and it is still found. */
START_TEST(resync_across_read_chunks) {
  static char big[20000];
  memset(big, 'y', sizeof big);
  for (uint64_t rec_len = 16380; rec_len <= 16392; rec_len++) {
    mk_tmpdir();
    evp__wal_opts_t o = {0};
    o.fsync = EVP__FSYNC_NEVER;
    o.retain_bytes = 1;
    evp__wal_t *w;
    char err[256];
    ck_assert_int_eq(evp__wal_open(waldir, &o, &w, err, sizeof err), EVP_OK);
    uint64_t starts[6];
    append_noting(w, 0, 1, starts);
    const char *ev[1] = {big};
    size_t len[1] = {rec_len - EVP__WAL_HDR - EVP__WAL_PAYLOAD_FIXED - 2 - 4};
    ck_assert_int_eq(evp__wal_append(w, "c1", 1000003, ev, len, 1, err, sizeof err), EVP_OK);
    ck_assert_uint_eq(evp__wal_end(w) - starts[1], rec_len);
    append_noting(w, 2, 3, starts);
    evp__wal_close(w);
    char p[512];
    seg_path(p, sizeof p, 0);
    flip_bit(p, starts[1] + 100, 4);
    ck_assert_int_eq(evp__wal_open(waldir, &o, &w, err, sizeof err), EVP_OK);
    evp__wal_stats_t s;
    evp__wal_get_stats(w, &s);
    ck_assert_uint_eq(s.recovered_records, 4);
    ck_assert_uint_eq(s.corrupt_bytes, rec_len);
    int skip[5] = {0, 1, 0, 0, 0};
    read_all_but(w, 0, 5, skip, starts);
    evp__wal_close(w);
    rm_tmpdir();
  }
}
END_TEST

/* ---- sent_at (flag bit 0): the request's sent_at travels with its record ---- */

/* Records with and without sent_at encode, check and decode; a payload
 * written the old way (flags 0, built here byte by byte) decodes as before. */
START_TEST(sent_at_record_format) {
  const char *ev[2] = {"{\"a\":1}", "{}"};
  size_t len[2] = {7, 2};
  const int64_t sent = INT64_C(1714554000123000);
  size_t plain = evp__wal_record_size(3, len, 2);
  ck_assert_uint_eq(evp__wal_record_size_sent(3, EVP__WAL_NO_SENT_AT, len, 2), plain);
  ck_assert_uint_eq(evp__wal_record_size_sent(3, sent, len, 2), plain + 8);
  unsigned char a[128], b[128];
  evp__wal_record_encode(a, "cid", 3, 42, ev, len, 2);
  evp__wal_record_encode_sent(b, "cid", 3, 42, sent, ev, len, 2);
  ck_assert_uint_eq(a[5], 0);
  ck_assert_uint_eq(b[5], EVP__WAL_FLAG_SENT_AT);
  /* Without sent_at the bytes are exactly those of earlier releases. */
  unsigned char old[64] = {0};
  size_t o = EVP__WAL_HDR;
  old[o] = 42;
  o += 8;
  old[o] = 2;
  o += 4;
  old[o] = 3;
  o += 2;
  memcpy(old + o, "cid", 3);
  o += 3;
  old[o] = 7;
  memcpy(old + o + 4, "{\"a\":1}", 7);
  o += 11;
  old[o] = 2;
  memcpy(old + o + 4, "{}", 2);
  o += 6;
  ck_assert_uint_eq(o, plain);
  ck_assert(memcmp(a + EVP__WAL_HDR, old + EVP__WAL_HDR, plain - EVP__WAL_HDR) == 0);
  for (int k = 0; k < 2; k++) {
    unsigned char *r = k ? b : a;
    uint32_t pl;
    ck_assert_int_eq(evp__wal_header_check(r, &pl), 0);
    ck_assert_uint_eq(pl + EVP__WAL_HDR, k ? plain + 8 : plain);
    ck_assert_uint_eq(evp__wal_record_crc(r, r + EVP__WAL_HDR, pl), evp__wal_get32(r + 12));
    evp__wal_record_t rec;
    ck_assert_int_eq(evp__wal_payload_decode(r + EVP__WAL_HDR, pl, &rec), 0);
    ck_assert_int_eq(rec.received_at_us, 42);
    ck_assert(rec.sent_at_us == (k ? sent : EVP__WAL_NO_SENT_AT));
    ck_assert_uint_eq(rec.nevents, 2);
    /* The events end where the sent_at begins. */
    size_t cur = 0, l;
    const char *e;
    ck_assert_int_eq(evp__wal_record_next_event(&rec, &cur, &e, &l), 1);
    ck_assert(l == 7 && memcmp(e, "{\"a\":1}", 7) == 0);
    ck_assert_int_eq(evp__wal_record_next_event(&rec, &cur, &e, &l), 1);
    ck_assert(l == 2 && memcmp(e, "{}", 2) == 0);
    ck_assert_int_eq(evp__wal_record_next_event(&rec, &cur, &e, &l), 0);
  }
  /* A sent_at before the epoch is a value like any other. */
  evp__wal_record_encode_sent(b, "cid", 3, 42, -1, ev, len, 2);
  evp__wal_record_t rec;
  ck_assert_int_eq(evp__wal_payload_decode(b + EVP__WAL_HDR, plain + 8 - EVP__WAL_HDR, &rec), 0);
  ck_assert_int_eq(rec.sent_at_us, -1);
  /* Malformed: trailing bytes that are no sent_at, the "none" value as a
   * sent_at, an unknown flag bit. */
  ck_assert_int_eq(evp__wal_payload_decode(b + EVP__WAL_HDR, plain + 4 - EVP__WAL_HDR, &rec), -1);
  ck_assert_int_eq(evp__wal_payload_decode(b + EVP__WAL_HDR, plain + 9 - EVP__WAL_HDR, &rec), -1);
  for (int i = 0; i < 8; i++) b[plain + i] = i == 7 ? 0x80 : 0;
  ck_assert_int_eq(evp__wal_payload_decode(b + EVP__WAL_HDR, plain + 8 - EVP__WAL_HDR, &rec), -1);
  uint32_t pl;
  a[5] = 0x02;
  ck_assert_int_eq(evp__wal_header_check(a, &pl), -1);
  a[5] = 0x80;
  ck_assert_int_eq(evp__wal_header_check(a, &pl), -1);
}
END_TEST

/* evp__wal_append_sent's records survive a reopen (recovery checks every
 * record) among records without sent_at, and readers get the value back; a
 * torn flagged record at the tail is cut like any other. */
START_TEST(sent_at_survives_recovery_and_reading) {
  mk_tmpdir();
  evp__wal_t *w = open_wal(EVP__FSYNC_NEVER, 0);
  const char *ev[1] = {"{\"e\":1}"};
  size_t len[1] = {7};
  const int64_t sent[4] = {INT64_C(1714554000000000), EVP__WAL_NO_SENT_AT, -5,
                           INT64_C(1714554000000777)};
  char err[256];
  for (int i = 0; i < 4; i++)
    ck_assert_msg(evp__wal_append_sent(w, "c", 1000 + i, sent[i], ev, len, 1, err, sizeof err) ==
                      EVP_OK,
                  "%s", err);
  uint64_t end3 = 0;
  evp__wal_close(w);
  w = open_wal(EVP__FSYNC_NEVER, 0);
  evp__wal_stats_t st;
  evp__wal_get_stats(w, &st);
  ck_assert_uint_eq(st.recovered_records, 4);
  ck_assert_uint_eq(st.corrupt_records, 0);
  ck_assert_uint_eq(st.truncated_bytes, 0);
  evp__wal_reader_t *r;
  ck_assert_int_eq(evp__wal_reader_open(w, 0, &r, err, sizeof err), EVP_OK);
  for (int i = 0; i < 4; i++) {
    evp__wal_record_t rec;
    int got = 0;
    ck_assert_int_eq(evp__wal_reader_next(r, &rec, &got, err, sizeof err), EVP_OK);
    ck_assert_int_eq(got, 1);
    ck_assert_int_eq(rec.received_at_us, 1000 + i);
    ck_assert(rec.sent_at_us == sent[i]);
    ck_assert_uint_eq(rec.nevents, 1);
    if (i == 2) end3 = rec.end;
  }
  evp__wal_reader_close(r);
  evp__wal_close(w);
  /* Tear the last record (flagged) in its sent_at bytes. */
  char p[512];
  seg_path(p, sizeof p, 0);
  struct stat sb;
  ck_assert_int_eq(stat(p, &sb), 0);
  ck_assert_int_eq(truncate(p, sb.st_size - 3), 0);
  w = open_wal(EVP__FSYNC_NEVER, 0);
  evp__wal_get_stats(w, &st);
  ck_assert_uint_eq(st.recovered_records, 3);
  ck_assert_uint_eq(st.truncated_bytes, (uint64_t)sb.st_size - 3 - end3);
  ck_assert_uint_eq(evp__wal_end(w), end3);
  evp__wal_close(w);
  rm_tmpdir();
}
END_TEST

/* Mapped mode (the client spool): appends of pre-encoded records go into
 * a preallocated, mapped segment; the file is cut to its records at close;
 * rolls map the next segment; a record that is not one is refused. */
START_TEST(mapped_segments_and_encoded_appends) {
  mk_tmpdir();
  evp__wal_opts_t o = {0};
  o.fsync = EVP__FSYNC_INTERVAL;
  o.interval_ms = 1;
  o.segment_bytes = 65536;
  o.mapped = 1;
  o.retain_bytes = 1;
  evp__wal_t *w;
  char err[512];
  ck_assert_int_eq(evp__wal_open(waldir, &o, &w, err, sizeof err), EVP_OK);
  unsigned char rec[512];
  uint64_t total = 0, off = 0, end = 0;
  for (int k = 0; k < 3000; k++) {
    char ev[64];
    size_t len = (size_t)snprintf(ev, sizeof ev, "{\"k\":%d}", k);
    const char *evs[1] = {ev};
    size_t size = evp__wal_record_size(2, &len, 1);
    evp__wal_record_encode(rec, "c1", 2, 1000 + k, evs, &len, 1);
    ck_assert_int_eq(evp__wal_append_encoded(w, rec, size, &off, &end, err, sizeof err), EVP_OK);
    ck_assert_uint_eq(end - off, size);
    total += size;
  }
  ck_assert_uint_eq(end, total);
  unsigned char junk[64] = "EVWR not a record";
  ck_assert_int_eq(evp__wal_append_encoded(w, junk, sizeof junk, NULL, NULL, err, sizeof err),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__wal_sync(w, end, err, sizeof err), EVP_OK);
  evp__wal_stats_t st;
  evp__wal_get_stats(w, &st);
  ck_assert_uint_ge(st.segments, 2); /* rolled past 64 KiB */
  /* The active segment is preallocated while open ... */
  char p[400];
  seg_path(p, sizeof p, evp__wal_first_offset(w));
  evp__wal_close(w);
  /* ... and holds only its records once closed. */
  struct stat sb;
  ck_assert_int_eq(stat(p, &sb), 0);
  ck_assert_int_lt(sb.st_size, 65536);
  ck_assert_int_eq(evp__wal_open(waldir, &o, &w, err, sizeof err), EVP_OK);
  evp__wal_get_stats(w, &st);
  ck_assert_uint_eq(st.recovered_records, 3000);
  ck_assert_uint_eq(st.truncated_bytes, 0);
  ck_assert_uint_eq(evp__wal_end(w), total);
  evp__wal_close(w);
  rm_tmpdir();
}
END_TEST

int main(void) {
  Suite *s = suite_create("wal");
  TCase *tc = tcase_create("wal");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, round_trip_and_modes);
  tcase_add_test(tc, torn_tail_is_truncated);
  tcase_add_test(tc, flipped_bit_loses_only_that_record);
  tcase_add_test(tc, crc32c_values);
  tcase_add_test(tc, version_1_records_are_still_read);
  tcase_add_test(tc, group_commit_many_threads);
  tcase_add_test(tc, interval_policy_and_wait);
  tcase_add_test(tc, checkpoint_deletes_old_segments);
  tcase_add_test(tc, retention_of_committed_segments);
  tcase_add_test(tc, damaged_middle_segment_leaves_a_gap);
  tcase_add_test(tc, limits_and_errors);
  tcase_add_test(tc, checkpoint_beyond_log_end);
  tcase_add_test(tc, damage_in_active_segment_loses_one_record);
  tcase_add_test(tc, damage_in_older_segment_loses_one_record);
  tcase_add_test(tc, torn_tail_is_not_quarantined);
  tcase_add_test(tc, garbage_with_fake_headers_is_skipped);
  tcase_add_test(tc, quarantine_is_bounded_and_best_effort);
  tcase_add_test(tc, damage_after_open_is_an_error);
  tcase_add_test(tc, reader_past_a_gap_to_an_empty_segment);
  tcase_add_test(tc, resync_across_read_chunks);
  tcase_add_test(tc, sent_at_record_format);
  tcase_add_test(tc, sent_at_survives_recovery_and_reading);
  tcase_add_test(tc, mapped_segments_and_encoded_appends);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
