/* Parquet reader: opening a file and its footer (thrift_read.c) -> schema,
 * row groups and key/value metadata. Rows are read page by page in
 * pq_read_page.c. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/base.h"
#include "lake/pq_format.h"
#include "lake/pq_reader_int.h"
#include "lake/thrift_read.h"

static const uint8_t MAGIC[4] = {'P', 'A', 'R', '1'};

evp_err_t evp__pq_rerr(evp__pq_reader_t *r, char *errstr, size_t errstr_size, evp_err_t e,
                       const char *fmt, ...) {
  char msg[384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (r) r->failed = 1;
  return evp__seterr(errstr, errstr_size, e, "parquet reader: %s: %s", r ? r->path : "?", msg);
}

evp_err_t evp__pq_pread_all(int fd, void *p, size_t n, uint64_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = pread(fd, (char *)p + got, n - got, (off_t)(off + got));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      if (k == 0) errno = EIO; /* the file shrank under us */
      return EVP_ERR_IO;
    }
    got += (size_t)k;
  }
  return EVP_OK;
}

/* ------------------------------------------------------------ footer */

static char *dup_bytes(const uint8_t *p, size_t n) {
  char *s = malloc(n + 1);
  if (!s) return NULL;
  if (n) memcpy(s, p, n);
  s[n] = 0;
  return s;
}

/* LogicalType union: only the timestamp unit matters (1 millis, 2 micros,
 * 3 nanos; 0: not a timestamp). */
static int logical_ts_unit(evp__tr_t *t) {
  int unit = 0;
  int16_t id, id2, id3;
  uint8_t ty, ty2, ty3;
  evp__tr_struct_begin(t);
  while (evp__tr_field(t, &id, &ty)) {
    if (id == PQ_LT_TIMESTAMP && ty == EVP__TC_STRUCT) {
      evp__tr_struct_begin(t);
      while (evp__tr_field(t, &id2, &ty2)) {
        if (id2 == PQ_TS_UNIT && ty2 == EVP__TC_STRUCT) {
          evp__tr_struct_begin(t);
          while (evp__tr_field(t, &id3, &ty3)) {
            unit = id3;
            evp__tr_skip(t, ty3);
          }
        } else {
          evp__tr_skip(t, ty2);
        }
      }
      if (!unit) unit = -1; /* a timestamp without a unit */
    } else {
      evp__tr_skip(t, ty);
    }
  }
  return unit;
}

typedef struct {
  int has_type, type, repetition, num_children, converted, ts_unit;
  const uint8_t *name;
  size_t name_len;
} selem_t;

static void schema_element(evp__tr_t *t, selem_t *e) {
  int16_t id;
  uint8_t ty;
  memset(e, 0, sizeof *e);
  e->converted = -1;
  evp__tr_struct_begin(t);
  while (evp__tr_field(t, &id, &ty)) {
    switch (id) {
    case PQ_SE_TYPE:
      e->has_type = 1;
      e->type = (int)evp__tr_int(t, ty);
      break;
    case PQ_SE_REPETITION: e->repetition = (int)evp__tr_int(t, ty); break;
    case PQ_SE_NAME: evp__tr_binary(t, ty, &e->name, &e->name_len); break;
    case PQ_SE_NUM_CHILDREN: e->num_children = (int)evp__tr_int(t, ty); break;
    case PQ_SE_CONVERTED_TYPE: e->converted = (int)evp__tr_int(t, ty); break;
    case PQ_SE_LOGICAL_TYPE:
      if (ty == EVP__TC_STRUCT)
        e->ts_unit = logical_ts_unit(t);
      else
        evp__tr_skip(t, ty);
      break;
    default: evp__tr_skip(t, ty);
    }
  }
}

