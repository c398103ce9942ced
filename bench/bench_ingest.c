/* Ingest benchmark: sustained events/s through POST /events into Parquet,
 * client (the SDK) and server (evpipe local, in-process, same code as the
 * command) on this machine.
 *
 *   bench_ingest [EVENTS] [CLIENTS] [always|interval|never]
 *   (EVP_BENCH_BUFFER_MB sets the batcher's size trigger, EVP_BENCH_INFLIGHT
 *   the SDK's max.in.flight, EVP_BENCH_LAKE_THREADS evpipe local's
 *   --lake-threads, EVP_BENCH_KEEP=1 keeps the data directory and prints it;
 *   run from the project root or set EVP_BENCH_SCHEMA)
 *
 * Reports: events/s acknowledged (durable in the log: a 200), events/s until
 * committed to Parquet, the SDK's request latency percentiles, and bytes on
 * disk per event for the Parquet lake vs the same events as NDJSON+gzip. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <ftw.h>
#include <sys/resource.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "evpipe/evpipe.h"
#include "local/local.h"
#include "bench_events.h"
#include "base/files.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
  const char *url;
  long from, to;
  char **ev;
  size_t *len;
  long pending;
  char *stats;
} worker_t;

static void *send_all(void *arg) {
  worker_t *w = arg;
  char err[512];
  evp_conf_t *conf = evp_conf_new();
  const char *set[][2] = {
      {"endpoint", w->url},
      {"client.id", "bench"},
      {"client.secret", "bench-secret-0123456789abcdef0123456"},
      {"audience", "events"},
      {"fill.event_id", "false"},
      {"fill.event_time", "false"},
      {"queue.max.events", getenv("EVP_BENCH_QUEUE") ? getenv("EVP_BENCH_QUEUE") : "100000"},
      {"queue.block.timeout.ms", "10000"},
      {"message.timeout.ms", "120000"}};
  /* EVP_BENCH_INFLIGHT: max.in.flight (the SDK's default otherwise). */
  const char *infl = getenv("EVP_BENCH_INFLIGHT");
  if (infl && evp_conf_set(conf, "max.in.flight", infl, err, sizeof err) != EVP_OK) {
    fprintf(stderr, "conf max.in.flight: %s\n", err);
    w->pending = -1;
    return NULL;
  }
  for (size_t k = 0; k < sizeof set / sizeof set[0]; k++)
    if (evp_conf_set(conf, set[k][0], set[k][1], err, sizeof err) != EVP_OK) {
      fprintf(stderr, "conf %s: %s\n", set[k][0], err);
      w->pending = -1;
      return NULL;
    }
  evp_client_t *c = evp_client_new(conf, err, sizeof err);
  if (!c) {
    fprintf(stderr, "client: %s\n", err);
    w->pending = -1;
    return NULL;
  }
  for (long i = w->from; i < w->to; i++)
    if (evp_send(c, w->ev[i], w->len[i], err, sizeof err) != EVP_OK) {
      fprintf(stderr, "send: %s\n", err);
      break;
    }
  w->pending = evp_flush(c, 120000);
  w->stats = evp_client_stats(c);
  evp_client_destroy(c, 1000);
  return NULL;
}

static uint64_t lake_bytes, lake_files;
static int walk(const char *p, const struct stat *st, int type, struct FTW *f) {
  (void)f;
  size_t n = strlen(p);
  if (type == FTW_F && n > 8 && !strcmp(p + n - 8, ".parquet")) {
    lake_bytes += (uint64_t)st->st_size;
    lake_files++;
  }
  return 0;
}

/* CPU seconds used so far by the whole process, and by the threads whose
 * name starts with @p comm (0 when none): the cost per event of each stage,
 * which unlike wall time does not depend on what else runs on the machine. */
