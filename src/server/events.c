/* POST /events: shape check, per-event schema validation, and the per-item
 * response of docs/protocol.md. Persisting is the caller's job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "json/json.h"
#include "schema/schema.h"
#include "table/table.h"
#include "server/server.h"

/* The body scan only bounds nesting at what the schema validator could ever
 * accept (the event, in an array, in the body): an event nested deeper than
 * the validator's own limit is then one rejected item, not a failed batch. */
#define BODY_DEPTH (EVP_SCHEMA_MAX_DEPTH_LIMIT + 2)
#define EVENT_ID_MAX 128 /* echoed only if this short */
#define EVENT_MEMBERS_MAX 64
#define BODY_MEMBERS 16
/* Bodies up to this size are parsed once and validated from the parse
 * (evp__schema_validate_each); its tape costs up to ~12 bytes per body
 * byte, so larger bodies (a configuration above the 1 MiB default) take the
 * general path, which holds one event's parse at a time. */
#define FAST_BODY_MAX (2u * 1024u * 1024u)

void evp__events_result_free(evp__events_result_t *r) {
  for (size_t i = 0; i < r->n_rejected; i++) {
    free(r->rejected[i].event_id);
    free(r->rejected[i].error);
  }
  free(r->rejected);
  free(r->accepted);
  free(r->accepted_lens);
  memset(r, 0, sizeof *r);
  r->sent_at_us = EVP__EVENTS_NO_SENT_AT;
}

/* The event's own "event_id" string, for the response and logs; NULL when
 * absent, not a string, too long or not an object we can scan. */
static char *event_id_of(const char *v, size_t n) {
  evp__jmember_t m[EVENT_MEMBERS_MAX];
  size_t cnt;
  if (evp__json_scan_object(v, n, BODY_DEPTH, m, EVENT_MEMBERS_MAX, &cnt) != EVP_OK) return NULL;
  for (size_t i = 0; i < cnt; i++)
    if (evp__json_key_eq(&m[i], "event_id", 8)) {
      if (m[i].type != EVP__JS_STRING || m[i].vallen > EVENT_ID_MAX) return NULL;
      char *s = malloc(m[i].vallen + 1);
      if (!s) return NULL;
      size_t l = m[i].val_escaped ? evp__json_unescape(m[i].val, m[i].vallen, s)
                                  : (memcpy(s, m[i].val, m[i].vallen), m[i].vallen);
      s[l] = '\0';
      if (strlen(s) != l) { /* an escaped NUL: not worth echoing */
        free(s);
        return NULL;
      }
      return s;
    }
  return NULL;
}

/* Cut @p s to at most @p max bytes without splitting a UTF-8 sequence. */
typedef struct {
  const evp__events_cfg_t *cfg;
  evp_schema_ctx_t *ctx;
  evp__events_result_t *res;
  size_t max_events, cap;
  int too_many;
  evp_err_t err;
  int judged_on_parse; /* judge() runs inside evp__schema_validate_each */
} walk_t;

/* Room for one more event in the result arrays (grown as the array is
 * walked, so the body is split only once). */
static int reserve(walk_t *w) {
  evp__events_result_t *r = w->res;
  if (r->n_events < w->cap) return 0;
  size_t nc = w->cap ? w->cap * 2 : 64;
  if (nc > w->max_events) nc = w->max_events;
  const char **a = realloc(r->accepted, nc * sizeof *a);
  if (a) r->accepted = a;
  size_t *l = a ? realloc(r->accepted_lens, nc * sizeof *l) : NULL;
  if (l) r->accepted_lens = l;
  evp__event_rej_t *j = l ? realloc(r->rejected, nc * sizeof *j) : NULL;
  if (!j) {
    w->err = EVP_ERR_NOMEM;
    return 1;
  }
  r->rejected = j;
  w->cap = nc;
  return 0;
}

static int reject(walk_t *w, size_t i, const char *v, size_t n, const char *reason,
                  const char *path, const char *msg) {
  evp__event_rej_t *r = &w->res->rejected[w->res->n_rejected];
  size_t pl = path ? strlen(path) : 0, ml = strlen(msg);
  r->index = i;
  r->reason = reason;
  r->event_id = event_id_of(v, n);
  r->error = malloc(pl + ml + 3);
  if (!r->error) {
    free(r->event_id);
    w->err = EVP_ERR_NOMEM;
    return 1;
  }
  if (pl)
    snprintf(r->error, pl + ml + 3, "%s: %s", path, msg);
  else
    memcpy(r->error, msg, ml + 1);
  r->error[evp__utf8_cut(r->error, strlen(r->error), EVP__EVENT_ERROR_MAX)] = '\0';
  w->res->n_rejected++;
  return 0;
}

/* The failing keyword as a static string (the schema context's own string
 * dies with the next validation); the label set stays bounded. */
