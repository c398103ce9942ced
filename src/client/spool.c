/* The on-disk spool: opening it, evp_send's append, reading spilled records
 * back, settling and trimming, drop_oldest, stats and close. spool.h says
 * how the pieces fit and which lock guards what. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/files.h"
#include "client/spool.h"

#define NEVER INT64_MAX
/* Records read back per refill: enough to fill batches, small enough that
 * evp_send never waits long for c->mu. */
#define REFILL_MAX 512
/* A settled prefix is committed (checkpoint file written, fsynced) at most
 * this often; a crash in between only resends events the server dedups. */
#define COMMIT_EVERY_US 1000000

/* Size of a segment: an eighth of the spool, within [64 KiB, 16 MiB], and
 * always room for the largest event. */
static size_t segment_bytes(const evp_conf_t *cf) {
  uint64_t s = (uint64_t)cf->spool_max_bytes / 8;
  if (s < 65536) s = 65536;
  if (s > 16u << 20) s = 16u << 20;
  uint64_t need = (uint64_t)cf->batch_max_bytes + EVP__WAL_HDR + EVP__WAL_PAYLOAD_FIXED +
                  EVP__WAL_MAX_CLIENT_ID + 4;
  if (s < need) s = need;
  return (size_t)s;
}

/* ------------------------------------------------------------ the ring */

static evp__spool_ent *ent_at(const evp__spool *s, uint64_t seq) {
  return &s->ring[(s->ring_head + (size_t)(seq - s->ring_seq0)) & (s->ring_cap - 1)];
}

/* Room for one more entry (growing up to ring_max). Caller holds c->mu. */
static int ring_room(evp__spool *s) {
  if (s->ring_n < s->ring_cap) return 1;
  if (s->ring_cap >= s->ring_max) return 0;
  size_t cap = s->ring_cap ? s->ring_cap * 2 : 1024;
  evp__spool_ent *r = malloc(cap * sizeof *r);
  if (!r) return 0;
  for (size_t i = 0; i < s->ring_n; i++) r[i] = s->ring[(s->ring_head + i) & (s->ring_cap - 1)];
  free(s->ring);
  s->ring = r;
  s->ring_cap = cap;
  s->ring_head = 0;
  return 1;
}

/* Append an entry (ring_room() said yes); returns its sequence number. */
static uint64_t ring_push(evp__spool *s, uint64_t off, uint64_t end, int64_t at_us, uint32_t n) {
  uint64_t seq = s->ring_seq0 + s->ring_n;
  s->ring[(s->ring_head + s->ring_n) & (s->ring_cap - 1)] = (evp__spool_ent){off, end, at_us, n};
  s->ring_n++;
  return seq;
}

/* ------------------------------------------------------------ open / close */

static void on_damage(void *arg, const evp__wal_damage_t *d) {
  evp_client_t *c = arg;
  evp__client_log(c, EVP_LOG_WARNING,
                  "spool: %llu damaged byte(s) at offset %llu of %s skipped (%s%s%s)",
                  (unsigned long long)d->length, (unsigned long long)d->segment_offset, d->segment,
                  d->note, d->quarantine ? ": " : "", d->quarantine ? d->quarantine : "");
}

