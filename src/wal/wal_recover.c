/* Recovery on open: find the segments and check every record (header,
 * length, CRC and structure), so a torn write or a flipped bit is never
 * replayed. Bad bytes followed by a valid record are damage: they stay in
 * place, readers skip them (the skip map), and a copy goes to the quarantine
 * directory; only the damaged record is lost. Bad bytes at the end of the
 * last segment are a torn tail and are cut. Then the checkpoint is read,
 * segments wholly below it are deleted, and the last segment becomes the
 * active one. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "base/base.h"
#include "wal/wal.h"
#include "wal/wal_read.h"
#include "wal/wal_int.h"

static int parse_seg_name(const char *name, uint64_t *base) {
  if (strlen(name) != EVP__WAL_SEG_NAME_LEN || strncmp(name, "wal-", 4) != 0 ||
      strcmp(name + 24, ".seg") != 0)
    return -1;
  uint64_t v = 0;
  for (int i = 4; i < 24; i++) {
    if (name[i] < '0' || name[i] > '9') return -1;
    uint64_t d = (uint64_t)(name[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  *base = v;
  return 0;
}

static int cmp_seg(const void *a, const void *b) {
  const evp__wal_seg_t *x = a, *y = b;
  return x->base < y->base ? -1 : x->base > y->base;
}

static evp_err_t list_segments(evp__wal_t *w, char *errstr, size_t errstr_size) {
  int fd = dup(w->dirfd);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  if (!d) {
    int en = errno;
    if (fd >= 0) close(fd);
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: read directory %s: %s", w->dir,
                       strerror(en));
  }
  rewinddir(d);
  evp_err_t e = EVP_OK;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    uint64_t base;
    if (parse_seg_name(de->d_name, &base) != 0) continue;
    if (w->nsegs == w->segcap) {
      size_t cap = w->segcap ? w->segcap * 2 : 16;
      evp__wal_seg_t *s = realloc(w->segs, cap * sizeof *s);
      if (!s) {
        e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "wal: out of memory");
        break;
      }
      w->segs = s;
      w->segcap = cap;
    }
    w->segs[w->nsegs].base = base;
    w->segs[w->nsegs].size = 0;
    w->nsegs++;
  }
  closedir(d);
  if (!e && w->nsegs) qsort(w->segs, w->nsegs, sizeof *w->segs, cmp_seg);
  return e;
}

/* One segment file being scanned. It is mapped read-only when it can be:
 * checking a record in place costs no system call, so a spool of a GiB
 * left by a killed process (in the page cache) is checked in a fraction of
 * a second rather than two reads per record; without a mapping the same
 * checks run on pread copies. */
typedef struct {
  evp__wal_t *w;
  int fd;
  uint64_t base, size;
  char name[EVP__WAL_SEG_NAME_LEN + 1];
  unsigned char *buf; /* a payload being checked */
  size_t cap;
  const unsigned char *map; /* the whole file, or NULL */
} scan_t;

/* @p n bytes at @p pos: a pointer into the mapping, or read into @p out.
 * NULL with errno on a read error; *got < n when the file is shorter. */
static const unsigned char *bytes_at(scan_t *s, uint64_t pos, size_t n, unsigned char *out,
                                     size_t *got) {
  if (s->map) {
    *got = pos >= s->size ? 0 : s->size - pos < n ? (size_t)(s->size - pos) : n;
    return s->map + pos;
  }
  if (evp__wal_pread_full(s->fd, out, n, pos, got) != 0) return NULL;
  return out;
}

/* 1 when a whole valid record (header, length within the file, CRC,
 * payload structure) starts at @p pos: *rec_len and *nevents are set. 0 when
 * not; -1 with errno on a read error or out of memory. */
