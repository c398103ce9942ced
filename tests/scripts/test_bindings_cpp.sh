#!/usr/bin/env bash
# The C++ wrapper (include/evpipe/evpipe.hpp) against `evpipe local`: the test
# programs built with g++ and clang++ (bindings/cpp/CMakeLists.txt; ASan+UBSan)
# send events that must be delivered and reported once each and reject a
# wrong secret with EVP_ERR_AUTH; examples/cpp/send_events delivers; then,
# the server stopped (which flushes the lake), every event_id the reports
# gave is in the Parquet lake exactly once, and nothing else of those apps.
. "$(dirname "$0")/lib.sh"
local_prelude
SRC=${EVP_SOURCE_DIR:?}
BIN=${EVP_BINARY_DIR:?}/bindings/cpp
if [ -n "${EVP_CLIENT_ONLY:-}" ]; then
  echo "C++ end-to-end test skipped: a client-only build has no evpipe local"
  exit 77
fi
progs=("$BIN/test_evpipe_cpp")
[ -z "${EVP_SANITIZE:-}" ] && progs+=("$BIN/test_evpipe_cpp_clang") # see bindings/cpp/CMakeLists.txt
EXAMPLE=$EVP_BINARY_DIR/examples/cpp/send_events # examples/CMakeLists.txt
for p in "${progs[@]}" "$EXAMPLE"; do
  [ -x "$p" ] || { fail "$p is built (a C++ compiler, g++ and clang++: run scripts/install-deps)"; finish; exit; }
done
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

D="$TMP/data"
mkdir -p "$D/secrets"
SECRET=cpp-secret-0123456789abcdef0123456789
printf '[{"client_id":"cpp-app","client_secret":"%s","audiences":["events"]}]\n' "$SECRET" >"$D/secrets/clients.json"
chmod 600 "$D/secrets/clients.json"
start_local "$D" "$D/secrets/clients.json" --fsync never --quiet
if [ -n "$URL" ]; then pass "evpipe local is up at $URL"; else fail "evpipe local did not start"; cat "$TMP/local.err"; finish; exit; fi

: >"$TMP/ids"
for p in "${progs[@]}"; do
  tag=$(basename "$p")
  expect_rc 0 "$tag: all tests pass against evpipe local" env EVP_CPP_ENDPOINT="$URL" \
    EVP_CPP_CLIENT_ID=cpp-app EVP_CPP_SECRET="$SECRET" EVP_CPP_TAG="$tag" EVP_CPP_IDS_OUT="$TMP/ids" "$p"
  grep -E "^(FAIL|ok  )|passed" "$TMP/out" | sed 's/^/    /'
done
expect_rc 0 "examples/cpp/send_events delivers 7 events" "$EXAMPLE" "$URL" cpp-app "$SECRET" 7
expect_grep "$TMP/out" "^7 delivered, 0 failed, 0 pending" "send_events prints its summary"
sed -n 's/^delivered \([0-9a-f-]*\) .*/\1/p' "$TMP/out" >>"$TMP/ids"

# Installed: the header is in the prefix, and the example builds with
# pkg-config and with find_package(evpipe) (docs/cpp.md) and delivers.
if [ -z "${EVP_SANITIZE:-}" ]; then
  P="$TMP/prefix"
  expect_rc 0 "cmake --install" cmake --install "$EVP_BINARY_DIR" --prefix "$P"
  LIBDIR=$(cd "$P" && ls -d lib* | head -1)
  [ -f "$P/include/evpipe/evpipe.hpp" ] && pass "evpipe.hpp installed" || fail "evpipe.hpp installed"
  # shellcheck disable=SC2046
  expect_rc 0 "pkg-config build of examples/cpp" g++ -std=c++17 -Wall -Wextra -pedantic -Werror \
    "$SRC/examples/cpp/send_events.cpp" -o "$TMP/ex_pc" \
    $(PKG_CONFIG_PATH="$P/$LIBDIR/pkgconfig" pkg-config --cflags --libs evpipe) -Wl,-rpath,"$P/$LIBDIR"
  expect_rc 0 "find_package build of examples/cpp" sh -c "cmake -S '$SRC/examples/cpp' -B '$TMP/ex_cm' \
    -DCMAKE_PREFIX_PATH='$P' -DCMAKE_BUILD_RPATH='$P/$LIBDIR' && cmake --build '$TMP/ex_cm'"
  for how in pc cm; do
    ex="$TMP/ex_pc"
    [ "$how" = cm ] && ex="$TMP/ex_cm/send_events"
    expect_rc 0 "installed example ($how build) delivers 3 events" "$ex" "$URL" cpp-app "$SECRET" 3
    sed -n 's/^delivered \([0-9a-f-]*\) .*/\1/p' "$TMP/out" >>"$TMP/ids"
  done
fi
want=$(sort -u "$TMP/ids" | wc -l)
n=$(wc -l <"$TMP/ids")
extra=0
[ -z "${EVP_SANITIZE:-}" ] && extra=6
[ "$n" -eq "$want" ] && [ "$n" -eq $((40 * ${#progs[@]} + 7 + extra)) ] && pass "$n distinct event_ids reported delivered" ||
  fail "event_ids reported: $n lines, $want distinct"

stop_local
[ "$RC" = 0 ] && pass "evpipe local stopped cleanly (lake flushed)" || fail "evpipe local exit $RC"
# Every app_id these programs used, each event_id with how often it is stored.
printf "SELECT event_id, count(*) AS n FROM events WHERE app_id LIKE 'test_evpipe_cpp%%' OR app_id = 'cpp-example' GROUP BY event_id\n" >"$TMP/q.sql"
expect_rc 0 "the lake can be read (DuckDB)" node "$SRC/tests/node/athena_local.mjs" "$D" "$TMP/q.sql"
python3 - "$TMP/out" "$TMP/ids" >"$TMP/cmp" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
stored = {r["event_id"]: int(r["n"]) for r in rows}
sent = [l.strip() for l in open(sys.argv[2]) if l.strip()]
missing = [i for i in sent if i not in stored]
twice = [i for i, n in stored.items() if n != 1]
extra = set(stored) - set(sent)
print(f"{len(sent)} reported, {len(stored)} stored, {len(missing)} missing, {len(twice)} not once, {len(extra)} unexpected")
sys.exit(1 if missing or twice or extra or not sent else 0)
PY
if [ $? -eq 0 ]; then pass "lake: every reported event exactly once ($(cat "$TMP/cmp"))"; else fail "lake: $(cat "$TMP/cmp")"; fi
finish
