/* The mapped active segment (evp__wal_opts_t.mapped, the client spool):
 * the segment file is preallocated to segment_bytes and mapped shared, so an
 * append is a copy into the page cache with no system call. A copy into a
 * shared mapping is in the kernel as soon as it is made: a killed process
 * loses nothing it appended, and fdatasync on the file descriptor writes the
 * mapped pages like written ones. Preallocating the blocks up front turns a
 * full disk into an error at the roll to a new segment instead of a SIGBUS
 * on a store into the mapping. The unused, zero-filled tail is cut when the
 * segment stops being the active one (roll, close); after a crash recovery
 * recognises it as unused space (wal_recover.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/base.h"
#include "wal/wal_int.h"

evp_err_t evp__wal_map_active(evp__wal_t *w, int fd, uint64_t used, size_t need, char *errstr,
                              size_t errstr_size) {
  size_t len = w->segment_bytes;
  if (used > len) len = (size_t)used; /* a segment written with a larger segment_bytes */
  struct stat st;
  if (fstat(fd, &st) != 0) goto io;
  if ((uint64_t)st.st_size < len) {
    int r = posix_fallocate(fd, 0, (off_t)len);
    if ((r == ENOSPC || r == EDQUOT) && need) {
      /* A nearly full disk (delivered segments just freed a little): a
       * segment just big enough, rounded up to 64 KiB, keeps events coming. */
      size_t small = ((size_t)used + need + 65535) & ~(size_t)65535;
      if (small < len && (r = posix_fallocate(fd, 0, (off_t)small)) == 0) len = small;
    }
    if (r != 0) {
      /* Leave the file as it was: a partly extended segment would only be
       * zeros, which recovery cuts, but there is no reason to keep them. */
      if (ftruncate(fd, (off_t)used) != 0) {}
      if (r == ENOSPC || r == EDQUOT)
        return evp__seterr(errstr, errstr_size, EVP_ERR_IO,
                           "no space left on the device of %s for a %zu-byte segment "
                           "(%s): free space there, or lower spool.max.bytes",
                           w->dir, len, strerror(r));
      errno = r;
      goto io;
    }
  }
  void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) goto io;
  w->map = m;
  w->map_len = len;
  w->map_gen++;
  w->prefault_to = (size_t)used & ~(size_t)4095;
  evp__wal_prefault_check(w, used);
  return EVP_OK;
io:;
  int en = errno;
  return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: map the active segment in %s: %s",
                     w->dir, strerror(en));
}

/* How far ahead of the appends pages are populated, and when to go on. */
#define PREFAULT_CHUNK (1u << 20)
#define PREFAULT_LOW (512u << 10)

void evp__wal_prefault_check(evp__wal_t *w, uint64_t used) {
  if (!w->map || w->prefault_broken || w->prefault_want || w->prefault_to >= w->map_len ||
      used + PREFAULT_LOW < w->prefault_to)
    return;
  w->prefault_want = 1;
  pthread_cond_broadcast(&w->reap_cv);
}

void evp__wal_prefault_run(evp__wal_t *w) {
  w->prefault_want = 0;
  if (!w->map || w->prefault_broken || w->prefault_to >= w->map_len) return;
  size_t off = w->prefault_to;
  size_t len = w->map_len - off < PREFAULT_CHUNK ? w->map_len - off : PREFAULT_CHUNK;
  unsigned char *p = w->map + off;
  uint64_t gen = w->map_gen;
  w->prefaulting = 1;
  pthread_mutex_unlock(&w->mu);
  /* Writes the pages in (zeros, which they are anyway): the faults, and on
   * a file system the block bookkeeping, happen here and not in an append.
   * Linux 5.14 and later; elsewhere appends take their own faults. */
#ifdef MADV_POPULATE_WRITE
  int r = madvise(p, len, MADV_POPULATE_WRITE);
#else
  int r = -1;
  (void)p;
#endif
  pthread_mutex_lock(&w->mu);
  w->prefaulting = 0;
  if (r != 0)
    w->prefault_broken = 1;
  else if (w->map_gen == gen && off + len > w->prefault_to)
    w->prefault_to = off + len;
  pthread_cond_broadcast(&w->reap_cv); /* a roll waiting for it */
}

void evp__wal_unmap_active(evp__wal_t *w, int fd, uint64_t used) {
  if (!w->map) return;
  munmap(w->map, w->map_len);
  w->map = NULL;
  w->map_len = 0;
  /* A failure only leaves zeros at the end, which recovery cuts. */
  if (ftruncate(fd, (off_t)used) != 0) {}
}
