#!/usr/bin/env bash
# `evpipe local` over HTTP on loopback: secret files (creation, permissions),
# token issue and errors, events (per-item results, 400/401/413/415/429),
# gzip bodies and bombs, malformed HTTP, metrics, healthz, logs without
# secrets, key rotation while running, SIGTERM exits 0 with the lake flushed.
. "$(dirname "$0")/lib.sh"
CLI=${EVP_CLI:?}
SRC=${EVP_SOURCE_DIR:?}
SCHEMA=$SRC/examples/schemas/glue-data-catalog-json-schema.json
command -v curl >/dev/null || { echo "curl not found: skipped"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not found: skipped"; exit 77; }
# Sanitizer builds start and answer slower.
WAIT=20
[ -n "${EVP_SANITIZE:-}" ] && WAIT=60

PIDS=""
cleanup() {
  for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

# start NAME ARGS...: run `evpipe local` in the background on a free port;
# sets PID and URL (empty when it did not come up).
start() {
  name=$1; shift
  "$CLI" local --listen 127.0.0.1:0 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  PID=$!
  PIDS="$PIDS $PID"
  URL=""
  for _ in $(seq 1 $((WAIT * 10))); do
    URL=$(sed -n 's/.*"msg":"listening","url":"\([^"]*\)".*/\1/p' "$TMP/$name.err" | head -1)
    [ -n "$URL" ] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
}

# stop PID: SIGTERM and wait (bounded); sets RC.
stop() {
  kill -TERM "$1" 2>/dev/null
  for _ in $(seq 1 $((WAIT * 10))); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$1" 2>/dev/null; then kill -KILL "$1"; RC=137; wait "$1" 2>/dev/null; return; fi
  wait "$1"; RC=$?
}

# http NAME CURL-ARGS...: status code in $CODE, body in $TMP/NAME.body,
# headers in $TMP/NAME.hdr.
http() {
  name=$1; shift
  CODE=$(curl -s --max-time 20 -o "$TMP/$name.body" -D "$TMP/$name.hdr" -w '%{http_code}' "$@")
}

expect_code() { # WANT NAME
  if [ "$CODE" = "$1" ]; then pass "$2"; else fail "$2 (HTTP $CODE, wanted $1: $(head -c 200 "$TMP/last.body" 2>/dev/null))"; fi
}

json_get() { # FILE EXPR (python expression over j)
  python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null
}

# ------------------------------------------------------------ start-up refusals
DATA=$TMP/data
printf '[{"client_id":"a","client_secret":"0123456789abcdef","audiences":["events"]}]' >"$TMP/open.json"
chmod 644 "$TMP/open.json"
expect_rc 1 "clients file readable by others is refused" timeout $WAIT "$CLI" local --listen 127.0.0.1:0 \
  --data "$TMP/refused" --schema "$SCHEMA" --clients "$TMP/open.json"
expect_grep "$TMP/err" "chmod 600" "the refusal says how to fix it"
printf 'not json' >"$TMP/bad.json"; chmod 600 "$TMP/bad.json"
expect_rc 1 "invalid clients file is refused" timeout $WAIT "$CLI" local --listen 127.0.0.1:0 \
  --data "$TMP/refused" --schema "$SCHEMA" --clients "$TMP/bad.json"
expect_rc 2 "bad option value" "$CLI" local --rate 0 --schema "$SCHEMA"
expect_rc 2 "bad listen address (no port: a usage error)" timeout $WAIT "$CLI" local --listen nowhere --data "$TMP/refused" --schema "$SCHEMA"

# ------------------------------------------------------------ main server
start main --data "$DATA" --schema "$SCHEMA"
if [ -n "$URL" ]; then pass "server starts on a free loopback port"; else
  fail "server starts"; cat "$TMP/main.err"; echo "$PASS passed, $FAIL failed"; exit 1; fi
CLIENTS=$DATA/secrets/clients.json
ID=$(sed -n 's/^  client_id: *//p' "$TMP/main.out")
SECRET=$(sed -n 's/^  client_secret: *//p' "$TMP/main.out")
[ -n "$ID" ] && [ ${#SECRET} -eq 43 ] && pass "generated credentials printed once on stdout (32-byte secret)" \
  || fail "generated credentials ($(cat "$TMP/main.out"))"
[ "$(stat -c %a "$CLIENTS")" = 600 ] && pass "clients file created 0600" || fail "clients file mode $(stat -c %a "$CLIENTS")"
[ "$(stat -c %a "$DATA/secrets/signing-keys.json")" = 600 ] && pass "signing keys created 0600" || fail "signing keys mode"
json_get "$CLIENTS" "j[0]['client_id']" | grep -qx "$ID" && pass "clients file holds the printed client" || fail "clients file content"

# Healthz, 404, 405.
http h "$URL/healthz"; expect_code 200 "GET /healthz"
http nf "$URL/nope"; expect_code 404 "unknown path is 404"
http m405 -X DELETE "$URL/healthz"; expect_code 405 "DELETE /healthz is 405"

# ------------------------------------------------------------ tokens
http tok -X POST "$URL/token" -d "grant_type=client_credentials&client_id=$ID&client_secret=$SECRET&audience=events"
expect_code 200 "token issued"
grep -qi '^cache-control: no-store' "$TMP/tok.hdr" && pass "token response is no-store" || fail "no-store header"
TOK=$(json_get "$TMP/tok.body" "j['access_token']")
[ "$(json_get "$TMP/tok.body" "j['token_type'], j['expires_in']")" = "Bearer 1200" ] \
  && pass "token_type Bearer, expires_in 1200" || fail "token response shape $(cat "$TMP/tok.body")"
kid_of() { python3 -c "import base64,json,sys; h=sys.argv[1].split('.')[0]; print(json.loads(base64.urlsafe_b64decode(h+'='*(-len(h)%4)))['kid'])" "$1"; }
[ "$(kid_of "$TOK")" = v1 ] && pass "token kid is the signing key version v1" || fail "kid $(kid_of "$TOK")"
http basic -X POST -u "$ID:$SECRET" "$URL/token" -d "grant_type=client_credentials"
expect_code 200 "token with HTTP Basic client authentication"
http wrong -X POST "$URL/token" -d "grant_type=client_credentials&client_id=$ID&client_secret=wrong-secret-wrong"
expect_code 401 "wrong secret is 401"
[ "$(json_get "$TMP/wrong.body" "j['error']")" = invalid_client ] && pass "invalid_client" || fail "error code"
grep -qi '^www-authenticate: Basic' "$TMP/wrong.hdr" && pass "401 names the Basic scheme" || fail "WWW-Authenticate on 401"
http unk -X POST "$URL/token" -d "grant_type=client_credentials&client_id=ghost&client_secret=$SECRET"
expect_code 401 "unknown client is 401"
http grant -X POST "$URL/token" -d "grant_type=password&client_id=$ID&client_secret=$SECRET"
expect_code 400 "unsupported grant is 400"
[ "$(json_get "$TMP/grant.body" "j['error']")" = unsupported_grant_type ] && pass "unsupported_grant_type" || fail "grant error code"
http aud -X POST "$URL/token" -d "grant_type=client_credentials&client_id=$ID&client_secret=$SECRET&audience=admin"
expect_code 400 "disallowed audience is 400"
[ "$(json_get "$TMP/aud.body" "j['error']")" = invalid_target ] && pass "invalid_target" || fail "audience error code"
http tget "$URL/token"; expect_code 405 "GET /token is 405"

# ------------------------------------------------------------ events
AUTH="Authorization: Bearer $TOK"
JSON="Content-Type: application/json"
batch() { python3 -c "import sys,json; print(json.dumps({'events':[json.loads(l) for l in open(sys.argv[1]) if l.strip()]}))" "$1"; }
batch "$SRC/examples/schemas/sample-events.ndjson" >"$TMP/good.json"
NGOOD=$(grep -c . "$SRC/examples/schemas/sample-events.ndjson")
http ev -X POST "$URL/events" -H "$AUTH" -H "$JSON" --data-binary @"$TMP/good.json"
expect_code 200 "valid batch accepted"
[ "$(json_get "$TMP/ev.body" "j['accepted'], len(j['rejected'])")" = "$NGOOD 0" ] \
  && pass "all $NGOOD sample events accepted" || fail "accepted: $(cat "$TMP/ev.body")"
batch "$SRC/examples/schemas/invalid-events.ndjson" >"$TMP/bad.json"
NBAD=$(grep -c . "$SRC/examples/schemas/invalid-events.ndjson")
http evbad -X POST "$URL/events" -H "$AUTH" -H "$JSON" --data-binary @"$TMP/bad.json"
expect_code 200 "invalid events get a 200 with per-item results"
[ "$(json_get "$TMP/evbad.body" "j['accepted'], len(j['rejected']), sorted(r['index'] for r in j['rejected'])==list(range($NBAD))")" = "0 $NBAD True" ] \
  && pass "every invalid event rejected with its index" || fail "per-item: $(head -c 300 "$TMP/evbad.body")"
json_get "$TMP/evbad.body" "j['rejected'][1]['error']" | grep -q '/event_id' && pass "rejection names the failing field" || fail "error text"
http noauth -X POST "$URL/events" -H "$JSON" --data-binary @"$TMP/good.json"
expect_code 401 "no token is 401"
grep -qi '^www-authenticate: Bearer.*error="invalid_token"' "$TMP/noauth.hdr" && pass "401 carries the Bearer invalid_token challenge" || fail "Bearer challenge"
# Another last signature character (A and E both leave the unused low bits zero).
[ "${TOK: -1}" = A ] && LAST=E || LAST=A
http forged -X POST "$URL/events" -H "Authorization: Bearer ${TOK%?}$LAST" -H "$JSON" --data-binary @"$TMP/good.json"
expect_code 401 "tampered token is 401"
NONE=$(python3 -c "import base64,json;e=lambda o:base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b'=').decode();print(e({'alg':'none','typ':'JWT'})+'.'+e({'sub':'$ID','aud':'events','iss':'evpipe-local','exp':4102444800})+'.')")
http none -X POST "$URL/events" -H "Authorization: Bearer $NONE" -H "$JSON" --data-binary @"$TMP/good.json"
expect_code 401 "alg:none token is 401"
for body in 'not json' '{"events":{}}' '[]' '{"events":[1,]}'; do
  http shape -X POST "$URL/events" -H "$AUTH" -H "$JSON" --data-binary "$body"
  expect_code 400 "malformed body '$body' is 400"
done
python3 -c "print('{\"events\":[' + ','.join(['{}']*501) + ']}')" >"$TMP/many.json"
http many -X POST "$URL/events" -H "$AUTH" -H "$JSON" --data-binary @"$TMP/many.json"
expect_code 413 "501 events is 413"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$TMP/big.json"
http big -X POST "$URL/events" -H "$AUTH" -H "$JSON" --data-binary @"$TMP/big.json"
expect_code 413 "body over 1 MiB is 413 (Content-Length)"
http bigc -X POST "$URL/events" -H "$AUTH" -H "$JSON" -H "Transfer-Encoding: chunked" --data-binary @"$TMP/big.json"
expect_code 413 "chunked body over 1 MiB is 413"

# gzip: a good body, a corrupt one, a bomb.
gzip -c "$TMP/good.json" >"$TMP/good.json.gz"
http gz -X POST "$URL/events" -H "$AUTH" -H "$JSON" -H "Content-Encoding: gzip" --data-binary @"$TMP/good.json.gz"
expect_code 200 "gzip body accepted"
[ "$(json_get "$TMP/gz.body" "j['accepted']")" = "$NGOOD" ] && pass "gzip body: all events accepted" || fail "gzip accepted"
head -c 200 "$TMP/good.json.gz" >"$TMP/trunc.gz"
http gzbad -X POST "$URL/events" -H "$AUTH" -H "$JSON" -H "Content-Encoding: gzip" --data-binary @"$TMP/trunc.gz"
expect_code 400 "truncated gzip is 400"
head -c 50000000 /dev/zero | gzip -c >"$TMP/bomb.gz"
http bomb -X POST "$URL/events" -H "$AUTH" -H "$JSON" -H "Content-Encoding: gzip" --data-binary @"$TMP/bomb.gz"
expect_code 413 "gzip bomb ($(stat -c %s "$TMP/bomb.gz") bytes -> 50 MB) is 413"
http br -X POST "$URL/events" -H "$AUTH" -H "$JSON" -H "Content-Encoding: br" --data-binary @"$TMP/good.json"
expect_code 415 "unsupported Content-Encoding is 415"

# Malformed HTTP on a raw socket: the server answers 400 and keeps serving.
PORT=${URL##*:}
raw() {
  timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; printf '$1' >&3; head -c 12 <&3" 2>/dev/null
}
# A request line without a version is dropped (no response); the server lives on.
case "$(raw 'GARBAGE\r\n\r\n')" in "") pass "garbage request line: connection closed";; *) fail "garbage request line answered";; esac
case "$(raw 'GET /healthz HTTP/9.9\r\n\r\n')" in "HTTP/1.1 505") pass "unknown HTTP version is 505";; *) fail "HTTP version";; esac
case "$(raw 'GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n')" in "HTTP/1.1 400") pass "header line without a colon is 400";; *) fail "bad header line";; esac
case "$(raw 'POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n')" in "HTTP/1.1 400") pass "bad Content-Length is 400";; *) fail "bad Content-Length";; esac
# (/token: /events refuses a request without a valid token before reading any body.)
case "$(raw 'POST /token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')" in "HTTP/1.1 400") pass "bad chunk size is 400";; *) fail "bad chunk size";; esac
http alive "$URL/healthz"; expect_code 200 "still serving after malformed requests"

