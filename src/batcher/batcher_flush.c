/* Buffer -> lake files -> checkpoint.
 *
 * Buffered records are grouped by the hour of their received_at; each group
 * becomes one file dt=YYYY-MM-DD/hour=HH/part-<first>-<last>.parquet, named
 * by the log offsets of its first and last record. The name is a function of
 * the log alone, so a retry after an error writes the same name (and skips a
 * file that already exists), and after a crash between a file's commit and
 * the checkpoint the records a file already holds are recognised from its
 * name and skipped: a replay neither loses nor duplicates rows. Only after
 * every group is committed does the checkpoint move. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
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

typedef struct {
  int64_t hour;
  uint64_t offset;
  size_t i;
} group_key_t;

static int cmp_key(const void *a, const void *b) {
  const group_key_t *x = a, *y = b;
  if (x->hour != y->hour) return x->hour < y->hour ? -1 : 1;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int parse_part(const char *name, uint64_t *first, uint64_t *last) {
  unsigned long long a, b;
  int n = 0;
  /* "part-" 20 digits "-" 20 digits ".parquet" */
  if (strlen(name) != 54 || sscanf(name, "part-%20llu-%20llu.parquet%n", &a, &b, &n) != 2 ||
      n != 54)
    return -1;
  *first = a;
  *last = b;
  return 0;
}

/* First visit of an hour's directory while replaying: note the files that
 * may hold records after the checkpoint, and delete temporaries a crash left. */
static evp_err_t scan_hour(evp__batcher_t *b, int64_t hour, const char *dir, char *errstr,
                           size_t errstr_size) {
  for (size_t i = 0; i < b->nscanned; i++)
    if (b->scanned[i] == hour) return EVP_OK;
  if (b->nscanned == b->capscanned) {
    size_t cap = b->capscanned ? b->capscanned * 2 : 8;
    int64_t *s = realloc(b->scanned, cap * sizeof *s);
    if (!s) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory");
    b->scanned = s;
    b->capscanned = cap;
  }
  DIR *d = opendir(dir);
  if (!d) {
    int en = errno;
    if (en == ENOENT) {
      b->scanned[b->nscanned++] = hour;
      return EVP_OK;
    }
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "batcher: read directory %s: %s", dir,
                       strerror(en));
  }
  evp_err_t e = EVP_OK;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    uint64_t first, last;
    const char *n = de->d_name;
    size_t nl = strlen(n);
    if (n[0] == '.' && nl > 5 && strcmp(n + nl - 4, ".tmp") == 0 && strncmp(n, ".part-", 6) == 0) {
      char p[4096];
      if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, n) < sizeof p) unlink(p);
      continue;
    }
    if (parse_part(n, &first, &last) != 0 || last < b->start_ckpt) continue;
    if (b->ncov == b->capcov) {
      size_t cap = b->capcov ? b->capcov * 2 : 8;
      evp__existing_file_t *c = realloc(b->cov, cap * sizeof *c);
      if (!c) {
        e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory");
        break;
      }
      b->cov = c;
      b->capcov = cap;
    }
    b->cov[b->ncov++] = (evp__existing_file_t){hour, first, last};
  }
  closedir(d);
  if (!e) b->scanned[b->nscanned++] = hour;
  return e;
}

static int covered(const evp__batcher_t *b, int64_t hour, uint64_t off) {
  for (size_t i = 0; i < b->ncov; i++)
    if (b->cov[i].hour == hour && b->cov[i].first <= off && off <= b->cov[i].last) return 1;
  return 0;
}

typedef evp__flush_tally_t tally_t;
typedef evp__id_ahead_t ahead_t;
#define PREFETCH_AHEAD EVP__ID_LOOK_AHEAD

/* A record already in a lake file is not written again, but the dedup set
 * must know its ids as if it had been. */
static evp_err_t learn_record(evp__batcher_t *b, const evp__buffered_record_t *br, char *errstr,
                              size_t errstr_size) {
  evp__wal_record_t rec;
  if (!b->dd || evp__wal_payload_decode(b->arena + br->poff, br->len, &rec) != 0) return EVP_OK;
  size_t cur = 0, len, idlen;
  const char *ev, *id;
  uint64_t scope = evp__dedup_scope(b->dd, rec.client_id, rec.client_id_len);
  while (evp__wal_record_next_event(&rec, &cur, &ev, &len))
    if (evp__row_builder_event_id(b->rb, ev, len, &id, &idlen) == 0 &&
        evp__dedup_check(b->dd, scope, id, idlen, br->received_at_us) < 0)
      return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory");
  return EVP_OK;
}

