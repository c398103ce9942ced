/* The AWS SDKs' "standard" retry mode: which outcomes are retried
 * (throttling and transient errors only), the exponential backoff with full
 * jitter capped at 20 s, and the retry quota knobs. The quota accounting
 * itself lives with the call loop (call.c). */
#include <string.h>
#include "aws/aws_int.h"
#include "base/base.h"

/* Error codes the SDKs treat as throttling. */
static const char *const THROTTLING[] = {"Throttling",
                                         "ThrottlingException",
                                         "ThrottledException",
                                         "RequestThrottledException",
                                         "TooManyRequestsException",
                                         "ProvisionedThroughputExceededException",
                                         "TransactionInProgressException",
                                         "RequestLimitExceeded",
                                         "BandwidthLimitExceeded",
                                         "LimitExceededException",
                                         "RequestThrottled",
                                         "SlowDown",
                                         "PriorRequestNotComplete",
                                         "EC2ThrottledException"};
/* Error codes treated as transient (besides HTTP 500, 502, 503, 504). */
static const char *const TRANSIENT[] = {"RequestTimeout",
                                        "RequestTimeoutException",
                                        "InternalError",
                                        "InternalFailure",
                                        "InternalServerError",
                                        "ServiceUnavailable",
                                        "ServiceUnavailableException"};

int evp__aws_retry_class(int http_status, const char *err_type, int curl_code) {
  if (curl_code) {
    switch ((CURLcode)curl_code) {
    case CURLE_OPERATION_TIMEDOUT: return 3;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR: return 1;
    default: return 0; /* TLS verification, bad URL, write errors...: not transient */
    }
  }
  if (err_type && *err_type) {
    for (size_t i = 0; i < sizeof THROTTLING / sizeof *THROTTLING; i++)
      if (!strcmp(err_type, THROTTLING[i])) return 2;
    for (size_t i = 0; i < sizeof TRANSIENT / sizeof *TRANSIENT; i++)
      if (!strcmp(err_type, TRANSIENT[i])) return 1;
  }
  if (http_status == 429) return 2;
  if (http_status == 500 || http_status == 502 || http_status == 503 || http_status == 504)
    return 1;
  return 0;
}

int64_t evp__aws_backoff_ms(evp__aws_client_t *c, unsigned i) {
  return evp__retry_backoff_ms(&c->rng, c->backoff_base_ms, c->backoff_cap_ms,
                               i > 64 ? 64 : (int)i);
}

void evp__aws_client_set_backoff(evp__aws_client_t *c, int64_t base_ms, int64_t cap_ms) {
  if (!c) return;
  c->backoff_base_ms = base_ms < 0 ? 0 : base_ms;
  c->backoff_cap_ms = cap_ms < c->backoff_base_ms ? c->backoff_base_ms : cap_ms;
}

void evp__aws_client_set_max_attempts(evp__aws_client_t *c, unsigned n) {
  if (c) c->max_attempts = n < 1 ? 1 : (n > 10 ? 10 : n);
}

void evp__aws_client_set_min_attempt(evp__aws_client_t *c, int64_t ms) {
  if (c) c->min_attempt_ms = ms > 0 ? ms : EVP__AWS_MIN_ATTEMPT_MS;
}

int evp__aws_client_retry_quota(const evp__aws_client_t *c) { return c ? c->quota : 0; }

void evp__aws_client_set_retry_quota(evp__aws_client_t *c, int tokens) {
  if (c) c->quota = tokens < 0 ? 0 : (tokens > EVP__AWS_QUOTA_MAX ? EVP__AWS_QUOTA_MAX : tokens);
}

void evp__aws_client_set_max_response(evp__aws_client_t *c, size_t max) {
  if (c) c->max_resp = max ? max : EVP__AWS_MAX_RESPONSE;
}

void evp__aws_client_set_timeout(evp__aws_client_t *c, int64_t ms) {
  if (c) c->call_timeout_ms = ms > 0 ? ms : EVP__AWS_DEFAULT_TIMEOUT_MS;
}
