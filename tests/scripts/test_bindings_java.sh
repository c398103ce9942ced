#!/usr/bin/env bash
# The JVM binding (bindings/java, docs/java.md): its JUnit 5 suite runs on the
# desktop JVM against evpipe local (send, listeners and tags, refused events,
# configuration errors, wrong secret, pause/resume, close), then the lake is
# read back: every event the suite saw delivered is there exactly once, with
# its text (emoji included) intact.
# Fails (never skips) when the JDK or JUnit is missing: scripts/install-deps
# installs them. In an ASan/UBSan build the JVM runs with the sanitizer
# runtimes preloaded, so the JNI code and libevpipe are checked inside it.
# Skips (77) in TSan builds (the JVM cannot run under ThreadSanitizer) and
# client-only builds (no evpipe local).
. "$(dirname "$0")/lib.sh"
SRC=${EVP_SOURCE_DIR:?}
BIN=${EVP_BINARY_DIR:?}
[ -n "${EVP_CLIENT_ONLY:-}" ] && { echo "client-only build: no evpipe local to test against: skipped"; exit 77; }
case "${EVP_SANITIZE:-}" in *thread*) echo "TSan build: the JVM cannot run under ThreadSanitizer: skipped"; exit 77 ;; esac

ENVF="$BIN/bindings/java/java-test.env"
if [ ! -f "$ENVF" ]; then
  fail "no JDK was found when configuring (run scripts/install-deps, then re-run cmake)"
  finish
  exit 1
fi
# shellcheck disable=SC1090
. "$ENVF"
for f in "$EVP_JAR" "$JNI_DIR/libevpipe_jni.so"; do
  [ -f "$f" ] || { fail "$f is missing: build the evpipe_jni and evpipe_java targets"; finish; exit 1; }
done
if [ -z "$JUNIT" ] || [ ! -f "$JUNIT" ] || [ ! -f "$EVP_TEST_JAR" ]; then
  fail "JUnit 5 (junit-platform-console-standalone.jar) is missing: run scripts/install-deps, then re-run cmake"
  finish
  exit 1
fi
local_prelude

# An instrumented libevpipe loads into the JVM only after the sanitizer
# runtimes; the JVM uses SIGSEGV itself and never frees much at exit.
SAN_ENV=()
if [ -n "${EVP_SANITIZE:-}" ]; then
  pre=""
  for rt in asan:address ubsan:undefined; do
    case "$EVP_SANITIZE" in *"${rt#*:}"*) ;; *) continue ;; esac
    lib=$("${CC:-cc}" -print-file-name="lib${rt%%:*}.so")
    [ -f "$lib" ] || { echo "no lib${rt%%:*}.so for $CC to preload into the JVM: skipped"; exit 77; }
    pre="$pre $lib"
  done
  SAN_ENV=(LD_PRELOAD="${pre# }" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0:allow_user_segv_handler=1:detect_leaks=0"
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}")
fi

ID=java-app
SECRET=java-secret-0123456789abcdef0123456789
D="$TMP/data"
mkdir -p "$D"
printf '[{"client_id":"%s","client_secret":"%s","audiences":["events"]}]\n' "$ID" "$SECRET" >"$TMP/clients.json"
chmod 600 "$TMP/clients.json"
start_local "$D" "$TMP/clients.json" --buffer-seconds 1 --quiet ||
  { fail "evpipe local starts"; cat "$TMP/local.err"; finish; exit 1; }
pass "evpipe local is up at $URL"

# The console launcher exits non-zero when a test fails or none was found.
env "${SAN_ENV[@]}" "$JAVA" -Djava.library.path="$JNI_DIR" -Devpipe.url="$URL" -Devpipe.client.id="$ID" \
  -Devpipe.secret="$SECRET" -Devpipe.schema="$SRC/examples/schemas/glue-data-catalog-json-schema.json" \
  -Devpipe.sent="$TMP/sent.tsv" \
  -jar "$JUNIT" --class-path "$EVP_JAR:$EVP_TEST_JAR" --scan-class-path "$EVP_TEST_JAR" \
  --fail-if-no-tests --disable-banner --disable-ansi-colors --details=tree --details-theme=ascii >"$TMP/junit.out" 2>&1
rc=$?
grep -- '-- .*()' "$TMP/junit.out" | sed 's/^[| ]*[+'"'"']-- /    junit: /'
tests=$(sed -n 's/.*\[ *\([0-9]*\) tests successful.*/\1/p' "$TMP/junit.out")
failed=$(sed -n 's/.*\[ *\([0-9]*\) tests failed.*/\1/p' "$TMP/junit.out")
if [ "$rc" -eq 0 ] && [ "${failed:-1}" -eq 0 ] && [ "${tests:-0}" -ge 12 ]; then
  pass "JUnit: ${tests} tests successful"
else
  fail "JUnit (exit $rc, ${tests:-?} successful, ${failed:-?} failed)"
  grep -i -A3 'exception\|error' "$TMP/junit.out" | head -30 | sed 's/^/    /'
fi

# SIGTERM makes evpipe local write what it buffered to the lake.
stop_local
[ "$RC" -eq 0 ] && pass "evpipe local flushed and exited 0" || fail "evpipe local exit $RC"

# Every event the suite saw delivered is in the lake exactly once, with its
# properties.note intact (hyparquet reads the Parquet files).
if [ -s "$TMP/sent.tsv" ]; then
  (cd "$SRC/tests/node" && node --input-type=module - "$D" "$TMP/sent.tsv") >"$TMP/lake.out" 2>&1 <<'EOF'
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
const [dir, sentPath] = process.argv.slice(2);
const sent = new Map(readFileSync(sentPath, 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t')));
const files = [];
const walk = (d) => { for (const f of readdirSync(d, { withFileTypes: true }))
  if (f.isDirectory()) walk(join(d, f.name)); else if (f.name.endsWith('.parquet') && !f.name.startsWith('.')) files.push(join(d, f.name)); };
walk(dir);
const count = new Map();
let wrong = 0;
for (const f of files) for (const r of await parquetReadObjects({ file: await asyncBufferFromFile(f), compressors })) {
  if (!sent.has(r.event_id)) continue;
  count.set(r.event_id, (count.get(r.event_id) || 0) + 1);
  const note = JSON.parse(r.properties).note;
  if (note !== sent.get(r.event_id)) { wrong++; console.log(`differs: ${r.event_id}: ${JSON.stringify(note)}`); }
}
const missing = [...sent.keys()].filter((id) => !count.has(id)).length;
const dup = [...count.values()].filter((n) => n > 1).length;
console.log(`${sent.size} sent, ${count.size} in the lake, ${missing} missing, ${dup} duplicated, ${wrong} altered, ${files.length} files`);
process.exit(missing || dup || wrong ? 1 : 0);
EOF
  lrc=$?
  summary=$(tail -1 "$TMP/lake.out")
  if [ "$lrc" -eq 0 ]; then pass "lake: $summary"; else fail "lake: $summary"; head -10 "$TMP/lake.out" | sed 's/^/    /'; fi
  if grep -q "$(printf '\xf0\x9f\x98\x80')" "$TMP/sent.tsv"; then pass "the emoji event was among them"; else fail "the emoji event was not delivered"; fi
else
  fail "the suite recorded no delivered event to look for in the lake"
fi
finish