static evp_err_t map_column(evp__pq_reader_t *r, const selem_t *e, evp__pq_column_t *c,
                            char *errstr, size_t errstr_size) {
  char *name = dup_bytes(e->name, e->name_len);
  if (!name) return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  c->name = name;
  if (e->repetition != PQ_REP_REQUIRED && e->repetition != PQ_REP_OPTIONAL)
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                        "column '%s': repetition %d is not supported (no repeated fields)", name,
                        e->repetition);
  c->optional = e->repetition == PQ_REP_OPTIONAL;
  if (!e->has_type) { /* a group (schema_tree checked it has children) */
    c->type = EVP__PQ_GROUP;
    c->nchildren = (unsigned)e->num_children;
    return EVP_OK;
  }
  switch (e->type) {
  case PQ_T_BOOLEAN: c->type = EVP__PQ_BOOLEAN; return EVP_OK;
  case PQ_T_DOUBLE: c->type = EVP__PQ_DOUBLE; return EVP_OK;
  case PQ_T_BYTE_ARRAY:
    c->type = EVP__PQ_STRING; /* the writer only writes UTF-8 strings */
    return EVP_OK;
  case PQ_T_INT64:
    if (e->ts_unit == PQ_LT_TIMESTAMP_UNIT_MILLIS || e->ts_unit == PQ_LT_TIMESTAMP_UNIT_NANOS ||
        e->ts_unit < 0)
      return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                          "column '%s': only microsecond timestamps are supported", name);
    c->type = (e->ts_unit == PQ_TU_MICROS || e->converted == PQ_CT_TIMESTAMP_MICROS)
                  ? EVP__PQ_TIMESTAMP_US
                  : EVP__PQ_INT64;
    return EVP_OK;
  default:
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                        "column '%s': physical type %d is not supported", name, e->type);
  }
}

/* The schema elements after the root (@p ne in all, the root included) in
 * pre-order -> r->nodes, each group followed by its children, and the
 * leaves -> r->cols. Counts of children that are negative or run past the
 * list, elements outside the root's children, groups with a physical type,
 * leaves with children and nesting deeper than EVP__PQ_MAX_DEPTH are
 * refused, so the tree is always well formed afterwards. */
