/* The dedup set (dedup.c): which event ids were written within the dedup
 * window. The batcher thread consults it, in log order, before a row is
 * written; the set itself knows nothing of the batcher (test_batcher
 * checks it alone). */
#ifndef EVP_BATCHER_DEDUP_H
#define EVP_BATCHER_DEDUP_H

#include <stddef.h>
#include <stdint.h>

/* The set of event ids written within the dedup window: 128-bit keyed
 * hashes of the ids in a hash table plus a FIFO ring in insertion order, so
 * expiry and the size bound both drop the oldest ids first. Times are the
 * events' received_at. Not thread-safe (the batcher thread owns it). */
typedef struct evp__dedup evp__dedup_t;

evp__dedup_t *evp__dedup_new(int64_t window_us, size_t max_ids);
void evp__dedup_free(evp__dedup_t *d);
/* Ids are per client: the scope of a record's ids is a keyed hash of its
 * client_id, computed once per record and passed with each of its ids. */
uint64_t evp__dedup_scope(const evp__dedup_t *d, const char *client_id, size_t len);
/* 1 when @p id was seen in @p scope within the window before @p ts_us;
 * otherwise the id is remembered at @p ts_us and 0 is returned; -1 when out
 * of memory. A UUID (36 characters, 8-4-4-4-12 hex digits) matches in any
 * case; other ids byte for byte. */
int evp__dedup_check(evp__dedup_t *d, uint64_t scope, const char *id, size_t len, int64_t ts_us);
/* The same in two steps, so that the table slot of an id checked soon can
 * be loaded ahead (a cache miss on a table of millions otherwise stalls the
 * check): the id's keyed hash, a prefetch hint, and the check itself. */
typedef struct {
  uint64_t h1, h2;
} evp__dedup_key_t;
void evp__dedup_key(const evp__dedup_t *d, uint64_t scope, const char *id, size_t len,
                    evp__dedup_key_t *k);
void evp__dedup_prefetch(const evp__dedup_t *d, const evp__dedup_key_t *k);
int evp__dedup_check_key(evp__dedup_t *d, const evp__dedup_key_t *k, int64_t ts_us);
/* A mark of the insertions so far; rollback forgets every id remembered
 * after it (the undo of a file that could not be written). */
uint64_t evp__dedup_mark(const evp__dedup_t *d);
void evp__dedup_rollback(evp__dedup_t *d, uint64_t mark);
size_t evp__dedup_size(const evp__dedup_t *d);

#endif /* EVP_BATCHER_DEDUP_H */
