/* The authorizer function: API Gateway Lambda authorizer events (REST TOKEN
 * and REQUEST, answered with an IAM policy; HTTP API payload 2.0, answered
 * with a simple response). evp__authorize checks the Bearer token, exactly
 * as evpipe local does:
 *   valid                          -> Allow, principalId = client id
 *   valid, another audience (403)  -> Deny (API Gateway answers 403)
 *   anything else (401)            -> the error "Unauthorized" (API Gateway
 *                                     answers 401; the client fetches a new
 *                                     token); HTTP API: isAuthorized false
 * An unknown kid makes the keys be fetched again at once (rate-limited): a
 * rotation is picked up with the first token signed by the new key. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cjson/cJSON.h>
#include "base/base.h"
#include "json/json.h"
#include "functions/fn_int.h"

evp_err_t evp__authz_resource(const char *method_arn, int method_only, char *out, size_t out_size) {
  size_t len = method_arn ? strlen(method_arn) : 0;
  if (len == 0 || len >= out_size || len > 2048 || strncmp(method_arn, "arn:", 4) != 0)
    return EVP_ERR_INVALID_ARG;
  /* arn:<partition>:execute-api:<region>:<account>:<api>/<stage>/<verb>/<path> */
  const char *p = method_arn;
  for (int i = 0; i < 5; i++) {
    p = strchr(p, ':');
    if (!p) return EVP_ERR_INVALID_ARG;
    p++;
  }
  const char *svc = strchr(method_arn + 4, ':');
  if (!svc || strncmp(svc + 1, "execute-api:", 12) != 0) return EVP_ERR_INVALID_ARG;
  const char *api_end = strchr(p, '/');
  if (!api_end || api_end == p) return EVP_ERR_INVALID_ARG;
  const char *stage_end = strchr(api_end + 1, '/');
  if (!stage_end || stage_end == api_end + 1) return EVP_ERR_INVALID_ARG;
  for (const char *c = method_arn; *c; c++)
    if ((unsigned char)*c < 0x21 || *c == '"' || *c == '\\' || (unsigned char)*c >= 0x7f)
      return EVP_ERR_INVALID_ARG;
  if (method_only) {
    memcpy(out, method_arn, len + 1);
    return EVP_OK;
  }
  size_t pl = (size_t)(stage_end - method_arn) + 1; /* through the '/' after the stage */
  if (pl + 2 > out_size) return EVP_ERR_INVALID_ARG;
  memcpy(out, method_arn, pl);
  out[pl] = '*';
  out[pl + 1] = '\0';
  return EVP_OK;
}

static const char *str_of(const cJSON *o, const char *name) {
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsString(s) ? s->valuestring : NULL;
}

/* The Authorization value of a REQUEST event's headers (any case). */
static const char *authz_header(const cJSON *headers) {
  const cJSON *h;
  cJSON_ArrayForEach(h, headers) {
    if (h->string && strcasecmp(h->string, "authorization") == 0 && cJSON_IsString(h))
      return h->valuestring;
  }
  return NULL;
}

typedef enum { V_ALLOW, V_DENY, V_UNAUTHORIZED } verdict_t;

/* Render the answer. @p cid may be "" (Deny of an unidentified client). */
static evp_err_t render(int simple, verdict_t v, const char *cid, const char *resource,
                        const char *reason, char **out, size_t *out_len) {
  size_t cl = strlen(cid), rl = resource ? strlen(resource) : 0;
  size_t cap = 256 + 6 * (2 * cl + rl) + (reason ? strlen(reason) : 0);
  char *b = malloc(cap);
  if (!b) return EVP_ERR_NOMEM;
  char ecid[6 * EVP__CLIENT_ID_MAX + 1];
  ecid[evp__json_escape(cid, cl, ecid)] = '\0';
  int n;
  if (simple) {
    if (v == V_ALLOW)
      n = snprintf(b, cap, "{\"isAuthorized\":true,\"context\":{\"client_id\":\"%s\"}}", ecid);
    else
      n = snprintf(b, cap, "{\"isAuthorized\":false}");
  } else {
    char *eres = malloc(6 * rl + 1);
    if (!eres) {
      free(b);
      return EVP_ERR_NOMEM;
    }
    eres[evp__json_escape(resource, rl, eres)] = '\0';
    n = snprintf(b, cap,
                 "{\"principalId\":\"%s\",\"policyDocument\":{\"Version\":\"2012-10-17\","
                 "\"Statement\":[{\"Action\":\"execute-api:Invoke\",\"Effect\":\"%s\","
                 "\"Resource\":\"%s\"}]},\"context\":{\"client_id\":\"%s\"%s%s%s}}",
                 cl ? ecid : "unknown", v == V_ALLOW ? "Allow" : "Deny", eres, ecid,
                 reason ? ",\"reason\":\"" : "", reason ? reason : "", reason ? "\"" : "");
    free(eres);
  }
  if (n < 0 || (size_t)n >= cap) {
    free(b);
    return EVP_ERR_INTERNAL;
  }
  *out = b;
  *out_len = (size_t)n;
  return EVP_OK;
}

/* The sub of a token that verifies except for its audience ("" if none). */
static void deny_subject(const evp__fn_keys_t *k, const evp__http_req_t *req,
                         char cid[EVP__CLIENT_ID_MAX + 1]) {
  evp__http_resp_t r;
  evp__http_resp_init(&r);
  if (evp__authorize(k->verifier_anyaud, req, cid, &r) != EVP_OK) cid[0] = '\0';
  evp__http_resp_free(&r);
}

