/* Draft-07 event schema -> API Gateway (JSON Schema draft-04) request model.
 *
 * API Gateway validates a REST method's request body against a draft-04
 * model before the integration runs. The model is a cheap first filter; the
 * processor validates every event again with the real schema. So the
 * conversion may lose strictness, but must never add any: the model accepts
 * every batch of events the real schema accepts.
 *
 * Rules (docs/deploy.md, "The request model"):
 *   const                      -> "enum" of one value
 *   exclusiveMinimum/Maximum n -> "minimum"/"maximum" n with the draft-04
 *                                 boolean "exclusiveMinimum"/"exclusiveMaximum"
 *                                 (combined with an inclusive bound: the
 *                                 tighter one wins)
 *   true / false schemas       -> {} / {"not":{}} (draft-04 has no boolean
 *                                 schemas except additionalProperties/Items)
 *   required: []               -> dropped (draft-04 requires a non-empty array)
 *   dependencies "x": []       -> dropped (same)
 *   enum: []                   -> the schema becomes {"not":{}} (nothing is valid)
 *   format                     -> dropped, every value: API Gateway's format
 *                                 checks are not ours (date-time, uuid), and a
 *                                 stricter check would refuse valid events
 *   if/then/else, contains, propertyNames, $comment, annotations
 *   (title, description, default, examples, readOnly, writeOnly,
 *   contentMediaType, contentEncoding), unknown keywords
 *                              -> dropped (each only ever narrows what is valid)
 *   $ref "#/definitions/..."   -> kept; the root's definitions move to the
 *                                 model's root, where the pointer still resolves
 *   $ref "#..." (other)        -> rewritten below the event schema's new place;
 *                                 the target must exist and not lie inside a
 *                                 dropped keyword; other keywords beside $ref
 *                                 are ignored (as both drafts do)
 *   remote $ref, nested $id    -> refused
 * Everything else (type, enum, pattern, lengths, bounds, multipleOf, items,
 * additionalItems, properties, patternProperties, additionalProperties,
 * dependencies, min/maxProperties, uniqueItems, allOf/anyOf/oneOf/not) is the
 * same keyword in both drafts and is copied, subschemas converted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "catalog/apigw_model.h"
#include "base/base.h"
#include "json/json.h"
#include "table/table.h"
#include "catalog/catalog.h"

#define EVP__DRAFT4 "http://json-schema.org/draft-04/schema#"
#define EVP__EVENTS_ITEMS "/properties/events/items"

typedef struct {
  const cJSON *root;
  const char *ref_base;
  char *errstr;
  size_t errstr_size;
  evp_err_t err; /* first error; EVP_OK while none */
} evp__d4_ctx_t;

static cJSON *fail(evp__d4_ctx_t *c, evp_err_t e, const char *where, const char *msg) {
  if (c->err == EVP_OK)
    c->err = evp__seterr(c->errstr, c->errstr_size, e, "%s%s%s", where[0] ? where : "",
                         where[0] ? ": " : "", msg);
  return NULL;
}

static cJSON *nomem(evp__d4_ctx_t *c) { return fail(c, EVP_ERR_NOMEM, "", "out of memory"); }

/* "where" of a child: the parent's JSON pointer plus one token, cut to fit
 * (it only labels error messages). */
static void child_where(char *dst, size_t cap, const char *where, const char *tok) {
  if (snprintf(dst, cap, "%s/%s", where, tok) >= (int)cap && cap > 4)
    memcpy(dst + cap - 4, "...", 4); /* a long label is cut, visibly */
}

static void child_where_i(char *dst, size_t cap, const char *where, const char *kw, int i) {
  if (snprintf(dst, cap, "%s/%s/%d", where, kw, i) >= (int)cap && cap > 4)
    memcpy(dst + cap - 4, "...", 4);
}

/* Adds @p item to @p obj under @p key; frees it on failure. */
static int add(cJSON *obj, const char *key, cJSON *item) {
  if (!item) return 0;
  if (!cJSON_AddItemToObject(obj, key, item)) {
    cJSON_Delete(item);
    return 0;
  }
  return 1;
}

static int push(cJSON *arr, cJSON *item) {
  if (!item) return 0;
  if (!cJSON_AddItemToArray(arr, item)) {
    cJSON_Delete(item);
    return 0;
  }
  return 1;
}