# ------------------------------------------------------------ rotation while running
expect_rc 0 "secret rotate" "$CLI" secret rotate --data "$DATA"
expect_grep "$TMP/out" "now v2" "rotation names the new key"
[ "$(stat -c %a "$DATA/secrets/signing-keys.json")" = 600 ] && pass "rotated keys file is 0600" || fail "rotated keys mode"
NEWKID=""
for _ in $(seq 1 $((WAIT * 2))); do
  http tok2 -X POST "$URL/token" -d "grant_type=client_credentials&client_id=$ID&client_secret=$SECRET"
  TOK2=$(json_get "$TMP/tok2.body" "j['access_token']")
  NEWKID=$(kid_of "$TOK2" 2>/dev/null)
  [ "$NEWKID" = v2 ] && break
  sleep 0.5
done
[ "$NEWKID" = v2 ] && pass "running server signs with v2 without a restart" || fail "kid after rotation: $NEWKID"
http oldtok -X POST "$URL/events" -H "$AUTH" -H "$JSON" --data-binary @"$TMP/good.json"
expect_code 200 "a token of the previous key still verifies"
http newtok -X POST "$URL/events" -H "Authorization: Bearer $TOK2" -H "$JSON" --data-binary @"$TMP/good.json"
expect_code 200 "a token of the new key verifies"
expect_rc 0 "second rotation" "$CLI" secret rotate --data "$DATA"
for _ in $(seq 1 $((WAIT * 2))); do
  http oldtok2 -X POST "$URL/events" -H "$AUTH" -H "$JSON" --data-binary '{"events":[]}'
  [ "$CODE" = 401 ] && break
  sleep 0.5
