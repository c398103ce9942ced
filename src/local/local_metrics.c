/* Counters of `evpipe local` and their Prometheus text exposition (GET
 * /metrics). Lock-free counters; label sets are fixed and small. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/table.h"
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
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "items", "additionalItems",
    "maxItems", "minItems", "uniqueItems", "contains", "maxProperties", "minProperties",
    "required", "properties", "patternProperties", "additionalProperties", "dependencies",
    "propertyNames", "if", "then", "else", "allOf", "anyOf", "oneOf", "not", "false", "format",
    "parse", "limit", "schema", "not_object",
    /* events the lake could not hold (core/table.h) */
    EVP__REASON_NOT_REPRESENTABLE, EVP__REASON_DUPLICATE_MEMBER, EVP__REASON_TOO_MANY_MEMBERS,
    /* auth failures */
    "missing", "malformed", "expired", "bad_signature", "unknown_key", "bad_alg", "not_yet_valid",
    "bad_issuer", "bad_claim", "wrong_audience",
    /* token endpoint errors */
    "invalid_request", "invalid_client", "unsupported_grant_type", "invalid_target", "rate_limited",
    "other"};
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
};

static size_t reason_idx(const char *r) {
  for (size_t i = 0; r && i < N_REASONS; i++)
    if (strcmp(r, reasons[i]) == 0)
      return i;
  return N_REASONS - 1;
}

evp__metrics_t *evp__metrics_new(void) {
  evp__metrics_t *m = calloc(1, sizeof *m); /* zero bits are zero counters */
  return m;
}

void evp__metrics_free(evp__metrics_t *m) { free(m); }

void evp__metrics_request(evp__metrics_t *m, evp__route_t route, int status, double seconds) {
  if (status < 0 || status >= MAX_STATUS)
    status = 0;
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

typedef struct {
  char *b;
  size_t n, cap;
  int oom;
} sbuf_t;

static void put(sbuf_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void put(sbuf_t *s, const char *fmt, ...) {
  if (s->oom)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(s->b + s->n, s->cap - s->n, fmt, ap);
    va_end(ap);
    if (w < 0) {
      s->oom = 1;
      return;
    }
    if ((size_t)w < s->cap - s->n) {
      s->n += (size_t)w;
      return;
    }
    char *nb = realloc(s->b, s->cap * 2 + (size_t)w);
    if (!nb) {
      s->oom = 1;
      return;
    }
    s->b = nb;
    s->cap = s->cap * 2 + (size_t)w;
  }
}

static void by_reason(sbuf_t *s, const char *name, const char *help, const char *label,
                      const atomic_ullong *v) {
  put(s, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
  for (size_t i = 0; i < N_REASONS; i++) {
    unsigned long long x = atomic_load(&v[i]);
    if (x)
      put(s, "%s{%s=\"%s\"} %llu\n", name, label, reasons[i], x);
  }
}

evp_err_t evp__metrics_render(const evp__metrics_t *mc, const evp__wal_t *wal,
                              const evp__batcher_t *b, char **out, size_t *len) {
  evp__metrics_t *m = (evp__metrics_t *)mc; /* atomic loads need non-const */
  sbuf_t s = {malloc(8192), 0, 8192, 0};
  if (!s.b)
    return EVP_ERR_NOMEM;
  put(&s, "# HELP evpipe_http_requests_total HTTP requests by route and status code.\n"
          "# TYPE evpipe_http_requests_total counter\n");
  for (int r = 0; r < EVP__ROUTE_N; r++)
    for (int c = 0; c < MAX_STATUS; c++) {
      unsigned long long x = atomic_load(&m->requests[r][c]);
      if (x)
        put(&s, "evpipe_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n", route_names[r], c, x);
    }
  put(&s, "# HELP evpipe_http_request_duration_seconds Time from request headers to response.\n"
          "# TYPE evpipe_http_request_duration_seconds histogram\n");
  unsigned long long cum = 0;
  for (int i = 0; i < N_BUCKETS; i++) {
    cum += atomic_load(&m->lat_bucket[i]);
    put(&s, "evpipe_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n", buckets[i], cum);
  }
  unsigned long long cnt = atomic_load(&m->lat_count);
  put(&s, "evpipe_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cnt);
  put(&s, "evpipe_http_request_duration_seconds_sum %.6f\n",
      (double)atomic_load(&m->lat_sum_us) / 1e6);
  put(&s, "evpipe_http_request_duration_seconds_count %llu\n", cnt);
  put(&s, "# HELP evpipe_events_accepted_total Events stored in the durable log.\n"
          "# TYPE evpipe_events_accepted_total counter\nevpipe_events_accepted_total %llu\n",
      atomic_load(&m->accepted));
  by_reason(&s, "evpipe_events_rejected_total", "Events rejected, by reason (schema keyword, or what the lake cannot hold).",
            "reason", m->rejected);
  by_reason(&s, "evpipe_auth_failures_total", "Refused bearer tokens, by reason.", "reason",
            m->auth_fail);
  by_reason(&s, "evpipe_token_errors_total", "Refused token requests, by OAuth error.", "error",
            m->token_fail);
  put(&s, "# HELP evpipe_tokens_issued_total Access tokens issued.\n"
          "# TYPE evpipe_tokens_issued_total counter\nevpipe_tokens_issued_total %llu\n",
      atomic_load(&m->tokens_issued));
  put(&s, "# HELP evpipe_secret_reloads_total Changed signing-key or clients files picked up while running.\n"
          "# TYPE evpipe_secret_reloads_total counter\nevpipe_secret_reloads_total %llu\n",
      atomic_load(&m->key_reloads));
  if (wal)
    put(&s, "# HELP evpipe_queue_depth_events Events in the durable log not yet in the lake.\n"
            "# TYPE evpipe_queue_depth_events gauge\nevpipe_queue_depth_events %llu\n",
        (unsigned long long)evp__wal_pending_events(wal));
  if (b) {
    evp__batcher_stats_t st;
    evp__batcher_get_stats(b, &st);
    put(&s, "# HELP evpipe_lake_files_total Parquet files committed to the lake.\n"
            "# TYPE evpipe_lake_files_total counter\nevpipe_lake_files_total %llu\n"
            "# HELP evpipe_lake_bytes_total Bytes of Parquet files committed.\n"
            "# TYPE evpipe_lake_bytes_total counter\nevpipe_lake_bytes_total %llu\n"
            "# HELP evpipe_lake_rows_total Rows written to the lake.\n"
            "# TYPE evpipe_lake_rows_total counter\nevpipe_lake_rows_total %llu\n"
            "# HELP evpipe_lake_duplicates_total Events dropped as duplicate event_ids.\n"
            "# TYPE evpipe_lake_duplicates_total counter\nevpipe_lake_duplicates_total %llu\n"
            "# HELP evpipe_lake_errors_total Failed lake writes.\n"
            "# TYPE evpipe_lake_errors_total counter\nevpipe_lake_errors_total %llu\n",
        (unsigned long long)st.files, (unsigned long long)st.bytes, (unsigned long long)st.rows,
        (unsigned long long)st.duplicates, (unsigned long long)st.errors);
  }
  if (s.oom) {
    free(s.b);
    return EVP_ERR_NOMEM;
  }
  *out = s.b;
  *len = s.n;
  return EVP_OK;
}
