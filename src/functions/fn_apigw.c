/* API Gateway proxy-integration events (payload 1.0 and 2.0) <-> the
 * handlers' evp__http_req_t / evp__http_resp_t. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "base/base.h"
#include "json/json.h"
#include "functions/fn_int.h"

evp_err_t evp__fn_b64_decode(const char *in, size_t len, unsigned char **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  if (len % 4 != 0 || len > (size_t)0x7ffffff0) return EVP_ERR_BASE64;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)in[i];
    int pad_ok = c == '=' && i >= len - 2 && (i == len - 1 || in[len - 1] == '=');
    if (!(isalnum(c) || c == '+' || c == '/' || pad_ok)) return EVP_ERR_BASE64;
  }
  unsigned char *buf = malloc(len / 4 * 3 + 1);
  if (!buf) return EVP_ERR_NOMEM;
  int n = len ? EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len) : 0;
  if (n < 0) {
    free(buf);
    return EVP_ERR_BASE64;
  }
  /* EVP_DecodeBlock counts the padding as zero bytes. */
  if (len >= 1 && in[len - 1] == '=') n--;
  if (len >= 2 && in[len - 2] == '=') n--;
  buf[n] = '\0';
  *out = buf;
  *out_len = (size_t)n;
  return EVP_OK;
}

void evp__apigw_req_free(evp__apigw_req_t *r) {
  for (size_t i = 0; i < r->n; i++) {
    free(r->names[i]);
    evp__free_secret(r->values[i]); /* Authorization */
  }
  free(r->names);
  free(r->values);
  free(r->hdrs);
  free(r->method);
  free(r->path);
  free(r->source_ip);
  if (r->body) {
    OPENSSL_cleanse(r->body, r->body_len);
    free(r->body);
  }
  memset(r, 0, sizeof *r);
}

static evp_err_t add_header(evp__apigw_req_t *r, const char *name, const char *value) {
  size_t nl = strlen(name), vl = strlen(value);
  if (nl == 0 || nl > EVP__APIGW_MAX_HEADER_NAME || vl > EVP__APIGW_MAX_HEADER_VALUE)
    return EVP_ERR_TOO_LARGE;
  if (r->n == EVP__APIGW_MAX_HEADERS) return EVP_ERR_TOO_LARGE;
  char *n = malloc(nl + 1);
  char *v = evp__strdup(value);
  if (!n || !v) {
    free(n);
    free(v);
    return EVP_ERR_NOMEM;
  }
  for (size_t i = 0; i <= nl; i++) n[i] = (char)tolower((unsigned char)name[i]);
  r->names[r->n] = n;
  r->values[r->n] = v;
  r->n++;
  return EVP_OK;
}

/* Headers of an object {"Name":"v"} or {"Name":["v1","v2"]}. */
static evp_err_t add_headers(evp__apigw_req_t *r, const cJSON *obj, int multi) {
  const cJSON *h;
  evp_err_t e;
  cJSON_ArrayForEach(h, obj) {
    if (!h->string) continue;
    if (multi && cJSON_IsArray(h)) {
      const cJSON *v;
      cJSON_ArrayForEach(v, h) {
        if (cJSON_IsString(v) && (e = add_header(r, h->string, v->valuestring)) != EVP_OK) return e;
      }
    } else if (cJSON_IsString(h)) {
      if ((e = add_header(r, h->string, h->valuestring)) != EVP_OK) return e;
    }
  }
  return EVP_OK;
}

static const char *str_of(const cJSON *o, const char *name) {
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsString(s) ? s->valuestring : NULL;
}

