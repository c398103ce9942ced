/* Footprint of one client, measured inside the process (docs/embedded.md,
 * "Footprint"; bench/footprint.sh builds and runs it for x86_64 and arm64):
 *   - RSS of the process before evp_client_new (the baseline: the program
 *     with libevpipe and its libraries loaded), of an idle client, and of a
 *     paused client holding --queued events (default 10000) in memory;
 *   - threads the client creates (entries of /proc/self/task before, while
 *     it lives, and after evp_client_destroy: a leak would show);
 *   - with --endpoint, --client-id and --client-secret of a reachable server
 *     (`evpipe local`): CPU time (user + system, every thread of the process)
 *     to send --events events (default 100000) and flush them, per event.
 * Without an endpoint the client points at 127.0.0.1:9 (nothing listens: it
 * is idle as a client without network is) and the CPU figure is skipped.
 * Prints one JSON object. Public API only: it measures what an application
 * gets.
 * With --spool DIR the client keeps its events in an on-disk spool there
 * (spool.dir, docs/spool.md): its threads and mapped segment count too.
 * Usage: bench_footprint [--queued N] [--events N] [--spool DIR] [--endpoint URL
 *                        --client-id ID --client-secret SECRET] */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "evpipe/evpipe.h"

/* Resident set in KiB from /proc/self/status: all of it (VmRSS), and the
 * anonymous part (RssAnon: heap, stacks, private data) apart from the
 * file-backed one (library code and read-only data paged in: shared with
 * every process mapping the same files). -1 when not there. */
struct rss {
  long total, anon;
};

static struct rss rss_kib(void) {
  struct rss r = {-1, -1};
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  if (!f) return r;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "VmRSS:", 6) == 0) r.total = strtol(line + 6, NULL, 10);
    if (strncmp(line, "RssAnon:", 8) == 0) r.anon = strtol(line + 8, NULL, 10);
  }
  fclose(f);
  return r;
}

