/* Deterministic Parquet datasets for the external-reader check
 * (tests/scripts/test_lake_readers.sh). Included by test_lake.c only.
 *
 * evp__gen_all(DIR, seed) writes NAME.parquet for every dataset, NAME.ndjson
 * with the expected rows (int64/timestamps and doubles as strings so no
 * precision is lost in JSON), and manifest.json describing the schemas and
 * row-group layout, which the Node script uses to compute the expected
 * statistics and encodings. */
#ifndef EVP_TESTS_LAKE_GEN_H
#define EVP_TESTS_LAKE_GEN_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/base.h"
#include "lake/lake.h"

static uint64_t evp__gen_next(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

typedef struct {
  const char *name;
  size_t nrows;
  evp__pq_options_t opt;
  const evp__pq_column_t *cols;
  size_t ncols;
  /* fill row @p r; strings point into @p sbuf (one slot of 128 KiB per column) */
  void (*row)(uint64_t *s, size_t r, evp__pq_value_t *out, char *sbuf);
  const char *expect_dict; /* JSON: {"col": [true,false,...]} per row group, or NULL */
} evp__gen_ds_t;

#define GEN_SLOT (128 * 1024)

static const char *const EVENT_TYPES[20] = {"app_open",
                                            "app_close",
                                            "screen_view",
                                            "button_click",
                                            "purchase",
                                            "add_to_cart",
                                            "remove_from_cart",
                                            "login",
                                            "logout",
                                            "signup",
                                            "search",
                                            "share",
                                            "like",
                                            "comment",
                                            "video_start",
                                            "video_end",
                                            "notification_open",
                                            "error",
                                            "crash",
                                            "settings_change"};

static const char *const PIECES[] = {"a",         "Z", "é",  "日本語",       "😀",
                                     "e\xCC\x81", " ", "\t", "\n",           "\"q\"",
                                     "\\",        "ß", "Ω",  "\xEF\xBF\xBF", "\xF4\x8F\xBF\xBF",
                                     "x",         "0", "~",  "\x7F",         "中"};

static void gen_unicode(uint64_t *s, char *out, size_t maxpieces) {
  size_t n = (size_t)(evp__gen_next(s) % (maxpieces + 1)), len = 0;
  for (size_t i = 0; i < n; i++) {
    const char *p = PIECES[evp__gen_next(s) % (sizeof PIECES / sizeof *PIECES)];
    size_t l = strlen(p);
    memcpy(out + len, p, l);
    len += l;
  }
  out[len] = 0;
}

static evp__pq_value_t gen_str(const char *p) {
  evp__pq_value_t v = {0};
  v.v.s.ptr = p;
  v.v.s.len = strlen(p);
  return v;
}

static double gen_double(uint64_t *s) {
  static const double special[] = {0.0, -0.0, 1e308, -1e308,       5e-324, -2.2250738585072014e-308,
                                   1.0, -1.0, 0.1,   123456789.125};
  uint64_t k = evp__gen_next(s);
  if (k % 10 == 0) return special[(k / 10) % 10];
  return ((double)(int64_t)evp__gen_next(s)) / 1e6;
}

static int64_t gen_i64(uint64_t *s) {
  uint64_t k = evp__gen_next(s);
  if (k % 50 == 0) return INT64_MIN;
  if (k % 50 == 1) return INT64_MAX;
  if (k % 3 == 0) return (int64_t)(k % 2001) - 1000; /* small, many repeats */
  return (int64_t)evp__gen_next(s);
}

/* ---- dataset "types": every type, nulls, unicode, 5 row groups, many pages */
static const evp__pq_column_t TYPES_COLS[] = {
    {"row", EVP__PQ_INT64, 0, 0},         {"event_id", EVP__PQ_STRING, 0, 0},
    {"event_type", EVP__PQ_STRING, 1, 0}, {"note", EVP__PQ_STRING, 1, 0},
    {"n", EVP__PQ_INT64, 1, 0},           {"x", EVP__PQ_DOUBLE, 1, 0},
    {"flag", EVP__PQ_BOOLEAN, 1, 0},      {"ts", EVP__PQ_TIMESTAMP_US, 1, 0},
    {"bool_req", EVP__PQ_BOOLEAN, 0, 0},  {"ts_req", EVP__PQ_TIMESTAMP_US, 0, 0},
    {"all_null", EVP__PQ_STRING, 1, 0},   {"x_req", EVP__PQ_DOUBLE, 0, 0},
};

static void types_row(uint64_t *s, size_t r, evp__pq_value_t *v, char *sb) {
  memset(v, 0, 12 * sizeof *v);
  v[0].v.i64 = (int64_t)r;
  snprintf(sb, GEN_SLOT, "%08" PRIx64 "-%04x-4%03x-8%03x-%012" PRIx64, evp__gen_next(s) >> 32,
           (unsigned)(evp__gen_next(s) & 0xFFFF), (unsigned)(evp__gen_next(s) & 0xFFF),
           (unsigned)(evp__gen_next(s) & 0xFFF), evp__gen_next(s) >> 16);
  v[1] = gen_str(sb);
  if (evp__gen_next(s) % 20 == 0)
    v[2].is_null = 1;
  else
    v[2] = gen_str(EVENT_TYPES[evp__gen_next(s) % 20]);
  if (evp__gen_next(s) % 10 == 0)
    v[3].is_null = 1;
  else {
    gen_unicode(s, sb + GEN_SLOT, 12);
    v[3] = gen_str(sb + GEN_SLOT);
  }
  if (evp__gen_next(s) % 10 == 0)
    v[4].is_null = 1;
  else
    v[4].v.i64 = gen_i64(s);
  if (evp__gen_next(s) % 10 == 0)
    v[5].is_null = 1;
  else
    v[5].v.f64 = gen_double(s);
  if (evp__gen_next(s) % 10 == 0)
    v[6].is_null = 1;
  else
    v[6].v.b = (int)(evp__gen_next(s) & 1);
  /* 2020-01-01 .. ~2030, micros */
  if (evp__gen_next(s) % 10 == 0)
    v[7].is_null = 1;
  else
    v[7].v.i64 = 1577836800000000LL + (int64_t)(evp__gen_next(s) % 315360000000000ull);
  v[8].v.b = (int)(evp__gen_next(s) % 3 == 0);
  v[9].v.i64 = 1700000000000000LL + (int64_t)r * 1000 + (int64_t)(evp__gen_next(s) % 1000);
  v[10].is_null = 1;
  v[11].v.f64 = gen_double(s);
}

/* ---- dataset "fallback": dictionary in some row groups, PLAIN in others,
 * long strings without stats, values larger than a page */
static const evp__pq_column_t FALLBACK_COLS[] = {
    {"id", EVP__PQ_INT64, 0, 0}, {"cat", EVP__PQ_STRING, 0, 0}, {"big", EVP__PQ_STRING, 1, 0}};

static void fallback_row(uint64_t *s, size_t r, evp__pq_value_t *v, char *sb) {
  memset(v, 0, 3 * sizeof *v);
  v[0].v.i64 = (int64_t)r;
  size_t rg = r / 5000;
  if (rg % 2 == 0)
    snprintf(sb, GEN_SLOT, "cat-%02u", (unsigned)(evp__gen_next(s) % 50));
  else
    snprintf(sb, GEN_SLOT, "unique-%zu-%016" PRIx64, r, evp__gen_next(s));
  v[1] = gen_str(sb);
  uint64_t k = evp__gen_next(s);
  if (k % 7 == 0) {
    v[2].is_null = 1;
    return;
  }
  size_t len = (k % 997 == 0) ? 100000 : 300 + (size_t)(k % 200); /* > stats limit */
  char *b = sb + GEN_SLOT;
  for (size_t i = 0; i < len; i++) b[i] = (char)('a' + (evp__gen_next(s) % 26));
  b[len] = 0;
  v[2] = gen_str(b);
}

/* ---- dataset "nan": doubles with NaN/inf (min/max must be omitted) */
static const evp__pq_column_t NAN_COLS[] = {{"id", EVP__PQ_INT64, 0, 0},
                                            {"d", EVP__PQ_DOUBLE, 1, 0}};

static void nan_row(uint64_t *s, size_t r, evp__pq_value_t *v, char *sb) {
  (void)sb;
  memset(v, 0, 2 * sizeof *v);
  v[0].v.i64 = (int64_t)r;
  switch (evp__gen_next(s) % 6) {
  case 0: v[1].v.f64 = NAN; break;
  case 1: v[1].v.f64 = INFINITY; break;
  case 2: v[1].v.f64 = -INFINITY; break;
  case 3: v[1].is_null = 1; break;
  default: v[1].v.f64 = gen_double(s);
  }
}

/* ---- dataset "plain_none": uncompressed, required columns, one row group */
static const evp__pq_column_t PLAIN_COLS[] = {{"id", EVP__PQ_INT64, 0, 0},
                                              {"s", EVP__PQ_STRING, 0, 0},
                                              {"b", EVP__PQ_BOOLEAN, 0, 0},
                                              {"t", EVP__PQ_TIMESTAMP_US, 0, 0},
                                              {"d", EVP__PQ_DOUBLE, 0, 0}};

static void plain_row(uint64_t *s, size_t r, evp__pq_value_t *v, char *sb) {
  memset(v, 0, 5 * sizeof *v);
  v[0].v.i64 = (int64_t)r - 500;
  gen_unicode(s, sb, 6);
  v[1] = gen_str(sb);
  v[2].v.b = (int)(r & 1);
  v[3].v.i64 = -86400000000LL * 365 + (int64_t)r * 1000003; /* before 1970 too */
  v[4].v.f64 = gen_double(s);
}

/* ---- dataset "byte_limited": row groups cut by buffered bytes, not rows */
static const evp__pq_column_t BYTES_COLS[] = {{"id", EVP__PQ_INT64, 0, 0},
                                              {"payload", EVP__PQ_STRING, 1, 0}};

static void bytes_row(uint64_t *s, size_t r, evp__pq_value_t *v, char *sb) {
  memset(v, 0, 2 * sizeof *v);
  v[0].v.i64 = (int64_t)r;
  if (evp__gen_next(s) % 9 == 0) {
    v[1].is_null = 1;
    return;
  }
  size_t len = 200 + (size_t)(evp__gen_next(s) % 600);
  for (size_t i = 0; i < len; i++) sb[i] = (char)('A' + (evp__gen_next(s) % 26));
  sb[len] = 0;
  v[1] = gen_str(sb);
}

/* ---- dataset "wide": 20 columns and 16 row groups, so the footer's lists
 * use the Thrift compact long list form (15 or more elements) */
static const evp__pq_column_t WIDE_COLS[20] = {
    {"c00", EVP__PQ_STRING, 1, 0},       {"c01", EVP__PQ_INT64, 0, 0},
    {"c02", EVP__PQ_DOUBLE, 1, 0},       {"c03", EVP__PQ_BOOLEAN, 0, 0},
    {"c04", EVP__PQ_TIMESTAMP_US, 1, 0}, {"c05", EVP__PQ_STRING, 0, 0},
    {"c06", EVP__PQ_INT64, 1, 0},        {"c07", EVP__PQ_DOUBLE, 0, 0},
    {"c08", EVP__PQ_BOOLEAN, 1, 0},      {"c09", EVP__PQ_TIMESTAMP_US, 0, 0},
    {"c10", EVP__PQ_STRING, 1, 0},       {"c11", EVP__PQ_INT64, 0, 0},
    {"c12", EVP__PQ_DOUBLE, 1, 0},       {"c13", EVP__PQ_BOOLEAN, 0, 0},
    {"c14", EVP__PQ_TIMESTAMP_US, 1, 0}, {"c15", EVP__PQ_STRING, 0, 0},
    {"c16", EVP__PQ_INT64, 1, 0},        {"c17", EVP__PQ_DOUBLE, 0, 0},
    {"c18", EVP__PQ_BOOLEAN, 1, 0},      {"c19", EVP__PQ_TIMESTAMP_US, 0, 0}};

static void wide_row(uint64_t *s, size_t r, evp__pq_value_t *v, char *sb) {
  (void)r;
  memset(v, 0, 20 * sizeof *v);
  for (int c = 0; c < 20; c++) {
    if (WIDE_COLS[c].optional && evp__gen_next(s) % 4 == 0) {
      v[c].is_null = 1;
      continue;
    }
    switch (WIDE_COLS[c].type) {
    case EVP__PQ_STRING: {
      char *p = sb + (size_t)c * 64; /* 20 short strings fit in one slot */
      snprintf(p, 64, "v%u", (unsigned)(evp__gen_next(s) % 40));
      v[c] = gen_str(p);
      break;
    }
    case EVP__PQ_INT64: v[c].v.i64 = gen_i64(s); break;
    case EVP__PQ_DOUBLE: v[c].v.f64 = gen_double(s); break;
    case EVP__PQ_BOOLEAN: v[c].v.b = (int)(evp__gen_next(s) & 1); break;
    case EVP__PQ_TIMESTAMP_US:
      v[c].v.i64 = (int64_t)(evp__gen_next(s) % 4102444800000000ull);
      break;
    case EVP__PQ_GROUP: break; /* none in this dataset */
    }
  }
}

/* ---- dataset "empty": zero rows; "one": a single row */
static const evp__pq_column_t ONE_COLS[] = {{"s", EVP__PQ_STRING, 1, 0},
                                            {"i", EVP__PQ_INT64, 1, 0}};

static void one_row(uint64_t *s, size_t r, evp__pq_value_t *v, char *sb) {
  (void)s;
  (void)r;
  (void)sb;
  memset(v, 0, 2 * sizeof *v);
  v[0] = gen_str("");
  v[1].v.i64 = 0;
}

/* ---- dataset "nested": groups (structs) at the first and last position,
 * three deep, required leaves inside optional groups, nulls at every level
 * (definition levels 0..4, bit widths 1..3). Rows are canonical: the
 * leaves of a null group are null, as a reader gives them back. */
static const evp__pq_column_t NESTED_COLS[] = {
    {"head", EVP__PQ_GROUP, 1, 1},        {"tag", EVP__PQ_STRING, 0, 0},
    {"id", EVP__PQ_INT64, 0, 0},          {"context", EVP__PQ_GROUP, 1, 5},
    {"locale", EVP__PQ_STRING, 1, 0},     {"os", EVP__PQ_STRING, 1, 0},
    {"os_version", EVP__PQ_STRING, 1, 0}, {"device", EVP__PQ_GROUP, 1, 3},
    {"model", EVP__PQ_STRING, 1, 0},      {"mem", EVP__PQ_INT64, 0, 0},
    {"geo", EVP__PQ_GROUP, 1, 2},         {"lat", EVP__PQ_DOUBLE, 1, 0},
    {"ok", EVP__PQ_BOOLEAN, 0, 0},        {"ts", EVP__PQ_TIMESTAMP_US, 1, 0},
    {"n", EVP__PQ_INT64, 1, 0},           {"tail", EVP__PQ_GROUP, 0, 2},
    {"s", EVP__PQ_STRING, 1, 0},          {"t", EVP__PQ_TIMESTAMP_US, 0, 0},
};
#define NESTED_NODES (sizeof NESTED_COLS / sizeof *NESTED_COLS)

static void nested_row(uint64_t *s, size_t r, evp__pq_value_t *v, char *sb) {
  static const char *const locales[] = {"en-US", "de-DE", "ja-JP", "pt-BR", "fr-FR"};
  static const char *const oses[] = {"iOS", "Android", "macOS", "Windows"};
  memset(v, 0, NESTED_NODES * sizeof *v);
  /* 0 head {tag} */
  if (evp__gen_next(s) % 5 == 0) {
    v[0].is_null = v[1].is_null = 1;
  } else {
    v[1] = gen_str(EVENT_TYPES[evp__gen_next(s) % 20]);
  }
  v[2].v.i64 = (int64_t)r;
  /* 3 context {locale, os, os_version, device {model, mem, geo {lat, ok}}, ts} */
  int ctx = evp__gen_next(s) % 4 != 0, dev = ctx && evp__gen_next(s) % 3 != 0,
      geo = dev && evp__gen_next(s) % 3 != 0;
  v[3].is_null = !ctx;
  v[4].is_null = !ctx || evp__gen_next(s) % 6 == 0;
  if (!v[4].is_null) v[4] = gen_str(locales[evp__gen_next(s) % 5]);
  v[5].is_null = !ctx || evp__gen_next(s) % 6 == 0;
  if (!v[5].is_null) v[5] = gen_str(oses[evp__gen_next(s) % 4]);
  v[6].is_null = !ctx || evp__gen_next(s) % 3 == 0;
  if (!v[6].is_null) {
    snprintf(sb, 64, "%u.%u", (unsigned)(evp__gen_next(s) % 20), (unsigned)(evp__gen_next(s) % 10));
    v[6] = gen_str(sb);
  }
  v[7].is_null = !dev;
  v[8].is_null = !dev || evp__gen_next(s) % 4 == 0;
  if (!v[8].is_null) {
    snprintf(sb + 64, 64, "model-%u", (unsigned)(evp__gen_next(s) % 30));
    v[8] = gen_str(sb + 64);
  }
  v[9].is_null = !dev;
  if (dev) v[9].v.i64 = gen_i64(s);
  v[10].is_null = !geo;
  v[11].is_null = !geo || evp__gen_next(s) % 5 == 0;
  if (!v[11].is_null) v[11].v.f64 = gen_double(s);
  v[12].is_null = !geo;
  if (geo) v[12].v.b = (int)(evp__gen_next(s) & 1);
  v[13].is_null = !ctx || evp__gen_next(s) % 5 == 0;
  if (!v[13].is_null) v[13].v.i64 = 1700000000000000LL + (int64_t)(evp__gen_next(s) % 1000000000);
  /* 14 n */
  if (evp__gen_next(s) % 10 == 0)
    v[14].is_null = 1;
  else
    v[14].v.i64 = gen_i64(s);
  /* 15 tail {s, t}: a required group */
  if (evp__gen_next(s) % 4 == 0) {
    v[16].is_null = 1;
  } else {
    gen_unicode(s, sb + GEN_SLOT, 8);
    v[16] = gen_str(sb + GEN_SLOT);
  }
  v[17].v.i64 = 1600000000000000LL + (int64_t)r * 7;
}

static const evp__gen_ds_t *gen_datasets(size_t *n) {
  static evp__gen_ds_t ds[9];
  static int init;
  if (!init) {
    memset(ds, 0, sizeof ds);
    /* event_id is unique: the writer drops its dictionary after 4096 values
     * (the last row group has only 2000 rows, so it keeps one) */
    ds[0] = (evp__gen_ds_t){"types",
                            30000,
                            {0},
                            TYPES_COLS,
                            12,
                            types_row,
                            "{\"event_id\":[false,false,false,false,true],"
                            "\"event_type\":[true,true,true,true,true],"
                            "\"all_null\":[false,false,false,false,false]}"};
    ds[0].opt.row_group_rows = 7000;
    ds[0].opt.page_bytes = 8192;
    ds[1] = (evp__gen_ds_t){"fallback",
                            20000,
                            {0},
                            FALLBACK_COLS,
                            3,
                            fallback_row,
                            "{\"cat\":[true,false,true,false]}"};
    ds[1].opt.row_group_rows = 5000;
    ds[1].opt.page_bytes = 16384;
    ds[1].opt.dict_max_entries = 1000;
    ds[2] = (evp__gen_ds_t){"nan", 500, {0}, NAN_COLS, 2, nan_row, NULL};
    ds[3] = (evp__gen_ds_t){"plain_none", 1000, {0}, PLAIN_COLS, 5, plain_row, NULL};
    ds[3].opt.codec = EVP__PQ_UNCOMPRESSED;
    ds[4] = (evp__gen_ds_t){"empty", 0, {0}, ONE_COLS, 2, one_row, NULL};
    ds[5] = (evp__gen_ds_t){"one", 1, {0}, ONE_COLS, 2, one_row, NULL};
    static const evp__pq_kv_t kv[2] = {{"evpipe.schema", "events v1 \xE2\x9C\x93"},
                                       {"no.value", NULL}};
    ds[5].opt.kv = kv;
    ds[5].opt.nkv = 2;
    ds[6] = (evp__gen_ds_t){"byte_limited", 3000, {0}, BYTES_COLS, 2, bytes_row, NULL};
    ds[6].opt.row_group_bytes = 256 * 1024;
    ds[6].opt.page_bytes = 4096;
    ds[7] = (evp__gen_ds_t){"wide", 800, {0}, WIDE_COLS, 20, wide_row, NULL};
    ds[7].opt.row_group_rows = 50;
    ds[8] = (evp__gen_ds_t){"nested", 3000, {0}, NESTED_COLS, NESTED_NODES, nested_row, NULL};
    ds[8].opt.row_group_rows = 1000;
    ds[8].opt.page_bytes = 4096;
    for (int i = 0; i < 9; i++) ds[i].opt.no_fsync = 1;
    init = 1;
  }
  *n = 9;
  return ds;
}

static size_t evp__gen_count(void) {
  size_t n;
  gen_datasets(&n);
  return n;
}
static const char *evp__gen_name(size_t i) {
  size_t n;
  return gen_datasets(&n)[i].name;
}

static void gen_json_str(FILE *f, const char *s, size_t n) {
  fputc('"', f);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20 || c == 0x7F)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

static const char *const TYPE_NAMES[] = {"string",  "int64",        "double",
                                         "boolean", "timestamp_us", "group"};

static void gen_value(FILE *f, const evp__pq_column_t *c, const evp__pq_value_t *v) {
  if (v->is_null) {
    fputs("null", f);
    return;
  }
  switch (c->type) {
  case EVP__PQ_STRING: gen_json_str(f, v->v.s.ptr, v->v.s.len); break;
  case EVP__PQ_INT64:
  case EVP__PQ_TIMESTAMP_US: fprintf(f, "\"%" PRId64 "\"", v->v.i64); break;
  case EVP__PQ_BOOLEAN: fputs(v->v.b ? "true" : "false", f); break;
  case EVP__PQ_DOUBLE:
    if (isnan(v->v.f64))
      fputs("\"NaN\"", f);
    else if (isinf(v->v.f64))
      fputs(v->v.f64 > 0 ? "\"Infinity\"" : "\"-Infinity\"", f);
    else
      fprintf(f, "\"%.17g\"", v->v.f64);
    break;
  case EVP__PQ_GROUP: break; /* gen_node writes groups */
  }
}

/* The index after node @p i's subtree. */
static size_t gen_subtree_end(const evp__pq_column_t *cols, size_t i) {
  size_t left = 1;
  for (; left; i++) left = left + cols[i].nchildren - 1; /* this node done, its children due */
  return i;
}

/* Node @p i of the row as a JSON member "name":value (a group as an object
 * of its children, or null); returns the index after its subtree. */
static size_t gen_node(FILE *f, const evp__pq_column_t *cols, const evp__pq_value_t *row,
                       size_t i) {
  gen_json_str(f, cols[i].name, strlen(cols[i].name));
  fputc(':', f);
  if (cols[i].type != EVP__PQ_GROUP) {
    gen_value(f, &cols[i], &row[i]);
    return i + 1;
  }
  if (row[i].is_null) {
    fputs("null", f);
    return gen_subtree_end(cols, i);
  }
  size_t k = i + 1;
  fputc('{', f);
  for (unsigned c = 0; c < cols[i].nchildren; c++) {
    if (c) fputc(',', f);
    k = gen_node(f, cols, row, k);
  }
  fputc('}', f);
  return k;
}

/* The manifest's "nodes" (the schema in pre-order) and "columns" (the
 * leaves, named by their dotted paths, with the path's names and their
 * place in the footer's schema list). */
static void gen_manifest_schema(FILE *m, const evp__pq_column_t *cols, size_t n) {
  fputs("\"nodes\":[", m);
  for (size_t c = 0; c < n; c++)
    fprintf(m, "%s{\"name\":\"%s\",\"type\":\"%s\",\"optional\":%s,\"nchildren\":%u}", c ? "," : "",
            cols[c].name, TYPE_NAMES[cols[c].type], cols[c].optional ? "true" : "false",
            cols[c].nchildren);
  fputs("],\"columns\":[", m);
  size_t stack[EVP__PQ_MAX_DEPTH], left[EVP__PQ_MAX_DEPTH], depth = 0, nleaf = 0;
  for (size_t c = 0; c < n; c++) {
    if (cols[c].type == EVP__PQ_GROUP) {
      stack[depth] = c;
      left[depth++] = cols[c].nchildren;
      continue;
    }
    fputs(nleaf++ ? ",{\"name\":\"" : "{\"name\":\"", m);
    for (size_t d = 0; d < depth; d++) fprintf(m, "%s.", cols[stack[d]].name);
    fprintf(m, "%s\",\"path\":[", cols[c].name);
    for (size_t d = 0; d < depth; d++) fprintf(m, "\"%s\",", cols[stack[d]].name);
    fprintf(m, "\"%s\"],\"schema_index\":%zu,\"type\":\"%s\",\"optional\":%s}", cols[c].name, c + 1,
            TYPE_NAMES[cols[c].type], cols[c].optional ? "true" : "false");
    while (depth && --left[depth - 1] == 0) depth--;
  }
  fputc(']', m);
}

/* Every dataset is also written with each encoding turned off, all of them
 * off, and ZSTD: "NAME~VARIANT" files, so the readers see every encoding and
 * codec combination the writer can produce. */
typedef struct {
  const char *suffix; /* "" for the defaults */
  int no_delta_int, no_int_dict, no_delta_str, no_page_index, no_prefix_str;
  evp__pq_codec_t codec; /* used when not SNAPPY (the datasets' own codec otherwise) */
} evp__gen_variant_t;

static const evp__gen_variant_t GEN_VARIANTS[] = {
    {"", 0, 0, 0, 0, 0, EVP__PQ_SNAPPY},           {"~nodelta", 1, 0, 0, 0, 0, EVP__PQ_SNAPPY},
    {"~nointdict", 0, 1, 0, 0, 0, EVP__PQ_SNAPPY}, {"~nostrdelta", 0, 0, 1, 0, 0, EVP__PQ_SNAPPY},
    {"~noprefix", 0, 0, 0, 0, 1, EVP__PQ_SNAPPY},  {"~nopageindex", 0, 0, 0, 1, 0, EVP__PQ_SNAPPY},
    {"~plain", 1, 1, 1, 1, 1, EVP__PQ_SNAPPY},     {"~zstd", 0, 0, 0, 0, 0, EVP__PQ_ZSTD}};
#define GEN_NVARIANTS (sizeof GEN_VARIANTS / sizeof *GEN_VARIANTS)

/* The variants evp__gen_all writes: all of them, except under TSan and
 * valgrind (10-50x slower; the suites that use these files run no threads
 * there), where the default one only: the normal and ASan builds, and the
 * readers' script, see them all. */
static size_t gen_nvariants(void) {
#if defined(__SANITIZE_THREAD__)
  return 1;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
  return 1;
#endif
#endif
  return getenv("EVP_VALGRIND") ? 1 : GEN_NVARIANTS;
}

/* A dataset's options as variant @p var writes them. */
static void gen_apply_variant(evp__pq_options_t *o, const evp__gen_variant_t *var) {
  o->no_delta_int = var->no_delta_int;
  o->no_int_dict = var->no_int_dict;
  o->no_delta_str = var->no_delta_str;
  o->no_page_index = var->no_page_index;
  o->no_prefix_str = var->no_prefix_str;
  if (var->codec != EVP__PQ_SNAPPY) o->codec = var->codec;
}

static const char *gen_codec_name(evp__pq_codec_t c) {
  return c == EVP__PQ_UNCOMPRESSED ? "UNCOMPRESSED" : c == EVP__PQ_ZSTD ? "ZSTD" : "SNAPPY";
}

static evp_err_t gen_one(const char *dir, const evp__gen_ds_t *d0, const evp__gen_variant_t *var,
                         uint64_t seed, FILE *manifest, char *err, size_t errn) {
  char fname[256], path[1024], name[128];
  evp__gen_ds_t dv = *d0;
  const evp__gen_ds_t *d = &dv;
  snprintf(name, sizeof name, "%s%s", d0->name, var->suffix);
  dv.name = name;
  gen_apply_variant(&dv.opt, var);
  snprintf(fname, sizeof fname, "%s.parquet", d->name);
  snprintf(path, sizeof path, "%s/%s.ndjson", dir, d->name);
  FILE *f = fopen(path, "w");
  if (!f) return evp__seterr(err, errn, EVP_ERR_IO, "cannot write %s", path);
  char *sb = malloc(2 * GEN_SLOT + 16);
  evp__pq_value_t *row = calloc(d->ncols, sizeof *row);
  evp__pq_writer_t *w = NULL;
  evp_err_t e = (!sb || !row) ? EVP_ERR_NOMEM : EVP_OK;
  if (!e) e = evp__pq_writer_open(&w, dir, fname, d->cols, d->ncols, &d->opt, err, errn);
  uint64_t s = seed * 1000003u + (uint64_t)strlen(d->name);
  /* Row-group sizes as the writer cut them: a flush inside append shows up
   * as file bytes growing. The reader script checks against these. */
  size_t *rgs = calloc(d->nrows + 1, sizeof *rgs), nrg = 0, last_cut = 0;
  uint64_t prev_bytes = w ? evp__pq_writer_file_bytes(w) : 0;
  if (!rgs && !e) e = EVP_ERR_NOMEM;
  for (size_t r = 0; !e && r < d->nrows; r++) {
    d->row(&s, r, row, sb);
    fputc('{', f);
    for (size_t c = 0; c < d->ncols;) {
      if (c) fputc(',', f);
      c = gen_node(f, d->cols, row, c);
    }
    fputs("}\n", f);
    e = evp__pq_writer_append(w, row, err, errn);
    if (!e && evp__pq_writer_file_bytes(w) != prev_bytes) {
      prev_bytes = evp__pq_writer_file_bytes(w);
      rgs[nrg++] = r + 1 - last_cut;
      last_cut = r + 1;
    }
  }
  if (!e && d->nrows > last_cut) rgs[nrg++] = d->nrows - last_cut;
  if (w) {
    if (!e)
      e = evp__pq_writer_close(w, NULL, err, errn);
    else
      evp__pq_writer_abort(w);
  }
  if (fclose(f) != 0 && !e) e = evp__seterr(err, errn, EVP_ERR_IO, "write %s failed", path);
  free(sb);
  free(row);
  if (e) {
    free(rgs);
    return e;
  }
  fprintf(manifest,
          "%s{\"name\":\"%s\",\"variant\":\"%s\",\"rows\":%zu,\"codec\":\"%s\","
          "\"opts\":{\"no_delta_int\":%d,\"no_int_dict\":%d,\"no_delta_str\":%d,"
          "\"no_page_index\":%d,\"no_prefix_str\":%d},\"row_groups\":[",
          d0 == gen_datasets(&(size_t){0}) && var == GEN_VARIANTS ? "" : ",", d->name,
          var->suffix[0] ? var->suffix + 1 : "", d->nrows, gen_codec_name(d->opt.codec),
          d->opt.no_delta_int, d->opt.no_int_dict, d->opt.no_delta_str, d->opt.no_page_index,
          d->opt.no_prefix_str);
  for (size_t i = 0; i < nrg; i++) fprintf(manifest, "%s%zu", i ? "," : "", rgs[i]);
  free(rgs);
  fputs("],", manifest);
  gen_manifest_schema(manifest, d->cols, d->ncols);
  fprintf(manifest, ",\"expect_dict\":%s}\n", d->expect_dict ? d->expect_dict : "null");
  return EVP_OK;
}

static evp_err_t evp__gen_all(const char *dir, uint64_t seed, char *err, size_t errn) {
  char path[1024];
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  FILE *m = fopen(path, "w");
  if (!m) return evp__seterr(err, errn, EVP_ERR_IO, "cannot write %s", path);
  fputs("[\n", m);
  size_t n;
  const evp__gen_ds_t *ds = gen_datasets(&n);
  evp_err_t e = EVP_OK;
  for (size_t i = 0; i < n && !e; i++)
    for (size_t v = 0; v < gen_nvariants() && !e; v++)
      e = gen_one(dir, &ds[i], &GEN_VARIANTS[v], seed, m, err, errn);
  fputs("]\n", m);
  if (fclose(m) != 0 && !e) e = evp__seterr(err, errn, EVP_ERR_IO, "write %s failed", path);
  return e;
}

#endif /* EVP_TESTS_LAKE_GEN_H */
