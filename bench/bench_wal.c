/* bench_wal: appends per second into the local durable log with 1 and 8
 * threads under each fsync policy, and the fsyncs the group commit needed;
 * the rates of recovery and of a reader over a log of 300,000 records; then
 * the batcher's rate draining a log of realistic events into Parquet
 * (with dedup on) and the bytes per event on disk.
 * Usage: bench_wal [DIR] [SECONDS_PER_CASE] [BATCHER_EVENTS]
 *        bench_wal --read [RECORDS [DIR]]   (only recovery + reader rates)
 * (DIR default: a temp dir under /tmp). Each append is one record; the
 * events-per-record column shows a typical HTTP batch as well as single
 * events. */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "wal/wal.h"
#include "wal/wal_read.h"
#include "batcher/batcher.h"

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

/* The columns of examples/schemas/glue-data-catalog-json-schema.json. */
static const char *SCHEMA =
    "{\"type\":\"object\",\"required\":[\"event_id\",\"event_type\",\"event_time\",\"app_id\"],"
    "\"properties\":{\"event_id\":{\"type\":\"string\"},\"event_type\":{\"type\":\"string\"},"
    "\"event_time\":{\"type\":\"string\",\"format\":\"date-time\"},\"app_id\":{\"type\":\"string\"}"
    ","
    "\"user_id\":{\"type\":[\"string\",\"null\"]},\"session_id\":{\"type\":\"string\"},"
    "\"platform\":{\"type\":\"string\"},\"app_version\":{\"type\":\"string\"},"
    "\"context\":{\"type\":\"object\"},\"properties\":{\"type\":\"object\"}}}";

/* The log in @p dir with fsync off (the benches measure CPU, not the disk);
 * NULL after printing why it could not be opened. */
static evp__wal_t *open_never(const char *dir) {
  evp__wal_opts_t o = {0};
  o.fsync = EVP__FSYNC_NEVER;
  evp__wal_t *w;
  char err[512];
  if (evp__wal_open(dir, &o, &w, err, sizeof err) != EVP_OK) {
    fprintf(stderr, "open %s: %s\n", dir, err);
    return NULL;
  }
  return w;
}

static int bench_batcher(const char *base, long nevents) {
  static const char *types[] = {"app.opened", "screen.viewed", "checkout.completed",
                                "cart.updated"};
  static const char *plats[] = {"ios", "android", "web"};
  char wdir[512], lake[512], err[512];
  snprintf(wdir, sizeof wdir, "%s/batcher-wal", base);
  snprintf(lake, sizeof lake, "%s/batcher-lake", base);
  evp__wal_t *w = open_never(wdir);
  if (!w) return 1;
  static char buf[500][400];
  const char *evs[500];
  size_t lens[500];
  uint64_t bytes = 0;
  unsigned seed = 7;
  for (long n = 0; n < nevents;) {
    int k = 0;
    for (; k < 500 && n < nevents; k++, n++) {
      int r = rand_r(&seed);
      lens[k] = (size_t)snprintf(
          buf[k], sizeof buf[k],
          "{\"event_id\":\"%08lx-%04x-4%03x-a%03x-%012lx\",\"event_type\":\"%s\","
          "\"event_time\":\"2024-05-01T10:%02d:%02d.%03d+02:00\",\"app_id\":\"shop-%s\","
          "\"user_id\":\"u-%d\",\"session_id\":\"s-%d\",\"platform\":\"%s\",\"app_version\":\"4.2.%"
          "d\","
          "\"context\":{\"locale\":\"de-DE\",\"os\":\"Android\",\"os_version\":\"14\"},"
          "\"properties\":{\"total\":%d.%02d,\"currency\":\"EUR\",\"items\":%d}}",
          (unsigned long)n, r & 0xffff, (r >> 4) & 0xfff, (r >> 8) & 0xfff, (unsigned long)r * 31ul,
          types[r % 4], (r >> 3) % 60, (r >> 5) % 60, r % 1000, plats[r % 3], r % 5000,
          (r >> 2) % 20000, plats[(r >> 7) % 3], r % 9, r % 200, r % 100, r % 7);
      evs[k] = buf[k];
      bytes += lens[k];
    }
    if (evp__wal_append(w, "bench-client", INT64_C(1714557600000000) + n, evs, lens, (size_t)k, err,
                        sizeof err) != EVP_OK) {
      fprintf(stderr, "append: %s\n", err);
      return 1;
    }
  }
  evp__batcher_opts_t bo = {0};
  bo.lake_dir = lake;
  bo.schema_json = SCHEMA;
  bo.buffer_bytes = 64u * 1024u * 1024u;
  bo.buffer_seconds = 900;
  bo.dedup_window_s = 3600;
  double t0 = now_s();
  struct timespec c0, c1;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
  evp__batcher_t *b;
  if (evp__batcher_start(w, &bo, &b, err, sizeof err) != EVP_OK) {
    fprintf(stderr, "batcher: %s\n", err);
    return 1;
  }
  evp_err_t e = evp__batcher_flush(b, 600000);
  double el = now_s() - t0;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
  double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
  evp__batcher_stats_t st;
  evp__batcher_get_stats(b, &st);
  evp__batcher_stop(b);
  evp__wal_close(w);
  if (e != EVP_OK || st.rows != (uint64_t)nevents) {
    fprintf(stderr, "batcher: flush %d, rows %llu\n", (int)e, (unsigned long long)st.rows);
    return 1;
  }
  printf("\nbatcher: %ld events (%.0f bytes of JSON each) -> %llu Parquet files in %.2f s: "
         "%.0f events/s (%.0f per CPU second), %.1f bytes/event on disk (Snappy), dedup on\n",
         nevents, (double)bytes / (double)nevents, (unsigned long long)st.files, el,
         (double)nevents / el, (double)nevents / cpu, (double)st.bytes / (double)nevents);
  return 0;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f) {
  (void)sb;
  (void)flag;
  (void)f;
  return remove(p);
}

