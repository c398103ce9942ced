#!/usr/bin/env bash
# `evpipe send` keeps the detail a new user needs (issue 18), against
# `evpipe local` with its default schema and an SDK without one, so the
# server is the door for events that are JSON objects:
#  - every event not delivered is named by FILE:LINE and its reason, the
#    server's rejections as well as the SDK's refusals, at most 10 lines per
#    reason (the summary says how many more);
#  - one summary, on stdout (diagnostics on stderr), and exit 0 only when
#    every event was delivered;
#  - --set client.secret next to --client-secret-file is a usage error
#    naming both;
#  - a file that cannot be opened says which file (input, client secret,
#    schema) and why; the secret file is called a client secret file.
. "$(dirname "$0")/lib.sh"
if [ -n "${EVP_CLIENT_ONLY:-}" ]; then echo "needs evpipe local: skipped in a client-only build"; exit 77; fi
local_prelude
CLI=$EVP_CLI

DATA=$TMP/data
printf '[{"client_id":"m","client_secret":"m-secret-0123456789abcdef0123456789","audiences":["events"]}]' >"$TMP/clients.json"
chmod 600 "$TMP/clients.json"
printf 'm-secret-0123456789abcdef0123456789\n' >"$TMP/secret"
chmod 600 "$TMP/secret"
start_local "$DATA" "$TMP/clients.json" --quiet || { fail "evpipe local starts"; cat "$TMP/local.err"; finish; exit 1; }
send() { "$CLI" send --endpoint "$URL" --client-id m --client-secret-file "$TMP/secret" --audience events "$@"; }

ok='{"event_type":"a.b","app_id":"x"}'
cd "$TMP" || exit 1
{
  echo "$ok"                    # 1 delivered
  echo 'not json'               # 2 refused by the SDK
  echo '{"app_id":"x"}'         # 3 rejected by the server: no event_type
  echo ''                       # 4 blank: skipped
  echo "$ok"                    # 5 delivered
  echo '{"event_type":"a.b"}'   # 6 rejected by the server: no app_id
} >in.ndjson

# a. Line numbers and reasons for every event not delivered.
expect_rc 1 "some events not delivered: exit 1" send in.ndjson
expect_grep "$TMP/err" "in.ndjson:2: .*EVP_ERR_JSON" "SDK refusal: file:line and EVP_ERR_JSON"
expect_grep "$TMP/err" "in.ndjson:3: .*event_type" "server rejection: file:line and the missing event_type"
expect_grep "$TMP/err" "in.ndjson:6: .*app_id" "server rejection: file:line and the missing app_id"
grep -Eq "in.ndjson:(1|4|5):" "$TMP/err" && fail "a delivered or blank line is listed: $(cat "$TMP/err")" ||
  pass "delivered and blank lines are not listed"

# b. One summary, on stdout; none on stderr.
expect_grep "$TMP/out" "delivered: 2  rejected: 2  failed: 0" "summary on stdout: delivered, rejected, failed"
expect_grep "$TMP/out" "refused: 1" "summary on stdout: refused"
grep -Eq "queued=|delivered:" "$TMP/err" && fail "a second summary on stderr: $(cat "$TMP/err")" ||
  pass "no second summary on stderr"
[ "$(grep -c "delivered" "$TMP/out")" = 1 ] && pass "one summary line with the counts" ||
  fail "summary lines: $(cat "$TMP/out")"
{ echo "$ok"; echo "$ok"; } >good.ndjson
expect_rc 0 "every event delivered: exit 0" send good.ndjson
expect_grep "$TMP/out" "delivered: 2  rejected: 0  failed: 0" "all-delivered summary on stdout"
[ ! -s "$TMP/err" ] && pass "nothing on stderr when all is well" || fail "stderr: $(cat "$TMP/err")"
expect_rc 0 "--help" "$CLI" send --help
expect_grep "$TMP/out" "stdout" "--help says where the summary goes"
expect_grep "$TMP/out" "[Ee]xit status" "--help gives the exit status"

# a (bounded). 25 rejections of one reason: 10 listed, the rest counted.
for i in $(seq 1 25); do echo '{"app_id":"x"}'; done >many.ndjson
expect_rc 1 "25 rejections: exit 1" send many.ndjson
n=$(grep -c "many.ndjson:[0-9]*: " "$TMP/err")
[ "$n" = 10 ] && pass "10 of 25 lines listed for one reason" || fail "$n lines listed: $(head -c 600 "$TMP/err")"
expect_grep "$TMP/err" "many.ndjson:1: " "the first is listed"
expect_grep "$TMP/out" "15 more" "the summary says how many more were not listed"

