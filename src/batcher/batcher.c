/* The batcher thread: drains the log from the checkpoint into a buffer and
 * flushes it to lake files when it holds buffer_bytes, when its oldest
 * record is buffer_seconds old, when evp__batcher_flush asks, and on stop —
 * Firehose's buffering hints. A failed flush keeps the buffer and is retried
 * with backoff; the log is the only copy that matters until the checkpoint
 * moves, so nothing is lost by waiting. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include "base/base.h"
#include "table/table.h"
#include "wal/wal.h"
#include "wal/wal_read.h"
#include "batcher/batcher.h"
#include "batcher/batcher_int.h"
#include "lake/lake_row.h"
#include "lake/lake.h"
#include "lake/lake_compact.h"
#include "base/files.h"

#define DEFAULT_BUFFER_BYTES (5u * 1024u * 1024u)
#define MAX_BUFFER_BYTES (1024u * 1024u * 1024u)
#define DEFAULT_BUFFER_SECONDS 60
#define MAX_BUFFER_SECONDS 900
#define DEFAULT_DEDUP_IDS 1000000u
#define MAX_DEDUP_IDS (64u * 1024u * 1024u)
#define MAX_DEDUP_WINDOW_S (7 * 86400)
#define MAX_BACKOFF_MS 5000
#define DEFAULT_MAX_PARTS 4
#define MAX_PARTS 8
#define DEFAULT_PART_MIN_EVENTS 1000
#define DEFAULT_NOTICE_INTERVAL_MS 10000

/* A CLOCK_MONOTONIC condition variable's deadline @p ms from now. */
static void deadline_in(struct timespec *ts, int ms) {
  *ts = evp__timespec_us(evp__mono_us() + (int64_t)ms * 1000);
}

/* Read records into the buffer until it is full or the log has no more. */
static evp_err_t read_more(evp__batcher_t *b, int *progressed, char *errstr, size_t errstr_size) {
  *progressed = 0;
  while (b->buf_bytes < b->buffer_bytes) {
    if (b->nbuf == b->capbuf) {
      size_t cap = b->capbuf ? b->capbuf * 2 : 256;
      evp__buffered_record_t *nb = realloc(b->buf, cap * sizeof *nb);
      if (!nb) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory");
      b->buf = nb;
      b->capbuf = cap;
    }
    /* Read straight into the arena (one buffer reused from flush to flush). */
    evp__wal_record_t rec;
    int got;
    size_t poff = b->arena_len;
    evp_err_t e = evp__wal_reader_next_append(b->r, &rec, &got, &b->arena, &b->arena_len,
                                              &b->arena_cap, errstr, errstr_size);
    if (e || !got) return e;
    size_t len = rec.payload_len;
    if (b->nbuf == 0) {
      b->first_at_ms = evp__mono_ms();
      pthread_mutex_lock(&b->mu); /* the lake lag (evp__batcher_get_stats) starts here */
      b->st.oldest_unwritten_us = rec.received_at_us > 0 ? rec.received_at_us : 1;
      pthread_mutex_unlock(&b->mu);
    }
    b->buf[b->nbuf++] =
        (evp__buffered_record_t){rec.offset, rec.end, rec.received_at_us, rec.nevents, poff, len};
    b->buf_bytes += len;
    b->buf_events += rec.nevents;
    *progressed = 1;
  }
  return EVP_OK;
}

/* A failed attempt: counted, kept as the outage's reason, and told — the
 * first at once, then at most one notice per interval carrying the number
 * of failures since the previous one. A lake that stays broken retries
 * every few seconds, and one that flaps fails and recovers at every flush:
 * a line for each would bury everything else in the log. */
