/* One event's JSON to one row of the lake table (docs/event-schema.md, "Type
 * mapping"). The strict scanner (json/json.h) gives the top-level members as spans,
 * so there is no tree to build per event; which member goes to which column
 * and what a column holds are the table's rule (table/table_value.c), the
 * same one the doors apply, so what was acknowledged can be written.
 * Objects/arrays are stored as the text that was sent, minus insignificant
 * whitespace — lossless, where a cJSON round trip would reformat numbers. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "json/json.h"
#include "table/table.h"
#include "lake/lake_row.h"
#include "lake/lake.h"

/* A struct's node: what matching its object's members needs, kept from
 * event to event. */
typedef struct struct_node {
  evp__jmember_t *m;         /* room for nfields + 1 members */
  const evp__jmember_t **by; /* the member of each field */
  char *path;                /* "/context/device": where a message points */
} struct_node_t;

/* The rows are in the lake file's terms (lake.h): one value per schema
 * NODE, where a struct column is a group node followed by its fields. */
struct evp__row_builder {
  const evp__table_t *t;
  evp__pq_column_t *cols;        /* the schema nodes */
  size_t ncols;                  /* nodes: data columns plus their fields */
  size_t *node_of;               /* table column -> its node */
  size_t *subtree;               /* node -> nodes in its subtree (1 for a leaf) */
  struct_node_t *sn;             /* per node; used for struct nodes only */
  size_t received_at, client_id; /* their node indexes */
  size_t corrected, skew;        /* event_time_corrected, clock_skew_ms, or (size_t)-1 */
  long event_id;                 /* node of column "event_id" (string) or -1 */
  long event_time;               /* node of column "event_time" (timestamp) or -1 */
  char *tscratch;                /* an escaped event_time read without its column */
  size_t tcap;
  evp__jmember_t *m;
  const evp__jmember_t **by_col; /* the member for each column, per event */
  evp__pq_value_t *row;
  char *scratch; /* unescaped strings and JSON texts of one row */
  size_t scap;
};

static evp__pq_type_t pq_type(evp__col_type_t t) {
  switch (t) {
  case EVP__COL_BIGINT: return EVP__PQ_INT64;
  case EVP__COL_DOUBLE: return EVP__PQ_DOUBLE;
  case EVP__COL_BOOLEAN: return EVP__PQ_BOOLEAN;
  case EVP__COL_TIMESTAMP: return EVP__PQ_TIMESTAMP_US;
  case EVP__COL_STRUCT: return EVP__PQ_GROUP;
  default: return EVP__PQ_STRING;
  }
}

void evp__row_builder_free(evp__row_builder_t *rb) {
  if (!rb) return;
  for (size_t i = 0; rb->sn && i < rb->ncols; i++) {
    free(rb->sn[i].m);
    free(rb->sn[i].by);
    free(rb->sn[i].path);
  }
  free(rb->sn);
  free(rb->node_of);
  free(rb->subtree);
  free(rb->cols);
  free(rb->m);
  free(rb->by_col);
  free(rb->row);
  free(rb->scratch);
  free(rb->tscratch);
  free(rb);
}

/* Every table the model builds fits a lake file. */
_Static_assert(EVP__TABLE_MAX_NODES <= EVP__PQ_MAX_NODES,
               "a table may not exceed the file's nodes");

static size_t count_nodes(const evp__column_t *c) {
  size_t n = 1;
  for (size_t k = 0; k < c->nfields; k++) n += count_nodes(&c->fields[k]);
  return n;
}

/* Add column @p c (and its fields) as nodes from rb->ncols on; @p path is
 * its parent's path. -1 when out of memory. */
static int add_nodes(evp__row_builder_t *rb, const evp__column_t *c, const char *path) {
  size_t node = rb->ncols++;
  evp__pq_column_t *n = &rb->cols[node];
  n->name = c->name;
  n->type = pq_type(c->type);
  n->optional = c->nullable;
  n->nchildren = (unsigned)c->nfields;
  if (c->type == EVP__COL_STRUCT) {
    struct_node_t *sn = &rb->sn[node];
    size_t pl = strlen(path) + 1 + c->namelen + 1;
    if (!(sn->m = calloc(c->nfields + 1, sizeof *sn->m)) ||
        !(sn->by = calloc(c->nfields, sizeof *sn->by)) || !(sn->path = malloc(pl)))
      return -1;
    snprintf(sn->path, pl, "%s/%s", path, c->name);
    for (size_t k = 0; k < c->nfields; k++)
      if (add_nodes(rb, &c->fields[k], sn->path) != 0) return -1;
  }
  rb->subtree[node] = rb->ncols - node;
  return 0;
}

