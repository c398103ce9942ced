/* evp__aws_call: one AWS JSON 1.1 operation with standard-mode retries,
 * bounded by the call's deadline. */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "aws/aws_int.h"
#include "base/base.h"

static void wipe_slist(struct curl_slist *l) {
  for (struct curl_slist *p = l; p; p = p->next) OPENSSL_cleanse(p->data, strlen(p->data));
  curl_slist_free_all(l);
}

static struct curl_slist *add(struct curl_slist *l, const char *s, int *ok) {
  if (!*ok) return l;
  struct curl_slist *n = curl_slist_append(l, s);
  if (!n) {
    *ok = 0;
    return l;
  }
  return n;
}

static struct curl_slist *make_headers(const evp__aws_client_t *c, const char *op) {
  int ok = 1;
  char target[160];
  snprintf(target, sizeof target, "X-Amz-Target: %s.%s", c->target_prefix, op);
  struct curl_slist *l = add(NULL, "Content-Type: application/x-amz-json-1.1", &ok);
  l = add(l, target, &ok);
  l = add(l, "Accept: application/json", &ok);
  if (c->env->session_token) {
    size_t n = strlen(c->env->session_token) + 32;
    char *t = malloc(n);
    if (!t) {
      ok = 0;
    } else {
      snprintf(t, n, "X-Amz-Security-Token: %s", c->env->session_token);
      l = add(l, t, &ok);
      OPENSSL_cleanse(t, n);
      free(t);
    }
  }
  if (!ok) {
    wipe_slist(l);
    return NULL;
  }
  return l;
}

static int op_ok(const char *op) {
  size_t n = strlen(op);
  if (!n || n > 64) return 0;
  for (; *op; op++)
    if (!((*op >= 'a' && *op <= 'z') || (*op >= 'A' && *op <= 'Z') || (*op >= '0' && *op <= '9')))
      return 0;
  return 1;
}

evp_err_t evp__aws_call(evp__aws_client_t *c, const char *op, const char *body, size_t body_len,
                        int64_t timeout_ms, char **resp, size_t *resp_len, evp__aws_result_t *res) {
  evp__aws_result_t dummy;
  if (!res) res = &dummy;
  memset(res, 0, sizeof *res);
  if (resp) *resp = NULL;
  if (resp_len) *resp_len = 0;
  if (!c || !op || !op_ok(op) || (!body && body_len) || timeout_ms < 0) return EVP_ERR_INVALID_ARG;
  if (body_len > EVP__AWS_MAX_REQUEST) return EVP_ERR_TOO_LARGE;
  if (!body) body = "{}", body_len = 2;
  if (!timeout_ms) timeout_ms = 10000;
  const int64_t deadline = evp__mono_ms() + timeout_ms;
  struct curl_slist *hdrs = make_headers(c, op);
  if (!hdrs) return EVP_ERR_NOMEM;
  evp_err_t rc = EVP_ERR_INTERNAL;
  int last_cost = 0; /* quota tokens taken by the last retry */
  for (unsigned attempt = 1;; attempt++) {
    int64_t left = deadline - evp__mono_ms();
    if (left <= 0) {
      rc = EVP_ERR_TIMED_OUT;
      break;
    }
    long status = 0;
    CURLcode cc = evp__aws_transport_post(c, hdrs, body, body_len, left, &status);
    res->attempts = attempt;
    res->http_status = (int)status;
    memcpy(res->request_id, c->hdr_request_id, sizeof res->request_id);
    res->err_type[0] = res->err_msg[0] = '\0';
    int cls;
    if (cc != CURLE_OK) {
      if (c->resp.body_err == EVP_ERR_TOO_LARGE) {
        snprintf(res->err_msg, sizeof res->err_msg, "response larger than %zu bytes", c->max_resp);
        rc = EVP_ERR_TOO_LARGE;
        break;
      }
      snprintf(res->err_msg, sizeof res->err_msg, "%s",
               c->resp.err[0] ? c->resp.err : curl_easy_strerror(cc));
      if (c->resp.body_err == EVP_ERR_NOMEM || cc == CURLE_OUT_OF_MEMORY) {
        rc = EVP_ERR_NOMEM;
        break;
      }
      rc = cc == CURLE_OPERATION_TIMEDOUT ? EVP_ERR_TIMED_OUT : EVP_ERR_TRANSPORT;
      res->http_status = 0;
      cls = evp__aws_retry_class(0, NULL, (int)cc);
    } else if (status == 200) {
      /* Success: the quota gets back what the last retry took, or a token
       * for a first-attempt success. */
      c->quota += last_cost ? last_cost : EVP__AWS_QUOTA_SUCCESS_INC;
      if (c->quota > EVP__AWS_QUOTA_MAX) c->quota = EVP__AWS_QUOTA_MAX;
      if (resp) {
        size_t n = c->resp.body.len;
        char *r = malloc(n + 1);
        if (!r) {
          rc = EVP_ERR_NOMEM;
          break;
        }
        if (n) memcpy(r, c->resp.body.p, n);
        r[n] = '\0';
        *resp = r;
        if (resp_len) *resp_len = n;
      }
      rc = EVP_OK;
      break;
    } else {
      evp__aws_parse_error(evp__net_resp_text(&c->resp), c->resp.body.len, c->hdr_err_type, res);
      rc = EVP_ERR_HTTP;
      cls = evp__aws_retry_class((int)status, res->err_type, 0);
    }
    if (!cls || attempt >= c->max_attempts) break;
    int cost = cls == 3 ? EVP__AWS_QUOTA_TIMEOUT_COST : EVP__AWS_QUOTA_RETRY_COST;
    if (c->quota < cost) break; /* quota exhausted: fail fast */
    int64_t delay = evp__aws_backoff_ms(c, attempt);
    if (evp__mono_ms() + delay + c->min_attempt_ms > deadline)
      break; /* the retry could not finish in time: report this error now */
    evp__aws_sleep_ms(delay);
    if (evp__mono_ms() + c->min_attempt_ms > deadline)
      break; /* the sleep overran: the same, and the quota is not charged */
    c->quota -= cost;
    last_cost = cost;
  }
  evp__aws_transport_reset(c);
  wipe_slist(hdrs);
  return rc;
}
