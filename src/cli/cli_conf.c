/* evpipe conf-doc: print the client configuration reference (Markdown),
 * generated from the property table; docs/CONFIGURATION.md is its output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "client/conf_doc.h"

int evp__cli_conf_doc(int argc, char **argv) {
  if (argc > 1) {
    int help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");
    fprintf(help ? stdout : stderr,
            "usage: evpipe conf-doc > docs/CONFIGURATION.md\n"
            "Print the reference of every client configuration property.\n");
    return help ? EVP_CLI_OK : EVP_CLI_USAGE;
  }
  char *doc = evp__conf_doc_markdown();
  if (!doc) {
    fprintf(stderr, "evpipe: out of memory\n");
    return EVP_CLI_USAGE;
  }
  int bad = fputs(doc, stdout) == EOF || fflush(stdout) != 0;
  free(doc);
  if (bad) {
    fprintf(stderr, "evpipe: cannot write the output\n");
    return EVP_CLI_USAGE;
  }
  return EVP_CLI_OK;
}
