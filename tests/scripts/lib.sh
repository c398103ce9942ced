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
