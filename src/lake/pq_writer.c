/* Parquet writer: validates and buffers rows per row group, then writes each
 * column chunk as [dictionary page] + data pages (v1) with optional Snappy
 * compression, and finally the footer (pq_footer.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <snappy-c.h>
#include <zstd.h>
#include <zstd_errors.h> /* ZSTD_error_memory_allocation */
#include "base/base.h"
#include "lake/pq_format.h"
#include "lake/pq_writer_int.h"
#include "lake/thrift_compact.h"

/* Rows per data page at most: keeps pages of tiny values (booleans, nulls)
 * from holding millions of rows, which hurts readers' page skipping. */
#define MAX_PAGE_ROWS 20000
#define MAX_COLUMNS EVP__PQ_MAX_NODES
/* Values after which a string column's dictionary is judged (see col_store). */
#define DICT_PROBE 4096
#define MAX_NAME 255
/* ZSTD level when none is given, by measurement (docs/parquet.md): on the
 * bench's 1M events level 1 wrote 28.0 bytes/event, 3 wrote 28.4, 9 28.1,
 * and level 1 is the fastest. */
#define ZSTD_DEFAULT_LEVEL 1

static const char MAGIC[4] = {'P', 'A', 'R', '1'};

/* ------------------------------------------------------------ options */

int evp__pq_codec_from_name(const char *name) {
  if (!name) return -1;
  if (!strcmp(name, "snappy")) return EVP__PQ_SNAPPY;
  if (!strcmp(name, "zstd")) return EVP__PQ_ZSTD;
  return -1;
}

static evp_err_t fill_options(evp__pq_options_t *o, const evp__pq_options_t *in, char *errstr,
                              size_t errstr_size) {
  memset(o, 0, sizeof *o);
  if (in) *o = *in;
  o->kv = NULL;
  o->nkv = 0;
  if (!o->row_group_rows) o->row_group_rows = 1000000;
  if (!o->row_group_bytes) o->row_group_bytes = (size_t)64 << 20;
  if (!o->page_bytes) o->page_bytes = (size_t)1 << 20;
  if (!o->dict_max_bytes) o->dict_max_bytes = (size_t)1 << 20;
  if (!o->dict_max_entries) o->dict_max_entries = 65536;
  if (!o->max_value_bytes) o->max_value_bytes = (size_t)16 << 20;
  if (o->codec != EVP__PQ_SNAPPY && o->codec != EVP__PQ_UNCOMPRESSED && o->codec != EVP__PQ_ZSTD)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "parquet: unknown codec %d",
                       (int)o->codec);
  if (!o->zstd_level) o->zstd_level = ZSTD_DEFAULT_LEVEL;
  if (o->zstd_level < 1 || o->zstd_level > 19)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "parquet: zstd level %d outside 1..19", o->zstd_level);
  if (o->row_group_rows > ((size_t)64 << 20) || o->row_group_bytes > ((size_t)1 << 30) ||
      o->page_bytes < 1024 || o->page_bytes > ((size_t)64 << 20) ||
      o->dict_max_bytes > ((size_t)64 << 20) || o->dict_max_entries > ((size_t)1 << 24) ||
      o->max_value_bytes > ((size_t)64 << 20))
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "parquet: option out of range");
  return EVP_OK;
}

/* ------------------------------------------------------------ lifecycle */

static void col_free(evp__pq_col_t *c) {
  free(c->defs);
  free(c->fixed);
  free(c->bools);
  free(c->soff);
  free(c->didx);
  free(c->seen);
  evp__buf_free(&c->sbytes);
  evp__pq_dict_free(&c->dict);
}

/* Whether a column starts each row group with a dictionary. */
static int dict_first(const evp__pq_options_t *o, const evp__pq_col_t *c) {
  if (c->spec.type == EVP__PQ_STRING) return 1;
  return (c->spec.type == EVP__PQ_INT64 || c->spec.type == EVP__PQ_TIMESTAMP_US) && !o->no_int_dict;
}

static void col_reset(const evp__pq_options_t *o, evp__pq_col_t *c) {
  c->nn = 0;
  c->sbytes.len = 0;
  c->dict_on = dict_first(o, c);
  evp__pq_dict_clear(&c->dict);
  c->null_count = 0;
  c->have_minmax = c->nan_seen = 0;
}

static void writer_free(evp__pq_writer_t *w) {
  for (size_t i = 0; i < w->ncols; i++) col_free(&w->cols[i]);
  free(w->cols);
  for (size_t i = 0; w->nodes && i < w->nnodes; i++) {
    free((char *)w->nodes[i].name);
    if (w->paths) free(w->paths[i]);
  }
  free(w->nodes);
  free(w->paths);
  free(w->parent);
  free(w->def);
  free(w->up);
  for (size_t g = 0; g < w->nrgs; g++) {
    for (size_t i = 0; i < w->ncols; i++) evp__pq_chunk_free(&w->rgs[g].cols[i]);
    free(w->rgs[g].cols);
  }
  free(w->rgs);
  for (size_t i = 0; i < w->opt.nkv; i++) {
    free((char *)w->opt.kv[i].key);
    free((char *)w->opt.kv[i].value);
  }
  free((evp__pq_kv_t *)w->opt.kv);
  evp__lake_file_free(&w->file);
  evp__buf_free(&w->page);
  evp__buf_free(&w->comp);
  evp__buf_free(&w->hdr);
  free(w->scratch);
  ZSTD_freeCCtx(w->zctx);
  free(w);
}

/* Validate the node list (lake.h: pre-order, groups followed by their
 * children) and note each node's group in @p parent. Every refusal names
 * the node. */
