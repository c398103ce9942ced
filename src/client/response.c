/* Parses the 200 response of POST /events (docs/protocol.md):
 * {"accepted":N,"rejected":[{"index":i,"event_id":"..","error":"..",
 *   "retriable":bool}]}. */
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "client/client_int.h"

evp_err_t evp__events_resp_parse(const char *body, size_t len, size_t nitems, evp__resp *r) {
  memset(r, 0, sizeof *r);
  r->accepted = -1;
  cJSON *root = cJSON_ParseWithLength(body, len);
  if (!root) return EVP_ERR_JSON;
  evp_err_t e = EVP_ERR_JSON;
  if (!cJSON_IsObject(root)) goto out;
  cJSON *acc = cJSON_GetObjectItemCaseSensitive(root, "accepted");
  if (cJSON_IsNumber(acc)) r->accepted = (long)acc->valuedouble;
  cJSON *rej = cJSON_GetObjectItemCaseSensitive(root, "rejected");
  if (rej && !cJSON_IsArray(rej)) goto out;
  int n = rej ? cJSON_GetArraySize(rej) : 0;
  if (n > 0) {
    r->rej = calloc((size_t)n, sizeof *r->rej);
    if (!r->rej) {
      e = EVP_ERR_NOMEM;
      goto out;
    }
  }
  cJSON *x;
  cJSON_ArrayForEach(x, rej) {
    cJSON *idx = cJSON_GetObjectItemCaseSensitive(x, "index");
    if (!cJSON_IsNumber(idx) || idx->valuedouble < 0 || idx->valuedouble >= (double)nitems ||
        idx->valuedouble != (double)(size_t)idx->valuedouble)
      continue; /* an index we did not send cannot be honoured */
    struct evp__rej *o = &r->rej[r->n++];
    o->index = (size_t)idx->valuedouble;
    o->retriable = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "retriable"));
    cJSON *er = cJSON_GetObjectItemCaseSensitive(x, "error");
    const char *msg = cJSON_IsString(er) ? er->valuestring : "rejected by the server";
    size_t ml = strlen(msg);
    if (ml >= sizeof o->reason) ml = sizeof o->reason - 1;
    memcpy(o->reason, msg, ml);
    o->reason[ml] = '\0';
  }
  e = EVP_OK;
out:
  cJSON_Delete(root);
  return e;
}

void evp__events_resp_free(evp__resp *r) {
  free(r->rej);
  r->rej = NULL;
  r->n = 0;
}