# f. Two sources of one setting: a usage error naming both.
expect_rc 2 "--set client.secret with --client-secret-file: exit 2" send --set client.secret=x good.ndjson
expect_grep "$TMP/err" "client.secret" "names --set client.secret"
expect_grep "$TMP/err" "--client-secret-file" "names --client-secret-file"
expect_rc 2 "--set endpoint with --endpoint: exit 2" send --set endpoint=http://127.0.0.1:9 good.ndjson
expect_grep "$TMP/err" "--endpoint" "names --endpoint"

# g. Files that cannot be opened: which, and why.
expect_rc 2 "missing input: exit 2" send nofile.ndjson
expect_grep "$TMP/err" "nofile.ndjson: No such file or directory" "missing input: the file and the reason"
expect_grep "$TMP/err" "; " "missing input: what to do"
expect_rc 2 "missing secret file: exit 2" "$CLI" send --endpoint "$URL" --client-id m --client-secret-file nosecret good.ndjson
expect_grep "$TMP/err" "client secret file nosecret: No such file or directory" "missing secret file: the file and the reason"
expect_rc 2 "missing schema: exit 2" send --schema noschema.json good.ndjson
expect_grep "$TMP/err" "noschema.json: No such file or directory" "missing schema: the file and the reason"

# h. The secret file is a client secret file, not a key file.
printf 'x\n' >loose
chmod 644 loose
expect_rc 2 "group-readable secret file: exit 2" "$CLI" send --endpoint "$URL" --client-id m --client-secret-file loose good.ndjson
expect_grep "$TMP/err" "client secret file loose" "called a client secret file"
expect_grep "$TMP/err" "chmod 600" "says what to do"
grep -q "key file" "$TMP/err" && fail "still called a key file: $(cat "$TMP/err")" || pass "not called a key file"

# i. https:// to evpipe local (plain HTTP): the message says so and what to
# do on stderr, and the summary on stdout keeps each reason whole, as its
# FILE:LINE line has it (it was cut at 159 bytes: "... not TLS; use http:// f").
# (Which reason the events end with varies: evpipe local sometimes resets
# the connection before its 400 is read, and OpenSSL then says only
# SSL_ERROR_SYSCALL; the retries before it say plain HTTP.)
expect_rc 1 "https:// to the plain-HTTP server: exit 1" "$CLI" send --endpoint "${URL/http:/https:}" \
  --client-id m --client-secret-file "$TMP/secret" --audience events --unreachable-timeout 1500 good.ndjson
expect_grep "$TMP/err" "plain HTTP, not TLS; use http:// for evpipe local" "https to plain HTTP: stderr says so and what to do"
reason=$(sed -n 's/^good.ndjson:1: //p' "$TMP/err" | head -1)
[ -n "$reason" ] && grep -qF -- "$reason" "$TMP/out" && pass "https to plain HTTP: the summary keeps the reason whole (${#reason} bytes)" ||
  fail "https to plain HTTP: summary cut: reason '$reason' not in: $(cat "$TMP/out")"
# Whichever way the handshake ended (the 400 read: "wrong version number"; a
# reset first: SSL_ERROR_SYSCALL), the event's final reason says to use http://.
case $reason in
  *"use http://"*) pass "https to plain HTTP: the final reason says to use http://" ;;
  *) fail "https to plain HTTP: final reason without the advice: '$reason'" ;;
esac

# j. Option values: one message each, naming the option, its value and the
# range ("--set" alone printed two messages; "--timeout abc" said only that
# both timeouts must be milliseconds).
expect_rc 2 "--set without a value: exit 2" send --set
[ "$(wc -l <"$TMP/err")" -eq 1 ] && pass "--set without a value: one message" || fail "--set without a value: $(cat "$TMP/err")"
expect_grep "$TMP/err" "option --set needs a value" "--set without a value: says so"
expect_rc 2 "--timeout abc: exit 2" send --timeout abc good.ndjson
expect_grep "$TMP/err" "--timeout abc" "--timeout abc: names the option and the value"
expect_grep "$TMP/err" "0..86400000" "--timeout abc: gives the range"
expect_rc 2 "--unreachable-timeout -1: exit 2" send --unreachable-timeout -1 good.ndjson
expect_grep "$TMP/err" "--unreachable-timeout -1" "--unreachable-timeout -1: names the option and the value"

stop_local
finish