static double cpu_s(const char *comm) {
  if (!comm) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  }
  double total = 0;
  DIR *d = opendir("/proc/self/task");
  struct dirent *de;
  long hz = sysconf(_SC_CLK_TCK);
  while (d && (de = readdir(d)) != NULL) {
    char p[300], buf[1024];
    snprintf(p, sizeof p, "/proc/self/task/%s/stat", de->d_name);
    FILE *f = fopen(p, "r");
    if (!f) continue;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *l = strchr(buf, '('), *r = strrchr(buf, ')');
    if (!l || !r || (size_t)(r - l - 1) < strlen(comm) || strncmp(l + 1, comm, strlen(comm)))
      continue;
    unsigned long ut = 0, st = 0;
    /* fields after ')': state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(r + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
      total += (double)(ut + st) / (double)hz;
  }
  if (d) closedir(d);
  return total;
}

static unsigned json_uint(const char *s, const char *key) {
  const char *p = s ? strstr(s, key) : NULL;
  return p ? (unsigned)strtoul(p + strlen(key), NULL, 10) : 0;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000000;
  int nc = argc > 2 ? atoi(argv[2]) : 2;
  const char *pol = argc > 3 ? argv[3] : "always";
  if (n < 1 || nc < 1 || nc > 16) return 2;
  char dir[] = "/tmp/evp-bench-ingest-XXXXXX", path[256], err[512], url[128];
  if (!mkdtemp(dir)) return 1;
  /* The schema and one client, as evpipe local expects them. */
  snprintf(path, sizeof path, "%s/secrets", dir);
  evp__mkdirs(path, err, sizeof err);
  snprintf(path, sizeof path, "%s/secrets/clients.json", dir);
  const char *cl = "[{\"client_id\":\"bench\",\"client_secret\":\"bench-secret-"
                   "0123456789abcdef0123456\",\"audiences\":[\"events\"]}]";
  if (evp__file_write_secret(path, cl, strlen(cl), 0, err, sizeof err) != EVP_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  const char *schema = getenv("EVP_BENCH_SCHEMA");
  evp__local_opts_t o;
  evp__local_opts_default(&o);
  o.listen = "127.0.0.1:0";
  o.data_dir = dir;
  o.schema_path = schema ? schema : "examples/schemas/glue-data-catalog-json-schema.json";
  o.clients_path = path;
  o.rate_rps = 1e9; /* measure the pipeline, not the limiter */
  o.rate_burst = 1e9;
  o.log_requests = 0;
  /* Firehose buffers 1-128 MB; evpipe local defaults to 5 MiB. */
  const char *bl = getenv("EVP_BENCH_MAX_BACKLOG"); /* evpipe local --max-backlog */
  if (bl) o.max_backlog = (uint64_t)strtoull(bl, NULL, 10);
  const char *lt = getenv("EVP_BENCH_LAKE_THREADS");
  if (lt) o.lake_threads = atoi(lt);
  const char *mb = getenv("EVP_BENCH_BUFFER_MB");
  if (mb && atoi(mb) > 0) o.buffer_bytes = (size_t)atoi(mb) * 1024u * 1024u;
  o.fsync = !strcmp(pol, "never")      ? EVP__FSYNC_NEVER
            : !strcmp(pol, "interval") ? EVP__FSYNC_INTERVAL
                                       : EVP__FSYNC_ALWAYS;
  FILE *devnull = fopen("/dev/null", "w");
  if (devnull) dup2(fileno(devnull), 2); /* the server's JSON logs */
  evp__local_t *srv;
  if (evp__local_start(&o, &srv, url, sizeof url, err, sizeof err) != EVP_OK) {
    fprintf(stdout, "start: %s\n", err);
    return 1;
  }

  char **ev = malloc(sizeof *ev * (size_t)n);
  size_t *len = malloc(sizeof *len * (size_t)n);
  uint64_t seed = 88172645463325252ULL;
  size_t ndjson = 0;
  z_stream z;
  memset(&z, 0, sizeof z);
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY); /* gzip, level 6 */
  unsigned char zout[65536];
  size_t gz = 0;
  for (long i = 0; i < n; i++) {
    char buf[1024];
    len[i] = make_event(&seed, i, buf, sizeof buf);
    ev[i] = malloc(len[i] + 1);
    memcpy(ev[i], buf, len[i] + 1);
    ndjson += len[i] + 1;
    buf[len[i]] = '\n';
    z.next_in = (unsigned char *)buf;
    z.avail_in = (unsigned)len[i] + 1;
    do {
      z.next_out = zout;
      z.avail_out = sizeof zout;
      deflate(&z, i + 1 == n ? Z_FINISH : Z_NO_FLUSH);
      gz += sizeof zout - z.avail_out;
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);

  worker_t w[16];
  pthread_t th[16];
  double t0 = now_s(), cpu0 = cpu_s(NULL), bcpu0 = cpu_s("evp-batcher");
  for (int k = 0; k < nc; k++) {
    w[k] = (worker_t){url, n * k / nc, n * (k + 1) / nc, ev, len, 0, NULL};
    pthread_create(&th[k], NULL, send_all, &w[k]);
  }
  long pending = 0;
  for (int k = 0; k < nc; k++) {
    pthread_join(th[k], NULL);
    pending += w[k].pending;
  }
  double t_ack = now_s() - t0;
  evp_err_t fe = evp__local_flush(srv, 120000);
  double t_lake = now_s() - t0;
  double cpu = cpu_s(NULL) - cpu0, bcpu = cpu_s("evp-batcher") - bcpu0;
  evp__batcher_stats_t bs;
  evp__local_get_stats(srv, &bs);
  snprintf(path, sizeof path, "%s/events", dir);
  nftw(path, walk, 16, FTW_PHYS);

  printf("events %ld, clients %d, fsync %s, avg event %zu bytes\n", n, nc, pol,
         ndjson / (size_t)n - 1);
  printf("acknowledged (200, durable in the log): %.0f events/s (%.2f s)\n", n / t_ack, t_ack);
  printf("committed to Parquet:                   %.0f events/s (%.2f s), rows %llu, files %llu, "
         "flush %s\n",
         n / t_lake, t_lake, (unsigned long long)bs.rows, (unsigned long long)lake_files,
         evp_err2name(fe));
  for (int k = 0; k < nc; k++)
    printf("client %d request latency (us): p50 %u p90 %u p99 %u max %u, pending %ld\n", k,
           json_uint(w[k].stats, "\"p50\":"), json_uint(w[k].stats, "\"p90\":"),
           json_uint(w[k].stats, "\"p99\":"), json_uint(w[k].stats, "\"max\":"), w[k].pending);
  printf(
      "CPU per event: %.2f us in all (%.2f cores busy on average), lake writer threads %.2f us\n",
      cpu * 1e6 / (double)n, cpu / t_lake, bcpu * 1e6 / (double)n);
  printf("bytes/event: parquet+snappy %.1f, ndjson+gzip %.1f, ndjson %.1f (parquet/ndjson.gz = "
         "%.2f)\n",
         (double)lake_bytes / (double)n, (double)gz / (double)n, (double)ndjson / (double)n,
         (double)lake_bytes / (double)gz);
  int ok = pending == 0 && fe == EVP_OK && bs.rows == (uint64_t)n;
  printf("%s\n", ok ? "zero loss: every event acknowledged and in Parquet" : "LOSS OR ERROR");
  for (int k = 0; k < nc; k++) evp_free(w[k].stats);
  evp__local_stop(srv);
  for (long i = 0; i < n; i++) free(ev[i]);
  free(ev);
  free(len);
  /* EVP_BENCH_KEEP=1: leave the data directory (log + lake) for a caller
   * that measures the lake itself (bench/lake_compare.sh compacts it). */
  if (getenv("EVP_BENCH_KEEP")) {
    printf("data dir: %s\n", dir);
    return ok ? 0 : 1;
  }
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) return 1;
  return ok ? 0 : 1;
}
