/* Token buckets per key (API Gateway's throttling model: a sustained rate
 * and a burst): per client id on /events, per source address on /token.
 * Buckets are refilled lazily when taken from. The table is bounded; a
 * bucket idle long enough to be full again is the same as a fresh one, so
 * its slot is reused for a new key — keys from an open set (addresses)
 * cannot fill the table. Only when every slot on a key's probe path is busy
 * does the key share the one overflow bucket. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "local/local.h"

#define SLOTS 4096 /* power of two, > EVP__CLIENTS_MAX / 0.75 is not needed: overflow shares */

typedef struct {
  char key[EVP__CLIENT_ID_MAX + 1];
  double tokens, last;
  int used;
} bucket_t;

struct evp__ratelimit {
  pthread_mutex_t mu;
  double rps, burst;
  bucket_t b[SLOTS];
  bucket_t overflow;
};

evp__ratelimit_t *evp__ratelimit_new(double rps, double burst) {
  if (!(rps > 0) || !(burst >= 1)) return NULL;
  evp__ratelimit_t *rl = calloc(1, sizeof *rl);
  if (!rl) return NULL;
  if (pthread_mutex_init(&rl->mu, NULL) != 0) {
    free(rl);
    return NULL;
  }
  rl->rps = rps;
  rl->burst = burst;
  return rl;
}

void evp__ratelimit_free(evp__ratelimit_t *rl) {
  if (!rl) return;
  pthread_mutex_destroy(&rl->mu);
  free(rl);
}

static bucket_t *find(evp__ratelimit_t *rl, const char *key, double now) {
  size_t n = strlen(key);
  if (n > EVP__CLIENT_ID_MAX) return &rl->overflow;
  uint32_t h = evp__fnv1a(key, n);
  bucket_t *idle = NULL;
  for (size_t probe = 0; probe < 64; probe++) {
    bucket_t *b = &rl->b[(h + probe) & (SLOTS - 1)];
    if (!b->used) {
      if (!idle) idle = b;
      break; /* slots are never emptied again, so the key is not further on */
    }
    if (strcmp(b->key, key) == 0) return b;
    if (!idle && b->tokens + (now - b->last) * rl->rps >= rl->burst) idle = b;
  }
  if (!idle) return &rl->overflow;
  idle->used = 1;
  memcpy(idle->key, key, n + 1);
  idle->tokens = rl->burst;
  idle->last = now;
  return idle;
}

int evp__ratelimit_take(evp__ratelimit_t *rl, const char *key, double now_s) {
  pthread_mutex_lock(&rl->mu);
  bucket_t *b = find(rl, key, now_s);
  if (!b->used) { /* the overflow bucket starts full */
    b->used = 1;
    b->tokens = rl->burst;
    b->last = now_s;
  }
  if (now_s > b->last) {
    b->tokens = fmin(rl->burst, b->tokens + (now_s - b->last) * rl->rps);
    b->last = now_s;
  }
  int wait = 0;
  if (b->tokens >= 1.0) {
    b->tokens -= 1.0;
  } else {
    double s = ceil((1.0 - b->tokens) / rl->rps);
    wait = s < 1 ? 1 : s > 3600 ? 3600 : (int)s;
  }
  pthread_mutex_unlock(&rl->mu);
  return wait;
}
