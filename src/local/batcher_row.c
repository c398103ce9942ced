/* One event's JSON to one row of the lake table (docs/event-schema.md, "Type
 * mapping"). The core's strict scanner gives the top-level members as spans,
 * so there is no tree to build per event, integers are parsed exactly from
 * their digits (cJSON would round anything above 2^53 through a double), and
 * objects/arrays are stored as the text that was sent, minus insignificant
 * whitespace — lossless, where a cJSON round trip would reformat numbers. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "core/table.h"
#include "lake/lake.h"
#include "local/wal_int.h"

#define MAX_MEMBERS 4096 /* more top-level members than any schema has columns */

struct evp__rowb {
  const evp__table_t *t;
  evp__pq_column_t *cols;
  size_t ncols;              /* data columns */
  size_t *namelen;
  size_t received_at, client_id; /* their column indexes */
  long event_id;             /* column "event_id" (string) or -1 */
  evp__jmember_t *m;
  const evp__jmember_t **by_col; /* the member for each column, per event */
  evp__pq_value_t *row;
  char *scratch;             /* unescaped strings and JSON texts of one row */
  size_t scap;
};

static evp__pq_type_t pq_type(evp__col_type_t t) {
  switch (t) {
  case EVP__COL_BIGINT: return EVP__PQ_INT64;
  case EVP__COL_DOUBLE: return EVP__PQ_DOUBLE;
  case EVP__COL_BOOLEAN: return EVP__PQ_BOOLEAN;
  case EVP__COL_TIMESTAMP: return EVP__PQ_TIMESTAMP_US;
  default: return EVP__PQ_STRING;
  }
}

void evp__rowb_free(evp__rowb_t *rb) {
  if (!rb) return;
  free(rb->cols);
  free(rb->namelen);
  free(rb->m);
  free(rb->by_col);
  free(rb->row);
  free(rb->scratch);
  free(rb);
}

evp_err_t evp__rowb_new(const evp__table_t *t, evp__rowb_t **out, char *errstr,
                        size_t errstr_size) {
  *out = NULL;
  evp__rowb_t *rb = calloc(1, sizeof *rb);
  if (!rb) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory");
  rb->t = t;
  rb->ncols = t->ndata;
  rb->event_id = -1;
  rb->received_at = rb->client_id = (size_t)-1;
  rb->cols = calloc(t->ndata, sizeof *rb->cols);
  rb->namelen = calloc(t->ndata, sizeof *rb->namelen);
  rb->m = calloc(MAX_MEMBERS, sizeof *rb->m);
  rb->row = calloc(t->ndata, sizeof *rb->row);
  rb->by_col = calloc(t->ndata, sizeof *rb->by_col);
  if (!rb->cols || !rb->namelen || !rb->m || !rb->row || !rb->by_col) {
    evp__rowb_free(rb);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory");
  }
  for (size_t i = 0; i < t->ndata; i++) {
    const evp__column_t *c = &t->cols[i];
    rb->cols[i].name = c->name;
    rb->cols[i].type = pq_type(c->type);
    rb->cols[i].optional = c->nullable;
    rb->namelen[i] = strlen(c->name);
    if (c->role == EVP__ROLE_SERVER && strcmp(c->name, "received_at") == 0) rb->received_at = i;
    if (c->role == EVP__ROLE_SERVER && strcmp(c->name, "client_id") == 0) rb->client_id = i;
    if (c->role == EVP__ROLE_EVENT && c->type == EVP__COL_STRING && c->map == EVP__MAP_SCALAR &&
        strcmp(c->name, "event_id") == 0)
      rb->event_id = (long)i;
  }
  if (rb->received_at == (size_t)-1 || rb->client_id == (size_t)-1) {
    evp__rowb_free(rb);
    return evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL,
                       "batcher: table has no received_at/client_id columns");
  }
  *out = rb;
  return EVP_OK;
}

const evp__pq_column_t *evp__rowb_columns(const evp__rowb_t *rb, size_t *n) {
  *n = rb->ncols;
  return rb->cols;
}

/* Whether s[0..n) has a JSON whitespace byte anywhere. Texts from SDKs are
 * usually compact already and can then be stored as they are. */
static int has_ws(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
#ifdef EVP__HAVE_SSE2
  const __m128i sp = _mm_set1_epi8(' '), tb = _mm_set1_epi8('\t'), nl = _mm_set1_epi8('\n'),
                cr = _mm_set1_epi8('\r');
  for (; end - p >= 16; p += 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, sp), _mm_cmpeq_epi8(v, tb)),
                             _mm_or_si128(_mm_cmpeq_epi8(v, nl), _mm_cmpeq_epi8(v, cr)));
    if (_mm_movemask_epi8(m)) return 1;
  }
