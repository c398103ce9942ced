/* The durable log: append with group commit, the interval syncer, the
 * checkpoint and segment deletion. Recovery is in wal_recover.c, reading in
 * wal_reader.c, the byte format in wal_format.c.
 *
 * Appends encode their record outside the lock, then write it under the lock
 * (a page-cache copy, fast) so records never interleave. With
 * EVP__FSYNC_ALWAYS the appender then needs the log durable up to its
 * record's end: the first waiter becomes the leader and runs one fdatasync
 * covering everything written so far, unlocked; appenders that arrive
 * meanwhile wait on the condition variable and are either covered by that
 * sync or lead the next one. One fsync thus acknowledges every record written
 * before it started, so throughput grows with the number of appenders. */
#define _DEFAULT_SOURCE /* flock */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "base/base.h"
#include "wal/wal.h"
#include "wal/wal_read.h"
#include "wal/wal_int.h"

/* Caller holds w->mu. Make the log durable up to @p target. */
static evp_err_t sync_to_locked(evp__wal_t *w, uint64_t target) {
  while (w->durable < target && !w->failed) {
    if (w->syncing) {
      pthread_cond_wait(&w->sync_cv, &w->mu);
      continue;
    }
    w->syncing = 1;
    uint64_t upto = w->end;
    int fd = w->fd; /* stays open: rolling waits for !syncing */
    /* Mapped: sync only the pages written since the last sync. fdatasync
     * would also write back (and write-protect, so the next append faults
     * again) the pages populated ahead of the appends. */
    unsigned char *from = NULL;
    size_t len = 0;
    if (w->map) {
      uint64_t base = w->segs[w->nsegs - 1].base;
      uint64_t start = w->durable > base ? w->durable - base : 0;
      start &= ~(uint64_t)4095;
      from = w->map + start;
      len = (size_t)(upto - base - start);
    }
    pthread_mutex_unlock(&w->mu);
    int r = from ? msync(from, len, MS_SYNC) : fdatasync(fd);
    int en = errno;
    pthread_mutex_lock(&w->mu);
    w->syncing = 0;
    if (r != 0) {
      /* After a failed fsync the kernel may have dropped the dirty pages:
       * retrying could report success for data that is gone (Linux). */
      w->failed = EVP_ERR_IO;
      snprintf(w->failmsg, sizeof w->failmsg, "wal: %s: %s", from ? "msync" : "fdatasync",
               strerror(en));
    } else {
      if (upto > w->durable) w->durable = upto;
      w->st.fsyncs++;
    }
    pthread_cond_broadcast(&w->sync_cv);
  }
  return w->durable >= target ? EVP_OK : w->failed;
}

/* Caller holds w->mu. Start a new segment at w->end. */
static evp_err_t roll_locked(evp__wal_t *w, size_t need, char *errstr, size_t errstr_size) {
  while (w->syncing) pthread_cond_wait(&w->sync_cv, &w->mu);
  if (w->policy != EVP__FSYNC_NEVER && w->durable < w->end) {
    /* The new segment's records must not become durable before older ones. */
    if (fdatasync(w->fd) != 0) {
      int en = errno;
      w->failed = EVP_ERR_IO;
      snprintf(w->failmsg, sizeof w->failmsg, "wal: fdatasync: %s", strerror(en));
      return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "%s", w->failmsg);
    }
    w->durable = w->end;
    w->st.fsyncs++;
  }
  int fd;
  evp_err_t e = evp__wal_new_segment(w, &fd, errstr, errstr_size);
  if (e) return e;
  if (w->mapped) {
    /* Neither the prefaulter nor a sync may be using the old map (each wait
     * releases the lock, so the other may start meanwhile). */
    while (w->prefaulting || w->syncing)
      pthread_cond_wait(w->prefaulting ? &w->reap_cv : &w->sync_cv, &w->mu);
    /* Map the new segment before giving up the old one: when the disk is
     * full the log stays as it was and a later append retries the roll. */
    unsigned char *old_map = w->map;
    size_t old_len = w->map_len;
    w->map = NULL;
    if ((e = evp__wal_map_active(w, fd, 0, need, errstr, errstr_size))) {
      w->map = old_map;
      w->map_len = old_len;
      close(fd);
      w->nsegs--;
      evp__wal_unlink_seg(w, w->end);
      return e;
    }
    unsigned char *new_map = w->map;
    size_t new_len = w->map_len;
    w->map = old_map;
    w->map_len = old_len;
    evp__wal_unmap_active(w, w->fd, w->segs[w->nsegs - 2].size);
    w->map = new_map;
    w->map_len = new_len;
  }
  close(w->fd);
  w->fd = fd;
  return EVP_OK;
}

