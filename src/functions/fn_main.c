/* The function object: creation (config, schema, AWS environment), the
 * dispatch to the four handlers, and the helpers they share. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include "base/base.h"
#include "json/json.h"
#include "functions/fn_int.h"

#include "base/files.h"

#define SCHEMA_FILE_MAX (16u * 1024u * 1024u)

int64_t evp__fn_now_s(const evp__fn_t *fn) {
  return fn->cfg.clock ? fn->cfg.clock(fn->cfg.clock_opaque) : evp__system_clock(NULL);
}

int64_t evp__fn_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t evp__fn_remaining_ms(const evp__fn_call_t *call) {
  if (!call || call->deadline_ms <= 0)
    return INT64_MAX;
  return call->deadline_ms - evp__fn_now_ms();
}

uint64_t evp__fn_rand(evp__fn_t *fn, uint64_t n) {
  if (n == 0)
    return 0;
  /* xorshift64*: jitter only, seeded from the CSPRNG. */
  uint64_t x = fn->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  fn->rng = x;
  return (x * 2685821657736338717ULL) % n;
}

void evp__fn_sleep_ms(evp__fn_t *fn, int64_t ms) {
  if (ms <= 0)
    return;
  if (fn->cfg.sleep_ms) {
    fn->cfg.sleep_ms(fn->cfg.sleep_opaque, ms);
    return;
  }
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

evp_err_t evp__fn_fail(evp_err_t e, const char *type, const char *msg, char *errtype,
                       size_t errtype_size, char *errmsg, size_t errmsg_size) {
  if (errtype && errtype_size)
    snprintf(errtype, errtype_size, "%s", type);
  if (errmsg && errmsg_size)
    snprintf(errmsg, errmsg_size, "%s", msg);
  return e == EVP_OK ? EVP_ERR_INTERNAL : e;
}

/* ------------------------------------------------------------ logs */

void evp__fn_log(const evp__fn_call_t *call, evp_log_level_t lvl, const char *msg,
                 const char *fields) {
  evp_lambda_log(call ? call->inv : NULL, lvl, msg, fields);
}

void evp__fn_field_str(char *buf, size_t cap, size_t *n, const char *name, const char *value) {
  char tmp[6 * 200 + 1];
  size_t vl = value ? strnlen(value, 200) : 0;
  /* do not cut a UTF-8 sequence */
  while (value && vl > 0 && vl < strlen(value) && ((unsigned char)value[vl] & 0xC0) == 0x80)
    vl--;
  size_t tl = value ? evp__json_escape(value, vl, tmp) : 0;
  tmp[tl] = '\0';
  if (*n == 0 && cap > 1)
    buf[(*n)++] = '{', buf[*n] = '\0';
  size_t need = strlen(name) + tl + 8;
  if (*n + need >= cap)
    return;
  *n += (size_t)snprintf(buf + *n, cap - *n, "%s\"%s\":\"%s\"", *n > 1 ? "," : "", name, tmp);
}

void evp__fn_field_num(char *buf, size_t cap, size_t *n, const char *name, long long v) {
  if (*n == 0 && cap > 1)
    buf[(*n)++] = '{', buf[*n] = '\0';
  if (*n + strlen(name) + 28 >= cap)
    return;
  *n += (size_t)snprintf(buf + *n, cap - *n, "%s\"%s\":%lld", *n > 1 ? "," : "", name, v);
}

const char *evp__fn_field_end(char *buf, size_t cap, size_t *n) {
  if (*n == 0 || *n + 2 > cap)
    return NULL;
  buf[(*n)++] = '}';
  buf[*n] = '\0';
  return buf;
}

/* ------------------------------------------------------------ cJSON */

static void wipe_tree(cJSON *c, int depth) {
  for (; c; c = c->next) {
    if (c->valuestring)
      OPENSSL_cleanse(c->valuestring, strlen(c->valuestring));
    if (c->child && depth < 2000)
      wipe_tree(c->child, depth + 1);
  }
}

void evp__fn_cjson_wipe_delete(cJSON *root) {
  if (!root)
    return;
  wipe_tree(root, 0);
  cJSON_Delete(root);
}

/* ------------------------------------------------------------ AWS clients */

evp_err_t evp__fn_sm(evp__fn_t *fn, evp__aws_client_t **out, char *errstr, size_t errstr_size) {
  if (!fn->sm) {
    evp_err_t e = evp__aws_client_new(fn->aws_env, "secretsmanager", "SECRETS_MANAGER",
                                      "secretsmanager", &fn->sm, errstr, errstr_size);
    if (e != EVP_OK)
      return e;
  }
  *out = fn->sm;
  return EVP_OK;
}

evp_err_t evp__fn_fh(evp__fn_t *fn, evp__aws_client_t **out, char *errstr, size_t errstr_size) {
  if (!fn->fh) {
    evp_err_t e = evp__aws_client_new(fn->aws_env, "firehose", "FIREHOSE", "Firehose_20150804",
                                      &fn->fh, errstr, errstr_size);
    if (e != EVP_OK)
      return e;
  }
  *out = fn->fh;
  return EVP_OK;
}

/* ------------------------------------------------------------ life cycle */

void evp__fn_free(evp__fn_t *fn) {
  if (!fn)
    return;
  evp__aws_client_free(fn->sm);
  evp__aws_client_free(fn->fh);
  evp__aws_env_free(fn->aws_env);
  evp__fn_keys_free(fn->keys);
  evp__clients_free(fn->clients_cur);
  evp__clients_free(fn->clients_prev);
  evp_schema_ctx_destroy(fn->ctx);
  evp_schema_destroy(fn->schema);
  evp__fn_rec_free(fn->rec);
  free(fn->schema_text);
  OPENSSL_cleanse(fn, sizeof *fn);
  free(fn);
}

static evp_err_t load_schema(evp__fn_t *fn, const char *def, size_t def_len, char *errstr,
                             size_t errstr_size) {
  char err[512];
  evp_err_t e;
  size_t len;
  const char *text;
  if (fn->cfg.schema_file[0]) {
    if ((e = evp__file_read(fn->cfg.schema_file, SCHEMA_FILE_MAX, 0, &fn->schema_text, &len,
                                  NULL, err, sizeof err)) != EVP_OK)
      return evp__seterr(errstr, errstr_size, e, "EVP_SCHEMA_FILE: %s", err);
    text = fn->schema_text;
  } else if (def && def_len) {
    text = def;
    len = def_len;
  } else {
    return evp__seterr(errstr, errstr_size, EVP_ERR_CONF_INVALID,
                       "no event schema: set EVP_SCHEMA_FILE");
  }
  if (!(fn->schema = evp_schema_compile(text, len, NULL, &e, err, sizeof err)))
    return evp__seterr(errstr, errstr_size, e, "the event schema does not compile: %s", err);
  if (!(fn->ctx = evp_schema_ctx_new()))
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  if ((e = evp__fn_rec_new(text, len, &fn->rec, err, sizeof err)) != EVP_OK)
    return evp__seterr(errstr, errstr_size, e, "the event schema gives no Glue table: %s", err);
  return EVP_OK;
}

evp_err_t evp__fn_new(const evp__fn_config_t *cfg, const char *default_schema,
                      size_t default_schema_len, evp__fn_t **out, char *errstr,
                      size_t errstr_size) {
  *out = NULL;
  evp__fn_t *fn = calloc(1, sizeof *fn);
  if (!fn)
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  fn->cfg = *cfg;
  evp_err_t e;
  if (evp__random(&fn->rng, sizeof fn->rng) != EVP_OK || fn->rng == 0)
    fn->rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)evp__fn_now_ms();
  if ((e = evp__aws_env_from_environ(&fn->aws_env, errstr, errstr_size)) != EVP_OK)
    goto fail;
  if (cfg->kind == EVP__FN_PROCESSOR &&
      (e = load_schema(fn, default_schema, default_schema_len, errstr, errstr_size)) != EVP_OK)
    goto fail;
  *out = fn;
  return EVP_OK;
fail:
  evp__fn_free(fn);
  return e;
}

