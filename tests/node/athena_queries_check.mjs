// Checks every examples/athena_queries/*.sql against answers computed
// independently from the events themselves.
//   node athena_queries_check.mjs selftest SRC_DIR
//        generate events, write them as a hive-partitioned Parquet lake with
//        DuckDB, run the queries through athena_local.mjs, compare.
//   node athena_queries_check.mjs check SRC_DIR LAKE_DIR MANIFEST.ndjson
//        the same comparison for a lake written by evpipe local; MANIFEST has
//        one stored row per line (the event plus received_at and client_id).
// Prints "ok: ..." / "FAIL: ..." lines and "N passed, N failed"; exit 1 on failure.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLake, runQuery } from './athena_local.mjs';

const [mode, src, lakeArg, manifestArg] = process.argv.slice(2);
let pass = 0, fail = 0;
const check = (ok, what, detail = '') => {
  if (ok) { pass++; console.log(`ok: ${what}`); } else { fail++; console.log(`FAIL: ${what} ${detail}`); }
};

// Deterministic generator (mulberry32) so failures reproduce.
function rng(seed) {
  return () => { seed |= 0; seed = (seed + 0x6D2B79F5) | 0; let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
}
function generate() {
  const r = rng(42), rows = [];
  const types = ['app.opened', 'product.viewed', 'checkout.completed', 'screen.viewed', 'search.performed'];
  const base = Date.parse('2024-05-01T22:00:00Z');
  for (let i = 0; i < 600; i++) {
    const user = r() < 0.1 ? null : `user-${Math.floor(r() * 40)}`;
    const type = types[Math.floor(r() * types.length)];
    const t = base + Math.floor(r() * 4 * 3600e3);
    // Some arrive just under the one-hour threshold, some just over, most at once.
    const x = r();
    const late = x < 0.05 ? Math.floor(3601e3 + r() * 7200e3) : x < 0.1 ? Math.floor(3000e3 + r() * 599e3) : Math.floor(r() * 60e3);
    const props = type === 'checkout.completed'
      ? { currency: r() < 0.5 ? 'EUR' : 'USD', total: Math.round(r() * 10000) / 100 } : { n: i };
    // context: absent, a struct with some fields, or one without os.
    const c = r(), os = ['Android', 'iOS', 'Linux'][Math.floor(r() * 3)];
    const context = c < 0.2 ? null : c < 0.3 ? { locale: 'fr-FR' }
      : { os, ...(r() < 0.7 ? { locale: r() < 0.5 ? 'de-DE' : 'en-US' } : {}), ...(r() < 0.5 ? { os_version: '14' } : {}) };
    rows.push({ event_id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, event_type: type,
      event_time: new Date(t).toISOString(), app_id: 'shop', user_id: user, session_id: null,
      platform: 'web', app_version: '1.0.0', context, properties: JSON.stringify(props),
      received_at: new Date(t + late).toISOString(), client_id: 'client-1' });
  }
  for (let i = 0; i < 20; i++) { // client retries that arrived after the dedup window
    const d = { ...rows[i * 7] };
    d.received_at = new Date(Date.parse(d.received_at) + 1000).toISOString();
    d.client_id = 'client-2';
    rows.push(d);
  }
  return rows;
}

const part = (iso) => ({ dt: iso.slice(0, 10), hour: iso.slice(11, 13) });
const ms = (iso) => Date.parse(iso);
const count = (m, k) => m.set(k, (m.get(k) || 0) + 1);

function expectations(rows) {
  const exp = {};
  const byHour = new Map();
  for (const e of rows) { const p = part(e.received_at); count(byHour, `${p.dt}|${p.hour}|${e.event_type}`); }
  exp.events_per_type_per_hour = [...byHour].sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, n]) => { const [dt, hour, event_type] = k.split('|'); return { dt, hour, event_type, events: String(n) }; });
  const au = new Map();
  for (const e of rows) if (e.user_id) { const dt = part(e.received_at).dt; (au.get(dt) || au.set(dt, new Set()).get(dt)).add(e.user_id); }
  exp.active_users = [...au].sort().map(([dt, s]) => ({ dt, active_users: String(s.size) }));
  const fu = new Map();
  for (const e of rows) if (e.user_id) {
    const u = fu.get(e.user_id) || fu.set(e.user_id, {}).get(e.user_id);
    const k = { 'app.opened': 'o', 'product.viewed': 'v', 'checkout.completed': 'b' }[e.event_type];
    if (k && (u[k] === undefined || ms(e.event_time) < u[k])) u[k] = ms(e.event_time);
  }
  let o = 0, v = 0, b = 0;
  for (const u of fu.values()) {
    if (u.o !== undefined) o++;
    if (u.o !== undefined && u.v !== undefined && u.v >= u.o) v++;
    if (u.o !== undefined && u.v !== undefined && u.b !== undefined && u.v >= u.o && u.b >= u.v) b++;
  }
  exp.funnel = [{ opened: String(o), viewed: String(v), purchased: String(b) }];
  const late = new Map();
  for (const e of rows) {
    const d = Math.floor(ms(e.received_at) / 1000) - Math.floor(ms(e.event_time) / 1000);
    if (d > 3600) { const x = late.get(e.event_type) || { n: 0, m: 0 }; x.n++; x.m = Math.max(x.m, d); late.set(e.event_type, x); }
  }
  exp.late_events = [...late].sort((a, b2) => b2[1].n - a[1].n || (a[0] < b2[0] ? -1 : 1))
    .map(([t, x]) => ({ event_type: t, late_events: String(x.n), max_delay_s: String(x.m) }));
  exp.dedup_count = new Set(rows.map((e) => e.event_id)).size;
  const rev = new Map();
  // SQL semantics: a missing key is NULL, NULL currencies group together and
  // sort last, and a sum over only NULLs is NULL.
  for (const e of rows) if (e.event_type === 'checkout.completed') {
    const p = e.properties ? JSON.parse(e.properties) : {};
    const cur = typeof p.currency === 'string' ? p.currency : null;
    const k = `${part(e.received_at).dt}|${cur === null ? '\uffff' : cur}`;
    const x = rev.get(k) || { s: null, n: 0 };
    if (typeof p.total === 'number') x.s = (x.s ?? 0) + p.total;
    x.n++; rev.set(k, x);
  }
  // users_by_os: SQL groups by (os, locale) with NULL locales together,
  // ordered by users desc, os, locale (NULLs last).
  const byOs = new Map();
  for (const e of rows) {
    const ctx = typeof e.context === 'string' ? JSON.parse(e.context) : e.context;
    if (!ctx || typeof ctx.os !== 'string') continue;
    const k = JSON.stringify([ctx.os, ctx.locale ?? null]);
    const x = byOs.get(k) || byOs.set(k, { u: new Set(), n: 0 }).get(k);
    if (e.user_id) x.u.add(e.user_id);
    x.n++;
  }
  const nullsLast = (a, b) => (a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1);
  exp.users_by_os = [...byOs].map(([k, x]) => { const [os, locale] = JSON.parse(k); return { os, locale, users: String(x.u.size), events: String(x.n) }; })
    .sort((a, b) => Number(b.users) - Number(a.users) || nullsLast(a.os, b.os) || nullsLast(a.locale, b.locale));
  exp.revenue = [...rev].sort(([a], [b2]) => (a < b2 ? -1 : 1)).map(([k, x]) => {
    const [dt, c] = k.split('|'); return { dt, currency: c === '\uffff' ? null : c, revenue: x.s, orders: String(x.n) };
  });
  return exp;
}