#endif
  for (; p < end; p++)
    if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') return 1;
  return 0;
}

/* Copy JSON text without whitespace outside strings; returns the length. */
static size_t compact(const char *s, size_t n, char *out) {
  size_t o = 0;
  int in_str = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (in_str) {
      out[o++] = c;
      if (c == '\\' && i + 1 < n) out[o++] = s[++i];
      else if (c == '"') in_str = 0;
    } else if (c == '"') {
      in_str = 1;
      out[o++] = c;
    } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      out[o++] = c;
    }
  }
  return o;
}

/* A JSON number span to int64: exact for integer syntax; a fraction or
 * exponent is accepted when the value is integral (JSON Schema "integer"). */
static int parse_i64(const char *s, size_t n, int64_t *out) {
  /* The common case, plain integer syntax, in one pass without copying. */
  size_t i = n > 0 && s[0] == '-';
  if (i < n && n - i <= 18) { /* 18 digits cannot overflow */
    int64_t v = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) v = v * 10 + (s[i] - '0');
    if (i == n) {
      *out = s[0] == '-' ? -v : v;
      return 0;
    }
  }
  char buf[400];
  if (n >= sizeof buf) return -1;
  memcpy(buf, s, n);
  buf[n] = 0;
  char *end;
  errno = 0;
  if (!memchr(s, '.', n) && !memchr(s, 'e', n) && !memchr(s, 'E', n)) {
    long long v = strtoll(buf, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
  }
  double d = strtod(buf, &end);
  if (errno || *end || d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
    return -1;
  *out = (int64_t)d;
  return 0;
}

static int parse_f64(const char *s, size_t n, double *out) {
  char buf[400];
  if (n >= sizeof buf) return -1;
  memcpy(buf, s, n);
  buf[n] = 0;
  char *end;
  errno = 0;
  double d = strtod(buf, &end);
  /* ERANGE on underflow still gives the nearest value; overflow is refused. */
  if (*end || (errno == ERANGE && isinf(d))) return -1;
  *out = d;
  return 0;
}

static const char *jtype(evp__jstype_t t) {
  switch (t) {
  case EVP__JS_STRING: return "a string";
  case EVP__JS_NUMBER: return "a number";
  case EVP__JS_OBJECT: return "an object";
  case EVP__JS_ARRAY: return "an array";
  case EVP__JS_TRUE:
  case EVP__JS_FALSE: return "a boolean";
  default: return "null";
  }
}

static evp_err_t cell(evp__rowb_t *rb, size_t ci, const evp__jmember_t *m, char **sp,
                      char *errstr, size_t errstr_size) {
  const evp__column_t *c = &rb->t->cols[ci];
  evp__pq_value_t *v = &rb->row[ci];
  memset(v, 0, sizeof *v);
  if (m->type == EVP__JS_NULL) {
    v->is_null = 1;
    return EVP_OK;
  }
  const char *what = NULL;
  switch (c->type) {
  case EVP__COL_STRING:
    if (m->type == EVP__JS_STRING && c->map != EVP__MAP_JSON_TEXT) {
      if (m->val_escaped) {
        v->v.s.ptr = *sp;
        v->v.s.len = evp__json_unescape(m->val, m->vallen, *sp);
        *sp += v->v.s.len;
      } else {
        v->v.s.ptr = m->val;
        v->v.s.len = m->vallen;
      }
      return EVP_OK;
    }
    if ((m->type == EVP__JS_OBJECT || m->type == EVP__JS_ARRAY) && c->map == EVP__MAP_JSON_TEXT) {
      if (!has_ws(m->val, m->vallen)) { /* compact already: no copy */
        v->v.s.ptr = m->val;
        v->v.s.len = m->vallen;
        return EVP_OK;
      }
      v->v.s.ptr = *sp;
      v->v.s.len = compact(m->val, m->vallen, *sp);
      *sp += v->v.s.len;
      return EVP_OK;
    }
    what = c->map == EVP__MAP_JSON_TEXT ? "an object or array" : "a string";
    break;
  case EVP__COL_BIGINT:
    if (m->type == EVP__JS_NUMBER && parse_i64(m->val, m->vallen, &v->v.i64) == 0) return EVP_OK;
    what = "an integer in the int64 range";
    break;
  case EVP__COL_DOUBLE:
    if (m->type == EVP__JS_NUMBER && parse_f64(m->val, m->vallen, &v->v.f64) == 0) return EVP_OK;
    what = "a finite number";
    break;
  case EVP__COL_BOOLEAN:
    if (m->type == EVP__JS_TRUE || m->type == EVP__JS_FALSE) {
      v->v.b = m->type == EVP__JS_TRUE;
      return EVP_OK;
    }
    what = "a boolean";
    break;
  case EVP__COL_TIMESTAMP:
    if (m->type == EVP__JS_STRING) {
      const char *s = m->val;
      size_t n = m->vallen;
      if (m->val_escaped) {
        n = evp__json_unescape(m->val, m->vallen, *sp);
        s = *sp;
      }
      if (evp__rfc3339_to_us(s, n, &v->v.i64) == 0) return EVP_OK;
    }
    what = "an RFC 3339 date-time with a time zone";
    break;
  }
  return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_EVENT,
                     "batcher: \"%s\" is %s, the column needs %s", c->name, jtype(m->type), what);
}

