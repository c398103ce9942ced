/* Bench: writing typical events to Parquet+Snappy with the lake writer, and
 * bytes on disk per event compared with NDJSON+gzip of the same events.
 *   bench_lake [EVENTS]      (default 200000)
 * Prints rows/s and bytes/event for both formats. Deterministic events. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "lake/lake.h"

static uint64_t rng(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const TYPES[20] = {"app_open",
                                      "app_close",
                                      "screen_view",
                                      "button_click",
                                      "purchase",
                                      "add_to_cart",
                                      "remove_from_cart",
                                      "login",
                                      "logout",
                                      "signup",
                                      "search",
                                      "share",
                                      "like",
                                      "comment",
                                      "video_start",
                                      "video_end",
                                      "notification_open",
                                      "error",
                                      "crash",
                                      "settings_change"};
static const char *const APPS[3] = {"com.example.shop", "com.example.news", "com.example.game"};
static const char *const PLATFORMS[3] = {"ios", "android", "web"};
static const char *const VERSIONS[5] = {"3.2.0", "3.2.1", "3.3.0", "4.0.0", "4.0.1"};
static const char *const CLIENTS[4] = {"shop-ios", "shop-android", "news-web", "game-mobile"};
static const char *const OS[6] = {"iOS 17.2",   "iOS 16.7",   "Android 14",
                                  "Android 13", "Windows 11", "macOS 14.2"};
static const char *const LOCALES[5] = {"en_US", "de_DE", "fr_FR", "ja_JP", "pt_BR"};
static const char *const SCREENS[6] = {"home", "search", "product", "cart", "checkout", "settings"};

typedef struct {
  char event_id[40], session_id[40], user_id[24], context[256], properties[256];
  const char *event_type, *app_id, *platform, *app_version, *client_id;
  int64_t event_time, received_at;
} event_t;

static void uuid(uint64_t *s, char *out) {
  uint64_t a = rng(s), b = rng(s);
  snprintf(out, 40, "%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-%04" PRIx64 "-%012" PRIx64, a >> 32,
           (a >> 16) & 0xFFFF, a & 0xFFF, (uint64_t)(0x8000 | (b >> 48 & 0x3FFF)),
           b & (uint64_t)0xFFFFFFFFFFFF);
}

static void make_event(uint64_t *s, size_t i, event_t *e) {
  uuid(s, e->event_id);
  /* ~500 concurrent sessions of ~40 events each; a session belongs to one
   * user, so user/session/platform repeat the way real traffic does. */
  uint64_t session = (uint64_t)(i / 20000) * 500 + rng(s) % 500;
  uint64_t ss = session * 0x9E3779B97F4A7C15ull;
  uuid(&ss, e->session_id);
  uint64_t user = rng(&ss) % 20000;
  snprintf(e->user_id, sizeof e->user_id, "user-%05" PRIu64, user);
  e->event_type = TYPES[rng(s) % 20];
  size_t app = (size_t)(user % 3);
  e->app_id = APPS[app];
  e->platform = PLATFORMS[user % 3];
  e->app_version = VERSIONS[rng(s) % 5];
  e->client_id = CLIENTS[(user + app) % 4];
  e->event_time = 1732492800000000LL + (int64_t)i * 3000 + (int64_t)(rng(s) % 2000000);
  e->received_at = e->event_time + 50000 + (int64_t)(rng(s) % 3000000);
  snprintf(e->context, sizeof e->context,
           "{\"os\":\"%s\",\"locale\":\"%s\",\"screen_w\":%d,\"screen_h\":%d,\"network\":\"%s\"}",
           OS[user % 6], LOCALES[user % 5], 360 + (int)(user % 4) * 54, 740 + (int)(user % 3) * 92,
           rng(s) % 3 ? "wifi" : "cellular");
  snprintf(e->properties, sizeof e->properties,
           "{\"screen\":\"%s\",\"item_id\":\"sku-%05d\",\"value\":%d.%02d,\"position\":%d}",
           SCREENS[rng(s) % 6], (int)(rng(s) % 5000), (int)(rng(s) % 200), (int)(rng(s) % 100),
           (int)(rng(s) % 20));
}

static const evp__pq_column_t COLS[12] = {
    {"event_id", EVP__PQ_STRING, 0, 0},          {"event_type", EVP__PQ_STRING, 0, 0},
    {"event_time", EVP__PQ_TIMESTAMP_US, 0, 0},  {"app_id", EVP__PQ_STRING, 0, 0},
    {"user_id", EVP__PQ_STRING, 1, 0},           {"session_id", EVP__PQ_STRING, 1, 0},
    {"platform", EVP__PQ_STRING, 0, 0},          {"app_version", EVP__PQ_STRING, 1, 0},
    {"context", EVP__PQ_STRING, 1, 0},           {"properties", EVP__PQ_STRING, 1, 0},
    {"received_at", EVP__PQ_TIMESTAMP_US, 0, 0}, {"client_id", EVP__PQ_STRING, 0, 0}};

