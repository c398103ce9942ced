/* The rotation function: Secrets Manager's four rotation steps for the two
 * kinds of secret (signing key, client store), following AWS's rotation
 * template so that every step may be retried:
 *   - the secret must have rotation enabled and the token must be one of its
 *     versions; a version already AWSCURRENT means the rotation is done;
 *     otherwise the version must be AWSPENDING.
 *   createSecret: unless the pending version already has a value, put a new
 *                 one (ClientRequestToken = the token) as AWSPENDING;
 *   setSecret:    nothing (the secrets live in Secrets Manager only);
 *   testSecret:   prove the pending value works: a token signed with the
 *                 new key verifies; every new client secret authenticates
 *                 its client in a store parsed from the value;
 *   finishSecret: move AWSCURRENT to the token (the service moves
 *                 AWSPREVIOUS to the version it leaves).
 * The kind is told by the value: a JSON array is a client store. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include "base/base.h"
#include "functions/fn_int.h"

#define NEW_SECRET_BYTES 32

typedef struct {
  evp__fn_t *fn;
  const evp__fn_call_t *call;
  evp__aws_client_t *sm;
  const char *id, *token, *step;
  char *errmsg;
  size_t errmsg_size;
} rot_t;

static evp_err_t rfail(rot_t *r, evp_err_t e, const char *msg, const evp__aws_result_t *res) {
  if (res && res->err_type[0])
    snprintf(r->errmsg, r->errmsg_size, "%s: %s (%s)", r->step, msg, res->err_type);
  else
    snprintf(r->errmsg, r->errmsg_size, "%s: %s", r->step, msg);
  return e == EVP_OK ? EVP_ERR_STATE : e;
}

static int is_clients_value(const unsigned char *v, size_t n) {
  size_t i = 0;
  while (i < n && isspace(v[i])) i++;
  return i < n && v[i] == '[';
}

static int has_stage(const cJSON *stages, const char *s) {
  const cJSON *x;
  cJSON_ArrayForEach(x, stages) {
    if (cJSON_IsString(x) && strcmp(x->valuestring, s) == 0) return 1;
  }
  return 0;
}

/* 32 random bytes, base64url: a new key or client secret. */
static evp_err_t random_secret(char out[64]) {
  unsigned char k[NEW_SECRET_BYTES];
  if (evp__random(k, sizeof k) != EVP_OK) return EVP_ERR_INTERNAL;
  evp_base64url_encode(k, sizeof k, out);
  OPENSSL_cleanse(k, sizeof k);
  return EVP_OK;
}

/* A new client store: the current one with every client_secret replaced. */
static evp_err_t new_clients_value(const unsigned char *cur, size_t len, char **out,
                                   size_t *out_len) {
  *out = NULL;
  cJSON *root = cJSON_ParseWithLength((const char *)cur, len);
  if (!cJSON_IsArray(root)) {
    evp__fn_cjson_wipe_delete(root);
    return EVP_ERR_JSON;
  }
  size_t n = (size_t)cJSON_GetArraySize(root);
  if (n == 0 || n > EVP__CLIENTS_MAX) {
    evp__fn_cjson_wipe_delete(root);
    return EVP_ERR_INVALID_ARG;
  }
  evp_err_t e = EVP_OK;
  cJSON *o;
  cJSON_ArrayForEach(o, root) {
    char s[64];
    if (!cJSON_IsObject(o) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "client_id"))) {
      e = EVP_ERR_INVALID_ARG;
      break;
    }
    if ((e = random_secret(s)) != EVP_OK) break;
    cJSON *ns = cJSON_CreateString(s);
    OPENSSL_cleanse(s, sizeof s);
    if (!ns) {
      e = EVP_ERR_NOMEM;
      break;
    }
    if (cJSON_GetObjectItemCaseSensitive(o, "client_secret")) {
      cJSON *old = cJSON_DetachItemFromObjectCaseSensitive(o, "client_secret");
      evp__fn_cjson_wipe_delete(old);
    }
    if (!cJSON_AddItemToObject(o, "client_secret", ns)) {
      evp__fn_cjson_wipe_delete(ns);
      e = EVP_ERR_NOMEM;
      break;
    }
  }
  /* Printed into our own buffer, so that no copy of a secret is left in
   * memory freed by cJSON's growing print buffer. */
  size_t cap = 2 * len + 128 * n + 1024;
  char *buf = e == EVP_OK ? malloc(cap) : NULL;
  if (e == EVP_OK && !buf) e = EVP_ERR_NOMEM;
  if (e == EVP_OK && !cJSON_PrintPreallocated(root, buf, (int)cap, 0)) e = EVP_ERR_TOO_LARGE;
  evp__fn_cjson_wipe_delete(root);
  if (e != EVP_OK) {
    if (buf) {
      OPENSSL_cleanse(buf, cap);
      free(buf);
    }
    return e;
  }
  *out_len = strlen(buf);
  *out = buf;
  return EVP_OK;
}

