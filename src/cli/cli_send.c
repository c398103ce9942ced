/* evpipe send: read NDJSON events and deliver them through the client SDK,
 * with a progress bar on a terminal (plain counters otherwise) and a summary.
 * Exit status: 0 when every event was delivered, 1 when any was refused,
 * rejected or failed or it gave up (a permanent error such as refused
 * credentials or a wrong URL, or a server unreachable for
 * --unreachable-timeout), 2 on usage or I/O errors. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
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

typedef struct {
  atomic_long delivered, rejected, failed;
  pthread_mutex_t mu;
  struct {
    char text[160];
    long n;
  } reasons[NREASONS];
  long other_reasons;
  /* From the error callback: a permanent error, or since when (ms, 0: not)
   * the server has been unreachable and how much was delivered then. */
  atomic_int permanent;
  atomic_long unreachable_ms, delivered_then;
  char error[320]; /* guarded by mu */
} tally_t;

static void note_reason(tally_t *t, const char *why) {
  pthread_mutex_lock(&t->mu);
  for (int i = 0; i < NREASONS; i++) {
    if (t->reasons[i].n && !strncmp(t->reasons[i].text, why, sizeof t->reasons[i].text - 1)) {
      t->reasons[i].n++;
      goto out;
    }
    if (!t->reasons[i].n) {
      evp__cli_copy_cut(t->reasons[i].text, sizeof t->reasons[i].text, why);
      t->reasons[i].n = 1;
      goto out;
    }
  }
  t->other_reasons++;
out:
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
  atomic_fetch_add(st == EVP_DELIVERY_REJECTED ? &t->rejected : &t->failed, 1);
  char why[200];
  const char *reason = evp_delivery_reason(report);
  snprintf(why, sizeof why, "%s: %.150s", evp_err2name(evp_delivery_error(report)),
           reason ? reason : "");
  note_reason(t, why);
}

static int g_tty; /* stderr is a terminal: clear the progress line first */

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
  fprintf(f, "usage: evpipe send --endpoint URL --client-id ID --client-secret-file F\n"
             "                   [--audience AUD] [--schema F] [--set name=value]...\n"
             "                   [--timeout MS] [--unreachable-timeout MS] [FILE|-]\n"
             "Reads one JSON event per line (NDJSON) from FILE or stdin and delivers them.\n"
             "  --set name=value   any client property (see evpipe conf-doc)\n"
             "  --timeout MS       how long to wait for delivery at the end (default 60000)\n"
             "  --unreachable-timeout MS\n"
             "                     give up when the server cannot be reached and nothing was\n"
             "                     delivered for this long (default 5000); a permanent error\n"
             "                     (refused credentials, wrong URL) gives up at once\n");
}

static void progress(int tty, tally_t *t, long queued, long refused, long total_bytes,
                     long read_bytes, int final) {
  long d = atomic_load(&t->delivered), r = atomic_load(&t->rejected), f = atomic_load(&t->failed);
  if (tty) {
    char bar[31];
    int fill = total_bytes > 0 ? (int)(30.0 * (double)read_bytes / (double)total_bytes) : 0;
    if (queued > 0 && total_bytes > 0)
      fill = (int)((double)fill * (double)(d + r + f) / (double)queued);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr,
            "\r\033[K[%s] queued %ld  delivered %ld  rejected %ld  failed %ld  refused %ld%s",
            total_bytes > 0 ? bar : "..............................", queued, d, r, f, refused,
            final ? "\n" : "");
  } else {
    fprintf(stderr, "queued=%ld delivered=%ld rejected=%ld failed=%ld refused=%ld\n", queued, d, r,
            f, refused);
  }
}

static int set(evp_conf_t *conf, const char *name, const char *value) {
  char err[256];
  if (evp_conf_set(conf, name, value, err, sizeof err) != EVP_OK) {
    fprintf(stderr, "evpipe send: %s\n", err);
    return -1;
  }
  return 0;
}

