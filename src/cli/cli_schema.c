/* evpipe schema ddl|glue|apigw-model: the Athena table / Glue TableInput for an event
 * schema, from the same table model the lake writer uses; evpipe schema
 * apigw-model: the API Gateway (draft-04) request model for POST /events. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/demo.h"
#include "catalog/apigw_model.h"
#include "table/table.h"
#include "catalog/catalog.h"
#include "evpipe/schema.h"

static void schema_usage(FILE *f) {
  fprintf(f,
          "usage: evpipe schema ddl  --schema FILE [--table NAME] [--location s3://BUCKET/PREFIX]"
          " [--since YYYY-MM-DD]\n"
          "       evpipe schema glue --schema FILE [--table NAME] [--location s3://BUCKET/PREFIX]"
          " [--since YYYY-MM-DD]\n"
          "       evpipe schema apigw-model [--schema FILE] [--max-events N]\n\n"
          "  ddl          print the Athena CREATE EXTERNAL TABLE statement\n"
          "  glue         print the Glue TableInput JSON (aws glue create-table --table-input)\n"
          "  apigw-model  print the API Gateway request model (JSON Schema draft-04) for\n"
          "               POST /events: {\"events\":[1..N events]}, each event checked\n"
          "               against the schema converted to draft-04 (see docs/deploy.md)\n\n"
          "  --schema FILE     the event JSON Schema ('-' reads standard input); for\n"
          "                    apigw-model the built-in default schema when omitted\n"
          "  --table NAME      table name (default %s)\n"
          "  --location URI    where the dt=/hour= directories are (default: a placeholder)\n"
          "  --since DATE      first day of the dt partition projection (default %s)\n"
          "  --max-events N    most events in one request, 1..%d (default %d)\n",
          EVP__TABLE_DEFAULT_TABLE, EVP__TABLE_DEFAULT_DT_START, EVP__APIGW_MAX_MAX_EVENTS,
          EVP__APIGW_DEFAULT_MAX_EVENTS);
}

/* Reads at most EVP__TABLE_MAX_SCHEMA_BYTES (one more to tell "too large").
 * Returns malloc'd bytes or NULL after printing the reason. */
static char *read_schema(const char *path, size_t *len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "evpipe: cannot open schema %s: %s\n", path, strerror(errno));
    return NULL;
  }
  size_t cap = EVP__TABLE_MAX_SCHEMA_BYTES + 1;
  char *buf = malloc(cap);
  size_t n = buf ? fread(buf, 1, cap, f) : 0;
  int err = ferror(f);
  if (f != stdin) fclose(f);
  if (!buf) {
    fprintf(stderr, "evpipe: out of memory\n");
    return NULL;
  }
  if (err) {
    fprintf(stderr, "evpipe: cannot read schema %s\n", path);
    free(buf);
    return NULL;
  }
  if (n == cap) {
    fprintf(stderr, "evpipe: schema %s is larger than %u bytes\n", path,
            EVP__TABLE_MAX_SCHEMA_BYTES);
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

/* Writes @p out and a newline to stdout; EVP_CLI_OK or EVP_CLI_USAGE. */
static int write_out(const char *out, int newline) {
  size_t n = strlen(out);
  int ok = fwrite(out, 1, n, stdout) == n && (newline ? fputc('\n', stdout) != EOF : 1) &&
           fflush(stdout) == 0;
  if (!ok) {
    fprintf(stderr, "evpipe: cannot write the output: %s\n", strerror(errno));
    return EVP_CLI_USAGE;
  }
  return EVP_CLI_OK;
}

/* evpipe schema apigw-model [--schema F] [--max-events N] */
static int schema_apigw_model(int argc, char **argv) {
  const char *schema = NULL, *max_s = NULL;
  for (int i = 2; i < argc; i++) {
    int r;
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      schema_usage(stdout);
      return EVP_CLI_OK;
    }
    if ((r = evp__cli_opt(argc, argv, &i, "--schema", &schema)) ||
        (r = evp__cli_opt(argc, argv, &i, "--max-events", &max_s))) {
      if (r < 0) return EVP_CLI_USAGE;
      continue;
    }
    fprintf(stderr, "evpipe schema: unexpected argument '%s'\n", argv[i]);
    schema_usage(stderr);
    return EVP_CLI_USAGE;
  }
  long long max_events = EVP__APIGW_DEFAULT_MAX_EVENTS;
  if (max_s && evp__cli_parse_i64(max_s, 1, EVP__APIGW_MAX_MAX_EVENTS, &max_events) != 0) {
    fprintf(stderr, "evpipe schema: --max-events '%s' is not a number in 1..%d\n", max_s,
            EVP__APIGW_MAX_MAX_EVENTS);
    return EVP_CLI_USAGE;
  }
  size_t len = 0;
  char *text = NULL;
  const char *name = schema ? schema : "(built-in)";
  if (schema) {
    text = read_schema(schema, &len);
    if (!text) return EVP_CLI_USAGE;
  }
  const char *json = text ? text : (const char *)evp__default_schema;
  if (!text) len = evp__default_schema_len;
  /* Only a valid draft-07 schema is converted: the model is derived from
   * what the processor enforces, so that must exist first. */
  char err[512];
  evp_err_t e = EVP_OK;
  evp_schema_t *compiled = evp_schema_compile(json, len, NULL, &e, err, sizeof err);
  if (!compiled) {
    fprintf(stderr, "evpipe: schema %s: %s\n", name, err);
    free(text);
    return EVP_CLI_USAGE;
  }
  evp_schema_destroy(compiled);
  char *out = NULL;
  e = evp__apigw_model(json, len, (long)max_events, &out, err, sizeof err);
  free(text);
  if (e != EVP_OK) {
    fprintf(stderr, "evpipe: schema %s: %s\n", name, err);
    return EVP_CLI_USAGE;
  }
  int rc = write_out(out, 1);
  free(out);
  return rc;
}

