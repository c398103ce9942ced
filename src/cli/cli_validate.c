/* evpipe validate --schema F [--json] [--max-errors N] [FILE|-]
 * Validates NDJSON, one document per line, against a draft-07 schema. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "json/json.h"
#include "evpipe/evpipe.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: evpipe validate --schema FILE [--json] [--max-errors N] [FILE|-]\n"
          "\n"
          "Validate newline-delimited JSON (one document per line; blank lines are\n"
          "skipped) against a JSON Schema draft-07 file. Reads stdin without FILE.\n"
          "\n"
          "  --schema FILE     the schema (required)\n"
          "  --json            print one JSON result object per line on stdout\n"
          "  --max-errors N    errors reported per line, 1..%d (default 10)\n"
          "\n"
          "Without --json, each error is one line on stderr:\n"
          "  line N: <instance path>: <message>\n"
          "Exit status: 0 all lines valid, 1 some line invalid, 2 usage or I/O error.\n",
          EVP_SCHEMA_MAX_ERRORS_LIMIT);
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 8192, n = 0, r;
  char *buf = malloc(cap);
  while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap) {
      if (cap >= EVP_SCHEMA_MAX_SCHEMA_SIZE + 1) break; /* the compiler reports it too large */
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    }
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    return NULL;
  }
  if (buf) *len = n;
  return buf;
}

/* A JSON string of an error text (the json layer's escaping). */
static void json_str(FILE *o, const char *s) {
  evp__buf_t b = {0};
  if (evp__buf_json_str(&b, s, strlen(s)) == EVP_OK)
    fputs((const char *)b.p, o);
  else
    fputs("\"(out of memory)\"", o);
  evp__buf_free(&b);
}

static void report(evp_schema_ctx_t *ctx, unsigned long line, int as_json, int valid) {
  size_t n = evp_schema_ctx_error_count(ctx);
  if (as_json) {
    printf("{\"line\":%lu,\"valid\":%s", line, valid ? "true" : "false");
    if (!valid) {
      printf(",\"errors\":[");
      for (size_t i = 0; i < n; i++) {
        printf("%s{\"instancePath\":", i ? "," : "");
        json_str(stdout, evp_schema_ctx_error_instance_path(ctx, i));
        printf(",\"schemaPath\":");
        json_str(stdout, evp_schema_ctx_error_schema_path(ctx, i));
        printf(",\"keyword\":");
        json_str(stdout, evp_schema_ctx_error_keyword(ctx, i));
        printf(",\"message\":");
        json_str(stdout, evp_schema_ctx_error_message(ctx, i));
        printf("}");
      }
      printf("],\"truncated\":%s", evp_schema_ctx_errors_truncated(ctx) ? "true" : "false");
    }
    printf("}\n");
    return;
  }
  for (size_t i = 0; i < n; i++)
    fprintf(stderr, "line %lu: %s: %s\n", line, evp_schema_ctx_error_instance_path(ctx, i),
            evp_schema_ctx_error_message(ctx, i));
}

int evp__cli_validate(int argc, char **argv) {
  const char *schema_path = NULL, *input = NULL, *v;
  int as_json = 0;
  long long max_errors = 10;
  for (int i = 1; i < argc; i++) {
    int r;
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      return EVP_CLI_OK;
    }
    if ((r = evp__cli_opt(argc, argv, &i, "--schema", &v))) {
      if (r < 0) return EVP_CLI_USAGE;
      schema_path = v;
    } else if ((r = evp__cli_opt(argc, argv, &i, "--max-errors", &v))) {
      if (r < 0) return EVP_CLI_USAGE;
      if (evp__cli_parse_i64(v, 1, EVP_SCHEMA_MAX_ERRORS_LIMIT, &max_errors)) {
        fprintf(stderr, "evpipe validate: --max-errors must be 1..%d\n",
                EVP_SCHEMA_MAX_ERRORS_LIMIT);
        return EVP_CLI_USAGE;
      }
    } else if (!strcmp(argv[i], "--json")) {
      as_json = 1;
    } else if (argv[i][0] == '-' && strcmp(argv[i], "-")) {
      fprintf(stderr, "evpipe validate: unknown option %s\n", argv[i]);
      usage(stderr);
      return EVP_CLI_USAGE;
    } else if (input) {
      fprintf(stderr, "evpipe validate: only one input file\n");
      return EVP_CLI_USAGE;
    } else
      input = argv[i];
  }
  if (!schema_path) {
    fprintf(stderr, "evpipe validate: --schema is required\n");
    usage(stderr);
    return EVP_CLI_USAGE;
  }
  size_t slen;
  char *stext = read_file(schema_path, &slen);
  if (!stext) {
    fprintf(stderr, "evpipe validate: cannot read %s: %s\n", schema_path, strerror(errno));
    return EVP_CLI_USAGE;
  }
  char err[512];
  evp_err_t rc;
  evp_schema_t *schema = evp_schema_compile(stext, slen, NULL, &rc, err, sizeof err);
  free(stext);
  if (!schema) {
    fprintf(stderr, "evpipe validate: %s: %s (%s)\n", schema_path, err, evp_err2name(rc));
    return EVP_CLI_USAGE;
  }
  FILE *in = stdin;
  if (input && strcmp(input, "-") && !(in = fopen(input, "rb"))) {
    fprintf(stderr, "evpipe validate: cannot open %s: %s\n", input, strerror(errno));
    evp_schema_destroy(schema);
    return EVP_CLI_USAGE;
  }
  evp_schema_ctx_t *ctx = evp_schema_ctx_new();
  if (!ctx || evp_schema_ctx_set_limits(ctx, 0, 0, (size_t)max_errors)) {
    fprintf(stderr, "evpipe validate: %s\n",
            ctx ? "--max-errors is out of range" : evp_err2str(EVP_ERR_NOMEM));
    evp_schema_ctx_destroy(ctx);
    evp_schema_destroy(schema);
    if (in != stdin) fclose(in);
    return EVP_CLI_USAGE;
  }
  int status = EVP_CLI_OK;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  unsigned long lineno = 0;
  while ((n = getline(&line, &cap, in)) >= 0) {
    lineno++;
    size_t len = (size_t)n;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    size_t k = 0;
    while (k < len && (line[k] == ' ' || line[k] == '\t')) k++;
    if (k == len) continue;
    rc = evp_schema_validate(schema, ctx, line, len);
    if (rc == EVP_ERR_NOMEM || rc == EVP_ERR_INVALID_ARG) {
      fprintf(stderr, "evpipe validate: line %lu: %s\n", lineno, evp_err2str(rc));
      status = EVP_CLI_USAGE;
      break;
    }
    if (rc != EVP_OK) status = EVP_CLI_FAIL;
    report(ctx, lineno, as_json, rc == EVP_OK);
  }
  if (status != EVP_CLI_USAGE && ferror(in)) {
    fprintf(stderr, "evpipe validate: read error: %s\n", strerror(errno));
    status = EVP_CLI_USAGE;
  }
  if (fflush(stdout) != 0) status = EVP_CLI_USAGE;
  free(line);
  if (in != stdin) fclose(in);
  evp_schema_ctx_destroy(ctx);
  evp_schema_destroy(schema);
  return status;
}