/* An event the lake cannot take: a line for the group's quarantine file,
 * and the reason as the batcher's last error. */
static evp_err_t refuse(evp__batcher_t *b, uint64_t offset, const evp__wal_record_t *rec,
                        const char *ev, size_t len, const char *why, char *errstr,
                        size_t errstr_size) {
  pthread_mutex_lock(&b->mu);
  snprintf(b->last_err, sizeof b->last_err,
           "batcher: event at log offset %llu refused, copied "
           "to the quarantine: %s",
           (unsigned long long)offset, why);
  pthread_mutex_unlock(&b->mu);
  return evp__batcher_refuse(b, offset, rec, ev, len, why, errstr, errstr_size);
}

/* Rows of the group's records into an open writer; the events that fit no
 * row into the group's quarantine lines. */
static evp_err_t fill(evp__batcher_t *b, evp__pq_writer_t *pw, const size_t *idx, size_t n,
                      int64_t hour, tally_t *t, char *errstr, size_t errstr_size) {
  for (size_t k = 0; k < n; k++) {
    const evp__buffered_record_t *br = &b->buf[idx[k]];
    evp__wal_record_t rec;
    evp_err_t de = evp__batcher_record(b, br, &rec, errstr, errstr_size);
    if (de) return de;
    size_t cur = 0, len;
    const char *ev;
    /* In log order with the others: a covered record's copy of an id first
     * seen in an earlier record that is not in a file (parts of a group
     * commit in any order) must not make that first copy a duplicate. */
    if (b->replay_end > br->offset && covered(b, hour, br->offset)) {
      evp_err_t le = learn_record(b, br, errstr, errstr_size);
      if (le) return le;
      continue;
    }
    if (!evp__utf8_valid(rec.client_id, rec.client_id_len)) {
      /* Cannot come from a verified token: quarantined, not retried. */
      char why[96];
      snprintf(why, sizeof why, "batcher: record %llu: client id is not UTF-8",
               (unsigned long long)br->offset);
      for (; evp__wal_record_next_event(&rec, &cur, &ev, &len); t->bad++) {
        evp_err_t qe = refuse(b, br->offset, &rec, ev, len, why, errstr, errstr_size);
        if (qe) return qe;
      }
      continue;
    }
    /* Dedup probes miss the cache: start each one a few events ahead. */
    ahead_t ring[PREFETCH_AHEAD + 1];
    size_t pcur = 0, plen, nth = 0, nahead = 0;
    const char *pev;
    uint64_t scope = b->dd ? evp__dedup_scope(b->dd, rec.client_id, rec.client_id_len) : 0;
    while (b->dd && nahead < PREFETCH_AHEAD && evp__wal_record_next_event(&rec, &pcur, &pev, &plen))
      evp__batcher_look_ahead(b->dd, scope, pev, plen, &ring[nahead++ % (PREFETCH_AHEAD + 1)]);
    for (; evp__wal_record_next_event(&rec, &cur, &ev, &len); nth++) {
      if (b->dd && evp__wal_record_next_event(&rec, &pcur, &pev, &plen))
        evp__batcher_look_ahead(b->dd, scope, pev, plen, &ring[nahead++ % (PREFETCH_AHEAD + 1)]);
      const ahead_t *mine = b->dd ? &ring[nth % (PREFETCH_AHEAD + 1)] : NULL;
      const evp__pq_value_t *row;
      const char *id;
      size_t idlen;
      char why[256];
      if (evp__row_builder_build_sent(b->rb, ev, len, br->received_at_us, rec.sent_at_us,
                                      rec.client_id, rec.client_id_len, &row, &id, &idlen, why,
                                      sizeof why) != EVP_OK) {
        /* Events were validated before they were logged; one that still
         * fits no row (logged by an older server, or the schema changed)
         * is quarantined, not retried forever. */
        evp_err_t qe = refuse(b, br->offset, &rec, ev, len, why, errstr, errstr_size);
        if (qe) return qe;
        t->bad++;
        continue;
      }
      uint64_t mark = 0;
      if (b->dd && id) {
        mark = evp__dedup_mark(b->dd);
        /* The key computed ahead is for the same id when the row builder
         * found the id at the same place (the first member, unescaped). */
        int r = mine->id == id && mine->len == idlen
                    ? evp__dedup_check_key(b->dd, &mine->key, br->received_at_us)
                    : evp__dedup_check(b->dd, scope, id, idlen, br->received_at_us);
        if (r < 0) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory");
        if (r == 1) {
          t->dups++;
          continue;
        }
      }
      evp_err_t e = evp__pq_writer_append(pw, row, why, sizeof why);
      if (e == EVP_ERR_INVALID_ARG || e == EVP_ERR_TOO_LARGE) {
        if (b->dd && id) evp__dedup_rollback(b->dd, mark); /* not written: not seen */
        evp_err_t qe = refuse(b, br->offset, &rec, ev, len, why, errstr, errstr_size);
        if (qe) return qe;
        t->bad++;
        continue;
      }
      if (e) return evp__seterr(errstr, errstr_size, e, "%s", why);
      t->rows++;
    }
  }
  return EVP_OK;
}

