#!/usr/bin/env bash
# Install libevpipe to a temporary prefix and build examples/hello against it
# four ways: pkg-config and find_package, each dynamically and statically.
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
HELLO="$SRC/examples/hello/hello.c"
expect_rc 0 "pkg-config knows evpipe" pkg-config --exists evpipe
# shellcheck disable=SC2046
expect_rc 0 "pkg-config, dynamic: build" cc -std=c11 -Wall -Werror "$HELLO" -o "$TMP/h_dyn" \
  $(pkg-config --cflags --libs evpipe) -Wl,-rpath,"$P/$LIBDIR"
expect_rc 0 "pkg-config, dynamic: run" "$TMP/h_dyn"
expect_grep "$TMP/out" "verified" "pkg-config, dynamic: output"
if ldd "$TMP/h_dyn" | grep -q "libevpipe.so"; then pass "dynamic binary uses libevpipe.so"; else fail "dynamic binary uses libevpipe.so"; fi
# Static: the archive itself, its private dependencies from pkg-config --static.
STATIC_LIBS=$(pkg-config --libs --static evpipe | sed 's/-levpipe\b/-l:libevpipe.a/')
# shellcheck disable=SC2086
expect_rc 0 "pkg-config, static: build" cc -std=c11 -Wall -Werror "$HELLO" -o "$TMP/h_static" \
  $(pkg-config --cflags evpipe) $STATIC_LIBS
expect_rc 0 "pkg-config, static: run" "$TMP/h_static"
if ldd "$TMP/h_static" | grep -q "libevpipe"; then fail "static binary does not need libevpipe.so"; else pass "static binary does not need libevpipe.so"; fi

for mode in OFF ON; do
  B="$TMP/cm-$mode"
  expect_rc 0 "find_package (static=$mode): configure" cmake -S "$SRC/examples/hello" -B "$B" \
    -DCMAKE_PREFIX_PATH="$P" -DHELLO_STATIC=$mode -DCMAKE_BUILD_RPATH="$P/$LIBDIR"
  expect_rc 0 "find_package (static=$mode): build" cmake --build "$B"
  expect_rc 0 "find_package (static=$mode): run" "$B/hello"
  expect_grep "$TMP/out" "verified" "find_package (static=$mode): output"
done
if ldd "$TMP/cm-ON/hello" | grep -q "libevpipe"; then fail "find_package static binary is static"; else pass "find_package static binary is static"; fi
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
  cmake -S "$SRC/examples/hello" -B "$TMP/nodeps" -DCMAKE_PREFIX_PATH="$P" $NODEPS -DCMAKE_BUILD_RPATH="$P/$LIBDIR"
expect_rc 0 "find_package, shared, without the dependencies' packages: build" cmake --build "$TMP/nodeps"
expect_rc 0 "find_package, shared, without the dependencies' packages: run" "$TMP/nodeps/hello"
# shellcheck disable=SC2086
expect_rc 1 "find_package COMPONENTS static without OpenSSL's package: refused" \
  cmake -S "$SRC/examples/hello" -B "$TMP/nodeps-static" -DCMAKE_PREFIX_PATH="$P" $NODEPS -DHELLO_STATIC=ON
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
