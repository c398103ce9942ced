/* Suite: the AWS JSON 1.1 client (src/aws) against the mock endpoint
 * (tests/mock_aws.c), which verifies every SigV4 signature independently. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <pthread.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>
#include "aws/aws.h"
#include "mock_aws.h"

static mock_aws_t *M;
static evp__aws_env_t *ENV;
static evp__aws_client_t *SM, *FH;

#define V1 "11111111-1111-4111-8111-111111111111"
#define V2 "22222222-2222-4222-8222-222222222222"
#define V3 "33333333-3333-4333-8333-333333333333"

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static evp__aws_env_t *env_for(mock_aws_t *m, const char *extra1, const char *extra2) {
  size_t n;
  const char *const *e = mock_aws_env(m, &n);
  const char *v[16];
  size_t k = 0;
  if (extra1) v[k++] = extra1; /* first occurrence wins: extras override */
  if (extra2) v[k++] = extra2;
  for (size_t i = 0; i < n && k < 16; i++) v[k++] = e[i];
  evp__aws_env_t *env = NULL;
  char err[256];
  evp_err_t rc = evp__aws_env_from_list(v, k, &env, err, sizeof err);
  ck_assert_msg(rc == EVP_OK, "env: %s", err);
  return env;
}

static void shrink(evp__aws_client_t *c) {
  evp__aws_client_set_backoff(c, 2, 10); /* never sleep seconds in tests */
}

static void setup(void) {
  M = mock_aws_start(NULL);
  ck_assert_ptr_nonnull(M);
  ENV = env_for(M, NULL, NULL);
  char err[256];
  ck_assert_int_eq(evp__aws_client_new(ENV, "secretsmanager", "SECRETS_MANAGER", "secretsmanager",
                                       &SM, err, sizeof err),
                   EVP_OK);
  ck_assert_int_eq(
      evp__aws_client_new(ENV, "firehose", "FIREHOSE", "Firehose_20150804", &FH, err, sizeof err),
      EVP_OK);
  shrink(SM);
  shrink(FH);
  ck_assert_int_eq(mock_aws_secret_create(M, "evpipe/signing", "key-one", 7, V1), 0);
  ck_assert_int_eq(mock_aws_stream_create(M, "events"), 0);
}

static void teardown(void) {
  evp__aws_client_free(SM);
  evp__aws_client_free(FH);
  evp__aws_env_free(ENV);
  mock_aws_stop(M);
  SM = FH = NULL;
  ENV = NULL;
  M = NULL;
}

/* ------------------------------------------------------------ environment */

