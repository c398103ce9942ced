/* The Parquet footer: FileMetaData in the Thrift compact protocol. */
#include <stdio.h>
#include "evpipe/version.h"
#include "lake/pq_format.h"
#include "lake/pq_writer_int.h"
#include "lake/thrift_compact.h"

static int phys_type(evp__pq_type_t t) {
  switch (t) {
  case EVP__PQ_STRING: return PQ_T_BYTE_ARRAY;
  case EVP__PQ_DOUBLE: return PQ_T_DOUBLE;
  case EVP__PQ_BOOLEAN: return PQ_T_BOOLEAN;
  case EVP__PQ_INT64:
  case EVP__PQ_TIMESTAMP_US:
  case EVP__PQ_GROUP: break; /* groups have no type; never called for them */
  }
  return PQ_T_INT64;
}

/* A group: repetition, name and children, no type. */
static void schema_group(evp__tc_t *t, const evp__pq_column_t *c) {
  evp__tc_struct_begin(t);
  evp__tc_field_i32(t, PQ_SE_REPETITION, c->optional ? PQ_REP_OPTIONAL : PQ_REP_REQUIRED);
  evp__tc_field_string(t, PQ_SE_NAME, c->name);
  evp__tc_field_i32(t, PQ_SE_NUM_CHILDREN, (int32_t)c->nchildren);
  evp__tc_struct_end(t);
}

static void schema_leaf(evp__tc_t *t, const evp__pq_column_t *c) {
  evp__tc_struct_begin(t);
  evp__tc_field_i32(t, PQ_SE_TYPE, phys_type(c->type));
  evp__tc_field_i32(t, PQ_SE_REPETITION, c->optional ? PQ_REP_OPTIONAL : PQ_REP_REQUIRED);
  evp__tc_field_string(t, PQ_SE_NAME, c->name);
  if (c->type == EVP__PQ_STRING) {
    evp__tc_field_i32(t, PQ_SE_CONVERTED_TYPE, PQ_CT_UTF8);
    evp__tc_field_struct(t, PQ_SE_LOGICAL_TYPE);
    evp__tc_field_struct(t, PQ_LT_STRING);
    evp__tc_struct_end(t);
    evp__tc_struct_end(t);
  } else if (c->type == EVP__PQ_TIMESTAMP_US) {
    /* Both annotations: the LogicalType for current readers, the
     * ConvertedType for older ones (e.g. Hive-era engines). */
    evp__tc_field_i32(t, PQ_SE_CONVERTED_TYPE, PQ_CT_TIMESTAMP_MICROS);
    evp__tc_field_struct(t, PQ_SE_LOGICAL_TYPE);
    evp__tc_field_struct(t, PQ_LT_TIMESTAMP);
    evp__tc_field_bool(t, PQ_TS_IS_ADJUSTED_TO_UTC, 1);
    evp__tc_field_struct(t, PQ_TS_UNIT);
    evp__tc_field_struct(t, PQ_TU_MICROS);
    evp__tc_struct_end(t);
    evp__tc_struct_end(t);
    evp__tc_struct_end(t);
    evp__tc_struct_end(t);
  }
  evp__tc_struct_end(t);
}

static void statistics(evp__tc_t *t, const evp__pq_column_t *c, const evp__pq_chunk_meta_t *m) {
  evp__tc_field_struct(t, PQ_CMD_STATISTICS);
  /* The deprecated min/max use signed order, which is right for numbers and
   * booleans but not for strings: strings get only min_value/max_value, whose
   * order is declared by the TypeDefinedOrder column order. */
  if (m->has_minmax && c->type != EVP__PQ_STRING) {
    evp__tc_field_binary(t, PQ_ST_MAX, m->max, m->max_len);
    evp__tc_field_binary(t, PQ_ST_MIN, m->min, m->min_len);
  }
  evp__tc_field_i64(t, PQ_ST_NULL_COUNT, m->null_count);
  if (m->has_minmax) {
    evp__tc_field_binary(t, PQ_ST_MAX_VALUE, m->max, m->max_len);
    evp__tc_field_binary(t, PQ_ST_MIN_VALUE, m->min, m->min_len);
  }
  evp__tc_struct_end(t);
}