/* {"not":{}}: validates nothing. */
static cJSON *nothing(void) {
  cJSON *o = cJSON_CreateObject();
  if (o && !add(o, "not", cJSON_CreateObject())) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

/* ------------------------------------------------------------- $ref */

/* Decodes one JSON pointer token (RFC 6901 ~0 ~1) of a URI fragment
 * (%XX escapes) into @p out (at least n + 1 bytes). 0 on a bad escape. */
static int pointer_token(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (ch == '%') {
      unsigned v = 0;
      for (int k = 1; k <= 2; k++) {
        char h = i + (size_t)k < n ? s[i + (size_t)k] : '\0';
        int d = h >= '0' && h <= '9'   ? h - '0'
                : h >= 'a' && h <= 'f' ? h - 'a' + 10
                : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                       : -1;
        if (d < 0) return 0;
        v = v * 16 + (unsigned)d;
      }
      if (v == 0) return 0;
      ch = (char)v;
      i += 2;
    }
    out[o++] = ch;
  }
  out[o] = '\0';
  /* ~1 -> '/', ~0 -> '~' (after percent-decoding, RFC 6901 §6) */
  size_t r = 0, w = 0;
  while (r < o) {
    if (out[r] == '~') {
      if (r + 1 >= o || (out[r + 1] != '0' && out[r + 1] != '1')) return 0;
      out[w++] = out[r + 1] == '0' ? '~' : '/';
      r += 2;
    } else {
      out[w++] = out[r++];
    }
  }
  out[w] = '\0';
  return 1;
}

/* What a position inside a schema document holds, for walking a pointer. */
typedef enum { AT_SCHEMA, AT_MAP, AT_LIST, AT_DEPS, AT_ITEMS } evp__at_t;

/* Walks the pointer @p ptr (fragment without '#') from the root. Succeeds
 * when it ends at a schema the model keeps: every step must go through a
 * keyword the conversion copies. Returns NULL with the reason in *why. */
static const cJSON *resolve(const cJSON *root, const char *ptr, const char **why) {
  const cJSON *node = root;
  evp__at_t at = AT_SCHEMA;
  size_t plen = strlen(ptr);
  char *tok = malloc(plen + 1);
  if (!tok) {
    *why = "out of memory";
    return NULL;
  }
  const char *p = ptr;
  while (*p) {
    if (*p != '/') {
      *why = "is not a JSON pointer";
      goto bad;
    }
    p++;
    size_t n = strcspn(p, "/");
    if (!pointer_token(p, n, tok)) {
      *why = "has a bad escape";
      goto bad;
    }
    p += n;
    const cJSON *next = NULL;
    evp__at_t nat = AT_SCHEMA;
    if (cJSON_IsArray(node)) {
      char *end = NULL;
      long idx = strtol(tok, &end, 10);
      if (!tok[0] || *end || idx < 0 || (tok[0] == '0' && tok[1])) {
        *why = "does not resolve";
        goto bad;
      }
      next = cJSON_GetArrayItem(node, (int)idx);
      nat = AT_SCHEMA;
    } else if (cJSON_IsObject(node)) {
      next = cJSON_GetObjectItemCaseSensitive(node, tok);
      if (at == AT_MAP) {
        nat = AT_SCHEMA;
      } else if (at == AT_DEPS) {
        nat = AT_SCHEMA;
        if (next && cJSON_IsArray(next)) {
          *why = "points into a property dependency list, not a schema";
          goto bad;
        }
      } else if (!strcmp(tok, "properties") || !strcmp(tok, "patternProperties") ||
                 !strcmp(tok, "definitions")) {
        nat = AT_MAP;
      } else if (!strcmp(tok, "dependencies")) {
        nat = AT_DEPS;
      } else if (!strcmp(tok, "allOf") || !strcmp(tok, "anyOf") || !strcmp(tok, "oneOf")) {
        nat = AT_LIST;
      } else if (!strcmp(tok, "items")) {
        nat = AT_ITEMS;
      } else if (!strcmp(tok, "additionalItems") || !strcmp(tok, "additionalProperties") ||
                 !strcmp(tok, "not")) {
        nat = AT_SCHEMA;
      } else {
        *why = "points into a keyword the model does not keep";
        goto bad;
      }
    }
    if (!next) {
      *why = "does not resolve";
      goto bad;
    }
    if (at == AT_ITEMS && cJSON_IsArray(node)) nat = AT_SCHEMA;
    if (nat == AT_ITEMS && !cJSON_IsArray(next)) nat = AT_SCHEMA;
    if (nat == AT_LIST && !cJSON_IsArray(next)) {
      *why = "does not resolve";
      goto bad;
    }
    node = next;
    at = nat;
  }
  free(tok);
  if (at != AT_SCHEMA || !(cJSON_IsObject(node) || cJSON_IsBool(node))) {
    *why = "does not point to a schema";
    return NULL;
  }
  return node;
bad:
  free(tok);
  return NULL;
}