evp_err_t evp__row_builder_new(const evp__table_t *t, evp__row_builder_t **out, char *errstr,
                               size_t errstr_size) {
  *out = NULL;
  evp__row_builder_t *rb = calloc(1, sizeof *rb);
  if (!rb) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory");
  rb->t = t;
  rb->event_id = rb->event_time = -1;
  rb->received_at = rb->client_id = rb->corrected = rb->skew = (size_t)-1;
  size_t nn = 0;
  for (size_t i = 0; i < t->ndata; i++) nn += count_nodes(&t->cols[i]);
  rb->cols = calloc(nn, sizeof *rb->cols);
  rb->sn = calloc(nn, sizeof *rb->sn);
  rb->subtree = calloc(nn, sizeof *rb->subtree);
  rb->node_of = calloc(t->ndata, sizeof *rb->node_of);
  rb->m = calloc(EVP__TABLE_MAX_MEMBERS, sizeof *rb->m);
  rb->row = calloc(nn, sizeof *rb->row);
  rb->by_col = calloc(t->ndata, sizeof *rb->by_col);
  int bad =
      !rb->cols || !rb->sn || !rb->subtree || !rb->node_of || !rb->m || !rb->row || !rb->by_col;
  for (size_t i = 0; !bad && i < t->ndata; i++) {
    rb->node_of[i] = rb->ncols;
    bad = add_nodes(rb, &t->cols[i], "") != 0;
  }
  if (bad) {
    evp__row_builder_free(rb);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "batcher: out of memory");
  }
  for (size_t ci = 0; ci < t->ndata; ci++) {
    const evp__column_t *c = &t->cols[ci];
    size_t i = rb->node_of[ci];
    if (c->role == EVP__ROLE_SERVER && strcmp(c->name, "received_at") == 0) rb->received_at = i;
    if (c->role == EVP__ROLE_SERVER && strcmp(c->name, "client_id") == 0) rb->client_id = i;
    if (c->role == EVP__ROLE_SERVER && strcmp(c->name, EVP__COL_EVENT_TIME_CORRECTED) == 0)
      rb->corrected = i;
    if (c->role == EVP__ROLE_SERVER && strcmp(c->name, EVP__COL_CLOCK_SKEW_MS) == 0) rb->skew = i;
    if (c->role == EVP__ROLE_EVENT && c->type == EVP__COL_TIMESTAMP &&
        strcmp(c->name, "event_time") == 0)
      rb->event_time = (long)i;
    if (c->role == EVP__ROLE_EVENT && c->type == EVP__COL_STRING && c->map == EVP__MAP_SCALAR &&
        strcmp(c->name, "event_id") == 0)
      rb->event_id = (long)i;
  }
  if (rb->received_at == (size_t)-1 || rb->client_id == (size_t)-1) {
    evp__row_builder_free(rb);
    return evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL,
                       "batcher: table has no received_at/client_id columns");
  }
  *out = rb;
  return EVP_OK;
}

const evp__pq_column_t *evp__row_builder_columns(const evp__row_builder_t *rb, size_t *n) {
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
      if (c == '\\' && i + 1 < n)
        out[o++] = s[++i];
      else if (c == '"')
        in_str = 0;
    } else if (c == '"') {
      in_str = 1;
      out[o++] = c;
    } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      out[o++] = c;
    }
  }
  return o;
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

/* The value of leaf column (or struct field) @p c from member @p m. */
static EVP__ALWAYS_INLINE evp_err_t cell(const evp__column_t *c, evp__pq_value_t *v,
                                         const evp__jmember_t *m, char **sp, const char *path,
                                         char *errstr, size_t errstr_size) {
  memset(v, 0, sizeof *v);
  if (m->type == EVP__JS_NULL) {
    v->is_null = 1;
    return EVP_OK;
  }
  evp__table_cell_t val;
  const char *what = evp__table_cell(c, m, *sp, &val);
  if (!what) {
    switch (c->type) {
    case EVP__COL_STRING:
      if (c->map != EVP__MAP_JSON_TEXT && m->val_escaped) {
        v->v.s.ptr = *sp;
        v->v.s.len = evp__json_unescape(m->val, m->vallen, *sp);
        *sp += v->v.s.len;
      } else if (c->map == EVP__MAP_JSON_TEXT && has_ws(m->val, m->vallen)) {
        v->v.s.ptr = *sp;
        v->v.s.len = compact(m->val, m->vallen, *sp);
        *sp += v->v.s.len;
      } else { /* plain strings and compact texts are stored as sent: no copy */
        v->v.s.ptr = m->val;
        v->v.s.len = m->vallen;
      }
      return EVP_OK;
    case EVP__COL_BIGINT:
    case EVP__COL_TIMESTAMP: v->v.i64 = val.i64; return EVP_OK;
    case EVP__COL_DOUBLE: v->v.f64 = val.f64; return EVP_OK;
    case EVP__COL_BOOLEAN: v->v.b = val.b; return EVP_OK;
    case EVP__COL_STRUCT: break; /* struct_cells */
    }
  }
  return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_EVENT,
                     "batcher: \"%s%s%s\" is %s, the column needs %s", path, path[0] ? "/" : "",
                     c->name, jtype(m->type), what);
}