/* The read side: a log of @p nrec single-event records (200-byte events) is
 * recovered (evp__wal_open checks every record) and read to the end with a
 * reader (what the batcher does), best of 5 rounds each. */
static int bench_read(const char *base, long nrec) {
  char dir[512], err[512];
  snprintf(dir, sizeof dir, "%s/read-wal", base);
  evp__wal_t *w = open_never(dir);
  if (!w) return 1;
  static char ev[EVENT_BYTES + 1];
  memset(ev, 'x', EVENT_BYTES);
  const char *evs[1] = {ev};
  size_t lens[1] = {EVENT_BYTES};
  for (long i = 0; i < nrec; i++)
    if (evp__wal_append(w, "bench-client", i, evs, lens, 1, err, sizeof err) != EVP_OK) {
      fprintf(stderr, "append: %s\n", err);
      return 1;
    }
  double mib = (double)evp__wal_end(w) / (1024.0 * 1024.0);
  evp__wal_close(w);
  double best_open = 1e9, best_read = 1e9;
  for (int round = 0; round < 5; round++) {
    double t0 = now_s();
    if (!(w = open_never(dir))) return 1;
    double t1 = now_s();
    evp__wal_reader_t *r;
    if (evp__wal_reader_open(w, 0, &r, err, sizeof err) != EVP_OK) return 1;
    evp__wal_record_t rec;
    int got;
    long n = 0;
    while (evp__wal_reader_next(r, &rec, &got, err, sizeof err) == EVP_OK && got) n++;
    double t2 = now_s();
    evp__wal_reader_close(r);
    evp__wal_close(w);
    if (n != nrec) {
      fprintf(stderr, "read %ld of %ld records\n", n, nrec);
      return 1;
    }
    if (t1 - t0 < best_open) best_open = t1 - t0;
    if (t2 - t1 < best_read) best_read = t2 - t1;
  }
  printf("read: %ld records, %.1f MiB: recovery %.3f s (%.0f MiB/s), reader %.3f s "
         "(%.0f records/s, %.0f MiB/s)\n",
         nrec, mib, best_open, mib / best_open, best_read, (double)nrec / best_read,
         mib / best_read);
  nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}

int main(int argc, char **argv) {
  char tmp[256];
  int read_only = argc > 1 && strcmp(argv[1], "--read") == 0;
  if (read_only) { /* bench_wal --read [RECORDS [DIR]]: only the read side */
    argv++;
    argc--;
  }
  const char *base = argc > 1 ? argv[read_only ? 2 : 1] : NULL;
  double secs = argc > 2 ? atof(argv[2]) : 2.0;
  long nevents = argc > 3 ? atol(argv[3]) : 500000;
  if (!base) {
    snprintf(tmp, sizeof tmp, "/tmp/evp_bench_wal_XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    base = tmp;
  }
  if (read_only) {
    int rc = bench_read(base, argc > 1 ? atol(argv[1]) : 300000);
    if (base == tmp) nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
  }
  static const struct {
    evp__fsync_policy_t p;
    const char *name;
  } pol[] = {{EVP__FSYNC_ALWAYS, "always"},
             {EVP__FSYNC_INTERVAL, "interval(200ms)"},
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
  rc |= bench_read(base, 300000);
  if (nevents > 0) rc |= bench_batcher(base, nevents);
  if (base == tmp) nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return rc;
}
