/* Small I/O helpers for the log: whole-buffer positional reads and writes
 * (retrying short transfers and EINTR) and directory fsync. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "base/base.h"
#include "wal/wal.h"
#include "wal/wal_int.h"

int evp__wal_pwrite_full(int fd, const void *buf, size_t n, uint64_t off) {
  const unsigned char *p = buf;
  while (n > 0) {
    ssize_t k = pwrite(fd, p, n, (off_t)off);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (k == 0) {
      errno = EIO;
      return -1;
    }
    p += k;
    n -= (size_t)k;
    off += (uint64_t)k;
  }
  return 0;
}

int evp__wal_pread_full(int fd, void *buf, size_t n, uint64_t off, size_t *got) {
  unsigned char *p = buf;
  size_t done = 0;
  while (done < n) {
    ssize_t k = pread(fd, p + done, n - done, (off_t)(off + done));
    if (k < 0) {
      if (errno == EINTR) continue;
      *got = done;
      return -1;
    }
    if (k == 0) break; /* end of file */
    done += (size_t)k;
  }
  *got = done;
  return 0;
}

evp_err_t evp__wal_fsync_dir(int dirfd, const char *dir, char *errstr, size_t errstr_size) {
  if (fsync(dirfd) != 0) {
    int en = errno;
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: fsync directory %s: %s", dir,
                       strerror(en));
  }
  return EVP_OK;
}