/* Node @p node and its subtree are null. */
static EVP__ALWAYS_INLINE void null_subtree(evp__row_builder_t *rb, size_t node) {
  memset(&rb->row[node], 0, rb->subtree[node] * sizeof rb->row[node]);
  for (size_t i = 0; i < rb->subtree[node]; i++) rb->row[node + i].is_null = 1;
}

/* The values of struct column @p c at @p node from member @p m (an object,
 * or NULL / null for a null struct). */
static evp_err_t struct_cells(evp__row_builder_t *rb, const evp__column_t *c, size_t node,
                              const evp__jmember_t *m, char **sp, char *errstr,
                              size_t errstr_size) {
  if (!m || m->type == EVP__JS_NULL) {
    null_subtree(rb, node);
    return EVP_OK;
  }
  const struct_node_t *sn = &rb->sn[node];
  const char *reason;
  evp_err_t e;
  if (m->type != EVP__JS_OBJECT)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_EVENT,
                       "batcher: \"%s\" is %s, the column needs an object", sn->path + 1,
                       jtype(m->type));
  if ((e = evp__table_match_struct(c, m, sn->m, sn->by, sn->path, &reason, errstr, errstr_size)) !=
      EVP_OK)
    return e;
  memset(&rb->row[node], 0, sizeof rb->row[node]);
  size_t child = node + 1;
  for (size_t k = 0; k < c->nfields; k++) {
    const evp__column_t *f = &c->fields[k];
    const evp__jmember_t *fm = sn->by[k];
    if (f->type == EVP__COL_STRUCT)
      e = struct_cells(rb, f, child, fm, sp, errstr, errstr_size);
    else if (!fm || fm->type == EVP__JS_NULL)
      null_subtree(rb, child);
    else
      e = cell(f, &rb->row[child], fm, sp, sn->path + 1, errstr, errstr_size);
    if (e != EVP_OK) return e;
    child += rb->subtree[child];
  }
  return EVP_OK;
}

