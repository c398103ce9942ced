/* evpipe secret rotate: a new signing key for `evpipe local`, picked up by a
 * running server within a second; the previous key keeps verifying. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#ifdef EVP_WITH_SERVER
#include "local/local.h"
#include "base/files.h"
#endif

static void usage(FILE *f) {
  fprintf(f, "usage: evpipe secret rotate [--data DIR]\n"
             "\n"
             "Adds a new signing key to DIR/secrets/signing-keys.json and makes it current;\n"
             "only the previous current key is kept (it verifies tokens issued before the\n"
             "rotation until they expire). A running `evpipe local` picks it up within a\n"
             "second. --data defaults to ./evpipe-data.\n");
}

#ifdef EVP_WITH_SERVER
int evp__cli_secret(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? EVP_CLI_USAGE : EVP_CLI_OK;
  }
  if (strcmp(argv[1], "rotate") != 0) {
    fprintf(stderr, "evpipe secret: unknown subcommand '%s'\n", argv[1]);
    usage(stderr);
    return EVP_CLI_USAGE;
  }
  const char *data = "evpipe-data";
  for (int i = 2; i < argc; i++) {
    int r = evp__cli_opt(argc, argv, &i, "--data", &data);
    if (r < 0) return EVP_CLI_USAGE;
    if (r == 0) {
      fprintf(stderr, "evpipe secret rotate: unexpected argument '%s'\n", argv[i]);
      usage(stderr);
      return EVP_CLI_USAGE;
    }
  }
  char dir[PATH_MAX], path[PATH_MAX], err[512], kid[EVP_JWT_MAX_KID_LEN + 1];
  if ((size_t)snprintf(dir, sizeof dir, "%s/secrets", data) >= sizeof dir ||
      (size_t)snprintf(path, sizeof path, "%s/signing-keys.json", dir) >= sizeof path) {
    fprintf(stderr, "evpipe secret rotate: path too long\n");
    return EVP_CLI_USAGE;
  }
  int created = 0;
  if (evp__mkdirs(dir, err, sizeof err) != EVP_OK ||
      evp__keys_init(path, &created, err, sizeof err) != EVP_OK ||
      evp__keys_rotate(path, kid, sizeof kid, err, sizeof err) != EVP_OK) {
    fprintf(stderr, "evpipe secret rotate: %s\n", err);
    return EVP_CLI_FAIL;
  }
  printf("%s: current signing key is now %s%s\n", path, kid,
         created ? "" : " (the previous key still verifies)");
  return EVP_CLI_OK;
}
#else
int evp__cli_secret(int argc, char **argv) {
  (void)argc, (void)argv;
  fprintf(stderr, "evpipe secret: this build has no server side (EVPIPE_BUILD_SERVER=OFF)\n");
  return EVP_CLI_USAGE;
}
#endif
