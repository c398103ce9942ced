/* What the function object offers every handler: its clock, sleep and
 * random numbers (replaceable through the configuration, for tests), its
 * Secrets Manager and Firehose clients (created on first use), and the
 * wiping of parsed JSON that may hold secrets. Calls nothing above it. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include "base/base.h"
#include "functions/fn_int.h"

int64_t evp__fn_now_s(const evp__fn_t *fn) {
  return fn->cfg.clock ? fn->cfg.clock(fn->cfg.clock_opaque) : evp__system_clock(NULL);
}

int64_t evp__fn_remaining_ms(const evp__fn_call_t *call) {
  if (!call || call->deadline_ms <= 0) return INT64_MAX;
  return call->deadline_ms - evp__wall_ms();
}

uint64_t evp__fn_rand(evp__fn_t *fn, uint64_t n) {
  if (n == 0) return 0;
  /* xorshift64*: jitter only, seeded from the CSPRNG. */
  uint64_t x = fn->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  fn->rng = x;
  return (x * 2685821657736338717ULL) % n;
}

void evp__fn_sleep_ms(evp__fn_t *fn, int64_t ms) {
  if (ms <= 0) return;
  if (fn->cfg.sleep_ms) {
    fn->cfg.sleep_ms(fn->cfg.sleep_opaque, ms);
    return;
  }
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* ------------------------------------------------------------ AWS clients */

evp_err_t evp__fn_sm(evp__fn_t *fn, evp__aws_client_t **out, char *errstr, size_t errstr_size) {
  if (!fn->sm) {
    evp_err_t e = evp__aws_client_new(fn->aws_env, "secretsmanager", "SECRETS_MANAGER",
                                      "secretsmanager", &fn->sm, errstr, errstr_size);
    if (e != EVP_OK) return e;
  }
  *out = fn->sm;
  return EVP_OK;
}

evp_err_t evp__fn_fh(evp__fn_t *fn, evp__aws_client_t **out, char *errstr, size_t errstr_size) {
  if (!fn->fh) {
    evp_err_t e = evp__aws_client_new(fn->aws_env, "firehose", "FIREHOSE", "Firehose_20150804",
                                      &fn->fh, errstr, errstr_size);
    if (e != EVP_OK) return e;
  }
  *out = fn->fh;
  return EVP_OK;
}

/* ------------------------------------------------------------ cJSON */

static void wipe_tree(cJSON *c, int depth) {
  for (; c; c = c->next) {
    if (c->valuestring) OPENSSL_cleanse(c->valuestring, strlen(c->valuestring));
    if (c->child && depth < 2000) wipe_tree(c->child, depth + 1);
  }
}

void evp__fn_cjson_wipe_delete(cJSON *root) {
  if (!root) return;
  wipe_tree(root, 0);
  cJSON_Delete(root);
}
