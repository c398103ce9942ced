/* Internal: the table model derived from an event JSON Schema.
 *
 * One schema file defines both what an event may contain and how events are
 * stored: each top-level property becomes one column, in document order,
 * followed by the columns the server adds and the partition keys. The Parquet
 * writer takes its columns from here, and the Athena DDL / Glue TableInput
 * generators (table_ddl.c) print them, so every consumer agrees on names,
 * types and order. Not public ABI. */
#ifndef EVP_TABLE_TABLE_H
#define EVP_TABLE_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "base/base.h"
#include "json/json.h"
#include "schema/schema.h"
#include "evpipe/error.h"

/* Limits: a schema beyond them is rejected, never truncated. */
#define EVP__TABLE_MAX_SCHEMA_BYTES (1024u * 1024u) /* evp__table_parse input */
#define EVP__TABLE_MAX_COLUMNS 1000                 /* event columns */
#define EVP__TABLE_MAX_NAME 128                     /* bytes in a column name */
/* Most struct levels above a field: deeper objects stay JSON text. With the
 * leaf, a path has at most EVP__PQ_MAX_DEPTH (8) nodes in the lake's files. */
#define EVP__TABLE_MAX_STRUCT_DEPTH 4
/* Bytes of the longest struct path in a message ("/a/b/c/d/e"), NUL included. */
#define EVP__TABLE_STRUCT_PATH_MAX \
  ((EVP__TABLE_MAX_NAME + 1) * (EVP__TABLE_MAX_STRUCT_DEPTH + 1) + 1)
/* Most schema nodes in the lake's files (data columns plus struct fields
 * at every depth: evp__table_t.nnodes), the most the Parquet writer and
 * reader take (src/lake/pq_writer.c, pq_reader_int.h): a struct that would
 * pass it stays JSON text, so every table the model builds can be written.
 * 1000 properties and the 4 server columns leave at least 20 for fields. */
#define EVP__TABLE_MAX_NODES 1024
/* Characters of a column's type text ("struct<a:string,...>"): Glue's
 * limit on a column's Type. A struct whose text would be longer stays JSON
 * text (reachable only with long field names near the node limit). */
#define EVP__TABLE_MAX_TYPE_TEXT 131072

/* Column types, named after the Athena/Glue (Hive) types they print as. */
typedef enum evp__col_type {
  EVP__COL_STRING,
  EVP__COL_BIGINT,
  EVP__COL_DOUBLE,
  EVP__COL_BOOLEAN,
  EVP__COL_TIMESTAMP,
  EVP__COL_STRUCT /* struct<...> of the fields below (Parquet: a group) */
} evp__col_type_t;

/* Where a column's value comes from. */
typedef enum evp__col_role {
  EVP__ROLE_EVENT,    /* a top-level property of the event */
  EVP__ROLE_SERVER,   /* added by the ingest server (received_at, client_id, ...) */
  EVP__ROLE_PARTITION /* a partition key: in the S3 path, not in the file */
} evp__col_role_t;

/* How the JSON value becomes the column value (for EVP__ROLE_EVENT). */
typedef enum evp__col_map {
  EVP__MAP_SCALAR,    /* string/number/boolean stored as is (integer as int64) */
  EVP__MAP_RFC3339,   /* RFC 3339 date-time string, stored as a UTC instant */
  EVP__MAP_JSON_TEXT, /* object or array, stored as its compact JSON text */
  EVP__MAP_STRUCT,    /* object with declared properties only: one field each */
  EVP__MAP_DERIVED    /* not read from the event (server and partition columns) */
} evp__col_map_t;

typedef struct evp__column {
  char *name;     /* safe SQL identifier: [a-z_][a-z0-9_]* */
  size_t namelen; /* strlen(name): member names are compared per event */
  evp__col_type_t type;
  int nullable; /* 1: absent or null in some rows (optional in Parquet) */
  evp__col_role_t role;
  evp__col_map_t map;
  char *description; /* the property's "description", "" when none */
  /* EVP__COL_STRUCT: its fields in schema order, each mapped by the same
   * rules (role EVP__ROLE_EVENT; nullable when not required in the object
   * or allowing null); NULL / 0 otherwise. */
  struct evp__column *fields;
  size_t nfields;
} evp__column_t;

/* The server columns that correct event_time for the sender's clock skew
 * (docs/event-schema.md, "Clock skew"); the lake's row builder fills them. */
#define EVP__COL_EVENT_TIME_CORRECTED "event_time_corrected"
#define EVP__COL_CLOCK_SKEW_MS "clock_skew_ms"

