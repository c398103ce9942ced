/* evpipe lake compact: merge the small Parquet files of closed hour
 * partitions of an `evpipe local` data directory into files of a target
 * size, crash-safe (src/lake/lake_compact.c). Refuses while `evpipe local`
 * runs on the directory: it holds the log's lock, which this takes too. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "cli/cli.h"
#ifdef EVP_WITH_SERVER
#include "lake/lake_compact.h"
#include "wal/wal.h"
#include "wal/wal_read.h"
#endif

static void usage(FILE *f) {
  fprintf(f, "usage: evpipe lake compact [DATA_DIR] [--hour YYYY-MM-DDTHH] [--target-bytes N]\n"
             "                          [--codec snappy|zstd]\n"
             "\n"
             "Merges the Parquet files of hour partitions of DATA_DIR/events (default\n"
             "./evpipe-data, or --data DIR) into files of about --target-bytes (default\n"
             "134217728, 128 MiB) and swaps them in atomically: a query sees the old files\n"
             "or the new ones, never both, even if this is killed. Without --hour: every\n"
             "closed hour (ended at least 15 minutes ago) with more files than its size\n"
             "needs; with --hour: that hour, when it has two files or more. Only files\n"
             "whose log records are below the log's checkpoint are merged. --codec: the\n"
             "compression of the files written (default snappy; as evpipe local --lake-codec).\n"
             "`evpipe local` compacts closed hours itself; this refuses to run while it\n"
             "runs on DATA_DIR (stop it first).\n");
}

/* How long after its end an hour counts as closed here: the batcher's
 * longest buffer time (900 s), so no file of it is still to come unless the
 * lake was failing (late files are merged by the next compaction). */
#define CLOSED_AFTER_S 900

#ifdef EVP_WITH_SERVER
/* Tests only (tests/scripts/test_lake_compact.sh): EVPIPE_COMPACT_KILL_AT=STEP
 * makes the process SIGKILL itself at that step of the compaction. */
static void kill_at(void *arg, const char *step) {
  const char *want = arg;
  if (!strcmp(want, step)) raise(SIGKILL);
}

