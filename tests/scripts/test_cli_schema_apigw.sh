#!/bin/bash
# evpipe schema apigw-model: the API Gateway (draft-04) request model for
# POST /events. Output shape, options and errors; the conversion rules on a
# schema that uses each of them; and the model of the default schema run
# through a real draft-04 validator (ajv-draft-04): the sample events pass,
# the invalid examples it can express are refused.
# Env: EVP_CLI, EVP_SOURCE_DIR.
. "$(dirname "$0")/lib.sh"
CLI=${EVP_CLI:?EVP_CLI must name the evpipe binary}
SRC=${EVP_SOURCE_DIR:?EVP_SOURCE_DIR must name the source root}
SCHEMA=$SRC/examples/schemas/glue-data-catalog-json-schema.json
command -v node >/dev/null 2>&1 || { echo "node is needed"; exit 77; }

# json_is NAME FILE JS-EXPRESSION: the expression (over `m`, the parsed file) is true.
json_is() {
  if node -e 'const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
              if (!eval(process.argv[2])) { console.error(JSON.stringify(m).slice(0, 400)); process.exit(1); }' \
       "$2" "$3" 2>"$TMP/json.err"; then pass "$1"; else fail "$1: $(cat "$TMP/json.err")"; fi
}

# ---- the default schema
expect_rc 0 "apigw-model with --schema" "$CLI" schema apigw-model --schema "$SCHEMA"
cp "$TMP/out" "$TMP/model.json"
json_is "draft-04 envelope" "$TMP/model.json" \
  'm.$schema === "http://json-schema.org/draft-04/schema#" && m.type === "object" &&
   JSON.stringify(m.required) === "[\"events\"]" && m.additionalProperties === false &&
   Object.keys(m.properties).join() === "events,sent_at" &&
   JSON.stringify(m.properties.sent_at) === "{}"'
json_is "events: array of 1..500" "$TMP/model.json" \
  'const e = m.properties.events; e.type === "array" && e.minItems === 1 && e.maxItems === 500'
json_is "event schema carried over" "$TMP/model.json" \
  'const i = m.properties.events.items; i.type === "object" && i.additionalProperties === false &&
   i.required.join() === "event_id,event_type,event_time,app_id" &&
   i.properties.event_type.pattern === "^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*$" &&
   i.properties.platform.enum.length === 5 && i.properties.properties.maxProperties === 50'
json_is "formats, propertyNames and annotations dropped" "$TMP/model.json" \
  'const s = JSON.stringify(m.properties.events.items); !s.includes("\"format\"") &&
   !s.includes("propertyNames") && !s.includes("description")'
if [ ! -s "$TMP/err" ]; then pass "nothing on stderr"; else fail "stderr: $(cat "$TMP/err")"; fi
expect_rc 0 "built-in schema without --schema" "$CLI" schema apigw-model
if cmp -s "$TMP/out" "$TMP/model.json"; then pass "built-in schema gives the same model"; else fail "built-in model differs"; fi
expect_rc 0 "schema from stdin" sh -c '"$0" schema apigw-model --schema - <"$1"' "$CLI" "$SCHEMA"
if cmp -s "$TMP/out" "$TMP/model.json"; then pass "stdin gives the same model"; else fail "stdin model differs"; fi
expect_rc 0 "--max-events 3" "$CLI" schema apigw-model --schema "$SCHEMA" --max-events=3
cp "$TMP/out" "$TMP/model3.json"
json_is "maxItems 3" "$TMP/model3.json" 'm.properties.events.maxItems === 3'
expect_rc 0 "schema apigw-model --help" "$CLI" schema apigw-model --help
expect_grep "$TMP/out" "apigw-model" "help names apigw-model"

