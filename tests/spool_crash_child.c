/* The application side of tests/scripts/test_spool_crash.sh: a client with
 * spool.dir that sends events with ids the parent can predict, and says on
 * stdout (line by line, so a SIGKILL loses nothing already written) what
 * evp_send accepted, what it refused and what was delivered:
 *   A <event_id>                      evp_send returned EVP_OK
 *   R <event_id> <EVP_ERR_...>        evp_send refused it
 *   D <event_id> <status> <from_spool>  a delivery report (status: ok,
 *                                      rejected, failed; from_spool: 1 or 0)
 *   F <pending>                       evp_flush returned
 *   X <undelivered>                   evp_client_destroy returned
 * Event ids are 5f000000-RRRR-4000-8000-SSSSSSSSSSSS (round, sequence: hex),
 * sent in sequence order from one thread, so every id after the first one
 * not reported was never given to evp_send.
 *
 *   spool_crash_child --spool DIR --endpoint URL --client-id ID
 *       --secret-file F [--schema F] [--round R] [--count N]
 *       [--invalid-every K] [--delay-us MAX] [--seed S] [--flush-ms T]
 *       [--destroy-ms T] [--set name=value]...
 *   spool_crash_child --probe DIR  exit 0 when this libevpipe takes
 *                                  spool.dir=DIR, 77 when it does not know it
 * It links libevpipe only (the public API, as an application does). Exit 77
 * when spool.dir is unknown to the library (a build without the spool).
 * EVP_SPOOL_TEST_NO_SPOOL=1 leaves spool.dir unset (memory only): that is
 * how the test shows it fails without the spool. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <evpipe/evpipe.h>

#define EXIT_NO_SPOOL 77

static void die(const char *what, const char *why) {
  fprintf(stderr, "spool_crash_child: %s: %s\n", what, why);
  exit(2);
}

static void on_delivery(evp_client_t *client, const evp_delivery_t *report, void *opaque) {
  (void)client;
  (void)opaque;
  size_t len = 0;
  const char *id = evp_delivery_event_id(report, &len);
  evp_delivery_status_t st = evp_delivery_status(report);
  const char *status = st == EVP_DELIVERY_OK         ? "ok"
                       : st == EVP_DELIVERY_REJECTED ? "rejected"
                                                     : "failed";
  /* One printf per line: stdio locks the stream, so lines from this thread
   * and the sending thread never interleave. */
  printf("D %.*s %s %d\n", (int)len, id, status, evp_delivery_from_spool(report));
}

/* Quiet: with the server down the client logs every retry. */
static void on_log(int level, const char *msg, void *opaque) {
  (void)opaque;
  if (level <= 3) fprintf(stderr, "log %d: %s\n", level, msg);
}

static char *read_secret(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) die(path, strerror(errno));
  static char buf[512];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
  buf[n] = '\0';
  return buf;
}

static void set(evp_conf_t *conf, const char *name, const char *value) {
  char err[512];
  if (evp_conf_set(conf, name, value, err, sizeof err) != EVP_OK) die(name, err);
}

