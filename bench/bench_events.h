/* The typical events of the ingest benchmarks (bench_ingest, bench_batcher):
 * ~340 bytes each, with their own event_id and event_time. */
#ifndef EVP_BENCH_EVENTS_H
#define EVP_BENCH_EVENTS_H
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* 0: events are stamped from the wall clock; a fixed second (seconds since
 * the epoch) makes a run repeatable (bench_lake_compare writes the same
 * events several times and needs them identical). */
static time_t bench_events_clock;

static inline uint64_t rnd(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* A typical ~300-byte event with its own event_id and event_time, so the
 * NDJSON comparison holds exactly what the lake holds. */
static inline size_t make_event(uint64_t *s, long i, char *buf, size_t cap) {
  static const char *types[] = {"app.opened",       "screen.viewed",   "product.viewed",
                                "search.performed", "cart.item_added", "checkout.completed"};
  static const char *plat[] = {"ios", "android", "web"};
  uint64_t a = rnd(s), b = rnd(s);
  time_t t = (bench_events_clock ? bench_events_clock : time(NULL)) - (time_t)(rnd(s) % 600);
  struct tm tm;
  gmtime_r(&t, &tm);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  int n = snprintf(buf, cap,
                   "{\"event_id\":\"%08x-%04x-4%03x-8%03x-%012llx\",\"event_type\":\"%s\","
                   "\"event_time\":\"%s\",\"app_id\":\"shop-%s\",\"user_id\":\"u-%u\","
                   "\"session_id\":\"s-%ld\",\"platform\":\"%s\",\"app_version\":\"4.2.%u\","
                   "\"context\":{\"locale\":\"en-US\",\"os\":\"iOS\",\"device\":\"iPhone15,2\"},"
                   "\"properties\":{\"screen\":\"product\",\"load_ms\":%u,\"price\":%u.99}}",
                   (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
                   (unsigned)(b >> 52) & 0xfff, (unsigned long long)(b & 0xffffffffffffULL),
                   types[i % 6], when, plat[i % 3], (unsigned)(rnd(s) % 5000), i / 20, plat[i % 3],
                   (unsigned)(i % 9), (unsigned)(rnd(s) % 900), (unsigned)(rnd(s) % 300));
  return (size_t)n;
}

#endif
