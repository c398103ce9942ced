#!/usr/bin/env bash
# POST /events checks the bearer token from the headers before accepting the
# body: an unauthenticated 1 MB upload is answered 401 without being read
# (otherwise anyone could make the server hold max_body per connection).
. "$(dirname "$0")/lib.sh"
CLI=${EVP_CLI:?}
SRC=${EVP_SOURCE_DIR:?}
command -v curl >/dev/null || { echo "curl not found: skipped"; exit 77; }
D="$TMP/data"
mkdir -p "$D/secrets"
printf '[{"client_id":"a","client_secret":"a-secret-0123456789abcdef0123456789ab","audiences":["events"]}]\n' >"$D/secrets/clients.json"
chmod 600 "$D/secrets/clients.json"
start_local "$D" "$D/secrets/clients.json"
trap 'kill -9 $PID 2>/dev/null; rm -rf "$TMP"' EXIT
[ -n "$URL" ] && pass "server up" || { fail "server up"; finish; exit; }
head -c 1000000 /dev/zero | tr '\0' 'x' >"$TMP/big"
for auth in "" "Authorization: Bearer not.a.token"; do
  out=$(curl -s -o /dev/null -w '%{http_code} %{size_upload}' --max-time 10 -H "Expect: 100-continue" \
        -H "Content-Type: application/json" ${auth:+-H "$auth"} --data-binary @"$TMP/big" "$URL/events")
  code=${out% *}; up=${out#* }
  [ "$code" = 401 ] && pass "401 for '${auth:-no token}'" || fail "401 for '${auth:-no token}' (got $code)"
  [ "${up%.*}" -lt 1000000 ] && pass "body not read (uploaded $up of 1000000 bytes)" || fail "the server read the whole body ($up bytes) before refusing"
done
# An authorized small request still works.
TOKEN=$(curl -s -X POST "$URL/token" -d "grant_type=client_credentials&client_id=a&client_secret=a-secret-0123456789abcdef0123456789ab&audience=events" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
code=$(curl -s -o "$TMP/resp" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
  --data '{"events":[{"event_id":"3f1b6c2e-8a4d-4f7e-9b21-0c5d7e9a1f34","event_type":"app.opened","event_time":"2024-05-01T08:15:30Z","app_id":"x"}]}' "$URL/events")
[ "$code" = 200 ] && pass "authorized request accepted" || { fail "authorized request (got $code)"; cat "$TMP/resp"; }
finish
