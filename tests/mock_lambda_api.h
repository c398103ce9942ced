/* A test double of the AWS Lambda Runtime API (2018-06-01), on
 * libmicrohttpd, for the suites and benchmarks.
 *
 * It listens on 127.0.0.1 (a free port); point a runtime at it with
 * AWS_LAMBDA_RUNTIME_API=<mock_lambda_address(m)> (in-process: pass the
 * address to evp_lambda_runtime_new; a child process: put it in its
 * environment). The test enqueues invocations; GET /runtime/invocation/next
 * long-polls until one is queued (no timeout, like Lambda) and hands it out
 * with the Lambda-Runtime-* headers. POST .../{id}/response, .../{id}/error
 * and /runtime/init/error are recorded as results (202); a result for an
 * id that was not handed out, or already answered, gets 400 and is counted
 * in mock_lambda_stats().bad_requests instead.
 *
 * Typical use:
 *   mock_lambda_t *m = mock_lambda_start();
 *   mock_lambda_enqueue_simple(m, "req-1", "{\"x\":1}");
 *   ... run the runtime (a thread, or a child process) ...
 *   mock_lambda_result_t r;
 *   if (mock_lambda_wait_result(m, "req-1", 5000, &r) == 0) {
 *     // r.kind == MOCK_LAMBDA_RESPONSE, r.body / r.body_len
 *     mock_lambda_result_free(&r);
 *   }
 *   mock_lambda_stop(m);
 *
 * Thread-safety: every function may be called from any thread, concurrently
 * with the server's threads, except mock_lambda_stop (once, last).
 * Not fork-safe: a child process must exec (or only use other code) before
 * talking to the mock; the mock itself lives in the parent. */
#ifndef EVP_TESTS_MOCK_LAMBDA_API_H
#define EVP_TESTS_MOCK_LAMBDA_API_H

#include <stddef.h>
#include <stdint.h>

typedef struct mock_lambda mock_lambda_t;

/* One invocation to hand out. Every field is optional (zero/NULL). */
typedef struct {
  const char *payload;      /* event body; NULL: "{}" */
  size_t payload_len;       /* 0: strlen(payload) */
  const char *request_id;   /* NULL: "mock-req-<n>" */
  int64_t deadline_ms;      /* ms since the epoch; 0: now + 30 s; < 0: header omitted */
  const char *function_arn; /* NULL: arn:aws:lambda:us-east-1:123456789012:function:mock;
                               "": header omitted */
  const char *trace_id;     /* NULL or "": header omitted */
} mock_lambda_invocation_t;

typedef enum {
  MOCK_LAMBDA_RESPONSE = 1,   /* POST /runtime/invocation/{id}/response */
  MOCK_LAMBDA_ERROR = 2,      /* POST /runtime/invocation/{id}/error */
  MOCK_LAMBDA_INIT_ERROR = 3, /* POST /runtime/init/error */
  MOCK_LAMBDA_LOST = 4        /* no answer: marked by mock_lambda_fail_inflight */
} mock_lambda_kind_t;

/* A recorded result. body is malloc'd and NUL-terminated (free with
 * mock_lambda_result_free). */
typedef struct {
  mock_lambda_kind_t kind;
  char request_id[128]; /* "" for an init error */
  char error_type[256]; /* Lambda-Runtime-Function-Error-Type ("" when absent) */
  char content_type[128];
  char *body;
  size_t body_len;
  int64_t received_ns; /* CLOCK_MONOTONIC when the request was complete */
} mock_lambda_result_t;

typedef struct {
  uint64_t next_requests; /* GET /next received */
  uint64_t handed_out;    /* invocations handed out */
  uint64_t results;       /* results recorded (including init errors) */
  uint64_t bad_requests;  /* refused requests (unknown path or id, duplicate answer) */
  unsigned polling;       /* GET /next requests parked right now */
  unsigned queued;        /* invocations waiting to be handed out */
  unsigned inflight;      /* handed out, not answered yet */
} mock_lambda_stats_t;

/* Start on 127.0.0.1:0. NULL on failure (message on stderr). */
mock_lambda_t *mock_lambda_start(void);

/* "127.0.0.1:PORT", the value of AWS_LAMBDA_RUNTIME_API. Valid until stop. */
const char *mock_lambda_address(const mock_lambda_t *m);

/* Queue an invocation (everything is copied). The request id used is
 * written to id_out when non-NULL. 0, or -1 (out of memory, or stopped). */
int mock_lambda_enqueue(mock_lambda_t *m, const mock_lambda_invocation_t *inv, char *id_out,
                        size_t id_out_size);
/* Shorthand: request_id (NULL: generated) and NUL-terminated payload. */
int mock_lambda_enqueue_simple(mock_lambda_t *m, const char *request_id, const char *payload);

/* Wait up to timeout_ms for the result of request_id (NULL: the oldest
 * result not taken yet, of any kind; "" : the oldest init error) and take
 * it: 0 and *out filled, or -1 on timeout. */
int mock_lambda_wait_result(mock_lambda_t *m, const char *request_id, int timeout_ms,
                            mock_lambda_result_t *out);
void mock_lambda_result_free(mock_lambda_result_t *r);

/* Wait up to timeout_ms until at least n GET /next requests are parked
 * (the runtime is idle, waiting for work). 0, or -1 on timeout. */
int mock_lambda_wait_polling(mock_lambda_t *m, unsigned n, int timeout_ms);

/* Record every invocation handed out but not answered as a MOCK_LAMBDA_LOST
 * result with error_type @p error_type (e.g. "Runtime.ExitError"), as
 * Lambda does when the runtime process dies; returns how many. */
unsigned mock_lambda_fail_inflight(mock_lambda_t *m, const char *error_type);

/* Answer the next @p count GET /next requests with HTTP @p status (e.g.
 * 500) and an empty body instead of an invocation. */
void mock_lambda_fail_next(mock_lambda_t *m, int status, unsigned count);

/* Close the connections of every parked GET /next without an answer (the
 * Runtime API going away mid-long-poll); later requests park as usual. */
void mock_lambda_drop_polls(mock_lambda_t *m);

void mock_lambda_stats(mock_lambda_t *m, mock_lambda_stats_t *out);

/* Stop: parked requests are dropped (their connections closed), the port
 * is closed, everything is freed. NULL is a no-op. */
void mock_lambda_stop(mock_lambda_t *m);

#endif /* EVP_TESTS_MOCK_LAMBDA_API_H */
