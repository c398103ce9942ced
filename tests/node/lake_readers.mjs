// Reads the Parquet files written by `test_lake --gen DIR` with three
// independent readers (DuckDB, hyparquet and parquet-wasm, which is arrow-rs)
// and compares every value, the
// column statistics, the encodings/compression, and the answers of filter
// queries (which DuckDB prunes with the row-group statistics, so wrong
// statistics show up as wrong counts) against the expected NDJSON.
// Usage: node lake_readers.mjs DIR [NAME-PREFIX]  -> prints "N passed, N failed"
import { readFileSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetReadObjects, parquetMetadataAsync, asyncBufferFromFile, readColumnIndex, readOffsetIndex } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const parquetWasm = require('parquet-wasm/node');
const { tableFromIPC } = require('apache-arrow');

// The schema as a tree, from the manifest's nodes (pre-order, groups with
// nchildren): each node gets its dotted path and its children.
function schemaTree(nodes) {
  let i = 0;
  const build = (prefix) => {
    const n = nodes[i++];
    const node = { ...n, path: prefix ? `${prefix}.${n.name}` : n.name, children: [] };
    for (let k = 0; k < n.nchildren; k++) node.children.push(build(node.path));
    return node;
  };
  const top = [];
  while (i < nodes.length) top.push(build(''));
  return top;
}
const preorder = (top) => { const out = []; const walk = (n) => { out.push(n); n.children.forEach(walk); }; top.forEach(walk); return out; };
// A row of nested objects -> { path: value } for every node: a group is
// true or null, and everything under a null group is null.
function flatten(obj, top, conv = (n, v) => v) {
  const out = {};
  const walk = (n, parent) => {
    const v = parent == null ? null : parent[n.name];
    if (n.type === 'group') {
      out[n.path] = v == null ? null : true;
      n.children.forEach((c) => walk(c, v));
    } else {
      out[n.path] = v === undefined || v === null ? null : conv(n, v);
    }
  };
  top.forEach((n) => walk(n, obj));
  return out;
}

// parquet-wasm (arrow-rs) -> flattened rows in the canonical form: 64-bit
// integers and timestamps as raw bigints (arrow-js would turn timestamps
// into ms); struct columns are walked through their children's data.
function arrowRows(bytes, top) {
  const t = tableFromIPC(parquetWasm.readParquet(bytes).intoIPCStream());
  const rows = Array.from({ length: t.numRows }, () => ({}));
  const dec = new TextDecoder();
  const bit = (buf, k) => (buf[k >> 3] >> (k & 7)) & 1;
  const fill = (n, d, r0, alive) => {
    const here = [];
    for (let i = 0; i < d.length; i++) {
      const k = d.offset + i, r = r0 + i;
      const ok = alive[i] && (!d.nullCount || bit(d.nullBitmap, k));
      here.push(ok);
      if (n.type === 'group') rows[r][n.path] = ok ? true : null;
      else if (!ok) rows[r][n.path] = null;
      else if (d.dictionary) rows[r][n.path] = d.dictionary.get(Number(d.values[k]));
      else if (n.type === 'int64' || n.type === 'timestamp_us' || n.type === 'double') rows[r][n.path] = d.values[k];
      else if (n.type === 'boolean') rows[r][n.path] = Boolean(bit(d.values, k));
      else rows[r][n.path] = dec.decode(d.values.subarray(Number(d.valueOffsets[k]), Number(d.valueOffsets[k + 1])));
    }
    if (n.type === 'group') n.children.forEach((c, j) => fill(c, d.children[j], r0, here));
  };
  for (const n of top) {
    let r0 = 0;
    for (const d of t.getChild(n.name).data) {
      fill(n, d, r0, new Array(d.length).fill(true));
      r0 += d.length;
    }
  }
  return rows;
}
// SQL for a node: its top-level column, then struct_extract down the path.
const sqlPath = (path) => path.slice(1).reduce((e, p) => `struct_extract(${e}, '${p}')`, `"${path[0]}"`);

