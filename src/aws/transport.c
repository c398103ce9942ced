/* The client over the one transport (net/transport.h): one slot, so one
 * keep-alive connection per client, requests signed by libcurl
 * (CURLOPT_AWS_SIGV4), answers bounded in size, AWS JSON 1.1 error bodies
 * parsed. One attempt per evp__aws_transport_post;
 * the retry loop is in call.c.
 *
 * libcurl 7.88 signs every header of CURLOPT_HTTPHEADER (lower-cased, sorted)
 * plus host and x-amz-date, so the X-Amz-Security-Token header we add is in
 * SignedHeaders, as SigV4 requires for services that expect the token in the
 * canonical request. It also signs an empty "Expect:" line that it then does
 * not send, which the service would reject: we never add one. */
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cjson/cJSON.h>
#include "aws/aws_int.h"
#include "base/base.h"

/* The CA bundle to verify AWS endpoints with. libcurl looks where the
 * distribution it was built on keeps it (Debian: /etc/ssl/certs/...), but the
 * Lambda zip bundles Debian's libcurl and runs on Amazon Linux 2023, which
 * keeps it in /etc/pki/tls/certs: without this every HTTPS call would fail
 * verification there. SSL_CERT_FILE (OpenSSL's variable) wins; NULL leaves
 * libcurl's default. */
static const char *ca_bundle(void) {
  const char *env = getenv("SSL_CERT_FILE");
  if (env && *env && access(env, R_OK) == 0) return env;
  static const char *const known[] = {"/etc/pki/tls/certs/ca-bundle.crt",
                                      "/etc/ssl/certs/ca-certificates.crt"};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (access(known[i], R_OK) == 0) return known[i];
  return NULL;
}

evp_err_t evp__aws_client_new(const evp__aws_env_t *env, const char *service,
                              const char *env_suffix, const char *target_prefix,
                              evp__aws_client_t **out, char *es, size_t esz) {
  if (!out) return evp__seterr(es, esz, EVP_ERR_INVALID_ARG, "NULL argument");
  *out = NULL;
  if (!env || !service || !target_prefix || !*service || strlen(service) >= 64 || !*target_prefix ||
      strlen(target_prefix) >= 64)
    return evp__seterr(es, esz, EVP_ERR_INVALID_ARG, "invalid service or target prefix");
  for (const char *p = target_prefix; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '_' || *p == '.'))
      return evp__seterr(es, esz, EVP_ERR_INVALID_ARG, "invalid target prefix");
  char url[2100];
  evp_err_t rc = evp__aws_endpoint_resolve(env, service, env_suffix, url, sizeof url, es, esz);
  if (rc != EVP_OK) return rc;
  evp__aws_client_t *c = calloc(1, sizeof *c);
  if (!c) return evp__seterr(es, esz, EVP_ERR_NOMEM, "out of memory");
  c->env = env;
  memcpy(c->service, service, strlen(service) + 1);
  memcpy(c->target_prefix, target_prefix, strlen(target_prefix) + 1);
  snprintf(c->sigv4, sizeof c->sigv4, "aws:amz:%s:%s", env->region, service);
  c->max_resp = EVP__AWS_MAX_RESPONSE;
  c->backoff_base_ms = EVP__AWS_BACKOFF_BASE_MS;
  c->backoff_cap_ms = EVP__AWS_BACKOFF_CAP_MS;
  c->max_attempts = EVP__AWS_MAX_ATTEMPTS;
  c->min_attempt_ms = EVP__AWS_MIN_ATTEMPT_MS;
  c->call_timeout_ms = EVP__AWS_DEFAULT_TIMEOUT_MS;
  c->quota = EVP__AWS_QUOTA_MAX;
  if (evp__random(&c->rng, sizeof c->rng) != EVP_OK)
    c->rng = (uint64_t)(uintptr_t)c ^ (uint64_t)evp__mono_ms();
  c->url = evp__strdup(url);
  if (!c->url) {
    evp__aws_client_free(c);
    return evp__seterr(es, esz, EVP_ERR_NOMEM, "out of memory");
  }
  c->resp.wipe = 1;
  c->hdrs[0] = (evp__net_hdr_t){"x-amzn-ErrorType", c->hdr_err_type, sizeof c->hdr_err_type, 0};
  c->hdrs[1] = (evp__net_hdr_t){"x-amzn-RequestId", c->hdr_request_id, sizeof c->hdr_request_id, 0};
  c->resp.hdrs = c->hdrs;
  c->resp.nhdrs = 2;
  /* libcurl signs every request (CURLOPT_AWS_SIGV4). */
  evp__transport_conf_t tc = {.slots = 1,
                              .ca_file = ca_bundle(),
                              .aws_sigv4 = c->sigv4,
                              .user = env->access_key,
                              .password = env->secret_key};
  char why[200];
  evp_err_t e = evp__transport_new(&tc, &c->t, why, sizeof why);
  if (e != EVP_OK) {
    evp__aws_client_free(c);
    return evp__seterr(es, esz, e, "%s%s", why, e == EVP_ERR_UNSUPPORTED ? " (no SigV4?)" : "");
  }
  *out = c;
  return EVP_OK;
}

