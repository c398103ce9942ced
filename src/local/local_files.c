/* File helpers of `evpipe local`: private directories, bounded reads that
 * refuse world-readable secrets, and atomic 0600 writes. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "core/core.h"
#include "lake/lake.h"
#include "local/local.h"

evp_err_t evp__local_mkdirs(const char *path, char *errstr, size_t errstr_size) {
  /* The lake's mkdir -p: 0700, and each new directory fsynced into its parent. */
  return evp__lake_mkdirs(path, errstr, errstr_size);
}

evp_err_t evp__local_read_file(const char *path, size_t max, int secret, char **buf, size_t *len,
                               struct stat *stp, char *errstr, size_t errstr_size) {
  *buf = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int en = errno;
    evp__seterr(errstr, errstr_size, EVP_ERR_IO, "cannot open %s: %s", path, strerror(en));
    errno = en;
    return EVP_ERR_IO;
  }
  struct stat st;
  evp_err_t e;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "%s is not a regular file", path);
    goto out;
  }
  if (secret && (st.st_mode & (S_IRWXG | S_IRWXO))) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_PERMISSION,
                    "%s holds secrets but is accessible by group or others (mode %03o); "
                    "run: chmod 600 %s",
                    path, (unsigned)(st.st_mode & 0777), path);
    goto out;
  }
  if ((uintmax_t)st.st_size > max) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE, "%s is larger than %zu bytes", path,
                    max);
    goto out;
  }
  size_t cap = (size_t)st.st_size + 1;
  char *b = malloc(cap);
  if (!b) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    goto out;
  }
  size_t n = 0;
  while (n < cap - 1) {
    ssize_t r = read(fd, b + n, cap - 1 - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "cannot read %s: %s", path, strerror(errno));
      OPENSSL_cleanse(b, cap);
      free(b);
      goto out;
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  b[n] = '\0';
  *buf = b;
  *len = n;
  if (stp)
    *stp = st;
  e = EVP_OK;
out:
  close(fd);
  return e;
}

static int fsync_dir_of(const char *path) {
  char d[PATH_MAX];
  const char *slash = strrchr(path, '/');
  size_t n = slash ? (size_t)(slash - path) : 0;
  if (n >= sizeof d)
    return -1;
  if (n == 0) {
    d[0] = slash ? '/' : '.';
    d[1] = '\0';
  } else {
    memcpy(d, path, n);
    d[n] = '\0';
  }
  int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  int r = fsync(fd);
  close(fd);
  return r;
}

evp_err_t evp__local_write_secret_file(const char *path, const char *data, size_t len, int excl,
                                       char *errstr, size_t errstr_size) {
  char tmp[PATH_MAX];
  unsigned char rnd[6];
  if (evp__random(rnd, sizeof rnd) != EVP_OK)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL, "no randomness");
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-%02x%02x%02x%02x%02x%02x", path, rnd[0], rnd[1],
                       rnd[2], rnd[3], rnd[4], rnd[5]) >= sizeof tmp)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "path too long");
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      goto fail;
    off += (size_t)w;
  }
  if (fsync(fd) != 0)
    goto fail;
  close(fd);
  fd = -1;
  /* link() fails on an existing target, which is what "create only" needs;
   * rename() replaces atomically. */
  if (excl) {
    if (link(tmp, path) != 0) {
      int en = errno;
      unlink(tmp);
      if (en == EEXIST)
        return evp__seterr(errstr, errstr_size, EVP_ERR_STATE, "%s already exists", path);
      return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "cannot create %s: %s", path, strerror(en));
    }
    unlink(tmp);
  } else if (rename(tmp, path) != 0) {
    goto fail;
  }
  if (fsync_dir_of(path) != 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "cannot sync the directory of %s: %s", path,
                       strerror(errno));
  return EVP_OK;
fail:;
  int en = errno;
  if (fd >= 0)
    close(fd);
  unlink(tmp);
  return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "cannot write %s: %s", path, strerror(en));
}
