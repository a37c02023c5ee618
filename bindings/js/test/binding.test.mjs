// The JavaScript binding's tests, under `node --test`, against the wasm build's
// moemamba.wasm (MMB_WASM_DIR) and the demo bundle (MMB_DEMO_BUNDLE). ctest --preset
// wasm runs them (bindings/js/CMakeLists.txt). Greedy text must equal the native
// CLI's: MMB_NATIVE_MMB (a release build's mmb) is run for it when it exists, else
// the text it printed, kept beside this file, stands in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { JobState, MoemambaError, canUseThreads, hasSimd128, loadMoemamba } from '../moemamba.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const wasmDir = process.env.MMB_WASM_DIR ?? path.join(here, '../../../build/wasm/bindings/js');
const bundlePath = process.env.MMB_DEMO_BUNDLE ?? path.join(here, '../../../models/demo-moe-mamba.mmb');
const nativeMmb = process.env.MMB_NATIVE_MMB ?? '';

// Prompt, tokens, the native CLI's text for it (file kept from `mmb generate BUNDLE
// --prompt P --temp 0 --max-tokens N --threads 1`).
const CASES = [
  { prompt: 'Once upon a time', maxTokens: 48, file: 'demo_greedy_once.txt' },
  { prompt: 'The old man said', maxTokens: 64, file: 'demo_greedy_old_man.txt' },
];

