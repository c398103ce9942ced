/* Bench: the batcher alone — log records (batches of 500 typical events, as
 * POST /events leaves them) drained into the Parquet lake.
 *   bench_batcher [EVENTS] [BUFFER_MB]     (default 500000, 5)
 * Run from the project root (or set EVP_BENCH_SCHEMA); EVP_BENCH_LAKE_THREADS
 * sets --lake-threads (1: the batcher thread alone). Prints events/s and
 * CPU microseconds per event of the process. */
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "local/local.h"
#include "wal/wal.h"
#include "batcher/batcher.h"
#include "bench_events.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *b = malloc(1 << 20);
  size_t n = b ? fread(b, 1, (1 << 20) - 1, f) : 0;
  fclose(f);
  if (b) b[n] = 0;
  return b;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 500000;
  int mb = argc > 2 ? atoi(argv[2]) : 5;
  if (n < 500 || mb < 1) return 2;
  const char *sp = getenv("EVP_BENCH_SCHEMA");
  char *schema = slurp(sp ? sp : "examples/schemas/glue-data-catalog-json-schema.json");
  if (!schema) {
    fprintf(stderr, "cannot read the schema (run from the project root)\n");
    return 1;
  }
  char dir[] = "/tmp/evp-bench-batcher-XXXXXX", path[512], err[512];
  if (!mkdtemp(dir)) return 1;
  snprintf(path, sizeof path, "%s/log", dir);
  evp__wal_opts_t wo = {0};
  wo.fsync = EVP__FSYNC_NEVER;
  evp__wal_t *w;
  if (evp__wal_open(path, &wo, &w, err, sizeof err) != EVP_OK) {
    fprintf(stderr, "wal: %s\n", err);
    return 1;
  }
  uint64_t seed = 88172645463325252ULL;
  const char *ev[500];
  size_t len[500];
  char *store = malloc(500 * 1024);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
  for (long i = 0; i < n; i += 500) {
    for (int k = 0; k < 500; k++) {
      len[k] = make_event(&seed, i + k, store + k * 1024, 1024);
      ev[k] = store + k * 1024;
    }
    if (evp__wal_append(w, "bench", now_us, ev, len, 500, err, sizeof err) != EVP_OK) {
      fprintf(stderr, "append: %s\n", err);
      return 1;
    }
  }
  free(store);
  snprintf(path, sizeof path, "%s/lake", dir);
  evp__batcher_opts_t bo = {0};
  bo.lake_dir = path;
  bo.schema_json = schema;
  bo.buffer_bytes = (size_t)mb << 20;
  bo.dedup_window_s = 3600;
  const char *lt = getenv("EVP_BENCH_LAKE_THREADS");
  if (lt) bo.parts = atoi(lt);
  evp__batcher_t *b;
  double t0 = now_s();
  clock_t c0 = clock();
  if (evp__batcher_start(w, &bo, &b, err, sizeof err) != EVP_OK) {
    fprintf(stderr, "batcher: %s\n", err);
    return 1;
  }
  evp_err_t fe = evp__batcher_flush(b, 600000);
  double t = now_s() - t0;
  double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
  evp__batcher_stats_t st;
  evp__batcher_get_stats(b, &st);
  printf("batcher: %ld events in %.2f s = %.0f events/s, process CPU %.2f us/event; rows %llu, "
         "files %llu, %.1f bytes/event, flush %s\n",
         n, t, (double)n / t, cpu * 1e6 / (double)n, (unsigned long long)st.rows,
         (unsigned long long)st.files, (double)st.bytes / (double)n, evp_err2name(fe));
  evp__batcher_stop(b);
  evp__wal_close(w);
  free(schema);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) != 0 || fe != EVP_OK || st.rows != (uint64_t)n;
}