# ---- errors: exit 2 with the reason
expect_rc 2 "--max-events 0" "$CLI" schema apigw-model --max-events 0
expect_grep "$TMP/err" "not a number in 1..10000" "--max-events 0 message"
expect_rc 2 "--max-events 10001" "$CLI" schema apigw-model --max-events 10001
expect_rc 2 "--max-events abc" "$CLI" schema apigw-model --max-events abc
expect_rc 2 "--max-events without value" "$CLI" schema apigw-model --max-events
expect_rc 2 "unexpected argument" "$CLI" schema apigw-model extra
expect_grep "$TMP/err" "unexpected argument 'extra'" "unexpected argument message"
expect_rc 2 "--table is not an apigw-model option" "$CLI" schema apigw-model --table x
expect_rc 2 "missing file" "$CLI" schema apigw-model --schema "$TMP/nope.json"
expect_grep "$TMP/err" "cannot open schema" "missing file message"
printf '{"type":' >"$TMP/bad.json"
expect_rc 2 "invalid JSON" "$CLI" schema apigw-model --schema "$TMP/bad.json"
printf '{"type":"object","minLength":-1}' >"$TMP/invalid.json"
expect_rc 2 "not a valid draft-07 schema" "$CLI" schema apigw-model --schema "$TMP/invalid.json"
printf '{"properties":{"a":{"$ref":"https://example.com/s.json"}}}' >"$TMP/remote.json"
expect_rc 2 "remote \$ref" "$CLI" schema apigw-model --schema "$TMP/remote.json"
printf '{"properties":{"a":{"$id":"http://example.com/a","type":"string"}}}' >"$TMP/id.json"
expect_rc 2 "nested \$id" "$CLI" schema apigw-model --schema "$TMP/id.json"
expect_grep "$TMP/err" "nested \$id" "nested \$id message"
printf '{"properties":{"a":{"if":{"type":"string"}},"b":{"$ref":"#/properties/a/if"}}}' >"$TMP/into.json"
expect_rc 2 "\$ref into a dropped keyword" "$CLI" schema apigw-model --schema "$TMP/into.json"
expect_grep "$TMP/err" "keyword the model does not keep" "\$ref into a dropped keyword message"

# ---- each conversion rule
cat >"$TMP/rules.json" <<'JSON'
{"$schema":"http://json-schema.org/draft-07/schema#","$id":"https://example.com/ev.json","$comment":"x",
 "type":"object","title":"t","required":["c"],
 "definitions":{"pos":{"type":"number","exclusiveMinimum":0},"self":{"$ref":"#/properties/c"}},
 "properties":{
   "c":{"const":"a","description":"d","examples":["a"]},
   "lo":{"type":"number","minimum":1,"exclusiveMinimum":1,"maximum":10,"exclusiveMaximum":20},
   "hi":{"type":"integer","exclusiveMaximum":5},
   "t":true,"f":false,
   "cond":{"type":"string","format":"date-time","if":{"minLength":3},"then":{"maxLength":9},"else":{"pattern":"x"}},
   "arr":{"type":"array","contains":{"type":"string"},"items":[{"type":"string"},true],"additionalItems":false},
   "obj":{"type":"object","propertyNames":{"maxLength":3},"required":[],
          "dependencies":{"a":[],"b":["c"],"d":{"required":["e"]}},"additionalProperties":{"$ref":"#/definitions/pos"}},
   "r1":{"$ref":"#/definitions/self"},"r2":{"$ref":"#"},"r3":{"$ref":"#/properties/lo","type":"string"},
   "none":{"enum":[]},"mismatch":{"const":1,"enum":[2,3]},
   "comb":{"anyOf":[{"type":"string"},{"type":"null"}],"not":{"const":"z"}}
 }}