static void note_failure(evp__batcher_t *b, const char *msg) {
  pthread_mutex_lock(&b->mu);
  b->st.errors++;
  snprintf(b->last_err, sizeof b->last_err, "%s", msg);
  snprintf(b->fail_err, sizeof b->fail_err, "%s", msg);
  if (!b->failing) {
    b->failing = 1;
    b->fail_since_us = evp__wall_us();
    b->fail_count = 0;
    b->outage_told = 0;
  }
  b->fail_count++;
  b->untold++;
  evp__batcher_notice_t n = {b->outage_told ? EVP__LAKE_STILL_FAILING : EVP__LAKE_FAILED,
                             msg,
                             b->untold,
                             b->fail_count,
                             b->fail_since_us,
                             NULL};
  pthread_mutex_unlock(&b->mu);
  int64_t now = evp__mono_ms();
  if (b->notice && (!b->noticed || now - b->noticed_at_ms >= b->notice_interval_ms)) {
    b->noticed = 1;
    b->noticed_at_ms = now;
    b->untold = 0;
    b->outage_told = 1;
    b->notice(b->notice_arg, &n);
  }
  /* Only now wake evp__batcher_flush: a failure it reports has been told. */
  pthread_mutex_lock(&b->mu);
  b->fail_gen++;
  pthread_cond_broadcast(&b->cv);
  pthread_mutex_unlock(&b->mu);
}

/* An attempt succeeded: the outage, if any, is over (told when its failure
 * was; the failures of one that was not are told with the next notice). */
static void note_success(evp__batcher_t *b) {
  pthread_mutex_lock(&b->mu);
  int tell = b->failing && b->outage_told;
  evp__batcher_notice_t n = {EVP__LAKE_RECOVERED, "",  b->untold, b->fail_count,
                             b->fail_since_us,    NULL};
  b->failing = 0;
  b->fail_err[0] = '\0';
  pthread_mutex_unlock(&b->mu);
  if (tell && b->notice) {
    b->untold = 0;
    b->noticed_at_ms = evp__mono_ms(); /* a failure right after is a flap: not told at once */
    b->notice(b->notice_arg, &n);
  }
}

/* Sleep @p ms unless stopped; returns the stop flag. */
static int pause_ms(evp__batcher_t *b, int ms) {
  struct timespec ts;
  deadline_in(&ts, ms);
  pthread_mutex_lock(&b->mu);
  while (!b->stop && pthread_cond_timedwait(&b->cv, &b->mu, &ts) != ETIMEDOUT) {}
  int stop = b->stop;
  pthread_mutex_unlock(&b->mu);
  return stop;
}

