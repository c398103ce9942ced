/* Compaction of closed hour partitions on the batcher thread: between
 * flushes, so no file of the hour is being written meanwhile and the
 * checkpoint read here is the one the batcher's crash recovery will use. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include "base/base.h"
#include "batcher/batcher.h"
#include "batcher/batcher_int.h"
#include "lake/lake_compact.h"

#define US_PER_HOUR INT64_C(3600000000)
/* After its end plus the buffer time, an hour gets no new files unless the
 * lake was failing; this margin covers a flush in progress. */
#define CLOSE_MARGIN_US INT64_C(60000000)

static void told(void *arg, const evp__compact_result_t *r, evp_err_t e, const char *msg) {
  evp__batcher_t *b = arg;
  if (e) {
    pthread_mutex_lock(&b->mu);
    snprintf(b->last_err, sizeof b->last_err, "batcher: compaction of dt=%s/hour=%02d: %s", r->dt,
             r->hour, msg);
    pthread_mutex_unlock(&b->mu);
  }
  if (!b->compacted) return;
  evp__batcher_compaction_t c = {r->dt,       r->hour,      r->files_in,    r->files_out,  r->rows,
                                 r->bytes_in, r->bytes_out, r->duration_ms, e ? msg : NULL};
  b->compacted(b->notice_arg, &c);
}

void evp__batcher_compact_closed(evp__batcher_t *b) {
  if (!b->compact) return;
  int64_t closed = evp__wall_us() - (int64_t)b->buffer_seconds * 1000000 - CLOSE_MARGIN_US;
  int64_t idx = closed / US_PER_HOUR; /* hours closed before this one's start */
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
  char err[512];
  evp__lake_compact_closed(&o, idx * US_PER_HOUR, told, b, err, sizeof err);
}
