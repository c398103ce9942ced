/* Retry policy: Retry-After parsing, the per-batch backoff, and the retry
 * budget. The budget is Finagle's RetryBudget (also Envoy's retry budget):
 * retries may be up to a ratio of first attempts plus a minimum number a
 * second, saved up to a cap. A link that loses 30% of requests needs ~0.43
 * retries per first attempt and keeps its goodput (ratio 0.5 by default); a
 * dead server gets at most min.per.sec retries a second once the saved
 * tokens are spent. gRPC's throttling (tokens earned only by successes)
 * drained at any sustained failure rate above ratio/(1+ratio): 9% with the
 * old defaults. Finagle (and tower's Budget) let deposits expire after a ttl
 * (a sliding window); here the cap retry.budget.tokens bounds what can be
 * saved up instead, which bounds a burst of retries the same way with one
 * number and no per-deposit bookkeeping. */
#include <stdlib.h>
#include <string.h>
#include "client/client_int.h"

/* An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", the HTTP-date form RFC 9110
 * 5.6.7 has senders generate) as seconds since the epoch; -1 when it is not
 * one. Not curl_getdate(): it returns time_t, which is 32-bit in the libcurl of
 * 32-bit glibc targets (Debian 12 armhf) while libevpipe is built with a 64-bit
 * one there, and a 32-bit time_t cannot hold dates past 2038-01-19. */
static int64_t imf_fixdate(const char *s, size_t n) {
  static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  static const unsigned char at[] = {5, 6, 12, 13, 14, 15, 17, 18, 20, 21, 23, 24};
  if (n != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || memcmp(s + 25, " GMT", 4) != 0)
    return -1;
  unsigned v[12];
  for (size_t i = 0; i < sizeof at; i++) {
    if (s[at[i]] < '0' || s[at[i]] > '9') return -1;
    v[i] = (unsigned)(s[at[i]] - '0');
  }
  unsigned day = v[0] * 10 + v[1], year = v[2] * 1000 + v[3] * 100 + v[4] * 10 + v[5];
  unsigned h = v[6] * 10 + v[7], mi = v[8] * 10 + v[9], sec = v[10] * 10 + v[11], mon = 0;
  while (mon < 12 && memcmp(months + 3 * mon, s + 8, 3) != 0) mon++;
  if (mon == 12 || day < 1 || day > 31 || h > 23 || mi > 59 || sec > 60) return -1;
  return evp__days_from_civil(year, mon + 1, day) * 86400 + (int64_t)h * 3600 + mi * 60 + sec;
}

long evp__retry_parse_after(const char *v, size_t len) {
  char buf[64];
  while (len && (*v == ' ' || *v == '\t')) v++, len--;
  while (len && (v[len - 1] == ' ' || v[len - 1] == '\r' || v[len - 1] == '\n')) len--;
  if (!len || len >= sizeof buf) return -1;
  memcpy(buf, v, len);
  buf[len] = '\0';
  char *end;
  long s = strtol(buf, &end, 10);
  if (end != buf && !*end) return s < 0 ? -1 : (s > 86400 ? 86400000L : s * 1000L);
  int64_t t = imf_fixdate(buf, len), now = evp__wall_us() / 1000000;
  if (t < 0) return -1;
  return t <= now ? 0 : (long)((t - now > 86400 ? 86400 : t - now) * 1000);
}

int64_t evp__retry_delay_ms(evp_client_t *c, int n) {
  int64_t base = c->conf->retry_backoff_ms, cap = c->conf->retry_backoff_max_ms, ceil = base;
  for (int i = 1; i < n && ceil < cap; i++) ceil *= 2;
  if (ceil > cap) ceil = cap;
  return ceil / 2 + (int64_t)(evp__retry_rand01(&c->rng) * (double)(ceil - ceil / 2 + 1));
}

/* Time's deposit: min.per.sec tokens a second, up to the cap. */
static void refill(evp_client_t *c, int64_t now) {
  double cap = (double)c->conf->retry_budget_tokens;
  if (now > c->budget_us) {
    c->budget += (double)(now - c->budget_us) / 1e6 * c->conf->retry_budget_min_per_sec;
    c->budget_us = now;
  }
  if (c->budget > cap) c->budget = cap;
}

void evp__retry_budget_deposit(evp_client_t *c, int64_t now) {
  refill(c, now);
  c->budget += c->conf->retry_budget_ratio;
  if (c->budget > (double)c->conf->retry_budget_tokens)
    c->budget = (double)c->conf->retry_budget_tokens;
}

int evp__retry_budget_take(evp_client_t *c, int64_t now) {
  refill(c, now);
  if (c->budget < 1.0) return 0;
  c->budget -= 1.0;
  return 1;
}

int64_t evp__retry_budget_ready_us(evp_client_t *c, int64_t now) {
  refill(c, now);
  if (c->budget >= 1.0) return now;
  return now + (int64_t)((1.0 - c->budget) / c->conf->retry_budget_min_per_sec * 1e6) + 1;
}
