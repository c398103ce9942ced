/* Client statistics: lock-free counters plus a ring of recent request
 * latencies, rendered as JSON by evp_client_stats. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client/client_int.h"
#include "client/spool.h"
#include "base/buf.h"
#include "json/json.h"

void evp__client_stats_init(evp__stats *s) {
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
}

void evp__client_stats_free(evp__stats *s) { pthread_mutex_destroy(&s->mu); }

void evp__client_stats_latency(evp__stats *s, int64_t us) {
  pthread_mutex_lock(&s->mu);
  s->lat_us[s->lat_pos] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)(us < 0 ? 0 : us);
  s->lat_pos = (s->lat_pos + 1) % EVP__LAT_SAMPLES;
  if (s->lat_n < EVP__LAT_SAMPLES) s->lat_n++;
  pthread_mutex_unlock(&s->mu);
}

void evp__client_stats_rejected(evp__stats *s, const char *reason) {
  char key[EVP__REJ_TEXT];
  snprintf(key, sizeof key, "%s", reason && *reason ? reason : "unspecified");
  pthread_mutex_lock(&s->mu);
  size_t i = 0;
  for (; i < EVP__REJ_REASONS && s->rej[i].n; i++)
    if (!strcmp(s->rej[i].text, key)) break;
  if (i == EVP__REJ_REASONS) {
    s->rej_other++;
  } else {
    if (!s->rej[i].n) memcpy(s->rej[i].text, key, sizeof key);
    s->rej[i].n++;
  }
  pthread_mutex_unlock(&s->mu);
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

#define G(f) (unsigned long long)atomic_load_explicit(&s->f, memory_order_relaxed)

char *evp_client_stats(evp_client_t *c) {
  if (!c) return NULL;
  evp__stats *s = &c->st;
  uint32_t lat[EVP__LAT_SAMPLES];
  /* {"reason":n,...} and the last condition given to the error callback,
   * JSON-escaped by the json layer. */
  evp__buf_t reasons = {0}, last = {0};
  evp__buf_adds(&reasons, "{");
  pthread_mutex_lock(&s->mu);
  size_t n = s->lat_n;
  memcpy(lat, s->lat_us, n * sizeof lat[0]);
  for (size_t i = 0; i < EVP__REJ_REASONS && s->rej[i].n; i++) {
    if (i) evp__buf_adds(&reasons, ",");
    evp__buf_json_str(&reasons, s->rej[i].text, strlen(s->rej[i].text));
    evp__buf_addf(&reasons, ":%llu", (unsigned long long)s->rej[i].n);
  }
  if (s->rej_other)
    evp__buf_addf(&reasons, "%s\"other\":%llu", reasons.len > 1 ? "," : "",
                  (unsigned long long)s->rej_other);
  if (s->last_err == EVP_OK) {
    evp__buf_adds(&last, "null");
  } else {
    evp__buf_addf(&last, "{\"code\":\"%s\",\"retrying\":%s,\"reason\":", evp_err2name(s->last_err),
                  s->last_retrying ? "true" : "false");
    evp__buf_json_str(&last, s->last_err_text, strlen(s->last_err_text));
    evp__buf_adds(&last, "}");
  }
  pthread_mutex_unlock(&s->mu);
  evp__buf_adds(&reasons, "}");
  qsort(lat, n, sizeof lat[0], cmp_u32);
#define PCT(p) (n ? lat[(size_t)((double)(n - 1) * (p))] : 0u)
  pthread_mutex_lock(&c->mu);
  size_t qn = c->pending_n, queued = c->q.n, waiting = c->ready.n;
  unsigned long long qb = c->pending_bytes;
  int paused = c->paused;
  pthread_mutex_unlock(&c->mu);
  evp__buf_t spool = {0};
  evp__spool_stats(c, &spool);
  evp__buf_t out = {0};
  if (reasons.err == EVP_OK && last.err == EVP_OK && spool.err == EVP_OK)
    evp__buf_addf(
        &out,
        "{\"enqueued\":%llu,\"refused\":{\"invalid_event\":%llu,\"queue_full\":%llu,"
        "\"too_large\":%llu,\"state\":%llu},\"delivered\":%llu,\"rejected\":%llu,\"rejected_by_"
        "reason\":%s,"
        "\"failed\":{\"total\":%llu,\"timeout\":%llu,\"http\":%llu,\"auth\":%llu,"
        "\"closed\":%llu},\"sent\":%llu,\"requests\":%llu,\"request_errors\":%llu,\"retries\":%llu,"
        "\"splits\":%llu,\"budget_throttled\":%llu,\"errors_reported\":%llu,\"last_error\":%s,"
        "\"bytes_sent\":%llu,\"bytes_body\":%llu,"
        "\"queue\":{\"pending\":%zu,\"queued\":%zu,\"bytes\":%llu,\"waiting_reports\":%zu},"
        "\"token\":{\"refreshes\":%llu,\"failures\":%llu},"
        "\"latency_us\":{\"samples\":%zu,\"p50\":%u,\"p90\":%u,\"p99\":%u,\"max\":%u},"
        "\"paused\":%s,\"spool\":%s}",
        G(enqueued), G(refused_invalid), G(refused_queue_full), G(refused_too_large),
        G(refused_state), G(delivered), G(rejected_server), (const char *)reasons.p, G(failed),
        G(failed_timeout), G(failed_http), G(failed_auth), G(failed_closed), G(events_sent),
        G(requests), G(request_errors), G(retries), G(splits), G(budget_throttled),
        G(errors_reported), (const char *)last.p, G(bytes_sent), G(bytes_body), qn, queued, qb,
        waiting, G(token_refreshes), G(token_failures), n, PCT(0.5), PCT(0.9), PCT(0.99),
        n ? lat[n - 1] : 0u, paused ? "true" : "false", (const char *)spool.p);
  evp__buf_free(&spool);
  evp__buf_free(&reasons);
  evp__buf_free(&last);
  return evp__buf_take(&out, NULL);
}