done
expect_code 401 "after two rotations the v1 token no longer verifies (only current + previous kept)"
[ "$(json_get "$DATA/secrets/signing-keys.json" "j['current'], [k['kid'] for k in j['keys']]")" = "v3 ['v3', 'v2']" ] \
  && pass "keys file holds current and previous" || fail "keys file: $(json_get "$DATA/secrets/signing-keys.json" "j['current']")"

# ------------------------------------------------------------ clients edited while running
# A new client added to the clients file (atomically, 0600) works without a restart.
python3 - "$CLIENTS" <<'PY'
import json, os, sys
p = sys.argv[1]
c = json.load(open(p))
c.append({"client_id": "added-live", "client_secret": "added-live-secret-0123456789", "audiences": ["events"]})
t = p + ".new"
fd = os.open(t, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps(c).encode()); os.fsync(fd); os.close(fd)
os.rename(t, p)
PY
for _ in $(seq 1 $((WAIT * 2))); do
  http live -X POST "$URL/token" -d "grant_type=client_credentials&client_id=added-live&client_secret=added-live-secret-0123456789"
  [ "$CODE" = 200 ] && break
  sleep 0.5
done
expect_code 200 "a client added to the clients file gets tokens without a restart"
http liveold -X POST "$URL/token" -d "grant_type=client_credentials&client_id=$ID&client_secret=$SECRET"
expect_code 200 "existing clients keep working after the reload"
expect_grep "$TMP/main.err" '"msg":"secrets reloaded' "the reload is logged"

