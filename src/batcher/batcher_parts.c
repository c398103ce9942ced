/* One hour group of the buffer written as several files at once.
 *
 * The batcher thread alone would cap the lake at what one core encodes. A
 * large group is therefore cut into nparts contiguous runs of records, each
 * a file named by its own first and last log offsets (so retries and replay
 * treat it like any other file). Dedup decides in log order and must see
 * every id before the next, so it runs first, on this thread, over the
 * whole group; the row building, dictionary and Parquet encoding, Snappy
 * and the file writes then run in parallel, one part per thread, each with
 * its own row builder and writer.
 *
 * The result must be the one the one-file path (batcher_flush.c) gives. It
 * differs only where that path would undo a dedup decision: an event that
 * fits no row is never entered into the dedup set there, so a later event
 * with its id is kept. Such groups, and any event whose id the row builder
 * finds differently from the id scan, are handed back (*fallback) with the
 * dedup set rolled back and nothing written: they are rare, and the
 * one-file path then decides them exactly — and copies the events that fit
 * no row to the quarantine (batcher_refused.c), so that is done in one
 * place. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "base/base.h"
#include "json/json.h"
#include "table/table.h"
#include "wal/wal.h"
#include "wal/wal_read.h"
#include "batcher/batcher.h"
#include "batcher/batcher_int.h"
#include "lake/lake_row.h"
#include "lake/lake.h"
#include "base/files.h"

/* One event of the group as the dedup pass saw it. */
struct evp__part_event {
  const char *id; /* in the arena; NULL when found elsewhere (unescaped) or not at all */
  uint32_t len;
  uint8_t has, dup; /* an id was found; it was seen within the window */
};

enum { PART_FILL, PART_FINISH, PART_DISCARD };

struct evp__batcher_part {
  evp__batcher_t *b;
  evp__row_builder_t *rb;
  evp__pq_writer_t *pw;
  /* this round */
  const size_t *idx;
  size_t n, ev0; /* records; ordinal of the first event in the group */
  const char *dir;
  char name[64];
  int skip, open, step;
  uint64_t rows, dups, bad, size;
  int differs; /* an id found otherwise than by the dedup pass */
  evp_err_t e;
  char err[400];
};

static evp_err_t setup(evp__batcher_t *b, char *errstr, size_t errstr_size) {
  if (b->parts) return EVP_OK;
  b->parts = calloc(b->nparts, sizeof *b->parts);
  if (!b->parts || (b->nparts > 1 && !(b->pool = evp__thread_pool_new(b->nparts - 1)))) {
    free(b->parts);
    b->parts = NULL;
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory or threads");
  }
  for (size_t i = 0; i < b->nparts; i++) {
    b->parts[i].b = b;
    evp_err_t e = evp__row_builder_new(b->table, &b->parts[i].rb, errstr, errstr_size);
    if (e) {
      evp__batcher_parts_free(b); /* the next flush tries again from nothing */
      return e;
    }
  }
  return EVP_OK;
}

void evp__batcher_parts_free(evp__batcher_t *b) {
  for (size_t i = 0; b->parts && i < b->nparts; i++) {
    evp__row_builder_free(b->parts[i].rb);
    evp__pq_writer_free(b->parts[i].pw);
  }
  free(b->parts);
  b->parts = NULL;
  evp__thread_pool_free(b->pool);
  b->pool = NULL;
  free(b->pev);
  b->pev = NULL;
  b->cappev = 0;
}

static int same_id(const struct evp__part_event *v, const char *id, size_t len) {
  if (!v->has || !id) return !v->has && !id;
  return v->id && v->len == len && memcmp(v->id, id, len) == 0;
}

static void fill(struct evp__batcher_part *p) {
  evp__batcher_t *b = p->b;
  size_t k = p->ev0;
  for (size_t r = 0; r < p->n && !p->e; r++) {
    const evp__buffered_record_t *br = &b->buf[p->idx[r]];
    evp__wal_record_t rec;
    if ((p->e = evp__batcher_record(b, br, &rec, p->err, sizeof p->err))) return;
    if (!evp__utf8_valid(rec.client_id, rec.client_id_len)) {
      p->bad += rec.nevents; /* the group falls back: quarantined there */
      k += rec.nevents;
      continue;
    }
    size_t cur = 0, len, idlen;
    const char *ev, *id;
    for (; evp__wal_record_next_event(&rec, &cur, &ev, &len); k++) {
      const evp__pq_value_t *row;
      char why[256];
      if (evp__row_builder_build_sent(p->rb, ev, len, br->received_at_us, rec.sent_at_us,
                                      rec.client_id, rec.client_id_len, &row, &id, &idlen, why,
                                      sizeof why) != EVP_OK) {
        p->bad++; /* the group falls back: quarantined there */
        continue;
      }
      if (b->dd && !same_id(&b->pev[k], id, idlen)) p->differs = 1;
      if (b->dd && id && b->pev[k].dup) {
        p->dups++;
        continue;
      }
      evp_err_t e = evp__pq_writer_append(p->pw, row, why, sizeof why);
      if (e == EVP_ERR_INVALID_ARG || e == EVP_ERR_TOO_LARGE) {
        p->bad++;
        continue;
      }
      if (e) {
        p->e = evp__seterr(p->err, sizeof p->err, e, "%s", why);
        return;
      }
      p->rows++;
    }
  }
}