/* Append the encoded record @p rec (@p size bytes holding @p n events). */
static evp_err_t put(evp__wal_t *w, const unsigned char *rec, size_t size, size_t n, int sync,
                     uint64_t *off_out, uint64_t *end_out, char *errstr, size_t errstr_size) {
  evp_err_t e = EVP_OK;
  pthread_mutex_lock(&w->mu);
  if (w->failed) {
    e = evp__seterr(errstr, errstr_size, w->failed, "%s (the log refuses appends until reopened)",
                    w->failmsg);
    goto out;
  }
  if (w->closing) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_STATE, "wal: closing");
    goto out;
  }
  evp__wal_seg_t *seg = &w->segs[w->nsegs - 1];
  if (seg->size > 0 && seg->size + size > (w->mapped ? w->map_len : w->segment_bytes)) {
    if ((e = roll_locked(w, size, errstr, errstr_size))) goto out;
    seg = &w->segs[w->nsegs - 1];
  }
  if (w->mapped) {
    memcpy(w->map + seg->size, rec, size); /* into the page cache: no system call */
  } else if (evp__wal_pwrite_full(w->fd, rec, size, seg->size) != 0) {
    int en = errno;
    /* Cut the partial record so the next append does not follow garbage. */
    if (ftruncate(w->fd, (off_t)seg->size) != 0) {
      w->failed = EVP_ERR_IO;
      snprintf(w->failmsg, sizeof w->failmsg,
               "wal: write failed (%s) and the torn record "
               "could not be cut: %s",
               strerror(en), strerror(errno));
    }
    e = evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: write %s/" EVP__WAL_SEG_FMT ": %s",
                    w->dir, (unsigned long long)seg->base, strerror(en));
    goto out;
  }
  if (off_out) *off_out = w->end;
  seg->size += size;
  if (w->mapped) evp__wal_prefault_check(w, seg->size);
  w->end += size;
  w->pending += n;
  w->st.records++;
  uint64_t my_end = w->end;
  if (end_out) *end_out = my_end;
  pthread_cond_broadcast(&w->data_cv);
  if (w->ticker_idle) pthread_cond_signal(&w->tick_cv);
  if (sync && w->policy == EVP__FSYNC_ALWAYS && (e = sync_to_locked(w, my_end)))
    evp__seterr(errstr, errstr_size, e, "%s", w->failmsg);
out:
  pthread_mutex_unlock(&w->mu);
  return e;
}

