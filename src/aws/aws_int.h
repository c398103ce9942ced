/* Internals shared by the files of src/aws: the environment and client
 * structures, the transport (one attempt), small JSON and base64 helpers. */
#ifndef EVP_AWS_AWS_INT_H
#define EVP_AWS_AWS_INT_H

#include <stdint.h>
#include <curl/curl.h>
#include "aws/aws.h"
#include "net/transport.h"

#define EVP__AWS_MAX_OVERRIDES 32 /* AWS_ENDPOINT_URL_<SERVICE> variables kept */
#define EVP__AWS_MAX_REQUEST (16u * 1024u * 1024u)

struct evp__aws_env {
  char *access_key;
  char *secret_key;    /* wiped on free */
  char *session_token; /* NULL when none; wiped on free */
  char *region;
  char *endpoint; /* AWS_ENDPOINT_URL, or NULL */
  int ignore_endpoints;
  size_t n_over;
  struct {
    char *suffix; /* "SECRETS_MANAGER" */
    char *url;
  } over[EVP__AWS_MAX_OVERRIDES];
};

struct evp__aws_client {
  const evp__aws_env_t *env;
  evp__transport_t *t; /* one slot: one keep-alive connection, SigV4-signed */
  char *url;
  char service[64];
  char target_prefix[64];
  char sigv4[160]; /* "aws:amz:<region>:<service>" */
  /* response of the current attempt: the body bounded by max_resp (a
   * larger one fails the attempt), wiped (answers may hold secrets) */
  evp__net_resp_t resp;
  size_t max_resp;
  evp__net_hdr_t hdrs[2];
  char hdr_err_type[512]; /* x-amzn-ErrorType, code part ("Code:uri" cut at ':') */
  char hdr_request_id[80];
  /* retry policy (standard mode) */
  int64_t backoff_base_ms, backoff_cap_ms;
  unsigned max_attempts;
  int64_t min_attempt_ms;  /* EVP__AWS_MIN_ATTEMPT_MS but in tests */
  int64_t call_timeout_ms; /* of the Secrets Manager / Firehose wrappers */
  int quota;
  uint64_t rng;
};

/* One attempt: POST, collect the answer. Returns the CURLcode; on CURLE_OK
 * *status is the HTTP status and c->resp.body holds the body
 * (NUL-terminated); otherwise c->resp.err says why, and c->resp.body_err is
 * EVP_ERR_TOO_LARGE or EVP_ERR_NOMEM when the body could not be kept. */
CURLcode evp__aws_transport_post(evp__aws_client_t *c, struct curl_slist *hdrs, const char *body,
                                 size_t body_len, int64_t timeout_ms, long *status);
void evp__aws_transport_reset(evp__aws_client_t *c);

/* Fill res->err_type / err_msg from an error body (JSON __type, message or
 * Message) and the x-amzn-ErrorType header. */
void evp__aws_parse_error(const char *body, size_t len, const char *hdr_type,
                          evp__aws_result_t *res);

/* Retry delay in ms for retry @p i (1-based). */
int64_t evp__aws_backoff_ms(evp__aws_client_t *c, unsigned i);
/* Sleep @p ms milliseconds (a retry's back-off). */
void evp__aws_sleep_ms(int64_t ms);

/* Check an identifier we put in a request: 1..max bytes, printable ASCII or
 * UTF-8, no control characters. */
int evp__aws_ident_ok(const char *s, size_t max);

#endif /* EVP_AWS_AWS_INT_H */
