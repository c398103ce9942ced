/* Parquet reader: footer (thrift_read.c) -> schema and row groups; then,
 * row group by row group, each column chunk is read whole (compressed) and
 * decoded page by page into a column cursor; a row is one value from each
 * cursor. Page decoding is one switch on the page's codec and one on its
 * encoding (decode_values): an encoding this reader does not know fails
 * with the file, column and encoding named, and a new decoder is one case
 * there. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <snappy-c.h>
#include "base/base.h"
#include "lake/pq_format.h"
#include "lake/pq_reader.h"
#include "lake/thrift_read.h"

/* Parquet format numbers the writer does not emit (pq_format.h holds the
 * ones it does and belongs to the writer). */
#define PQ_T_INT32 1
#define PQ_ENC_PLAIN_DICTIONARY 2
#define PQ_PAGE_INDEX 1
#define PQ_PAGE_DATA_V2 3
#define PQ_SE_TYPE_LENGTH 2
#define PQ_CC_FILE_PATH 1
#define PQ_LT_TIMESTAMP_UNIT_MILLIS 1
#define PQ_LT_TIMESTAMP_UNIT_NANOS 3

/* Bounds that keep a damaged header from asking for absurd memory. */
#define MAX_COLUMNS 1024
#define MAX_FOOTER ((size_t)64 << 20)
#define MAX_PAGE_BYTES ((size_t)1 << 30)
#define MAX_PAGE_VALUES ((size_t)1 << 22)
#define MAX_CHUNK_BYTES ((int64_t)2 << 30)

static const uint8_t MAGIC[4] = {'P', 'A', 'R', '1'};

typedef struct {
  int64_t start, len; /* compressed bytes of the chunk: [start, start + len) */
  int codec;
  int64_t num_values;
} chunk_t;

typedef struct {
  int64_t num_rows;
  chunk_t *cols;
} rgroup_t;

/* One column's cursor through the current row group. */
typedef struct {
  const chunk_t *ch;
  uint8_t *buf; /* the chunk's bytes */
  size_t pos;   /* next page header in buf */
  int64_t values_left;
  /* dictionary: values point into dbuf */
  uint8_t *dbuf;
  evp__pq_value_t *dict;
  size_t ndict, capdict;
  int have_dict;
  /* current data page: body in pbuf; nulls from defs; non-null values */
  uint8_t *pbuf;
  size_t cap_pbuf;
  uint32_t *defs; /* per row of the page when optional */
  size_t cap_defs;
  evp__pq_value_t *vals;
  size_t cap_vals;
  uint32_t *idx;
  size_t cap_idx;
  size_t page_rows, row_i, nvals, val_i;
} colcur_t;

struct evp__pq_reader {
  int fd;
  char *path;
  uint64_t file_bytes;
  evp__pq_column_t *cols;
  size_t ncols;
  rgroup_t *rgs;
  size_t nrgs;
  uint64_t num_rows;
  evp__pq_kv_t *kv;
  size_t nkv;
  colcur_t *cur;
  size_t rg_i;          /* next row group to load */
  int64_t rg_rows_left; /* rows left in the loaded one */
  evp__pq_value_t *row; /* ncols */
  int failed;
};

static evp_err_t rerr(evp__pq_reader_t *r, char *errstr, size_t errstr_size, evp_err_t e,
                      const char *fmt, ...) {
  char msg[384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (r) r->failed = 1;
  return evp__seterr(errstr, errstr_size, e, "parquet reader: %s: %s", r ? r->path : "?", msg);
}

static evp_err_t pread_all(int fd, void *p, size_t n, uint64_t off) {
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
  if (!name) return rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  c->name = name;
  if (!e->has_type || e->num_children > 0)
    return rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                "column '%s' is a group (nested schemas are not supported)", name);
  if (e->repetition != PQ_REP_REQUIRED && e->repetition != PQ_REP_OPTIONAL)
    return rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                "column '%s': repetition %d is not supported (flat columns only)", name,
                e->repetition);
  c->optional = e->repetition == PQ_REP_OPTIONAL;
  switch (e->type) {
  case PQ_T_BOOLEAN: c->type = EVP__PQ_BOOLEAN; return EVP_OK;
  case PQ_T_DOUBLE: c->type = EVP__PQ_DOUBLE; return EVP_OK;
  case PQ_T_BYTE_ARRAY:
    c->type = EVP__PQ_STRING; /* the writer only writes UTF-8 strings */
    return EVP_OK;
  case PQ_T_INT64:
    if (e->ts_unit == PQ_LT_TIMESTAMP_UNIT_MILLIS || e->ts_unit == PQ_LT_TIMESTAMP_UNIT_NANOS ||
        e->ts_unit < 0)
      return rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                  "column '%s': only microsecond timestamps are supported", name);
    c->type = (e->ts_unit == PQ_TU_MICROS || e->converted == PQ_CT_TIMESTAMP_MICROS)
                  ? EVP__PQ_TIMESTAMP_US
                  : EVP__PQ_INT64;
    return EVP_OK;
  default:
    return rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                "column '%s': physical type %d is not supported", name, e->type);
  }
}

