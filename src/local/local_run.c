/* Start and stop `evpipe local`: open the secret files, the durable log and
 * the batcher, serve HTTP, reload rotated signing keys, and shut down in
 * order (stop accepting, finish requests, flush the batcher into the lake,
 * close the log). evp__local_run adds the signal handling of the command. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "base/base.h"
#include "local/local.h"
#include "base/files.h"

void evp__local_opts_default(evp__local_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->listen = "127.0.0.1:8080";
  o->data_dir = "evpipe-data";
  o->rate_rps = 10000;
  o->rate_burst = 5000;
  o->token_rate_rps = 20;
  o->token_rate_burst = 100;
  o->max_backlog = 100000;
  o->max_body = EVP__EVENTS_DEFAULT_MAX_BODY;
  o->max_events = EVP__EVENTS_DEFAULT_MAX;
  o->fsync = EVP__FSYNC_ALWAYS;
  o->fsync_interval_ms = 200;
  o->buffer_bytes = 5u * 1024u * 1024u;
  o->buffer_seconds = 60;
  o->compact = 1;
  o->dedup_window_s = 7 * 86400; /* the SDK spool's longest spool.max.age.ms (docs/spool.md) */
  o->threads_max = 256;
  o->max_conns_per_addr = 64;
  o->header_timeout_s = 20;
  o->min_body_rate = 1024;
  o->token_ttl_s = EVP_JWT_DEFAULT_TTL;
  o->token_lockout_failures = 10;
  o->token_lockout_s = 30;
  o->log_requests = 1;
  o->announce = stdout;
}

