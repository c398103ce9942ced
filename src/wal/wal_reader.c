/* Sequential reader of the log for the batcher. It sees every record whose
 * write has completed (not only the durable ones: evp__wal_commit syncs the
 * log before the checkpoint may pass a record), and re-checks each record's
 * CRC, so damage that happened after the log was opened is reported instead
 * of being written to the lake. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/base.h"
#include "wal/wal.h"
#include "wal/wal_read.h"
#include "wal/wal_int.h"

/* Records are read through a window of READ_AHEAD bytes of the segment
 * (one pread for many small records, instead of two per record); a record
 * larger than the window is read on its own. Records never change once
 * written, and the window never reaches past the end of what was written. */
#define READ_AHEAD (256u << 10)

struct evp__wal_reader {
  evp__wal_t *w;
  uint64_t pos;
  int fd;
  uint64_t fd_base;
  unsigned char *buf;
  size_t cap;
  unsigned char *win; /* bytes [win_off, win_off + win_len) of segment fd_base */
  uint64_t win_off;
  size_t win_len;
  int damaged; /* the last error was a record that failed its checks */
};

/* @p n bytes at file offset @p off of the open segment, which holds at
 * least @p file_end bytes of records: a pointer into the window (refilled
 * when needed), or into @p out for what does not fit the window. NULL with
 * errno on a read error; *got < n when the file is shorter. */
static const unsigned char *window_at(evp__wal_reader_t *r, uint64_t off, size_t n,
                                      uint64_t file_end, unsigned char *out, size_t *got) {
  if (off >= r->win_off && off + n <= r->win_off + r->win_len) {
    *got = n;
    return r->win + (off - r->win_off);
  }
  if (n > READ_AHEAD) {
    if (evp__wal_pread_full(r->fd, out, n, off, got) != 0) return NULL;
    return out;
  }
  if (!r->win && !(r->win = malloc(READ_AHEAD))) {
    errno = ENOMEM;
    return NULL;
  }
  size_t want = file_end - off < READ_AHEAD ? (size_t)(file_end - off) : READ_AHEAD;
  if (want < n) want = n;
  r->win_len = 0;
  if (evp__wal_pread_full(r->fd, r->win, want, off, &r->win_len) != 0) return NULL;
  r->win_off = off;
  *got = r->win_len < n ? r->win_len : n;
  return r->win;
}

evp_err_t evp__wal_reader_open(evp__wal_t *w, uint64_t from, evp__wal_reader_t **out, char *errstr,
                               size_t errstr_size) {
  evp__wal_reader_t *r = calloc(1, sizeof *r);
  if (!r) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "wal: out of memory");
  r->w = w;
  r->pos = from;
  r->fd = -1;
  *out = r;
  return EVP_OK;
}

void evp__wal_reader_close(evp__wal_reader_t *r) {
  if (!r) return;
  if (r->fd >= 0) close(r->fd);
  free(r->buf);
  free(r->win);
  free(r);
}

uint64_t evp__wal_reader_pos(const evp__wal_reader_t *r) { return r->pos; }

/* Room for @p need more bytes at *len in *buf (doubling from 1 MiB). */
static int grow(unsigned char **buf, size_t *cap, size_t len, size_t need) {
  if (*cap - len >= need) return 0;
  size_t c = *cap ? *cap : (size_t)1 << 20;
  while (c - len < need) {
    if (c > SIZE_MAX / 2) return -1;
    c *= 2;
  }
  unsigned char *b = realloc(*buf, c);
  if (!b) return -1;
  *buf = b;
  *cap = c;
  return 0;
}

/* The end of the damaged region recovery found around @p pos, or 0 when
 * @p pos is in none (binary search; the map is not written after open). */
static uint64_t skip_end(const evp__wal_t *w, uint64_t pos) {
  size_t lo = 0, hi = w->nskips;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (w->skips[mid].end <= pos)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < w->nskips && w->skips[lo].start <= pos ? w->skips[lo].end : 0;
}

/* The next record's payload read to (*buf)[*len], which then grows by its
 * length: one copy from the page cache into where the caller keeps it.
 * Damaged regions found by recovery are only looked up when a record fails
 * its checks, so the common path costs nothing extra. */