static void column_chunk(evp__tc_t *t, const evp__pq_writer_t *w, const evp__pq_col_t *col,
                         const evp__pq_chunk_meta_t *m) {
  const evp__pq_column_t *c = &col->spec;
  evp__tc_struct_begin(t);
  evp__tc_field_i64(t, PQ_CC_FILE_OFFSET, m->start);
  evp__tc_field_struct(t, PQ_CC_META_DATA);
  evp__tc_field_i32(t, PQ_CMD_TYPE, phys_type(c->type));
  int dict = m->dict_page_offset >= 0;
  /* PLAIN (the dictionary page or the values), RLE (definition levels), and
   * the data pages' encoding when it is another (RLE_DICTIONARY, DELTA_*). */
  int plain = dict || m->data_enc == PQ_ENC_PLAIN;
  int other = m->data_enc != PQ_ENC_PLAIN;
  evp__tc_field_list(t, PQ_CMD_ENCODINGS, EVP__TC_I32, (uint32_t)(1 + plain + other));
  if (plain) evp__tc_i32(t, PQ_ENC_PLAIN);
  evp__tc_i32(t, PQ_ENC_RLE);
  if (other) evp__tc_i32(t, m->data_enc);
  /* the names from the top-level node down to the leaf */
  evp__tc_field_list(t, PQ_CMD_PATH, EVP__TC_BINARY, (uint32_t)col->depth);
  for (size_t k = 0; k < col->depth; k++) {
    const char *name = w->nodes[col->path_nodes[k]].name;
    evp__tc_binary(t, name, strlen(name));
  }
  evp__tc_field_i32(t, PQ_CMD_CODEC,
                    w->opt.codec == EVP__PQ_SNAPPY ? PQ_CODEC_SNAPPY
                    : w->opt.codec == EVP__PQ_ZSTD ? PQ_CODEC_ZSTD
                                                   : PQ_CODEC_UNCOMPRESSED);
  evp__tc_field_i64(t, PQ_CMD_NUM_VALUES, m->num_values);
  evp__tc_field_i64(t, PQ_CMD_UNCOMPRESSED, m->uncompressed);
  evp__tc_field_i64(t, PQ_CMD_COMPRESSED, m->compressed);
  evp__tc_field_i64(t, PQ_CMD_DATA_PAGE_OFFSET, m->data_page_offset);
  if (dict) evp__tc_field_i64(t, PQ_CMD_DICT_PAGE_OFFSET, m->dict_page_offset);
  statistics(t, c, m);
  evp__tc_struct_end(t);   /* ColumnMetaData */
  if (m->oi_offset >= 0) { /* the page index (pq_page_index.c) */
    evp__tc_field_i64(t, PQ_CC_OFFSET_INDEX_OFFSET, m->oi_offset);
    evp__tc_field_i32(t, PQ_CC_OFFSET_INDEX_LENGTH, m->oi_length);
  }
  if (m->ci_offset >= 0) {
    evp__tc_field_i64(t, PQ_CC_COLUMN_INDEX_OFFSET, m->ci_offset);
    evp__tc_field_i32(t, PQ_CC_COLUMN_INDEX_LENGTH, m->ci_length);
  }
  evp__tc_struct_end(t); /* ColumnChunk */
}

evp_err_t evp__pq_footer_encode(const evp__pq_writer_t *w, evp__buf_t *out) {
  evp__tc_t t;
  evp__tc_init(&t, out);
  evp__tc_struct_begin(&t);
  evp__tc_field_i32(&t, PQ_FMD_VERSION, 2);

  /* the root, then every node in pre-order (the order lake.h's schema has) */
  evp__tc_field_list(&t, PQ_FMD_SCHEMA, EVP__TC_STRUCT, (uint32_t)(w->nnodes + 1));
  evp__tc_struct_begin(&t); /* root group */
  evp__tc_field_string(&t, PQ_SE_NAME, "schema");
  evp__tc_field_i32(&t, PQ_SE_NUM_CHILDREN, (int32_t)w->ntop);
  evp__tc_struct_end(&t);
  for (size_t i = 0; i < w->nnodes; i++) {
    if (w->nodes[i].type == EVP__PQ_GROUP)
      schema_group(&t, &w->nodes[i]);
    else
      schema_leaf(&t, &w->nodes[i]);
  }

  evp__tc_field_i64(&t, PQ_FMD_NUM_ROWS, (int64_t)w->total_rows);

  evp__tc_field_list(&t, PQ_FMD_ROW_GROUPS, EVP__TC_STRUCT, (uint32_t)w->nrgs);
  for (size_t g = 0; g < w->nrgs; g++) {
    const evp__pq_rg_meta_t *rg = &w->rgs[g];
    int64_t unc = 0, comp = 0;
    for (size_t i = 0; i < w->ncols; i++) {
      unc += rg->cols[i].uncompressed;
      comp += rg->cols[i].compressed;
    }
    evp__tc_struct_begin(&t);
    evp__tc_field_list(&t, PQ_RG_COLUMNS, EVP__TC_STRUCT, (uint32_t)w->ncols);
    for (size_t i = 0; i < w->ncols; i++) column_chunk(&t, w, &w->cols[i], &rg->cols[i]);
    evp__tc_field_i64(&t, PQ_RG_TOTAL_BYTE_SIZE, unc);
    evp__tc_field_i64(&t, PQ_RG_NUM_ROWS, rg->num_rows);
    evp__tc_field_i64(&t, PQ_RG_FILE_OFFSET, rg->cols[0].start);
    evp__tc_field_i64(&t, PQ_RG_TOTAL_COMPRESSED, comp);
    evp__tc_struct_end(&t);
  }

  if (w->opt.nkv) {
    evp__tc_field_list(&t, PQ_FMD_KV, EVP__TC_STRUCT, (uint32_t)w->opt.nkv);
    for (size_t i = 0; i < w->opt.nkv; i++) {
      evp__tc_struct_begin(&t);
      evp__tc_field_string(&t, PQ_KV_KEY, w->opt.kv[i].key);
      if (w->opt.kv[i].value) evp__tc_field_string(&t, PQ_KV_VALUE, w->opt.kv[i].value);
      evp__tc_struct_end(&t);
    }
  }

  /* "<app> version <x.y.z>" is the form parquet-mr's VersionParser accepts;
   * an unparsable created_by makes Java readers distrust binary statistics. */
  char created_by[64];
  snprintf(created_by, sizeof created_by, "libevpipe version %s", evp_version_str());
  evp__tc_field_string(&t, PQ_FMD_CREATED_BY, created_by);

  evp__tc_field_list(&t, PQ_FMD_COLUMN_ORDERS, EVP__TC_STRUCT, (uint32_t)w->ncols);
  for (size_t i = 0; i < w->ncols; i++) {
    evp__tc_struct_begin(&t);
    evp__tc_field_struct(&t, PQ_CO_TYPE_ORDER); /* TypeDefinedOrder {} */
    evp__tc_struct_end(&t);
    evp__tc_struct_end(&t);
  }
  evp__tc_struct_end(&t);
  return evp__tc_error(&t);
}
