// Checks of the AWS deployment (tests/scripts/test_deploy_template.sh,
// tests/scripts/test_cli_schema_apigw.sh).
//
//   node template_check.mjs template TEMPLATE MODEL.json GLUE.json [FUNCTIONS_H]
//     parses deploy/aws/template.yaml (CloudFormation short-form tags as
//     custom tags) and checks that every reference resolves, GetAtt
//     attributes exist for the type, each function's role is least privilege,
//     and the GENERATED blocks equal the CLI's output (MODEL.json from
//     `evpipe schema apigw-model`, GLUE.json from `evpipe schema glue --table
//     events --location s3://example-bucket/events/`).
//   node template_check.mjs model MODEL.json SRC [MAX_EVENTS]
//     validates example batches against the API Gateway model with a real
//     draft-04 validator (ajv-draft-04): samples accepted, the invalid
//     examples the model can express refused, the rest accepted.
//
// Prints "ok - ..." / "FAIL - ..." lines and "N passed, N failed"; exits 1
// when something failed.
import { readFileSync, existsSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { join } from "node:path";

let pass = 0, fail = 0;
const ok = (name) => { pass++; console.log(`ok   - ${name}`); };
const ko = (name, why) => { fail++; console.log(`FAIL - ${name}${why ? ": " + why : ""}`); };
const check = (cond, name, why) => (cond ? ok(name) : ko(name, typeof why === "function" ? why() : why));
const finish = () => { console.log(`${pass} passed, ${fail} failed`); process.exit(fail ? 1 : 0); };


// ------------------------------------------------------------------ YAML

// CloudFormation's short forms, as the long forms CloudFormation sees.
async function parseTemplate(path) {
  const YAML = await import("yaml");
  const fn = (tag, name, kinds) => kinds.map((k) => ({
    tag, collection: k === "scalar" ? undefined : k,
    resolve: (v) => {
      const val = k === "scalar" ? v : v.toJSON();
      if (name === "Fn::GetAtt" && typeof val === "string") {
        const i = val.indexOf(".");
        return { [name]: [val.slice(0, i), val.slice(i + 1)] };
      }
      return { [name]: val };
    },
  }));
  const tags = [
    ...fn("!Ref", "Ref", ["scalar"]),
    ...fn("!Condition", "Condition", ["scalar"]),
    ...fn("!GetAtt", "Fn::GetAtt", ["scalar", "seq"]),
    ...fn("!Sub", "Fn::Sub", ["scalar", "seq"]),
    ...fn("!Base64", "Fn::Base64", ["scalar", "map"]),
    ...fn("!GetAZs", "Fn::GetAZs", ["scalar", "map"]),
    ...fn("!ImportValue", "Fn::ImportValue", ["scalar", "map"]),
    ...["Join", "If", "Equals", "Select", "Split", "FindInMap", "Not", "And", "Or", "Cidr"]
      .flatMap((n) => fn(`!${n}`, `Fn::${n}`, ["seq"])),
  ];
  const text = readFileSync(path, "utf8");
  const doc = YAML.parseDocument(text, { customTags: tags, uniqueKeys: true });
  if (doc.errors.length) throw new Error(doc.errors.map((e) => e.message).join("; "));
  if (doc.warnings.length) throw new Error(doc.warnings.map((e) => e.message).join("; "));
  return doc.toJS({ maxAliasCount: -1 });
}

// ------------------------------------------------------------------ template

const PSEUDO = new Set(["AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
  "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"]);

// GetAtt attributes of the types the template uses (CloudFormation reference;
// SAM functions resolve to the generated AWS::Lambda::Function).
const ATTRS = {
  "AWS::S3::Bucket": ["Arn", "DomainName", "DualStackDomainName", "RegionalDomainName", "WebsiteURL"],
  "AWS::SQS::Queue": ["Arn", "QueueName", "QueueUrl"],
  "AWS::IAM::Role": ["Arn", "RoleId"],
  "AWS::Lambda::Function": ["Arn", "SnapStartResponse", "SnapStartResponse.ApplyOn", "SnapStartResponse.OptimizationStatus"],
  "AWS::Serverless::Function": ["Arn"],
  "AWS::Logs::LogGroup": ["Arn"],
  "AWS::KinesisFirehose::DeliveryStream": ["Arn"],
  "AWS::ApiGateway::RestApi": ["RestApiId", "RootResourceId"],
  "AWS::ApiGateway::Authorizer": ["AuthorizerId"],
  "AWS::SecretsManager::Secret": ["Id"],
  "AWS::Glue::Database": ["DatabaseName"],
  "AWS::Athena::WorkGroup": ["CreationTime", "WorkGroupConfiguration.EngineVersion.EffectiveEngineVersion"],
  "AWS::CloudWatch::Alarm": ["Arn"],
  "AWS::Lambda::EventSourceMapping": ["Id", "EventSourceMappingArn"],
};

// Actions AWS does not scope to a resource: the only ones allowed on "*".
const STAR_OK = new Set(["xray:PutTraceSegments", "xray:PutTelemetryRecords", "cloudwatch:PutMetricData",
  "secretsmanager:GetRandomPassword"]);

const asList = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

// "ref:X" / "arn:X" / "getatt:X.Attr" / a literal string, for comparing resources.
function resKey(v) {
  if (typeof v === "string") return v;
  if (v && v.Ref) return `ref:${v.Ref}`;
  if (v && v["Fn::GetAtt"]) {
    const [r, a] = v["Fn::GetAtt"];
    return a === "Arn" ? `arn:${r}` : `getatt:${r}.${a}`;
  }
  return JSON.stringify(v);
}

async function checkTemplate(templatePath, modelPath, gluePath, functionsH) {
  let t;
  try {
    t = await parseTemplate(templatePath);
    ok("template parses as YAML with the CloudFormation tags");
  } catch (e) {
    ko("template parses", e.message);
    return;
  }
  const R = t.Resources || {}, P = t.Parameters || {}, C = t.Conditions || {}, M = t.Mappings || {};
  check(t.AWSTemplateFormatVersion === "2010-09-09", "AWSTemplateFormatVersion 2010-09-09");
  check(asList(t.Transform).includes("AWS::Serverless-2016-10-31"), "SAM transform");
  const typeOf = (n) => R[n] && R[n].Type;

  // ---- every reference resolves
  const problems = [];
  const usedParams = new Set(), usedConds = new Set();
  const refOk = (name, where) => {
    if (PSEUDO.has(name)) return;
    if (P[name]) { usedParams.add(name); return; }
    if (R[name]) return;
    problems.push(`${where}: Ref ${name} names no resource, parameter or pseudo-parameter`);
  };
  const getAttOk = (r, a, where) => {
    if (!R[r]) { problems.push(`${where}: GetAtt ${r}.${a}: no resource ${r}`); return; }
    const attrs = ATTRS[R[r].Type];
    if (!attrs) problems.push(`${where}: GetAtt ${r}.${a}: no attribute table for ${R[r].Type}`);
    else if (!attrs.includes(a)) problems.push(`${where}: GetAtt ${r}.${a}: ${R[r].Type} has no attribute ${a}`);
  };
  const condOk = (c, where) => {
    if (C[c] === undefined) problems.push(`${where}: condition ${c} is not defined`);
    else usedConds.add(c);
  };
  const subOk = (str, vars, where) => {
    if (typeof str !== "string") { problems.push(`${where}: Fn::Sub template is not a string`); return; }
    for (const m of str.matchAll(/\$\{([^}]*)\}/g)) {
      const v = m[1];
      if (v.startsWith("!")) continue; // ${!Literal}
      if (vars && Object.hasOwn(vars, v)) continue;
      if (v.includes(".") && !PSEUDO.has(v)) {
        const i = v.indexOf(".");
        getAttOk(v.slice(0, i), v.slice(i + 1), where);
      } else refOk(v, where);
    }
  };
  const walk = (v, where) => {
    if (Array.isArray(v)) { v.forEach((x, i) => walk(x, `${where}[${i}]`)); return; }
    if (!v || typeof v !== "object") return;
    const keys = Object.keys(v);
    if (keys.length === 1) {
      const k = keys[0], a = v[k];
      if (k === "Ref") { refOk(a, where); return; }
      if (k === "Fn::GetAtt") {
        if (!Array.isArray(a) || a.length !== 2) problems.push(`${where}: malformed GetAtt`);
        else getAttOk(a[0], a[1], where);
        return;
      }
      if (k === "Fn::Sub") {
        if (Array.isArray(a)) { subOk(a[0], a[1], where); walk(a[1], where); } else subOk(a, null, where);
        return;
      }
      if (k === "Fn::If") {
        if (!Array.isArray(a) || a.length !== 3) problems.push(`${where}: malformed Fn::If`);
        else { condOk(a[0], where); walk(a.slice(1), where); }
        return;
      }
      if (k === "Condition" && typeof a === "string") { condOk(a, where); return; }
      if (k === "Fn::FindInMap") {
        if (!M[a[0]]) problems.push(`${where}: mapping ${a[0]} is not defined`);
        walk(a.slice(1), where);
        return;
      }
    }
    for (const [k, x] of Object.entries(v)) walk(x, `${where}.${k}`);
  };
  for (const [n, c] of Object.entries(C)) walk(c, `Conditions.${n}`);
  for (const [n, r] of Object.entries(R)) {
    if (!r.Type) problems.push(`Resources.${n}: no Type`);
    walk(r.Properties || {}, `Resources.${n}`);
    if (r.Condition !== undefined) condOk(r.Condition, `Resources.${n}.Condition`);
    for (const d of asList(r.DependsOn))
      if (!R[d]) problems.push(`Resources.${n}.DependsOn: no resource ${d}`);
  }
  for (const [n, o] of Object.entries(t.Outputs || {})) {
    walk(o.Value, `Outputs.${n}`);
    if (o.Condition !== undefined) condOk(o.Condition, `Outputs.${n}.Condition`);
  }
  check(problems.length === 0, "every Ref, GetAtt, Sub variable, condition and DependsOn resolves",
    () => problems.slice(0, 8).join("; "));
  const unusedP = Object.keys(P).filter((p) => !usedParams.has(p));
  check(unusedP.length === 0, "every parameter is used", () => unusedP.join(", "));
  const unusedC = Object.keys(C).filter((c) => !usedConds.has(c));
  check(unusedC.length === 0, "every condition is used", () => unusedC.join(", "));

  // ---- functions
  const fns = Object.entries(R).filter(([, r]) => ["AWS::Serverless::Function", "AWS::Lambda::Function"].includes(r.Type));
  const byHandler = {};
  for (const [n, r] of fns) {
    const p = r.Properties || {};
    check(p.Runtime === "provided.al2023", `${n}: Runtime provided.al2023`, `Runtime ${p.Runtime}`);
    check(isDeepStrictEqual(p.Architectures, ["x86_64"]), `${n}: Architectures [x86_64]`, JSON.stringify(p.Architectures));
    check(p.CodeUri === "../../dist/evpipe-lambda.zip", `${n}: CodeUri ../../dist/evpipe-lambda.zip`, JSON.stringify(p.CodeUri));
    if (byHandler[p.Handler]) ko(`${n}: handler ${p.Handler} used once`, `also ${byHandler[p.Handler]}`);
    byHandler[p.Handler] = n;
  }
  check(isDeepStrictEqual(Object.keys(byHandler).sort(), ["authorizer", "issuer", "processor", "rotation"]),
    "four functions: issuer, authorizer, processor, rotation", Object.keys(byHandler).join(","));
  const env = (fnName) => (R[fnName]?.Properties?.Environment?.Variables) || {};
  const wantEnv = {
    issuer: ["EVP_SIGNING_KEY_SECRET_ID", "EVP_CLIENTS_SECRET_ID", "EVP_TOKEN_AUDIENCE", "EVP_TOKEN_ISSUER"],
    authorizer: ["EVP_SIGNING_KEY_SECRET_ID", "EVP_TOKEN_AUDIENCE", "EVP_TOKEN_ISSUER"],
    processor: ["EVP_DELIVERY_STREAM", "EVP_DEADLETTER_STREAM"],
    rotation: [],
  };
  for (const [h, vars] of Object.entries(wantEnv)) {
    if (!byHandler[h]) continue;
    const missing = vars.filter((v) => env(byHandler[h])[v] === undefined);
    check(missing.length === 0, `${h}: environment ${vars.join(", ") || "(none needed)"}`, `missing ${missing.join(", ")}`);
  }
  // The secrets and streams the functions are told about.
  const signing = resKey(env(byHandler.issuer).EVP_SIGNING_KEY_SECRET_ID);
  const clients = resKey(env(byHandler.issuer).EVP_CLIENTS_SECRET_ID);
  check(signing === resKey(env(byHandler.authorizer).EVP_SIGNING_KEY_SECRET_ID),
    "issuer and authorizer use the same signing-key secret");
  const refToArn = (k) => (k.startsWith("ref:") ? `arn:${k.slice(4)}` : k);
  const delivery = refToArn(resKey(env(byHandler.processor).EVP_DELIVERY_STREAM));
  const deadletter = refToArn(resKey(env(byHandler.processor).EVP_DEADLETTER_STREAM));
  const esms = Object.entries(R).filter(([, r]) => r.Type === "AWS::Lambda::EventSourceMapping");
  const procEsm = esms.find(([, r]) => [`ref:${byHandler.processor}`, `arn:${byHandler.processor}`]
    .includes(resKey(r.Properties.FunctionName)));
  check(procEsm && asList(procEsm[1].Properties.FunctionResponseTypes).includes("ReportBatchItemFailures"),
    "processor: SQS event source mapping with ReportBatchItemFailures");
  const queue = procEsm ? resKey(procEsm[1].Properties.EventSourceArn) : "?";
  check(queue.startsWith("arn:") && typeOf(queue.slice(4)) === "AWS::SQS::Queue", "processor reads an SQS queue", queue);

  // ---- least privilege per function role
  const logGroup = (fnName) => {
    const lg = R[fnName]?.Properties?.LoggingConfig?.LogGroup;
    return lg ? `arn:${lg.Ref}` : null;
  };
  const allowed = {
    issuer: { "secretsmanager:GetSecretValue": [signing, clients] },
    authorizer: { "secretsmanager:GetSecretValue": [signing] },
    processor: {
      "sqs:ReceiveMessage": [queue], "sqs:DeleteMessage": [queue], "sqs:GetQueueAttributes": [queue],
      "firehose:PutRecordBatch": [delivery, deadletter],
    },
    rotation: Object.fromEntries(["DescribeSecret", "GetSecretValue", "PutSecretValue", "UpdateSecretVersionStage"]
      .map((a) => [`secretsmanager:${a}`, [signing, clients]])),
  };
  const roleUsers = {};
  for (const [n, r] of fns) {
    const k = resKey(r.Properties.Role);
    (roleUsers[k] = roleUsers[k] || []).push(n);
  }
  for (const [h, fnName] of Object.entries(byHandler)) {
    const roleKey = resKey(R[fnName].Properties.Role);
    const role = roleKey.startsWith("arn:") ? R[roleKey.slice(4)] : null;
    if (!role || role.Type !== "AWS::IAM::Role") { ko(`${h}: role is an AWS::IAM::Role of the template`, roleKey); continue; }
    check(roleUsers[roleKey].length === 1, `${h}: role not shared with another function`, roleUsers[roleKey].join(","));
    const rp = role.Properties;
    check(!rp.ManagedPolicyArns || rp.ManagedPolicyArns.length === 0, `${h}: no managed policies`);
    const allow = { ...allowed[h] };
    const lg = logGroup(fnName);
    if (lg) { allow["logs:CreateLogStream"] = [lg]; allow["logs:PutLogEvents"] = [lg]; }
    const bad = [];
    const granted = new Set();
    for (const pol of asList(rp.Policies)) {
      for (const st of asList(pol.PolicyDocument?.Statement)) {
        if (st.Effect !== "Allow") continue;
        if (st.NotAction || st.NotResource) { bad.push("NotAction/NotResource"); continue; }
        const res = asList(st.Resource).map(resKey);
        for (const a of asList(st.Action)) {
          if (typeof a !== "string" || a.includes("*")) { bad.push(`wildcard action ${a}`); continue; }
          for (const r of res) {
            if (r === "*" || (typeof r === "string" && /^arn:aws[^:]*:[^:]*:[^:]*:[^:]*:\*$/.test(r))) {
              if (!STAR_OK.has(a)) bad.push(`${a} on "*"`);
              continue;
            }
            if (!allow[a]) bad.push(`${a} is not an allowed action`);
            else if (!allow[a].includes(r)) bad.push(`${a} on ${r} (allowed: ${allow[a].join(", ")})`);
            granted.add(a);
          }
        }
      }
    }
    check(bad.length === 0, `${h}: role grants only ${Object.keys(allowed[h]).join(", ")} (+ its log group)`,
      () => bad.join("; "));
    const missing = Object.keys(allowed[h]).filter((a) => !granted.has(a));
    check(missing.length === 0, `${h}: role grants what the function needs`, () => `missing ${missing.join(", ")}`);
  }
  // No role at all with wildcard actions or "*" resources.
  for (const [n, r] of Object.entries(R).filter(([, r]) => r.Type === "AWS::IAM::Role")) {
    const bad = [];
    for (const pol of asList(r.Properties.Policies))
      for (const st of asList(pol.PolicyDocument?.Statement)) {
        for (const a of asList(st.Action)) if (String(a).includes("*")) bad.push(`action ${a}`);
        if (asList(st.Resource).includes("*") && !asList(st.Action).every((a) => STAR_OK.has(a))) bad.push(`"*" resource for ${asList(st.Action).join(",")}`);
      }
    check(bad.length === 0, `${n}: no wildcard actions or resources`, () => bad.join("; "));
  }

  // ---- secrets: 30-day rotation by the rotation function
  const secrets = Object.keys(R).filter((n) => typeOf(n) === "AWS::SecretsManager::Secret");
  check(isDeepStrictEqual([signing, clients].sort(), secrets.map((s) => `ref:${s}`).sort()),
    "two secrets: the signing key and the client store", secrets.join(","));
  for (const s of secrets) {
    const sched = Object.values(R).find((r) => r.Type === "AWS::SecretsManager::RotationSchedule" && resKey(r.Properties.SecretId) === `ref:${s}`);
    const rules = sched?.Properties?.RotationRules || {};
    check(sched && (rules.ScheduleExpression === "rate(30 days)" || rules.AutomaticallyAfterDays === 30),
      `${s}: rotated every 30 days`, JSON.stringify(rules));
    check(sched && resKey(sched.Properties.RotationLambdaARN) === `arn:${byHandler.rotation}`,
      `${s}: rotated by the rotation function`);
  }
  const rotPerm = Object.values(R).find((r) => r.Type === "AWS::Lambda::Permission" &&
    r.Properties.Principal === "secretsmanager.amazonaws.com" && resKey(r.Properties.FunctionName) === `arn:${byHandler.rotation}`);
  check(!!rotPerm, "Secrets Manager may invoke the rotation function");

  // ---- API: authorizer, SQS integration, validation
  const auth = Object.values(R).find((r) => r.Type === "AWS::ApiGateway::Authorizer");
  check(auth && auth.Properties.Type === "TOKEN" && auth.Properties.IdentitySource === "method.request.header.Authorization",
    "TOKEN authorizer on the Authorization header");
  const ttl = auth ? auth.Properties.AuthorizerResultTtlInSeconds : undefined;
  const ttlDefault = ttl && ttl.Ref ? P[ttl.Ref]?.Default : ttl;
  check(ttlDefault !== undefined && Number(ttlDefault) <= 300, "authorizer cache TTL is a parameter with a default <= 300 s", String(ttlDefault));
  const methods = Object.values(R).filter((r) => r.Type === "AWS::ApiGateway::Method");
  const events = methods.find((m) => m.Properties.Integration?.Type === "AWS");
  const tmpl = events ? events.Properties.Integration.RequestTemplates?.["application/json"] : undefined;
  const tmplText = tmpl && tmpl["Fn::Join"] ? tmpl["Fn::Join"][1].join(tmpl["Fn::Join"][0]) : String(tmpl);
  const attrs = {};
  for (const m of tmplText.matchAll(/MessageAttribute\.(\d+)\.Name=([A-Za-z0-9_]+)/g)) attrs[m[2]] = m[1];
  const dtype = (name) => (tmplText.match(new RegExp(`MessageAttribute\\.${attrs[name]}\\.Value\\.DataType=(\\w+)`)) || [])[1];
  check(/(^|&)Action=SendMessage(&|$)/.test(tmplText) && tmplText.includes("MessageBody=$util.urlEncode($input.body)"),
    "POST /events: SQS SendMessage with the url-encoded body");
  check(dtype("client_id") === "String" && dtype("received_at") === "Number",
    "message attributes client_id (String) and received_at (Number)", JSON.stringify(attrs));
  check(/received_at[^&]*&?MessageAttribute\.\d+\.Value\.StringValue=\$context\.requestTimeEpoch/.test(tmplText) ||
    new RegExp(`MessageAttribute\\.${attrs.received_at}\\.Value\\.StringValue=\\$context\\.requestTimeEpoch`).test(tmplText),
    "received_at is $context.requestTimeEpoch");
  if (functionsH && existsSync(functionsH)) {
    // The processor's documented contract names the same attributes.
    const h = readFileSync(functionsH, "utf8");
    const contract = [...h.matchAll(/^ \*\s+([a-z_]+)\s+DataType (String|Number)/gm)].map((m) => [m[1], m[2]]);
    const mism = contract.filter(([n, ty]) => attrs[n] && dtype(n) !== ty).map(([n]) => n);
    const unknown = Object.keys(attrs).filter((n) => !contract.some(([c]) => c === n));
    check(contract.length > 0 && mism.length === 0 && unknown.length === 0,
      "message attributes match src/functions/functions.h", () => `contract ${JSON.stringify(contract)}, template ${JSON.stringify(attrs)}`);
    const src = (tmplText.match(new RegExp(`MessageAttribute\\.${attrs.client_id}\\.Value\\.StringValue=([^&]*)`)) || [])[1] || "";
    const want = (h.match(/client_id\s+DataType String: (\$context\.authorizer\.[A-Za-z_]+)/) || [])[1];
    check(!want || src.includes(want), "client_id comes from what the contract names", `${src} vs ${want}`);
  }
  check(events && events.Properties.AuthorizationType === "CUSTOM" && events.Properties.RequestValidatorId,
    "POST /events: custom authorizer and a request validator");

  // ---- generated blocks equal the CLI's output
  const model = JSON.parse(readFileSync(modelPath, "utf8"));
  const modelRes = Object.entries(R).find(([, r]) => r.Type === "AWS::ApiGateway::Model" && r.Properties.Name === "EventsBatch");
  check(modelRes && isDeepStrictEqual(modelRes[1].Properties.Schema, model),
    "EventsBatch model equals `evpipe schema apigw-model`", () => "regenerate: node deploy/aws/generate.mjs EVPIPE");
  const glue = JSON.parse(readFileSync(gluePath, "utf8"));
  const table = Object.entries(R).find(([, r]) => r.Type === "AWS::Glue::Table");
  const unsub = (v) => {
    if (Array.isArray(v)) return v.map(unsub);
    if (v && typeof v === "object") {
      if (Object.keys(v).length === 1 && typeof v["Fn::Sub"] === "string")
        return v["Fn::Sub"].replaceAll("s3://${EventsBucket}/", "s3://example-bucket/").replaceAll("${!", "${");
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unsub(x)]));
    }
    return v;
  };
  check(table && isDeepStrictEqual(unsub(table[1].Properties.TableInput), glue),
    "Glue table equals `evpipe schema glue` (location: the stack's bucket)", () => "regenerate: node deploy/aws/generate.mjs EVPIPE");
  const cols = (x) => (x?.StorageDescriptor?.Columns || []).map((c) => `${c.Name}:${c.Type}`).join(" ");
  check(table && cols(table[1].Properties.TableInput) === cols(glue) && cols(glue).length > 0,
    "Glue columns equal the CLI's", () => `${cols(table?.[1].Properties.TableInput)} vs ${cols(glue)}`);

  // ---- Firehose
  const streams = Object.entries(R).filter(([, r]) => r.Type === "AWS::KinesisFirehose::DeliveryStream");
  const ev = streams.find(([n]) => `arn:${n}` === delivery)?.[1]?.Properties;
  const dl = streams.find(([n]) => `arn:${n}` === deadletter)?.[1]?.Properties;
  const evd = ev?.ExtendedS3DestinationConfiguration || {};
  const conv = evd.DataFormatConversionConfiguration || {};
  check(ev?.DeliveryStreamType === "DirectPut", "events stream: DirectPut");
  check(evd.Prefix === "events/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/" && typeof evd.ErrorOutputPrefix === "string" &&
    evd.ErrorOutputPrefix.includes("!{firehose:error-output-type}"), "events stream: dt=/hour= prefix and an error prefix");
  check(conv.Enabled === true && conv.InputFormatConfiguration?.Deserializer?.OpenXJsonSerDe !== undefined &&
    conv.OutputFormatConfiguration?.Serializer?.ParquetSerDe?.Compression === "SNAPPY" && evd.CompressionFormat === "UNCOMPRESSED",
    "events stream: OpenX JSON in, Parquet SNAPPY out");
  check(table && resKey(conv.SchemaConfiguration?.TableName) === `ref:${table[0]}` &&
    resKey(conv.SchemaConfiguration?.DatabaseName) === resKey(table[1].Properties.DatabaseName),
    "events stream converts through the generated Glue table");
  const loc = table?.[1].Properties.TableInput?.StorageDescriptor?.Location?.["Fn::Sub"] || "";
  const bucketName = (loc.match(/^s3:\/\/\$\{(\w+)\}\/events\/$/) || [])[1];
  check(bucketName && resKey(evd.BucketARN) === `arn:${bucketName}`, "the table's location is the stream's bucket + events/", loc);
  const dld = dl?.ExtendedS3DestinationConfiguration || {};
  check(dl?.DeliveryStreamType === "DirectPut" && dld.CompressionFormat === "GZIP" && String(dld.Prefix).startsWith("dead-letter/") &&
    !dld.DataFormatConversionConfiguration, "dead-letter stream: JSON, GZIP, dead-letter/ prefix");

  // ---- bucket, queue, alarms, outputs
  const b = R[bucketName]?.Properties || {};
  const pab = b.PublicAccessBlockConfiguration || {};
  check(b.BucketEncryption && ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"].every((k) => pab[k] === true) &&
    (b.LifecycleConfiguration?.Rules || []).length > 0, "bucket: encrypted, public access blocked, lifecycle rules");
  const tlsOnly = Object.values(R).some((r) => r.Type === "AWS::S3::BucketPolicy" && resKey(r.Properties.Bucket) === `ref:${bucketName}` &&
    asList(r.Properties.PolicyDocument?.Statement).some((s) => s.Effect === "Deny" && s.Condition?.Bool?.["aws:SecureTransport"] === "false"));
  check(tlsOnly, "bucket policy refuses requests without TLS");
  const q = R[queue.slice(4)]?.Properties || {};
  check(q.RedrivePolicy && q.RedrivePolicy.deadLetterTargetArn && q.RedrivePolicy.maxReceiveCount !== undefined,
    "queue has a dead-letter queue (redrive)");
  const alarms = Object.values(R).filter((r) => r.Type === "AWS::CloudWatch::Alarm").map((r) => `${r.Properties.Namespace}/${r.Properties.MetricName}`);
  for (const want of ["AWS/ApiGateway/4XXError", "AWS/SQS/ApproximateNumberOfMessagesVisible", "AWS/ApiGateway/Count", "AWS/Lambda/Errors",
    "AWS/Firehose/DeliveryToS3.Success"])
    check(alarms.includes(want), `alarm on ${want}`);
  check(Object.values(R).some((r) => r.Type === "AWS::CloudWatch::Dashboard"), "a dashboard");
  check(Object.values(R).some((r) => r.Type === "AWS::Athena::WorkGroup"), "an Athena workgroup");
  const outs = Object.keys(t.Outputs || {});
  for (const o of ["ApiUrl", "EventsBucketName", "AthenaWorkGroupName", "SigningKeySecretArn", "ClientsSecretArn"])
    check(outs.includes(o), `output ${o}`);
}