static evp__pq_value_t sv(const char *p) {
  evp__pq_value_t v = {0};
  v.v.s.ptr = p;
  v.v.s.len = strlen(p);
  return v;
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 200000;
  if (n == 0) n = 1;
  event_t *ev = malloc(n * sizeof *ev);
  char dir[] = "/tmp/bench_lake_XXXXXX";
  if (!ev || !mkdtemp(dir)) {
    fprintf(stderr, "bench_lake: setup failed\n");
    return 1;
  }
  uint64_t s = 42;
  for (size_t i = 0; i < n; i++) make_event(&s, i, &ev[i]);

  /* ---- Parquet + Snappy (default options: 1M rows / 64 MiB row groups) */
  char err[256];
  evp__pq_writer_t *w;
  double t0 = now();
  if (evp__pq_writer_open(&w, dir, "part-0.parquet", COLS, 12, NULL, err, sizeof err)) {
    fprintf(stderr, "bench_lake: %s\n", err);
    return 1;
  }
  evp__pq_value_t row[12];
  for (size_t i = 0; i < n; i++) {
    const event_t *e = &ev[i];
    row[0] = sv(e->event_id);
    row[1] = sv(e->event_type);
    memset(&row[2], 0, sizeof row[2]);
    row[2].v.i64 = e->event_time;
    row[3] = sv(e->app_id);
    row[4] = sv(e->user_id);
    row[5] = sv(e->session_id);
    row[6] = sv(e->platform);
    row[7] = sv(e->app_version);
    row[8] = sv(e->context);
    row[9] = sv(e->properties);
    memset(&row[10], 0, sizeof row[10]);
    row[10].v.i64 = e->received_at;
    row[11] = sv(e->client_id);
    if (evp__pq_writer_append(w, row, err, sizeof err)) {
      fprintf(stderr, "bench_lake: %s\n", err);
      evp__pq_writer_abort(w);
      return 1;
    }
  }
  double t_app = now() - t0;
  uint64_t pq_bytes = 0;
  if (evp__pq_writer_close(w, &pq_bytes, err, sizeof err)) {
    fprintf(stderr, "bench_lake: %s\n", err);
    return 1;
  }
  double t_pq = now() - t0;

  /* ---- NDJSON + gzip (zlib default level 6, gzip wrapper); BENCH_LAKE_NO_GZIP=1
   * skips it, for profiling the writer alone */
  int skip_gz = getenv("BENCH_LAKE_NO_GZIP") != NULL;
  t0 = now();
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return 1;
  static unsigned char out[1 << 16];
  uint64_t gz_bytes = 0, json_bytes = 0;
  char line[1024];
  for (size_t i = skip_gz ? n : 0; i <= n; i++) {
    int len = 0;
    if (i < n) {
      const event_t *e = &ev[i];
      len = snprintf(
          line, sizeof line,
          "{\"event_id\":\"%s\",\"event_type\":\"%s\",\"event_time\":%" PRId64
          ",\"app_id\":\"%s\",\"user_id\":\"%s\",\"session_id\":\"%s\",\"platform\":\"%s\","
          "\"app_version\":\"%s\",\"context\":%s,\"properties\":%s,\"received_at\":%" PRId64
          ",\"client_id\":\"%s\"}\n",
          e->event_id, e->event_type, e->event_time, e->app_id, e->user_id, e->session_id,
          e->platform, e->app_version, e->context, e->properties, e->received_at, e->client_id);
      json_bytes += (uint64_t)len;
    }
    z.next_in = (unsigned char *)line;
    z.avail_in = (unsigned)len;
    int flush = i < n ? Z_NO_FLUSH : Z_FINISH, rc;
    do {
      z.next_out = out;
      z.avail_out = sizeof out;
      rc = deflate(&z, flush);
      gz_bytes += sizeof out - z.avail_out;
    } while (z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
  }
  deflateEnd(&z);
  double t_gz = now() - t0;

  printf("bench_lake: %zu events, 12 columns (event_id, event_type, event_time, app_id, user_id,\n"
         "  session_id, platform, app_version, context JSON, properties JSON, received_at, "
         "client_id)\n",
         n);
  printf("parquet+snappy: %8.3f s  %10.0f rows/s  %10" PRIu64 " bytes  %6.1f bytes/event\n", t_pq,
         (double)n / t_pq, pq_bytes, (double)pq_bytes / (double)n);
  printf("  (appends %.3f s = %.0f rows/s; close: last row group, footer, fsync, rename %.3f s)\n",
         t_app, (double)n / t_app, t_pq - t_app);
  if (!skip_gz)
    printf("ndjson+gzip-6:  %8.3f s  %10.0f rows/s  %10" PRIu64
           " bytes  %6.1f bytes/event (raw ndjson %.1f)\n",
           t_gz, (double)n / t_gz, gz_bytes, (double)gz_bytes / (double)n,
           (double)json_bytes / (double)n);
  if (!skip_gz) printf("parquet/ndjson.gz size ratio: %.2f\n", (double)pq_bytes / (double)gz_bytes);

  char path[64];
  snprintf(path, sizeof path, "%s/part-0.parquet", dir);
  if (!getenv("BENCH_LAKE_KEEP")) unlink(path);
  if (!getenv("BENCH_LAKE_KEEP"))
    rmdir(dir);
  else
    printf("kept %s\n", path);
  free(ev);
  return 0;
}