static evp_err_t check_schema(const evp__pq_column_t *cols, size_t ncols, int32_t *parent,
                              char *errstr, size_t errstr_size) {
  /* open groups, innermost last: their index and children still expected */
  size_t open_idx[EVP__PQ_MAX_DEPTH], open_left[EVP__PQ_MAX_DEPTH], depth = 0;
  for (size_t i = 0; i < ncols; i++) {
    const char *n = cols[i].name;
    size_t len = n ? strlen(n) : 0;
    if (len == 0 || len > MAX_NAME || !evp__pq_utf8_valid((const uint8_t *)n, len))
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                         "parquet: column %zu: name must be 1..%d bytes of UTF-8", i, MAX_NAME);
    if ((unsigned)cols[i].type > (unsigned)EVP__PQ_GROUP)
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                         "parquet: column '%s': unknown type %d", n, (int)cols[i].type);
    int group = cols[i].type == EVP__PQ_GROUP;
    if (group && cols[i].nchildren == 0)
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                         "parquet: group '%s' has no children", n);
    if (!group && cols[i].nchildren != 0)
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                         "parquet: column '%s' is not a group but has %u children", n,
                         cols[i].nchildren);
    parent[i] = depth ? (int32_t)open_idx[depth - 1] : -1;
    if (depth) open_left[depth - 1]--;
    if (depth + 1 > EVP__PQ_MAX_DEPTH)
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                         "parquet: column '%s' is nested deeper than %d levels", n,
                         EVP__PQ_MAX_DEPTH);
    for (size_t j = 0; j < i; j++)
      if (parent[j] == parent[i] && strcmp(cols[j].name, n) == 0)
        return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                           "parquet: duplicate column name '%s'", n);
    if (group) {
      if (cols[i].nchildren > ncols - 1 - i)
        return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                           "parquet: group '%s' has %u children but only %zu nodes follow", n,
                           cols[i].nchildren, ncols - 1 - i);
      open_idx[depth] = i;
      open_left[depth++] = cols[i].nchildren;
    }
    while (depth && open_left[depth - 1] == 0) depth--;
  }
  if (depth) /* a child count that runs past the list */
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "parquet: group '%s' lacks %zu of its %u children at the end of the schema",
                       cols[open_idx[depth - 1]].name, open_left[depth - 1],
                       cols[open_idx[depth - 1]].nchildren);
  return EVP_OK;
}

/* Copy the validated nodes and set up one leaf column per leaf: its path,
 * and its largest definition level (the optional nodes on its path). */
static evp_err_t setup_nodes(evp__pq_writer_t *w, const evp__pq_column_t *cols, size_t ncols) {
  w->nodes = calloc(ncols, sizeof *w->nodes);
  w->paths = calloc(ncols, sizeof *w->paths);
  w->def = calloc(ncols, 1);
  w->up = calloc(ncols, 1);
  if (!w->nodes || !w->paths || !w->def || !w->up) return EVP_ERR_NOMEM;
  w->nnodes = ncols;
  size_t nleaves = 0;
  for (size_t i = 0; i < ncols; i++) {
    w->nodes[i] = cols[i];
    w->nodes[i].optional = cols[i].optional != 0;
    if (!(w->nodes[i].name = evp__strdup(cols[i].name))) return EVP_ERR_NOMEM;
    const char *pp = w->parent[i] >= 0 ? w->paths[w->parent[i]] : NULL;
    size_t lp = pp ? strlen(pp) + 1 : 0, ln = strlen(cols[i].name);
    if (!(w->paths[i] = malloc(lp + ln + 1))) return EVP_ERR_NOMEM;
    if (pp) {
      memcpy(w->paths[i], pp, lp - 1);
      w->paths[i][lp - 1] = '.';
    }
    memcpy(w->paths[i] + lp, cols[i].name, ln + 1);
    if (w->parent[i] < 0) w->ntop++;
    if (cols[i].type != EVP__PQ_GROUP) nleaves++;
  }
  w->cols = calloc(nleaves, sizeof *w->cols);
  if (!w->cols) return EVP_ERR_NOMEM;
  for (size_t i = 0; i < ncols; i++) {
    if (w->nodes[i].type == EVP__PQ_GROUP) continue;
    evp__pq_col_t *c = &w->cols[w->ncols++];
    c->spec = w->nodes[i];
    c->path = w->paths[i];
    c->node = i;
    size_t up[EVP__PQ_MAX_DEPTH], d = 0;
    for (int32_t k = (int32_t)i; k >= 0; k = w->parent[k]) up[d++] = (size_t)k;
    c->depth = d;
    for (size_t k = 0; k < d; k++) {
      c->path_nodes[k] = up[d - 1 - k];
      c->max_def += w->nodes[up[k]].optional;
    }
    col_reset(&w->opt, c);
  }
  return EVP_OK;
}

static evp_err_t start_file(evp__pq_writer_t *w, const char *dir, const char *final_name,
                            char *errstr, size_t errstr_size) {
  evp_err_t e = evp__lake_file_open(&w->file, dir, final_name, errstr, errstr_size);
  if (e) return e;
  if ((e = evp__lake_file_write(&w->file, MAGIC, 4, errstr, errstr_size)) != EVP_OK)
    evp__lake_file_abort(&w->file);
  return e;
}

