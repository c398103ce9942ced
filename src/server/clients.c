/* The client store the issuer authenticates against. Secrets are reduced at
 * load time to HMAC-SHA256 under a random per-store key: the raw secrets do
 * not stay in memory, and checking a presented secret compares two 32-byte
 * MACs in constant time, so neither content nor length leaks through timing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include "base/base.h"
#include "json/json.h"
#include "server/server.h"

#define MAX_AUDIENCES 16
#define MIN_SECRET 16

typedef struct {
  char *id;
  unsigned char mac[32];
  char *aud[MAX_AUDIENCES];
  size_t naud;
} client_t;

struct evp__clients {
  evp__hmac_key_t *key;
  unsigned char dummy[32]; /* compared against when the id is unknown */
  client_t *c;
  size_t n;
};

static int id_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > EVP__CLIENT_ID_MAX) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '~' || c == '-'))
      return 0;
  }
  return 1;
}

static int aud_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > EVP__AUDIENCE_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
  return evp__utf8_valid(s, n);
}

void evp__clients_free(evp__clients_t *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) {
    free(c->c[i].id);
    for (size_t j = 0; j < c->c[i].naud; j++) free(c->c[i].aud[j]);
  }
  if (c->c) OPENSSL_cleanse(c->c, c->n * sizeof *c->c);
  free(c->c);
  evp__hmac_key_free(c->key);
  OPENSSL_cleanse(c, sizeof *c);
  free(c);
}

size_t evp__clients_count(const evp__clients_t *c) { return c ? c->n : 0; }

/* Fill one entry from its JSON object; errstr names what is wrong. */
static evp_err_t load_one(evp__clients_t *cs, const cJSON *o, size_t idx, char *errstr,
                          size_t errstr_size) {
  client_t *cl = &cs->c[cs->n];
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "client_id");
  const cJSON *sec = cJSON_GetObjectItemCaseSensitive(o, "client_secret");
  const cJSON *auds = cJSON_GetObjectItemCaseSensitive(o, "audiences");
  if (!cJSON_IsObject(o) || !cJSON_IsString(id) || !id_ok(id->valuestring))
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "client %zu: client_id must be 1..%d characters of [A-Za-z0-9._~-]", idx,
                       EVP__CLIENT_ID_MAX);
  size_t sl = cJSON_IsString(sec) ? strlen(sec->valuestring) : 0;
  if (sl < MIN_SECRET || sl > EVP__CLIENT_SECRET_MAX)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "client %zu: client_secret must be a string of %d..%d bytes", idx,
                       MIN_SECRET, EVP__CLIENT_SECRET_MAX);
  int na = cJSON_IsArray(auds) ? cJSON_GetArraySize(auds) : 0;
  if (na < 1 || na > MAX_AUDIENCES)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "client %zu: audiences must be an array of 1..%d strings", idx,
                       MAX_AUDIENCES);
  for (size_t i = 0; i < cs->n; i++)
    if (strcmp(cs->c[i].id, id->valuestring) == 0)
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                         "client %zu: client_id \"%s\" appears twice", idx, id->valuestring);
  memset(cl, 0, sizeof *cl);
  const cJSON *a;
  cJSON_ArrayForEach(a, auds) {
    if (!cJSON_IsString(a) || !aud_ok(a->valuestring)) goto bad_aud;
    if (!(cl->aud[cl->naud] = evp__strdup(a->valuestring))) goto nomem;
    cl->naud++;
  }
  if (!(cl->id = evp__strdup(id->valuestring))) goto nomem;
  if (evp__hmac_compute(cs->key, sec->valuestring, sl, cl->mac) != 0) {
    for (size_t j = 0; j < cl->naud; j++) free(cl->aud[j]);
    free(cl->id);
    return evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL,
                       "client %zu: HMAC-SHA256 failed in the crypto library", idx);
  }
  cs->n++;
  return EVP_OK;
