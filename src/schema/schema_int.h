/* Internal header of the JSON Schema validator: the compiled schema graph, the arena, and the helpers shared by its files. */
#ifndef EVP_SCHEMA_SCHEMA_INT_H
#define EVP_SCHEMA_SCHEMA_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>
#include "base/base.h"
#include "json/json.h"
#include "json/json_tape.h"
#include "schema/schema.h"
#include "evpipe/schema.h"

/* ------------------------------------------------------------ arena */

/* Bump allocator: everything a compiled schema owns lives in one arena, so
 * destruction is one walk over its blocks and nothing can leak. */
typedef struct evp__arena_block evp__arena_block_t;
typedef struct evp__arena {
  evp__arena_block_t *head;
  size_t used, cap; /* within head */
} evp__arena_t;

void *evp__arena_alloc(evp__arena_t *a, size_t n); /* zeroed, 8-aligned; NULL on ENOMEM */
char *evp__arena_strndup(evp__arena_t *a, const char *s, size_t n);
void evp__arena_free(evp__arena_t *a);

/* ------------------------------------------------------------ compiled schema */

enum { EVP__S_TRUE = 1, EVP__S_FALSE, EVP__S_NORMAL, EVP__S_REF };

enum { /* type bits */
       EVP__T_NULL = 1,
       EVP__T_BOOL = 2,
       EVP__T_OBJ = 4,
       EVP__T_ARR = 8,
       EVP__T_NUM = 16,
       EVP__T_INT = 32,
       EVP__T_STR = 64
};

enum { /* presence flags */
       EVP__F_MIN = 1u << 0,
       EVP__F_MAX = 1u << 1,
       EVP__F_XMIN = 1u << 2,
       EVP__F_XMAX = 1u << 3,
       EVP__F_MULT = 1u << 4,
       EVP__F_MINLEN = 1u << 5,
       EVP__F_MAXLEN = 1u << 6,
       EVP__F_MINITEMS = 1u << 7,
       EVP__F_MAXITEMS = 1u << 8,
       EVP__F_MINPROPS = 1u << 9,
       EVP__F_MAXPROPS = 1u << 10,
       EVP__F_UNIQUE = 1u << 11,
       EVP__F_ITEMS_ARR = 1u << 12,
       EVP__F_CONST = 1u << 13,
       EVP__F_ENUM = 1u << 14,
       EVP__F_COMBINATORS = 1u << 15 /* any of allOf, anyOf, oneOf, not, if */
};

enum { /* format ids; 0: none or unknown */
       EVP__FMT_NONE = 0,
       EVP__FMT_DATE_TIME,
       EVP__FMT_DATE,
       EVP__FMT_TIME,
       EVP__FMT_EMAIL,
       EVP__FMT_HOSTNAME,
       EVP__FMT_IPV4,
       EVP__FMT_IPV6,
       EVP__FMT_URI,
       EVP__FMT_URI_REF,
       EVP__FMT_UUID,
       EVP__FMT_JSON_POINTER,
       EVP__FMT_REL_JSON_POINTER,
       EVP__FMT_REGEX
};

typedef struct evp__schema_node evp__schema_node_t;

typedef struct evp__schema_str {
  const char *s;
  uint32_t len;
} evp__schema_str_t;

typedef struct evp__schema_prop {
  evp__schema_str_t name;
  uint32_t hash; /* evp__hash32 of the name */
  const evp__schema_node_t *schema;
} evp__schema_prop_t;

typedef struct evp__schema_pattern {
  pcre2_code *re;
  int jit;
  const char *src;
  const evp__schema_node_t *schema;
} evp__schema_pattern_t;

typedef struct evp__schema_dependency {
  evp__schema_str_t name;
  const evp__schema_node_t *schema; /* schema dependency, or NULL */
  const evp__schema_str_t *req;     /* property dependency */
  uint32_t nreq;
} evp__schema_dependency_t;

struct evp__schema_node {
  uint8_t kind;
  uint8_t unique;
  uint8_t format;
  uint32_t types; /* 0: no "type" keyword */
  uint32_t flags;
  const char *path; /* where this schema is, e.g. "#/properties/a" */
  const evp__schema_node_t *ref;
  double min, max, xmin, xmax, mult;
  uint64_t minlen, maxlen, minitems, maxitems, minprops, maxprops;
  pcre2_code *pattern;
  int pattern_jit;
  const char *pattern_src;
  const evp__schema_node_t *items; /* single-schema form */
  const evp__schema_node_t **items_arr;
  uint32_t nitems;
  const evp__schema_node_t *add_items;
  const evp__schema_node_t *contains;
  evp__schema_prop_t *props; /* sorted by (len, bytes) */
  uint32_t nprops;
  uint32_t *ptab;     /* open addressing on hash: props index + 1, 0 = empty */
  uint32_t ptab_mask; /* table size - 1 (a power of two >= 2 * nprops) */
  evp__schema_pattern_t *pprops;
  uint32_t npprops;
  const evp__schema_node_t *add_props;
  evp__schema_str_t *required;
  uint32_t nrequired;
  evp__schema_dependency_t *deps;
  uint32_t ndeps;
  const evp__schema_node_t *prop_names;
  const evp__schema_node_t **all_of, **any_of, **one_of;
  uint32_t nall_of, nany_of, none_of;
  const evp__schema_node_t *not_, *if_, *then_, *else_;
  const evp__jv *const_val;
  const evp__jv *enum_val; /* the enum array itself */
};

struct evp_schema_s {
  evp__arena_t arena;
  const evp__schema_node_t *root;
  pcre2_code **codes; /* every compiled regex, freed with the schema */
  size_t ncodes, capcodes;
  int format_assert;
};

/* ------------------------------------------------------------ helpers */

/* ECMA-262 pattern -> PCRE2 code (UTF, JIT when available; *jit says which,
 * may be NULL). NULL on error: *err (may be NULL) is EVP_ERR_SCHEMA_REGEX or
 * EVP_ERR_NOMEM, with a message in errbuf. */
pcre2_code *evp__regex_compile(const char *src, size_t len, int *jit, evp_err_t *err, char *errbuf,
                               size_t errsize);

/* Format id for a "format" value; EVP__FMT_NONE for unknown ones. */
int evp__format_id(const char *name);
/* 1 when the string @p s satisfies format @p id. */
int evp__format_check(int id, const char *s, size_t n);
const char *evp__format_name(int id);

/* RFC 3986 reference resolution. Returns a malloc'd string or NULL (ENOMEM). */
char *evp__uri_resolve(const char *base, const char *ref);
/* Percent-decode @p s (n bytes) into malloc'd NUL-terminated *out.
 * EVP_OK, EVP_ERR_NOMEM, or EVP_ERR_SCHEMA_REF for a bad escape. */
evp_err_t evp__uri_pct_decode(const char *s, size_t n, char **out);

/* The draft-07 meta-schema, resolved for $ref "http://json-schema.org/draft-07/schema". */
extern const char evp__schema_meta7[];
#define EVP__META7_URI "http://json-schema.org/draft-07/schema"

/* ------------------------------------------------------------ loader */

typedef struct evp__schema_res {
  char *uri; /* absolute, without fragment */
  cJSON *doc;
} evp__schema_res_t;

struct evp_schema_loader_s {
  evp__schema_res_t *res;
  size_t n, cap;
  int format_assert;
};

#endif /* EVP_SCHEMA_SCHEMA_INT_H */
