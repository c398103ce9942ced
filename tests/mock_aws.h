/* A test double of AWS JSON 1.1 endpoints: Secrets Manager and Firehose on
 * one in-process libmicrohttpd server (127.0.0.1, a free port), dispatched
 * on X-Amz-Target ("secretsmanager.<Op>", "Firehose_20150804.<Op>").
 *
 * Every request is authenticated like AWS does it, with an implementation of
 * SigV4 independent of libcurl's (canonical request -> string to sign ->
 * HMAC-SHA256 chain, OpenSSL): the Authorization header must be
 *   AWS4-HMAC-SHA256 Credential=<AKID>/<yyyymmdd>/<region>/<service>/aws4_request,
 *   SignedHeaders=<sorted, lower case, with host and x-amz-date, and
 *   x-amz-security-token when a session token is configured>, Signature=<64 hex>
 * X-Amz-Date well-formed, on the credential's date and within max_skew_s of
 * the clock, X-Amz-Security-Token equal to the configured token, and the
 * signature equal to the one recomputed from the request as received.
 * Failures answer like AWS: 403 MissingAuthenticationTokenException (no
 * Authorization), 400 IncompleteSignatureException (malformed), 403
 * UnrecognizedClientException (unknown key, wrong or missing token), 403
 * InvalidSignatureException (scope, date or signature); they are counted in
 * auth_rejected and the reason is kept (mock_aws_last_rejection).
 *
 * Secrets Manager: GetSecretValue, PutSecretValue, DescribeSecret,
 * UpdateSecretVersionStage, with versions and staging labels as AWS documents
 * them: a label is on at most one version; PutSecretValue defaults to
 * AWSCURRENT, and moving AWSCURRENT (PutSecretValue or
 * UpdateSecretVersionStage) moves AWSPREVIOUS to the version it left;
 * UpdateSecretVersionStage requires RemoveFromVersionId when the label is on
 * another version; PutSecretValue with an existing ClientRequestToken is a
 * no-op for the same value and ResourceExistsException for another.
 * Firehose: PutRecordBatch (limits checked: 1..500 records, each <= 1000 KiB
 * decoded, total <= 4 MiB), every accepted record kept decoded per stream.
 *
 * Typical use:
 *   mock_aws_t *m = mock_aws_start(NULL);           // default credentials below
 *   mock_aws_secret_create(m, "evpipe/signing", "k1", 2, NULL);
 *   mock_aws_stream_create(m, "events");
 *   setenv AWS_ENDPOINT_URL=mock_aws_url(m), AWS_ACCESS_KEY_ID=MOCK_AWS_ACCESS_KEY,
 *          AWS_SECRET_ACCESS_KEY=MOCK_AWS_SECRET_KEY, AWS_SESSION_TOKEN=MOCK_AWS_SESSION_TOKEN,
 *          AWS_REGION=MOCK_AWS_REGION  (or mock_aws_env to get them as a list)
 *   ... run the code under test ...
 *   mock_aws_stop(m);
 *
 * Thread-safety: every function may be called from any thread, concurrently
 * with requests, except mock_aws_stop (once, last). Faults are consumed by
 * requests in arrival order. Test-only code: allocation failures make the
 * functions fail (-1 / NULL), never abort. */
#ifndef EVP_TESTS_MOCK_AWS_H
#define EVP_TESTS_MOCK_AWS_H

#include <stddef.h>

#define MOCK_AWS_ACCESS_KEY "AKIAMOCKEXAMPLE00001"
#define MOCK_AWS_SECRET_KEY "mOcK/SeCrEt+KeY/wJalrXUtnFEMI/K7MDENGbPxRfiCY"
#define MOCK_AWS_SESSION_TOKEN \
  "IQoJb3JpZ2luX2VjEMockSessionToken//////////wEaCXVzLWVhc3QtMSJHMEUCIQ=="
#define MOCK_AWS_REGION "us-east-1"
#define MOCK_AWS_ACCOUNT "123456789012"

typedef struct mock_aws mock_aws_t;

typedef struct {
  const char *access_key; /* NULL: MOCK_AWS_ACCESS_KEY */
  const char *secret_key; /* NULL: MOCK_AWS_SECRET_KEY */
  const char
      *session_token; /* NULL: none expected (and refused when sent); "": MOCK_AWS_SESSION_TOKEN */
  const char *region; /* NULL: MOCK_AWS_REGION */
  int max_skew_s;     /* allowed |X-Amz-Date - now|; 0: 300 (as AWS) */
  const char *tls_cert_pem; /* with tls_key_pem: serve HTTPS (https://127.0.0.1:PORT); NULL: HTTP */
  const char *tls_key_pem;
} mock_aws_conf_t;

/* Start on 127.0.0.1:0. @p conf NULL: the defaults above, with the session
 * token MOCK_AWS_SESSION_TOKEN required. NULL on failure (stderr says why). */
mock_aws_t *mock_aws_start(const mock_aws_conf_t *conf);
void mock_aws_stop(mock_aws_t *m);

/* "http://127.0.0.1:PORT", for AWS_ENDPOINT_URL. Valid until stop. */
const char *mock_aws_url(const mock_aws_t *m);

/* The environment a client needs to talk to this mock, as "NAME=value"
 * strings (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN when configured, AWS_REGION): *n entries, valid until
 * stop. */
const char *const *mock_aws_env(const mock_aws_t *m, size_t *n);

