/* evpipe send: read NDJSON events and deliver them through the client SDK.
 * Output, as curl, rsync and kcat split it: diagnostics on stderr as they
 * happen (each event not delivered as FILE:LINE with its reason, at most
 * SHOWN_PER_REASON lines per reason; a progress bar on a terminal, plain
 * counters otherwise), and the one summary on stdout at the end.
 * Exit status: 0 when every event was delivered, 1 when any was refused,
 * rejected or failed or it gave up (a permanent error such as refused
 * credentials or a wrong URL, or a server unreachable for
 * --unreachable-timeout), 2 on usage or I/O errors. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "base/base.h"
#include "cli/cli.h"
#include "evpipe/evpipe.h"

#define NREASONS 8
#define SHOWN_PER_REASON 10 /* FILE:LINE lines printed per reason; the rest are counted */

typedef struct {
  atomic_long delivered, rejected, failed;
  pthread_mutex_t mu; /* the reasons, error, and every write to stderr */
  struct {
    char text[400]; /* as long as the FILE:LINE line's reason: the advice comes last */
    long n;
  } reasons[NREASONS];
  long other_reasons, other_shown;
  const char *input; /* the input's name in FILE:LINE */
  /* From the error callback: a permanent error, or since when (ms, 0: not)
   * the server has been unreachable and how much was delivered then. */
  atomic_int permanent;
  atomic_long unreachable_ms, delivered_then;
  char error[320]; /* guarded by mu */
} tally_t;

static int g_tty; /* stderr is a terminal: clear the progress line first */

/* One event not delivered: counted under its reason @p group and, while
 * that reason has been shown fewer than SHOWN_PER_REASON times, printed as
 * "FILE:LINE: what" (line 0: an event of an earlier run, from the spool). */
static void note_event(tally_t *t, long lineno, const char *group, const char *what) {
  pthread_mutex_lock(&t->mu);
  long seen = 0;
  int i = 0;
  for (; i < NREASONS && t->reasons[i].n; i++)
    if (!strncmp(t->reasons[i].text, group, sizeof t->reasons[i].text - 1)) break;
  if (i < NREASONS) {
    if (!t->reasons[i].n) evp__cli_copy_cut(t->reasons[i].text, sizeof t->reasons[i].text, group);
    seen = t->reasons[i].n++;
  } else {
    t->other_reasons++;
    seen = t->other_shown < SHOWN_PER_REASON ? t->other_shown++ : SHOWN_PER_REASON;
  }
  if (seen < SHOWN_PER_REASON) {
    if (lineno > 0)
      fprintf(stderr, "%s%s:%ld: %s\n", g_tty ? "\r\033[K" : "", t->input, lineno, what);
    else
      fprintf(stderr, "%s%s: (an earlier run's event, from the spool) %s\n",
              g_tty ? "\r\033[K" : "", t->input, what);
  }
  pthread_mutex_unlock(&t->mu);
}

static void on_dr(evp_client_t *client, const evp_delivery_t *report, void *opaque) {
  (void)client;
  tally_t *t = opaque;
  evp_delivery_status_t st = evp_delivery_status(report);
  if (st == EVP_DELIVERY_OK) {
    atomic_fetch_add(&t->delivered, 1);
    return;
  }
  int rejected = st == EVP_DELIVERY_REJECTED;
  atomic_fetch_add(rejected ? &t->rejected : &t->failed, 1);
  const char *reason = evp_delivery_reason(report);
  char what[400];
  snprintf(what, sizeof what, "%s: %s: %.300s", rejected ? "rejected" : "failed",
           evp_err2name(evp_delivery_error(report)), reason ? reason : "");
  note_event(t, (long)(intptr_t)evp_delivery_opaque(report), what, what);
}

/* The library's error callback: remember what it said; the reading and
 * flushing loops decide to give up (give_up below). */
