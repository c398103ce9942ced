/**
 * @file lambda.h
 * @brief An AWS Lambda custom runtime (provided.al2023) in C.
 *
 * Implements the Lambda Runtime API loop
 * (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html):
 * GET /2018-06-01/runtime/invocation/next (no timeout), POST .../{id}/response,
 * POST .../{id}/error with Lambda-Runtime-Function-Error-Type, and
 * POST /runtime/init/error. The deadline, request id and function ARN of each
 * invocation are exposed to the handler, and the X-Ray trace id is placed in
 * the _X_AMZN_TRACE_ID environment variable for the duration of the call.
 *
 * Typical use (a bootstrap executable):
 * @code
 *   static evp_err_t handle(void *opaque, const evp_lambda_invocation_t *inv,
 *                           const char *event, size_t len,
 *                           char **out, size_t *out_len,
 *                           char *errtype, size_t errtype_size,
 *                           char *errmsg, size_t errmsg_size) { ... }
 *
 *   int main(void) {
 *     char err[256];
 *     evp_lambda_runtime_t *rt = evp_lambda_runtime_new(NULL, err, sizeof err);
 *     if (!rt) { fprintf(stderr, "%s\n", err); return 1; }
 *     // ... initialise; on failure: evp_lambda_init_error(rt, "Runtime.ConfigError", msg);
 *     evp_err_t e = evp_lambda_run(rt, handle, NULL, 0);
 *     evp_lambda_runtime_destroy(rt);
 *     return e == EVP_OK ? 0 : 1;
 *   }
 * @endcode
 *
 * Logs written through evp_lambda_log() are single JSON lines on stderr
 * (CloudWatch Logs), tagged with the request id. Never pass event payloads,
 * tokens or secrets to it. The runtime itself never logs payloads, responses
 * or error messages (only error types, HTTP statuses and transport errors).
 *
 * Error types the runtime reports by itself (Lambda-Runtime-Function-Error-Type):
 * "Runtime.EventTooLarge" (event over EVP_LAMBDA_MAX_EVENT, handler not
 * called), "Runtime.OutOfMemory" (no memory for the event),
 * "Runtime.InvalidResponse" (handler returned EVP_OK, *out NULL, *out_len > 0),
 * "Function.ResponseSizeTooLarge" (response over EVP_LAMBDA_MAX_RESPONSE),
 * "Runtime.HandlerError" (handler failed without writing an error type).
 */
#ifndef EVPIPE_LAMBDA_H
#define EVPIPE_LAMBDA_H

#include <stddef.h>
#include <stdint.h>
#include "common.h"
#include "error.h"

EVP_BEGIN_DECLS

/** Largest invocation event accepted (Lambda's synchronous payload limit). */
#define EVP_LAMBDA_MAX_EVENT (6u * 1024u * 1024u)
/** Largest response a handler may return (Lambda's synchronous limit). */
#define EVP_LAMBDA_MAX_RESPONSE (6u * 1024u * 1024u)

/** The runtime: one connection to the Runtime API. Opaque. */
typedef struct evp_lambda_runtime_s evp_lambda_runtime_t;

/** One invocation as seen by a handler. Opaque; valid during the call only. */
typedef struct evp_lambda_invocation_s evp_lambda_invocation_t;

/**
 * A handler. @p event is the invocation payload (borrowed, NUL-terminated,
 * @p event_len bytes). On success return EVP_OK and set *out to a malloc'd
 * response body of *out_len bytes (the runtime takes and frees it; NULL with
 * length 0 sends "null"). On failure return any other code and write the
 * error type (e.g. "Unauthorized", "InvalidEvent") and a message into the
 * buffers (both NUL-terminated, truncated to fit); they are reported through
 * the /error endpoint as {"errorMessage":..., "errorType":..., "stackTrace":[]}.
 * Messages must not contain payloads, tokens or secrets.
 * The runtime is robust to a handler that misbehaves with these buffers: it
 * NUL-terminates them itself, keeps only [A-Za-z0-9._:-] of the type (others
 * become '_'; an empty type becomes "Runtime.HandlerError"), replaces
 * invalid UTF-8 in the message, and uses evp_err2str()/evp_err2name() of the
 * returned code when the message is empty. A response set together with an
 * error code is freed, not sent. Both buffers are at least 128 and 1024 bytes.
 * Called on the thread that runs evp_lambda_run(), one invocation at a time.
 */
