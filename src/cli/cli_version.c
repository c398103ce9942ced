/* evpipe version */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include "cli/cli.h"
#include "evpipe/version.h"

int evp__cli_version(int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf("evpipe %s\n", evp_version_str());
  printf("libcurl %s, %s\n", curl_version_info(CURLVERSION_NOW)->version,
         OpenSSL_version(OPENSSL_VERSION));
  return EVP_CLI_OK;
}
