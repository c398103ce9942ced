/* What the two ways of writing an hour group share (the one-file path in
 * batcher_flush.c and the parallel parts in batcher_parts.c, which call
 * down to this file and never to each other's pieces): a buffered record
 * decoded, the id of an event looked up a few events ahead of its dedup
 * check, a lake file opened with the row builder's columns, and a
 * committed file told. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "base/base.h"
#include "json/json.h"
#include "wal/wal_read.h"
#include "lake/lake.h"
#include "lake/lake_row.h"
#include "batcher/batcher_int.h"

void evp__batcher_look_ahead(const evp__dedup_t *d, uint64_t scope, const char *ev, size_t len,
                             evp__id_ahead_t *a) {
  static const char pre[] = "{\"event_id\":\"";
  const size_t pl = sizeof pre - 1;
  a->id = NULL;
  if (len < pl + 2 || memcmp(ev, pre, pl) != 0) return;
  const unsigned char *s = (const unsigned char *)ev + pl,
                      *q = evp__json_quote_end(s, (const unsigned char *)ev + len);
  if (q >= (const unsigned char *)ev + len || *q != '"') return; /* escaped: the usual way */
  a->id = (const char *)s;
  a->len = (size_t)(q - s);
  evp__dedup_key(d, scope, a->id, a->len, &a->key);
  evp__dedup_prefetch(d, &a->key);
}

/* A record's sent_at goes to the row builder as it was logged. */
_Static_assert(EVP__WAL_NO_SENT_AT == EVP__ROW_NO_SENT_AT, "one value means no sent_at");

evp_err_t evp__batcher_record(const evp__batcher_t *b, const evp__buffered_record_t *br,
                              evp__wal_record_t *rec, char *errstr, size_t errstr_size) {
  if (evp__wal_payload_decode(b->arena + br->poff, br->len, rec) != 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL, "batcher: record %llu malformed",
                       (unsigned long long)br->offset);
  return EVP_OK;
}

evp_err_t evp__batcher_open_file(const evp__row_builder_t *rb, evp__pq_writer_t **pw, int codec,
                                 const char *dir, const char *name, char *errstr,
                                 size_t errstr_size) {
  if (*pw) return evp__pq_writer_reopen(*pw, dir, name, errstr, errstr_size);
  /* Event strings passed the strict parser before they were logged (and
   * unescaping keeps UTF-8 valid); client ids are checked per record. */
  size_t ncols;
  const evp__pq_column_t *cols = evp__row_builder_columns(rb, &ncols);
  evp__pq_options_t po = {0};
  po.utf8_checked = 1;
  /* No integer dictionaries in flushed files: event_time's entries are
   * looked up for every event (about 2% of ingest throughput, interleaved
   * runs of bench/run_ingest.sh) to save half a byte per event in files that
   * compaction rewrites, with dictionaries, once their hour closes. */
  po.no_int_dict = 1;
  po.codec = (evp__pq_codec_t)codec;
  return evp__pq_writer_open(pw, dir, name, cols, ncols, &po, errstr, errstr_size);
}

const char *evp__flush_why_name(evp__flush_why_t why) {
  switch (why) {
  case EVP__FLUSH_SIZE: return "size";
  case EVP__FLUSH_AGE: return "age";
  case EVP__FLUSH_FORCED: return "forced";
  case EVP__FLUSH_SHUTDOWN: return "shutdown";
  }
  return "unknown";
}

void evp__batcher_tell_written(const evp__batcher_t *b, const char *dir, const char *name,
                               int64_t ts_us, uint64_t rows, uint64_t bytes, int64_t started_us) {
  if (!b->written) return;
  char path[4200], dt[16];
  size_t root = strlen(b->lake_dir);
  const char *rel = strncmp(dir, b->lake_dir, root) == 0 && dir[root] == '/' ? dir + root + 1 : dir;
  snprintf(path, sizeof path, "%s/%s", rel, name);
  /* The partition of the hour, as evp__lake_partition_dir names it. */
  time_t secs = (time_t)(ts_us >= 0 ? ts_us / 1000000 : -((-ts_us + 999999) / 1000000));
  struct tm tm;
  gmtime_r(&secs, &tm);
  strftime(dt, sizeof dt, "%Y-%m-%d", &tm);
  evp__batcher_file_t f = {path,  dt, tm.tm_hour, rows, bytes, (evp__mono_us() - started_us) / 1000,
                           b->why};
  b->written(b->notice_arg, &f);
}