typedef evp_err_t (*evp_lambda_handler_cb_t)(void *opaque, const evp_lambda_invocation_t *inv,
                                             const char *event, size_t event_len, char **out,
                                             size_t *out_len, char *errtype, size_t errtype_size,
                                             char *errmsg, size_t errmsg_size);

/**
 * Create a runtime. Does no I/O; (re)reads AWS_LAMBDA_LOG_LEVEL.
 * @param api          the Runtime API's "host:port"; NULL reads
 *                     AWS_LAMBDA_RUNTIME_API. The host must be a loopback or
 *                     link-local IP literal ("127.0.0.1", "[::1]",
 *                     "169.254.x.y") or "localhost": the Runtime API is always
 *                     local and spoken in plain http, so responses are never
 *                     sent in cleartext anywhere else.
 * @param errstr       receives the reason on failure (may be NULL).
 * @param errstr_size  size of @p errstr.
 * @return the runtime, or NULL when the address is missing or invalid, or
 *         out of memory (reason in @p errstr).
 * Ownership: borrows @p api; caller destroys the result.
 * Thread-safety: a runtime is used by one thread.
 */
EVP_API evp_lambda_runtime_t *evp_lambda_runtime_new(const char *api, char *errstr,
                                                     size_t errstr_size);

/**
 * Report an initialisation failure (POST /runtime/init/error). The process
 * should exit afterwards.
 * @param rt          the runtime.
 * @param error_type  e.g. "Runtime.ConfigError" (header and body).
 * @param message     the explanation (body); no secrets.
 * @return EVP_OK when the Runtime API accepted it, EVP_ERR_HTTP when it
 *         answered otherwise, EVP_ERR_TRANSPORT when it could not be reached,
 *         EVP_ERR_INVALID_ARG for a NULL runtime.
 * Ownership: borrows. Thread-safety: the runtime's thread.
 */
EVP_API evp_err_t evp_lambda_init_error(evp_lambda_runtime_t *rt, const char *error_type,
                                        const char *message);

/**
 * Serve invocations: get the next one, call @p handler, post its response
 * or error; repeat. An event larger than EVP_LAMBDA_MAX_EVENT is
 * reported as an error of that invocation without calling the handler.
 * A /next answer without a usable request id (missing, too long, or not
 * [A-Za-z0-9._:-]) cannot be answered: EVP_ERR_HTTP. When the Runtime API
 * refuses one result (400, 403, 413) the refusal is logged and the loop goes
 * on; other unexpected statuses (e.g. 500) return EVP_ERR_HTTP.
 * /next has no timeout (the environment may be frozen between invocations);
 * connecting times out after 5 s. During the handler call _X_AMZN_TRACE_ID
 * holds the invocation's trace header (absent when it has none); it is
 * removed afterwards. The environment is process-wide: serve with one
 * runtime at a time, and do not read the environment from other threads
 * while a handler runs.
 * @param rt               the runtime.
 * @param handler          called once per invocation.
 * @param opaque           passed to @p handler; borrowed.
 * @param max_invocations  return after this many invocations (for tests and
 *                         benchmarks); 0: serve forever.
 * @return only when the Runtime API cannot be reached or answers something
 *         unexpected (EVP_ERR_TRANSPORT / EVP_ERR_HTTP), or EVP_OK after
 *         @p max_invocations invocations; EVP_ERR_INVALID_ARG for NULL
 *         arguments.
 * Ownership: borrows. Thread-safety: the runtime's thread.
 */
EVP_API evp_err_t evp_lambda_run(evp_lambda_runtime_t *rt, evp_lambda_handler_cb_t handler,
                                 void *opaque, uint64_t max_invocations);