evp_err_t evp__apigw_parse(const char *event, size_t len, size_t max_body, evp__apigw_req_t *out) {
  memset(out, 0, sizeof *out);
  cJSON *root = cJSON_ParseWithLength(event, len);
  if (!root) return EVP_ERR_JSON;
  evp_err_t e = EVP_ERR_INVALID_ARG;
  if (!cJSON_IsObject(root)) goto out;
  const cJSON *rc = cJSON_GetObjectItemCaseSensitive(root, "requestContext");
  const char *ver = str_of(root, "version");
  const char *method, *path, *ip = NULL;
  if (ver && strcmp(ver, "2.0") == 0) {
    const cJSON *http = cJSON_GetObjectItemCaseSensitive(rc, "http");
    method = str_of(http, "method");
    path = str_of(http, "path");
    if (!path) path = str_of(root, "rawPath");
    ip = str_of(http, "sourceIp");
    out->version = 2;
  } else {
    method = str_of(root, "httpMethod");
    path = str_of(root, "path");
    ip = str_of(cJSON_GetObjectItemCaseSensitive(rc, "identity"), "sourceIp");
    out->version = 1;
  }
  if (!method || !path || strlen(method) > 16 || strlen(path) > 8192) goto out;
  e = EVP_ERR_NOMEM;
  if (!(out->names = calloc(EVP__APIGW_MAX_HEADERS, sizeof *out->names)) ||
      !(out->values = calloc(EVP__APIGW_MAX_HEADERS, sizeof *out->values)) ||
      !(out->method = evp__strdup(method)) || !(out->path = evp__strdup(path)) ||
      (ip && !(out->source_ip = evp__strdup(ip))))
    goto out;
  const cJSON *mvh = cJSON_GetObjectItemCaseSensitive(root, "multiValueHeaders");
  if (out->version == 1 && cJSON_IsObject(mvh))
    e = add_headers(out, mvh, 1);
  else
    e = add_headers(out, cJSON_GetObjectItemCaseSensitive(root, "headers"), 0);
  if (e != EVP_OK) goto out;
  if (out->version == 2) {
    /* HTTP API moves Cookie headers into "cookies"; none of our handlers
     * reads them, but keep the request complete. */
    const cJSON *ck = cJSON_GetObjectItemCaseSensitive(root, "cookies"), *c;
    cJSON_ArrayForEach(c, ck) {
      if (cJSON_IsString(c) && (e = add_header(out, "cookie", c->valuestring)) != EVP_OK) goto out;
    }
  }
  const cJSON *body = cJSON_GetObjectItemCaseSensitive(root, "body");
  const cJSON *b64 = cJSON_GetObjectItemCaseSensitive(root, "isBase64Encoded");
  if (cJSON_IsString(body)) {
    size_t bl = strlen(body->valuestring);
    if (cJSON_IsTrue(b64)) {
      if (bl / 4 * 3 > max_body + 3) {
        e = EVP_ERR_TOO_LARGE;
        goto out;
      }
      unsigned char *d;
      if ((e = evp__fn_b64_decode(body->valuestring, bl, &d, &out->body_len)) != EVP_OK) goto out;
      out->body = (char *)d;
    } else {
      if (bl > max_body) {
        e = EVP_ERR_TOO_LARGE;
        goto out;
      }
      if (!(out->body = malloc(bl + 1))) {
        e = EVP_ERR_NOMEM;
        goto out;
      }
      memcpy(out->body, body->valuestring, bl + 1);
      out->body_len = bl;
    }
    if (out->body_len > max_body) {
      e = EVP_ERR_TOO_LARGE;
      goto out;
    }
  }
  if (!(out->hdrs = calloc(out->n ? out->n : 1, sizeof *out->hdrs))) {
    e = EVP_ERR_NOMEM;
    goto out;
  }
  for (size_t i = 0; i < out->n; i++) {
    out->hdrs[i].name = out->names[i];
    out->hdrs[i].value = out->values[i];
  }
  out->req.method = out->method;
  out->req.path = out->path;
  out->req.headers = out->hdrs;
  out->req.n_headers = out->n;
  out->req.body = out->body ? out->body : "";
  out->req.body_len = out->body_len;
  out->req.source_ip = out->source_ip;
  e = EVP_OK;
out:
  evp__fn_cjson_wipe_delete(root);
  if (e != EVP_OK) evp__apigw_req_free(out);
  return e;
}

evp_err_t evp__apigw_render(const evp__http_resp_t *resp, char **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  evp__buf_t b = {0};
  evp__buf_addf(&b, "{\"statusCode\":%d,\"headers\":{", resp->status);
  if (resp->content_type) {
    evp__buf_adds(&b, "\"Content-Type\":");
    evp__buf_json_str(&b, resp->content_type, strlen(resp->content_type));
  }
  for (size_t i = 0; i < resp->n_headers; i++) {
    if (i || resp->content_type) evp__buf_adds(&b, ",");
    evp__buf_json_str(&b, resp->headers[i].name, strlen(resp->headers[i].name));
    evp__buf_adds(&b, ":");
    evp__buf_json_str(&b, resp->headers[i].value, strlen(resp->headers[i].value));
  }
  evp__buf_adds(&b, "},\"body\":");
  evp__buf_json_str(&b, resp->body_len ? resp->body : "", resp->body_len);
  evp__buf_adds(&b, ",\"isBase64Encoded\":false}");
  if (!(*out = evp__buf_take(&b, out_len))) return EVP_ERR_NOMEM;
  return EVP_OK;
}