static int record_at(scan_t *s, uint64_t pos, uint64_t *rec_len, uint32_t *nevents) {
  unsigned char hbuf[EVP__WAL_HDR];
  uint32_t len;
  size_t got;
  if (s->size - pos < EVP__WAL_HDR) return 0;
  const unsigned char *hdr = bytes_at(s, pos, sizeof hbuf, hbuf, &got);
  if (!hdr) return -1;
  if (got < sizeof hbuf || evp__wal_header_check(hdr, &len) != 0) return 0;
  if (s->size - pos - EVP__WAL_HDR < len) return 0; /* the payload was not all written */
  if (!s->map && len > s->cap) {
    unsigned char *b = realloc(s->buf, len);
    if (!b) {
      errno = ENOMEM;
      return -1;
    }
    s->buf = b;
    s->cap = len;
  }
  const unsigned char *payload = bytes_at(s, pos + EVP__WAL_HDR, len, s->buf, &got);
  if (!payload) return -1;
  evp__wal_record_t rec;
  if (got < len || evp__wal_record_crc(hdr, payload, len) != evp__wal_get32(hdr + 12) ||
      evp__wal_payload_decode(payload, len, &rec) != 0)
    return 0;
  *rec_len = EVP__WAL_HDR + (uint64_t)len;
  *nevents = rec.nevents;
  return 1;
}

/* Resynchronise after bad bytes at @p pos: *next = the first offset after
 * it where a whole valid record starts (a magic found by a forward search,
 * then every check of record_at), or s->size when none does. 0, or -1 with
 * errno. */
static int resync(scan_t *s, uint64_t pos, uint64_t *next) {
  static const unsigned char magic[4] = {'E', 'V', 'W', 'R'};
  unsigned char chunk[16384];
  uint64_t off = pos + 1;
  while (off < s->size && s->size - off >= EVP__WAL_HDR) {
    size_t want = s->size - off < sizeof chunk ? (size_t)(s->size - off) : sizeof chunk, n;
    const unsigned char *c = bytes_at(s, off, want, chunk, &n);
    if (!c) return -1;
    if (n < 4) break;
    for (size_t i = 0; i + 4 <= n;) {
      const unsigned char *m = memchr(c + i, magic[0], n - 3 - i);
      if (!m) break;
      i = (size_t)(m - c);
      if (memcmp(m, magic, 4) == 0) {
        uint64_t rec_len;
        uint32_t nev;
        int r = record_at(s, off + i, &rec_len, &nev);
        if (r < 0) return -1;
        if (r == 1) {
          *next = off + i;
          return 0;
        }
      }
      i++;
    }
    if (n < want) break; /* the file ended early */
    off += n - 3;        /* a magic across the chunk boundary is seen in the next one */
  }
  *next = s->size;
  return 0;
}

/* 1 when bytes [pos, end of file) are all zero: the unused, preallocated
 * tail of a mapped segment (wal_map.c), not damage; 0 when not; -1 with
 * errno. A record never starts with a zero byte (its magic). */
static int zero_tail(scan_t *s, uint64_t pos) {
  unsigned char chunk[16384];
  while (pos < s->size) {
    size_t want = s->size - pos < sizeof chunk ? (size_t)(s->size - pos) : sizeof chunk, n;
    const unsigned char *c = bytes_at(s, pos, want, chunk, &n);
    if (!c) return -1;
    if (n < want) return 1; /* the file ended early */
    if (c[0] != 0 || memcmp(c, c + 1, n - 1) != 0) return 0;
    pos += n;
  }
  return 1;
}

/* Bytes [from, to) of the segment are damaged: skip them in place (their
 * offsets stay taken, so the records after them keep theirs), copy them to
 * the quarantine directory, count them and tell on_damage. */
static evp_err_t damaged(scan_t *s, uint64_t from, uint64_t to, char *errstr, size_t errstr_size) {
  evp__wal_t *w = s->w;
  if (w->nskips == EVP__WAL_MAX_SKIPS)
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO,
                       "wal: more than %u damaged regions in %s (the last in %s at offset %llu): "
                       "the disk is failing; copy the directory elsewhere and check the disk",
                       EVP__WAL_MAX_SKIPS, w->dir, s->name, (unsigned long long)from);
  if (w->nskips == w->skipcap) {
    size_t cap = w->skipcap ? w->skipcap * 2 : 8;
    evp__wal_skip_t *k = realloc(w->skips, cap * sizeof *k);
    if (!k) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "wal: out of memory");
    w->skips = k;
    w->skipcap = cap;
  }
  w->skips[w->nskips].start = s->base + from;
  w->skips[w->nskips].end = s->base + to;
  w->nskips++;
  char qpath[PATH_MAX], note[PATH_MAX + 200], seg[PATH_MAX];
  int copied = evp__wal_quarantine(w, s->fd, s->base, from, to - from, qpath, sizeof qpath, note,
                                   sizeof note);
  w->st.corrupt_records++;
  w->st.corrupt_bytes += to - from;
  if (copied) w->st.quarantined_bytes += to - from;
  if (w->on_damage) {
    snprintf(seg, sizeof seg, "%s/%s", w->dir, s->name);
    evp__wal_damage_t d = {seg, from, s->base + from, to - from, copied ? qpath : NULL, note};
    w->on_damage(w->damage_arg, &d);
  }
  return EVP_OK;
}

