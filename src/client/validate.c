/* Schema validation for evp_send through the public schema API. A compiled
 * schema is shared by all threads; validation contexts are not, so they are
 * lent from a pool (grown on demand, each reused, never shared at once). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "table/table.h"
#include "client/validate.h"
#include "evpipe/schema.h"

#define SCHEMA_FILE_MAX (16u * 1024u * 1024u)

typedef struct ctxnode {
  struct ctxnode *next;
  evp_schema_ctx_t *ctx;
} ctxnode;

typedef struct {
  evp_schema_t *schema;
  /* The lake table the schema defines (NULL when it defines none: a schema
   * for another pipeline). Events are checked against it as the server
   * does, so the SDK never queues an event the server must refuse. */
  evp__table_t *table;
  pthread_mutex_t mu;
  ctxnode *free_list;
} validator;

static evp_err_t read_file(const char *path, char **buf, size_t *len, char *errstr, size_t es) {
  FILE *f = fopen(path, "rb");
  if (!f) return evp__seterr(errstr, es, EVP_ERR_IO, "schema.file %s: %s", path, strerror(errno));
  size_t cap = 65536, n = 0;
  char *b = malloc(cap);
  while (b) {
    size_t r = fread(b + n, 1, cap - n, f);
    n += r;
    if (n < cap) break;
    if (cap >= SCHEMA_FILE_MAX) {
      free(b);
      fclose(f);
      return evp__seterr(errstr, es, EVP_ERR_TOO_LARGE, "schema.file %s: larger than 16 MiB", path);
    }
    char *nb = realloc(b, cap * 2);
    if (!nb) {
      free(b);
      b = NULL;
      break;
    }
    b = nb;
    cap *= 2;
  }
  int bad = ferror(f);
  fclose(f);
  if (!b) return evp__seterr(errstr, es, EVP_ERR_NOMEM, "out of memory");
  if (bad) {
    free(b);
    return evp__seterr(errstr, es, EVP_ERR_IO, "schema.file %s: read error", path);
  }
  *buf = b;
  *len = n;
  return EVP_OK;
}

evp_err_t evp__client_validator_load(const char *path, void **out, char *errstr, size_t es) {
  char *text = NULL;
  size_t len = 0;
  evp_err_t e = read_file(path, &text, &len, errstr, es);
  if (e != EVP_OK) return e;
  validator *v = calloc(1, sizeof *v);
  if (!v) {
    free(text);
    return evp__seterr(errstr, es, EVP_ERR_NOMEM, "out of memory");
  }
  char msg[200] = "";
  e = EVP_ERR_SCHEMA_INVALID;
  v->schema = evp_schema_compile(text, len, NULL, &e, msg, sizeof msg);
  if (!v->schema) {
    free(text);
    free(v);
    return evp__seterr(errstr, es, e, "schema.file %s: %s", path, msg);
  }
  if (evp__table_parse(text, len, &v->table, NULL, 0) == EVP_ERR_NOMEM) {
    free(text);
    evp_schema_destroy(v->schema);
    free(v);
    return evp__seterr(errstr, es, EVP_ERR_NOMEM, "out of memory");
  }
  free(text);
  pthread_mutex_init(&v->mu, NULL);
  *out = v;
  return EVP_OK;
}

evp_err_t evp__client_validator_check(void *vp, const char *json, size_t len, char *errstr,
                                      size_t es) {
  validator *v = vp;
  const char *why;
  pthread_mutex_lock(&v->mu);
  ctxnode *n = v->free_list;
  if (n) v->free_list = n->next;
  pthread_mutex_unlock(&v->mu);
  if (!n) {
    n = malloc(sizeof *n);
    if (!n || !(n->ctx = evp_schema_ctx_new())) {
      free(n);
      return evp__seterr(errstr, es, EVP_ERR_NOMEM, "out of memory");
    }
  }
  evp_err_t e = evp_schema_validate(v->schema, n->ctx, json, len);
  if (e != EVP_OK) {
    const char *path = evp_schema_ctx_error_instance_path(n->ctx, 0);
    const char *msg = evp_schema_ctx_error_message(n->ctx, 0);
    evp__seterr(errstr, es, e, "%s: %s", path && *path ? path : "/", msg ? msg : evp_err2str(e));
  } else if (v->table) {
    e = evp__table_check_event(v->table, json, len, &why, errstr, es);
  }
  pthread_mutex_lock(&v->mu);
  n->next = v->free_list;
  v->free_list = n;
  pthread_mutex_unlock(&v->mu);
  return e;
}

void evp__client_validator_free(void *vp) {
  validator *v = vp;
  if (!v) return;
  while (v->free_list) {
    ctxnode *n = v->free_list;
    v->free_list = n->next;
    evp_schema_ctx_destroy(n->ctx);
    free(n);
  }
  evp_schema_destroy(v->schema);
  evp__table_free(v->table);
  pthread_mutex_destroy(&v->mu);
  free(v);
}