static void free_value(char *v, size_t len) {
  if (v) {
    OPENSSL_cleanse(v, len);
    free(v);
  }
}

static evp_err_t create_secret(rot_t *r) {
  evp__aws_secret_t cur, pend;
  evp__aws_result_t res;
  memset(&res, 0, sizeof res);
  evp_err_t e = evp__sm_get_secret(r->sm, r->id, "AWSCURRENT", NULL, &cur, &res);
  if (e != EVP_OK) return rfail(r, e, "cannot read AWSCURRENT", &res);
  memset(&res, 0, sizeof res);
  e = evp__sm_get_secret(r->sm, r->id, "AWSPENDING", r->token, &pend, &res);
  if (e == EVP_OK && pend.value_len == 0) {
    /* a version without a value yet: AWS answers ResourceNotFoundException */
    evp__aws_secret_clear(&pend);
    e = EVP_ERR_HTTP;
    snprintf(res.err_type, sizeof res.err_type, "ResourceNotFoundException");
  }
  if (e == EVP_OK) {
    evp__aws_secret_clear(&pend);
    evp__aws_secret_clear(&cur);
    evp__fn_log(r->call, EVP_LOG_INFO, "createSecret: the pending version exists", NULL);
    return EVP_OK;
  }
  if (!(e == EVP_ERR_HTTP && strcmp(res.err_type, "ResourceNotFoundException") == 0)) {
    evp__aws_secret_clear(&cur);
    return rfail(r, e, "cannot read AWSPENDING", &res);
  }
  char *val = NULL;
  size_t vl = 0;
  int clients = cur.value && is_clients_value(cur.value, cur.value_len);
  const char *kind = clients ? "clients" : "signing_key";
  if (clients) {
    e = new_clients_value(cur.value, cur.value_len, &val, &vl);
  } else {
    unsigned char *k = malloc(EVP__FN_KEY_MAX);
    size_t kl;
    e = !k          ? EVP_ERR_NOMEM
        : cur.value ? evp__fn_key_decode(cur.value, cur.value_len, k, &kl)
                    : EVP_ERR_BASE64;
    if (k) {
      OPENSSL_cleanse(k, EVP__FN_KEY_MAX);
      free(k);
    }
    if (e == EVP_OK && !(val = malloc(64))) e = EVP_ERR_NOMEM;
    if (e == EVP_OK && (e = random_secret(val)) == EVP_OK) vl = strlen(val);
  }
  evp__aws_secret_clear(&cur);
  if (e != EVP_OK) {
    free_value(val, val ? vl + 1 : 0);
    return rfail(r, e, "AWSCURRENT is neither a client store nor a signing key", NULL);
  }
  memset(&res, 0, sizeof res);
  e = evp__sm_put_secret(r->sm, r->id, r->token, val, vl, "AWSPENDING", &res);
  free_value(val, vl + 1);
  if (e != EVP_OK) return rfail(r, e, "PutSecretValue failed", &res);
  char f[256];
  size_t n = 0;
  evp__fn_field_str(f, sizeof f, &n, "kind", kind);
  evp__fn_field_str(f, sizeof f, &n, "version_id", r->token);
  evp__fn_log(r->call, EVP_LOG_INFO, "createSecret: new pending version",
              evp__fn_field_end(f, sizeof f, &n));
  return EVP_OK;
}

