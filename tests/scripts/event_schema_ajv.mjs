// Checks the default event schema with a second, independent validator (ajv
// draft-07 + ajv-formats): the schema compiles in strict mode, every line of
// sample-events.ndjson validates, and every line of invalid-events.ndjson
// fails for the reason documented in docs/event-schema.md.
// usage: node event_schema_ajv.mjs SOURCE_DIR   (prints "ok: ..." / "FAIL: ..." lines)
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const src = process.argv[2];
const require = createRequire(join(src, 'tests/node/package.json'));
const Ajv = require('ajv');
const addFormats = require('ajv-formats');

// Line N of invalid-events.ndjson -> [keyword, instancePath] of the error it must raise.
const expected = [
  ['required', ''],                       // 1  event_id missing
  ['format', '/event_id'],                // 2  not a UUID
  ['pattern', '/event_type'],             // 3  upper case
  ['maxLength', '/event_type'],           // 4  65 characters
  ['format', '/event_time'],              // 5  no time zone offset
  ['format', '/event_time'],              // 6  February 30th
  ['minLength', '/app_id'],               // 7  empty
  ['enum', '/platform'],                  // 8  unknown platform
  ['type', '/user_id'],                   // 9  number instead of string/null
  ['additionalProperties', ''],           // 10 unknown top-level field
  ['additionalProperties', '/context'],   // 11 context.ip is not allowed
  ['type', '/properties/cart'],           // 12 nested object in properties
  ['maxProperties', '/properties'],       // 13 51 keys
  ['pattern', '/properties'],             // 14 key with '-' (propertyNames)
  ['maxLength', '/properties/note'],      // 15 1025-character string
  ['type', ''],                           // 16 not an object
];

let pass = 0, fail = 0;
const check = (ok, what) => {
  if (ok) { pass++; console.log(`ok: ${what}`); } else { fail++; console.log(`FAIL: ${what}`); }
};

const schema = JSON.parse(readFileSync(join(src, 'examples/schemas/glue-data-catalog-json-schema.json'), 'utf8'));
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
addFormats(ajv);
let validate = null;
try { validate = ajv.compile(schema); } catch (e) { console.log(`compile error: ${e.message}`); }
check(validate !== null, 'schema compiles with ajv (draft-07, strict)');
if (validate) {
  const lines = (f) => readFileSync(join(src, 'examples/schemas', f), 'utf8').split('\n').filter((l) => l.length);
  lines('sample-events.ndjson').forEach((l, i) => {
    const ok = validate(JSON.parse(l));
    check(ok, `sample line ${i + 1} validates${ok ? '' : ': ' + ajv.errorsText(validate.errors)}`);
  });
  const bad = lines('invalid-events.ndjson');
  check(bad.length === expected.length, `invalid-events has ${expected.length} lines (got ${bad.length})`);
  bad.forEach((l, i) => {
    const ok = validate(JSON.parse(l));
    const errs = validate.errors || [];
    const [kw, path] = expected[i] || [];
    const hit = errs.some((e) => e.keyword === kw && e.instancePath === path);
    check(!ok && hit, `invalid line ${i + 1} fails with ${kw} at '${path}'` +
      (hit ? '' : ` (got: ${errs.map((e) => e.keyword + '@' + e.instancePath).join(', ') || 'valid'})`));
  });
}
console.log(`ajv: ${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
