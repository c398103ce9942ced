/* Internals shared by the files of src/aws: the environment and client
 * structures, the transport (one attempt), small JSON and base64 helpers. */
#ifndef EVP_AWS_AWS_INT_H
#define EVP_AWS_AWS_INT_H

#include <stdint.h>
#include <curl/curl.h>
#include "aws/aws.h"

#define EVP__AWS_MAX_OVERRIDES 32 /* AWS_ENDPOINT_URL_<SERVICE> variables kept */
#define EVP__AWS_MAX_REQUEST (16u * 1024u * 1024u)

struct evp__aws_env {
  char *access_key;
  char *secret_key;    /* wiped on free */
  char *session_token; /* NULL when none; wiped on free */
  char *region;
  char *endpoint;      /* AWS_ENDPOINT_URL, or NULL */
  int ignore_endpoints;
  size_t n_over;
  struct {
    char *suffix; /* "SECRETS_MANAGER" */
    char *url;
  } over[EVP__AWS_MAX_OVERRIDES];
};

struct evp__aws_client {
  const evp__aws_env_t *env;
  CURL *h;
  char *url;
  char service[64];
  char target_prefix[64];
  char sigv4[160];   /* "aws:amz:<region>:<service>" */
  /* response of the current attempt */
  char *resp;
  size_t resp_len, resp_cap, max_resp;
  int resp_overflow;
  int resp_nomem;   /* the answer could not be buffered */
  char hdr_err_type[128];  /* x-amzn-ErrorType, code part */
  char hdr_request_id[80];
  char curl_err[CURL_ERROR_SIZE];
  /* retry policy (standard mode) */
  int64_t backoff_base_ms, backoff_cap_ms;
  unsigned max_attempts;
  int64_t call_timeout_ms; /* of the Secrets Manager / Firehose wrappers */
  int quota;
  uint64_t rng;
};

/* One attempt: POST, collect the answer. Returns the CURLcode; on CURLE_OK
 * *status is the HTTP status and c->resp holds the body (NUL-terminated). */
CURLcode evp__aws_transport_post(evp__aws_client_t *c, struct curl_slist *hdrs, const char *body,
                                 size_t body_len, int64_t timeout_ms, long *status);
void evp__aws_transport_reset(evp__aws_client_t *c);

/* Fill res->err_type / err_msg from an error body (JSON __type, message or
 * Message) and the x-amzn-ErrorType header. */
void evp__aws_parse_error(const char *body, size_t len, const char *hdr_type,
                          evp__aws_result_t *res);

/* Retry delay in ms for retry @p i (1-based). */
int64_t evp__aws_backoff_ms(evp__aws_client_t *c, unsigned i);
/* Monotonic milliseconds. No callers left (they use evp__mono_ms of
 * base/base.h); the definition in util.c goes when util.c is next edited. */
int64_t evp__aws_now_ms(void);
void evp__aws_sleep_ms(int64_t ms);

/* Check an identifier we put in a request: 1..max bytes, printable ASCII or
 * UTF-8, no control characters. */
int evp__aws_ident_ok(const char *s, size_t max);

#endif /* EVP_AWS_AWS_INT_H */