static void print_result(const evp__compact_result_t *r, evp_err_t e, const char *msg) {
  if (e) {
    fprintf(stderr, "evpipe lake compact: dt=%s/hour=%02d: %s\n", r->dt, r->hour, msg);
    return;
  }
  printf("dt=%s/hour=%02d: %zu files -> %zu (%zu kept), %llu rows, %llu -> %llu bytes, %lld ms\n",
         r->dt, r->hour, r->files_in, r->files_out, r->files_kept, (unsigned long long)r->rows,
         (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out,
         (long long)r->duration_ms);
  fflush(stdout);
}

static void on_done(void *arg, const evp__compact_result_t *r, evp_err_t e, const char *msg) {
  (*(int *)arg)++;
  print_result(r, e, msg);
}

static int compact(int argc, char **argv) {
  const char *data = NULL, *hour = NULL, *target = NULL, *codec = NULL;
  for (int i = 2; i < argc; i++) {
    int r;
    if ((r = evp__cli_opt(argc, argv, &i, "--data", &data)) != 0 ||
        (r = evp__cli_opt(argc, argv, &i, "--hour", &hour)) != 0 ||
        (r = evp__cli_opt(argc, argv, &i, "--target-bytes", &target)) != 0 ||
        (r = evp__cli_opt(argc, argv, &i, "--codec", &codec)) != 0) {
      if (r < 0) return EVP_CLI_USAGE;
      continue;
    }
    if (argv[i][0] == '-' || data) {
      fprintf(stderr, "evpipe lake compact: unexpected argument '%s'\n", argv[i]);
      usage(stderr);
      return EVP_CLI_USAGE;
    }
    data = argv[i];
  }
  if (!data) data = "evpipe-data";
  evp__compact_opts_t o;
  memset(&o, 0, sizeof o);
  o.root = data;
  if (target) {
    long long v;
    if (evp__cli_parse_i64(target, 1024, (long long)1 << 40, &v) != 0) {
      fprintf(stderr, "evpipe lake compact: --target-bytes must be a number of bytes from 1024 "
                      "to 1099511627776\n");
      return EVP_CLI_USAGE;
    }
    o.target_bytes = (uint64_t)v;
  }
  if (codec) {
    int c = evp__pq_codec_from_name(codec);
    if (c < 0) {
      fprintf(stderr, "evpipe lake compact: --codec %s: give snappy or zstd\n", codec);
      return EVP_CLI_USAGE;
    }
    o.codec = (evp__pq_codec_t)c;
  }
  char dt[11] = "";
  int hh = -1;
  if (hour) {
    int y, m, d, n = 0;
    if (strlen(hour) != 13 || sscanf(hour, "%4d-%2d-%2dT%2d%n", &y, &m, &d, &hh, &n) != 4 ||
        n != 13 || m < 1 || m > 12 || d < 1 || d > 31 || hh < 0 || hh > 23) {
      fprintf(stderr,
              "evpipe lake compact: --hour '%s' is not YYYY-MM-DDTHH (UTC, e.g. "
              "2026-12-05T04)\n",
              hour);
      return EVP_CLI_USAGE;
    }
    memcpy(dt, hour, 10);
    o.force = 1;
  }
  char events[PATH_MAX], queue[PATH_MAX], err[512] = "";
  struct stat st;
  if ((size_t)snprintf(events, sizeof events, "%s/events", data) >= sizeof events ||
      (size_t)snprintf(queue, sizeof queue, "%s/queue", data) >= sizeof queue) {
    fprintf(stderr, "evpipe lake compact: data directory path too long\n");
    return EVP_CLI_USAGE;
  }
  if (stat(events, &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr,
            "evpipe lake compact: %s: no lake there (%s); give the data directory of "
            "evpipe local\n",
            events, strerror(errno));
    return EVP_CLI_FAIL;
  }
  /* The log's lock, as `evpipe local` takes it: held for the whole run, so
   * a server cannot start meanwhile. No log (a lake copied alone): nothing
   * replays into the lake, so every file may be merged. */
  evp__wal_t *w = NULL;
  o.checkpoint = UINT64_MAX;
  if (stat(queue, &st) == 0) {
    evp__wal_opts_t wo;
    memset(&wo, 0, sizeof wo);
    wo.fsync = EVP__FSYNC_NEVER; /* nothing is appended */
    evp_err_t e = evp__wal_open(queue, &wo, &w, err, sizeof err);
    if (e == EVP_ERR_STATE) {
      fprintf(stderr,
              "evpipe lake compact: evpipe local is running on %s (its log %s is locked); "
              "it compacts closed hours itself, or stop it and run this again\n",
              data, queue);
      return EVP_CLI_FAIL;
    }
    if (e) {
      fprintf(stderr, "evpipe lake compact: cannot open the log: %s\n", err);
      return EVP_CLI_FAIL;
    }
    o.checkpoint = evp__wal_checkpoint(w);
  }
  const char *kill_step = getenv("EVPIPE_COMPACT_KILL_AT");
  if (kill_step && *kill_step) {
    o.hook = kill_at;
    o.hook_arg = (void *)kill_step;
  }
  int rc = EVP_CLI_OK, n = 0;
  if (evp__lake_compact_recover(data, err, sizeof err) != EVP_OK) {
    fprintf(stderr, "evpipe lake compact: %s\n", err);
    rc = EVP_CLI_FAIL;
  } else if (hour) {
    evp__compact_result_t res;
    evp_err_t e = evp__lake_compact_hour(&o, dt, hh, &res, err, sizeof err);
    if (e || res.compacted)
      print_result(&res, e, err);
    else
      printf("dt=%s/hour=%02d: nothing to compact (%zu files below the checkpoint, %zu kept)\n", dt,
             hh, res.files_in, res.files_kept);
    if (e) rc = EVP_CLI_FAIL;
  } else {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t closed = ((int64_t)now.tv_sec - CLOSED_AFTER_S) * 1000000;
    if (evp__lake_compact_closed(&o, closed, on_done, &n, err, sizeof err) != EVP_OK)
      rc = EVP_CLI_FAIL;
    else if (n == 0)
      printf("nothing to compact in %s\n", events);
  }
  if (w) evp__wal_close(w);
  return rc;
}
#endif

int evp__cli_lake(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? EVP_CLI_USAGE : EVP_CLI_OK;
  }
  if (strcmp(argv[1], "compact") != 0) {
    fprintf(stderr, "evpipe lake: unknown subcommand '%s'\n", argv[1]);
    usage(stderr);
    return EVP_CLI_USAGE;
  }
  for (int i = 2; i < argc; i++)
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      return EVP_CLI_OK;
    }
#ifdef EVP_WITH_SERVER
  return compact(argc, argv);
#else
  fprintf(stderr, "evpipe lake: this build has no server side (EVPIPE_BUILD_SERVER=OFF)\n");
  return EVP_CLI_USAGE;
#endif
}