evp_err_t evp__pq_writer_open(evp__pq_writer_t **out, const char *dir, const char *final_name,
                              const evp__pq_column_t *cols, size_t ncols,
                              const evp__pq_options_t *opts, char *errstr, size_t errstr_size) {
  if (!out) return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "parquet: out is NULL");
  *out = NULL;
  if (!cols || ncols == 0 || ncols > MAX_COLUMNS)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "parquet: need 1..%d columns",
                       MAX_COLUMNS);
  int32_t *parent = malloc(ncols * sizeof *parent);
  if (!parent) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "parquet: out of memory");
  evp_err_t e = check_schema(cols, ncols, parent, errstr, errstr_size);
  if (!e && opts && opts->nkv && !opts->kv)
    e = evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "parquet: nkv without kv");
  if (e) {
    free(parent);
    return e;
  }
  evp__pq_writer_t *w = calloc(1, sizeof *w);
  if (!w) {
    free(parent);
    return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "parquet: out of memory");
  }
  w->file.fd = -1;
  w->parent = parent;
  if ((e = fill_options(&w->opt, opts, errstr, errstr_size)) != EVP_OK) {
    writer_free(w);
    return e;
  }
  if (setup_nodes(w, cols, ncols)) goto nomem;
  if (opts && opts->nkv) {
    evp__pq_kv_t *kv = calloc(opts->nkv, sizeof *kv);
    if (!kv) goto nomem;
    w->opt.kv = kv;
    w->opt.nkv = opts->nkv;
    for (size_t i = 0; i < opts->nkv; i++) {
      if (!opts->kv[i].key) {
        writer_free(w);
        return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "parquet: kv key is NULL");
      }
      kv[i].key = evp__strdup(opts->kv[i].key);
      kv[i].value = evp__strdup(opts->kv[i].value);
      if (!kv[i].key || (opts->kv[i].value && !kv[i].value)) goto nomem;
    }
  }
  if ((e = start_file(w, dir, final_name, errstr, errstr_size)) != EVP_OK) {
    writer_free(w);
    return e;
  }
  *out = w;
  return EVP_OK;
nomem:
  writer_free(w);
  return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "parquet: out of memory");
}

void evp__pq_writer_discard(evp__pq_writer_t *w) {
  if (!w) return;
  evp__lake_file_abort(&w->file);
  w->done = 1;
}

void evp__pq_writer_free(evp__pq_writer_t *w) {
  if (!w) return;
  evp__lake_file_abort(&w->file); /* a no-op once committed or aborted */
  writer_free(w);
}

void evp__pq_writer_abort(evp__pq_writer_t *w) { evp__pq_writer_free(w); }

/* Another file with the same columns and options: buffers, dictionaries and
 * scratch keep their capacity, so a long-lived writer stops paying for fresh
 * memory (page faults and realloc copies were ~15% of the batcher's time). */
evp_err_t evp__pq_writer_reopen(evp__pq_writer_t *w, const char *dir, const char *final_name,
                                char *errstr, size_t errstr_size) {
  if (!w) return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "parquet: NULL writer");
  if (!w->done)
    return evp__seterr(errstr, errstr_size, EVP_ERR_STATE,
                       "parquet: reopen needs a finished or discarded writer");
  for (size_t g = 0; g < w->nrgs; g++) {
    for (size_t i = 0; i < w->ncols; i++) evp__pq_chunk_free(&w->rgs[g].cols[i]);
    free(w->rgs[g].cols);
  }
  w->nrgs = 0;
  w->rows = 0;
  w->total_rows = 0;
  w->buffered_bytes = 0;
  w->failed = 0;
  for (size_t i = 0; i < w->ncols; i++) col_reset(&w->opt, &w->cols[i]);
  evp_err_t e = start_file(w, dir, final_name, errstr, errstr_size);
  if (!e) w->done = 0;
  return e;
}

uint64_t evp__pq_writer_rows(const evp__pq_writer_t *w) { return w->total_rows + w->rows; }
uint64_t evp__pq_writer_file_bytes(const evp__pq_writer_t *w) { return w->file.offset; }
uint64_t evp__pq_writer_buffered_bytes(const evp__pq_writer_t *w) { return w->buffered_bytes; }

/* ------------------------------------------------------------ pages */

static evp_err_t write_page(evp__pq_writer_t *w, evp__pq_chunk_meta_t *m, int page_type,
                            int32_t num_values, int encoding, char *errstr, size_t errstr_size) {
  const evp__buf_t *body = &w->page;
  if (body->len > INT32_MAX)
    return evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE, "parquet: page too large");
  if (w->opt.codec == EVP__PQ_SNAPPY) {
    size_t clen = snappy_max_compressed_length(body->len);
    w->comp.len = 0;
    if (evp__buf_reserve(&w->comp, clen))
      return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "parquet: out of memory");
    if (snappy_compress((const char *)body->p, body->len, (char *)w->comp.p, &clen) != SNAPPY_OK)
      return evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL, "parquet: snappy failed");
    w->comp.len = clen;
    body = &w->comp;
  } else if (w->opt.codec == EVP__PQ_ZSTD) {
    if (!w->zctx && !(w->zctx = ZSTD_createCCtx()))
      return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "parquet: out of memory");
    size_t clen = ZSTD_compressBound(body->len);
    w->comp.len = 0;
    if (evp__buf_reserve(&w->comp, clen))
      return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "parquet: out of memory");
    clen = ZSTD_compressCCtx(w->zctx, w->comp.p, clen, body->p, body->len, w->opt.zstd_level);
    if (ZSTD_isError(clen)) /* libzstd allocates its working memory lazily, here */
      return ZSTD_getErrorCode(clen) == ZSTD_error_memory_allocation
                 ? evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "parquet: out of memory (zstd)")
                 : evp__seterr(errstr, errstr_size, EVP_ERR_INTERNAL, "parquet: zstd failed: %s",
                               ZSTD_getErrorName(clen));
    w->comp.len = clen;
    body = &w->comp;
  }
  if (body->len > INT32_MAX)
    return evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE, "parquet: page too large");
  w->hdr.len = 0;
  evp__tc_t t;
  evp__tc_init(&t, &w->hdr);
  evp__tc_struct_begin(&t);
  evp__tc_field_i32(&t, PQ_PH_TYPE, page_type);
  evp__tc_field_i32(&t, PQ_PH_UNCOMPRESSED_SIZE, (int32_t)w->page.len);
  evp__tc_field_i32(&t, PQ_PH_COMPRESSED_SIZE, (int32_t)body->len);
  if (page_type == PQ_PAGE_DATA) {
    evp__tc_field_struct(&t, PQ_PH_DATA_PAGE_HEADER);
    evp__tc_field_i32(&t, PQ_DPH_NUM_VALUES, num_values);
    evp__tc_field_i32(&t, PQ_DPH_ENCODING, encoding);
    evp__tc_field_i32(&t, PQ_DPH_DEF_ENCODING, PQ_ENC_RLE);
    evp__tc_field_i32(&t, PQ_DPH_REP_ENCODING, PQ_ENC_RLE);
    evp__tc_struct_end(&t);
  } else {
    evp__tc_field_struct(&t, PQ_PH_DICTIONARY_PAGE_HEADER);
    evp__tc_field_i32(&t, PQ_DICT_NUM_VALUES, num_values);
    evp__tc_field_i32(&t, PQ_DICT_ENCODING, encoding);
    evp__tc_struct_end(&t);
  }
  evp__tc_struct_end(&t);
  evp_err_t e = evp__tc_error(&t);
  if (e)
    return evp__seterr(errstr, errstr_size, e, "parquet: page header encoding failed%s",
                       e == EVP_ERR_NOMEM ? ": out of memory" : "");
  if (page_type == PQ_PAGE_DATA && m->data_page_offset < 0)
    m->data_page_offset = (int64_t)w->file.offset;
  if ((e = evp__lake_file_write(&w->file, w->hdr.p, w->hdr.len, errstr, errstr_size)) ||
      (e = evp__lake_file_write(&w->file, body->p, body->len, errstr, errstr_size)))
    return e;
  m->uncompressed += (int64_t)(w->hdr.len + w->page.len);
  m->compressed += (int64_t)(w->hdr.len + body->len);
  return EVP_OK;
}

