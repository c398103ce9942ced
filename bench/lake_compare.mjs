// DuckDB side of bench/lake_compare.sh (uses the test peers in tests/node).
//   node lake_compare.mjs write ROWS.ndjson COLUMNS.tsv OUT.parquet CODEC
//        DuckDB writes the rows with the lake's column types (strings, JSON
//        text, structs, BIGINT, TIMESTAMP WITH TIME ZONE) and its default writer
//        settings except the codec (snappy | zstd).
//   node lake_compare.mjs rewrite IN_GLOB OUT.parquet CODEC
//        DuckDB writes the rows of the Parquet files IN_GLOB (one hour of a
//        lake) again, same column types, its default settings but the codec
//   node lake_compare.mjs columns EVENTS FILE...
//        bytes/event per column (compressed column chunks, parquet_metadata)
//   node lake_compare.mjs queries RUNS QUERY_DIR LAKE_A LAKE_B
//        each query of QUERY_DIR over each lake, RUNS rounds interleaved
//        (A, B, A, B ...), prints the median ms of each and their ratio
import { createRequire } from 'node:module';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openLake, runQuery } from '../tests/node/athena_local.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '../tests/node/package.json'));
const { DuckDBInstance } = require('@duckdb/node-api');
const sq = (s) => `'${String(s).replaceAll("'", "''")}'`;
const median = (a) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

async function connect() {
  const db = await DuckDBInstance.create(':memory:');
  return db.connect();
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'write') {
  const [rows, colsTsv, out, codec] = args;
  const cols = readFileSync(colsTsv, 'utf8').trim().split('\n').map((l) => l.split('\t'));
  const sqlType = { string: 'VARCHAR', int64: 'BIGINT', double: 'DOUBLE', boolean: 'BOOLEAN', timestamp_us: 'BIGINT' };
  // A struct's type comes spelt out (STRUCT("locale" VARCHAR, ...)).
  const spec = '{' + cols.map(([n, t]) => `${sq(n)}: ${sq(sqlType[t] ?? t)}`).join(', ') + '}';
  // Timestamps travel as microseconds and become TIMESTAMPTZ, as in our files.
  const sel = cols.map(([n, t]) => t === 'timestamp_us' ? `make_timestamp("${n}")::TIMESTAMPTZ AS "${n}"` : `"${n}"`).join(', ');
  const con = await connect();
  await con.run("SET TimeZone = 'UTC'");
  await con.run(`COPY (SELECT ${sel} FROM read_json(${sq(rows)}, format = 'newline_delimited', columns = ${spec}))
                 TO ${sq(out)} (FORMAT parquet, COMPRESSION ${codec})`);
} else if (cmd === 'rewrite') {
  const [glob, out, codec] = args;
  const con = await connect();
  await con.run(`COPY (SELECT * FROM read_parquet(${sq(glob)}, hive_partitioning = false))
                 TO ${sq(out)} (FORMAT parquet, COMPRESSION ${codec})`);
} else if (cmd === 'columns') {
  const [events, ...files] = args;
  const con = await connect();
  const per = [];
  for (const f of files) {
    const r = (await con.runAndReadAll(`SELECT path_in_schema AS col, sum(total_compressed_size) AS b
        FROM parquet_metadata(${sq(f)}) GROUP BY 1`)).getRowObjectsJS();
    per.push(Object.fromEntries(r.map((x) => [x.col, Number(x.b)])));
  }
  const names = Object.keys(per[0]);
  console.log(['column', ...files.map((f) => f.split('/').slice(-5, -4).join('/') || f)].join('\t'));
  for (const n of names) console.log([n, ...per.map((p) => (p[n] / events).toFixed(2))].join('\t'));
  console.log(['(chunks)', ...per.map((p) => (Object.values(p).reduce((a, b) => a + b, 0) / events).toFixed(2))].join('\t'));
} else if (cmd === 'queries') {
  const [runs, qdir, lakeA, lakeB] = args;
  const files = readdirSync(qdir).filter((f) => f.endsWith('.sql')).sort();
  const a = await openLake(lakeA), b = await openLake(lakeB);
  const tA = {}, tB = {};
  for (const f of files) { tA[f] = []; tB[f] = []; }
  const time = async (con, sql) => { const t0 = process.hrtime.bigint(); await runQuery(con, sql); return Number(process.hrtime.bigint() - t0) / 1e6; };
  // One warm-up each (file cache, metadata) that also compares the answers,
  // then interleaved rounds.
  const equal = {};
  for (const f of files) {
    const sql = readFileSync(join(qdir, f), 'utf8');
    equal[f] = JSON.stringify(await runQuery(a, sql)) === JSON.stringify(await runQuery(b, sql));
  }
  for (let r = 0; r < Number(runs); r++)
    for (const f of files) {
      const sql = readFileSync(join(qdir, f), 'utf8');
      tA[f].push(await time(a, sql));
      tB[f].push(await time(b, sql));
    }
  let sumA = 0, sumB = 0;
  console.log('query\tA_ms\tB_ms\tA/B\tsame answers');
  for (const f of files) {
    const ma = median(tA[f]), mb = median(tB[f]);
    sumA += ma; sumB += mb;
    console.log(`${f}\t${ma.toFixed(1)}\t${mb.toFixed(1)}\t${(ma / mb).toFixed(2)}\t${equal[f] ? 'yes' : 'NO'}`);
  }
  console.log(`total\t${sumA.toFixed(1)}\t${sumB.toFixed(1)}\t${(sumA / sumB).toFixed(2)}`);
  if (!Object.values(equal).every(Boolean)) process.exitCode = 1;
} else {
  console.error('usage: node lake_compare.mjs write|rewrite|columns|queries ...');
  process.exit(2);
}