/* Check every record of one segment. Bad bytes followed by a valid record
 * are damage: skipped in place and quarantined (damaged()). Bad bytes with
 * nothing valid after them are a torn tail in the last segment (a crash
 * during a write): cut, and the cut synced; in an older segment they are
 * damage too (a crash only tears the newest writes). */
static evp_err_t scan_segment(evp__wal_t *w, evp__wal_seg_t *seg, uint64_t ckpt, int last,
                              char *errstr, size_t errstr_size) {
  scan_t s = {w, -1, seg->base, 0, "", NULL, 0, NULL};
  snprintf(s.name, sizeof s.name, EVP__WAL_SEG_FMT, (unsigned long long)seg->base);
  s.fd = openat(w->dirfd, s.name, O_RDWR | O_CLOEXEC);
  struct stat st;
  if (s.fd < 0 || fstat(s.fd, &st) != 0) {
    int en = errno;
    if (s.fd >= 0) close(s.fd);
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: open %s/%s: %s", w->dir, s.name,
                       strerror(en));
  }
  s.size = (uint64_t)st.st_size;
  if (s.size > 0 && s.size <= SIZE_MAX) {
    void *m = mmap(NULL, (size_t)s.size, PROT_READ, MAP_SHARED, s.fd, 0);
    if (m != MAP_FAILED) s.map = m;
  }
  uint64_t pos = 0, unused = 0;
  evp_err_t e = EVP_OK;
  while (pos < s.size) {
    uint64_t rec_len, next;
    uint32_t nevents;
    int r = record_at(&s, pos, &rec_len, &nevents);
    if (r < 0) goto io;
    if (r == 1) {
      if (seg->base + pos >= ckpt) w->pending += nevents;
      w->st.recovered_records++;
      pos += rec_len;
      continue;
    }
    int z = zero_tail(&s, pos);
    if (z < 0) goto io;
    if (z == 1) {
      unused = s.size - pos;
      break;
    }
    if (resync(&s, pos, &next) != 0) goto io;
    if (next == s.size && last) break; /* a torn tail */
    if ((e = damaged(&s, pos, next, errstr, errstr_size))) goto done;
    pos = next;
  }
  if (pos < s.size) {
    if (ftruncate(s.fd, (off_t)pos) != 0) goto io;
    w->st.truncated_bytes += s.size - pos - unused;
    w->st.unused_bytes += unused;
  }
  /* What a killed process left in the page cache is not yet on disk. */
  if (w->policy != EVP__FSYNC_NEVER && fdatasync(s.fd) != 0) goto io;
  seg->size = pos;
  goto done;
io:
  e = evp__seterr(errstr, errstr_size, errno == ENOMEM ? EVP_ERR_NOMEM : EVP_ERR_IO,
                  "wal: recover %s/%s: %s", w->dir, s.name, strerror(errno));
done:
  if (s.map) munmap((void *)s.map, (size_t)s.size);
  free(s.buf);
  close(s.fd);
  return e;
}

