/* The "spool" member of evp_client_stats: what the spool holds and what its
 * recovery found. A leaf: it reads the spool's fields and the log's
 * counters and calls nothing else of the client. */
#define _POSIX_C_SOURCE 200809L
#include "client/spool.h"

void evp__spool_stats(evp_client_t *c, evp__buf_t *b) {
  evp__spool *s = c->spool;
  if (!s) {
    evp__buf_adds(b, "null");
    return;
  }
  evp__wal_stats_t ws;
  evp__wal_get_stats(s->w, &ws);
  pthread_mutex_lock(&c->mu);
  uint64_t used = evp__spool_used(s), unread = s->unread, held = 0;
  for (size_t i = 0; i < s->ring_n; i++)
    held += s->ring[(s->ring_head + i) & (s->ring_cap - 1)].left;
  int64_t oldest = s->ring_n ? s->ring[s->ring_head].at_us : unread ? s->unread_first_us : 0;
  uint64_t dropped = s->dropped, expired = s->expired, recovered = s->recovered_events;
  uint64_t dmg = s->read_damaged, dmg_bytes = s->read_damaged_bytes;
  pthread_mutex_unlock(&c->mu);
  int64_t age = oldest ? (evp__wall_us() - oldest) / 1000 : 0;
  evp__buf_addf(b,
                "{\"bytes\":%llu,\"events\":%llu,\"oldest_age_ms\":%lld,\"recovered\":%llu,"
                "\"dropped\":%llu,\"expired\":%llu,\"segments\":%llu,\"torn_bytes_cut\":%llu,"
                "\"damaged_regions\":%llu,\"damaged_bytes\":%llu}",
                (unsigned long long)used, (unsigned long long)(held + unread),
                (long long)(age > 0 ? age : 0), (unsigned long long)recovered,
                (unsigned long long)dropped, (unsigned long long)expired,
                (unsigned long long)ws.segments, (unsigned long long)ws.truncated_bytes,
                (unsigned long long)(ws.corrupt_records + dmg),
                (unsigned long long)(ws.corrupt_bytes + dmg_bytes));
}
