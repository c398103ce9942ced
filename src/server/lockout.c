/* Per client id lockout of POST /token (docs/security.md "Tokens").
 *
 * The per-address rate limit alone lets many addresses guess one client's
 * secret at full speed. Here every client id counts its failed
 * authentications: max_failures within window_s lock the id for lock_s,
 * doubled for each further lockout (up to lock_max_s); the doubling decays
 * once the id has been quiet for lock_max_s. A success clears the failure
 * count but not a running lock or its level, so a legitimate client that
 * keeps authenticating does not hand an attacker fresh short lockouts.
 *
 * The price of any per-id lockout is that whoever knows an id (ids are not
 * secrets) can keep it locked. To keep that from locking out the real
 * client, the last addresses an id authenticated from stay exempt from its
 * lock (they are still checked and still count failures, and a failure
 * from one ends its exemption). A client that moves to a new address
 * during an attack waits for the lock like anyone else.
 *
 * The table is bounded: ids the client store knows may evict entries of
 * unknown ids, unknown ids take only free or stale slots and otherwise share
 * one overflow entry (they can never authenticate, so locking them together
 * costs nothing), and guesses at random ids cannot push a known id out. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/base.h"
#include "server/server.h"

#define SLOTS 16384 /* power of two, > EVP__CLIENTS_MAX: room for every known id */
#define PROBE 64
#define GOOD_ADDRS 2
#define ADDR_MAX 48    /* an IPv6 address in text is at most 45 */
#define LOG_RATE 5.0   /* failure log lines per second, all ids together ... */
#define LOG_BURST 20.0 /* ... and in a burst */

typedef struct {
  char id[EVP__CLIENT_ID_MAX + 1];
  int used, known, failures, level;
  double window_start, locked_until, last;
  char good[GOOD_ADDRS][ADDR_MAX]; /* addresses it authenticated from, newest first */
} entry_t;

struct evp__lockout {
  pthread_mutex_t mu;
  evp__lockout_opts_t o;
  entry_t e[SLOTS];
  entry_t overflow;
  double log_tokens, log_last;
  unsigned long suppressed;
};

static double mono_clock(void *opaque) {
  (void)opaque;
  return evp__mono_s();
}

void evp__lockout_opts_default(evp__lockout_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->max_failures = 10;
  o->window_s = 60;
  o->lock_s = 30;
  o->lock_max_s = 900;
}

evp__lockout_t *evp__lockout_new(const evp__lockout_opts_t *o) {
  if (!o || o->max_failures < 1 || !(o->window_s > 0) || !(o->lock_s >= 1) ||
      !(o->lock_max_s >= o->lock_s))
    return NULL;
  evp__lockout_t *lk = calloc(1, sizeof *lk);
  if (!lk) return NULL;
  if (pthread_mutex_init(&lk->mu, NULL) != 0) {
    free(lk);
    return NULL;
  }
  lk->o = *o;
  if (!lk->o.clock) lk->o.clock = mono_clock;
  lk->log_tokens = LOG_BURST;
  lk->log_last = lk->o.clock(lk->o.clock_opaque);
  return lk;
}

void evp__lockout_free(evp__lockout_t *lk) {
  if (!lk) return;
  pthread_mutex_destroy(&lk->mu);
  free(lk);
}

/* An entry that holds nothing worth keeping: no lock, no live failure
 * window, and a level that has decayed. */
static int stale(const evp__lockout_t *lk, const entry_t *e, double now) {
  return now >= e->locked_until && now - e->window_start > lk->o.window_s &&
         now - fmax(e->last, e->locked_until) > lk->o.lock_max_s;
}

static void claim(entry_t *e, const char *id, size_t n, int known) {
  memset(e, 0, sizeof *e);
  e->used = 1;
  e->known = known;
  memcpy(e->id, id, n + 1);
}

/* The entry of @p id; with @p create, make one (see the header comment for
 * who may take which slot). NULL: none and not created. */
