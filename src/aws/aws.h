/* Internal header of the AWS client: a small AWS JSON 1.1 client (Secrets
 * Manager, Firehose) over libcurl, signed with CURLOPT_AWS_SIGV4.
 *
 * Credentials come from the Lambda role's environment (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), the region from AWS_REGION (or
 * AWS_DEFAULT_REGION). The endpoint is https://<service>.<region>.amazonaws.com
 * unless AWS_ENDPOINT_URL_<SERVICE> (e.g. AWS_ENDPOINT_URL_SECRETS_MANAGER,
 * AWS_ENDPOINT_URL_FIREHOSE) or AWS_ENDPOINT_URL says otherwise. Retries
 * follow the AWS SDKs' "standard" mode: at most 3 attempts, exponential
 * backoff with full jitter capped at 20 s, a retry quota (500 tokens; 5 per
 * retry, 10 per timeout), on throttling and transient errors only.
 * Cleartext http:// endpoints are allowed to loopback addresses only. */
#ifndef EVP_AWS_AWS_H
#define EVP_AWS_AWS_H

#include <stddef.h>
#include <stdint.h>
#include "evpipe/error.h"

/* The environment, read once (values copied, the secret key wiped on free). */
typedef struct evp__aws_env evp__aws_env_t;

/* Read credentials, region and endpoint overrides from the environment.
 * EVP_ERR_CONF_INVALID (message in errstr) when credentials or region are
 * missing. */
evp_err_t evp__aws_env_from_environ(evp__aws_env_t **out, char *errstr, size_t errstr_size);
/* The same from an explicit list of "NAME=value" strings (tests, or a caller
 * that assembled its own environment); entries not about AWS are ignored.
 * Besides the variables above: AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true
 * disables the endpoint overrides. Values are bounded (access key <= 128
 * bytes, secret key <= 128, session token <= 8192, region <= 32 of
 * [a-z0-9-], URLs <= 2048); control characters are refused. */
evp_err_t evp__aws_env_from_list(const char *const *vars, size_t n, evp__aws_env_t **out,
                                 char *errstr, size_t errstr_size);
void evp__aws_env_free(evp__aws_env_t *env);
/* The region ("us-east-1"); whether a session token is configured. */
const char *evp__aws_env_region(const evp__aws_env_t *env);
int evp__aws_env_has_session_token(const evp__aws_env_t *env);
/* Resolve the endpoint for @p service / @p env_suffix as evp__aws_client_new
 * does (AWS_ENDPOINT_URL_<suffix>, then AWS_ENDPOINT_URL, then
 * https://<service>.<region>.amazonaws.com) into @p out. EVP_ERR_CONF_INVALID
 * when the URL is not https:// (http:// is accepted for loopback hosts only)
 * or has a query, fragment or user info; EVP_ERR_TOO_LARGE when it does not
 * fit. */
evp_err_t evp__aws_endpoint_resolve(const evp__aws_env_t *env, const char *service,
                                    const char *env_suffix, char *out, size_t out_size,
                                    char *errstr, size_t errstr_size);

/* A client for one service. Keeps one keep-alive CURL handle: one thread. */
typedef struct evp__aws_client evp__aws_client_t;

/* @p service: the signing name and endpoint prefix ("secretsmanager",
 * "firehose"); @p env_suffix: the AWS_ENDPOINT_URL_<suffix> name
 * ("SECRETS_MANAGER", "FIREHOSE"); @p target_prefix: the X-Amz-Target prefix
 * ("secretsmanager", "Firehose_20150804"). @p env is borrowed and must
 * outlive the client. */
evp_err_t evp__aws_client_new(const evp__aws_env_t *env, const char *service,
                              const char *env_suffix, const char *target_prefix,
                              evp__aws_client_t **out, char *errstr, size_t errstr_size);
void evp__aws_client_free(evp__aws_client_t *c);

/* The endpoint URL this client posts to. */
const char *evp__aws_client_endpoint(const evp__aws_client_t *c);

/* Retry policy knobs (defaults are the AWS standard mode). The delay before
 * retry i (1-based) is rand[0,1) * min(base_ms * 2^(i-1), cap_ms): defaults
 * base 1000 ms, cap 20000 ms. Tests shrink them; never 0 in production. */
