#define _POSIX_C_SOURCE 200809L
/* Suite: the four Lambda functions (src/functions) with AWS's documented
 * sample events (tests/server/fixtures/aws-events) against the AWS test
 * double (tests/mock_aws.h): API Gateway adapters, issuer (happy path, every
 * OAuth error, rotation window), authorizer (Allow, Deny, Unauthorized, key
 * rotation picked up), processor (chunking by count and bytes, partial
 * failures resent, throttling, dead letters, batchItemFailures when
 * Firehose keeps failing or time runs out), rotation (four steps, each
 * retried). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include "base/base.h"
#include "evpipe/evpipe.h"
#include "functions/fn_int.h"
#include "functions/functions.h"
#include "mock_aws.h"

#define FIXTURES EVP_SOURCE_DIR "/tests/server/fixtures/aws-events/"
#define SCHEMA_PATH EVP_SOURCE_DIR "/examples/schemas/glue-data-catalog-json-schema.json"
#define SIGNING "evpipe/signing"
#define CLIENTS "evpipe/clients"
#define KEY1_VER "11111111-1111-4111-8111-111111111111"
#define KEY2_VER "22222222-2222-4222-8222-222222222222"
#define CL1_VER "c1111111-1111-4111-8111-111111111111"
#define CL2_VER "c2222222-2222-4222-8222-222222222222"
#define ARN "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/POST/events"

static const unsigned char KEY1[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char KEY2[32] = "fedcba9876543210fedcba9876543210";
static const char CLIENTS_V1[] = "[{\"client_id\":\"app-1\",\"client_secret\":\"s3cret-s3cret-"
                                 "s3cret\",\"audiences\":[\"events\",\"other\"]},"
                                 " {\"client_id\":\"app-2\",\"client_secret\":\"a+b/c=d "
                                 "e&f%g:h-long\",\"audiences\":[\"events\"]}]";
static const char CLIENTS_V2[] = "[{\"client_id\":\"app-1\",\"client_secret\":\"n3w-s3cret-n3w-"
                                 "s3cret\",\"audiences\":[\"events\",\"other\"]},"
                                 " {\"client_id\":\"app-2\",\"client_secret\":\"another-new-secret-"
                                 "2\",\"audiences\":[\"events\"]}]";

static int64_t NOW = 1800000000;
static int64_t fixed_clock(void *opaque) { return *(int64_t *)opaque; }
static int64_t slept_ms;
static void fake_sleep(void *opaque, int64_t ms) {
  (void)opaque;
  slept_ms += ms;
}

static mock_aws_t *aws;
static char *schema_text;
static size_t schema_len;

/* ------------------------------------------------------------ helpers */

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  ck_assert_ptr_nonnull(b);
  ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
  b[n] = '\0';
  fclose(f);
  if (len) *len = (size_t)n;
  return b;
}

static cJSON *fixture(const char *name) {
  char path[512];
  snprintf(path, sizeof path, FIXTURES "%s", name);
  char *t = read_all(path, NULL);
  cJSON *j = cJSON_Parse(t);
  free(t);
  ck_assert_ptr_nonnull(j);
  return j;
}

static void b64url(const unsigned char *k, size_t n, char *out) { evp_base64url_encode(k, n, out); }

static void aws_env(mock_aws_t *m) {
  size_t n;
  const char *const *ev = mock_aws_env(m, &n);
  for (size_t i = 0; i < n; i++) {
    char name[128];
    const char *eq = strchr(ev[i], '=');
    ck_assert_ptr_nonnull(eq);
    snprintf(name, sizeof name, "%.*s", (int)(eq - ev[i]), ev[i]);
    setenv(name, eq + 1, 1);
  }
  unsetenv("AWS_ENDPOINT_URL_SECRETS_MANAGER");
  unsetenv("AWS_ENDPOINT_URL_FIREHOSE");
}

static void setup(void) {
  NOW = 1800000000;
  slept_ms = 0;
  aws = mock_aws_start(NULL);
  ck_assert_ptr_nonnull(aws);
  aws_env(aws);
  char k[64];
  b64url(KEY1, 32, k);
  ck_assert_int_eq(mock_aws_secret_create(aws, SIGNING, k, strlen(k), KEY1_VER), 0);
  ck_assert_int_eq(mock_aws_secret_create(aws, CLIENTS, CLIENTS_V1, strlen(CLIENTS_V1), CL1_VER),
                   0);
  ck_assert_int_eq(mock_aws_stream_create(aws, "events"), 0);
  ck_assert_int_eq(mock_aws_stream_create(aws, "events-dlq"), 0);
  schema_text = read_all(SCHEMA_PATH, &schema_len);
}

static void teardown(void) {
  mock_aws_stop(aws);
  aws = NULL;
  free(schema_text);
}

static void small_backoff(evp__fn_t *fn) {
  evp__aws_client_t *c;
  char err[256];
  ck_assert_int_eq(evp__fn_sm(fn, &c, err, sizeof err), EVP_OK);
  evp__aws_client_set_backoff(c, 1, 4);
  ck_assert_int_eq(evp__fn_fh(fn, &c, err, sizeof err), EVP_OK);
  evp__aws_client_set_backoff(c, 1, 4);
}

static void base_cfg(evp__fn_config_t *c, evp__fn_kind_t kind) {
  evp__fn_config_default(c, kind);
  snprintf(c->signing_secret_id, sizeof c->signing_secret_id, SIGNING);
  snprintf(c->clients_secret_id, sizeof c->clients_secret_id, CLIENTS);
  snprintf(c->delivery_stream, sizeof c->delivery_stream, "events");
  snprintf(c->deadletter_stream, sizeof c->deadletter_stream, "events-dlq");
  c->clock = fixed_clock;
  c->clock_opaque = &NOW;
  c->sleep_ms = fake_sleep;
  c->fh_backoff_ms = 10;
  c->fh_backoff_max_ms = 100;
  c->deadline_margin_ms = 0;
}

static evp__fn_t *mkfn_cfg(const evp__fn_config_t *c) {
  evp__fn_t *fn;
  char err[512];
  evp_err_t e = evp__fn_new(c, schema_text, schema_len, &fn, err, sizeof err);
  ck_assert_msg(e == EVP_OK, "evp__fn_new: %s", err);
  small_backoff(fn);
  return fn;
}

static evp__fn_t *mkfn(evp__fn_kind_t kind) {
  evp__fn_config_t c;
  base_cfg(&c, kind);
  return mkfn_cfg(&c);
}

typedef struct {
  evp_err_t rc;
  char *out;
  size_t len;
  char type[128], msg[512];
  cJSON *json;
} result_t;

static void invoke_dl(evp__fn_t *fn, const char *event, int64_t deadline_ms, result_t *r) {
  memset(r, 0, sizeof *r);
  evp__fn_call_t call = {NULL, deadline_ms};
  r->rc = evp__fn_handle(fn, &call, event, strlen(event), &r->out, &r->len, r->type, sizeof r->type,
                         r->msg, sizeof r->msg);
  if (r->out) r->json = cJSON_ParseWithLength(r->out, r->len);
}

static void invoke(evp__fn_t *fn, const char *event, result_t *r) { invoke_dl(fn, event, 0, r); }

static void invoke_json(evp__fn_t *fn, cJSON *ev, result_t *r) {
  char *t = cJSON_PrintUnformatted(ev);
  invoke(fn, t, r);
  free(t);
}

static void result_free(result_t *r) {
  free(r->out);
  cJSON_Delete(r->json);
  memset(r, 0, sizeof *r);
}

static const char *jstr(const cJSON *o, const char *name) {
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsString(s) ? s->valuestring : NULL;
}

static void set_str(cJSON *o, const char *name, const char *v) {
  cJSON_DeleteItemFromObjectCaseSensitive(o, name);
  if (v) cJSON_AddStringToObject(o, name, v);
}

/* A token signed with @p key under @p kid. */
static char *mint(const unsigned char *key, const char *kid, const char *sub, const char *aud,
                  int64_t at) {
  char err[256];
  int64_t t = at;
  evp_keyring_t *kr = evp_keyring_new();
  ck_assert_int_eq(evp_keyring_add(kr, kid, key, 32, err, sizeof err), EVP_OK);
  evp_jwt_signer_t *s = evp_jwt_signer_new(kr, err, sizeof err);
  evp_jwt_signer_set_clock(s, fixed_clock, &t);
  evp_jwt_signer_set_issuer(s, "evpipe");
  char *tok;
  ck_assert_int_eq(evp_jwt_sign(s, sub, aud, NULL, &tok, err, sizeof err), EVP_OK);
  evp_jwt_signer_destroy(s);
  evp_keyring_destroy(kr);
  return tok;
}

/* ------------------------------------------------------------ config */