int evp__cli_send(int argc, char **argv) {
  const char *endpoint = NULL, *client_id = NULL, *secret_file = NULL, *audience = NULL,
             *schema = NULL, *input = NULL, *timeout_s = "60000", *unreach_s = "5000", *v;
  evp_conf_t *conf = evp_conf_new();
  if (!conf) {
    fprintf(stderr, "evpipe send: out of memory\n");
    return EVP_CLI_USAGE;
  }
  int rc = EVP_CLI_USAGE, r;
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
      const char *eq = r > 0 ? strchr(v, '=') : NULL;
      if (!eq) {
        fprintf(stderr, "evpipe send: --set needs name=value\n");
        goto out;
      }
      char name[128];
      snprintf(name, sizeof name, "%.*s", (int)(eq - v), v);
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
  long long timeout_ms, unreach_ms;
  if (!endpoint || !client_id || !secret_file) {
    fprintf(stderr, "evpipe send: --endpoint, --client-id and --client-secret-file are required\n");
    usage(stderr);
    goto out;
  }
  if (evp__cli_parse_i64(timeout_s, 0, 86400000, &timeout_ms) ||
      evp__cli_parse_i64(unreach_s, 0, 86400000, &unreach_ms)) {
    fprintf(stderr, "evpipe send: --timeout and --unreachable-timeout must be milliseconds\n");
    goto out;
  }
  unsigned char *key = NULL;
  size_t keylen = 0;
  if (evp__cli_read_key_file(secret_file, &key, &keylen)) goto out;
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
  /* Back-pressure instead of refusing: the reader waits for room. */
  if (set(conf, "queue.block.timeout.ms", "1000")) goto out;
  FILE *in = stdin;
  long total_bytes = 0;
  if (input && strcmp(input, "-")) {
    in = fopen(input, "rb");
    if (!in) {
      fprintf(stderr, "evpipe send: cannot open %s\n", input);
      goto out;
    }
    struct stat st;
    if (fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode)) total_bytes = (long)st.st_size;
  }
  static tally_t t;
  memset(&t, 0, sizeof t);
  pthread_mutex_init(&t.mu, NULL);
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
    while ((e = evp_send(c, line, len, err, sizeof err)) == EVP_ERR_QUEUE_FULL &&
           !(gave_up = give_up(&t, unreach_ms)))
      ;
    if (gave_up) break;
    if (e == EVP_OK) {
      queued++;
    } else {
      refused++;
      if (refused <= 10)
        fprintf(stderr, "%sline %ld: %s: %s\n", tty ? "\r\033[K" : "", lineno, evp_err2name(e),
                err);
      char why[200];
      snprintf(why, sizeof why, "refused: %s", evp_err2name(e));
      note_reason(&t, why);
    }
    double now = evp__mono_s();
    if (now - last >= (tty ? 0.1 : 1.0)) {
      progress(tty, &t, queued, refused, total_bytes, read_bytes, 0);
      last = now;
    }
  }
  if (ferror(in)) {
    fprintf(stderr, "evpipe send: read error on input\n");
    io_error = 1;
  }
  free(line);
  if (in != stdin) fclose(in);
  /* Flush in slices so the counters keep moving on a terminal. */
  double deadline = evp__mono_s() + (double)timeout_ms / 1000.0;
  long pending;
  while (!gave_up && (pending = evp_flush(c, 100)) > 0 && evp__mono_s() < deadline &&
         !(gave_up = give_up(&t, unreach_ms)))
    if (tty) progress(tty, &t, queued, refused, total_bytes, read_bytes, 0);
  if (!gave_up && atomic_load(&t.permanent))
    gave_up = give_up(&t, unreach_ms); /* the events failed: say why once */
  long undelivered = evp_client_destroy(c, 0);
  progress(tty, &t, queued, refused, total_bytes, read_bytes, 1);
  long d = atomic_load(&t.delivered), rj = atomic_load(&t.rejected), f = atomic_load(&t.failed);
  printf("lines: %ld  queued: %ld  refused: %ld\n", lineno, queued, refused);
  printf("delivered: %ld  rejected: %ld  failed: %ld%s\n", d, rj, f,
         gave_up           ? "  (gave up: see the reason above)"
         : undelivered > 0 ? "  (some undelivered at the timeout)"
                           : "");
  for (int i = 0; i < NREASONS && t.reasons[i].n; i++)
    printf("  %6ld  %s\n", t.reasons[i].n, t.reasons[i].text);
  if (t.other_reasons) printf("  %6ld  (other reasons)\n", t.other_reasons);
  pthread_mutex_destroy(&t.mu);
  rc = io_error                                         ? EVP_CLI_USAGE
       : (gave_up || refused || rj || f || d != queued) ? EVP_CLI_FAIL
                                                        : EVP_CLI_OK;
out:
  evp_conf_destroy(conf);
  return rc;
}
