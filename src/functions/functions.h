/* The functions area's interface (src/functions/): the four Lambda
 * functions of the AWS pipeline, issuer, authorizer, processor and rotation.
 * They are thin adapters around the pure handlers of src/server
 * (evp__issuer_handle, evp__authorize, evp__events_handle, the client
 * store): what is added here is the event
 * format of each trigger, the secrets from Secrets Manager (cached) and the
 * delivery to Firehose. One `bootstrap` executable (src/bootstrap/main.c)
 * serves all four, chosen by _HANDLER. docs/lambda-functions.md is the user
 * documentation; this header is the contract.
 *
 * ------------------------------------------------------------ environment
 *
 *   _HANDLER                      issuer | authorizer | processor | rotation
 *                                 (also "evpipe.<name>")
 *   EVP_SIGNING_KEY_SECRET_ID     issuer, authorizer, rotation(optional):
 *                                 the signing-key secret (name or ARN)
 *   EVP_CLIENTS_SECRET_ID         issuer: the client-store secret
 *   EVP_TOKEN_ISSUER              iss of the tokens (default "evpipe")
 *   EVP_TOKEN_AUDIENCE            aud the authorizer requires (default "events")
 *   EVP_TOKEN_TTL                 token lifetime in s, 60..86400 (default 1200)
 *   EVP_SECRET_CACHE_TTL          s a fetched secret is used before it is
 *                                 fetched again, 0..86400 (default 300)
 *   EVP_KEY_REFRESH_MIN_INTERVAL  authorizer: s between two early refreshes
 *                                 on an unknown kid, 0..3600 (default 10)
 *   EVP_AUTHZ_RESOURCE            authorizer policy resource: "api" (default,
 *                                 arn:...:<api>/<stage>/<all> of the methodArn) or
 *                                 "method" (the methodArn itself)
 *   EVP_DELIVERY_STREAM           processor: Firehose stream of valid events
 *   EVP_DEADLETTER_STREAM         processor: Firehose stream of invalid ones
 *   EVP_SCHEMA_FILE               processor: event schema (default: the
 *                                 embedded examples/schemas/glue-data-catalog-json-schema.json)
 *   EVP_MAX_EVENTS                processor: events per message (default 500)
 *   EVP_MAX_BODY                  processor: message body bytes (default 1 MiB)
 *   EVP_FIREHOSE_MAX_ATTEMPTS     processor: PutRecordBatch rounds per
 *                                 invocation, 1..100 (default 8)
 *   EVP_FIREHOSE_BACKOFF_MS       processor: backoff base (default 100) ...
 *   EVP_FIREHOSE_BACKOFF_MAX_MS   ... and cap (default 2000), full jitter
 *   EVP_DEADLINE_MARGIN_MS        processor: time kept to answer before the
 *                                 deadline; no call starts within it (default 1000)
 *   plus the AWS client's AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 *   AWS_SESSION_TOKEN, AWS_ENDPOINT_URL[_SECRETS_MANAGER|_FIREHOSE]
 *   (src/aws/aws.h) and the runtime's AWS_LAMBDA_RUNTIME_API,
 *   AWS_LAMBDA_LOG_LEVEL (include/evpipe/lambda.h).
 *
 * ------------------------------------------------------------ secret formats
 *
 *   Signing key: SecretString = base64url (RFC 4648 section 5, padding and
 *   surrounding whitespace tolerated) of >= 32 random bytes. The token kid is
 *   the secret's VersionId. The issuer signs with AWSCURRENT; the authorizer
 *   verifies with AWSCURRENT and AWSPREVIOUS.
 *
 *   Client store: SecretString = the JSON array evpipe local's clients file
 *   holds: [{"client_id":"app-1","client_secret":"<16..512 bytes>",
 *   "audiences":["events"]}, ...] (evp__clients_parse). The issuer accepts the
 *   credentials of AWSCURRENT and of AWSPREVIOUS.
 *
 *   The rotation function tells the two apart by the current value (a JSON
 *   array is a client store) and generates: a new 32-byte key; or new
 *   32-byte random secrets (base64url) for every client, same ids and
 *   audiences.
 *
 * ------------------------------------------------------------ SQS message contract
 *
 *   What API Gateway's SQS integration (deploy/aws/template.yaml, VTL) puts in
 *   the queue for one accepted POST /events, and what the processor reads:
 *     MessageBody  = the request body, {"sent_at":"...","events":[...]}
 *                    (sent_at optional, docs/protocol.md) (JSON text, not
 *                    base64, already decompressed)
 *     MessageAttributes:
 *       client_id   DataType String: $context.authorizer.client_id (required;
 *                   1..128 bytes of [A-Za-z0-9._~-])
 *       received_at DataType Number: $context.requestTimeEpoch, epoch ms
 *                   (optional: the SQS SentTimestamp attribute is used
 *                   when absent)
 *       request_id  DataType String: $context.requestId (optional; logs only)
 *   A message without a valid client_id, or whose body is not
 *   {"events":[...]} within the limits, goes whole to the dead-letter stream.
 *
 *   Firehose records: one event per record, the event's row of the Glue
 *   table as a JSON object (fn_record.c): one member per non-null column,
 *   timestamps as RFC 3339 UTC ("2024-05-01T12:00:00.123Z", µs when finer),
 *   objects/arrays as JSON text strings, members outside the table dropped,
 *   plus "received_at", "client_id" and the clock-skew columns
 *   "event_time_corrected" and "clock_skew_ms" (from the body's sent_at;
 *   left out when null); then "\n". Dead-letter records are one JSON
 *   object per line: {"error","reason","client_id","received_at","message_id",
 *   "index","event"} for an invalid event (event = the raw event JSON), or
 *   {"error","reason","client_id","received_at","message_id","raw"} for a
 *   message that could not be read (raw = the body as a JSON string, cut to
 *   fit a record with "raw_truncated":true when longer).
 *
 *   Delivery is at least once: a message with any record not delivered is
 *   reported in batchItemFailures and the whole message comes back, so events
 *   already delivered from it are written again. Deduplicate downstream on
 *   event_id.
 */
