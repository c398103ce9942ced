/* Numeric constants from the Parquet format's parquet.thrift that the writer
 * emits, and the field ids it uses. Internal. */
#ifndef EVP_LAKE_PQ_FORMAT_H
#define EVP_LAKE_PQ_FORMAT_H

/* enum Type */
#define PQ_T_BOOLEAN 0
#define PQ_T_INT64 2
#define PQ_T_DOUBLE 5
#define PQ_T_BYTE_ARRAY 6
/* enum ConvertedType */
#define PQ_CT_UTF8 0
#define PQ_CT_TIMESTAMP_MICROS 10
/* enum FieldRepetitionType */
#define PQ_REP_REQUIRED 0
#define PQ_REP_OPTIONAL 1
/* enum Encoding */
#define PQ_ENC_PLAIN 0
#define PQ_ENC_RLE 3
#define PQ_ENC_DELTA_BINARY_PACKED 5
#define PQ_ENC_DELTA_LENGTH_BYTE_ARRAY 6
#define PQ_ENC_DELTA_BYTE_ARRAY 7
#define PQ_ENC_RLE_DICTIONARY 8
/* enum CompressionCodec */
#define PQ_CODEC_UNCOMPRESSED 0
#define PQ_CODEC_SNAPPY 1
#define PQ_CODEC_ZSTD 6
/* enum PageType */
#define PQ_PAGE_DATA 0
#define PQ_PAGE_DICTIONARY 2

/* Field ids. */
/* PageHeader */
#define PQ_PH_TYPE 1
#define PQ_PH_UNCOMPRESSED_SIZE 2
#define PQ_PH_COMPRESSED_SIZE 3
#define PQ_PH_DATA_PAGE_HEADER 5
#define PQ_PH_DICTIONARY_PAGE_HEADER 7
/* DataPageHeader */
#define PQ_DPH_NUM_VALUES 1
#define PQ_DPH_ENCODING 2
#define PQ_DPH_DEF_ENCODING 3
#define PQ_DPH_REP_ENCODING 4
/* DictionaryPageHeader */
#define PQ_DICT_NUM_VALUES 1
#define PQ_DICT_ENCODING 2
/* Statistics */
#define PQ_ST_MAX 1
#define PQ_ST_MIN 2
#define PQ_ST_NULL_COUNT 3
#define PQ_ST_MAX_VALUE 5
#define PQ_ST_MIN_VALUE 6
/* SchemaElement */
#define PQ_SE_TYPE 1
#define PQ_SE_REPETITION 3
#define PQ_SE_NAME 4
#define PQ_SE_NUM_CHILDREN 5
#define PQ_SE_CONVERTED_TYPE 6
#define PQ_SE_LOGICAL_TYPE 10
/* LogicalType (union) */
#define PQ_LT_STRING 1
#define PQ_LT_TIMESTAMP 8
/* TimestampType */
#define PQ_TS_IS_ADJUSTED_TO_UTC 1
#define PQ_TS_UNIT 2
/* TimeUnit (union) */
#define PQ_TU_MICROS 2
/* ColumnMetaData */
#define PQ_CMD_TYPE 1
#define PQ_CMD_ENCODINGS 2
#define PQ_CMD_PATH 3
#define PQ_CMD_CODEC 4
#define PQ_CMD_NUM_VALUES 5
#define PQ_CMD_UNCOMPRESSED 6
#define PQ_CMD_COMPRESSED 7
#define PQ_CMD_DATA_PAGE_OFFSET 9
#define PQ_CMD_DICT_PAGE_OFFSET 11
#define PQ_CMD_STATISTICS 12
/* ColumnChunk */
#define PQ_CC_FILE_OFFSET 2
#define PQ_CC_META_DATA 3
#define PQ_CC_OFFSET_INDEX_OFFSET 4
#define PQ_CC_OFFSET_INDEX_LENGTH 5
#define PQ_CC_COLUMN_INDEX_OFFSET 6
#define PQ_CC_COLUMN_INDEX_LENGTH 7
/* ColumnIndex */
#define PQ_CI_NULL_PAGES 1
#define PQ_CI_MIN_VALUES 2
#define PQ_CI_MAX_VALUES 3
#define PQ_CI_BOUNDARY_ORDER 4
#define PQ_CI_NULL_COUNTS 5
/* enum BoundaryOrder */
#define PQ_BO_UNORDERED 0
#define PQ_BO_ASCENDING 1
/* OffsetIndex / PageLocation */
#define PQ_OI_PAGE_LOCATIONS 1
#define PQ_PL_OFFSET 1
#define PQ_PL_COMPRESSED_SIZE 2
#define PQ_PL_FIRST_ROW 3
/* RowGroup */
#define PQ_RG_COLUMNS 1
#define PQ_RG_TOTAL_BYTE_SIZE 2
#define PQ_RG_NUM_ROWS 3
#define PQ_RG_FILE_OFFSET 5
#define PQ_RG_TOTAL_COMPRESSED 6
/* KeyValue */
#define PQ_KV_KEY 1
#define PQ_KV_VALUE 2
/* ColumnOrder (union) */
#define PQ_CO_TYPE_ORDER 1
/* FileMetaData */
#define PQ_FMD_VERSION 1
#define PQ_FMD_SCHEMA 2
#define PQ_FMD_NUM_ROWS 3
#define PQ_FMD_ROW_GROUPS 4
#define PQ_FMD_KV 5
#define PQ_FMD_CREATED_BY 6
#define PQ_FMD_COLUMN_ORDERS 7

#endif /* EVP_LAKE_PQ_FORMAT_H */