int evp__cli_schema(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    schema_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? EVP_CLI_USAGE : EVP_CLI_OK;
  }
  if (!strcmp(argv[1], "apigw-model")) return schema_apigw_model(argc, argv);
  int glue = !strcmp(argv[1], "glue");
  if (!glue && strcmp(argv[1], "ddl") != 0) {
    fprintf(stderr, "evpipe schema: unknown subcommand '%s'\n", argv[1]);
    schema_usage(stderr);
    return EVP_CLI_USAGE;
  }
  const char *schema = NULL;
  evp__table_ddl_opts_t opts = {0};
  for (int i = 2; i < argc; i++) {
    int r;
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      schema_usage(stdout);
      return EVP_CLI_OK;
    }
    if ((r = evp__cli_opt(argc, argv, &i, "--schema", &schema)) ||
        (r = evp__cli_opt(argc, argv, &i, "--table", &opts.table)) ||
        (r = evp__cli_opt(argc, argv, &i, "--location", &opts.location)) ||
        (r = evp__cli_opt(argc, argv, &i, "--since", &opts.dt_start))) {
      if (r < 0) return EVP_CLI_USAGE;
      continue;
    }
    fprintf(stderr, "evpipe schema: unexpected argument '%s'\n", argv[i]);
    schema_usage(stderr);
    return EVP_CLI_USAGE;
  }
  if (!schema) {
    fprintf(stderr, "evpipe schema: --schema FILE is required\n");
    return EVP_CLI_USAGE;
  }
  size_t len = 0;
  char *text = read_schema(schema, &len);
  if (!text) return EVP_CLI_USAGE;
  char err[512];
  evp__table_t *t = NULL;
  evp_err_t e = evp__table_parse(text, len, &t, err, sizeof err);
  free(text);
  if (e != EVP_OK) {
    fprintf(stderr, "evpipe: schema %s: %s\n", schema, err);
    return EVP_CLI_USAGE;
  }
  char *out = NULL;
  e = glue ? evp__table_glue_input(t, &opts, &out, err, sizeof err)
           : evp__table_athena_ddl(t, &opts, &out, err, sizeof err);
  evp__table_free(t);
  if (e != EVP_OK) {
    fprintf(stderr, "evpipe: %s\n", err);
    return EVP_CLI_USAGE;
  }
  if (!opts.location)
    fprintf(stderr, "evpipe: note: no --location given; the output uses the placeholder %s\n",
            EVP__TABLE_DEFAULT_LOCATION);
  int rc = write_out(out, glue);
  free(out);
  return rc;
}