#ifndef EVP_FUNCTIONS_FUNCTIONS_H
#define EVP_FUNCTIONS_FUNCTIONS_H

#include <stddef.h>
#include <stdint.h>
#include "evpipe/error.h"
#include "evpipe/jwt.h"
#include "evpipe/lambda.h"
#include "server/server.h"

/* ------------------------------------------------------------ configuration */

typedef enum {
  EVP__FN_ISSUER = 0,
  EVP__FN_AUTHORIZER,
  EVP__FN_PROCESSOR,
  EVP__FN_ROTATION
} evp__fn_kind_t;

/* "issuer", "evpipe.issuer", ... -> kind. -1 when unknown. */
int evp__fn_kind_parse(const char *handler);
const char *evp__fn_kind_name(evp__fn_kind_t k);

#define EVP__FN_ID_MAX 2048 /* secret ids and ARNs, stream names */

typedef struct {
  evp__fn_kind_t kind;
  char signing_secret_id[EVP__FN_ID_MAX];
  char clients_secret_id[EVP__FN_ID_MAX];
  char token_issuer[EVP__AUDIENCE_MAX + 1];
  char token_audience[EVP__AUDIENCE_MAX + 1];
  int64_t token_ttl_s;
  int64_t cache_ttl_s;
  int64_t key_refresh_min_s;
  int authz_method_only; /* EVP_AUTHZ_RESOURCE=method */
  char delivery_stream[EVP__FN_ID_MAX];
  char deadletter_stream[EVP__FN_ID_MAX];
  char schema_file[4096]; /* "" = the default schema */
  size_t max_events, max_body;
  unsigned fh_max_attempts;
  int64_t fh_backoff_ms, fh_backoff_max_ms;
  int64_t deadline_margin_ms;
  /* Tests: the clock of tokens and caches (NULL: system clock), and the
   * sleep used between Firehose rounds (NULL: nanosleep). */
  evp_clock_cb_t clock;
  void *clock_opaque;
  void (*sleep_ms)(void *opaque, int64_t ms);
  void *sleep_opaque;
} evp__fn_config_t;

/* Defaults for @p kind (no I/O). */
void evp__fn_config_default(evp__fn_config_t *c, evp__fn_kind_t kind);
/* Defaults, then the EVP_* variables above. EVP_ERR_CONF_INVALID with a
 * message naming the variable when one is missing or out of range. */
evp_err_t evp__fn_config_from_env(evp__fn_config_t *c, evp__fn_kind_t kind, char *errstr,
                                  size_t errstr_size);

/* ------------------------------------------------------------ a function */

typedef struct evp__fn evp__fn_t;

/* Create a function. @p cfg is copied. @p default_schema (may be NULL, then
 * EVP_SCHEMA_FILE is required for the processor) is borrowed for the
 * lifetime of the function. Reads and compiles the processor's schema and
 * the AWS environment; opens no connection (secrets are fetched on first
 * use). EVP_ERR_CONF_INVALID / EVP_ERR_SCHEMA_* / EVP_ERR_IO / EVP_ERR_NOMEM
 * with a message. */
evp_err_t evp__fn_new(const evp__fn_config_t *cfg, const char *default_schema,
                      size_t default_schema_len, evp__fn_t **out, char *errstr, size_t errstr_size);
void evp__fn_free(evp__fn_t *fn);

