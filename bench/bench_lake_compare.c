/* Helper of bench/lake_compare.sh: the events of bench/bench_events.h turned
 * into lake rows exactly as evpipe local does (the row builder over the
 * example Glue schema, received_at per 500-event request at 400k events/s,
 * client_id "bench"), then written as ONE Parquet file per writer variant,
 * the way compaction writes an hour (default options = what it produces).
 *
 *   bench_lake_compare EVENTS OUT_DIR [VARIANT...]
 *
 * VARIANT is NAME or NAME=TOKEN,TOKEN... with tokens
 *   snappy | zstd | zstd:LEVEL | none      codec
 *   nodelta         INT64/TIMESTAMP columns PLAIN instead of DELTA_BINARY_PACKED
 *   nointdict       no dictionary for INT64/TIMESTAMP columns
 *   nostrdelta      near-unique strings PLAIN instead of DELTA_(LENGTH_)BYTE_ARRAY
 *   noprefix        ... DELTA_LENGTH_BYTE_ARRAY even when values share prefixes
 *   nopageindex     no ColumnIndex/OffsetIndex
 *   rg:ROWS         rows per row group
 *   page:BYTES      target data page size
 * (default: one variant "default" with the writer's default options).
 * Writes OUT_DIR/rows.ndjson (the rows: strings, numbers, timestamps as
 * microseconds; what DuckDB and gzip get), OUT_DIR/columns.tsv (name, type,
 * nullable), and OUT_DIR/NAME/events/dt=.../hour=.../part-0.parquet; prints
 * one line per variant: "variant NAME bytes B rows N write_s S rows_per_s R"
 * where S is the writer alone (appends + close, not building the rows). */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "bench_events.h"
#include "lake/lake.h"
#include "lake/lake_row.h"
#include "base/files.h"
#include "json/json.h"
#include "table/table.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The rows, built once: values with their strings copied into one arena. */
typedef struct {
  evp__pq_value_t *v; /* n * ncols */
  char *arena;
  size_t n, ncols;
} rows_t;

/* A JSON string of s[0..n) on @p f (the project's one JSON string writer). */
static void json_str(FILE *f, evp__buf_t *tmp, const char *s, size_t n) {
  tmp->len = 0;
  if (evp__buf_json_str(tmp, s, n) == EVP_OK) fwrite(tmp->p, 1, tmp->len, f);
}

static int parse_variant(const char *spec, char *name, size_t nn, evp__pq_options_t *o) {
  memset(o, 0, sizeof *o);
  o->no_fsync = 1;
  o->utf8_checked = 1; /* as the batcher: strings come from validated JSON */
  const char *eq = strchr(spec, '=');
  size_t len = eq ? (size_t)(eq - spec) : strlen(spec);
  if (len == 0 || len >= nn) return -1;
  memcpy(name, spec, len);
  name[len] = 0;
  if (!eq) return 0;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", eq + 1);
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (strcmp(t, "snappy") == 0)
      o->codec = EVP__PQ_SNAPPY;
    else if (strcmp(t, "none") == 0)
      o->codec = EVP__PQ_UNCOMPRESSED;
    else if (strcmp(t, "zstd") == 0)
      o->codec = EVP__PQ_ZSTD;
    else if (strncmp(t, "zstd:", 5) == 0) {
      o->codec = EVP__PQ_ZSTD;
      o->zstd_level = atoi(t + 5);
    } else if (strcmp(t, "nodelta") == 0)
      o->no_delta_int = 1;
    else if (strcmp(t, "nointdict") == 0)
      o->no_int_dict = 1;
    else if (strcmp(t, "nostrdelta") == 0)
      o->no_delta_str = 1;
    else if (strcmp(t, "noprefix") == 0)
      o->no_prefix_str = 1;
    else if (strcmp(t, "nopageindex") == 0)
      o->no_page_index = 1;
    else if (strncmp(t, "page:", 5) == 0)
      o->page_bytes = (size_t)strtoull(t + 5, NULL, 10);
    else if (strncmp(t, "rg:", 3) == 0)
      o->row_group_rows = (size_t)strtoull(t + 3, NULL, 10);
    else
      return -1;
  }
  return 0;
}

static const char *const TN[] = {"string", "int64", "double", "boolean", "timestamp_us"};

