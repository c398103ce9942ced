#!/bin/bash
# evpipe schema ddl|glue: output for the default schema, options, and every
# usage/IO/schema error (exit 2, reason on stderr). Also cross-checks the
# default schema and its example events with ajv, and loads the samples into
# DuckDB through the generated Glue table (tests/node peers).
# Env: EVP_CLI (the evpipe binary), EVP_SOURCE_DIR (source root).
set -u
CLI=${EVP_CLI:?EVP_CLI must name the evpipe binary}
SRC=${EVP_SOURCE_DIR:?EVP_SOURCE_DIR must name the source root}
SCHEMA=$SRC/examples/schemas/glue-data-catalog-json-schema.json
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $1"; }
ko() { fail=$((fail + 1)); echo "FAIL: $1"; }

# run NAME WANT_RC ARGS...: runs the CLI, stdout in $T/out, stderr in $T/err.
run() {
  local name=$1 want=$2
  shift 2
  "$CLI" "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  if [ "$rc" -eq "$want" ]; then ok "$name (exit $rc)"; else ko "$name: exit $rc, want $want; stderr: $(head -c 300 "$T/err")"; fi
}
has() { # has NAME FILE TEXT: FILE contains TEXT literally
  if grep -qF -- "$3" "$2"; then ok "$1"; else ko "$1: '$3' not in $(basename "$2")"; fi
}

# ---- DDL for the default schema
run "ddl default schema" 0 schema ddl --schema "$SCHEMA" --location s3://my-lake/events
has "ddl header" "$T/out" 'CREATE EXTERNAL TABLE IF NOT EXISTS `events` ('
for c in 'event_id` string' 'event_type` string' 'event_time` timestamp' 'app_id` string' \
         'user_id` string' 'session_id` string' 'platform` string' 'app_version` string' \
         'context` struct<`locale`:string,`os`:string,`os_version`:string,`device`:string,`timezone`:string>' 'properties` string' 'received_at` timestamp' 'client_id` string' \
         'event_time_corrected` timestamp' 'clock_skew_ms` bigint' 'dt` string' 'hour` string'; do
  has "ddl column $c" "$T/out" "  \`$c COMMENT '"
done
for p in "STORED AS PARQUET" "LOCATION 's3://my-lake/events/'" "PARTITIONED BY (" \
         "'parquet.compression'='SNAPPY'" "'projection.enabled'='true'" \
         "'projection.dt.type'='date'" "'projection.dt.format'='yyyy-MM-dd'" \
         "'projection.dt.range'='2024-01-01,NOW'" "'projection.hour.type'='integer'" \
         "'projection.hour.range'='0,23'" "'projection.hour.digits'='2'" \
         "'storage.location.template'='s3://my-lake/events/dt=\${dt}/hour=\${hour}/'"; do
  has "ddl has $p" "$T/out" "$p"
done
if [ "$(tail -n 1 "$T/out")" = ");" ]; then ok "ddl ends with );"; else ko "ddl ends with: $(tail -n 1 "$T/out")"; fi
if [ ! -s "$T/err" ]; then ok "ddl with --location prints no note"; else ko "ddl stderr: $(cat "$T/err")"; fi

# ---- options
run "ddl --table/--since" 0 schema ddl --schema="$SCHEMA" --table app_events --since 2025-03-01 --location s3://b-1/x/
has "ddl table name" "$T/out" 'CREATE EXTERNAL TABLE IF NOT EXISTS `app_events` ('
has "ddl since" "$T/out" "'projection.dt.range'='2025-03-01,NOW'"
has "ddl location kept" "$T/out" "LOCATION 's3://b-1/x/'"
run "ddl without --location" 0 schema ddl --schema "$SCHEMA"
has "placeholder location" "$T/out" "LOCATION 's3://example-bucket/events/'"
has "placeholder note" "$T/err" "no --location given"
run "schema from stdin" 0 schema ddl --schema - --location s3://lake/e <"$SCHEMA"
has "stdin ddl" "$T/out" '`event_time` timestamp'
run "schema --help" 0 schema --help
has "help text" "$T/out" "usage: evpipe schema ddl"
run "schema ddl --help" 0 schema ddl --help
run "listed in evpipe --help" 0 --help
has "command listed" "$T/out" "schema"