static void column_meta(evp__tr_t *t, chunk_t *c, int64_t *dict_off, int64_t *data_off) {
  int16_t id;
  uint8_t ty;
  evp__tr_struct_begin(t);
  while (evp__tr_field(t, &id, &ty)) {
    switch (id) {
    case PQ_CMD_CODEC: c->codec = (int)evp__tr_int(t, ty); break;
    case PQ_CMD_NUM_VALUES: c->num_values = evp__tr_int(t, ty); break;
    case PQ_CMD_COMPRESSED: c->len = evp__tr_int(t, ty); break;
    case PQ_CMD_DATA_PAGE_OFFSET: *data_off = evp__tr_int(t, ty); break;
    case PQ_CMD_DICT_PAGE_OFFSET: *dict_off = evp__tr_int(t, ty); break;
    default: evp__tr_skip(t, ty);
    }
  }
}

static evp_err_t row_group(evp__pq_reader_t *r, evp__tr_t *t, rgroup_t *g, uint64_t data_end,
                           char *errstr, size_t errstr_size) {
  int16_t id;
  uint8_t ty;
  size_t ncc = 0;
  int have_rows = 0;
  g->cols = calloc(r->ncols, sizeof *g->cols);
  if (!g->cols) return rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  evp__tr_struct_begin(t);
  while (evp__tr_field(t, &id, &ty)) {
    if (id == PQ_RG_NUM_ROWS) {
      g->num_rows = evp__tr_int(t, ty);
      have_rows = 1;
    } else if (id == PQ_RG_COLUMNS && ty == EVP__TC_LIST) {
      uint8_t et;
      uint32_t n = evp__tr_list(t, ty, &et);
      if (!evp__tr_failed(t) && (n != r->ncols || et != EVP__TC_STRUCT))
        return rerr(r, errstr, errstr_size, EVP_ERR_IO,
                    "damaged footer: a row group has %u column chunks for %zu columns", n,
                    r->ncols);
      for (uint32_t i = 0; i < n && !evp__tr_failed(t); i++) {
        chunk_t *c = &g->cols[i];
        int64_t dict_off = -1, data_off = -1;
        int has_meta = 0;
        c->codec = -1;
        evp__tr_struct_begin(t);
        int16_t cid;
        uint8_t cty;
        while (evp__tr_field(t, &cid, &cty)) {
          if (cid == PQ_CC_META_DATA && cty == EVP__TC_STRUCT) {
            column_meta(t, c, &dict_off, &data_off);
            has_meta = 1;
          } else if (cid == PQ_CC_FILE_PATH) {
            return rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                        "column chunks in other files are not supported");
          } else {
            evp__tr_skip(t, cty);
          }
        }
        if (evp__tr_failed(t)) break;
        int64_t start = dict_off > 0 && dict_off < data_off ? dict_off : data_off;
        if (!has_meta || start < 4 || c->len <= 0 || c->len > MAX_CHUNK_BYTES ||
            (uint64_t)start > data_end || (uint64_t)c->len > data_end - (uint64_t)start ||
            c->num_values < 0)
          return rerr(r, errstr, errstr_size, EVP_ERR_IO,
                      "damaged footer: column '%s' chunk offset %lld length %lld outside the "
                      "file's %llu data bytes",
                      r->cols[i].name, (long long)start, (long long)c->len,
                      (unsigned long long)data_end);
        c->start = start;
        ncc++;
      }
    } else {
      evp__tr_skip(t, ty);
    }
  }
  if (evp__tr_failed(t)) return EVP_OK; /* reported by the caller */
  if (ncc != r->ncols || !have_rows || g->num_rows < 0)
    return rerr(r, errstr, errstr_size, EVP_ERR_IO,
                "damaged footer: a row group lacks its columns or row count");
  for (size_t i = 0; i < r->ncols; i++)
    if (g->cols[i].num_values != g->num_rows)
      return rerr(r, errstr, errstr_size, EVP_ERR_IO,
                  "damaged footer: column '%s' has %lld values in a row group of %lld rows",
                  r->cols[i].name, (long long)g->cols[i].num_values, (long long)g->num_rows);
  return EVP_OK;
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
  if (!r->kv) return rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
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
      return rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
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
      if (et != EVP__TC_STRUCT || ne < 2 || ne - 1 > MAX_COLUMNS)
        return rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                    "schema of %u elements: need a root and 1..%d columns", ne, MAX_COLUMNS);
      selem_t root;
      schema_element(&t, &root);
      if (evp__tr_failed(&t)) break;
      if (root.num_children != (int)(ne - 1))
        return rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                    "the root has %d children in a schema of %u elements (nested schemas "
                    "are not supported)",
                    root.num_children, ne);
      r->cols = calloc(ne - 1, sizeof *r->cols);
      if (!r->cols) return rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
      for (uint32_t i = 1; i < ne; i++) {
        selem_t el;
        schema_element(&t, &el);
        if (evp__tr_failed(&t)) break;
        r->ncols = i;
        if ((e = map_column(r, &el, &r->cols[i - 1], errstr, errstr_size))) return e;
      }
      have_schema = 1;
    } else if (id == PQ_FMD_ROW_GROUPS && ty == EVP__TC_LIST && have_schema && !have_rgs) {
      uint8_t et;
      uint32_t ng = evp__tr_list(&t, ty, &et);
      if (evp__tr_failed(&t)) break;
      if (et != EVP__TC_STRUCT)
        return rerr(r, errstr, errstr_size, EVP_ERR_IO, "damaged footer: row groups");
      r->rgs = calloc(ng ? ng : 1, sizeof *r->rgs);
      if (!r->rgs) return rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
      for (uint32_t g = 0; g < ng && !evp__tr_failed(&t); g++) {
        r->nrgs = g + 1;
        if ((e = row_group(r, &t, &r->rgs[g], data_end, errstr, errstr_size))) return e;
        if ((uint64_t)r->rgs[g].num_rows > UINT64_MAX / 2 - r->num_rows)
          return rerr(r, errstr, errstr_size, EVP_ERR_IO, "damaged footer: row counts");
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
    return rerr(r, errstr, errstr_size, EVP_ERR_IO, "damaged footer (%s at byte %zu of %zu)", t.err,
                t.pos, n);
  if (!have_schema || !have_rgs)
    return rerr(r, errstr, errstr_size, EVP_ERR_IO, "damaged footer: no schema or row groups");
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
    e = rerr(r, errstr, errstr_size, EVP_ERR_IO, "open: %s", strerror(errno));
    goto fail;
  }
  r->file_bytes = (uint64_t)st.st_size;
  uint8_t head[4], tail[8];
  if (r->file_bytes < 12 + 8) {
    e = rerr(r, errstr, errstr_size, EVP_ERR_IO, "not a Parquet file (%llu bytes)",
             (unsigned long long)r->file_bytes);
    goto fail;
  }
  if (pread_all(r->fd, head, 4, 0) || pread_all(r->fd, tail, 8, r->file_bytes - 8)) {
    e = rerr(r, errstr, errstr_size, EVP_ERR_IO, "read: %s", strerror(errno));
    goto fail;
  }
  if (memcmp(head, MAGIC, 4) || memcmp(tail + 4, MAGIC, 4)) {
    e = rerr(r, errstr, errstr_size, EVP_ERR_IO, "not a Parquet file (no PAR1 magic)");
    goto fail;
  }
  uint32_t flen = (uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 |
                  (uint32_t)tail[3] << 24;
  if (flen == 0 || flen > MAX_FOOTER || flen > r->file_bytes - 12) {
    e = rerr(r, errstr, errstr_size, EVP_ERR_IO, "damaged footer length %u in a %llu-byte file",
             flen, (unsigned long long)r->file_bytes);
    goto fail;
  }
  foot = malloc(flen);
  if (!foot) {
    e = rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    goto fail;
  }
  uint64_t data_end = r->file_bytes - 8 - flen;
  if (pread_all(r->fd, foot, flen, data_end)) {
    e = rerr(r, errstr, errstr_size, EVP_ERR_IO, "read: %s", strerror(errno));
    goto fail;
  }
  if ((e = parse_footer(r, foot, flen, data_end, errstr, errstr_size))) goto fail;
  free(foot);
  foot = NULL;
  r->cur = calloc(r->ncols, sizeof *r->cur);
  r->row = calloc(r->ncols, sizeof *r->row);
  if (!r->cur || !r->row) {
    e = rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    goto fail;
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
  for (size_t i = 0; i < r->ncols; i++) free((char *)r->cols[i].name);
  free(r->cols);
  for (size_t g = 0; g < r->nrgs; g++) free(r->rgs[g].cols);
  free(r->rgs);
  for (size_t i = 0; i < r->nkv; i++) {
    free((char *)r->kv[i].key);
    free((char *)r->kv[i].value);
  }
  free(r->kv);
  if (r->cur)
    for (size_t i = 0; i < r->ncols; i++) {
      colcur_t *c = &r->cur[i];
      free(c->buf);
      free(c->dbuf);
      free(c->dict);
      free(c->pbuf);
      free(c->defs);
      free(c->vals);
      free(c->idx);
    }
  free(r->cur);
  free(r->row);
  free(r->path);
  free(r);
}

const evp__pq_column_t *evp__pq_reader_columns(const evp__pq_reader_t *r, size_t *n) {
  *n = r->ncols;
  return r->cols;
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
  }
  return "?";
}

evp_err_t evp__pq_reader_check_schema(const evp__pq_reader_t *r, const evp__pq_column_t *want,
                                      size_t n, char *errstr, size_t errstr_size) {
  if (n != r->ncols)
    return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID, "%s: %zu columns, expected %zu",
                       r->path, r->ncols, n);
  for (size_t i = 0; i < n; i++) {
    const evp__pq_column_t *a = &r->cols[i], *b = &want[i];
    if (strcmp(a->name, b->name) || a->type != b->type || !a->optional != !b->optional)
      return evp__seterr(errstr, errstr_size, EVP_ERR_SCHEMA_INVALID,
                         "%s: column %zu is '%s' %s %s, expected '%s' %s %s", r->path, i + 1,
                         a->name, type_name(a->type), a->optional ? "optional" : "required",
                         b->name, type_name(b->type), b->optional ? "optional" : "required");
  }
  return EVP_OK;
}

