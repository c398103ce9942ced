/* libFuzzer target for the durable log's recovery and record decoding
 * (src/wal/wal_recover.c, wal_reader.c, wal_format.c): arbitrary bytes
 * are written as log segment files, then the log is opened (recovery:
 * resynchronisation past damage, quarantine, torn-tail cut), read to the end,
 * appended to, closed and opened again. Checked, beyond memory safety:
 *  - every record recovery counted is read back, none fails its checks;
 *  - valid records + damaged regions + the cut tail account for every byte;
 *  - each damaged region lies inside its segment and was quarantined
 *    (copied byte for byte);
 *  - a second open finds exactly the same records and damage (idempotent);
 *  - an append after recovery is read back after the recovered records.
 * Input: byte 0 bit 0 = split the rest into two segments at the offset in
 * bytes 1-2 (little endian, modulo the length); the rest is segment bytes. */
#define _XOPEN_SOURCE 700
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "wal/wal.h"
#include "wal/wal_read.h"
#include "wal/wal_int.h"

static char root[64], dir[128];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f) {
  (void)sb;
  (void)flag;
  (void)f;
  return remove(p);
}

static void write_file(uint64_t base, const uint8_t *b, size_t n) {
  char p[256];
  snprintf(p, sizeof p, "%s/" EVP__WAL_SEG_FMT, dir, (unsigned long long)base);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || (n && write(fd, b, n) != (ssize_t)n)) abort();
  close(fd);
}

typedef struct {
  const uint8_t *seg[2];
  uint64_t base[2], len[2];
  int nseg;
  uint64_t regions, bytes;
} ctx_t;

/* A damaged region must lie inside its segment and its copy must hold
 * exactly its bytes. */
static void on_damage(void *arg, const evp__wal_damage_t *d) {
  ctx_t *c = arg;
  int i = c->nseg == 2 && d->log_offset >= c->base[1] ? 1 : 0;
  if (d->length == 0 || d->log_offset != c->base[i] + d->segment_offset ||
      d->segment_offset + d->length > c->len[i] || !d->quarantine)
    abort();
  FILE *f = fopen(d->quarantine, "rb");
  if (!f) abort();
  uint8_t *q = malloc(d->length + 1);
  if (!q || fread(q, 1, d->length + 1, f) != d->length ||
      memcmp(q, c->seg[i] + d->segment_offset, d->length) != 0)
    abort();
  free(q);
  fclose(f);
  c->regions++;
  c->bytes += d->length;
}

/* Open, read everything, check the accounting; returns the stats. */
static evp__wal_t *open_and_read(ctx_t *c, evp__wal_stats_t *st, uint64_t *nread) {
  evp__wal_opts_t o = {0};
  o.fsync = EVP__FSYNC_NEVER;
  o.on_damage = on_damage;
  o.damage_arg = c;
  c->regions = c->bytes = 0;
  evp__wal_t *w;
  char err[512];
  if (evp__wal_open(dir, &o, &w, err, sizeof err) != EVP_OK) abort();
  evp__wal_get_stats(w, st);
  if (st->corrupt_records != c->regions || st->corrupt_bytes != c->bytes ||
      st->quarantined_bytes != c->bytes)
    abort();
  evp__wal_reader_t *r;
  if (evp__wal_reader_open(w, evp__wal_first_offset(w), &r, err, sizeof err) != EVP_OK) abort();
  evp__wal_record_t rec;
  int got;
  uint64_t n = 0, rec_bytes = 0, last = 0;
  for (;;) {
    if (evp__wal_reader_next(r, &rec, &got, err, sizeof err) != EVP_OK) abort();
    if (!got) break;
    if (rec.offset < last || rec.end > evp__wal_end(w)) abort();
    last = rec.end;
    size_t cur = 0, len, events = 0;
    const char *ev;
    while (evp__wal_record_next_event(&rec, &cur, &ev, &len)) events++;
    if (events != rec.nevents) abort();
    rec_bytes += rec.end - rec.offset;
    n++;
  }
  evp__wal_reader_close(r);
  uint64_t total = c->len[0] + (c->nseg == 2 ? c->len[1] : 0);
  if (n != st->recovered_records || rec_bytes + st->corrupt_bytes + st->truncated_bytes != total)
    abort();
  *nread = n;
  return w;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  if (!root[0]) {
    /* Memory-backed when there is one: the target is file-system heavy. */
    snprintf(root, sizeof root, "%s/evp_wal_fuzz_XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(root)) abort();
    snprintf(dir, sizeof dir, "%s/wal", root);
  }
  nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  if (mkdir(dir, 0700) != 0) abort();
  ctx_t c = {{0}, {0}, {0}, 1, 0, 0};
  const uint8_t *b = data + 3;
  size_t n = size - 3;
  c.seg[0] = b;
  c.len[0] = n;
  size_t cut = n ? ((size_t)data[1] | (size_t)data[2] << 8) % n : 0;
  if ((data[0] & 1) && cut > 0) { /* two files need two different names */
    c.nseg = 2;
    c.len[0] = cut;
    c.seg[1] = b + cut;
    c.base[1] = cut;
    c.len[1] = n - cut;
  }
  for (int i = 0; i < c.nseg; i++) write_file(c.base[i], c.seg[i], c.len[i]);

  evp__wal_stats_t s1, s2;
  uint64_t n1, n2;
  evp__wal_t *w = open_and_read(&c, &s1, &n1);
  evp__wal_close(w);
  /* The second open: the torn tail is gone, everything else is the same. */
  c.len[c.nseg - 1] -= s1.truncated_bytes;
  w = open_and_read(&c, &s2, &n2);
  if (n2 != n1 || s2.truncated_bytes != 0 || s2.corrupt_records != s1.corrupt_records ||
      s2.corrupt_bytes != s1.corrupt_bytes)
    abort();
  /* An append lands after the recovered records and is read back. */
  uint64_t end = evp__wal_end(w);
  const char *ev = "{\"a\":1}";
  size_t len = strlen(ev);
  char err[512];
  if (evp__wal_append(w, "fuzz", 1, &ev, &len, 1, err, sizeof err) != EVP_OK) abort();
  evp__wal_reader_t *r;
  if (evp__wal_reader_open(w, end, &r, err, sizeof err) != EVP_OK) abort();
  evp__wal_record_t rec;
  int got;
  if (evp__wal_reader_next(r, &rec, &got, err, sizeof err) != EVP_OK || !got || rec.offset != end ||
      rec.nevents != 1)
    abort();
  evp__wal_reader_close(r);
  evp__wal_close(w);
  return 0;
}
