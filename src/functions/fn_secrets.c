/* The secrets of the issuer and the authorizer, fetched from Secrets Manager
 * on first use and cached with a TTL. A failed refresh keeps what is cached
 * (a Secrets Manager hiccup must not lock every client out), retried at most
 * every few seconds. Raw secret values never outlive the fetch: signing keys
 * go into a keyring (HMAC-prepared), client secrets into the client store
 * (HMACs only). */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "base/base.h"
#include "functions/fn_int.h"

#define RETRY_STALE_S 5 /* a failed refresh is retried after this long */

void evp__fn_keys_free(evp__fn_keys_t *k) {
  if (!k) return;
  evp_jwt_signer_destroy(k->signer);
  evp_jwt_verifier_destroy(k->verifier);
  evp_jwt_verifier_destroy(k->verifier_anyaud);
  evp_keyring_destroy(k->kr);
  free(k);
}

evp_err_t evp__fn_key_decode(const unsigned char *val, size_t len, unsigned char *key,
                             size_t *keylen) {
  const char *s = (const char *)val;
  while (len > 0 && isspace((unsigned char)s[0])) s++, len--;
  while (len > 0 && isspace((unsigned char)s[len - 1])) len--;
  while (len > 0 && s[len - 1] == '=') len--;
  if (len == 0) return EVP_ERR_BASE64;
  if (len / 4 * 3 + 3 > EVP__FN_KEY_MAX) return EVP_ERR_TOO_LARGE;
  evp_err_t e = evp_base64url_decode(s, len, key, keylen);
  if (e != EVP_OK) return e;
  if (*keylen < EVP_JWT_MIN_KEY_LEN) {
    OPENSSL_cleanse(key, *keylen);
    return EVP_ERR_KEY_TOO_SHORT;
  }
  return EVP_OK;
}

evp_err_t evp__fn_keys_build(const evp__fn_config_t *cfg, const char *const *kids,
                             const unsigned char *const *keys, const size_t *lens, size_t n,
                             evp__fn_keys_t **out, char *errstr, size_t errstr_size) {
  *out = NULL;
  evp__fn_keys_t *k = calloc(1, sizeof *k);
  if (!k || !(k->kr = evp_keyring_new())) {
    free(k);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  }
  evp_err_t e;
  for (size_t i = 0; i < n; i++)
    if ((e = evp_keyring_add(k->kr, kids[i], keys[i], lens[i], errstr, errstr_size)) != EVP_OK)
      goto fail;
  k->n_keys = n;
  snprintf(k->current_kid, sizeof k->current_kid, "%s", n ? kids[0] : "");
  if (!(k->signer = evp_jwt_signer_new(k->kr, errstr, errstr_size)) ||
      !(k->verifier = evp_jwt_verifier_new(k->kr, errstr, errstr_size)) ||
      !(k->verifier_anyaud = evp_jwt_verifier_new(k->kr, errstr, errstr_size))) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "cannot set up the token signer");
    goto fail;
  }
  if ((e = evp_jwt_signer_set_issuer(k->signer, cfg->token_issuer)) != EVP_OK ||
      (e = evp_jwt_signer_set_ttl(k->signer, cfg->token_ttl_s)) != EVP_OK ||
      (e = evp_jwt_verifier_set_issuer(k->verifier, cfg->token_issuer)) != EVP_OK ||
      (e = evp_jwt_verifier_set_audience(k->verifier, cfg->token_audience)) != EVP_OK ||
      (e = evp_jwt_verifier_set_issuer(k->verifier_anyaud, cfg->token_issuer)) != EVP_OK ||
      /* No token outlives what the issuer grants (docs/security.md). */
      (e = evp_jwt_verifier_set_max_lifetime(k->verifier, cfg->token_ttl_s)) != EVP_OK ||
      (e = evp_jwt_verifier_set_max_lifetime(k->verifier_anyaud, cfg->token_ttl_s)) != EVP_OK) {
    evp__seterr(errstr, errstr_size, e, "cannot configure the token signer");
    goto fail;
  }
  if (cfg->clock) {
    evp_jwt_signer_set_clock(k->signer, cfg->clock, cfg->clock_opaque);
    evp_jwt_verifier_set_clock(k->verifier, cfg->clock, cfg->clock_opaque);
    evp_jwt_verifier_set_clock(k->verifier_anyaud, cfg->clock, cfg->clock_opaque);
  }
  *out = k;
  return EVP_OK;
fail:
  evp__fn_keys_free(k);
  return e;
}

/* GetSecretValue of one stage. *absent is set (and EVP_OK returned) when
 * the stage does not exist. Logs failures (never values). */