static evp_err_t schema_tree(evp__pq_reader_t *r, evp__tr_t *t, uint32_t ne, char *errstr,
                             size_t errstr_size) {
  selem_t root;
  evp_err_t e;
  schema_element(t, &root);
  if (evp__tr_failed(t)) return EVP_OK; /* reported by the caller */
  if (root.num_children < 1 || (uint32_t)root.num_children > ne - 1)
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                        "damaged footer: the root has %d children in a schema of %u elements",
                        root.num_children, ne);
  r->nodes = calloc(ne - 1, sizeof *r->nodes);
  r->parent = calloc(ne - 1, sizeof *r->parent);
  r->node_def = calloc(ne - 1, 1);
  r->state = calloc(ne - 1, 1);
  if (!r->nodes || !r->parent || !r->node_def || !r->state)
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  size_t open_idx[EVP__PQ_MAX_DEPTH], open_left[EVP__PQ_MAX_DEPTH], depth = 0;
  size_t top_left = (size_t)root.num_children;
  for (uint32_t i = 0; i + 1 < ne; i++) {
    selem_t el;
    schema_element(t, &el);
    if (evp__tr_failed(t)) return EVP_OK;
    if (depth == 0 && top_left == 0)
      return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                          "damaged footer: schema element %u is outside the root's %d children",
                          i + 1, root.num_children);
    if (depth)
      open_left[depth - 1]--;
    else
      top_left--;
    r->parent[i] = depth ? (int32_t)open_idx[depth - 1] : -1;
    r->nnodes = i + 1;
    int group = !el.has_type;
    if (el.num_children < 0 || (group && el.num_children == 0) ||
        (!group && el.num_children != 0) || (uint32_t)el.num_children > ne - 2 - i)
      return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                          "damaged footer: schema element %u ('%.*s') has %s and %d children",
                          i + 1, (int)(el.name_len > 64 ? 64 : el.name_len),
                          el.name ? (const char *)el.name : "",
                          el.has_type ? "a physical type" : "no type", el.num_children);
    if ((e = map_column(r, &el, &r->nodes[i], errstr, errstr_size))) return e;
    if (depth + 1 > EVP__PQ_MAX_DEPTH)
      return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                          "column '%s' is nested deeper than %d levels", r->nodes[i].name,
                          EVP__PQ_MAX_DEPTH);
    r->node_def[i] =
        (uint8_t)((depth ? r->node_def[open_idx[depth - 1]] : 0) + (r->nodes[i].optional ? 1 : 0));
    for (uint32_t j = 0; j < i; j++)
      if (r->parent[j] == r->parent[i] && !strcmp(r->nodes[j].name, r->nodes[i].name))
        return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                            "damaged footer: two columns named '%s' in one group",
                            r->nodes[i].name);
    if (group) {
      r->ngroups++;
      open_idx[depth] = i;
      open_left[depth++] = (size_t)el.num_children;
    } else {
      r->ncols++;
    }
    while (depth && open_left[depth - 1] == 0) depth--;
  }
  if (depth || top_left)
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                        "damaged footer: the schema ends inside a group's children");
  /* the leaves: their dotted paths name them in messages */
  r->cols = calloc(r->ncols, sizeof *r->cols);
  r->leaf_node = calloc(r->ncols, sizeof *r->leaf_node);
  if (!r->cols || !r->leaf_node)
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  size_t nl = 0;
  for (size_t i = 0; i < r->nnodes; i++) {
    if (r->nodes[i].type == EVP__PQ_GROUP) continue;
    size_t up[EVP__PQ_MAX_DEPTH], d = 0, len = 0;
    for (int32_t k = (int32_t)i; k >= 0; k = r->parent[k]) {
      up[d++] = (size_t)k;
      len += strlen(r->nodes[k].name) + 1;
    }
    char *path = malloc(len), *at = path;
    if (!path) return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    for (size_t k = d; k-- > 0;) {
      size_t l = strlen(r->nodes[up[k]].name);
      memcpy(at, r->nodes[up[k]].name, l);
      at += l;
      *at++ = k ? '.' : 0;
    }
    r->cols[nl] = r->nodes[i];
    r->cols[nl].name = path;
    r->leaf_node[nl++] = i;
  }
  return EVP_OK;
}

/* Whether the list of names at the reader's position is the path of leaf
 * @p leaf (top-level name first). */
static int path_matches(const evp__pq_reader_t *r, evp__tr_t *t, uint8_t ty, size_t leaf) {
  size_t up[EVP__PQ_MAX_DEPTH], d = 0;
  for (int32_t k = (int32_t)r->leaf_node[leaf]; k >= 0 && d < EVP__PQ_MAX_DEPTH; k = r->parent[k])
    up[d++] = (size_t)k;
  uint8_t et;
  uint32_t n = evp__tr_list(t, ty, &et);
  int ok = !evp__tr_failed(t) && et == EVP__TC_BINARY && n == d;
  for (uint32_t k = 0; k < n && !evp__tr_failed(t); k++) {
    const uint8_t *p;
    size_t len;
    if (et != EVP__TC_BINARY) {
      evp__tr_skip(t, et);
      continue;
    }
    evp__tr_binary(t, et, &p, &len);
    if (!ok || evp__tr_failed(t)) continue;
    const char *want = r->nodes[up[d - 1 - k]].name;
    ok = strlen(want) == len && (!len || !memcmp(want, p, len));
  }
  return ok;
}

