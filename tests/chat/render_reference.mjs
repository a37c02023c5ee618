// The outside reference for src/chat: renders chat templates with @huggingface/jinja
// (the Jinja interpreter of transformers.js) for the conversations of a JSON file, and
// writes each result or error as JSON.
//
// usage: node render_reference.mjs PACKAGE_DIR CASES.json RESULTS.json
// CASES.json: {"templates": [source, ...], "cases": [{"template": i, "messages": [...],
//   "add_generation_prompt": bool, "bos_token": s, "eos_token": s, "variables": {name: s}}]}
// RESULTS.json: [{"ok": true, "text": s} | {"ok": false, "error": s}, ...], one per case.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [packageDir, inputPath, outputPath] = process.argv.slice(2);
if (!outputPath) {
  console.error('usage: node render_reference.mjs PACKAGE_DIR CASES.json RESULTS.json');
  process.exit(2);
}
const { Template } = await import(pathToFileURL(path.join(packageDir, 'dist', 'index.js')).href);
const input = JSON.parse(fs.readFileSync(inputPath, 'utf8'));
const compiled = input.templates.map((source) => {
  try {
    return { template: new Template(source) };
  } catch (e) {
    return { error: String(e && e.message) };
  }
});
const results = input.cases.map((c) => {
  const t = compiled[c.template];
  if (t.error !== undefined) return { ok: false, error: 'compile: ' + t.error };
  try {
    const text = t.template.render({
      messages: c.messages,
      add_generation_prompt: c.add_generation_prompt,
      bos_token: c.bos_token,
      eos_token: c.eos_token,
      ...c.variables,
    });
    return { ok: true, text };
  } catch (e) {
    return { ok: false, error: String(e && e.message) };
  }
});
fs.writeFileSync(outputPath, JSON.stringify(results));
