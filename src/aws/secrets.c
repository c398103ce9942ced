/* Secrets Manager over AWS JSON 1.1: GetSecretValue, PutSecretValue,
 * DescribeSecret, UpdateSecretVersionStage. Request bodies and answers that
 * carry secret values are wiped before they are freed. */
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include "aws/aws_int.h"
#include "base/base.h"
#include "json/json.h"

#define MAX_SECRET_ID 2048
#define MAX_STAGE 256
#define MAX_VALUE 65536
#define BODY_MAX (4 * MAX_VALUE)

void evp__aws_secret_clear(evp__aws_secret_t *s) {
  if (!s) return;
  if (s->value) {
    OPENSSL_cleanse(s->value, s->value_len);
    free(s->value);
  }
  memset(s, 0, sizeof *s);
}

static void wipe_free(char *p, size_t n) {
  if (p) {
    OPENSSL_cleanse(p, n);
    free(p);
  }
}

/* Wipe every string of a parsed answer before freeing it. */
static void wipe_json(cJSON *j) {
  for (cJSON *x = j; x; x = x->next) {
    if (x->valuestring) OPENSSL_cleanse(x->valuestring, strlen(x->valuestring));
    if (x->child) wipe_json(x->child);
  }
}

static evp_err_t sm_send(evp__aws_client_t *c, const char *op, evp__buf_t *b, char **resp,
                         size_t *resp_len, evp__aws_result_t *res) {
  if (b->err != EVP_OK) {
    evp__buf_free(b);
    return EVP_ERR_NOMEM;
  }
  evp_err_t rc =
      evp__aws_call(c, op, (const char *)b->p, b->len, c->call_timeout_ms, resp, resp_len, res);
  evp__buf_free(b);
  return rc;
}

static void field(evp__buf_t *b, const char *name, const char *v, int *first) {
  if (!v) return;
  evp__buf_adds(b, *first ? "\"" : ",\"");
  evp__buf_adds(b, name);
  evp__buf_adds(b, "\":");
  evp__buf_json_str(b, v, strlen(v));
  *first = 0;
}

evp_err_t evp__sm_get_secret(evp__aws_client_t *c, const char *secret_id, const char *stage,
                             const char *version_id, evp__aws_secret_t *out,
                             evp__aws_result_t *res) {
  if (out) memset(out, 0, sizeof *out);
  if (res) memset(res, 0, sizeof *res);
  if (!c || !out || !evp__aws_ident_ok(secret_id, MAX_SECRET_ID) ||
      (stage && !evp__aws_ident_ok(stage, MAX_STAGE)) ||
      (version_id && !evp__aws_ident_ok(version_id, sizeof out->version_id - 1)))
    return EVP_ERR_INVALID_ARG;
  evp__buf_t b = {.max = BODY_MAX, .secret = 1};
  int first = 1;
  evp__buf_adds(&b, "{");
  field(&b, "SecretId", secret_id, &first);
  field(&b, "VersionStage", stage, &first);
  field(&b, "VersionId", version_id, &first);
  evp__buf_adds(&b, "}");
  char *resp = NULL;
  size_t rlen = 0;
  evp_err_t rc = sm_send(c, "GetSecretValue", &b, &resp, &rlen, res);
  if (rc != EVP_OK) return rc;
  cJSON *j = cJSON_ParseWithLength(resp, rlen);
  wipe_free(resp, rlen);
  const cJSON *vid = cJSON_GetObjectItemCaseSensitive(j, "VersionId");
  const cJSON *ss = cJSON_GetObjectItemCaseSensitive(j, "SecretString");
  const cJSON *sb = cJSON_GetObjectItemCaseSensitive(j, "SecretBinary");
  rc = EVP_ERR_JSON;
  if (cJSON_IsObject(j) && cJSON_IsString(vid) &&
      strlen(vid->valuestring) < sizeof out->version_id &&
      (cJSON_IsString(ss) != cJSON_IsString(sb))) {
    const char *v = cJSON_IsString(ss) ? ss->valuestring : sb->valuestring;
    size_t vl = strlen(v);
    unsigned char *val = malloc(vl + 1);
    if (!val) {
      rc = EVP_ERR_NOMEM;
    } else if (cJSON_IsString(ss)) {
      memcpy(val, v, vl + 1);
      out->value_len = vl;
      rc = EVP_OK;
    } else {
      rc = evp__base64_decode(v, vl, val, &out->value_len) == EVP_OK ? EVP_OK : EVP_ERR_JSON;
      if (rc == EVP_OK) val[out->value_len] = '\0';
    }
    if (rc == EVP_OK) {
      out->value = val;
      memcpy(out->version_id, vid->valuestring, strlen(vid->valuestring) + 1);
    } else if (val) {
      OPENSSL_cleanse(val, vl + 1);
      free(val);
    }
  }
  wipe_json(j);
  cJSON_Delete(j);
  if (rc != EVP_OK) evp__aws_secret_clear(out);
  return rc;
}

