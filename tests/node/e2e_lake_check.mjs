// End-to-end check of a lake written by evpipe local from events sent with
// the SDK: every event sent is there exactly once, every column holds exactly
// what was sent, the server columns are right, and two independent readers
// (DuckDB and hyparquet) agree.
//   node e2e_lake_check.mjs LAKE_DIR SENT.ndjson CLIENT_ID T0_MS T1_MS MANIFEST_OUT [SKEW_ID]
// Writes MANIFEST_OUT (the stored rows, for athena_queries_check.mjs check).
// Clock skew: every row's event_time_corrected - event_time equals its
// clock_skew_ms (to the ms); the SDK's batches (same clock as the server) show
// a skew of at most the run's length; SKEW_ID, posted with sent_at 2 h behind
// and event_time a minute before it, lands at received_at - 1 min.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openLake, runQuery } from './athena_local.mjs';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

const [lake, sentPath, clientId, t0s, t1s, manifestOut, skewId] = process.argv.slice(2);
const t0 = Number(t0s), t1 = Number(t1s);
let pass = 0, fail = 0;
const check = (ok, what, detail = '') => {
  if (ok) { pass++; console.log(`ok: ${what}`); } else { fail++; console.log(`FAIL: ${what} ${detail}`); }
};

const sent = readFileSync(sentPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const byId = new Map(sent.map((e) => [e.event_id, e]));
const con = await openLake(lake);
const rows = await runQuery(con, `SELECT event_id, event_type, epoch_us(event_time) AS t_us, app_id, user_id,
  session_id, platform, app_version, context, properties, epoch_us(received_at) AS r_us, client_id, dt, hour,
  epoch_us(event_time_corrected) AS c_us, clock_skew_ms
  FROM events ORDER BY event_id`);
check(rows.length === sent.length, `DuckDB reads ${sent.length} rows`, `got ${rows.length}`);
check(new Set(rows.map((r) => r.event_id)).size === rows.length, 'no event_id twice');

const us = (iso) => { // RFC 3339 -> microseconds, keeping sub-millisecond digits
  const m = /\.(\d+)/.exec(iso);
  const frac = m ? (m[1] + '000000').slice(0, 6) : '000000';
  return BigInt(Date.parse(iso.replace(/\.\d+/, ''))) * 1000n + BigInt(frac);
};
const json = (v) => (v === undefined || v === null ? null : JSON.stringify(v));
const str = (v) => (v === undefined ? null : v);
// A struct column read back (every field, absent ones null) against the
// object sent: same values, and no member the struct lacks.
const structEq = (got, sentObj) => {
  if (sentObj === undefined || sentObj === null) return got === null || got === undefined;
  if (got === null || typeof got !== 'object') return false;
  return Object.keys(sentObj).every((k) => k in got) &&
    Object.keys(got).every((k) => (got[k] ?? null) === (sentObj[k] ?? null));
};
let bad = 0;
const manifest = [];
for (const r of rows) {
  const e = byId.get(r.event_id);
  if (!e) { if (bad++ < 5) console.log(`  unexpected row ${r.event_id}`); continue; }
  const diffs = [];
  if (r.event_type !== e.event_type) diffs.push('event_type');
  if (BigInt(r.t_us) !== us(e.event_time)) diffs.push(`event_time ${r.t_us} vs ${us(e.event_time)}`);
  for (const k of ['app_id', 'user_id', 'session_id', 'platform', 'app_version'])
    if (r[k] !== str(e[k] === undefined ? null : e[k])) diffs.push(`${k} ${r[k]} vs ${e[k]}`);
  if (r.properties !== json(e.properties)) diffs.push(`properties ${r.properties} vs ${json(e.properties)}`);
  if (!structEq(r.context, e.context)) diffs.push(`context ${JSON.stringify(r.context)} vs ${json(e.context)}`);
  if (r.client_id !== clientId) diffs.push('client_id');
  const rms = Number(BigInt(r.r_us) / 1000n);
  if (rms < t0 - 1000 || rms > t1 + 1000) diffs.push(`received_at ${rms} outside [${t0}, ${t1}]`);
  const iso = new Date(rms).toISOString();
  if (r.dt !== iso.slice(0, 10) || r.hour !== iso.slice(11, 13)) diffs.push(`partition ${r.dt}/${r.hour} vs ${iso}`);
  if (r.clock_skew_ms === null || r.c_us === null) diffs.push('no clock_skew_ms / event_time_corrected');
  else {
    const skew = BigInt(r.clock_skew_ms), shift = BigInt(r.c_us) - BigInt(r.t_us);
    if (shift / 1000n !== skew) diffs.push(`event_time_corrected - event_time ${shift} us vs clock_skew_ms ${skew}`);
    const lo = r.event_id === skewId ? 7200000n : 0n, hi = lo + BigInt(t1 - t0 + 1000);
    if (skew < lo || skew > hi) diffs.push(`clock_skew_ms ${skew} outside [${lo}, ${hi}]`);
    if (r.event_id === skewId && BigInt(r.c_us) !== BigInt(r.r_us) - 60000000n)
      diffs.push(`event_time_corrected ${r.c_us} is not received_at - 1 min (${r.r_us})`);
  }
  if (diffs.length && bad++ < 5) console.log(`  ${r.event_id}: ${diffs.join('; ')}`);
  manifest.push({ ...e, user_id: e.user_id ?? null, session_id: e.session_id ?? null, context: json(e.context),
    properties: json(e.properties), received_at: iso, client_id: clientId });
}
check(bad === 0, 'every column of every row equals what was sent (and received_at, client_id, dt, hour, clock skew are right)', `${bad} rows differ`);
if (skewId) check(rows.some((r) => r.event_id === skewId), 'the event sent 2 h behind is in the lake');

// The second reader: hyparquet over every file, compared with DuckDB.
const files = [];
const walk = (d) => { for (const f of readdirSync(d, { withFileTypes: true })) {
  if (f.isDirectory()) walk(join(d, f.name)); else if (f.name.endsWith('.parquet') && !f.name.startsWith('.')) files.push(join(d, f.name)); } };
walk(join(lake, 'events'));
let hrows = [];
for (const f of files) hrows = hrows.concat(await parquetReadObjects({ file: await asyncBufferFromFile(f), compressors }));
check(hrows.length === rows.length, `hyparquet reads the same ${rows.length} rows from ${files.length} files`, `got ${hrows.length}`);
const hById = new Map(hrows.map((r) => [r.event_id, r]));
let hbad = 0;
for (const e of sent) {
  const h = hById.get(e.event_id);
  if (!h || h.event_type !== e.event_type || h.properties !== json(e.properties) || (h.user_id ?? null) !== (e.user_id ?? null) ||
      !structEq(h.context, e.context)) hbad++;
}
check(hbad === 0, 'hyparquet sees the same values', `${hbad} differ`);
writeFileSync(manifestOut, manifest.map((m) => JSON.stringify(m)).join('\n') + '\n');
console.log(`${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