evp_err_t evp__fn_handle(evp__fn_t *fn, const evp__fn_call_t *call, const char *event,
                         size_t event_len, char **out, size_t *out_len, char *errtype,
                         size_t errtype_size, char *errmsg, size_t errmsg_size) {
  *out = NULL;
  *out_len = 0;
  switch (fn->cfg.kind) {
  case EVP__FN_ISSUER:
    return evp__fn_issuer(fn, call, event, event_len, out, out_len, errtype, errtype_size, errmsg,
                          errmsg_size);
  case EVP__FN_AUTHORIZER:
    return evp__fn_authorizer(fn, call, event, event_len, out, out_len, errtype, errtype_size,
                              errmsg, errmsg_size);
  case EVP__FN_PROCESSOR:
    return evp__fn_processor(fn, call, event, event_len, out, out_len, errtype, errtype_size,
                             errmsg, errmsg_size);
  case EVP__FN_ROTATION:
    return evp__fn_rotation(fn, call, event, event_len, out, out_len, errtype, errtype_size,
                            errmsg, errmsg_size);
  }
  return evp__fn_fail(EVP_ERR_INTERNAL, "InternalError", "unknown function", errtype,
                      errtype_size, errmsg, errmsg_size);
}

evp_err_t evp__fn_lambda_handler(void *opaque, const evp_lambda_invocation_t *inv,
                                 const char *event, size_t event_len, char **out,
                                 size_t *out_len, char *errtype, size_t errtype_size,
                                 char *errmsg, size_t errmsg_size) {
  evp__fn_call_t call = {inv, evp_lambda_deadline_ms(inv)};
  return evp__fn_handle(opaque, &call, event, event_len, out, out_len, errtype, errtype_size,
                        errmsg, errmsg_size);
}