START_TEST(env_missing_credentials_or_region) {
  const char *no_key[] = {"AWS_REGION=us-east-1", "AWS_SECRET_ACCESS_KEY=s"};
  const char *no_secret[] = {"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=AKID"};
  const char *no_region[] = {"AWS_ACCESS_KEY_ID=AKID", "AWS_SECRET_ACCESS_KEY=s", "HOME=/"};
  const char *bad_region[] = {"AWS_ACCESS_KEY_ID=AKID", "AWS_SECRET_ACCESS_KEY=s",
                              "AWS_REGION=us east"};
  evp__aws_env_t *e = (evp__aws_env_t *)1;
  char err[256];
  ck_assert_int_eq(evp__aws_env_from_list(no_key, 2, &e, err, sizeof err), EVP_ERR_CONF_INVALID);
  ck_assert_ptr_null(e);
  ck_assert_ptr_nonnull(strstr(err, "AWS_ACCESS_KEY_ID"));
  ck_assert_int_eq(evp__aws_env_from_list(no_secret, 2, &e, err, sizeof err), EVP_ERR_CONF_INVALID);
  ck_assert_ptr_nonnull(strstr(err, "AWS_SECRET_ACCESS_KEY"));
  ck_assert_int_eq(evp__aws_env_from_list(no_region, 3, &e, err, sizeof err), EVP_ERR_CONF_INVALID);
  ck_assert_ptr_nonnull(strstr(err, "AWS_REGION"));
  ck_assert_int_eq(evp__aws_env_from_list(bad_region, 3, &e, err, sizeof err),
                   EVP_ERR_CONF_INVALID);
  const char *dflt[] = {"AWS_ACCESS_KEY_ID=AKID", "AWS_SECRET_ACCESS_KEY=s",
                        "AWS_DEFAULT_REGION=eu-west-3"};
  ck_assert_int_eq(evp__aws_env_from_list(dflt, 3, &e, err, sizeof err), EVP_OK);
  ck_assert_str_eq(evp__aws_env_region(e), "eu-west-3");
  ck_assert_int_eq(evp__aws_env_has_session_token(e), 0);
  evp__aws_env_free(e);
  const char *both[] = {"AWS_DEFAULT_REGION=eu-west-3", "AWS_ACCESS_KEY_ID=AKID",
                        "AWS_SECRET_ACCESS_KEY=s", "AWS_REGION=ap-south-1",
                        "AWS_SESSION_TOKEN=tok"};
  ck_assert_int_eq(evp__aws_env_from_list(both, 5, &e, err, sizeof err), EVP_OK);
  ck_assert_str_eq(evp__aws_env_region(e), "ap-south-1");
  ck_assert_int_eq(evp__aws_env_has_session_token(e), 1);
  evp__aws_env_free(e);
  const char *crlf[] = {"AWS_ACCESS_KEY_ID=AKID", "AWS_SECRET_ACCESS_KEY=s", "AWS_REGION=us-east-1",
                        "AWS_SESSION_TOKEN=a\r\nX-Evil: 1"};
  ck_assert_int_eq(evp__aws_env_from_list(crlf, 4, &e, err, sizeof err), EVP_ERR_CONF_INVALID);
  char big[9000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  memcpy(big, "AWS_SESSION_TOKEN=", 18);
  const char *longtok[] = {"AWS_ACCESS_KEY_ID=AKID", "AWS_SECRET_ACCESS_KEY=s",
                           "AWS_REGION=us-east-1", big};
  ck_assert_int_eq(evp__aws_env_from_list(longtok, 4, &e, err, sizeof err), EVP_ERR_CONF_INVALID);
}
END_TEST

START_TEST(env_endpoint_precedence) {
  const char *base[] = {"AWS_ACCESS_KEY_ID=AKID",
                        "AWS_SECRET_ACCESS_KEY=s",
                        "AWS_REGION=eu-west-1",
                        "AWS_ENDPOINT_URL=http://127.0.0.1:4566",
                        "AWS_ENDPOINT_URL_FIREHOSE=https://fh.example.test",
                        "AWS_ENDPOINT_URL_SECRETS_MANAGER=http://localhost:9000/"};
  evp__aws_env_t *e;
  char err[256], url[256];
  ck_assert_int_eq(evp__aws_env_from_list(base, 6, &e, err, sizeof err), EVP_OK);
  ck_assert_int_eq(
      evp__aws_endpoint_resolve(e, "firehose", "FIREHOSE", url, sizeof url, err, sizeof err),
      EVP_OK);
  ck_assert_str_eq(url, "https://fh.example.test");
  ck_assert_int_eq(evp__aws_endpoint_resolve(e, "secretsmanager", "SECRETS_MANAGER", url,
                                             sizeof url, err, sizeof err),
                   EVP_OK);
  ck_assert_str_eq(url, "http://localhost:9000/");
  ck_assert_int_eq(evp__aws_endpoint_resolve(e, "sqs", "SQS", url, sizeof url, err, sizeof err),
                   EVP_OK);
  ck_assert_str_eq(url, "http://127.0.0.1:4566");
  evp__aws_env_free(e);
  /* no override: the regional endpoint */
  ck_assert_int_eq(evp__aws_env_from_list(base, 3, &e, err, sizeof err), EVP_OK);
  ck_assert_int_eq(
      evp__aws_endpoint_resolve(e, "firehose", "FIREHOSE", url, sizeof url, err, sizeof err),
      EVP_OK);
  ck_assert_str_eq(url, "https://firehose.eu-west-1.amazonaws.com");
  evp__aws_env_free(e);
  /* AWS_IGNORE_CONFIGURED_ENDPOINT_URLS */
  const char *ign[] = {"AWS_ACCESS_KEY_ID=AKID", "AWS_SECRET_ACCESS_KEY=s", "AWS_REGION=eu-west-1",
                       "AWS_ENDPOINT_URL=http://127.0.0.1:4566",
                       "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true"};
  ck_assert_int_eq(evp__aws_env_from_list(ign, 5, &e, err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp__aws_endpoint_resolve(e, "secretsmanager", "SECRETS_MANAGER", url,
                                             sizeof url, err, sizeof err),
                   EVP_OK);
  ck_assert_str_eq(url, "https://secretsmanager.eu-west-1.amazonaws.com");
  evp__aws_env_free(e);
  /* cleartext only to loopback; no other schemes, no user info */
  const char *bad[] = {"http://example.com",      "ftp://127.0.0.1/",
                       "https://u:p@example.com", "http://127.0.0.1.example.com",
                       "https://x.test/?a=b",     "not a url"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char kv[128];
    snprintf(kv, sizeof kv, "AWS_ENDPOINT_URL=%s", bad[i]);
    const char *l[] = {"AWS_ACCESS_KEY_ID=AKID", "AWS_SECRET_ACCESS_KEY=s", "AWS_REGION=eu-west-1",
                       kv};
    ck_assert_int_eq(evp__aws_env_from_list(l, 4, &e, err, sizeof err), EVP_OK);
    evp__aws_client_t *c = (evp__aws_client_t *)1;
    ck_assert_msg(evp__aws_client_new(e, "firehose", "FIREHOSE", "Firehose_20150804", &c, err,
                                      sizeof err) == EVP_ERR_CONF_INVALID,
                  "%s accepted", bad[i]);
    ck_assert_ptr_null(c);
    evp__aws_env_free(e);
  }
  const char *v6[] = {"AWS_ACCESS_KEY_ID=AKID", "AWS_SECRET_ACCESS_KEY=s", "AWS_REGION=eu-west-1",
                      "AWS_ENDPOINT_URL=http://[::1]:8080"};
  ck_assert_int_eq(evp__aws_env_from_list(v6, 4, &e, err, sizeof err), EVP_OK);
  evp__aws_client_t *c = NULL;
  ck_assert_int_eq(
      evp__aws_client_new(e, "firehose", "FIREHOSE", "Firehose_20150804", &c, err, sizeof err),
      EVP_OK);
  ck_assert_str_eq(evp__aws_client_endpoint(c), "http://[::1]:8080");
  evp__aws_client_free(c);
  evp__aws_env_free(e);
}
END_TEST

START_TEST(retry_classification) {
  ck_assert_int_eq(evp__aws_retry_class(400, "ThrottlingException", 0), 2);
  ck_assert_int_eq(evp__aws_retry_class(400, "ProvisionedThroughputExceededException", 0), 2);
  ck_assert_int_eq(evp__aws_retry_class(400, "RequestLimitExceeded", 0), 2);
  ck_assert_int_eq(evp__aws_retry_class(429, "TooManyRequestsException", 0), 2);
  ck_assert_int_eq(evp__aws_retry_class(503, "ServiceUnavailableException", 0), 1);
  ck_assert_int_eq(evp__aws_retry_class(500, "", 0), 1);
  ck_assert_int_eq(evp__aws_retry_class(502, "", 0), 1);
  ck_assert_int_eq(evp__aws_retry_class(504, "", 0), 1);
  ck_assert_int_eq(evp__aws_retry_class(501, "", 0), 0);
  ck_assert_int_eq(evp__aws_retry_class(400, "ResourceNotFoundException", 0), 0);
  ck_assert_int_eq(evp__aws_retry_class(403, "InvalidSignatureException", 0), 0);
  ck_assert_int_eq(evp__aws_retry_class(0, NULL, 7 /* CURLE_COULDNT_CONNECT */), 1);
  ck_assert_int_eq(evp__aws_retry_class(0, NULL, 52 /* CURLE_GOT_NOTHING */), 1);
  ck_assert_int_eq(evp__aws_retry_class(0, NULL, 28 /* CURLE_OPERATION_TIMEDOUT */), 3);
  ck_assert_int_eq(evp__aws_retry_class(0, NULL, 60 /* CURLE_PEER_FAILED_VERIFICATION */), 0);
}
END_TEST

/* ------------------------------------------------------------ signing */

START_TEST(mock_verifier_matches_aws_test_vector) {
  /* aws-sig-v4-test-suite "get-vanilla": the mock's verifier is only worth
   * something if it computes what AWS computes. */
  const char *canon = "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                      "host;x-amz-date\n"
                      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  char sig[65];
  mock_aws_sigv4("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830T123600Z", "us-east-1",
                 "service", canon, strlen(canon), sig);
  ck_assert_str_eq(sig, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}
END_TEST

START_TEST(signed_request_accepted_with_session_token) {
  evp__aws_secret_t s;
  evp__aws_result_t r;
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", "AWSCURRENT", NULL, &s, &r), EVP_OK);
  ck_assert_uint_eq(s.value_len, 7);
  ck_assert_mem_eq(s.value, "key-one", 7);
  ck_assert_str_eq(s.version_id, V1);
  ck_assert_uint_eq(r.attempts, 1);
  ck_assert_int_eq(r.http_status, 200);
  ck_assert_str_eq(r.err_type, "");
  ck_assert_uint_gt(strlen(r.request_id), 0);
  evp__aws_secret_clear(&s);
  char sh[512];
  mock_aws_last_signed_headers(M, sh, sizeof sh);
  ck_assert_msg(strstr(sh, "host") && strstr(sh, "x-amz-date") &&
                    strstr(sh, "x-amz-security-token") && strstr(sh, "x-amz-target") &&
                    strstr(sh, "content-type"),
                "signed headers: %s", sh);
  mock_aws_stats_t st;
  mock_aws_stats(M, NULL, &st);
  ck_assert_uint_eq(st.requests, 1);
  ck_assert_uint_eq(st.ok, 1);
  ck_assert_uint_eq(st.auth_rejected, 0);
}
END_TEST

START_TEST(wrong_secret_key_rejected_not_retried) {
  evp__aws_env_t *bad = env_for(M, "AWS_SECRET_ACCESS_KEY=not-the-right-secret", NULL);
  evp__aws_client_t *c;
  char err[256];
  ck_assert_int_eq(evp__aws_client_new(bad, "secretsmanager", "SECRETS_MANAGER", "secretsmanager",
                                       &c, err, sizeof err),
                   EVP_OK);
  shrink(c);
  evp__aws_secret_t s;
  evp__aws_result_t r;
  ck_assert_int_eq(evp__sm_get_secret(c, "evpipe/signing", NULL, NULL, &s, &r), EVP_ERR_HTTP);
  ck_assert_int_eq(r.http_status, 403);
  ck_assert_str_eq(r.err_type, "InvalidSignatureException");
  ck_assert_uint_eq(r.attempts, 1);
  ck_assert_ptr_null(s.value);
  char why[512];
  mock_aws_last_rejection(M, why, sizeof why);
  ck_assert_ptr_nonnull(strstr(why, "signature mismatch"));
  mock_aws_stats_t st;
  mock_aws_stats(M, "GetSecretValue", &st);
  ck_assert_uint_eq(st.auth_rejected, 1);
  evp__aws_client_free(c);
  evp__aws_env_free(bad);
}
END_TEST

START_TEST(wrong_or_missing_token_and_key_rejected) {
  evp__aws_env_t *e1 = env_for(M, "AWS_SESSION_TOKEN=some-other-token", NULL);
  evp__aws_env_t *e2 = env_for(M, "AWS_ACCESS_KEY_ID=AKIAUNKNOWN000000000", NULL);
  evp__aws_env_t *envs[] = {e1, e2};
  for (int i = 0; i < 2; i++) {
    evp__aws_client_t *c;
    char err[256];
    ck_assert_int_eq(evp__aws_client_new(envs[i], "firehose", "FIREHOSE", "Firehose_20150804", &c,
                                         err, sizeof err),
                     EVP_OK);
    const char *rec = "x";
    size_t len = 1, nf;
    unsigned char failed[1];
    evp__aws_result_t r;
    ck_assert_int_eq(evp__fh_put_record_batch(c, "events", &rec, &len, 1, failed, &nf, &r),
                     EVP_ERR_HTTP);
    ck_assert_int_eq(r.http_status, 403);
    ck_assert_str_eq(r.err_type, "UnrecognizedClientException");
    ck_assert_uint_eq(r.attempts, 1);
    ck_assert_uint_eq(nf, 1);
    evp__aws_client_free(c);
    evp__aws_env_free(envs[i]);
  }
  /* a token the mock does not expect is refused too */
  mock_aws_conf_t conf = {NULL, NULL, NULL, NULL, 0, NULL, NULL};
  mock_aws_t *m2 = mock_aws_start(&conf);
  ck_assert_ptr_nonnull(m2);
  ck_assert_int_eq(mock_aws_stream_create(m2, "events"), 0);
  char kv[128];
  snprintf(kv, sizeof kv, "AWS_ENDPOINT_URL=%s", mock_aws_url(m2));
  evp__aws_env_t *e3 = env_for(M, kv, NULL); /* M's env carries a token */
  evp__aws_client_t *c;
  char err[256];
  ck_assert_int_eq(
      evp__aws_client_new(e3, "firehose", "FIREHOSE", "Firehose_20150804", &c, err, sizeof err),
      EVP_OK);
  const char *rec = "x";
  size_t len = 1, nf;
  unsigned char failed[1];
  evp__aws_result_t r;
  ck_assert_int_eq(evp__fh_put_record_batch(c, "events", &rec, &len, 1, failed, &nf, &r),
                   EVP_ERR_HTTP);
  ck_assert_str_eq(r.err_type, "UnrecognizedClientException");
  evp__aws_client_free(c);
  evp__aws_env_free(e3);
  /* and without a token, signing without one works */
  size_t n;
  const char *const *ev = mock_aws_env(m2, &n);
  evp__aws_env_t *e4;
  ck_assert_int_eq(evp__aws_env_from_list(ev, n, &e4, err, sizeof err), EVP_OK);
  ck_assert_int_eq(evp__aws_env_has_session_token(e4), 0);
  ck_assert_int_eq(
      evp__aws_client_new(e4, "firehose", "FIREHOSE", "Firehose_20150804", &c, err, sizeof err),
      EVP_OK);
  ck_assert_int_eq(evp__fh_put_record_batch(c, "events", &rec, &len, 1, failed, &nf, &r), EVP_OK);
  ck_assert_uint_eq(mock_aws_stream_count(m2, "events"), 1);
  evp__aws_client_free(c);
  evp__aws_env_free(e4);
  mock_aws_stop(m2);
}
END_TEST

START_TEST(wrong_region_or_service_scope_rejected) {
  evp__aws_env_t *e = env_for(M, "AWS_REGION=eu-west-1", NULL);
  evp__aws_client_t *c;
  char err[256];
  ck_assert_int_eq(evp__aws_client_new(e, "secretsmanager", "SECRETS_MANAGER", "secretsmanager", &c,
                                       err, sizeof err),
                   EVP_OK);
  evp__aws_secret_t s;
  evp__aws_result_t r;
  ck_assert_int_eq(evp__sm_get_secret(c, "evpipe/signing", NULL, NULL, &s, &r), EVP_ERR_HTTP);
  ck_assert_str_eq(r.err_type, "InvalidSignatureException");
  ck_assert_ptr_nonnull(strstr(r.err_msg, "region"));
  evp__aws_client_free(c);
  /* signing name "firehose" for a secretsmanager target */
  ck_assert_int_eq(evp__aws_client_new(ENV, "firehose", "SECRETS_MANAGER", "secretsmanager", &c,
                                       err, sizeof err),
                   EVP_OK);
  ck_assert_int_eq(evp__sm_get_secret(c, "evpipe/signing", NULL, NULL, &s, &r), EVP_ERR_HTTP);
  ck_assert_str_eq(r.err_type, "InvalidSignatureException");
  evp__aws_client_free(c);
  evp__aws_env_free(e);
}
END_TEST

/* ------------------------------------------------------------ Secrets Manager */

START_TEST(sm_get_by_stage_and_version) {
  ck_assert_int_eq(mock_aws_secret_put_version(M, "evpipe/signing", V2, "key-two", 7, "AWSPENDING"),
                   0);
  evp__aws_secret_t s;
  evp__aws_result_t r;
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", "AWSPENDING", NULL, &s, &r), EVP_OK);
  ck_assert_str_eq(s.version_id, V2);
  ck_assert_mem_eq(s.value, "key-two", 7);
  evp__aws_secret_clear(&s);
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, V1, &s, &r), EVP_OK);
  ck_assert_mem_eq(s.value, "key-one", 7);
  evp__aws_secret_clear(&s);
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", "AWSPREVIOUS", NULL, &s, &r),
                   EVP_ERR_HTTP);
  ck_assert_str_eq(r.err_type, "ResourceNotFoundException");
  ck_assert_uint_eq(r.attempts, 1);
  ck_assert_ptr_null(s.value);
  ck_assert_int_eq(evp__sm_get_secret(SM, "no/such/secret", NULL, NULL, &s, &r), EVP_ERR_HTTP);
  ck_assert_str_eq(r.err_type, "ResourceNotFoundException");
  ck_assert_uint_gt(strlen(r.err_msg), 0);
  /* version and stage that disagree */
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", "AWSCURRENT", V2, &s, &r),
                   EVP_ERR_HTTP);
  /* bad arguments never reach the wire */
  ck_assert_int_eq(evp__sm_get_secret(SM, "", NULL, NULL, &s, &r), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__sm_get_secret(SM, "a\nb", NULL, NULL, &s, &r), EVP_ERR_INVALID_ARG);
}
END_TEST

