/* bench_wal: appends per second into the local durable log with 1 and 8
 * threads under each fsync policy, and the fsyncs the group commit needed.
 * Usage: bench_wal [DIR] [SECONDS_PER_CASE]   (DIR default: a temp dir under /tmp)
 * Each append is one record; the events-per-record column shows a typical
 * HTTP batch as well as single events. */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "local/wal_int.h"

#define EVENT_BYTES 200

typedef struct {
  evp__wal_t *w;
  double seconds;
  int per_record;
  long appends;
  int failed;
} arg_t;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *p) {
  arg_t *a = p;
  static char ev[EVENT_BYTES + 1];
  memset(ev, 'x', EVENT_BYTES);
  const char *evs[500];
  size_t lens[500];
  for (int i = 0; i < a->per_record; i++) {
    evs[i] = ev;
    lens[i] = EVENT_BYTES;
  }
  double end = now_s() + a->seconds;
  char err[256];
  while (now_s() < end) {
    if (evp__wal_append(a->w, "bench-client", 1, evs, lens, (size_t)a->per_record, err,
                        sizeof err) != EVP_OK) {
      fprintf(stderr, "append: %s\n", err);
      a->failed = 1;
      return NULL;
    }
    a->appends++;
  }
  return NULL;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f) {
  (void)sb; (void)flag; (void)f;
  return remove(p);
}

int main(int argc, char **argv) {
  char tmp[256];
  const char *base = argc > 1 ? argv[1] : NULL;
  double secs = argc > 2 ? atof(argv[2]) : 2.0;
  if (!base) {
    snprintf(tmp, sizeof tmp, "/tmp/evp_bench_wal_XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    base = tmp;
  }
  static const struct { evp__fsync_policy_t p; const char *name; } pol[] = {
      {EVP__FSYNC_ALWAYS, "always"}, {EVP__FSYNC_INTERVAL, "interval(200ms)"},
      {EVP__FSYNC_NEVER, "never"}};
  static const int threads[] = {1, 8};
  static const int per_record[] = {1, 500};
  printf("%-16s %7s %10s %12s %12s %10s %12s\n", "policy", "threads", "ev/record", "appends/s",
         "events/s", "fsyncs", "appends/sync");
  int rc = 0;
  for (size_t pi = 0; pi < 3; pi++)
    for (size_t ri = 0; ri < 2; ri++)
      for (size_t ti = 0; ti < 2; ti++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/wal-%zu-%zu-%zu", base, pi, ri, ti);
        evp__wal_opts_t o = {0};
        o.fsync = pol[pi].p;
        evp__wal_t *w;
        char err[256];
        if (evp__wal_open(dir, &o, &w, err, sizeof err) != EVP_OK) {
          fprintf(stderr, "open: %s\n", err);
          return 1;
        }
        arg_t a[8];
        pthread_t th[8];
        int n = threads[ti];
        double t0 = now_s();
        for (int i = 0; i < n; i++) {
          a[i] = (arg_t){w, secs, per_record[ri], 0, 0};
          pthread_create(&th[i], NULL, run, &a[i]);
        }
        long total = 0;
        for (int i = 0; i < n; i++) {
          pthread_join(th[i], NULL);
          total += a[i].appends;
          rc |= a[i].failed;
        }
        double el = now_s() - t0;
        evp__wal_stats_t st;
        evp__wal_get_stats(w, &st);
        evp__wal_close(w);
        printf("%-16s %7d %10d %12.0f %12.0f %10llu %12.1f\n", pol[pi].name, n, per_record[ri],
               (double)total / el, (double)total * per_record[ri] / el,
               (unsigned long long)st.fsyncs, st.fsyncs ? (double)total / (double)st.fsyncs : 0.0);
        fflush(stdout);
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
      }
  if (base == tmp) nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return rc;
}
