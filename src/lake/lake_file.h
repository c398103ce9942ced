/* Atomic file creation for the lake: a hidden temporary in the target
 * directory, buffered writes, then fsync + rename + directory fsync. */
#ifndef EVP_LAKE_LAKE_FILE_H
#define EVP_LAKE_LAKE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include "base/buf.h"

typedef struct evp__lake_file {
  int fd;
  char *dir;
  char *tmp_path;
  char *final_path;
  uint64_t offset; /* bytes accepted so far (buffered or written) */
  evp__buf_t wbuf; /* pending bytes, flushed at 256 KiB */
} evp__lake_file_t;

/* @p f must be zeroed or a file committed/aborted before: its write buffer is
 * reused (evp__lake_file_free releases it). */
evp_err_t evp__lake_file_open(evp__lake_file_t *f, const char *dir, const char *final_name,
                              char *errstr, size_t errstr_size);
evp_err_t evp__lake_file_write(evp__lake_file_t *f, const void *p, size_t n, char *errstr,
                               size_t errstr_size);
/* Flush, fsync (unless @p no_fsync), close, rename to the final name and
 * fsync the directory. On failure the temporary is removed. Always releases
 * @p f's resources. */
evp_err_t evp__lake_file_commit(evp__lake_file_t *f, int no_fsync, char *errstr,
                                size_t errstr_size);
/* Close and remove the temporary; releases resources. Safe after commit. */
void evp__lake_file_abort(evp__lake_file_t *f);
/* Release the write buffer kept between files. */
void evp__lake_file_free(evp__lake_file_t *f);

#endif /* EVP_LAKE_LAKE_FILE_H */
