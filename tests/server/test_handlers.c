#define _XOPEN_SOURCE 700 /* nftw (tmpdir.h) */
/* Suite: the server handlers as pure functions — issuer (POST /token),
 * authorizer (Bearer tokens), events (POST /events) — and their helpers
 * (client store, form and Basic parsing, bounded gunzip, array splitting),
 * including every error answer. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <openssl/evp.h>
#include <cjson/cJSON.h>
#include "base/files.h"
#include "base/base.h"
#include "json/json.h"
#include "table/table.h"
#include "lake/lake_row.h"
#include "evpipe/evpipe.h"
#include "server/server.h"
#include "local/local.h"
#include "tmpdir.h"
#include <sys/stat.h>
#include <unistd.h>

static const unsigned char KEY1[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char KEY2[32] = "fedcba9876543210fedcba9876543210";
static int64_t NOW = 1800000000;
static int64_t fixed_clock(void *opaque) { return *(int64_t *)opaque; }

static const char CLIENTS[] = "[{\"client_id\":\"app-1\",\"client_secret\":\"s3cret-s3cret-"
                              "s3cret\",\"audiences\":[\"events\",\"other\"]},"
                              " {\"client_id\":\"app-2\",\"client_secret\":\"a+b/c=d "
                              "e&f%g:h-long\",\"audiences\":[\"events\"]}]";

/* ------------------------------------------------------------ fixture */

static evp_keyring_t *kr;
static evp_jwt_signer_t *signer;
static evp_jwt_verifier_t *verifier;
static evp__clients_t *clients;
static evp__issuer_t issuer;

static void setup(void) {
  char err[256];
  kr = evp_keyring_new();
  ck_assert_ptr_nonnull(kr);
  ck_assert_int_eq(evp_keyring_add(kr, "v1", KEY1, 32, err, sizeof err), EVP_OK);
  signer = evp_jwt_signer_new(kr, err, sizeof err);
  ck_assert_ptr_nonnull(signer);
  evp_jwt_signer_set_clock(signer, fixed_clock, &NOW);
  ck_assert_int_eq(evp_jwt_signer_set_issuer(signer, "evpipe-local"), EVP_OK);
  verifier = evp_jwt_verifier_new(kr, err, sizeof err);
  ck_assert_ptr_nonnull(verifier);
  evp_jwt_verifier_set_clock(verifier, fixed_clock, &NOW);
  ck_assert_int_eq(evp_jwt_verifier_set_audience(verifier, "events"), EVP_OK);
  ck_assert_int_eq(evp_jwt_verifier_set_issuer(verifier, "evpipe-local"), EVP_OK);
  ck_assert_int_eq(evp__clients_parse(CLIENTS, strlen(CLIENTS), &clients, err, sizeof err), EVP_OK);
  issuer.clients = clients;
  issuer.signer = signer;
  issuer.ttl_s = 1200;
}

static void teardown(void) {
  evp__clients_free(clients);
  evp_jwt_verifier_destroy(verifier);
  evp_jwt_signer_destroy(signer);
  evp_keyring_destroy(kr);
}

/* A request with up to three headers. */
typedef struct {
  evp__http_hdr_t h[3];
  evp__http_req_t r;
} req_t;

static void mkreq(req_t *q, const char *method, const char *path, const char *ct, const char *authz,
                  const char *body) {
  memset(q, 0, sizeof *q);
  size_t n = 0;
  if (ct) q->h[n++] = (evp__http_hdr_t){"content-type", ct};
  if (authz) q->h[n++] = (evp__http_hdr_t){"authorization", authz};
  q->r.method = method;
  q->r.path = path;
  q->r.headers = q->h;
  q->r.n_headers = n;
  q->r.body = body;
  q->r.body_len = body ? strlen(body) : 0;
}

static const char *hdr(const evp__http_resp_t *r, const char *name) {
  for (size_t i = 0; i < r->n_headers; i++)
    if (strcmp(r->headers[i].name, name) == 0) return r->headers[i].value;
  return NULL;
}

static const char FORM[] = "application/x-www-form-urlencoded";

/* POST /token with @p body (form) and optional Authorization. */
static int token_req(const char *body, const char *authz, evp__http_resp_t *resp) {
  req_t q;
  mkreq(&q, "POST", "/token", FORM, authz, body);
  evp__http_resp_init(resp);
  ck_assert_int_eq(evp__issuer_handle(&issuer, &q.r, resp, NULL), EVP_OK);
  ck_assert_ptr_nonnull(hdr(resp, "Cache-Control"));
  ck_assert_str_eq(hdr(resp, "Cache-Control"), "no-store");
  return resp->status;
}

static void expect_oauth_error(const char *body, const char *authz, int status, const char *code) {
  evp__http_resp_t r;
  ck_assert_int_eq(token_req(body, authz, &r), status);
  cJSON *j = cJSON_Parse(r.body);
  ck_assert_ptr_nonnull(j);
  ck_assert_str_eq(cJSON_GetObjectItem(j, "error")->valuestring, code);
  ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "error_description")));
  ck_assert_ptr_null(strstr(r.body, "access_token"));
  if (status == 401) ck_assert_ptr_nonnull(hdr(&r, "WWW-Authenticate"));
  cJSON_Delete(j);
  evp__http_resp_free(&r);
}

/* Issue a token for app-1 through the handler and return it (malloc'd). */
static char *get_token(const char *body, const char *authz) {
  evp__http_resp_t r;
  ck_assert_int_eq(token_req(body, authz, &r), 200);
  ck_assert_str_eq(r.content_type, "application/json");
  cJSON *j = cJSON_Parse(r.body);
  ck_assert_ptr_nonnull(j);
  ck_assert_str_eq(cJSON_GetObjectItem(j, "token_type")->valuestring, "Bearer");
  ck_assert_int_eq(cJSON_GetObjectItem(j, "expires_in")->valueint, 1200);
  char *tok = evp__strdup(cJSON_GetObjectItem(j, "access_token")->valuestring);
  cJSON_Delete(j);
  evp__http_resp_free(&r);
  return tok;
}

/* Verify @p tok with a verifier for @p aud; returns the verified token. */
static evp_jwt_t *verify_for(const char *tok, const char *aud) {
  char err[256];
  evp_jwt_verifier_t *v = evp_jwt_verifier_new(kr, err, sizeof err);
  evp_jwt_verifier_set_clock(v, fixed_clock, &NOW);
  evp_jwt_verifier_set_audience(v, aud);
  evp_jwt_t *jwt = NULL;
  ck_assert_int_eq(evp_jwt_verify(v, tok, strlen(tok), &jwt, err, sizeof err), EVP_OK);
  evp_jwt_verifier_destroy(v);
  return jwt;
}

/* ------------------------------------------------------------ issuer */

START_TEST(issue_form_body) {
  char *tok = get_token("grant_type=client_credentials&client_id=app-1"
                        "&client_secret=s3cret-s3cret-s3cret&audience=events",
                        NULL);
  evp_jwt_t *jwt = verify_for(tok, "events");
  ck_assert_str_eq(evp_jwt_claim_str(jwt, "sub"), "app-1");
  ck_assert_str_eq(evp_jwt_kid(jwt), "v1");
  ck_assert_str_eq(evp_jwt_claim_str(jwt, "iss"), "evpipe-local");
  int64_t exp;
  ck_assert_int_eq(evp_jwt_claim_int(jwt, "exp", &exp), EVP_OK);
  ck_assert_int_eq(exp, NOW + 1200);
  evp_jwt_destroy(jwt);
  free(tok);
}
END_TEST

START_TEST(issue_default_and_other_audience) {
  /* No audience: the client's first one. */
  char *tok = get_token(
      "grant_type=client_credentials&client_id=app-1&client_secret=s3cret-s3cret-s3cret", NULL);
  evp_jwt_t *jwt = verify_for(tok, "events");
  evp_jwt_destroy(jwt);
  free(tok);
  tok = get_token("audience=other&grant_type=client_credentials&client_id=app-1&client_secret="
                  "s3cret-s3cret-s3cret",
                  NULL);
  jwt = verify_for(tok, "other");
  evp_jwt_destroy(jwt);
  free(tok);
}
END_TEST

START_TEST(issue_basic_auth) {
  /* RFC 6749 2.3.1: id and secret are form-urlencoded before base64. The
   * secret of app-2 needs it: "a+b/c=d e&f%g:h-long". */
  const char *enc = "app-2:a%2Bb%2Fc%3Dd+e%26f%25g%3Ah-long";
  unsigned char b64[128];
  EVP_EncodeBlock(b64, (const unsigned char *)enc, (int)strlen(enc));
  char authz[160];
  snprintf(authz, sizeof authz, "basic %s", (char *)b64);
  char *tok = get_token("grant_type=client_credentials", authz);
  evp_jwt_t *jwt = verify_for(tok, "events");
  ck_assert_str_eq(evp_jwt_claim_str(jwt, "sub"), "app-2");
  evp_jwt_destroy(jwt);
  free(tok);
  /* A client_id in the body naming the same client is tolerated. */
  tok = get_token("grant_type=client_credentials&client_id=app-2", authz);
  free(tok);
  /* The form-encoded secret in the body works too. */
  tok = get_token("grant_type=client_credentials&client_id=app-2&client_secret=a%2Bb%2Fc%3Dd+e%26f%"
                  "25g%3Ah-long",
                  NULL);
  free(tok);
}
END_TEST

START_TEST(issue_errors) {
  expect_oauth_error("grant_type=password&client_id=app-1&client_secret=s3cret-s3cret-s3cret", NULL,
                     400, "unsupported_grant_type");
  expect_oauth_error("client_id=app-1&client_secret=s3cret-s3cret-s3cret", NULL, 400,
                     "invalid_request");
  expect_oauth_error(
      "grant_type=client_credentials&client_id=app-1&client_secret=wrong-wrong-wrong", NULL, 401,
      "invalid_client");
  expect_oauth_error(
      "grant_type=client_credentials&client_id=app-1&client_secret=s3cret-s3cret-s3cre", NULL, 401,
      "invalid_client");
  expect_oauth_error(
      "grant_type=client_credentials&client_id=nobody&client_secret=s3cret-s3cret-s3cret", NULL,
      401, "invalid_client");
  expect_oauth_error("grant_type=client_credentials", NULL, 401, "invalid_client");
  expect_oauth_error("grant_type=client_credentials&client_id=app-1", NULL, 401, "invalid_client");
  expect_oauth_error("grant_type=client_credentials&client_id=app-2&client_secret=a%2Bb%2Fc%3Dd+e%"
                     "26f%25g%3Ah-long&audience=other",
                     NULL, 400, "invalid_target");
  expect_oauth_error(
      "grant_type=client_credentials&client_id=app-1&client_secret=s3cret-s3cret-s3cret&audience=",
      NULL, 400, "invalid_request");
  /* A parameter given twice, bad escapes, an escaped NUL. */
  expect_oauth_error("grant_type=client_credentials&grant_type=client_credentials&client_id=app-1&"
                     "client_secret=s3cret-s3cret-s3cret",
                     NULL, 400, "invalid_request");
  expect_oauth_error("grant_type=client_credentials&client_id=app-1&client_secret=s3cret%zz", NULL,
                     400, "invalid_request");
  expect_oauth_error(
      "grant_type=client_credentials&client_id=app%00-1&client_secret=s3cret-s3cret-s3cret", NULL,
      400, "invalid_request");
  expect_oauth_error("grant_type=client_credentials&client_id=app-1&client_secret=s3cret%4", NULL,
                     400, "invalid_request");
  /* Two authentication methods; malformed or foreign Authorization. */
  unsigned char b64[128];
  EVP_EncodeBlock(b64, (const unsigned char *)"app-1:s3cret-s3cret-s3cret", 26);
  char authz[160];
  snprintf(authz, sizeof authz, "Basic %s", (char *)b64);
  expect_oauth_error("grant_type=client_credentials&client_secret=s3cret-s3cret-s3cret", authz, 400,
                     "invalid_request");
  expect_oauth_error("grant_type=client_credentials&client_id=app-2", authz, 400,
                     "invalid_request");
  expect_oauth_error("grant_type=client_credentials", "Basic !!!!", 401, "invalid_client");
  expect_oauth_error("grant_type=client_credentials", "Basic YWJj", 401,
                     "invalid_client"); /* "abc": no colon */
  expect_oauth_error("grant_type=client_credentials", "Bearer x.y.z", 401, "invalid_client");
  EVP_EncodeBlock(b64, (const unsigned char *)"app-1:wrong-secret-here", 23);
  snprintf(authz, sizeof authz, "Basic %s", (char *)b64);
  expect_oauth_error("grant_type=client_credentials", authz, 401, "invalid_client");
}
END_TEST

