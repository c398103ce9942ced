/* Dedup of event ids within a time window, in bounded memory.
 *
 * Ids are reduced to 128-bit hashes keyed with random seeds (a collision
 * would drop a genuine event, so 64 bits are too few at millions of ids and
 * the key stops anyone from crafting collisions offline). An id counts per
 * client: the keyed hash of the record's client_id (its scope, computed once
 * per record) seeds the hash of each of its ids, so one client cannot
 * suppress another's events. A UUID is hashed in its lower-case form (the
 * same UUID in another case is the same id); other ids, and client ids,
 * byte for byte. A FIFO ring keeps the entries in insertion order; the
 * open-addressing table (linear probing, backward-shift deletion) maps a
 * hash to its newest ring slot. Expiry and the size bound drop from the
 * ring's head; an undo pops from its tail. */
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "batcher/dedup.h"

typedef struct {
  uint64_t h1, h2;
  int64_t ts;
  int live; /* 0: superseded by a newer entry for the same id */
} ent_t;

struct evp__dedup {
  int64_t window_us;
  size_t max;
  ent_t *ring;
  size_t rcap, head, count; /* rcap is a power of two */
  uint64_t *tab;            /* (low 32 bits of h1) << 32 | ring slot + 1; 0 is empty.
                               Those bits are the entry's home slot (tcap <= 2^32), so
                               deletion never reads the ring, and the rest a tag that
                               spares most probes a cache miss on it. */
  size_t tcap;              /* power of two, >= 2 * rcap */
  uint64_t seed1, seed2;
  uint64_t seq; /* insertions ever: marks survive evictions */
};

static void *(*volatile const memset_v)(void *, int, size_t) = memset;

#define BYTES(x) ((x)*0x0101010101010101ULL)

#if defined(__SSE2__) && defined(__GNUC__) && !defined(EVP_NO_SIMD) /* -DEVPIPE_NO_SIMD=ON */
#include <emmintrin.h>
/* Per byte of @p v, 0xff where it lies in [lo, hi] (signed compares: a byte
 * at or above 0x80 is in no ASCII range). */
static __m128i in_range16(__m128i v, char lo, char hi) {
  return _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8((char)(lo - 1))),
                       _mm_cmpgt_epi8(_mm_set1_epi8((char)(hi + 1)), v));
}

/* Whether 16 bytes are hex digits (either case) except '-' exactly at the
 * bits of @p dashes. */
static int uuid_part16(const char *s, int dashes) {
  __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
  __m128i hex = _mm_or_si128(in_range16(v, '0', '9'),
                             in_range16(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 'f'));
  return _mm_movemask_epi8(hex) == (~dashes & 0xffff) &&
         _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('-'))) == dashes;
}

/* Whether s[0..36) is a UUID in canonical form: hex digits of either case,
 * '-' at 8, 13, 18 and 23. Bytes 0-15, 16-31 and 20-35. */
static int is_uuid36(const char *s) {
  return uuid_part16(s, 1 << 8 | 1 << 13) & uuid_part16(s + 16, 1 << 2 | 1 << 7) &
         uuid_part16(s + 20, 1 << 3);
}
#else
#define HIGH BYTES(0x80)

/* Per byte of @p x (each below 0x80), 0x80 where it lies in [lo, hi]. A
 * byte at or above 0x80 gives garbage (carries): callers reject those. */
static uint64_t in_range(uint64_t x, unsigned lo, unsigned hi) {
  return (x + BYTES(0x80 - lo)) & ~(x + BYTES(0x7f - hi)) & HIGH;
}

/* Whether s[0..36) is a UUID in canonical form: hex digits of either case,
 * '-' at 8, 13, 18 and 23. Five 8-byte words (the last overlaps the
 * fourth), checked against the same words of the pattern; no branch. */
static int is_uuid36(const char *s) {
  static const char pat[37] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
  uint64_t bad = 0;
  for (size_t at = 0; at <= 32; at += 8) {
    size_t i = at < 32 ? at : 28;
    uint64_t w, p;
    memcpy(&w, s + i, 8);
    memcpy(&p, pat + i, 8);
    uint64_t dash = in_range(p, '-', '-');
    uint64_t hex = in_range(w, '0', '9') | in_range(w | BYTES(0x20), 'a', 'f');
    bad |= (w & HIGH) | ((hex | dash) ^ HIGH) | ((in_range(w, '-', '-') ^ dash) & dash);
  }
  return bad == 0;
}
#endif