static void column_meta(const evp__pq_reader_t *r, evp__tr_t *t, size_t leaf, evp__pqr_chunk_t *c,
                        int64_t *dict_off, int64_t *data_off, int *path_ok) {
  int16_t id;
  uint8_t ty;
  *path_ok = 1; /* a missing path is no danger: chunks map to leaves by position */
  evp__tr_struct_begin(t);
  while (evp__tr_field(t, &id, &ty)) {
    switch (id) {
    case PQ_CMD_PATH: *path_ok = path_matches(r, t, ty, leaf); break;
    case PQ_CMD_CODEC: c->codec = (int)evp__tr_int(t, ty); break;
    case PQ_CMD_NUM_VALUES: c->num_values = evp__tr_int(t, ty); break;
    case PQ_CMD_COMPRESSED: c->len = evp__tr_int(t, ty); break;
    case PQ_CMD_DATA_PAGE_OFFSET: *data_off = evp__tr_int(t, ty); break;
    case PQ_CMD_DICT_PAGE_OFFSET: *dict_off = evp__tr_int(t, ty); break;
    default: evp__tr_skip(t, ty);
    }
  }
}

static int cmp_chunk_start(const void *a, const void *b) {
  int64_t x = (*(const evp__pqr_chunk_t *const *)a)->start,
          y = (*(const evp__pqr_chunk_t *const *)b)->start;
  return x < y ? -1 : x > y;
}

/* The chunks of a row group must not overlap: the reader loads them all at
 * once, so chunks claiming the same bytes would multiply a file's size by
 * its column count in memory. */
static evp_err_t chunks_disjoint(evp__pq_reader_t *r, const evp__pqr_rgroup_t *g, char *errstr,
                                 size_t errstr_size) {
  const evp__pqr_chunk_t **v = malloc(r->ncols * sizeof *v);
  if (!v) return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < r->ncols; i++) v[i] = &g->cols[i];
  qsort(v, r->ncols, sizeof *v, cmp_chunk_start);
  evp_err_t e = EVP_OK;
  for (size_t i = 1; i < r->ncols && !e; i++)
    if (v[i - 1]->start + v[i - 1]->len > v[i]->start)
      e = evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                       "damaged footer: column chunks at %lld (%lld bytes) and %lld overlap",
                       (long long)v[i - 1]->start, (long long)v[i - 1]->len,
                       (long long)v[i]->start);
  free(v);
  return e;
}

static evp_err_t row_group(evp__pq_reader_t *r, evp__tr_t *t, evp__pqr_rgroup_t *g,
                           uint64_t data_end, char *errstr, size_t errstr_size) {
  int16_t id;
  uint8_t ty;
  size_t ncc = 0;
  int have_rows = 0;
  g->cols = calloc(r->ncols, sizeof *g->cols);
  if (!g->cols) return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  evp__tr_struct_begin(t);
  while (evp__tr_field(t, &id, &ty)) {
    if (id == PQ_RG_NUM_ROWS) {
      g->num_rows = evp__tr_int(t, ty);
      have_rows = 1;
    } else if (id == PQ_RG_COLUMNS && ty == EVP__TC_LIST) {
      uint8_t et;
      uint32_t n = evp__tr_list(t, ty, &et);
      if (!evp__tr_failed(t) && (n != r->ncols || et != EVP__TC_STRUCT))
        return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                            "damaged footer: a row group has %u column chunks for %zu columns", n,
                            r->ncols);
      for (uint32_t i = 0; i < n && !evp__tr_failed(t); i++) {
        evp__pqr_chunk_t *c = &g->cols[i];
        int64_t dict_off = -1, data_off = -1;
        int has_meta = 0, path_ok = 0;
        c->codec = -1;
        evp__tr_struct_begin(t);
        int16_t cid;
        uint8_t cty;
        while (evp__tr_field(t, &cid, &cty)) {
          if (cid == PQ_CC_META_DATA && cty == EVP__TC_STRUCT) {
            column_meta(r, t, i, c, &dict_off, &data_off, &path_ok);
            has_meta = 1;
          } else if (cid == PQ_CC_FILE_PATH) {
            return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                                "column chunks in other files are not supported");
          } else {
            evp__tr_skip(t, cty);
          }
        }
        if (evp__tr_failed(t)) break;
        if (has_meta && !path_ok)
          return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                              "damaged footer: column chunk %u's path_in_schema is not '%s'", i,
                              r->cols[i].name);
        int64_t start = dict_off > 0 && dict_off < data_off ? dict_off : data_off;
        if (!has_meta || start < 4 || c->len <= 0 || c->len > EVP__PQR_MAX_CHUNK_BYTES ||
            (uint64_t)start > data_end || (uint64_t)c->len > data_end - (uint64_t)start ||
            c->num_values < 0)
          return evp__pq_rerr(
              r, errstr, errstr_size, EVP_ERR_IO,
              "damaged footer: column '%s' chunk offset %lld length %lld outside the "
              "file's %llu data bytes",
              r->cols[i].name, (long long)start, (long long)c->len, (unsigned long long)data_end);
        c->start = start;
        ncc++;
      }
    } else {
      evp__tr_skip(t, ty);
    }
  }
  if (evp__tr_failed(t)) return EVP_OK; /* reported by the caller */
  if (ncc != r->ncols || !have_rows || g->num_rows < 0)
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                        "damaged footer: a row group lacks its columns or row count");
  for (size_t i = 0; i < r->ncols; i++)
    if (g->cols[i].num_values != g->num_rows)
      return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                          "damaged footer: column '%s' has %lld values in a row group of %lld rows",
                          r->cols[i].name, (long long)g->cols[i].num_values,
                          (long long)g->num_rows);
  return chunks_disjoint(r, g, errstr, errstr_size);
}

