/* Error codes: names and descriptions, indexed by value. */
#include <stdarg.h>
#include <stdio.h>
#include "base/base.h"

static const struct {
  const char *name;
  const char *desc;
} evp__errs[] = {
#define E(code, desc) [code] = {#code, desc}
    E(EVP_OK, "Success"),
    E(EVP_ERR_INVALID_ARG, "Invalid argument"),
    E(EVP_ERR_NOMEM, "Out of memory"),
    E(EVP_ERR_IO, "I/O error"),
    E(EVP_ERR_TOO_LARGE, "Input exceeds a size limit"),
    E(EVP_ERR_UNSUPPORTED, "Not supported"),
    E(EVP_ERR_INTERNAL, "Internal error"),
    E(EVP_ERR_KEY_TOO_SHORT, "Key shorter than 32 bytes"),
    E(EVP_ERR_BASE64, "Invalid base64 text"),
    E(EVP_ERR_JWT_MALFORMED, "Malformed token"),
    E(EVP_ERR_JWT_BAD_ALG, "Token algorithm is not HS256"),
    E(EVP_ERR_JWT_BAD_TYP, "Token type is not JWT"),
    E(EVP_ERR_JWT_DUPLICATE, "Duplicate name in token header or claims"),
    E(EVP_ERR_JWT_BAD_SIGNATURE, "Token signature does not match"),
    E(EVP_ERR_JWT_UNKNOWN_KEY, "No key for the token's key id"),
    E(EVP_ERR_JWT_EXPIRED, "Token has expired"),
    E(EVP_ERR_JWT_NOT_YET_VALID, "Token is not yet valid"),
    E(EVP_ERR_JWT_ISSUED_IN_FUTURE, "Token was issued in the future"),
    E(EVP_ERR_JWT_BAD_AUDIENCE, "Token audience does not match"),
    E(EVP_ERR_JWT_BAD_ISSUER, "Token issuer does not match"),
    E(EVP_ERR_JWT_BAD_CLAIM, "Token claim missing or of the wrong type"),
    E(EVP_ERR_JSON, "Invalid JSON"),
    E(EVP_ERR_TOO_DEEP, "JSON nesting too deep"),
    E(EVP_ERR_SCHEMA_INVALID, "Invalid JSON schema"),
    E(EVP_ERR_SCHEMA_REF, "Unresolvable schema reference"),
    E(EVP_ERR_SCHEMA_REGEX, "Invalid regular expression in schema"),
    E(EVP_ERR_INVALID_EVENT, "Event does not match the schema"),
    E(EVP_ERR_CONF_UNKNOWN, "Unknown configuration property"),
    E(EVP_ERR_CONF_INVALID, "Invalid configuration value"),
    E(EVP_ERR_QUEUE_FULL, "Queue is full"),
    E(EVP_ERR_TIMED_OUT, "Timed out"),
    E(EVP_ERR_STATE, "Invalid state for this operation"),
    E(EVP_ERR_TRANSPORT, "Transport error"),
    E(EVP_ERR_HTTP, "Unexpected HTTP status"),
    E(EVP_ERR_AUTH, "Authentication failed"),
    E(EVP_ERR_PERMISSION, "Permission denied or unsafe file permissions"),
#undef E
};

#define EVP__NERRS ((int)(sizeof evp__errs / sizeof evp__errs[0]))

int evp__err_count(void) { return EVP__NERRS; }

const char *evp_err2str(evp_err_t err) {
  int i = (int)err;
  if (i < 0 || i >= EVP__NERRS || !evp__errs[i].desc) return "Unknown error";
  return evp__errs[i].desc;
}

const char *evp_err2name(evp_err_t err) {
  int i = (int)err;
  if (i < 0 || i >= EVP__NERRS || !evp__errs[i].name) return "EVP_ERR_UNKNOWN";
  return evp__errs[i].name;
}

evp_err_t evp__seterr(char *errstr, size_t errstr_size, evp_err_t err, const char *fmt, ...) {
  if (errstr && errstr_size > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
  }
  return err;
}