START_TEST(config_env) {
  evp__fn_config_t c;
  char err[256];
  ck_assert_int_eq(evp__fn_kind_parse("issuer"), EVP__FN_ISSUER);
  ck_assert_int_eq(evp__fn_kind_parse("evpipe.processor"), EVP__FN_PROCESSOR);
  ck_assert_int_eq(evp__fn_kind_parse("evpipe.bogus"), -1);
  ck_assert_int_eq(evp__fn_kind_parse(NULL), -1);
  unsetenv("EVP_SIGNING_KEY_SECRET_ID");
  ck_assert_int_eq(evp__fn_config_from_env(&c, EVP__FN_AUTHORIZER, err, sizeof err),
                   EVP_ERR_CONF_INVALID);
  ck_assert_ptr_nonnull(strstr(err, "EVP_SIGNING_KEY_SECRET_ID"));
  setenv("EVP_SIGNING_KEY_SECRET_ID", SIGNING, 1);
  ck_assert_int_eq(evp__fn_config_from_env(&c, EVP__FN_AUTHORIZER, err, sizeof err), EVP_OK);
  ck_assert_int_eq(c.cache_ttl_s, 300);
  setenv("EVP_SECRET_CACHE_TTL", "-1", 1);
  ck_assert_int_eq(evp__fn_config_from_env(&c, EVP__FN_AUTHORIZER, err, sizeof err),
                   EVP_ERR_CONF_INVALID);
  setenv("EVP_SECRET_CACHE_TTL", "60", 1);
  setenv("EVP_AUTHZ_RESOURCE", "method", 1);
  ck_assert_int_eq(evp__fn_config_from_env(&c, EVP__FN_AUTHORIZER, err, sizeof err), EVP_OK);
  ck_assert_int_eq(c.cache_ttl_s, 60);
  ck_assert_int_eq(c.authz_method_only, 1);
  unsetenv("EVP_SECRET_CACHE_TTL");
  unsetenv("EVP_AUTHZ_RESOURCE");
  /* processor: both streams, names only, distinct */
  unsetenv("EVP_DELIVERY_STREAM");
  ck_assert_int_eq(evp__fn_config_from_env(&c, EVP__FN_PROCESSOR, err, sizeof err),
                   EVP_ERR_CONF_INVALID);
  setenv("EVP_DELIVERY_STREAM", "events", 1);
  setenv("EVP_DEADLETTER_STREAM", "arn:aws:firehose:x", 1);
  ck_assert_int_eq(evp__fn_config_from_env(&c, EVP__FN_PROCESSOR, err, sizeof err),
                   EVP_ERR_CONF_INVALID);
  setenv("EVP_DEADLETTER_STREAM", "events", 1);
  ck_assert_int_eq(evp__fn_config_from_env(&c, EVP__FN_PROCESSOR, err, sizeof err),
                   EVP_ERR_CONF_INVALID);
  setenv("EVP_DEADLETTER_STREAM", "events-dlq", 1);
  ck_assert_int_eq(evp__fn_config_from_env(&c, EVP__FN_PROCESSOR, err, sizeof err), EVP_OK);
  unsetenv("EVP_DELIVERY_STREAM");
  unsetenv("EVP_DEADLETTER_STREAM");
  unsetenv("EVP_SIGNING_KEY_SECRET_ID");
  /* a schema file that does not exist is a start-up error */
  base_cfg(&c, EVP__FN_PROCESSOR);
  snprintf(c.schema_file, sizeof c.schema_file, "/nonexistent/schema.json");
  evp__fn_t *fn;
  ck_assert_int_ne(evp__fn_new(&c, NULL, 0, &fn, err, sizeof err), EVP_OK);
  ck_assert_ptr_nonnull(strstr(err, "EVP_SCHEMA_FILE"));
}
END_TEST

/* ------------------------------------------------------------ adapters */

START_TEST(apigw_v1_and_v2) {
  cJSON *ev = fixture("apigw-rest-proxy-v1.json");
  char *t = cJSON_PrintUnformatted(ev);
  evp__apigw_req_t q;
  ck_assert_int_eq(evp__apigw_parse(t, strlen(t), 1024, &q), EVP_OK);
  ck_assert_int_eq(q.version, 1);
  ck_assert_str_eq(q.req.method, "GET");
  ck_assert_str_eq(q.req.path, "/my/path");
  ck_assert_str_eq(q.req.source_ip, "192.0.2.1");
  ck_assert_uint_eq(q.req.n_headers, 3); /* multiValueHeaders: header2 twice */
  ck_assert_str_eq(evp__http_req_header(&q.req, "header2"), "value1");
  ck_assert_uint_eq(q.req.body_len, strlen("Hello from Lambda!"));
  evp__apigw_req_free(&q);
  free(t);
  /* header names lower-cased; base64 body decoded; limits */
  cJSON_DeleteItemFromObjectCaseSensitive(ev, "multiValueHeaders");
  cJSON *h = cJSON_GetObjectItemCaseSensitive(ev, "headers");
  cJSON_AddStringToObject(h, "Content-Type", "application/x-www-form-urlencoded");
  set_str(ev, "body", "Z3JhbnRfdHlwZT1jbGllbnRfY3JlZGVudGlhbHM=");
  cJSON_ReplaceItemInObjectCaseSensitive(ev, "isBase64Encoded", cJSON_CreateTrue());
  t = cJSON_PrintUnformatted(ev);
  ck_assert_int_eq(evp__apigw_parse(t, strlen(t), 1024, &q), EVP_OK);
  ck_assert_str_eq(evp__http_req_header(&q.req, "content-type"),
                   "application/x-www-form-urlencoded");
  ck_assert_uint_eq(q.req.body_len, strlen("grant_type=client_credentials"));
  ck_assert_int_eq(memcmp(q.req.body, "grant_type=client_credentials", q.req.body_len), 0);
  evp__apigw_req_free(&q);
  ck_assert_int_eq(evp__apigw_parse(t, strlen(t), 10, &q), EVP_ERR_TOO_LARGE);
  free(t);
  set_str(ev, "body", "not*base64");
  t = cJSON_PrintUnformatted(ev);
  ck_assert_int_eq(evp__apigw_parse(t, strlen(t), 1024, &q), EVP_ERR_BASE64);
  free(t);
  cJSON_Delete(ev);
  ck_assert_int_eq(evp__apigw_parse("{\"x\":1}", 7, 1024, &q), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__apigw_parse("nope", 4, 1024, &q), EVP_ERR_JSON);

  ev = fixture("apigw-http-proxy-v2.json");
  t = cJSON_PrintUnformatted(ev);
  ck_assert_int_eq(evp__apigw_parse(t, strlen(t), 1024, &q), EVP_OK);
  ck_assert_int_eq(q.version, 2);
  ck_assert_str_eq(q.req.method, "POST");
  ck_assert_str_eq(q.req.path, "/my/path");
  ck_assert_str_eq(evp__http_req_header(&q.req, "header2"), "value1,value2");
  ck_assert_str_eq(evp__http_req_header(&q.req, "cookie"), "cookie1");
  evp__apigw_req_free(&q);
  free(t);
  cJSON_Delete(ev);

  /* too many headers */
  cJSON *big = fixture("apigw-http-proxy-v2.json");
  cJSON *hh = cJSON_GetObjectItemCaseSensitive(big, "headers");
  for (int i = 0; i < EVP__APIGW_MAX_HEADERS + 1; i++) {
    char n[32];
    snprintf(n, sizeof n, "x-h-%d", i);
    cJSON_AddStringToObject(hh, n, "v");
  }
  t = cJSON_PrintUnformatted(big);
  ck_assert_int_eq(evp__apigw_parse(t, strlen(t), 1024, &q), EVP_ERR_TOO_LARGE);
  free(t);
  cJSON_Delete(big);

  /* render */
  evp__http_resp_t r;
  evp__http_resp_init(&r);
  ck_assert_int_eq(evp__http_resp_error(&r, 401, "invalid_client", "a \"quoted\" text"), EVP_OK);
  ck_assert_int_eq(evp__http_resp_header(&r, "WWW-Authenticate", "Basic realm=\"evpipe\""), EVP_OK);
  char *out;
  size_t ol;
  ck_assert_int_eq(evp__apigw_render(&r, &out, &ol), EVP_OK);
  cJSON *o = cJSON_ParseWithLength(out, ol);
  ck_assert_ptr_nonnull(o);
  ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(o, "statusCode")->valueint, 401);
  ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "isBase64Encoded")));
  const cJSON *hd = cJSON_GetObjectItemCaseSensitive(o, "headers");
  ck_assert_str_eq(jstr(hd, "Content-Type"), "application/json");
  ck_assert_str_eq(jstr(hd, "WWW-Authenticate"), "Basic realm=\"evpipe\"");
  ck_assert_str_eq(jstr(o, "body"), r.body);
  cJSON_Delete(o);
  free(out);
  evp__http_resp_free(&r);
}
END_TEST

START_TEST(authz_resource_and_time) {
  char out[256];
  ck_assert_int_eq(evp__authz_resource(ARN, 0, out, sizeof out), EVP_OK);
  ck_assert_str_eq(out, "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/*");
  ck_assert_int_eq(evp__authz_resource(ARN, 1, out, sizeof out), EVP_OK);
  ck_assert_str_eq(out, ARN);
  ck_assert_int_eq(
      evp__authz_resource("arn:aws-cn:execute-api:cn-north-1:1:a/s/GET/", 0, out, sizeof out),
      EVP_OK);
  ck_assert_str_eq(out, "arn:aws-cn:execute-api:cn-north-1:1:a/s/*");
  ck_assert_int_eq(evp__authz_resource("arn:aws:lambda:us-east-1:1:a/s/GET/x", 0, out, sizeof out),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__authz_resource("arn:aws:execute-api:us-east-1:1:api", 0, out, sizeof out),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__authz_resource("arn:aws:execute-api:r:1:a/s\"/GET", 0, out, sizeof out),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__authz_resource(NULL, 0, out, sizeof out), EVP_ERR_INVALID_ARG);
  char ts[32];
  evp__fn_rfc3339_ms(1714564800123LL, ts);
  ck_assert_str_eq(ts, "2024-05-01T12:00:00.123Z");
  unsigned char *d;
  size_t dl;
  ck_assert_int_eq(evp__fn_b64_decode("aGk=", 4, &d, &dl), EVP_OK);
  ck_assert_uint_eq(dl, 2);
  ck_assert_int_eq(memcmp(d, "hi", 2), 0);
  free(d);
  ck_assert_int_eq(evp__fn_b64_decode("a=Gk", 4, &d, &dl), EVP_ERR_BASE64);
  ck_assert_int_eq(evp__fn_b64_decode("aGk", 3, &d, &dl), EVP_ERR_BASE64);
}
END_TEST