/* A signing key works when a token it signs verifies. */
static evp_err_t test_key(rot_t *r, const unsigned char *v, size_t len) {
  unsigned char *k = malloc(EVP__FN_KEY_MAX);
  size_t kl = 0;
  if (!k) return EVP_ERR_NOMEM;
  evp_err_t e = evp__fn_key_decode(v, len, k, &kl);
  evp__fn_keys_t *keys = NULL;
  char err[256];
  const char *kid = r->token;
  const unsigned char *kp = k;
  if (e == EVP_OK) e = evp__fn_keys_build(&r->fn->cfg, &kid, &kp, &kl, 1, &keys, err, sizeof err);
  OPENSSL_cleanse(k, EVP__FN_KEY_MAX);
  free(k);
  char *tok = NULL;
  if (e == EVP_OK)
    e = evp_jwt_sign(keys->signer, "rotation-test", r->fn->cfg.token_audience, NULL, &tok, NULL, 0);
  if (e == EVP_OK) {
    evp_jwt_t *jwt = NULL;
    e = evp_jwt_verify(keys->verifier, tok, strlen(tok), &jwt, NULL, 0);
    if (e == EVP_OK && (!evp_jwt_kid(jwt) || strcmp(evp_jwt_kid(jwt), r->token) != 0))
      e = EVP_ERR_JWT_UNKNOWN_KEY;
    evp_jwt_destroy(jwt);
  }
  if (tok) evp__free_secret(tok);
  evp__fn_keys_free(keys);
  return e;
}

/* A client store works when it parses and every client authenticates with
 * its own secret for each of its audiences. */
static evp_err_t test_clients(const unsigned char *v, size_t len) {
  evp__clients_t *cs = NULL;
  char err[256];
  evp_err_t e = evp__clients_parse((const char *)v, len, &cs, err, sizeof err);
  if (e != EVP_OK) return e;
  cJSON *root = cJSON_ParseWithLength((const char *)v, len);
  const cJSON *o;
  if (!root) e = EVP_ERR_NOMEM;
  cJSON_ArrayForEach(o, root) {
    const char *id = cJSON_GetObjectItemCaseSensitive(o, "client_id")->valuestring;
    const char *sec = cJSON_GetObjectItemCaseSensitive(o, "client_secret")->valuestring;
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(o, "audiences")) {
      const char *got;
      if (evp__clients_check(cs, id, strlen(id), sec, strlen(sec), a->valuestring, &got) !=
          EVP__CLIENT_OK)
        e = EVP_ERR_AUTH;
    }
  }
  evp__fn_cjson_wipe_delete(root);
  evp__clients_free(cs);
  return e;
}

static evp_err_t test_secret(rot_t *r) {
  evp__aws_secret_t pend;
  evp__aws_result_t res;
  memset(&res, 0, sizeof res);
  evp_err_t e = evp__sm_get_secret(r->sm, r->id, "AWSPENDING", r->token, &pend, &res);
  if (e != EVP_OK) return rfail(r, e, "cannot read AWSPENDING", &res);
  int clients = pend.value && is_clients_value(pend.value, pend.value_len);
  if (!pend.value)
    e = EVP_ERR_INVALID_ARG;
  else
    e = clients ? test_clients(pend.value, pend.value_len)
                : test_key(r, pend.value, pend.value_len);
  evp__aws_secret_clear(&pend);
  if (e != EVP_OK)
    return rfail(r, e,
                 clients ? "the pending client store does not work"
                         : "the pending signing key does not work",
                 NULL);
  evp__fn_log(r->call, EVP_LOG_INFO, "testSecret: the pending version works", NULL);
  return EVP_OK;
}

static evp_err_t finish_secret(rot_t *r, const cJSON *versions) {
  const char *current = NULL;
  const cJSON *v;
  cJSON_ArrayForEach(v, versions) {
    if (v->string && has_stage(v, "AWSCURRENT")) {
      current = v->string;
      break;
    }
  }
  if (current && strcmp(current, r->token) == 0) return EVP_OK;
  evp__aws_result_t res;
  memset(&res, 0, sizeof res);
  evp_err_t e = evp__sm_update_stage(r->sm, r->id, "AWSCURRENT", r->token, current, &res);
  if (e != EVP_OK) return rfail(r, e, "UpdateSecretVersionStage failed", &res);
  char f[256];
  size_t n = 0;
  evp__fn_field_str(f, sizeof f, &n, "version_id", r->token);
  if (current) evp__fn_field_str(f, sizeof f, &n, "previous_version_id", current);
  evp__fn_log(r->call, EVP_LOG_INFO, "finishSecret: AWSCURRENT moved",
              evp__fn_field_end(f, sizeof f, &n));
  return EVP_OK;
}

