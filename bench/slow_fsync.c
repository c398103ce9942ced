/* LD_PRELOAD shim for the ingest benchmark: every fdatasync() takes
 * EVP_SLOW_FSYNC_US longer (default 2000), as on a slower disk or a busy
 * cloud volume. This VM's own disk drifts between phases; the shim makes the
 * slow case reproducible:
 *   EVP_SLOW_FSYNC_US=2000 LD_PRELOAD=build/bench/libevp_slow_fsync.so \
 *     build/bench/bench_ingest 1000000 2 always */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

__attribute__((visibility("default"))) int fdatasync(int fd) {
  void *sym = dlsym(RTLD_NEXT, "fdatasync");
  int (*real)(int);
  memcpy(&real, &sym, sizeof real); /* ISO C has no object-to-function cast */
  if (!sym) {
    errno = ENOSYS;
    return -1;
  }
  int r = real(fd);
  int en = errno;
  const char *d = getenv("EVP_SLOW_FSYNC_US");
  long us = d ? atol(d) : 2000;
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  while (us > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
  errno = en;
  return r;
}