/* ------------------------------------------------------------ issuer */

/* A /token request from the documented v1 (or v2) proxy event. */
static cJSON *token_event(int v2, const char *method, const char *ct, const char *authz,
                          const char *body, int b64) {
  cJSON *ev = fixture(v2 ? "apigw-http-proxy-v2.json" : "apigw-rest-proxy-v1.json");
  cJSON *h = cJSON_CreateObject();
  if (ct) cJSON_AddStringToObject(h, v2 ? "content-type" : "Content-Type", ct);
  if (authz) cJSON_AddStringToObject(h, v2 ? "authorization" : "Authorization", authz);
  cJSON_ReplaceItemInObjectCaseSensitive(ev, "headers", h);
  cJSON_DeleteItemFromObjectCaseSensitive(ev, "multiValueHeaders");
  if (v2) {
    cJSON *http = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(ev, "requestContext"), "http");
    set_str(http, "method", method);
    set_str(http, "path", "/token");
  } else {
    set_str(ev, "httpMethod", method);
    set_str(ev, "path", "/token");
  }
  if (b64) {
    char enc[4096];
    EVP_EncodeBlock((unsigned char *)enc, (const unsigned char *)body, (int)strlen(body));
    set_str(ev, "body", enc);
  } else {
    set_str(ev, "body", body);
  }
  cJSON_ReplaceItemInObjectCaseSensitive(ev, "isBase64Encoded", cJSON_CreateBool(b64));
  return ev;
}

#define FORM "application/x-www-form-urlencoded"

static int token_call(evp__fn_t *fn, cJSON *ev, cJSON **body_out, cJSON **headers_out,
                      result_t *r) {
  invoke_json(fn, ev, r);
  cJSON_Delete(ev);
  ck_assert_msg(r->rc == EVP_OK, "issuer failed: %s %s", r->type, r->msg);
  ck_assert_ptr_nonnull(r->json);
  *headers_out = cJSON_GetObjectItemCaseSensitive(r->json, "headers");
  *body_out = cJSON_Parse(jstr(r->json, "body"));
  return cJSON_GetObjectItemCaseSensitive(r->json, "statusCode")->valueint;
}

static void expect_error(evp__fn_t *fn, cJSON *ev, int status, const char *code) {
  result_t r;
  cJSON *b, *h;
  ck_assert_int_eq(token_call(fn, ev, &b, &h, &r), status);
  ck_assert_str_eq(jstr(b, "error"), code);
  ck_assert_ptr_nonnull(jstr(b, "error_description"));
  ck_assert_str_eq(jstr(h, "Cache-Control"), "no-store");
  if (status == 401) ck_assert_ptr_nonnull(jstr(h, "WWW-Authenticate"));
  cJSON_Delete(b);
  result_free(&r);
}

/* The token of a 200 verifies with the signing key, kid = its version. */
static void expect_token(evp__fn_t *fn, cJSON *ev, const unsigned char *key, const char *kid,
                         const char *sub, const char *aud) {
  result_t r;
  cJSON *b, *h;
  ck_assert_int_eq(token_call(fn, ev, &b, &h, &r), 200);
  ck_assert_str_eq(jstr(b, "token_type"), "Bearer");
  ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(b, "expires_in")->valueint, 1200);
  ck_assert_str_eq(jstr(h, "Cache-Control"), "no-store");
  const char *tok = jstr(b, "access_token");
  ck_assert_ptr_nonnull(tok);
  char err[256];
  evp_keyring_t *kr = evp_keyring_new();
  ck_assert_int_eq(evp_keyring_add(kr, kid, key, 32, err, sizeof err), EVP_OK);
  evp_jwt_verifier_t *v = evp_jwt_verifier_new(kr, err, sizeof err);
  evp_jwt_verifier_set_clock(v, fixed_clock, &NOW);
  evp_jwt_verifier_set_issuer(v, "evpipe");
  evp_jwt_verifier_set_audience(v, aud);
  evp_jwt_t *jwt;
  ck_assert_int_eq(evp_jwt_verify(v, tok, strlen(tok), &jwt, err, sizeof err), EVP_OK);
  ck_assert_str_eq(evp_jwt_kid(jwt), kid);
  ck_assert_str_eq(evp_jwt_claim_str(jwt, "sub"), sub);
  evp_jwt_destroy(jwt);
  evp_jwt_verifier_destroy(v);
  evp_keyring_destroy(kr);
  cJSON_Delete(b);
  result_free(&r);
}

START_TEST(issuer_happy_path) {
  evp__fn_t *fn = mkfn(EVP__FN_ISSUER);
  const char *form =
      "grant_type=client_credentials&client_id=app-1&client_secret=s3cret-s3cret-s3cret";
  expect_token(fn, token_event(0, "POST", FORM, NULL, form, 0), KEY1, KEY1_VER, "app-1", "events");
  expect_token(fn, token_event(1, "POST", FORM, NULL, form, 0), KEY1, KEY1_VER, "app-1", "events");
  expect_token(fn, token_event(1, "POST", FORM, NULL, form, 1), KEY1, KEY1_VER, "app-1", "events");
  expect_token(fn,
               token_event(0, "POST", FORM, NULL,
                           "grant_type=client_credentials&client_id=app-1&client_secret=s3cret-"
                           "s3cret-s3cret&audience=other",
                           0),
               KEY1, KEY1_VER, "app-1", "other");
  /* HTTP Basic (RFC 6749 2.3.1): app-2's secret needs urlencoding */
  char basic[256], raw[128];
  snprintf(raw, sizeof raw, "app-2:a%%2Bb%%2Fc%%3Dd+e%%26f%%25g%%3Ah-long");
  strcpy(basic, "Basic ");
  EVP_EncodeBlock((unsigned char *)basic + 6, (const unsigned char *)raw, (int)strlen(raw));
  expect_token(fn, token_event(0, "POST", FORM, basic, "grant_type=client_credentials", 0), KEY1,
               KEY1_VER, "app-2", "events");
  /* secrets were fetched once (cache), two stages each */
  mock_aws_stats_t st;
  mock_aws_stats(aws, "GetSecretValue", &st);
  ck_assert_uint_eq(st.ok + st.errors, 3); /* key current; clients current + previous (absent) */
  evp__fn_free(fn);
}
END_TEST

START_TEST(issuer_every_oauth_error) {
  evp__fn_t *fn = mkfn(EVP__FN_ISSUER);
  const char *ok =
      "grant_type=client_credentials&client_id=app-1&client_secret=s3cret-s3cret-s3cret";
  expect_error(fn, token_event(0, "GET", FORM, NULL, ok, 0), 405, "invalid_request");
  expect_error(fn, token_event(0, "POST", "application/json", NULL, "{}", 0), 400,
               "invalid_request");
  expect_error(fn, token_event(0, "POST", FORM, NULL, "client_id=app-1&client_secret=x", 0), 400,
               "invalid_request");
  expect_error(fn, token_event(1, "POST", FORM, NULL, "grant_type=password&client_id=a", 0), 400,
               "unsupported_grant_type");
  expect_error(
      fn,
      token_event(0, "POST", FORM, NULL,
                  "grant_type=client_credentials&client_id=app-1&client_secret=wrong-wrong-wrong",
                  0),
      401, "invalid_client");
  expect_error(
      fn,
      token_event(
          0, "POST", FORM, NULL,
          "grant_type=client_credentials&client_id=nobody&client_secret=s3cret-s3cret-s3cret", 0),
      401, "invalid_client");
  expect_error(fn, token_event(0, "POST", FORM, NULL, "grant_type=client_credentials", 0), 401,
               "invalid_client");
  expect_error(fn,
               token_event(0, "POST", FORM, NULL,
                           "grant_type=client_credentials&client_id=app-2&client_secret=a%2Bb%2Fc%"
                           "3Dd+e%26f%25g%3Ah-long&audience=other",
                           0),
               400, "invalid_target");
  expect_error(fn,
               token_event(0, "POST", FORM, NULL,
                           "grant_type=client_credentials&grant_type=client_credentials", 0),
               400, "invalid_request");
  /* a body that is not base64 / too large: 400 from the adapter */
  cJSON *ev = token_event(0, "POST", FORM, NULL, "x", 0);
  set_str(ev, "body", "***");
  cJSON_ReplaceItemInObjectCaseSensitive(ev, "isBase64Encoded", cJSON_CreateTrue());
  expect_error(fn, ev, 400, "invalid_request");
  char *huge = malloc(70000);
  memset(huge, 'a', 69999);
  huge[69999] = '\0';
  expect_error(fn, token_event(0, "POST", FORM, NULL, huge, 0), 400, "invalid_request");
  free(huge);
  /* not a proxy event at all: a handler error */
  result_t r;
  invoke(fn, "{\"foo\":1}", &r);
  ck_assert_int_ne(r.rc, EVP_OK);
  ck_assert_str_eq(r.type, "InvalidEvent");
  result_free(&r);
  evp__fn_free(fn);
}
END_TEST

START_TEST(issuer_secrets_unavailable_and_stale) {
  evp__fn_t *fn = mkfn(EVP__FN_ISSUER);
  const char *ok =
      "grant_type=client_credentials&client_id=app-1&client_secret=s3cret-s3cret-s3cret";
  mock_aws_500_next(aws, "GetSecretValue", 100);
  result_t r;
  cJSON *b, *h;
  ck_assert_int_eq(token_call(fn, token_event(0, "POST", FORM, NULL, ok, 0), &b, &h, &r), 503);
  ck_assert_str_eq(jstr(h, "Retry-After"), "1");
  ck_assert_str_eq(jstr(h, "Cache-Control"), "no-store");
  cJSON_Delete(b);
  result_free(&r);
  mock_aws_clear_faults(aws);
  NOW += 10;
  expect_token(fn, token_event(0, "POST", FORM, NULL, ok, 0), KEY1, KEY1_VER, "app-1", "events");
  /* the cache expires while Secrets Manager fails: the cached values stay */
  NOW += 400;
  mock_aws_500_next(aws, "GetSecretValue", 100);
  expect_token(fn, token_event(0, "POST", FORM, NULL, ok, 0), KEY1, KEY1_VER, "app-1", "events");
  mock_aws_clear_faults(aws);
  evp__fn_free(fn);
}
END_TEST