struct evp__local {
  const evp__local_opts_t *o;
  evp_schema_t *schema;
  char *schema_text;
  evp__table_t *table; /* the lake's columns: POST /events accepts only what they hold */
  size_t nclients;     /* at start-up, for the log */
  evp__keywatch_t *keys;
  evp__wal_t *wal;
  evp__batcher_t *batcher;
  evp__ratelimit_t *rl, *token_rl;
  evp__lockout_t *lockout;
  evp__metrics_t *metrics;
  evp__http_t *http;
  /* the key poller */
  pthread_t poller;
  int poller_started, stopping;
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

/* Poll the signing-key and clients files about once a second until stopped. */
static void *poll_keys(void *arg) {
  evp__local_t *l = arg;
  pthread_mutex_lock(&l->mu);
  while (!l->stopping) {
    struct timespec dl = evp__timespec_us(evp__wall_us() + 1000000);
    pthread_cond_timedwait(&l->cv, &l->mu, &dl);
    if (l->stopping) break;
    pthread_mutex_unlock(&l->mu);
    char err[512];
    int k = evp__keywatch_poll(l->keys, err, sizeof err);
    char f[640];
    size_t n = 0;
    if (k > 0) {
      evp__metrics_key_reload(l->metrics);
      evp__keystate_t *ks = evp__keywatch_acquire(l->keys);
      evp__local_log_str(f, sizeof f, &n, "signing_kid", ks->current);
      evp__local_log_num(f, sizeof f, &n, "clients_count",
                         ks->clients ? (long long)evp__clients_count(ks->clients) : 0);
      evp__keystate_release(ks);
      evp__local_log("info", "secrets reloaded (signing keys, clients)", f);
    } else if (k < 0) {
      evp__local_log_str(f, sizeof f, &n, "error", err);
      evp__local_log("error",
                     "secret files changed but cannot be loaded; keeping the previous ones", f);
    }
    pthread_mutex_lock(&l->mu);
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

/* The batcher's word on the lake, as log lines (rate-limited by it). */
static void lake_notice(void *arg, const evp__batcher_notice_t *n) {
  (void)arg;
  char f[2048], since[32];
  size_t k = 0;
  if (n->kind == EVP__LAKE_REFUSED) {
    evp__local_log_str(f, sizeof f, &k, "reason", n->error);
    evp__local_log_num(f, sizeof f, &k, "events", (long long)n->failures);
    evp__local_log_num(f, sizeof f, &k, "events_total", (long long)n->failures_total);
    evp__local_log_str(f, sizeof f, &k, "quarantine", n->file);
    evp__local_log("warn", "events the lake cannot take were copied to the quarantine", f);
    return;
  }
  evp__local_rfc3339(n->since_unix_us, since);
  if (n->kind != EVP__LAKE_RECOVERED) evp__local_log_str(f, sizeof f, &k, "error", n->error);
  evp__local_log_num(f, sizeof f, &k, "failures", (long long)n->failures);
  evp__local_log_num(f, sizeof f, &k, "failures_total", (long long)n->failures_total);
  evp__local_log_str(f, sizeof f, &k, "since", since);
  switch (n->kind) {
  case EVP__LAKE_FAILED: evp__local_log("error", "lake write failed", f); break;
  case EVP__LAKE_STILL_FAILING: evp__local_log("error", "lake write still failing", f); break;
  default: evp__local_log("info", "lake write recovered", f); break;
  }
}

/* A lake file committed: the line that says when data became queryable. */
static void lake_written(void *arg, const evp__batcher_file_t *w) {
  (void)arg;
  char f[1400];
  size_t k = 0;
  evp__local_log_str(f, sizeof f, &k, "dt", w->dt);
  evp__local_log_num(f, sizeof f, &k, "hour", w->hour);
  evp__local_log_str(f, sizeof f, &k, "path", w->path);
  evp__local_log_num(f, sizeof f, &k, "rows", (long long)w->rows);
  evp__local_log_num(f, sizeof f, &k, "bytes", (long long)w->bytes);
  evp__local_log_num(f, sizeof f, &k, "duration_ms", (long long)w->duration_ms);
  evp__local_log_str(f, sizeof f, &k, "reason", evp__flush_why_name(w->why));
  evp__local_log("info", "lake file written", f);
}

static void lake_compacted(void *arg, const evp__batcher_compaction_t *c) {
  (void)arg;
  char f[1400];
  size_t k = 0;
  evp__local_log_str(f, sizeof f, &k, "dt", c->dt);
  evp__local_log_num(f, sizeof f, &k, "hour", c->hour);
  evp__local_log_num(f, sizeof f, &k, "files_in", (long long)c->files_in);
  if (c->error) {
    evp__local_log_str(f, sizeof f, &k, "error", c->error);
    evp__local_log("error", "lake hour compaction failed; the hour is unchanged", f);
    return;
  }
  evp__local_log_num(f, sizeof f, &k, "files_out", (long long)c->files_out);
  evp__local_log_num(f, sizeof f, &k, "rows", (long long)c->rows);
  evp__local_log_num(f, sizeof f, &k, "bytes_in", (long long)c->bytes_in);
  evp__local_log_num(f, sizeof f, &k, "bytes_out", (long long)c->bytes_out);
  evp__local_log_num(f, sizeof f, &k, "duration_ms", (long long)c->duration_ms);
  evp__local_log("info", "lake hour compacted", f);
}

evp_err_t evp__local_stop(evp__local_t *l) {
  if (!l) return EVP_OK;
  evp_err_t e = EVP_OK;
  if (l->poller_started) {
    pthread_mutex_lock(&l->mu);
    l->stopping = 1;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->poller, NULL);
  }
  evp__http_quiesce(l->http);
  evp__http_stop(l->http);
  if (l->batcher) {
    evp__local_log("info", "flushing the batcher", NULL);
    char err[512], f[1200];
    size_t n = 0;
    e = evp__batcher_close(l->batcher, err,
                           sizeof err); /* writes what the log holds into the lake */
    if (e != EVP_OK) {
      evp__local_log_str(f, sizeof f, &n, "error", err);
      evp__local_log("error",
                     "final lake flush failed; the events stay in the durable log and are "
                     "written at the next start",
                     f);
    }
  }
  evp__wal_close(l->wal);
  evp__metrics_free(l->metrics);
  evp__ratelimit_free(l->rl);
  evp__ratelimit_free(l->token_rl);
  evp__lockout_free(l->lockout);
  evp__keywatch_free(l->keys);
  evp_schema_destroy(l->schema);
  evp__table_free(l->table);
  free(l->schema_text);
  pthread_cond_destroy(&l->cv);
  pthread_mutex_destroy(&l->mu);
  free(l);
  return e;
}

void evp__local_get_stats(const evp__local_t *l, evp__batcher_stats_t *out) {
  memset(out, 0, sizeof *out);
  if (l && l->batcher) evp__batcher_get_stats(l->batcher, out);
}

evp_err_t evp__local_flush(evp__local_t *l, int timeout_ms) {
  return evp__batcher_flush(l->batcher, timeout_ms);
}

/* A failed client authentication on /token (the lockout rate-limits these
 * calls): the client id as presented, never the secret. */
static void log_auth_failure(void *opaque, const char *client_id, int failures, int locked_s,
                             unsigned long suppressed) {
  (void)opaque;
  char f[512];
  size_t n = 0;
  char id[EVP__CLIENT_ID_MAX + 1];
  snprintf(id, sizeof id, "%s", client_id); /* longer ids exist nowhere: cut */
  evp__local_log_str(f, sizeof f, &n, "client_id", id);
  evp__local_log_num(f, sizeof f, &n, "failures", failures);
  if (locked_s) evp__local_log_num(f, sizeof f, &n, "locked_s", locked_s);
  if (suppressed) evp__local_log_num(f, sizeof f, &n, "suppressed", (long long)suppressed);
  evp__local_log("warn",
                 locked_s ? "client authentication failed; client id locked"
                          : "client authentication failed",
                 f);
}

/* Existing data directories that others may enter are left as they are
 * (the operator may share them on purpose) but said out loud. */
static void warn_if_open(const char *dir) {
  unsigned mode = evp__dir_open_mode(dir);
  if (!mode) return;
  char fix[PATH_MAX + 16], m[16], f[2 * PATH_MAX + 128];
  size_t n = 0;
  snprintf(fix, sizeof fix, "chmod 700 %s", dir);
  snprintf(m, sizeof m, "%04o", mode);
  evp__local_log_str(f, sizeof f, &n, "path", dir);
  evp__local_log_str(f, sizeof f, &n, "mode", m);
  evp__local_log_str(f, sizeof f, &n, "fix", fix);
  evp__local_log("warn", "data directory is more open than 0700: other local users may read it", f);
}

/* Everything before HTTP: schema, secrets, log, batcher. */

/* One loud line per damaged region recovery skipped in the durable log: the
 * events in it are lost (everything else is kept). */
static void log_wal_damage(void *arg, const evp__wal_damage_t *d) {
  (void)arg;
  char f[3 * 1100];
  size_t n = 0;
  evp__local_log_str(f, sizeof f, &n, "segment", d->segment);
  evp__local_log_num(f, sizeof f, &n, "offset", (long long)d->segment_offset);
  evp__local_log_num(f, sizeof f, &n, "length", (long long)d->length);
  evp__local_log_num(f, sizeof f, &n, "log_offset", (long long)d->log_offset);
  evp__local_log_str(f, sizeof f, &n, "quarantine", d->quarantine);
  evp__local_log_str(f, sizeof f, &n, "note", d->note);
  evp__local_log("error",
                 "durable log damaged: bytes that are no valid record were skipped (the events in "
                 "them are lost; the records after them are kept)",
                 f);
}
static evp_err_t open_parts(evp__local_t *l, const char **cpath_out, char *cdef, size_t cdef_size,
                            char *errstr, size_t errstr_size) {
  const evp__local_opts_t *o = l->o;
  char err[512], path[PATH_MAX], secrets[PATH_MAX];
  size_t len;
  evp_err_t e;
  if (!o->schema_path)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "no event schema (--schema FILE)");
  if ((e = evp__local_schema_load(o->schema_path, &l->schema_text, &len, &l->schema, &l->table, err,
                                  sizeof err)) != EVP_OK)
    return evp__seterr(errstr, errstr_size, e, "the schema %s: %s", o->schema_path, err);
  if ((e = evp__mkdirs(o->data_dir, errstr, errstr_size)) != EVP_OK) return e;
  if ((size_t)snprintf(secrets, sizeof secrets, "%s/secrets", o->data_dir) >= sizeof secrets - 32)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "data directory path too long");
  if ((e = evp__mkdirs(secrets, errstr, errstr_size)) != EVP_OK) return e;
  warn_if_open(o->data_dir);
  warn_if_open(secrets);
  const char *cpath = o->clients_path;
  if (!cpath) {
    if ((size_t)snprintf(cdef, cdef_size, "%s/clients.json", secrets) >= cdef_size)
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "data directory path too long");
    cpath = cdef;
  }
  *cpath_out = cpath;
  evp__clients_t *clients;
  if ((e = evp__local_clients_load(cpath, o->announce, &clients, errstr, errstr_size)) != EVP_OK)
    return e;
  size_t nclients = evp__clients_count(clients);
  if ((size_t)snprintf(path, sizeof path, "%s/signing-keys.json", secrets) >= sizeof path)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "data directory path too long");
  int created;
  if ((e = evp__keys_init(path, &created, errstr, errstr_size)) != EVP_OK) {
    evp__clients_free(clients);
    return e;
  }
  /* The watch owns the client store from here: edits of the clients file
   * take effect without a restart, like key rotations. */
  if ((e = evp__keywatch_new(path, cpath, clients, o->token_ttl_s, &l->keys, errstr,
                             errstr_size)) != EVP_OK)
    return e;
  l->nclients = nclients;
  if (!(l->rl = evp__ratelimit_new(o->rate_rps, o->rate_burst)) ||
      !(l->token_rl = evp__ratelimit_new(o->token_rate_rps, o->token_rate_burst)) ||
      !(l->metrics = evp__metrics_new()))
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  if (o->token_lockout_failures > 0) {
    evp__lockout_opts_t lo;
    evp__lockout_opts_default(&lo);
    lo.max_failures = o->token_lockout_failures;
    lo.lock_s = o->token_lockout_s;
    if (lo.lock_max_s < lo.lock_s) lo.lock_max_s = lo.lock_s;
    lo.log = log_auth_failure;
    if (!(l->lockout = evp__lockout_new(&lo)))
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                         "cannot set up the /token lockout (out of memory or bad limits)");
  }
  evp__wal_opts_t wo;
  memset(&wo, 0, sizeof wo);
  wo.on_damage = log_wal_damage;
  wo.fsync = o->fsync;
  wo.interval_ms = o->fsync_interval_ms;
  wo.max_record_bytes = o->max_body + 65536; /* one request's events + framing */
  if ((size_t)snprintf(path, sizeof path, "%s/queue", o->data_dir) >= sizeof path)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "data directory path too long");
  if ((e = evp__wal_open(path, &wo, &l->wal, err, sizeof err)) != EVP_OK)
    return evp__seterr(errstr, errstr_size, e, "cannot open the durable log: %s", err);
  warn_if_open(path);
  evp__batcher_opts_t bo;
  memset(&bo, 0, sizeof bo);
  bo.lake_dir = o->data_dir;
  bo.schema_json = l->schema_text;
  bo.buffer_bytes = o->buffer_bytes;
  bo.buffer_seconds = o->buffer_seconds;
  bo.dedup_window_s = o->dedup_window_s;
  bo.parts = o->lake_threads;
  bo.notice = lake_notice;
  bo.written = lake_written;
  bo.compact = o->compact;
  bo.lake_codec = o->lake_codec;
  bo.compacted = lake_compacted;
  if ((e = evp__batcher_start(l->wal, &bo, &l->batcher, err, sizeof err)) != EVP_OK)
    return evp__seterr(errstr, errstr_size, e, "cannot start the batcher: %s", err);
  return EVP_OK;
}