/* @p any_case: a UUID matches in any case (event ids; not client ids). */
static void hash128(const evp__dedup_t *d, uint64_t scope, const char *s, size_t n, int any_case,
                    uint64_t *h1, uint64_t *h2) {
  uint64_t a = d->seed1 ^ (n * 0x9e3779b97f4a7c15ULL) ^ scope, b = d->seed2 + n;
  if (n == 36 && any_case) {
    /* The usual id, a UUID, in any case: its lower-case form is hashed
     * (setting bit 0x20 of every byte leaves its digits and dashes alone);
     * any other 36 bytes also add the 0x20 bits they lacked, so they still
     * count byte for byte (two ids with the same lower-case form differ in
     * those bits). That last part comes after the chain of mixes, out of
     * its critical path. */
    uint64_t lacked = 0;
    for (int i = 0; i < 5; i++) {
      uint64_t w;
      memcpy(&w, s + (i < 4 ? 8 * i : 28), 8); /* the last word overlaps the fourth */
      uint64_t c = w | BYTES(0x20);
      a = evp__mix64(a ^ c) + 0x2545f4914f6cdd1dULL;
      b = evp__mix64(b + c) ^ 0x9fb21c651e98df25ULL;
      lacked |= (~w & BYTES(0x20)) >> i; /* bits 5..1 of each byte: one per word */
    }
    /* Nothing lacked (a lower-case UUID, what SDKs send): nothing to add,
     * and no need to know whether it is a UUID. */
    if (lacked && !is_uuid36(s)) a ^= lacked;
    n = 0;
  }
  while (n > 0) {
    uint64_t c = 0;
    size_t k = n < 8 ? n : 8;
    memcpy(&c, s, k);
    a = evp__mix64(a ^ c) + 0x2545f4914f6cdd1dULL;
    b = evp__mix64(b + c) ^ 0x9fb21c651e98df25ULL;
    s += k;
    n -= k;
  }
  *h1 = evp__mix64(a ^ (b >> 7));
  *h2 = evp__mix64(b ^ (a << 3));
}

evp__dedup_t *evp__dedup_new(int64_t window_us, size_t max_ids) {
  evp__dedup_t *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->window_us = window_us;
  d->max = max_ids ? max_ids : 1;
  if (evp__random(&d->seed1, sizeof d->seed1) != EVP_OK ||
      evp__random(&d->seed2, sizeof d->seed2) != EVP_OK) {
    free(d);
    return NULL;
  }
  return d;
}

void evp__dedup_free(evp__dedup_t *d) {
  if (!d) return;
  free(d->ring);
  free(d->tab);
  free(d);
}

size_t evp__dedup_size(const evp__dedup_t *d) { return d->count; }
uint64_t evp__dedup_mark(const evp__dedup_t *d) { return d->seq; }

static size_t slot_of(const evp__dedup_t *d, size_t i) { return (d->head + i) & (d->rcap - 1); }

/* Table slot holding ring slot @p r, or the empty slot where h1/h2 would go. */
#define SLOT(t) ((size_t)((t)&0xffffffffu) - 1)
#define TAG(h1) ((uint64_t)(uint32_t)(h1) << 32)
#define HOME(t, mask) ((size_t)((t) >> 32) & (mask))

static size_t find(const evp__dedup_t *d, uint64_t h1, uint64_t h2) {
  size_t mask = d->tcap - 1, i = (size_t)h1 & mask;
  uint64_t tag = TAG(h1);
  while (d->tab[i]) {
    if ((d->tab[i] & ~(uint64_t)0xffffffffu) == tag) {
      const ent_t *e = &d->ring[SLOT(d->tab[i])];
      if (e->h1 == h1 && e->h2 == h2) return i;
    }
    i = (i + 1) & mask;
  }
  return i;
}

static void tab_delete(evp__dedup_t *d, size_t i) {
  size_t mask = d->tcap - 1, j = i;
  d->tab[i] = 0;
  for (;;) {
    j = (j + 1) & mask;
    if (!d->tab[j]) return;
    size_t k = HOME(d->tab[j], mask);
    /* move j back to i unless its home lies cyclically in (i, j] */
    int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (!stays) {
      d->tab[i] = d->tab[j];
      d->tab[j] = 0;
      i = j;
    }
  }
}

static void forget(evp__dedup_t *d, size_t ring_slot) {
  ent_t *e = &d->ring[ring_slot];
  if (e->live) {
    size_t i = find(d, e->h1, e->h2);
    if (d->tab[i] && SLOT(d->tab[i]) == ring_slot) tab_delete(d, i);
  }
}