static entry_t *find(evp__lockout_t *lk, const char *id, int known, int create, double now) {
  size_t n = strlen(id);
  if (n == 0 || n > EVP__CLIENT_ID_MAX)
    return known || !create ? NULL : &lk->overflow; /* no client has such an id */
  uint32_t h = evp__fnv1a(id, n);
  entry_t *free_slot = NULL, *unknown_slot = NULL;
  for (size_t p = 0; p < PROBE; p++) {
    entry_t *e = &lk->e[(h + p) & (SLOTS - 1)];
    if (!e->used) {
      if (!free_slot) free_slot = e;
      break; /* slots are never emptied again: the id is not further on */
    }
    if (strcmp(e->id, id) == 0) {
      e->known |= known; /* a client added since its first failure */
      return e;
    }
    /* A known id's entry (its good addresses) is never given to an unknown one. */
    if (!free_slot && (known || !e->known) && stale(lk, e, now)) free_slot = e;
    if (!unknown_slot && !e->known) unknown_slot = e;
  }
  if (!create) return known ? NULL : (free_slot ? NULL : &lk->overflow);
  entry_t *e = free_slot ? free_slot : known ? unknown_slot : NULL;
  if (!e) return known ? NULL : &lk->overflow;
  claim(e, id, n, known);
  return e;
}

static int is_good(const entry_t *e, const char *addr) {
  if (!addr || !addr[0]) return 0;
  for (int i = 0; i < GOOD_ADDRS; i++)
    if (e->good[i][0] && strcmp(e->good[i], addr) == 0) return 1;
  return 0;
}

int evp__lockout_check(evp__lockout_t *lk, const char *id, int known, const char *addr) {
  pthread_mutex_lock(&lk->mu);
  double now = lk->o.clock(lk->o.clock_opaque);
  entry_t *e = find(lk, id, known, 0, now);
  int wait = 0;
  if (e && now < e->locked_until && !is_good(e, addr)) {
    double s = ceil(e->locked_until - now);
    wait = s < 1 ? 1 : (int)s;
  }
  pthread_mutex_unlock(&lk->mu);
  return wait;
}

int evp__lockout_failed(evp__lockout_t *lk, const char *id, int known, const char *addr) {
  pthread_mutex_lock(&lk->mu);
  double now = lk->o.clock(lk->o.clock_opaque);
  entry_t *e = find(lk, id, known, 1, now);
  int failures = 0, locked_s = 0;
  if (e) {
    if (now - e->window_start > lk->o.window_s) {
      e->window_start = now;
      e->failures = 0;
    }
    if (now - fmax(e->last, e->locked_until) > lk->o.lock_max_s)
      e->level = 0; /* quiet long enough: lockouts start short again */
    e->last = now;
    failures = ++e->failures;
    for (int i = 0; i < GOOD_ADDRS; i++) /* a failure ends an address's exemption */
      if (addr && e->good[i][0] && strcmp(e->good[i], addr) == 0) e->good[i][0] = '\0';
    if (e->failures >= lk->o.max_failures && now >= e->locked_until) {
      double s = fmin(lk->o.lock_max_s, lk->o.lock_s * ldexp(1.0, e->level < 30 ? e->level : 30));
      e->locked_until = now + s;
      e->level++;
      e->failures = 0;
      e->window_start = now;
      locked_s = (int)ceil(s);
    }
  }
  /* Log lines: one budget for all ids, so a flood of guesses costs a few
   * lines a second; what is skipped is counted in the next line. */
  lk->log_tokens = fmin(LOG_BURST, lk->log_tokens + (now - lk->log_last) * LOG_RATE);
  lk->log_last = now;
  int log = lk->log_tokens >= 1.0;
  unsigned long suppressed = 0;
  if (log) {
    lk->log_tokens -= 1.0;
    suppressed = lk->suppressed;
    lk->suppressed = 0;
  } else {
    lk->suppressed++;
  }
  pthread_mutex_unlock(&lk->mu);
  if (log && lk->o.log) lk->o.log(lk->o.log_opaque, id, failures, locked_s, suppressed);
  return locked_s;
}

void evp__lockout_succeeded(evp__lockout_t *lk, const char *id, const char *addr) {
  pthread_mutex_lock(&lk->mu);
  double now = lk->o.clock(lk->o.clock_opaque);
  entry_t *e = find(lk, id, 1, addr && addr[0] && strlen(addr) < ADDR_MAX, now);
  if (e) {
    e->failures = 0;
    e->last = now;
    if (addr && addr[0] && strlen(addr) < ADDR_MAX && strcmp(e->good[0], addr) != 0) {
      memmove(e->good[1], e->good[0], ADDR_MAX);
      memcpy(e->good[0], addr, strlen(addr) + 1);
    }
  }
  pthread_mutex_unlock(&lk->mu);
}