/* Append one record; with @p sync, wait for the disk as the policy says. */
static evp_err_t append(evp__wal_t *w, const char *client_id, int64_t received_at_us,
                        int64_t sent_at_us, const char *const *events, const size_t *lens, size_t n,
                        int sync, uint64_t *off_out, uint64_t *end_out, char *errstr,
                        size_t errstr_size) {
  if (!w || !client_id || (n && (!events || !lens)))
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "wal: NULL argument");
  for (size_t i = 0; i < n; i++)
    if (!events[i] && lens[i])
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "wal: event %zu is NULL", i);
  /* Years 0000-9999: what the lake's dt= partitions can name. A record the
   * batcher could not place would block the log behind it. */
  if (received_at_us < INT64_C(-62167219200000000) || received_at_us > INT64_C(253402300799999999))
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "wal: received_at %lld us is outside the years 0000-9999",
                       (long long)received_at_us);
  size_t cl = strlen(client_id);
  if (cl > EVP__WAL_MAX_CLIENT_ID)
    return evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE,
                       "wal: client_id is %zu bytes (limit %u)", cl, EVP__WAL_MAX_CLIENT_ID);
  size_t size = evp__wal_record_size_sent(cl, sent_at_us, lens, n);
  if (size == 0 || size - EVP__WAL_HDR > w->max_record || (w->mapped && size > w->segment_bytes))
    return evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE,
                       "wal: record of %zu events is larger than max_record_bytes (%zu)", n,
                       w->mapped && w->segment_bytes < w->max_record ? w->segment_bytes
                                                                     : w->max_record);
  /* Encoded (CRC and all) before the lock: under it only the copy. */
  unsigned char stackbuf[2048];
  unsigned char *rec = size <= sizeof stackbuf ? stackbuf : malloc(size);
  if (!rec) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "wal: out of memory");
  evp__wal_record_encode_sent(rec, client_id, cl, received_at_us, sent_at_us, events, lens, n);
  evp_err_t e = put(w, rec, size, n, sync, off_out, end_out, errstr, errstr_size);
  if (rec != stackbuf) free(rec);
  return e;
}

evp_err_t evp__wal_append(evp__wal_t *w, const char *client_id, int64_t received_at_us,
                          const char *const *events, const size_t *lens, size_t n, char *errstr,
                          size_t errstr_size) {
  return append(w, client_id, received_at_us, EVP__WAL_NO_SENT_AT, events, lens, n, 1, NULL, NULL,
                errstr, errstr_size);
}

evp_err_t evp__wal_append_sent(evp__wal_t *w, const char *client_id, int64_t received_at_us,
                               int64_t sent_at_us, const char *const *events, const size_t *lens,
                               size_t n, char *errstr, size_t errstr_size) {
  return append(w, client_id, received_at_us, sent_at_us, events, lens, n, 1, NULL, NULL, errstr,
                errstr_size);
}

evp_err_t evp__wal_append_encoded(evp__wal_t *w, const unsigned char *rec, size_t size,
                                  uint64_t *off, uint64_t *end, char *errstr, size_t errstr_size) {
  uint32_t len;
  evp__wal_record_t r;
  if (!w || !rec || size < EVP__WAL_HDR || evp__wal_header_check(rec, &len) != 0 ||
      len != size - EVP__WAL_HDR || evp__wal_payload_decode(rec + EVP__WAL_HDR, len, &r) != 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "wal: not an encoded record");
  if (len > w->max_record || (w->mapped && size > w->segment_bytes))
    return evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE,
                       "wal: record of %zu bytes is larger than max_record_bytes (%zu)", size,
                       w->mapped && w->segment_bytes < w->max_record ? w->segment_bytes
                                                                     : w->max_record);
  return put(w, rec, size, r.nevents, 0, off, end, errstr, errstr_size);
}

/* A CLOCK_MONOTONIC condition variable's deadline @p ms from now. */
static void deadline_in(struct timespec *ts, int ms) {
  *ts = evp__timespec_us(evp__mono_us() + (int64_t)ms * 1000);
}

static void *reaper_main(void *arg);
static void stop_threads(evp__wal_t *w);
static void lock_unregister(int fd);