static void on_error(evp_err_t err, int retrying, const char *reason, void *opaque) {
  tally_t *t = opaque;
  pthread_mutex_lock(&t->mu);
  snprintf(t->error, sizeof t->error, "%s: %s", evp_err2name(err), reason);
  pthread_mutex_unlock(&t->mu);
  if (!retrying) {
    atomic_store(&t->permanent, 1);
  } else {
    atomic_store(&t->delivered_then, atomic_load(&t->delivered));
    atomic_store(&t->unreachable_ms, (long)(evp__mono_s() * 1000.0) + 1);
  }
}

/* A CLI, unlike an application, should not wait for a server that refuses
 * it or is not there: give up at once on a permanent error, and after
 * unreachable_ms without a delivery once the library said the server cannot
 * be reached. Prints why (once) and returns 1. */
static int give_up(tally_t *t, long long unreachable_ms) {
  static int said;
  int perm = atomic_load(&t->permanent);
  long since = atomic_load(&t->unreachable_ms);
  if (!perm) {
    if (!since) return 0;
    if (atomic_load(&t->delivered) != atomic_load(&t->delivered_then)) {
      atomic_store(&t->unreachable_ms, 0); /* it came back */
      return 0;
    }
    if ((long)(evp__mono_s() * 1000.0) - since < unreachable_ms) return 0;
  }
  if (!said) {
    said = 1;
    pthread_mutex_lock(&t->mu);
    if (perm)
      fprintf(stderr, "%sevpipe send: giving up: %s\n", g_tty ? "\r\033[K" : "", t->error);
    else
      fprintf(stderr, "%sevpipe send: giving up: cannot reach the server for %lld ms: %s\n",
              g_tty ? "\r\033[K" : "", unreachable_ms, t->error);
    pthread_mutex_unlock(&t->mu);
  }
  return 1;
}

static void on_log(int level, const char *msg, void *opaque) {
  (void)opaque;
  if (level <= EVP_LOG_WARNING) fprintf(stderr, "%sevpipe: %s\n", g_tty ? "\r\033[K" : "", msg);
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: evpipe send --endpoint URL --client-id ID --client-secret-file F\n"
          "                   [--audience AUD] [--schema F] [--set name=value]...\n"
          "                   [--timeout MS] [--unreachable-timeout MS] [FILE|-]\n"
          "Reads one JSON event per line (NDJSON) from FILE or stdin and delivers them.\n"
          "  --set name=value   any other client property (see evpipe conf-doc); the\n"
          "                     properties the options above set (endpoint, client.id,\n"
          "                     client.secret, audience, schema.file) come from them only:\n"
          "                     --set for one of them too is a usage error. Here\n"
          "                     queue.block.timeout.ms defaults to 1000 (--set changes it)\n"
          "  --timeout MS       how long to wait for delivery at the end (default 60000)\n"
          "  --unreachable-timeout MS\n"
          "                     give up when the server cannot be reached and nothing was\n"
          "                     delivered for this long (default 5000); a permanent error\n"
          "                     (refused credentials, wrong URL) gives up at once\n"
          "Output: stderr has the diagnostics as they happen: each event not delivered as\n"
          "  FILE:LINE: refused|rejected|failed: CODE: reason (the first %d of each\n"
          "  reason; the summary counts the rest), why it gave up, and the progress;\n"
          "  stdout has the one summary at the end (counts, then the reasons).\n"
          "Exit status: 0 every event was delivered; 1 any was refused, rejected or\n"
          "  failed, or it gave up; 2 usage or I/O error.\n",
          SHOWN_PER_REASON);
}

/* The progress, on stderr: a bar redrawn in place on a terminal, a line of
 * counters a second otherwise (the summary on stdout is the result). */