/* Columns in storage order: event columns (schema order), then the server
 * columns received_at, client_id, event_time_corrected and clock_skew_ms
 * (both nullable), then the partition keys dt and hour.
 * Data columns (written to Parquet, Glue StorageDescriptor.Columns) are
 * cols[0 .. ndata); partition keys (Glue PartitionKeys) are cols[ndata ..
 * ncols). A struct column's fields are inside it (evp__column_t.fields),
 * not in this list. */
typedef struct evp__table {
  evp__column_t *cols;
  size_t ncols;
  size_t ndata;
  size_t nnodes;     /* data columns plus all their fields at every depth: the
                        lake file's schema nodes (lake.h) */
  char *description; /* the schema's top-level "description", "" when none */
} evp__table_t;

/* Build the table model from a parsed JSON Schema. The schema must be an
 * object with "type": "object" and a non-empty "properties"; each property
 * needs a "type" that maps to one column (see docs/event-schema.md):
 *   "string" -> STRING, with "format": "date-time" -> TIMESTAMP;
 *   "integer" -> BIGINT; "number" (or integer+number) -> DOUBLE;
 *   "boolean" -> BOOLEAN; "array" -> STRING holding JSON text;
 *   "object" with "additionalProperties": false, a non-empty "properties",
 *   no "patternProperties", every property mapping to a field with a safe
 *   name, and at most EVP__TABLE_MAX_STRUCT_DEPTH levels -> STRUCT (its
 *   "required" decides its fields' nullability); any other "object" ->
 *   STRING holding JSON text (free-form data keeps every key);
 *   adding "null" to the type, or leaving the property out of "required",
 *   makes the column nullable.
 * Rejected with EVP_ERR_SCHEMA_INVALID and a reason naming the property:
 * non-object schemas, unsupported or mixed types, missing types, unsafe or
 * duplicate names, names that collide with the server/partition columns,
 * non-string descriptions, more than EVP__TABLE_MAX_COLUMNS properties.
 * @p schema is read as evp__schema_parse_doc reads it: a byte 0xFF in a
 * description is an escaped NUL and becomes a space.
 * On success *out is owned by the caller (evp__table_free). Thread-safe. */
evp_err_t evp__table_from_schema(const cJSON *schema, evp__table_t **out, char *errstr,
                                 size_t errstr_size);

/* Parse schema text (at most EVP__TABLE_MAX_SCHEMA_BYTES, else
 * EVP_ERR_TOO_LARGE; EVP_ERR_JSON when it is not JSON) and build the model. */
evp_err_t evp__table_parse(const char *json, size_t len, evp__table_t **out, char *errstr,
                           size_t errstr_size);

/* Free a model from evp__table_from_schema/evp__table_parse. NULL is a no-op. */
void evp__table_free(evp__table_t *t);

/* The Athena/Glue type name: "string", "bigint", "double", "boolean",
 * "timestamp" (static storage); "struct" for EVP__COL_STRUCT, whose full
 * type evp__col_type_text gives. */
const char *evp__col_type_name(evp__col_type_t type);

/* The full Athena/Glue type of @p c: the name above, or for a struct
 * "struct<name:type,...>" with its fields' full types. A fresh string the
 * caller frees; NULL when out of memory. */
char *evp__col_type_text(const evp__column_t *c);
/* The same for Athena DDL: struct field names in backticks, as the DDL
 * quotes column names (Athena's DDL parser refuses reserved words such as
 * date, user, order and names starting with '_' unquoted, also inside
 * struct<...>): "struct<`name`:type,...>". Glue's Type string is not SQL
 * and takes evp__col_type_text. Ownership as above. */
char *evp__col_type_ddl(const evp__column_t *c);

/* 1 when @p s is a safe lower-case SQL identifier ([a-z_][a-z0-9_]*, 1 to
 * EVP__TABLE_MAX_NAME bytes), else 0. Such names need no case folding in
 * Athena/Glue and cannot break out of quoting. */
int evp__table_name_ok(const char *s);

/* ---------------------------------------------------------- values
 * table_value.c: what a row can hold. ONE rule, used by every door and by
 * the lake: the server's acceptance (POST /events), the SDK's check in
 * evp_send and the row builder that writes the lake, so an event that is
 * acknowledged is an event that can be written (docs/event-schema.md,
 * "What a column holds"). */

/* Top-level members of one event, at most (the row builder's member table;
 * no table has more than EVP__TABLE_MAX_COLUMNS columns). */
#define EVP__TABLE_MAX_MEMBERS 4096

/* Why an event cannot become a row: the per-item reason POST /events gives
 * (docs/protocol.md) and its metrics label. */
#define EVP__REASON_NOT_REPRESENTABLE "not_representable"
#define EVP__REASON_DUPLICATE_MEMBER "duplicate_member"
#define EVP__REASON_TOO_MANY_MEMBERS "too_many_members"

