#!/usr/bin/env bash
# Every example of examples/README.md runs against `evpipe local` with its
# default schema, as a user runs it: the credentials come from the client
# evpipe local creates (through examples/local-env.sh), each example must exit
# 0, and, the server stopped (which writes the lake), every event an example
# reported delivered is in the Parquet lake exactly once, with nothing else of
# that example's app_id. The C and C++ examples are the ones the project build
# made (examples/CMakeLists.txt); the Python, Go and Java ones are checked and
# run by their toolchains (missing: FAIL, run scripts/install-deps). An
# example given a wrong secret must exit non-zero: "exit 0" means delivered.
# Sanitizer builds run the C and C++ examples only (the interpreters and the
# JVM do not load the sanitizer runtime); client-only builds skip (77).
. "$(dirname "$0")/lib.sh"
SRC=${EVP_SOURCE_DIR:?}
BIN=${EVP_BINARY_DIR:?}
if [ -n "${EVP_CLIENT_ONLY:-}" ]; then
  echo "examples test skipped in a client-only build (no evpipe local to send to)"
  exit 77
fi
local_prelude
EX=$BIN/examples
for p in c/send_events c/delivery_reports c/custom_schema c/tokens cpp/send_events; do
  [ -x "$EX/$p" ] || { fail "$EX/$p is built (EVPIPE_BUILD_EXAMPLES=ON; C++: run scripts/install-deps)"; finish; exit; }
done
OTHERS=(python go java)
if [ -n "${EVP_SANITIZE:-}" ]; then
  echo "sanitizer build ($EVP_SANITIZE): the Python, Go and Java examples are skipped; C and C++ run"
  OTHERS=()
fi

# As a new user: evpipe local creates the client on its first start.
D="$TMP/data"
start_local "$D" "$D/secrets/clients.json" --fsync never --quiet ||
  { fail "evpipe local starts"; cat "$TMP/local.err"; finish; exit; }
pass "evpipe local is up at $URL"
export EVPIPE_ENDPOINT="$URL"
# shellcheck source=../../examples/local-env.sh
if . "$SRC/examples/local-env.sh" "$D/secrets/clients.json"; then pass "examples/local-env.sh exports the client"
else fail "examples/local-env.sh exports the client"; finish; exit; fi
printf '%s\n' "$EVPIPE_CLIENT_SECRET" >"$TMP/secret" && chmod 600 "$TMP/secret"

: >"$TMP/ids"
# run NAME CMD...: the example must exit 0; the event ids it printed as
# delivered are collected for the lake check.
run() {
  local name=$1
  shift
  expect_rc 0 "$name exits 0" "$@"
  [ -s "$TMP/out" ] || fail "$name printed nothing"
  grep -v "NOT delivered" "$TMP/out" | grep -o "delivered [0-9a-f-]\{36\}" | cut -d' ' -f2 >>"$TMP/ids"
  sed 's/^/    /' "$TMP/out" | tail -4
}

cd "$SRC" || exit 1 # the examples' commands run from the repository root
run "c/send_events (secret from the environment)" "$EX/c/send_events"
run "c/send_events (secret from a file)" env -u EVPIPE_CLIENT_SECRET EVPIPE_CLIENT_SECRET_FILE="$TMP/secret" "$EX/c/send_events"
run "c/delivery_reports" "$EX/c/delivery_reports"
run "c/custom_schema" "$EX/c/custom_schema" examples/c/custom_schema/checkout.schema.json
expect_grep "$TMP/out" "EVP_ERR_INVALID_EVENT: /properties/currency" "c/custom_schema: its own schema refuses the bad event at the door, with the path"
run "c/tokens" "$EX/c/tokens"
expect_grep "$TMP/out" "verified" "c/tokens: the token it signed verifies"
run "cpp/send_events" "$EX/cpp/send_events" "$URL" "$EVPIPE_CLIENT_ID" "$EVPIPE_CLIENT_SECRET" 3
run "cli/send_events.sh" env EVPIPE="$EVP_CLI" sh examples/cli/send_events.sh