START_TEST(issue_unknown_and_wrong_secret_look_alike) {
  evp__http_resp_t a, b;
  token_req("grant_type=client_credentials&client_id=app-1&client_secret=wrong-wrong-wrong", NULL,
            &a);
  token_req("grant_type=client_credentials&client_id=ghost&client_secret=wrong-wrong-wrong", NULL,
            &b);
  ck_assert_int_eq(a.status, b.status);
  ck_assert_str_eq(a.body, b.body);
  evp__http_resp_free(&a);
  evp__http_resp_free(&b);
}
END_TEST

START_TEST(issue_method_content_type_size) {
  req_t q;
  evp__http_resp_t r;
  char *cid = (char *)1;
  mkreq(&q, "GET", "/token", NULL, NULL, NULL);
  evp__http_resp_init(&r);
  ck_assert_int_eq(evp__issuer_handle(&issuer, &q.r, &r, &cid), EVP_OK);
  ck_assert_ptr_null(cid);
  ck_assert_int_eq(r.status, 405);
  ck_assert_str_eq(hdr(&r, "Allow"), "POST");
  evp__http_resp_free(&r);
  mkreq(&q, "POST", "/token", "application/json", NULL, "{\"grant_type\":\"client_credentials\"}");
  ck_assert_int_eq(evp__issuer_handle(&issuer, &q.r, &r, NULL), EVP_OK);
  ck_assert_int_eq(r.status, 400);
  ck_assert_str_eq(r.reason, "invalid_request");
  evp__http_resp_free(&r);
  /* Content-Type with parameters is fine. */
  mkreq(&q, "POST", "/token", "Application/X-WWW-Form-Urlencoded; charset=utf-8", NULL,
        "grant_type=client_credentials&client_id=app-1&client_secret=s3cret-s3cret-s3cret");
  ck_assert_int_eq(evp__issuer_handle(&issuer, &q.r, &r, &cid), EVP_OK);
  ck_assert_int_eq(r.status, 200);
  ck_assert_ptr_null(r.reason);
  ck_assert_str_eq(cid, "app-1");
  free(cid);
  evp__http_resp_free(&r);
  char *big = malloc(20000);
  memset(big, 'a', 19999);
  big[19999] = '\0';
  memcpy(big, "grant_type=client_credentials&x=", 32);
  mkreq(&q, "POST", "/token", FORM, NULL, big);
  ck_assert_int_eq(evp__issuer_handle(&issuer, &q.r, &r, NULL), EVP_OK);
  ck_assert_int_eq(r.status, 400);
  evp__http_resp_free(&r);
  free(big);
}
END_TEST

