#!/usr/bin/env bash
# tests/scripts/docs_blocks.py itself (the runner behind test_docs_commands):
# a block of the docs that does not run must fail the run, never pass it
# silently. Runs the runner on tiny made-up source trees (no build, no
# network namespace needed: the blocks here only use the shell).
#  - a failing block fails the run, a passing one passes it (the runner can
#    tell them apart at all);
#  - a block that ends the file's shell session early (`exit 0`, `exec`) must
#    not leave the next blocks "not run" and the run passing;
#  - a `file` marker whose text cannot be written (its directory does not
#    exist) must not stop the later blocks silently either;
#  - a fence with more than the language (```sh title="x") is a shell block.
. "$(dirname "$0")/lib.sh"
SRC=${EVP_SOURCE_DIR:?}
command -v python3 >/dev/null || { echo "python3 not found: skipped"; exit 77; }
RUNNER=$SRC/tests/scripts/docs_blocks.py

# run_doc NAME WANT_RC: run the runner on $TMP/src/README.md (written by the
# caller); the run must exit WANT_RC (0 or non-zero).
run_doc() {
  local name=$1 want=$2
  rm -rf "$TMP/scratch" && mkdir -p "$TMP/bin"
  python3 "$RUNNER" --source "$TMP/src" --binary "$TMP/bin" --scratch "$TMP/scratch" \
    --timeout 30 >"$TMP/out" 2>&1
  local got=$?
  if { [ "$want" = 0 ] && [ "$got" -eq 0 ]; } || { [ "$want" != 0 ] && [ "$got" -ne 0 ]; }; then
    pass "$name (exit $got)"
  else
    fail "$name: exit $got, wanted $([ "$want" = 0 ] && echo 0 || echo non-zero)"
    sed 's/^/    /' "$TMP/out" | head -20
  fi
}

doc() { mkdir -p "$TMP/src" && cat >"$TMP/src/README.md"; }

doc <<'EOF'
# ok
```sh
echo hello
```
EOF
run_doc "a block that works passes" 0
grep -q "docs blocks: 1 passed, 0 failed" "$TMP/out" && pass "it is counted as passed" ||
  fail "passing block not counted: $(cat "$TMP/out")"

doc <<'EOF'
# fails
```sh
false
```
EOF
run_doc "a block that fails fails the run" 1

doc <<'EOF'
# the session ends early
```sh
echo first
exit 0
```

```sh
echo second
```
EOF
run_doc "a block after one that ends the session (exit 0) is not run: the run fails" 1

doc <<'EOF'
# a file that cannot be written
<!-- docs-test: file app/hello.txt -->
```text
hello
```

```sh
echo after
```
EOF
run_doc "a block after a file marker that could not be written is not run: the run fails" 1

# An info string after the language (as GitHub and CommonMark allow: the
# first word is the language) is still a shell block, and runs.
doc <<'EOF'
# an info string
```sh title="fails"
false
```
EOF
run_doc "a shell block with more than the language in its info string runs (and fails here)" 1

finish