/* evp__local_start on @p lis (taken; NULL: bind o->listen first, before
 * anything is created). */
static evp_err_t start_on(const evp__local_opts_t *o, evp__listener_t *lis, evp__local_t **out,
                          char *url, size_t url_size, char *errstr, size_t errstr_size) {
  *out = NULL;
  char cdef[PATH_MAX];
  evp_err_t e;
  if (!lis && (e = evp__listen_open(o->listen, &lis, errstr, errstr_size)) != EVP_OK) return e;
  evp__local_t *l = calloc(1, sizeof *l);
  if (!l) {
    evp__listener_free(lis);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  }
  l->o = o;
  if (pthread_mutex_init(&l->mu, NULL) != 0 || pthread_cond_init(&l->cv, NULL) != 0) {
    evp__listener_free(lis);
    free(l);
    return evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL, "mutex");
  }
  const char *cpath = NULL;
  int exposed = lis->exposed;
  snprintf(url, url_size, "%s", lis->url);
  e = open_parts(l, &cpath, cdef, sizeof cdef, errstr, errstr_size);
  if (e == EVP_OK) {
    evp__http_deps_t deps = {o,     l->keys,    l->schema,   l->wal,     l->batcher,
                             l->rl, l->metrics, l->token_rl, l->lockout, l->table};
    e = evp__http_start(lis, &deps, &l->http, errstr, errstr_size);
  } else {
    evp__listener_free(lis);
  }
  if (e == EVP_OK) {
    if (pthread_create(&l->poller, NULL, poll_keys, l) != 0)
      e = evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL, "cannot start the key poller");
    else
      l->poller_started = 1;
  }
  if (e != EVP_OK) {
    evp__local_stop(l);
    return e;
  }
  char f[2048];
  size_t n = 0;
  evp__local_log_str(f, sizeof f, &n, "url", url);
  evp__local_log_num(f, sizeof f, &n, "pid", (long long)getpid()); /* for kill -USR1 (flush) */
  evp__local_log_str(f, sizeof f, &n, "data", o->data_dir);
  evp__local_log_str(f, sizeof f, &n, "clients", cpath);
  evp__local_log_num(f, sizeof f, &n, "clients_count", (long long)l->nclients);
  evp__keystate_t *ks = evp__keywatch_acquire(l->keys);
  evp__local_log_str(f, sizeof f, &n, "signing_kid", ks->current);
  evp__keystate_release(ks);
  evp__local_log("info", "listening", f);
  if (exposed)
    evp__local_log("warn",
                   "listening on a non-loopback address: plain HTTP, reachable from the network",
                   NULL);
  *out = l;
  return EVP_OK;
}