static const char *static_keyword(const char *kw) {
  static const char *const known[] = {"type",
                                      "enum",
                                      "const",
                                      "multipleOf",
                                      "maximum",
                                      "minimum",
                                      "exclusiveMaximum",
                                      "exclusiveMinimum",
                                      "maxLength",
                                      "minLength",
                                      "pattern",
                                      "items",
                                      "additionalItems",
                                      "maxItems",
                                      "minItems",
                                      "uniqueItems",
                                      "contains",
                                      "maxProperties",
                                      "minProperties",
                                      "required",
                                      "properties",
                                      "patternProperties",
                                      "additionalProperties",
                                      "dependencies",
                                      "propertyNames",
                                      "if",
                                      "then",
                                      "else",
                                      "allOf",
                                      "anyOf",
                                      "oneOf",
                                      "not",
                                      "false",
                                      "format",
                                      "parse",
                                      "limit"};
  for (size_t i = 0; kw && i < sizeof known / sizeof known[0]; i++)
    if (strcmp(kw, known[i]) == 0) return known[i];
  return "schema";
}

/* One element with its schema verdict (the context holds its errors). */
static int judge(void *opaque, size_t i, const char *v, size_t n, evp_err_t e) {
  walk_t *w = opaque;
  if (i >= w->max_events) {
    w->too_many = 1;
    return 1;
  }
  if (reserve(w)) return 1;
  w->res->n_events++;
  if (n == 0 || v[0] != '{')
    return reject(w, i, v, n, "not_object", NULL, "event is not a JSON object");
  if (e == EVP_ERR_NOMEM || e == EVP_ERR_INVALID_ARG) {
    w->err = e;
    return 1;
  }
  if (e != EVP_OK) {
    const char *kw = evp_schema_ctx_error_keyword(w->ctx, 0);
    const char *msg = evp_schema_ctx_error_message(w->ctx, 0);
    return reject(w, i, v, n, static_keyword(kw), evp_schema_ctx_error_instance_path(w->ctx, 0),
                  msg ? msg : "does not match the event schema");
  }
  /* Valid by the schema; now the lake's rule: only what a row can hold is
   * acknowledged, so an accepted event is never dropped by the batcher. */
  const char *why = NULL;
  char msg[EVP__EVENT_ERROR_MAX + 1];
  evp_err_t ce = w->judged_on_parse
                     ? evp__table_check_judged(w->cfg->table, w->ctx, &why, msg, sizeof msg)
                     : evp__table_check_event(w->cfg->table, v, n, &why, msg, sizeof msg);
  if (ce == EVP_ERR_NOMEM) {
    w->err = ce;
    return 1;
  }
  if (ce != EVP_OK) return reject(w, i, v, n, why ? why : "parse", NULL, msg);
  w->res->accepted[w->res->n_accepted] = v;
  w->res->accepted_lens[w->res->n_accepted] = n;
  w->res->n_accepted++;
  return 0;
}

/* The general path: element spans from the already-checked body, each
 * event validated from its text. */
static int check_one(void *opaque, size_t i, const char *v, size_t n) {
  walk_t *w = opaque;
  evp_err_t e = EVP_OK;
  if (w->cfg->schema && i < w->max_events && n > 0 && v[0] == '{')
    e = evp_schema_validate(w->cfg->schema, w->ctx, v, n);
  return judge(opaque, i, v, n, e);
}

/* Render {"accepted":N,"rejected":[...]} into resp. */
static evp_err_t render(const evp__events_result_t *res, evp__http_resp_t *resp) {
  evp__buf_t b = {0};
  evp__buf_addf(&b, "{\"accepted\":%zu,\"rejected\":[", res->n_accepted);
  for (size_t i = 0; i < res->n_rejected; i++) {
    const evp__event_rej_t *r = &res->rejected[i];
    evp__buf_addf(&b, "%s{\"index\":%zu,\"event_id\":", i ? "," : "", r->index);
    if (r->event_id)
      evp__buf_json_str(&b, r->event_id, strlen(r->event_id));
    else
      evp__buf_adds(&b, "null");
    evp__buf_adds(&b, ",\"error\":");
    evp__buf_json_str(&b, r->error, strlen(r->error));
    /* reason: machine-readable, a schema keyword or one of the lake's
     * (not_representable, ...): a static name, never client text */
    evp__buf_addf(&b, ",\"reason\":\"%s\",\"retriable\":false}", r->reason ? r->reason : "schema");
  }
  evp__buf_adds(&b, "]}");
  size_t n = 0;
  char *body = evp__buf_take(&b, &n);
  if (!body) return EVP_ERR_NOMEM;
  evp__http_resp_free(resp);
  resp->status = 200;
  resp->body = body;
  resp->body_len = n;
  resp->content_type = "application/json";
  return EVP_OK;
}

/* Longest sent_at read, in bytes once unescaped: an RFC 3339 date-time
 * with a sane fraction is at most 35; one path sees the member decoded (the
 * one-pass parse), the other raw, and both apply this to the decoded text.
 * An escape decodes to at least one byte from at most 6 ("\u0032"), so raw
 * text longer than 6 times the limit is over it before decoding. */