/* EVP__FSYNC_INTERVAL: sync whatever was written, every interval_ms. */
static void *ticker_main(void *arg) {
  evp__wal_t *w = arg;
  pthread_mutex_lock(&w->mu);
  while (!w->closing) {
    /* Nothing written since the last sync: sleep until an append (no
     * wake-ups on an idle device). */
    if (w->durable >= w->end || w->failed) {
      w->ticker_idle = 1;
      pthread_cond_wait(&w->tick_cv, &w->mu);
      w->ticker_idle = 0;
      continue;
    }
    struct timespec ts;
    deadline_in(&ts, w->interval_ms);
    while (!w->closing && pthread_cond_timedwait(&w->tick_cv, &w->mu, &ts) != ETIMEDOUT) {}
    if (!w->failed) sync_to_locked(w, w->end);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

static evp_err_t init_sync(evp__wal_t *w) {
  pthread_condattr_t ca;
  if (pthread_condattr_init(&ca)) return EVP_ERR_NOMEM;
  int r = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int ok = 0;
  if (!r && !pthread_mutex_init(&w->mu, NULL)) {
    if (!pthread_mutex_init(&w->ckpt_mu, NULL)) {
      if (!pthread_cond_init(&w->sync_cv, &ca)) {
        if (!pthread_cond_init(&w->data_cv, &ca)) {
          if (!pthread_cond_init(&w->tick_cv, &ca)) {
            if (!pthread_cond_init(&w->reap_cv, &ca))
              ok = 1;
            else
              pthread_cond_destroy(&w->tick_cv);
          }
          if (!ok) pthread_cond_destroy(&w->data_cv);
        }
        if (!ok) pthread_cond_destroy(&w->sync_cv);
      }
      if (!ok) pthread_mutex_destroy(&w->ckpt_mu);
    }
    if (!ok) pthread_mutex_destroy(&w->mu);
  }
  pthread_condattr_destroy(&ca);
  return ok ? EVP_OK : EVP_ERR_NOMEM;
}

static void release(evp__wal_t *w, int sync_inited) {
  if (w->fd >= 0) {
    if (w->nsegs) evp__wal_unmap_active(w, w->fd, w->segs[w->nsegs - 1].size);
    close(w->fd);
  }
  if (w->lockfd >= 0) {
    if (w->lock_registered) lock_unregister(w->lockfd);
    close(w->lockfd);
  }
  if (w->dirfd >= 0) close(w->dirfd);
  if (sync_inited) {
    pthread_cond_destroy(&w->reap_cv);
    pthread_cond_destroy(&w->tick_cv);
    pthread_cond_destroy(&w->data_cv);
    pthread_cond_destroy(&w->sync_cv);
    pthread_mutex_destroy(&w->ckpt_mu);
    pthread_mutex_destroy(&w->mu);
  }
  free(w->segs);
  free(w->skips);
  free(w->dir);
  free(w);
}

/* Lock files of the logs open in this process. A forked child shares the
 * parent's open lock file, and with it the lock, for as long as it lives:
 * so the child closes its copy at once (the parent keeps the lock), or no
 * later process could open the log while such a child lives (a prefork
 * server, Python's multiprocessing). */
static pthread_mutex_t locks_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t locks_once = PTHREAD_ONCE_INIT;
static int *locks;
static size_t nlocks, locks_cap;

static void locks_prepare(void) { pthread_mutex_lock(&locks_mu); }
static void locks_parent(void) { pthread_mutex_unlock(&locks_mu); }
static void locks_child(void) {
  for (size_t i = 0; i < nlocks; i++) close(locks[i]);
  nlocks = 0;
  pthread_mutex_unlock(&locks_mu);
}
static void locks_install(void) { pthread_atfork(locks_prepare, locks_parent, locks_child); }

static int lock_register(int fd) {
  pthread_once(&locks_once, locks_install);
  pthread_mutex_lock(&locks_mu);
  int ok = 1;
  if (nlocks == locks_cap) {
    size_t cap = locks_cap ? locks_cap * 2 : 8;
    int *l = realloc(locks, cap * sizeof *l);
    if (l) {
      locks = l;
      locks_cap = cap;
    } else {
      ok = 0;
    }
  }
  if (ok) locks[nlocks++] = fd;
  pthread_mutex_unlock(&locks_mu);
  return ok;
}

static void lock_unregister(int fd) {
  pthread_mutex_lock(&locks_mu);
  for (size_t i = 0; i < nlocks; i++)
    if (locks[i] == fd) {
      locks[i] = locks[--nlocks];
      break;
    }
  pthread_mutex_unlock(&locks_mu);
}

static evp_err_t open_dir(evp__wal_t *w, const char *dir, char *errstr, size_t errstr_size) {
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    int en = errno;
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: mkdir %s: %s", dir, strerror(en));
  }
  w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (w->dirfd < 0) {
    int en = errno;
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: open directory %s: %s", dir,
                       strerror(en));
  }
  w->lockfd = openat(w->dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (w->lockfd < 0) {
    int en = errno;
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: create %s/LOCK: %s", dir,
                       strerror(en));
  }
  /* Two writers on one log would interleave records. flock locks belong to
   * the open file, so a second open in the same process is refused too. */
  if (flock(w->lockfd, LOCK_EX | LOCK_NB) != 0) {
    int en = errno;
    if (en == EWOULDBLOCK)
      return evp__seterr(errstr, errstr_size, EVP_ERR_STATE,
                         "wal: %s is in use by another process or handle", dir);
    return evp__seterr(errstr, errstr_size, EVP_ERR_IO, "wal: lock %s/LOCK: %s", dir, strerror(en));
  }
  if (!lock_register(w->lockfd))
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "wal: out of memory");
  w->lock_registered = 1;
  return EVP_OK;
}