#define EVP__AWS_MAX_ATTEMPTS 3
/* A retry starts only with at least this long left before the call's
 * deadline, once its backoff is over: an attempt with a few ms cannot finish
 * over a real network, and libcurl's clock need not be ours (it may read
 * CLOCK_MONOTONIC_RAW, which NTP slewing moves apart from CLOCK_MONOTONIC),
 * so an attempt that timed out at "the deadline" by libcurl's clock can end
 * a little before it by ours and leave such a sliver. */
#define EVP__AWS_MIN_ATTEMPT_MS 50
#define EVP__AWS_BACKOFF_BASE_MS 1000
#define EVP__AWS_BACKOFF_CAP_MS 20000
#define EVP__AWS_QUOTA_MAX 500 /* initial and maximum retry tokens */
#define EVP__AWS_QUOTA_RETRY_COST 5
#define EVP__AWS_QUOTA_TIMEOUT_COST 10
#define EVP__AWS_QUOTA_SUCCESS_INC 1 /* a call that succeeded on its first attempt */
void evp__aws_client_set_backoff(evp__aws_client_t *c, int64_t base_ms, int64_t cap_ms);
void evp__aws_client_set_max_attempts(evp__aws_client_t *c, unsigned max_attempts); /* 1..10 */
/* Tests only: the least time left for a retry (EVP__AWS_MIN_ATTEMPT_MS; 0
 * restores it), so a test can leave a margin a loaded machine cannot eat. */
void evp__aws_client_set_min_attempt(evp__aws_client_t *c, int64_t ms);
/* The retry quota (tokens left), and a way to set it (clamped to 0..500). */
int evp__aws_client_retry_quota(const evp__aws_client_t *c);
void evp__aws_client_set_retry_quota(evp__aws_client_t *c, int tokens);
/* The timeout of each Secrets Manager and Firehose call below, retries
 * included (evp__aws_call's timeout_ms; default 10 s, 0 restores it). */
#define EVP__AWS_DEFAULT_TIMEOUT_MS 10000
void evp__aws_client_set_timeout(evp__aws_client_t *c, int64_t timeout_ms);
/* Responses larger than this are refused (EVP_ERR_TOO_LARGE). */
#define EVP__AWS_MAX_RESPONSE (8u * 1024u * 1024u)
void evp__aws_client_set_max_response(evp__aws_client_t *c, size_t max_bytes);

/* The outcome of one call (after retries). */
typedef struct {
  int http_status;     /* last HTTP status, 0 when no response */
  char err_type[128];  /* AWS error code ("ThrottlingException", "ResourceNotFoundException"),
                           from __type (after '#') or x-amzn-ErrorType; "" on success */
  char err_msg[256];   /* the service's message, truncated; "" on success */
  unsigned attempts;   /* how many requests were made */
  char request_id[80]; /* x-amzn-RequestId of the last response, "" if none */
} evp__aws_result_t;

/* Is this outcome retryable in standard mode, and is it throttling?
 * @p curl_code is the transport's CURLcode (0 when a response arrived).
 * Returns 0 (not retryable), 1 (transient), 2 (throttling), 3 (timeout:
 * retryable, costs EVP__AWS_QUOTA_TIMEOUT_COST). */
int evp__aws_retry_class(int http_status, const char *err_type, int curl_code);

/* POST @p body (JSON) with X-Amz-Target: <target_prefix>.<op>, e.g.
 * op "GetSecretValue". On HTTP 200 returns EVP_OK and *resp (malloc'd,
 * NUL-terminated, caller frees; may hold secrets: wipe it) of *resp_len.
 * Otherwise EVP_ERR_HTTP (the service answered an error: see @p res),
 * EVP_ERR_TRANSPORT (no answer), EVP_ERR_TIMED_OUT, EVP_ERR_NOMEM,
 * EVP_ERR_TOO_LARGE (response over the limit, or body_len over 16 MiB),
 * EVP_ERR_INVALID_ARG; *resp NULL.
 * @p timeout_ms bounds the whole call including retries (0 = 10 s): a retry
 * that would start less than EVP__AWS_MIN_ATTEMPT_MS before the deadline,
 * once its backoff is over, is not made (the last error is returned, and
 * the retry quota is not charged), and each attempt's transfer timeout is
 * the time left.
 * @p resp and @p resp_len may be NULL when the answer is not needed; @p res
 * may be NULL. */
