/* evpipe local: the whole ingestion pipeline on this machine (HTTP front,
 * token issuer, durable log, Parquet lake). See docs/local-pipeline.md. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>
#include "cli/cli.h"
#ifdef EVP_WITH_SERVER
#include "cli/demo.h"
#include "local/local.h"
#include "lake/lake.h"
#include "base/files.h"
#endif

static void usage(FILE *f) {
  fprintf(f,
          "usage: evpipe local [--listen 127.0.0.1:8080] [--data DIR] [--schema F] [--clients F]\n"
          "                    [--rate RPS] [--burst N] [--token-rate RPS] [--token-burst N]\n"
          "                    [--max-body BYTES] [--max-events N] [--max-backlog EVENTS]\n"
          "                    [--fsync always|interval|never] [--fsync-interval-ms MS]\n"
          "                    [--buffer-bytes N] [--buffer-seconds S] [--dedup-window S]\n"
          "                    [--lake-threads N] [--compact on|off] [--lake-codec snappy|zstd]\n"
          "                    [--token-ttl S] [--quiet]\n"
          "                    [--max-connections N] [--max-connections-per-address N]\n"
          "                    [--header-timeout S] [--min-body-rate BYTES/S]\n"
          "                    [--token-lockout FAILURES] [--token-lockout-seconds S]\n"
          "\n"
          "Serves POST /token, POST /events, GET /metrics and GET /healthz. Accepted events\n"
          "go to a durable log in DIR/queue and from there to Parquet files under\n"
          "DIR/events/dt=YYYY-MM-DD/hour=HH/. Defaults: --data ./evpipe-data, --schema\n"
          "DIR/schema.json (written from the built-in event schema when missing),\n"
          "--clients DIR/secrets/clients.json (created with one client, printed once,\n"
          "when missing), 10000 requests/s with bursts of 5000 per client, POST /token\n"
          "20 requests/s with bursts of 100 per source address, and a client id locked\n"
          "for 30 s (doubling up to 15 min) after 10 failed authentications in a minute\n"
          "(--token-lockout 0: off),\n"
          "1 MiB bodies, 500 events per request, fsync before every acknowledgement,\n"
          "256 connections (more wait in the listen backlog), 64 per client address,\n"
          "a request header within 20 s and bodies at 1024 bytes/s or more.\n"
          "A Parquet file is written every --buffer-seconds (60), once --buffer-bytes (5 MiB)\n"
          "are buffered, at shutdown, and on SIGUSR1 (`kill -USR1 PID`, PID in the\n"
          "\"listening\" log line): everything accepted before it is in the lake when \"flush\n"
          "done\" is logged. Each file gets a \"lake file written\" log line.\n"
          "--compact on (the default): once an hour is closed (--buffer-seconds + 60 s\n"
          "after its end) its files are merged into files of up to 128 MiB and swapped in\n"
          "atomically (a \"lake hour compacted\" log line each); `evpipe lake compact`\n"
          "does the same while the server is stopped.\n"
          "--lake-codec snappy (the default, as Firehose writes) or zstd: the compression\n"
          "of every Parquet file written, compacted ones too. ZSTD files are about 40%%\n"
          "smaller; Athena, Trino, Spark and DuckDB read them (docs/parquet.md).\n"
          "SIGINT/SIGTERM: stop accepting, flush the lake, exit 0 (1 when that final flush\n"
          "failed: the events stay in the log for the next start).\n"
          "\n"
          "--listen HOST:PORT: 127.0.0.1:8080 or [::1]:8080 (this machine only),\n"
          "localhost:8080 or another host name (every address it resolves to),\n"
          "0.0.0.0:8080 (every IPv4 interface), [::]:8080 (every IPv6 interface);\n"
          "port 0 picks a free one.\n"
          "Every argument, the data directory and the listen address are checked before\n"
          "anything is created; a refusal is one line \"evpipe local: <what>: <why>; <what\n"
          "to do>\" and exits 2 (malformed command line) or 1 (what it names cannot be used).\n");
}

#ifdef EVP_WITH_SERVER
int evp__cli_default_schema(const char *cmd, const char *data_dir, char *def, size_t def_size) {
  /* No schema given: DIR/schema.json, written from the built-in default
   * schema on first start (then it can be edited in place). */
  char err[PATH_MAX + 256];
  if ((size_t)snprintf(def, def_size, "%s/schema.json", data_dir) >= def_size) {
    fprintf(stderr,
            "evpipe %s: data directory %s: path too long; choose a shorter one with --data DIR\n",
            cmd, data_dir);
    return -1;
  }
  if (access(def, F_OK) != 0) {
    evp_err_t e = evp__local_check_data_dir(data_dir, err, sizeof err);
    if (e == EVP_OK) e = evp__mkdirs(data_dir, err, sizeof err);
    if (e == EVP_OK)
      e = evp__file_write_secret(def, (const char *)evp__default_schema, evp__default_schema_len, 1,
                                 err, sizeof err);
    if (e != EVP_OK && e != EVP_ERR_STATE) {
      fprintf(stderr, "evpipe %s: %s\n", cmd, err);
      return -1;
    }
    char f[4200];
    size_t n = 0;
    evp__local_log_str(f, sizeof f, &n, "schema", def);
    evp__local_log("info", "no --schema: wrote the built-in event schema", f);
  }
  return 0;
}