/* ------------------------------------------------------------ pages */

/* The RLE/bit-packed hybrid (no length prefix): exactly @p n values of
 * @p bw bits from p[0..len) into out. -1 when the input runs out or a run
 * is malformed. */
static int rle_decode(const uint8_t *p, size_t len, int bw, uint32_t *out, size_t n) {
  size_t pos = 0, got = 0;
  size_t vbytes = ((size_t)bw + 7) / 8;
  while (got < n) {
    uint64_t h = 0;
    int shift = 0;
    for (;;) {
      if (pos >= len || shift > 63) return -1;
      uint8_t b = p[pos++];
      h |= (uint64_t)(b & 0x7F) << shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    if (h & 1) { /* bit-packed: (h >> 1) groups of 8 values */
      uint64_t groups = h >> 1;
      if (groups == 0 || groups > (len - pos) / (bw ? (size_t)bw : 1) + 1) return -1;
      uint64_t nv = groups * 8;
      size_t nbytes = (size_t)groups * (size_t)bw;
      if (nbytes > len - pos) {
        /* the last group may be cut short when only padding is missing */
        if (got + nv < n) return -1;
      }
      uint64_t bitpos = 0;
      for (uint64_t k = 0; k < nv && got < n; k++) {
        uint32_t v = 0;
        for (int b = 0; b < bw; b++, bitpos++) {
          size_t at = pos + (size_t)(bitpos >> 3);
          if (at >= len) return -1;
          v |= (uint32_t)((p[at] >> (bitpos & 7)) & 1) << b;
        }
        out[got++] = v;
      }
      pos += nbytes < len - pos ? nbytes : len - pos;
    } else { /* RLE run */
      uint64_t run = h >> 1;
      if (vbytes > len - pos) return -1;
      uint32_t v = 0;
      for (size_t k = 0; k < vbytes; k++) v |= (uint32_t)p[pos + k] << (8 * k);
      pos += vbytes;
      if (bw < 32 && (v >> bw)) return -1;
      if (run == 0) return -1;
      for (uint64_t k = 0; k < run && got < n; k++) out[got++] = v;
    }
  }
  return 0;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t nc = *cap ? *cap : 64;
  while (nc < need) nc *= 2;
  void *q = realloc(*p, nc * elem);
  if (!q) return -1;
  *p = q;
  *cap = nc;
  return 0;
}

/* PLAIN values of @p type: @p n of them from p[0..len) into out (strings
 * point into p). Returns -1 when the bytes do not hold n values. */
static int plain_decode(evp__pq_type_t type, const uint8_t *p, size_t len, evp__pq_value_t *out,
                        size_t n) {
  size_t pos = 0;
  for (size_t i = 0; i < n; i++) {
    evp__pq_value_t *v = &out[i];
    v->is_null = 0;
    switch (type) {
    case EVP__PQ_INT64:
    case EVP__PQ_TIMESTAMP_US:
    case EVP__PQ_DOUBLE: {
      if (len - pos < 8) return -1;
      uint64_t u = 0;
      for (int k = 7; k >= 0; k--) u = u << 8 | p[pos + (size_t)k];
      pos += 8;
      if (type == EVP__PQ_DOUBLE)
        memcpy(&v->v.f64, &u, 8);
      else
        v->v.i64 = (int64_t)u;
      break;
    }
    case EVP__PQ_BOOLEAN:
      if ((i >> 3) >= len) return -1;
      v->v.b = (p[i >> 3] >> (i & 7)) & 1;
      break;
    case EVP__PQ_STRING: {
      if (len - pos < 4) return -1;
      uint32_t l = (uint32_t)p[pos] | (uint32_t)p[pos + 1] << 8 | (uint32_t)p[pos + 2] << 16 |
                   (uint32_t)p[pos + 3] << 24;
      pos += 4;
      if (l > len - pos) return -1;
      v->v.s.ptr = (const char *)p + pos;
      v->v.s.len = l;
      pos += l;
      break;
    }
    }
  }
  return 0;
}

typedef struct {
  int type, uncompressed, compressed;
  int num_values, encoding, def_encoding;
  int has_data, has_dict;
} page_hdr_t;

static void sub_header(evp__tr_t *t, page_hdr_t *h, int dict) {
  int16_t id;
  uint8_t ty;
  evp__tr_struct_begin(t);
  while (evp__tr_field(t, &id, &ty)) {
    if (id == PQ_DPH_NUM_VALUES)
      h->num_values = (int)evp__tr_int(t, ty);
    else if (id == PQ_DPH_ENCODING)
      h->encoding = (int)evp__tr_int(t, ty);
    else if (!dict && id == PQ_DPH_DEF_ENCODING)
      h->def_encoding = (int)evp__tr_int(t, ty);
    else
      evp__tr_skip(t, ty);
  }
}

static int page_header(const uint8_t *p, size_t len, page_hdr_t *h, size_t *used,
                       const char **why) {
  evp__tr_t t;
  int16_t id;
  uint8_t ty;
  memset(h, 0, sizeof *h);
  h->type = h->uncompressed = h->compressed = -1;
  h->def_encoding = PQ_ENC_RLE;
  evp__tr_init(&t, p, len);
  evp__tr_struct_begin(&t);
  while (evp__tr_field(&t, &id, &ty)) {
    switch (id) {
    case PQ_PH_TYPE: h->type = (int)evp__tr_int(&t, ty); break;
    case PQ_PH_UNCOMPRESSED_SIZE: h->uncompressed = (int)evp__tr_int(&t, ty); break;
    case PQ_PH_COMPRESSED_SIZE: h->compressed = (int)evp__tr_int(&t, ty); break;
    case PQ_PH_DATA_PAGE_HEADER:
      if (ty != EVP__TC_STRUCT) {
        evp__tr_skip(&t, ty);
        break;
      }
      h->has_data = 1;
      sub_header(&t, h, 0);
      break;
    case PQ_PH_DICTIONARY_PAGE_HEADER:
      if (ty != EVP__TC_STRUCT) {
        evp__tr_skip(&t, ty);
        break;
      }
      h->has_dict = 1;
      sub_header(&t, h, 1);
      break;
    default: evp__tr_skip(&t, ty);
    }
  }
  if (evp__tr_failed(&t)) {
    *why = t.err;
    return -1;
  }
  if (h->type < 0 || h->uncompressed < 0 || h->compressed < 0 || h->num_values < 0) {
    *why = "page header lacks its type, sizes or value count";
    return -1;
  }
  *used = t.pos;
  return 0;
}

static const char *codec_name(int codec) {
  switch (codec) {
  case 0: return "UNCOMPRESSED";
  case 1: return "SNAPPY";
  case 2: return "GZIP";
  case 3: return "LZO";
  case 4: return "BROTLI";
  case 5: return "LZ4";
  case 6: return "ZSTD";
  case 7: return "LZ4_RAW";
  }
  return "unknown";
}

static const char *encoding_name(int enc) {
  switch (enc) {
  case 0: return "PLAIN";
  case 2: return "PLAIN_DICTIONARY";
  case 3: return "RLE";
  case 4: return "BIT_PACKED";
  case 5: return "DELTA_BINARY_PACKED";
  case 6: return "DELTA_LENGTH_BYTE_ARRAY";
  case 7: return "DELTA_BYTE_ARRAY";
  case 8: return "RLE_DICTIONARY";
  case 9: return "BYTE_STREAM_SPLIT";
  }
  return "unknown";
}

/* The page body [body, body + h->compressed) uncompressed into *out. */
static evp_err_t decompress(evp__pq_reader_t *r, const evp__pq_column_t *col, int codec,
                            const uint8_t *body, const page_hdr_t *h, uint8_t **out, size_t *cap,
                            char *errstr, size_t errstr_size) {
  size_t ulen = (size_t)h->uncompressed;
  if (ulen > MAX_PAGE_BYTES)
    return rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': page of %zu bytes", col->name,
                ulen);
  if (grow((void **)out, cap, ulen ? ulen : 1, 1))
    return rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  switch (codec) {
  case PQ_CODEC_UNCOMPRESSED:
    if ((size_t)h->compressed != ulen)
      return rerr(r, errstr, errstr_size, EVP_ERR_IO,
                  "column '%s': uncompressed page of %d stored bytes declares %zu", col->name,
                  h->compressed, ulen);
    if (ulen) memcpy(*out, body, ulen);
    return EVP_OK;
  case PQ_CODEC_SNAPPY: {
    size_t n = 0;
    if (snappy_uncompressed_length((const char *)body, (size_t)h->compressed, &n) != SNAPPY_OK ||
        n != ulen)
      return rerr(r, errstr, errstr_size, EVP_ERR_IO,
                  "column '%s': damaged Snappy page (length %zu, header says %zu)", col->name, n,
                  ulen);
    n = ulen;
    if (snappy_uncompress((const char *)body, (size_t)h->compressed, (char *)*out, &n) !=
            SNAPPY_OK ||
        n != ulen)
      return rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': damaged Snappy page",
                  col->name);
    return EVP_OK;
  }
  default:
    return rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                "column '%s': codec %s (%d) is not supported by this reader", col->name,
                codec_name(codec), codec);
  }
}