static cJSON *conv_ref(evp__d4_ctx_t *c, const cJSON *ref, const char *where) {
  if (!cJSON_IsString(ref)) return fail(c, EVP_ERR_SCHEMA_INVALID, where, "$ref must be a string");
  const char *r = ref->valuestring;
  if (r[0] != '#')
    return fail(c, EVP_ERR_SCHEMA_INVALID, where,
                "only local references (\"#/...\") can be carried into the API Gateway model");
  const char *why = NULL;
  if (!resolve(c->root, r + 1, &why)) {
    char msg[300];
    snprintf(msg, sizeof msg, "$ref \"%.200s\" %s", r, why);
    return fail(c, !strcmp(why, "out of memory") ? EVP_ERR_NOMEM : EVP_ERR_SCHEMA_INVALID, where,
                msg);
  }
  /* Root definitions are hoisted to the model's root: same pointer. */
  int hoisted = !strncmp(r, "#/definitions/", 14);
  size_t n = strlen(r) + strlen(c->ref_base) + 2;
  char *nr = malloc(n);
  if (!nr) return nomem(c);
  if (hoisted)
    snprintf(nr, n, "%s", r);
  else
    snprintf(nr, n, "#%s%s", c->ref_base, r + 1);
  cJSON *o = cJSON_CreateObject();
  int ok = o && add(o, "$ref", cJSON_CreateString(nr));
  free(nr);
  if (!ok) {
    cJSON_Delete(o);
    return nomem(c);
  }
  return o;
}

/* ------------------------------------------------------------ schemas */

static cJSON *conv(evp__d4_ctx_t *c, const cJSON *s, int depth, const char *where);

/* {"name": schema, ...} -> the same names, schemas converted. */
static cJSON *conv_map(evp__d4_ctx_t *c, const cJSON *m, int depth, const char *where,
                       const char *kw) {
  char w[256];
  if (!cJSON_IsObject(m)) {
    child_where(w, sizeof w, where, kw);
    return fail(c, EVP_ERR_SCHEMA_INVALID, w, "must be an object");
  }
  cJSON *out = cJSON_CreateObject();
  if (!out) return nomem(c);
  const cJSON *it;
  cJSON_ArrayForEach(it, m) {
    char w1[256];
    child_where(w1, sizeof w1, where, kw);
    child_where(w, sizeof w, w1, it->string);
    cJSON *sub = conv(c, it, depth + 1, w);
    if (!sub || !add(out, it->string, sub)) {
      cJSON_Delete(out);
      return sub ? nomem(c) : NULL;
    }
  }
  return out;
}

/* [schema, ...] (allOf/anyOf/oneOf, tuple items): non-empty for the combiners. */
static cJSON *conv_list(evp__d4_ctx_t *c, const cJSON *a, int depth, const char *where,
                        const char *kw, int nonempty) {
  char w[256];
  if (!cJSON_IsArray(a) || (nonempty && cJSON_GetArraySize(a) == 0)) {
    child_where(w, sizeof w, where, kw);
    return fail(c, EVP_ERR_SCHEMA_INVALID, w,
                nonempty ? "must be a non-empty array of schemas" : "must be an array");
  }
  cJSON *out = cJSON_CreateArray();
  if (!out) return nomem(c);
  int i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, a) {
    child_where_i(w, sizeof w, where, kw, i++);
    cJSON *sub = conv(c, it, depth + 1, w);
    if (!sub || !push(out, sub)) {
      cJSON_Delete(out);
      return sub ? nomem(c) : NULL;
    }
  }
  return out;
}

/* additionalProperties / additionalItems: a boolean stays a boolean. */
static cJSON *conv_bool_or_schema(evp__d4_ctx_t *c, const cJSON *v, int depth, const char *where,
                                  const char *kw) {
  char w[256];
  child_where(w, sizeof w, where, kw);
  if (cJSON_IsBool(v)) {
    cJSON *b = cJSON_CreateBool(cJSON_IsTrue(v));
    return b ? b : nomem(c);
  }
  return conv(c, v, depth + 1, w);
}

