/* Counters of `evpipe local` and their Prometheus text exposition (GET
 * /metrics). Lock-free counters; label sets are fixed and small. */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/base.h"
#include "base/buf.h"
#include "json/json.h"
#include "table/table.h"
#include "local/local.h"

#define MAX_STATUS 600
#define N_BUCKETS 13
static const double buckets[N_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                          0.1,    0.25,  0.5,    1,     2.5,  5};
static const char *const route_names[EVP__ROUTE_N] = {"/token", "/events", "/metrics", "/healthz",
                                                      "other"};

/* Labels counted by reason: the schema keywords and the handlers' own names.
 * Anything else is counted as "other". */
static const char *const reasons[] = {
    /* events rejected */
    "type", "enum", "const", "multipleOf", "maximum", "minimum", "exclusiveMaximum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "items", "additionalItems", "maxItems",
    "minItems", "uniqueItems", "contains", "maxProperties", "minProperties", "required",
    "properties", "patternProperties", "additionalProperties", "dependencies", "propertyNames",
    "if", "then", "else", "allOf", "anyOf", "oneOf", "not", "false", "format", "parse", "limit",
    "schema", "not_object",
    /* events the lake could not hold (table/table.h) */
    EVP__REASON_NOT_REPRESENTABLE, EVP__REASON_DUPLICATE_MEMBER, EVP__REASON_TOO_MANY_MEMBERS,
    /* auth failures */
    "missing", "malformed", "expired", "bad_signature", "unknown_key", "bad_alg", "not_yet_valid",
    "bad_issuer", "bad_claim", "wrong_audience",
    /* token endpoint errors */
    "invalid_request", "invalid_client", "unsupported_grant_type", "invalid_target", "rate_limited",
    "client_locked", "other"};
#define N_REASONS (sizeof reasons / sizeof reasons[0])

struct evp__metrics {
  atomic_ullong requests[EVP__ROUTE_N][MAX_STATUS];
  atomic_ullong lat_bucket[N_BUCKETS];
  atomic_ullong lat_count, lat_sum_us;
  atomic_ullong accepted;
  atomic_ullong rejected[N_REASONS];
  atomic_ullong auth_fail[N_REASONS];
  atomic_ullong token_fail[N_REASONS];
  atomic_ullong tokens_issued, key_reloads;
  atomic_ullong conn_dropped[3];
};

/* Connections the HTTP front refused or cut (http_conns.c). */
static const char *const conn_reasons[3] = {"per_address", "header_deadline", "body_rate"};

static size_t reason_idx(const char *r) {
  for (size_t i = 0; r && i < N_REASONS; i++)
    if (strcmp(r, reasons[i]) == 0) return i;
  return N_REASONS - 1;
}

evp__metrics_t *evp__metrics_new(void) {
  evp__metrics_t *m = calloc(1, sizeof *m); /* zero bits are zero counters */
  return m;
}

void evp__metrics_free(evp__metrics_t *m) { free(m); }

void evp__metrics_request(evp__metrics_t *m, evp__route_t route, int status, double seconds) {
  if (status < 0 || status >= MAX_STATUS) status = 0;
  atomic_fetch_add(&m->requests[route][status], 1);
  for (int i = 0; i < N_BUCKETS; i++)
    if (seconds <= buckets[i]) {
      atomic_fetch_add(&m->lat_bucket[i], 1);
      break;
    }
  atomic_fetch_add(&m->lat_count, 1);
  atomic_fetch_add(&m->lat_sum_us, (unsigned long long)(seconds * 1e6));
}

void evp__metrics_accepted(evp__metrics_t *m, uint64_t n) { atomic_fetch_add(&m->accepted, n); }
void evp__metrics_rejected(evp__metrics_t *m, const char *r) {
  atomic_fetch_add(&m->rejected[reason_idx(r)], 1);
}
void evp__metrics_auth_failure(evp__metrics_t *m, const char *r) {
  atomic_fetch_add(&m->auth_fail[reason_idx(r)], 1);
}
void evp__metrics_token(evp__metrics_t *m, const char *error) {
  if (error)
    atomic_fetch_add(&m->token_fail[reason_idx(error)], 1);
  else
    atomic_fetch_add(&m->tokens_issued, 1);
}
void evp__metrics_key_reload(evp__metrics_t *m) { atomic_fetch_add(&m->key_reloads, 1); }
void evp__metrics_conn_dropped(evp__metrics_t *m, const char *reason) {
  for (size_t i = 0; i < 3; i++)
    if (strcmp(reason, conn_reasons[i]) == 0) atomic_fetch_add(&m->conn_dropped[i], 1);
}

