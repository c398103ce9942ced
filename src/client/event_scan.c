/* The door check every event passes in evp_send: exactly one JSON object
 * (RFC 8259 grammar, UTF-8 strings) with its top-level event_id / event_time
 * located. A single pass without building a tree keeps evp_send in the
 * microsecond range. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client/client_int.h"
#include "evpipe/schema.h"

/* The same nesting limit as the schema validator and the server, so an event
 * the SDK accepts is never refused by the server's body check (which would
 * fail its whole batch). */
#define MAX_DEPTH EVP_SCHEMA_DEFAULT_MAX_DEPTH

typedef struct {
  const char *p, *end, *start;
  const char *err;
  int depth;
} scn;

static void ws(scn *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

static int fail(scn *s, const char *msg) {
  if (!s->err)
    s->err = msg;
  return -1;
}

static int hex4(const char *p) {
  for (int i = 0; i < 4; i++) {
    char ch = p[i];
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))
      return 0;
  }
  return 1;
}

/* On entry *p == '"'. Leaves p after the closing quote; *cs and *cl: content. */
static int string(scn *s, const char **cs, size_t *cl) {
  s->p++;
  const char *b = s->p;
  while (s->p < s->end) {
    /* Fast path over plain ASCII: most of an event's bytes. */
    s->p = (const char *)evp__json_plain_end((const unsigned char *)s->p,
                                             (const unsigned char *)s->end);
    if (s->p >= s->end)
      break;
    unsigned char ch = (unsigned char)*s->p;
    if (ch == '"') {
      if (cs) {
        *cs = b;
        *cl = (size_t)(s->p - b);
      }
      s->p++;
      return 0;
    }
    if (ch < 0x20)
      return fail(s, "control character in string");
    if (ch == '\\') {
      if (s->end - s->p < 2)
        break;
      char e = s->p[1];
      if (e == 'u') {
        if (s->end - s->p < 6 || !hex4(s->p + 2))
          return fail(s, "bad \\u escape");
        unsigned u = (unsigned)strtoul((char[5]){s->p[2], s->p[3], s->p[4], s->p[5], 0}, NULL, 16);
        s->p += 6;
        /* UTF-16 surrogates must come in high-low pairs (RFC 8259 8.2 leaves
         * lone ones undefined; the server refuses them). */
        if (u >= 0xDC00 && u <= 0xDFFF)
          return fail(s, "lone low surrogate in \\u escape");
        if (u >= 0xD800 && u <= 0xDBFF) {
          if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' || !hex4(s->p + 2))
            return fail(s, "lone high surrogate in \\u escape");
          unsigned lo = (unsigned)strtoul((char[5]){s->p[2], s->p[3], s->p[4], s->p[5], 0}, NULL, 16);
          if (lo < 0xDC00 || lo > 0xDFFF)
            return fail(s, "lone high surrogate in \\u escape");
          s->p += 6;
        }
      } else if (strchr("\"\\/bfnrt", e) && e) {
        s->p += 2;
      } else {
        return fail(s, "bad escape in string");
      }
      continue;
    }
    if (ch < 0x80) {
      s->p++;
      continue;
    }
    size_t n = evp__utf8_seq((const unsigned char *)s->p, (const unsigned char *)s->end);
    if (!n)
      return fail(s, "invalid UTF-8 in string");
    s->p += n;
  }
  return fail(s, "unterminated string");
}

static int digits(scn *s) {
  const char *b = s->p;
  while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
    s->p++;
  return s->p > b ? 0 : -1;
}

static int number(scn *s) {
  if (*s->p == '-')
    s->p++;
  if (s->p < s->end && *s->p == '0')
    s->p++;
  else if (digits(s))
    return fail(s, "bad number");
  if (s->p < s->end && *s->p == '.') {
    s->p++;
    if (digits(s))
      return fail(s, "bad number");
  }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
    s->p++;
    if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
      s->p++;
    if (digits(s))
      return fail(s, "bad number");
  }
  return 0;
}

static int lit(scn *s, const char *w, size_t n) {
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n))
    return fail(s, "unexpected token");
  s->p += n;
  return 0;
}

static int value(scn *s, evp__scan *top);

static int object(scn *s, evp__scan *top) {
  if (++s->depth > MAX_DEPTH)
    return fail(s, "nesting too deep");
  s->p++; /* '{' */
  ws(s);
  if (top)
    top->empty = s->p < s->end && *s->p == '}';
  if (s->p < s->end && *s->p == '}') {
    s->p++;
    s->depth--;
    return 0;
  }
  for (;;) {
    ws(s);
    if (s->p >= s->end || *s->p != '"')
      return fail(s, "expected a member name");
    const char *k;
    size_t kl;
    if (string(s, &k, &kl))
      return -1;
    ws(s);
    if (s->p >= s->end || *s->p != ':')
      return fail(s, "expected ':'");
    s->p++;
    ws(s);
    int is_id = top && kl == 8 && !memcmp(k, "event_id", 8);
    if (top && kl == 10 && !memcmp(k, "event_time", 10))
      top->has_time = 1;
    if (is_id) {
      top->has_id = 1;
      if (s->p < s->end && *s->p == '"') {
        if (string(s, &top->id, &top->id_len))
          return -1;
      } else if (value(s, NULL)) {
        return -1;
      }
    } else if (value(s, NULL)) {
      return -1;
    }
    ws(s);
    if (s->p < s->end && *s->p == ',') {
      s->p++;
      continue;
    }
    if (s->p < s->end && *s->p == '}') {
      s->p++;
      s->depth--;
      return 0;
    }
    return fail(s, "expected ',' or '}'");
  }
}

static int array(scn *s) {
  if (++s->depth > MAX_DEPTH)
    return fail(s, "nesting too deep");
  s->p++;
  ws(s);
  if (s->p < s->end && *s->p == ']') {
    s->p++;
    s->depth--;
    return 0;
  }
  for (;;) {
    ws(s);
    if (value(s, NULL))
      return -1;
    ws(s);
    if (s->p < s->end && *s->p == ',') {
      s->p++;
      continue;
    }
    if (s->p < s->end && *s->p == ']') {
      s->p++;
      s->depth--;
      return 0;
    }
    return fail(s, "expected ',' or ']'");
  }
}

static int value(scn *s, evp__scan *top) {
  if (s->p >= s->end)
    return fail(s, "unexpected end of input");
  switch (*s->p) {
  case '{': return object(s, top);
  case '[': return array(s);
  case '"': return string(s, NULL, NULL);
  case 't': return lit(s, "true", 4);
  case 'f': return lit(s, "false", 5);
  case 'n': return lit(s, "null", 4);
  default:
    if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
      return number(s);
    return fail(s, "unexpected character");
  }
}

evp_err_t evp__client_event_scan(const char *json, size_t len, evp__scan *out, char *errstr, size_t es) {
  memset(out, 0, sizeof *out);
  scn s = {json, json + len, json, NULL, 0};
  ws(&s);
  if (s.p >= s.end || *s.p != '{')
    return evp__seterr(errstr, es, EVP_ERR_INVALID_EVENT, "$: the event must be a JSON object");
  out->obj_start = (size_t)(s.p - json);
  if (object(&s, out) == 0) {
    out->obj_end = (size_t)(s.p - json);
    ws(&s);
    if (s.p == s.end)
      return EVP_OK;
    fail(&s, "trailing characters after the object");
  }
  return evp__seterr(errstr, es, EVP_ERR_JSON, "$: invalid JSON at byte %zu: %s",
                     (size_t)(s.p - json), s.err ? s.err : "syntax error");
}
