/* The request/response representation shared by every handler and transport. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include "base/base.h"
#include "json/json.h"
#include "server/server.h"

const char *evp__http_req_header(const evp__http_req_t *req, const char *lcname) {
  for (size_t i = 0; i < req->n_headers; i++)
    if (req->headers[i].name && strcmp(req->headers[i].name, lcname) == 0)
      return req->headers[i].value;
  return NULL;
}

void evp__http_resp_init(evp__http_resp_t *r) { memset(r, 0, sizeof *r); }

void evp__http_resp_free(evp__http_resp_t *r) {
  for (size_t i = 0; i < r->n_headers; i++) free(r->headers[i].value);
  if (r->body) {
    OPENSSL_cleanse(r->body, r->body_len);
    free(r->body);
  }
  evp__http_resp_init(r);
}

evp_err_t evp__http_resp_header(evp__http_resp_t *r, const char *name, const char *value) {
  if (r->n_headers == EVP__HTTP_MAX_RESP_HEADERS) return EVP_ERR_TOO_LARGE;
  char *v = evp__strdup(value);
  if (!v) return EVP_ERR_NOMEM;
  r->headers[r->n_headers].name = name;
  r->headers[r->n_headers].value = v;
  r->n_headers++;
  return EVP_OK;
}

evp_err_t evp__http_resp_body(evp__http_resp_t *r, const char *content_type, const char *body,
                              size_t len) {
  char *b = malloc(len + 1);
  if (!b) return EVP_ERR_NOMEM;
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
  /* code and desc are static text of ours: escaped anyway, for safety. */
  evp__buf_t b = {0};
  evp__buf_adds(&b, "{\"error\":");
  evp__buf_json_str(&b, code, strlen(code));
  evp__buf_adds(&b, ",\"error_description\":");
  evp__buf_json_str(&b, desc, strlen(desc));
  evp__buf_adds(&b, "}");
  size_t n = 0;
  char *buf = evp__buf_take(&b, &n);
  if (!buf) return EVP_ERR_NOMEM;
  r->body = buf;
  r->body_len = n;
  r->content_type = "application/json";
  return EVP_OK;
}

void evp__free_secret(char *s) {
  if (!s) return;
  OPENSSL_cleanse(s, strlen(s));
  free(s);
}

/* RFC 9110 §5.6.2 tchar: what a field name may hold. Whitespace before the
 * colon ("Content-Length : 5") lands in the name and fails here. */
static int is_token(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          strchr("!#$%&'*+-.^_`|~", c)) ||
        c == 0)
      return 0;
  }
  return 1;
}

static int name_is(const char *name, size_t n, const char *want) {
  return n == strlen(want) && strncasecmp(name, want, n) == 0;
}

void evp__http_framing_add(evp__http_framing_t *f, const char *name, size_t name_len,
                           const char *value, size_t value_len) {
  const char *why = NULL;
  if (!is_token(name, name_len))
    why = "a header name is not a token (whitespace before the colon?)";
  else if (memchr(value, '\0', value_len) || memchr(value, '\r', value_len) ||
           memchr(value, '\n', value_len))
    why = "a header value holds NUL, CR or LF";
  else if (name_is(name, name_len, "content-length") && ++f->n_length > 1)
    why = "more than one Content-Length";
  else if (name_is(name, name_len, "transfer-encoding") &&
           (++f->n_coding > 1 || value_len != 7 || strncasecmp(value, "chunked", 7) != 0))
    why = "Transfer-Encoding must be sent once, as chunked";
  else if (name_is(name, name_len, "host"))
    f->n_host++;
  if (why && !f->why) f->why = why;
}

const char *evp__http_framing_verdict(const evp__http_framing_t *f, int http11) {
  if (f->why) return f->why;
  if (f->n_length && f->n_coding) return "both Content-Length and Transfer-Encoding";
  if (f->n_coding && !http11) return "Transfer-Encoding in an HTTP/1.0 request";
  if (f->n_host > 1) return "more than one Host";
  if (http11 && f->n_host == 0) return "HTTP/1.1 request without Host";
  return NULL;
}
