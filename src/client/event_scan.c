/* The door check every event passes in evp_send: exactly one JSON object
 * (RFC 8259 grammar, UTF-8 strings) with its top-level event_id / event_time
 * located. It is the json area's strict scanner (one pass, no tree, no
 * allocation), so the SDK accepts exactly what the server's body check
 * accepts; this file only picks out the two members. */
#include <string.h>
#include "client/client_int.h"
#include "evpipe/schema.h"

/* The same nesting limit as the schema validator and the server, so an event
 * the SDK accepts is never refused by the server's body check (which would
 * fail its whole batch). */
#define MAX_DEPTH EVP_SCHEMA_DEFAULT_MAX_DEPTH

static void note_member(void *opaque, const evp__jmember_t *m) {
  evp__scan *out = opaque;
  /* Raw names, as before: an escaped spelling is not looked for. */
  if (m->keylen == 8 && memcmp(m->key, "event_id", 8) == 0) {
    out->has_id = 1;
    out->id = m->type == EVP__JS_STRING ? m->val : NULL;
    out->id_len = m->type == EVP__JS_STRING ? m->vallen : 0;
  } else if (m->keylen == 10 && memcmp(m->key, "event_time", 10) == 0) {
    out->has_time = 1;
  }
}

evp_err_t evp__client_event_scan(const char *json, size_t len, evp__scan *out, char *errstr,
                                 size_t es) {
  evp__json_object_info_t info;
  memset(out, 0, sizeof *out);
  evp_err_t e = evp__json_scan_object_each(json, len, MAX_DEPTH, note_member, out, &info);
  if (e == EVP_OK) {
    out->obj_start = info.start;
    out->obj_end = info.end;
    out->empty = info.count == 0;
    return EVP_OK;
  }
  if (info.not_object) {
    /* JSON that is not an object (an array, a number) is an invalid event;
     * text that is not JSON at all ("not json", a blank line) is EVP_ERR_JSON
     * with the byte where it stops being JSON, as for a broken object. Only
     * refusals pay for this second look, the same scanner's, which does not
     * allocate: the text can be of any length here (the size check comes
     * later), and a parse into a tree costs many times its size. */
    size_t off = 0;
    const char *msg = NULL;
    if (evp__json_scan_value(json, len, MAX_DEPTH, &off, &msg) == EVP_ERR_JSON)
      return evp__seterr(errstr, es, EVP_ERR_JSON, "$: invalid JSON at byte %zu: %s", off,
                         msg ? msg : "syntax error");
    return evp__seterr(errstr, es, EVP_ERR_INVALID_EVENT, "$: the event must be a JSON object");
  }
  return evp__seterr(errstr, es, EVP_ERR_JSON, "$: invalid JSON at byte %zu: %s", info.err_off,
                     info.err_msg ? info.err_msg : "syntax error");
}