async function writeLakeWithDuckDB(rows, lake) {
  const { DuckDBInstance } = await import('./node_modules/@duckdb/node-api/lib/index.js').catch(async () => import('@duckdb/node-api'));
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  await con.run(`CREATE TABLE t (event_id VARCHAR, event_type VARCHAR, event_time TIMESTAMP, app_id VARCHAR,
    user_id VARCHAR, session_id VARCHAR, platform VARCHAR, app_version VARCHAR,
    context STRUCT(locale VARCHAR, os VARCHAR, os_version VARCHAR, device VARCHAR, timezone VARCHAR), properties VARCHAR,
    received_at TIMESTAMP, client_id VARCHAR, dt VARCHAR, hour VARCHAR)`);
  const lit = (x) => (x === null ? 'NULL' : `'${String(x).replaceAll("'", "''")}'`);
  const ts = (x) => lit(x.replace('T', ' ').replace('Z', ''));
  const struct = (c) => (c === null ? 'NULL' : `{${['locale', 'os', 'os_version', 'device', 'timezone']
    .map((k) => `'${k}': ${lit(c[k] ?? null)}`).join(', ')}}`);
  for (let i = 0; i < rows.length; i += 200) {
    const vals = rows.slice(i, i + 200).map((e) => { const p = part(e.received_at);
      return `(${lit(e.event_id)},${lit(e.event_type)},${ts(e.event_time)},${lit(e.app_id)},${lit(e.user_id)},` +
        `${lit(e.session_id)},${lit(e.platform)},${lit(e.app_version)},${struct(e.context)},${lit(e.properties)},` +
        `${ts(e.received_at)},${lit(e.client_id)},${lit(p.dt)},${lit(p.hour)})`; });
    await con.run(`INSERT INTO t VALUES ${vals.join(',')}`);
  }
  await con.run(`COPY t TO '${join(lake, 'events')}' (FORMAT PARQUET, COMPRESSION SNAPPY, PARTITION_BY (dt, hour))`);
}

