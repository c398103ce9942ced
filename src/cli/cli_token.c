#include "cli/cli.h"
int evp__cli_token(int argc, char **argv) { (void)argc; (void)argv; return EVP_CLI_USAGE; }