evp_err_t evp__wal_open(const char *dir, const evp__wal_opts_t *opts, evp__wal_t **out,
                        char *errstr, size_t errstr_size) {
  if (out) *out = NULL;
  if (!dir || !*dir || !out)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "wal: NULL argument");
  evp__wal_opts_t o = {0};
  if (opts) o = *opts;
  if (o.fsync != EVP__FSYNC_ALWAYS && o.fsync != EVP__FSYNC_INTERVAL && o.fsync != EVP__FSYNC_NEVER)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "wal: unknown fsync policy %d",
                       (int)o.fsync);
  if (o.interval_ms < 0 || o.interval_ms > 3600 * 1000)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "wal: interval_ms %d outside 0..3600000", o.interval_ms);
  if (o.max_record_bytes > EVP__WAL_HARD_MAX_RECORD)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "wal: max_record_bytes %zu above %u", o.max_record_bytes,
                       EVP__WAL_HARD_MAX_RECORD);
  evp__wal_t *w = calloc(1, sizeof *w);
  if (!w) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "wal: out of memory");
  w->dirfd = w->lockfd = w->fd = -1;
  w->policy = o.fsync;
  w->interval_ms = o.interval_ms ? o.interval_ms : EVP__WAL_DEFAULT_INTERVAL_MS;
  w->segment_bytes = o.segment_bytes ? o.segment_bytes : EVP__WAL_DEFAULT_SEGMENT;
  w->max_record = o.max_record_bytes ? o.max_record_bytes : EVP__WAL_DEFAULT_MAX_RECORD;
  w->retain = o.retain_bytes ? o.retain_bytes : EVP__WAL_DEFAULT_RETAIN;
  w->quarantine_max = o.quarantine_bytes ? o.quarantine_bytes : EVP__WAL_DEFAULT_QUARANTINE;
  w->on_damage = o.on_damage;
  w->damage_arg = o.damage_arg;
  w->mapped = o.mapped != 0;
  w->dir = evp__strdup(dir);
  if (!w->dir || init_sync(w) != EVP_OK) { /* init_sync cleans up after itself */
    release(w, 0);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "wal: out of memory");
  }
  evp_err_t e = open_dir(w, dir, errstr, errstr_size);
  if (!e) e = evp__wal_recover(w, errstr, errstr_size);
  if (!e) {
    if (pthread_create(&w->reaper, NULL, reaper_main, w) != 0)
      e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "wal: cannot start the reaper thread");
    else
      w->has_reaper = 1;
  }
  if (!e && w->policy == EVP__FSYNC_INTERVAL) {
    if (pthread_create(&w->ticker, NULL, ticker_main, w) != 0)
      e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "wal: cannot start the fsync thread");
    else
      w->has_ticker = 1;
  }
  if (e) {
    stop_threads(w);
    release(w, 1);
    return e;
  }
  *out = w;
  return EVP_OK;
}

