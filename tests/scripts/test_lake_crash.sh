#!/bin/bash
# The local pipeline's log + batcher checked by a real engine (DuckDB):
#  1. `test_batcher --gen DIR` writes a lake with every column type, escapes,
#     nulls, an hour and a day boundary and retried ids; every row must come
#     back with exactly the expected values, partitions and no duplicates.
#  2. `test_batcher --crash DIR ROUNDS SEED`: a child appends and batches
#     until it is SIGKILLed at a random moment (ROUNDS times, some during
#     recovery), then the log is recovered and drained. Every id the child
#     got EVP_OK for must be in the lake exactly once, and no id twice.
# Env: EVP_SOURCE_DIR, EVP_BINARY_DIR; optional EVP_CRASH_ROUNDS (default 12),
# EVP_CRASH_SEED (default: random, printed).
set -u
SRC=${EVP_SOURCE_DIR:?EVP_SOURCE_DIR must name the source root}
BIN=${EVP_BINARY_DIR:?EVP_BINARY_DIR must name the build directory}
ROUNDS=${EVP_CRASH_ROUNDS:-12}
SEED=${EVP_CRASH_SEED:-$((RANDOM * 32768 + RANDOM))}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $1"; }
ko() { fail=$((fail + 1)); echo "FAIL: $1"; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit; }

if ! sh "$SRC/tests/node/setup.sh" >"$T/setup.log" 2>&1; then
  cat "$T/setup.log"
  ko "node peers setup"
  finish
fi

# Reads NODE_OUT's "N passed, N failed" line into the totals.
add_node() {
  cat "$1"
  local last
  last=$(tail -n 1 "$1")
  if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    pass=$((pass + BASH_REMATCH[1]))
    fail=$((fail + BASH_REMATCH[2]))
  else
    ko "$2 crashed"
  fi
}

cat >"$T/check.mjs" <<'EOF'
// node check.mjs SOURCE_DIR gen|crash DIR
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
const [src, mode, dir] = process.argv.slice(2);
const require = createRequire(join(src, 'tests/node/package.json'));
const { DuckDBInstance } = require('@duckdb/node-api');
let pass = 0, fail = 0;
const check = (c, what) => { if (c) pass++; else { fail++; console.log(`FAIL: ${what}`); } };
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
const q = async (sql) => (await con.runAndReadAll(sql)).getRowObjectsJson();
const lake = `read_parquet('${dir}/lake/events/*/*/*.parquet', hive_partitioning = true, hive_types_autocast = false)`;

// RFC 3339 -> microseconds since the epoch (BigInt), independent of the C parser.
function toUs(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.exec(s);
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]); // :60 rolls over
  const frac = m[7] ? BigInt((m[7].slice(1) + '000000').slice(0, 6)) : 0n;
  let off = 0n;
  if (m[8].length === 6) {
    off = BigInt(+m[8].slice(1, 3) * 3600 + +m[8].slice(4, 6) * 60) * 1000000n;
    if (m[8][0] === '-') off = -off;
  }
  return BigInt(ms) * 1000n + frac - off;
}