bad_aud:
  for (size_t j = 0; j < cl->naud; j++) free(cl->aud[j]);
  return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                     "client %zu: each audience must be 1..%d printable characters", idx,
                     EVP__AUDIENCE_MAX);
nomem:
  for (size_t j = 0; j < cl->naud; j++) free(cl->aud[j]);
  free(cl->id);
  return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
}

/* Wipe every secret string inside a parsed cJSON tree. */
static void wipe_secrets(cJSON *root) {
  const cJSON *o;
  cJSON_ArrayForEach(o, root) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "client_secret");
    if (cJSON_IsString(s)) OPENSSL_cleanse(s->valuestring, strlen(s->valuestring));
  }
}

evp_err_t evp__clients_parse(const char *json, size_t len, evp__clients_t **out, char *errstr,
                             size_t errstr_size) {
  *out = NULL;
  cJSON *root = cJSON_ParseWithLength(json, len);
  if (!root)
    return evp__seterr(errstr, errstr_size, EVP_ERR_JSON, "the clients file is not valid JSON");
  evp_err_t e;
  evp__clients_t *cs = NULL;
  int n = cJSON_GetArraySize(root);
  if (!cJSON_IsArray(root) || n < 1) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                    "the clients file must be a non-empty JSON array of clients");
    goto out;
  }
  if (n > EVP__CLIENTS_MAX) {
    e = evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE, "more than %d clients",
                    EVP__CLIENTS_MAX);
    goto out;
  }
  unsigned char k[32];
  cs = calloc(1, sizeof *cs);
  if (!cs || !(cs->c = calloc((size_t)n, sizeof *cs->c)) || evp__random(k, sizeof k) != EVP_OK ||
      evp__random(cs->dummy, sizeof cs->dummy) != EVP_OK ||
      !(cs->key = evp__hmac_key_new(k, sizeof k))) {
    OPENSSL_cleanse(k, sizeof k);
    e = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    goto out;
  }
  OPENSSL_cleanse(k, sizeof k);
  const cJSON *o;
  size_t idx = 0;
  cJSON_ArrayForEach(o, root) {
    if ((e = load_one(cs, o, idx++, errstr, errstr_size)) != EVP_OK) goto out;
  }
  *out = cs;
  cs = NULL;
  e = EVP_OK;
out:
  wipe_secrets(root);
  cJSON_Delete(root);
  evp__clients_free(cs);
  return e;
}

int evp__clients_has(const evp__clients_t *c, const char *id, size_t idlen) {
  for (size_t i = 0; c && i < c->n; i++)
    if (strlen(c->c[i].id) == idlen && memcmp(c->c[i].id, id, idlen) == 0) return 1;
  return 0;
}

evp__client_auth_t evp__clients_check(const evp__clients_t *c, const char *id, size_t idlen,
                                      const char *secret, size_t secretlen, const char *aud,
                                      const char **aud_out) {
  const client_t *cl = NULL;
  for (size_t i = 0; i < c->n; i++)
    if (strlen(c->c[i].id) == idlen && memcmp(c->c[i].id, id, idlen) == 0) {
      cl = &c->c[i];
      break;
    }
  unsigned char mac[32];
  /* The same MAC and comparison happen for an unknown id; a failed MAC
   * (zero, which a stored one could equal only if it failed too) refuses. */
  int failed = evp__hmac_compute(c->key, secret, secretlen, mac) != 0;
  int bad = evp__ct_memcmp(mac, cl ? cl->mac : c->dummy, sizeof mac) | failed;
  OPENSSL_cleanse(mac, sizeof mac);
  if (!cl || bad) return EVP__CLIENT_UNKNOWN;
  if (!aud) {
    *aud_out = cl->aud[0];
    return EVP__CLIENT_OK;
  }
  for (size_t j = 0; j < cl->naud; j++)
    if (strcmp(cl->aud[j], aud) == 0) {
      *aud_out = cl->aud[j];
      return EVP__CLIENT_OK;
    }
  return EVP__CLIENT_BAD_AUDIENCE;
}