void evp__aws_client_free(evp__aws_client_t *c) {
  if (!c) return;
  evp__transport_free(c->t);
  free(c->url);
  evp__net_resp_free(&c->resp);
  free(c);
}

const char *evp__aws_client_endpoint(const evp__aws_client_t *c) { return c ? c->url : NULL; }

void evp__aws_transport_reset(evp__aws_client_t *c) { evp__net_resp_reset(&c->resp); }

CURLcode evp__aws_transport_post(evp__aws_client_t *c, struct curl_slist *hdrs, const char *body,
                                 size_t body_len, int64_t timeout_ms, long *status) {
  evp__net_resp_limit(&c->resp, c->max_resp);
  if (timeout_ms < 1) timeout_ms = 1;
  evp__net_req_t rq = {c->url,
                       hdrs,
                       body,
                       body_len,
                       (long)timeout_ms,
                       (long)(timeout_ms < 5000 ? timeout_ms : 5000)};
  evp_err_t e = evp__transport_perform(c->t, 0, &rq, &c->resp, NULL);
  *status = c->resp.status;
  char *colon = strchr(c->hdr_err_type, ':'); /* "Code:uri": the code */
  if (colon) *colon = '\0';
  if (e == EVP_OK) return CURLE_OK;
  return c->resp.code ? (CURLcode)c->resp.code : CURLE_FAILED_INIT;
}

static void copy_clean(char *dst, size_t dsz, const char *s) {
  size_t o = 0;
  for (; s && *s && o + 1 < dsz; s++)
    dst[o++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? ' ' : *s;
  dst[o] = '\0';
}

void evp__aws_parse_error(const char *body, size_t len, const char *hdr_type,
                          evp__aws_result_t *res) {
  res->err_type[0] = res->err_msg[0] = '\0';
  if (hdr_type && *hdr_type) copy_clean(res->err_type, sizeof res->err_type, hdr_type);
  cJSON *j = (body && len) ? cJSON_ParseWithLength(body, len) : NULL;
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return;
  }
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "__type");
  if (!res->err_type[0] && cJSON_IsString(t)) {
    /* "com.amazon.coral.service#InvalidSignatureException" or "Code:uri" */
    const char *v = t->valuestring, *h = strrchr(v, '#');
    if (h) v = h + 1;
    copy_clean(res->err_type, sizeof res->err_type, v);
    char *colon = strchr(res->err_type, ':');
    if (colon) *colon = '\0';
  }
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
  if (!cJSON_IsString(m)) m = cJSON_GetObjectItemCaseSensitive(j, "Message");
  if (cJSON_IsString(m)) copy_clean(res->err_msg, sizeof res->err_msg, m->valuestring);
  cJSON_Delete(j);
}