START_TEST(sm_binary_secret) {
  const unsigned char bin[] = {0, 1, 2, 0xff, 0xfe, 0x80, 'a', 0};
  ck_assert_int_eq(
      evp__sm_put_secret(SM, "evpipe/signing", V2, bin, sizeof bin, "AWSPENDING", NULL), EVP_OK);
  size_t len = 0;
  unsigned char *v = mock_aws_secret_value(M, "evpipe/signing", NULL, V2, &len);
  ck_assert_ptr_nonnull(v);
  ck_assert_uint_eq(len, sizeof bin);
  ck_assert_mem_eq(v, bin, sizeof bin);
  free(v);
  evp__aws_secret_t s;
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", "AWSPENDING", NULL, &s, NULL), EVP_OK);
  ck_assert_uint_eq(s.value_len, sizeof bin);
  ck_assert_mem_eq(s.value, bin, sizeof bin);
  evp__aws_secret_clear(&s);
  ck_assert_ptr_null(s.value);
}
END_TEST

START_TEST(sm_put_pending_idempotent_and_conflict) {
  evp__aws_result_t r;
  const char *val = "new \"key\" \\ with\tescapes \xc3\xa9";
  ck_assert_int_eq(evp__sm_put_secret(SM, "evpipe/signing", V2, val, strlen(val), "AWSPENDING", &r),
                   EVP_OK);
  ck_assert_uint_eq(mock_aws_secret_versions(M, "evpipe/signing"), 2);
  char vid[72];
  ck_assert_int_eq(mock_aws_secret_stage(M, "evpipe/signing", "AWSPENDING", vid), 0);
  ck_assert_str_eq(vid, V2);
  ck_assert_int_eq(mock_aws_secret_stage(M, "evpipe/signing", "AWSCURRENT", vid), 0);
  ck_assert_str_eq(vid, V1); /* AWSPENDING only: AWSCURRENT untouched */
  size_t len;
  unsigned char *v = mock_aws_secret_value(M, "evpipe/signing", "AWSPENDING", NULL, &len);
  ck_assert_uint_eq(len, strlen(val));
  ck_assert_mem_eq(v, val, len);
  free(v);
  /* a retry with the same token and value is a no-op */
  ck_assert_int_eq(evp__sm_put_secret(SM, "evpipe/signing", V2, val, strlen(val), "AWSPENDING", &r),
                   EVP_OK);
  ck_assert_uint_eq(mock_aws_secret_versions(M, "evpipe/signing"), 2);
  /* another value under the same token: ResourceExistsException */
  ck_assert_int_eq(evp__sm_put_secret(SM, "evpipe/signing", V2, "other", 5, "AWSPENDING", &r),
                   EVP_ERR_HTTP);
  ck_assert_str_eq(r.err_type, "ResourceExistsException");
  ck_assert_uint_eq(r.attempts, 1);
  /* limits and arguments checked before sending */
  mock_aws_stats_t before, after;
  mock_aws_stats(M, NULL, &before);
  ck_assert_int_eq(evp__sm_put_secret(SM, "evpipe/signing", "short", "x", 1, NULL, &r),
                   EVP_ERR_INVALID_ARG);
  char *big = calloc(1, 65537);
  memset(big, 'a', 65537);
  ck_assert_int_eq(evp__sm_put_secret(SM, "evpipe/signing", V3, big, 65537, NULL, &r),
                   EVP_ERR_TOO_LARGE);
  free(big);
  mock_aws_stats(M, NULL, &after);
  ck_assert_uint_eq(before.requests, after.requests);
  /* NULL version id: a generated token, default stage AWSCURRENT */
  ck_assert_int_eq(evp__sm_put_secret(SM, "evpipe/signing", NULL, "k3", 2, NULL, &r), EVP_OK);
  ck_assert_int_eq(mock_aws_secret_stage(M, "evpipe/signing", "AWSPREVIOUS", vid), 0);
  ck_assert_str_eq(vid, V1);
}
END_TEST