/* Argument errors: one plain-text line "evpipe local: <what>: <why>; <what
 * to do>" (the JSON log is for the running server). */
static int num(const char *opt, const char *v, long long min, long long max, long long *out) {
  if (evp__cli_parse_i64(v, min, max, out) == 0) return 0;
  fprintf(stderr,
          "evpipe local: %s %s: not an integer in %lld..%lld; give one in that range "
          "(evpipe local --help)\n",
          opt, v, min, max);
  return -1;
}

int evp__cli_local(int argc, char **argv) {
  evp__local_opts_t o;
  evp__local_opts_default(&o);
  const char *listen = NULL, *data = NULL, *schema = NULL, *clients = NULL, *rate = NULL,
             *burst = NULL, *max_body = NULL, *max_events = NULL, *fsync = NULL, *fsync_ms = NULL,
             *buf_bytes = NULL, *buf_s = NULL, *dedup = NULL, *ttl = NULL, *trate = NULL,
             *backlog = NULL, *tburst = NULL, *lake_threads = NULL, *max_conns = NULL,
             *per_addr = NULL, *hdr_timeout = NULL, *body_rate = NULL, *lockout = NULL,
             *lockout_s = NULL, *compact = NULL, *lake_codec = NULL;
  for (int i = 1; i < argc; i++) {
    int r;
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      return EVP_CLI_OK;
    }
    if (!strcmp(argv[i], "--quiet")) {
      o.log_requests = 0;
      continue;
    }
    if ((r = evp__cli_opt(argc, argv, &i, "--listen", &listen)) ||
        (r = evp__cli_opt(argc, argv, &i, "--data", &data)) ||
        (r = evp__cli_opt(argc, argv, &i, "--schema", &schema)) ||
        (r = evp__cli_opt(argc, argv, &i, "--clients", &clients)) ||
        (r = evp__cli_opt(argc, argv, &i, "--rate", &rate)) ||
        (r = evp__cli_opt(argc, argv, &i, "--burst", &burst)) ||
        (r = evp__cli_opt(argc, argv, &i, "--token-rate", &trate)) ||
        (r = evp__cli_opt(argc, argv, &i, "--token-burst", &tburst)) ||
        (r = evp__cli_opt(argc, argv, &i, "--max-backlog", &backlog)) ||
        (r = evp__cli_opt(argc, argv, &i, "--max-body", &max_body)) ||
        (r = evp__cli_opt(argc, argv, &i, "--max-events", &max_events)) ||
        (r = evp__cli_opt(argc, argv, &i, "--fsync", &fsync)) ||
        (r = evp__cli_opt(argc, argv, &i, "--fsync-interval-ms", &fsync_ms)) ||
        (r = evp__cli_opt(argc, argv, &i, "--buffer-bytes", &buf_bytes)) ||
        (r = evp__cli_opt(argc, argv, &i, "--buffer-seconds", &buf_s)) ||
        (r = evp__cli_opt(argc, argv, &i, "--dedup-window", &dedup)) ||
        (r = evp__cli_opt(argc, argv, &i, "--lake-threads", &lake_threads)) ||
        (r = evp__cli_opt(argc, argv, &i, "--compact", &compact)) ||
        (r = evp__cli_opt(argc, argv, &i, "--lake-codec", &lake_codec)) ||
        (r = evp__cli_opt(argc, argv, &i, "--token-ttl", &ttl)) ||
        (r = evp__cli_opt(argc, argv, &i, "--max-connections", &max_conns)) ||
        (r = evp__cli_opt(argc, argv, &i, "--max-connections-per-address", &per_addr)) ||
        (r = evp__cli_opt(argc, argv, &i, "--header-timeout", &hdr_timeout)) ||
        (r = evp__cli_opt(argc, argv, &i, "--min-body-rate", &body_rate)) ||
        (r = evp__cli_opt(argc, argv, &i, "--token-lockout", &lockout)) ||
        (r = evp__cli_opt(argc, argv, &i, "--token-lockout-seconds", &lockout_s))) {
      if (r < 0) return EVP_CLI_USAGE;
      continue;
    }
    fprintf(stderr, "evpipe local: %s: unknown argument; see evpipe local --help\n", argv[i]);
    return EVP_CLI_USAGE;
  }
  long long v;
  if (listen) o.listen = listen;
  if (data) o.data_dir = data;
  o.clients_path = clients;
  if (rate) {
    if (num("--rate", rate, 1, 100000000, &v)) return EVP_CLI_USAGE;
    o.rate_rps = (double)v;
  }
  if (burst) {
    if (num("--burst", burst, 1, 100000000, &v)) return EVP_CLI_USAGE;
    o.rate_burst = (double)v;
  }
  if (trate) {
    if (num("--token-rate", trate, 1, 1000000, &v)) return EVP_CLI_USAGE;
    o.token_rate_rps = (double)v;
  }
  if (tburst) {
    if (num("--token-burst", tburst, 1, 1000000, &v)) return EVP_CLI_USAGE;
    o.token_rate_burst = (double)v;
  }
  if (backlog) {
    if (num("--max-backlog", backlog, 0, 1000000000, &v)) return EVP_CLI_USAGE;
    o.max_backlog = (uint64_t)v;
  }
  if (max_body) {
    if (num("--max-body", max_body, 1024, 64LL * 1024 * 1024, &v)) return EVP_CLI_USAGE;
    o.max_body = (size_t)v;
  }
  if (max_events) {
    if (num("--max-events", max_events, 1, 100000, &v)) return EVP_CLI_USAGE;
    o.max_events = (size_t)v;
  }
  if (compact) {
    if (strcmp(compact, "on") && strcmp(compact, "off")) {
      fprintf(stderr, "evpipe local: --compact %s: give on or off\n", compact);
      return EVP_CLI_USAGE;
    }
    o.compact = !strcmp(compact, "on");
  }
  if (lake_codec) {
    int c = evp__pq_codec_from_name(lake_codec);
    if (c < 0) {
      fprintf(stderr, "evpipe local: --lake-codec %s: give snappy or zstd\n", lake_codec);
      return EVP_CLI_USAGE;
    }
    o.lake_codec = c;
  }
  if (fsync) {
    if (!strcmp(fsync, "always"))
      o.fsync = EVP__FSYNC_ALWAYS;
    else if (!strcmp(fsync, "interval"))
      o.fsync = EVP__FSYNC_INTERVAL;
    else if (!strcmp(fsync, "never"))
      o.fsync = EVP__FSYNC_NEVER;
    else {
      fprintf(stderr, "evpipe local: --fsync %s: not a policy; give always, interval or never\n",
              fsync);
      return EVP_CLI_USAGE;
    }
  }
  if (fsync_ms) {
    if (num("--fsync-interval-ms", fsync_ms, 1, 60000, &v)) return EVP_CLI_USAGE;
    o.fsync_interval_ms = (int)v;
  }
  if (buf_bytes) {
    if (num("--buffer-bytes", buf_bytes, 1, 1024LL * 1024 * 1024, &v)) return EVP_CLI_USAGE;
    o.buffer_bytes = (size_t)v;
  }
  if (buf_s) {
    if (num("--buffer-seconds", buf_s, 1, 900, &v)) return EVP_CLI_USAGE;
    o.buffer_seconds = (int)v;
  }
  if (dedup) {
    if (num("--dedup-window", dedup, 0, 7 * 86400, &v)) return EVP_CLI_USAGE;
    o.dedup_window_s = (int)v;
  }
  if (lake_threads) {
    if (num("--lake-threads", lake_threads, 1, 8, &v)) return EVP_CLI_USAGE;
    o.lake_threads = (int)v;
  }
  if (ttl) {
    if (num("--token-ttl", ttl, 60, 86400, &v)) return EVP_CLI_USAGE;
    o.token_ttl_s = v;
  }
  if (max_conns) {
    if (num("--max-connections", max_conns, 1, 10000, &v)) return EVP_CLI_USAGE;
    o.threads_max = (int)v;
  }
  if (per_addr) {
    if (num("--max-connections-per-address", per_addr, 1, 10000, &v)) return EVP_CLI_USAGE;
    o.max_conns_per_addr = (int)v;
  }
  if (hdr_timeout) {
    if (num("--header-timeout", hdr_timeout, 1, 3600, &v)) return EVP_CLI_USAGE;
    o.header_timeout_s = (int)v;
  }
  if (body_rate) {
    if (num("--min-body-rate", body_rate, 1, 1000000000, &v)) return EVP_CLI_USAGE;
    o.min_body_rate = (int)v;
  }
  if (lockout) {
    if (num("--token-lockout", lockout, 0, 1000000, &v)) return EVP_CLI_USAGE;
    o.token_lockout_failures = (int)v;
  }
  if (lockout_s) {
    if (num("--token-lockout-seconds", lockout_s, 1, 900, &v)) return EVP_CLI_USAGE;
    o.token_lockout_s = (int)v;
  }
  /* Check everything, then bind, then create: a refused start leaves no
   * data directory, schema, credentials or keys behind. Malformed
   * arguments exit 2, arguments naming what cannot be used exit 1. */
  char err[PATH_MAX + 1024], host[EVP__LISTEN_HOST_MAX];
  uint16_t port;
  int bracketed;
  if (evp__listen_parse(o.listen, host, sizeof host, &port, &bracketed, err, sizeof err) !=
      EVP_OK) {
    fprintf(stderr, "evpipe local: %s\n", err);
    return EVP_CLI_USAGE;
  }
  o.schema_path = schema;
  evp__listener_t *lis = NULL;
  if (evp__local_check(&o, err, sizeof err) != EVP_OK ||
      evp__listen_open(o.listen, &lis, err, sizeof err) != EVP_OK) {
    fprintf(stderr, "evpipe local: %s\n", err);
    return EVP_CLI_FAIL;
  }
  char def[4096];
  if (!schema) {
    if (evp__cli_default_schema("local", o.data_dir, def, sizeof def) != 0) {
      evp__listener_free(lis);
      return EVP_CLI_FAIL;
    }
    o.schema_path = def;
  }
  return evp__local_run(&o, lis) == 0 ? EVP_CLI_OK : EVP_CLI_FAIL;
}
#else
int evp__cli_local(int argc, char **argv) {
  (void)argc, (void)argv;
  fprintf(stderr, "evpipe local: this build has no server side (EVPIPE_BUILD_SERVER=OFF)\n");
  return EVP_CLI_USAGE;
}
#endif