int evp__row_builder_event_id(evp__row_builder_t *rb, const char *ev, size_t len, const char **id,
                              size_t *idlen) {
  size_t nm = 0;
  if (rb->event_id < 0 ||
      evp__json_scan_object_trusted(ev, len, rb->m, EVP__TABLE_MAX_MEMBERS, &nm) != EVP_OK)
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

/* Years 0000-9999: the instants an RFC 3339 date-time names. */
#define MIN_US INT64_C(-62167219200000000)
#define MAX_US INT64_C(253402300799999999)

/* The event's "event_time" as an instant: its timestamp column's value, or,
 * in a table without one, the member read as that column would read it. */
static int event_time_of(evp__row_builder_t *rb, size_t nm, int64_t *out) {
  if (rb->event_time >= 0) {
    const evp__pq_value_t *v = &rb->row[rb->event_time];
    *out = v->v.i64;
    return v->is_null ? -1 : 0;
  }
  static const evp__column_t ts = {.type = EVP__COL_TIMESTAMP, .map = EVP__MAP_RFC3339};
  for (size_t i = 0; i < nm; i++) {
    const evp__jmember_t *m = &rb->m[i];
    if (!evp__json_key_eq(m, "event_time", 10)) continue;
    if (m->type != EVP__JS_STRING) return -1;
    if (m->val_escaped && m->vallen + 1 > rb->tcap) {
      char *t = realloc(rb->tscratch, m->vallen + 1);
      if (!t) return -1; /* out of memory: not corrected, like an unreadable time */
      rb->tscratch = t;
      rb->tcap = m->vallen + 1;
    }
    evp__table_cell_t cell;
    if (evp__table_cell(&ts, m, rb->tscratch, &cell)) return -1;
    *out = cell.i64;
    return 0;
  }
  return -1;
}

/* A sent_at worth correcting by (lake_row.h). */
static int sent_at_usable(int64_t sent_at_us, int64_t received_at_us) {
  if (sent_at_us == EVP__ROW_NO_SENT_AT || sent_at_us < 0) return 0;
  return received_at_us > INT64_MAX - EVP__ROW_SENT_AT_MAX_AHEAD_US ||
         sent_at_us <= received_at_us + EVP__ROW_SENT_AT_MAX_AHEAD_US;
}

/* event_time_corrected and clock_skew_ms of one row. */
static void skew_cells(evp__row_builder_t *rb, size_t nm, int64_t received_at_us,
                       int64_t sent_at_us) {
  int usable = sent_at_usable(sent_at_us, received_at_us);
  /* Both within the years 0000-9999 (or usable's bounds): no overflow. */
  int64_t skew_us = usable ? received_at_us - sent_at_us : 0;
  if (rb->skew != (size_t)-1) {
    evp__pq_value_t *v = &rb->row[rb->skew];
    memset(v, 0, sizeof *v);
    v->is_null = !usable;
    v->v.i64 = skew_us / 1000;
  }
  if (rb->corrected != (size_t)-1) {
    evp__pq_value_t *v = &rb->row[rb->corrected];
    memset(v, 0, sizeof *v);
    int64_t t;
    if (event_time_of(rb, nm, &t) != 0) {
      v->is_null = 1;
      return;
    }
    if (usable && t + skew_us >= MIN_US && t + skew_us <= MAX_US) t += skew_us;
    v->v.i64 = t;
  }
}

evp_err_t evp__row_builder_build(evp__row_builder_t *rb, const char *ev, size_t len,
                                 int64_t received_at_us, const char *client_id,
                                 size_t client_id_len, const evp__pq_value_t **row, const char **id,
                                 size_t *idlen, char *errstr, size_t errstr_size) {
  return evp__row_builder_build_sent(rb, ev, len, received_at_us, EVP__ROW_NO_SENT_AT, client_id,
                                     client_id_len, row, id, idlen, errstr, errstr_size);
}

evp_err_t evp__row_builder_build_sent(evp__row_builder_t *rb, const char *ev, size_t len,
                                      int64_t received_at_us, int64_t sent_at_us,
                                      const char *client_id, size_t client_id_len,
                                      const evp__pq_value_t **row, const char **id, size_t *idlen,
                                      char *errstr, size_t errstr_size) {
  size_t nm = 0;
  *id = NULL;
  *idlen = 0;
  /* Events reach the row builder validated (the log holds only accepted
   * events, checksummed; the Lambda processor validates first). */
  evp_err_t e = evp__json_scan_object_trusted(ev, len, rb->m, EVP__TABLE_MAX_MEMBERS, &nm);
  if (e == EVP_ERR_TOO_LARGE)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_EVENT,
                       "batcher: the event has more than %d top-level members",
                       EVP__TABLE_MAX_MEMBERS);
  if (e)
    return evp__seterr(errstr, errstr_size, EVP_ERR_JSON,
                       "batcher: event is not a JSON object (%s)", evp_err2str(e));
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
  const char *reason;
  if ((e = evp__table_match(rb->t, rb->m, nm, by_col, &reason, errstr, errstr_size)) != EVP_OK)
    return e;
  for (size_t ci = 0; ci < rb->t->ndata; ci++) {
    size_t c = rb->node_of[ci];
    if (c == rb->received_at) {
      rb->row[c].is_null = 0;
      rb->row[c].v.i64 = received_at_us;
    } else if (c == rb->client_id) {
      rb->row[c].is_null = 0;
      rb->row[c].v.s.ptr = client_id;
      rb->row[c].v.s.len = client_id_len;
    } else if (rb->t->cols[ci].type == EVP__COL_STRUCT) {
      if ((e = struct_cells(rb, &rb->t->cols[ci], c, by_col[ci], &sp, errstr, errstr_size)))
        return e;
    } else if (!by_col[ci]) {
      memset(&rb->row[c], 0, sizeof rb->row[c]);
      rb->row[c].is_null = 1;
    } else if ((e = cell(&rb->t->cols[ci], &rb->row[c], by_col[ci], &sp, "", errstr,
                         errstr_size))) {
      return e;
    }
  }
  skew_cells(rb, nm, received_at_us, sent_at_us);
  if (rb->event_id >= 0 && !rb->row[rb->event_id].is_null) {
    *id = rb->row[rb->event_id].v.s.ptr;
    *idlen = rb->row[rb->event_id].v.s.len;
  }
  *row = rb->row;
  return EVP_OK;
}