/* Re-lay the ring from slot 0 with capacity @p rcap and rebuild the table. */
static int rebuild(evp__dedup_t *d, size_t rcap, size_t tcap) {
  ent_t *ring = malloc(rcap * sizeof *ring);
  uint64_t *tab = malloc(tcap * sizeof *tab);
  if (!ring || !tab) {
    free(ring);
    free(tab);
    return -1;
  }
  /* Written, not calloc'd: a fresh calloc'd mapping reads as the shared zero
   * page, so every table page would fault twice (read, then copy-on-write
   * with a TLB shootdown to the other CPUs) during the probes below. The
   * call goes through a volatile pointer: GCC turns malloc + memset(0) into
   * calloc otherwise (it did, in the -O2/-O3 builds). */
  memset_v(tab, 0, tcap * sizeof *tab);
  for (size_t i = 0; i < d->count; i++) ring[i] = d->ring[slot_of(d, i)];
  free(d->ring);
  free(d->tab);
  d->ring = ring;
  d->tab = tab;
  d->rcap = rcap;
  d->tcap = tcap;
  d->head = 0;
  for (size_t i = 0; i < d->count; i++) {
    if (!ring[i].live) continue;
    size_t s = find(d, ring[i].h1, ring[i].h2);
    d->tab[s] = TAG(ring[i].h1) | (uint64_t)(i + 1);
  }
  return 0;
}

static void drop_oldest(evp__dedup_t *d) {
  forget(d, d->head);
  d->head = (d->head + 1) & (d->rcap - 1);
  d->count--;
}

uint64_t evp__dedup_scope(const evp__dedup_t *d, const char *client_id, size_t len) {
  uint64_t h1, h2;
  hash128(d, 0, client_id, len, 0, &h1, &h2);
  return h1 ^ h2;
}

void evp__dedup_key(const evp__dedup_t *d, uint64_t scope, const char *id, size_t len,
                    evp__dedup_key_t *k) {
  hash128(d, scope, id, len, 1, &k->h1, &k->h2);
}

void evp__dedup_prefetch(const evp__dedup_t *d, const evp__dedup_key_t *k) {
#if defined(__GNUC__) || defined(__clang__)
  if (d->tab) __builtin_prefetch(&d->tab[(size_t)k->h1 & (d->tcap - 1)]);
#else
  (void)d, (void)k;
#endif
}

int evp__dedup_check(evp__dedup_t *d, uint64_t scope, const char *id, size_t len, int64_t ts_us) {
  evp__dedup_key_t k;
  evp__dedup_key(d, scope, id, len, &k);
  return evp__dedup_check_key(d, &k, ts_us);
}

int evp__dedup_check_key(evp__dedup_t *d, const evp__dedup_key_t *k, int64_t ts_us) {
  int64_t horizon = ts_us - d->window_us;
  /* Once full, every insertion evicts the oldest id, whose table slot is a
   * cache miss: fetch the one due a few insertions from now. */
#if defined(__GNUC__) || defined(__clang__)
  if (d->count >= d->max && d->count > 8)
    __builtin_prefetch(&d->tab[(size_t)d->ring[slot_of(d, 8)].h1 & (d->tcap - 1)], 1);
#endif
  while (d->count && d->ring[d->head].ts < horizon) drop_oldest(d);
  uint64_t h1 = k->h1, h2 = k->h2;
  size_t ts = 0;
  int moved = 1; /* whether ts may no longer be the free slot for h1/h2 */
  if (d->tab) {
    ts = find(d, h1, h2);
    moved = 0;
    if (d->tab[ts]) {
      ent_t *e = &d->ring[SLOT(d->tab[ts])];
      if (e->ts >= horizon) return 1;
      /* Seen, but longer ago than the window (ids arrive slightly out of
       * time order, so it was not expired yet): superseded below. */
      e->live = 0;
      tab_delete(d, ts);
      moved = 1;
    }
  }
  if (d->count == d->max) {
    drop_oldest(d); /* its deletion may shift entries */
    moved = 1;
  }
  if (d->count == d->rcap) {
    size_t rcap = d->rcap ? d->rcap * 2 : 1024;
    if (rebuild(d, rcap, rcap * 2) != 0) return -1;
    moved = 1;
  }
  size_t r = slot_of(d, d->count);
  d->ring[r] = (ent_t){h1, h2, ts_us, 1};
  d->count++;
  d->seq++;
  /* The common case (a new id, nothing evicted): the probe above already
   * found the free slot; a second probe would be another cache miss. */
  if (moved) ts = find(d, h1, h2);
  d->tab[ts] = TAG(h1) | (uint64_t)(r + 1);
  return 0;
}

void evp__dedup_rollback(evp__dedup_t *d, uint64_t mark) {
  /* The newest seq - mark entries are the ones to undo (fewer if some were
   * already evicted by the size bound). */
  while (d->seq > mark && d->count) {
    forget(d, slot_of(d, d->count - 1));
    d->count--;
    d->seq--;
  }
  d->seq = mark < d->seq ? mark : d->seq;
}
