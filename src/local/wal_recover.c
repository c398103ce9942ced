/* Recovery on open: find the segments, keep each one's longest prefix of
 * valid records (header, length, CRC and structure all check out) and cut
 * the rest, so a torn write or a flipped bit is never replayed. A damaged
 * segment that is not the last one keeps its valid prefix and the later
 * segments stay: readers skip the gap. Then the checkpoint is read, segments
 * wholly below it are deleted, and the last segment becomes the active one. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "core/core.h"
#include "local/wal_int.h"

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

/* Valid prefix of one segment; cuts (and syncs) the rest. */
static evp_err_t scan_segment(evp__wal_t *w, evp__wal_seg_t *seg, uint64_t ckpt, char *errstr,
                              size_t errstr_size) {
  char name[EVP__WAL_SEG_NAME_LEN + 1];
  snprintf(name, sizeof name, EVP__WAL_SEG_FMT, (unsigned long long)seg->base);
  int fd = openat(w->dirfd, name, O_RDWR | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    int en = errno;
    if (fd >= 0) close(fd);
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: open %s/%s: %s", w->dir, name,
                       strerror(en));
  }
  uint64_t size = (uint64_t)st.st_size, pos = 0;
  unsigned char *buf = NULL;
  size_t cap = 0;
  evp_err_t e = EVP_OK;
  for (;;) {
    unsigned char hdr[EVP__WAL_HDR];
    uint32_t len;
    size_t got;
    if (size - pos < EVP__WAL_HDR) break;
    if (evp__wal_pread_full(fd, hdr, sizeof hdr, pos, &got) != 0) goto io;
    if (got < sizeof hdr || evp__wal_header_check(hdr, &len) != 0) break;
    if (size - pos - EVP__WAL_HDR < len) break; /* torn: the payload was not all written */
    if (len > cap) {
      free(buf);
      cap = len;
      if (!(buf = malloc(cap))) {
        e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "wal: out of memory");
        goto done;
      }
    }
    if (evp__wal_pread_full(fd, buf, len, pos + EVP__WAL_HDR, &got) != 0) goto io;
    evp__wal_record_t rec;
    if (got < len || evp__wal_record_crc(hdr, buf, len) != evp__wal_get32(hdr + 12) ||
        evp__wal_payload_decode(buf, len, &rec) != 0)
      break;
    if (seg->base + pos >= ckpt) w->pending += rec.nevents;
    w->st.recovered_records++;
    pos += EVP__WAL_HDR + len;
  }
  if (pos < size) {
    if (ftruncate(fd, (off_t)pos) != 0) goto io;
    w->st.truncated_bytes += size - pos;
  }
  /* What a killed process left in the page cache is not yet on disk. */
  if (w->policy != EVP__FSYNC_NEVER && fdatasync(fd) != 0) goto io;
  seg->size = pos;
  goto done;
io:
  e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: recover %s/%s: %s", w->dir, name,
                  strerror(errno));
done:
  free(buf);
  close(fd);
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
  int fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
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
    if ((e = scan_segment(w, &w->segs[i], ckpt, errstr, errstr_size))) return e;
    if (i > 0 && w->segs[i - 1].base + w->segs[i - 1].size > w->segs[i].base)
      return evp__seterr(errstr, errstr_size, EVP_ERR_IO,
                         "wal: segments " EVP__WAL_SEG_FMT " and " EVP__WAL_SEG_FMT
                         " in %s overlap; the directory holds files of two logs",
                         (unsigned long long)w->segs[i - 1].base,
                         (unsigned long long)w->segs[i].base, w->dir);
  }
  /* Offsets never go back: when the checkpoint is beyond everything on disk
   * (the log's tail was lost), a new active segment starts at it. */
  int fresh = w->nsegs == 0 ||
              w->segs[w->nsegs - 1].base + w->segs[w->nsegs - 1].size < ckpt;
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
    w->fd = openat(w->dirfd, name, O_WRONLY | O_CLOEXEC);
    if (w->fd < 0) {
      int en = errno;
      return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: open %s/%s: %s", w->dir, name,
                         strerror(en));
    }
  }
  w->durable = w->end;
  if (w->fd < 0) return evp__wal_new_segment(w, &w->fd, errstr, errstr_size);
  return EVP_OK;
}