START_TEST(sm_rotation_stage_moves) {
  /* createSecret */
  ck_assert_int_eq(evp__sm_put_secret(SM, "evpipe/signing", V2, "key-two", 7, "AWSPENDING", NULL),
                   EVP_OK);
  evp__aws_result_t r;
  /* finishSecret without RemoveFromVersionId: refused, AWSCURRENT is on V1 */
  ck_assert_int_eq(evp__sm_update_stage(SM, "evpipe/signing", "AWSCURRENT", V2, NULL, &r),
                   EVP_ERR_HTTP);
  ck_assert_str_eq(r.err_type, "InvalidParameterException");
  /* wrong RemoveFromVersionId */
  ck_assert_int_eq(evp__sm_update_stage(SM, "evpipe/signing", "AWSCURRENT", V2, V2, &r),
                   EVP_ERR_HTTP);
  ck_assert_str_eq(r.err_type, "InvalidParameterException");
  /* unknown target version */
  ck_assert_int_eq(evp__sm_update_stage(SM, "evpipe/signing", "AWSCURRENT", V3, V1, &r),
                   EVP_ERR_HTTP);
  ck_assert_str_eq(r.err_type, "ResourceNotFoundException");
  /* the real move: AWSCURRENT V1 -> V2, AWSPREVIOUS follows to V1 */
  ck_assert_int_eq(evp__sm_update_stage(SM, "evpipe/signing", "AWSCURRENT", V2, V1, &r), EVP_OK);
  char st[128];
  ck_assert_int_eq(mock_aws_secret_version_stages(M, "evpipe/signing", V2, st, sizeof st), 0);
  ck_assert_str_eq(st, "AWSCURRENT,AWSPENDING");
  ck_assert_int_eq(mock_aws_secret_version_stages(M, "evpipe/signing", V1, st, sizeof st), 0);
  ck_assert_str_eq(st, "AWSPREVIOUS");
  /* idempotent retry of the same move: a no-op (label already there) */
  ck_assert_int_eq(evp__sm_update_stage(SM, "evpipe/signing", "AWSCURRENT", V2, NULL, &r), EVP_OK);
  /* remove AWSPENDING */
  ck_assert_int_eq(evp__sm_update_stage(SM, "evpipe/signing", "AWSPENDING", NULL, V2, &r), EVP_OK);
  ck_assert_int_eq(mock_aws_secret_version_stages(M, "evpipe/signing", V2, st, sizeof st), 0);
  ck_assert_str_eq(st, "AWSCURRENT");
  /* AWSCURRENT can only be moved */
  ck_assert_int_eq(evp__sm_update_stage(SM, "evpipe/signing", "AWSCURRENT", NULL, V2, &r),
                   EVP_ERR_HTTP);
  ck_assert_int_eq(evp__sm_update_stage(SM, "evpipe/signing", "AWSCURRENT", NULL, NULL, &r),
                   EVP_ERR_INVALID_ARG);
  /* second rotation: V3 current, V2 previous, V1 deprecated (no labels) */
  ck_assert_int_eq(evp__sm_put_secret(SM, "evpipe/signing", V3, "key-three", 9, "AWSPENDING", NULL),
                   EVP_OK);
  ck_assert_int_eq(evp__sm_update_stage(SM, "evpipe/signing", "AWSCURRENT", V3, V2, &r), EVP_OK);
  ck_assert_int_eq(mock_aws_secret_version_stages(M, "evpipe/signing", V1, st, sizeof st), 0);
  ck_assert_str_eq(st, "");
  /* DescribeSecret lists only labelled versions */
  mock_aws_secret_set_rotation(M, "evpipe/signing", 1,
                               "arn:aws:lambda:us-east-1:123456789012:function:rot", 30);
  char *json = NULL;
  ck_assert_int_eq(evp__sm_describe(SM, "evpipe/signing", &json, &r), EVP_OK);
  cJSON *j = cJSON_Parse(json);
  ck_assert_ptr_nonnull(j);
  ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "RotationEnabled")));
  cJSON *map = cJSON_GetObjectItem(j, "VersionIdsToStages");
  ck_assert_int_eq(cJSON_GetArraySize(map), 2);
  ck_assert_ptr_null(cJSON_GetObjectItem(map, V1));
  cJSON *s3 = cJSON_GetObjectItem(map, V3);
  ck_assert_int_eq(cJSON_GetArraySize(s3), 2); /* AWSCURRENT + AWSPENDING */
  ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(map, V2)), 1);
  ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(map, V2), 0)->valuestring, "AWSPREVIOUS");
  cJSON_Delete(j);
  free(json);
  ck_assert_int_eq(evp__sm_describe(SM, "nope", &json, &r), EVP_ERR_HTTP);
  ck_assert_ptr_null(json);
}
END_TEST

START_TEST(sm_put_current_moves_previous) {
  evp__aws_result_t r;
  ck_assert_int_eq(evp__sm_put_secret(SM, "evpipe/signing", V2, "v2", 2, "AWSCURRENT", &r), EVP_OK);
  char vid[72];
  ck_assert_int_eq(mock_aws_secret_stage(M, "evpipe/signing", "AWSCURRENT", vid), 0);
  ck_assert_str_eq(vid, V2);
  ck_assert_int_eq(mock_aws_secret_stage(M, "evpipe/signing", "AWSPREVIOUS", vid), 0);
  ck_assert_str_eq(vid, V1);
}
END_TEST

/* ------------------------------------------------------------ Firehose */

START_TEST(fh_records_delivered_decoded) {
  const char *recs[3] = {"{\"a\":1}\n", "", "bin\x01\x02\xff\n"};
  size_t lens[3] = {8, 0, 7};
  unsigned char failed[3];
  size_t nf = 99;
  evp__aws_result_t r;
  ck_assert_int_eq(evp__fh_put_record_batch(FH, "events", recs, lens, 3, failed, &nf, &r), EVP_OK);
  ck_assert_uint_eq(nf, 0);
  ck_assert_int_eq(failed[0] | failed[1] | failed[2], 0);
  ck_assert_uint_eq(mock_aws_stream_count(M, "events"), 3);
  for (size_t i = 0; i < 3; i++) {
    size_t l;
    char *d = mock_aws_stream_record(M, "events", i, &l);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(l, lens[i]);
    ck_assert_mem_eq(d, recs[i], l);
    free(d);
  }
  ck_assert_int_eq(evp__fh_put_record_batch(FH, "missing", recs, lens, 3, failed, &nf, &r),
                   EVP_ERR_HTTP);
  ck_assert_str_eq(r.err_type, "ResourceNotFoundException");
  ck_assert_uint_eq(nf, 3);
  ck_assert_int_eq(evp__fh_put_record_batch(FH, "bad name!", recs, lens, 3, failed, &nf, &r),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__fh_put_record_batch(FH, "events", recs, lens, 0, failed, &nf, &r),
                   EVP_ERR_INVALID_ARG);
}
END_TEST

