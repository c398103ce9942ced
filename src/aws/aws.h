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
void evp__aws_env_free(evp__aws_env_t *env);

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

/* The outcome of one call (after retries). */
typedef struct {
  int http_status;      /* last HTTP status, 0 when no response */
  char err_type[128];   /* AWS error code ("ThrottlingException", "ResourceNotFoundException"),
                           from __type (after '#') or x-amzn-ErrorType; "" on success */
  char err_msg[256];    /* the service's message, truncated; "" on success */
  unsigned attempts;    /* how many requests were made */
} evp__aws_result_t;

/* POST @p body (JSON) with X-Amz-Target: <target_prefix>.<op>, e.g.
 * op "GetSecretValue". On HTTP 200 returns EVP_OK and *resp (malloc'd,
 * NUL-terminated, caller frees; may hold secrets: wipe it) of *resp_len.
 * Otherwise EVP_ERR_HTTP (the service answered an error: see @p res),
 * EVP_ERR_TRANSPORT (no answer), EVP_ERR_TIMED_OUT, EVP_ERR_NOMEM; *resp NULL.
 * @p timeout_ms bounds the whole call including retries (0 = 10 s). */
evp_err_t evp__aws_call(evp__aws_client_t *c, const char *op, const char *body, size_t body_len,
                        int64_t timeout_ms, char **resp, size_t *resp_len, evp__aws_result_t *res);

/* ------------------------------------------------------------ Secrets Manager */

/* A secret version's value as returned by GetSecretValue. */
typedef struct {
  char version_id[72];
  unsigned char *value;   /* SecretString bytes, or SecretBinary decoded; wiped on free */
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

/* PutSecretValue: store @p value (SecretString) as @p version_id
 * (ClientRequestToken) with the single stage @p stage. */
evp_err_t evp__sm_put_secret(evp__aws_client_t *c, const char *secret_id, const char *version_id,
                             const void *value, size_t value_len, const char *stage,
                             evp__aws_result_t *res);

/* DescribeSecret: *json (malloc'd) is the raw answer (RotationEnabled,
 * VersionIdsToStages...). */
evp_err_t evp__sm_describe(evp__aws_client_t *c, const char *secret_id, char **json,
                           evp__aws_result_t *res);

/* UpdateSecretVersionStage: move @p stage to @p move_to (may be NULL) from
 * @p remove_from (may be NULL). */
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
 * otherwise, and *n_failed is their number: the caller resends only those. */
evp_err_t evp__fh_put_record_batch(evp__aws_client_t *c, const char *stream,
                                   const char *const *records, const size_t *lens, size_t n,
                                   unsigned char *failed, size_t *n_failed,
                                   evp__aws_result_t *res);

#endif /* EVP_AWS_AWS_H */