static evp_err_t scratch_reserve(evp__pq_writer_t *w, size_t n) {
  if (n <= w->cap_scratch) return EVP_OK;
  uint32_t *p = realloc(w->scratch, n * sizeof *p);
  if (!p) return EVP_ERR_NOMEM;
  w->scratch = p;
  w->cap_scratch = n;
  return EVP_OK;
}

static int dict_bit_width(const evp__pq_col_t *c) {
  int bw = evp__pq_bit_width(c->dict.n ? (uint32_t)(c->dict.n - 1) : 0);
  return bw ? bw : 1; /* width 0 is legal but some readers mishandle it */
}

/* Encode rows [r0, r1) holding values [v0, v1) into w->page, the values
 * with encoding @p enc (RLE_DICTIONARY, PLAIN or a DELTA_*). */
static evp_err_t encode_data_page(evp__pq_writer_t *w, const evp__pq_col_t *c, size_t r0, size_t r1,
                                  size_t v0, size_t v1, int enc) {
  evp__buf_t *p = &w->page;
  evp_err_t e;
  p->len = 0;
  if (c->max_def) {
    /* v1 pages: definition levels are RLE-hybrid with a 4-byte length, at
     * the width of the leaf's largest level (1 for a flat optional column). */
    if ((e = scratch_reserve(w, r1 - r0)) || (e = evp__buf_reserve(p, 4))) return e;
    for (size_t r = r0; r < r1; r++) w->scratch[r - r0] = c->defs[r];
    size_t at = p->len;
    evp__buf_le32(p, 0);
    if ((e = evp__pq_rle_encode(p, w->scratch, r1 - r0, evp__pq_bit_width((uint32_t)c->max_def))))
      return e;
    uint32_t n = (uint32_t)(p->len - at - 4);
    for (int i = 0; i < 4; i++) p->p[at + (size_t)i] = (uint8_t)(n >> (8 * i));
  }
  if (enc == PQ_ENC_RLE_DICTIONARY) {
    if (v1 == v0) return EVP_OK;
    if ((e = evp__buf_reserve(p, 1))) return e;
    int bw = dict_bit_width(c);
    evp__buf_u8(p, (uint8_t)bw);
    return evp__pq_rle_encode(p, c->didx + v0, v1 - v0, bw);
  }
  /* A DELTA stream has a header even for no values: readers parse it. */
  if (enc == PQ_ENC_DELTA_BINARY_PACKED)
    return evp__pq_delta_encode(p, v1 > v0 ? c->fixed + v0 : NULL, v1 - v0);
  if (enc == PQ_ENC_DELTA_BYTE_ARRAY || enc == PQ_ENC_DELTA_LENGTH_BYTE_ARRAY) {
    if ((e = scratch_reserve(w, 2 * (v1 - v0) + 2))) return e;
    const uint64_t *soff = v1 > v0 ? c->soff + v0 : NULL;
    if (enc == PQ_ENC_DELTA_BYTE_ARRAY)
      return evp__pq_dba_encode(p, c->sbytes.p, soff, v1 - v0, w->scratch);
    return evp__pq_dlba_encode(p, c->sbytes.p, soff, v1 - v0, w->scratch);
  }
  if (v1 == v0) return EVP_OK; /* all NULL: the value arrays may not exist */
  switch (c->spec.type) {
  case EVP__PQ_INT64:
  case EVP__PQ_TIMESTAMP_US:
  case EVP__PQ_DOUBLE:
    if ((e = evp__buf_reserve(p, 8 * (v1 - v0)))) return e;
    for (size_t v = v0; v < v1; v++) evp__buf_le64(p, c->fixed[v]);
    return EVP_OK;
  case EVP__PQ_BOOLEAN: return evp__pq_plain_bool(p, c->bools + v0, v1 - v0);
  case EVP__PQ_STRING:
    if ((e = evp__buf_reserve(p, 4 * (v1 - v0) + (size_t)(c->soff[v1] - c->soff[v0])))) return e;
    for (size_t v = v0; v < v1; v++) {
      size_t len = (size_t)(c->soff[v + 1] - c->soff[v]);
      evp__buf_le32(p, (uint32_t)len);
      evp__buf_raw(p, c->sbytes.p + c->soff[v], len);
    }
    return EVP_OK;
  case EVP__PQ_GROUP: break;
  }
  return EVP_ERR_INTERNAL;
}

