#!/usr/bin/env bash
# Every shell block in README.md, docs/*.md and examples/**/README.md works
# when pasted (issue 18): tests/scripts/docs_blocks.py runs each one as
# printed, in document order per file, from a scratch copy of the repository
# root whose ./build is this build. A block that cannot run here says why in
# a marker before its fence (docs/README.md, "Commands in the docs are
# tested"); an unmarked block that fails, a marker without a reason and a
# covered-by naming a missing file fail the test.
#
# The docs use 127.0.0.1:8080 and files in /tmp: the blocks run in a private
# network namespace (its own loopback, so port 8080 is free and clashes with
# nothing else on the machine or in ctest -j) with a private /tmp.
. "$(dirname "$0")/lib.sh"
SRC=${EVP_SOURCE_DIR:?}
BIN=${EVP_BINARY_DIR:?}
# 77 in a sanitizer build and in a client-only one (the docs run evpipe local).
binding_prelude "docs commands" "the docs' programs and bindings load this build's instrumented libevpipe"
command -v python3 >/dev/null || { fail "python3 not found: run scripts/install-deps"; finish; exit; }
if [ "$(id -u)" -ne 0 ] || ! unshare --net --mount true 2>/dev/null; then
  # A skip, for a contributor's non-root run; CI runs as root, and .ci/run
  # fails when this test is skipped there.
  echo "skipped: cannot make a private network namespace (unshare --net --mount needs root): the docs' port 8080 would not be private"
  exit 77
fi
# Scratch outside /tmp: /tmp is replaced by a private tmpfs in the namespace.
SCRATCH="$BIN/docs-test"
rm -rf "$SCRATCH"
mkdir -p "$SCRATCH"
t0=$(date +%s)
# shellcheck disable=SC2016
# Arguments (doc files relative to the source tree) limit the run to those.
# A source or build tree under /tmp (cmake -B /tmp/b) is bound back into the
# private /tmp, or the tmpfs would hide it.
oldtmp=$(mktemp -d /run/evp-docs-oldtmp.XXXXXX)
unshare --net --mount --propagation private sh -c '
  runner=$0 src=$1 bin=$2 scratch=$3 oldtmp=$4
  shift 4
  ip link set lo up && mount --bind /tmp "$oldtmp" &&
    mount -t tmpfs -o mode=1777 docs-test-tmp /tmp || exit
  for d in "$src" "$bin"; do
    case $d in /tmp/*) mkdir -p "$d" && mount --bind "$oldtmp${d#/tmp}" "$d" || exit ;; esac
  done
  cd "$src" || exit
  exec python3 "$runner" --timeout 240 --source "$src" --binary "$bin" --scratch "$scratch" "$@"' \
  "$SRC/tests/scripts/docs_blocks.py" "$SRC" "$BIN" "$SCRATCH" "$oldtmp" "$@" >"$TMP/run" 2>&1
rc=$?
rmdir "$oldtmp" 2>/dev/null
cat "$TMP/run"
echo "(all files: $(($(date +%s) - t0)) s)"
if [ "$rc" -eq 0 ]; then pass "every documented shell block runs or says why not"; else
  fail "documented shell blocks (see above)"
fi
# The runner's own tally, so that the summary counts blocks, not this script.
summary=$(sed -n 's/^docs blocks: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$TMP/run")
if [ -n "$summary" ]; then
  # shellcheck disable=SC2034 # read by finish
  PASS=${summary% *}
  FAIL=${summary#* }
  [ "$rc" -ne 0 ] && [ "$FAIL" -eq 0 ] && FAIL=1
fi
[ "$rc" -eq 0 ] && rm -rf "$SCRATCH"
finish
