// The peer for bench_schema: node ajv + ajv-formats doing JSON.parse +
// validate of the same event against the same schema, on one thread.
//   node bench/bench_schema_ajv.mjs [SECONDS] [SCHEMA_FILE]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '../tests/node/package.json'));
const Ajv = require('ajv').default;
const addFormats = require('ajv-formats').default;

const secs = Number(process.argv[2] || 2);
const schemaFile = process.argv[3] || join(here, '../examples/schemas/glue-data-catalog-json-schema.json');
const ajv = new Ajv({ allErrors: false, strict: false });
addFormats(ajv);
const validate = ajv.compile(JSON.parse(readFileSync(schemaFile, 'utf8')));

// The same event as bench/bench_schema.c.
const event = '{"event_id":"9c2e4b71-0d3a-4c8f-a6e5-2b7f1d9e3c60","event_type":"checkout.completed",' +
  '"event_time":"2024-05-01T10:02:11.250+02:00","app_id":"shop-android","user_id":"u-1842",' +
  '"platform":"android","context":{"locale":"de-DE","os":"Android"},' +
  '"properties":{"order_id":"o-99812","total":59.9,"items":3,"first_order":false,"coupon":null}}';
if (!validate(JSON.parse(event))) { console.error(validate.errors); process.exit(1); }

function rate(text, want, s) {
  let n = 0, bad = false; const t0 = performance.now(); let el;
  do {
    for (let i = 0; i < 10000; i++) bad ||= validate(JSON.parse(text)) !== want;
    n += 10000;
  } while ((el = (performance.now() - t0) / 1000) < s);
  if (bad) { console.error('unexpected verdict'); process.exit(1); }
  return n / el;
}
console.log(`validate ${rate(event, true, secs).toFixed(0)} events/s`);
const invalid = '{"event_id":"nope","event_type":"x","event_time":"2024-05-01T10:02:11Z","app_id":"a"}';
console.log(`validate_invalid ${rate(invalid, false, secs / 2).toFixed(0)} events/s`);