evp_err_t evp__wal_new_segment(evp__wal_t *w, int *fd_out, char *errstr, size_t errstr_size) {
  if (w->nsegs == w->segcap) {
    size_t cap = w->segcap ? w->segcap * 2 : 16;
    evp__wal_seg_t *s = realloc(w->segs, cap * sizeof *s);
    if (!s) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "wal: out of memory");
    w->segs = s;
    w->segcap = cap;
  }
  char name[EVP__WAL_SEG_NAME_LEN + 1];
  snprintf(name, sizeof name, EVP__WAL_SEG_FMT, (unsigned long long)w->end);
  /* Read-write: mapped mode maps it shared for writing. */
  int fd = openat(w->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    int en = errno;
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: create %s/%s: %s", w->dir, name,
                       strerror(en));
  }
  /* The new name must survive a crash before records in it are acknowledged. */
  if (w->policy != EVP__FSYNC_NEVER) {
    evp_err_t e = evp__wal_fsync_dir(w->dirfd, w->dir, errstr, errstr_size);
    if (e) {
      close(fd);
      unlinkat(w->dirfd, name, 0);
      return e;
    }
  }
  w->segs[w->nsegs].base = w->end;
  w->segs[w->nsegs].size = 0;
  w->nsegs++;
  *fd_out = fd;
  return EVP_OK;
}

void evp__wal_unlink_seg(evp__wal_t *w, uint64_t base) {
  char name[EVP__WAL_SEG_NAME_LEN + 1];
  snprintf(name, sizeof name, EVP__WAL_SEG_FMT, (unsigned long long)base);
  /* A failed unlink only costs disk space; the next open retries it. */
  unlinkat(w->dirfd, name, 0);
}

evp_err_t evp__wal_recover(evp__wal_t *w, char *errstr, size_t errstr_size) {
  unlinkat(w->dirfd, "checkpoint.tmp", 0); /* a commit interrupted by a crash */
  uint64_t ckpt;
  evp_err_t e = evp__wal_ckpt_read(w->dirfd, w->dir, &ckpt, errstr, errstr_size);
  if (e) return e;
  if ((e = list_segments(w, errstr, errstr_size))) return e;
  for (size_t i = 0; i < w->nsegs; i++) {
    if ((e = scan_segment(w, &w->segs[i], ckpt, i + 1 == w->nsegs, errstr, errstr_size))) return e;
    if (i > 0 && w->segs[i - 1].base + w->segs[i - 1].size > w->segs[i].base)
      return evp__seterr(errstr, errstr_size, EVP_ERR_IO,
                         "wal: segments " EVP__WAL_SEG_FMT " and " EVP__WAL_SEG_FMT
                         " in %s overlap; the directory holds files of two logs",
                         (unsigned long long)w->segs[i - 1].base,
                         (unsigned long long)w->segs[i].base, w->dir);
  }
  /* Offsets never go back: when the checkpoint is beyond everything on disk
   * (the log's tail was lost), a new active segment starts at it. */
  int fresh = w->nsegs == 0 || w->segs[w->nsegs - 1].base + w->segs[w->nsegs - 1].size < ckpt;
  /* Segments wholly below the checkpoint (not the active one) are kept,
   * newest first, while they fit retain_bytes. */
  size_t ncommitted = 0;
  uint64_t committed = 0;
  while (ncommitted < w->nsegs - (fresh ? 0 : 1) &&
         w->segs[ncommitted].base + w->segs[ncommitted].size <= ckpt)
    committed += w->segs[ncommitted++].size;
  size_t drop = 0;
  while (drop < ncommitted && (committed > w->retain || w->segs[drop].size == 0))
    committed -= w->segs[drop++].size;
  for (size_t i = 0; i < drop; i++) evp__wal_unlink_seg(w, w->segs[i].base);
  if (drop) memmove(w->segs, w->segs + drop, (w->nsegs - drop) * sizeof *w->segs);
  w->nsegs -= drop;
  w->checkpoint = ckpt;
  if (fresh) {
    w->end = ckpt;
  } else {
    evp__wal_seg_t *last = &w->segs[w->nsegs - 1];
    w->end = last->base + last->size;
    char name[EVP__WAL_SEG_NAME_LEN + 1];
    snprintf(name, sizeof name, EVP__WAL_SEG_FMT, (unsigned long long)last->base);
    w->fd = openat(w->dirfd, name, O_RDWR | O_CLOEXEC);
    if (w->fd < 0) {
      int en = errno;
      return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: open %s/%s: %s", w->dir, name,
                         strerror(en));
    }
  }
  w->durable = w->end;
  if (w->fd < 0 && (e = evp__wal_new_segment(w, &w->fd, errstr, errstr_size))) return e;
  if (w->mapped)
    return evp__wal_map_active(w, w->fd, w->segs[w->nsegs - 1].size, 0, errstr, errstr_size);
  return EVP_OK;
}
