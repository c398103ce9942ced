/* Internal header of the Lambda custom runtime (include/evpipe/lambda.h).
 * Nothing here is public ABI. */
#ifndef EVP_LAMBDA_LAMBDA_INT_H
#define EVP_LAMBDA_LAMBDA_INT_H

#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>
#include "evpipe/lambda.h"
#include "net/transport.h"

/* Bounds of the per-invocation metadata taken from the /next headers. A
 * value that does not fit marks the header as bad (the request id: the
 * invocation cannot be answered, evp_lambda_run returns EVP_ERR_HTTP; the
 * others are dropped and read as ""). */
#define EVP__LAMBDA_ID_MAX 128    /* Lambda request ids are UUIDs (36) */
#define EVP__LAMBDA_ARN_MAX 512   /* function ARN with version or alias */
#define EVP__LAMBDA_TRACE_MAX 512 /* X-Ray trace header */
/* The buffers handed to a handler for its error type and message. */
#define EVP__LAMBDA_ERRTYPE_MAX 128
#define EVP__LAMBDA_ERRMSG_MAX 1024
/* Longest "host:port" accepted in AWS_LAMBDA_RUNTIME_API. */
#define EVP__LAMBDA_API_MAX 262

struct evp_lambda_invocation_s {
  char request_id[EVP__LAMBDA_ID_MAX];
  char arn[EVP__LAMBDA_ARN_MAX];
  char trace[EVP__LAMBDA_TRACE_MAX];
  int64_t deadline_ms;
  int id_bad; /* the request id header was too long */
};

struct evp_lambda_runtime_s {
  evp__transport_t *t;
  struct curl_slist *post_headers; /* Content-Type, no Expect */
  char api[EVP__LAMBDA_API_MAX];   /* host:port */
  char next_url[EVP__LAMBDA_API_MAX + 64];
  char url[EVP__LAMBDA_API_MAX + 64 + EVP__LAMBDA_ID_MAX];
  /* The event being received: up to EVP_LAMBDA_MAX_EVENT bytes (+ NUL),
   * the buffer kept between invocations; its headers go into inv and
   * deadline. */
  evp__net_resp_t ev;
  evp__net_hdr_t hdrs[4];
  char deadline[24];
  evp__net_resp_t post_resp; /* answers to /response and /error: dropped */
  int ev_over;               /* 1: the event exceeded EVP_LAMBDA_MAX_EVENT; 2: no memory for it */
  struct evp_lambda_invocation_s inv;
};

/* Serve over @p t instead of the libcurl transport (owned from now on; the
 * old one is freed): tests run the loop without a Runtime API
 * (tests/mock_transport.h). Not while evp_lambda_run runs. */
void evp__lambda_runtime_set_transport(evp_lambda_runtime_t *rt, evp__transport_t *t);

/* Re-read AWS_LAMBDA_LOG_LEVEL (evp_lambda_runtime_new does; tests too).
 * Not safe against a concurrent setenv(): call it from the runtime thread. */
void evp__lambda_log_reload(void);

/* The invocation being served on this thread (NULL outside one): lets
 * evp_lambda_log(NULL, ...) inside a handler still carry the request id. */
void evp__lambda_set_current(const evp_lambda_invocation_t *inv);

#endif /* EVP_LAMBDA_LAMBDA_INT_H */
