#!/usr/bin/env bash
# The official JSON-Schema-Test-Suite (draft7, required) through the CLI:
# `evpipe validate --json` with each group's schema as a file and its
# instances as NDJSON, every verdict compared with the suite's. The library
# runs the same cases in test_schema_suite.c and the server's event
# acceptance in test_events_suite.c; this is the path where
# "hello\u0000there" was cut at its NUL (const.json, enum.json).
# Groups whose schema refers to the suite's remotes (http://localhost:1234/)
# are counted as not applicable: the CLI has no way to register resources.
. "$(dirname "$0")/lib.sh"
CLI=${EVP_CLI:?}
SRC=${EVP_SOURCE_DIR:?}
SUITE="$SRC/../shared/testdata/json-schema-test-suite/tests/draft7"
if [ ! -d "$SUITE" ]; then fail "suite not found at $SUITE"; finish; exit; fi

python3 - "$CLI" "$SUITE" "$TMP" >"$TMP/report" 2>&1 <<'EOF'
import glob, json, os, subprocess, sys
cli, suite, tmp = sys.argv[1:4]
ok = bad = na = 0
for path in sorted(glob.glob(os.path.join(suite, "*.json"))):
    fname = os.path.basename(path)
    for gi, group in enumerate(json.load(open(path, encoding="utf-8"))):
        schema_text = json.dumps(group["schema"])
        if "localhost:1234" in schema_text:
            na += len(group["tests"])
            continue
        sp, dp = os.path.join(tmp, "schema.json"), os.path.join(tmp, "data.ndjson")
        with open(sp, "w", encoding="utf-8") as f:
            f.write(schema_text)
        with open(dp, "w", encoding="utf-8") as f:
            for t in group["tests"]:
                f.write(json.dumps(t["data"]) + "\n")
        p = subprocess.run([cli, "validate", "--schema", sp, "--json", dp], capture_output=True)
        if p.returncode not in (0, 1):
            print("FAIL %s|%s: evpipe validate exit %d: %s" % (fname, group["description"], p.returncode, p.stderr.decode()[:200]))
            bad += len(group["tests"])
            continue
        got = [json.loads(l)["valid"] for l in p.stdout.decode().splitlines()]
        for t, g in zip(group["tests"], got + [None] * len(group["tests"])):
            if g == t["valid"]:
                ok += 1
            else:
                bad += 1
                print("FAIL %s|%s|%s: expected %s, got %s" % (fname, group["description"], t["description"], t["valid"], g))
print("RESULT %d %d %d" % (ok, bad, na))
EOF
read -r _ OK BAD NA < <(grep '^RESULT' "$TMP/report")
grep '^FAIL' "$TMP/report" | head -20 | sed 's/^/    /'
if [ -n "${OK:-}" ] && [ "$OK" -gt 800 ] && [ "$BAD" -eq 0 ]; then
  pass "evpipe validate: $OK/$((OK + BAD)) required draft7 verdicts right ($NA cases need the suite's remotes)"
else
  fail "evpipe validate: ${OK:-?}/$((${OK:-0} + ${BAD:-0})) required draft7 verdicts right"
  grep -v '^FAIL\|^RESULT' "$TMP/report" | head -5 | sed 's/^/    /'
fi

# The cases the CLI got wrong, spelled out: a NUL inside a string is a byte
# of the string, in the schema and in the instance.
# check RC NAME SCHEMA LINE: evpipe validate on the one-line input LINE.
check() { printf '%s\n' "$4" >"$TMP/in.ndjson"; expect_rc "$1" "$2" "$CLI" validate --schema "$3" "$TMP/in.ndjson"; }
printf '{"const":"hello\\u0000there"}' >"$TMP/nul.json"
check 0 "const with NUL: the same string is valid" "$TMP/nul.json" '"hello\u0000there"'
check 1 "const with NUL: the string cut at the NUL is invalid" "$TMP/nul.json" '"hello"'
printf '{"enum":["a\\u0000b"]}' >"$TMP/nulenum.json"
check 0 "enum with NUL: member" "$TMP/nulenum.json" '"a\u0000b"'
check 1 "enum with NUL: prefix is not a member" "$TMP/nulenum.json" '"a"'
printf '{"required":["a\\u0000b"],"properties":{"a\\u0000b":{"type":"integer"}}}' >"$TMP/nulkey.json"
check 0 "property name with NUL: present" "$TMP/nulkey.json" '{"a\u0000b":1}'
check 1 "property name with NUL: a prefix of it is not it" "$TMP/nulkey.json" '{"a":1}'
check 1 "property name with NUL: its schema applies" "$TMP/nulkey.json" '{"a\u0000b":"x"}'
printf '{"pattern":"^a\\u0000b$"}' >"$TMP/nulpat.json"
check 0 "pattern with NUL: matches" "$TMP/nulpat.json" '"a\u0000b"'
check 1 "pattern with NUL: does not match a prefix" "$TMP/nulpat.json" '"a"'
finish
