/* evpipe demo: the whole pipeline on one machine, end to end.
 *
 * Starts `evpipe local` in-process on a free loopback port with its own data
 * directory, sends realistic events (and a few broken ones) through the client
 * SDK exactly as an app would, waits until everything acknowledged is in
 * Parquet, and says where the lake is and how to query it. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "cli/cli.h"
#include "cli/demo.h"
#include "base/base.h"
#include "evpipe/evpipe.h"
#include "local/local.h"
#include "base/files.h"

#define MAX_REASONS 12

typedef struct {
  char text[160];
  long count;
} reason_t;

typedef struct {
  pthread_mutex_t mu;
  long delivered, rejected, failed;
  reason_t server[MAX_REASONS]; /* rejected by the server or failed */
} reports_t;

static void tally(reason_t *r, const char *text) {
  for (int i = 0; i < MAX_REASONS; i++) {
    if (r[i].count && strncmp(r[i].text, text, sizeof r[i].text - 1) == 0) {
      r[i].count++;
      return;
    }
    if (!r[i].count) {
      evp__cli_copy_cut(r[i].text, sizeof r[i].text, text);
      r[i].count = 1;
      return;
    }
  }
}

static void on_delivery(evp_client_t *client, const evp_delivery_t *report, void *opaque) {
  (void)client;
  reports_t *r = opaque;
  evp_delivery_status_t st = evp_delivery_status(report);
  evp_err_t err = evp_delivery_error(report);
  const char *reason = evp_delivery_reason(report) ? evp_delivery_reason(report) : "";
  pthread_mutex_lock(&r->mu);
  if (st == EVP_DELIVERY_OK) {
    r->delivered++;
  } else {
    char t[160];
    snprintf(t, sizeof t, "%s: %s", evp_err2name(err), reason);
    if (st == EVP_DELIVERY_REJECTED)
      r->rejected++;
    else
      r->failed++;
    tally(r->server, t);
  }
  pthread_mutex_unlock(&r->mu);
}

static uint64_t lake_files, lake_bytes;
static int count_parquet(const char *path, const struct stat *st, int type, struct FTW *f) {
  (void)f;
  size_t n = strlen(path);
  if (type == FTW_F && n > 8 && strcmp(path + n - 8, ".parquet") == 0 && !strstr(path, "/.")) {
    lake_files++;
    lake_bytes += (uint64_t)st->st_size;
  }
  return 0;
}

static void progress(FILE *tty, long done, long total) {
  if (!tty) return;
  int width = 30, filled = total ? (int)(done * width / total) : width;
  fprintf(tty, "\r  sending  [");
  for (int i = 0; i < width; i++) fputc(i < filled ? '#' : '.', tty);
  fprintf(tty, "] %3ld%%  %ld/%ld", total ? done * 100 / total : 100, done, total);
  fflush(tty);
}

static void usage(FILE *f) {
  fprintf(f, "usage: evpipe demo [--data DIR] [--events N] [--schema F]\n"
             "\n"
             "Runs the whole pipeline on this machine: the token issuer, the authorizer,\n"
             "server-side validation, a durable queue and a Parquet batcher (evpipe local,\n"
             "in-process on a free loopback port), and sends N sample events (default\n"
             "20000, about 3%% deliberately invalid) through the client SDK.\n"
             "DIR defaults to a new directory under $TMPDIR or /tmp; it is kept.\n");
}

