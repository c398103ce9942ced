/* The page index (Parquet PageIndex.md): per column chunk a ColumnIndex
 * (each data page's min/max, null count, whether it is all null) and an
 * OffsetIndex (each page's place and first row), written after the row
 * groups and found through ColumnChunk fields 4-7. Engines use them to skip
 * pages inside a row group, which matters once compaction makes row groups
 * of a million rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "lake/pq_format.h"
#include "lake/pq_writer_int.h"
#include "lake/thrift_compact.h"

void evp__pq_chunk_free(evp__pq_chunk_meta_t *m) {
  free(m->pages);
  m->pages = NULL;
  m->npages = m->cap_pages = 0;
}

static void put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Bounds of the page's values as PLAIN bytes (the chunk statistics' rules:
 * a NaN or a string longer than EVP__PQ_STATS_MAX leaves the whole chunk
 * without a ColumnIndex, since every page must have bounds). */
static void page_bounds(evp__pq_col_t *c, evp__pq_chunk_meta_t *m, evp__pq_page_meta_t *pg,
                        size_t v0, size_t v1) {
  switch (c->spec.type) {
  case EVP__PQ_INT64:
  case EVP__PQ_TIMESTAMP_US: {
    int64_t lo = (int64_t)c->fixed[v0], hi = lo;
    for (size_t v = v0 + 1; v < v1; v++) {
      int64_t x = (int64_t)c->fixed[v];
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    put_le64(pg->min, (uint64_t)lo);
    put_le64(pg->max, (uint64_t)hi);
    pg->min_len = pg->max_len = 8;
    return;
  }
  case EVP__PQ_DOUBLE: {
    double lo = 0, hi = 0;
    for (size_t v = v0; v < v1; v++) {
      double x;
      memcpy(&x, &c->fixed[v], 8);
      if (isnan(x)) {
        m->no_column_index = 1;
        return;
      }
      if (v == v0 || x < lo) lo = x;
      if (v == v0 || x > hi) hi = x;
    }
    if (lo == 0.0) lo = -0.0; /* the spec's signed-zero rule, as the statistics */
    if (hi == 0.0) hi = 0.0;
    uint64_t b;
    memcpy(&b, &lo, 8);
    put_le64(pg->min, b);
    memcpy(&b, &hi, 8);
    put_le64(pg->max, b);
    pg->min_len = pg->max_len = 8;
    return;
  }
  case EVP__PQ_BOOLEAN: {
    uint8_t lo = 1, hi = 0;
    for (size_t v = v0; v < v1; v++) {
      if (c->bools[v] < lo) lo = c->bools[v];
      if (c->bools[v] > hi) hi = c->bools[v];
    }
    pg->min[0] = lo;
    pg->max[0] = hi;
    pg->min_len = pg->max_len = 1;
    return;
  }
  case EVP__PQ_STRING: {
    evp__pq_bounds_t b = {0};
    for (size_t v = v0; v < v1; v++) {
      if (c->dict_on) {
        uint32_t k = c->didx[v];
        if (c->seen[k] == c->seen_gen) continue; /* compared already on this page */
        c->seen[k] = c->seen_gen;
        evp__pq_bounds_note(&b, c->dict.bytes.p + c->dict.ent[k].off, c->dict.ent[k].len);
      } else {
        evp__pq_bounds_note(&b, c->sbytes.p + c->soff[v], (size_t)(c->soff[v + 1] - c->soff[v]));
      }
    }
    if (b.min_len > EVP__PQ_STATS_MAX || b.max_len > EVP__PQ_STATS_MAX) {
      m->no_column_index = 1;
      return;
    }
    if (b.min_len) memcpy(pg->min, b.min, b.min_len);
    if (b.max_len) memcpy(pg->max, b.max, b.max_len);
    pg->min_len = (uint32_t)b.min_len;
    pg->max_len = (uint32_t)b.max_len;
    return;
  }
  case EVP__PQ_GROUP: return; /* groups have no column chunk */
  }
}

/* A new page generation for c->seen, with room for every dictionary entry. */
static evp_err_t seen_next_page(evp__pq_col_t *c) {
  if (c->cap_seen < c->dict.n) {
    size_t cap = c->cap_seen ? c->cap_seen : 64;
    while (cap < c->dict.n) cap *= 2;
    uint32_t *s = realloc(c->seen, cap * sizeof *s);
    if (!s) return EVP_ERR_NOMEM;
    memset(s + c->cap_seen, 0, (cap - c->cap_seen) * sizeof *s); /* 0: never seen */
    c->seen = s;
    c->cap_seen = cap;
  }
  if (++c->seen_gen == 0) { /* wrapped: forget every mark */
    memset(c->seen, 0, c->cap_seen * sizeof *c->seen);
    c->seen_gen = 1;
  }
  return EVP_OK;
}

evp_err_t evp__pq_page_note(evp__pq_col_t *c, evp__pq_chunk_meta_t *m, int64_t offset, int64_t size,
                            size_t r0, size_t r1, size_t v0, size_t v1) {
  if (m->npages == m->cap_pages) {
    size_t cap = m->cap_pages ? m->cap_pages * 2 : 8;
    evp__pq_page_meta_t *p = realloc(m->pages, cap * sizeof *p);
    if (!p) return EVP_ERR_NOMEM;
    m->pages = p;
    m->cap_pages = cap;
  }
  if (c->spec.type == EVP__PQ_STRING && c->dict_on && seen_next_page(c) != EVP_OK)
    return EVP_ERR_NOMEM;
  evp__pq_page_meta_t *pg = &m->pages[m->npages++];
  pg->offset = offset;
  pg->size = (int32_t)size;
  pg->first_row = (int64_t)r0;
  pg->null_count = (int64_t)((r1 - r0) - (v1 - v0));
  pg->all_null = v1 == v0;
  pg->min_len = pg->max_len = 0;
  if (!pg->all_null && !m->no_column_index) page_bounds(c, m, pg, v0, v1);
  return EVP_OK;
}

/* ASCENDING when the non-null pages' mins and maxes both never decrease
 * (signed order for the integer types; others are written UNORDERED, which
 * is always correct). Lets engines binary-search sorted columns such as
 * received_at. */
static int boundary_order(const evp__pq_column_t *col, const evp__pq_chunk_meta_t *m) {
  if (col->type != EVP__PQ_INT64 && col->type != EVP__PQ_TIMESTAMP_US) return PQ_BO_UNORDERED;
  int64_t pmin = 0, pmax = 0;
  int seen = 0;
  for (size_t i = 0; i < m->npages; i++) {
    const evp__pq_page_meta_t *pg = &m->pages[i];
    if (pg->all_null) continue;
    int64_t lo = 0, hi = 0;
    for (int b = 7; b >= 0; b--) {
      lo = (int64_t)(((uint64_t)lo << 8) | pg->min[b]);
      hi = (int64_t)(((uint64_t)hi << 8) | pg->max[b]);
    }
    if (seen && (lo < pmin || hi < pmax)) return PQ_BO_UNORDERED;
    pmin = lo;
    pmax = hi;
    seen = 1;
  }
  return PQ_BO_ASCENDING;
}

static void column_index(evp__tc_t *t, const evp__pq_column_t *col, const evp__pq_chunk_meta_t *m) {
  evp__tc_struct_begin(t);
  /* list<bool>: elements are single bytes, 1 true and 2 false as the
   * reference compact protocol writes them */
  evp__tc_field_list(t, PQ_CI_NULL_PAGES, EVP__TC_BOOL_TRUE, (uint32_t)m->npages);
  for (size_t i = 0; i < m->npages; i++) evp__tc_varint(t, m->pages[i].all_null ? 1 : 2);
  evp__tc_field_list(t, PQ_CI_MIN_VALUES, EVP__TC_BINARY, (uint32_t)m->npages);
  for (size_t i = 0; i < m->npages; i++) evp__tc_binary(t, m->pages[i].min, m->pages[i].min_len);
  evp__tc_field_list(t, PQ_CI_MAX_VALUES, EVP__TC_BINARY, (uint32_t)m->npages);
  for (size_t i = 0; i < m->npages; i++) evp__tc_binary(t, m->pages[i].max, m->pages[i].max_len);
  evp__tc_field_i32(t, PQ_CI_BOUNDARY_ORDER, boundary_order(col, m));
  evp__tc_field_list(t, PQ_CI_NULL_COUNTS, EVP__TC_I64, (uint32_t)m->npages);
  for (size_t i = 0; i < m->npages; i++) evp__tc_i64(t, m->pages[i].null_count);
  evp__tc_struct_end(t);
}

static void offset_index(evp__tc_t *t, const evp__pq_chunk_meta_t *m) {
  evp__tc_struct_begin(t);
  evp__tc_field_list(t, PQ_OI_PAGE_LOCATIONS, EVP__TC_STRUCT, (uint32_t)m->npages);
  for (size_t i = 0; i < m->npages; i++) {
    evp__tc_struct_begin(t);
    evp__tc_field_i64(t, PQ_PL_OFFSET, m->pages[i].offset);
    evp__tc_field_i32(t, PQ_PL_COMPRESSED_SIZE, m->pages[i].size);
    evp__tc_field_i64(t, PQ_PL_FIRST_ROW, m->pages[i].first_row);
    evp__tc_struct_end(t);
  }
  evp__tc_struct_end(t);
}

/* Serialize one index into w->page and append it to the file. */
static evp_err_t put_index(evp__pq_writer_t *w, const evp__pq_column_t *col,
                           const evp__pq_chunk_meta_t *m, int column, int64_t *off, int32_t *len,
                           char *errstr, size_t errstr_size) {
  w->page.len = 0;
  evp__tc_t t;
  evp__tc_init(&t, &w->page);
  if (column)
    column_index(&t, col, m);
  else
    offset_index(&t, m);
  evp_err_t e = evp__tc_error(&t);
  if (e)
    return evp__seterr(errstr, errstr_size, e, "parquet: page index encoding failed%s",
                       e == EVP_ERR_NOMEM ? ": out of memory" : "");
  if (w->page.len > INT32_MAX)
    return evp__seterr(errstr, errstr_size, EVP_ERR_TOO_LARGE, "parquet: page index too large");
  *off = (int64_t)w->file.offset;
  *len = (int32_t)w->page.len;
  return evp__lake_file_write(&w->file, w->page.p, w->page.len, errstr, errstr_size);
}

evp_err_t evp__pq_page_index_write(evp__pq_writer_t *w, char *errstr, size_t errstr_size) {
  evp_err_t e;
  /* All ColumnIndexes first, then all OffsetIndexes: the layout other
   * writers use, so a reader fetches each kind with one range read. */
  for (size_t g = 0; g < w->nrgs; g++)
    for (size_t i = 0; i < w->ncols; i++) {
      evp__pq_chunk_meta_t *m = &w->rgs[g].cols[i];
      if (m->npages == 0 || m->no_column_index) continue;
      if ((e = put_index(w, &w->cols[i].spec, m, 1, &m->ci_offset, &m->ci_length, errstr,
                         errstr_size)))
        return e;
    }
  for (size_t g = 0; g < w->nrgs; g++)
    for (size_t i = 0; i < w->ncols; i++) {
      evp__pq_chunk_meta_t *m = &w->rgs[g].cols[i];
      if (m->npages == 0) continue;
      if ((e = put_index(w, &w->cols[i].spec, m, 0, &m->oi_offset, &m->oi_length, errstr,
                         errstr_size)))
        return e;
    }
  return EVP_OK;
}
