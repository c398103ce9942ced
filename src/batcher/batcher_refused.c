/* Events the row builder refuses: kept, told and counted, never dropped.
 *
 * Every event in the log was acknowledged to its client. One the lake
 * cannot take — logged by an older, less strict server, or made
 * unrepresentable by a schema edit between restarts — is copied, one NDJSON
 * line each, to DIR/quarantine/refused-<first>-<last>.ndjson (the log
 * offsets of the group's file, so a retry rewrites the same file), synced
 * before the group's lake file is committed and so before the checkpoint
 * passes it. A copy that fails fails the flush: it is retried like any lake
 * failure, and the event stays in the log meanwhile.
 *
 * A line is {"offset":N,"client_id":"...","reason":"...","event":"..."}:
 * "event" is the event's exact bytes as a JSON string (decoding it gives
 * them back byte for byte). Bytes that are not UTF-8 have no such string, so
 * an event or client id that is not gets "event_base64url" /
 * "client_id_base64url" (RFC 4648 base64url, no padding) instead. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/base.h"
#include "json/json.h"
#include "wal/wal.h"
#include "wal/wal_read.h"
#include "batcher/batcher.h"
#include "batcher/batcher_int.h"
#include "evpipe/jwt.h"

/* The line's worst-case size for a value of @p n bytes: escaped (6 per byte)
 * or base64url (4 per 3). */
static size_t value_room(size_t n) { return n * 6 + 32; }

/* ,"name":"value" — the JSON string when @p s is UTF-8, else base64url. */
static size_t put_value(char *out, const char *name, const char *s, size_t n) {
  size_t o = 0;
  if (evp__utf8_valid(s, n)) {
    o += (size_t)sprintf(out, ",\"%s\":\"", name);
    o += evp__json_escape(s, n, out + o);
  } else {
    o += (size_t)sprintf(out, ",\"%s_base64url\":\"", name);
    o += evp_base64url_encode(s, n, out + o);
  }
  out[o++] = '"';
  return o;
}

evp_err_t evp__batcher_refuse(evp__batcher_t *b, uint64_t offset, const evp__wal_record_t *rec,
                              const char *ev, size_t len, const char *why, char *errstr,
                              size_t errstr_size) {
  size_t wl = strlen(why);
  size_t room = 64 + value_room(wl) + value_room(rec->client_id_len) + value_room(len);
  if (evp__buf_reserve(&b->rq, room) != EVP_OK)
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory");
  char *o = (char *)b->rq.p + b->rq.len;
  size_t n = (size_t)sprintf(o, "{\"offset\":%llu", (unsigned long long)offset);
  n += put_value(o + n, "client_id", rec->client_id, rec->client_id_len);
  n += (size_t)sprintf(o + n, ",\"reason\":\"");
  n += evp__json_escape_text(why, wl, o + n, value_room(wl), NULL);
  o[n++] = '"';
  n += put_value(o + n, "event", ev, len);
  o[n++] = '}';
  o[n++] = '\n';
  /* Checked here, on the line's real size (the room above is the worst case). */
  size_t qmax = evp__wal_quarantine_max(b->w);
  if (n > qmax || b->rq.len > qmax - n)
    return evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE,
                       "batcher: the events the lake refuses (last at log offset %llu: %s) do not "
                       "fit in %s/quarantine (at most %zu bytes); they stay in the log and the "
                       "lake waits: make room there",
                       (unsigned long long)offset, why, evp__wal_dir(b->w), qmax);
  b->rq.len += n;
  b->rqevents++;
  snprintf(b->refused_why, sizeof b->refused_why, "%s", why);
  return EVP_OK;
}

evp_err_t evp__batcher_refused_write(evp__batcher_t *b, uint64_t first, uint64_t last, char *errstr,
                                     size_t errstr_size) {
  if (b->rq.len == 0) return EVP_OK;
  char name[80], path[sizeof b->refused_file], note[600];
  snprintf(name, sizeof name, "refused-%020llu-%020llu.ndjson", (unsigned long long)first,
           (unsigned long long)last);
  int r = evp__wal_quarantine_put(b->w, name, (const char *)b->rq.p, b->rq.len, path, sizeof path,
                                  note, sizeof note);
  uint64_t n = b->rqevents;
  b->rq.len = 0;
  b->rqevents = 0;
  if (r != 1)
    return evp__seterr(errstr, errstr_size, r < 0 ? EVP_ERR_TOO_LARGE : EVP_ERR_IO,
                       "batcher: %llu event(s) the lake refuses (%s) %s; they stay in the log "
                       "and the lake waits for them to be copied",
                       (unsigned long long)n, b->refused_why, note);
  /* Counted and told with the group's file (evp__batcher_flush_buffer): a
   * failed group retries them and writes this file again. */
  snprintf(b->refused_file, sizeof b->refused_file, "%s", path);
  return EVP_OK;
}

void evp__batcher_refused_tell(evp__batcher_t *b, int force) {
  if (b->refused_untold == 0) return;
  int64_t now = evp__mono_ms();
  if (!force && b->refused_told && now - b->refused_told_at_ms < b->notice_interval_ms) return;
  b->refused_total += b->refused_untold;
  evp__batcher_notice_t n = {
      EVP__LAKE_REFUSED, b->refused_why, b->refused_untold, b->refused_total, 0, b->refused_file};
  b->refused_untold = 0;
  b->refused_told = 1;
  b->refused_told_at_ms = now;
  if (b->notice) b->notice(b->notice_arg, &n);
}