/* xorshift64: the delays only need to differ from round to round. */
static unsigned long long rng_next(unsigned long long *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void pause_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* 0: spool.dir set; 1: the library does not know it (no spool). */
static int set_spool(evp_conf_t *conf, const char *dir) {
  char err[512];
  evp_err_t e = evp_conf_set(conf, "spool.dir", dir, err, sizeof err);
  if (e == EVP_ERR_CONF_UNKNOWN) return 1;
  if (e != EVP_OK) die("spool.dir", err);
  return 0;
}

int main(int argc, char **argv) {
  const char *spool = NULL, *endpoint = NULL, *client_id = NULL, *secret_file = NULL,
             *schema = NULL;
  long round = 0, count = 0, invalid_every = 0, delay_us = 0, flush_ms = -1, destroy_ms = 0;
  unsigned long long seed = 88172645463325252ULL;
  evp_conf_t *conf = evp_conf_new();
  if (!conf) die("evp_conf_new", "out of memory");
  if (argc == 3 && !strcmp(argv[1], "--probe")) {
    int none = set_spool(conf, argv[2]);
    evp_conf_destroy(conf);
    return none ? EXIT_NO_SPOOL : 0;
  }
  long seed_opt = 0;
  const struct {
    const char *name;
    const char **str; /* a text option, or */
    long *num;        /* a number */
  } opts[] = {{"--spool", &spool, NULL},         {"--endpoint", &endpoint, NULL},
              {"--client-id", &client_id, NULL}, {"--secret-file", &secret_file, NULL},
              {"--schema", &schema, NULL},       {"--round", NULL, &round},
              {"--count", NULL, &count},         {"--invalid-every", NULL, &invalid_every},
              {"--delay-us", NULL, &delay_us},   {"--seed", NULL, &seed_opt},
              {"--flush-ms", NULL, &flush_ms},   {"--destroy-ms", NULL, &destroy_ms}};
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (i + 1 >= argc) die(o, "needs a value");
    const char *v = argv[++i];
    if (!strcmp(o, "--set")) {
      const char *eq = strchr(v, '=');
      if (!eq) die(v, "--set needs name=value");
      char name[128];
      snprintf(name, sizeof name, "%.*s", (int)(eq - v), v);
      set(conf, name, eq + 1);
      continue;
    }
    size_t k = 0;
    while (k < sizeof opts / sizeof opts[0] && strcmp(o, opts[k].name)) k++;
    if (k == sizeof opts / sizeof opts[0]) die(o, "unknown option");
    if (opts[k].str)
      *opts[k].str = v;
    else
      *opts[k].num = strtol(v, NULL, 10);
  }
  if (seed_opt) seed = (unsigned long long)seed_opt | 1;
  if (!spool || !endpoint || !client_id || !secret_file)
    die("usage", "--spool, --endpoint, --client-id and --secret-file are required");
  /* Line-buffered: each report reaches the kernel before the next send. */
  setvbuf(stdout, NULL, _IOLBF, 0);

  const char *memory_only = getenv("EVP_SPOOL_TEST_NO_SPOOL");
  if (memory_only && !strcmp(memory_only, "1")) {
    fprintf(stderr, "spool_crash_child: memory-only (EVP_SPOOL_TEST_NO_SPOOL=1)\n");
  } else if (set_spool(conf, spool)) {
    fprintf(stderr, "spool_crash_child: this libevpipe has no spool.dir property\n");
    evp_conf_destroy(conf);
    return EXIT_NO_SPOOL;
  }
  set(conf, "endpoint", endpoint);
  set(conf, "client.id", client_id);
  set(conf, "client.secret", read_secret(secret_file));
  set(conf, "audience", "events");
  if (schema) set(conf, "schema.file", schema);
  evp_conf_set_delivery_cb(conf, on_delivery, NULL);
  evp_conf_set_log_cb(conf, on_log);
  char err[512];
  evp_client_t *c = evp_client_new(conf, err, sizeof err);
  if (!c) die("evp_client_new", err);

  /* About 300 bytes per event, as in the benchmark. */
  static const char pad[] =
      "the quick brown fox jumps over the lazy dog; the quick brown fox jumps "
      "over the lazy dog; the quick brown fox jumps over the lazy dog; the "
      "quick brown fox";
  for (long seq = 0; seq < count; seq++) {
    char id[64], ev[768];
    snprintf(id, sizeof id, "5f000000-%04lx-4000-8000-%012lx", round, seq);
    /* Every invalid_every-th event breaks the schema's event_type pattern,
     * so the door refuses it: it must never reach the lake. */
    int bad = invalid_every > 0 && seq % invalid_every == invalid_every - 1;
    int n = snprintf(ev, sizeof ev,
                     "{\"event_id\":\"%s\",\"event_type\":\"%s\",\"app_id\":\"spool-crash\","
                     "\"session_id\":\"round-%ld\",\"properties\":{\"seq\":%ld,\"pad\":\"%s\"}}",
                     id, bad ? "Not A Type" : "spool.crash", round, seq, pad);
    evp_err_t e = evp_send(c, ev, (size_t)n, err, sizeof err);
    if (e == EVP_OK)
      printf("A %s\n", id);
    else
      printf("R %s %s\n", id, evp_err2name(e));
    if (delay_us > 0) pause_us((long)(rng_next(&seed) % (unsigned long long)delay_us));
  }
  if (flush_ms >= 0) printf("F %ld\n", evp_flush(c, (int)flush_ms));
  long left = evp_client_destroy(c, (int)destroy_ms);
  printf("X %ld\n", left);
  return 0;
}
