/* The schema loader: compile options and caller-registered resources. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include "schema/schema_int.h"

evp_schema_loader_t *evp_schema_loader_new(void) {
  evp_schema_loader_t *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->format_assert = 1;
  return l;
}

void evp_schema_loader_destroy(evp_schema_loader_t *l) {
  if (!l) return;
  for (size_t i = 0; i < l->n; i++) {
    free(l->res[i].uri);
    cJSON_Delete(l->res[i].doc);
  }
  free(l->res);
  free(l);
}

void evp_schema_loader_set_format_assert(evp_schema_loader_t *l, int on) {
  if (l) l->format_assert = on != 0;
}

cJSON *evp__schema_parse_doc(const char *json, size_t len, evp_err_t *err, char *errstr,
                             size_t errstr_size) {
  if (len > EVP_SCHEMA_MAX_SCHEMA_SIZE) {
    *err = evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE, "schema larger than %u bytes",
                       (unsigned)EVP_SCHEMA_MAX_SCHEMA_SIZE);
    return NULL;
  }
  if (!evp__utf8_valid(json, len)) { /* RFC 8259 8.1; and EVP__SCHEMA_NUL must be free */
    const unsigned char *p = (const unsigned char *)json, *end = p + len;
    size_t k;
    while (p < end && (k = evp__utf8_seq(p, end)) != 0) p += k;
    *err = evp__seterr(errstr, errstr_size, EVP_ERR_JSON, "schema is not valid UTF-8 at byte %zu",
                       (size_t)(p - (const unsigned char *)json));
    return NULL;
  }
  int copied;
  size_t clen = len;
  /* cJSON would cut those strings at the NUL: EVP__SCHEMA_NUL stands in. */
  char *copy = evp__json_replace_nul_escapes(json, len, EVP__SCHEMA_NUL, &clen, &copied);
  if (copied && !copy) {
    *err = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    return NULL;
  }
  const char *text = copied ? copy : json, *end = NULL;
  cJSON *doc = cJSON_ParseWithLengthOpts(text, clen, &end, 0);
  if (doc && end) {
    while (end < text + clen && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
      end++;
    if (end != text + clen) {
      cJSON_Delete(doc);
      doc = NULL;
    }
  }
  free(copy);
  if (!doc) {
    /* cJSON does not say why it failed; our parser does (syntax with an
     * offset, nesting beyond cJSON's limit, or -- when the text parses --
     * cJSON ran out of memory). */
    evp__jdoc d = {0};
    evp_err_t rc = evp__json_parse(&d, json, len, CJSON_NESTING_LIMIT);
    if (rc == EVP_ERR_JSON)
      *err = evp__seterr(errstr, errstr_size, rc, "schema is not valid JSON: %s at byte %zu",
                         d.err_msg, d.err_off);
    else if (rc == EVP_ERR_TOO_DEEP)
      *err = evp__seterr(errstr, errstr_size, rc, "schema nested deeper than %d levels",
                         CJSON_NESTING_LIMIT);
    else
      *err = evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    evp__jdoc_free(&d);
  }
  return doc;
}

evp_err_t evp_schema_add_resource(evp_schema_loader_t *l, const char *uri, const char *json,
                                  size_t len, char *errstr, size_t errstr_size) {
  if (!l || !uri || !json)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "NULL argument");
  size_t ul = strlen(uri);
  if (ul > 0 && uri[ul - 1] == '#') ul--;
  if (ul == 0 || memchr(uri, '#', ul))
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "resource URI must be non-empty and have no fragment");
  for (size_t i = 0; i < l->n; i++)
    if (strlen(l->res[i].uri) == ul && !memcmp(l->res[i].uri, uri, ul))
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "resource %s already registered",
                         l->res[i].uri);
  evp_err_t err = EVP_OK;
  cJSON *doc = evp__schema_parse_doc(json, len, &err, errstr, errstr_size);
  if (!doc) return err;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 8;
    evp__schema_res_t *nr = realloc(l->res, nc * sizeof *nr);
    if (!nr) {
      cJSON_Delete(doc);
      return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    }
    l->res = nr;
    l->cap = nc;
  }
  char *u = malloc(ul + 1);
  if (!u) {
    cJSON_Delete(doc);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  }
  memcpy(u, uri, ul);
  u[ul] = '\0';
  l->res[l->n].uri = u;
  l->res[l->n].doc = doc;
  l->n++;
  return EVP_OK;
}
