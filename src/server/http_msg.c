/* The request/response representation shared by every handler and transport. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "core/core.h"
#include "server/server.h"

const char *evp__http_req_header(const evp__http_req_t *req, const char *lcname) {
  for (size_t i = 0; i < req->n_headers; i++)
    if (req->headers[i].name && strcmp(req->headers[i].name, lcname) == 0)
      return req->headers[i].value;
  return NULL;
}

void evp__http_resp_init(evp__http_resp_t *r) { memset(r, 0, sizeof *r); }

void evp__http_resp_free(evp__http_resp_t *r) {
  for (size_t i = 0; i < r->n_headers; i++)
    free(r->headers[i].value);
  if (r->body) {
    OPENSSL_cleanse(r->body, r->body_len);
    free(r->body);
  }
  evp__http_resp_init(r);
}

evp_err_t evp__http_resp_header(evp__http_resp_t *r, const char *name, const char *value) {
  if (r->n_headers == EVP__HTTP_MAX_RESP_HEADERS)
    return EVP_ERR_TOO_LARGE;
  char *v = evp__strdup(value);
  if (!v)
    return EVP_ERR_NOMEM;
  r->headers[r->n_headers].name = name;
  r->headers[r->n_headers].value = v;
  r->n_headers++;
  return EVP_OK;
}

evp_err_t evp__http_resp_body(evp__http_resp_t *r, const char *content_type, const char *body,
                              size_t len) {
  char *b = malloc(len + 1);
  if (!b)
    return EVP_ERR_NOMEM;
  memcpy(b, body, len);
  b[len] = '\0';
  if (r->body) {
    OPENSSL_cleanse(r->body, r->body_len);
    free(r->body);
  }
  r->body = b;
  r->body_len = len;
  r->content_type = content_type;
  return EVP_OK;
}

evp_err_t evp__http_resp_error(evp__http_resp_t *r, int status, const char *code,
                               const char *desc) {
  evp__http_resp_free(r);
  r->status = status;
  r->reason = code;
  /* code and desc are static text of ours: no escaping needed beyond what
   * evp__json_escape does for safety. */
  size_t cl = strlen(code), dl = strlen(desc);
  char *buf = malloc(6 * (cl + dl) + 64);
  if (!buf)
    return EVP_ERR_NOMEM;
  size_t n = 0;
  memcpy(buf, "{\"error\":\"", 10);
  n = 10;
  n += evp__json_escape(code, cl, buf + n);
  memcpy(buf + n, "\",\"error_description\":\"", 23);
  n += 23;
  n += evp__json_escape(desc, dl, buf + n);
  memcpy(buf + n, "\"}", 3);
  n += 2;
  r->body = buf;
  r->body_len = n;
  r->content_type = "application/json";
  return EVP_OK;
}

void evp__free_secret(char *s) {
  if (!s)
    return;
  OPENSSL_cleanse(s, strlen(s));
  free(s);
}
