/* The functions' configuration: defaults and the EVP_* environment. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "functions/functions.h"

static const char *const kind_names[] = {"issuer", "authorizer", "processor", "rotation"};

int evp__fn_kind_parse(const char *handler) {
  if (!handler) return -1;
  if (strncmp(handler, "evpipe.", 7) == 0) handler += 7;
  for (int i = 0; i < 4; i++)
    if (strcmp(handler, kind_names[i]) == 0) return i;
  return -1;
}

const char *evp__fn_kind_name(evp__fn_kind_t k) {
  return (unsigned)k < 4 ? kind_names[k] : "unknown";
}

void evp__fn_config_default(evp__fn_config_t *c, evp__fn_kind_t kind) {
  memset(c, 0, sizeof *c);
  c->kind = kind;
  snprintf(c->token_issuer, sizeof c->token_issuer, "evpipe");
  snprintf(c->token_audience, sizeof c->token_audience, "events");
  c->token_ttl_s = EVP_JWT_DEFAULT_TTL;
  c->cache_ttl_s = 300;
  c->key_refresh_min_s = 10;
  c->max_events = EVP__EVENTS_DEFAULT_MAX;
  c->max_body = EVP__EVENTS_DEFAULT_MAX_BODY;
  c->fh_max_attempts = 8;
  c->fh_backoff_ms = 100;
  c->fh_backoff_max_ms = 2000;
  c->deadline_margin_ms = 1000;
}

/* A string variable into @p dst; required ones must be set and non-empty. */
static evp_err_t env_str(const char *name, int required, char *dst, size_t cap, char *errstr,
                         size_t errstr_size) {
  const char *v = getenv(name);
  if (!v || !*v) {
    if (required)
      return evp__seterr(errstr, errstr_size, EVP_ERR_CONF_INVALID, "%s is not set", name);
    return EVP_OK;
  }
  size_t n = strlen(v);
  if (n >= cap)
    return evp__seterr(errstr, errstr_size, EVP_ERR_CONF_INVALID, "%s is longer than %zu bytes",
                       name, cap - 1);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
      return evp__seterr(errstr, errstr_size, EVP_ERR_CONF_INVALID, "%s holds a control character",
                         name);
  memcpy(dst, v, n + 1);
  return EVP_OK;
}

static evp_err_t env_int(const char *name, int64_t lo, int64_t hi, int64_t *dst, char *errstr,
                         size_t errstr_size) {
  const char *v = getenv(name);
  if (!v || !*v) return EVP_OK;
  char *end;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (errno || end == v || *end || x < lo || x > hi)
    return evp__seterr(errstr, errstr_size, EVP_ERR_CONF_INVALID,
                       "%s must be an integer in %lld..%lld", name, (long long)lo, (long long)hi);
  *dst = x;
  return EVP_OK;
}

/* A Firehose delivery stream name (not an ARN). */
static int stream_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64) return 0;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '_' || ch == '.' || ch == '-'))
      return 0;
  }
  return 1;
}

evp_err_t evp__fn_config_from_env(evp__fn_config_t *c, evp__fn_kind_t kind, char *errstr,
                                  size_t errstr_size) {
  evp__fn_config_default(c, kind);
  evp_err_t e;
  int64_t x;
#define TRY(expr)                         \
  do {                                    \
    if ((e = (expr)) != EVP_OK) return e; \
  } while (0)
  int need_key = kind == EVP__FN_ISSUER || kind == EVP__FN_AUTHORIZER;
  TRY(env_str("EVP_SIGNING_KEY_SECRET_ID", need_key, c->signing_secret_id,
              sizeof c->signing_secret_id, errstr, errstr_size));
  TRY(env_str("EVP_CLIENTS_SECRET_ID", kind == EVP__FN_ISSUER, c->clients_secret_id,
              sizeof c->clients_secret_id, errstr, errstr_size));
  TRY(env_str("EVP_TOKEN_ISSUER", 0, c->token_issuer, sizeof c->token_issuer, errstr, errstr_size));
  TRY(env_str("EVP_TOKEN_AUDIENCE", 0, c->token_audience, sizeof c->token_audience, errstr,
              errstr_size));
  TRY(env_int("EVP_TOKEN_TTL", 60, 86400, &c->token_ttl_s, errstr, errstr_size));
  TRY(env_int("EVP_SECRET_CACHE_TTL", 0, 86400, &c->cache_ttl_s, errstr, errstr_size));
  TRY(env_int("EVP_KEY_REFRESH_MIN_INTERVAL", 0, 3600, &c->key_refresh_min_s, errstr, errstr_size));
  const char *res = getenv("EVP_AUTHZ_RESOURCE");
  if (res && *res) {
    if (strcmp(res, "method") == 0)
      c->authz_method_only = 1;
    else if (strcmp(res, "api") != 0)
      return evp__seterr(errstr, errstr_size, EVP_ERR_CONF_INVALID,
                         "EVP_AUTHZ_RESOURCE must be \"api\" or \"method\"");
  }
  int proc = kind == EVP__FN_PROCESSOR;
  TRY(env_str("EVP_DELIVERY_STREAM", proc, c->delivery_stream, sizeof c->delivery_stream, errstr,
              errstr_size));
  TRY(env_str("EVP_DEADLETTER_STREAM", proc, c->deadletter_stream, sizeof c->deadletter_stream,
              errstr, errstr_size));
  TRY(env_str("EVP_SCHEMA_FILE", 0, c->schema_file, sizeof c->schema_file, errstr, errstr_size));
  x = (int64_t)c->max_events;
  TRY(env_int("EVP_MAX_EVENTS", 1, 100000, &x, errstr, errstr_size));
  c->max_events = (size_t)x;
  x = (int64_t)c->max_body;
  TRY(env_int("EVP_MAX_BODY", 1024, EVP_LAMBDA_MAX_EVENT, &x, errstr, errstr_size));
  c->max_body = (size_t)x;
  x = c->fh_max_attempts;
  TRY(env_int("EVP_FIREHOSE_MAX_ATTEMPTS", 1, 100, &x, errstr, errstr_size));
  c->fh_max_attempts = (unsigned)x;
  TRY(env_int("EVP_FIREHOSE_BACKOFF_MS", 0, 60000, &c->fh_backoff_ms, errstr, errstr_size));
  TRY(env_int("EVP_FIREHOSE_BACKOFF_MAX_MS", 0, 600000, &c->fh_backoff_max_ms, errstr,
              errstr_size));
  TRY(env_int("EVP_DEADLINE_MARGIN_MS", 0, 600000, &c->deadline_margin_ms, errstr, errstr_size));
#undef TRY
  if (proc && (!stream_ok(c->delivery_stream) || !stream_ok(c->deadletter_stream)))
    return evp__seterr(errstr, errstr_size, EVP_ERR_CONF_INVALID,
                       "EVP_DELIVERY_STREAM and EVP_DEADLETTER_STREAM must be Firehose stream "
                       "names (1..64 characters of [A-Za-z0-9_.-])");
  if (proc && strcmp(c->delivery_stream, c->deadletter_stream) == 0)
    return evp__seterr(errstr, errstr_size, EVP_ERR_CONF_INVALID,
                       "EVP_DEADLETTER_STREAM must differ from EVP_DELIVERY_STREAM");
  return EVP_OK;
}