/* The non-null values of a data page, p[0..len) after its levels, into
 * c->vals[0..nn). One case per encoding. */
static evp_err_t decode_values(evp__pq_reader_t *r, const evp__pq_column_t *col, colcur_t *c,
                               int encoding, const uint8_t *p, size_t len, size_t nn, char *errstr,
                               size_t errstr_size) {
  if (grow((void **)&c->vals, &c->cap_vals, nn ? nn : 1, sizeof *c->vals))
    return rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  switch (encoding) {
  case PQ_ENC_PLAIN:
    if (plain_decode(col->type, p, len, c->vals, nn))
      return rerr(r, errstr, errstr_size, EVP_ERR_IO,
                  "column '%s': PLAIN page too short for its %zu values", col->name, nn);
    return EVP_OK;
  case PQ_ENC_PLAIN_DICTIONARY:
  case PQ_ENC_RLE_DICTIONARY: {
    if (!c->have_dict)
      return rerr(r, errstr, errstr_size, EVP_ERR_IO,
                  "column '%s': dictionary-encoded page without a dictionary", col->name);
    if (nn == 0) return EVP_OK;
    if (len < 1 || p[0] > 32)
      return rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': bad index bit width",
                  col->name);
    if (grow((void **)&c->idx, &c->cap_idx, nn, sizeof *c->idx))
      return rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    if (rle_decode(p + 1, len - 1, p[0], c->idx, nn))
      return rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': damaged dictionary indices",
                  col->name);
    for (size_t i = 0; i < nn; i++) {
      if (c->idx[i] >= c->ndict)
        return rerr(r, errstr, errstr_size, EVP_ERR_IO,
                    "column '%s': dictionary index %u past its %zu entries", col->name, c->idx[i],
                    c->ndict);
      c->vals[i] = c->dict[c->idx[i]];
    }
    return EVP_OK;
  }
  default:
    return rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                "column '%s': encoding %s (%d) is not supported by this reader", col->name,
                encoding_name(encoding), encoding);
  }
}