static cJSON *conv_dependencies(evp__d4_ctx_t *c, const cJSON *d, int depth, const char *where) {
  char w[256];
  child_where(w, sizeof w, where, "dependencies");
  if (!cJSON_IsObject(d)) return fail(c, EVP_ERR_SCHEMA_INVALID, w, "must be an object");
  cJSON *out = cJSON_CreateObject();
  if (!out) return nomem(c);
  const cJSON *it;
  cJSON_ArrayForEach(it, d) {
    cJSON *sub;
    if (cJSON_IsArray(it)) {
      if (cJSON_GetArraySize(it) == 0)
        continue; /* draft-04 wants at least one name; none means no dependency */
      sub = cJSON_Duplicate(it, 1);
      if (!sub) {
        cJSON_Delete(out);
        return nomem(c);
      }
    } else {
      char w2[256];
      child_where(w2, sizeof w2, w, it->string);
      sub = conv(c, it, depth + 1, w2);
      if (!sub) {
        cJSON_Delete(out);
        return NULL;
      }
    }
    if (!add(out, it->string, sub)) {
      cJSON_Delete(out);
      return nomem(c);
    }
  }
  return out;
}

/* "required" without duplicates (draft-04 wants unique names); NULL with
 * c->err unset when the list is empty (then it is left out). */
static cJSON *conv_required(evp__d4_ctx_t *c, const cJSON *r, const char *where) {
  char w[256];
  child_where(w, sizeof w, where, "required");
  if (!cJSON_IsArray(r)) return fail(c, EVP_ERR_SCHEMA_INVALID, w, "must be an array of strings");
  cJSON *out = cJSON_CreateArray();
  if (!out) return nomem(c);
  const cJSON *it;
  cJSON_ArrayForEach(it, r) {
    if (!cJSON_IsString(it)) {
      cJSON_Delete(out);
      return fail(c, EVP_ERR_SCHEMA_INVALID, w, "must be an array of strings");
    }
    int dup = 0;
    const cJSON *seen;
    cJSON_ArrayForEach(seen, out) dup |= !strcmp(seen->valuestring, it->valuestring);
    if (!dup && !push(out, cJSON_CreateString(it->valuestring))) {
      cJSON_Delete(out);
      return nomem(c);
    }
  }
  if (cJSON_GetArraySize(out) == 0) {
    cJSON_Delete(out);
    return NULL;
  }
  return out;
}

/* minimum/exclusiveMinimum (or the maximum pair) as one draft-04 bound.
 * Returns 0 on a schema error (reported), 1 otherwise. */
static int conv_bound(evp__d4_ctx_t *c, const cJSON *s, cJSON *out, const char *where,
                      const char *incl_kw, const char *excl_kw, int is_min) {
  const cJSON *incl = cJSON_GetObjectItemCaseSensitive(s, incl_kw);
  const cJSON *excl = cJSON_GetObjectItemCaseSensitive(s, excl_kw);
  char w[256];
  if (incl && !cJSON_IsNumber(incl)) {
    child_where(w, sizeof w, where, incl_kw);
    fail(c, EVP_ERR_SCHEMA_INVALID, w, "must be a number");
    return 0;
  }
  if (excl && !cJSON_IsNumber(excl)) {
    child_where(w, sizeof w, where, excl_kw);
    fail(c, EVP_ERR_SCHEMA_INVALID, w,
         "must be a number (draft-07); the draft-04 boolean form is not a draft-07 schema");
    return 0;
  }
  if (!incl && !excl) return 1;
  double v;
  int exclusive;
  if (incl && excl) {
    /* x >= a and x > b: the tighter bound wins; on a tie exclusive wins. */
    double a = incl->valuedouble, b = excl->valuedouble;
    int excl_tighter = is_min ? b >= a : b <= a;
    v = excl_tighter ? b : a;
    exclusive = excl_tighter;
  } else {
    v = incl ? incl->valuedouble : excl->valuedouble;
    exclusive = excl != NULL;
  }
  /* cJSON_Duplicate keeps the number as written when it is the same one. */
  const cJSON *src = exclusive ? excl : incl;
  cJSON *num = src && src->valuedouble == v ? cJSON_Duplicate(src, 0) : cJSON_CreateNumber(v);
  if (!add(out, incl_kw, num) || (exclusive && !add(out, excl_kw, cJSON_CreateTrue()))) {
    nomem(c);
    return 0;
  }
  return 1;
}

/* Keywords copied as they are (same meaning in draft-04 and draft-07). */
static const char *const copied[] = {"type",          "pattern",       "maxLength", "minLength",
                                     "multipleOf",    "maxItems",      "minItems",  "uniqueItems",
                                     "maxProperties", "minProperties", NULL};