START_TEST(issue_after_rotation) {
  /* Old token from v1; then v2 becomes current: new tokens carry kid v2 and
   * the v1 token still verifies (the previous key stays in the ring). */
  char *old = get_token(
      "grant_type=client_credentials&client_id=app-1&client_secret=s3cret-s3cret-s3cret", NULL);
  char err[256];
  evp_keyring_t *kr2 = evp_keyring_new();
  ck_assert_int_eq(evp_keyring_add(kr2, "v1", KEY1, 32, err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp_keyring_add(kr2, "v2", KEY2, 32, err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp_keyring_set_current(kr2, "v2"), EVP_OK);
  evp_jwt_signer_t *s2 = evp_jwt_signer_new(kr2, err, sizeof err);
  evp_jwt_signer_set_clock(s2, fixed_clock, &NOW);
  evp_jwt_signer_set_issuer(s2, "evpipe-local");
  evp_jwt_verifier_t *v2 = evp_jwt_verifier_new(kr2, err, sizeof err);
  evp_jwt_verifier_set_clock(v2, fixed_clock, &NOW);
  evp_jwt_verifier_set_audience(v2, "events");
  issuer.signer = s2;
  char *fresh = get_token(
      "grant_type=client_credentials&client_id=app-1&client_secret=s3cret-s3cret-s3cret", NULL);
  issuer.signer = signer;
  char id[EVP__CLIENT_ID_MAX + 1];
  evp_jwt_t *jwt = NULL;
  ck_assert_int_eq(evp_jwt_verify(v2, fresh, strlen(fresh), &jwt, NULL, 0), EVP_OK);
  ck_assert_str_eq(evp_jwt_kid(jwt), "v2");
  evp_jwt_destroy(jwt);
  char authz[2048];
  req_t q;
  evp__http_resp_t r;
  evp__http_resp_init(&r);
  snprintf(authz, sizeof authz, "Bearer %s", old);
  mkreq(&q, "POST", "/events", NULL, authz, NULL);
  ck_assert_int_eq(evp__authorize(v2, &q.r, id, &r), EVP_OK);
  ck_assert_str_eq(id, "app-1");
  /* The old verifier (v1 only) does not know v2. */
  snprintf(authz, sizeof authz, "Bearer %s", fresh);
  mkreq(&q, "POST", "/events", NULL, authz, NULL);
  ck_assert_int_eq(evp__authorize(verifier, &q.r, id, &r), EVP_ERR_AUTH);
  ck_assert_str_eq(r.reason, "unknown_key");
  evp__http_resp_free(&r);
  free(old);
  free(fresh);
  evp_jwt_verifier_destroy(v2);
  evp_jwt_signer_destroy(s2);
  evp_keyring_destroy(kr2);
}
END_TEST

/* ------------------------------------------------------------ client store */

static evp_err_t parse_clients(const char *json) {
  evp__clients_t *c = NULL;
  char err[256];
  evp_err_t e = evp__clients_parse(json, strlen(json), &c, err, sizeof err);
  if (e == EVP_OK) {
    ck_assert_ptr_nonnull(c);
    evp__clients_free(c);
  } else {
    ck_assert_ptr_null(c);
    ck_assert(err[0] != '\0');
  }
  return e;
}

START_TEST(clients_file_validation) {
  ck_assert_int_eq(parse_clients("not json"), EVP_ERR_JSON);
  ck_assert_int_eq(parse_clients("{}"), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(parse_clients("[]"), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(parse_clients("[1]"), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(
      parse_clients(
          "[{\"client_id\":\"a b\",\"client_secret\":\"0123456789abcdef\",\"audiences\":[\"e\"]}]"),
      EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(
      parse_clients("[{\"client_id\":\"a\",\"client_secret\":\"short\",\"audiences\":[\"e\"]}]"),
      EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(
      parse_clients(
          "[{\"client_id\":\"a\",\"client_secret\":\"0123456789abcdef\",\"audiences\":[]}]"),
      EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(
      parse_clients(
          "[{\"client_id\":\"a\",\"client_secret\":\"0123456789abcdef\",\"audiences\":[\"\"]}]"),
      EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(
      parse_clients(
          "[{\"client_id\":\"a\",\"client_secret\":\"0123456789abcdef\",\"audiences\":[\"e\",2]}]"),
      EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(
      parse_clients(
          "[{\"client_id\":\"a\",\"client_secret\":\"0123456789abcdef\",\"audiences\":[\"e\"]},"
          "{\"client_id\":\"a\",\"client_secret\":\"0123456789abcdeg\",\"audiences\":[\"e\"]}]"),
      EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(
      parse_clients(
          "[{\"client_id\":\"a\",\"client_secret\":\"0123456789abcdef\",\"audiences\":[\"e\"]}]"),
      EVP_OK);
}
END_TEST

START_TEST(clients_check_results) {
  const char *aud = NULL;
  ck_assert_int_eq(evp__clients_check(clients, "app-1", 5, "s3cret-s3cret-s3cret", 20, NULL, &aud),
                   EVP__CLIENT_OK);
  ck_assert_str_eq(aud, "events");
  ck_assert_int_eq(
      evp__clients_check(clients, "app-1", 5, "s3cret-s3cret-s3cret", 20, "other", &aud),
      EVP__CLIENT_OK);
  ck_assert_str_eq(aud, "other");
  ck_assert_int_eq(
      evp__clients_check(clients, "app-1", 5, "s3cret-s3cret-s3cret", 20, "nope", &aud),
      EVP__CLIENT_BAD_AUDIENCE);
  ck_assert_int_eq(evp__clients_check(clients, "app-1", 5, "s3cret-s3cret-s3cret!", 21, NULL, &aud),
                   EVP__CLIENT_UNKNOWN);
  ck_assert_int_eq(evp__clients_check(clients, "app-", 4, "s3cret-s3cret-s3cret", 20, NULL, &aud),
                   EVP__CLIENT_UNKNOWN);
  ck_assert_int_eq(evp__clients_check(clients, "", 0, "", 0, NULL, &aud), EVP__CLIENT_UNKNOWN);
  ck_assert_uint_eq(evp__clients_count(clients), 2);
}
END_TEST

/* ------------------------------------------------------------ authorizer */

static char *forge(const char *header, const char *claims, const unsigned char *key) {
  size_t hl = strlen(header), cl = strlen(claims);
  char *t = malloc(evp_base64url_encoded_len(hl) + evp_base64url_encoded_len(cl) + 64);
  size_t n = evp_base64url_encode(header, hl, t);
  t[n++] = '.';
  n += evp_base64url_encode(claims, cl, t + n);
  if (key) {
    unsigned char mac[32];
    evp_hmac_sha256(key, 32, t, n, mac);
    t[n++] = '.';
    n += evp_base64url_encode(mac, 32, t + n);
  } else {
    t[n++] = '.';
    t[n] = '\0';
  }
  return t;
}

/* Run the authorizer on "Authorization: @p authz"; returns the status (200 for
 * accepted) and checks the challenge of a refusal. */
static int authz_status(const char *authz, const char *want_reason) {
  req_t q;
  evp__http_resp_t r;
  char id[EVP__CLIENT_ID_MAX + 1];
  mkreq(&q, "POST", "/events", "application/json", authz, "{}");
  evp__http_resp_init(&r);
  evp_err_t e = evp__authorize(verifier, &q.r, id, &r);
  if (e == EVP_OK) {
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(id, "app-1");
    return 200;
  }
  ck_assert_int_eq(e, EVP_ERR_AUTH);
  ck_assert_str_eq(id, "");
  const char *w = hdr(&r, "WWW-Authenticate");
  ck_assert_ptr_nonnull(w);
  ck_assert_ptr_nonnull(strstr(w, "Bearer "));
  ck_assert_ptr_nonnull(strstr(w, "error=\"invalid_token\""));
  ck_assert_ptr_nonnull(strstr(w, "error_description=\""));
  ck_assert_ptr_nonnull(strstr(r.body, "\"error\":\"invalid_token\""));
  if (want_reason) ck_assert_str_eq(r.reason, want_reason);
  int st = r.status;
  evp__http_resp_free(&r);
  return st;
}

START_TEST(authorize_paths) {
  char *tok = get_token(
      "grant_type=client_credentials&client_id=app-1&client_secret=s3cret-s3cret-s3cret", NULL);
  char authz[4096];
  snprintf(authz, sizeof authz, "Bearer %s", tok);
  ck_assert_int_eq(authz_status(authz, NULL), 200);
  snprintf(authz, sizeof authz, "bearer  %s ", tok);
  ck_assert_int_eq(authz_status(authz, NULL), 200);
  ck_assert_int_eq(authz_status(NULL, "missing"), 401);
  ck_assert_int_eq(authz_status("Basic YTpi", "malformed"), 401);
  ck_assert_int_eq(authz_status("Bearer ", "malformed"), 401);
  ck_assert_int_eq(authz_status("Bearer abc.def", "malformed"), 401);
  /* Expired: past exp + leeway. */
  int64_t saved = NOW;
  NOW += 1200 + 31;
  snprintf(authz, sizeof authz, "Bearer %s", tok);
  ck_assert_int_eq(authz_status(authz, "expired"), 401);
  NOW = saved;
  /* A flipped signature character. */
  size_t tl = strlen(authz);
  authz[tl - 2] = authz[tl - 2] == 'A' ? 'B' : 'A';
  ck_assert_int_eq(authz_status(authz, "bad_signature"), 401);
  free(tok);
  char claims[256];
  snprintf(
      claims, sizeof claims,
      "{\"iss\":\"evpipe-local\",\"sub\":\"app-1\",\"aud\":\"events\",\"iat\":%lld,\"exp\":%lld}",
      (long long)NOW, (long long)NOW + 600);
  /* alg:none, forged with another key, unknown kid. */
  char *t = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, NULL);
  snprintf(authz, sizeof authz, "Bearer %s", t);
  ck_assert_int_eq(authz_status(authz, NULL), 401);
  free(t);
  t = forge("{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"v1\"}", claims, KEY1);
  snprintf(authz, sizeof authz, "Bearer %s", t);
  ck_assert_int_eq(authz_status(authz, "bad_alg"), 401);
  free(t);
  t = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"v1\"}", claims, KEY2);
  snprintf(authz, sizeof authz, "Bearer %s", t);
  ck_assert_int_eq(authz_status(authz, "bad_signature"), 401);
  free(t);
  t = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"v9\"}", claims, KEY1);
  snprintf(authz, sizeof authz, "Bearer %s", t);
  ck_assert_int_eq(authz_status(authz, "unknown_key"), 401);
  free(t);
  /* The genuine key and kid: accepted (proves the forgeries failed for their flaw). */
  t = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"v1\"}", claims, KEY1);
  snprintf(authz, sizeof authz, "Bearer %s", t);
  ck_assert_int_eq(authz_status(authz, NULL), 200);
  free(t);
  /* Wrong issuer; no sub. */
  snprintf(claims, sizeof claims,
           "{\"iss\":\"evil\",\"sub\":\"app-1\",\"aud\":\"events\",\"iat\":%lld,\"exp\":%lld}",
           (long long)NOW, (long long)NOW + 600);
  t = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"v1\"}", claims, KEY1);
  snprintf(authz, sizeof authz, "Bearer %s", t);
  ck_assert_int_eq(authz_status(authz, "bad_issuer"), 401);
  free(t);
  snprintf(claims, sizeof claims,
           "{\"iss\":\"evpipe-local\",\"aud\":\"events\",\"iat\":%lld,\"exp\":%lld}",
           (long long)NOW, (long long)NOW + 600);
  t = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"v1\"}", claims, KEY1);
  snprintf(authz, sizeof authz, "Bearer %s", t);
  ck_assert_int_eq(authz_status(authz, "bad_claim"), 401);
  free(t);
  /* A genuine token for another audience: 403. */
  tok = get_token("grant_type=client_credentials&client_id=app-1&client_secret=s3cret-s3cret-"
                  "s3cret&audience=other",
                  NULL);
  snprintf(authz, sizeof authz, "Bearer %s", tok);
  ck_assert_int_eq(authz_status(authz, "wrong_audience"), 403);
  free(tok);
  /* Absurdly long token. */
  char *huge = malloc(100000);
  memcpy(huge, "Bearer ", 7);
  memset(huge + 7, 'a', 99990);
  huge[99997] = '\0';
  ck_assert_int_eq(authz_status(huge, "malformed"), 401);
  free(huge);
}
END_TEST

/* ------------------------------------------------------------ events */

static evp_schema_t *schema;
static evp_schema_ctx_t *sctx;

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
  b[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return b;
}

static void ev_setup(void) {
  size_t n;
  char err[256];
  evp_err_t e;
  char *txt = slurp(EVP_SOURCE_DIR "/examples/schemas/glue-data-catalog-json-schema.json", &n);
  schema = evp_schema_compile(txt, n, NULL, &e, err, sizeof err);
  ck_assert_ptr_nonnull(schema);
  free(txt);
  sctx = evp_schema_ctx_new();
  ck_assert_ptr_nonnull(sctx);
}

static void ev_teardown(void) {
  evp_schema_ctx_destroy(sctx);
  evp_schema_destroy(schema);
}

#define EV1                                                                                       \
  "{\"event_id\":\"3f1b6c2e-8a4d-4f7e-9b21-0c5d7e9a1f34\",\"event_type\":\"app.opened\",\"event_" \
  "time\":\"2024-05-01T08:15:30Z\",\"app_id\":\"shop-ios\"}"
#define EV2                                                                                        \
  "{\"event_id\":\"9c2e4b71-0d3a-4c8f-a6e5-2b7f1d9e3c60\",\"event_type\":\"page.viewed\",\"event_" \
  "time\":\"2024-05-01T08:15:31Z\",\"app_id\":\"shop-web\",\"properties\":{\"path\":\"/"           \
  "a,b]\\\"}\"}}"
#define BAD_UUID                                                                                  \
  "{\"event_id\":\"not-a-uuid\",\"event_type\":\"app.opened\",\"event_time\":\"2024-05-01T08:15:" \
  "30Z\",\"app_id\":\"shop-ios\"}"
#define NO_APP                                                                                    \
  "{\"event_id\":\"1e7a5d3c-6b2f-4a9e-8c1d-5f0b3e2a7d98\",\"event_type\":\"app.opened\",\"event_" \
  "time\":\"2024-05-01T08:15:30Z\"}"

static int events_req(const evp__events_cfg_t *cfg, const char *method, const char *body,
                      evp__events_result_t *res, evp__http_resp_t *resp) {
  req_t q;
  mkreq(&q, method, "/events", "application/json", NULL, body);
  evp__http_resp_init(resp);
  ck_assert_int_eq(evp__events_handle(cfg, sctx, &q.r, res, resp), EVP_OK);
  if (resp->status != 200) {
    ck_assert_uint_eq(res->n_accepted, 0);
    ck_assert_uint_eq(res->n_events, 0);
    ck_assert_ptr_nonnull(resp->reason);
    ck_assert_ptr_nonnull(strstr(resp->body, "\"error\":"));
  }
  return resp->status;
}

START_TEST(events_all_valid) {
  evp__events_cfg_t cfg = {schema, 0, 0, NULL};
  evp__events_result_t res;
  evp__http_resp_t r;
  ck_assert_int_eq(events_req(&cfg, "POST", " {\"events\" : [ " EV1 " , " EV2 "\n] } ", &res, &r),
                   200);
  ck_assert_str_eq(r.body, "{\"accepted\":2,\"rejected\":[]}");
  ck_assert_uint_eq(res.n_events, 2);
  ck_assert_uint_eq(res.n_accepted, 2);
  ck_assert_uint_eq(res.accepted_lens[0], strlen(EV1));
  ck_assert(memcmp(res.accepted[0], EV1, strlen(EV1)) == 0);
  ck_assert_uint_eq(res.accepted_lens[1], strlen(EV2));
  ck_assert(memcmp(res.accepted[1], EV2, strlen(EV2)) == 0);
  evp__events_result_free(&res);
  evp__http_resp_free(&r);
  ck_assert_int_eq(events_req(&cfg, "POST", "{\"events\":[]}", &res, &r), 200);
  ck_assert_str_eq(r.body, "{\"accepted\":0,\"rejected\":[]}");
  evp__events_result_free(&res);
  evp__http_resp_free(&r);
}
END_TEST

START_TEST(events_per_item_results) {
  evp__events_cfg_t cfg = {schema, 0, 0, NULL};
  evp__events_result_t res;
  evp__http_resp_t r;
  ck_assert_int_eq(events_req(&cfg, "POST",
                              "{\"events\":[" EV1 "," BAD_UUID ",42,\"x\"," NO_APP
                              ",{\"event_id\":\"a\\u0062c\"}," EV2 "]}",
                              &res, &r),
                   200);
  ck_assert_uint_eq(res.n_events, 7);
  ck_assert_uint_eq(res.n_accepted, 2);
  ck_assert_uint_eq(res.n_rejected, 5);
  cJSON *j = cJSON_Parse(r.body);
  ck_assert_ptr_nonnull(j);
  ck_assert_int_eq(cJSON_GetObjectItem(j, "accepted")->valueint, 2);
  cJSON *rej = cJSON_GetObjectItem(j, "rejected");
  ck_assert_int_eq(cJSON_GetArraySize(rej), 5);
  static const int idx[] = {1, 2, 3, 4, 5};
  for (int i = 0; i < 5; i++) {
    cJSON *x = cJSON_GetArrayItem(rej, i);
    ck_assert_int_eq(cJSON_GetObjectItem(x, "index")->valueint, idx[i]);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(x, "retriable")));
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(x, "error")));
  }
  cJSON *x = cJSON_GetArrayItem(rej, 0);
  ck_assert_str_eq(cJSON_GetObjectItem(x, "event_id")->valuestring, "not-a-uuid");
  ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(x, "error")->valuestring, "/event_id: "));
  ck_assert_str_eq(res.rejected[0].reason, "format");
  x = cJSON_GetArrayItem(rej, 1);
  ck_assert(cJSON_IsNull(cJSON_GetObjectItem(x, "event_id")));
  ck_assert_str_eq(cJSON_GetObjectItem(x, "error")->valuestring, "event is not a JSON object");
  ck_assert_str_eq(res.rejected[1].reason, "not_object");
  x = cJSON_GetArrayItem(rej, 3);
  ck_assert_str_eq(cJSON_GetObjectItem(x, "event_id")->valuestring,
                   "1e7a5d3c-6b2f-4a9e-8c1d-5f0b3e2a7d98");
  ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(x, "error")->valuestring, "app_id"));
  ck_assert_str_eq(res.rejected[3].reason, "required");
  x = cJSON_GetArrayItem(rej, 4);
  ck_assert_str_eq(cJSON_GetObjectItem(x, "event_id")->valuestring, "abc"); /* unescaped */
  ck_assert(memcmp(res.accepted[0], EV1, strlen(EV1)) == 0);
  ck_assert(memcmp(res.accepted[1], EV2, strlen(EV2)) == 0);
  cJSON_Delete(j);
  evp__events_result_free(&res);
  evp__http_resp_free(&r);
}
END_TEST