# ---- Glue TableInput, checked structurally by a JSON parser
run "glue default schema" 0 schema glue --schema "$SCHEMA" --table app_events --location s3://my-lake/events
cp "$T/out" "$T/glue.json"
if command -v node >/dev/null 2>&1; then
  if node -e '
    const t = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const want = "event_id:string event_type:string event_time:timestamp app_id:string user_id:string session_id:string platform:string app_version:string context:struct<locale:string,os:string,os_version:string,device:string,timezone:string> properties:string received_at:timestamp client_id:string event_time_corrected:timestamp clock_skew_ms:bigint";
    const got = t.StorageDescriptor.Columns.map((c) => c.Name + ":" + c.Type).join(" ");
    const keys = t.PartitionKeys.map((c) => c.Name + ":" + c.Type).join(" ");
    const p = t.Parameters, sd = t.StorageDescriptor;
    const checks = [
      [got === want, "columns " + got],
      [keys === "dt:string hour:string", "partition keys " + keys],
      [t.Name === "app_events" && t.TableType === "EXTERNAL_TABLE", "name/type"],
      [p.classification === "parquet" && p["projection.enabled"] === "true", "parameters"],
      [p["storage.location.template"] === "s3://my-lake/events/dt=${dt}/hour=${hour}/", "template"],
      [sd.Location === "s3://my-lake/events/", "location"],
      [sd.InputFormat === "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat", "input format"],
      [sd.OutputFormat === "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat", "output format"],
      [sd.SerdeInfo.SerializationLibrary === "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe", "serde"],
      [t.StorageDescriptor.Columns.every((c) => typeof c.Comment === "string" && c.Comment.length > 0 && c.Comment.length <= 255), "comments"],
    ];
    const bad = checks.filter((c) => !c[0]).map((c) => c[1]);
    if (bad.length) { console.error(bad.join("; ")); process.exit(1); }
  ' "$T/glue.json" 2>"$T/node.err"; then ok "glue JSON has the expected shape"; else ko "glue JSON: $(cat "$T/node.err")"; fi
else
  ko "node is needed to check the Glue JSON"
fi

# ---- errors: exit 2 with the reason on stderr
run "no subcommand" 2 schema
run "unknown subcommand" 2 schema sql --schema "$SCHEMA"
has "unknown subcommand message" "$T/err" "unknown subcommand 'sql'"
run "missing --schema" 2 schema ddl
has "missing --schema message" "$T/err" "--schema FILE is required"
run "option without value" 2 schema ddl --schema
has "option without value message" "$T/err" "needs a value"
run "unexpected argument" 2 schema ddl --schema "$SCHEMA" extra
has "unexpected argument message" "$T/err" "unexpected argument 'extra'"
run "missing file" 2 schema glue --schema "$T/nope.json"
has "missing file message" "$T/err" "cannot open schema"
run "directory as schema" 2 schema ddl --schema "$T"
printf '{"type":"object",' >"$T/bad.json"
run "invalid JSON" 2 schema ddl --schema "$T/bad.json"
has "invalid JSON message" "$T/err" "not valid JSON"
printf '{"type":"object","properties":{"EventId":{"type":"string"}}}' >"$T/unsafe.json"
run "unsafe column name" 2 schema ddl --schema "$T/unsafe.json"
has "unsafe name message" "$T/err" "'EventId' is not a safe column name"
printf '{"type":"object","properties":{"v":{"type":["string","integer"]}}}' >"$T/mixed.json"
run "mixed types" 2 schema glue --schema "$T/mixed.json"
has "mixed types message" "$T/err" "a mix of types cannot map to one column"
printf '{"type":"object","properties":{"dt":{"type":"string"}}}' >"$T/reserved.json"
run "reserved name" 2 schema ddl --schema "$T/reserved.json"
has "reserved name message" "$T/err" "collides with the partition column"
head -c 1048577 /dev/zero | tr '\0' ' ' >"$T/big.json"
run "schema too large" 2 schema ddl --schema "$T/big.json"
has "too large message" "$T/err" "larger than 1048576 bytes"
run "bad table name" 2 schema ddl --schema "$SCHEMA" --table 'x; DROP TABLE y'
has "bad table message" "$T/err" "is not a safe identifier"
run "bad location" 2 schema glue --schema "$SCHEMA" --location "s3://lake/it's"
has "bad location message" "$T/err" "not an s3://bucket/prefix URI"
run "bad --since" 2 schema ddl --schema "$SCHEMA" --since 2024-02-30
has "bad --since message" "$T/err" "is not a date"
if [ -w /dev/full ]; then
  "$CLI" schema ddl --schema "$SCHEMA" --location s3://lake/e >/dev/full 2>"$T/err"
  rc=$?
  if [ $rc -eq 2 ] && grep -q "cannot write" "$T/err"; then ok "write error is reported"; else ko "write error: exit $rc"; fi
fi

# ---- the schema and its examples against ajv (a second validator)
if sh "$SRC/tests/node/setup.sh" >"$T/setup.log" 2>&1; then
  if node "$SRC/tests/scripts/event_schema_ajv.mjs" "$SRC" >"$T/ajv.log" 2>&1; then
    ok "ajv: $(tail -n 1 "$T/ajv.log")"
  else
    ko "ajv: $(grep -E 'FAIL|error' "$T/ajv.log" | head -n 5)"
  fi
  # The Glue table loads the samples in DuckDB; the documented JSON queries work.
  if node "$SRC/tests/scripts/table_duckdb.mjs" "$SRC" "$T/glue.json" >"$T/duck.log" 2>&1; then
    ok "$(tail -n 1 "$T/duck.log")"
  else
    ko "duckdb: $(grep -E 'FAIL|rror' "$T/duck.log" | head -n 5)"
  fi
else
  ko "node peers setup failed: $(tail -n 3 "$T/setup.log")"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
