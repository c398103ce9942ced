/* evpipe: the command-line tool. Dispatches to one function per command. */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"

static const struct {
  const char *name;
  evp_cli_cmd_fn fn;
  const char *summary;
} cmds[] = {
#ifdef EVP_WITH_SERVER
    {"demo", evp__cli_demo, "run the whole pipeline on this machine with sample events"},
#endif
    {"version", evp__cli_version, "print the library version"},
    {"token", evp__cli_token, "issue or verify an HS256 token (token issue|verify)"},
    {"schema", evp__cli_schema,
     "print the Athena DDL, Glue table or API Gateway model for a schema (schema "
     "ddl|glue|apigw-model)"},
    {"validate", evp__cli_validate, "validate NDJSON against a JSON Schema (draft-07)"},
    {"send", evp__cli_send, "send NDJSON events to an ingestion endpoint"},
#ifdef EVP_WITH_SERVER
    {"local", evp__cli_local,
     "run the ingestion pipeline on this machine (HTTP, log, Parquet lake)"},
    {"secret", evp__cli_secret, "rotate the signing key of evpipe local (secret rotate)"},
    {"spool", evp__cli_spool, "inspect a client's spool, or import it into evpipe local"},
    {"lake", evp__cli_lake, "merge the small Parquet files of closed hours (lake compact)"},
#endif
    {"conf-doc", evp__cli_conf_doc, "print the client configuration reference (Markdown)"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: evpipe <command> [options]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
  fprintf(f, "\nRun 'evpipe <command> --help' for a command's options.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return EVP_CLI_USAGE;
  }
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return EVP_CLI_OK;
  }
  if (!strcmp(argv[1], "--version")) return evp__cli_version(argc - 1, argv + 1);
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    if (!strcmp(argv[1], cmds[i].name)) {
      evp__cli_set_command(cmds[i].name);
      return cmds[i].fn(argc - 1, argv + 1);
    }
  fprintf(stderr, "evpipe: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return EVP_CLI_USAGE;
}