function nativeText({ prompt, maxTokens, file }) {
  if (nativeMmb && existsSync(nativeMmb)) {
    return execFileSync(nativeMmb, ['generate', bundlePath, '--prompt', prompt, '--temp', '0',
                                    '--max-tokens', String(maxTokens), '--threads', '1'],
                        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  }
  return readFileSync(path.join(here, file), 'utf8');
}

// MMB_WASM_VARIANT: plain (moemamba.wasm) or simd (moemamba-simd.wasm); unset: what the engine allows.
const variant = process.env.MMB_WASM_VARIANT;
const mm = await loadMoemamba({ dir: wasmDir, simd: variant === undefined ? 'auto' : variant === 'simd' });
const runtime = mm.createRuntime();
const bundle = readFileSync(bundlePath);
const model = await runtime.loadModel(bundle);

test('module and model describe themselves', () => {
  assert.match(mm.version, /^\d+\.\d+\.\d+$/);
  assert.equal(mm.simd, variant === undefined ? hasSimd128() : variant === 'simd');
  assert.equal(hasSimd128(), true, 'Node.js 20 has SIMD128');
  assert.equal(canUseThreads(), false, 'the threaded module is for browsers');
  assert.equal(mm.maxThreads, 1);
  assert.equal(runtime.threads, 1);
  assert.equal(model.vocabSize, 4096);
  assert.equal(model.nLayers, 8);
  const tokens = model.tokenize('Once upon a time');
  assert.ok(tokens instanceof Int32Array && tokens.length >= 2);
  assert.ok(tokens.every((t) => t >= 0 && t < model.vocabSize));
  const bare = model.tokenize('Once upon a time', { addBos: false });
  assert.ok(bare.length > 0 && bare.length <= tokens.length);
  assert.deepEqual(Array.from(bare), Array.from(tokens.slice(tokens.length - bare.length)));
});

for (const c of CASES) {
  test(`greedy text equals the native build's: "${c.prompt}"`, async () => {
    const expected = nativeText(c);
    assert.ok(expected.length > 20, 'the native text is not empty');
    const session = model.createSession();
    const pieces = [];
    for await (const piece of session.stream(c.prompt, { temperature: 0, maxTokens: c.maxTokens })) pieces.push(piece);
    session.destroy();
    assert.ok(pieces.length > 1, 'the text arrives in pieces');
    assert.equal(pieces.join(''), expected);
  });
}

test('jobs and frames: two sessions advanced by frame() give each its greedy text', () => {
  const sessions = CASES.map(() => model.createSession());
  const jobs = CASES.map((c, i) => sessions[i].submit(c.prompt, { temperature: 0, maxTokens: c.maxTokens }));
  const texts = CASES.map(() => '');
  assert.equal(jobs[0].state, JobState.QUEUED);
  let frames = 0, tokens = 0;
  while (!jobs.every((j) => j.finished)) {
    const stats = runtime.frame(4);
    tokens += stats.tokensGenerated;
    jobs.forEach((j, i) => { texts[i] += j.readText(); });
    assert.ok(++frames < 10000, 'the jobs finish');
  }
  jobs.forEach((j, i) => { texts[i] += j.readText(); });
  assert.ok(frames > 1, 'the work is spread over frames');
  CASES.forEach((c, i) => {
    assert.equal(jobs[i].result, 0);
    assert.equal(texts[i], nativeText(c));
  });
  assert.ok(tokens > 0);
  jobs.forEach((j) => j.destroy());
  sessions.forEach((s) => s.destroy());
});

test('breaking out of a stream cancels its job and frees the session', async () => {
  const session = model.createSession();
  let pieces = 0;
  for await (const piece of session.stream('Once upon a time', { temperature: 0, maxTokens: 200 })) {
    assert.equal(typeof piece, 'string');
    if (++pieces === 3) break;
  }
  session.reset();  // would be MMB_ERR_BUSY with the job still running
  const text = await session.generate('Once upon a time', { temperature: 0, maxTokens: 48 });
  assert.equal(text, nativeText(CASES[0]));
  session.destroy();
});

test('sampling with a seed repeats itself', async () => {
  const session = model.createSession();
  const a = await session.generate('The old man said', { temperature: 0.8, seed: 7, maxTokens: 32 });
  session.reset();
  const b = await session.generate('The old man said', { temperature: 0.8, seed: 7, maxTokens: 32 });
  assert.equal(a, b);
  assert.ok(a.length > 0);
  session.destroy();
});

test('a bad bundle is a MoemambaError, and the module goes on working', async () => {
  const garbage = new Uint8Array(4096).map((_, i) => (i * 7919) & 0xff);
  await assert.rejects(runtime.loadModel(garbage), (e) => {
    assert.ok(e instanceof MoemambaError);
    assert.equal(e.statusName, 'MMB_ERR_FORMAT');
    assert.match(e.message, /MMB_ERR_FORMAT: ./);
    return true;
  });
  const truncated = bundle.subarray(0, bundle.length >> 1);
  await assert.rejects(runtime.loadModel(truncated), (e) => e instanceof MoemambaError && e.status === 3);
  const corrupt = Uint8Array.from(bundle);
  corrupt[corrupt.length - 4096] ^= 0x5a;  // inside the tensor data: a checksum mismatch
  await assert.rejects(runtime.loadModel(corrupt), (e) => e instanceof MoemambaError && e.status === 3);
  await assert.rejects(runtime.loadModel(new Uint8Array(0)), MoemambaError);

  const again = await runtime.loadModel(bundle);
  const session = again.createSession();
  assert.equal(await session.generate('Once upon a time', { temperature: 0, maxTokens: 48 }), nativeText(CASES[0]));
  session.destroy();
  again.destroy();
});

test('a bundle past what wasm32 can hold is MMB_ERR_OUT_OF_MEMORY, not a crash', async () => {
  const huge = new Uint8Array(3 * 1024 ** 3);  // zero pages: not touched unless copied
  await assert.rejects(runtime.loadModel(huge), (e) => e instanceof MoemambaError && e.statusName === 'MMB_ERR_OUT_OF_MEMORY');
  const session = model.createSession();
  assert.equal(await session.generate('Once upon a time', { temperature: 0, maxTokens: 48 }), nativeText(CASES[0]));
  session.destroy();
});

test('a session outlives its model, and destroyed objects refuse calls', async () => {
  const own = await runtime.loadModel(bundle);
  const session = own.createSession();
  own.destroy();
  assert.equal(await session.generate('Once upon a time', { temperature: 0, maxTokens: 48 }), nativeText(CASES[0]));
  session.destroy();
  assert.throws(() => session.submit('x'), /destroyed/);
  assert.throws(() => own.createSession(), /destroyed/);
});