evp_err_t evp__spool_open(evp_client_t *c, char *errstr, size_t es) {
  const evp_conf_t *cf = c->conf;
  if (strlen(cf->client_id) > EVP__WAL_MAX_CLIENT_ID)
    return evp__seterr(errstr, es, EVP_ERR_CONF_INVALID,
                       "client.id is longer than the spool's records hold (%u bytes)",
                       EVP__WAL_MAX_CLIENT_ID);
  evp__spool *s = calloc(1, sizeof *s);
  if (!s) return evp__seterr(errstr, es, EVP_ERR_NOMEM, "out of memory");
  /* The directory holds events: private to its owner, like ~/.ssh. */
  char why[512];
  evp_err_t me = evp__mkdirs(cf->spool_dir, why, sizeof why);
  if (me != EVP_OK) {
    free(s);
    return evp__seterr(errstr, es, me, "spool.dir %s: %s", cf->spool_dir, why);
  }
  struct stat st;
  if (stat(cf->spool_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    free(s);
    return evp__seterr(errstr, es, EVP_ERR_CONF_INVALID, "spool.dir %s: not a directory",
                       cf->spool_dir);
  }
  if (st.st_mode & 077) {
    free(s);
    return evp__seterr(errstr, es, EVP_ERR_PERMISSION,
                       "spool.dir %s: mode %03o lets other users read or change the spooled "
                       "events; chmod 700 it",
                       cf->spool_dir, (unsigned)(st.st_mode & 0777));
  }
  if (st.st_uid != geteuid()) {
    free(s);
    return evp__seterr(errstr, es, EVP_ERR_PERMISSION,
                       "spool.dir %s: owned by uid %u, not by this process's uid %u", cf->spool_dir,
                       (unsigned)st.st_uid, (unsigned)geteuid());
  }
  evp__wal_opts_t o = {0};
  o.fsync = cf->spool_sync == EVP__SPOOL_ALWAYS     ? EVP__FSYNC_ALWAYS
            : cf->spool_sync == EVP__SPOOL_INTERVAL ? EVP__FSYNC_INTERVAL
                                                    : EVP__FSYNC_NEVER;
  o.interval_ms = (int)cf->spool_sync_interval_ms;
  o.segment_bytes = s->segment_bytes = segment_bytes(cf);
  o.max_record_bytes = o.segment_bytes - EVP__WAL_HDR;
  o.retain_bytes = 1; /* delivered records are of no further use */
  o.quarantine_bytes =
      (size_t)(cf->spool_max_bytes / 16 > 65536 ? cf->spool_max_bytes / 16 : 65536);
  o.mapped = 1;
  o.on_damage = on_damage;
  o.damage_arg = c;
  char werr[512];
  evp_err_t e = evp__wal_open(cf->spool_dir, &o, &s->w, werr, sizeof werr);
  if (e != EVP_OK) {
    free(s);
    if (e == EVP_ERR_STATE)
      return evp__seterr(errstr, es, e,
                         "spool.dir %s is in use by another client (in this or another "
                         "process); each client needs its own spool directory",
                         cf->spool_dir);
    return evp__seterr(errstr, es, e, "spool.dir %s: %s", cf->spool_dir, werr);
  }
  s->ring_max = (size_t)cf->queue_max_events * 4;
  if (s->ring_max < 1024) s->ring_max = 1024;
  uint64_t ckpt = evp__wal_checkpoint(s->w), end = evp__wal_end(s->w);
  s->resume_end = s->end = end;
  s->acked_to = s->committed = ckpt;
  s->unread = s->recovered_events = evp__wal_pending_events(s->w);
  if (ckpt < end) {
    /* Undelivered records from an earlier client: read them back first. */
    s->spilled = 1;
    s->spill_off = ckpt;
    s->spill_gen = 1;
    s->unread_first_us = evp__wall_us();
    evp__client_log(c, EVP_LOG_INFO, "spool %s: %llu undelivered event(s) from an earlier run",
                    cf->spool_dir, (unsigned long long)s->unread);
  }
  evp__wal_stats_t ws;
  evp__wal_get_stats(s->w, &ws);
  if (ws.truncated_bytes || ws.corrupt_records)
    evp__client_log(c, EVP_LOG_WARNING,
                    "spool %s: recovery cut a torn tail of %llu byte(s) and skipped %llu "
                    "damaged region(s) (%llu bytes)",
                    cf->spool_dir, (unsigned long long)ws.truncated_bytes,
                    (unsigned long long)ws.corrupt_records, (unsigned long long)ws.corrupt_bytes);
  c->spool = s;
  return EVP_OK;
}

void evp__spool_close(evp_client_t *c) {
  evp__spool *s = c->spool;
  if (!s) return;
  evp__spool_commit(c, 1);
  if (s->rd) evp__wal_reader_close(s->rd);
  evp__wal_close(s->w);
  free(s->ring);
  free(s->opq);
  free(s->settle_q);
  free(s);
  c->spool = NULL;
}

/* ------------------------------------------------------------ evp_send */

static int opq_push(evp__spool *s, uint64_t off, void *opaque, size_t max) {
  if (s->opq_n == s->opq_cap) {
    if (s->opq_cap >= max) return 0;
    size_t cap = s->opq_cap ? s->opq_cap * 2 : 256;
    evp__spool_opq *q = malloc(cap * sizeof *q);
    if (!q) return 0;
    for (size_t i = 0; i < s->opq_n; i++) q[i] = s->opq[(s->opq_head + i) & (s->opq_cap - 1)];
    free(s->opq);
    s->opq = q;
    s->opq_cap = cap;
    s->opq_head = 0;
  }
  s->opq[(s->opq_head + s->opq_n) & (s->opq_cap - 1)] = (evp__spool_opq){off, opaque};
  s->opq_n++;
  return 1;
}

/* The application pointer of the spilled record at @p off (NULL: none). The
 * table is in log order and records are read back in log order. */
static void *opq_take(evp__spool *s, uint64_t off) {
  while (s->opq_n && s->opq[s->opq_head].off <= off) {
    evp__spool_opq q = s->opq[s->opq_head];
    s->opq_head = (s->opq_head + 1) & (s->opq_cap - 1);
    s->opq_n--;
    if (q.off == off) return q.opaque;
  }
  return NULL;
}

evp_err_t evp__spool_send(evp_client_t *c, evp__item *it, char *errstr, size_t es) {
  evp__spool *s = c->spool;
  const evp_conf_t *cf = c->conf;
  uint64_t cost = EVP__ITEM_COST(it);
  const char *ev = it->json;
  size_t len = it->len;
  size_t idl = strlen(cf->client_id);
  size_t rec = evp__wal_record_size(idl, &len, 1);
  uint64_t max = (uint64_t)cf->spool_max_bytes;
  it->enq_us = evp__mono_us();
  it->spool_us = evp__wall_us();
  it->from_spool = 0;
  if (rec == 0) {
    free(it);
    return evp__seterr(errstr, es, EVP_ERR_TOO_LARGE, "event too large for the spool");
  }
  /* Encoded (CRC and all) before the lock: under it only the copy. */
  unsigned char stackbuf[2048];
  unsigned char *enc = rec <= sizeof stackbuf ? stackbuf : malloc(rec);
  if (!enc) {
    free(it);
    return evp__seterr(errstr, es, EVP_ERR_NOMEM, "out of memory");
  }
  evp__wal_record_encode(enc, cf->client_id, idl, it->spool_us, &ev, &len, 1);
  evp_err_t e = EVP_OK;
  uint64_t off = 0, end = 0;
  pthread_mutex_lock(&c->mu);
  if (c->closing) {
    e = evp__seterr(errstr, es, EVP_ERR_STATE, "client is closing");
    goto refused;
  }
  uint64_t used = evp__spool_used(s);
  if (used + rec > max) {
    /* drop_oldest makes room on the sender thread; until it has, the spool
     * may run over by an eighth, no further. */
    if (cf->spool_full_policy == EVP__SPOOL_DROP_OLDEST) {
      if (!s->drop_wanted) {
        s->drop_wanted = 1;
        evp__client_wake_sender(c);
      }
    }
    if (cf->spool_full_policy != EVP__SPOOL_DROP_OLDEST || used + rec > max + max / 8) {
      e = evp__seterr(errstr, es, EVP_ERR_QUEUE_FULL,
                      "spool full: %llu of spool.max.bytes=%llu in %s", (unsigned long long)used,
                      (unsigned long long)max, cf->spool_dir);
      goto refused;
    }
  }
  int in_memory = !s->spilled && evp__client_queue_fits(c, cost) && ring_room(s);
  if (!in_memory && it->opaque && s->opq_n >= (size_t)cf->queue_max_events) {
    e = evp__seterr(errstr, es, EVP_ERR_QUEUE_FULL,
                    "queue full: queue.max.events events sent with an opaque are waiting in "
                    "the spool");
    goto refused;
  }
  char werr[320];
  e = evp__wal_append_encoded(s->w, enc, rec, &off, &end, werr, sizeof werr);
  if (e != EVP_OK) {
    e = evp__seterr(errstr, es, e == EVP_ERR_TOO_LARGE ? e : EVP_ERR_IO, "spool.dir %s: %s",
                    cf->spool_dir, werr);
    goto refused;
  }
  s->end = end;
  if (in_memory) {
    it->spool_seq = ring_push(s, off, end, it->spool_us, 1);
    evp__item_list_push(&c->q, it);
    c->pending_n++;
    c->pending_bytes += cost;
    if (c->sender_waiting && (c->q.n >= c->need_n || c->q.bytes >= c->need_bytes))
      evp__client_wake_sender(c);
    it = NULL;
  } else {
    if (!s->spilled) {
      s->spilled = 1;
      s->spill_off = off;
      s->spill_gen++;
      s->unread_first_us = it->spool_us;
    }
    s->unread++;
    if (it->opaque) opq_push(s, off, it->opaque, (size_t)cf->queue_max_events);
    if (c->sender_waiting && !c->paused) evp__client_wake_sender(c);
  }
  pthread_mutex_unlock(&c->mu);
  if (enc != stackbuf) free(enc);
  if (it) free(it); /* on disk only */
  if (cf->spool_sync == EVP__SPOOL_ALWAYS) {
    char serr[320];
    if (evp__wal_sync(s->w, end, serr, sizeof serr) != EVP_OK)
      return evp__seterr(errstr, es, EVP_ERR_IO,
                         "spool.dir %s: %s (the event is in the spool and may still be "
                         "delivered, but is not known to be on disk)",
                         cf->spool_dir, serr);
  }
  return EVP_OK;
refused:
  pthread_mutex_unlock(&c->mu);
  if (enc != stackbuf) free(enc);
  free(it);
  return e;
}

/* ------------------------------------------------------------ read back */

int evp__spool_readable(const evp_client_t *c) {
  const evp__spool *s = c->spool;
  return s && s->spilled && !s->rd_broken && evp__client_queue_fits(c, 1) &&
         s->ring_n < s->ring_max;
}

uint64_t evp__spool_unread(const evp_client_t *c) { return c->spool ? c->spool->unread : 0; }

/* An item for one event read back from the spool. */
static evp__item *item_from(evp_client_t *c, const char *ev, size_t len) {
  evp__scan sc;
  char err[8];
  if (evp__client_event_scan(ev, len, &sc, err, sizeof err) != EVP_OK) sc.id = NULL;
  evp__item *it = evp__client_item_get(c, len);
  if (!it) return NULL;
  uint32_t cap = it->cap;
  memset(it, 0, offsetof(evp__item, json));
  it->cap = cap;
  memcpy(it->json, ev, len);
  it->len = (uint32_t)len;
  if (sc.id && sc.id_len <= UINT16_MAX) {
    it->id_off = (uint32_t)(sc.id - ev);
    it->id_len = (uint16_t)sc.id_len;
  }
  return it;
}

/* Cut @p l after its first @p k items; the rest goes to @p rest. */
static void list_split(evp__list *l, size_t k, evp__list *rest) {
  *rest = (evp__list){0};
  if (k >= l->n) return;
  evp__list keep = {0};
  while (keep.n < k) evp__item_list_push(&keep, evp__item_list_pop(l));
  *rest = *l;
  *l = keep;
}

void evp__spool_refill(evp_client_t *c) {
  evp__spool *s = c->spool;
  pthread_mutex_lock(&c->mu);
  int go = evp__spool_readable(c);
  uint64_t gen = s->spill_gen, from = s->spill_off;
  size_t room_n = go ? (size_t)c->conf->queue_max_events - c->pending_n : 0;
  uint64_t room_b = go ? (uint64_t)c->conf->queue_max_bytes - c->pending_bytes : 0;
  pthread_mutex_unlock(&c->mu);
  if (!go) return;
  char err[320];
  if (!s->rd || s->rd_gen != gen) {
    if (s->rd) evp__wal_reader_close(s->rd);
    s->rd = NULL;
    if (evp__wal_reader_open(s->w, from, &s->rd, err, sizeof err) != EVP_OK) {
      pthread_mutex_lock(&c->mu);
      s->rd_broken = 1; /* no loop on it: the next client tries again */
      pthread_mutex_unlock(&c->mu);
      evp__client_log(c, EVP_LOG_ERR, "spool %s: %s", c->conf->spool_dir, err);
      return;
    }
    s->rd_gen = gen;
  }
  evp__list got = {0};
  struct {
    uint64_t off, end;
    int64_t at;
    uint32_t n;
  } recs[REFILL_MAX];
  size_t nrec = 0;
  uint64_t again = UINT64_MAX; /* read again from here (out of memory) */
  int broken = 0;
  uint64_t damaged = 0, damaged_bytes = 0;
  char why[400] = "";
  while (nrec < REFILL_MAX && got.n < room_n && got.bytes < room_b) {
    evp__wal_record_t r;
    int have = 0;
    if (evp__wal_reader_next(s->rd, &r, &have, err, sizeof err) != EVP_OK) {
      /* A record damaged since the spool was opened (a bad block, a stray
       * write): only it is lost; reading goes on at the next valid one. */
      uint64_t skipped;
      char serr[160];
      if (evp__wal_reader_damaged(s->rd) &&
          evp__wal_reader_skip(s->rd, &skipped, serr, sizeof serr) == EVP_OK) {
        damaged++;
        damaged_bytes += skipped;
        snprintf(why, sizeof why, "spool %s: %s", c->conf->spool_dir, err);
        continue;
      }
      broken = 1;
      break;
    }
    if (!have) break;
    size_t cur = 0, len;
    const char *ev;
    evp__list mine = {0};
    while (evp__wal_record_next_event(&r, &cur, &ev, &len)) {
      evp__item *it = item_from(c, ev, len);
      if (!it) break;
      it->spool_us = r.received_at_us;
      it->enq_us = evp__mono_us();
      it->from_spool = r.offset < s->resume_end;
      evp__item_list_push(&mine, it);
    }
    if (mine.n < r.nevents) {
      evp__client_items_recycle(c, &mine);
      again = r.offset;
      break;
    }
    recs[nrec].off = r.offset;
    recs[nrec].end = r.end;
    recs[nrec].at = r.received_at_us;
    recs[nrec].n = r.nevents;
    nrec++;
    evp__item_list_append(&got, &mine);
  }
  pthread_mutex_lock(&c->mu);
  evp__item *it = got.head;
  size_t kept = 0;
  for (size_t i = 0; i < nrec; i++) {
    if (!ring_room(s)) {
      again = recs[i].off;
      break;
    }
    uint64_t seq = ring_push(s, recs[i].off, recs[i].end, recs[i].at, recs[i].n);
    void *opaque = opq_take(s, recs[i].off);
    for (uint32_t k = 0; k < recs[i].n; k++, it = it->next) {
      it->spool_seq = seq;
      if (k == 0) it->opaque = opaque;
    }
    kept += recs[i].n;
    s->unread -= recs[i].n < s->unread ? recs[i].n : s->unread;
    s->unread_first_us = recs[i].at;
  }
  s->read_damaged += damaged;
  s->read_damaged_bytes += damaged_bytes;
  evp__list rest;
  list_split(&got, kept, &rest);
  c->pending_n += got.n;
  c->pending_bytes += got.bytes;
  evp__item_list_append(&c->q, &got);
  if (again != UINT64_MAX) {
    /* The reader starts over at the record that did not fit. */
    s->spill_off = again;
    s->spill_gen++;
  } else if (broken) {
    s->rd_broken = 1;
  } else if (evp__wal_reader_pos(s->rd) >= s->end) {
    /* Read up to the end, with evp_send locked out: new events go to
     * memory again. */
    s->spilled = 0;
    s->unread = 0;
  }
  pthread_mutex_unlock(&c->mu);
  evp__client_items_recycle(c, &rest);
  if (damaged) {
    evp__client_log(c, EVP_LOG_ERR, "%s; skipped %llu byte(s), the events in them are lost", why,
                    (unsigned long long)damaged_bytes);
    evp__client_raise(c, EVP_ERR_IO, 1, why);
  }
  if (broken) {
    evp__client_log(c, EVP_LOG_ERR, "spool %s: %s; the events after it wait for the next client",
                    c->conf->spool_dir, err);
    evp__client_raise(c, EVP_ERR_IO, 0, err);
  }
}

/* ------------------------------------------------------------ settle, commit, drop */

/* Caller holds c->mu. */
static void settle_locked(evp__spool *s, uint64_t seq) {
  if (seq < s->ring_seq0 || seq >= s->ring_seq0 + s->ring_n) return;
  evp__spool_ent *e = ent_at(s, seq);
  if (e->left && --e->left == 0) s->settled_ahead += e->end - e->off;
  s->settled_events++;
  while (s->ring_n && s->ring[s->ring_head].left == 0) {
    evp__spool_ent *h = &s->ring[s->ring_head];
    s->settled_ahead -= h->end - h->off;
    s->acked_to = h->end;
    s->ring_head = (s->ring_head + 1) & (s->ring_cap - 1);
    s->ring_n--;
    s->ring_seq0++;
  }
}

void evp__spool_settle(evp_client_t *c, const evp__item *it) {
  evp__spool *s = c->spool;
  if (!s || it->spool_seq == UINT64_MAX) return;
  if (s->settle_n == s->settle_cap) {
    size_t cap = s->settle_cap ? s->settle_cap * 2 : 1024;
    uint64_t *q = cap <= 1u << 20 ? realloc(s->settle_q, cap * sizeof *q) : NULL;
    if (!q) { /* apply what is noted, then this one, at once */
      pthread_mutex_lock(&c->mu);
      evp__spool_settle_apply(c);
      settle_locked(s, it->spool_seq);
      pthread_mutex_unlock(&c->mu);
      return;
    }
    s->settle_q = q;
    s->settle_cap = cap;
  }
  s->settle_q[s->settle_n++] = it->spool_seq;
}

void evp__spool_settle_apply(evp_client_t *c) {
  evp__spool *s = c->spool;
  for (size_t i = 0; i < s->settle_n; i++) settle_locked(s, s->settle_q[i]);
  s->settle_n = 0;
}

int evp__spool_settle_pending(const evp_client_t *c) { return c->spool && c->spool->settle_n; }

int64_t evp__spool_commit(evp_client_t *c, int force) {
  evp__spool *s = c->spool;
  int64_t now = evp__mono_us();
  pthread_mutex_lock(&c->mu);
  uint64_t to = s->acked_to, nev = s->settled_events;
  pthread_mutex_unlock(&c->mu);
  if (to <= s->committed) return NEVER;
  /* A whole segment delivered: commit now, its disk space is wanted back. */
  if (!force && now < s->commit_due_us && to - s->committed < s->segment_bytes)
    return s->commit_due_us;
  char err[320];
  if (evp__wal_commit(s->w, to, nev, err, sizeof err) != EVP_OK) {
    evp__client_log(c, EVP_LOG_ERR, "spool %s: cannot record delivered events: %s",
                    c->conf->spool_dir, err);
    s->commit_due_us = now + COMMIT_EVERY_US;
    return s->commit_due_us;
  }
  pthread_mutex_lock(&c->mu);
  s->settled_events -= nev;
  pthread_mutex_unlock(&c->mu);
  s->committed = to;
  s->commit_due_us = now + COMMIT_EVERY_US;
  return NEVER;
}

int64_t evp__spool_commit_due(const evp_client_t *c) {
  const evp__spool *s = c->spool;
  return s->acked_to > s->committed ? s->commit_due_us : NEVER;
}

void evp__spool_count_expired(evp_client_t *c, size_t n) {
  pthread_mutex_lock(&c->mu);
  c->spool->expired += n;
  pthread_mutex_unlock(&c->mu);
}

void evp__spool_drop(evp_client_t *c) {
  evp__spool *s = c->spool;
  pthread_mutex_lock(&c->mu);
  int wanted = s->drop_wanted;
  pthread_mutex_unlock(&c->mu);
  if (!wanted) return;
  uint64_t max = (uint64_t)c->conf->spool_max_bytes;
  const char *why = "dropped: the spool is full (spool.max.bytes, spool.full.policy=drop_oldest)";
  for (;;) {
    pthread_mutex_lock(&c->mu);
    int over = evp__spool_used(s) > max - max / 16; /* leave some room: no drop per event */
    s->drop_wanted = over;
    /* The oldest waiting events: those queued in memory and not in flight
     * (c->work then c->q), then those on disk only (read back first). */
    evp__item_list_append(&c->work, &c->q);
    int readable = evp__spool_readable(c);
    pthread_mutex_unlock(&c->mu);
    if (!over) return;
    if (!c->work.n && readable) {
      evp__spool_refill(c);
      pthread_mutex_lock(&c->mu);
      evp__item_list_append(&c->work, &c->q);
      pthread_mutex_unlock(&c->mu);
    }
    evp__list dead = {0};
    for (int i = 0; i < 256 && c->work.head; i++)
      evp__item_list_push(&dead, evp__item_list_pop(&c->work));
    /* During an outage the events in memory all await a retry: the oldest
     * of those go too (else the spool would refuse until the service is
     * back, which is the other policy). */
    while (dead.n < 256 && c->retry) {
      evp__retry **best = &c->retry;
      for (evp__retry **rp = &c->retry; *rp; rp = &(*rp)->next)
        if ((*rp)->items.head->spool_us < (*best)->items.head->spool_us) best = rp;
      evp__retry *r = *best;
      while (dead.n < 256 && r->items.head)
        evp__item_list_push(&dead, evp__item_list_pop(&r->items));
      if (!r->items.n) {
        *best = r->next;
        free(r);
      }
    }
    if (!dead.n) {
      /* Only events in flight are left: they settle on their own. The next
       * evp_send that finds the spool full asks again. */
      pthread_mutex_lock(&c->mu);
      s->drop_wanted = 0;
      pthread_mutex_unlock(&c->mu);
      return;
    }
    pthread_mutex_lock(&c->mu);
    s->dropped += dead.n;
    pthread_mutex_unlock(&c->mu);
    evp__client_report_list(c, &dead, EVP_DELIVERY_FAILED, EVP_ERR_QUEUE_FULL, why);
  }
}
