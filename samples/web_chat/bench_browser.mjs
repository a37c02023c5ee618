// Decode speed of the wasm modules in headless Chromium, for docs/platforms.md: the
// page is served cross-origin isolated (serve.mjs), so the threaded module runs too.
//   node samples/web_chat/bench_browser.mjs BUNDLE [--threads 1,2] [--tokens N] [--repetitions N] [--wasm-dir DIR]
// Prints one JSON line per thread count: tokens per second at batch 1 (greedy after a
// short prompt), from the frames that only decoded, best of N runs, as bindings/js/bench.mjs.
import path from 'node:path';

import { launchChromium } from './chromium.mjs';
import { startServer } from './serve.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const bundle = args[0];
if (!bundle || bundle.startsWith('--')) {
  console.error('usage: bench_browser.mjs BUNDLE [--threads 1,2] [--tokens N] [--repetitions N] [--wasm-dir DIR]');
  process.exit(2);
}
const threadCounts = option('--threads', '1,2').split(',').map(Number);
const tokens = Number(option('--tokens', 128));
const repetitions = Number(option('--repetitions', 3));
const wasmDir = path.resolve(option('--wasm-dir', path.join(path.dirname(new URL(import.meta.url).pathname),
                                                            '../../build/wasm/bindings/js')));

const { server, url } = await startServer({ port: 0, wasmDir, bundle: path.resolve(bundle) });
const chromium = await launchChromium();
try {
  for (const threads of threadCounts) {
    // A page of the server's own origin without the sample's script: its 404 page.
    const tab = await chromium.open(`${url}bench`);
    // (The tab starts on about:blank: wait for the navigation.)
    while ((await chromium.evaluate(tab, "location.pathname + ' ' + document.readyState")) !== '/bench complete');
    const result = await chromium.evaluate(tab, `(async () => {
      const { loadMoemamba } = await import('/moemamba.js');
      const mm = await loadMoemamba({ threads: ${threads} });
      const runtime = mm.createRuntime({ threads: ${threads} });
      const loadStart = performance.now();
      const model = await runtime.loadModel(await fetch('/demo-moe-mamba.mmb'));
      const loadMs = performance.now() - loadStart;
      const session = model.createSession();
      let best = 0;
      for (let r = 0; r < ${repetitions}; ++r) {
        session.reset();
        const job = session.submit('Once upon a time', { temperature: 0, maxTokens: ${tokens}, stopAtEos: false });
        let decodeUs = 0, decoded = 0;
        while (!job.finished) {
          const stats = runtime.frame(20);
          if (stats.promptTokens === 0) { decodeUs += stats.timeUs; decoded += stats.tokensGenerated; }
        }
        job.throwIfFailed();
        job.destroy();
        best = Math.max(best, decoded / (decodeUs / 1e6));
      }
      return JSON.stringify({ build: mm.maxThreads > 1 ? 'wasm pthreads simd128' : mm.simd ? 'wasm simd128' : 'wasm',
                              threads: runtime.threads, load_ms: Math.round(loadMs), decode_tok_s: Number(best.toFixed(1)) });
    })()`);
    console.log(JSON.stringify({ bundle: path.basename(bundle), browser: 'chromium', tokens, repetitions, ...JSON.parse(result) }));
  }
} finally {
  await chromium.close();
  server.close();
}