START_TEST(fh_partial_failure_per_record) {
  const char *recs[5] = {"r0", "r1", "r2", "r3", "r4"};
  size_t lens[5] = {2, 2, 2, 2, 2};
  size_t bad[2] = {1, 3};
  mock_aws_fail_records_next(M, bad, 2, "ServiceUnavailableException");
  unsigned char failed[5];
  size_t nf;
  evp__aws_result_t r;
  ck_assert_int_eq(evp__fh_put_record_batch(FH, "events", recs, lens, 5, failed, &nf, &r), EVP_OK);
  ck_assert_uint_eq(nf, 2);
  ck_assert_int_eq(failed[0], 0);
  ck_assert_int_eq(failed[1], 1);
  ck_assert_int_eq(failed[2], 0);
  ck_assert_int_eq(failed[3], 1);
  ck_assert_int_eq(failed[4], 0);
  ck_assert_uint_eq(mock_aws_stream_count(M, "events"), 3);
  /* resend only the failed ones (InternalFailure on the first this time) */
  const char *again[2] = {recs[1], recs[3]};
  size_t alens[2] = {2, 2};
  size_t bad2[1] = {0};
  mock_aws_fail_records_next(M, bad2, 1, "InternalFailure");
  ck_assert_int_eq(evp__fh_put_record_batch(FH, "events", again, alens, 2, failed, &nf, &r),
                   EVP_OK);
  ck_assert_uint_eq(nf, 1);
  ck_assert_int_eq(failed[0], 1);
  ck_assert_int_eq(failed[1], 0);
  ck_assert_int_eq(evp__fh_put_record_batch(FH, "events", again, alens, 1, failed, &nf, &r),
                   EVP_OK);
  ck_assert_uint_eq(nf, 0);
  ck_assert_uint_eq(mock_aws_stream_count(M, "events"), 5);
  char *d = mock_aws_stream_record(M, "events", 3, NULL);
  ck_assert_str_eq(d, "r3");
  free(d);
  d = mock_aws_stream_record(M, "events", 4, NULL);
  ck_assert_str_eq(d, "r1");
  free(d);
}
END_TEST

START_TEST(fh_limits_refused_before_sending) {
  static const char *recs[501];
  static size_t lens[501];
  static unsigned char failed[501];
  for (size_t i = 0; i < 501; i++) recs[i] = "x", lens[i] = 1;
  size_t nf;
  evp__aws_result_t r;
  mock_aws_stats_t before, after;
  mock_aws_stats(M, NULL, &before);
  ck_assert_int_eq(evp__fh_put_record_batch(FH, "events", recs, lens, 501, failed, &nf, &r),
                   EVP_ERR_TOO_LARGE);
  ck_assert_uint_eq(nf, 501);
  /* one record over 1000 KiB */
  char *big = malloc(4u * 1024 * 1024 + 1);
  memset(big, 'b', 4u * 1024 * 1024 + 1);
  const char *one[1] = {big};
  size_t one_len[1] = {1000u * 1024 + 1};
  ck_assert_int_eq(evp__fh_put_record_batch(FH, "events", one, one_len, 1, failed, &nf, &r),
                   EVP_ERR_TOO_LARGE);
  /* 4 MiB + 1 in total, every record within its own limit */
  const char *five[5] = {big, big, big, big, big};
  size_t five_len[5] = {1000u * 1024, 1000u * 1024, 1000u * 1024, 1000u * 1024,
                        4u * 1024 * 1024 + 1 - 4000u * 1024};
  ck_assert_int_eq(evp__fh_put_record_batch(FH, "events", five, five_len, 5, failed, &nf, &r),
                   EVP_ERR_TOO_LARGE);
  mock_aws_stats(M, NULL, &after);
  ck_assert_uint_eq(before.requests, after.requests);
  /* exactly at the limits: accepted (500 records; 4 MiB in 5 records) */
  ck_assert_int_eq(evp__fh_put_record_batch(FH, "events", recs, lens, 500, failed, &nf, &r),
                   EVP_OK);
  ck_assert_uint_eq(nf, 0);
  five_len[4] -= 1;
  ck_assert_int_eq(evp__fh_put_record_batch(FH, "events", five, five_len, 5, failed, &nf, &r),
                   EVP_OK);
  ck_assert_uint_eq(nf, 0);
  ck_assert_uint_eq(mock_aws_stream_count(M, "events"), 505);
  free(big);
}
END_TEST

/* ------------------------------------------------------------ retries */

START_TEST(throttling_retried_then_succeeds) {
  mock_aws_throttle_next(M, "GetSecretValue", 2);
  evp__aws_secret_t s;
  evp__aws_result_t r;
  ck_assert_int_eq(evp__aws_client_retry_quota(SM), 500);
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r), EVP_OK);
  ck_assert_uint_eq(r.attempts, 3);
  ck_assert_str_eq(r.err_type, "");
  evp__aws_secret_clear(&s);
  /* two retries took 10 tokens, the success refunded the last retry's 5 */
  ck_assert_int_eq(evp__aws_client_retry_quota(SM), 495);
  mock_aws_stats_t st;
  mock_aws_stats(M, "GetSecretValue", &st);
  ck_assert_uint_eq(st.requests, 3);
  ck_assert_uint_eq(st.faults, 2);
  ck_assert_uint_eq(st.ok, 1);
  /* 500s too, on Firehose */
  mock_aws_500_next(M, "PutRecordBatch", 1);
  const char *rec = "x";
  size_t len = 1, nf;
  unsigned char failed[1];
  ck_assert_int_eq(evp__fh_put_record_batch(FH, "events", &rec, &len, 1, failed, &nf, &r), EVP_OK);
  ck_assert_uint_eq(r.attempts, 2);
  ck_assert_uint_eq(mock_aws_stream_count(M, "events"), 1);
}
END_TEST

START_TEST(retries_exhausted_after_three_attempts) {
  mock_aws_throttle_next(M, NULL, 5);
  evp__aws_secret_t s;
  evp__aws_result_t r;
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r), EVP_ERR_HTTP);
  ck_assert_uint_eq(r.attempts, 3);
  ck_assert_int_eq(r.http_status, 400);
  ck_assert_str_eq(r.err_type, "ThrottlingException");
  ck_assert_int_eq(evp__aws_client_retry_quota(SM), 490);
  mock_aws_stats_t st;
  mock_aws_stats(M, "GetSecretValue", &st);
  ck_assert_uint_eq(st.requests, 3);
  /* 503 with a non-JSON body: retried by status, no error code */
  mock_aws_clear_faults(M);
  for (int i = 0; i < 3; i++) mock_aws_raw_next(M, NULL, 503, "text/html", "<html>busy</html>", 17);
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r), EVP_ERR_HTTP);
  ck_assert_uint_eq(r.attempts, 3);
  ck_assert_int_eq(r.http_status, 503);
  ck_assert_str_eq(r.err_type, "");
}
END_TEST

START_TEST(retry_quota_limits_retries) {
  evp__aws_client_set_retry_quota(SM, 7); /* one retry's worth */
  mock_aws_throttle_next(M, NULL, 10);
  evp__aws_secret_t s;
  evp__aws_result_t r;
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r), EVP_ERR_HTTP);
  ck_assert_uint_eq(r.attempts, 2);
  ck_assert_int_eq(evp__aws_client_retry_quota(SM), 2);
  /* quota exhausted: fail fast, no retry */
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r), EVP_ERR_HTTP);
  ck_assert_uint_eq(r.attempts, 1);
  mock_aws_clear_faults(M);
  /* successes refill it, one token each */
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r), EVP_OK);
    evp__aws_secret_clear(&s);
  }
  ck_assert_int_eq(evp__aws_client_retry_quota(SM), 5);
  mock_aws_throttle_next(M, NULL, 1);
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r), EVP_OK);
  ck_assert_uint_eq(r.attempts, 2);
  evp__aws_secret_clear(&s);
  ck_assert_int_eq(evp__aws_client_retry_quota(SM), 5); /* taken and refunded */
  /* the quota never exceeds 500 */
  evp__aws_client_set_retry_quota(SM, 10000);
  ck_assert_int_eq(evp__aws_client_retry_quota(SM), 500);
}
END_TEST