// Data page encodings the writer may use for a column under the file's
// options, and those it must not use.
function allowedEncodings(col, opts) {
  const delta = { int64: 'DELTA_BINARY_PACKED', timestamp_us: 'DELTA_BINARY_PACKED', string: 'DELTA_LENGTH_BYTE_ARRAY' }[col.type];
  const off = col.type === 'string' ? opts.no_delta_str : opts.no_delta_int;
  const dictOk = col.type === 'string' || ((col.type === 'int64' || col.type === 'timestamp_us') && !opts.no_int_dict);
  const allow = new Set(['PLAIN', 'RLE']);
  if (dictOk) allow.add('RLE_DICTIONARY');
  if (delta && !off) allow.add(delta);
  // strings whose values share prefixes may use DELTA_BYTE_ARRAY instead
  const prefix = col.type === 'string' && !off && !opts.no_prefix_str;
  if (prefix) allow.add('DELTA_BYTE_ARRAY');
  return { allow, nodict: delta && !off ? delta : 'PLAIN', prefix };
}

const dir = process.argv[2];
let passed = 0, failed = 0;
function check(ok, what, detail) {
  if (ok) passed++;
  else { failed++; console.log(`FAIL ${what}${detail ? ': ' + detail : ''}`); }
}

// ---- expected values, in canonical JS form
function canon(type, v) {
  if (v === null) return null;
  switch (type) {
    case 'int64': case 'timestamp_us': return BigInt(v);
    case 'double': return Number(v); // "NaN", "Infinity", "-0" all parse exactly
    default: return v;
  }
}
const enc = new TextEncoder();
// DuckDB's orders: strings byte-wise, doubles with NaN above everything.
function cmp(type, a, b) {
  if (type === 'string') return Buffer.compare(Buffer.from(enc.encode(a)), Buffer.from(enc.encode(b)));
  if (type === 'double') {
    if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) - Number.isNaN(b);
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (type === 'boolean') return Number(a) - Number(b);
  return a < b ? -1 : a > b ? 1 : 0;
}
function same(type, a, b) {
  if (a === null || b === null || a === undefined || b === undefined) return a === b || (a == null && b == null);
  if (type === 'double') return Object.is(a, b);
  return a === b;
}
const show = (v) => typeof v === 'bigint' ? v + 'n' : Object.is(v, -0) ? '-0' : JSON.stringify(v);

function compareRows(what, cols, expected, got) {
  check(got.length === expected.length, `${what}: row count`, `${got.length} != ${expected.length}`);
  let bad = 0, first = '';
  for (let r = 0; r < Math.min(got.length, expected.length); r++)
    for (const c of cols) {
      if (!same(c.type, expected[r][c.name], got[r][c.name])) {
        if (!bad) first = `row ${r} ${c.name}: got ${show(got[r][c.name])} want ${show(expected[r][c.name])}`;
        bad++;
      }
    }
  check(bad === 0, `${what}: values`, `${bad} mismatches, first ${first}`);
}

// Expected per-row-group statistics of one column.
function rgStats(col, rows) {
  let nulls = 0, min, max, nan = false, longStr = false, have = false;
  for (const row of rows) {
    const v = row[col.name];
    if (v === null) { nulls++; continue; }
    if (col.type === 'double' && Number.isNaN(v)) { nan = true; continue; }
    if (!have || cmp(col.type, v, min) < 0) min = v;
    if (!have || cmp(col.type, v, max) > 0) max = v;
    have = true;
  }
  if (col.type === 'string' && have)
    longStr = enc.encode(min).length > 256 || enc.encode(max).length > 256;
  if (col.type === 'double' && have) { if (min === 0) min = -0; if (max === 0) max = 0; }
  const hasMinMax = have && !nan && !longStr;
  return { nulls, min, max, hasMinMax };
}