# Concurrent requests (one thread per connection; appends share fsyncs).
cpids=""
for k in 1 2 3 4 5 6 7 8; do
  curl -s --max-time 30 -o "$TMP/par$k.body" -w '%{http_code}' -X POST "$URL/events" -H "Authorization: Bearer $TOK2" \
    -H "$JSON" --data-binary @"$TMP/good.json" >"$TMP/par$k.code" &
  cpids="$cpids $!"
done
# shellcheck disable=SC2086
wait $cpids # not a bare wait: the server is a background job too
ok_par=0
for k in 1 2 3 4 5 6 7 8; do
  [ "$(cat "$TMP/par$k.code")" = 200 ] && [ "$(json_get "$TMP/par$k.body" "j['accepted']")" = "$NGOOD" ] && ok_par=$((ok_par + 1))
done
[ $ok_par = 8 ] && pass "8 concurrent batches all accepted" || fail "concurrent batches: $ok_par of 8"

# ------------------------------------------------------------ metrics
http met "$URL/metrics"; expect_code 200 "GET /metrics"
for m in 'evpipe_http_requests_total{route="/events",code="200"}' 'evpipe_http_requests_total{route="/events",code="401"}' \
         'evpipe_events_accepted_total' 'evpipe_events_rejected_total{reason="required"}' \
         'evpipe_auth_failures_total{reason="missing"}' 'evpipe_auth_failures_total{reason="bad_alg"}' \
         'evpipe_tokens_issued_total' 'evpipe_token_errors_total{error="invalid_client"}' \
         'evpipe_queue_depth_events' 'evpipe_lake_files_total' 'evpipe_lake_bytes_total' \
         'evpipe_http_request_duration_seconds_bucket{le="+Inf"}' 'evpipe_secret_reloads_total 3'; do
  grep -qF "$m" "$TMP/met.body" && pass "metric $m" || fail "metric $m missing"
