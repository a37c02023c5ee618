// The outside check for src/grammar/json_schema_grammar: validates documents against
// a JSON Schema with ajv (the validator most JavaScript uses), draft picked from the
// schema's $schema (2020-12, 2019-09, else draft-07).
//
// usage: node validate_json.mjs SCHEMA_FILE DOCS_FILE [RESULTS_FILE]
// DOCS_FILE: one document a line, each written as a JSON string literal (so documents
//   with newlines fit on one line).
// Output (RESULTS_FILE, else stdout): one line per document, "OK" or "FAIL " and
// ajv's errors (or the parse error) as JSON. Exit status 0 when all were read, even if
// some failed; 2 for bad arguments or a missing ajv.
// ajv is taken from $MMB_DEPS_DIR/npm/node_modules/ajv (default /opt/moemamba-deps),
// where sdk/scripts/setup.sh installs it.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const [schemaPath, docsPath, resultsPath] = process.argv.slice(2);
if (!docsPath) {
  console.error('usage: node validate_json.mjs SCHEMA_FILE DOCS_FILE [RESULTS_FILE]');
  process.exit(2);
}
const ajvDir = path.join(process.env.MMB_DEPS_DIR || '/opt/moemamba-deps', 'npm', 'node_modules', 'ajv');
if (!fs.existsSync(path.join(ajvDir, 'package.json'))) {
  console.error(`ajv is missing from ${ajvDir}: run sdk/scripts/setup.sh`);
  process.exit(2);
}
const require = createRequire(path.join(ajvDir, 'package.json'));
const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
const draft = String(schema.$schema || '');
let Ajv;
if (draft.includes('2020-12')) Ajv = require('./dist/2020.js').default;
else if (draft.includes('2019-09')) Ajv = require('./dist/2019.js').default;
else {
  Ajv = require('./dist/ajv.js').default;
  if (schema.$schema && !draft.includes('draft-07')) delete schema.$schema;  // draft-04/06: read as 07
}
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
const validate = ajv.compile(schema);

const lines = fs.readFileSync(docsPath, 'utf8').split('\n').filter((l) => l.length > 0);
const out = lines.map((line) => {
  let doc;
  try {
    doc = JSON.parse(JSON.parse(line));
  } catch (e) {
    return 'FAIL ' + JSON.stringify({ parse: String(e && e.message) });
  }
  return validate(doc) ? 'OK' : 'FAIL ' + JSON.stringify(validate.errors);
});
const text = out.join('\n') + '\n';
if (resultsPath) fs.writeFileSync(resultsPath, text);
else process.stdout.write(text);