/* All of a group's records are in files already: learn their ids. */
static evp_err_t learn_covered(evp__batcher_t *b, const size_t *idx, size_t n, int64_t hour,
                               char *errstr, size_t errstr_size) {
  for (size_t k = 0; k < n && b->dd; k++) {
    const evp__buffered_record_t *br = &b->buf[idx[k]];
    evp_err_t e;
    if (b->replay_end > br->offset && covered(b, hour, br->offset) &&
        (e = learn_record(b, br, errstr, errstr_size)))
      return e;
  }
  return EVP_OK;
}

static evp_err_t write_group_fenced(evp__batcher_t *b, const size_t *idx, size_t n, tally_t *t,
                                    char *errstr, size_t errstr_size) {
  int64_t started_us = evp__mono_us();
  int64_t hour = evp__batcher_hour_of(b->buf[idx[0]].received_at_us);
  char dir[4096];
  evp_err_t e = evp__lake_partition_dir(dir, sizeof dir, b->lake_dir, EVP__LAKE_TABLE,
                                        b->buf[idx[0]].received_at_us, errstr, errstr_size);
  if (e) return e;
  if (b->replay_end > b->buf[idx[0]].offset && (e = scan_hour(b, hour, dir, errstr, errstr_size)))
    return e;
  int any_covered = 0;
  for (size_t k = 0; k < n && b->ncov && !any_covered; k++)
    any_covered = b->replay_end > b->buf[idx[k]].offset && covered(b, hour, b->buf[idx[k]].offset);
  if (b->nparts > 1 && !any_covered) {
    /* No record already in a file (a replay after a crash may find some):
     * several files at once (batcher_parts.c). */
    int fallback;
    e = evp__batcher_write_parts(b, idx, n, dir, t, &fallback, errstr, errstr_size);
    if (e || !fallback) return e;
  }
  uint64_t first = UINT64_MAX, last = 0;
  for (size_t k = 0; k < n; k++) {
    const evp__buffered_record_t *br = &b->buf[idx[k]];
    if (br->nevents == 0 || (b->replay_end > br->offset && covered(b, hour, br->offset))) continue;
    if (first == UINT64_MAX) first = br->offset;
    last = br->offset;
  }
  uint64_t mark = b->dd ? evp__dedup_mark(b->dd) : 0;
  if (first == UINT64_MAX) /* all in files already, or no events */
    return b->ncov ? learn_covered(b, idx, n, hour, errstr, errstr_size) : EVP_OK;
  char name[64];
  snprintf(name, sizeof name, EVP__PART_FMT, (unsigned long long)first, (unsigned long long)last);
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  struct stat st;
  if (stat(path, &st) == 0) return EVP_OK; /* committed by an earlier attempt */
  if ((e = evp__mkdirs(dir, errstr, errstr_size))) goto undo;
  if ((e = evp__batcher_open_file(b->rb, &b->pw, b->lake_codec, dir, name, errstr, errstr_size)))
    goto undo;
  evp__pq_writer_t *pw = b->pw;
  tally_t g = {0};
  b->rq.len = b->rqevents = 0; /* lines of an earlier, failed attempt */
  e = fill(b, pw, idx, n, hour, &g, errstr, errstr_size);
  /* The refused events are safe before the file that passes them is. */
  if (!e) e = evp__batcher_refused_write(b, first, last, errstr, errstr_size);
  uint64_t size = 0;
  if (!e && g.rows == 0) {
    evp__pq_writer_discard(pw); /* every event was a duplicate or bad: no empty file */
  } else if (!e) {
    e = evp__pq_writer_finish(pw, &size, errstr, errstr_size);
    g.files = 1;
    g.bytes = size;
  } else {
    evp__pq_writer_discard(pw);
  }
  if (e) goto undo;
  if (g.files)
    evp__batcher_tell_written(b, dir, name, b->buf[idx[0]].received_at_us, g.rows, g.bytes,
                              started_us);
  t->files += g.files;
  t->bytes += g.bytes;
  t->rows += g.rows;
  t->dups += g.dups;
  t->bad += g.bad;
  return EVP_OK;
undo:
  if (b->dd) evp__dedup_rollback(b->dd, mark);
  return e;
}