static void progress(int tty, tally_t *t, long queued, long refused, long total_bytes,
                     long read_bytes) {
  long d = atomic_load(&t->delivered), r = atomic_load(&t->rejected), f = atomic_load(&t->failed);
  pthread_mutex_lock(&t->mu);
  if (tty) {
    char bar[31];
    int fill = total_bytes > 0 ? (int)(30.0 * (double)read_bytes / (double)total_bytes) : 0;
    if (queued > 0 && total_bytes > 0)
      fill = (int)((double)fill * (double)(d + r + f) / (double)queued);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r\033[K[%s] queued %ld  delivered %ld  rejected %ld  failed %ld  refused %ld",
            total_bytes > 0 ? bar : "..............................", queued, d, r, f, refused);
  } else {
    fprintf(stderr,
            "evpipe send: progress: queued %ld, delivered %ld, rejected %ld, failed %ld, "
            "refused %ld\n",
            queued, d, r, f, refused);
  }
  pthread_mutex_unlock(&t->mu);
}

static int set(evp_conf_t *conf, const char *name, const char *value) {
  char err[512];
  if (evp_conf_set(conf, name, value, err, sizeof err) != EVP_OK) {
    fprintf(stderr, "evpipe send: %s\n", err);
    return -1;
  }
  return 0;
}

/* The properties an option of evpipe send sets: each has one source. */
static const struct {
  const char *prop, *option;
} owned[] = {{"endpoint", "--endpoint"},
             {"client.id", "--client-id"},
             {"client.secret", "--client-secret-file"},
             {"audience", "--audience"},
             {"schema.file", "--schema"}};
#define NOWNED (sizeof owned / sizeof owned[0])

/* The summary, on stdout: the counts, then each reason with how many events
 * it stopped and how many of them stderr did not list. */
static void summary(tally_t *t, long lines, long queued, long refused, int gave_up,
                    long undelivered) {
  long d = atomic_load(&t->delivered), rj = atomic_load(&t->rejected), f = atomic_load(&t->failed);
  printf("lines: %ld  queued: %ld  refused: %ld\n", lines, queued, refused);
  printf("delivered: %ld  rejected: %ld  failed: %ld%s\n", d, rj, f,
         gave_up           ? "  (gave up: see the reason above)"
         : undelivered > 0 ? "  (some undelivered at the timeout)"
                           : "");
  for (int i = 0; i < NREASONS && t->reasons[i].n; i++) {
    long more = t->reasons[i].n - SHOWN_PER_REASON;
    printf("  %6ld  %s", t->reasons[i].n, t->reasons[i].text);
    if (more > 0) printf("  (the first %d lines are on stderr, %ld more)", SHOWN_PER_REASON, more);
    printf("\n");
  }
  if (t->other_reasons) {
    long more = t->other_reasons - t->other_shown;
    printf("  %6ld  (other reasons)", t->other_reasons);
    if (more > 0) printf("  (the first %ld lines are on stderr, %ld more)", t->other_shown, more);
    printf("\n");
  }
}

