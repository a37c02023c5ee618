// The web chat sample: loads moemamba.wasm and the demo model, then streams the
// model's greedy continuation of the prompt into the page, one requestAnimationFrame
// at a time (runtime.frame() does a few milliseconds of work per frame, so the page
// stays responsive). `?prompt=...&tokens=N` sets the first prompt; `?threads=N` the
// most compute threads (default: what the page allows: the threaded module needs a
// cross-origin isolated page, which serve.mjs makes).
import { loadMoemamba } from './moemamba.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const maxTokens = Number(params.get('tokens') ?? 48);
const threads = params.has('threads') ? Number(params.get('threads')) : 'auto';
if (params.has('prompt')) $('prompt').value = params.get('prompt');

function fail(error) {
  $('status').textContent = `error: ${error.message ?? error}`;
  document.body.dataset.error = String(error.message ?? error);
}

async function main() {
  const started = performance.now();
  const mm = await loadMoemamba({ threads });
  const runtime = mm.createRuntime();
  const model = await runtime.loadModel(await fetch('demo-moe-mamba.mmb'));
  const session = model.createSession();
  $('status').textContent = `moemamba ${mm.version}, WebAssembly${mm.simd ? ' SIMD128' : ''}, ${runtime.threads} thread${runtime.threads > 1 ? 's' : ''}` +
    `${crossOriginIsolated ? ' (cross-origin isolated)' : ''}; demo model loaded in ` +
    `${Math.round(performance.now() - started)} ms`;

  let job = null;
  function generate(prompt) {
    if (job) job.destroy();
    session.reset();
    const out = $('out');
    out.replaceChildren(Object.assign(document.createElement('span'), { className: 'prompt', textContent: prompt }));
    const text = out.appendChild(Object.assign(document.createElement('span'), { id: 'generated' }));
    delete document.body.dataset.done;
    job = session.submit(prompt, { temperature: 0, maxTokens });
    let tokens = 0, busyUs = 0;
    const t0 = performance.now();
    const tick = () => {
      if (!job) return;
      const stats = runtime.frame(8);  // at most ~8 ms of work in this frame
      tokens += stats.tokensGenerated;
      busyUs += stats.timeUs;
      text.textContent += job.readText();
      if (!job.finished) {
        requestAnimationFrame(tick);
        return;
      }
      text.textContent += job.readText();
      job.throwIfFailed();
      job.destroy();
      job = null;
      $('stats').textContent = `${tokens} tokens in ${Math.round(performance.now() - t0)} ms ` +
        `(${(tokens / (busyUs / 1e6)).toFixed(0)} tok/s while computing)`;
      document.body.dataset.done = '1';
    };
    requestAnimationFrame(tick);
  }

  $('form').addEventListener('submit', (event) => {
    event.preventDefault();
    try { generate($('prompt').value); } catch (e) { fail(e); }
  });
  $('go').disabled = false;
  generate($('prompt').value);
}

main().catch(fail);