static const char *str_of(const cJSON *o, const char *name) {
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsString(s) ? s->valuestring : NULL;
}

evp_err_t evp__fn_rotation(evp__fn_t *fn, const evp__fn_call_t *call, const char *event, size_t len,
                           char **out, size_t *out_len, char *errtype, size_t errtype_size,
                           char *errmsg, size_t errmsg_size) {
  (void)out;
  (void)out_len;
  cJSON *root = cJSON_ParseWithLength(event, len);
  const char *step = str_of(root, "Step"), *id = str_of(root, "SecretId"),
             *token = str_of(root, "ClientRequestToken");
  if (!step || !id || !token || !*id || strlen(id) > EVP__FN_ID_MAX || strlen(token) < 32 ||
      strlen(token) > 64) {
    cJSON_Delete(root);
    return evp__fn_fail(EVP_ERR_INVALID_ARG, "InvalidEvent", "not a Secrets Manager rotation event",
                        errtype, errtype_size, errmsg, errmsg_size);
  }
  char msg[512] = "";
  rot_t r = {fn, call, NULL, id, token, step, msg, sizeof msg};
  char f[512];
  size_t fl = 0;
  evp__fn_field_str(f, sizeof f, &fl, "step", step);
  evp__fn_field_str(f, sizeof f, &fl, "secret_id", id);
  evp__fn_field_str(f, sizeof f, &fl, "version_id", token);
  evp__fn_log(call, EVP_LOG_INFO, "rotation step", evp__fn_field_end(f, sizeof f, &fl));
  char err[256];
  evp__aws_result_t res;
  char *desc = NULL;
  cJSON *d = NULL;
  evp_err_t e = evp__fn_sm(fn, &r.sm, err, sizeof err);
  if (e != EVP_OK) {
    rfail(&r, e, err, NULL);
    goto out;
  }
  memset(&res, 0, sizeof res);
  if ((e = evp__sm_describe(r.sm, id, &desc, &res)) != EVP_OK) {
    rfail(&r, e, "DescribeSecret failed", &res);
    goto out;
  }
  d = cJSON_Parse(desc);
  const cJSON *versions = cJSON_GetObjectItemCaseSensitive(d, "VersionIdsToStages");
  if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "RotationEnabled"))) {
    e = rfail(&r, EVP_ERR_STATE, "rotation is not enabled for the secret", NULL);
    goto out;
  }
  const cJSON *stages = cJSON_GetObjectItemCaseSensitive(versions, token);
  int create = strcmp(step, "createSecret") == 0;
  if (!cJSON_IsArray(stages) && !create) {
    e = rfail(&r, EVP_ERR_STATE, "the token is not a version of the secret", NULL);
    goto out;
  }
  /* RotateSecret lists the token as an AWSPENDING version before
   * createSecret; createSecret also works when it does not (PutSecretValue
   * creates the version), e.g. against test doubles that do not model it. */
  if (cJSON_IsArray(stages) && has_stage(stages, "AWSCURRENT")) {
    evp__fn_log(call, EVP_LOG_INFO, "the version is already AWSCURRENT", NULL);
    e = EVP_OK;
    goto out;
  }
  if (cJSON_IsArray(stages) && !has_stage(stages, "AWSPENDING")) {
    e = rfail(&r, EVP_ERR_STATE, "the version is not AWSPENDING", NULL);
    goto out;
  }
  if (create)
    e = create_secret(&r);
  else if (strcmp(step, "setSecret") == 0)
    e = EVP_OK; /* nothing outside Secrets Manager holds these secrets */
  else if (strcmp(step, "testSecret") == 0)
    e = test_secret(&r);
  else if (strcmp(step, "finishSecret") == 0)
    e = finish_secret(&r, versions);
  else
    e = rfail(&r, EVP_ERR_INVALID_ARG, "unknown step", NULL);
out:
  cJSON_Delete(d);
  free(desc);
  if (e != EVP_OK) {
    fl = 0;
    evp__fn_field_str(f, sizeof f, &fl, "error", msg);
    evp__fn_log(call, EVP_LOG_ERR, "rotation step failed", evp__fn_field_end(f, sizeof f, &fl));
    cJSON_Delete(root);
    return evp__fn_fail(e, "RotationError", msg, errtype, errtype_size, errmsg, errmsg_size);
  }
  cJSON_Delete(root);
  return EVP_OK;
}