static void *batcher_main(void *arg) {
  evp__batcher_t *b = arg;
  prctl(PR_SET_NAME, "evp-batcher", 0, 0, 0); /* visible in top -H, perf, gdb */
  int backoff = 0;
  /* After a failed flush, retry exactly the same buffer: file names come
   * from the first and last log offsets of what they hold, so growing the
   * buffer first would write a file overlapping one already committed. */
  int retry = 0;
  char err[400];
  for (;;) {
    uint64_t gen = evp__wal_wake_gen(b->w); /* before looking at the requests */
    pthread_mutex_lock(&b->mu);
    int stop = b->stop;
    uint64_t target = b->flush_target, committed = b->committed;
    pthread_mutex_unlock(&b->mu);

    int progressed = 0;
    evp_err_t e = retry ? EVP_OK : read_more(b, &progressed, err, sizeof err);
    if (e) {
      note_failure(b, err);
      if (stop) { /* the records stay in the log for the next start */
        b->final_err = e;
        snprintf(b->final_msg, sizeof b->final_msg, "%s", err);
        break;
      }
      backoff = backoff ? (backoff * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff * 2) : 100;
      pause_ms(b, backoff);
      continue;
    }
    if (!retry && b->nbuf == 0) note_success(b); /* read, nothing waiting to be written */
    uint64_t pos = evp__wal_reader_pos(b->r);
    int64_t age = b->nbuf ? evp__mono_ms() - b->first_at_ms : 0;
    int due = b->nbuf > 0 && (retry || stop || b->buf_bytes >= b->buffer_bytes ||
                              age >= (int64_t)b->buffer_seconds * 1000 || target > committed);
    if (due) {
      if (!retry) /* a retry writes the same files for the same reason */
        b->why = stop                              ? EVP__FLUSH_SHUTDOWN
                 : target > committed              ? EVP__FLUSH_FORCED
                 : b->buf_bytes >= b->buffer_bytes ? EVP__FLUSH_SIZE
                                                   : EVP__FLUSH_AGE;
      e = evp__batcher_flush_buffer(b, err, sizeof err);
      retry = e != EVP_OK && b->nbuf > 0;
      if (e) {
        note_failure(b, err);
        if (stop) {
          b->final_err = e;
          snprintf(b->final_msg, sizeof b->final_msg, "%s", err);
          break;
        }
        backoff = backoff ? (backoff * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff * 2) : 100;
        pause_ms(b, backoff);
        continue;
      }
      backoff = 0;
      note_success(b);
      evp__batcher_refused_tell(b, 0);
      pthread_mutex_lock(&b->mu);
      pthread_cond_broadcast(&b->cv);
      pthread_mutex_unlock(&b->mu);
      continue; /* there may be more to read */
    }
    if (b->nbuf == 0 && pos > committed) {
      /* Only empty space (a gap left by a damaged segment) was passed. */
      if (evp__wal_commit(b->w, pos, 0, err, sizeof err) == EVP_OK) {
        pthread_mutex_lock(&b->mu);
        b->committed = pos;
        pthread_cond_broadcast(&b->cv);
        pthread_mutex_unlock(&b->mu);
      }
    }
    if (stop && b->nbuf == 0 && !progressed) break;
    if (!progressed) {
      int wait = 1000;
      if (b->nbuf) {
        int64_t left = (int64_t)b->buffer_seconds * 1000 - age;
        wait = left < 1 ? 1 : (left < wait ? (int)left : wait);
      }
      evp__wal_wait(b->w, pos, gen, wait);
    }
  }
  evp__batcher_refused_tell(b, 1); /* what the rate limit held back */
  return NULL;
}

evp_err_t evp__batcher_relearn(evp__batcher_t *b, char *errstr, size_t errstr_size) {
  uint64_t from = evp__wal_first_offset(b->w), ckpt = b->start_ckpt;
  if (!b->dd || from >= ckpt) return EVP_OK;
  evp__wal_reader_t *r;
  evp_err_t e = evp__wal_reader_open(b->w, from, &r, errstr, errstr_size);
  if (e) return e;
  evp__wal_record_t rec;
  int got;
  while ((e = evp__wal_reader_next(r, &rec, &got, errstr, errstr_size)) == EVP_OK && got &&
         rec.offset < ckpt) {
    size_t cur = 0, len, idlen;
    const char *ev, *id;
    uint64_t scope = evp__dedup_scope(b->dd, rec.client_id, rec.client_id_len);
    while (evp__wal_record_next_event(&rec, &cur, &ev, &len))
      if (evp__row_builder_event_id(b->rb, ev, len, &id, &idlen) == 0 &&
          evp__dedup_check(b->dd, scope, id, idlen, rec.received_at_us) < 0) {
        evp__wal_reader_close(r);
        return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory");
      }
  }
  evp__wal_reader_close(r);
  return e;
}

static void release(evp__batcher_t *b) {
  free(b->arena);
  free(b->buf);
  free(b->cov);
  free(b->scanned);
  evp__wal_reader_close(b->r);
  evp__dedup_free(b->dd);
  evp__row_builder_free(b->rb);
  evp__pq_writer_free(b->pw);
  evp__batcher_parts_free(b);
  evp__buf_free(&b->rq);
  evp__table_free(b->table);
  free(b->lake_dir);
  free(b);
}