/* Stop the ticker and the reaper (which unlinks what it was given first). */
static void stop_threads(evp__wal_t *w) {
  pthread_mutex_lock(&w->mu);
  w->closing = 1;
  pthread_cond_broadcast(&w->tick_cv);
  pthread_cond_broadcast(&w->data_cv);
  pthread_cond_broadcast(&w->reap_cv);
  pthread_mutex_unlock(&w->mu);
  if (w->has_ticker) pthread_join(w->ticker, NULL);
  if (w->has_reaper) pthread_join(w->reaper, NULL);
  w->has_ticker = w->has_reaper = 0;
}

void evp__wal_close(evp__wal_t *w) {
  if (!w) return;
  stop_threads(w);
  pthread_mutex_lock(&w->mu);
  if (w->policy != EVP__FSYNC_NEVER && !w->failed) sync_to_locked(w, w->end);
  pthread_mutex_unlock(&w->mu);
  release(w, 1);
}

uint64_t evp__wal_pending_events(const evp__wal_t *w) {
  if (!w) return 0;
  evp__wal_t *m = (evp__wal_t *)w; /* the lock is not part of the value */
  pthread_mutex_lock(&m->mu);
  uint64_t v = m->pending;
  pthread_mutex_unlock(&m->mu);
  return v;
}

uint64_t evp__wal_checkpoint(const evp__wal_t *w) {
  evp__wal_t *m = (evp__wal_t *)w;
  pthread_mutex_lock(&m->mu);
  uint64_t v = m->checkpoint;
  pthread_mutex_unlock(&m->mu);
  return v;
}

uint64_t evp__wal_first_offset(const evp__wal_t *w) {
  evp__wal_t *m = (evp__wal_t *)w;
  pthread_mutex_lock(&m->mu);
  uint64_t v = m->nsegs ? m->segs[0].base : m->end;
  pthread_mutex_unlock(&m->mu);
  return v;
}

uint64_t evp__wal_end(const evp__wal_t *w) {
  evp__wal_t *m = (evp__wal_t *)w;
  pthread_mutex_lock(&m->mu);
  uint64_t v = m->end;
  pthread_mutex_unlock(&m->mu);
  return v;
}

void evp__wal_get_stats(const evp__wal_t *w, evp__wal_stats_t *out) {
  evp__wal_t *m = (evp__wal_t *)w;
  pthread_mutex_lock(&m->mu);
  *out = m->st;
  out->segments = m->nsegs;
  pthread_mutex_unlock(&m->mu);
}

uint64_t evp__wal_wake_gen(const evp__wal_t *w) {
  evp__wal_t *m = (evp__wal_t *)w;
  pthread_mutex_lock(&m->mu);
  uint64_t v = m->wake_gen;
  pthread_mutex_unlock(&m->mu);
  return v;
}

void evp__wal_wait(evp__wal_t *w, uint64_t pos, uint64_t gen, int timeout_ms) {
  struct timespec ts;
  deadline_in(&ts, timeout_ms > 0 ? timeout_ms : 0);
  pthread_mutex_lock(&w->mu);
  while (w->end <= pos && gen == w->wake_gen && !w->closing)
    if (pthread_cond_timedwait(&w->data_cv, &w->mu, &ts) == ETIMEDOUT) break;
  pthread_mutex_unlock(&w->mu);
}

void evp__wal_wake(evp__wal_t *w) {
  pthread_mutex_lock(&w->mu);
  w->wake_gen++;
  pthread_cond_broadcast(&w->data_cv);
  pthread_mutex_unlock(&w->mu);
}

/* Unlinking a segment frees its page cache and extents: milliseconds to
 * tens of ms for 64 MiB, which the batcher (the caller of evp__wal_commit)
 * spent blocked, ~7% of its time at full ingest rate. */