static evp_err_t get_stage(evp__fn_t *fn, const evp__fn_call_t *call, const char *id,
                           const char *stage, evp__aws_secret_t *s, int *absent) {
  char err[256], f[512];
  size_t n = 0;
  evp__aws_client_t *sm;
  *absent = 0;
  memset(s, 0, sizeof *s);
  evp_err_t e = evp__fn_sm(fn, &sm, err, sizeof err);
  if (e != EVP_OK) {
    evp__fn_field_str(f, sizeof f, &n, "error", err);
    evp__fn_log(call, EVP_LOG_ERR, "cannot create the Secrets Manager client",
                evp__fn_field_end(f, sizeof f, &n));
    return e;
  }
  evp__aws_result_t res;
  memset(&res, 0, sizeof res);
  e = evp__sm_get_secret(sm, id, stage, NULL, s, &res);
  if (e == EVP_ERR_HTTP && strcmp(res.err_type, "ResourceNotFoundException") == 0) {
    *absent = 1;
    return EVP_OK;
  }
  if (e != EVP_OK) {
    evp__fn_field_str(f, sizeof f, &n, "secret_id", id);
    evp__fn_field_str(f, sizeof f, &n, "stage", stage);
    evp__fn_field_str(f, sizeof f, &n, "error", evp_err2name(e));
    evp__fn_field_str(f, sizeof f, &n, "aws_error", res.err_type);
    evp__fn_field_num(f, sizeof f, &n, "http_status", res.http_status);
    evp__fn_log(call, EVP_LOG_ERR, "GetSecretValue failed", evp__fn_field_end(f, sizeof f, &n));
  }
  return e;
}

static void log_bad_value(const evp__fn_call_t *call, const char *id, const char *stage,
                          const char *why) {
  char f[512];
  size_t n = 0;
  evp__fn_field_str(f, sizeof f, &n, "secret_id", id);
  evp__fn_field_str(f, sizeof f, &n, "stage", stage);
  evp__fn_field_str(f, sizeof f, &n, "error", why);
  evp__fn_log(call, EVP_LOG_ERR, "secret value unusable", evp__fn_field_end(f, sizeof f, &n));
}

/* Fetch AWSCURRENT (+ AWSPREVIOUS for the authorizer) and build a key set. */
static evp_err_t fetch_keys(evp__fn_t *fn, const evp__fn_call_t *call, evp__fn_keys_t **out) {
  static const char *const stages[2] = {"AWSCURRENT", "AWSPREVIOUS"};
  const char *id = fn->cfg.signing_secret_id;
  size_t nst = fn->cfg.kind == EVP__FN_AUTHORIZER ? 2 : 1;
  evp__aws_secret_t s[2];
  unsigned char *keys[2] = {NULL, NULL};
  size_t lens[2] = {0, 0};
  const char *kids[2];
  size_t n = 0;
  evp_err_t e = EVP_OK;
  memset(s, 0, sizeof s);
  for (size_t i = 0; i < nst; i++) {
    int absent;
    if ((e = get_stage(fn, call, id, stages[i], &s[n], &absent)) != EVP_OK) goto out;
    if (absent) {
      if (i == 0) {
        log_bad_value(call, id, stages[i], "no such secret or stage");
        e = EVP_ERR_STATE;
        goto out;
      }
      continue;
    }
    if (!(keys[n] = malloc(EVP__FN_KEY_MAX))) {
      evp__aws_secret_clear(&s[n]);
      e = EVP_ERR_NOMEM;
      goto out;
    }
    evp_err_t de = s[n].value ? evp__fn_key_decode(s[n].value, s[n].value_len, keys[n], &lens[n])
                              : EVP_ERR_BASE64;
    if (de != EVP_OK || !s[n].version_id[0]) {
      log_bad_value(call, id, stages[i],
                    de == EVP_ERR_KEY_TOO_SHORT ? "key shorter than 32 bytes"
                                                : "not a base64url key with a version id");
      free(keys[n]);
      keys[n] = NULL;
      evp__aws_secret_clear(&s[n]);
      if (i == 0) {
        e = EVP_ERR_STATE;
        goto out;
      }
      continue; /* an unusable previous key only stops verifying old tokens */
    }
    kids[n] = s[n].version_id;
    n++;
  }
  char err[256];
  e = evp__fn_keys_build(&fn->cfg, kids, (const unsigned char *const *)keys, lens, n, out, err,
                         sizeof err);
  if (e != EVP_OK) log_bad_value(call, id, "AWSCURRENT", err);
out:
  for (size_t i = 0; i < 2; i++) {
    if (keys[i]) {
      OPENSSL_cleanse(keys[i], EVP__FN_KEY_MAX);
      free(keys[i]);
    }
    evp__aws_secret_clear(&s[i]);
  }
  return e;
}