static size_t value_cost(const evp__pq_col_t *c, size_t v) {
  if (c->dict_on) return 2;
  switch (c->spec.type) {
  case EVP__PQ_STRING: return 4 + (size_t)(c->soff[v + 1] - c->soff[v]);
  case EVP__PQ_BOOLEAN: return 1;
  default: return 8;
  }
}

/* Whether the chunk's strings share prefixes with their predecessors enough
 * for DELTA_BYTE_ARRAY (prefix lengths + suffixes) to beat
 * DELTA_LENGTH_BYTE_ARRAY: on average PREFIX_MIN bytes over its first
 * DICT_PROBE values. Measured on the bench's 1M events (Snappy): JSON
 * properties 7.65 -> 6.80 bytes/event, while random UUIDs (no prefixes)
 * would cost 0.24 more, so the choice is per chunk. */
#define PREFIX_MIN 4
static int shares_prefixes(const evp__pq_col_t *c) {
  size_t n = c->nn < DICT_PROBE ? c->nn : DICT_PROBE, total = 0;
  for (size_t v = 1; v < n; v++) {
    const uint8_t *a = c->sbytes.p + c->soff[v - 1], *b = c->sbytes.p + c->soff[v];
    size_t la = (size_t)(c->soff[v] - c->soff[v - 1]), lb = (size_t)(c->soff[v + 1] - c->soff[v]);
    size_t m = la < lb ? la : lb, k = 0;
    while (k < m && a[k] == b[k]) k++;
    total += k;
  }
  return n > 1 && total >= PREFIX_MIN * (n - 1);
}

/* The data pages' encoding of a chunk: the dictionary's indices when it
 * held, else the column's delta encoding unless turned off, else PLAIN. */
static int data_encoding(const evp__pq_options_t *o, const evp__pq_col_t *c) {
  if (c->dict_on) return PQ_ENC_RLE_DICTIONARY;
  switch (c->spec.type) {
  case EVP__PQ_INT64:
  case EVP__PQ_TIMESTAMP_US: return o->no_delta_int ? PQ_ENC_PLAIN : PQ_ENC_DELTA_BINARY_PACKED;
  case EVP__PQ_STRING:
    if (o->no_delta_str) return PQ_ENC_PLAIN;
    return !o->no_prefix_str && shares_prefixes(c) ? PQ_ENC_DELTA_BYTE_ARRAY
                                                   : PQ_ENC_DELTA_LENGTH_BYTE_ARRAY;
  default: return PQ_ENC_PLAIN;
  }
}

static void finish_stats(const evp__pq_col_t *c, evp__pq_chunk_meta_t *m) {
  m->null_count = c->null_count;
  m->has_minmax = 0;
  /* With a NaN present, min/max would be ambiguous across readers (some order
   * NaN above everything), so omit them rather than risk wrong pruning. */
  if (!c->have_minmax || c->nan_seen) return;
  uint64_t lo, hi;
  switch (c->spec.type) {
  case EVP__PQ_INT64:
  case EVP__PQ_TIMESTAMP_US:
    lo = (uint64_t)c->imin;
    hi = (uint64_t)c->imax;
    break;
  case EVP__PQ_DOUBLE: {
    /* Spec rule for signed zeros: min zero is written -0.0, max zero +0.0. */
    double dlo = c->dmin == 0.0 ? -0.0 : c->dmin, dhi = c->dmax == 0.0 ? 0.0 : c->dmax;
    memcpy(&lo, &dlo, 8);
    memcpy(&hi, &dhi, 8);
    break;
  }
  case EVP__PQ_BOOLEAN:
    m->min[0] = (uint8_t)c->imin;
    m->max[0] = (uint8_t)c->imax;
    m->min_len = m->max_len = 1;
    m->has_minmax = 1;
    return;
  case EVP__PQ_STRING: {
    /* Byte-wise min/max, over the distinct values when a dictionary
       * exists (far fewer comparisons than one per appended value). */
    evp__pq_bounds_t b = {0};
    if (!c->dict_on && m->npages && !m->no_column_index) {
      /* Every value's page has exact bounds: the chunk's are among them,
       * found without comparing each value a second time. */
      for (size_t k = 0; k < m->npages; k++)
        if (!m->pages[k].all_null) {
          evp__pq_bounds_note(&b, m->pages[k].min, m->pages[k].min_len);
          evp__pq_bounds_note(&b, m->pages[k].max, m->pages[k].max_len);
        }
    }
    size_t count = b.found ? 0 : c->dict_on ? c->dict.n : c->nn;
    for (size_t k = 0; k < count; k++) {
      if (c->dict_on)
        evp__pq_bounds_note(&b, c->dict.bytes.p + c->dict.ent[k].off, c->dict.ent[k].len);
      else
        evp__pq_bounds_note(&b, c->sbytes.p + c->soff[k], (size_t)(c->soff[k + 1] - c->soff[k]));
    }
    if (!b.found || b.min_len > EVP__PQ_STATS_MAX || b.max_len > EVP__PQ_STATS_MAX) return;
    if (b.min_len) memcpy(m->min, b.min, b.min_len);
    if (b.max_len) memcpy(m->max, b.max, b.max_len);
    m->min_len = (uint32_t)b.min_len;
    m->max_len = (uint32_t)b.max_len;
    m->has_minmax = 1;
    return;
  }
  default: return;
  }
  for (int i = 0; i < 8; i++) {
    m->min[i] = (uint8_t)(lo >> (8 * i));
    m->max[i] = (uint8_t)(hi >> (8 * i));
  }
  m->min_len = m->max_len = 8;
  m->has_minmax = 1;
}