// ------------------------------------------------------------------ model

async function checkModel(modelPath, src, maxEvents = "500") {
  const { default: Ajv4 } = await import("ajv-draft-04");
  const model = JSON.parse(readFileSync(modelPath, "utf8"));
  let validate;
  try {
    const ajv = new Ajv4({ strict: true, allowUnionTypes: true, allErrors: true });
    validate = ajv.compile(model);
    ok("the model compiles as JSON Schema draft-04 (ajv-draft-04, strict)");
  } catch (e) {
    ko("the model compiles as draft-04", e.message);
    return;
  }
  const lines = (f) => readFileSync(join(src, "examples/schemas", f), "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  const samples = lines("sample-events.ndjson");
  const invalid = lines("invalid-events.ndjson");
  const max = Number(maxEvents);
  const why = () => JSON.stringify(validate.errors?.slice(0, 3));
  samples.forEach((e, i) => check(validate({ events: [e] }), `sample ${i + 1} accepted`, why));
  check(validate({ events: samples.slice(0, max) }), `the samples in one batch accepted`, why);
  // Lines of invalid-events.ndjson the draft-04 model can express; the others
  // (uuid and date-time formats, propertyNames) pass the gateway and are
  // refused by the processor.
  const expressible = new Set([1, 3, 4, 7, 8, 9, 10, 11, 12, 13, 15, 16]);
  invalid.forEach((e, i) => {
    const n = i + 1, valid = validate({ events: [samples[0], e] });
    if (expressible.has(n)) check(!valid, `invalid line ${n} refused`, "accepted");
    else check(valid, `invalid line ${n} passes the gateway (not expressible in the model)`, why);
  });
  check(!validate({}), "no events member refused");
  check(!validate({ events: [] }), "empty events refused");
  check(!validate({ events: samples[0] }), "events not an array refused");
  check(!validate({ events: [samples[0]], extra: 1 }), "unknown top-level member refused");
  check(!validate([samples[0]]), "a bare array refused");
  check(validate({ events: Array(max).fill(samples[0]) }), `${max} events accepted`, why);
  check(!validate({ events: Array(max + 1).fill(samples[0]) }), `${max + 1} events refused`);
}

// ------------------------------------------------------------------ main

const [mode, ...args] = process.argv.slice(2);
if (mode === "template") await checkTemplate(...args);
else if (mode === "model") await checkModel(...args);
else { console.error("usage: template_check.mjs template|model ..."); process.exit(2); }
finish();