static evp_err_t next_into(evp__wal_reader_t *r, evp__wal_record_t *rec, int *got,
                           unsigned char **buf, size_t *len_io, size_t *cap, char *errstr,
                           size_t errstr_size) {
  evp__wal_t *w = r->w;
  *got = 0;
  r->damaged = 0;
again:;
  uint64_t base = 0, segend = 0;
  int found = 0;
  pthread_mutex_lock(&w->mu);
  for (size_t i = 0; i < w->nsegs; i++) {
    /* Not an empty one past a gap: nothing to read there yet. */
    if (w->segs[i].size > 0 && w->segs[i].base + w->segs[i].size > r->pos) {
      base = w->segs[i].base;
      segend = base + w->segs[i].size;
      found = 1;
      break;
    }
  }
  pthread_mutex_unlock(&w->mu);
  if (!found) return EVP_OK;
  if (r->pos < base) r->pos = base; /* a gap left by a damaged segment */
  char name[EVP__WAL_SEG_NAME_LEN + 1];
  snprintf(name, sizeof name, EVP__WAL_SEG_FMT, (unsigned long long)base);
  if (r->fd < 0 || r->fd_base != base) {
    if (r->fd >= 0) close(r->fd);
    r->fd = openat(w->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
      int en = errno;
      return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: open %s/%s: %s", w->dir, name,
                         strerror(en));
    }
    r->fd_base = base;
    r->win_len = 0;
  }
  unsigned char hbuf[EVP__WAL_HDR];
  uint32_t len;
  size_t n;
  uint64_t off = r->pos - base, file_end = segend - base;
  if (segend - r->pos < EVP__WAL_HDR) goto bad;
  const unsigned char *h = window_at(r, off, EVP__WAL_HDR, file_end, hbuf, &n);
  if (!h) goto io;
  unsigned char hdr[EVP__WAL_HDR];
  if (n < sizeof hdr) goto bad;
  memcpy(hdr, h, sizeof hdr); /* the window may move for the payload */
  if (evp__wal_header_check(hdr, &len) != 0 || segend - r->pos - EVP__WAL_HDR < len) goto bad;
  if (grow(buf, cap, *len_io, len) != 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "wal: out of memory");
  unsigned char *dst = *buf + *len_io;
  const unsigned char *p = window_at(r, off + EVP__WAL_HDR, len, file_end, dst, &n);
  if (!p) goto io;
  if (p != dst) memcpy(dst, p, n);
  if (n < len || evp__wal_record_crc(hdr, dst, len) != evp__wal_get32(hdr + 12) ||
      evp__wal_payload_decode(dst, len, rec) != 0)
    goto bad;
  *len_io += len;
  rec->offset = r->pos;
  rec->end = r->pos + EVP__WAL_HDR + len;
  r->pos = rec->end;
  *got = 1;
  return EVP_OK;
io:
  return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: read %s/%s: %s", w->dir, name,
                     strerror(errno));
bad:;
  uint64_t end = skip_end(w, r->pos);
  if (end) { /* damage recovery skipped and reported */
    r->pos = end;
    goto again;
  }
  r->damaged = 1;
  return evp__seterr(
      errstr, errstr_size, EVP_ERR_IO,
      "wal: record at offset %llu of %s/%s is damaged (changed after the log was "
      "opened); reopening the log skips it and copies it to the quarantine directory",
      (unsigned long long)off, w->dir, name);
}

int evp__wal_reader_damaged(const evp__wal_reader_t *r) { return r->damaged; }

evp_err_t evp__wal_reader_skip(evp__wal_reader_t *r, uint64_t *skipped, char *errstr,
                               size_t errstr_size) {
  static const unsigned char magic[4] = {'E', 'V', 'W', 'R'};
  evp__wal_t *w = r->w;
  uint64_t from = r->pos, segend = 0;
  pthread_mutex_lock(&w->mu);
  for (size_t i = 0; i < w->nsegs; i++)
    if (w->segs[i].base <= from && from < w->segs[i].base + w->segs[i].size) {
      segend = w->segs[i].base + w->segs[i].size;
      break;
    }
  pthread_mutex_unlock(&w->mu);
  r->damaged = 0;
  if (!segend || r->fd < 0) return EVP_OK; /* nothing there: the next read moves on */
  /* The next offset in this segment where a whole valid record starts
   * (each candidate goes through every check of next_into), else its end. */
  for (uint64_t pos = from + 1; pos + EVP__WAL_HDR <= segend; pos++) {
    size_t n;
    unsigned char b[4];
    const unsigned char *p = window_at(r, pos - r->fd_base, 4, segend - r->fd_base, b, &n);
    if (!p) return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: read: %s", strerror(errno));
    if (n < 4 || memcmp(p, magic, 4) != 0) continue;
    evp__wal_record_t rec;
    int got;
    size_t len = 0;
    r->pos = pos;
    if (next_into(r, &rec, &got, &r->buf, &len, &r->cap, errstr, errstr_size) == EVP_OK && got) {
      r->pos = pos; /* read it again as the caller's next record */
      *skipped = pos - from;
      return EVP_OK;
    }
    if (!r->damaged) return EVP_ERR_IO; /* a read error, not a bad candidate */
  }
  r->pos = segend;
  r->damaged = 0;
  *skipped = segend - from;
  return EVP_OK;
}

evp_err_t evp__wal_reader_next(evp__wal_reader_t *r, evp__wal_record_t *rec, int *got, char *errstr,
                               size_t errstr_size) {
  size_t len = 0;
  return next_into(r, rec, got, &r->buf, &len, &r->cap, errstr, errstr_size);
}

evp_err_t evp__wal_reader_next_append(evp__wal_reader_t *r, evp__wal_record_t *rec, int *got,
                                      unsigned char **buf, size_t *len, size_t *cap, char *errstr,
                                      size_t errstr_size) {
  return next_into(r, rec, got, buf, len, cap, errstr, errstr_size);
}