static evp_err_t write_chunk(evp__pq_writer_t *w, evp__pq_col_t *c, evp__pq_chunk_meta_t *m,
                             char *errstr, size_t errstr_size) {
  evp_err_t e;
  m->start = (int64_t)w->file.offset;
  m->ci_offset = m->oi_offset = -1;
  m->data_page_offset = -1;
  m->dict_page_offset = -1;
  m->num_values = (int64_t)w->rows;
  if (c->dict_on && c->nn == 0) c->dict_on = 0; /* all NULL: nothing to index */
  if (c->dict_on) {
    evp__buf_t *p = &w->page;
    p->len = 0;
    if (evp__buf_reserve(p, 4 * c->dict.n + c->dict.bytes.len))
      return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "parquet: out of memory");
    if (c->spec.type == EVP__PQ_STRING) {
      for (size_t i = 0; i < c->dict.n; i++) {
        evp__buf_le32(p, c->dict.ent[i].len);
        evp__buf_raw(p, c->dict.bytes.p + c->dict.ent[i].off, c->dict.ent[i].len);
      }
    } else { /* 8-byte little-endian keys in order: exactly PLAIN INT64 */
      evp__buf_raw(p, c->dict.bytes.p, c->dict.bytes.len);
    }
    m->dict_page_offset = m->start;
    if ((e = write_page(w, m, PQ_PAGE_DICTIONARY, (int32_t)c->dict.n, PQ_ENC_PLAIN, errstr,
                        errstr_size)))
      return e;
  }
  int enc = data_encoding(&w->opt, c);
  m->data_enc = enc;
  size_t r = 0, v = 0;
  while (r < w->rows) {
    size_t r0 = r, v0 = v, est = 0;
    while (r < w->rows && r - r0 < MAX_PAGE_ROWS && est < w->opt.page_bytes) {
      if (!c->max_def || c->defs[r] == c->max_def) est += value_cost(c, v++);
      r++;
    }
    if ((e = encode_data_page(w, c, r0, r, v0, v, enc)))
      return evp__seterr(errstr, errstr_size, e, "parquet: out of memory encoding a page");
    int64_t at = (int64_t)w->file.offset;
    if ((e = write_page(w, m, PQ_PAGE_DATA, (int32_t)(r - r0), enc, errstr, errstr_size))) return e;
    if (!w->opt.no_page_index &&
        (e = evp__pq_page_note(c, m, at, (int64_t)w->file.offset - at, r0, r, v0, v)))
      return evp__seterr(errstr, errstr_size, e, "parquet: out of memory (page index)");
  }
  finish_stats(c, m);
  return EVP_OK;
}

static evp_err_t flush_row_group(evp__pq_writer_t *w, char *errstr, size_t errstr_size) {
  if (w->rows == 0) return EVP_OK;
  if (w->nrgs == w->cap_rgs) {
    size_t cap = w->cap_rgs ? w->cap_rgs * 2 : 8;
    evp__pq_rg_meta_t *p = realloc(w->rgs, cap * sizeof *p);
    if (!p) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "parquet: out of memory");
    w->rgs = p;
    w->cap_rgs = cap;
  }
  evp__pq_rg_meta_t *rg = &w->rgs[w->nrgs];
  rg->num_rows = (int64_t)w->rows;
  rg->cols = calloc(w->ncols, sizeof *rg->cols);
  if (!rg->cols) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "parquet: out of memory");
  w->nrgs++; /* counted now so writer_free releases rg->cols on any error */
  for (size_t i = 0; i < w->ncols; i++) {
    evp_err_t e = write_chunk(w, &w->cols[i], &rg->cols[i], errstr, errstr_size);
    if (e) return e;
  }
  w->total_rows += w->rows;
  w->rows = 0;
  w->buffered_bytes = 0;
  for (size_t i = 0; i < w->ncols; i++) col_reset(&w->opt, &w->cols[i]);
  return EVP_OK;
}

/* ------------------------------------------------------------ append */

/* Check a present leaf's value (nullability was checked by row_levels). */
static evp_err_t check_value(const evp__pq_writer_t *w, const evp__pq_col_t *c,
                             const evp__pq_value_t *v, char *errstr, size_t errstr_size) {
  if (c->spec.type == EVP__PQ_BOOLEAN && v->v.b != 0 && v->v.b != 1)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                       "parquet: column '%s': boolean must be 0 or 1", c->path);
  if (c->spec.type == EVP__PQ_STRING) {
    if (v->v.s.len > w->opt.max_value_bytes)
      return evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE,
                         "parquet: column '%s': string of %zu bytes exceeds %zu", c->path,
                         v->v.s.len, w->opt.max_value_bytes);
    if (v->v.s.len && !v->v.s.ptr)
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                         "parquet: column '%s': NULL string pointer", c->path);
    if (!w->opt.utf8_checked && !evp__pq_utf8_valid((const uint8_t *)v->v.s.ptr, v->v.s.len))
      return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                         "parquet: column '%s': string is not valid UTF-8", c->path);
  }
  return EVP_OK;
}

#define GROW(ptr, cap, need)                             \
  do {                                                   \
    if ((need) > (cap)) {                                \
      size_t ncap_ = (cap) ? (cap)*2 : 1024;             \
      while (ncap_ < (need)) ncap_ *= 2;                 \
      void *np_ = realloc((ptr), ncap_ * sizeof *(ptr)); \
      if (!np_) return EVP_ERR_NOMEM;                    \
      (ptr) = np_;                                       \
      (cap) = ncap_;                                     \
    }                                                    \
  } while (0)