static void *reaper_main(void *arg) {
  evp__wal_t *w = arg;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    if (w->nreap) {
      uint64_t b[EVP__WAL_REAP_MAX];
      size_t n = w->nreap;
      memcpy(b, w->reap, n * sizeof *b);
      w->nreap = 0;
      w->reaping = 1;
      pthread_mutex_unlock(&w->mu);
      for (size_t i = 0; i < n; i++) evp__wal_unlink_seg(w, b[i]);
      pthread_mutex_lock(&w->mu);
      w->reaping = 0;
      pthread_cond_broadcast(&w->reap_cv); /* evp__wal_reap_wait */
      continue;
    }
    if (w->closing) break;
    if (w->prefault_want) {
      evp__wal_prefault_run(w); /* mapped mode: populate ahead of the appends */
      continue;
    }
    pthread_cond_wait(&w->reap_cv, &w->mu);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

evp_err_t evp__wal_commit(evp__wal_t *w, uint64_t offset, uint64_t nevents, char *errstr,
                          size_t errstr_size) {
  pthread_mutex_lock(&w->ckpt_mu);
  pthread_mutex_lock(&w->mu);
  evp_err_t e = EVP_OK;
  if (offset > w->end || offset < w->checkpoint)
    e = evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                    "wal: checkpoint %llu outside [%llu, %llu]", (unsigned long long)offset,
                    (unsigned long long)w->checkpoint, (unsigned long long)w->end);
  /* The checkpoint must never pass the durable log: after a power loss the
   * log would restart below it and new records would be skipped. */
  else if (w->policy != EVP__FSYNC_NEVER && (e = sync_to_locked(w, offset)))
    evp__seterr(errstr, errstr_size, e, "%s", w->failmsg);
  pthread_mutex_unlock(&w->mu);
  if (e) {
    pthread_mutex_unlock(&w->ckpt_mu);
    return e;
  }
  /* When the checkpoint file cannot be written (a full disk: it needs a
   * block for its temporary), the segments wholly before @p offset still
   * go: their records are stored already, and a log whose first segment
   * starts past its checkpoint reads from that segment on. Deleting them is
   * what frees the disk. */
  evp_err_t ce = evp__wal_ckpt_write(w->dirfd, w->dir, offset, errstr, errstr_size);
  /* Segments wholly before the checkpoint are only kept (oldest deleted
   * first) while they fit retain_bytes; the active one is always kept. */
  uint64_t dead[64];
  size_t ndead = 0;
  pthread_mutex_lock(&w->mu);
  if (!ce) {
    w->checkpoint = offset;
    w->pending -= nevents < w->pending ? nevents : w->pending;
  }
  uint64_t committed = 0;
  for (size_t i = 0; i + 1 < w->nsegs && w->segs[i].base + w->segs[i].size <= offset; i++)
    committed += w->segs[i].size;
  while (w->nsegs > 1 && ndead < 64 && w->segs[0].base + w->segs[0].size <= offset &&
         (committed > w->retain || w->segs[0].size == 0)) {
    committed -= w->segs[0].size;
    uint64_t base = w->segs[0].base;
    if (w->nreap < EVP__WAL_REAP_MAX)
      w->reap[w->nreap++] = base; /* the reaper's */
    else
      dead[ndead++] = base;
    memmove(w->segs, w->segs + 1, (w->nsegs - 1) * sizeof *w->segs);
    w->nsegs--;
  }
  if (w->nreap) pthread_cond_broadcast(&w->reap_cv); /* the reaper and any reap_wait */
  pthread_mutex_unlock(&w->mu);
  for (size_t i = 0; i < ndead; i++) evp__wal_unlink_seg(w, dead[i]);
  pthread_mutex_unlock(&w->ckpt_mu);
  return ce;
}

evp_err_t evp__wal_sync(evp__wal_t *w, uint64_t offset, char *errstr, size_t errstr_size) {
  if (w->policy == EVP__FSYNC_NEVER) return EVP_OK;
  pthread_mutex_lock(&w->mu);
  evp_err_t e = sync_to_locked(w, offset < w->end ? offset : w->end);
  if (e) evp__seterr(errstr, errstr_size, e, "%s", w->failmsg);
  pthread_mutex_unlock(&w->mu);
  return e;
}

void evp__wal_reap_wait(evp__wal_t *w) {
  pthread_mutex_lock(&w->mu);
  while (w->nreap || w->reaping) pthread_cond_wait(&w->reap_cv, &w->mu);
  pthread_mutex_unlock(&w->mu);
}