evp_err_t evp__aws_call(evp__aws_client_t *c, const char *op, const char *body, size_t body_len,
                        int64_t timeout_ms, char **resp, size_t *resp_len, evp__aws_result_t *res);

/* ------------------------------------------------------------ Secrets Manager */

/* A secret version's value as returned by GetSecretValue. */
typedef struct {
  char version_id[72];
  unsigned char *value; /* SecretString bytes, or SecretBinary decoded; wiped on free */
  size_t value_len;
} evp__aws_secret_t;

void evp__aws_secret_clear(evp__aws_secret_t *s);

/* GetSecretValue for @p secret_id at @p stage ("AWSCURRENT", "AWSPREVIOUS",
 * "AWSPENDING") or, when @p version_id is non-NULL, at that version.
 * EVP_ERR_HTTP with res->err_type "ResourceNotFoundException" when there is
 * no such stage/version. */
evp_err_t evp__sm_get_secret(evp__aws_client_t *c, const char *secret_id, const char *stage,
                             const char *version_id, evp__aws_secret_t *out,
                             evp__aws_result_t *res);

/* PutSecretValue: store @p value as @p version_id (ClientRequestToken, 32 to
 * 64 characters; NULL: a random UUID, as the SDKs do) with the single stage
 * @p stage (NULL: the service's default, AWSCURRENT). The value goes as
 * SecretString when it is UTF-8 without NUL bytes, else as SecretBinary; at
 * most 65536 bytes (EVP_ERR_TOO_LARGE). Retrying with the same version_id and
 * value is a no-op at the service; another value under an existing
 * version_id is EVP_ERR_HTTP with err_type "ResourceExistsException". */
evp_err_t evp__sm_put_secret(evp__aws_client_t *c, const char *secret_id, const char *version_id,
                             const void *value, size_t value_len, const char *stage,
                             evp__aws_result_t *res);

/* DescribeSecret: *json (malloc'd) is the raw answer (RotationEnabled,
 * VersionIdsToStages...). */
evp_err_t evp__sm_describe(evp__aws_client_t *c, const char *secret_id, char **json,
                           evp__aws_result_t *res);

/* UpdateSecretVersionStage: move @p stage to @p move_to (may be NULL) from
 * @p remove_from (may be NULL; required by the service when the stage is on
 * another version). Moving AWSCURRENT makes the service move AWSPREVIOUS to
 * the version AWSCURRENT left. */
evp_err_t evp__sm_update_stage(evp__aws_client_t *c, const char *secret_id, const char *stage,
                               const char *move_to, const char *remove_from,
                               evp__aws_result_t *res);

/* ------------------------------------------------------------ Firehose */

#define EVP__FH_MAX_RECORDS 500
#define EVP__FH_MAX_BATCH_BYTES (4u * 1024u * 1024u)
#define EVP__FH_MAX_RECORD_BYTES (1000u * 1024u)

/* PutRecordBatch of @p n records (n <= 500, each <= 1000 KiB, total <= 4 MiB;
 * EVP_ERR_TOO_LARGE otherwise, nothing sent). On EVP_OK, failed[i] is set to
 * 1 for each record the service reported failed (FailedPutCount > 0), 0
 * otherwise, and *n_failed is their number: the caller resends only those.
 * On any other result every failed[i] is 1 and *n_failed is n (nothing is
 * known to be delivered; EVP_ERR_JSON when the answer could not be read).
 * @p stream: 1 to 64 characters of [A-Za-z0-9_.-] (EVP_ERR_INVALID_ARG); n
 * must be at least 1. */
evp_err_t evp__fh_put_record_batch(evp__aws_client_t *c, const char *stream,
                                   const char *const *records, const size_t *lens, size_t n,
                                   unsigned char *failed, size_t *n_failed, evp__aws_result_t *res);

#endif /* EVP_AWS_AWS_H */