evp_err_t evp__local_start(const evp__local_opts_t *o, evp__local_t **out, char *url,
                           size_t url_size, char *errstr, size_t errstr_size) {
  return start_on(o, NULL, out, url, url_size, errstr, errstr_size);
}

/* SIGUSR1: write everything accepted so far into the lake now. Every event
 * acknowledged before the signal arrived is in a committed lake file when
 * "flush done" is logged (its "lake file written" lines come first). */
#define FLUSH_WAIT_MS 60000
static void flush_on_signal(evp__local_t *l) {
  evp__local_log("info", "flush requested", "\"signal\":\"SIGUSR1\"");
  int64_t t0 = evp__mono_ms();
  evp_err_t e = evp__local_flush(l, FLUSH_WAIT_MS);
  char f[1200], err[512];
  size_t n = 0;
  evp__local_log_num(f, sizeof f, &n, "duration_ms", (long long)(evp__mono_ms() - t0));
  if (e == EVP_OK) {
    evp__local_log("info", "flush done", f);
    return;
  }
  evp__batcher_last_error(l->batcher, err, sizeof err);
  evp__local_log_str(f, sizeof f, &n, "error", e == EVP_ERR_TIMED_OUT ? "timed out" : err);
  evp__local_log("error",
                 "flush not done; the events stay in the durable log and are written when the "
                 "lake takes them",
                 f);
}

int evp__local_run(const evp__local_opts_t *o, evp__listener_t *lis) {
  /* Signals are taken synchronously by this thread only: every thread
   * started from here on inherits the blocked mask. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  evp__local_t *l;
  char url[1100], err[1024];
  if (start_on(o, lis, &l, url, sizeof url, err, sizeof err) != EVP_OK) {
    char f[1200];
    size_t n = 0;
    evp__local_log_str(f, sizeof f, &n, "error", err);
    evp__local_log("error", "cannot start", f);
    return 1;
  }
  int sig;
  for (;;) {
    do sig = sigwaitinfo(&set, NULL);
    while (sig < 0 && errno == EINTR);
    if (sig != SIGUSR1) break;
    flush_on_signal(l);
  }
  char f[64];
  size_t n = 0;
  evp__local_log_str(f, sizeof f, &n, "signal", sig == SIGINT ? "SIGINT" : "SIGTERM");
  evp__local_log("info", "shutting down", f);
  if (evp__local_stop(l) != EVP_OK) return 1; /* logged */
  evp__local_log("info", "stopped", NULL);
  return 0;
}
