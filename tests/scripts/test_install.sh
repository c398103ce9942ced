#!/usr/bin/env bash
# Install libevpipe to a temporary prefix and build the C examples against it
# (examples/c): the tokens example four ways, pkg-config and find_package,
# each dynamically and statically; the send-events example with pkg-config and
# (with every C example) with find_package.
. "$(dirname "$0")/lib.sh"
SRC=${EVP_SOURCE_DIR:?}
BIN=${EVP_BINARY_DIR:?}
if [ -n "${EVP_SANITIZE:-}" ]; then
  echo "install test skipped in a sanitizer build (instrumented libraries)"
  exit 77
fi
P="$TMP/prefix"
expect_rc 0 "cmake --install" cmake --install "$BIN" --prefix "$P"
LIBDIR=$(cd "$P" && ls -d lib* | head -1)
for f in include/evpipe/evpipe.h include/evpipe/jwt.h "$LIBDIR/libevpipe.a" "$LIBDIR/pkgconfig/evpipe.pc" \
         "$LIBDIR/cmake/evpipe/evpipeConfig.cmake" bin/evpipe; do
  if [ -e "$P/$f" ]; then pass "installed $f"; else fail "installed $f"; fi
done
if ls "$P/$LIBDIR"/libevpipe.so.* >/dev/null 2>&1; then pass "installed versioned libevpipe.so"; else fail "libevpipe.so.N"; fi
# Only evp_ symbols are exported from the shared library.
bad=$(nm -D --defined-only "$P/$LIBDIR"/libevpipe.so | awk '$2 ~ /[TDBR]/ {print $3}' | grep -v '^evp_' | grep -v '^_' || true)
if [ -z "$bad" ]; then pass "shared library exports only evp_ symbols"; else fail "non-evp_ exports: $(echo $bad | head -c 200)"; fi

export PKG_CONFIG_PATH="$P/$LIBDIR/pkgconfig"
TOKENS="$SRC/examples/c/tokens/tokens.c"
expect_rc 0 "pkg-config knows evpipe" pkg-config --exists evpipe
# shellcheck disable=SC2046
expect_rc 0 "pkg-config, dynamic: build" cc -std=c11 -Wall -Werror "$TOKENS" -o "$TMP/h_dyn" \
  $(pkg-config --cflags --libs evpipe) -Wl,-rpath,"$P/$LIBDIR"
expect_rc 0 "pkg-config, dynamic: run" "$TMP/h_dyn"
expect_grep "$TMP/out" "verified" "pkg-config, dynamic: output"
if ldd "$TMP/h_dyn" | grep -q "libevpipe.so"; then pass "dynamic binary uses libevpipe.so"; else fail "dynamic binary uses libevpipe.so"; fi
# Static: the archive itself, its private dependencies from pkg-config --static.
STATIC_LIBS=$(pkg-config --libs --static evpipe | sed 's/-levpipe\b/-l:libevpipe.a/')
# shellcheck disable=SC2086
expect_rc 0 "pkg-config, static: build" cc -std=c11 -Wall -Werror "$TOKENS" -o "$TMP/h_static" \
  $(pkg-config --cflags evpipe) $STATIC_LIBS
expect_rc 0 "pkg-config, static: run" "$TMP/h_static"
if ldd "$TMP/h_static" | grep -q "libevpipe"; then fail "static binary does not need libevpipe.so"; else pass "static binary does not need libevpipe.so"; fi
# The first app (examples/README.md): it links and runs; without credentials
# it says what to set (test_examples.sh runs it against evpipe local).
# shellcheck disable=SC2046
expect_rc 0 "pkg-config: build the send-events example" cc -std=c11 -Wall -Werror \
  "$SRC/examples/c/send_events/send_events.c" "$SRC/examples/c/common/example_conf.c" -I"$SRC/examples/c/common" \
  -o "$TMP/send_events" $(pkg-config --cflags --libs evpipe) -Wl,-rpath,"$P/$LIBDIR"
expect_rc 1 "send_events without credentials exits 1" env -u EVPIPE_CLIENT_ID "$TMP/send_events"
expect_grep "$TMP/err" "EVPIPE_CLIENT_ID is not set" "send_events says which variable to set"

