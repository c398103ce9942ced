#!/bin/bash
# evpipe validate: exit codes (0 valid, 1 invalid, 2 usage/IO), the
# "line N: <instance path>: <message>" stderr format, --json output,
# --max-errors, stdin input, blank lines, bad schemas and bad JSON lines.
# Env: EVP_CLI (the evpipe binary), EVP_SOURCE_DIR (source root).
set -u
CLI=${EVP_CLI:?EVP_CLI must name the evpipe binary}
SRC=${EVP_SOURCE_DIR:?EVP_SOURCE_DIR must name the source root}
. "$SRC/tests/scripts/lib.sh"
SCHEMA=$SRC/examples/schemas/glue-data-catalog-json-schema.json
SAMPLES=$SRC/examples/schemas/sample-events.ndjson
INVALID=$SRC/examples/schemas/invalid-events.ndjson

V='{"event_id":"4f8c2a52-7f0e-4b8e-9a57-2f0e7f4c1d11","event_type":"app.opened","event_time":"2024-05-01T12:00:00Z","app_id":"demo"}'

expect_rc 0 "sample events are valid" "$CLI" validate --schema "$SCHEMA" "$SAMPLES"
[ -s "$TMP/err" ] && fail "valid input prints nothing on stderr" || pass "valid input prints nothing on stderr"

expect_rc 1 "invalid events exit 1" "$CLI" validate --schema "$SCHEMA" "$INVALID"
n_lines=$(grep -c . "$INVALID")
n_err_lines=$(cut -d: -f1 "$TMP/err" | sort -u | grep -c '^line ')
[ "$n_err_lines" -eq "$n_lines" ] && pass "every invalid line is reported ($n_lines)" || fail "every invalid line is reported ($n_err_lines of $n_lines)"
expect_grep "$TMP/err" '^line 2: /event_id: must be a valid uuid$' "format error names the field"
expect_grep "$TMP/err" '^line 1: : missing required property "event_id"$' "root errors have the empty pointer"

# stdin, blank lines, line numbers counted over blank lines
printf '%s\n\n   \n{"event_id":"x"}\n' "$V" >"$TMP/in"
expect_rc 1 "stdin via -" sh -c "'$CLI' validate --schema '$SCHEMA' - <'$TMP/in'"
expect_grep "$TMP/err" '^line 4: /event_id: must be a valid uuid$' "line numbers include blank lines"
expect_grep "$TMP/err" '^line 4: : missing required property "event_type"$' "several errors per line"
printf '%s\n' "$V" | "$CLI" validate --schema "$SCHEMA" >"$TMP/out" 2>"$TMP/err"
[ $? -eq 0 ] && pass "stdin without FILE" || fail "stdin without FILE"

# --max-errors 1 stops at the first error
printf '{"event_id":"x"}\n' >"$TMP/one"
expect_rc 1 "--max-errors 1" "$CLI" validate --schema "$SCHEMA" --max-errors 1 "$TMP/one"
[ "$(wc -l <"$TMP/err")" -eq 1 ] && pass "--max-errors 1 reports one error" || fail "--max-errors 1 reports one error ($(wc -l <"$TMP/err"))"
expect_rc 2 "--max-errors 0 is a usage error" "$CLI" validate --schema "$SCHEMA" --max-errors 0 "$TMP/one"

# --json
printf '%s\n{"event_id":"x"}\n' "$V" >"$TMP/two"
expect_rc 1 "--json invalid" "$CLI" validate --schema "$SCHEMA" --json "$TMP/two"
expect_grep "$TMP/out" '^{"line":1,"valid":true}$' "--json valid line"
expect_grep "$TMP/out" '{"instancePath":"/event_id","schemaPath":"#/properties/event_id/format","keyword":"format","message":"must be a valid uuid"}' "--json error object"
[ -s "$TMP/err" ] && fail "--json keeps stderr empty" || pass "--json keeps stderr empty"
if command -v python3 >/dev/null; then
  python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$TMP/out" && pass "--json output parses" || fail "--json output parses"
fi

# malformed JSON lines are invalid documents (exit 1), not I/O errors
printf '{"a":\n[1,2\n' >"$TMP/bad"
expect_rc 1 "malformed JSON exits 1" "$CLI" validate --schema "$SCHEMA" "$TMP/bad"
expect_grep "$TMP/err" '^line 1: : unexpected end of input at byte 5$' "parse error has a byte offset"
expect_grep "$TMP/err" '^line 2: ' "second malformed line reported"

# usage and I/O errors: exit 2
expect_rc 2 "no --schema" "$CLI" validate "$SAMPLES"
expect_grep "$TMP/err" "--schema is required" "no --schema says why"
expect_rc 2 "missing schema file" "$CLI" validate --schema "$TMP/nope.json" "$SAMPLES"
expect_rc 2 "missing input file" "$CLI" validate --schema "$SCHEMA" "$TMP/nope.ndjson"
expect_rc 2 "unknown option" "$CLI" validate --schema "$SCHEMA" --frobnicate "$SAMPLES"
expect_rc 2 "two inputs" "$CLI" validate --schema "$SCHEMA" "$SAMPLES" "$SAMPLES"
printf '{"type": "object",' >"$TMP/broken.json"
expect_rc 2 "schema is not JSON" "$CLI" validate --schema "$TMP/broken.json" "$SAMPLES"
expect_grep "$TMP/err" "EVP_ERR_JSON" "schema JSON error named"
printf '{"pattern": "(unclosed"}' >"$TMP/re.json"
expect_rc 2 "schema with a bad regex" "$CLI" validate --schema "$TMP/re.json" "$SAMPLES"
expect_grep "$TMP/err" "EVP_ERR_SCHEMA_REGEX" "regex error named"
printf '{"$ref": "http://example.com/remote.json"}' >"$TMP/ref.json"
expect_rc 2 "schema with an unresolvable remote ref" "$CLI" validate --schema "$TMP/ref.json" "$SAMPLES"
expect_grep "$TMP/err" "EVP_ERR_SCHEMA_REF" "ref error named"
expect_rc 0 "--help" "$CLI" validate --help
expect_grep "$TMP/out" "line N: <instance path>: <message>" "--help documents the error format"

finish