/* DuckDB's type of node c (a struct spelt out with its fields, whose
 * timestamps stay BIGINT microseconds); returns the node after c's subtree. */
static size_t duck_type(FILE *f, const evp__pq_column_t *cols, size_t c) {
  static const char *const SQL[] = {"VARCHAR", "BIGINT", "DOUBLE", "BOOLEAN", "BIGINT"};
  if (cols[c].type != EVP__PQ_GROUP) {
    fputs(SQL[cols[c].type], f);
    return c + 1;
  }
  fputs("STRUCT(", f);
  size_t k = c + 1;
  for (unsigned i = 0; i < cols[c].nchildren; i++) {
    fprintf(f, "%s\"%s\" ", i ? ", " : "", cols[k].name);
    k = duck_type(f, cols, k);
  }
  fputc(')', f);
  return k;
}

/* Node c of one row as JSON ("null" or its value; a struct as an object of
 * all its fields); returns the node after c's subtree. */
static size_t json_node(FILE *nd, evp__buf_t *jb, const evp__pq_column_t *cols,
                        const evp__pq_value_t *row, size_t c, int null) {
  null = null || row[c].is_null;
  if (cols[c].type == EVP__PQ_GROUP) {
    size_t k = c + 1;
    if (null) { /* print "null" (nd given) and skip the subtree */
      if (nd) fputs("null", nd);
      for (unsigned i = 0; i < cols[c].nchildren; i++) k = json_node(NULL, jb, cols, row, k, 1);
      return k;
    }
    fputc('{', nd);
    for (unsigned i = 0; i < cols[c].nchildren; i++) {
      if (i) fputc(',', nd);
      json_str(nd, jb, cols[k].name, strlen(cols[k].name));
      fputc(':', nd);
      k = json_node(nd, jb, cols, row, k, 0);
    }
    fputc('}', nd);
    return k;
  }
  if (!nd) return c + 1;
  if (null) {
    fputs("null", nd);
    return c + 1;
  }
  switch (cols[c].type) {
  case EVP__PQ_STRING: json_str(nd, jb, row[c].v.s.ptr, row[c].v.s.len); break;
  case EVP__PQ_INT64:
  case EVP__PQ_TIMESTAMP_US: fprintf(nd, "%" PRId64, row[c].v.i64); break;
  case EVP__PQ_DOUBLE: fprintf(nd, "%.17g", row[c].v.f64); break;
  case EVP__PQ_BOOLEAN: fputs(row[c].v.b ? "true" : "false", nd); break;
  case EVP__PQ_GROUP: break;
  }
  return c + 1;
}