START_TEST(non_retryable_errors_not_retried) {
  mock_aws_fail_next(M, NULL, 3, 400, "ValidationException");
  evp__aws_secret_t s;
  evp__aws_result_t r;
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r), EVP_ERR_HTTP);
  ck_assert_uint_eq(r.attempts, 1);
  ck_assert_str_eq(r.err_type, "ValidationException");
  ck_assert_int_eq(evp__aws_client_retry_quota(SM), 500);
}
END_TEST

START_TEST(retry_needs_time_left) {
  /* An answer that leaves less than the least time a retry needs (600 ms
   * here, 50 ms in production; stretched so that a loaded machine cannot
   * eat the margin): no retry, the error is reported. The old rule retried
   * with any time left. */
  evp__aws_client_set_backoff(SM, 0, 0);
  evp__aws_client_set_min_attempt(SM, 600);
  evp__aws_client_set_timeout(SM, 1500);
  mock_aws_delay_fail_next(M, NULL, 1, 1000, 500, "InternalFailure");
  evp__aws_secret_t s;
  evp__aws_result_t r;
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r), EVP_ERR_HTTP);
  ck_assert_uint_eq(r.attempts, 1);
  ck_assert_str_eq(r.err_type, "InternalFailure");
  ck_assert_int_eq(evp__aws_client_retry_quota(SM), 500); /* not charged */
  /* with time left, the same failure is retried */
  evp__aws_client_set_timeout(SM, 4000);
  mock_aws_delay_fail_next(M, NULL, 1, 1000, 500, "InternalFailure");
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r), EVP_OK);
  ck_assert_uint_eq(r.attempts, 2);
  evp__aws_secret_clear(&s);
}
END_TEST

START_TEST(timeout_bounds_the_call) {
  /* a stalled answer: the transfer times out at the call's deadline */
  mock_aws_delay_next(M, NULL, 1, 3000);
  evp__aws_client_set_timeout(SM, 300);
  evp__aws_secret_t s;
  evp__aws_result_t r;
  int64_t t0 = now_ms();
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r), EVP_ERR_TIMED_OUT);
  int64_t el = now_ms() - t0;
  ck_assert_msg(el >= 250 && el < 1500, "took %lld ms", (long long)el);
  /* Nothing after the stalled request: the service saw it alone. (The call
   * may have made an attempt before it that never reached the service, such
   * as a connect refused while a loaded machine ran out of ports.) */
  mock_aws_stats_t st;
  mock_aws_stats(M, "GetSecretValue", &st);
  ck_assert_msg(st.requests == 1, "the service saw %lu requests in %u attempts, last: %s",
                st.requests, r.attempts, r.err_msg);
  /* a backoff that would end past the deadline is not waited for */
  evp__aws_client_set_backoff(SM, 60000, 60000);
  int found = 0;
  for (int i = 0; i < 5 && !found; i++) { /* full jitter: the draw may be tiny */
    mock_aws_throttle_next(M, NULL, 1);
    t0 = now_ms();
    evp_err_t rc = evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r);
    el = now_ms() - t0;
    ck_assert_msg(el < 1500, "took %lld ms", (long long)el);
    if (rc == EVP_ERR_HTTP) {
      ck_assert_uint_eq(r.attempts, 1);
      ck_assert_str_eq(r.err_type, "ThrottlingException");
      found = 1;
    } else {
      evp__aws_secret_clear(&s);
    }
    mock_aws_clear_faults(M);
  }
  ck_assert(found);
  /* call-level timeout argument of evp__aws_call */
  mock_aws_delay_next(M, NULL, 1, 3000);
  char *resp = NULL;
  t0 = now_ms();
  ck_assert_int_eq(evp__aws_call(SM, "DescribeSecret", "{\"SecretId\":\"evpipe/signing\"}", 29, 200,
                                 &resp, NULL, &r),
                   EVP_ERR_TIMED_OUT);
  ck_assert_ptr_null(resp);
  ck_assert_int_lt(now_ms() - t0, 1500);
}
END_TEST

START_TEST(connection_drop_retried) {
  mock_aws_drop_next(M, NULL, 1);
  evp__aws_secret_t s;
  evp__aws_result_t r;
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r), EVP_OK);
  ck_assert_uint_eq(r.attempts, 2);
  evp__aws_secret_clear(&s);
  /* libcurl itself re-sends once when a reused keep-alive connection dies
   * before any answer, so more drops than attempts are queued here */
  mock_aws_drop_next(M, NULL, 10);
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r), EVP_ERR_TRANSPORT);
  ck_assert_uint_eq(r.attempts, 3);
  ck_assert_int_eq(r.http_status, 0);
  ck_assert_uint_gt(strlen(r.err_msg), 0);
  mock_aws_clear_faults(M);
  /* nothing listening (port 1 on loopback): connection refused, retried */
  evp__aws_env_t *e = env_for(M, "AWS_ENDPOINT_URL=http://127.0.0.1:1", NULL);
  evp__aws_client_t *c;
  char err[256];
  ck_assert_int_eq(evp__aws_client_new(e, "secretsmanager", "SECRETS_MANAGER", "secretsmanager", &c,
                                       err, sizeof err),
                   EVP_OK);
  shrink(c);
  ck_assert_int_eq(evp__sm_get_secret(c, "evpipe/signing", NULL, NULL, &s, &r), EVP_ERR_TRANSPORT);
  ck_assert_uint_eq(r.attempts, 3);
  evp__aws_client_free(c);
  evp__aws_env_free(e);
}
END_TEST

START_TEST(bad_answers) {
  evp__aws_secret_t s;
  evp__aws_result_t r;
  /* 200 that is not JSON */
  mock_aws_raw_next(M, NULL, 200, "application/x-amz-json-1.1", "not json", 8);
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r), EVP_ERR_JSON);
  ck_assert_ptr_null(s.value);
  /* 200 JSON without the fields */
  mock_aws_raw_next(M, NULL, 200, "application/x-amz-json-1.1", "{\"VersionId\":\"v\"}", 17);
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r), EVP_ERR_JSON);
  /* Firehose answer with the wrong number of entries: everything failed */
  const char *recs[2] = {"a", "b"};
  size_t lens[2] = {1, 1}, nf;
  unsigned char failed[2];
  const char *one = "{\"FailedPutCount\":0,\"RequestResponses\":[{\"RecordId\":\"1\"}]}";
  mock_aws_raw_next(M, NULL, 200, "application/x-amz-json-1.1", one, strlen(one));
  ck_assert_int_eq(evp__fh_put_record_batch(FH, "events", recs, lens, 2, failed, &nf, &r),
                   EVP_ERR_JSON);
  ck_assert_uint_eq(nf, 2);
  ck_assert_int_eq(failed[0] & failed[1], 1);
  /* error type from the x-amzn-ErrorType header / "__type" with a namespace */
  const char *nsbody = "{\"__type\":\"com.amazonaws.kms#KMSAccessDeniedException:http://"
                       "x\",\"Message\":\"no\\nway\"}";
  mock_aws_raw_next(M, NULL, 400, "application/x-amz-json-1.1", nsbody, strlen(nsbody));
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r), EVP_ERR_HTTP);
  ck_assert_str_eq(r.err_type, "KMSAccessDeniedException");
  ck_assert_str_eq(r.err_msg, "no way");
  /* an oversized answer: refused, not buffered */
  size_t big_len = EVP__AWS_MAX_RESPONSE + 1;
  char *big = malloc(big_len);
  memset(big, ' ', big_len);
  mock_aws_raw_next(M, NULL, 200, "application/x-amz-json-1.1", big, big_len);
  free(big);
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r), EVP_ERR_TOO_LARGE);
  ck_assert_uint_eq(r.attempts, 1);
  /* a smaller limit set by the caller */
  evp__aws_client_set_max_response(SM, 16);
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r), EVP_ERR_TOO_LARGE);
  evp__aws_client_set_max_response(SM, 0);
  ck_assert_int_eq(evp__sm_get_secret(SM, "evpipe/signing", NULL, NULL, &s, &r), EVP_OK);
  evp__aws_secret_clear(&s);
}
END_TEST

