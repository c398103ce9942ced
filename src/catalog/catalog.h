/* The table as the lake's neighbours are told about it: the Athena DDL and
 * Glue TableInput (table_ddl.c) and the API Gateway request model
 * (apigw_model.h). For the CLI and the deploy tooling; never in the client
 * library. */
#ifndef EVP_CATALOG_CATALOG_H
#define EVP_CATALOG_CATALOG_H

#include <cjson/cJSON.h>
#include "table/table.h"

/* ---------------------------------------------------------- generators
 * table_ddl.c: text for Athena and Glue, for the CLI and deploy tooling. */

/* Options of the generated table. NULL members take the defaults. */
typedef struct evp__table_ddl_opts {
  const char *table;    /* table name, a safe identifier; default "events" */
  const char *location; /* s3://bucket/prefix; a trailing '/' is added;
                           default EVP__TABLE_DEFAULT_LOCATION */
  const char *dt_start; /* first day of the dt projection range, YYYY-MM-DD;
                           default "2024-01-01" (the range ends at NOW) */
} evp__table_ddl_opts_t;

#define EVP__TABLE_DEFAULT_TABLE "events"
#define EVP__TABLE_DEFAULT_LOCATION "s3://example-bucket/events/"
#define EVP__TABLE_DEFAULT_DT_START "2024-01-01"
#define EVP__TABLE_MAX_LOCATION 1024

/* The Athena CREATE EXTERNAL TABLE statement (Parquet + Snappy, partitioned
 * by dt/hour with partition projection). On success *out is malloc'd text
 * ending in ";\n" (caller frees). EVP_ERR_INVALID_ARG for a bad option. */
evp_err_t evp__table_athena_ddl(const evp__table_t *t, const evp__table_ddl_opts_t *opts,
                                char **out, char *errstr, size_t errstr_size);

/* The Glue TableInput JSON (for glue create-table --table-input, or a
 * CloudFormation AWS::Glue::Table TableInput) describing the same table.
 * On success *out is malloc'd, pretty-printed JSON (caller frees). */
evp_err_t evp__table_glue_input(const evp__table_t *t, const evp__table_ddl_opts_t *opts,
                                char **out, char *errstr, size_t errstr_size);

/* Pretty-print @p doc (taken: deleted, NULL allowed = out of memory) into
 * *out, which the caller frees with free(). EVP_ERR_NOMEM. */
evp_err_t evp__json_print_take(cJSON *doc, char **out, char *errstr, size_t errstr_size);

#endif /* EVP_CATALOG_CATALOG_H */
