/* Firehose PutRecordBatch over AWS JSON 1.1: the documented limits are
 * enforced before anything is sent, records travel base64-encoded, and the
 * per-record outcome (RequestResponses[i].ErrorCode) is reported so the
 * caller resends only the failed records. */
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "aws/aws_int.h"
#include "base/base.h"
#include "json/json.h"

static int stream_ok(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (!n || n > 64) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '_' || *s == '.' || *s == '-'))
      return 0;
  return 1;
}

static void all_failed(unsigned char *failed, size_t *n_failed, size_t n) {
  if (failed) memset(failed, 1, n);
  if (n_failed) *n_failed = n;
}

evp_err_t evp__fh_put_record_batch(evp__aws_client_t *c, const char *stream,
                                   const char *const *records, const size_t *lens, size_t n,
                                   unsigned char *failed, size_t *n_failed,
                                   evp__aws_result_t *res) {
  if (res) memset(res, 0, sizeof *res);
  if (!failed || !n_failed) return EVP_ERR_INVALID_ARG;
  all_failed(failed, n_failed, n);
  if (!c || !stream_ok(stream) || !records || !lens || !n) return EVP_ERR_INVALID_ARG;
  if (n > EVP__FH_MAX_RECORDS) return EVP_ERR_TOO_LARGE;
  size_t total = 0, enc_total = 0;
  for (size_t i = 0; i < n; i++) {
    if (!records[i] && lens[i]) return EVP_ERR_INVALID_ARG;
    if (lens[i] > EVP__FH_MAX_RECORD_BYTES) return EVP_ERR_TOO_LARGE;
    total += lens[i];
    enc_total += evp__base64_encoded_len(lens[i]) + 12;
  }
  if (total > EVP__FH_MAX_BATCH_BYTES) return EVP_ERR_TOO_LARGE;
  evp__buf_t b = {.max = EVP__AWS_MAX_REQUEST, .secret = 1};
  evp__buf_adds(&b, "{\"DeliveryStreamName\":");
  evp__buf_json_str(&b, stream, strlen(stream));
  evp__buf_adds(&b, ",\"Records\":[");
  /* Reserve once, then encode in place. */
  if (b.err == EVP_OK && (b.err = evp__buf_reserve(&b, enc_total + 8)) != EVP_OK)
    b.err = EVP_ERR_NOMEM;
  for (size_t i = 0; i < n && b.err == EVP_OK; i++) {
    evp__buf_adds(&b, i ? ",{\"Data\":\"" : "{\"Data\":\"");
    size_t el = evp__base64_encoded_len(lens[i]);
    if (b.err == EVP_OK && evp__buf_reserve(&b, el + 1) == EVP_OK) {
      evp__base64_encode((const unsigned char *)(records[i] ? records[i] : ""), lens[i],
                         (char *)b.p + b.len);
      b.len += el;
    } else {
      b.err = EVP_ERR_NOMEM;
    }
    evp__buf_adds(&b, "\"}");
  }
  evp__buf_adds(&b, "]}");
  if (b.err != EVP_OK) {
    evp__buf_free(&b);
    return EVP_ERR_NOMEM;
  }
  char *resp = NULL;
  size_t rlen = 0;
  evp_err_t rc = evp__aws_call(c, "PutRecordBatch", (const char *)b.p, b.len, c->call_timeout_ms,
                               &resp, &rlen, res);
  evp__buf_free(&b);
  if (rc != EVP_OK) return rc;
  cJSON *j = cJSON_ParseWithLength(resp, rlen);
  free(resp);
  const cJSON *fc = cJSON_GetObjectItemCaseSensitive(j, "FailedPutCount");
  const cJSON *rr = cJSON_GetObjectItemCaseSensitive(j, "RequestResponses");
  rc = EVP_ERR_JSON;
  if (cJSON_IsObject(j) && cJSON_IsNumber(fc) && cJSON_IsArray(rr) &&
      (size_t)cJSON_GetArraySize(rr) == n) {
    size_t nf = 0, i = 0;
    int ok = 1;
    for (const cJSON *e = rr->child; e && ok; e = e->next, i++) {
      if (!cJSON_IsObject(e)) {
        ok = 0;
        break;
      }
      const cJSON *ec = cJSON_GetObjectItemCaseSensitive(e, "ErrorCode");
      const cJSON *rid = cJSON_GetObjectItemCaseSensitive(e, "RecordId");
      int bad = cJSON_IsString(ec) && ec->valuestring[0];
      if (!bad && !cJSON_IsString(rid)) ok = 0; /* neither a record id nor an error: unreadable */
      failed[i] = (unsigned char)bad;
      nf += (size_t)bad;
    }
    if (ok) {
      *n_failed = nf;
      rc = EVP_OK;
    }
  }
  cJSON_Delete(j);
  if (rc != EVP_OK) all_failed(failed, n_failed, n);
  return rc;
}