/* Move AWSCURRENT of @p name to @p ver (AWSPREVIOUS follows, as in AWS). */
static void promote(evp__fn_t *fn, const char *name, const char *ver, const void *val, size_t len) {
  char cur[72];
  ck_assert_int_eq(mock_aws_secret_stage(aws, name, "AWSCURRENT", cur), 0);
  ck_assert_int_eq(mock_aws_secret_put_version(aws, name, ver, val, len, "AWSPENDING"), 0);
  evp__aws_client_t *sm;
  char err[256];
  ck_assert_int_eq(evp__fn_sm(fn, &sm, err, sizeof err), EVP_OK);
  evp__aws_result_t res;
  ck_assert_int_eq(evp__sm_update_stage(sm, name, "AWSCURRENT", ver, cur, &res), EVP_OK);
}

START_TEST(issuer_rotation_window) {
  evp__fn_t *fn = mkfn(EVP__FN_ISSUER);
  const char *old1 =
      "grant_type=client_credentials&client_id=app-1&client_secret=s3cret-s3cret-s3cret";
  const char *new1 =
      "grant_type=client_credentials&client_id=app-1&client_secret=n3w-s3cret-n3w-s3cret";
  expect_token(fn, token_event(0, "POST", FORM, NULL, old1, 0), KEY1, KEY1_VER, "app-1", "events");
  expect_error(fn, token_event(0, "POST", FORM, NULL, new1, 0), 401, "invalid_client");
  /* rotate both secrets; within the cache TTL the old ones are still used */
  promote(fn, CLIENTS, CL2_VER, CLIENTS_V2, strlen(CLIENTS_V2));
  char k2[64];
  b64url(KEY2, 32, k2);
  promote(fn, SIGNING, KEY2_VER, k2, strlen(k2));
  expect_error(fn, token_event(0, "POST", FORM, NULL, new1, 0), 401, "invalid_client");
  NOW += 301;
  /* AWSCURRENT and AWSPREVIOUS both accepted; tokens signed by the new key */
  expect_token(fn, token_event(0, "POST", FORM, NULL, new1, 0), KEY2, KEY2_VER, "app-1", "events");
  expect_token(fn, token_event(0, "POST", FORM, NULL, old1, 0), KEY2, KEY2_VER, "app-1", "events");
  expect_token(fn,
               token_event(0, "POST", FORM, NULL,
                           "grant_type=client_credentials&client_id=app-1&client_secret=s3cret-"
                           "s3cret-s3cret&audience=other",
                           0),
               KEY2, KEY2_VER, "app-1", "other");
  /* previous secret, audience not allowed: invalid_target (authenticated) */
  expect_error(fn,
               token_event(0, "POST", FORM, NULL,
                           "grant_type=client_credentials&client_id=app-2&client_secret=a%2Bb%2Fc%"
                           "3Dd+e%26f%25g%3Ah-long&audience=other",
                           0),
               400, "invalid_target");
  expect_error(
      fn,
      token_event(0, "POST", FORM, NULL,
                  "grant_type=client_credentials&client_id=app-1&client_secret=neither-neither", 0),
      401, "invalid_client");
  /* a second rotation: the oldest secret is gone */
  const char *v3 = "[{\"client_id\":\"app-1\",\"client_secret\":\"third-secret-third\","
                   "\"audiences\":[\"events\"]}]";
  promote(fn, CLIENTS, "c3333333-3333-4333-8333-333333333333", v3, strlen(v3));
  NOW += 301;
  expect_error(fn, token_event(0, "POST", FORM, NULL, old1, 0), 401, "invalid_client");
  expect_token(fn, token_event(0, "POST", FORM, NULL, new1, 0), KEY2, KEY2_VER, "app-1", "events");
  evp__fn_free(fn);
}
END_TEST

/* ------------------------------------------------------------ authorizer */

static void authz(evp__fn_t *fn, const char *fixture_name, const char *header_value, result_t *r) {
  cJSON *ev = fixture(fixture_name);
  const char *type = jstr(ev, "type");
  if (jstr(ev, "version")) {
    cJSON *h = cJSON_GetObjectItemCaseSensitive(ev, "headers");
    if (header_value) cJSON_AddStringToObject(h, "authorization", header_value);
    cJSON_ReplaceItemInObjectCaseSensitive(
        ev, "identitySource", cJSON_CreateStringArray(&header_value, header_value ? 1 : 0));
  } else if (strcmp(type, "TOKEN") == 0) {
    set_str(ev, "authorizationToken", header_value ? header_value : "");
    set_str(ev, "methodArn", ARN);
  } else {
    cJSON *h = cJSON_GetObjectItemCaseSensitive(ev, "headers");
    if (header_value) cJSON_AddStringToObject(h, "Authorization", header_value);
  }
  invoke_json(fn, ev, r);
  cJSON_Delete(ev);
}

static void expect_policy(result_t *r, const char *effect, const char *principal,
                          const char *resource) {
  ck_assert_msg(r->rc == EVP_OK, "authorizer: %s %s", r->type, r->msg);
  ck_assert_ptr_nonnull(r->json);
  ck_assert_str_eq(jstr(r->json, "principalId"), principal);
  const cJSON *pd = cJSON_GetObjectItemCaseSensitive(r->json, "policyDocument");
  ck_assert_str_eq(jstr(pd, "Version"), "2012-10-17");
  const cJSON *st = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(pd, "Statement"), 0);
  ck_assert_str_eq(jstr(st, "Action"), "execute-api:Invoke");
  ck_assert_str_eq(jstr(st, "Effect"), effect);
  ck_assert_str_eq(jstr(st, "Resource"), resource);
  const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(r->json, "context");
  ck_assert_str_eq(jstr(ctx, "client_id"), strcmp(principal, "unknown") ? principal : "");
}

static void expect_unauthorized(result_t *r) {
  ck_assert_int_eq(r->rc, EVP_ERR_AUTH);
  ck_assert_str_eq(r->msg, "Unauthorized");
  ck_assert_ptr_null(r->out);
}

START_TEST(authorizer_allow_deny_unauthorized) {
  evp__fn_t *fn = mkfn(EVP__FN_AUTHORIZER);
  char *tok = mint(KEY1, KEY1_VER, "app-1", "events", NOW);
  char bearer[2048];
  snprintf(bearer, sizeof bearer, "Bearer %s", tok);
  result_t r;
  authz(fn, "authorizer-token.json", bearer, &r);
  expect_policy(&r, "Allow", "app-1",
                "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/*");
  result_free(&r);
  authz(fn, "authorizer-request.json", bearer, &r);
  expect_policy(&r, "Allow", "app-1",
                "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/*");
  result_free(&r);
  authz(fn, "authorizer-http-v2.json", bearer, &r);
  ck_assert_int_eq(r.rc, EVP_OK);
  ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r.json, "isAuthorized")));
  ck_assert_str_eq(jstr(cJSON_GetObjectItemCaseSensitive(r.json, "context"), "client_id"), "app-1");
  result_free(&r);
  evp__free_secret(tok);

  /* a genuine token for another audience: Deny, named client */
  tok = mint(KEY1, KEY1_VER, "app-1", "other", NOW);
  snprintf(bearer, sizeof bearer, "Bearer %s", tok);
  authz(fn, "authorizer-token.json", bearer, &r);
  expect_policy(&r, "Deny", "app-1", "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/*");
  ck_assert_str_eq(jstr(cJSON_GetObjectItemCaseSensitive(r.json, "context"), "reason"),
                   "wrong_audience");
  result_free(&r);
  authz(fn, "authorizer-http-v2.json", bearer, &r);
  ck_assert_int_eq(r.rc, EVP_OK);
  ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r.json, "isAuthorized")));
  result_free(&r);
  evp__free_secret(tok);

  /* expired, forged, malformed, missing: "Unauthorized" (REST) */
  tok = mint(KEY1, KEY1_VER, "app-1", "events", NOW - 5000);
  snprintf(bearer, sizeof bearer, "Bearer %s", tok);
  authz(fn, "authorizer-token.json", bearer, &r);
  expect_unauthorized(&r);
  result_free(&r);
  authz(fn, "authorizer-http-v2.json", bearer, &r);
  ck_assert_int_eq(r.rc, EVP_OK);
  ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r.json, "isAuthorized")));
  result_free(&r);
  evp__free_secret(tok);
  tok = mint(KEY2, KEY1_VER, "app-1", "events", NOW); /* right kid, wrong key */
  snprintf(bearer, sizeof bearer, "Bearer %s", tok);
  authz(fn, "authorizer-request.json", bearer, &r);
  expect_unauthorized(&r);
  result_free(&r);
  evp__free_secret(tok);
  authz(fn, "authorizer-token.json", "Bearer not.a.token", &r);
  expect_unauthorized(&r);
  result_free(&r);
  authz(fn, "authorizer-token.json", "Basic YTpi", &r);
  expect_unauthorized(&r);
  result_free(&r);
  authz(fn, "authorizer-request.json", NULL, &r);
  expect_unauthorized(&r);
  result_free(&r);
  /* not an authorizer event / bad methodArn: handler errors, not 401 */
  invoke(fn, "{\"type\":\"OTHER\"}", &r);
  ck_assert_str_eq(r.type, "InvalidEvent");
  result_free(&r);
  invoke(fn, "{\"type\":\"TOKEN\",\"authorizationToken\":\"x\",\"methodArn\":\"bogus\"}", &r);
  ck_assert_str_eq(r.type, "InvalidEvent");
  result_free(&r);
  evp__fn_free(fn);
}
END_TEST