const sqlStr = (s) => `'${s.replaceAll("'", "''")}'`;
function usToSql(us) { // bigint micros -> TIMESTAMPTZ literal with explicit +00
  const sec = us / 1000000n, frac = ((us % 1000000n) + 1000000n) % 1000000n;
  const secs = (us - frac) / 1000000n;
  void sec;
  const d = new Date(Number(secs) * 1000).toISOString().slice(0, 19).replace('T', ' ');
  return `'${d}.${frac.toString().padStart(6, '0')}+00'::TIMESTAMPTZ`;
}
function literal(type, v) {
  switch (type) {
    case 'string': return sqlStr(v);
    case 'int64': return `CAST('${v}' AS BIGINT)`;
    case 'timestamp_us': return usToSql(v);
    case 'double': return Number.isNaN(v) ? `'NaN'::DOUBLE` : `${sqlStr(Object.is(v, -0) ? '-0.0' : String(v))}::DOUBLE`;
    case 'boolean': return v ? 'true' : 'false';
  }
}

const instance = await DuckDBInstance.create(':memory:');
const con = await instance.connect();
await con.run("SET threads TO 1");
const q = async (sql) => (await con.runAndReadAll(sql)).getRowObjectsJS();

const manifest = JSON.parse(readFileSync(`${dir}/manifest.json`, 'utf8'));
// One dataset; a reader that throws (a file it cannot read) is a failure of
// that dataset, and the others are still checked.
async function checkDataset(ds) {
  const file = `${dir}/${ds.name}.parquet`;
  const lines = readFileSync(`${dir}/${ds.name}.ndjson`, 'utf8').split('\n').filter((l) => l.length);
  // every node by its dotted path (a flat schema's are its column names)
  const top = schemaTree(ds.nodes), nodes = preorder(top);
  const nodeCols = nodes.map((n) => ({ name: n.path, type: n.type }));
  const expected = lines.map((l) => flatten(JSON.parse(l), top, (n, v) => canon(n.type, v)));
  if (ds.name === 'nested') {
    // nulls at every level, and present groups whose leaves are all null
    const nullAt = (p) => expected.filter((r) => r[p] === null).length;
    check(['head', 'context', 'context.device', 'context.device.geo', 'context.device.geo.lat', 'tail.s'].every((p) => nullAt(p) > 0 && nullAt(p) < expected.length),
      `${ds.name}: nulls at every level`);
  }
  check(expected.length === ds.rows, `${ds.name}: expected file has ${ds.rows} rows`);
  // row-group sizes as recorded by the generator while writing
  const groups = [];
  let at = 0;
  for (const n of ds.row_groups) { groups.push(expected.slice(at, at + n)); at += n; }
  check(at === expected.length, `${ds.name}: row groups cover all rows`);
  if (ds.name === 'byte_limited') check(groups.length >= 4, `${ds.name}: byte limit cut ${groups.length} row groups`);
  if (ds.name === 'wide') check(groups.length === 16 && ds.columns.length === 20, `${ds.name}: 16 row groups x 20 columns`);
  if (ds.name === 'types') check(ds.row_groups.join() === '7000,7000,7000,7000,2000', `${ds.name}: row-count cut`, ds.row_groups.join());
  const quoted = (n) => `"${n}"`;

  // ---------------- DuckDB: schema, values
  const desc = await q(`DESCRIBE SELECT * FROM read_parquet('${file}')`);
  const duckLeaf = { string: 'VARCHAR', int64: 'BIGINT', double: 'DOUBLE', boolean: 'BOOLEAN', timestamp_us: 'TIMESTAMP WITH TIME ZONE' };
  const duckType = (n) => n.type === 'group' ? `STRUCT(${n.children.map((c) => `${c.name} ${duckType(c)}`).join(', ')})` : duckLeaf[n.type];
  check(desc.length === top.length && top.every((n, i) => desc[i].column_name === n.name && desc[i].column_type === duckType(n)),
    `${ds.name}: DuckDB schema`, JSON.stringify(desc.map((d) => [d.column_name, d.column_type])));
  // every node as a column named by its path: groups as true or NULL
  const sel = nodes.map((n) => {
    const e = sqlPath(n.path.split('.'));
    const v = n.type === 'group' ? `CASE WHEN ${e} IS NULL THEN NULL ELSE true END` : n.type === 'timestamp_us' ? `epoch_us(${e})` : e;
    return `${v} AS ${quoted(n.path)}`;
  }).join(', ');
  const duckRows = await q(`SELECT ${sel} FROM read_parquet('${file}', file_row_number=true) ORDER BY file_row_number`);
  compareRows(`${ds.name}: DuckDB`, nodeCols, expected, duckRows);

  // ---------------- DuckDB: parquet_metadata (compression, encodings, stats)
  const md = await q(`SELECT row_group_id, column_id, path_in_schema, num_values, compression, encodings,
      stats_null_count, stats_min_value, stats_max_value FROM parquet_metadata('${file}') ORDER BY row_group_id, column_id`);
  check(md.length === groups.length * ds.columns.length, `${ds.name}: DuckDB sees ${groups.length} row groups`, `${md.length} chunks`);
  let mdBad = [];
  const seenEnc = new Set();
  for (const m of md) {
    const g = Number(m.row_group_id), col = ds.columns[Number(m.column_id)];
    const st = rgStats(col, groups[g]);
    if (m.compression !== ds.codec) mdBad.push(`rg${g} ${col.name} compression ${m.compression}`);
    if (Number(m.num_values) !== groups[g].length) mdBad.push(`rg${g} ${col.name} num_values ${m.num_values}`);
    if (String(m.path_in_schema) !== col.path.join(', ')) mdBad.push(`rg${g} ${col.name} path_in_schema ${m.path_in_schema}`);
    if (Number(m.stats_null_count) !== st.nulls) mdBad.push(`rg${g} ${col.name} null_count ${m.stats_null_count} want ${st.nulls}`);
    if (col.type === 'string' || col.type === 'int64' || col.type === 'boolean') {
      const want = st.hasMinMax ? [String(st.min), String(st.max)] : [null, null];
      if (m.stats_min_value !== want[0] || m.stats_max_value !== want[1])
        mdBad.push(`rg${g} ${col.name} min/max ${m.stats_min_value}/${m.stats_max_value} want ${want}`);
    }
    const encs = String(m.encodings);
    if (ds.expect_dict && ds.expect_dict[col.name]) {
      const wantDict = ds.expect_dict[col.name][g];
      if (encs.includes('RLE_DICTIONARY') !== wantDict) mdBad.push(`rg${g} ${col.name} encodings ${encs}, dictionary expected ${wantDict}`);
    }
    // Exactly the encodings the options allow: a dictionary (PLAIN page +
    // RLE_DICTIONARY) or the column's non-dictionary encoding, RLE levels.
    const { allow, nodict: nd, prefix } = allowedEncodings(col, ds.opts);
    const list = encs.split(/,\s*/);
    const nodict = prefix && list.includes('DELTA_BYTE_ARRAY') ? 'DELTA_BYTE_ARRAY' : nd;
    const want = list.includes('RLE_DICTIONARY') ? ['PLAIN', 'RLE', 'RLE_DICTIONARY'] : [nodict, 'RLE'];
    if (!list.every((e) => allow.has(e)) || want.some((e) => !list.includes(e)) || list.length !== new Set(want).size)
      mdBad.push(`rg${g} ${col.name} encodings ${encs}, allowed ${[...allow]}`);
    seenEnc.add(`${col.type}:${list.includes('RLE_DICTIONARY') ? 'RLE_DICTIONARY' : nodict}`);
  }
  check(mdBad.length === 0, `${ds.name}: DuckDB parquet_metadata`, mdBad.slice(0, 5).join('; '));
  // The defaults really use every encoding on the mixed dataset, so the
  // value checks above and below exercise them.
  if (ds.name === 'types') {
    const want = ['int64:RLE_DICTIONARY', 'int64:DELTA_BINARY_PACKED', 'timestamp_us:DELTA_BINARY_PACKED', 'string:DELTA_LENGTH_BYTE_ARRAY', 'string:RLE_DICTIONARY'];
    check(want.every((e) => seenEnc.has(e)), `${ds.name}: default options use dictionary, DELTA_BINARY_PACKED and DELTA_LENGTH_BYTE_ARRAY`, [...seenEnc].join(' '));
  }
  // ... and DELTA_BYTE_ARRAY where values share prefixes ("unique-<row>-..." ids)
  if (ds.name === 'fallback')
    check(seenEnc.has('string:DELTA_BYTE_ARRAY') && seenEnc.has('string:DELTA_LENGTH_BYTE_ARRAY'), `${ds.name}: default options use DELTA_BYTE_ARRAY and DELTA_LENGTH_BYTE_ARRAY`, [...seenEnc].join(' '));
  if (ds.variant === 'noprefix')
    check(![...seenEnc].includes('string:DELTA_BYTE_ARRAY'), `${ds.name}: no DELTA_BYTE_ARRAY with no_prefix_str`, [...seenEnc].join(' '));
  if (ds.variant === 'plain')
    check([...seenEnc].every((e) => e.endsWith(':PLAIN') || e === 'string:RLE_DICTIONARY'), `${ds.name}: only PLAIN and string dictionaries`, [...seenEnc].join(' '));

  // ---------------- DuckDB: filters pruned by statistics give exact counts
  // (statistics do not depend on the encodings: the default variant only)
  let filt = 0, filtBad = [];
  for (const col of ds.variant === '' ? ds.columns : []) {
    if (col.type === 'boolean') continue;
    const thresholds = [];
    for (const grp of groups) {
      const st = rgStats(col, grp);
      if (st.min !== undefined) thresholds.push(st.min, st.max);
    }
    for (const t of thresholds.slice(0, 8)) {
      for (const op of ['>=', '<=', '=', '>', '<']) {
        const sql = `SELECT count(*) AS n FROM read_parquet('${file}') WHERE ${sqlPath(col.path)} ${op} ${literal(col.type, t)}`;
        const got = Number((await q(sql))[0].n);
        const want = expected.filter((r) => {
          const v = r[col.name];
          if (v === null) return false;
          const c = cmp(col.type, v, t);
          return op === '>=' ? c >= 0 : op === '<=' ? c <= 0 : op === '=' ? c === 0 : op === '>' ? c > 0 : c < 0;
        }).length;
        filt++;
        if (got !== want) filtBad.push(`${col.name} ${op} ${show(t)}: ${got} != ${want}`);
      }
    }
  }
  if (ds.variant === '') check(filtBad.length === 0, `${ds.name}: DuckDB ${filt} filter counts`, filtBad.slice(0, 5).join('; '));

  // ---------------- parquet-wasm (arrow-rs): values
  const wasmRows = arrowRows(readFileSync(file), top);
  compareRows(`${ds.name}: parquet-wasm`, nodeCols, expected, wasmRows);

  // ---------------- hyparquet: values and metadata
  const buf = await asyncBufferFromFile(file);
  const meta = await parquetMetadataAsync(buf);
  check(/^libevpipe version \d+\.\d+\.\d+$/.test(meta.created_by), `${ds.name}: created_by`, meta.created_by);
  check(Number(meta.num_rows) === ds.rows && meta.row_groups.length === groups.length, `${ds.name}: hyparquet num_rows/row groups`);
  const elems = meta.schema.slice(1);
  let schemaBad = [];
  check(meta.schema[0].num_children === top.length, `${ds.name}: hyparquet root has ${top.length} children`, String(meta.schema[0].num_children));
  nodes.forEach((c, i) => {
    const s = elems[i];
    if (c.type === 'group') {
      // a group: repetition, name and children, no physical type
      if (!s || s.name !== c.name || s.type !== undefined || s.num_children !== c.nchildren ||
          s.repetition_type !== (c.optional ? 'OPTIONAL' : 'REQUIRED')) schemaBad.push(`${c.path} ${JSON.stringify(s)}`);
      return;
    }
    const phys = { string: 'BYTE_ARRAY', int64: 'INT64', double: 'DOUBLE', boolean: 'BOOLEAN', timestamp_us: 'INT64' }[c.type];
    if (!s || s.name !== c.name || s.type !== phys || s.repetition_type !== (c.optional ? 'OPTIONAL' : 'REQUIRED')) schemaBad.push(`${c.name} ${JSON.stringify(s)}`);
    if (c.type === 'string' && (s.converted_type !== 'UTF8' || s.logical_type?.type !== 'STRING')) schemaBad.push(`${c.name} annotations`);
    if (c.type === 'timestamp_us' && (s.converted_type !== 'TIMESTAMP_MICROS' || s.logical_type?.type !== 'TIMESTAMP' ||
        s.logical_type.unit !== 'MICROS' || s.logical_type.isAdjustedToUTC !== true)) schemaBad.push(`${c.name} annotations ${JSON.stringify(s.logical_type)}`);
  });
  check(schemaBad.length === 0, `${ds.name}: hyparquet schema`, schemaBad.join('; '));
  const parsers = { timestampFromMicroseconds: (v) => BigInt(v) };
  const hyRows = expected.length ? await parquetReadObjects({ file: buf, compressors, parsers }) : [];
  compareRows(`${ds.name}: hyparquet`, nodeCols, expected, hyRows.map((o) => flatten(o, top)));
  // exact statistics, decoded by hyparquet with the parsers above
  const meta2 = await parquetMetadataAsync(buf, { parsers });
  let stBad = [];
  meta2.row_groups.forEach((rg, g) => rg.columns.forEach((cc, i) => {
    const col = ds.columns[i], s = cc.meta_data.statistics || {}, st = rgStats(col, groups[g]);
    if (Number(s.null_count) !== st.nulls) stBad.push(`rg${g} ${col.name} null_count`);
    const want = st.hasMinMax ? [st.min, st.max] : [undefined, undefined];
    const norm = (v) => (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string' || typeof v === 'boolean' || v === undefined) ? v : String(v);
    if (!same(col.type, norm(s.min_value), want[0]) || !same(col.type, norm(s.max_value), want[1]))
      stBad.push(`rg${g} ${col.name} min_value/max_value ${show(norm(s.min_value))}/${show(norm(s.max_value))} want ${show(want[0])}/${show(want[1])}`);
    // deprecated min/max: numbers and booleans only (signed order), never strings
    const dep = col.type === 'string' ? [undefined, undefined] : want;
    if (!same(col.type, norm(s.min), dep[0]) || !same(col.type, norm(s.max), dep[1]))
      stBad.push(`rg${g} ${col.name} deprecated min/max ${show(norm(s.min))}/${show(norm(s.max))}`);
    const wantCodec = ds.codec;
    if (cc.meta_data.codec !== wantCodec) stBad.push(`rg${g} ${col.name} codec ${cc.meta_data.codec}`);
  }));
  check(stBad.length === 0, `${ds.name}: hyparquet statistics`, stBad.slice(0, 5).join('; '));

  // ---------------- hyparquet: the page index (ColumnIndex + OffsetIndex)
  // Pages must tile each chunk's data pages exactly, and every page's
  // bounds, null count and all-null flag must match its rows.
  let piBad = [], piChunks = 0;
  const bytesAll = new Uint8Array(readFileSync(file));
  const view = (off, len) => ({ view: new DataView(bytesAll.buffer, bytesAll.byteOffset + Number(off), Number(len)), offset: 0 });
  meta2.row_groups.forEach((rg, g) => rg.columns.forEach((cc, i) => {
    const col = ds.columns[i], md = cc.meta_data, where = `rg${g} ${col.name}`;
    if (ds.opts.no_page_index) {
      if (cc.offset_index_offset !== undefined || cc.column_index_offset !== undefined) piBad.push(`${where}: page index written though turned off`);
      return;
    }
    if (cc.offset_index_offset === undefined) { piBad.push(`${where}: no OffsetIndex`); return; }
    const oi = readOffsetIndex(view(cc.offset_index_offset, cc.offset_index_length));
    const locs = oi.page_locations, n = locs.length;
    if (!n || Number(locs[0].first_row_index) !== 0 || BigInt(locs[0].offset) !== BigInt(md.data_page_offset)) piBad.push(`${where}: first page ${JSON.stringify(locs[0], (k, v) => typeof v === 'bigint' ? String(v) : v)}`);
    const start = md.dictionary_page_offset !== undefined ? BigInt(md.dictionary_page_offset) : BigInt(md.data_page_offset);
    const end = start + BigInt(md.total_compressed_size);
    for (let k = 0; k < n; k++) {
      const next = k + 1 < n ? BigInt(locs[k + 1].offset) : end;
      if (BigInt(locs[k].offset) + BigInt(locs[k].compressed_page_size) !== next) piBad.push(`${where}: page ${k} does not end where the next starts`);
      if (k && !(Number(locs[k].first_row_index) > Number(locs[k - 1].first_row_index))) piBad.push(`${where}: first_row_index not increasing`);
    }
    const rows = groups[g];
    const slices = locs.map((l, k) => rows.slice(Number(l.first_row_index), k + 1 < n ? Number(locs[k + 1].first_row_index) : rows.length));
    const bounded = slices.every((sl) => { const st = rgStats(col, sl); return st.hasMinMax || st.nulls === sl.length; });
    if (!bounded) {
      if (cc.column_index_offset !== undefined) piBad.push(`${where}: ColumnIndex despite NaN or long strings`);
      return;
    }
    if (cc.column_index_offset === undefined) { piBad.push(`${where}: no ColumnIndex`); return; }
    const ci = readColumnIndex(view(cc.column_index_offset, cc.column_index_length), meta2.schema[col.schema_index], parsers);
    piChunks++;
    if (ci.null_pages.length !== n || ci.min_values.length !== n || ci.null_counts.length !== n) { piBad.push(`${where}: ColumnIndex has ${ci.null_pages.length} pages, OffsetIndex ${n}`); return; }
    slices.forEach((sl, k) => {
      const st = rgStats(col, sl), allNull = st.nulls === sl.length;
      if (ci.null_pages[k] !== allNull || Number(ci.null_counts[k]) !== st.nulls) piBad.push(`${where} page ${k}: nulls ${ci.null_pages[k]}/${ci.null_counts[k]} want ${allNull}/${st.nulls}`);
      if (!allNull) {
        const norm = (v) => (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string' || typeof v === 'boolean') ? v : String(v);
        if (!same(col.type, norm(ci.min_values[k]), st.min) || !same(col.type, norm(ci.max_values[k]), st.max))
          piBad.push(`${where} page ${k}: bounds ${show(norm(ci.min_values[k]))}/${show(norm(ci.max_values[k]))} want ${show(st.min)}/${show(st.max)}`);
      }
    });
    if ((col.type === 'int64' || col.type === 'timestamp_us') && ci.boundary_order === 'ASCENDING') {
      const live = slices.map((sl) => rgStats(col, sl)).filter((st) => st.hasMinMax);
      if (live.some((st, k) => k && (st.min < live[k - 1].min || st.max < live[k - 1].max))) piBad.push(`${where}: ASCENDING but not sorted`);
    }
  }));
  check(piBad.length === 0, `${ds.name}: hyparquet page index (${piChunks} column indexes)`, piBad.slice(0, 5).join('; '));
  if (ds.name === 'one') {
    const kv = meta.key_value_metadata || [];
    check(kv.length === 2 && kv[0].key === 'evpipe.schema' && kv[0].value === 'events v1 \u2713' &&
          kv[1].key === 'no.value' && kv[1].value === undefined, `${ds.name}: hyparquet key_value_metadata`, JSON.stringify(kv));
    const dkv = await q(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata('${file}') ORDER BY k`);
    check(dkv.length >= 1 && dkv.some((r) => r.k === 'evpipe.schema' && r.v === 'events v1 \u2713'), `${ds.name}: DuckDB parquet_kv_metadata`, JSON.stringify(dkv));
  }
  check(Array.isArray(meta.column_orders) ? meta.column_orders.length === ds.columns.length : true, `${ds.name}: column orders`);
}

// An optional second argument checks only the datasets whose name starts with it.
for (const ds of manifest.filter((d) => !process.argv[3] || d.name.startsWith(process.argv[3]))) {
  try {
    await checkDataset(ds);
  } catch (e) {
    check(false, `${ds.name}: a reader failed`, String(e?.message ?? e).slice(0, 300));
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