if (mode === 'gen') {
  const exp = readFileSync(join(dir, 'expected.ndjson'), 'utf8').split('\n').filter(Boolean);
  const rows = await q(`SELECT event_id, n::VARCHAR AS n, x, ok, epoch_us("at")::VARCHAR AS "at", ctx, tags, s,
    epoch_us(received_at)::VARCHAR AS received_at, client_id,
    epoch_us(event_time_corrected)::VARCHAR AS event_time_corrected, clock_skew_ms::VARCHAR AS clock_skew_ms,
    dt, hour FROM ${lake}`);
  check(rows.length === exp.length, `${exp.length} rows (got ${rows.length})`);
  const byKey = new Map(rows.map((r) => [`${r.event_id}|${r.received_at}`, r]));
  check(byKey.size === rows.length, 'no duplicate (event_id, received_at) rows');
  const cols = await q(`DESCRIBE SELECT * FROM ${lake}`);
  check(cols.map((c) => c.column_name).join(',') === 'event_id,n,x,ok,at,ctx,tags,s,received_at,client_id,event_time_corrected,clock_skew_ms,dt,hour',
    `columns in schema order, then server columns and partitions: ${cols.map((c) => c.column_name)}`);
  const types = Object.fromEntries(cols.map((c) => [c.column_name, c.column_type]));
  check(types.n === 'BIGINT' && types.x === 'DOUBLE' && types.ok === 'BOOLEAN' && types.at.startsWith('TIMESTAMP')
    && types.received_at.startsWith('TIMESTAMP') && types.ctx === 'VARCHAR'
    && types.event_time_corrected.startsWith('TIMESTAMP') && types.clock_skew_ms === 'BIGINT', `column types ${JSON.stringify(types)}`);
  for (const line of exp) {
    const x = JSON.parse(line);
    const e = x.event;
    const key = `${e.event_id}|${x.received_at_us}`;
    const r = byKey.get(key);
    check(r !== undefined, `row ${key} present`);
    if (!r) continue;
    const n = /"n":(-?\d+)/.exec(line)[1]; // exact: JSON.parse would round int64
    const iso = new Date(x.received_at_us / 1000).toISOString();
    const want = {
      n, x: e.x ?? null, ok: e.ok ?? null, at: e.at === undefined ? null : toUs(e.at).toString(),
      ctx: e.ctx === undefined ? null : JSON.stringify(e.ctx), tags: e.tags === undefined ? null : JSON.stringify(e.tags),
      s: e.s ?? null, received_at: String(x.received_at_us), client_id: x.client_id,
      dt: iso.slice(0, 10), hour: iso.slice(11, 13),
    };
    // Clock skew (docs/event-schema.md): received_at - (sent_at - event_time).
    const skewUs = x.sent_at_us === undefined ? null : BigInt(x.received_at_us) - BigInt(x.sent_at_us);
    const et = typeof e.event_time === 'string' && /^\d{4}-/.test(e.event_time) ? toUs(e.event_time) : null;
    want.clock_skew_ms = skewUs === null ? null : (skewUs / 1000n).toString();
    want.event_time_corrected = et === null ? null : (et + (skewUs ?? 0n)).toString();
    for (const [k, v] of Object.entries(want))
      check(r[k] === v, `${key}.${k}: got ${JSON.stringify(r[k])}, want ${JSON.stringify(v)}`);
  }
  const parts = await q(`SELECT dt, hour, count(*)::INT AS c FROM ${lake} GROUP BY ALL ORDER BY ALL`);
  check(JSON.stringify(parts) === '[{"dt":"2024-05-01","hour":"23","c":4},{"dt":"2024-05-02","hour":"00","c":2},{"dt":"2024-05-02","hour":"01","c":7}]',
    `partitions by received_at across the day boundary: ${JSON.stringify(parts)}`);
} else {
  const acked = readFileSync(join(dir, 'acked.txt'), 'utf8').split('\n').filter(Boolean);
  check(acked.length > 0, `the child acknowledged events (${acked.length})`);
  check(new Set(acked).size === acked.length, 'acknowledged ids are distinct');
  await con.run(`CREATE TABLE lake AS SELECT event_id, count(*)::INT AS c FROM ${lake} GROUP BY 1`);
  await con.run(`CREATE TABLE acked (id VARCHAR)`);
  const app = await con.createAppender('acked');
  for (const id of acked) { app.appendVarchar(id); app.endRow(); }
  app.closeSync();
  const missing = await q(`SELECT count(*)::INT AS c, min(id) AS example FROM acked LEFT JOIN lake ON id = event_id WHERE event_id IS NULL`);
  check(missing[0].c === 0, `every acknowledged event is in the lake (${missing[0].c} missing, e.g. ${missing[0].example})`);
  const dups = await q(`SELECT count(*)::INT AS c, min(event_id) AS example FROM lake WHERE c > 1`);
  check(dups[0].c === 0, `no event is in the lake twice (${dups[0].c} ids duplicated, e.g. ${dups[0].example})`);
  const tot = await q(`SELECT count(*)::INT AS ids, sum(c)::INT AS rows FROM lake`);
  console.log(`lake: ${tot[0].rows} rows, ${acked.length} acknowledged ids (the rest were logged when the kill came, before their acknowledgement was reported)`);
  check(tot[0].ids >= acked.length, 'the lake holds at least the acknowledged events');
}
console.log(`${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
EOF

mkdir "$T/g"
if "$BIN/tests/test_batcher" --gen "$T/g" 2>"$T/gen.err"; then
  ok "test_batcher --gen wrote the lake"
  node "$T/check.mjs" "$SRC" gen "$T/g" >"$T/gen.out" 2>&1
  add_node "$T/gen.out" "gen check"
else
  ko "test_batcher --gen: $(head -c 500 "$T/gen.err")"
fi

mkdir "$T/c"
echo "crash test: $ROUNDS rounds, seed $SEED (EVP_CRASH_SEED=$SEED reproduces the kill times)"
if "$BIN/tests/test_batcher" --crash "$T/c" "$ROUNDS" "$SEED" >"$T/crash.out" 2>"$T/crash.err"; then
  cat "$T/crash.err" "$T/crash.out"
  ok "crash rounds ran and the log drained after recovery"
  left=$(find "$T/c/lake" -name '*.parquet' ! -perm 600 | wc -l)
  [ "$left" -eq 0 ] && ok "lake files are mode 0600" || ko "$left lake files not mode 0600"
  node "$T/check.mjs" "$SRC" crash "$T/c" >"$T/check.out" 2>&1
  add_node "$T/check.out" "crash check"
else
  cat "$T/crash.err" "$T/crash.out"
  ko "test_batcher --crash failed"
fi
finish