/**
 * Free a runtime.
 * @param rt  the runtime (NULL is a no-op). Ownership: takes.
 * Thread-safety: the runtime's thread.
 */
EVP_API void evp_lambda_runtime_destroy(evp_lambda_runtime_t *rt);

/**
 * An invocation's request id.
 * @param inv  the invocation.
 * @return Lambda-Runtime-Aws-Request-Id ("" for NULL). Ownership: borrowed,
 *         valid during the handler call. Thread-safety: any thread during the call.
 */
EVP_API const char *evp_lambda_request_id(const evp_lambda_invocation_t *inv);
/**
 * The invoked function's ARN.
 * @param inv  the invocation.
 * @return the ARN, or "" when the API did not send one. Ownership: borrowed,
 *         valid during the handler call. Thread-safety: any thread during the call.
 */
EVP_API const char *evp_lambda_function_arn(const evp_lambda_invocation_t *inv);
/**
 * An invocation's X-Ray trace header.
 * @param inv  the invocation.
 * @return the header, or "" when absent. Ownership: borrowed, valid during
 *         the handler call. Thread-safety: any thread during the call.
 */
EVP_API const char *evp_lambda_trace_id(const evp_lambda_invocation_t *inv);
/**
 * An invocation's deadline.
 * @param inv  the invocation.
 * @return milliseconds since the Unix epoch (0 when unknown).
 * Thread-safety: any thread during the call.
 */
EVP_API int64_t evp_lambda_deadline_ms(const evp_lambda_invocation_t *inv);
/**
 * Time left for an invocation.
 * @param inv  the invocation.
 * @return milliseconds before the deadline (negative when past; INT64_MAX
 *         when unknown). Thread-safety: any thread during the call.
 */
EVP_API int64_t evp_lambda_remaining_ms(const evp_lambda_invocation_t *inv);

/**
 * Write one JSON line to stderr:
 * {"timestamp":"...Z","level":"INFO","requestId":"...","message":"..."}
 * plus @p fields_json members when non-NULL (a JSON object text whose members
 * are appended; must be valid JSON). @p inv may be NULL: on the thread running
 * a handler, the current invocation's request id is used; elsewhere none.
 * Lines less severe than AWS_LAMBDA_LOG_LEVEL are dropped. Its names map onto
 * ::evp_log_level_t: TRACE and DEBUG: EVP_LOG_DEBUG; INFO: EVP_LOG_INFO;
 * WARN: EVP_LOG_WARNING; ERROR: EVP_LOG_ERR; FATAL drops every line;
 * case-insensitive; default and unknown values: INFO. Lines are written
 * with Lambda's level names: EVP_LOG_DEBUG "DEBUG", EVP_LOG_INFO and
 * EVP_LOG_NOTICE "INFO" (Lambda has no NOTICE; it is filtered as INFO),
 * EVP_LOG_WARNING "WARN", EVP_LOG_ERR "ERROR"; a value outside
 * EVP_LOG_ERR .. EVP_LOG_DEBUG is written as ERROR.
 * The variable is read by evp_lambda_runtime_new() (or at the first log
 * line). Lines are at most 8 KiB: a longer message is cut (with
 * "messageTruncated":true); @p fields_json that is not a JSON object of valid
 * UTF-8, or does not fit, is replaced by a "fieldsError" member. The line is
 * always valid JSON whatever bytes @p message holds.
 * @param inv          the invocation, or NULL (see above).
 * @param level        the line's severity.
 * @param message      the text (NULL: ""); never payloads, tokens or secrets.
 * @param fields_json  a JSON object text whose members are added, or NULL.
 * Ownership: borrows. Thread-safety: any thread (one write(2) per line).
 */
EVP_API void evp_lambda_log(const evp_lambda_invocation_t *inv, evp_log_level_t level,
                            const char *message, const char *fields_json);

EVP_END_DECLS

#endif /* EVPIPE_LAMBDA_H */