START_TEST(authorizer_key_rotation_picked_up) {
  evp__fn_config_t c;
  base_cfg(&c, EVP__FN_AUTHORIZER);
  c.authz_method_only = 1;
  evp__fn_t *fn = mkfn_cfg(&c);
  char *tok = mint(KEY1, KEY1_VER, "app-2", "events", NOW);
  char bearer[2048];
  snprintf(bearer, sizeof bearer, "Bearer %s", tok);
  result_t r;
  authz(fn, "authorizer-token.json", bearer, &r);
  expect_policy(&r, "Allow", "app-2", ARN);
  result_free(&r);
  /* rotate: the issuer starts signing with KEY2 at once */
  char k2[64];
  b64url(KEY2, 32, k2);
  promote(fn, SIGNING, KEY2_VER, k2, strlen(k2));
  mock_aws_reset_stats(aws);
  char *tok2 = mint(KEY2, KEY2_VER, "app-2", "events", NOW);
  char bearer2[2048];
  snprintf(bearer2, sizeof bearer2, "Bearer %s", tok2);
  NOW += 1; /* well within the cache TTL */
  authz(fn, "authorizer-token.json", bearer2, &r);
  expect_policy(&r, "Allow", "app-2", ARN);
  result_free(&r);
  mock_aws_stats_t st;
  mock_aws_stats(aws, "GetSecretValue", &st);
  ck_assert_uint_eq(st.ok, 2); /* AWSCURRENT and AWSPREVIOUS, once */
  /* tokens of the previous key still verify (AWSPREVIOUS) */
  authz(fn, "authorizer-token.json", bearer, &r);
  expect_policy(&r, "Allow", "app-2", ARN);
  result_free(&r);
  /* forged kids do not make every call fetch the secret (rate-limited) */
  char *forged = mint(KEY2, "33333333-3333-4333-8333-333333333333", "app-2", "events", NOW);
  snprintf(bearer2, sizeof bearer2, "Bearer %s", forged);
  for (int i = 0; i < 5; i++) {
    authz(fn, "authorizer-token.json", bearer2, &r);
    expect_unauthorized(&r);
    result_free(&r);
  }
  mock_aws_stats(aws, "GetSecretValue", &st);
  ck_assert_uint_eq(st.ok, 2);
  NOW += 11;
  authz(fn, "authorizer-token.json", bearer2, &r);
  expect_unauthorized(&r);
  result_free(&r);
  mock_aws_stats(aws, "GetSecretValue", &st);
  ck_assert_uint_eq(st.ok, 4); /* one early refresh after the interval */
  evp__free_secret(forged);
  evp__free_secret(tok);
  evp__free_secret(tok2);
  evp__fn_free(fn);
}
END_TEST

START_TEST(authorizer_keys_unavailable) {
  evp__fn_t *fn = mkfn(EVP__FN_AUTHORIZER);
  mock_aws_fail_next(aws, "GetSecretValue", 100, 400, "AccessDeniedException");
  result_t r;
  authz(fn, "authorizer-token.json", "Bearer x.y.z", &r);
  ck_assert_int_ne(r.rc, EVP_OK);
  ck_assert_str_eq(r.type, "KeysUnavailable"); /* a 500, not a 401: the client retries */
  result_free(&r);
  mock_aws_clear_faults(aws);
  /* a signing secret that is not a key */
  ck_assert_int_eq(mock_aws_secret_put_version(aws, SIGNING, KEY2_VER, "short", 5, "AWSCURRENT"),
                   0);
  NOW += 10;
  authz(fn, "authorizer-token.json", "Bearer x.y.z", &r);
  ck_assert_str_eq(r.type, "KeysUnavailable");
  result_free(&r);
  evp__fn_free(fn);
}
END_TEST

/* ------------------------------------------------------------ processor */

#define EV_FMT                                                                     \
  "{\"event_id\":\"0190b6c2-3f4a-7d2e-9c1b-%012d\",\"event_type\":\"app.opened\"," \
  "\"event_time\":\"2024-05-01T12:00:00.000Z\",\"app_id\":\"demo\"}"

static char *events_body(int n, int first, int bad_every) {
  size_t cap = (size_t)n * 200 + 32;
  char *b = malloc(cap);
  size_t o = (size_t)snprintf(b, cap, "{\"events\":[");
  for (int i = 0; i < n; i++) {
    if (i) b[o++] = ',';
    if (bad_every && i % bad_every == bad_every - 1)
      o += (size_t)snprintf(b + o, cap - o, "{\"event_id\":\"bad-%d\",\"event_type\":\"BAD\"}", i);
    else
      o += (size_t)snprintf(b + o, cap - o, EV_FMT, first + i);
  }
  snprintf(b + o, cap - o, "]}");
  return b;
}

/* The documented SQS event with @p n messages, bodies and attributes ours. */
static cJSON *sqs_event(int n, const char *const *bodies, const char *client_id) {
  cJSON *ev = fixture("sqs.json");
  cJSON *recs = cJSON_GetObjectItemCaseSensitive(ev, "Records");
  cJSON *tmpl = cJSON_Duplicate(cJSON_GetArrayItem(recs, 0), 1);
  cJSON *nr = cJSON_CreateArray();
  for (int i = 0; i < n; i++) {
    cJSON *r = cJSON_Duplicate(tmpl, 1);
    char id[64];
    snprintf(id, sizeof id, "059f36b4-87a3-44ab-83d2-%012d", i);
    set_str(r, "messageId", id);
    set_str(r, "body", bodies[i]);
    cJSON *ma = cJSON_CreateObject();
    if (client_id) {
      cJSON *a = cJSON_AddObjectToObject(ma, "client_id");
      cJSON_AddStringToObject(a, "stringValue", client_id);
      cJSON_AddStringToObject(a, "dataType", "String");
    }
    cJSON *t = cJSON_AddObjectToObject(ma, "received_at");
    cJSON_AddStringToObject(t, "stringValue", "1714564800123");
    cJSON_AddStringToObject(t, "dataType", "Number");
    cJSON_ReplaceItemInObjectCaseSensitive(r, "messageAttributes", ma);
    cJSON_AddItemToArray(nr, r);
  }
  cJSON_Delete(tmpl);
  cJSON_ReplaceItemInObjectCaseSensitive(ev, "Records", nr);
  return ev;
}

static size_t n_failures(const result_t *r) {
  ck_assert_msg(r->rc == EVP_OK, "processor: %s %s", r->type, r->msg);
  ck_assert_ptr_nonnull(r->json);
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(r->json, "batchItemFailures");
  ck_assert(cJSON_IsArray(f));
  return (size_t)cJSON_GetArraySize(f);
}

/* Process one message from app-1 per body: every event must become one
 * record of the delivery stream. */
static void process_all(evp__fn_t *fn, const char *const *bodies, int n) {
  cJSON *ev = sqs_event(n, bodies, "app-1");
  mock_aws_stream_clear(aws, "events");
  result_t r;
  invoke_json(fn, ev, &r);
  cJSON_Delete(ev);
  ck_assert_uint_eq(n_failures(&r), 0);
  result_free(&r);
  ck_assert_uint_eq(mock_aws_stream_count(aws, "events"), (size_t)n);
}

/* Records are rows of the Glue table: what Firehose's OpenX JSON SerDe can
 * convert to Parquet — timestamps in UTC "Z" form whatever offset was sent,
 * free-form objects as JSON text (string columns), struct columns as
 * nested objects of their non-null fields, nulls left out. */
START_TEST(processor_records_are_table_rows) {
  evp__fn_t *fn = mkfn(EVP__FN_PROCESSOR);
  const char *body =
      "{\"events\":[{\"event_id\":\"0190b6c2-3f4a-7d2e-9c1b-00000000000a\",\"event_type\":\"app."
      "opened\","
      "\"event_time\":\"2024-05-01T14:00:00.250+02:00\",\"app_id\":\"demo\",\"user_id\":null,"
      "\"context\":{ \"locale\" : \"en-US\", \"os\":\"iOS\" },"
      "\"properties\":{\"price\":9.99,\"note\":\"a \\\"quoted\\\" word\"}}]}";
  const char *bodies[1] = {body};
  process_all(fn, bodies, 1);
  size_t len;
  char *rec = mock_aws_stream_record(aws, "events", 0, &len);
  cJSON *o = cJSON_ParseWithLength(rec, len);
  ck_assert_ptr_nonnull(o);
  ck_assert_str_eq(jstr(o, "event_time"), "2024-05-01T12:00:00.250Z");
  const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(o, "context");
  ck_assert_msg(cJSON_IsObject(ctx) && cJSON_GetArraySize(ctx) == 2, "context: a struct of 2");
  ck_assert_str_eq(jstr(ctx, "locale"), "en-US");
  ck_assert_str_eq(jstr(ctx, "os"), "iOS");
  ck_assert_str_eq(jstr(o, "properties"), "{\"price\":9.99,\"note\":\"a \\\"quoted\\\" word\"}");
  ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(o, "user_id"));
  ck_assert_str_eq(jstr(o, "client_id"), "app-1");
  ck_assert_str_eq(jstr(o, "received_at"), "2024-05-01T12:00:00.123Z");
  cJSON_Delete(o);
  free(rec);
  evp__fn_free(fn);
}
END_TEST

