/* evp_conf_t: parse, check and store property values from the table in
 * conf_props.c. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "client/conf_int.h"
#include "base/base.h"

#define FIELD(c, p, T) ((T *)(void *)((char *)(c) + (p)->off))
#define CFIELD(c, p, T) ((const T *)(const void *)((const char *)(c) + (p)->off))

static void wipe_free(char *s) {
  if (s) {
    evp__wipe(s, strlen(s));
    free(s);
  }
}

static evp_err_t set_prop(evp_conf_t *c, const evp__prop *p, const char *v, char *errstr,
                          size_t es) {
  switch (p->type) {
  case EVP__P_STR:
  case EVP__P_SECRET: {
    char *d = NULL;
    if (v && *v) {
      d = evp__strdup(v);
      if (!d) return evp__seterr(errstr, es, EVP_ERR_NOMEM, "out of memory");
    }
    char **f = FIELD(c, p, char *);
    wipe_free(*f);
    *f = d;
    return EVP_OK;
  }
  case EVP__P_INT: {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || (double)x < p->min || (double)x > p->max)
      return evp__seterr(errstr, es, EVP_ERR_CONF_INVALID,
                         "%s: expected an integer in [%.0f, %.0f], got \"%s\"", p->name, p->min,
                         p->max, v);
    *FIELD(c, p, int64_t) = x;
    return EVP_OK;
  }
  case EVP__P_DBL: {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < p->min || x > p->max)
      return evp__seterr(errstr, es, EVP_ERR_CONF_INVALID,
                         "%s: expected a number in [%g, %g], got \"%s\"", p->name, p->min, p->max,
                         v);
    *FIELD(c, p, double) = x;
    return EVP_OK;
  }
  case EVP__P_BOOL: {
    int64_t b;
    if (!strcasecmp(v, "true") || !strcmp(v, "1"))
      b = 1;
    else if (!strcasecmp(v, "false") || !strcmp(v, "0"))
      b = 0;
    else
      return evp__seterr(errstr, es, EVP_ERR_CONF_INVALID, "%s: expected true or false, got \"%s\"",
                         p->name, v);
    *FIELD(c, p, int64_t) = b;
    return EVP_OK;
  }
  case EVP__P_ENUM: {
    for (int64_t i = 0; p->enums[i]; i++)
      if (!strcmp(v, p->enums[i])) {
        *FIELD(c, p, int64_t) = i;
        return EVP_OK;
      }
    /* The table's words, so the message cannot drift from what is accepted. */
    char words[160];
    evp__conf_enum_words(p, words, sizeof words);
    return evp__seterr(errstr, es, EVP_ERR_CONF_INVALID,
                       "%s: \"%s\" is not one of the allowed values: %s", p->name, v, words);
  }
  }
  return evp__seterr(errstr, es, EVP_ERR_INTERNAL, "bad property type");
}

evp_conf_t *evp_conf_new(void) {
  evp_conf_t *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  for (size_t i = 0; i < evp__conf_nprops; i++)
    if (evp__conf_props[i].def &&
        set_prop(c, &evp__conf_props[i], evp__conf_props[i].def, NULL, 0) != EVP_OK) {
      evp_conf_destroy(c);
      return NULL;
    }
  return c;
}

evp_err_t evp_conf_set(evp_conf_t *conf, const char *name, const char *value, char *errstr,
                       size_t errstr_size) {
  if (!conf || !name || !value)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "NULL argument");
  const evp__prop *p = evp__conf_prop_find(name);
  if (!p) {
    char hint[200];
    evp__conf_suggest(name, hint, sizeof hint);
    return evp__seterr(errstr, errstr_size, EVP_ERR_CONF_UNKNOWN,
                       "unknown configuration property \"%s\"%s", name, hint);
  }
  return set_prop(conf, p, value, errstr, errstr_size);
}

