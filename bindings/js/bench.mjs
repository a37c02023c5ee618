// Decode speed of the wasm build under Node.js, for docs/platforms.md:
//   node bindings/js/bench.mjs BUNDLE [--tokens N] [--repetitions N] [--simd auto|on|off] [--wasm-dir DIR]
// Prints tokens per second at batch 1 (greedy, after a short prompt): the time of the
// frames that only decoded, from the runtime's own frame figures, best of N runs.
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { loadMoemamba } from './moemamba.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const bundlePath = args.find((a, i) => !a.startsWith('--') && (i === 0 || !args[i - 1].startsWith('--')));
if (!bundlePath) {
  console.error('usage: bench.mjs BUNDLE [--tokens N] [--repetitions N] [--simd auto|on|off] [--wasm-dir DIR]');
  process.exit(2);
}
const tokens = Number(option('--tokens', 128));
const repetitions = Number(option('--repetitions', 3));
const wasmDir = path.resolve(option('--wasm-dir', path.join(here, '../../build/wasm/bindings/js')));

const simd = option('--simd', 'auto');
const mm = await loadMoemamba({ dir: wasmDir, simd: simd === 'auto' ? 'auto' : simd === 'on' });
const runtime = mm.createRuntime();
const loadStart = performance.now();
const model = await runtime.loadModel(readFileSync(bundlePath));
const loadMs = performance.now() - loadStart;
const session = model.createSession();

let best = 0;
for (let r = 0; r < repetitions; ++r) {
  session.reset();
  // stopAtEos off: a random model may choose EOS at any point.
  const job = session.submit('Once upon a time', { temperature: 0, maxTokens: tokens, stopAtEos: false });
  let decodeUs = 0, decoded = 0;
  while (!job.finished) {
    const stats = runtime.frame(20);
    if (stats.promptTokens === 0) {
      decodeUs += stats.timeUs;
      decoded += stats.tokensGenerated;
    }
  }
  job.throwIfFailed();
  job.destroy();
  best = Math.max(best, decoded / (decodeUs / 1e6));
}
console.log(JSON.stringify({
  bundle: path.basename(bundlePath), build: mm.simd ? 'wasm simd128' : 'wasm', threads: runtime.threads, tokens, repetitions,
  load_ms: Math.round(loadMs), decode_tok_s: Number(best.toFixed(1)),
}));