START_TEST(processor_valid_invalid_deadletter) {
  evp__fn_t *fn = mkfn(EVP__FN_PROCESSOR);
  char *b1 = events_body(3, 0, 0), *b2 = events_body(3, 10, 3);
  const char *bodies[4] = {b1, b2, "this is not json", "{\"events\":{}}"};
  cJSON *ev = sqs_event(4, bodies, "app-1");
  result_t r;
  invoke_json(fn, ev, &r);
  cJSON_Delete(ev);
  ck_assert_uint_eq(n_failures(&r), 0);
  result_free(&r);
  ck_assert_uint_eq(mock_aws_stream_count(aws, "events"), 5);
  ck_assert_uint_eq(mock_aws_stream_count(aws, "events-dlq"), 3);
  size_t len;
  char *rec = mock_aws_stream_record(aws, "events", 0, &len);
  ck_assert_ptr_nonnull(rec);
  ck_assert_int_eq(rec[len - 1], '\n');
  cJSON *o = cJSON_ParseWithLength(rec, len);
  ck_assert_ptr_nonnull(o);
  ck_assert_str_eq(jstr(o, "received_at"), "2024-05-01T12:00:00.123Z");
  ck_assert_str_eq(jstr(o, "client_id"), "app-1");
  ck_assert_str_eq(jstr(o, "event_id"), "0190b6c2-3f4a-7d2e-9c1b-000000000000");
  cJSON_Delete(o);
  free(rec);
  /* the invalid event: error, client, raw event */
  rec = mock_aws_stream_record(aws, "events-dlq", 0, &len);
  o = cJSON_ParseWithLength(rec, len);
  ck_assert_ptr_nonnull(o);
  ck_assert_str_eq(jstr(o, "client_id"), "app-1");
  ck_assert_str_eq(jstr(o, "message_id"), "059f36b4-87a3-44ab-83d2-000000000001");
  ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(o, "index")->valueint, 2);
  ck_assert_ptr_nonnull(jstr(o, "error"));
  ck_assert_str_eq(jstr(cJSON_GetObjectItemCaseSensitive(o, "event"), "event_id"), "bad-2");
  cJSON_Delete(o);
  free(rec);
  /* the unparsable messages: raw body kept */
  rec = mock_aws_stream_record(aws, "events-dlq", 1, &len);
  o = cJSON_ParseWithLength(rec, len);
  ck_assert_str_eq(jstr(o, "raw"), "this is not json");
  ck_assert_str_eq(jstr(o, "reason"), "invalid_request");
  cJSON_Delete(o);
  free(rec);
  free(b1);
  free(b2);
  /* no client_id attribute: the whole message is dead-lettered */
  char *b3 = events_body(2, 0, 0);
  const char *bb[1] = {b3};
  ev = sqs_event(1, bb, NULL);
  invoke_json(fn, ev, &r);
  cJSON_Delete(ev);
  ck_assert_uint_eq(n_failures(&r), 0);
  result_free(&r);
  ck_assert_uint_eq(mock_aws_stream_count(aws, "events-dlq"), 4);
  rec = mock_aws_stream_record(aws, "events-dlq", 3, &len);
  o = cJSON_ParseWithLength(rec, len);
  ck_assert_str_eq(jstr(o, "reason"), "missing_client_id");
  ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "client_id")));
  ck_assert_str_eq(jstr(o, "raw"), b3);
  cJSON_Delete(o);
  free(rec);
  free(b3);
  /* not an SQS event; a record without messageId */
  invoke(fn, "{\"foo\":[]}", &r);
  ck_assert_str_eq(r.type, "InvalidEvent");
  result_free(&r);
  invoke(fn, "{\"Records\":[{\"body\":\"x\"}]}", &r);
  ck_assert_str_eq(r.type, "InvalidEvent");
  result_free(&r);
  evp__fn_free(fn);
}
END_TEST

START_TEST(processor_chunks_of_500) {
  evp__fn_t *fn = mkfn(EVP__FN_PROCESSOR);
  char *b1 = events_body(500, 0, 0), *b2 = events_body(500, 500, 0), *b3 = events_body(7, 1000, 0);
  const char *bodies[3] = {b1, b2, b3};
  cJSON *ev = sqs_event(3, bodies, "app-2");
  mock_aws_reset_stats(aws);
  result_t r;
  invoke_json(fn, ev, &r);
  cJSON_Delete(ev);
  ck_assert_uint_eq(n_failures(&r), 0);
  result_free(&r);
  ck_assert_uint_eq(mock_aws_stream_count(aws, "events"), 1007);
  mock_aws_stats_t st;
  mock_aws_stats(aws, "PutRecordBatch", &st);
  ck_assert_uint_eq(st.ok, 3); /* 500 + 500 + 7 */
  free(b1);
  free(b2);
  free(b3);
  evp__fn_free(fn);
}
END_TEST

/* A processor validating against the schema text @p sch (and @p max_body
 * when not 0). */
static evp__fn_t *processor_with_schema(const char *sch, size_t max_body) {
  char path[] = "/tmp/evp_fn_schemaXXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, sch, strlen(sch)), (ssize_t)strlen(sch));
  close(fd);
  evp__fn_config_t c;
  base_cfg(&c, EVP__FN_PROCESSOR);
  snprintf(c.schema_file, sizeof c.schema_file, "%s", path);
  if (max_body) c.max_body = max_body;
  evp__fn_t *fn = mkfn_cfg(&c);
  unlink(path);
  return fn;
}

/* An event the schema accepts but no row of the table can hold (an
 * "integer" beyond the bigint range) goes to the dead-letter stream with
 * the door's reason (the same value rules as evpipe local's POST /events),
 * never to Firehose's Parquet conversion, and the message is not a failure. */
START_TEST(processor_event_without_row_dead_lettered) {
  evp__fn_t *fn = processor_with_schema("{\"type\":\"object\",\"properties\":{\"event_id\":"
                                        "{\"type\":\"string\"},\"n\":{\"type\":\"integer\"}}}",
                                        0);
  const char *bodies[1] = {
      "{\"events\":[{\"event_id\":\"big\",\"n\":1e300},{\"event_id\":\"ok\",\"n\":7}]}"};
  cJSON *ev = sqs_event(1, bodies, "app-1");
  mock_aws_stream_clear(aws, "events");
  mock_aws_stream_clear(aws, "events-dlq");
  result_t r;
  invoke_json(fn, ev, &r);
  cJSON_Delete(ev);
  ck_assert_uint_eq(n_failures(&r), 0);
  result_free(&r);
  ck_assert_uint_eq(mock_aws_stream_count(aws, "events"), 1);
  ck_assert_uint_eq(mock_aws_stream_count(aws, "events-dlq"), 1);
  size_t len;
  char *rec = mock_aws_stream_record(aws, "events-dlq", 0, &len);
  cJSON *o = cJSON_ParseWithLength(rec, len);
  ck_assert_ptr_nonnull(o);
  ck_assert_str_eq(jstr(o, "reason"), "not_representable");
  ck_assert_ptr_nonnull(strstr(jstr(o, "error"), "bigint"));
  cJSON_Delete(o);
  free(rec);
  rec = mock_aws_stream_record(aws, "events", 0, &len);
  o = cJSON_ParseWithLength(rec, len);
  ck_assert_ptr_nonnull(o);
  ck_assert_str_eq(jstr(o, "event_id"), "ok");
  ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(o, "n")->valuedouble, 7);
  cJSON_Delete(o);
  free(rec);
  evp__fn_free(fn);
}
END_TEST

START_TEST(processor_chunks_of_4mib) {
  /* a permissive schema (its table: two string columns), so that events can be large */
  evp__fn_t *fn = processor_with_schema("{\"type\":\"object\",\"properties\":{\"event_id\":"
                                        "{\"type\":\"string\"},\"pad\":{\"type\":\"string\"}}}",
                                        6u * 1024u * 1024u);
  /* 9 events of 600 KiB (5.3 MiB): 4 MiB holds 6 of them */
  size_t ev_sz = 600u * 1024u, n = 9;
  char *body = malloc(n * (ev_sz + 64) + 32);
  size_t o = (size_t)sprintf(body, "{\"events\":[");
  for (size_t i = 0; i < n; i++) {
    o += (size_t)sprintf(body + o, "%s{\"event_id\":\"e%zu\",\"pad\":\"", i ? "," : "", i);
    memset(body + o, 'x', ev_sz);
    o += ev_sz;
    o += (size_t)sprintf(body + o, "\"}");
  }
  sprintf(body + o, "]}");
  const char *bodies[1] = {body};
  cJSON *ev = sqs_event(1, bodies, "app-1");
  mock_aws_reset_stats(aws);
  result_t r;
  invoke_json(fn, ev, &r);
  cJSON_Delete(ev);
  ck_assert_uint_eq(n_failures(&r), 0);
  result_free(&r);
  ck_assert_uint_eq(mock_aws_stream_count(aws, "events"), n);
  mock_aws_stats_t st;
  mock_aws_stats(aws, "PutRecordBatch", &st);
  ck_assert_uint_eq(st.ok, 2);
  ck_assert_uint_eq(st.errors, 0);
  /* an event larger than a record goes to the dead-letter stream */
  o = (size_t)sprintf(body, "{\"events\":[{\"event_id\":\"huge\",\"pad\":\"");
  memset(body + o, 'y', 1010u * 1024u);
  o += 1010u * 1024u;
  sprintf(body + o, "\"}]}");
  ev = sqs_event(1, bodies, "app-1");
  invoke_json(fn, ev, &r);
  cJSON_Delete(ev);
  ck_assert_uint_eq(n_failures(&r), 0);
  result_free(&r);
  ck_assert_uint_eq(mock_aws_stream_count(aws, "events-dlq"), 1);
  size_t len;
  char *rec = mock_aws_stream_record(aws, "events-dlq", 0, &len);
  ck_assert_uint_le(len, EVP__FH_MAX_RECORD_BYTES);
  cJSON *dj = cJSON_ParseWithLength(rec, len);
  ck_assert_ptr_nonnull(dj);
  ck_assert_str_eq(jstr(dj, "reason"), "too_large");
  ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(dj, "raw_truncated")));
  cJSON_Delete(dj);
  free(rec);
  free(body);
  evp__fn_free(fn);
}
END_TEST

