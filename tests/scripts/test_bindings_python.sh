#!/usr/bin/env bash
# The Python binding (bindings/python) as a user gets it: `pip install
# ./bindings/python` into a fresh virtual environment, offline (PIP_NO_INDEX:
# nothing may come from PyPI; the package builds with its in-tree backend),
# then its pytest suite (bindings/python/tests) against the INSTALLED package,
# this build's libevpipe.so and `evpipe local`.
. "$(dirname "$0")/lib.sh"
SRC=${EVP_SOURCE_DIR:?}
BIN=${EVP_BINARY_DIR:?}
binding_prelude "python binding" "the interpreter is not instrumented"
: "${EVP_CLI:?}"
lib=$(ls "$BIN"/libevpipe.so.[0-9]* 2>/dev/null | head -1)
[ -n "$lib" ] || { fail "libevpipe.so built"; finish; exit; }

# Debian's interpreter first: python3-pytest and python3-venv are installed
# for it by scripts/install-deps (a python3 earlier on PATH, e.g. pyenv's,
# has neither).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)
if [ -z "$PY" ] || ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
  fail "python3 with venv (python3-venv) not found: run scripts/install-deps"; finish; exit
fi
if ! "$PY" -c 'import pytest' 2>/dev/null; then
  fail "pytest for $PY (python3-pytest) not found: run scripts/install-deps"; finish; exit
fi
command -v node >/dev/null || { fail "node (the lake reader) not found: run scripts/install-deps"; finish; exit; }

VENV="$TMP/venv"
# --system-site-packages: the venv sees Debian's pytest; evpipe itself comes
# only from the install below (the source tree is never on sys.path).
expect_rc 0 "python3 -m venv" "$PY" -m venv --system-site-packages "$VENV"
expect_rc 0 "pip install ./bindings/python, offline" env PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
  "$VENV/bin/pip" install --no-cache-dir "$SRC/bindings/python"
[ "$FAIL" -eq 0 ] || { sed 's/^/    /' "$TMP/out" "$TMP/err" | tail -15; finish; exit; }

# Run from a directory outside the source tree, so `import evpipe` can only
# find the installed copy (the test asserts where it came from).
mkdir -p "$TMP/run"
cd "$TMP/run" || exit 1
expect_rc 0 "evpipe is imported from the venv" env EVPIPE_LIBRARY="$lib" "$VENV/bin/python" -c \
  "import evpipe, sys; assert evpipe.__file__.startswith(sys.prefix), evpipe.__file__; print(evpipe.version())"
expect_rc 0 "type information installed (py.typed)" "$VENV/bin/python" -c \
  "import importlib.resources as r; assert r.files('evpipe').joinpath('py.typed').is_file()"

# pytest puts only bindings/python/tests (no __init__.py, no evpipe/) on
# sys.path; EVPIPE_TEST_INSTALLED makes conftest.py check that evpipe came
# from the venv's site-packages.
env EVPIPE_LIBRARY="$lib" EVP_CLI="$EVP_CLI" EVP_SOURCE_DIR="$SRC" EVPIPE_TEST_INSTALLED=1 \
  PYTHONDONTWRITEBYTECODE=1 timeout 300 "$VENV/bin/python" -m pytest -p no:cacheprovider -v -rfE \
  --rootdir "$SRC/bindings/python/tests" "$SRC/bindings/python/tests" >"$TMP/pytest.out" 2>&1
rc=$?
# One pass/fail line per pytest case.
while read -r name result; do
  case $result in
    PASSED) pass "pytest $name" ;;
    *) fail "pytest $name ($result)" ;;
  esac
done < <(sed -n 's/^\(.*\/\)\{0,1\}\(test_[a-z_]*\.py::[^ ]*\) \(PASSED\|FAILED\|ERROR\|SKIPPED\|XFAIL\|XPASS\).*/\2 \3/p' "$TMP/pytest.out")
if [ "$rc" -ne 0 ]; then
  fail "pytest exit $rc"
  grep -E "^(E |FAILED|ERROR)" "$TMP/pytest.out" | head -40 | sed 's/^/    /'
fi
grep -q "passed" "$TMP/pytest.out" || fail "pytest ran no test"
finish