for mode in OFF ON; do
  B="$TMP/cm-$mode"
  expect_rc 0 "find_package (static=$mode): configure examples/c" cmake -S "$SRC/examples/c" -B "$B" \
    -DCMAKE_PREFIX_PATH="$P" -DEXAMPLES_STATIC=$mode -DCMAKE_BUILD_RPATH="$P/$LIBDIR"
  expect_rc 0 "find_package (static=$mode): build every C example" cmake --build "$B"
  for ex in send_events delivery_reports custom_schema tokens; do
    [ -x "$B/$ex" ] && pass "find_package (static=$mode): $ex built" || fail "find_package (static=$mode): $ex built"
  done
  expect_rc 0 "find_package (static=$mode): run tokens" "$B/tokens"
  expect_grep "$TMP/out" "verified" "find_package (static=$mode): output"
done
if ldd "$TMP/cm-ON/tokens" | grep -q "libevpipe"; then fail "find_package static binary is static"; else pass "find_package static binary is static"; fi
# A consumer of the shared library needs only libevpipe's own files: no
# other package's .pc (PKG_CONFIG_LIBDIR hides the system's) and no other
# package's CMake config (CMAKE_DISABLE_FIND_PACKAGE_* hides them).
expect_rc 0 "pkg-config with only evpipe.pc visible" env PKG_CONFIG_LIBDIR="$P/$LIBDIR/pkgconfig" \
  pkg-config --cflags --libs evpipe
if grep -q "cjson\|openssl" "$TMP/out"; then fail "shared flags carry no dependency's flags: $(cat "$TMP/out")"
else pass "shared flags carry no dependency's flags ($(cat "$TMP/out"))"; fi
NODEPS="-DCMAKE_DISABLE_FIND_PACKAGE_OpenSSL=ON -DCMAKE_DISABLE_FIND_PACKAGE_CURL=ON -DCMAKE_DISABLE_FIND_PACKAGE_ZLIB=ON"
# shellcheck disable=SC2086
expect_rc 0 "find_package, shared, without the dependencies' packages: configure" \
  cmake -S "$SRC/examples/c" -B "$TMP/nodeps" -DCMAKE_PREFIX_PATH="$P" $NODEPS -DCMAKE_BUILD_RPATH="$P/$LIBDIR"
expect_rc 0 "find_package, shared, without the dependencies' packages: build" cmake --build "$TMP/nodeps"
expect_rc 0 "find_package, shared, without the dependencies' packages: run" "$TMP/nodeps/tokens"
# shellcheck disable=SC2086
expect_rc 1 "find_package COMPONENTS static without OpenSSL's package: refused" \
  cmake -S "$SRC/examples/c" -B "$TMP/nodeps-static" -DCMAKE_PREFIX_PATH="$P" $NODEPS -DEXAMPLES_STATIC=ON
expect_grep "$TMP/err" "evpipe_static needs OpenSSL" "the refusal names the missing dependency"

# While 0.x a minor release may change the ABI (docs/abi.md): the package
# accepts a request for its own MAJOR.MINOR only.
mkdir -p "$TMP/ver"
printf 'cmake_minimum_required(VERSION 3.18)\nproject(v LANGUAGES C)\nfind_package(evpipe ${WANT} REQUIRED)\n' >"$TMP/ver/CMakeLists.txt"
have=$(sed -n 's/^Version: //p' "$P/$LIBDIR/pkgconfig/evpipe.pc")
expect_rc 0 "find_package(evpipe ${have%.*}) accepts $have" cmake -S "$TMP/ver" -B "$TMP/ver/b1" \
  -DCMAKE_PREFIX_PATH="$P" -DWANT="${have%.*}"
older="${have%%.*}.$(( $(echo "$have" | cut -d. -f2) - 1 ))"
expect_rc 1 "find_package(evpipe $older) refuses $have (0.x: another minor is another ABI)" \
  cmake -S "$TMP/ver" -B "$TMP/ver/b2" -DCMAKE_PREFIX_PATH="$P" -DWANT="$older"
expect_grep "$TMP/err" "not compatible\|version" "the refusal names the version"
finish
