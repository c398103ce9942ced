// Rewrites the GENERATED blocks of deploy/aws/template.yaml from the event
// schema, with the evpipe tool:
//   apigw-model  <- evpipe schema apigw-model --schema SCHEMA
//   glue-table   <- evpipe schema glue --schema SCHEMA --table events
//                   (the placeholder location becomes the stack's bucket)
// usage: node deploy/aws/generate.mjs EVPIPE [SCHEMA] [TEMPLATE]
// Node only, no packages. tests/scripts/test_deploy_template.sh checks that
// the blocks equal what the tool prints.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const [evpipe, schema = join(here, "../../examples/schemas/glue-data-catalog-json-schema.json"),
  template = join(here, "template.yaml")] = process.argv.slice(2);
if (!evpipe) {
  console.error("usage: node deploy/aws/generate.mjs EVPIPE [SCHEMA] [TEMPLATE]");
  process.exit(2);
}
const PLACEHOLDER = "s3://example-bucket/events/";
const run = (...args) => JSON.parse(execFileSync(evpipe, args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }));

const model = run("schema", "apigw-model", "--schema", schema);
const glue = run("schema", "glue", "--schema", schema, "--table", "events", "--location", PLACEHOLDER);

// Strings naming the placeholder location become Fn::Sub of the bucket; a
// ${...} already in them (storage.location.template) is escaped as ${!...}.
const subBucket = (v) => {
  if (typeof v === "string" && v.includes(PLACEHOLDER))
    return { "Fn::Sub": v.replaceAll("${", "${!").replaceAll(PLACEHOLDER, "s3://${EventsBucket}/events/") };
  if (Array.isArray(v)) return v.map(subBucket);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, subBucket(x)]));
  return v;
};

// JSON is YAML: the block is the pretty-printed JSON under its key.
const block = (key, value, indent) => {
  const pad = " ".repeat(indent);
  const json = JSON.stringify(value, null, 2).split("\n").map((l) => pad + "  " + l).join("\n");
  return `${pad}${key}:\n${json}\n`;
};

let text = readFileSync(template, "utf8");
const replace = (name, key, value) => {
  const re = new RegExp(`^( *)# BEGIN GENERATED ${name}:.*\\n[\\s\\S]*?^ *# END GENERATED ${name}\\n`, "m");
  const m = text.match(re);
  if (!m) throw new Error(`no GENERATED ${name} block in ${template}`);
  const indent = m[1].length;
  const begin = m[0].split("\n")[0];
  text = text.replace(re, () => `${begin}\n${block(key, value, indent)}${m[1]}# END GENERATED ${name}\n`);
};
replace("apigw-model", "Schema", model);
replace("glue-table", "TableInput", subBucket(glue));
writeFileSync(template, text);
console.log(`updated ${template}`);