/* The exact value of the JSON number text s[0..n) (valid JSON grammar) as
 * an int64, whatever its spelling: 1e2, 100.0 and 1000e-1 are all 100, and
 * 9007199254740993.0 is 9007199254740993 (no trip through a double). -1
 * when the value is not an integer (1.5, 1e-400) or is outside
 * [-2^63, 2^63 - 1]. */
int evp__json_number_i64(const char *s, size_t n, int64_t *out);

/* The JSON number text s[0..n) as the nearest double. -1 when no double
 * holds it: beyond +-DBL_MAX (1e400, which would become infinity) or a
 * nonzero number so small it would become 0 (1e-400). Subnormal values are
 * doubles and are kept (rounded like any decimal). */
int evp__json_number_f64(const char *s, size_t n, double *out);

/* A column's value from one member, as the lake stores it. */
typedef struct evp__table_cell {
  int64_t i64; /* BIGINT; TIMESTAMP: microseconds since the epoch, UTC */
  double f64;  /* DOUBLE */
  int b;       /* BOOLEAN */
} evp__table_cell_t;

/* Convert member @p m (not null) for column @p c into @p out (strings and
 * JSON texts are only type-checked: the row builder copies them). @p scratch
 * holds at least m->vallen + 1 bytes, for an escaped date-time. NULL when the
 * column holds the value, else what the column needs ("an integer in the
 * int64 range", ...), for the error message. */
const char *evp__table_cell(const evp__column_t *c, const evp__jmember_t *m, char *scratch,
                            evp__table_cell_t *out);

/* What a struct column holds (table_value.c). Match the members of the
 * object @p obj to the fields of struct column @p c: by_field[k]
 * (c->nfields entries) is the member for field k or NULL; @p m has room for
 * c->nfields + 1 members. Refused with EVP_ERR_INVALID_EVENT, *reason and a
 * message starting with @p path (the object's JSON pointer, "/context"): a
 * member no field has (the lake could not keep it), a repeated name, a
 * required field absent or null. Only the members are matched, not their
 * values (evp__table_check_struct checks those). */
evp_err_t evp__table_match_struct(const evp__column_t *c, const evp__jmember_t *obj,
                                  evp__jmember_t *m, const evp__jmember_t **by_field,
                                  const char *path, const char **reason, char *errstr,
                                  size_t errstr_size);
/* Whether member @p obj can be the value of struct column @p c: an object
 * matched by evp__table_match_struct whose every field value fits its
 * field (evp__table_cell; struct fields recursively). Same errors, plus
 * EVP_ERR_NOMEM. Thread-safe. */
evp_err_t evp__table_check_struct(const evp__column_t *c, const evp__jmember_t *obj,
                                  const char *path, const char **reason, char *errstr,
                                  size_t errstr_size);

/* Match the members m[0..nm) of one event to the event columns of @p t:
 * by_col[k] (t->ndata entries) is the member for column k or NULL. Refused
 * with EVP_ERR_INVALID_EVENT and *reason = EVP__REASON_DUPLICATE_MEMBER when
 * a member name repeats (RFC 8259 leaves duplicates to the reader: readers
 * keep the first, the last, or fail; a row has one value per name, so the
 * pipeline refuses them rather than pick one). @p t may be NULL (only the
 * duplicate check). */
evp_err_t evp__table_match(const evp__table_t *t, const evp__jmember_t *m, size_t nm,
                           const evp__jmember_t **by_col, const char **reason, char *errstr,
                           size_t errstr_size);

/* Whether the event @p ev (exactly one valid JSON object, as the door's
 * parser or the schema validator has checked) can be written as one row of
 * @p t: at most EVP__TABLE_MAX_MEMBERS members, no repeated name, and every
 * member that has a column holds a value of that column (evp__table_cell).
 * With @p t NULL (no table known: the SDK without a schema, a server
 * without one) the rules every table shares: the bound, unique names, and
 * top-level numbers that some numeric column can hold (an int64 or a
 * double). EVP_OK, or EVP_ERR_INVALID_EVENT with *reason one of the
 * EVP__REASON_ strings and errstr "<instance path>: <message>";
 * EVP_ERR_NOMEM. Thread-safe. */
evp_err_t evp__table_check_event(const evp__table_t *t, const char *ev, size_t len,
                                 const char **reason, char *errstr, size_t errstr_size);
/* The same for the event being judged in an evp__schema_validate_each
 * callback, read off the validator's parse instead of scanning its text
 * again (evp__schema_each_members): the same answers, ~5% less CPU per
 * event in the server. */
evp_err_t evp__table_check_judged(const evp__table_t *t, const evp_schema_ctx_t *ctx,
                                  const char **reason, char *errstr, size_t errstr_size);

#endif /* EVP_TABLE_TABLE_H */
