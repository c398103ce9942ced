/* Firehose records in the Glue table's own terms.
 *
 * Firehose converts each JSON record to Parquet through the Glue table
 * (OpenX JSON SerDe), which reads timestamps only as UTC ("...Z") or epoch
 * numbers and objects only as the columns say. So a record is not the event
 * text as sent but the event's row in the table model the local lake uses
 * (src/table/table.h, via the lake's row builder): one member per non-null
 * column, timestamps as RFC 3339 UTC (ms, or µs when finer), objects and arrays
 * stored as JSON text (a JSON string), members outside the table dropped —
 * the same values `evpipe local` writes to its Parquet files. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/base.h"
#include "json/json.h"
#include "table/table.h"
#include "lake/lake_row.h"
#include "functions/fn_int.h"
#include "lake/lake.h"

struct evp__fn_rec {
  evp__table_t *table;
  evp__row_builder_t *rb;
  const evp__pq_column_t *cols;
  size_t ncols;
};

void evp__fn_rec_free(evp__fn_rec_t *r) {
  if (!r) return;
  evp__row_builder_free(r->rb);
  evp__table_free(r->table);
  free(r);
}

const evp__table_t *evp__fn_rec_table(const evp__fn_rec_t *r) { return r ? r->table : NULL; }

evp_err_t evp__fn_rec_new(const char *schema, size_t len, evp__fn_rec_t **out, char *errstr,
                          size_t errstr_size) {
  *out = NULL;
  evp__fn_rec_t *r = calloc(1, sizeof *r);
  if (!r) return evp__seterr(errstr, errstr_size, EVP_ERR_NOMEM, "out of memory");
  evp_err_t e = evp__table_parse(schema, len, &r->table, errstr, errstr_size);
  if (e == EVP_OK) e = evp__row_builder_new(r->table, &r->rb, errstr, errstr_size);
  if (e != EVP_OK) {
    evp__fn_rec_free(r);
    return e;
  }
  r->cols = evp__row_builder_columns(r->rb, &r->ncols);
  *out = r;
  return EVP_OK;
}

size_t evp__fn_rfc3339_us(int64_t us, char out[40]) {
  int64_t s = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
  int64_t frac = us - s * 1000000;
  time_t t = (time_t)s;
  struct tm tm;
  if (!gmtime_r(&t, &tm)) memset(&tm, 0, sizeof tm);
  /* Milliseconds when that is all there is (received_at), else microseconds. */
  int n = frac % 1000 == 0
              ? snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         (int)(frac / 1000))
              : snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
  return n > 0 && n < 40 ? (size_t)n : 0;
}

/* Append member "name":value of node @p c (a struct: an object of its
 * non-null fields) to the object open in b[0..*np), after a ',' unless it is
 * the first; returns the node
 * after @p c's subtree. A null node writes nothing: OpenX reads a missing
 * member as null. */
static size_t render_node(const evp__pq_column_t *cols, const evp__pq_value_t *row, size_t c,
                          char *b, size_t cap, size_t *np) {
  const evp__pq_value_t *v = &row[c];
  size_t end = c + 1;
  for (unsigned k = 0; k < cols[c].nchildren; k++) end = render_node(cols, row, end, NULL, 0, NULL);
  if (!b || v->is_null) return end;
  size_t n = *np;
  if (b[n - 1] != '{') b[n++] = ',';
  b[n++] = '"';
  n += evp__json_escape(cols[c].name, strlen(cols[c].name), b + n);
  b[n++] = '"';
  b[n++] = ':';
  switch (cols[c].type) {
  case EVP__PQ_GROUP:
    b[n++] = '{';
    for (size_t f = c + 1; f < end;) f = render_node(cols, row, f, b, cap, &n);
    b[n++] = '}';
    break;
  case EVP__PQ_STRING:
    b[n++] = '"';
    n += evp__json_escape(v->v.s.ptr, v->v.s.len, b + n);
    b[n++] = '"';
    break;
  case EVP__PQ_INT64: n += (size_t)snprintf(b + n, cap - n, "%lld", (long long)v->v.i64); break;
  case EVP__PQ_DOUBLE:
    /* The row builder refuses non-finite values; %.17g round-trips. */
    n += (size_t)snprintf(b + n, cap - n, "%.17g", v->v.f64);
    break;
  case EVP__PQ_BOOLEAN:
    memcpy(b + n, v->v.b ? "true" : "false", v->v.b ? 4 : 5);
    n += v->v.b ? 4 : 5;
    break;
  case EVP__PQ_TIMESTAMP_US: {
    char t[40];
    size_t tl = evp__fn_rfc3339_us(v->v.i64, t);
    b[n++] = '"';
    memcpy(b + n, t, tl);
    n += tl;
    b[n++] = '"';
    break;
  }
  }
  *np = n;
  return end;
}

evp_err_t evp__fn_rec_render(evp__fn_rec_t *r, const char *ev, size_t len, int64_t received_at_us,
                             int64_t sent_at_us, const char *client_id, char **out, size_t *out_len,
                             char *why, size_t why_size) {
  *out = NULL;
  *out_len = 0;
  const evp__pq_value_t *row;
  const char *id;
  size_t idlen;
  evp_err_t e = evp__row_builder_build_sent(r->rb, ev, len, received_at_us, sent_at_us, client_id,
                                            strlen(client_id), &row, &id, &idlen, why, why_size);
  if (e != EVP_OK) return e;
  /* Escaping at most sextuples a string ("\u00XX"); names are escaped too. */
  size_t cap = 16;
  for (size_t c = 0; c < r->ncols; c++) {
    cap += 6 * strlen(r->cols[c].name) + 48;
    if (!row[c].is_null && r->cols[c].type == EVP__PQ_STRING) cap += 6 * row[c].v.s.len;
  }
  char *b = malloc(cap);
  if (!b) return evp__seterr(why, why_size, EVP_ERR_NOMEM, "out of memory");
  size_t n = 0;
  b[n++] = '{';
  for (size_t c = 0; c < r->ncols;) c = render_node(r->cols, row, c, b, cap, &n);
  b[n++] = '}';
  b[n++] = '\n';
  *out = b;
  *out_len = n;
  return EVP_OK;
}