START_TEST(raw_call_and_arguments) {
  char *resp = NULL;
  size_t len = 0;
  evp__aws_result_t r;
  ck_assert_int_eq(evp__aws_call(SM, "DescribeSecret", "{\"SecretId\":\"evpipe/signing\"}", 29, 0,
                                 &resp, &len, &r),
                   EVP_OK);
  ck_assert_ptr_nonnull(resp);
  ck_assert_uint_eq(len, strlen(resp));
  ck_assert_ptr_nonnull(strstr(resp, "VersionIdsToStages"));
  free(resp);
  ck_assert_int_eq(evp__aws_call(SM, "Bad.Op", "{}", 2, 0, &resp, &len, &r), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__aws_call(SM, "", "{}", 2, 0, &resp, &len, &r), EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__aws_call(NULL, "DescribeSecret", "{}", 2, 0, &resp, &len, &r),
                   EVP_ERR_INVALID_ARG);
  ck_assert_int_eq(evp__aws_call(SM, "NoSuchOperation", NULL, 0, 0, NULL, NULL, NULL),
                   EVP_ERR_HTTP);
  /* a body that is not JSON is refused by the service, not retried */
  ck_assert_int_eq(evp__aws_call(SM, "DescribeSecret", "{", 1, 0, NULL, NULL, &r), EVP_ERR_HTTP);
  ck_assert_str_eq(r.err_type, "SerializationException");
  ck_assert_uint_eq(r.attempts, 1);
}
END_TEST

/* A raw request to the mock with libcurl, bypassing the client. */
typedef struct {
  char body[4096];
  size_t len;
} sink_t;

static size_t sink(char *p, size_t sz, size_t n, void *ud) {
  sink_t *k = ud;
  size_t l = sz * n, take = l;
  if (k->len + take >= sizeof k->body) take = sizeof k->body - 1 - k->len;
  memcpy(k->body + k->len, p, take);
  k->len += take;
  k->body[k->len] = '\0';
  return l;
}

static long raw_post(const char *const *hdrs, size_t nh, int sign, const char *secret,
                     sink_t *out) {
  CURL *e = curl_easy_init();
  ck_assert_ptr_nonnull(e);
  struct curl_slist *l = NULL;
  for (size_t i = 0; i < nh; i++) l = curl_slist_append(l, hdrs[i]);
  memset(out, 0, sizeof *out);
  curl_easy_setopt(e, CURLOPT_URL, mock_aws_url(M));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, l);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, "{\"SecretId\":\"evpipe/signing\"}");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
  if (sign) {
    curl_easy_setopt(e, CURLOPT_AWS_SIGV4, "aws:amz:" MOCK_AWS_REGION ":secretsmanager");
    curl_easy_setopt(e, CURLOPT_USERNAME, MOCK_AWS_ACCESS_KEY);
    curl_easy_setopt(e, CURLOPT_PASSWORD, secret);
  }
  long status = 0;
  ck_assert_int_eq(curl_easy_perform(e), CURLE_OK);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(l);
  curl_easy_cleanup(e);
  return status;
}

START_TEST(mock_rejects_malformed_stale_and_incomplete_signatures) {
  sink_t k;
  char why[512];
  const char *base[] = {"Content-Type: application/x-amz-json-1.1",
                        "X-Amz-Target: secretsmanager.GetSecretValue",
                        "X-Amz-Security-Token: " MOCK_AWS_SESSION_TOKEN};
  /* signed correctly by libcurl: accepted */
  ck_assert_int_eq(raw_post(base, 3, 1, MOCK_AWS_SECRET_KEY, &k), 200);
  /* no Authorization at all */
  ck_assert_int_eq(raw_post(base, 3, 0, NULL, &k), 403);
  ck_assert_ptr_nonnull(strstr(k.body, "MissingAuthenticationTokenException"));
  /* malformed Authorization */
  const char *bad[] = {base[0], base[1], base[2], "Authorization: AWS4-HMAC-SHA256 Credential=x",
                       "X-Amz-Date: 20200101T000000Z"};
  ck_assert_int_eq(raw_post(bad, 5, 0, NULL, &k), 400);
  ck_assert_ptr_nonnull(strstr(k.body, "IncompleteSignatureException"));
  /* well-formed, but a stale date (checked before the signature) */
  const char *stale[] = {base[0], base[1], base[2],
                         "Authorization: AWS4-HMAC-SHA256 Credential=" MOCK_AWS_ACCESS_KEY
                         "/20200101/us-east-1/secretsmanager/aws4_request, "
                         "SignedHeaders=host;x-amz-date;x-amz-security-token, Signature="
                         "0000000000000000000000000000000000000000000000000000000000000000",
                         "X-Amz-Date: 20200101T000000Z"};
  ck_assert_int_eq(raw_post(stale, 5, 0, NULL, &k), 403);
  ck_assert_ptr_nonnull(strstr(k.body, "Signature expired"));
  /* the session token sent but left out of SignedHeaders */
  char now_date[32], now_auth[512], hdr_date[64];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(now_date, sizeof now_date, "%Y%m%dT%H%M%SZ", &tm);
  snprintf(hdr_date, sizeof hdr_date, "X-Amz-Date: %s", now_date);
  snprintf(now_auth, sizeof now_auth,
           "Authorization: AWS4-HMAC-SHA256 Credential=" MOCK_AWS_ACCESS_KEY
           "/%.8s/us-east-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date, "
           "Signature=0000000000000000000000000000000000000000000000000000000000000000",
           now_date);
  const char *unsigned_tok[] = {base[0], base[1], base[2], now_auth, hdr_date};
  ck_assert_int_eq(raw_post(unsigned_tok, 5, 0, NULL, &k), 403);
  mock_aws_last_rejection(M, why, sizeof why);
  ck_assert_msg(strstr(why, "x-amz-security-token") != NULL, "%s", why);
  /* libcurl 7.88 signs an empty "Expect:" line it does not send: the
   * verifier catches it (why the client never adds one) */
  const char *expect[] = {base[0], base[1], base[2], "Expect:"};
  long st = raw_post(expect, 4, 1, MOCK_AWS_SECRET_KEY, &k);
  mock_aws_last_rejection(M, why, sizeof why);
  if ((curl_version_info(CURLVERSION_NOW)->version_num >> 8) == 0x0758) /* 7.88.x, Debian 12 */
    ck_assert_int_eq(st, 403);
  if (st != 200) /* a later libcurl may stop signing it */
    ck_assert_msg(strstr(why, "'expect'") != NULL, "%s", why);
  mock_aws_stats_t s;
  mock_aws_stats(M, "GetSecretValue", &s);
  ck_assert_uint_ge(s.auth_rejected, 4);
}
END_TEST

/* Several threads, each with its own client, against one mock. */
typedef struct {
  const evp__aws_env_t *env;
  int id, ok;
} worker_t;

static void *worker(void *arg) {
  worker_t *w = arg;
  evp__aws_client_t *c = NULL;
  char err[256];
  if (evp__aws_client_new(w->env, "firehose", "FIREHOSE", "Firehose_20150804", &c, err, sizeof err))
    return NULL;
  evp__aws_client_set_backoff(c, 1, 5);
  for (int i = 0; i < 20; i++) {
    char rec[32];
    snprintf(rec, sizeof rec, "w%d-%d", w->id, i);
    const char *p = rec;
    size_t len = strlen(rec), nf;
    unsigned char failed[1];
    evp__aws_result_t r;
    if (evp__fh_put_record_batch(c, "events", &p, &len, 1, failed, &nf, &r) == EVP_OK && !nf)
      w->ok++;
  }
  evp__aws_client_free(c);
  return NULL;
}