static void by_reason(evp__buf_t *s, const char *name, const char *help, const char *label,
                      const atomic_ullong *v) {
  evp__buf_addf(s, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
  for (size_t i = 0; i < N_REASONS; i++) {
    unsigned long long x = atomic_load(&v[i]);
    if (x) evp__buf_addf(s, "%s{%s=\"%s\"} %llu\n", name, label, reasons[i], x);
  }
}

void evp__local_rfc3339(int64_t unix_us, char out[32]) {
  time_t t = (time_t)(unix_us / 1000000);
  struct tm tm;
  if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
    snprintf(out, 32, "1970-01-01T00:00:00Z");
}

evp_err_t evp__local_health(const evp__batcher_t *b, int *status, char **out, size_t *len) {
  char reason[512], since[32];
  int64_t since_us = 0;
  uint64_t failures = 0;
  evp__buf_t s = {0}; /* the page: text built with the sticky appenders */
  if (b && evp__batcher_failing(b, reason, sizeof reason, &since_us, &failures)) {
    char esc[sizeof reason * 6 + 1];
    esc[evp__json_escape(reason, strlen(reason), esc)] = '\0';
    evp__local_rfc3339(since_us, since);
    *status = 503;
    evp__buf_addf(&s,
                  "{\"status\":\"degraded\",\"lake\":\"write failed: %s\",\"since\":\"%s\","
                  "\"failures\":%llu}",
                  esc, since, (unsigned long long)failures);
  } else {
    *status = 200;
    evp__buf_addf(&s, "{\"status\":\"ok\"}");
  }
  if (!(*out = evp__buf_take(&s, len))) return EVP_ERR_NOMEM;
  return EVP_OK;
}

evp_err_t evp__metrics_render(const evp__metrics_t *mc, const evp__wal_t *wal,
                              const evp__batcher_t *b, char **out, size_t *len) {
  evp__metrics_t *m = (evp__metrics_t *)mc; /* atomic loads need non-const */
  evp__buf_t s = {0};                       /* the page: text built with the sticky appenders */
  evp__buf_addf(&s, "# HELP evpipe_http_requests_total HTTP requests by route and status code.\n"
                    "# TYPE evpipe_http_requests_total counter\n");
  for (int r = 0; r < EVP__ROUTE_N; r++)
    for (int c = 0; c < MAX_STATUS; c++) {
      unsigned long long x = atomic_load(&m->requests[r][c]);
      if (x)
        evp__buf_addf(&s, "evpipe_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                      route_names[r], c, x);
    }
  evp__buf_addf(
      &s, "# HELP evpipe_http_request_duration_seconds Time from request headers to response.\n"
          "# TYPE evpipe_http_request_duration_seconds histogram\n");
  unsigned long long cum = 0;
  for (int i = 0; i < N_BUCKETS; i++) {
    cum += atomic_load(&m->lat_bucket[i]);
    evp__buf_addf(&s, "evpipe_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n", buckets[i],
                  cum);
  }
  unsigned long long cnt = atomic_load(&m->lat_count);
  evp__buf_addf(&s, "evpipe_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cnt);
  evp__buf_addf(&s, "evpipe_http_request_duration_seconds_sum %.6f\n",
                (double)atomic_load(&m->lat_sum_us) / 1e6);
  evp__buf_addf(&s, "evpipe_http_request_duration_seconds_count %llu\n", cnt);
  evp__buf_addf(&s,
                "# HELP evpipe_events_accepted_total Events stored in the durable log.\n"
                "# TYPE evpipe_events_accepted_total counter\nevpipe_events_accepted_total %llu\n",
                atomic_load(&m->accepted));
  by_reason(&s, "evpipe_events_rejected_total",
            "Events rejected, by reason (schema keyword, or what the lake cannot hold).", "reason",
            m->rejected);
  by_reason(&s, "evpipe_auth_failures_total", "Refused bearer tokens, by reason.", "reason",
            m->auth_fail);
  by_reason(&s, "evpipe_token_errors_total", "Refused token requests, by OAuth error.", "error",
            m->token_fail);
  evp__buf_addf(&s,
                "# HELP evpipe_tokens_issued_total Access tokens issued.\n"
                "# TYPE evpipe_tokens_issued_total counter\nevpipe_tokens_issued_total %llu\n",
                atomic_load(&m->tokens_issued));
  evp__buf_addf(&s,
                "# HELP evpipe_secret_reloads_total Changed signing-key or clients files picked up "
                "while running.\n"
                "# TYPE evpipe_secret_reloads_total counter\nevpipe_secret_reloads_total %llu\n",
                atomic_load(&m->key_reloads));
  evp__buf_addf(&s,
                "# HELP evpipe_http_connections_dropped_total Connections refused (per_address) or "
                "closed by a deadline (header_deadline, body_rate).\n"
                "# TYPE evpipe_http_connections_dropped_total counter\n");
  for (size_t i = 0; i < 3; i++)
    evp__buf_addf(&s, "evpipe_http_connections_dropped_total{reason=\"%s\"} %llu\n",
                  conn_reasons[i], atomic_load(&m->conn_dropped[i]));
  if (wal) {
    evp__buf_addf(
        &s,
        "# HELP evpipe_queue_depth_events Events in the durable log not yet in the lake.\n"
        "# TYPE evpipe_queue_depth_events gauge\nevpipe_queue_depth_events %llu\n",
        (unsigned long long)evp__wal_pending_events(wal));
    evp__wal_stats_t ws;
    evp__wal_get_stats(wal, &ws);
    evp__buf_addf(
        &s,
        "# HELP evpipe_wal_corrupt_records_total Damaged regions of the durable log skipped at "
        "start-up (each one damaged record or several adjacent ones; logged one line each).\n"
        "# TYPE evpipe_wal_corrupt_records_total counter\nevpipe_wal_corrupt_records_total %llu\n"
        "# HELP evpipe_wal_corrupt_bytes_total Bytes of those regions.\n"
        "# TYPE evpipe_wal_corrupt_bytes_total counter\nevpipe_wal_corrupt_bytes_total %llu\n"
        "# HELP evpipe_wal_quarantined_bytes_total Of those, bytes with a copy in the quarantine "
        "directory.\n"
        "# TYPE evpipe_wal_quarantined_bytes_total counter\nevpipe_wal_quarantined_bytes_total "
        "%llu\n"
        "# HELP evpipe_wal_torn_tail_bytes_total Bytes of an incompletely written last record cut "
        "at start-up.\n"
        "# TYPE evpipe_wal_torn_tail_bytes_total counter\nevpipe_wal_torn_tail_bytes_total %llu\n",
        (unsigned long long)ws.corrupt_records, (unsigned long long)ws.corrupt_bytes,
        (unsigned long long)ws.quarantined_bytes, (unsigned long long)ws.truncated_bytes);
  }
  if (b) {
    evp__batcher_stats_t st;
    evp__batcher_get_stats(b, &st);
    evp__buf_addf(
        &s,
        "# HELP evpipe_lake_files_total Parquet files committed to the lake.\n"
        "# TYPE evpipe_lake_files_total counter\nevpipe_lake_files_total %llu\n"
        "# HELP evpipe_lake_bytes_total Bytes of Parquet files committed.\n"
        "# TYPE evpipe_lake_bytes_total counter\nevpipe_lake_bytes_total %llu\n"
        "# HELP evpipe_lake_rows_total Rows written to the lake.\n"
        "# TYPE evpipe_lake_rows_total counter\nevpipe_lake_rows_total %llu\n"
        "# HELP evpipe_lake_duplicates_total Events dropped as duplicate event_ids.\n"
        "# TYPE evpipe_lake_duplicates_total counter\nevpipe_lake_duplicates_total %llu\n"
        "# HELP evpipe_lake_errors_total Failed lake writes (retried) and events refused by "
        "the lake.\n"
        "# TYPE evpipe_lake_errors_total counter\nevpipe_lake_errors_total %llu\n"
        "# HELP evpipe_lake_refused_events_total Logged events the lake cannot take (they "
        "fit no row), copied to DATA/queue/quarantine/refused-*.ndjson instead.\n"
        "# TYPE evpipe_lake_refused_events_total counter\nevpipe_lake_refused_events_total "
        "%llu\n"
        "# HELP evpipe_lake_write_failing 1 while the last attempt to write the lake failed "
        "(retried; /healthz answers 503).\n"
        "# TYPE evpipe_lake_write_failing gauge\nevpipe_lake_write_failing %d\n",
        (unsigned long long)st.files, (unsigned long long)st.bytes, (unsigned long long)st.rows,
        (unsigned long long)st.duplicates, (unsigned long long)st.errors,
        (unsigned long long)st.bad_events, evp__batcher_failing(b, NULL, 0, NULL, NULL));
    evp__buf_addf(&s,
                  "# HELP evpipe_lake_compactions_total Hour partitions compacted into large "
                  "files.\n"
                  "# TYPE evpipe_lake_compactions_total counter\nevpipe_lake_compactions_total "
                  "%llu\n"
                  "# HELP evpipe_lake_compaction_failures_total Hour partitions whose compaction "
                  "failed (nothing swapped; tried again when the next hour closes).\n"
                  "# TYPE evpipe_lake_compaction_failures_total counter\n"
                  "evpipe_lake_compaction_failures_total %llu\n",
                  (unsigned long long)st.compactions, (unsigned long long)st.compaction_failures);
    /* How long the lake has been missing an event it will get: a query
     * sees everything received more than this long ago. */
    int64_t lag_us = st.oldest_unwritten_us ? evp__wall_us() - st.oldest_unwritten_us : 0;
    evp__buf_addf(&s,
                  "# HELP evpipe_lake_lag_seconds Age of the oldest accepted event not yet in a "
                  "lake file (0 when none is waiting).\n"
                  "# TYPE evpipe_lake_lag_seconds gauge\nevpipe_lake_lag_seconds %.3f\n",
                  lag_us > 0 ? (double)lag_us / 1e6 : 0.0);
  }
  if (!(*out = evp__buf_take(&s, len))) return EVP_ERR_NOMEM;
  return EVP_OK;
}