done
ACC=$(sed -n 's/^evpipe_events_accepted_total //p' "$TMP/met.body")
[ "$ACC" = $((NGOOD * 12)) ] && pass "accepted counter = $ACC" || fail "accepted counter $ACC, wanted $((NGOOD * 12))"

# ------------------------------------------------------------ shutdown
stop "$PID"
[ "$RC" = 0 ] && pass "SIGTERM: exit 0" || fail "SIGTERM exit $RC"
grep -q '"msg":"stopped"' "$TMP/main.err" && pass "clean shutdown logged" || fail "no stop log"
PARQ=$(find "$DATA/events" -name '*.parquet' 2>/dev/null | wc -l)
[ "$PARQ" -ge 1 ] && pass "the lake was flushed on shutdown ($PARQ Parquet files under events/dt=/hour=)" \
  || fail "no Parquet file under $DATA/events after shutdown"
# Logs: one JSON object per line, no secret, no token.
python3 -c "
import json,sys
for l in open(sys.argv[1]):
    json.loads(l)
" "$TMP/main.err" && pass "every log line is a JSON object" || fail "non-JSON log line"
if grep -qF -e "$SECRET" -e "$TOK" -e "$TOK2" "$TMP/main.err"; then fail "logs contain a secret or token"; else pass "logs hold no secret or token"; fi
# Without --schema: DIR/schema.json from the built-in schema, kept afterwards.
start noschema --data "$TMP/noschema"
[ -n "$URL" ] && cmp -s "$TMP/noschema/schema.json" "$SCHEMA" && pass "no --schema: the built-in schema is written to DIR/schema.json" \
  || fail "default schema ($(tail -2 "$TMP/noschema.err"))"
stop "$PID"
echo '{"type":"object","properties":{"only":{"type":"integer"}},"required":["only"]}' >"$TMP/noschema/schema.json"
start noschema2 --data "$TMP/noschema"
NID=$(sed -n 's/^  client_id: *//p' "$TMP/noschema.out"); NSEC=$(sed -n 's/^  client_secret: *//p' "$TMP/noschema.out")
http ntok -X POST "$URL/token" -d "grant_type=client_credentials&client_id=$NID&client_secret=$NSEC"
http nev -X POST "$URL/events" -H "Authorization: Bearer $(json_get "$TMP/ntok.body" "j['access_token']")" -H "$JSON" --data-binary '{"events":[{"only":1},{}]}'
[ "$(json_get "$TMP/nev.body" "j['accepted'], j['rejected'][0]['index']")" = "1 1" ] && pass "an edited DIR/schema.json is used as is" \
  || fail "edited schema: $(cat "$TMP/nev.body")"
stop "$PID"

# A restart reuses the files (no new client printed).
start again --data "$DATA" --schema "$SCHEMA"
[ -n "$URL" ] && [ ! -s "$TMP/again.out" ] && pass "restart reuses the clients file silently" || fail "restart"
stop "$PID"