int evp__cli_send(int argc, char **argv) {
  const char *endpoint = NULL, *client_id = NULL, *secret_file = NULL, *audience = NULL,
             *schema = NULL, *input = NULL, *timeout_s = "60000", *unreach_s = "5000", *v;
  const char **given[NOWNED] = {&endpoint, &client_id, &secret_file, &audience, &schema};
  int by_set[NOWNED] = {0};
  evp_conf_t *conf = evp_conf_new();
  if (!conf) {
    fprintf(stderr, "evpipe send: out of memory\n");
    return EVP_CLI_USAGE;
  }
  int rc = EVP_CLI_USAGE, r;
  /* Back-pressure instead of refusing: the reader waits for room. A default
   * of this command, set first so that --set can change it. */
  if (set(conf, "queue.block.timeout.ms", "1000")) goto out;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      evp_conf_destroy(conf);
      return EVP_CLI_OK;
    }
    if ((r = evp__cli_opt(argc, argv, &i, "--endpoint", &endpoint)) ||
        (r = evp__cli_opt(argc, argv, &i, "--client-id", &client_id)) ||
        (r = evp__cli_opt(argc, argv, &i, "--client-secret-file", &secret_file)) ||
        (r = evp__cli_opt(argc, argv, &i, "--audience", &audience)) ||
        (r = evp__cli_opt(argc, argv, &i, "--schema", &schema)) ||
        (r = evp__cli_opt(argc, argv, &i, "--timeout", &timeout_s)) ||
        (r = evp__cli_opt(argc, argv, &i, "--unreachable-timeout", &unreach_s))) {
      if (r < 0) goto out;
      continue;
    }
    if ((r = evp__cli_opt(argc, argv, &i, "--set", &v))) {
      if (r < 0) goto out; /* evp__cli_opt said what is missing */
      const char *eq = strchr(v, '=');
      if (!eq) {
        fprintf(stderr, "evpipe send: --set needs name=value\n");
        goto out;
      }
      char name[128];
      snprintf(name, sizeof name, "%.*s", (int)(eq - v), v);
      for (size_t k = 0; k < NOWNED; k++)
        if (!strcmp(name, owned[k].prop)) by_set[k] = 1;
      if (set(conf, name, eq + 1)) goto out;
      continue;
    }
    if (argv[i][0] == '-' && strcmp(argv[i], "-")) {
      fprintf(stderr, "evpipe send: unknown option %s\n", argv[i]);
      usage(stderr);
      goto out;
    }
    if (input) {
      fprintf(stderr, "evpipe send: only one input file\n");
      goto out;
    }
    input = argv[i];
  }
  /* One source per setting: with two, which one wins would be a silent
   * guess (and a secret on the command line is visible to every user). */
  for (size_t k = 0; k < NOWNED; k++)
    if (by_set[k] && *given[k]) {
      fprintf(stderr, "evpipe send: %s: given twice, by --set %s and by %s; give it with %s only\n",
              owned[k].prop, owned[k].prop, owned[k].option, owned[k].option);
      goto out;
    } else if (by_set[k]) {
      fprintf(stderr, "evpipe send: --set %s: evpipe send takes %s from %s; use %s instead\n",
              owned[k].prop, owned[k].prop, owned[k].option, owned[k].option);
      goto out;
    }
  long long timeout_ms, unreach_ms;
  if (!endpoint || !client_id || !secret_file) {
    fprintf(stderr, "evpipe send: --endpoint, --client-id and --client-secret-file are required\n");
    usage(stderr);
    goto out;
  }
  const char *bad_ms = evp__cli_parse_i64(timeout_s, 0, 86400000, &timeout_ms) ? "--timeout"
                       : evp__cli_parse_i64(unreach_s, 0, 86400000, &unreach_ms)
                           ? "--unreachable-timeout"
                           : NULL;
  if (bad_ms) {
    fprintf(stderr,
            "evpipe send: %s %s: not a number of milliseconds in 0..86400000; give one in that "
            "range\n",
            bad_ms, !strcmp(bad_ms, "--timeout") ? timeout_s : unreach_s);
    goto out;
  }
  unsigned char *key = NULL;
  size_t keylen = 0;
  if (evp__cli_read_secret_file("evpipe send", "client secret file", secret_file, &key, &keylen))
    goto out;
  char *secret = malloc(keylen + 1);
  int bad_secret = !secret || memchr(key, '\0', keylen) != NULL;
  if (secret) {
    memcpy(secret, key, keylen);
    secret[keylen] = '\0';
  }
  OPENSSL_cleanse(key, keylen);
  free(key);
  if (bad_secret) {
    fprintf(stderr, "evpipe send: the client secret must be text\n");
    if (secret) OPENSSL_cleanse(secret, keylen);
    free(secret);
    goto out;
  }
  int bad = set(conf, "endpoint", endpoint) || set(conf, "client.id", client_id) ||
            set(conf, "client.secret", secret) || (audience && set(conf, "audience", audience)) ||
            (schema && set(conf, "schema.file", schema));
  OPENSSL_cleanse(secret, keylen);
  free(secret);
  if (bad) goto out;
  FILE *in = stdin;
  long total_bytes = 0;
  if (input && strcmp(input, "-")) {
    in = fopen(input, "rb");
    if (!in) {
      int en = errno;
      fprintf(stderr, "evpipe send: cannot open the input file %s: %s%s\n", input, strerror(en),
              en == ENOENT ? "; check the path, or give - to read standard input"
                           : "; check its permissions");
      goto out;
    }
    struct stat st;
    if (fstat(fileno(in), &st) == 0 && S_ISDIR(st.st_mode)) {
      fprintf(stderr, "evpipe send: the input file %s is a directory; give an NDJSON file\n",
              input);
      fclose(in);
      goto out;
    }
    if (fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode)) total_bytes = (long)st.st_size;
  }
  static tally_t t;
  memset(&t, 0, sizeof t);
  pthread_mutex_init(&t.mu, NULL);
  t.input = in == stdin ? "stdin" : input;
  evp_conf_set_delivery_cb(conf, on_dr, &t);
  evp_conf_set_log_cb(conf, on_log);
  evp_conf_set_error_cb(conf, on_error);
  g_tty = isatty(STDERR_FILENO);
  evp_conf_set_opaque(conf, &t);
  char err[512];
  evp_client_t *c = evp_client_new(conf, err, sizeof err);
  if (!c) {
    fprintf(stderr, "evpipe send: %s\n", err);
    if (in != stdin) fclose(in);
    pthread_mutex_destroy(&t.mu);
    goto out;
  }
  conf = NULL; /* the client owns it now */
  int tty = g_tty;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  long lineno = 0, queued = 0, refused = 0, read_bytes = 0;
  double last = evp__mono_s();
  int io_error = 0, gave_up = 0;
  while (!(gave_up = give_up(&t, unreach_ms)) && (n = getline(&line, &cap, in)) > 0) {
    lineno++;
    read_bytes += n;
    size_t len = (size_t)n;
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    if (!len) continue;
    evp_err_t e;
    /* The line number comes back in the event's delivery report. */
    while ((e = evp_send_opaque(c, line, len, (void *)(intptr_t)lineno, err, sizeof err)) ==
               EVP_ERR_QUEUE_FULL &&
           !(gave_up = give_up(&t, unreach_ms)))
      ;
    if (gave_up) break;
    if (e == EVP_OK) {
      queued++;
    } else {
      refused++;
      char group[64], what[600];
      snprintf(group, sizeof group, "refused: %s", evp_err2name(e));
      snprintf(what, sizeof what, "%s: %s", group, err);
      note_event(&t, lineno, group, what);
    }
    double now = evp__mono_s();
    if (now - last >= (tty ? 0.1 : 1.0)) {
      progress(tty, &t, queued, refused, total_bytes, read_bytes);
      last = now;
    }
  }
  if (ferror(in)) {
    fprintf(stderr, "evpipe send: cannot read the input file %s: %s\n", t.input, strerror(errno));
    io_error = 1;
  }
  free(line);
  if (in != stdin) fclose(in);
  /* Flush in slices so the counters keep moving on a terminal. */
  double deadline = evp__mono_s() + (double)timeout_ms / 1000.0;
  long pending;
  while (!gave_up && (pending = evp_flush(c, 100)) > 0 && evp__mono_s() < deadline &&
         !(gave_up = give_up(&t, unreach_ms)))
    if (tty) progress(tty, &t, queued, refused, total_bytes, read_bytes);
  if (!gave_up && atomic_load(&t.permanent))
    gave_up = give_up(&t, unreach_ms); /* the events failed: say why once */
  long undelivered = evp_client_destroy(c, 0);
  if (tty) fputs("\r\033[K", stderr); /* the bar gives way to the summary */
  summary(&t, lineno, queued, refused, gave_up, undelivered);
  long d = atomic_load(&t.delivered), rj = atomic_load(&t.rejected), f = atomic_load(&t.failed);
  pthread_mutex_destroy(&t.mu);
  rc = io_error                                         ? EVP_CLI_USAGE
       : (gave_up || refused || rj || f || d != queued) ? EVP_CLI_FAIL
                                                        : EVP_CLI_OK;
out:
  evp_conf_destroy(conf);
  return rc;
}