static evp_err_t key_values(evp__pq_reader_t *r, evp__tr_t *t, uint8_t ty, char *errstr,
                            size_t errstr_size) {
  uint8_t et;
  uint32_t n = evp__tr_list(t, ty, &et);
  if (evp__tr_failed(t)) return EVP_OK;
  if (et != EVP__TC_STRUCT) {
    for (uint32_t i = 0; i < n && !evp__tr_failed(t); i++) evp__tr_skip(t, et);
    return EVP_OK;
  }
  r->kv = calloc(n ? n : 1, sizeof *r->kv);
  if (!r->kv) return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  for (uint32_t i = 0; i < n && !evp__tr_failed(t); i++) {
    int16_t id;
    uint8_t fty;
    const uint8_t *k = NULL, *v = NULL;
    size_t kl = 0, vl = 0;
    int hk = 0, hv = 0;
    evp__tr_struct_begin(t);
    while (evp__tr_field(t, &id, &fty)) {
      if (id == PQ_KV_KEY) {
        evp__tr_binary(t, fty, &k, &kl);
        hk = 1;
      } else if (id == PQ_KV_VALUE) {
        evp__tr_binary(t, fty, &v, &vl);
        hv = 1;
      } else {
        evp__tr_skip(t, fty);
      }
    }
    if (evp__tr_failed(t) || !hk) continue;
    evp__pq_kv_t *e = &r->kv[r->nkv++];
    e->key = dup_bytes(k, kl);
    e->value = hv ? dup_bytes(v, vl) : NULL;
    if (!e->key || (hv && !e->value))
      return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  }
  return EVP_OK;
}