/* Make room for one more row in @p c so that storing it cannot fail. */
static evp_err_t col_reserve(evp__pq_col_t *c, size_t cap_rows_new, size_t cap_rows_old,
                             const evp__pq_value_t *v, int present) {
  if (c->max_def && cap_rows_new != cap_rows_old) {
    uint8_t *d = realloc(c->defs, cap_rows_new);
    if (!d) return EVP_ERR_NOMEM;
    c->defs = d;
  }
  if (!present) return EVP_OK;
  size_t cap = c->cap_nn, need = c->nn + 2; /* soff needs nn+2 entries */
  if (need <= cap) {
    /* the room is usually there: no call per string of every row */
    if (c->spec.type == EVP__PQ_STRING && v->v.s.len > c->sbytes.cap - c->sbytes.len)
      return evp__buf_reserve(&c->sbytes, v->v.s.len);
    return EVP_OK;
  }
  size_t ncap = cap ? cap * 2 : 1024;
  switch (c->spec.type) {
  case EVP__PQ_BOOLEAN: {
    size_t k = cap;
    GROW(c->bools, k, ncap);
    break;
  }
  case EVP__PQ_STRING: {
    size_t k = cap;
    GROW(c->soff, k, ncap);
    k = cap;
    GROW(c->didx, k, ncap);
    break;
  }
  default: {
    size_t k = cap;
    GROW(c->fixed, k, ncap);
    if (c->spec.type != EVP__PQ_DOUBLE) {
      k = cap;
      GROW(c->didx, k, ncap);
    }
    break;
  }
  }
  c->cap_nn = ncap;
  if (c->spec.type == EVP__PQ_STRING) return evp__buf_reserve(&c->sbytes, v->v.s.len);
  return EVP_OK;
}

/* After value @p i's lookup (entry @p idx, or the failure @p e): too big,
 * out of memory, or near-unique (ids: after DICT_PROBE values almost all
 * distinct, a dictionary cannot pay for itself), this chunk falls back to
 * its non-dictionary encoding, which needs nothing beyond the values
 * buffered. */
static EVP__ALWAYS_INLINE void dict_note(const evp__pq_writer_t *w, evp__pq_col_t *c, size_t i,
                                         uint32_t idx, evp_err_t e) {
  int unique = c->nn == DICT_PROBE && c->dict.n > DICT_PROBE - DICT_PROBE / 16;
  if (e || unique || c->dict.n > w->opt.dict_max_entries ||
      c->dict.bytes.len > w->opt.dict_max_bytes) {
    c->dict_on = 0;
    evp__pq_dict_free(&c->dict);
  } else {
    c->didx[i] = idx;
    c->dict_last = idx;
  }
}

/* Add string value @p i (p[0..n)) to the column's dictionary. */
static void dict_add(const evp__pq_writer_t *w, evp__pq_col_t *c, size_t i, const uint8_t *p,
                     size_t n) {
  uint32_t idx = c->dict_last;
  evp_err_t e = EVP_OK;
  /* Runs of one value are common (app_id, platform, client_id): the
   * previous value's entry, when its bytes are these, saves the hash and
   * the probe. Same entry the lookup finds. */
  if (!(idx < c->dict.n && c->dict.ent[idx].len == n &&
        (n == 0 || evp__bytes_eq(c->dict.bytes.p + c->dict.ent[idx].off, p, n))))
    e = evp__pq_dict_insert(&c->dict, p, n, &idx);
  dict_note(w, c, i, idx, e);
}

/* The same for integer value @p i (received_at comes in runs, one per
 * request: the previous value, when equal, has the entry). */
static void dict_add_u64(const evp__pq_writer_t *w, evp__pq_col_t *c, size_t i) {
  uint32_t idx = c->dict_last;
  evp_err_t e = EVP_OK;
  if (!(i > 0 && idx < c->dict.n && c->fixed[i - 1] == c->fixed[i]))
    e = evp__pq_dict_insert_u64(&c->dict, c->fixed[i], &idx);
  dict_note(w, c, i, idx, e);
}

/* Store a validated value of definition level @p def (the value is present
 * when it is the leaf's max_def) whose space was reserved; returns bytes
 * buffered. */
static size_t col_store(const evp__pq_writer_t *w, evp__pq_col_t *c, size_t row,
                        const evp__pq_value_t *v, int def) {
  size_t cost = c->max_def ? 1 : 0;
  if (c->max_def) c->defs[row] = (uint8_t)def;
  if (def != c->max_def) {
    c->null_count++;
    return cost;
  }
  size_t i = c->nn++;
  /* NaN never enters min/max; finish_stats drops them when one was seen. */
  int first = !c->have_minmax;
  switch (c->spec.type) {
  case EVP__PQ_INT64:
  case EVP__PQ_TIMESTAMP_US:
    c->fixed[i] = (uint64_t)v->v.i64;
    if (first || v->v.i64 < c->imin) c->imin = v->v.i64;
    if (first || v->v.i64 > c->imax) c->imax = v->v.i64;
    c->have_minmax = 1;
    if (c->dict_on) dict_add_u64(w, c, i);
    return cost + 8;
  case EVP__PQ_DOUBLE: {
    double d = v->v.f64;
    memcpy(&c->fixed[i], &d, 8);
    if (isnan(d)) {
      c->nan_seen = 1;
    } else {
      if (first || d < c->dmin) c->dmin = d;
      if (first || d > c->dmax) c->dmax = d;
      c->have_minmax = 1;
    }
    return cost + 8;
  }
  case EVP__PQ_BOOLEAN:
    c->bools[i] = (uint8_t)v->v.b;
    if (first || v->v.b < c->imin) c->imin = v->v.b;
    if (first || v->v.b > c->imax) c->imax = v->v.b;
    c->have_minmax = 1;
    return cost + 1;
  case EVP__PQ_STRING: {
    if (i == 0) c->soff[0] = 0;
    evp__buf_raw(&c->sbytes, v->v.s.ptr, v->v.s.len);
    c->soff[i + 1] = c->sbytes.len;
    c->have_minmax = 1; /* min/max themselves are found at flush time */
    if (c->dict_on) dict_add(w, c, i, (const uint8_t *)v->v.s.ptr, v->v.s.len);
    return cost + v->v.s.len + 12;
  }
  case EVP__PQ_GROUP: break; /* groups have no column */
  }
  return cost;
}