/* Read pages of column @p i until a data page is loaded. */
static evp_err_t next_page(evp__pq_reader_t *r, size_t i, char *errstr, size_t errstr_size) {
  colcur_t *c = &r->cur[i];
  const evp__pq_column_t *col = &r->cols[i];
  evp_err_t e;
  if (c->val_i != c->nvals)
    return rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': more values than levels",
                col->name);
  for (;;) {
    if (c->values_left <= 0 || c->pos >= (size_t)c->ch->len)
      return rerr(r, errstr, errstr_size, EVP_ERR_IO,
                  "column '%s': the chunk ends before its row group's rows", col->name);
    page_hdr_t h;
    size_t used;
    const char *why = NULL;
    if (page_header(c->buf + c->pos, (size_t)c->ch->len - c->pos, &h, &used, &why))
      return rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': damaged page header (%s)",
                  col->name, why);
    c->pos += used;
    if ((size_t)h.compressed > (size_t)c->ch->len - c->pos)
      return rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': page runs past its chunk",
                  col->name);
    const uint8_t *body = c->buf + c->pos;
    c->pos += (size_t)h.compressed;
    if (h.type == PQ_PAGE_INDEX) continue;
    if (h.type == PQ_PAGE_DICTIONARY) {
      if (!h.has_dict || c->have_dict)
        return rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': unexpected dictionary page",
                    col->name);
      if (h.encoding != PQ_ENC_PLAIN && h.encoding != PQ_ENC_PLAIN_DICTIONARY)
        return rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                    "column '%s': dictionary encoding %s (%d) is not supported by this reader",
                    col->name, encoding_name(h.encoding), h.encoding);
      size_t cap = 0;
      if ((e = decompress(r, col, c->ch->codec, body, &h, &c->dbuf, &cap, errstr, errstr_size)))
        return e;
      size_t nd = (size_t)h.num_values;
      /* every entry takes at least one bit (booleans), most at least 4 bytes */
      if (nd > (size_t)h.uncompressed * 8 || nd > MAX_PAGE_VALUES)
        return rerr(r, errstr, errstr_size, EVP_ERR_IO,
                    "column '%s': dictionary of %zu entries in %d bytes", col->name, nd,
                    h.uncompressed);
      if (grow((void **)&c->dict, &c->capdict, nd ? nd : 1, sizeof *c->dict))
        return rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
      if (plain_decode(col->type, c->dbuf, (size_t)h.uncompressed, c->dict, nd))
        return rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': damaged dictionary page",
                    col->name);
      c->ndict = nd;
      c->have_dict = 1;
      continue;
    }
    if (h.type != PQ_PAGE_DATA)
      return rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                  "column '%s': page type %d is not supported by this reader (data page v1 only)",
                  col->name, h.type);
    if (!h.has_data || h.num_values == 0 || (int64_t)h.num_values > c->values_left ||
        (size_t)h.num_values > MAX_PAGE_VALUES)
      return rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': data page of %d values",
                  col->name, h.num_values);
    if ((e = decompress(r, col, c->ch->codec, body, &h, &c->pbuf, &c->cap_pbuf, errstr,
                        errstr_size)))
      return e;
    size_t rows = (size_t)h.num_values, nn = rows;
    const uint8_t *p = c->pbuf;
    size_t len = (size_t)h.uncompressed;
    if (col->optional) {
      if (h.def_encoding != PQ_ENC_RLE)
        return rerr(r, errstr, errstr_size, EVP_ERR_UNSUPPORTED,
                    "column '%s': definition level encoding %s (%d) is not supported", col->name,
                    encoding_name(h.def_encoding), h.def_encoding);
      if (len < 4)
        return rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': page lacks its levels",
                    col->name);
      uint32_t dl =
          (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
      if (dl > len - 4)
        return rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': levels past the page",
                    col->name);
      if (grow((void **)&c->defs, &c->cap_defs, rows, sizeof *c->defs))
        return rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
      if (rle_decode(p + 4, dl, 1, c->defs, rows))
        return rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': damaged definition levels",
                    col->name);
      nn = 0;
      for (size_t k = 0; k < rows; k++) nn += c->defs[k];
      p += 4 + dl;
      len -= 4 + (size_t)dl;
    }
    if ((e = decode_values(r, col, c, h.encoding, p, len, nn, errstr, errstr_size))) return e;
    c->page_rows = rows;
    c->row_i = 0;
    c->nvals = nn;
    c->val_i = 0;
    c->values_left -= h.num_values;
    return EVP_OK;
  }
}