for lang in "${OTHERS[@]}"; do
  case $lang in
    python)
      PY=/usr/bin/python3
      [ -x "$PY" ] || PY=$(command -v python3 || true)
      lib=$(ls "$BIN"/libevpipe.so.[0-9]* 2>/dev/null | head -1)
      if [ -z "$PY" ]; then fail "python3 not found: run scripts/install-deps"; continue; fi
      # The package from the tree (test_bindings_python.sh tests installing it).
      run "python/send_events.py" env PYTHONPATH="$SRC/bindings/python" PYTHONDONTWRITEBYTECODE=1 \
        EVPIPE_LIBRARY="$lib" "$PY" examples/python/send_events.py
      ;;
    go)
      if ! command -v go >/dev/null; then fail "go not found: run scripts/install-deps (Debian golang-go)"; continue; fi
      # Offline, caches in the build tree (as test_bindings_go.sh), the
      # binding's cgo flags pointing at this build.
      GO=(env -u GOTOOLCHAIN GOCACHE="${EVP_GO_CACHE:-$BIN/go/cache}" GOPATH="$BIN/go/path"
        GOMODCACHE="$BIN/go/path/pkg/mod" GOPROXY=off GOFLAGS=-mod=mod GO111MODULE=on GOENV=off
        CGO_ENABLED=1 CGO_CFLAGS="-I$SRC/include" CGO_LDFLAGS="-L$BIN -Wl,-rpath,$BIN" go)
      cd examples/go || exit 1
      [ -z "$(gofmt -l .)" ] && pass "gofmt (examples/go)" || fail "gofmt -l examples/go: $(gofmt -l .)"
      expect_rc 0 "go vet (examples/go)" "${GO[@]}" vet -tags evpipe_nopkgconfig .
      expect_rc 0 "go build (examples/go)" "${GO[@]}" build -tags evpipe_nopkgconfig -o "$TMP/go_send_events" .
      sed 's/^/    /' "$TMP/err" | head -5
      cd "$SRC" || exit 1
      [ -x "$TMP/go_send_events" ] && run "go/send_events.go" "$TMP/go_send_events"
      ;;
    java)
      ENVF="$BIN/bindings/java/java-test.env"
      if [ ! -f "$ENVF" ]; then fail "no JDK was found when configuring: run scripts/install-deps, then cmake"; continue; fi
      # shellcheck disable=SC1090
      . "$ENVF"
      if [ ! -f "$EVP_JAR" ]; then fail "$EVP_JAR is missing: build the evpipe_java target"; continue; fi
      expect_rc 0 "javac -Xlint:all -Werror (examples/java)" "${JAVA%/java}/javac" -Xlint:all -Werror \
        -cp "$EVP_JAR" -d "$TMP/java" examples/java/SendEvents.java
      [ -f "$TMP/java/SendEvents.class" ] &&
        run "java/SendEvents.java" "$JAVA" -cp "$EVP_JAR:$TMP/java" -Djava.library.path="$JNI_DIR" SendEvents
      ;;
  esac
done
# Not delivered means a non-zero exit (the wrong secret fails at once).
expect_rc 1 "c/send_events exits 1 when the events are not delivered (wrong secret)" \
  env EVPIPE_CLIENT_SECRET=wrong-secret-0123456789 "$EX/c/send_events"
expect_grep "$TMP/out" "NOT delivered .*EVP_ERR_AUTH" "c/send_events prints why each event was not delivered"
cd - >/dev/null || exit 1

stop_local # SIGTERM writes what is buffered to the lake
[ "$RC" = 0 ] && pass "evpipe local stopped cleanly (lake written)" || fail "evpipe local exit $RC"
# What each example sends, by its app_id (the C send-events example runs twice).
declare -A WANT=([example-c]=6 [example-c-poll]=3 [example-c-schema]=1 [cpp-example]=3 [example-cli]=3)
for lang in "${OTHERS[@]}"; do WANT[example-$lang]=3; done
printf 'SELECT event_id, app_id, count(*) AS n FROM events GROUP BY event_id, app_id\n' >"$TMP/q.sql"
expect_rc 0 "the lake can be read (DuckDB)" node "$SRC/tests/node/athena_local.mjs" "$D" "$TMP/q.sql"
cp "$TMP/out" "$TMP/lake.ndjson"
want=$(for a in "${!WANT[@]}"; do echo "$a=${WANT[$a]}"; done)
if python3 - "$TMP/lake.ndjson" "$TMP/ids" "$want" >"$TMP/cmp" <<'PY'; then pass "lake: $(cat "$TMP/cmp")"; else fail "lake: $(cat "$TMP/cmp")"; fi
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
reported = [l.strip() for l in open(sys.argv[2]) if l.strip()]
want = dict(kv.split("=") for kv in sys.argv[3].split())
stored, per_app = {}, {}
for r in rows:
    stored[r["event_id"]] = stored.get(r["event_id"], 0) + int(r["n"])
    per_app[r["app_id"]] = per_app.get(r["app_id"], 0) + int(r["n"])
problems = [f"{i} reported delivered, not in the lake" for i in reported if i not in stored]
problems += [f"{i} stored {n} times" for i, n in stored.items() if n != 1]
problems += [f"{len(reported) - len(set(reported))} ids reported twice"] if len(set(reported)) != len(reported) else []
problems += [f"{a}: {per_app.get(a, 0)} events in the lake, {n} sent" for a, n in want.items() if per_app.get(a, 0) != int(n)]
problems += [f"unexpected app_id {a} ({n})" for a, n in per_app.items() if a not in want]
print("; ".join(problems[:5]) if problems else
      f"{len(reported)} reported ids and {sum(per_app.values())} events of {len(want)} app_ids, each exactly once")
sys.exit(1 if problems or not reported else 0)
PY
finish