# ------------------------------------------------------------ rate limiting
start rl --data "$TMP/rl" --schema "$SCHEMA" --rate 1 --burst 3 --quiet
RID=$(sed -n 's/^  client_id: *//p' "$TMP/rl.out"); RSEC=$(sed -n 's/^  client_secret: *//p' "$TMP/rl.out")
http rtok -X POST "$URL/token" -d "grant_type=client_credentials&client_id=$RID&client_secret=$RSEC"
RTOK=$(json_get "$TMP/rtok.body" "j['access_token']")
# The first 3 fit the burst; then 429 until the bucket refills (1/s), which a
# slow (sanitizer) build may reach between two requests: stop at the first 429.
codes=""
for _ in $(seq 1 10); do
  http r -X POST "$URL/events" -H "Authorization: Bearer $RTOK" -H "$JSON" --data-binary '{"events":[]}'
  codes="$codes $CODE"
  [ "$CODE" = 429 ] && break
done
case "$codes" in " 200 200 200"*" 429") pass "burst of 3 then 429 ($codes)";; *) fail "rate limit codes:$codes";; esac
grep -qi '^retry-after: [1-9]' "$TMP/r.hdr" && pass "429 carries Retry-After" || fail "Retry-After missing"
# POST /token per source address: wrong secrets and right ones alike count.
http rt -X POST "$URL/token" -d "grant_type=client_credentials&client_id=$RID&client_secret=wrong-secret-0123456789"
stop "$PID"
[ "$RC" = 0 ] && pass "second server: SIGTERM exit 0" || fail "second server exit $RC"

# Backpressure: with a backlog bound of 1 event and a batcher that waits 900 s
# before writing, the first batch is taken and the next one is held, then
# refused with 503 busy + Retry-After (nothing of it logged).
start bp --data "$TMP/bp" --schema "$SCHEMA" --max-backlog 1 --buffer-seconds 900 --quiet
BID=$(sed -n 's/^  client_id: *//p' "$TMP/bp.out"); BSEC=$(sed -n 's/^  client_secret: *//p' "$TMP/bp.out")
http btok -X POST "$URL/token" -d "grant_type=client_credentials&client_id=$BID&client_secret=$BSEC"
BTOK=$(json_get "$TMP/btok.body" "j['access_token']")
http b1 -X POST "$URL/events" -H "Authorization: Bearer $BTOK" -H "$JSON" --data-binary @"$TMP/good.json"
expect_code 200 "backpressure: the first batch is accepted"
t0=$(date +%s%N)
http b2 -X POST "$URL/events" -H "Authorization: Bearer $BTOK" -H "$JSON" --data-binary @"$TMP/good.json"
t1=$(date +%s%N)
expect_code 503 "backpressure: past --max-backlog the next batch is refused"
[ $(( (t1 - t0) / 1000000 )) -ge 1500 ] && pass "backpressure: the request was held before the 503" || fail "backpressure: 503 after $(( (t1 - t0) / 1000000 )) ms"
grep -qi '^retry-after: 1' "$TMP/b2.hdr" && pass "backpressure 503 carries Retry-After" || fail "backpressure Retry-After missing"
expect_grep "$TMP/b2.body" '"error":"busy"' "backpressure 503 names the cause"
http bm "$URL/metrics"
expect_grep "$TMP/bm.body" "evpipe_events_accepted_total $(json_get "$TMP/b1.body" "j['accepted']")\$" "only the first batch was accepted"
stop "$PID"
[ "$RC" = 0 ] && pass "backpressure server: SIGTERM exit 0 (flushes the held batch to the lake)" || fail "backpressure server exit $RC"

start trl --data "$TMP/rl" --schema "$SCHEMA" --token-rate 1 --token-burst 3 --quiet
codes=""
for _ in $(seq 1 10); do
  http tr -X POST "$URL/token" -d "grant_type=client_credentials&client_id=$RID&client_secret=guess-0123456789abcdef"
  codes="$codes $CODE"
  [ "$CODE" = 429 ] && break
done
case "$codes" in " 401 401 401"*" 429") pass "/token: 3 guesses then 429 ($codes)";; *) fail "/token rate limit codes:$codes";; esac
grep -qi '^retry-after: [1-9]' "$TMP/tr.hdr" && pass "/token 429 carries Retry-After" || fail "/token Retry-After missing"
grep -qi '^cache-control: no-store' "$TMP/tr.hdr" && pass "/token 429 is no-store" || fail "/token 429 cacheable"
expect_grep "$TMP/tr.body" '"error":"rate_limited"' "/token 429 names the error"
http trm "$URL/metrics"
expect_grep "$TMP/trm.body" 'evpipe_token_errors_total{error="rate_limited"} [1-9]' "/token throttling is counted in /metrics"
expect_rc 2 "--token-rate 0 is a usage error" "$CLI" local --token-rate 0 --schema "$SCHEMA"
stop "$PID"

finish
