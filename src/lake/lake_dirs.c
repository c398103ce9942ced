/* Lake directory helpers: the Hive-style partition path of an event time,
 * and durable creation of partition directories. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "core/core.h"
#include "lake/lake.h"

evp_err_t evp__lake_partition_dir(char *out, size_t out_size, const char *root, const char *table,
                                  int64_t ts_us, char *errstr, size_t errstr_size) {
  if (!out || !root || !table || !*table || strchr(table, '/'))
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "lake: bad partition arguments");
  /* floor division, so times before 1970 land in the right hour */
  int64_t secs = ts_us / 1000000 - (ts_us % 1000000 < 0 ? 1 : 0);
  time_t t = (time_t)secs;
  struct tm tm;
  if ((int64_t)t != secs || !gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "lake: timestamp %lld out of range", (long long)ts_us);
  int n = snprintf(out, out_size, "%s/%s/dt=%04d-%02d-%02d/hour=%02d", root, table,
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
  if (n < 0 || (size_t)n >= out_size)
    return evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE, "lake: partition path too long");
  return EVP_OK;
}

static evp_err_t fsync_path(const char *dir, char *errstr, size_t errstr_size) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0) {
    int en = errno;
    if (fd >= 0) close(fd);
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "lake: fsync %s: %s", dir, strerror(en));
  }
  close(fd);
  return EVP_OK;
}

evp_err_t evp__lake_mkdirs(const char *path, char *errstr, size_t errstr_size) {
  if (!path || !*path)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "lake: empty directory path");
  size_t n = strlen(path);
  if (n >= 4096) return evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE, "lake: path too long");
  char *p = evp__strdup(path);
  if (!p) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "lake: out of memory");
  evp_err_t e = EVP_OK;
  /* Walk the components; each directory we create is made durable by
   * fsyncing its parent, or a crash could lose the partition with the file. */
  for (size_t i = 1; i <= n && !e; i++) {
    if (i < n && p[i] != '/') continue;
    char saved = p[i];
    p[i] = 0;
    if (mkdir(p, 0700) == 0) {
      char *slash = strrchr(p, '/');
      if (slash == p) e = fsync_path("/", errstr, errstr_size);
      else if (!slash) e = fsync_path(".", errstr, errstr_size);
      else {
        *slash = 0;
        e = fsync_path(p, errstr, errstr_size);
        *slash = '/';
      }
    } else {
      int en = errno;
      struct stat st;
      if (en != EEXIST || stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
        e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "lake: mkdir %s: %s", p,
                        en == EEXIST ? "exists and is not a directory" : strerror(en));
    }
    p[i] = saved;
  }
  free(p);
  return e;
}