START_TEST(processor_partial_failures_resent) {
  evp__fn_t *fn = mkfn(EVP__FN_PROCESSOR);
  char *b1 = events_body(4, 0, 0), *b2 = events_body(4, 100, 0);
  const char *bodies[2] = {b1, b2};
  cJSON *ev = sqs_event(2, bodies, "app-1");
  size_t idx[3] = {1, 5, 7};
  mock_aws_fail_records_next(aws, idx, 3, "ServiceUnavailableException");
  mock_aws_reset_stats(aws);
  result_t r;
  invoke_json(fn, ev, &r);
  ck_assert_uint_eq(n_failures(&r), 0);
  result_free(&r);
  ck_assert_uint_eq(mock_aws_stream_count(aws, "events"), 8); /* no duplicates */
  mock_aws_stats_t st;
  mock_aws_stats(aws, "PutRecordBatch", &st);
  ck_assert_uint_eq(st.ok, 2);
  ck_assert_int_gt(slept_ms, -1);
  /* the resent records are the failed ones: every event once */
  int seen[8] = {0};
  for (size_t i = 0; i < 8; i++) {
    size_t len;
    char *rec = mock_aws_stream_record(aws, "events", i, &len);
    cJSON *o = cJSON_ParseWithLength(rec, len);
    const char *id = jstr(o, "event_id");
    int k = atoi(id + strlen(id) - 3);
    seen[k >= 100 ? k - 96 : k]++;
    cJSON_Delete(o);
    free(rec);
  }
  for (int i = 0; i < 8; i++) ck_assert_int_eq(seen[i], 1);
  /* throttling of whole calls: the client's retries, then ours */
  mock_aws_stream_clear(aws, "events");
  mock_aws_throttle_next(aws, "PutRecordBatch", 4);
  invoke_json(fn, ev, &r);
  ck_assert_uint_eq(n_failures(&r), 0);
  result_free(&r);
  ck_assert_uint_eq(mock_aws_stream_count(aws, "events"), 8);
  cJSON_Delete(ev);
  free(b1);
  free(b2);
  evp__fn_free(fn);
}
END_TEST

START_TEST(processor_firehose_keeps_failing) {
  evp__fn_config_t c;
  base_cfg(&c, EVP__FN_PROCESSOR);
  c.fh_max_attempts = 3;
  evp__fn_t *fn = mkfn_cfg(&c);
  evp__aws_client_t *fh;
  char err[256];
  evp__fn_fh(fn, &fh, err, sizeof err);
  evp__aws_client_set_max_attempts(fh, 1);
  char *b1 = events_body(2, 0, 0), *b2 = events_body(2, 10, 2);
  const char *bodies[2] = {b1, b2};
  cJSON *ev = sqs_event(2, bodies, "app-1");
  mock_aws_500_next(aws, "PutRecordBatch", 1000);
  mock_aws_reset_stats(aws);
  result_t r;
  invoke_json(fn, ev, &r);
  ck_assert_uint_eq(n_failures(&r), 2);
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(r.json, "batchItemFailures");
  ck_assert_str_eq(jstr(cJSON_GetArrayItem(f, 0), "itemIdentifier"),
                   "059f36b4-87a3-44ab-83d2-000000000000");
  result_free(&r);
  mock_aws_stats_t st;
  mock_aws_stats(aws, "PutRecordBatch", &st);
  ck_assert_uint_eq(st.faults, 6); /* 3 rounds, two streams */
  mock_aws_clear_faults(aws);
  /* only the dead-letter write fails: that message alone is reported */
  const char *bad[1] = {"garbage"};
  cJSON *e2 = sqs_event(1, bad, "app-1");
  mock_aws_500_next(aws, "PutRecordBatch", 1000);
  invoke_json(fn, e2, &r);
  ck_assert_uint_eq(n_failures(&r), 1);
  result_free(&r);
  mock_aws_clear_faults(aws);
  cJSON_Delete(e2);
  /* a stream that does not exist: not retried */
  mock_aws_reset_stats(aws);
  base_cfg(&c, EVP__FN_PROCESSOR);
  snprintf(c.delivery_stream, sizeof c.delivery_stream, "nope");
  evp__fn_t *fn2 = mkfn_cfg(&c);
  invoke_json(fn2, ev, &r);
  ck_assert_uint_eq(n_failures(&r), 2);
  result_free(&r);
  mock_aws_stats(aws, "PutRecordBatch", &st);
  ck_assert_uint_eq(st.errors, 1);
  evp__fn_free(fn2);
  cJSON_Delete(ev);
  free(b1);
  free(b2);
  evp__fn_free(fn);
}
END_TEST

START_TEST(processor_deadline) {
  evp__fn_config_t c;
  base_cfg(&c, EVP__FN_PROCESSOR);
  c.fh_max_attempts = 100;
  c.deadline_margin_ms = 200;
  c.sleep_ms = NULL; /* real sleeps: the deadline is real time */
  c.fh_backoff_ms = 50;
  c.fh_backoff_max_ms = 100;
  evp__fn_t *fn = mkfn_cfg(&c);
  char *b1 = events_body(3, 0, 0);
  const char *bodies[1] = {b1};
  cJSON *ev = sqs_event(1, bodies, "app-1");
  char *t = cJSON_PrintUnformatted(ev);
  mock_aws_500_next(aws, "PutRecordBatch", 100000);
  int64_t t0 = evp__wall_ms();
  result_t r;
  invoke_dl(fn, t, t0 + 1500, &r);
  int64_t took = evp__wall_ms() - t0;
  ck_assert_uint_eq(n_failures(&r), 1);
  result_free(&r);
  ck_assert_int_lt(took, 1500); /* answered before the deadline */
  ck_assert_int_gt(took, 300);  /* after retrying for a while */
  mock_aws_clear_faults(aws);
  /* already past the margin: no call at all */
  mock_aws_reset_stats(aws);
  invoke_dl(fn, t, evp__wall_ms() + 100, &r);
  ck_assert_uint_eq(n_failures(&r), 1);
  result_free(&r);
  mock_aws_stats_t st;
  mock_aws_stats(aws, "PutRecordBatch", &st);
  ck_assert_uint_eq(st.requests, 0);
  free(t);
  cJSON_Delete(ev);
  free(b1);
  evp__fn_free(fn);
}
END_TEST

/* ------------------------------------------------------------ rotation */

#define TOKEN1 "EXAMPLE1-90ab-cdef-fedc-ba987SECRET1"

static void rotate_step(evp__fn_t *fn, const char *secret, const char *step, const char *token,
                        evp_err_t want) {
  cJSON *ev = fixture("secretsmanager-rotation.json");
  set_str(ev, "Step", step);
  set_str(ev, "SecretId", secret);
  set_str(ev, "ClientRequestToken", token);
  result_t r;
  invoke_json(fn, ev, &r);
  cJSON_Delete(ev);
  ck_assert_msg(r.rc == want, "%s: %s %s", step, r.type, r.msg);
  if (want != EVP_OK) ck_assert_str_eq(r.type, "RotationError");
  ck_assert_ptr_null(r.out);
  result_free(&r);
}

static void stages_of(const char *secret, const char *ver, const char *want) {
  char s[256];
  ck_assert_int_eq(mock_aws_secret_version_stages(aws, secret, ver, s, sizeof s), 0);
  ck_assert_str_eq(s, want);
}

START_TEST(rotation_signing_key) {
  evp__fn_t *fn = mkfn(EVP__FN_ROTATION);
  /* not enabled yet */
  rotate_step(fn, SIGNING, "createSecret", TOKEN1, EVP_ERR_STATE);
  ck_assert_int_eq(mock_aws_secret_set_rotation(
                       aws, SIGNING, 1, "arn:aws:lambda:us-east-1:123456789012:function:rot", 30),
                   0);
  const char *steps[4] = {"createSecret", "setSecret", "testSecret", "finishSecret"};
  for (int i = 0; i < 4; i++) {
    rotate_step(fn, SIGNING, steps[i], TOKEN1, EVP_OK);
    rotate_step(fn, SIGNING, steps[i], TOKEN1, EVP_OK); /* retried: idempotent */
    if (i == 0) {
      stages_of(SIGNING, TOKEN1, "AWSPENDING");
      stages_of(SIGNING, KEY1_VER, "AWSCURRENT");
    }
  }
  stages_of(SIGNING, TOKEN1, "AWSCURRENT,AWSPENDING");
  stages_of(SIGNING, KEY1_VER, "AWSPREVIOUS");
  ck_assert_uint_eq(mock_aws_secret_versions(aws, SIGNING), 2);
  size_t len;
  unsigned char *v = mock_aws_secret_value(aws, SIGNING, "AWSCURRENT", NULL, &len);
  unsigned char key[EVP__FN_KEY_MAX];
  size_t kl;
  ck_assert_int_eq(evp__fn_key_decode(v, len, key, &kl), EVP_OK);
  ck_assert_uint_eq(kl, 32);
  ck_assert_int_ne(memcmp(key, KEY1, 32), 0);
  free(v);
  /* once done, any step for that token is a no-op */
  rotate_step(fn, SIGNING, "createSecret", TOKEN1, EVP_OK);
  ck_assert_uint_eq(mock_aws_secret_versions(aws, SIGNING), 2);
  /* a token that is not a version of the secret */
  rotate_step(fn, SIGNING, "testSecret", "99999999-9999-4999-8999-999999999999", EVP_ERR_STATE);
  /* a pending value that does not work fails testSecret (and finish never runs) */
  const char *tok2 = "EXAMPLE2-90ab-cdef-fedc-ba987SECRET2";
  ck_assert_int_eq(mock_aws_secret_put_version(aws, SIGNING, tok2, "c2hvcnQ", 7, "AWSPENDING"), 0);
  rotate_step(fn, SIGNING, "testSecret", tok2, EVP_ERR_KEY_TOO_SHORT);
  /* not a rotation event */
  result_t r;
  invoke(fn, "{\"Step\":\"createSecret\"}", &r);
  ck_assert_str_eq(r.type, "InvalidEvent");
  result_free(&r);
  evp__fn_free(fn);
}
END_TEST