static void run_part(void *arg) {
  struct evp__batcher_part *p = arg;
  if (p->skip) return;
  switch (p->step) {
  case PART_FILL:
    if ((p->e = evp__batcher_open_file(p->rb, &p->pw, p->b->lake_codec, p->dir, p->name, p->err,
                                       sizeof p->err)))
      return;
    p->open = 1;
    fill(p);
    return;
  case PART_FINISH:
    if (!p->open) return;
    p->open = 0;
    if (p->rows == 0) {
      evp__pq_writer_discard(p->pw); /* every event a duplicate: no empty file */
      return;
    }
    p->e = evp__pq_writer_finish(p->pw, &p->size, p->err, sizeof p->err);
    if (p->e) evp__pq_writer_discard(p->pw);
    return;
  default:
    if (p->open) evp__pq_writer_discard(p->pw);
    p->open = 0;
    return;
  }
}

static void run_all(evp__batcher_t *b, size_t np, int step) {
  void *args[8];
  for (size_t i = 0; i < np; i++) {
    b->parts[i].step = step;
    args[i] = &b->parts[i];
  }
  evp__thread_pool_run(b->pool, run_part, args, np);
}

/* The dedup pass: every event's id and verdict, in log order. */
static evp_err_t dedup_pass(evp__batcher_t *b, const size_t *idx, size_t n, size_t nev,
                            char *errstr, size_t errstr_size) {
  if (nev > b->cappev) {
    struct evp__part_event *v = realloc(b->pev, nev * sizeof *v);
    if (!v) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory");
    b->pev = v;
    b->cappev = nev;
  }
  size_t k = 0;
  for (size_t r = 0; r < n; r++) {
    const evp__buffered_record_t *br = &b->buf[idx[r]];
    evp__wal_record_t rec;
    evp_err_t e = evp__batcher_record(b, br, &rec, errstr, errstr_size);
    if (e) return e;
    if (!evp__utf8_valid(rec.client_id, rec.client_id_len)) {
      for (uint32_t i = 0; i < rec.nevents; i++)
        b->pev[k++] = (struct evp__part_event){NULL, 0, 0, 0};
      continue; /* dropped by the fill: the group falls back */
    }
    /* Dedup probes miss the cache: start each one a few events ahead. */
    evp__id_ahead_t ring[EVP__ID_LOOK_AHEAD + 1];
    size_t cur = 0, pcur = 0, len, plen, nth = 0, nahead = 0;
    const char *ev, *pev;
    uint64_t scope = evp__dedup_scope(b->dd, rec.client_id, rec.client_id_len);
    while (nahead < EVP__ID_LOOK_AHEAD && evp__wal_record_next_event(&rec, &pcur, &pev, &plen))
      evp__batcher_look_ahead(b->dd, scope, pev, plen, &ring[nahead++ % (EVP__ID_LOOK_AHEAD + 1)]);
    for (; evp__wal_record_next_event(&rec, &cur, &ev, &len); nth++, k++) {
      if (evp__wal_record_next_event(&rec, &pcur, &pev, &plen))
        evp__batcher_look_ahead(b->dd, scope, pev, plen,
                                &ring[nahead++ % (EVP__ID_LOOK_AHEAD + 1)]);
      const evp__id_ahead_t *mine = &ring[nth % (EVP__ID_LOOK_AHEAD + 1)];
      const char *id = mine->id;
      size_t idlen = mine->len;
      int r2;
      if (id) {
        r2 = evp__dedup_check_key(b->dd, &mine->key, br->received_at_us);
      } else if (evp__row_builder_event_id(b->rb, ev, len, &id, &idlen) == 0) {
        r2 = evp__dedup_check(b->dd, scope, id, idlen, br->received_at_us);
      } else {
        b->pev[k] = (struct evp__part_event){NULL, 0, 0, 0};
        continue;
      }
      if (r2 < 0) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory");
      /* An unescaped id points into the event, in the arena; an escaped one
       * into the row builder, which the next call reuses: only its presence
       * is kept, and the fill falls back when it meets it (same_id). */
      uintptr_t a = (uintptr_t)id, lo = (uintptr_t)ev;
      int in_ev = a >= lo && a + idlen <= lo + len;
      b->pev[k] =
          (struct evp__part_event){in_ev ? id : NULL, (uint32_t)idlen, 1, (uint8_t)(r2 == 1)};
    }
  }
  return EVP_OK;
}