START_TEST(concurrent_clients) {
  enum { N = 4 };
  pthread_t th[N];
  worker_t w[N];
  /* consumed by whoever comes first; 2 < 3 attempts, so every call succeeds */
  mock_aws_throttle_next(M, NULL, 2);
  for (int i = 0; i < N; i++) {
    w[i] = (worker_t){ENV, i, 0};
    ck_assert_int_eq(pthread_create(&th[i], NULL, worker, &w[i]), 0);
  }
  for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
  int ok = 0;
  for (int i = 0; i < N; i++) ok += w[i].ok;
  ck_assert_int_eq(ok, N * 20);
  ck_assert_uint_eq(mock_aws_stream_count(M, "events"), N * 20);
  mock_aws_stats_t s;
  mock_aws_stats(M, "PutRecordBatch", &s);
  ck_assert_uint_eq(s.requests, N * 20 + 2);
  ck_assert_uint_eq(s.faults, 2);
  ck_assert_uint_eq(s.ok, N * 20);
}
END_TEST

/* ------------------------------------------------------------ TLS */

/* A self-signed certificate for 127.0.0.1 (also its own CA) and its key, as
 * PEM (malloc'd), made with OpenSSL: the tests need no files or tools. */
static void make_cert(char **cert_pem, char **key_pem) {
  EVP_PKEY *k = EVP_EC_gen("P-256");
  ck_assert_ptr_nonnull(k);
  X509 *x = X509_new();
  ck_assert_ptr_nonnull(x);
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(now_ms() & 0x7fffffff));
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, k);
  X509_NAME *n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"evpipe test", -1, -1,
                             0);
  X509_set_issuer_name(x, n);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
  static const struct {
    int nid;
    const char *v;
  } ext[] = {{NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
             {NID_basic_constraints, "critical,CA:TRUE"},
             {NID_key_usage, "critical,digitalSignature,keyCertSign"}};
  for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, ext[i].nid, ext[i].v);
    ck_assert_ptr_nonnull(e);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
  }
  ck_assert_int_gt(X509_sign(x, k, EVP_sha256()), 0);
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  char *p;
  long len = BIO_get_mem_data(b, &p);
  *cert_pem = strndup(p, (size_t)len);
  BIO_free(b);
  b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
  len = BIO_get_mem_data(b, &p);
  *key_pem = strndup(p, (size_t)len);
  BIO_free(b);
  X509_free(x);
  EVP_PKEY_free(k);
}

static void write_file(const char *path, const char *s) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(s, f);
  fclose(f);
}

/* The real endpoints are HTTPS: the client verifies the server against the
 * CA bundle it picks (SSL_CERT_FILE first), and a server the bundle does not
 * vouch for gets no request — not retried, not sent. */
START_TEST(https_verified_against_the_ca_bundle) {
  char *cert, *key, *other_cert, *other_key;
  make_cert(&cert, &key);
  make_cert(&other_cert, &other_key);
  char ca[] = "/tmp/evp_aws_caXXXXXX", wrong[] = "/tmp/evp_aws_caXXXXXX";
  int fd1 = mkstemp(ca), fd2 = mkstemp(wrong);
  ck_assert(fd1 >= 0 && fd2 >= 0);
  close(fd1);
  close(fd2);
  write_file(ca, cert);
  write_file(wrong, other_cert);
  mock_aws_conf_t conf = {NULL, NULL, "", NULL, 0, cert, key};
  mock_aws_t *m = mock_aws_start(&conf);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(strncmp(mock_aws_url(m), "https://", 8), 0);
  ck_assert_int_eq(mock_aws_secret_create(m, "tls/secret", "over-tls", 8, V1), 0);
  evp__aws_env_t *env = env_for(m, NULL, NULL);
  const char *saved = getenv("SSL_CERT_FILE");
  char *saved_copy = saved ? strdup(saved) : NULL;
  char err[256];
  evp__aws_result_t r;
  evp__aws_secret_t s;
  /* trusted: the call goes through */
  setenv("SSL_CERT_FILE", ca, 1);
  evp__aws_client_t *c;
  ck_assert_int_eq(evp__aws_client_new(env, "secretsmanager", "SECRETS_MANAGER", "secretsmanager",
                                       &c, err, sizeof err),
                   EVP_OK);
  shrink(c);
  evp_err_t e = evp__sm_get_secret(c, "tls/secret", "AWSCURRENT", NULL, &s, &r);
  ck_assert_msg(e == EVP_OK, "over TLS: %s (%s %s)", evp_err2name(e), r.err_type, r.err_msg);
  ck_assert_uint_eq(s.value_len, 8);
  ck_assert_int_eq(memcmp(s.value, "over-tls", 8), 0);
  evp__aws_secret_clear(&s);
  evp__aws_client_free(c);
  mock_aws_stats_t st;
  mock_aws_stats(m, "GetSecretValue", &st);
  ck_assert_uint_eq(st.requests, 1);
  /* another CA, then the system bundle: verification fails, nothing is sent */
  for (int round = 0; round < 2; round++) {
    if (round == 0)
      setenv("SSL_CERT_FILE", wrong, 1);
    else
      unsetenv("SSL_CERT_FILE");
    ck_assert_int_eq(evp__aws_client_new(env, "secretsmanager", "SECRETS_MANAGER", "secretsmanager",
                                         &c, err, sizeof err),
                     EVP_OK);
    shrink(c);
    e = evp__sm_get_secret(c, "tls/secret", "AWSCURRENT", NULL, &s, &r);
    ck_assert_int_eq(e, EVP_ERR_TRANSPORT);
    /* A verification failure is not retried: the call ends at the first
     * one, short of the 3 attempts a retried error takes. (One transient
     * failure may come before it on a loaded machine, as the TLS handshake
     * under valgrind can.) */
    ck_assert_msg(strstr(r.err_msg, "certificate") != NULL, "round %d: %s", round, r.err_msg);
    ck_assert_msg(r.attempts < EVP__AWS_MAX_ATTEMPTS, "round %d: %u attempts, last: %s", round,
                  r.attempts, r.err_msg);
    ck_assert_ptr_null(s.value);
    evp__aws_client_free(c);
  }
  mock_aws_stats(m, "GetSecretValue", &st);
  ck_assert_uint_eq(st.requests, 1);
  if (saved_copy)
    setenv("SSL_CERT_FILE", saved_copy, 1);
  else
    unsetenv("SSL_CERT_FILE");
  free(saved_copy);
  evp__aws_env_free(env);
  mock_aws_stop(m);
  unlink(ca);
  unlink(wrong);
  free(cert);
  free(key);
  free(other_cert);
  free(other_key);
}
END_TEST

int main(void) {
  Suite *s = suite_create("aws");
  TCase *env = tcase_create("env");
  tcase_add_test(env, env_missing_credentials_or_region);
  tcase_add_test(env, env_endpoint_precedence);
  tcase_add_test(env, retry_classification);
  tcase_add_test(env, mock_verifier_matches_aws_test_vector);
  suite_add_tcase(s, env);
  TCase *tc = tcase_create("wire");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, signed_request_accepted_with_session_token);
  tcase_add_test(tc, wrong_secret_key_rejected_not_retried);
  tcase_add_test(tc, wrong_or_missing_token_and_key_rejected);
  tcase_add_test(tc, wrong_region_or_service_scope_rejected);
  tcase_add_test(tc, sm_get_by_stage_and_version);
  tcase_add_test(tc, sm_binary_secret);
  tcase_add_test(tc, sm_put_pending_idempotent_and_conflict);
  tcase_add_test(tc, sm_rotation_stage_moves);
  tcase_add_test(tc, sm_put_current_moves_previous);
  tcase_add_test(tc, fh_records_delivered_decoded);
  tcase_add_test(tc, fh_partial_failure_per_record);
  tcase_add_test(tc, fh_limits_refused_before_sending);
  tcase_add_test(tc, throttling_retried_then_succeeds);
  tcase_add_test(tc, retries_exhausted_after_three_attempts);
  tcase_add_test(tc, retry_quota_limits_retries);
  tcase_add_test(tc, non_retryable_errors_not_retried);
  tcase_add_test(tc, timeout_bounds_the_call);
  tcase_add_test(tc, retry_needs_time_left);
  tcase_add_test(tc, connection_drop_retried);
  tcase_add_test(tc, bad_answers);
  tcase_add_test(tc, raw_call_and_arguments);
  tcase_add_test(tc, mock_rejects_malformed_stale_and_incomplete_signatures);
  tcase_add_test(tc, concurrent_clients);
  tcase_add_test(tc, https_verified_against_the_ca_bundle);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
