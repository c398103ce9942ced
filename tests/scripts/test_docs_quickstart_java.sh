#!/usr/bin/env bash
# docs/java.md's quick start compiles as printed in a
# shell without a locale (a fresh Debian 12 container as root has no LANG:
# Java 17's javac then reads sources as US-ASCII, and Hello.java has an
# emoji in a string literal). Compiles Hello.java, extracted from the page,
# with the page's own javac command (build/ replaced by this build).
. "$(dirname "$0")/lib.sh"
SRC=${EVP_SOURCE_DIR:?}
BIN=${EVP_BINARY_DIR:?}
ENVF="$BIN/bindings/java/java-test.env"
[ -f "$ENVF" ] || { fail "no JDK was found when configuring (run scripts/install-deps)"; finish; exit 1; }
# shellcheck disable=SC1090
. "$ENVF"
JAVAC=$(dirname "$JAVA")/javac
[ -x "$JAVAC" ] || JAVAC=javac
sed -n '/^```java/,/^```/p' "$SRC/docs/java.md" | sed '1d;$d' >"$TMP/Hello.java"
grep -q 'class Hello' "$TMP/Hello.java" && pass "docs/java.md has Hello.java" || fail "docs/java.md has Hello.java"
cmd=$(grep -m1 '^javac ' "$SRC/docs/java.md")
[ -n "$cmd" ] && pass "docs/java.md prints a javac command" || fail "docs/java.md prints a javac command"
cmd=${cmd//build\//$BIN/}
cmd=${cmd/#javac/$JAVAC}
# shellcheck disable=SC2086
expect_rc 0 "the quick start's javac command works without a locale (LANG unset)" \
  sh -c "cd '$TMP' && env -u LANG -u LANGUAGE -u LC_ALL -u LC_CTYPE $cmd"
finish