static evp_err_t load_row_group(evp__pq_reader_t *r, char *errstr, size_t errstr_size) {
  const rgroup_t *g = &r->rgs[r->rg_i++];
  for (size_t i = 0; i < r->ncols; i++) {
    colcur_t *c = &r->cur[i];
    c->ch = &g->cols[i];
    size_t len = (size_t)c->ch->len;
    uint8_t *b = realloc(c->buf, len);
    if (!b) return rerr(r, errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
    c->buf = b;
    if (pread_all(r->fd, c->buf, len, (uint64_t)c->ch->start))
      return rerr(r, errstr, errstr_size, EVP_ERR_IO, "read: %s", strerror(errno));
    c->pos = 0;
    c->values_left = c->ch->num_values;
    c->have_dict = 0;
    c->ndict = 0;
    c->page_rows = c->row_i = 0;
    c->nvals = c->val_i = 0;
  }
  r->rg_rows_left = g->num_rows;
  return EVP_OK;
}

evp_err_t evp__pq_reader_next(evp__pq_reader_t *r, const evp__pq_value_t **row, char *errstr,
                              size_t errstr_size) {
  if (!r || !row)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "parquet reader: NULL argument");
  *row = NULL;
  if (r->failed)
    return evp__seterr(errstr, errstr_size, EVP_ERR_STATE, "parquet reader: %s: failed earlier",
                       r->path);
  evp_err_t e;
  while (r->rg_rows_left == 0) {
    if (r->rg_i > 0)
      for (size_t i = 0; i < r->ncols; i++) {
        const colcur_t *c = &r->cur[i];
        if (c->row_i != c->page_rows || c->val_i != c->nvals || c->values_left != 0)
          return rerr(r, errstr, errstr_size, EVP_ERR_IO,
                      "column '%s' holds more values than its row group's rows", r->cols[i].name);
      }
    if (r->rg_i == r->nrgs) return EVP_OK;
    if ((e = load_row_group(r, errstr, errstr_size))) return e;
  }
  for (size_t i = 0; i < r->ncols; i++) {
    colcur_t *c = &r->cur[i];
    if (c->row_i == c->page_rows && (e = next_page(r, i, errstr, errstr_size))) return e;
    int present = !r->cols[i].optional || c->defs[c->row_i];
    c->row_i++;
    if (!present) {
      memset(&r->row[i], 0, sizeof r->row[i]);
      r->row[i].is_null = 1;
      continue;
    }
    if (c->val_i >= c->nvals)
      return rerr(r, errstr, errstr_size, EVP_ERR_IO, "column '%s': fewer values than levels",
                  r->cols[i].name);
    r->row[i] = c->vals[c->val_i++];
  }
  r->rg_rows_left--;
  *row = r->row;
  return EVP_OK;
}
