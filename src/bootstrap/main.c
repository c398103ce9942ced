/* The Lambda `bootstrap` executable (provided.al2023): one binary serves the
 * four functions of the AWS pipeline, chosen by _HANDLER ("issuer",
 * "authorizer", "processor", "rotation", or "evpipe.<name>"). Start-up reads
 * the environment (and, for the processor, compiles the event schema); it
 * opens no connection: secrets are fetched on first use. A configuration
 * error is reported to the Runtime API (/runtime/init/error,
 * "Runtime.ConfigError") and the process exits 1. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "evpipe/lambda.h"
#include "functions/functions.h"

/* The default event schema, embedded at build time
 * (examples/schemas/glue-data-catalog-json-schema.json). */
extern const unsigned char evp__default_schema[];
extern const size_t evp__default_schema_len;

static int init_failed(evp_lambda_runtime_t *rt, const char *msg) {
  evp_lambda_log(NULL, EVP_LOG_ERR, msg, "{\"error_type\":\"Runtime.ConfigError\"}");
  evp_lambda_init_error(rt, "Runtime.ConfigError", msg);
  evp_lambda_runtime_destroy(rt);
  return 1;
}

int main(void) {
  char err[512];
  signal(SIGPIPE, SIG_IGN);
  evp_lambda_runtime_t *rt = evp_lambda_runtime_new(NULL, err, sizeof err);
  if (!rt) {
    fprintf(stderr, "bootstrap: %s\n", err);
    return 1;
  }
  const char *handler = getenv("_HANDLER");
  int kind = evp__fn_kind_parse(handler);
  if (kind < 0) {
    snprintf(err, sizeof err,
             "_HANDLER must be one of issuer, authorizer, processor, rotation (or evpipe.<name>)");
    return init_failed(rt, err);
  }
  evp__fn_config_t cfg;
  if (evp__fn_config_from_env(&cfg, (evp__fn_kind_t)kind, err, sizeof err) != EVP_OK)
    return init_failed(rt, err);
  evp__fn_t *fn;
  if (evp__fn_new(&cfg, (const char *)evp__default_schema, evp__default_schema_len, &fn, err,
                  sizeof err) != EVP_OK)
    return init_failed(rt, err);
  evp_err_t e = evp_lambda_run(rt, evp__fn_lambda_handler, fn, 0);
  evp__fn_free(fn);
  evp_lambda_runtime_destroy(rt);
  return e == EVP_OK ? 0 : 1;
}