static evp_err_t parse_footer(evp__pq_reader_t *r, const uint8_t *p, size_t n, uint64_t data_end,
                              char *errstr, size_t errstr_size) {
  evp__tr_t t;
  int16_t id;
  uint8_t ty;
  int have_schema = 0, have_rgs = 0;
  evp_err_t e;
  evp__tr_init(&t, p, n);
  evp__tr_struct_begin(&t);
  while (evp__tr_field(&t, &id, &ty)) {
    if (id == PQ_FMD_SCHEMA && ty == EVP__TC_LIST && !have_schema) {
      uint8_t et;
      uint32_t ne = evp__tr_list(&t, ty, &et);
      if (evp__tr_failed(&t)) break;
      if (et != EVP__TC_STRUCT || ne < 2 || ne - 1 > EVP__PQR_MAX_COLUMNS)
        return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                            "schema of %u elements: need a root and 1..%d columns", ne,
                            EVP__PQR_MAX_COLUMNS);
      if ((e = schema_tree(r, &t, ne, errstr, errstr_size))) return e;
      if (evp__tr_failed(&t)) break;
      have_schema = 1;
    } else if (id == PQ_FMD_ROW_GROUPS && ty == EVP__TC_LIST && have_schema && !have_rgs) {
      uint8_t et;
      uint32_t ng = evp__tr_list(&t, ty, &et);
      if (evp__tr_failed(&t)) break;
      if (et != EVP__TC_STRUCT)
        return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO, "damaged footer: row groups");
      r->rgs = calloc(ng ? ng : 1, sizeof *r->rgs);
      if (!r->rgs) return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
      for (uint32_t g = 0; g < ng && !evp__tr_failed(&t); g++) {
        r->nrgs = g + 1;
        if ((e = row_group(r, &t, &r->rgs[g], data_end, errstr, errstr_size))) return e;
        if ((uint64_t)r->rgs[g].num_rows > UINT64_MAX / 2 - r->num_rows)
          return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO, "damaged footer: row counts");
        r->num_rows += (uint64_t)r->rgs[g].num_rows;
      }
      have_rgs = 1;
    } else if (id == PQ_FMD_KV && ty == EVP__TC_LIST && !r->kv) {
      if ((e = key_values(r, &t, ty, errstr, errstr_size))) return e;
    } else {
      evp__tr_skip(&t, ty);
    }
  }
  if (evp__tr_failed(&t))
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                        "damaged footer (%s at byte %zu of %zu)", t.err, t.pos, n);
  if (!have_schema || !have_rgs)
    return evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                        "damaged footer: no schema or row groups");
  return EVP_OK;
}

evp_err_t evp__pq_reader_open(evp__pq_reader_t **out, const char *path, char *errstr,
                              size_t errstr_size) {
  if (!out || !path)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "parquet reader: NULL argument");
  *out = NULL;
  evp__pq_reader_t *r = calloc(1, sizeof *r);
  if (!r) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "parquet reader: out of memory");
  r->fd = -1;
  evp_err_t e;
  uint8_t *foot = NULL;
  if (!(r->path = evp__strdup(path))) {
    free(r);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "parquet reader: out of memory");
  }
  r->fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (r->fd < 0 || fstat(r->fd, &st) != 0) {
    e = evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO, "open: %s", strerror(errno));
    goto fail;
  }
  r->file_bytes = (uint64_t)st.st_size;
  uint8_t head[4], tail[8];
  if (r->file_bytes < 12 + 8) {
    e = evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO, "not a Parquet file (%llu bytes)",
                     (unsigned long long)r->file_bytes);
    goto fail;
  }
  if (evp__pq_pread_all(r->fd, head, 4, 0) ||
      evp__pq_pread_all(r->fd, tail, 8, r->file_bytes - 8)) {
    e = evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO, "read: %s", strerror(errno));
    goto fail;
  }
  if (memcmp(head, MAGIC, 4) || memcmp(tail + 4, MAGIC, 4)) {
    e = evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO, "not a Parquet file (no PAR1 magic)");
    goto fail;
  }
  uint32_t flen = (uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 |
                  (uint32_t)tail[3] << 24;
  if (flen == 0 || flen > EVP__PQR_MAX_FOOTER || flen > r->file_bytes - 12) {
    e = evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO,
                     "damaged footer length %u in a %llu-byte file", flen,
                     (unsigned long long)r->file_bytes);
    goto fail;
  }
  foot = malloc(flen);
  if (!foot) {
    e = evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    goto fail;
  }
  uint64_t data_end = r->file_bytes - 8 - flen;
  if (evp__pq_pread_all(r->fd, foot, flen, data_end)) {
    e = evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_IO, "read: %s", strerror(errno));
    goto fail;
  }
  if ((e = parse_footer(r, foot, flen, data_end, errstr, errstr_size))) goto fail;
  free(foot);
  foot = NULL;
  r->cur = calloc(r->ncols, sizeof *r->cur);
  r->row = calloc(r->nnodes, sizeof *r->row);
  if (!r->cur || !r->row) {
    e = evp__pq_rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    goto fail;
  }
  for (size_t i = 0; i < r->ncols; i++) {
    r->cur[i].node = r->leaf_node[i];
    r->cur[i].max_def = r->node_def[r->leaf_node[i]];
  }
  r->failed = 0;
  *out = r;
  return EVP_OK;
