/* evpipe schema ddl|glue: the Athena table / Glue TableInput for an event
 * schema, from the same table model the lake writer uses. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "core/table.h"

static void schema_usage(FILE *f) {
  fprintf(f,
          "usage: evpipe schema ddl  --schema FILE [--table NAME] [--location s3://BUCKET/PREFIX]"
          " [--since YYYY-MM-DD]\n"
          "       evpipe schema glue --schema FILE [--table NAME] [--location s3://BUCKET/PREFIX]"
          " [--since YYYY-MM-DD]\n\n"
          "  ddl    print the Athena CREATE EXTERNAL TABLE statement\n"
          "  glue   print the Glue TableInput JSON (aws glue create-table --table-input)\n\n"
          "  --schema FILE   the event JSON Schema ('-' reads standard input)\n"
          "  --table NAME    table name (default %s)\n"
          "  --location URI  where the dt=/hour= directories are (default: a placeholder)\n"
          "  --since DATE    first day of the dt partition projection (default %s)\n",
          EVP__TABLE_DEFAULT_TABLE, EVP__TABLE_DEFAULT_DT_START);
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
  if (f != stdin)
    fclose(f);
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

int evp__cli_schema(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    schema_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? EVP_CLI_USAGE : EVP_CLI_OK;
  }
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
      if (r < 0)
        return EVP_CLI_USAGE;
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
  if (!text)
    return EVP_CLI_USAGE;
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
  size_t n = strlen(out);
  int ok = fwrite(out, 1, n, stdout) == n && (glue ? fputc('\n', stdout) != EOF : 1) &&
           fflush(stdout) == 0;
  free(out);
  if (!ok) {
    fprintf(stderr, "evpipe: cannot write the output: %s\n", strerror(errno));
    return EVP_CLI_USAGE;
  }
  return EVP_CLI_OK;
}