/* ------------------------------------------------------------ Secrets Manager */

/* Create a secret whose first version (@p version_id, NULL: a generated
 * UUID) holds @p value and AWSCURRENT. 0, or -1 when it exists or on error. */
int mock_aws_secret_create(mock_aws_t *m, const char *name, const void *value, size_t len,
                           const char *version_id);
/* Add a version directly (no API semantics: the labels in @p stages_csv,
 * e.g. "AWSPENDING" or "", are taken from whichever version had them).
 * 0, or -1 (no such secret, version exists, error). */
int mock_aws_secret_put_version(mock_aws_t *m, const char *name, const char *version_id,
                                const void *value, size_t len, const char *stages_csv);
/* The version holding @p stage into @p version_out (72 bytes). 0 or -1. */
int mock_aws_secret_stage(mock_aws_t *m, const char *name, const char *stage, char *version_out);
/* Copy of a version's value (by @p version_id, or by @p stage when
 * version_id is NULL): malloc'd, NUL-terminated, *len set. NULL if none. */
unsigned char *mock_aws_secret_value(mock_aws_t *m, const char *name, const char *stage,
                                     const char *version_id, size_t *len);
/* The labels of a version as "AWSCURRENT,AWSPREVIOUS" (sorted) into @p out.
 * 0 or -1 (no such version). */
int mock_aws_secret_version_stages(mock_aws_t *m, const char *name, const char *version_id,
                                   char *out, size_t out_size);
/* How many versions the secret has (0 when none / no secret). */
size_t mock_aws_secret_versions(mock_aws_t *m, const char *name);
/* Rotation settings returned by DescribeSecret. */
int mock_aws_secret_set_rotation(mock_aws_t *m, const char *name, int enabled,
                                 const char *lambda_arn, unsigned days);

/* ------------------------------------------------------------ Firehose */

int mock_aws_stream_create(mock_aws_t *m, const char *name);
/* Records accepted so far (0 when no such stream). */
size_t mock_aws_stream_count(mock_aws_t *m, const char *name);
/* Copy of accepted record @p i (decoded, malloc'd, NUL-terminated), or NULL. */
char *mock_aws_stream_record(mock_aws_t *m, const char *name, size_t i, size_t *len);
void mock_aws_stream_clear(mock_aws_t *m, const char *name);

/* ------------------------------------------------------------ faults */
/* Each applies to the next @p n requests for operation @p op ("GetSecretValue",
 * "PutRecordBatch"...; NULL: any) that pass authentication. Rules are
 * checked in the order they were added. */

/* Answer @p status with error code @p code (JSON __type and
 * x-amzn-ErrorType), nothing done. */
void mock_aws_fail_next(mock_aws_t *m, const char *op, unsigned n, int status, const char *code);
/* = fail_next(op, n, 400, "ThrottlingException") */
void mock_aws_throttle_next(mock_aws_t *m, const char *op, unsigned n);
/* = fail_next(op, n, 500, "InternalFailure") */
void mock_aws_500_next(mock_aws_t *m, const char *op, unsigned n);
/* Close the connection without an answer (after reading the request). */
void mock_aws_drop_next(mock_aws_t *m, const char *op, unsigned n);
/* Wait @p ms, then handle normally (stop interrupts the wait). */
void mock_aws_delay_next(mock_aws_t *m, const char *op, unsigned n, unsigned ms);
/* Wait @p ms, then answer @p status with error code @p code, nothing done. */
void mock_aws_delay_fail_next(mock_aws_t *m, const char *op, unsigned n, unsigned ms, int status,
                              const char *code);
/* Answer once with exactly this status, content type and body (copied). */
void mock_aws_raw_next(mock_aws_t *m, const char *op, int status, const char *content_type,
                       const void *body, size_t len);
/* In the next PutRecordBatch, records at these indexes fail with @p code
 * ("ServiceUnavailableException", "InternalFailure"); they are not kept. */
void mock_aws_fail_records_next(mock_aws_t *m, const size_t *idx, size_t k, const char *code);
/* Forget every pending fault. */
void mock_aws_clear_faults(mock_aws_t *m);

/* ------------------------------------------------------------ counters */
typedef struct {
  unsigned long requests;      /* received (authenticated or not) */
  unsigned long auth_rejected; /* refused by the SigV4 / token checks */
  unsigned long faults;        /* answered by an injected fault */
  unsigned long errors;        /* service errors (4xx/5xx by the service logic) */
  unsigned long ok;            /* 200 */
} mock_aws_stats_t;

/* For @p op (NULL: all operations together). */
void mock_aws_stats(mock_aws_t *m, const char *op, mock_aws_stats_t *out);
void mock_aws_reset_stats(mock_aws_t *m);
/* Why the last request was refused by authentication ("" if none yet). */
void mock_aws_last_rejection(mock_aws_t *m, char *buf, size_t n);
/* The SignedHeaders of the last authenticated request. */
void mock_aws_last_signed_headers(mock_aws_t *m, char *buf, size_t n);

/* The verifier's SigV4 core, exposed so a suite can check it against the
 * published AWS test vectors: the signature (64 lower-case hex + NUL) of a
 * canonical request at @p amz_date ("20150830T123600Z"). */
void mock_aws_sigv4(const char *secret, const char *amz_date, const char *region,
                    const char *service, const char *canonical, size_t canonical_len,
                    char sig_hex[65]);

#endif /* EVP_TESTS_MOCK_AWS_H */