static int fmt_prop(const evp_conf_t *c, const evp__prop *p, char *buf, size_t n) {
  switch (p->type) {
  case EVP__P_STR: {
    const char *s = *CFIELD(c, p, char *);
    return snprintf(buf, n, "%s", s ? s : "");
  }
  case EVP__P_SECRET: return snprintf(buf, n, "%s", *CFIELD(c, p, char *) ? "[redacted]" : "");
  case EVP__P_INT: return snprintf(buf, n, "%lld", (long long)*CFIELD(c, p, int64_t));
  case EVP__P_DBL: return snprintf(buf, n, "%g", *CFIELD(c, p, double));
  case EVP__P_BOOL: return snprintf(buf, n, "%s", *CFIELD(c, p, int64_t) ? "true" : "false");
  case EVP__P_ENUM: return snprintf(buf, n, "%s", p->enums[*CFIELD(c, p, int64_t)]);
  }
  return -1;
}

evp_err_t evp_conf_get(const evp_conf_t *conf, const char *name, char *dest, size_t *dest_size) {
  if (!conf || !name || !dest_size) return EVP_ERR_INVALID_ARG;
  const evp__prop *p = evp__conf_prop_find(name);
  if (!p) return EVP_ERR_CONF_UNKNOWN;
  int need = fmt_prop(conf, p, NULL, 0);
  if (need < 0) return EVP_ERR_INTERNAL;
  size_t have = *dest_size;
  *dest_size = (size_t)need + 1;
  if (!dest) return EVP_OK;
  if (have < (size_t)need + 1) return EVP_ERR_TOO_LARGE;
  fmt_prop(conf, p, dest, have);
  return EVP_OK;
}

evp_conf_t *evp_conf_dup(const evp_conf_t *conf) {
  if (!conf) return NULL;
  evp_conf_t *d = malloc(sizeof *d);
  if (!d) return NULL;
  *d = *conf;
  /* Detach every string first so a failure part-way frees only our copies. */
  for (size_t i = 0; i < evp__conf_nprops; i++)
    if (evp__conf_props[i].type == EVP__P_STR || evp__conf_props[i].type == EVP__P_SECRET)
      *FIELD(d, &evp__conf_props[i], char *) = NULL;
  for (size_t i = 0; i < evp__conf_nprops; i++) {
    const evp__prop *p = &evp__conf_props[i];
    if (p->type != EVP__P_STR && p->type != EVP__P_SECRET) continue;
    const char *s = *CFIELD(conf, p, char *);
    if (s && !(*FIELD(d, p, char *) = evp__strdup(s))) {
      evp_conf_destroy(d);
      return NULL;
    }
  }
  return d;
}

void evp_conf_destroy(evp_conf_t *conf) {
  if (!conf) return;
  for (size_t i = 0; i < evp__conf_nprops; i++) {
    const evp__prop *p = &evp__conf_props[i];
    if (p->type == EVP__P_STR || p->type == EVP__P_SECRET) wipe_free(*FIELD(conf, p, char *));
  }
  evp__wipe(conf, sizeof *conf);
  free(conf);
}

void evp_conf_set_delivery_cb(evp_conf_t *conf, evp_delivery_cb_t cb, void *opaque) {
  if (!conf) return;
  conf->delivery_cb = cb;
  conf->delivery_opaque = opaque;
  conf->dr_cb = NULL;
}

void evp_conf_set_dr_cb(evp_conf_t *conf, evp_dr_cb_t cb) {
  if (!conf) return;
  conf->dr_cb = cb;
  conf->delivery_cb = cb ? evp__delivery_to_dr_cb : NULL;
  conf->delivery_opaque = NULL; /* the adapter reads conf->opaque when called */
}

void evp_conf_set_log_cb(evp_conf_t *conf, evp_log_cb_t cb) {
  if (conf) conf->log_cb = cb;
}

void evp_conf_set_opaque(evp_conf_t *conf, void *opaque) {
  if (conf) conf->opaque = opaque;
}

void evp_conf_set_error_cb(evp_conf_t *conf, evp_error_cb_t cb) {
  if (conf) conf->error_cb = cb;
}