/* One hour's group, with the compaction thread kept out of that hour
 * meanwhile (batcher_compact.c). */
static evp_err_t write_group(evp__batcher_t *b, const size_t *idx, size_t n, tally_t *t,
                             char *errstr, size_t errstr_size) {
  evp__batcher_write_enter(b, evp__batcher_hour_of(b->buf[idx[0]].received_at_us));
  evp_err_t e = write_group_fenced(b, idx, n, t, errstr, errstr_size);
  evp__batcher_write_leave(b);
  return e;
}

evp_err_t evp__batcher_flush_buffer(evp__batcher_t *b, char *errstr, size_t errstr_size) {
  if (b->nbuf == 0) return EVP_OK;
  group_key_t *keys = malloc(b->nbuf * sizeof *keys);
  size_t *idx = malloc(b->nbuf * sizeof *idx);
  if (!keys || !idx) {
    free(keys);
    free(idx);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory");
  }
  for (size_t i = 0; i < b->nbuf; i++)
    keys[i] = (group_key_t){evp__batcher_hour_of(b->buf[i].received_at_us), b->buf[i].offset, i};
  qsort(keys, b->nbuf, sizeof *keys, cmp_key);
  for (size_t i = 0; i < b->nbuf; i++) idx[i] = keys[i].i;
  tally_t t = {0};
  /* The log must be durable before any file covers its records: after a
   * power loss it would otherwise restart below a file's offsets, and new
   * records could be taken for that file's (same cost: the commit below
   * would sync this far anyway). */
  evp_err_t e = evp__wal_sync(b->w, b->buf[b->nbuf - 1].end, errstr, errstr_size);
  for (size_t gs = 0; gs < b->nbuf && !e;) {
    size_t ge = gs + 1;
    while (ge < b->nbuf && keys[ge].hour == keys[gs].hour) ge++;
    e = write_group(b, idx + gs, ge - gs, &t, errstr, errstr_size);
    gs = ge;
  }
  free(keys);
  free(idx);
  uint64_t end = b->buf[b->nbuf - 1].end;
  if (!e) e = evp__wal_commit(b->w, end, b->buf_events, errstr, errstr_size);
  pthread_mutex_lock(&b->mu);
  /* Groups committed before a failure count now: a retry skips their files. */
  b->st.files += t.files;
  b->st.bytes += t.bytes;
  b->st.rows += t.rows;
  b->st.duplicates += t.dups;
  b->st.bad_events += t.bad;
  b->st.errors += t.bad;
  if (!e) {
    b->committed = end;
    b->st.oldest_unwritten_us = 0; /* the buffer is empty now */
  }
  pthread_mutex_unlock(&b->mu);
  b->refused_untold += t.bad; /* in quarantine files: told by the batcher thread */
  if (e) return e;
  b->arena_len = 0; /* kept for the next buffer */
  b->nbuf = 0;
  b->buf_bytes = 0;
  b->buf_events = 0;
  if (end >= b->replay_end && b->ncov) {
    /* Past the replayed region: no file beyond the checkpoint is left. */
    free(b->cov);
    b->cov = NULL;
    b->ncov = b->capcov = 0;
  }
  return EVP_OK;
}