/* Threads of the process: entries of /proc/self/task, or -1. */
static int threads(void) {
  DIR *d = opendir("/proc/self/task");
  struct dirent *e;
  int n = 0;
  if (!d) return -1;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double wall_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void quiet_log(int level, const char *msg, void *opaque) {
  (void)level, (void)msg, (void)opaque;
}

/* Delivery reports: the CPU figure counts only if every event was accepted. */
static atomic_long delivered, not_delivered;

static void on_delivery(evp_client_t *c, const evp_delivery_t *report, void *opaque) {
  (void)c, (void)opaque;
  if (evp_delivery_status(report) == EVP_DELIVERY_OK)
    atomic_fetch_add(&delivered, 1);
  else
    atomic_fetch_add(&not_delivered, 1);
}

static void die(const char *what, const char *why) {
  fprintf(stderr, "bench_footprint: %s: %s\n", what, why);
  exit(1);
}

/* A typical small event of the built-in schema (`evpipe local`'s): the SDK
 * fills event_id and event_time (about 225 bytes once filled). */
static int event(char *buf, size_t size, long i) {
  return snprintf(buf, size,
                  "{\"event_type\":\"screen.viewed\",\"app_id\":\"footprint\","
                  "\"user_id\":\"user-%06ld\",\"properties\":{\"screen\":\"/products/%ld\","
                  "\"duration_ms\":%ld}}",
                  i % 1000000, i % 997, i % 5000);
}

static long send_n(evp_client_t *c, long n) {
  char ev[256], err[256];
  for (long i = 0; i < n; i++) {
    int len = event(ev, sizeof ev, i);
    if (evp_send(c, ev, (size_t)len, err, sizeof err) != EVP_OK) die("evp_send", err);
  }
  return n;
}

int main(int argc, char **argv) {
  long queued = 10000, events = 100000;
  const char *spool = NULL, *endpoint = NULL, *id = "footprint", *secret = "not-a-secret";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--queued"))
      queued = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--events"))
      events = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--endpoint"))
      endpoint = argv[i + 1];
    else if (!strcmp(argv[i], "--spool"))
      spool = argv[i + 1];
    else if (!strcmp(argv[i], "--client-id"))
      id = argv[i + 1];
    else if (!strcmp(argv[i], "--client-secret"))
      secret = argv[i + 1];
    else
      die(argv[i], "unknown option (see the file comment)");
  }
  if (argc % 2 == 0) die(argv[argc - 1], "option without a value");
  if (queued < 1 || events < 1) die("--queued/--events", "must be at least 1");

  struct rss rss_base = rss_kib();
  int thr_base = threads();

  char err[512];
  evp_conf_t *conf = evp_conf_new();
  if (!conf) die("evp_conf_new", "out of memory");
  char qmax[32];
  snprintf(qmax, sizeof qmax, "%ld", queued + events);
  const char *props[][2] = {
      {"endpoint", endpoint ? endpoint : "http://127.0.0.1:9"},
      {"client.id", id},
      {"client.secret", secret},
      {"audience", "events"},
      {"queue.max.events", qmax},
  };
  for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
    if (evp_conf_set(conf, props[i][0], props[i][1], err, sizeof err) != EVP_OK)
      die(props[i][0], err);
  if (spool && evp_conf_set(conf, "spool.dir", spool, err, sizeof err) != EVP_OK)
    die("spool.dir", err);
  evp_conf_set_log_cb(conf, quiet_log);
  evp_conf_set_delivery_cb(conf, on_delivery, NULL);
  evp_client_t *c = evp_client_new(conf, err, sizeof err);
  if (!c) die("evp_client_new", err);
  sleep_ms(500); /* threads started, first token request (if any) done */
  struct rss rss_idle = rss_kib();
  int thr_idle = threads();

  evp_client_pause(c);
  send_n(c, queued);
  struct rss rss_queued = rss_kib();

  double cpu_per_event_us = -1, wall_s_total = -1;
  long pending = -1;
  if (endpoint) {
    evp_client_resume(c);
    if ((pending = evp_flush(c, 60000)) != 0)
      die("evp_flush", "the queued events were not delivered");
    double c0 = cpu_s(), w0 = wall_s();
    send_n(c, events);
    pending = evp_flush(c, 120000);
    double c1 = cpu_s(), w1 = wall_s();
    if (pending != 0) die("evp_flush", "events still pending after 120 s");
    if (atomic_load(&not_delivered) != 0 || atomic_load(&delivered) != queued + events) {
      fprintf(stderr, "bench_footprint: %ld delivered, %ld not\n", atomic_load(&delivered),
              atomic_load(&not_delivered));
      die("delivery", "not every event was accepted by the server (see its log)");
    }
    cpu_per_event_us = (c1 - c0) * 1e6 / (double)events;
    wall_s_total = w1 - w0;
  }
  evp_client_destroy(c, 0);
  int thr_after = threads();

  printf("{\"baseline_rss_kib\":%ld,\"idle_rss_kib\":%ld,\"idle_over_baseline_kib\":%ld,"
         "\"idle_anon_over_baseline_kib\":%ld,\"idle_file_over_baseline_kib\":%ld,"
         "\"queued_events\":%ld,\"queued_over_baseline_kib\":%ld,"
         "\"queued_bytes_per_event\":%.0f,"
         "\"threads_before\":%d,\"threads_idle\":%d,\"threads_created\":%d,"
         "\"threads_after_destroy\":%d",
         rss_base.total, rss_idle.total, rss_idle.total - rss_base.total,
         rss_idle.anon - rss_base.anon,
         (rss_idle.total - rss_idle.anon) - (rss_base.total - rss_base.anon), queued,
         rss_queued.total - rss_base.total,
         (double)(rss_queued.total - rss_idle.total) * 1024.0 / (double)queued, thr_base, thr_idle,
         thr_idle - thr_base, thr_after);
  if (endpoint)
    printf(",\"cpu_events\":%ld,\"cpu_us_per_event\":%.2f,\"send_flush_wall_s\":%.3f", events,
           cpu_per_event_us, wall_s_total);
  printf("}\n");
  /* A thread left after evp_client_destroy is a leak, not a footprint. */
  if (thr_after != thr_base) die("threads", "evp_client_destroy left a thread running");
  return 0;
}