START_TEST(events_without_schema) {
  evp__events_cfg_t cfg = {NULL, 0, 0, NULL};
  evp__events_result_t res;
  evp__http_resp_t r;
  ck_assert_int_eq(events_req(&cfg, "POST", "{\"events\":[{},[1],{\"a\":1},null]}", &res, &r), 200);
  ck_assert_uint_eq(res.n_accepted, 2);
  ck_assert_ptr_nonnull(strstr(r.body, "\"index\":1,"));
  ck_assert_ptr_nonnull(strstr(r.body, "\"index\":3,"));
  evp__events_result_free(&res);
  evp__http_resp_free(&r);
}
END_TEST

START_TEST(events_bad_shapes) {
  evp__events_cfg_t cfg = {schema, 0, 0, NULL};
  evp__events_result_t res;
  evp__http_resp_t r;
  static const char *const bad[] = {
      "",
      "not json",
      "[]",
      "{\"events\":{}}",
      "{\"events\":\"x\"}",
      "{\"evts\":[]}",
      "{\"events\":[]} trailing",
      "{\"events\":[],\"events\":[]}",
      "{\"events\":[1,]}",
      "{\"events\":[\"\xff\"]}",
      "{\"events\":[{\"a\":1}}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_int_eq(events_req(&cfg, "POST", bad[i], &res, &r), 400);
    ck_assert_str_eq(r.reason, "invalid_request");
    evp__events_result_free(&res);
    evp__http_resp_free(&r);
  }
  /* An event nested deeper than the validator allows is one rejected item;
   * a body nested deeper than any validator setting could accept is a 400. */
  size_t dn = 2 * 1100 + 64;
  char *deep = malloc(dn);
  size_t n = (size_t)snprintf(deep, dn, "{\"events\":[" EV1 ",{\"a\":");
  for (int i = 0; i < 100; i++) deep[n++] = '[';
  for (int i = 0; i < 100; i++) deep[n++] = ']';
  memcpy(deep + n, "}]}", 4);
  ck_assert_int_eq(events_req(&cfg, "POST", deep, &res, &r), 200);
  ck_assert_uint_eq(res.n_rejected, 1);
  ck_assert_uint_eq(res.rejected[0].index, 1);
  ck_assert_str_eq(res.rejected[0].reason, "limit");
  evp__events_result_free(&res);
  evp__http_resp_free(&r);
  n = (size_t)snprintf(deep, dn, "{\"events\":[");
  for (int i = 0; i < 1100; i++) deep[n++] = '[';
  for (int i = 0; i < 1100; i++) deep[n++] = ']';
  memcpy(deep + n, "]}", 3);
  ck_assert_int_eq(events_req(&cfg, "POST", deep, &res, &r), 400);
  evp__http_resp_free(&r);
  free(deep);
  ck_assert_int_eq(events_req(&cfg, "GET", NULL, &res, &r), 405);
  ck_assert_str_eq(hdr(&r, "Allow"), "POST");
  evp__http_resp_free(&r);
}
END_TEST

START_TEST(events_limits) {
  evp__events_cfg_t cfg = {schema, 3, 4096, NULL};
  evp__events_result_t res;
  evp__http_resp_t r;
  ck_assert_int_eq(events_req(&cfg, "POST", "{\"events\":[{},{},{}]}", &res, &r), 200);
  evp__events_result_free(&res);
  evp__http_resp_free(&r);
  ck_assert_int_eq(events_req(&cfg, "POST", "{\"events\":[{},{},{},{}]}", &res, &r), 413);
  ck_assert_str_eq(r.reason, "too_many_events");
  evp__http_resp_free(&r);
  char *big = malloc(5000);
  memset(big, ' ', 4999);
  big[4999] = '\0';
  memcpy(big, "{\"events\":[]}", 13);
  ck_assert_int_eq(events_req(&cfg, "POST", big, &res, &r), 413);
  ck_assert_str_eq(r.reason, "too_large");
  evp__http_resp_free(&r);
  free(big);
  /* Defaults: 500 events. */
  evp__events_cfg_t def = {NULL, 0, 0, NULL};
  char *many = malloc(501 * 3 + 32);
  size_t n;
  n = 0;
  n += (size_t)sprintf(many, "{\"events\":[");
  for (int i = 0; i < 501; i++) n += (size_t)sprintf(many + n, "%s{}", i ? "," : "");
  strcpy(many + n, "]}");
  ck_assert_int_eq(events_req(&def, "POST", many, &res, &r), 413);
  evp__http_resp_free(&r);
  free(many);
}
END_TEST

/* A long error message is cut at a UTF-8 boundary; the output stays JSON. */
START_TEST(events_long_error_is_bounded) {
  evp__events_cfg_t cfg = {schema, 0, 0, NULL};
  evp__events_result_t res;
  evp__http_resp_t r;
  char body[2048];
  char key[300];
  memset(key, 'k', sizeof key - 1);
  key[sizeof key - 1] = '\0';
  snprintf(body, sizeof body, "{\"events\":[{\"%s\":1}]}", key);
  ck_assert_int_eq(events_req(&cfg, "POST", body, &res, &r), 200);
  ck_assert_uint_eq(res.n_rejected, 1);
  ck_assert_uint_le(strlen(res.rejected[0].error), EVP__EVENT_ERROR_MAX);
  cJSON *j = cJSON_Parse(r.body);
  ck_assert_ptr_nonnull(j);
  cJSON_Delete(j);
  evp__events_result_free(&res);
  evp__http_resp_free(&r);
}
END_TEST

/* Bodies up to 2 MiB are parsed once and validated from the parse; larger
 * ones take the general path (scan, then each event parsed alone). Trailing
 * whitespace moves a body from one path to the other without changing its
 * meaning, so every answer must be identical. */
static void same_on_both_paths(const evp__events_cfg_t *cfg, const char *body) {
  size_t n = strlen(body), pad = 2u * 1024u * 1024u + 16;
  char *big = malloc(n + pad + 1);
  ck_assert_ptr_nonnull(big);
  memcpy(big, body, n);
  memset(big + n, ' ', pad);
  big[n + pad] = '\0';
  evp__events_result_t a, b;
  evp__http_resp_t ra, rb;
  req_t q;
  mkreq(&q, "POST", "/events", "application/json", NULL, body);
  evp__http_resp_init(&ra);
  ck_assert_int_eq(evp__events_handle(cfg, sctx, &q.r, &a, &ra), EVP_OK);
  mkreq(&q, "POST", "/events", "application/json", NULL, big);
  evp__http_resp_init(&rb);
  ck_assert_int_eq(evp__events_handle(cfg, sctx, &q.r, &b, &rb), EVP_OK);
  ck_assert_msg(ra.status == rb.status && ra.body_len == rb.body_len &&
                    memcmp(ra.body, rb.body, ra.body_len) == 0,
                "%s\n -> %d %.*s\n vs %d %.*s", body, ra.status, (int)ra.body_len, ra.body,
                rb.status, (int)rb.body_len, rb.body);
  ck_assert_uint_eq(a.n_events, b.n_events);
  ck_assert_uint_eq(a.n_accepted, b.n_accepted);
  ck_assert_uint_eq(a.n_rejected, b.n_rejected);
  ck_assert(a.sent_at_us == b.sent_at_us);
  for (size_t i = 0; i < a.n_accepted; i++) {
    ck_assert_uint_eq(a.accepted_lens[i], b.accepted_lens[i]);
    ck_assert_uint_eq((size_t)(a.accepted[i] - body), (size_t)(b.accepted[i] - big));
  }
  for (size_t i = 0; i < a.n_rejected; i++)
    ck_assert_str_eq(a.rejected[i].reason, b.rejected[i].reason);
  evp__events_result_free(&a);
  evp__events_result_free(&b);
  evp__http_resp_free(&ra);
  evp__http_resp_free(&rb);
  free(big);
}

START_TEST(events_one_pass_equals_general_path) {
  evp__events_cfg_t cfg = {schema, 5, 8u * 1024u * 1024u, NULL};
  static const char *const bodies[] = {
      "{\"events\":[" EV1 "," EV2 "]}",
      " {\"events\" : [ " EV1 " , " BAD_UUID "\n, 42 ,\"x\",null,[1]," NO_APP "] } ",
      "{\"events\":[{\"event_id\":\"a\\u0062c\"},{\"k\\u0065y\":1}]}",
      "{\"events\":[{\"event_id\":\"x\",\"event_id\":\"y\"}]}",
      "{\"events\":[]}",
      "{\"events\":[{},{},{},{},{},{}]}",
      "{\"events\":[1,2,3,4,5,6]}",
      "{\"a\":1,\"events\":[" EV1 "],\"b\":{\"c\":[]}}",
      "{\"events\":[" EV1 "],\"a\":1,\"a\":2}",
      "{\"events\":[],\"events\":[" EV1 "]}",
      "{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1,\"j\":1,\"k\":1,"
      "\"l\":1,\"m\":1,\"n\":1,\"o\":1,\"p\":1,\"events\":[" EV1 "]}",
      "",
      "[]",
      "{\"events\":{}}",
      "{\"events\":[1,]}",
      "{\"events\":[\"\xff\"]}",
      "{\"events\":[{\"a\":1}}",
      "{\"events\":[" EV1 "]} x",
      "{\"events\":[{\"a\":\"\xc3\xa9\\n\"}]}",
      "{\"events\":[{\"event_id\":\"3f1b6c2e-8a4d-4f7e-9b21-0c5d7e9a1f34\",\"event_type\":\"a\","
      "\"event_time\":\"2024-05-01T08:15:30Z\",\"app_id\":\"x\",\"properties\":{\"d\":[[[[[[1]]]]]]"
      "}}]}",
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) same_on_both_paths(&cfg, bodies[i]);
  /* Limits counted from the event: depth and size, as if validated alone. */
  ck_assert_int_eq(evp_schema_ctx_set_limits(sctx, 200, 4, 0), EVP_OK);
  same_on_both_paths(&cfg, "{\"events\":[" EV1 "," EV2
                           ",{\"a\":[[1]]},{\"a\":[[[1]]]},{\"a\":[[[[1]]]]}]}");
  ck_assert_int_eq(evp_schema_ctx_set_limits(sctx, 0, 0, 0), EVP_OK);
}
END_TEST

/* ------------------------------------------------------------ helpers */

static int collect(void *opaque, size_t i, const char *v, size_t n) {
  char(*out)[64] = opaque;
  snprintf(out[i], 64, "%.*s", (int)n, v);
  return 0;
}

static int stop_at_1(void *opaque, size_t i, const char *v, size_t n) {
  (void)opaque, (void)v, (void)n;
  return i == 1;
}

START_TEST(array_split) {
  char out[8][64];
  const char *a = "[ \"a,]\\\"\" , {\"x\":[1,{\"y\":\"}\"}]},\n3 ,[[]], null ]";
  ck_assert_uint_eq(evp__json_array_each(a, strlen(a), collect, out), 5);
  ck_assert_str_eq(out[0], "\"a,]\\\"\"");
  ck_assert_str_eq(out[1], "{\"x\":[1,{\"y\":\"}\"}]}");
  ck_assert_str_eq(out[2], "3");
  ck_assert_str_eq(out[3], "[[]]");
  ck_assert_str_eq(out[4], "null");
  ck_assert_uint_eq(evp__json_array_each("[]", 2, collect, out), 0);
  ck_assert_uint_eq(evp__json_array_each("[ ]", 3, NULL, NULL), 0);
  ck_assert_uint_eq(evp__json_array_each("[1,2,3]", 7, stop_at_1, NULL), (size_t)-1);
}
END_TEST