evp_err_t evp__batcher_start(evp__wal_t *w, const evp__batcher_opts_t *opts, evp__batcher_t **out,
                             char *errstr, size_t errstr_size) {
  if (out) *out = NULL;
  if (!w || !opts || !out || !opts->lake_dir || !*opts->lake_dir || !opts->schema_json)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "batcher: NULL argument");
  if (opts->buffer_bytes > MAX_BUFFER_BYTES || opts->buffer_seconds < 0 ||
      opts->buffer_seconds > MAX_BUFFER_SECONDS || opts->dedup_window_s < 0 ||
      opts->dedup_window_s > MAX_DEDUP_WINDOW_S || opts->dedup_max_ids > MAX_DEDUP_IDS ||
      opts->parts < 0 || opts->parts > MAX_PARTS ||
      (opts->lake_codec != EVP__PQ_SNAPPY && opts->lake_codec != EVP__PQ_ZSTD))
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "batcher: option out of range (buffer_bytes <= 1 GiB, buffer_seconds "
                       "0..900, dedup_window_s 0..604800, dedup_max_ids <= 64 Mi, parts 0..8)");
  evp__batcher_t *b = calloc(1, sizeof *b);
  if (!b) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory");
  b->w = w;
  b->buffer_bytes = opts->buffer_bytes ? opts->buffer_bytes : DEFAULT_BUFFER_BYTES;
  b->buffer_seconds = opts->buffer_seconds ? opts->buffer_seconds : DEFAULT_BUFFER_SECONDS;
  b->dedup_window_us = (int64_t)opts->dedup_window_s * 1000000;
  if (opts->parts > 0) {
    b->nparts = (size_t)opts->parts;
  } else {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    b->nparts = cpus < 1 ? 1 : cpus > DEFAULT_MAX_PARTS ? DEFAULT_MAX_PARTS : (size_t)cpus;
  }
  b->part_min_events = opts->part_min_events ? opts->part_min_events : DEFAULT_PART_MIN_EVENTS;
  b->notice = opts->notice;
  b->notice_arg = opts->notice_arg;
  b->written = opts->written;
  b->compact = opts->compact;
  b->compact_target = opts->compact_target_bytes;
  b->lake_codec = opts->lake_codec;
  b->compacted = opts->compacted;
  b->compact_hook = opts->compact_hook;
  b->compact_hook_arg = opts->compact_hook_arg;
  b->compact_scanned = -1;
  b->compacting_hour = b->writing_hour = EVP__NO_HOUR;
  b->notice_interval_ms =
      opts->notice_interval_ms > 0 ? opts->notice_interval_ms : DEFAULT_NOTICE_INTERVAL_MS;
  evp_err_t e = EVP_OK;
  if (!(b->lake_dir = evp__strdup(opts->lake_dir)))
    e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory");
  if (!e)
    e = evp__table_parse(opts->schema_json, strlen(opts->schema_json), &b->table, errstr,
                         errstr_size);
  if (!e) e = evp__row_builder_new(b->table, &b->rb, errstr, errstr_size);
  if (!e && opts->dedup_window_s > 0 &&
      !(b->dd = evp__dedup_new(b->dedup_window_us,
                               opts->dedup_max_ids ? opts->dedup_max_ids : DEFAULT_DEDUP_IDS)))
    e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory");
  if (!e) {
    /* The lake root must be creatable now, not at the first flush. */
    char events[4200];
    if ((size_t)snprintf(events, sizeof events, "%s/" EVP__LAKE_TABLE, b->lake_dir) >=
        sizeof events)
      e = evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE, "batcher: lake_dir too long");
    else
      e = evp__mkdirs(events, errstr, errstr_size);
  }
  if (!e) {
    b->start_ckpt = b->committed = evp__wal_checkpoint(w);
    b->replay_end = evp__wal_end(w);
    e = evp__wal_reader_open(w, b->start_ckpt, &b->r, errstr, errstr_size);
  }
  if (!e) e = evp__batcher_relearn(b, errstr, errstr_size);
  /* A compaction killed midway left its staging directory (the unfinished
   * new files, or the old ones after the swap): never needed again. */
  if (!e) e = evp__lake_compact_recover(b->lake_dir, errstr, errstr_size);
  if (e) {
    release(b);
    return e;
  }
  pthread_condattr_t ca;
  int ok = pthread_condattr_init(&ca) == 0;
  if (ok) {
    ok =
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&b->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
  }
  if (ok && pthread_mutex_init(&b->mu, NULL) != 0) {
    pthread_cond_destroy(&b->cv);
    ok = 0;
  }
  if (!ok) {
    release(b);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory");
  }
  if (pthread_create(&b->thread, NULL, batcher_main, b) != 0) {
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    release(b);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: cannot start the thread");
  }
  if ((e = evp__batcher_compact_start(b, errstr, errstr_size)) != EVP_OK) {
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    evp__wal_wake(w);
    pthread_join(b->thread, NULL);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    release(b);
    return e;
  }
  *out = b;
  return EVP_OK;
}

