/* The handlers' log lines (one JSON object each, through the Lambda
 * runtime's logger) with their escaped fields, and the error answer a
 * handler returns (type and message into the caller's buffers). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include "json/json.h"
#include "functions/fn_int.h"

evp_err_t evp__fn_fail(evp_err_t e, const char *type, const char *msg, char *errtype,
                       size_t errtype_size, char *errmsg, size_t errmsg_size) {
  if (errtype && errtype_size) snprintf(errtype, errtype_size, "%s", type);
  if (errmsg && errmsg_size) snprintf(errmsg, errmsg_size, "%s", msg);
  return e == EVP_OK ? EVP_ERR_INTERNAL : e;
}

void evp__fn_log(const evp__fn_call_t *call, evp_log_level_t lvl, const char *msg,
                 const char *fields) {
  evp_lambda_log(call ? call->inv : NULL, lvl, msg, fields);
}

void evp__fn_field_str(char *buf, size_t cap, size_t *n, const char *name, const char *value) {
  char tmp[6 * 200 + 1];
  size_t vl = value ? strnlen(value, 200) : 0;
  /* do not cut a UTF-8 sequence */
  while (value && vl > 0 && vl < strlen(value) && ((unsigned char)value[vl] & 0xC0) == 0x80) vl--;
  size_t tl = value ? evp__json_escape(value, vl, tmp) : 0;
  tmp[tl] = '\0';
  if (*n == 0 && cap > 1) buf[(*n)++] = '{', buf[*n] = '\0';
  size_t need = strlen(name) + tl + 8;
  if (*n + need >= cap) return;
  *n += (size_t)snprintf(buf + *n, cap - *n, "%s\"%s\":\"%s\"", *n > 1 ? "," : "", name, tmp);
}

void evp__fn_field_num(char *buf, size_t cap, size_t *n, const char *name, long long v) {
  if (*n == 0 && cap > 1) buf[(*n)++] = '{', buf[*n] = '\0';
  if (*n + strlen(name) + 28 >= cap) return;
  *n += (size_t)snprintf(buf + *n, cap - *n, "%s\"%s\":%lld", *n > 1 ? "," : "", name, v);
}

const char *evp__fn_field_end(char *buf, size_t cap, size_t *n) {
  if (*n == 0 || *n + 2 > cap) return NULL;
  buf[(*n)++] = '}';
  buf[*n] = '\0';
  return buf;
}
