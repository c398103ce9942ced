/* The function object: creation (config, schema, AWS environment) and the
 * dispatch to the four handlers. The top of src/functions: the handlers
 * never call back into it; what they share comes from fn_env.c (clock,
 * random numbers, AWS clients) and fn_log.c (log lines, error answers). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "base/base.h"
#include "base/files.h"
#include "functions/fn_int.h"

#define SCHEMA_FILE_MAX (16u * 1024u * 1024u)

void evp__fn_free(evp__fn_t *fn) {
  if (!fn) return;
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
    if ((e = evp__file_read(fn->cfg.schema_file, SCHEMA_FILE_MAX, 0, &fn->schema_text, &len, NULL,
                            err, sizeof err)) != EVP_OK)
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
  if (!fn) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  fn->cfg = *cfg;
  evp_err_t e;
  if (evp__random(&fn->rng, sizeof fn->rng) != EVP_OK || fn->rng == 0)
    fn->rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)evp__wall_ms();
  if ((e = evp__aws_env_from_environ(&fn->aws_env, errstr, errstr_size)) != EVP_OK) goto fail;
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
    return evp__fn_rotation(fn, call, event, event_len, out, out_len, errtype, errtype_size, errmsg,
                            errmsg_size);
  }
  return evp__fn_fail(EVP_ERR_INTERNAL, "InternalError", "unknown function", errtype, errtype_size,
                      errmsg, errmsg_size);
}

evp_err_t evp__fn_lambda_handler(void *opaque, const evp_lambda_invocation_t *inv,
                                 const char *event, size_t event_len, char **out, size_t *out_len,
                                 char *errtype, size_t errtype_size, char *errmsg,
                                 size_t errmsg_size) {
  evp__fn_call_t call = {inv, evp_lambda_deadline_ms(inv)};
  return evp__fn_handle(opaque, &call, event, event_len, out, out_len, errtype, errtype_size,
                        errmsg, errmsg_size);
}