evp_err_t evp__fn_keys_get(evp__fn_t *fn, const evp__fn_call_t *call, int early,
                           const evp__fn_keys_t **out) {
  int64_t now = evp__fn_now_s(fn);
  int fresh = fn->keys && now - fn->keys_fetched_s < fn->cfg.cache_ttl_s;
  *out = fn->keys;
  if (early) {
    /* An unknown kid: perhaps a rotation. Rate-limited, so that forged kids
     * cannot make every invocation call Secrets Manager. */
    if (fn->keys_early_done && now - fn->keys_early_s < fn->cfg.key_refresh_min_s)
      return fn->keys ? EVP_OK : EVP_ERR_STATE;
    fn->keys_early_done = 1;
    fn->keys_early_s = now;
  } else if (fresh) {
    return EVP_OK;
  } else if (fn->keys && fn->keys_attempted && now - fn->keys_attempt_s < RETRY_STALE_S) {
    return EVP_OK; /* stale, refresh failed a moment ago */
  }
  fn->keys_attempted = 1;
  fn->keys_attempt_s = now;
  evp__fn_keys_t *k = NULL;
  evp_err_t e = fetch_keys(fn, call, &k);
  if (e == EVP_OK) {
    evp__fn_keys_free(fn->keys);
    fn->keys = k;
    fn->keys_gen++;
    fn->keys_fetched_s = now;
    char f[256];
    size_t n = 0;
    evp__fn_field_str(f, sizeof f, &n, "signing_kid", k->current_kid);
    evp__fn_field_num(f, sizeof f, &n, "keys", (long long)k->n_keys);
    evp__fn_log(call, EVP_LOG_INFO, "signing keys loaded", evp__fn_field_end(f, sizeof f, &n));
  } else if (fn->keys) {
    evp__fn_log(call, EVP_LOG_WARNING, "keeping the cached signing keys", NULL);
  }
  *out = fn->keys;
  return fn->keys ? EVP_OK : e;
}

/* Parse one stage of the client store; *out NULL when absent. */
static evp_err_t fetch_clients_stage(evp__fn_t *fn, const evp__fn_call_t *call, const char *stage,
                                     evp__clients_t **out) {
  evp__aws_secret_t s;
  int absent;
  *out = NULL;
  evp_err_t e = get_stage(fn, call, fn->cfg.clients_secret_id, stage, &s, &absent);
  if (e != EVP_OK || absent) return e;
  char err[256];
  e = s.value ? evp__clients_parse((const char *)s.value, s.value_len, out, err, sizeof err)
              : EVP_ERR_JSON;
  if (e != EVP_OK && e != EVP_ERR_NOMEM)
    log_bad_value(call, fn->cfg.clients_secret_id, stage, s.value ? err : "no SecretString");
  evp__aws_secret_clear(&s);
  return e;
}

evp_err_t evp__fn_clients_get(evp__fn_t *fn, const evp__fn_call_t *call, const evp__clients_t **cur,
                              const evp__clients_t **prev) {
  int64_t now = evp__fn_now_s(fn);
  int fresh = fn->clients_cur && now - fn->clients_fetched_s < fn->cfg.cache_ttl_s;
  int stale_ok =
      fn->clients_cur && fn->clients_attempted && now - fn->clients_attempt_s < RETRY_STALE_S;
  evp_err_t e = EVP_OK;
  if (!fresh && !stale_ok) {
    fn->clients_attempted = 1;
    fn->clients_attempt_s = now;
    evp__clients_t *c = NULL, *p = NULL;
    e = fetch_clients_stage(fn, call, "AWSCURRENT", &c);
    if (e == EVP_OK && !c) {
      log_bad_value(call, fn->cfg.clients_secret_id, "AWSCURRENT", "no such secret or stage");
      e = EVP_ERR_STATE;
    }
    if (e == EVP_OK && fetch_clients_stage(fn, call, "AWSPREVIOUS", &p) != EVP_OK)
      p = NULL; /* without the previous store only the current secrets work */
    if (e == EVP_OK) {
      evp__clients_free(fn->clients_cur);
      evp__clients_free(fn->clients_prev);
      fn->clients_cur = c;
      fn->clients_prev = p;
      fn->clients_fetched_s = now;
      char f[128];
      size_t n = 0;
      evp__fn_field_num(f, sizeof f, &n, "clients", (long long)evp__clients_count(c));
      evp__fn_field_num(f, sizeof f, &n, "previous_clients", (long long)evp__clients_count(p));
      evp__fn_log(call, EVP_LOG_INFO, "client store loaded", evp__fn_field_end(f, sizeof f, &n));
    } else {
      evp__clients_free(c);
      if (fn->clients_cur)
        evp__fn_log(call, EVP_LOG_WARNING, "keeping the cached client store", NULL);
    }
  }
  *cur = fn->clients_cur;
  *prev = fn->clients_prev;
  return fn->clients_cur ? EVP_OK : e;
}
