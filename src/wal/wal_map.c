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

evp_err_t evp__wal_map_active(evp__wal_t *w, int fd, uint64_t used, char *errstr,
                              size_t errstr_size) {
  size_t len = w->segment_bytes;
  if (used > len) len = (size_t)used; /* a segment written with a larger segment_bytes */
  struct stat st;
  if (fstat(fd, &st) != 0) goto io;
  if ((uint64_t)st.st_size < len) {
    int r = posix_fallocate(fd, 0, (off_t)len);
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
  return EVP_OK;
io:;
  int en = errno;
  return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: map the active segment in %s: %s",
                     w->dir, strerror(en));
}

void evp__wal_unmap_active(evp__wal_t *w, int fd, uint64_t used) {
  if (!w->map) return;
  munmap(w->map, w->map_len);
  w->map = NULL;
  w->map_len = 0;
  /* A failure only leaves zeros at the end, which recovery cuts. */
  if (ftruncate(fd, (off_t)used) != 0) {}
}
