/* The checkpoint: the log offset below which every event is in a committed
 * lake file. Replaced atomically (temp + fsync + rename + directory fsync) so
 * a crash leaves the old or the new value, never a mix; a CRC catches a file
 * damaged by anything else, which is refused rather than guessed at. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "base/base.h"
#include "wal/wal.h"
#include "wal/wal_read.h"
#include "wal/wal_int.h"

#define CKPT_NAME "checkpoint"
#define CKPT_TMP "checkpoint.tmp"
#define CKPT_SIZE 24
static const char CKPT_MAGIC[8] = {'E', 'V', 'P', 'C', 'K', 'P', 'T', '1'};

static uint32_t ckpt_crc(const unsigned char *p) {
  return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, 16);
}

evp_err_t evp__wal_ckpt_read(int dirfd, const char *dir, uint64_t *offset, char *errstr,
                             size_t errstr_size) {
  *offset = 0;
  int fd = openat(dirfd, CKPT_NAME, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int en = errno;
    if (en == ENOENT) return EVP_OK; /* a new log: nothing committed yet */
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: open %s/%s: %s", dir, CKPT_NAME,
                       strerror(en));
  }
  unsigned char b[CKPT_SIZE + 1];
  size_t got = 0;
  int r = evp__wal_pread_full(fd, b, sizeof b, 0, &got);
  int en = errno;
  close(fd);
  if (r != 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: read %s/%s: %s", dir, CKPT_NAME,
                       strerror(en));
  if (got != CKPT_SIZE || memcmp(b, CKPT_MAGIC, 8) != 0 || evp__wal_get32(b + 16) != ckpt_crc(b) ||
      evp__wal_get32(b + 20) != 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO,
                       "wal: checkpoint %s/%s is corrupt (size %zu or checksum wrong); it is "
                       "never written in place, so the disk or another program damaged it. "
                       "Removing it replays the retained log; the batcher skips records whose "
                       "lake files exist",
                       dir, CKPT_NAME, got);
  uint64_t v = 0;
  for (int i = 15; i >= 8; i--) v = v << 8 | b[i];
  *offset = v;
  return EVP_OK;
}

evp_err_t evp__wal_ckpt_write(int dirfd, const char *dir, uint64_t offset, char *errstr,
                              size_t errstr_size) {
  unsigned char b[CKPT_SIZE];
  memcpy(b, CKPT_MAGIC, 8);
  for (int i = 0; i < 8; i++) b[8 + i] = (unsigned char)(offset >> (8 * i));
  uint32_t c = ckpt_crc(b);
  for (int i = 0; i < 4; i++) b[16 + i] = (unsigned char)(c >> (8 * i));
  memset(b + 20, 0, 4);
  int fd = openat(dirfd, CKPT_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    int en = errno;
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: create %s/%s: %s", dir, CKPT_TMP,
                       strerror(en));
  }
  const char *what = "write";
  int ok = evp__wal_pwrite_full(fd, b, sizeof b, 0) == 0;
  if (ok && !(ok = fsync(fd) == 0)) what = "fsync";
  int en = errno;
  if (close(fd) != 0 && ok) {
    ok = 0;
    en = errno;
    what = "close";
  }
  if (ok && renameat(dirfd, CKPT_TMP, dirfd, CKPT_NAME) != 0) {
    ok = 0;
    en = errno;
    what = "rename";
  }
  if (!ok) {
    unlinkat(dirfd, CKPT_TMP, 0);
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: %s %s/%s: %s", what, dir, CKPT_TMP,
                       strerror(en));
  }
  return evp__wal_fsync_dir(dirfd, dir, errstr, errstr_size);
}