static int is_copied(const char *k) {
  for (int i = 0; copied[i]; i++)
    if (!strcmp(copied[i], k)) return 1;
  return 0;
}

static cJSON *conv(evp__d4_ctx_t *c, const cJSON *s, int depth, const char *where) {
  if (depth > EVP__APIGW_MAX_DEPTH)
    return fail(c, EVP_ERR_SCHEMA_INVALID, where, "schema nested too deeply");
  if (cJSON_IsTrue(s)) {
    cJSON *o = cJSON_CreateObject();
    return o ? o : nomem(c);
  }
  if (cJSON_IsFalse(s)) {
    cJSON *o = nothing();
    return o ? o : nomem(c);
  }
  if (!cJSON_IsObject(s))
    return fail(c, EVP_ERR_SCHEMA_INVALID, where, "a schema must be an object or a boolean");
  if (depth > 0 && cJSON_GetObjectItemCaseSensitive(s, "$id"))
    return fail(c, EVP_ERR_SCHEMA_INVALID, where,
                "a nested $id changes how references resolve; the model cannot carry it");
  const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
  if (ref) return conv_ref(c, ref, where);

  const cJSON *cst = cJSON_GetObjectItemCaseSensitive(s, "const");
  const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
  if (en && !cJSON_IsArray(en)) {
    char w[256];
    child_where(w, sizeof w, where, "enum");
    return fail(c, EVP_ERR_SCHEMA_INVALID, w, "must be an array");
  }
  if (en && cJSON_GetArraySize(en) == 0) {
    cJSON *o = nothing();
    return o ? o : nomem(c);
  }
  if (cst && en) {
    int found = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, en) found |= cJSON_Compare(it, cst, 1);
    if (!found) {
      cJSON *o = nothing();
      return o ? o : nomem(c);
    }
  }

  cJSON *out = cJSON_CreateObject();
  if (!out) return nomem(c);
  int bounds_done = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, s) {
    const char *k = it->string;
    cJSON *v = NULL;
    int skip = 0;
    if (is_copied(k)) {
      v = cJSON_Duplicate(it, 1);
      if (!v) goto oom;
    } else if (!strcmp(k, "enum")) {
      if (cst) continue; /* "const" below says it exactly */
      v = cJSON_Duplicate(it, 1);
      if (!v) goto oom;
    } else if (!strcmp(k, "const")) {
      v = cJSON_CreateArray();
      if (!v || !push(v, cJSON_Duplicate(it, 1))) {
        cJSON_Delete(v);
        goto oom;
      }
      k = "enum";
    } else if (!strcmp(k, "minimum") || !strcmp(k, "maximum") || !strcmp(k, "exclusiveMinimum") ||
               !strcmp(k, "exclusiveMaximum")) {
      if (bounds_done) continue;
      bounds_done = 1;
      if (!conv_bound(c, s, out, where, "minimum", "exclusiveMinimum", 1) ||
          !conv_bound(c, s, out, where, "maximum", "exclusiveMaximum", 0))
        goto err;
      continue;
    } else if (!strcmp(k, "properties") || !strcmp(k, "patternProperties") ||
               (!strcmp(k, "definitions") && depth > 0)) {
      v = conv_map(c, it, depth, where, k);
    } else if (!strcmp(k, "additionalProperties") || !strcmp(k, "additionalItems")) {
      v = conv_bool_or_schema(c, it, depth, where, k);
    } else if (!strcmp(k, "items")) {
      if (cJSON_IsArray(it)) {
        v = conv_list(c, it, depth, where, k, 0);
      } else {
        char w[256];
        child_where(w, sizeof w, where, k);
        v = conv(c, it, depth + 1, w);
      }
    } else if (!strcmp(k, "allOf") || !strcmp(k, "anyOf") || !strcmp(k, "oneOf")) {
      v = conv_list(c, it, depth, where, k, 1);
    } else if (!strcmp(k, "not")) {
      char w[256];
      child_where(w, sizeof w, where, k);
      v = conv(c, it, depth + 1, w);
    } else if (!strcmp(k, "dependencies")) {
      v = conv_dependencies(c, it, depth, where);
    } else if (!strcmp(k, "required")) {
      v = conv_required(c, it, where);
      if (!v && c->err == EVP_OK) skip = 1;
    } else {
      /* format, if/then/else, contains, propertyNames, annotations, $schema,
       * $id, $comment, the root's definitions (hoisted by the caller) and
       * unknown keywords: not in the model. */
      skip = 1;
    }
    if (skip) continue;
    if (!v) goto err;
    if (!add(out, k, v)) goto oom;
  }
  return out;