evp_err_t evp__fn_authorizer(evp__fn_t *fn, const evp__fn_call_t *call, const char *event,
                             size_t len, char **out, size_t *out_len, char *errtype,
                             size_t errtype_size, char *errmsg, size_t errmsg_size) {
  cJSON *root = cJSON_ParseWithLength(event, len);
  const char *ver = str_of(root, "version"), *type = str_of(root, "type");
  const char *token = NULL, *arn = NULL;
  int simple = 0;
  if (ver && strcmp(ver, "2.0") == 0) {
    /* HTTP API, payload 2.0: header names arrive lower-cased. */
    simple = 1;
    arn = str_of(root, "routeArn");
    token = str_of(cJSON_GetObjectItemCaseSensitive(root, "headers"), "authorization");
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(root, "identitySource");
    if (!token && cJSON_IsArray(ids) && cJSON_GetArraySize(ids) == 1 &&
        cJSON_IsString(cJSON_GetArrayItem(ids, 0)))
      token = cJSON_GetArrayItem(ids, 0)->valuestring;
  } else if (type && strcmp(type, "TOKEN") == 0) {
    arn = str_of(root, "methodArn");
    token = str_of(root, "authorizationToken");
  } else if (type && strcmp(type, "REQUEST") == 0) {
    arn = str_of(root, "methodArn");
    token = authz_header(cJSON_GetObjectItemCaseSensitive(root, "headers"));
  } else {
    evp__fn_cjson_wipe_delete(root);
    return evp__fn_fail(EVP_ERR_INVALID_ARG, "InvalidEvent", "not an API Gateway authorizer event",
                        errtype, errtype_size, errmsg, errmsg_size);
  }
  char resource[2100];
  if (!simple &&
      evp__authz_resource(arn, fn->cfg.authz_method_only, resource, sizeof resource) != EVP_OK) {
    evp__fn_cjson_wipe_delete(root);
    return evp__fn_fail(EVP_ERR_INVALID_ARG, "InvalidEvent", "methodArn is not an execute-api ARN",
                        errtype, errtype_size, errmsg, errmsg_size);
  }
  const evp__fn_keys_t *keys;
  if (evp__fn_keys_get(fn, call, 0, &keys) != EVP_OK) {
    evp__fn_cjson_wipe_delete(root);
    return evp__fn_fail(EVP_ERR_STATE, "KeysUnavailable", "signing keys unavailable", errtype,
                        errtype_size, errmsg, errmsg_size);
  }
  evp__http_hdr_t h = {"authorization", token};
  evp__http_req_t req = {"POST", "", &h, token ? 1 : 0, "", 0, NULL};
  evp__http_resp_t r;
  char cid[EVP__CLIENT_ID_MAX + 1];
  evp__http_resp_init(&r);
  evp_err_t e = evp__authorize(keys->verifier, &req, cid, &r);
  int refreshed = 0;
  if (e == EVP_ERR_AUTH && r.reason && strcmp(r.reason, "unknown_key") == 0) {
    uint64_t gen = fn->keys_gen;
    if (evp__fn_keys_get(fn, call, 1, &keys) == EVP_OK && fn->keys_gen != gen) {
      refreshed = 1;
      evp__http_resp_free(&r);
      e = evp__authorize(keys->verifier, &req, cid, &r);
    }
  }
  verdict_t v;
  const char *reason = r.reason;
  if (e == EVP_OK) {
    v = V_ALLOW;
  } else if (e == EVP_ERR_AUTH && r.status == 403) {
    v = V_DENY;
    deny_subject(keys, &req, cid);
  } else if (e == EVP_ERR_AUTH) {
    v = V_UNAUTHORIZED;
  } else {
    evp__http_resp_free(&r);
    evp__fn_cjson_wipe_delete(root);
    return evp__fn_fail(e, "OutOfMemory", "out of memory", errtype, errtype_size, errmsg,
                        errmsg_size);
  }
  char f[512];
  size_t n = 0;
  evp__fn_field_str(f, sizeof f, &n, "decision",
                    v == V_ALLOW  ? "allow"
                    : v == V_DENY ? "deny"
                                  : "unauthorized");
  if (reason) evp__fn_field_str(f, sizeof f, &n, "reason", reason);
  if (cid[0]) evp__fn_field_str(f, sizeof f, &n, "client_id", cid);
  if (refreshed) evp__fn_field_num(f, sizeof f, &n, "keys_refreshed", 1);
  evp__fn_log(call, v == V_ALLOW ? EVP_LOG_DEBUG : EVP_LOG_INFO, "authorization",
              evp__fn_field_end(f, sizeof f, &n));
  if (v == V_UNAUTHORIZED && !simple) {
    evp__http_resp_free(&r);
    evp__fn_cjson_wipe_delete(root);
    /* API Gateway turns exactly this message into a 401. */
    return evp__fn_fail(EVP_ERR_AUTH, "Unauthorized", "Unauthorized", errtype, errtype_size, errmsg,
                        errmsg_size);
  }
  e = render(simple, v, cid, simple ? NULL : resource, v == V_DENY ? reason : NULL, out, out_len);
  evp__http_resp_free(&r);
  evp__fn_cjson_wipe_delete(root);
  if (e != EVP_OK)
    return evp__fn_fail(e, "OutOfMemory", "out of memory", errtype, errtype_size, errmsg,
                        errmsg_size);
  return EVP_OK;
}