evp_err_t evp__batcher_flush(evp__batcher_t *b, int timeout_ms) {
  if (!b) return EVP_ERR_INVALID_ARG;
  uint64_t target = evp__wal_end(b->w);
  pthread_mutex_lock(&b->mu);
  if (target > b->flush_target) b->flush_target = target;
  uint64_t gen = b->fail_gen;
  pthread_mutex_unlock(&b->mu);
  evp__wal_wake(b->w);
  struct timespec ts;
  deadline_in(&ts, timeout_ms > 0 ? timeout_ms : 0);
  evp_err_t e = EVP_OK;
  pthread_mutex_lock(&b->mu);
  while (b->committed < target) {
    if (b->fail_gen != gen) {
      e = EVP_ERR_IO; /* the reason is in the batcher's last error */
      break;
    }
    if (pthread_cond_timedwait(&b->cv, &b->mu, &ts) == ETIMEDOUT && b->committed < target) {
      e = EVP_ERR_TIMED_OUT;
      break;
    }
  }
  pthread_mutex_unlock(&b->mu);
  return e;
}

void evp__batcher_get_stats(const evp__batcher_t *b, evp__batcher_stats_t *out) {
  evp__batcher_t *m = (evp__batcher_t *)b; /* the lock is not part of the value */
  pthread_mutex_lock(&m->mu);
  *out = m->st;
  pthread_mutex_unlock(&m->mu);
}

void evp__batcher_last_error(const evp__batcher_t *b, char *out, size_t n) {
  evp__batcher_t *m = (evp__batcher_t *)b;
  pthread_mutex_lock(&m->mu);
  snprintf(out, n, "%s", m->last_err);
  pthread_mutex_unlock(&m->mu);
}

int evp__batcher_failing(const evp__batcher_t *b, char *reason, size_t n, int64_t *since_unix_us,
                         uint64_t *failures) {
  evp__batcher_t *m = (evp__batcher_t *)b;
  pthread_mutex_lock(&m->mu);
  int failing = m->failing;
  if (reason && n) snprintf(reason, n, "%s", failing ? m->fail_err : "");
  if (since_unix_us) *since_unix_us = failing ? m->fail_since_us : 0;
  if (failures) *failures = failing ? m->fail_count : 0;
  pthread_mutex_unlock(&m->mu);
  return failing;
}

evp_err_t evp__batcher_close(evp__batcher_t *b, char *errstr, size_t errstr_size) {
  if (!b) return EVP_OK;
  pthread_mutex_lock(&b->mu);
  b->stop = 1;
  pthread_cond_broadcast(&b->cv);
  pthread_mutex_unlock(&b->mu);
  evp__wal_wake(b->w);
  pthread_join(b->thread, NULL);
  evp__batcher_compact_join(b);
  evp_err_t e = b->final_err;
  if (e) evp__seterr(errstr, errstr_size, e, "%s", b->final_msg);
  pthread_mutex_destroy(&b->mu);
  pthread_cond_destroy(&b->cv);
  release(b);
  return e;
}

evp_err_t evp__batcher_stop(evp__batcher_t *b) { return evp__batcher_close(b, NULL, 0); }