#define SENT_AT_MAX 63

/* The "sent_at" member among the body's members @p m (see sent_at_us in
 * server.h). */
static int64_t sent_at_of(const evp__jmember_t *m, size_t cnt) {
  for (size_t i = 0; i < cnt; i++) {
    if (!evp__json_key_eq(&m[i], "sent_at", 7)) continue;
    if (m[i].type != EVP__JS_STRING) return EVP__EVENTS_NO_SENT_AT;
    char buf[6 * SENT_AT_MAX + 1];
    const char *s = m[i].val;
    size_t n = m[i].vallen;
    int64_t us;
    if (m[i].val_escaped) {
      if (n > 6 * SENT_AT_MAX) return EVP__EVENTS_NO_SENT_AT;
      n = evp__json_unescape(m[i].val, m[i].vallen, buf);
      s = buf;
    }
    return n <= SENT_AT_MAX && evp__rfc3339_to_us(s, n, &us) == 0 ? us : EVP__EVENTS_NO_SENT_AT;
  }
  return EVP__EVENTS_NO_SENT_AT;
}

static evp_err_t bad_request(evp__http_resp_t *resp, const char *desc) {
  return evp__http_resp_error(resp, 400, "invalid_request", desc);
}

evp_err_t evp__events_handle(const evp__events_cfg_t *cfg, evp_schema_ctx_t *ctx,
                             const evp__http_req_t *req, evp__events_result_t *res,
                             evp__http_resp_t *resp) {
  memset(res, 0, sizeof *res);
  res->sent_at_us = EVP__EVENTS_NO_SENT_AT;
  if (strcmp(req->method, "POST") != 0) {
    evp_err_t e = evp__http_resp_error(resp, 405, "method_not_allowed", "use POST");
    return e ? e : evp__http_resp_header(resp, "Allow", "POST");
  }
  size_t max_body = cfg->max_body ? cfg->max_body : EVP__EVENTS_DEFAULT_MAX_BODY;
  size_t max_events = cfg->max_events ? cfg->max_events : EVP__EVENTS_DEFAULT_MAX;
  if (req->body_len > max_body)
    return evp__http_resp_error(resp, 413, "too_large", "request body too large");
  if (cfg->schema && req->body_len <= FAST_BODY_MAX) {
    walk_t w = {cfg, ctx, res, max_events, 0, 0, EVP_OK, 1};
    int r = evp__schema_validate_each(cfg->schema, ctx, req->body, req->body_len, "events",
                                      BODY_MEMBERS, judge, &w);
    if (r == 0) {
      /* The body's members (at most BODY_MEMBERS) come off the same parse:
       * scanning the body again to find sent_at would read every event. */
      evp__jmember_t m[BODY_MEMBERS];
      size_t cnt = 0;
      res->sent_at_us = evp__schema_doc_members(ctx, m, BODY_MEMBERS, &cnt) == EVP_OK
                            ? sent_at_of(m, cnt)
                            : EVP__EVENTS_NO_SENT_AT;
      evp_err_t e = render(res, resp);
      if (e != EVP_OK) evp__events_result_free(res);
      return e;
    }
    if (r > 0 || r == -2) {
      evp__events_result_free(res);
      if (w.too_many)
        return evp__http_resp_error(resp, 413, "too_many_events", "too many events in one request");
      return r == -2 ? EVP_ERR_NOMEM : w.err;
    }
    evp__events_result_free(res); /* nothing was judged: r == -1 stops before */
  }
  evp__jmember_t m[BODY_MEMBERS];
  size_t cnt;
  evp_err_t e = evp__json_scan_object(req->body, req->body_len, BODY_DEPTH, m, BODY_MEMBERS, &cnt);
  if (e != EVP_OK)
    return bad_request(resp, e == EVP_ERR_TOO_DEEP
                                 ? "body nested too deeply"
                                 : "body must be a JSON object {\"events\":[...]}");
  if (evp__json_find_dup(m, cnt) >= 0) return bad_request(resp, "duplicate member in the body");
  const evp__jmember_t *ev = NULL;
  for (size_t i = 0; i < cnt; i++)
    if (evp__json_key_eq(&m[i], "events", 6)) ev = &m[i];
  if (!ev || ev->type != EVP__JS_ARRAY)
    return bad_request(resp, "body must be a JSON object {\"events\":[...]}");
  walk_t w = {cfg, ctx, res, max_events, 0, 0, EVP_OK, 0};
  if (evp__json_array_each(ev->val, ev->vallen, check_one, &w) == (size_t)-1) {
    evp__events_result_free(res);
    if (w.too_many)
      return evp__http_resp_error(resp, 413, "too_many_events", "too many events in one request");
    return w.err;
  }
  res->sent_at_us = sent_at_of(m, cnt);
  if ((e = render(res, resp)) != EVP_OK) evp__events_result_free(res);
  return e;
}