/* Which nodes of @p row are present (w->up) and the definition level each
 * reached (w->def): a node is present when its group is and it is not
 * null; the level counts the present optional nodes on its path, stopping
 * at the first null one. A null required node is refused. */
static evp_err_t row_levels(evp__pq_writer_t *w, const evp__pq_value_t *row, char *errstr,
                            size_t errstr_size) {
  for (size_t i = 0; i < w->nnodes; i++) {
    int32_t p = w->parent[i];
    uint8_t pdef = p < 0 ? 0 : w->def[p];
    if (p >= 0 && !w->up[p]) { /* inside a null group: ignored, written as null */
      w->up[i] = 0;
      w->def[i] = pdef;
    } else if (row[i].is_null) {
      if (!w->nodes[i].optional)
        return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG,
                           "parquet: NULL in required column '%s'", w->paths[i]);
      w->up[i] = 0;
      w->def[i] = pdef;
    } else {
      w->up[i] = 1;
      w->def[i] = (uint8_t)(pdef + w->nodes[i].optional);
    }
  }
  return EVP_OK;
}

evp_err_t evp__pq_writer_append(evp__pq_writer_t *w, const evp__pq_value_t *row, char *errstr,
                                size_t errstr_size) {
  if (!w || !row)
    return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "parquet: NULL argument");
  if (w->done) return evp__seterr(errstr, errstr_size, EVP_ERR_STATE, "parquet: no file open");
  if (w->failed)
    return evp__seterr(errstr, errstr_size, EVP_ERR_STATE, "parquet: writer failed earlier");
  evp_err_t e;
  if ((e = row_levels(w, row, errstr, errstr_size))) return e;
  /* Check and reserve everything first: a failure here leaves the row
   * group intact (room reserved for a refused row is only unused room). */
  size_t cap_rows = w->cap_rows;
  if (w->rows + 1 > cap_rows) cap_rows = cap_rows ? cap_rows * 2 : 1024;
  for (size_t i = 0; i < w->ncols; i++) {
    evp__pq_col_t *c = &w->cols[i];
    const evp__pq_value_t *v = &row[c->node];
    int up = w->up[c->node];
    if (up && (e = check_value(w, c, v, errstr, errstr_size))) return e;
    if ((e = col_reserve(c, cap_rows, w->cap_rows, v, up)))
      return evp__seterr(errstr, errstr_size, e, "parquet: out of memory buffering a row");
  }
  w->cap_rows = cap_rows;
  for (size_t i = 0; i < w->ncols; i++) {
    evp__pq_col_t *c = &w->cols[i];
    w->buffered_bytes += col_store(w, c, w->rows, &row[c->node], w->def[c->node]);
  }
  w->rows++;
  if (w->rows >= w->opt.row_group_rows || w->buffered_bytes >= w->opt.row_group_bytes) {
    if ((e = flush_row_group(w, errstr, errstr_size))) {
      w->failed = 1;
      return e;
    }
  }
  return EVP_OK;
}

evp_err_t evp__pq_writer_append_rows(evp__pq_writer_t *w, const evp__pq_value_t *rows, size_t nrows,
                                     size_t *appended, char *errstr, size_t errstr_size) {
  size_t i = 0;
  evp_err_t e = EVP_OK;
  if (!w || (!rows && nrows))
    e = evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "parquet: NULL argument");
  for (; !e && i < nrows; i++) {
    e = evp__pq_writer_append(w, rows + i * w->nnodes, errstr, errstr_size);
    if (e) break;
  }
  if (appended) *appended = i;
  return e;
}

evp_err_t evp__pq_writer_close(evp__pq_writer_t *w, uint64_t *file_size, char *errstr,
                               size_t errstr_size) {
  if (!w) return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "parquet: NULL writer");
  evp_err_t e = evp__pq_writer_finish(w, file_size, errstr, errstr_size);
  writer_free(w);
  return e;
}

evp_err_t evp__pq_writer_finish(evp__pq_writer_t *w, uint64_t *file_size, char *errstr,
                                size_t errstr_size) {
  if (!w) return evp__seterr(errstr, errstr_size, EVP_ERR_INVALID_ARG, "parquet: NULL writer");
  if (w->done) return evp__seterr(errstr, errstr_size, EVP_ERR_STATE, "parquet: no file open");
  evp_err_t e = EVP_OK;
  if (w->failed)
    e = evp__seterr(errstr, errstr_size, EVP_ERR_STATE, "parquet: writer failed earlier");
  if (!e) e = flush_row_group(w, errstr, errstr_size);
  if (!e && !w->opt.no_page_index) e = evp__pq_page_index_write(w, errstr, errstr_size);
  if (!e) {
    w->page.len = 0;
    e = evp__pq_footer_encode(w, &w->page);
    if (e)
      e = evp__seterr(errstr, errstr_size, e, "parquet: footer encoding failed%s",
                      e == EVP_ERR_NOMEM ? ": out of memory" : "");
  }
  if (!e && w->page.len > UINT32_MAX)
    e = evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE, "parquet: footer too large");
  if (!e) {
    uint8_t tail[8];
    uint32_t n = (uint32_t)w->page.len;
    for (int i = 0; i < 4; i++) tail[i] = (uint8_t)(n >> (8 * i));
    memcpy(tail + 4, MAGIC, 4);
    if (!(e = evp__lake_file_write(&w->file, w->page.p, w->page.len, errstr, errstr_size)))
      e = evp__lake_file_write(&w->file, tail, 8, errstr, errstr_size);
  }
  if (e) {
    evp__pq_writer_discard(w);
    return e;
  }
  uint64_t size = w->file.offset;
  e = evp__lake_file_commit(&w->file, w->opt.no_fsync, errstr, errstr_size);
  if (!e && file_size) *file_size = size;
  w->done = 1;
  return e;
}
