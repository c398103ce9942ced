#!/usr/bin/env bash
# The Python binding (bindings/python) against this build's libevpipe.so.
. "$(dirname "$0")/lib.sh"
SRC=${EVP_SOURCE_DIR:?}
BIN=${EVP_BINARY_DIR:?}
if [ -n "${EVP_SANITIZE:-}" ]; then
  echo "python binding test skipped in a sanitizer build (the interpreter is not instrumented)"
  exit 77
fi
lib=$(ls "$BIN"/libevpipe.so.[0-9]* 2>/dev/null | head -1)
[ -n "$lib" ] || { fail "libevpipe.so built"; finish; exit; }
expect_rc 0 "python unittest" env EVPIPE_LIBRARY="$lib" PYTHONPATH="$SRC/bindings/python" \
  python3 -m unittest -v test_evpipe
grep -E "^(test_|Ran|OK|FAIL)" "$TMP/err" | sed 's/^/    /'
finish
