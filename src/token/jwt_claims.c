/* Read access to a verified token's claims. */
#include <math.h>
#include <stdlib.h>
#include <cjson/cJSON.h>
#include "token/token_int.h"

const char *evp_jwt_claims_json(const evp_jwt_t *jwt) { return jwt ? jwt->claims : NULL; }

const char *evp_jwt_kid(const evp_jwt_t *jwt) { return jwt ? jwt->key->kid : NULL; }

/* The tree is built on first use: most callers only need the verify verdict. */
static const cJSON *claim(const evp_jwt_t *jwt, const char *name) {
  if (!jwt || !name) return NULL;
  evp_jwt_t *mut = (evp_jwt_t *)jwt;
  if (!mut->tree) mut->tree = cJSON_ParseWithLength(jwt->claims, jwt->len);
  return mut->tree ? cJSON_GetObjectItemCaseSensitive((cJSON *)mut->tree, name) : NULL;
}

const char *evp_jwt_claim_str(const evp_jwt_t *jwt, const char *name) {
  const cJSON *c = claim(jwt, name);
  return cJSON_IsString(c) ? c->valuestring : NULL;
}

evp_err_t evp_jwt_claim_int(const evp_jwt_t *jwt, const char *name, int64_t *value) {
  const cJSON *c = claim(jwt, name);
  if (!cJSON_IsNumber(c) || !value || !isfinite(c->valuedouble) || fabs(c->valuedouble) > 9.2e18)
    return EVP_ERR_JWT_BAD_CLAIM;
  *value = (int64_t)c->valuedouble;
  return EVP_OK;
}

void evp_jwt_destroy(evp_jwt_t *jwt) {
  if (!jwt) return;
  cJSON_Delete(jwt->tree);
  free(jwt);
}