evp_err_t evp__batcher_write_parts(evp__batcher_t *b, const size_t *idx, size_t n, const char *dir,
                                   evp__flush_tally_t *t, int *fallback, char *errstr,
                                   size_t errstr_size) {
  *fallback = 1;
  int64_t started_us = evp__mono_us();
  size_t nev = 0, nrec = 0;
  for (size_t r = 0; r < n; r++) {
    nev += b->buf[idx[r]].nevents;
    nrec += b->buf[idx[r]].nevents > 0;
  }
  size_t np = b->nparts;
  if (np > nrec) np = nrec;
  if (b->part_min_events && np > nev / b->part_min_events) np = nev / b->part_min_events;
  if (np < 2) return EVP_OK;
  evp_err_t e = setup(b, errstr, errstr_size);
  if (e) return e;
  uint64_t mark = b->dd ? evp__dedup_mark(b->dd) : 0;
  if (b->dd && (e = dedup_pass(b, idx, n, nev, errstr, errstr_size))) goto undo;
  /* Contiguous runs of records with about nev / np events each. */
  size_t r = 0, k = 0;
  for (size_t i = 0; i < np; i++) {
    struct evp__batcher_part *p = &b->parts[i];
    p->idx = idx + r;
    p->ev0 = k;
    p->dir = dir;
    p->rows = p->dups = p->bad = p->size = 0;
    p->differs = p->skip = p->open = 0;
    p->e = EVP_OK;
    p->err[0] = '\0';
    size_t want = nev * (i + 1) / np;
    uint64_t first = UINT64_MAX, last = 0;
    size_t r0 = r;
    while (r < n && (i + 1 == np || k < want)) {
      const evp__buffered_record_t *br = &b->buf[idx[r++]];
      k += br->nevents;
      if (br->nevents == 0) continue;
      if (first == UINT64_MAX) first = br->offset;
      last = br->offset;
    }
    p->n = r - r0;
    struct stat st;
    snprintf(p->name, sizeof p->name, EVP__PART_FMT, (unsigned long long)first,
             (unsigned long long)last);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, p->name);
    /* No events, or committed by an earlier attempt (its ids were just
     * learnt by the dedup pass). */
    p->skip = first == UINT64_MAX || stat(path, &st) == 0;
  }
  if ((e = evp__mkdirs(dir, errstr, errstr_size))) goto undo;
  run_all(b, np, PART_FILL);
  int back = 0;
  for (size_t i = 0; i < np; i++) {
    const struct evp__batcher_part *p = &b->parts[i];
    if (p->e && !e) e = evp__seterr(errstr, errstr_size, p->e, "%s", p->err);
    back |= p->bad > 0 || p->differs;
  }
  if (e || back) {
    run_all(b, np, PART_DISCARD);
    if (e) goto undo;
    if (b->dd) evp__dedup_rollback(b->dd, mark);
    return EVP_OK; /* *fallback stays set */
  }
  run_all(b, np, PART_FINISH);
  *fallback = 0;
  for (size_t i = 0; i < np; i++) {
    const struct evp__batcher_part *p = &b->parts[i];
    if (p->e) {
      if (!e) e = evp__seterr(errstr, errstr_size, p->e, "%s", p->err);
      continue;
    }
    if (p->skip) continue;
    if (p->rows > 0)
      evp__batcher_tell_written(b, dir, p->name, b->buf[idx[0]].received_at_us, p->rows, p->size,
                                started_us);
    t->files += p->rows > 0;
    t->bytes += p->size;
    t->rows += p->rows;
    t->dups += p->dups;
  }
  if (!e) return EVP_OK;
  /* The parts that were committed stay: a retry skips them by name. */
undo:
  if (b->dd) evp__dedup_rollback(b->dd, mark);
  return e;
}
