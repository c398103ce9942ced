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
#include "base/base.h"
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