fail:
  free(foot);
  evp__pq_reader_close(r);
  return e;
}

void evp__pq_reader_close(evp__pq_reader_t *r) {
  if (!r) return;
  if (r->fd >= 0) close(r->fd);
  for (size_t i = 0; r->cols && i < r->ncols; i++) free((char *)r->cols[i].name);
  free(r->cols);
  for (size_t i = 0; i < r->nnodes; i++) free((char *)r->nodes[i].name);
  free(r->nodes);
  free(r->parent);
  free(r->node_def);
  free(r->state);
  free(r->leaf_node);
  for (size_t g = 0; g < r->nrgs; g++) free(r->rgs[g].cols);
  free(r->rgs);
  for (size_t i = 0; i < r->nkv; i++) {
    free((char *)r->kv[i].key);
    free((char *)r->kv[i].value);
  }
  free(r->kv);
  if (r->cur)
    for (size_t i = 0; i < r->ncols; i++) {
      evp__pqr_col_t *c = &r->cur[i];
      free(c->buf);
      free(c->dbuf);
      free(c->dict);
      free(c->pbuf);
      free(c->defs);
      free(c->vals);
      free(c->idx);
      free(c->u64);
      free(c->soff);
      free(c->slen);
      evp__buf_free(&c->sbytes);
    }
  free(r->cur);
  free(r->row);
  free(r->path);
  free(r);
}

const evp__pq_column_t *evp__pq_reader_columns(const evp__pq_reader_t *r, size_t *n) {
  *n = r->nnodes;
  return r->nodes;
}
uint64_t evp__pq_reader_num_rows(const evp__pq_reader_t *r) { return r->num_rows; }
uint64_t evp__pq_reader_file_bytes(const evp__pq_reader_t *r) { return r->file_bytes; }
const evp__pq_kv_t *evp__pq_reader_kv(const evp__pq_reader_t *r, size_t *n) {
  *n = r->nkv;
  return r->kv;
}

static const char *type_name(evp__pq_type_t t) {
  switch (t) {
  case EVP__PQ_STRING: return "string";
  case EVP__PQ_INT64: return "int64";
  case EVP__PQ_DOUBLE: return "double";
  case EVP__PQ_BOOLEAN: return "boolean";
  case EVP__PQ_TIMESTAMP_US: return "timestamp(us)";
  case EVP__PQ_GROUP: return "group";
  }
  return "?";
}

evp_err_t evp__pq_reader_check_schema(const evp__pq_reader_t *r, const evp__pq_column_t *want,
                                      size_t n, char *errstr, size_t errstr_size) {
  if (n != r->nnodes)
    return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID, "%s: %zu columns, expected %zu",
                       r->path, r->nnodes, n);
  for (size_t i = 0; i < n; i++) {
    const evp__pq_column_t *a = &r->nodes[i], *b = &want[i];
    unsigned bn = b->type == EVP__PQ_GROUP ? b->nchildren : 0;
    if (strcmp(a->name, b->name) || a->type != b->type || !a->optional != !b->optional)
      return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                         "%s: column %zu is '%s' %s %s, expected '%s' %s %s", r->path, i + 1,
                         a->name, type_name(a->type), a->optional ? "optional" : "required",
                         b->name, type_name(b->type), b->optional ? "optional" : "required");
    if (a->nchildren != bn)
      return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                         "%s: group '%s' has %u children, expected %u", r->path, a->name,
                         a->nchildren, bn);
  }
  return EVP_OK;
}
