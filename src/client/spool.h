/* The on-disk spool (spool.dir; docs/spool.md): a durable log of the wal
 * area in mapped mode, one record per accepted event. evp_send appends the
 * event and, while the client's memory has room and nothing older waits on
 * disk only, also queues it in memory as before. When memory is full the
 * event stays on disk only ("spilled") and every later one too, until the
 * sender thread has read the spilled records back in log order; a client
 * opened on a spool with undelivered records starts that way. The records
 * are trimmed (the log's checkpoint moves) once every event before them is
 * settled: delivered, rejected, or reported failed. The ring below tracks
 * which are, in log order; evp_send fills it under c->mu (in-memory path),
 * the sender fills it under c->mu (read back) and settles entries.
 *
 * Locking: the fields marked "c->mu" are guarded by the client's mutex; the
 * log's own calls take its lock inside (order: c->mu, then the log's). The
 * fields marked "sender" belong to the sender thread. */
#ifndef EVP_CLIENT_SPOOL_H
#define EVP_CLIENT_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include "client/client_int.h"
#include "wal/wal.h"
#include "wal/wal_read.h"

/* A record in memory, in log order, until everything before it is settled. */
typedef struct {
  uint64_t off, end;
  int64_t at_us; /* when it was spooled (wall clock) */
  uint32_t left; /* its events not yet settled */
} evp__spool_ent;

/* The application's pointer of a spilled event (evp_send_opaque), until the
 * sender reads the event back. */
typedef struct {
  uint64_t off;
  void *opaque;
} evp__spool_opq;

struct evp__spool {
  evp__wal_t *w;
  size_t segment_bytes;
  uint64_t resume_end; /* log end at open: records before it are from an earlier client */

  /* c->mu */
  uint64_t end;       /* the log's end: every append is made under c->mu */
  int spilled;        /* records from spill_off on are on disk only */
  uint64_t spill_off; /* where that began */
  uint64_t spill_gen; /* spills so far (the reader restarts at each) */
  uint64_t unread;    /* events on disk only */
  int64_t unread_first_us;
  evp__spool_ent *ring; /* ring_n entries from ring[ring_head]; cap a power of 2 */
  size_t ring_cap, ring_head, ring_n, ring_max;
  uint64_t ring_seq0;      /* sequence number of ring[ring_head] */
  uint64_t acked_to;       /* log offset before which everything is settled */
  uint64_t settled_ahead;  /* bytes of settled records still in the ring */
  uint64_t settled_events; /* events settled and not yet committed */
  evp__spool_opq *opq;     /* opq_n entries from opq[opq_head], in log order */
  size_t opq_cap, opq_head, opq_n;
  int drop_wanted; /* drop_oldest: evp_send found the spool full */
  uint64_t dropped, expired, recovered_events;
  uint64_t read_damaged, read_damaged_bytes; /* records damaged after open, skipped on read */

  /* sender */
  uint64_t *settle_q; /* ring entries of events reported since the last queue release */
  size_t settle_n, settle_cap;
  evp__wal_reader_t *rd;
  uint64_t rd_gen;
  int rd_broken; /* a record read back failed its checks; reported once */
  uint64_t committed;
  int64_t commit_due_us;
};

/* Bytes of unsettled records: what spool.max.bytes bounds. Caller holds
 * c->mu (so no append moves the end meanwhile). */
static inline uint64_t evp__spool_used(const evp__spool *s) {
  uint64_t live = s->end - s->acked_to;
  return live > s->settled_ahead ? live - s->settled_ahead : 0;
}

/* Open c->conf->spool_dir (evp_client_new, before the sender starts). */
evp_err_t evp__spool_open(evp_client_t *c, char *errstr, size_t es);
/* evp_send's tail with a spool: append @p it (checked, filled) and queue it in
 * memory or leave it on disk. Takes @p it in every case. */
evp_err_t evp__spool_send(evp_client_t *c, evp__item *it, char *errstr, size_t es);
/* Sender: read spilled records back into c->q while memory has room. */
void evp__spool_refill(evp_client_t *c);
/* Can the sender read more back now? Caller holds c->mu. */
int evp__spool_readable(const evp_client_t *c);
/* Sender: @p it is settled (called for every reported event). Noted
 * without a lock; evp__spool_settle_apply, under c->mu at the queue release
 * that follows every report, applies the batch (one lock per batch, not per
 * event). */
void evp__spool_settle(evp_client_t *c, const evp__item *it);
void evp__spool_settle_apply(evp_client_t *c);
/* Are settlements waiting to be applied? (sender) */
int evp__spool_settle_pending(const evp_client_t *c);
/* Sender: move the log's checkpoint to what is settled, at most once per
 * second unless @p force or a segment's worth is settled. Returns when the next commit is due (INT64_MAX:
 * nothing to commit). */
int64_t evp__spool_commit(evp_client_t *c, int force);
/* When the settled prefix must be committed (INT64_MAX: nothing to).
 * Caller holds c->mu. */
int64_t evp__spool_commit_due(const evp_client_t *c);
/* Count @p n events expired by spool.max.age.ms (c->mu not held). */
void evp__spool_count_expired(evp_client_t *c, size_t n);
/* Sender: spool.full.policy=drop_oldest found the spool full: drop the
 * oldest waiting events until it fits. */
void evp__spool_drop(evp_client_t *c);
/* Events waiting on disk only. Caller holds c->mu. */
uint64_t evp__spool_unread(const evp_client_t *c);
/* The "spool" member of evp_client_stats (c->mu not held). */
void evp__spool_stats(evp_client_t *c, evp__buf_t *b);
/* After the sender has stopped: commit and close the log. */
void evp__spool_close(evp_client_t *c);

#endif /* EVP_CLIENT_SPOOL_H */