static evp_err_t uuid4(char out[37]) {
  unsigned char r[16];
  if (evp__random(r, sizeof r) != EVP_OK) return EVP_ERR_INTERNAL;
  r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
  r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
  evp__uuid_text(r, out);
  return EVP_OK;
}

evp_err_t evp__sm_put_secret(evp__aws_client_t *c, const char *secret_id, const char *version_id,
                             const void *value, size_t value_len, const char *stage,
                             evp__aws_result_t *res) {
  if (res) memset(res, 0, sizeof *res);
  if (!c || !evp__aws_ident_ok(secret_id, MAX_SECRET_ID) || (!value && value_len) ||
      (stage && !evp__aws_ident_ok(stage, MAX_STAGE)))
    return EVP_ERR_INVALID_ARG;
  if (version_id && (strlen(version_id) < 32 || !evp__aws_ident_ok(version_id, 64)))
    return EVP_ERR_INVALID_ARG;
  if (value_len > MAX_VALUE) return EVP_ERR_TOO_LARGE;
  char gen[37];
  if (!version_id) {
    if (uuid4(gen) != EVP_OK) return EVP_ERR_INTERNAL;
    version_id = gen;
  }
  const char *v = value ? value : "";
  int text = evp__utf8_valid(v, value_len) && !memchr(v, '\0', value_len);
  evp__buf_t b = {.max = BODY_MAX, .secret = 1};
  int first = 1;
  evp__buf_adds(&b, "{");
  field(&b, "SecretId", secret_id, &first);
  field(&b, "ClientRequestToken", version_id, &first);
  if (text) {
    evp__buf_adds(&b, ",\"SecretString\":");
    evp__buf_json_str(&b, v, value_len);
  } else {
    char *enc = malloc(evp__base64_encoded_len(value_len) + 1);
    if (!enc) {
      evp__buf_free(&b);
      return EVP_ERR_NOMEM;
    }
    evp__base64_encode((const unsigned char *)v, value_len, enc);
    evp__buf_adds(&b, ",\"SecretBinary\":\"");
    evp__buf_adds(&b, enc);
    evp__buf_adds(&b, "\"");
    wipe_free(enc, strlen(enc));
  }
  if (stage) {
    evp__buf_adds(&b, ",\"VersionStages\":[");
    evp__buf_json_str(&b, stage, strlen(stage));
    evp__buf_adds(&b, "]");
  }
  evp__buf_adds(&b, "}");
  return sm_send(c, "PutSecretValue", &b, NULL, NULL, res);
}

evp_err_t evp__sm_describe(evp__aws_client_t *c, const char *secret_id, char **json,
                           evp__aws_result_t *res) {
  if (json) *json = NULL;
  if (res) memset(res, 0, sizeof *res);
  if (!c || !json || !evp__aws_ident_ok(secret_id, MAX_SECRET_ID)) return EVP_ERR_INVALID_ARG;
  evp__buf_t b = {.max = BODY_MAX, .secret = 1};
  int first = 1;
  evp__buf_adds(&b, "{");
  field(&b, "SecretId", secret_id, &first);
  evp__buf_adds(&b, "}");
  char *resp = NULL;
  size_t rlen = 0;
  evp_err_t rc = sm_send(c, "DescribeSecret", &b, &resp, &rlen, res);
  if (rc != EVP_OK) return rc;
  cJSON *j = cJSON_ParseWithLength(resp, rlen);
  int ok = cJSON_IsObject(j);
  cJSON_Delete(j);
  if (!ok) {
    free(resp);
    return EVP_ERR_JSON;
  }
  *json = resp;
  return EVP_OK;
}

evp_err_t evp__sm_update_stage(evp__aws_client_t *c, const char *secret_id, const char *stage,
                               const char *move_to, const char *remove_from,
                               evp__aws_result_t *res) {
  if (res) memset(res, 0, sizeof *res);
  if (!c || !evp__aws_ident_ok(secret_id, MAX_SECRET_ID) || !evp__aws_ident_ok(stage, MAX_STAGE) ||
      (!move_to && !remove_from) || (move_to && !evp__aws_ident_ok(move_to, 64)) ||
      (remove_from && !evp__aws_ident_ok(remove_from, 64)))
    return EVP_ERR_INVALID_ARG;
  evp__buf_t b = {.max = BODY_MAX, .secret = 1};
  int first = 1;
  evp__buf_adds(&b, "{");
  field(&b, "SecretId", secret_id, &first);
  field(&b, "VersionStage", stage, &first);
  field(&b, "MoveToVersionId", move_to, &first);
  field(&b, "RemoveFromVersionId", remove_from, &first);
  evp__buf_adds(&b, "}");
  return sm_send(c, "UpdateSecretVersionStage", &b, NULL, NULL, res);
}
