/* The property table evp_conf_set/get use: name, type, range, default and
 * enum words of every configuration property, expanded from the one list in
 * conf_props.def (which conf_doc.c expands with the descriptions). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "client/conf_int.h"

#define OFF(f) offsetof(struct evp_conf_s, f)
#define I64MAX 9007199254740992.0 /* 2^53: exact in a double */

static const char *const comp_words[] = {"none", "gzip", NULL};
static const char *const dr_words[] = {"all", "errors", NULL};
static const char *const cb_words[] = {"thread", "poll", NULL};
static const char *const sync_words[] = {"always", "interval", "never", NULL};
static const char *const full_words[] = {"refuse", "drop_oldest", NULL};

const evp__prop evp__conf_props[] = {
#define EVP__PROP(name, type, field, lo, hi, def, words, desc) \
  {name, type, OFF(field), lo, hi, def, words},
#include "client/conf_props.def"
#undef EVP__PROP
};

const size_t evp__conf_nprops = sizeof evp__conf_props / sizeof evp__conf_props[0];

const evp__prop *evp__conf_prop_find(const char *name) {
  for (size_t i = 0; i < evp__conf_nprops; i++)
    if (strcmp(evp__conf_props[i].name, name) == 0) return &evp__conf_props[i];
  return NULL;
}

void evp__conf_enum_words(const evp__prop *p, char *buf, size_t n) {
  size_t o = 0;
  buf[0] = '\0';
  for (int i = 0; p->enums[i] && o < n; i++)
    o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? ", " : "", p->enums[i]);
}