START_TEST(rotation_clients) {
  evp__fn_t *fn = mkfn(EVP__FN_ROTATION);
  ck_assert_int_eq(mock_aws_secret_set_rotation(
                       aws, CLIENTS, 1, "arn:aws:lambda:us-east-1:123456789012:function:rot", 30),
                   0);
  const char *steps[4] = {"createSecret", "setSecret", "testSecret", "finishSecret"};
  for (int i = 0; i < 4; i++) {
    rotate_step(fn, CLIENTS, steps[i], TOKEN1, EVP_OK);
    rotate_step(fn, CLIENTS, steps[i], TOKEN1, EVP_OK);
  }
  stages_of(CLIENTS, CL1_VER, "AWSPREVIOUS");
  size_t len;
  unsigned char *v = mock_aws_secret_value(aws, CLIENTS, "AWSCURRENT", NULL, &len);
  cJSON *nv = cJSON_ParseWithLength((const char *)v, len);
  cJSON *ov = cJSON_Parse(CLIENTS_V1);
  ck_assert_int_eq(cJSON_GetArraySize(nv), 2);
  for (int i = 0; i < 2; i++) {
    cJSON *a = cJSON_GetArrayItem(nv, i), *b = cJSON_GetArrayItem(ov, i);
    ck_assert_str_eq(jstr(a, "client_id"), jstr(b, "client_id"));
    ck_assert_str_ne(jstr(a, "client_secret"), jstr(b, "client_secret"));
    ck_assert_uint_eq(strlen(jstr(a, "client_secret")), 43);
    ck_assert(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(a, "audiences"),
                            cJSON_GetObjectItemCaseSensitive(b, "audiences"), 1));
  }
  /* the issuer accepts the new secret and, in the window, the old one */
  evp__fn_t *iss = mkfn(EVP__FN_ISSUER);
  char form[256];
  snprintf(form, sizeof form, "grant_type=client_credentials&client_id=app-1&client_secret=%s",
           jstr(cJSON_GetArrayItem(nv, 0), "client_secret"));
  expect_token(iss, token_event(0, "POST", FORM, NULL, form, 0), KEY1, KEY1_VER, "app-1", "events");
  expect_token(
      iss,
      token_event(
          0, "POST", FORM, NULL,
          "grant_type=client_credentials&client_id=app-1&client_secret=s3cret-s3cret-s3cret", 0),
      KEY1, KEY1_VER, "app-1", "events");
  evp__fn_free(iss);
  cJSON_Delete(nv);
  cJSON_Delete(ov);
  free(v);
  evp__fn_free(fn);
}
END_TEST

/* The Lambda authorizer goes through the same core check: a token signed
 * with the current key that lives a day (the issuer grants 20 minutes), or
 * has no iat, is Unauthorized; the same shape with the issuer's lifetime is
 * allowed (the forging itself is right). */
static char *forge_claims(const char *claims) {
  const char *hdr = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"" KEY1_VER "\"}";
  size_t hl = strlen(hdr), cl = strlen(claims);
  char *t = malloc(evp_base64url_encoded_len(hl) + evp_base64url_encoded_len(cl) + 64);
  ck_assert_ptr_nonnull(t);
  size_t n = evp_base64url_encode(hdr, hl, t);
  t[n++] = '.';
  n += evp_base64url_encode(claims, cl, t + n);
  unsigned char mac[32];
  ck_assert_int_eq(evp_hmac_sha256(KEY1, 32, t, n, mac), EVP_OK);
  t[n++] = '.';
  evp_base64url_encode(mac, 32, t + n);
  return t;
}

START_TEST(authorizer_refuses_tokens_longer_lived_than_issued) {
  evp__fn_t *fn = mkfn(EVP__FN_AUTHORIZER);
  char claims[256], bearer[2048];
  const int64_t lifetimes[] = {EVP_JWT_DEFAULT_TTL, 86400, -1 /* no iat */};
  for (int i = 0; i < 3; i++) {
    if (lifetimes[i] < 0)
      snprintf(claims, sizeof claims,
               "{\"iss\":\"evpipe\",\"sub\":\"app-1\",\"aud\":\"events\",\"exp\":%lld}",
               (long long)(NOW + 600));
    else
      snprintf(claims, sizeof claims,
               "{\"iss\":\"evpipe\",\"sub\":\"app-1\",\"aud\":\"events\",\"iat\":%lld,"
               "\"exp\":%lld}",
               (long long)(NOW - 10), (long long)(NOW - 10 + lifetimes[i]));
    char *tok = forge_claims(claims);
    snprintf(bearer, sizeof bearer, "Bearer %s", tok);
    result_t r;
    authz(fn, "authorizer-token.json", bearer, &r);
    if (i == 0)
      expect_policy(&r, "Allow", "app-1",
                    "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/*");
    else
      expect_unauthorized(&r);
    result_free(&r);
    free(tok);
  }
  evp__fn_free(fn);
}
END_TEST

/* ------------------------------------------------------------ suite */

/* Clock skew on the AWS path: a device 2 hours behind (sent_at 10:00:00.123
 * by its clock, received 12:00:00.123) sent an event of 09:59:00.123 by its
 * clock: the record's event_time_corrected is 11:59:00.123, clock_skew_ms 2 h.
 * Without a usable sent_at (none, not a date-time, far in the future) the
 * event is delivered all the same, event_time_corrected = event_time. */
START_TEST(processor_clock_skew_columns) {
  evp__fn_t *fn = mkfn(EVP__FN_PROCESSOR);
#define SKEW_EV                                                                           \
  "{\"event_id\":\"0190b6c2-3f4a-7d2e-9c1b-00000000000b\",\"event_type\":\"app.opened\"," \
  "\"event_time\":\"2024-05-01T09:59:00.123Z\",\"app_id\":\"demo\"}"
  const char *bodies[4] = {
      "{\"sent_at\":\"2024-05-01T10:00:00.123Z\",\"events\":[" SKEW_EV "]}",
      "{\"events\":[" SKEW_EV "]}",
      "{\"events\":[" SKEW_EV "],\"sent_at\":\"ten o'clock\"}",
      "{\"sent_at\":\"2099-01-01T00:00:00Z\",\"events\":[" SKEW_EV "]}",
  };
#undef SKEW_EV
  process_all(fn, bodies, 4);
  for (size_t i = 0; i < 4; i++) {
    size_t len;
    char *rec = mock_aws_stream_record(aws, "events", i, &len);
    cJSON *o = cJSON_ParseWithLength(rec, len);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(jstr(o, "event_time"), "2024-05-01T09:59:00.123Z");
    ck_assert_str_eq(jstr(o, "received_at"), "2024-05-01T12:00:00.123Z");
    const cJSON *skew = cJSON_GetObjectItemCaseSensitive(o, "clock_skew_ms");
    if (i == 0) {
      ck_assert_str_eq(jstr(o, "event_time_corrected"), "2024-05-01T11:59:00.123Z");
      ck_assert(cJSON_IsNumber(skew) && skew->valuedouble == 7200000.0);
    } else {
      ck_assert_str_eq(jstr(o, "event_time_corrected"), "2024-05-01T09:59:00.123Z");
      ck_assert_msg(skew == NULL, "message %zu: %.*s", i, (int)len, rec);
    }
    cJSON_Delete(o);
    free(rec);
  }
  evp__fn_free(fn);
}
END_TEST

int main(void) {
  Suite *s = suite_create("functions");
  TCase *t = tcase_create("unit");
  tcase_add_test(t, apigw_v1_and_v2);
  tcase_add_test(t, authz_resource_and_time);
  suite_add_tcase(s, t);
  t = tcase_create("aws");
  tcase_set_timeout(t, 120);
  tcase_add_checked_fixture(t, setup, teardown);
  tcase_add_test(t, config_env);
  tcase_add_test(t, issuer_happy_path);
  tcase_add_test(t, issuer_every_oauth_error);
  tcase_add_test(t, issuer_secrets_unavailable_and_stale);
  tcase_add_test(t, issuer_rotation_window);
  tcase_add_test(t, authorizer_allow_deny_unauthorized);
  tcase_add_test(t, authorizer_key_rotation_picked_up);
  tcase_add_test(t, authorizer_keys_unavailable);
  tcase_add_test(t, authorizer_refuses_tokens_longer_lived_than_issued);
  tcase_add_test(t, processor_valid_invalid_deadletter);
  tcase_add_test(t, processor_records_are_table_rows);
  tcase_add_test(t, processor_clock_skew_columns);
  tcase_add_test(t, processor_event_without_row_dead_lettered);
  tcase_add_test(t, processor_chunks_of_500);
  tcase_add_test(t, processor_chunks_of_4mib);
  tcase_add_test(t, processor_partial_failures_resent);
  tcase_add_test(t, processor_firehose_keeps_failing);
  tcase_add_test(t, processor_deadline);
  tcase_add_test(t, rotation_signing_key);
  tcase_add_test(t, rotation_clients);
  suite_add_tcase(s, t);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
