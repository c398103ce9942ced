/* Retry policy: Retry-After parsing (the exponential backoff with full
 * jitter is core's evp__retry_backoff_ms), and a token-bucket retry budget
 * (as in gRPC's retry throttling) that slows retries to the backoff cap when
 * most recent requests failed, so a struggling server is not hammered. */
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "client/client_int.h"

long evp__retry_parse_after(const char *v, size_t len) {
  char buf[64];
  while (len && (*v == ' ' || *v == '\t'))
    v++, len--;
  while (len && (v[len - 1] == ' ' || v[len - 1] == '\r' || v[len - 1] == '\n'))
    len--;
  if (!len || len >= sizeof buf)
    return -1;
  memcpy(buf, v, len);
  buf[len] = '\0';
  char *end;
  long s = strtol(buf, &end, 10);
  if (end != buf && !*end)
    return s < 0 ? -1 : (s > 86400 ? 86400000L : s * 1000L);
  time_t t = curl_getdate(buf, NULL); /* HTTP-date form */
  if (t < 0)
    return -1;
  time_t now = time(NULL);
  return t <= now ? 0 : (long)((t - now > 86400 ? 86400 : t - now) * 1000);
}

int evp__retry_budget_fail(evp_client_t *c) {
  c->budget -= 1.0;
  if (c->budget < 0)
    c->budget = 0;
  return c->budget <= (double)c->conf->retry_budget_tokens / 2.0;
}

void evp__retry_budget_ok(evp_client_t *c) {
  c->budget += c->conf->retry_budget_ratio;
  if (c->budget > (double)c->conf->retry_budget_tokens)
    c->budget = (double)c->conf->retry_budget_tokens;
}
