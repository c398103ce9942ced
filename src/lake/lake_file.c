/* Atomic lake file: write DIR/.NAME.tmp, fsync, rename to DIR/NAME, fsync
 * DIR. A crash leaves either no final file or a complete one; a stray
 * dot-prefixed temporary is ignored by readers' globs. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/base.h"
#include "lake/lake_file.h"
#include "base/files.h"

#define WBUF_FLUSH (256u * 1024u)

static char *path_join(const char *dir, const char *pre, const char *name, const char *suf) {
  size_t n = strlen(dir) + strlen(pre) + strlen(name) + strlen(suf) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s%s%s", dir, pre, name, suf);
  return p;
}

static void release(evp__lake_file_t *f) {
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
  free(f->dir);
  free(f->tmp_path);
  free(f->final_path);
  f->dir = f->tmp_path = f->final_path = NULL;
  f->wbuf.len = 0; /* kept for the next file: see evp__lake_file_free */
}

void evp__lake_file_free(evp__lake_file_t *f) { evp__buf_free(&f->wbuf); }

evp_err_t evp__lake_file_open(evp__lake_file_t *f, const char *dir, const char *final_name,
                              char *errstr, size_t errstr_size) {
  evp__buf_t keep = f->wbuf;
  memset(f, 0, sizeof *f);
  f->wbuf = keep;
  f->wbuf.len = 0;
  f->fd = -1;
  if (!dir || !*dir || !final_name)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "lake file: missing dir or name");
  size_t nl = strlen(final_name);
  if (nl == 0 || nl > 200 || strchr(final_name, '/') || final_name[0] == '.')
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "lake file: name must be 1..200 bytes, no '/', not starting with '.'");
  f->dir = evp__strdup(dir);
  f->tmp_path = path_join(dir, ".", final_name, ".tmp");
  f->final_path = path_join(dir, "", final_name, "");
  if (!f->dir || !f->tmp_path || !f->final_path) {
    release(f);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "lake file: out of memory");
  }
  struct stat st;
  if (lstat(f->final_path, &st) == 0) {
    evp_err_t e =
        evp__seterr(errstr, errstr_size, EVP_ERR_IO, "lake file: %s already exists", f->final_path);
    release(f);
    return e;
  }
  f->fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (f->fd < 0) {
    int en = errno;
    evp_err_t e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "lake file: cannot create %s: %s",
                              f->tmp_path, strerror(en));
    release(f);
    return e;
  }
  return EVP_OK;
}

static evp_err_t write_all(evp__lake_file_t *f, const uint8_t *p, size_t n, char *errstr,
                           size_t errstr_size) {
  while (n > 0) {
    ssize_t w = write(f->fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      int en = errno;
      return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "lake file: write %s: %s", f->tmp_path,
                         strerror(en));
    }
    p += w;
    n -= (size_t)w;
  }
  return EVP_OK;
}

static evp_err_t flush(evp__lake_file_t *f, char *errstr, size_t errstr_size) {
  evp_err_t e = write_all(f, f->wbuf.p, f->wbuf.len, errstr, errstr_size);
  f->wbuf.len = 0;
  return e;
}

evp_err_t evp__lake_file_write(evp__lake_file_t *f, const void *p, size_t n, char *errstr,
                               size_t errstr_size) {
  if (f->fd < 0) return evp__seterr(errstr, errstr_size, EVP_ERR_STATE, "lake file: not open");
  evp_err_t e;
  if (n >= WBUF_FLUSH) { /* large pages bypass the buffer */
    if ((e = flush(f, errstr, errstr_size)) != EVP_OK) return e;
    if ((e = write_all(f, p, n, errstr, errstr_size)) != EVP_OK) return e;
  } else {
    if ((e = evp__buf_put(&f->wbuf, p, n)) != EVP_OK)
      return evp__seterr(errstr, errstr_size, e, "lake file: out of memory");
    if (f->wbuf.len >= WBUF_FLUSH && (e = flush(f, errstr, errstr_size)) != EVP_OK) return e;
  }
  f->offset += n;
  return EVP_OK;
}

evp_err_t evp__lake_file_commit(evp__lake_file_t *f, int no_fsync, char *errstr,
                                size_t errstr_size) {
  if (f->fd < 0) {
    release(f);
    return evp__seterr(errstr, errstr_size, EVP_ERR_STATE, "lake file: not open");
  }
  evp_err_t e = flush(f, errstr, errstr_size);
  if (e == EVP_OK && !no_fsync && fsync(f->fd) != 0) {
    int en = errno;
    e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "lake file: fsync %s: %s", f->tmp_path,
                    strerror(en));
  }
  /* close() can report delayed write errors (e.g. NFS quota). */
  int rc = close(f->fd);
  int en = errno;
  f->fd = -1;
  if (e == EVP_OK && rc != 0)
    e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "lake file: close %s: %s", f->tmp_path,
                    strerror(en));
  if (e == EVP_OK && rename(f->tmp_path, f->final_path) != 0) {
    en = errno;
    e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "lake file: rename to %s: %s", f->final_path,
                    strerror(en));
  }
  if (e != EVP_OK) {
    unlink(f->tmp_path);
    release(f);
    return e;
  }
  /* The rename is durable only once the directory entry is on disk. */
  if (!no_fsync) e = evp__fsync_dir(f->dir, errstr, errstr_size);
  release(f);
  return e;
}

void evp__lake_file_abort(evp__lake_file_t *f) {
  if (f->fd >= 0) {
    close(f->fd);
    f->fd = -1;
    if (f->tmp_path) unlink(f->tmp_path);
  }
  release(f);
}