/* One invocation's context, independent of the runtime (tests pass inv NULL). */
typedef struct {
  const evp_lambda_invocation_t *inv; /* for log lines; may be NULL */
  int64_t deadline_ms;                /* epoch ms; 0 = none */
} evp__fn_call_t;

/* Handle one event (the same contract as evp_lambda_handler_cb_t). Errors:
 *   authorizer: errmsg "Unauthorized" (type "Unauthorized") for a missing,
 *     malformed, forged, expired or unknown-key token of a REST authorizer;
 *     "KeysUnavailable" when the signing keys cannot be fetched;
 *   any: "InvalidEvent" when the event is not what the trigger sends;
 *   rotation: "RotationError" (the step failed; Secrets Manager retries). */
evp_err_t evp__fn_handle(evp__fn_t *fn, const evp__fn_call_t *call, const char *event,
                         size_t event_len, char **out, size_t *out_len, char *errtype,
                         size_t errtype_size, char *errmsg, size_t errmsg_size);

/* evp_lambda_handler_cb_t over evp__fn_handle (@p opaque is the evp__fn_t). */
evp_err_t evp__fn_lambda_handler(void *opaque, const evp_lambda_invocation_t *inv,
                                 const char *event, size_t event_len, char **out, size_t *out_len,
                                 char *errtype, size_t errtype_size, char *errmsg,
                                 size_t errmsg_size);

/* ------------------------------------------------------------ API Gateway adapters */

#define EVP__APIGW_MAX_HEADERS 128
#define EVP__APIGW_MAX_HEADER_NAME 256
#define EVP__APIGW_MAX_HEADER_VALUE 16384

/* A request read from a proxy-integration event. Owns its strings. */
typedef struct {
  evp__http_req_t req; /* points into the members below */
  evp__http_hdr_t *hdrs;
  char **names; /* lower-cased copies */
  char **values;
  size_t n;
  char *method, *path, *source_ip;
  char *body; /* decoded when isBase64Encoded; wiped on free */
  size_t body_len;
  int version; /* 1 (REST, payload 1.0) or 2 (HTTP API, 2.0) */
} evp__apigw_req_t;

/* Parse a payload v1 ({"httpMethod",...}) or v2 ({"version":"2.0",
 * "requestContext":{"http":{...}}}) event. Headers: v1 "multiValueHeaders"
 * (every value, in order) or else "headers"; v2 "headers" (and "cookies" as
 * one cookie header). Names lower-cased; at most EVP__APIGW_MAX_HEADERS,
 * names and values bounded as above. Body: base64-decoded when
 * isBase64Encoded, at most @p max_body bytes after decoding.
 * EVP_ERR_JSON / EVP_ERR_INVALID_ARG (not a proxy event), EVP_ERR_BASE64
 * (a request whose body is not base64), EVP_ERR_TOO_LARGE (a request over
 * the limits), EVP_ERR_NOMEM. */
evp_err_t evp__apigw_parse(const char *event, size_t len, size_t max_body, evp__apigw_req_t *out);
void evp__apigw_req_free(evp__apigw_req_t *r);

/* Render @p resp as a proxy response {"statusCode","headers":{...},"body",
 * "isBase64Encoded":false} (Content-Type from resp->content_type). *out is
 * malloc'd. EVP_ERR_NOMEM. */
evp_err_t evp__apigw_render(const evp__http_resp_t *resp, char **out, size_t *out_len);

/* ------------------------------------------------------------ authorizer helpers */

/* The policy resource for @p method_arn
 * (arn:aws:execute-api:<region>:<account>:<api>/<stage>/<verb>/<path>):
 * with @p method_only the ARN itself, otherwise
 * arn:aws:execute-api:<region>:<account>:<api>/<stage>/ followed by "*" (every method and
 * resource of the stage, so that API Gateway's authorizer cache, keyed by
 * the token, answers later calls to other resources without a Deny).
 * EVP_ERR_INVALID_ARG when it is not an execute-api ARN. */
evp_err_t evp__authz_resource(const char *method_arn, int method_only, char *out, size_t out_size);

/* ------------------------------------------------------------ processor helpers */

/* RFC 3339 UTC with milliseconds of @p ms since the epoch
 * ("2024-05-01T12:00:00.123Z"); @p out holds >= 25 bytes. */
void evp__fn_rfc3339_ms(int64_t ms, char out[32]);

/* Base64 (standard alphabet, padding required) decode into a malloc'd buffer.
 * EVP_ERR_BASE64 / EVP_ERR_NOMEM. */
evp_err_t evp__fn_b64_decode(const char *in, size_t len, unsigned char **out, size_t *out_len);

#endif /* EVP_FUNCTIONS_FUNCTIONS_H */