const sqlDir = join(src, 'examples/athena_queries');
const q = async (con, name) => runQuery(con, readFileSync(join(sqlDir, `${name}.sql`), 'utf8'));
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

let rows, lake, tmp;
if (mode === 'selftest') {
  rows = generate();
  tmp = mkdtempSync(join(tmpdir(), 'evp-athena-'));
  lake = tmp;
  await writeLakeWithDuckDB(rows, lake);
} else if (mode === 'check') {
  lake = lakeArg;
  rows = readFileSync(manifestArg, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
} else {
  console.error('usage: athena_queries_check.mjs selftest SRC | check SRC LAKE MANIFEST');
  process.exit(2);
}
const exp = expectations(rows);
const con = await openLake(lake);
const got = {};
for (const n of ['events_per_type_per_hour', 'active_users', 'funnel', 'late_events', 'dedup_by_event_id', 'revenue_by_currency', 'users_by_os'])
  got[n] = await q(con, n);
check(same(got.events_per_type_per_hour, exp.events_per_type_per_hour), `events_per_type_per_hour (${exp.events_per_type_per_hour.length} groups)`,
  `\n got ${JSON.stringify(got.events_per_type_per_hour).slice(0, 400)}\n exp ${JSON.stringify(exp.events_per_type_per_hour).slice(0, 400)}`);
check(same(got.active_users, exp.active_users), `active_users ${JSON.stringify(exp.active_users)}`, JSON.stringify(got.active_users));
check(same(got.funnel, exp.funnel), `funnel ${JSON.stringify(exp.funnel)}`, JSON.stringify(got.funnel));
check(same(got.late_events, exp.late_events), `late_events (${exp.late_events.length} types)`, `${JSON.stringify(got.late_events)} vs ${JSON.stringify(exp.late_events)}`);
check(got.dedup_by_event_id.length === exp.dedup_count && got.dedup_by_event_id.length <= rows.length,
  `dedup_by_event_id: ${exp.dedup_count} distinct of ${rows.length} rows`, String(got.dedup_by_event_id.length));
const revOk = got.revenue_by_currency.length === exp.revenue.length && got.revenue_by_currency.every((g, i) =>
  g.dt === exp.revenue[i].dt && g.currency === exp.revenue[i].currency && g.orders === exp.revenue[i].orders &&
  (exp.revenue[i].revenue === null ? g.revenue === null : Math.abs(Number(g.revenue) - exp.revenue[i].revenue) < 1e-6));
check(revOk, `revenue_by_currency (${exp.revenue.length} groups)`, `${JSON.stringify(got.revenue_by_currency)} vs ${JSON.stringify(exp.revenue)}`);
check(same(got.users_by_os, exp.users_by_os) && exp.users_by_os.length > 0, `users_by_os (${exp.users_by_os.length} groups)`,
  `${JSON.stringify(got.users_by_os).slice(0, 400)} vs ${JSON.stringify(exp.users_by_os).slice(0, 400)}`);
if (tmp) rmSync(tmp, { recursive: true, force: true });
console.log(`${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
