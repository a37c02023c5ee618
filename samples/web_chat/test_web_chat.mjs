// The web chat sample's test: serves the page (serve.mjs), opens it in headless
// Chromium (chromium.mjs), waits until the streamed text is in the page, checks it is
// the native build's greedy text, and saves a screenshot.
//   node samples/web_chat/test_web_chat.mjs WASM_DIR EXPECTED_TEXT_FILE SCREENSHOT.png [THREADS]
// THREADS: the page's ?threads= (the status line must then say that many threads).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { launchChromium, sleep } from './chromium.mjs';
import { startServer } from './serve.mjs';

const [wasmDir, expectedFile, screenshot, threads] = process.argv.slice(2);
if (!screenshot) {
  console.error('usage: test_web_chat.mjs WASM_DIR EXPECTED_TEXT_FILE SCREENSHOT.png [THREADS]');
  process.exit(2);
}
const expected = readFileSync(expectedFile, 'utf8');
const timeoutMs = 120000;

const { server, url } = await startServer({ port: 0, wasmDir: path.resolve(wasmDir) });
const chromium = await launchChromium();
async function finish(code) {
  await chromium.close();
  server.close();
  process.exit(code);
}
const watchdog = setTimeout(() => {
  console.error(`web_chat: no result within ${timeoutMs / 1000} s\n${chromium.stderr().slice(-2000)}`);
  finish(1);
}, timeoutMs + 30000);

let failed = false;
try {
  const tab = await chromium.open(`${url}?tokens=48${threads ? `&threads=${threads}` : ''}`);
  const started = Date.now();
  let state = {};
  for (;;) {
    const value = await chromium.evaluate(tab, `JSON.stringify({
      done: document.body?.dataset.done ?? null, error: document.body?.dataset.error ?? null,
      text: document.getElementById('generated')?.textContent ?? null,
      status: document.getElementById('status')?.textContent ?? null })`);
    if (typeof value === 'string') state = JSON.parse(value);
    if (state.done || state.error || Date.now() - started > timeoutMs) break;
    await sleep(200);
  }
  console.log(`web_chat: status line: ${state.status}`);
  if (state.error) throw new Error(`the page reported: ${state.error}`);
  if (!state.done) throw new Error(`the text did not finish streaming; so far: ${JSON.stringify(state.text)}`);
  if (threads && !state.status.includes(`, ${threads} thread`)) throw new Error(`the page does not run ${threads} threads`);
  if (state.text !== expected) {
    throw new Error(`the page's text differs from the native build's:\n  page:   ${JSON.stringify(state.text)}\n` +
                    `  native: ${JSON.stringify(expected)}`);
  }
  console.log(`web_chat: the page streamed the native build's greedy text (${state.text.length} characters)`);
  const { data } = await chromium.send('Page.captureScreenshot', { format: 'png' }, tab);
  writeFileSync(screenshot, Buffer.from(data, 'base64'));
  console.log(`web_chat: screenshot ${screenshot}`);
} catch (error) {
  console.error(`web_chat: FAILED: ${error.message}`);
  failed = true;
}
clearTimeout(watchdog);
await finish(failed ? 1 : 0);