oom:
  nomem(c);
err:
  cJSON_Delete(out);
  return NULL;
}

evp_err_t evp__schema_to_draft4(const cJSON *schema, const char *ref_base, cJSON **out,
                                cJSON **definitions, char *errstr, size_t errstr_size) {
  if (!out || !definitions || !schema)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "schema, out or definitions is NULL");
  *out = NULL;
  *definitions = NULL;
  evp__d4_ctx_t c = {schema, ref_base ? ref_base : "", errstr, errstr_size, EVP_OK};
  cJSON *defs = NULL;
  const cJSON *d =
      cJSON_IsObject(schema) ? cJSON_GetObjectItemCaseSensitive(schema, "definitions") : NULL;
  if (d) {
    defs = conv_map(&c, d, 0, "", "definitions");
    if (!defs) return c.err;
  }
  cJSON *o = conv(&c, schema, 0, "");
  if (!o) {
    cJSON_Delete(defs);
    return c.err != EVP_OK ? c.err
                           : evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  }
  *out = o;
  *definitions = defs;
  return EVP_OK;
}

static cJSON *model_doc(cJSON **events_schema, cJSON **defs, long max_events) {
  cJSON *doc = cJSON_CreateObject();
  cJSON *req = cJSON_CreateArray();
  cJSON *props = cJSON_CreateObject();
  cJSON *events = cJSON_CreateObject();
  int ok = doc && req && props && events && push(req, cJSON_CreateString("events")) &&
           add(doc, "$schema", cJSON_CreateString(EVP__DRAFT4)) &&
           add(doc, "title", cJSON_CreateString("POST /events request")) &&
           add(doc, "type", cJSON_CreateString("object"));
  if (ok) {
    ok = add(doc, "required", req);
    req = NULL;
  }
  ok = ok && add(events, "type", cJSON_CreateString("array")) &&
       add(events, "minItems", cJSON_CreateNumber(1)) &&
       add(events, "maxItems", cJSON_CreateNumber((double)max_events));
  if (ok) {
    ok = add(events, "items", *events_schema);
    *events_schema = NULL;
  }
  if (ok) {
    ok = add(props, "events", events);
    events = NULL;
  }
  /* The batch's sent_at (docs/protocol.md): any value, as the handler
   * takes any (one it cannot read only costs the clock-skew correction). */
  ok = ok && add(props, "sent_at", cJSON_CreateObject());
  if (ok) {
    ok = add(doc, "properties", props);
    props = NULL;
  }
  ok = ok && add(doc, "additionalProperties", cJSON_CreateFalse());
  if (ok && *defs) {
    ok = add(doc, "definitions", *defs);
    *defs = NULL;
  }
  cJSON_Delete(req);
  cJSON_Delete(props);
  cJSON_Delete(events);
  if (!ok) {
    cJSON_Delete(doc);
    return NULL;
  }
  return doc;
}

evp_err_t evp__apigw_model(const char *schema_json, size_t len, long max_events, char **out,
                           char *errstr, size_t errstr_size) {
  if (!out || !schema_json)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "schema or out is NULL");
  *out = NULL;
  if (max_events < 1 || max_events > EVP__APIGW_MAX_MAX_EVENTS)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "max events %ld is not in 1..%d",
                       max_events, EVP__APIGW_MAX_MAX_EVENTS);
  if (len > EVP__TABLE_MAX_SCHEMA_BYTES)
    return evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE, "schema is larger than %u bytes",
                       EVP__TABLE_MAX_SCHEMA_BYTES);
  cJSON *schema = cJSON_ParseWithLength(schema_json, len);
  if (!schema) return evp__seterr(errstr, errstr_size, EVP_ERR_JSON, "schema is not valid JSON");
  if (!cJSON_IsObject(schema)) {
    cJSON_Delete(schema);
    return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                       "the event schema must be a JSON object");
  }
  cJSON *ev = NULL, *defs = NULL;
  evp_err_t e = evp__schema_to_draft4(schema, EVP__EVENTS_ITEMS, &ev, &defs, errstr, errstr_size);
  cJSON_Delete(schema);
  if (e != EVP_OK) return e;
  cJSON *doc = model_doc(&ev, &defs, max_events);
  cJSON_Delete(ev);
  cJSON_Delete(defs);
  return evp__json_print_take(doc, out, errstr, errstr_size);
}