static int build_rows(size_t n, const char *out_dir, rows_t *r, const evp__pq_column_t **cols) {
  char err[512], *schema;
  size_t slen;
  if (evp__file_read("examples/schemas/glue-data-catalog-json-schema.json", (size_t)1 << 20, 0,
                     &schema, &slen, NULL, err, sizeof err)) {
    fprintf(stderr, "cannot read the schema (run from the project root): %s\n", err);
    return -1;
  }
  evp__table_t *t;
  evp__row_builder_t *rb;
  if (evp__table_parse(schema, slen, &t, err, sizeof err) ||
      evp__row_builder_new(t, &rb, err, sizeof err)) {
    fprintf(stderr, "table: %s\n", err);
    return -1;
  }
  free(schema);
  *cols = evp__row_builder_columns(rb, &r->ncols);
  r->n = n;
  r->v = calloc(n * r->ncols, sizeof *r->v);
  size_t cap = n * 400 + 4096, used = 0;
  r->arena = malloc(cap);
  char path[4096];
  snprintf(path, sizeof path, "%s/rows.ndjson", out_dir);
  FILE *nd = fopen(path, "w");
  snprintf(path, sizeof path, "%s/columns.tsv", out_dir);
  FILE *ct = fopen(path, "w");
  if (!r->v || !r->arena || !nd || !ct) {
    fprintf(stderr, "setup failed\n");
    return -1;
  }
  /* One line per top-level column: name, type, nullable; a struct's type
   * is DuckDB's spelling of it. */
  for (size_t c = 0; c < r->ncols;) {
    fprintf(ct, "%s\t", (*cols)[c].name);
    size_t next = c + 1;
    if ((*cols)[c].type == EVP__PQ_GROUP)
      next = duck_type(ct, *cols, c);
    else
      fputs(TN[(*cols)[c].type], ct);
    fprintf(ct, "\t%d\n", (*cols)[c].optional);
    c = next;
  }
  fclose(ct);
  /* A fixed clock so every variant gets the same events (2025-12-01 12:30 UTC). */
  bench_events_clock = (time_t)1764592200;
  int64_t t0_us = (int64_t)bench_events_clock * 1000000;
  uint64_t seed = 88172645463325252ULL;
  char ev[1024];
  evp__buf_t jb = {0};
  for (size_t i = 0; i < n; i++) {
    size_t len = make_event(&seed, (long)i, ev, sizeof ev);
    /* One request of 500 events per 1.25 ms: 400k events/s, as bench_ingest. */
    int64_t received = t0_us + (int64_t)(i / 500) * 1250;
    const evp__pq_value_t *row;
    const char *id;
    size_t idlen;
    if (evp__row_builder_build(rb, ev, len, received, "bench", 5, &row, &id, &idlen, err,
                               sizeof err)) {
      fprintf(stderr, "row %zu: %s\n", i, err);
      return -1;
    }
    evp__pq_value_t *dst = r->v + i * r->ncols;
    for (size_t c = 0; c < r->ncols; c++) {
      dst[c] = row[c];
      if (row[c].is_null || (*cols)[c].type != EVP__PQ_STRING) continue;
      if (used + row[c].v.s.len > cap) {
        fprintf(stderr, "arena too small\n");
        return -1;
      }
      memcpy(r->arena + used, row[c].v.s.ptr, row[c].v.s.len);
      dst[c].v.s.ptr = r->arena + used;
      used += row[c].v.s.len;
    }
    fputc('{', nd);
    for (size_t c = 0; c < r->ncols;) {
      if (c) fputc(',', nd);
      json_str(nd, &jb, (*cols)[c].name, strlen((*cols)[c].name));
      fputc(':', nd);
      c = json_node(nd, &jb, *cols, row, c, 0);
    }
    fputs("}\n", nd);
  }
  if (fclose(nd) != 0) return -1;
  /* cols point into rb, kept alive (and t) for the process's life */
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_lake_compare EVENTS OUT_DIR [VARIANT...]\n");
    return 2;
  }
  size_t n = (size_t)strtoull(argv[1], NULL, 10);
  const char *out = argv[2];
  if (n == 0) n = 1;
  rows_t r;
  const evp__pq_column_t *cols;
  if (build_rows(n, out, &r, &cols)) return 1;
  size_t rcv = 0;
  while (rcv < r.ncols && strcmp(cols[rcv].name, "received_at") != 0) rcv++;
  const char *def[] = {"default"};
  const char **variants = argc > 3 ? (const char **)argv + 3 : def;
  int nv = argc > 3 ? argc - 3 : 1;
  for (int k = 0; k < nv; k++) {
    char name[64], err[512], dir[4096], part[4200];
    evp__pq_options_t o;
    if (parse_variant(variants[k], name, sizeof name, &o)) {
      fprintf(stderr, "bad variant '%s'\n", variants[k]);
      return 2;
    }
    snprintf(dir, sizeof dir, "%s/%s", out, name);
    if (evp__lake_partition_dir(part, sizeof part, dir, "events", r.v[rcv].v.i64, err,
                                sizeof err) ||
        evp__mkdirs(part, err, sizeof err)) {
      fprintf(stderr, "%s\n", err);
      return 1;
    }
    evp__pq_writer_t *w;
    uint64_t bytes = 0;
    size_t done = 0;
    double t0 = now_s();
    if (evp__pq_writer_open(&w, part, "part-0.parquet", cols, r.ncols, &o, err, sizeof err) ||
        evp__pq_writer_append_rows(w, r.v, r.n, &done, err, sizeof err) ||
        evp__pq_writer_close(w, &bytes, err, sizeof err)) {
      fprintf(stderr, "variant %s: %s (row %zu)\n", name, err, done);
      return 1;
    }
    double dt = now_s() - t0;
    printf("variant %s bytes %" PRIu64 " rows %zu write_s %.3f rows_per_s %.0f\n", name, bytes, r.n,
           dt, (double)r.n / dt);
    fflush(stdout);
  }
  return 0;
}
