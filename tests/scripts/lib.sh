# Shared helpers for script tests: `ok NAME CMD...` / `expect_rc RC NAME CMD...`
# and a closing "N passed, N failed" line.
set -u
PASS=0
FAIL=0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

pass() { PASS=$((PASS + 1)); echo "ok   - $1"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; }

# expect_rc RC NAME CMD... : run CMD, capture stdout/stderr in $TMP/out, $TMP/err.
expect_rc() {
  want=$1; name=$2; shift 2
  "$@" >"$TMP/out" 2>"$TMP/err"
  got=$?
  if [ "$got" -eq "$want" ]; then pass "$name"; else
    fail "$name (exit $got, wanted $want)"; sed 's/^/    stderr: /' "$TMP/err" | head -5
  fi
}

# expect_grep FILE PATTERN NAME
expect_grep() {
  if grep -q -- "$2" "$1"; then pass "$3"; else fail "$3 (no '$2' in $(head -c 300 "$1"))"; fi
}

finish() {
  echo "$PASS passed, $FAIL failed"
  [ "$FAIL" -eq 0 ]
}

# start_local DATA_DIR CLIENTS_FILE [ARGS...]: run `evpipe local` on a free
# loopback port (or on $LOCAL_LISTEN when set, for restarts on one address)
# in the background; sets PID and URL (URL empty when it did not come up
# within 10 s). Its stdout/stderr go to $TMP/local.out|err.
start_local() {
  local data=$1 clients=$2
  shift 2
  "${EVP_CLI:?}" local --listen "${LOCAL_LISTEN:-127.0.0.1:0}" --data "$data" \
    --schema "${EVP_SOURCE_DIR:?}/examples/schemas/glue-data-catalog-json-schema.json" \
    --clients "$clients" "$@" >"$TMP/local.out" 2>"$TMP/local.err" &
  PID=$!
  URL=""
  for _ in $(seq 1 100); do
    URL=$(sed -n 's/.*"msg":"listening","url":"\([^"]*\)".*/\1/p' "$TMP/local.err" | head -1)
    [ -n "$URL" ] && return 0
    kill -0 "$PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# stop_local: SIGTERM the server start_local started and wait for it (60 s
# at most, then SIGKILL); sets RC (137 when it had to be killed), clears PID.
stop_local() {
  kill -TERM "$PID" 2>/dev/null
  for _ in $(seq 1 600); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID"; RC=137; wait "$PID" 2>/dev/null; else wait "$PID"; RC=$?; fi
  PID=""
}

# local_token CLIENT_ID SECRET: an access token from the server at $URL.
local_token() {
  curl -s --max-time 20 -X POST "$URL/token" \
    -d "grant_type=client_credentials&client_id=$1&client_secret=$2&audience=events" |
    python3 -c "import json,sys; print(json.load(sys.stdin)['access_token'])"
}

# local_metric NAME: the value of an unlabelled metric of the server at $URL.
local_metric() { curl -s --max-time 20 "$URL/metrics" | sed -n "s/^$1 //p"; }

# local_prelude: for scripts that run `evpipe local` with start_local. Skips
# (77) without curl or python3, sets WAIT (seconds to poll for a state;
# longer under sanitizers) and kills the server on exit.
local_prelude() {
  : "${EVP_CLI:?}" "${EVP_SOURCE_DIR:?}"
  command -v curl >/dev/null || { echo "curl not found: skipped"; exit 77; }
  command -v python3 >/dev/null || { echo "python3 not found: skipped"; exit 77; }
  WAIT=20
  [ -n "${EVP_SANITIZE:-}" ] && WAIT=60
  PID=""
  trap '[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT
}

# binding_prelude WHAT WHY: a binding's test runs the language's runtime
# against `evpipe local`: skipped (77) in a client-only build, which has no
# evpipe local, and in a sanitizer build, for the reason WHY.
binding_prelude() {
  if [ -n "${EVP_SANITIZE:-}" ]; then
    echo "$1 test skipped in a sanitizer build ($2)"
    exit 77
  fi
  if [ -n "${EVP_CLIENT_ONLY:-}" ]; then
    echo "$1 test skipped in a client-only build (no evpipe local)"
    exit 77
  fi
}
