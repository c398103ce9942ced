/* Compaction of closed hour partitions on a thread of its own, so the
 * batcher keeps writing the lake while an hour is merged (on the batcher
 * thread a large hour held every flush back, and POST /events answered 503
 * once the backlog passed --max-backlog). The two threads share one rule,
 * the fence: neither works in an hour the other is in. A flush writes
 * into a closed hour only late (a failing lake retried, or a replay), and
 * then waits for that hour's compaction; compaction waits for such a
 * write. The checkpoint it reads is one the batcher has written: files
 * below it are committed and stay as they are. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include "base/base.h"
#include "batcher/batcher.h"
#include "batcher/batcher_int.h"
#include "lake/lake_compact.h"

/* After its end plus the buffer time, an hour gets no new files unless the
 * lake was failing; this margin covers a flush in progress. */
#define CLOSE_MARGIN_US INT64_C(60000000)
/* How often the thread looks whether another hour closed. */
#define LOOK_EVERY_MS 1000

void evp__batcher_write_enter(evp__batcher_t *b, int64_t hour) {
  pthread_mutex_lock(&b->mu);
  while (b->compacting_hour == hour) pthread_cond_wait(&b->cv, &b->mu);
  b->writing_hour = hour;
  pthread_mutex_unlock(&b->mu);
}

void evp__batcher_write_leave(evp__batcher_t *b) {
  pthread_mutex_lock(&b->mu);
  b->writing_hour = EVP__NO_HOUR;
  pthread_cond_broadcast(&b->cv);
  pthread_mutex_unlock(&b->mu);
}

/* Compaction's side of the fence; non-zero: stopping, skip the hour. */
static int fence_begin(void *arg, int64_t hour_start_us) {
  evp__batcher_t *b = arg;
  int64_t h = evp__batcher_hour_of(hour_start_us);
  pthread_mutex_lock(&b->mu);
  while (b->writing_hour == h && !b->stop) pthread_cond_wait(&b->cv, &b->mu);
  int skip = b->stop;
  if (!skip) b->compacting_hour = h;
  pthread_mutex_unlock(&b->mu);
  return skip;
}

static void fence_end(void *arg, int64_t hour_start_us) {
  evp__batcher_t *b = arg;
  (void)hour_start_us;
  pthread_mutex_lock(&b->mu);
  b->compacting_hour = EVP__NO_HOUR;
  pthread_cond_broadcast(&b->cv);
  pthread_mutex_unlock(&b->mu);
}

/* Stopping ends the compaction in progress (nothing swapped; its staging
 * is removed) rather than hold evpipe local's shutdown for a large hour. */
static int stopping(void *arg) {
  evp__batcher_t *b = arg;
  pthread_mutex_lock(&b->mu);
  int s = b->stop;
  pthread_mutex_unlock(&b->mu);
  return s;
}

static void told(void *arg, const evp__compact_result_t *r, evp_err_t e, const char *msg) {
  evp__batcher_t *b = arg;
  if (e == EVP_ERR_STATE && stopping(b)) return; /* cut short by the stop: not a failure */
  pthread_mutex_lock(&b->mu);
  if (e) {
    b->st.compaction_failures++;
    snprintf(b->last_err, sizeof b->last_err, "batcher: compaction of dt=%s/hour=%02d: %s", r->dt,
             r->hour, msg);
  } else {
    b->st.compactions++;
  }
  pthread_mutex_unlock(&b->mu);
  if (!b->compacted) return;
  evp__batcher_compaction_t c = {r->dt,       r->hour,      r->files_in,    r->files_out,  r->rows,
                                 r->bytes_in, r->bytes_out, r->duration_ms, e ? msg : NULL};
  b->compacted(b->notice_arg, &c);
}

/* Compact the hours that closed since the last look. */
static void compact_closed(evp__batcher_t *b) {
  int64_t closed = evp__wall_us() - (int64_t)b->buffer_seconds * 1000000 - CLOSE_MARGIN_US;
  int64_t idx = closed / EVP__US_PER_HOUR; /* hours closed before this one's start */
  if (idx == b->compact_scanned) return;
  b->compact_scanned = idx;
  evp__compact_opts_t o;
  memset(&o, 0, sizeof o);
  o.root = b->lake_dir;
  pthread_mutex_lock(&b->mu);
  o.checkpoint = b->committed;
  pthread_mutex_unlock(&b->mu);
  o.target_bytes = b->compact_target;
  o.codec = (evp__pq_codec_t)b->lake_codec;
  o.hour_begin = fence_begin;
  o.hour_end = fence_end;
  o.cancelled = stopping;
  o.fence_arg = b;
  o.hook = b->compact_hook;
  o.hook_arg = b->compact_hook_arg;
  char err[512];
  evp__lake_compact_closed(&o, idx * EVP__US_PER_HOUR, told, b, err, sizeof err);
}

static void *compact_main(void *arg) {
  evp__batcher_t *b = arg;
  prctl(PR_SET_NAME, "evp-compact", 0, 0, 0); /* visible in top -H, perf, gdb */
  pthread_mutex_lock(&b->mu);
  while (!b->stop) {
    pthread_mutex_unlock(&b->mu);
    compact_closed(b);
    pthread_mutex_lock(&b->mu);
    if (b->stop) break;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* b->cv waits on the monotonic clock */
    ts.tv_sec += LOOK_EVERY_MS / 1000;
    while (!b->stop && pthread_cond_timedwait(&b->cv, &b->mu, &ts) != ETIMEDOUT) {}
  }
  pthread_mutex_unlock(&b->mu);
  return NULL;
}

evp_err_t evp__batcher_compact_start(evp__batcher_t *b, char *errstr, size_t errstr_size) {
  if (!b->compact) return EVP_OK;
  if (pthread_create(&b->compact_thread, NULL, compact_main, b) != 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM,
                       "batcher: cannot start the compaction thread");
  b->compact_running = 1;
  return EVP_OK;
}

void evp__batcher_compact_join(evp__batcher_t *b) {
  if (b->compact_running) pthread_join(b->compact_thread, NULL);
  b->compact_running = 0;
}
