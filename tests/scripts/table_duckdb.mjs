// Loads the sample events into DuckDB through the table that `evpipe schema
// glue` describes: the Glue column types must map to real SQL types, free-form
// objects go in as JSON text and closed ones as structs (the documented
// mapping), and the documented queries must give the values that were sent.
// usage: node table_duckdb.mjs SOURCE_DIR GLUE_JSON   (exit 0 when all checks pass)
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const [src, gluePath] = process.argv.slice(2);
const require = createRequire(join(src, 'tests/node/package.json'));
const { DuckDBInstance } = require('@duckdb/node-api');

const glue = JSON.parse(readFileSync(gluePath, 'utf8'));
const cols = [...glue.StorageDescriptor.Columns, ...glue.PartitionKeys];
const scalar = { string: 'VARCHAR', bigint: 'BIGINT', double: 'DOUBLE', boolean: 'BOOLEAN', timestamp: 'TIMESTAMP' };
// A Glue (Hive) type: a scalar name or struct<name:type,...>, parsed whole
// (undefined for anything else, which fails the check below).
function parseType(s) {
  let i = 0;
  const one = () => {
    if (s.startsWith('struct<', i)) {
      i += 7;
      const fields = [];
      for (;;) {
        const colon = s.indexOf(':', i);
        if (colon < 0) return undefined;
        const name = s.slice(i, colon);
        i = colon + 1;
        const t = one();
        if (!t || !/^[a-z_][a-z0-9_]*$/.test(name)) return undefined;
        fields.push([name, t]);
        if (s[i] === ',') { i++; continue; }
        if (s[i] === '>') { i++; return { fields }; }
        return undefined;
      }
    }
    const m = /^[a-z]+/.exec(s.slice(i));
    if (!m || !scalar[m[0]]) return undefined;
    i += m[0].length;
    return { name: m[0] };
  };
  const t = one();
  return t && i === s.length ? t : undefined;
}
const sqlOf = (t) => (t.fields ? `STRUCT(${t.fields.map(([n, f]) => `"${n}" ${sqlOf(f)}`).join(', ')})` : scalar[t.name]);
const sqlType = (g) => { const t = parseType(g); return t && sqlOf(t); };
let pass = 0, fail = 0;
const check = (ok, what) => {
  if (ok) { pass++; console.log(`ok: ${what}`); } else { fail++; console.log(`FAIL: ${what}`); }
};

const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
const rows = async (sql) => (await con.runAndReadAll(sql)).getRowObjectsJson();
const lit = (v) => (v === null || v === undefined ? 'NULL' : `'${String(v).replaceAll("'", "''")}'`);

check(cols.every((c) => sqlType(c.Type)), 'every Glue type has an SQL type');
check(cols.some((c) => parseType(c.Type)?.fields), 'a struct column is among them');
await con.run(`CREATE TABLE events (${cols.map((c) => `"${c.Name}" ${sqlType(c.Type) || 'VARCHAR'}`).join(', ')})`);
// A value as a literal of its column's type: a struct as {'field': value}
// with every field (absent ones NULL), any other object as JSON text.
const value = (t, v) => {
  if (v === null || v === undefined) return 'NULL';
  if (t?.fields) return `{${t.fields.map(([n, f]) => `'${n}': ${value(f, v[n])}`).join(', ')}}`;
  if (typeof v === 'object') return lit(JSON.stringify(v)); // JSON text
  if (t?.name === 'timestamp') return lit(new Date(v).toISOString().replace('Z', '')); // UTC
  return lit(v);
};

const received = '2024-05-02 09:30:00';
const events = readFileSync(join(src, 'examples/schemas/sample-events.ndjson'), 'utf8')
  .split('\n').filter((l) => l.length).map((l) => JSON.parse(l));
for (const e of events) {
  const server = { received_at: received, client_id: 'client-1', dt: '2024-05-02', hour: '09' };
  const vals = cols.map((c) => {
    if (c.Name in server) return lit(server[c.Name]);
    return value(parseType(c.Type), e[c.Name]);
  });
  await con.run(`INSERT INTO events VALUES (${vals.join(', ')})`);
}
check((await rows('SELECT count(*) AS n FROM events'))[0].n === String(events.length), `${events.length} rows loaded`);

const rev = await rows(`SELECT properties->>'$.currency' AS currency,
  sum(CAST(properties->>'$.total' AS DOUBLE)) AS revenue
  FROM events WHERE event_type = 'checkout.completed' AND dt = '2024-05-02' GROUP BY 1`);
check(rev.length === 1 && rev[0].currency === 'EUR' && rev[0].revenue === 59.9, `revenue from properties: ${JSON.stringify(rev)}`);

const os = await rows(`SELECT context.os AS os, count(*) AS n
  FROM events WHERE context IS NOT NULL GROUP BY 1 ORDER BY 1`);
check(JSON.stringify(os) === '[{"os":"Android","n":"1"},{"os":"iOS","n":"1"}]', `os from the context struct: ${JSON.stringify(os)}`);

const t = await rows(`SELECT CAST(event_time AS VARCHAR) AS t FROM events WHERE event_type = 'checkout.completed'`);
check(t[0].t === '2024-05-01 08:02:11.25', `event_time stored as the UTC instant: ${t[0].t}`);

const sc = await rows(`SELECT properties->>'$.coupon' AS coupon, properties->>'$.first_order' AS first,
  CAST(properties->>'$.items' AS BIGINT) AS items FROM events WHERE event_type = 'checkout.completed'`);
check(sc[0].coupon === null && sc[0].first === 'false' && sc[0].items === '3', `scalars survive as JSON text: ${JSON.stringify(sc)}`);

const late = await rows(`SELECT count(*) AS n FROM events WHERE date_diff('minute', event_time, received_at) > 60`);
check(late[0].n === String(events.length), `late-arrival query runs: ${late[0].n}`);

console.log(`duckdb: ${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