JSON
expect_rc 0 "conversion rules schema" "$CLI" schema apigw-model --schema "$TMP/rules.json"
cp "$TMP/out" "$TMP/rules.out"
P='const p = m.properties.events.items.properties; const eq = (a, b) => JSON.stringify(a) === JSON.stringify(b);'
json_is "const -> enum of one; annotations dropped" "$TMP/rules.out" "$P eq(p.c, {enum: [\"a\"]})"
json_is "exclusive bounds -> draft-04 booleans, tighter bound wins" "$TMP/rules.out" \
  "$P eq(p.lo, {type: \"number\", minimum: 1, exclusiveMinimum: true, maximum: 10}) &&
   eq(p.hi, {type: \"integer\", maximum: 5, exclusiveMaximum: true})"
json_is "boolean schemas -> {} and {not:{}}" "$TMP/rules.out" "$P eq(p.t, {}) && eq(p.f, {not: {}})"
json_is "format and if/then/else dropped" "$TMP/rules.out" "$P eq(p.cond, {type: \"string\"})"
json_is "contains dropped, tuple items kept" "$TMP/rules.out" \
  "$P eq(p.arr, {type: \"array\", items: [{type: \"string\"}, {}], additionalItems: false})"
json_is "propertyNames and empty required dropped; dependencies kept" "$TMP/rules.out" \
  "$P eq(p.obj, {type: \"object\", dependencies: {b: [\"c\"], d: {required: [\"e\"]}}, additionalProperties: {\$ref: \"#/definitions/pos\"}})"
json_is "definitions hoisted to the root, converted" "$TMP/rules.out" \
  'JSON.stringify(m.definitions) === JSON.stringify({pos: {type: "number", minimum: 0, exclusiveMinimum: true}, self: {$ref: "#/properties/events/items/properties/c"}})'
json_is "local refs rewritten below events.items; siblings of \$ref ignored" "$TMP/rules.out" \
  "$P eq(p.r1, {\$ref: \"#/definitions/self\"}) && eq(p.r2, {\$ref: \"#/properties/events/items\"}) &&
   eq(p.r3, {\$ref: \"#/properties/events/items/properties/lo\"})"
json_is "empty enum and const outside enum -> nothing valid" "$TMP/rules.out" \
  "$P eq(p.none, {not: {}}) && eq(p.mismatch, {not: {}})"
json_is "anyOf / not converted" "$TMP/rules.out" \
  "$P eq(p.comb, {anyOf: [{type: \"string\"}, {type: \"null\"}], not: {enum: [\"z\"]}})"
json_is "root keywords kept, root annotations dropped" "$TMP/rules.out" \
  'const i = m.properties.events.items; i.type === "object" && i.required.join() === "c" && !("$comment" in i) && !("$id" in i) && !("title" in i)'

# ---- a real draft-04 validator on the default model
expect_rc 0 "node peers installed" sh "$SRC/tests/node/setup.sh"
node "$SRC/tests/node/template_check.mjs" model "$TMP/model.json" "$SRC" >"$TMP/ajv.log" 2>&1
rc=$?
sed 's/^/    /' "$TMP/ajv.log"
if [ $rc -eq 0 ]; then pass "ajv-draft-04: $(tail -n 1 "$TMP/ajv.log")"; else fail "ajv-draft-04 (exit $rc)"; fi
node -e '
  const Ajv4 = require(process.argv[1] + "/tests/node/node_modules/ajv-draft-04").default;
  const v = new Ajv4({ strict: false }).compile(JSON.parse(require("fs").readFileSync(process.argv[2], "utf8")));
  process.exit(v({ events: [{ c: "a", lo: 2, r2: { c: "a" }, obj: { k: 1 } }] }) && !v({ events: [{ c: "a", lo: 1 }] }) ? 0 : 1);
' "$SRC" "$TMP/rules.out" 2>"$TMP/r.err"
if [ $? -eq 0 ]; then pass "the rules model compiles and its references resolve (ajv-draft-04)"; else fail "rules model: $(head -c 300 "$TMP/r.err")"; fi
node "$SRC/tests/node/template_check.mjs" model "$TMP/model3.json" "$SRC" 3 >"$TMP/ajv3.log" 2>&1
if [ $? -eq 0 ]; then pass "--max-events 3 model: $(tail -n 1 "$TMP/ajv3.log")"; else fail "--max-events 3 model: $(grep FAIL "$TMP/ajv3.log" | head -3)"; fi
finish
