#!/bin/bash
# deploy/aws/template.yaml: parses with the CloudFormation tags; every Ref,
# GetAtt, Sub variable, condition and DependsOn resolves; each function's
# role is least privilege; the GENERATED blocks (API Gateway model, Glue
# table) equal what `evpipe schema apigw-model|glue` print now; generating
# them again changes nothing. tests/node/template_check.mjs does the checks.
# Env: EVP_CLI, EVP_SOURCE_DIR.
. "$(dirname "$0")/lib.sh"
CLI=${EVP_CLI:?EVP_CLI must name the evpipe binary}
SRC=${EVP_SOURCE_DIR:?EVP_SOURCE_DIR must name the source root}
SCHEMA=$SRC/examples/schemas/glue-data-catalog-json-schema.json
TEMPLATE=$SRC/deploy/aws/template.yaml

command -v node >/dev/null 2>&1 || { echo "node is needed"; exit 77; }
expect_rc 0 "node peers installed" sh "$SRC/tests/node/setup.sh"
expect_rc 0 "evpipe schema apigw-model" "$CLI" schema apigw-model --schema "$SCHEMA"
cp "$TMP/out" "$TMP/model.json"
expect_rc 0 "evpipe schema glue" "$CLI" schema glue --schema "$SCHEMA" --table events \
  --location s3://example-bucket/events/
cp "$TMP/out" "$TMP/glue.json"

# The checks themselves, one line each.
node "$SRC/tests/node/template_check.mjs" template "$TEMPLATE" "$TMP/model.json" "$TMP/glue.json" \
  "$SRC/src/functions/functions.h" >"$TMP/check.log" 2>&1
rc=$?
sed 's/^/    /' "$TMP/check.log"
if [ $rc -eq 0 ] && grep -q " 0 failed$" "$TMP/check.log"; then pass "template checks: $(tail -n 1 "$TMP/check.log")"
else fail "template checks (exit $rc): $(grep -c '^FAIL' "$TMP/check.log") failed"; fi

# Regenerating from the same schema leaves the template as it is.
cp "$TEMPLATE" "$TMP/template.yaml"
expect_rc 0 "generate.mjs runs" node "$SRC/deploy/aws/generate.mjs" "$CLI" "$SCHEMA" "$TMP/template.yaml"
if cmp -s "$TEMPLATE" "$TMP/template.yaml"; then pass "template is up to date with generate.mjs"
else fail "template differs from a fresh generate.mjs run: $(diff "$TEMPLATE" "$TMP/template.yaml" | head -5 | tr '\n' ' ')"; fi

# The checker is not blind: a broken reference, a wildcard action and a stale
# generated block each make it fail.
mutate() { # NAME SED-EXPR
  sed "$2" "$TEMPLATE" >"$TMP/bad.yaml"
  if cmp -s "$TEMPLATE" "$TMP/bad.yaml"; then fail "mutation '$1' changed nothing"; return; fi
  if node "$SRC/tests/node/template_check.mjs" template "$TMP/bad.yaml" "$TMP/model.json" "$TMP/glue.json" >"$TMP/bad.log" 2>&1; then
    fail "mutation '$1' went unnoticed"
  else pass "mutation '$1' is caught: $(grep -m1 '^FAIL' "$TMP/bad.log" | cut -c1-120)"; fi
}
mutate "GetAtt of a missing resource" '0,/!GetAtt EventsQueue.Arn/s//!GetAtt EventsQueu.Arn/'
mutate "GetAtt of a missing attribute" 's/!GetAtt EventsBucket.Arn$/!GetAtt EventsBucket.Name/'
mutate "Sub of a missing resource" 's/\${EventsQueue.QueueName}"/${EventsQueue2.QueueName}"/'
mutate "DependsOn a missing resource" 's/      - TokenMethod$/      - TokenMethd/'
mutate "undefined condition" '0,/\[HasAlarmTopic,/s//[HasAlarmTopc,/'
mutate "wildcard action" 's/Action: firehose:PutRecordBatch/Action: "firehose:*"/'
mutate "wildcard resource" 's/Resource: !Ref SigningKeySecret$/Resource: "*"/'
mutate "authorizer reads the client store" 's/Resource: !Ref SigningKeySecret$/Resource: [!Ref SigningKeySecret, !Ref ClientsSecret]/'
mutate "rotation not 30 days" '0,/rate(30 days)/s//rate(90 days)/'
mutate "another runtime" '0,/Runtime: provided.al2023/s//Runtime: provided.al2/'
mutate "stale model" '0,/"maxLength": 64/s//"maxLength": 65/'
mutate "stale Glue column" '0,/"Type": "timestamp"/s//"Type": "string"/'
mutate "renamed message attribute" 's/MessageAttribute.2.Name=received_at/MessageAttribute.2.Name=receivedAt/'
finish