int evp__rowb_event_id(evp__rowb_t *rb, const char *ev, size_t len, const char **id,
                       size_t *idlen) {
  size_t nm = 0;
  if (rb->event_id < 0 ||
      evp__json_scan_object_trusted(ev, len, rb->m, MAX_MEMBERS, &nm) != EVP_OK)
    return -1;
  for (size_t i = 0; i < nm; i++) {
    const evp__jmember_t *m = &rb->m[i];
    if (m->type != EVP__JS_STRING || !evp__json_key_eq(m, "event_id", 8)) continue;
    if (!m->val_escaped) {
      *id = m->val;
      *idlen = m->vallen;
      return 0;
    }
    if (m->vallen + 1 > rb->scap) {
      char *s = realloc(rb->scratch, m->vallen + 1);
      if (!s) return -1;
      rb->scratch = s;
      rb->scap = m->vallen + 1;
    }
    *idlen = evp__json_unescape(m->val, m->vallen, rb->scratch);
    *id = rb->scratch;
    return 0;
  }
  return -1;
}

evp_err_t evp__rowb_build(evp__rowb_t *rb, const char *ev, size_t len, int64_t received_at_us,
                          const char *client_id, size_t client_id_len,
                          const evp__pq_value_t **row, const char **id, size_t *idlen,
                          char *errstr, size_t errstr_size) {
  size_t nm = 0;
  *id = NULL;
  *idlen = 0;
  /* Events reach the row builder validated (the log holds only accepted
   * events, checksummed; the Lambda processor validates first). */
  evp_err_t e = evp__json_scan_object_trusted(ev, len, rb->m, MAX_MEMBERS, &nm);
  if (e)
    return evp__seterr(errstr, errstr_size, e == EVP_ERR_TOO_LARGE ? e : EVP_ERR_JSON,
                       "batcher: event is not a JSON object within the limits (%s)",
                       evp_err2str(e));
  /* Unescaped strings and compacted texts are never longer than their
   * spans, so one buffer of the spans' total holds every value of the row. */
  if (len + 1 > rb->scap) {
    char *s = realloc(rb->scratch, len + 1);
    if (!s) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory");
    rb->scratch = s;
    rb->scap = len + 1;
  }
  char *sp = rb->scratch;
  const evp__jmember_t **by_col = rb->by_col;
  memset(by_col, 0, rb->ncols * sizeof *by_col);
  size_t hint = 0; /* clients usually send members in schema order */
  for (size_t i = 0; i < nm; i++) {
    const evp__jmember_t *m = &rb->m[i];
    for (size_t k = 0; k < rb->ncols; k++) {
      size_t c = hint + k < rb->ncols ? hint + k : hint + k - rb->ncols;
      if (rb->t->cols[c].role != EVP__ROLE_EVENT || by_col[c]) continue;
      if (evp__json_key_eq(m, rb->cols[c].name, rb->namelen[c])) {
        by_col[c] = m; /* the first of duplicate names, as cJSON would */
        hint = c + 1 < rb->ncols ? c + 1 : 0;
        break;
      }
    }
  }
  for (size_t c = 0; c < rb->ncols; c++) {
    if (c == rb->received_at) {
      rb->row[c].is_null = 0;
      rb->row[c].v.i64 = received_at_us;
    } else if (c == rb->client_id) {
      rb->row[c].is_null = 0;
      rb->row[c].v.s.ptr = client_id;
      rb->row[c].v.s.len = client_id_len;
    } else if (!by_col[c]) {
      memset(&rb->row[c], 0, sizeof rb->row[c]);
      rb->row[c].is_null = 1;
    } else if ((e = cell(rb, c, by_col[c], &sp, errstr, errstr_size))) {
      return e;
    }
  }
  if (rb->event_id >= 0 && !rb->row[rb->event_id].is_null) {
    *id = rb->row[rb->event_id].v.s.ptr;
    *idlen = rb->row[rb->event_id].v.s.len;
  }
  *row = rb->row;
  return EVP_OK;
}
