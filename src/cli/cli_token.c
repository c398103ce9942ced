/* evpipe token issue|verify: mint and check HS256 tokens from a key file. */
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include "cli/cli.h"
#include "evpipe/jwt.h"

static void usage(FILE *f) {
  fprintf(f, "usage: evpipe token issue --key-file F --sub ID --aud AUD [--iss I] [--ttl S]\n"
             "                          [--kid K] [--claims JSON] [--now EPOCH]\n"
             "       evpipe token verify --key-file F [--aud AUD] [--iss I] [--leeway S]\n"
             "                          [--now EPOCH] [--kid K] TOKEN|-\n"
             "\n"
             "Key files hold the raw secret, or 'base64:' and the secret in base64; at least\n"
             "32 bytes; mode 0600 (files readable by group or others are refused).\n"
             "verify prints the claims as JSON and exits 0, or prints the reason and exits 1.\n");
}

static int64_t fixed_clock(void *opaque) { return *(const int64_t *)opaque; }

/* Build a one-key keyring from the key file; the key is wiped at once. */
static evp_keyring_t *load_keyring(const char *path, const char *kid) {
  unsigned char *key;
  size_t keylen;
  char err[256];
  if (evp__cli_read_key_file(path, &key, &keylen) != 0) return NULL;
  evp_keyring_t *kr = evp_keyring_new();
  evp_err_t e = kr ? evp_keyring_add(kr, kid, key, keylen, err, sizeof err) : EVP_ERR_NOMEM;
  OPENSSL_cleanse(key, keylen);
  free(key);
  if (e != EVP_OK) {
    fprintf(stderr, "evpipe: key file %s: %s\n", path, kr ? err : "out of memory");
    evp_keyring_destroy(kr);
    return NULL;
  }
  return kr;
}

/* The kid named in an (unverified) token header, so that a single key file
 * can check tokens whatever kid they were issued under. Returns malloc'd kid,
 * or NULL when the header has none or cannot be read (verify reports it). */
static char *peek_kid(const char *token) {
  const char *dot = strchr(token, '.');
  size_t n = dot ? (size_t)(dot - token) : 0;
  if (n == 0 || n > 2048) return NULL;
  unsigned char buf[1600];
  size_t bl;
  if (evp_base64url_decode(token, n, buf, &bl) != EVP_OK) return NULL;
  cJSON *h = cJSON_ParseWithLength((const char *)buf, bl);
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(h, "kid");
  char *kid = NULL;
  if (cJSON_IsString(k) && k->valuestring[0] && strlen(k->valuestring) <= EVP_JWT_MAX_KID_LEN) {
    kid = malloc(strlen(k->valuestring) + 1);
    if (kid) strcpy(kid, k->valuestring);
  }
  cJSON_Delete(h);
  return kid;
}

static int cmd_issue(int argc, char **argv) {
  const char *keyfile = NULL, *sub = NULL, *aud = NULL, *iss = NULL, *ttl_s = NULL, *kid = NULL,
             *claims = NULL, *now_s = NULL;
  for (int i = 1; i < argc; i++) {
    int r;
    if ((r = evp__cli_opt(argc, argv, &i, "--key-file", &keyfile)) ||
        (r = evp__cli_opt(argc, argv, &i, "--sub", &sub)) ||
        (r = evp__cli_opt(argc, argv, &i, "--aud", &aud)) ||
        (r = evp__cli_opt(argc, argv, &i, "--iss", &iss)) ||
        (r = evp__cli_opt(argc, argv, &i, "--ttl", &ttl_s)) ||
        (r = evp__cli_opt(argc, argv, &i, "--kid", &kid)) ||
        (r = evp__cli_opt(argc, argv, &i, "--claims", &claims)) ||
        (r = evp__cli_opt(argc, argv, &i, "--now", &now_s))) {
      if (r < 0) return EVP_CLI_USAGE;
      continue;
    }
    fprintf(stderr, "evpipe token issue: unexpected argument '%s'\n", argv[i]);
    usage(stderr);
    return EVP_CLI_USAGE;
  }
  if (!keyfile || !sub || !aud) {
    fprintf(stderr, "evpipe token issue: --key-file, --sub and --aud are required\n");
    usage(stderr);
    return EVP_CLI_USAGE;
  }
  long long ttl = EVP_JWT_DEFAULT_TTL, now = 0;
  if (ttl_s && evp__cli_parse_i64(ttl_s, 1, 31536000, &ttl)) {
    fprintf(stderr, "evpipe token issue: --ttl must be 1..31536000 seconds\n");
    return EVP_CLI_USAGE;
  }
  if (now_s && evp__cli_parse_i64(now_s, 0, 253402300799LL, &now)) {
    fprintf(stderr, "evpipe token issue: --now must be a Unix time in seconds\n");
    return EVP_CLI_USAGE;
  }
  evp_keyring_t *kr = load_keyring(keyfile, kid);
  if (!kr) return EVP_CLI_USAGE;
  char err[256];
  int rc = EVP_CLI_USAGE;
  char *tok = NULL;
  int64_t fixed = (int64_t)now;
  evp_jwt_signer_t *s = evp_jwt_signer_new(kr, err, sizeof err);
  if (!s) goto out;
  if ((iss && evp_jwt_signer_set_issuer(s, iss) != EVP_OK) ||
      evp_jwt_signer_set_ttl(s, ttl) != EVP_OK) {
    snprintf(err, sizeof err, "invalid --iss");
    goto out;
  }
  if (now_s) evp_jwt_signer_set_clock(s, fixed_clock, &fixed);
  if (evp_jwt_sign(s, sub, aud, claims, &tok, err, sizeof err) != EVP_OK) goto out;
  printf("%s\n", tok);
  rc = EVP_CLI_OK;
out:
  if (rc != EVP_CLI_OK) fprintf(stderr, "evpipe token issue: %s\n", err);
  evp_free(tok);
  evp_jwt_signer_destroy(s);
  evp_keyring_destroy(kr);
  return rc;
}

