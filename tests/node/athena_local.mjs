// Run an Athena query file over a local lake with DuckDB.
//   node athena_local.mjs LAKE_DIR QUERY.sql      -> one JSON object per row
// LAKE_DIR holds events/dt=YYYY-MM-DD/hour=HH/*.parquet (what evpipe local
// writes). Exit 1 with the error on stderr when the query fails.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), 'package.json'));
const { DuckDBInstance } = require('@duckdb/node-api');

export async function openLake(lake) {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const glob = join(lake, 'events', '*', '*', '*.parquet').replaceAll("'", "''");
  await con.run(`CREATE VIEW events AS SELECT * FROM read_parquet('${glob}', hive_partitioning = true, hive_types_autocast = false)`);
  // Athena's name for extracting a scalar from JSON text.
  await con.run(`CREATE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)`);
  return con;
}

export async function runQuery(con, sql) {
  return (await con.runAndReadAll(sql)).getRowObjectsJson();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [lake, file] = process.argv.slice(2);
  if (!lake || !file) {
    console.error('usage: node athena_local.mjs LAKE_DIR QUERY.sql');
    process.exit(2);
  }
  try {
    const con = await openLake(lake);
    for (const row of await runQuery(con, readFileSync(file, 'utf8'))) console.log(JSON.stringify(row));
  } catch (e) {
    console.error(`query failed: ${e.message}`);
    process.exit(1);
  }
}