static size_t gz(const char *in, size_t n, unsigned char *out, size_t cap) {
  z_stream z;
  memset(&z, 0, sizeof z);
  ck_assert_int_eq(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  z.next_in = (Bytef *)(uintptr_t)in;
  z.avail_in = (uInt)n;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
  size_t len = cap - z.avail_out;
  deflateEnd(&z);
  return len;
}

START_TEST(gunzip_bounds) {
  const char *msg = "{\"events\":[{\"a\":1}]}";
  unsigned char g[256];
  size_t gl = gz(msg, strlen(msg), g, sizeof g);
  char *out;
  size_t ol;
  ck_assert_int_eq(evp__gunzip(g, gl, 1000, &out, &ol), EVP_OK);
  ck_assert_uint_eq(ol, strlen(msg));
  ck_assert(memcmp(out, msg, ol) == 0);
  free(out);
  /* Exactly at the limit is fine; one byte less is not. */
  ck_assert_int_eq(evp__gunzip(g, gl, strlen(msg), &out, &ol), EVP_OK);
  free(out);
  ck_assert_int_eq(evp__gunzip(g, gl, strlen(msg) - 1, &out, &ol), EVP_ERR_TOO_LARGE);
  ck_assert_ptr_null(out);
  /* A bomb: 8 MiB of zeros in a few KiB, limit 1 MiB. */
  size_t zn = 8u << 20;
  char *zeros = calloc(1, zn);
  unsigned char *bomb = malloc(64 * 1024);
  size_t bl = gz(zeros, zn, bomb, 64 * 1024);
  ck_assert_uint_lt(bl, 16 * 1024);
  ck_assert_int_eq(evp__gunzip(bomb, bl, 1u << 20, &out, &ol), EVP_ERR_TOO_LARGE);
  free(bomb);
  free(zeros);
  /* Garbage, truncated, trailing bytes, empty. */
  ck_assert_int_eq(evp__gunzip("not gzip at all", 15, 1000, &out, &ol), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__gunzip(g, gl - 4, 1000, &out, &ol), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__gunzip(g, 10, 1000, &out, &ol), EVP_ERR_INVALID_ARG);
  g[gl] = 'x';
  ck_assert_int_eq(evp__gunzip(g, gl + 1, 1000, &out, &ol), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__gunzip(g, 0, 1000, &out, &ol), EVP_ERR_INVALID_ARG);
  g[gl - 1] ^= 1; /* the length in the trailer */
  ck_assert_int_eq(evp__gunzip(g, gl, 1000, &out, &ol), EVP_ERR_INVALID_ARG);
}
END_TEST

START_TEST(form_and_basic) {
  static const char *const names[2] = {"a", "b c"};
  char *v[2];
  const char *body = "x=1&a=h%C3%A9llo+w&&b+c=%2B%26&z";
  ck_assert_int_eq(evp__form_parse(body, strlen(body), names, 2, v), EVP_OK);
  ck_assert_str_eq(v[0], "h\xc3\xa9llo w");
  ck_assert_str_eq(v[1], "+&");
  free(v[0]);
  free(v[1]);
  ck_assert_int_eq(evp__form_parse("a", 1, names, 2, v), EVP_OK);
  ck_assert_str_eq(v[0], "");
  ck_assert_ptr_null(v[1]);
  free(v[0]);
  ck_assert_int_eq(evp__form_parse("a=1&a=2", 7, names, 2, v), EVP_ERR_INVALID_ARG);
  ck_assert_ptr_null(v[0]);
  ck_assert_int_eq(evp__form_parse("b+c=1&a=%G1", 11, names, 2, v), EVP_ERR_INVALID_ARG);
  ck_assert_ptr_null(v[1]);
  ck_assert_int_eq(evp__form_parse("a=%00", 5, names, 2, v), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__form_parse("a=\0", 3, names, 2, v), EVP_ERR_INVALID_ARG);
  char *id, *sec;
  ck_assert_int_eq(evp__basic_auth_parse("BASIC  YTpiOmM= ", &id, &sec), EVP_OK); /* a:b:c */
  ck_assert_str_eq(id, "a");
  ck_assert_str_eq(sec, "b:c");
  free(id);
  free(sec);
  ck_assert_int_eq(evp__basic_auth_parse("Basic OmI=", &id, &sec), EVP_ERR_INVALID_ARG); /* ":b" */
  ck_assert_int_eq(evp__basic_auth_parse("Basic YTpi=", &id, &sec), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__basic_auth_parse("Basi", &id, &sec), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__basic_auth_parse("Basic ", &id, &sec), EVP_ERR_INVALID_ARG);
  ck_assert_ptr_null(id);
  ck_assert_ptr_null(sec);
}
END_TEST

START_TEST(resp_helpers) {
  evp__http_resp_t r;
  evp__http_resp_init(&r);
  for (int i = 0; i < EVP__HTTP_MAX_RESP_HEADERS; i++)
    ck_assert_int_eq(evp__http_resp_header(&r, "X-A", "1"), EVP_OK);
  ck_assert_int_eq(evp__http_resp_header(&r, "X-A", "1"), EVP_ERR_TOO_LARGE);
  ck_assert_int_eq(evp__http_resp_error(&r, 503, "unavailable", "say \"why\""), EVP_OK);
  ck_assert_uint_eq(r.n_headers, 0);
  ck_assert_str_eq(r.body, "{\"error\":\"unavailable\",\"error_description\":\"say \\\"why\\\"\"}");
  ck_assert_uint_eq(r.body_len, strlen(r.body));
  ck_assert_int_eq(evp__http_resp_body(&r, "text/plain", "ok\n", 3), EVP_OK);
  ck_assert_str_eq(r.body, "ok\n");
  evp__http_resp_free(&r);
  ck_assert_ptr_null(r.body);
  evp__http_hdr_t h[2] = {{"a", "1"}, {"b", "2"}};
  evp__http_req_t q = {"GET", "/", h, 2, NULL, 0, NULL};
  ck_assert_str_eq(evp__http_req_header(&q, "b"), "2");
  ck_assert_ptr_null(evp__http_req_header(&q, "c"));
}
END_TEST

/* ------------------------------------------------------------ local: files, keys, limits */

static char tmpdir[64];

static void local_setup(void) { test_tmpdir_make(tmpdir, sizeof tmpdir, "handlers"); }

static void local_teardown(void) { ck_assert_int_eq(test_tmpdir_remove(tmpdir), 0); }

static void tpath(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/%s", tmpdir, name);
}

static unsigned mode_of(const char *p) {
  struct stat st;
  ck_assert_int_eq(stat(p, &st), 0);
  return (unsigned)(st.st_mode & 0777);
}

START_TEST(ratelimit_buckets) {
  evp__ratelimit_t *rl = evp__ratelimit_new(2, 3);
  ck_assert_ptr_nonnull(rl);
  for (int i = 0; i < 3; i++) ck_assert_int_eq(evp__ratelimit_take(rl, "a", 100.0), 0);
  ck_assert_int_eq(evp__ratelimit_take(rl, "a", 100.0), 1); /* 0.5 s to the next token: 1 s */
  ck_assert_int_eq(evp__ratelimit_take(rl, "b", 100.0), 0); /* buckets are per client */
  ck_assert_int_eq(evp__ratelimit_take(rl, "a", 100.6), 0); /* refilled 1.2 tokens */
  ck_assert_int_eq(evp__ratelimit_take(rl, "a", 100.6), 1);
  ck_assert_int_eq(evp__ratelimit_take(rl, "a", 1000.0), 0); /* capped at the burst */
  ck_assert_int_eq(evp__ratelimit_take(rl, "a", 1000.0), 0);
  ck_assert_int_eq(evp__ratelimit_take(rl, "a", 1000.0), 0);
  ck_assert_int_eq(evp__ratelimit_take(rl, "a", 1000.0), 1);
  evp__ratelimit_free(rl);
  ck_assert_ptr_null(evp__ratelimit_new(0, 3));
  ck_assert_ptr_null(evp__ratelimit_new(1, 0.5));
  rl = evp__ratelimit_new(0.01, 1); /* one request per 100 s */
  ck_assert_int_eq(evp__ratelimit_take(rl, "x", 0), 0);
  ck_assert_int_eq(evp__ratelimit_take(rl, "x", 0), 100);
  evp__ratelimit_free(rl);
}
END_TEST

/* Keys from an open set (source addresses on /token) must not fill the
 * table for good: buckets idle long enough to be full are recycled, so a new
 * address later gets a bucket of its own rather than the shared overflow. */
START_TEST(ratelimit_recycles_idle_buckets) {
  evp__ratelimit_t *rl = evp__ratelimit_new(1, 1);
  ck_assert_ptr_nonnull(rl);
  char k[32];
  for (int i = 0; i < 20000; i++) { /* far more keys than slots, all busy at t=10 */
    snprintf(k, sizeof k, "10.0.%d.%d", i / 256, i % 256);
    evp__ratelimit_take(rl, k, 10.0);
  }
  /* While every slot is busy, unknown keys share the overflow bucket. */
  int limited = 0;
  for (int i = 0; i < 3; i++) limited += evp__ratelimit_take(rl, "192.0.2.1", 10.0) > 0;
  ck_assert_int_ge(limited, 2);
  /* Two seconds later every bucket is full again: a new key has its own. */
  ck_assert_int_eq(evp__ratelimit_take(rl, "198.51.100.7", 12.0), 0);
  ck_assert_int_eq(evp__ratelimit_take(rl, "198.51.100.7", 12.0), 1);
  ck_assert_int_eq(evp__ratelimit_take(rl, "198.51.100.8", 12.0), 0);
  evp__ratelimit_free(rl);
}
END_TEST

/* The clients file is watched with the keys: an edit takes effect without a
 * restart; a broken edit keeps the previous store in use. */
START_TEST(clients_file_hot_reload) {
  char kp[256], cp[256], err[512];
  int created;
  tpath(kp, sizeof kp, "keys.json");
  tpath(cp, sizeof cp, "clients.json");
  ck_assert_int_eq(evp__keys_init(kp, &created, err, sizeof err), EVP_OK);
  const char *one =
      "[{\"client_id\":\"a\",\"client_secret\":\"0123456789abcdef\",\"audiences\":[\"events\"]}]";
  const char *two =
      "[{\"client_id\":\"a\",\"client_secret\":\"0123456789abcdef\",\"audiences\":[\"events\"]},"
      "{\"client_id\":\"b\",\"client_secret\":\"fedcba9876543210\",\"audiences\":[\"events\"]}]";
  ck_assert_int_eq(evp__file_write_secret(cp, one, strlen(one), 0, err, sizeof err), EVP_OK);
  evp__keywatch_t *w;
  ck_assert_int_eq(evp__keywatch_new(kp, cp, NULL, 600, &w, err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp__keywatch_poll(w, err, sizeof err), 0);
  evp__keystate_t *s1 = evp__keywatch_acquire(w);
  ck_assert_uint_eq(evp__clients_count(s1->clients), 1);
  const char *aud;
  ck_assert_int_eq(evp__clients_check(s1->clients, "b", 1, "fedcba9876543210", 16, NULL, &aud),
                   EVP__CLIENT_UNKNOWN);
  ck_assert_int_eq(evp__file_write_secret(cp, two, strlen(two), 0, err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp__keywatch_poll(w, err, sizeof err), 1);
  evp__keystate_t *s2 = evp__keywatch_acquire(w);
  ck_assert_uint_eq(evp__clients_count(s2->clients), 2);
  ck_assert_int_eq(evp__clients_check(s2->clients, "b", 1, "fedcba9876543210", 16, NULL, &aud),
                   EVP__CLIENT_OK);
  ck_assert_str_eq(s2->current, s1->current);            /* same keys */
  ck_assert_uint_eq(evp__clients_count(s1->clients), 1); /* the holder's state is intact */
  evp__keystate_release(s1);
  /* A broken edit (bad JSON, then a readable-by-others file): reported once, old store kept. */
  ck_assert_int_eq(evp__file_write_secret(cp, "[{", 2, 0, err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp__keywatch_poll(w, err, sizeof err), -1);
  ck_assert_int_eq(evp__keywatch_poll(w, err, sizeof err), 0);
  ck_assert_int_eq(evp__file_write_secret(cp, one, strlen(one), 0, err, sizeof err), EVP_OK);
  chmod(cp, 0644);
  ck_assert_int_eq(evp__keywatch_poll(w, err, sizeof err), -1);
  ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
  evp__keystate_t *s3 = evp__keywatch_acquire(w);
  ck_assert_uint_eq(evp__clients_count(s3->clients), 2);
  evp__keystate_release(s3);
  /* A deleted clients file is a change that cannot be loaded. */
  ck_assert_int_eq(unlink(cp), 0);
  ck_assert_int_eq(evp__keywatch_poll(w, err, sizeof err), -1);
  ck_assert_int_eq(evp__keywatch_poll(w, err, sizeof err), 0);
  evp__keystate_release(s2);
  evp__keywatch_free(w);
}
END_TEST

START_TEST(secret_file_writes) {
  char p[256], err[256], *buf;
  size_t len;
  tpath(p, sizeof p, "s.json");
  ck_assert_int_eq(evp__file_write_secret(p, "abc", 3, 1, err, sizeof err), EVP_OK);
  ck_assert_uint_eq(mode_of(p), 0600);
  ck_assert_int_eq(evp__file_write_secret(p, "xyz", 3, 1, err, sizeof err), EVP_ERR_STATE);
  ck_assert_int_eq(evp__file_write_secret(p, "xyzw", 4, 0, err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp__file_read(p, 100, 1, &buf, &len, NULL, err, sizeof err), EVP_OK);
  ck_assert_str_eq(buf, "xyzw");
  free(buf);
  ck_assert_int_eq(evp__file_read(p, 3, 1, &buf, &len, NULL, err, sizeof err), EVP_ERR_TOO_LARGE);
  chmod(p, 0640);
  ck_assert_int_eq(evp__file_read(p, 100, 1, &buf, &len, NULL, err, sizeof err),
                   EVP_ERR_PERMISSION);
  ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
  ck_assert_int_eq(evp__file_read(p, 100, 0, &buf, &len, NULL, err, sizeof err), EVP_OK);
  free(buf);
  tpath(p, sizeof p, "none.json");
  ck_assert_int_eq(evp__file_read(p, 100, 1, &buf, &len, NULL, err, sizeof err), EVP_ERR_IO);
  tpath(p, sizeof p, "a/b/c");
  ck_assert_int_eq(evp__mkdirs(p, err, sizeof err), EVP_OK);
  ck_assert_uint_eq(mode_of(p), 0700);
  tpath(p, sizeof p, "s.json/x");
  ck_assert_int_ne(evp__mkdirs(p, err, sizeof err), EVP_OK);
}
END_TEST

START_TEST(clients_file_create_and_refuse) {
  char p[256], err[256], out[512] = "";
  tpath(p, sizeof p, "clients.json");
  FILE *ann = fmemopen(out, sizeof out - 1, "w");
  evp__clients_t *c = NULL;
  ck_assert_int_eq(evp__local_clients_load(p, ann, &c, err, sizeof err), EVP_OK);
  fclose(ann);
  ck_assert_uint_eq(evp__clients_count(c), 1);
  ck_assert_uint_eq(mode_of(p), 0600);
  ck_assert_ptr_nonnull(strstr(out, "client_id:"));
  ck_assert_ptr_nonnull(strstr(out, "client_secret:"));
  /* The printed credentials authenticate. */
  char id[64], sec[64];
  ck_assert_int_eq(sscanf(strstr(out, "client_id:"), "client_id: %63s", id), 1);
  ck_assert_int_eq(sscanf(strstr(out, "client_secret:"), "client_secret: %63s", sec), 1);
  ck_assert_uint_eq(strlen(sec), 43); /* 32 bytes, base64url */
  const char *aud;
  ck_assert_int_eq(evp__clients_check(c, id, strlen(id), sec, strlen(sec), NULL, &aud),
                   EVP__CLIENT_OK);
  ck_assert_str_eq(aud, "events");
  evp__clients_free(c);
  /* Loading again does not print or change anything. */
  char out2[64] = "";
  ann = fmemopen(out2, sizeof out2 - 1, "w");
  ck_assert_int_eq(evp__local_clients_load(p, ann, &c, err, sizeof err), EVP_OK);
  fclose(ann);
  ck_assert_str_eq(out2, "");
  evp__clients_free(c);
  chmod(p, 0644);
  ck_assert_int_eq(evp__local_clients_load(p, NULL, &c, err, sizeof err), EVP_ERR_PERMISSION);
  ck_assert_ptr_null(c);
  ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
  tpath(p, sizeof p, "bad.json");
  ck_assert_int_eq(evp__file_write_secret(p, "[{}]", 4, 1, err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp__local_clients_load(p, NULL, &c, err, sizeof err), EVP_ERR_INVALID_ARG);
  ck_assert_ptr_nonnull(strstr(err, "bad.json"));
}
END_TEST

/* Rotation keeps current + previous; a running keywatch follows it, and a
 * broken file leaves the previous state in use. */
START_TEST(keys_rotate_and_reload) {
  char p[256], err[256], kid[32], cur[EVP_JWT_MAX_KID_LEN + 1];
  int created;
  tpath(p, sizeof p, "keys.json");
  ck_assert_int_eq(evp__keys_rotate(p, kid, sizeof kid, err, sizeof err), EVP_ERR_IO); /* no file */
  ck_assert_int_eq(evp__keys_init(p, &created, err, sizeof err), EVP_OK);
  ck_assert_int_eq(created, 1);
  ck_assert_uint_eq(mode_of(p), 0600);
  ck_assert_int_eq(evp__keys_init(p, &created, err, sizeof err), EVP_OK);
  ck_assert_int_eq(created, 0);
  evp__keywatch_t *w;
  ck_assert_int_eq(evp__keywatch_new(p, NULL, NULL, 600, &w, err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp__keywatch_poll(w, err, sizeof err), 0);
  evp__keystate_t *s1 = evp__keywatch_acquire(w);
  ck_assert_str_eq(s1->current, "v1");
  char *t1;
  ck_assert_int_eq(evp_jwt_sign(s1->signer, "app", "events", NULL, &t1, err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp__keys_rotate(p, kid, sizeof kid, err, sizeof err), EVP_OK);
  ck_assert_str_eq(kid, "v2");
  ck_assert_uint_eq(mode_of(p), 0600);
  ck_assert_int_eq(evp__keywatch_poll(w, err, sizeof err), 1);
  evp__keystate_t *s2 = evp__keywatch_acquire(w);
  ck_assert_str_eq(s2->current, "v2");
  /* s1 is still usable by its holder after the swap. */
  ck_assert_int_eq(evp_jwt_verify(s1->verifier, t1, strlen(t1), NULL, NULL, 0), EVP_OK);
  evp__keystate_release(s1);
  ck_assert_int_eq(evp_jwt_verify(s2->verifier, t1, strlen(t1), NULL, NULL, 0),
                   EVP_OK); /* previous key */
  ck_assert_int_eq(evp__keys_rotate(p, kid, sizeof kid, err, sizeof err), EVP_OK);
  ck_assert_str_eq(kid, "v3");
  ck_assert_int_eq(evp__keywatch_poll(w, err, sizeof err), 1);
  evp__keystate_t *s3 = evp__keywatch_acquire(w);
  ck_assert_int_eq(evp_jwt_verify(s3->verifier, t1, strlen(t1), NULL, NULL, 0),
                   EVP_ERR_JWT_UNKNOWN_KEY);
  evp__keystate_release(s3);
  evp__keystate_release(s2);
  evp_keyring_t *ring;
  ck_assert_int_eq(evp__keys_load(p, &ring, cur, sizeof cur, NULL, err, sizeof err), EVP_OK);
  ck_assert_uint_eq(evp_keyring_count(ring), 2);
  ck_assert_str_eq(cur, "v3");
  evp_keyring_destroy(ring);
  /* Broken files: reported once, the old state stays. */
  static const char *const broken[] = {
      "not json",
      "{\"current\":\"v9\",\"keys\":[{\"kid\":\"v1\",\"secret\":\"base64:"
      "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"}]}",
      "{\"current\":\"v1\",\"keys\":[{\"kid\":\"v1\",\"secret\":\"base64:c2hvcnQ=\"}]}",
      "{\"current\":\"v1\",\"keys\":[{\"kid\":\"v1\",\"secret\":\"raw\"}]}",
      "{\"current\":\"v1\",\"keys\":[]}"};
  for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
    ck_assert_int_eq(evp__file_write_secret(p, broken[i], strlen(broken[i]), 0, err, sizeof err),
                     EVP_OK);
    ck_assert_int_ne(evp__keys_load(p, &ring, cur, sizeof cur, NULL, err, sizeof err), EVP_OK);
    ck_assert_ptr_null(ring);
    ck_assert_int_eq(evp__keywatch_poll(w, err, sizeof err), -1);
    ck_assert_int_eq(evp__keywatch_poll(w, err, sizeof err), 0);
    ck_assert_int_ne(evp__keys_rotate(p, kid, sizeof kid, err, sizeof err), EVP_OK);
    s3 = evp__keywatch_acquire(w);
    ck_assert_str_eq(s3->current, "v3");
    evp__keystate_release(s3);
  }
  evp__keywatch_free(w);
  free(t1);
}
END_TEST

START_TEST(metrics_text) {
  evp__metrics_t *m = evp__metrics_new();
  evp__metrics_request(m, EVP__ROUTE_EVENTS, 200, 0.003);
  evp__metrics_request(m, EVP__ROUTE_EVENTS, 429, 10.0);
  evp__metrics_accepted(m, 7);
  evp__metrics_rejected(m, "required");
  evp__metrics_rejected(m, "no-such-reason");
  evp__metrics_auth_failure(m, "expired");
  evp__metrics_token(m, NULL);
  evp__metrics_token(m, "invalid_client");
  char *t;
  size_t n;
  ck_assert_int_eq(evp__metrics_render(m, NULL, NULL, &t, &n), EVP_OK);
  ck_assert_uint_eq(strlen(t), n);
  ck_assert_ptr_nonnull(
      strstr(t, "evpipe_http_requests_total{route=\"/events\",code=\"200\"} 1\n"));
  ck_assert_ptr_nonnull(
      strstr(t, "evpipe_http_requests_total{route=\"/events\",code=\"429\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(t, "evpipe_http_request_duration_seconds_bucket{le=\"0.005\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(t, "evpipe_http_request_duration_seconds_bucket{le=\"5\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(t, "evpipe_http_request_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
  ck_assert_ptr_nonnull(strstr(t, "evpipe_events_accepted_total 7\n"));
  ck_assert_ptr_nonnull(strstr(t, "evpipe_events_rejected_total{reason=\"required\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(t, "evpipe_events_rejected_total{reason=\"other\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(t, "evpipe_auth_failures_total{reason=\"expired\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(t, "evpipe_tokens_issued_total 1\n"));
  ck_assert_ptr_nonnull(strstr(t, "evpipe_token_errors_total{error=\"invalid_client\"} 1\n"));
  ck_assert_ptr_null(strstr(t, "queue_depth")); /* no log given */
  free(t);
  evp__metrics_free(m);
}
END_TEST

START_TEST(log_values_escaped_and_bounded) {
  char f[4096];
  size_t n = 0;
  evp__local_log_str(f, sizeof f, &n, "a", "q\"\n\\");
  evp__local_log_num(f, sizeof f, &n, "b", -5);
  evp__local_log_str(f, sizeof f, &n, "c", NULL);
  ck_assert_str_eq(f, "\"a\":\"q\\\"\\n\\\\\",\"b\":-5,\"c\":null");
  char big[3000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  n = 0;
  evp__local_log_str(f, sizeof f, &n, "k", big);
  ck_assert_uint_eq(n, strlen("\"k\":\"\"") + 1024);
  char tiny[8];
  n = 0;
  evp__local_log_str(tiny, sizeof tiny, &n, "key", "value");
  ck_assert_uint_le(n, sizeof tiny);
}
END_TEST

/* Issue 12: framing and header syntax refused before any body is read. */
static const char *framing_of(const char *const *hs, size_t n, int http11) {
  evp__http_framing_t f;
  memset(&f, 0, sizeof f);
  for (size_t i = 0; i + 1 < n; i += 2)
    evp__http_framing_add(&f, hs[i], strlen(hs[i]), hs[i + 1], strlen(hs[i + 1]));
  return evp__http_framing_verdict(&f, http11);
}

START_TEST(http_framing_rules) {
  const char *ok[] = {"Host", "x", "Content-Length", "5", "Content-Type", "application/json"};
  ck_assert_ptr_null(framing_of(ok, 6, 1));
  const char *chunked[] = {"host", "x", "Transfer-Encoding", "Chunked"};
  ck_assert_ptr_null(framing_of(chunked, 4, 1));
  const char *http10[] = {"Content-Length", "0"};
  ck_assert_ptr_null(framing_of(http10, 2, 0)); /* Host optional in HTTP/1.0 */
  const char *both[] = {"Host", "x", "Content-Length", "5", "Transfer-Encoding", "chunked"};
  ck_assert_str_eq(framing_of(both, 6, 1), "both Content-Length and Transfer-Encoding");
  const char *two_len[] = {"Host", "x", "Content-Length", "5", "content-length", "7"};
  ck_assert_str_eq(framing_of(two_len, 6, 1), "more than one Content-Length");
  const char *same_len[] = {"Host", "x", "Content-Length", "5", "Content-Length", "5"};
  ck_assert_str_eq(framing_of(same_len, 6, 1), "more than one Content-Length");
  const char *ws[] = {"Host", "x", "Content-Length ", "5"};
  ck_assert_ptr_nonnull(strstr(framing_of(ws, 4, 1), "not a token"));
  const char *empty_name[] = {"Host", "x", "", "5"};
  ck_assert_ptr_nonnull(strstr(framing_of(empty_name, 4, 1), "not a token"));
  const char *cr[] = {"Host", "x", "X-A", "a\rb"};
  ck_assert_str_eq(framing_of(cr, 4, 1), "a header value holds NUL, CR or LF");
  const char *coding[] = {"Host", "x", "Transfer-Encoding", "gzip, chunked"};
  ck_assert_str_eq(framing_of(coding, 4, 1), "Transfer-Encoding must be sent once, as chunked");
  const char *two_te[] = {"Host",   "x", "Transfer-Encoding", "chunked", "Transfer-Encoding",
                          "chunked"};
  ck_assert_str_eq(framing_of(two_te, 6, 1), "Transfer-Encoding must be sent once, as chunked");
  const char *te10[] = {"Transfer-Encoding", "chunked"};
  ck_assert_str_eq(framing_of(te10, 2, 0), "Transfer-Encoding in an HTTP/1.0 request");
  ck_assert_str_eq(framing_of(NULL, 0, 1), "HTTP/1.1 request without Host");
  const char *hosts[] = {"Host", "x", "HOST", "y"};
  ck_assert_str_eq(framing_of(hosts, 4, 1), "more than one Host");
  ck_assert_str_eq(framing_of(hosts, 4, 0), "more than one Host");
  /* An embedded NUL is seen through the exact lengths. */
  evp__http_framing_t f;
  memset(&f, 0, sizeof f);
  evp__http_framing_add(&f, "Host", 4, "x", 1);
  evp__http_framing_add(&f, "X-A", 3, "a\0b", 3);
  ck_assert_str_eq(evp__http_framing_verdict(&f, 1), "a header value holds NUL, CR or LF");
  memset(&f, 0, sizeof f);
  evp__http_framing_add(&f, "Ho\0st", 5, "x", 1);
  ck_assert_ptr_nonnull(strstr(evp__http_framing_verdict(&f, 1), "not a token"));
}
END_TEST

/* A log member is whole JSON whatever the value: raw invalid UTF-8 becomes
 * U+FFFD, and a value too long for the buffer is cut between escapes. */
START_TEST(log_member_always_json) {
  char f[64];
  size_t n = 0;
  evp__local_log_str(f, sizeof f, &n, "path", "/\xff\xfe\xc3(");
  ck_assert_str_eq(f, "\"path\":\"/\\ufffd\\ufffd\\ufffd(\"");
  char ctl[200];
  memset(ctl, 1, sizeof ctl - 1);
  ctl[sizeof ctl - 1] = '\0';
  n = 0;
  evp__local_log_str(f, sizeof f, &n, "p", ctl);
  ck_assert_uint_lt(n, sizeof f);
  ck_assert_uint_eq(n, strlen(f));
  ck_assert_str_eq(f + n - 7, "\\u0001\""); /* ends with a whole escape, then the quote */
  evp__local_log_num(f, sizeof f, &n, "status", 404);
  ck_assert_uint_eq(n, strlen(f)); /* no room: left out, the buffer still ends whole */
  ck_assert_ptr_null(strstr(f, "status"));
}
END_TEST

/* ------------------------------------------------------------ acceptance = representation
 * "Acknowledged means stored": every event POST /events accepts must become
 * a row with exactly the value sent, and what no row can hold must be
 * refused at the door with a per-item reason. Each value below is put
 * through the handler (both parse paths) and every accepted event through
 * the lake's row builder. */
#include "lake/lake.h"

static const char CONTRACT_SCHEMA[] =
    "{\"type\":\"object\",\"required\":[\"event_id\"],\"properties\":{"
    "\"event_id\":{\"type\":\"string\"},\"n\":{\"type\":\"integer\"},"
    "\"x\":{\"type\":\"number\"},\"s\":{\"type\":\"string\"},"
    "\"t\":{\"type\":\"string\",\"format\":\"date-time\"}}}";

typedef struct {
  const char *fields; /* members after "event_id" */
  const char *reason; /* NULL: must be accepted and stored exactly */
  int col;            /* accepted: the column to compare, 1 = n, 2 = x */
  int64_t i64;
  double f64;
} contract_case_t;

static char *contract_event(const char *fields) {
  size_t n = strlen(fields) + 64;
  char *ev = malloc(n);
  ck_assert_ptr_nonnull(ev);
  snprintf(ev, n, "{\"event_id\":\"e\"%s%s}", *fields ? "," : "", fields);
  return ev;
}

static char *repeat_member(const char *member, int times, int distinct) {
  size_t ml = (member ? strlen(member) : 0) + 16;
  char *b = malloc(ml * (size_t)times + 1), *p = b;
  ck_assert_ptr_nonnull(b);
  for (int i = 0; i < times; i++)
    p += distinct ? sprintf(p, "%s\"m%d\":1", i ? "," : "", i)
                  : sprintf(p, "%s%s", i ? "," : "", member);
  *p = '\0';
  return b;
}

static void contract_check(const evp__events_cfg_t *cfg, evp__row_builder_t *rb,
                           const contract_case_t *c, const char *fields) {
  char *ev = contract_event(fields);
  size_t bl = strlen(ev) + 32;
  char *body = malloc(bl);
  ck_assert_ptr_nonnull(body);
  snprintf(body, bl, "{\"events\":[%s]}", ev);
  for (int path = 0; path < 2; path++) {
    evp__events_cfg_t pc = *cfg;
    if (path) pc.max_body = 3u * 1024u * 1024u; /* above FAST_BODY_MAX: the general path */
    req_t q;
    /* the general path is taken for bodies above 2 MiB: pad with spaces */
    size_t pad = path ? 2u * 1024u * 1024u + 16 : 0, n = strlen(body);
    char *pb = malloc(n + pad + 1);
    ck_assert_ptr_nonnull(pb);
    memset(pb, ' ', pad);
    memcpy(pb + pad, body, n + 1);
    mkreq(&q, "POST", "/events", "application/json", NULL, pb);
    evp__events_result_t res;
    evp__http_resp_t r;
    evp__http_resp_init(&r);
    ck_assert_int_eq(evp__events_handle(&pc, sctx, &q.r, &res, &r), EVP_OK);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(res.n_events, 1);
    const char *show = strlen(fields) > 60 ? "(long event)" : fields;
    if (c->reason) {
      ck_assert_msg(res.n_rejected == 1, "path %d: accepted %s (want refused: %s)", path, show,
                    c->reason);
      ck_assert_str_eq(res.rejected[0].reason, c->reason);
      ck_assert_ptr_nonnull(strstr(r.body, "\"error\":\""));
      char want[64];
      snprintf(want, sizeof want, "\"reason\":\"%s\",\"retriable\":false}", c->reason);
      ck_assert_msg(strstr(r.body, want) != NULL, "%s", r.body);
    } else {
      ck_assert_msg(res.n_accepted == 1, "path %d: refused %s: %s", path, show,
                    res.n_rejected ? res.rejected[0].error : "?");
    }
    for (size_t i = 0; i < res.n_accepted; i++) { /* accepted: stored exactly */
      const evp__pq_value_t *row;
      const char *id;
      size_t idlen;
      char err[256] = "";
      evp_err_t e = evp__row_builder_build(rb, res.accepted[i], res.accepted_lens[i], 1, "c", 1,
                                           &row, &id, &idlen, err, sizeof err);
      ck_assert_msg(e == EVP_OK, "path %d: accepted %s but the lake cannot hold it: %s", path, show,
                    err);
      if (c->col == 1)
        ck_assert_msg(row[1].v.i64 == c->i64, "%s stored as %lld", show, (long long)row[1].v.i64);
      if (c->col == 2)
        ck_assert_msg(row[2].v.f64 == c->f64, "%s stored as %.17g", show, row[2].v.f64);
    }
    evp__events_result_free(&res);
    evp__http_resp_free(&r);
    free(pb);
  }
  free(body);
  free(ev);
}

START_TEST(events_accepted_means_representable) {
  char err[256];
  evp_err_t e;
  evp_schema_t *s =
      evp_schema_compile(CONTRACT_SCHEMA, strlen(CONTRACT_SCHEMA), NULL, &e, err, sizeof err);
  ck_assert_ptr_nonnull(s);
  evp__table_t *t;
  ck_assert_int_eq(evp__table_parse(CONTRACT_SCHEMA, strlen(CONTRACT_SCHEMA), &t, err, sizeof err),
                   EVP_OK);
  evp__row_builder_t *rb;
  ck_assert_int_eq(evp__row_builder_new(t, &rb, err, sizeof err), EVP_OK);
  evp__events_cfg_t cfg = {s, 0, 4u * 1024u * 1024u, t};
  static const contract_case_t cases[] = {
      {"\"n\":9223372036854775808", "not_representable", 0, 0, 0},
      {"\"n\":-9223372036854775809", "not_representable", 0, 0, 0},
      {"\"n\":1e19", "not_representable", 0, 0, 0},
      {"\"n\":1e-400", "not_representable", 0, 0, 0},
      {"\"x\":1e400", "not_representable", 0, 0, 0},
      {"\"x\":-1e400", "not_representable", 0, 0, 0},
      {"\"x\":1e-400", "not_representable", 0, 0, 0},
      {"\"n\":9007199254740993.0", NULL, 1, INT64_C(9007199254740993), 0},
      {"\"n\":9223372036854775807", NULL, 1, INT64_MAX, 0},
      {"\"n\":-9223372036854775808", NULL, 1, INT64_MIN, 0},
      {"\"n\":92233720368547758.07e2", NULL, 1, INT64_MAX, 0},
      {"\"n\":1.0e1", NULL, 1, 10, 0},
      {"\"n\":-0.0", NULL, 1, 0, 0},
      {"\"n\":0e400", NULL, 1, 0, 0},
      {"\"x\":1e308", NULL, 2, 0, 1e308},
      {"\"x\":0e-999", NULL, 2, 0, 0.0},
      {"\"x\":9223372036854775808", NULL, 2, 0, 9223372036854775808.0},
      {"\"x\":4.9406564584124654e-324", NULL, 2, 0, 4.9406564584124654e-324},
      {"\"s\":\"a\",\"s\":\"b\"", "duplicate_member", 0, 0, 0},
      {"\"n\":1,\"n\":1", "duplicate_member", 0, 0, 0},
      {"\"x\":1,\"\\u0078\":2", "duplicate_member", 0, 0, 0},
      {"\"o\":1,\"p\":2,\"o\":3", "duplicate_member", 0, 0, 0}, /* names of no column */
      {"\"o\":1,\"p\":2,\"n\":3", NULL, 1, 3, 0},
      /* values of every kind around the checked ones, escapes in names and
       * in a timestamp (the fast path reads them decoded off the parse) */
      {"\"t\":\"2024-05-01T10:00:00\\u005a\",\"\\u006e\":2", NULL, 1, 2, 0},
      {"\"o\":{\"a\":[1,2e5]},\"b\":true,\"c\":false,\"d\":null,\"n\":-7 ,\"x\":-0.5e-3", NULL, 1,
       -7, 0},
      {"\"zz\":[1e400],\"n\":4", NULL, 1, 4, 0}, /* not a column: kept as sent */
      {"\"s\":\"\\u0000\",\"n\":3e0", NULL, 1, 3, 0},
      {"\"x\":2,\"n\":100000000000000000000E-1", "not_representable", 0, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    contract_check(&cfg, rb, &cases[i], cases[i].fields);
  /* more top-level members than the row builder keeps: 4097 copies of one
   * name (the bound is checked first), and 4097 distinct names; 4095 copies
   * are within the bound and refused as duplicates */
  contract_case_t many = {NULL, "too_many_members", 0, 0, 0};
  char *f = repeat_member("\"s\":\"a\"", 4097, 0);
  contract_check(&cfg, rb, &many, f);
  free(f);
  contract_case_t dup = {NULL, "duplicate_member", 0, 0, 0};
  f = repeat_member("\"s\":\"a\"", 4095, 0);
  contract_check(&cfg, rb, &dup, f);
  free(f);
  f = repeat_member(NULL, 4096, 1); /* + event_id = 4097 */
  contract_check(&cfg, rb, &many, f);
  free(f);
  contract_case_t fits = {NULL, NULL, 0, 0, 0};
  f = repeat_member(NULL, 4095, 1); /* + event_id = 4096: the bound itself */
  contract_check(&cfg, rb, &fits, f);
  free(f);
  evp__row_builder_free(rb);
  evp__table_free(t);
  evp_schema_destroy(s);
}
END_TEST

/* The body's sent_at (docs/protocol.md) on every path (schema: one pass and
 * the general path; no schema): an RFC 3339 string anywhere among the
 * members, escaped or with an offset, is read; anything else leaves the
 * batch without one and its events accepted. */
START_TEST(events_sent_at) {
  const int64_t noon = INT64_C(1714564800123000); /* 2024-05-01T12:00:00.123Z */
  static const struct {
    const char *body;
    int64_t want;
  } cases[] = {
      {"{\"sent_at\":\"2024-05-01T12:00:00.123Z\",\"events\":[" EV1 "]}", 0},
      {"{\"events\":[" EV1 "],\"sent_at\":\"2024-05-01T14:00:00.123+02:00\"}", 0},
      {"{\"sent_at\":\"\\u0032024-05-01T12:00:00.123Z\",\"events\":[" EV1 "]}", 0},
      {"{\"events\":[" EV1 "],\"other\":1,\"sent_at\":\"2024-05-01T12:00:00.123Z\"}", 0},
      {"{\"events\":[" EV1 "]}", 1},
      {"{\"sent_at\":1714564800,\"events\":[" EV1 "]}", 1},
      {"{\"sent_at\":\"yesterday\",\"events\":[" EV1 "]}", 1},
      {"{\"sent_at\":\"2024-05-01T12:00:00\",\"events\":[" EV1 "]}", 1},
      {"{\"sent_at\":null,\"events\":[" EV1 "]}", 1},
      {"{\"sent_at\":{\"t\":\"2024-05-01T12:00:00.123Z\"},\"events\":[" EV1 "]}", 1},
      {"{\"sent_at\":\"\\u0032024-05-01T12:00:00."
       "123456789012345678901234567890123456789012345678Z\","
       "\"events\":[" EV1 "]}",
       1},
      /* past 63 characters unescaped, escaped or not; up to 63, read */
      {"{\"sent_at\":\"2024-05-01T12:00:00."
       "123456789012345678901234567890123456789012345678Z\","
       "\"events\":[" EV1 "]}",
       1},
      {"{\"sent_at\":\"\\u0032\\u0030\\u0032\\u0034\\u002d\\u0030\\u0035\\u002d"
       "\\u0030\\u0031\\u0054\\u0031\\u0032:00:00.123Z\",\"events\":[" EV1 "]}",
       0},
      /* the boundary: 63 bytes read, 64 not (a long fraction is still the same instant) */
      {"{\"sent_at\":\"2024-05-01T12:00:00.123000000000000000000000000000000000000000Z\","
       "\"events\":[" EV1 "]}",
       0},
      {"{\"sent_at\":\"2024-05-01T12:00:00.1230000000000000000000000000000000000000000Z\","
       "\"events\":[" EV1 "]}",
       1},
      {"{\"sent_at\":\"\\u0032024-05-01T12:00:00.123000000000000000000000000000000000000000Z\","
       "\"events\":[" EV1 "]}",
       0},
      {"{\"sent_at\":\"\\u0032024-05-01T12:00:00.1230000000000000000000000000000000000000000Z\","
       "\"events\":[" EV1 "]}",
       1},
      /* far future is a date-time: what it is worth is the lake's call */
      {"{\"sent_at\":\"9999-12-31T23:59:59Z\",\"events\":[" EV1 "]}", 2},
  };
  evp__events_cfg_t with = {schema, 0, 0, NULL}, without = {NULL, 0, 0, NULL},
                    padded = {schema, 0, 8u * 1024u * 1024u, NULL};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t want = cases[i].want == 0   ? noon
                   : cases[i].want == 1 ? EVP__EVENTS_NO_SENT_AT
                                        : INT64_C(253402300799000000);
    for (int k = 0; k < 2; k++) {
      evp__events_result_t res;
      evp__http_resp_t r;
      ck_assert_int_eq(events_req(k ? &without : &with, "POST", cases[i].body, &res, &r), 200);
      ck_assert_msg(res.n_accepted == 1, "%s: accepted %zu", cases[i].body, res.n_accepted);
      ck_assert_msg(res.sent_at_us == want, "%s (schema %d): sent_at %lld, want %lld",
                    cases[i].body, !k, (long long)res.sent_at_us, (long long)want);
      evp__events_result_free(&res);
      evp__http_resp_free(&r);
    }
    same_on_both_paths(&padded, cases[i].body);
  }
  /* Two sent_at members: a malformed body, like any repeated member. */
  evp__events_result_t res;
  evp__http_resp_t r;
  ck_assert_int_eq(events_req(&with, "POST",
                              "{\"sent_at\":\"2024-05-01T12:00:00Z\",\"events\":[" EV1
                              "],\"sent_at\":\"2024-05-01T12:00:00Z\"}",
                              &res, &r),
                   400);
  ck_assert(res.sent_at_us == EVP__EVENTS_NO_SENT_AT);
  evp__events_result_free(&res);
  evp__http_resp_free(&r);
}
END_TEST

int main(void) {
  Suite *s = suite_create("handlers");
  TCase *t = tcase_create("issuer");
  tcase_add_checked_fixture(t, setup, teardown);
  tcase_add_test(t, issue_form_body);
  tcase_add_test(t, issue_default_and_other_audience);
  tcase_add_test(t, issue_basic_auth);
  tcase_add_test(t, issue_errors);
  tcase_add_test(t, issue_unknown_and_wrong_secret_look_alike);
  tcase_add_test(t, issue_method_content_type_size);
  tcase_add_test(t, issue_after_rotation);
  tcase_add_test(t, clients_file_validation);
  tcase_add_test(t, clients_check_results);
  tcase_add_test(t, authorize_paths);
  suite_add_tcase(s, t);
  t = tcase_create("events");
  tcase_add_checked_fixture(t, ev_setup, ev_teardown);
  tcase_add_test(t, events_all_valid);
  tcase_add_test(t, events_per_item_results);
  tcase_add_test(t, events_without_schema);
  tcase_add_test(t, events_bad_shapes);
  tcase_add_test(t, events_limits);
  tcase_add_test(t, events_long_error_is_bounded);
  tcase_add_test(t, events_one_pass_equals_general_path);
  tcase_add_test(t, events_accepted_means_representable);
  tcase_add_test(t, events_sent_at);
  suite_add_tcase(s, t);
  t = tcase_create("helpers");
  tcase_add_test(t, array_split);
  tcase_add_test(t, gunzip_bounds);
  tcase_add_test(t, form_and_basic);
  tcase_add_test(t, resp_helpers);
  suite_add_tcase(s, t);
  t = tcase_create("local");
  tcase_add_checked_fixture(t, local_setup, local_teardown);
  tcase_add_test(t, ratelimit_buckets);
  tcase_add_test(t, ratelimit_recycles_idle_buckets);
  tcase_add_test(t, secret_file_writes);
  tcase_add_test(t, clients_file_create_and_refuse);
  tcase_add_test(t, keys_rotate_and_reload);
  tcase_add_test(t, clients_file_hot_reload);
  tcase_add_test(t, metrics_text);
  tcase_add_test(t, log_values_escaped_and_bounded);
  suite_add_tcase(s, t);
  t = tcase_create("http_front");
  tcase_add_test(t, http_framing_rules);
  tcase_add_test(t, log_member_always_json);
  suite_add_tcase(s, t);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