int evp__cli_demo(int argc, char **argv) {
  const char *data = NULL, *events_s = NULL, *schema_arg = NULL;
  for (int i = 1; i < argc; i++) {
    int r;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return EVP_CLI_OK;
    }
    if ((r = evp__cli_opt(argc, argv, &i, "--data", &data)) ||
        (r = evp__cli_opt(argc, argv, &i, "--events", &events_s)) ||
        (r = evp__cli_opt(argc, argv, &i, "--schema", &schema_arg))) {
      if (r < 0) return EVP_CLI_USAGE;
      continue;
    }
    fprintf(stderr, "evpipe demo: %s: unknown argument; see evpipe demo --help\n", argv[i]);
    return EVP_CLI_USAGE;
  }
  long long total = 20000;
  if (events_s && evp__cli_parse_i64(events_s, 1, 10000000, &total)) {
    fprintf(stderr,
            "evpipe demo: --events %s: not an integer in 1..10000000; give one in that range\n",
            events_s);
    return EVP_CLI_USAGE;
  }
  /* Checked before anything is created, like evpipe local's. */
  char dir[4096], path[4200], err[4096 + 512];
  if ((data && evp__local_check_data_dir(data, err, sizeof err) != EVP_OK) ||
      (schema_arg && evp__local_check_schema(schema_arg, err, sizeof err) != EVP_OK)) {
    fprintf(stderr, "evpipe demo: %s\n", err);
    return EVP_CLI_USAGE;
  }

  /* --- the data directory, the schema and one client credential ------------ */
  if (data) {
    snprintf(dir, sizeof dir, "%s", data);
    if (evp__mkdirs(dir, err, sizeof err) != EVP_OK) {
      fprintf(stderr, "evpipe demo: %s\n", err);
      return EVP_CLI_USAGE;
    }
  } else {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/evpipe-demo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
      fprintf(stderr, "evpipe demo: cannot create a data directory: %s\n", strerror(errno));
      return EVP_CLI_USAGE;
    }
  }
  char schema_path[4200];
  if (schema_arg) {
    snprintf(schema_path, sizeof schema_path, "%s", schema_arg);
  } else {
    snprintf(schema_path, sizeof schema_path, "%s/demo-schema.json", dir);
    if (evp__file_write_secret(schema_path, (const char *)evp__default_schema,
                               evp__default_schema_len, 0, err, sizeof err) != EVP_OK) {
      fprintf(stderr, "evpipe demo: %s\n", err);
      return EVP_CLI_USAGE;
    }
  }
  unsigned char raw[32];
  char secret[64], clients[256];
  if (evp__random(raw, sizeof raw) != EVP_OK) {
    fprintf(stderr, "evpipe demo: no randomness\n");
    return EVP_CLI_USAGE;
  }
  evp_base64url_encode(raw, sizeof raw, secret);
  OPENSSL_cleanse(raw, sizeof raw);
  snprintf(path, sizeof path, "%s/secrets", dir);
  int n =
      snprintf(clients, sizeof clients,
               "[{\"client_id\":\"demo-app\",\"client_secret\":\"%s\",\"audiences\":[\"%s\"]}]\n",
               secret, EVP__LOCAL_AUDIENCE);
  char clients_path[4200];
  /* Files of its own: --data may name a real evpipe local directory, whose
   * clients and schema the demo must not replace. */
  snprintf(clients_path, sizeof clients_path, "%s/secrets/demo-clients.json", dir);
  if (evp__mkdirs(path, err, sizeof err) != EVP_OK ||
      evp__file_write_secret(clients_path, clients, (size_t)n, 0, err, sizeof err) != EVP_OK) {
    fprintf(stderr, "evpipe demo: %s\n", err);
    return EVP_CLI_USAGE;
  }
  OPENSSL_cleanse(clients, sizeof clients);

  /* The server's JSON logs go to a file in the data directory, so the
   * terminal shows only the demo. */
  char log_path[4200];
  snprintf(log_path, sizeof log_path, "%s/server.log", dir);
  int saved_err = dup(STDERR_FILENO);
  int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  FILE *out = stdout;
  FILE *tty = isatty(STDOUT_FILENO) ? stdout : NULL;
  if (logfd >= 0) {
    dup2(logfd, STDERR_FILENO);
    close(logfd);
  }

  evp__local_opts_t o;
  evp__local_opts_default(&o);
  o.listen = "127.0.0.1:0";
  o.data_dir = dir;
  o.schema_path = schema_path;
  o.clients_path = clients_path;
  o.buffer_seconds = 5;
  o.announce = NULL;
  evp__local_t *srv = NULL;
  char url[128];
  int rc = EVP_CLI_FAIL;
  evp_client_t *c = NULL;
  reports_t rep;
  memset(&rep, 0, sizeof rep);
  pthread_mutex_init(&rep.mu, NULL);
  reason_t door[MAX_REASONS];
  memset(door, 0, sizeof door);
  long refused = 0, sent_ok = 0;

  fprintf(out, "evpipe demo: the whole pipeline on this machine\n");
  fprintf(out, "  data dir   %s\n", dir);
  if (evp__local_start(&o, &srv, url, sizeof url, err, sizeof err) != EVP_OK) {
    fprintf(out, "evpipe demo: cannot start the local pipeline: %s\n", err);
    goto done;
  }
  fprintf(
      out,
      "  server     %s  (token issuer, authorizer, validation, durable queue, Parquet batcher)\n",
      url);

  evp_conf_t *conf = evp_conf_new();
  if (!conf) {
    fprintf(out, "evpipe demo: out of memory\n");
    goto done;
  }
  evp_conf_set_delivery_cb(conf, on_delivery, &rep);
  evp_conf_set_opaque(conf, &rep);
  const char *set[][2] = {{"endpoint", url},
                          {"client.id", "demo-app"},
                          {"client.secret", secret},
                          {"audience", EVP__LOCAL_AUDIENCE},
                          {"schema.file", schema_path},
                          {"queue.block.timeout.ms", "5000"},
                          {"linger.ms", "20"}};
  for (size_t k = 0; k < sizeof set / sizeof set[0]; k++)
    if (evp_conf_set(conf, set[k][0], set[k][1], err, sizeof err) != EVP_OK) {
      fprintf(out, "evpipe demo: %s\n", err);
      evp_conf_destroy(conf);
      goto done;
    }
  OPENSSL_cleanse(secret, sizeof secret);
  if (!(c = evp_client_new(conf, err, sizeof err))) {
    fprintf(out, "evpipe demo: %s\n", err);
    evp_conf_destroy(conf);
    goto done;
  }

  uint64_t seed = 0x9E3779B97F4A7C15ULL;
  int64_t t0 = evp__wall_ms();
  char ev[2048];
  long step = total / 100 ? total / 100 : 1;
  for (long i = 0; i < total; i++) {
    /* About 3 in 100 events break one rule, as buggy app versions would. */
    int bad = (i % 33 == 17) ? (int)((i / 33) % EVP__DEMO_INVALID_KINDS) : -1;
    size_t len = evp__demo_event(&seed, i, t0, bad, ev, sizeof ev);
    evp_err_t e = evp_send(c, ev, len, err, sizeof err);
    if (e == EVP_OK) {
      sent_ok++;
    } else {
      refused++;
      tally(door, err);
    }
    if (i % step == 0 || i + 1 == total) progress(tty, i + 1, total);
  }
  if (tty) fputc('\n', tty);
  long pending = evp_flush(c, 60000);
  double send_s = (double)(evp__wall_ms() - t0) / 1000.0;
  evp_err_t fe = evp__local_flush(srv, 60000);
  evp__batcher_stats_t bs;
  evp__local_get_stats(srv, &bs);
  char lake[4200];
  snprintf(lake, sizeof lake, "%s/events", dir);
  lake_files = lake_bytes = 0;
  nftw(lake, count_parquet, 16, FTW_PHYS);

  pthread_mutex_lock(&rep.mu);
  /* "sent" counts what left the SDK: events refused at the door were never
   * sent, and saying "sent <total>" hid them. */
  fprintf(out,
          "\n  sent       %ld events in %.2f s (of %lld offered: %ld refused at the door, below); "
          "the server accepted %ld\n",
          sent_ok, send_s, total, refused, rep.delivered);
  fprintf(out, "  refused    %ld at the door by the SDK's schema validation (never queued):\n",
          refused);
  for (int i = 0; i < MAX_REASONS && door[i].count; i++)
    fprintf(out, "               %5ld  %s\n", door[i].count, door[i].text);
  fprintf(out, "  rejected   %ld by the server, %ld failed%s\n", rep.rejected, rep.failed,
          rep.rejected + rep.failed ? ":" : "");
  for (int i = 0; i < MAX_REASONS && rep.server[i].count; i++)
    fprintf(out, "               %5ld  %s\n", rep.server[i].count, rep.server[i].text);
  fprintf(out, "  lake       %s\n", lake);
  fprintf(out,
          "             %llu Parquet file%s (Snappy), %llu rows, %.1f KiB, %.1f bytes/event,\n"
          "             partitioned by dt=YYYY-MM-DD/hour=HH of arrival (UTC)\n",
          (unsigned long long)lake_files, lake_files == 1 ? "" : "s", (unsigned long long)bs.rows,
          (double)lake_bytes / 1024.0, bs.rows ? (double)lake_bytes / (double)bs.rows : 0.0);
  fprintf(out, "  server log %s\n", log_path);
  fprintf(
      out,
      "\nquery it (DuckDB from npm; from the project root):\n"
      "  sh tests/node/setup.sh\n"
      "  node tests/node/athena_local.mjs %s examples/athena_queries/events_per_type_per_hour.sql\n"
      "or any SQL over read_parquet('%s/*/*/*.parquet', hive_partitioning = true);\n"
      "the same queries run in Athena over the S3 lake (see examples/athena_queries/).\n"
      "\nwhen data appears: the demo flushed the lake at the end. A running `evpipe local`\n"
      "writes a file every --buffer-seconds (default 60), once --buffer-bytes (default\n"
      "5 MiB) are buffered, at shutdown, and on SIGUSR1: `kill -USR1 <pid>` (the pid is in\n"
      "its \"listening\" log line) writes everything accepted so far; \"flush done\" in its\n"
      "log says it is in the lake, and each file gets a \"lake file written\" line.\n",
      dir, lake);
  /* Success: everything the SDK accepted was delivered and is in Parquet. */
  rc = (rep.delivered > 0 && pending == 0 && fe == EVP_OK && rep.failed == 0 && rep.rejected == 0 &&
        rep.delivered == sent_ok && (long)bs.rows >= rep.delivered)
           ? EVP_CLI_OK
           : EVP_CLI_FAIL;
  if (rc != EVP_CLI_OK)
    fprintf(out, "\nevpipe demo: not everything arrived (pending %ld, flush %s, rows %llu)\n",
            pending, evp_err2name(fe), (unsigned long long)bs.rows);
  pthread_mutex_unlock(&rep.mu);

done:
  evp_client_destroy(c, 5000);
  evp__local_stop(srv);
  pthread_mutex_destroy(&rep.mu);
  OPENSSL_cleanse(secret, sizeof secret);
  if (saved_err >= 0) {
    dup2(saved_err, STDERR_FILENO);
    close(saved_err);
  }
  return rc;
}