static char *read_stdin_token(void) {
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap + 1);
  if (!buf) return NULL;
  size_t r;
  while ((r = fread(buf + n, 1, cap - n, stdin)) > 0) n += r;
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) n--;
  buf[n] = '\0';
  return buf;
}

static int cmd_verify(int argc, char **argv) {
  const char *keyfile = NULL, *aud = NULL, *iss = NULL, *leeway_s = NULL, *now_s = NULL,
             *kid = NULL, *token = NULL;
  for (int i = 1; i < argc; i++) {
    int r;
    if ((r = evp__cli_opt(argc, argv, &i, "--key-file", &keyfile)) ||
        (r = evp__cli_opt(argc, argv, &i, "--aud", &aud)) ||
        (r = evp__cli_opt(argc, argv, &i, "--iss", &iss)) ||
        (r = evp__cli_opt(argc, argv, &i, "--leeway", &leeway_s)) ||
        (r = evp__cli_opt(argc, argv, &i, "--now", &now_s)) ||
        (r = evp__cli_opt(argc, argv, &i, "--kid", &kid))) {
      if (r < 0) return EVP_CLI_USAGE;
      continue;
    }
    if (!token && (argv[i][0] != '-' || !strcmp(argv[i], "-"))) {
      token = argv[i];
      continue;
    }
    fprintf(stderr, "evpipe token verify: unexpected argument '%s'\n", argv[i]);
    usage(stderr);
    return EVP_CLI_USAGE;
  }
  if (!keyfile || !token) {
    fprintf(stderr, "evpipe token verify: --key-file and TOKEN are required\n");
    usage(stderr);
    return EVP_CLI_USAGE;
  }
  long long leeway = EVP_JWT_DEFAULT_LEEWAY, now = 0;
  if (leeway_s && evp__cli_parse_i64(leeway_s, 0, 3600, &leeway)) {
    fprintf(stderr, "evpipe token verify: --leeway must be 0..3600 seconds\n");
    return EVP_CLI_USAGE;
  }
  if (now_s && evp__cli_parse_i64(now_s, 0, 253402300799LL, &now)) {
    fprintf(stderr, "evpipe token verify: --now must be a Unix time in seconds\n");
    return EVP_CLI_USAGE;
  }
  char *stdin_tok = NULL;
  if (!strcmp(token, "-")) {
    if (!(token = stdin_tok = read_stdin_token())) {
      fprintf(stderr, "evpipe token verify: out of memory\n");
      return EVP_CLI_USAGE;
    }
  }
  char *peeked = kid ? NULL : peek_kid(token);
  evp_keyring_t *kr = load_keyring(keyfile, kid ? kid : peeked);
  free(peeked);
  if (!kr) {
    free(stdin_tok);
    return EVP_CLI_USAGE;
  }
  int64_t fixed = (int64_t)now;
  char err[256] = "out of memory";
  int rc = EVP_CLI_USAGE;
  evp_jwt_t *jwt = NULL;
  evp_jwt_verifier_t *v = evp_jwt_verifier_new(kr, err, sizeof err);
  if (!v || (aud && evp_jwt_verifier_set_audience(v, aud)) ||
      (iss && evp_jwt_verifier_set_issuer(v, iss)) || evp_jwt_verifier_set_leeway(v, leeway)) {
    fprintf(stderr, "evpipe token verify: invalid options\n");
    goto out;
  }
  if (now_s) evp_jwt_verifier_set_clock(v, fixed_clock, &fixed);
  evp_err_t e = evp_jwt_verify(v, token, strlen(token), &jwt, err, sizeof err);
  if (e != EVP_OK) {
    fprintf(stderr, "evpipe token verify: %s: %s\n", evp_err2name(e), err);
    rc = EVP_CLI_FAIL;
    goto out;
  }
  printf("%s\n", evp_jwt_claims_json(jwt));
  rc = EVP_CLI_OK;
out:
  evp_jwt_destroy(jwt);
  evp_jwt_verifier_destroy(v);
  evp_keyring_destroy(kr);
  free(stdin_tok);
  return rc;
}

int evp__cli_token(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? EVP_CLI_USAGE : EVP_CLI_OK;
  }
  if (!strcmp(argv[1], "issue")) {
    evp__cli_set_command("token issue");
    return cmd_issue(argc - 1, argv + 1);
  }
  if (!strcmp(argv[1], "verify")) {
    evp__cli_set_command("token verify");
    return cmd_verify(argc - 1, argv + 1);
  }
  fprintf(stderr, "evpipe token: unknown subcommand '%s'\n", argv[1]);
  usage(stderr);
  return EVP_CLI_USAGE;
}
