/* The issuer function: POST /token behind an API Gateway proxy integration
 * (payload 1.0 or 2.0). evp__issuer_handle does the OAuth 2.0 work, so the
 * answers are exactly evpipe local's; here: the event, the secrets, and the
 * rotation window (the previous client store is tried when the current one
 * does not know the credentials). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "functions/fn_int.h"

#define ISSUER_MAX_BODY (64u * 1024u) /* the handler refuses more than 8 KiB */

static evp_err_t no_store_error(evp__http_resp_t *r, int status, const char *code, const char *desc,
                                const char *retry_after) {
  evp_err_t e = evp__http_resp_error(r, status, code, desc);
  if (!e) e = evp__http_resp_header(r, "Cache-Control", "no-store");
  if (!e) e = evp__http_resp_header(r, "Pragma", "no-cache");
  if (!e && retry_after) e = evp__http_resp_header(r, "Retry-After", retry_after);
  return e;
}

static int is_invalid_client(const evp__http_resp_t *r) {
  return r->status == 401 && r->reason && strcmp(r->reason, "invalid_client") == 0;
}

evp_err_t evp__fn_issuer(evp__fn_t *fn, const evp__fn_call_t *call, const char *event, size_t len,
                         char **out, size_t *out_len, char *errtype, size_t errtype_size,
                         char *errmsg, size_t errmsg_size) {
  evp__apigw_req_t rq;
  evp__http_resp_t resp;
  char *cid = NULL;
  const char *stage = "AWSCURRENT";
  const char *kid = NULL;
  evp__http_resp_init(&resp);
  evp_err_t e = evp__apigw_parse(event, len, ISSUER_MAX_BODY, &rq);
  if (e == EVP_ERR_NOMEM)
    return evp__fn_fail(e, "OutOfMemory", "out of memory", errtype, errtype_size, errmsg,
                        errmsg_size);
  if (e == EVP_ERR_JSON || e == EVP_ERR_INVALID_ARG)
    return evp__fn_fail(e, "InvalidEvent", "not an API Gateway proxy event", errtype, errtype_size,
                        errmsg, errmsg_size);
  if (e == EVP_ERR_TOO_LARGE) {
    e = no_store_error(&resp, 400, "invalid_request", "request too large", NULL);
  } else if (e == EVP_ERR_BASE64) {
    e = no_store_error(&resp, 400, "invalid_request", "body is not valid base64", NULL);
  } else {
    const evp__fn_keys_t *keys;
    const evp__clients_t *cur, *prev;
    if (evp__fn_keys_get(fn, call, 0, &keys) != EVP_OK ||
        evp__fn_clients_get(fn, call, &cur, &prev) != EVP_OK) {
      e = no_store_error(&resp, 503, "temporarily_unavailable",
                         "the credential store is unavailable; retry later", "1");
    } else {
      kid = keys->current_kid;
      /* No per client id lockout here: a warm container sees a fraction of
       * the traffic (docs/security.md); API Gateway throttling and WAF apply. */
      evp__issuer_t iss = {cur, keys->signer, fn->cfg.token_ttl_s, NULL};
      e = evp__issuer_handle(&iss, &rq.req, &resp, &cid);
      if (e == EVP_OK && prev && is_invalid_client(&resp)) {
        /* Rotation window: the client may still hold its previous secret.
         * Unknown ids and wrong secrets go through both stores alike. */
        evp__http_resp_t r2;
        char *cid2 = NULL;
        evp__http_resp_init(&r2);
        evp__issuer_t iss2 = {prev, keys->signer, fn->cfg.token_ttl_s, NULL};
        e = evp__issuer_handle(&iss2, &rq.req, &r2, &cid2);
        if (e == EVP_OK && !is_invalid_client(&r2)) {
          evp__http_resp_free(&resp);
          resp = r2;
          cid = cid2;
          stage = "AWSPREVIOUS";
        } else {
          evp__http_resp_free(&r2);
          free(cid2);
        }
      }
      if (e != EVP_OK && e != EVP_ERR_NOMEM)
        e = no_store_error(&resp, 500, "server_error", "could not answer", NULL);
    }
  }
  if (e == EVP_OK) e = evp__apigw_render(&resp, out, out_len);
  char f[512];
  size_t n = 0;
  evp__fn_field_num(f, sizeof f, &n, "status", resp.status);
  if (resp.reason) evp__fn_field_str(f, sizeof f, &n, "reason", resp.reason);
  if (cid) {
    evp__fn_field_str(f, sizeof f, &n, "client_id", cid);
    evp__fn_field_str(f, sizeof f, &n, "secret_stage", stage);
    evp__fn_field_str(f, sizeof f, &n, "kid", kid);
  }
  if (rq.source_ip) evp__fn_field_str(f, sizeof f, &n, "source_ip", rq.source_ip);
  evp__fn_log(call, resp.status >= 500 ? EVP_LOG_ERR : EVP_LOG_INFO, "token",
              evp__fn_field_end(f, sizeof f, &n));
  free(cid);
  evp__http_resp_free(&resp);
  evp__apigw_req_free(&rq);
  if (e != EVP_OK)
    return evp__fn_fail(e, "OutOfMemory", "out of memory", errtype, errtype_size, errmsg,
                        errmsg_size);
  return EVP_OK;
}
