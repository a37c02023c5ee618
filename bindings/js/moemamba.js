// moemamba for JavaScript: the library compiled to WebAssembly (moemamba.wasm, built
// by the wasm preset) behind an ES module API, in browsers and in Node.js, with no
// dependencies. Types: moemamba.d.ts. Guide: docs/platforms.md.
//
//   import { loadMoemamba } from './moemamba.js';
//   const mm = await loadMoemamba();                 // moemamba[-simd].mjs + .wasm beside this file
//   const runtime = mm.createRuntime();
//   const model = await runtime.loadModel(await fetch('demo-moe-mamba.mmb'));
//   const session = model.createSession();
//   for await (const text of session.stream('Once upon a time', { temperature: 0 })) out.append(text);
//
// Everything runs on the calling thread: a call into the module blocks it for as long
// as the work takes. stream() works in slices (frame budget, default 8 ms) and hands
// the event loop back between them; a game-style loop calls runtime.frame(budgetMs)
// once per requestAnimationFrame instead and reads each job's text.

const STATUS_NAMES = [
  'MMB_OK', 'MMB_ERR_INVALID_ARGUMENT', 'MMB_ERR_IO', 'MMB_ERR_FORMAT', 'MMB_ERR_UNSUPPORTED',
  'MMB_ERR_OUT_OF_MEMORY', 'MMB_ERR_BACKEND', 'MMB_ERR_CANCELLED', 'MMB_ERR_BUFFER_TOO_SMALL',
  'MMB_ERR_STATE_MISMATCH', 'MMB_ERR_INTERNAL', 'MMB_ERR_BUSY', 'MMB_ERR_BUDGET', 'MMB_ERR_CONTEXT_FULL',
  'MMB_ERR_TEMPLATE', 'MMB_ERR_GRAMMAR',
];

/** Job states (Job.state). */
export const JobState = Object.freeze({ QUEUED: 0, PREFILL: 1, GENERATING: 2, FINISHED: 3 });

/** What wasm32 can address: the most memory the module may grow to (bundle bytes,
 *  decoded weights and session state together). */
export const WASM32_MEMORY_LIMIT = 4 * 1024 * 1024 * 1024;

/** A library call failed: `status` is the mmb_status, `statusName` its constant name
 *  ("MMB_ERR_FORMAT") and `message` the library's description. */
export class MoemambaError extends Error {
  constructor(status, message) {
    const name = STATUS_NAMES[status] ?? 'MMB_ERR_UNKNOWN';
    super(`${name}: ${message}`);
    this.name = 'MoemambaError';
    this.status = status;
    this.statusName = name;
  }
}

const isNode = typeof process === 'object' && typeof process.versions?.node === 'string';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Bytes from an ArrayBuffer, a typed array, a fetch Response, a Blob, or a URL/path
// (fetched in browsers, read from disk in Node.js for file: URLs and paths).
async function bytesOf(source) {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (typeof Response !== 'undefined' && source instanceof Response) {
    if (!source.ok) throw new Error(`moemamba: fetching ${source.url} failed: HTTP ${source.status}`);
    return new Uint8Array(await source.arrayBuffer());
  }
  if (typeof Blob !== 'undefined' && source instanceof Blob) return new Uint8Array(await source.arrayBuffer());
  const text = String(source);
  if (isNode && (text.startsWith('file:') || !/^[a-z][a-z0-9+.-]*:/i.test(text))) {
    const fs = await import('node:fs/promises');
    const data = await fs.readFile(text.startsWith('file:') ? new URL(text) : text);
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  return bytesOf(await fetch(text));
}

// Gives the event loop a turn (rendering, input, other promises) between slices.
function nextTurn() {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  if (typeof MessageChannel === 'function') {
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => { channel.port1.close(); resolve(); };
      channel.port2.postMessage(0);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}

// A module of one function that returns a v128: valid only where the engine has SIMD128.
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,  // magic, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,        // types: () -> v128
  0x03, 0x02, 0x01, 0x00,                          // functions: one of type 0
  0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, 0x00, 0xfd, 0x0f, 0x0b,  // code: i32.const 0, i8x16.splat, end
]);

/** Whether this engine runs moemamba-simd.wasm (WebAssembly SIMD128). */
export function hasSimd128() {
  try {
    return WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

/** Whether this page may run moemamba-mt.wasm: a browser page that is cross-origin
 *  isolated (COOP/COEP headers), so that it has SharedArrayBuffer, and SIMD128. */
export function canUseThreads() {
  return !isNode && globalThis.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function' &&
    hasSimd128();
}

/**
 * Loads the module and returns its API. Three variants are built: moemamba-mt.wasm
 * (pthreads over Web Workers, and SIMD128) where the page may use threads
 * (canUseThreads()), moemamba-simd.wasm (one thread, SIMD128) where the engine has
 * SIMD128, else moemamba.wasm.
 * @param {object} [options]
 * @param {string|URL} [options.dir] the folder holding moemamba[-simd|-mt].mjs and .wasm; default: beside this file.
 * @param {boolean|'auto'} [options.simd] SIMD128 or not: 'auto' (default) asks the engine.
 * @param {number|'auto'} [options.threads] most compute threads: 'auto' (default) takes the threaded
 *   module where allowed, with up to 4 threads (navigator.hardwareConcurrency at most); 1: a
 *   single-threaded module.
 * @param {string|URL|Function} [options.factory] the emscripten ES module (NAME.mjs) or its
 *   default export, instead of the one in dir.
 * @param {string|URL|ArrayBuffer|Uint8Array|Response} [options.wasm] NAME.wasm or its bytes,
 *   instead of the one beside the factory.
 */
export async function loadMoemamba(options = {}) {
  const simd = options.simd === undefined || options.simd === 'auto' ? hasSimd128() : Boolean(options.simd);
  const cores = Math.min(4, globalThis.navigator?.hardwareConcurrency ?? 1);
  const wanted = options.threads === undefined || options.threads === 'auto' ? cores : Math.min(4, options.threads);
  const threads = simd && wanted > 1 && canUseThreads() ? wanted : 1;
  const name = threads > 1 ? 'moemamba-mt' : simd ? 'moemamba-simd' : 'moemamba';
  const dir = options.dir === undefined ? new URL('./', import.meta.url)
    : new URL(String(options.dir).replace(/\/?$/, '/'), isNode ? `file://${process.cwd()}/` : location.href);
  let factory = options.factory ?? new URL(`${name}.mjs`, dir);
  const factoryUrl = typeof factory === 'function' ? null : new URL(String(factory), dir);
  if (factoryUrl) factory = (await import(factoryUrl.href)).default;
  const wasmSource = options.wasm ?? new URL(`${name}.wasm`, factoryUrl ?? dir);
  const wasmBinary = await bytesOf(wasmSource instanceof URL ? wasmSource.href : wasmSource);
  // The threaded module's workers import its loader again: tell them where it is.
  const module = await factory({ wasmBinary, mainScriptUrlOrBlob: factoryUrl?.href, print: () => {}, printErr: () => {} });
  return new Moemamba(module, simd, threads);
}

/** The loaded module: creates runtimes. */
export class Moemamba {
  constructor(module, simd, maxThreads) {
    this._m = module;
    /** Whether this is the SIMD128 variant (moemamba-simd.wasm). */
    this.simd = simd;
    this._scratch = module._mmbjs_malloc(64) >>> 0;
    /** The library's version ("0.8.0"). */
    this.version = this._string(module._mmb_version_string());
    /** Threads this module computes on at most (1: a single-threaded module). */
    this.maxThreads = maxThreads;
  }

  // The module's memory as bytes. The threaded module's memory is shared and any of its
  // threads may grow it: the view is renewed whenever the memory's size changed.
  get _heap() {
    const memory = this._m.wasmMemory;
    if (!memory) return this._m.HEAPU8;
    if (this._view?.byteLength !== memory.buffer.byteLength) this._view = new Uint8Array(memory.buffer);
    return this._view;
  }
  _u32(ptr) { return new Uint32Array(this._heap.buffer, ptr, 1)[0]; }
  _i32(ptr) { return new Int32Array(this._heap.buffer, ptr, 1)[0]; }

  _string(ptr) {
    ptr >>>= 0;
    if (!ptr) return '';
    const heap = this._heap;
    let end = ptr;
    while (heap[end] !== 0) ++end;
    return decoder.decode(heap.slice(ptr, end));  // a copy: TextDecoder refuses shared memory
  }

  _check(status) {
    if (status !== 0) throw new MoemambaError(status, this._string(this._m._mmb_last_error()));
  }

  // Copies bytes into module memory (freed by the caller with _m._mmbjs_free).
  _copyIn(bytes, aligned = false) {
    const size = bytes.byteLength;
    const ptr = (aligned ? this._m._mmbjs_alloc_bundle(size) : this._m._mmbjs_malloc(Math.max(size, 1))) >>> 0;
    if (!ptr) {
      throw new MoemambaError(5, `cannot allocate ${size} bytes of module memory ` +
        `(wasm32 addresses at most ${WASM32_MEMORY_LIMIT} bytes in all)`);
    }
    this._heap.set(bytes, ptr);
    return ptr;
  }

  /**
   * A runtime: what models load into and what jobs run on.
   * @param {{threads?: number}} [options] compute threads, the calling one included
   *   (default and most: maxThreads).
   */
  createRuntime(options = {}) {
    const threads = Math.max(1, Math.min(options.threads ?? this.maxThreads, this.maxThreads));
    const ptr = this._m._mmbjs_runtime_create(threads) >>> 0;
    if (!ptr) throw new MoemambaError(6, this._string(this._m._mmb_last_error()));
    return new Runtime(this, ptr);
  }
}

/** Per-call figures of Runtime.frame(). */
function frameStats(values) {
  return {
    steps: values[0], tokensGenerated: values[1], promptTokens: values[2],
    timeUs: values[3], jobsActive: values[4], jobsFinished: values[5],
  };
}

export class Runtime {
  constructor(mm, ptr) {
    this._mm = mm;
    this._ptr = ptr;
    /** Compute threads of this runtime. */
    this.threads = mm._m._mmbjs_runtime_threads(ptr);
  }

  _live() {
    if (!this._ptr) throw new Error('moemamba: the runtime was destroyed');
    return this._ptr;
  }

  /**
   * Loads a bundle (.mmb). The bytes are copied once into module memory and used in
   * place there; every tensor is verified (checksums too unless verify is false).
   * @param {ArrayBuffer|Uint8Array|Response|Blob|string|URL} source
   * @param {{verify?: boolean}} [options]
   */
  async loadModel(source, options = {}) {
    const bytes = await bytesOf(source instanceof URL ? source.href : source);
    const mm = this._mm, m = mm._m;
    const data = mm._copyIn(bytes, true);
    const out = mm._scratch;
    const status = m._mmbjs_model_load(this._live(), data, bytes.byteLength, options.verify === false ? 1 : 0, out);
    if (status !== 0) {
      m._mmbjs_free(data);
      mm._check(status);
    }
    const model = new Model(mm, mm._u32(out), data);
    model._runtime = this;  // Session.stream() drives this runtime's frames
    return model;
  }

  /**
   * Advances every unfinished job of the runtime for about `budgetMs` milliseconds
   * (a slice always runs), on this thread: call it once per animation frame.
   * @returns {{steps:number, tokensGenerated:number, promptTokens:number, timeUs:number, jobsActive:number, jobsFinished:number}}
   */
  frame(budgetMs = 8) {
    const mm = this._mm;
    const stats = mm._scratch + 16;
    mm._check(mm._m._mmbjs_runtime_frame(this._live(), Math.max(0, Math.round(budgetMs * 1000)), stats));
    return frameStats(new Float64Array(mm._heap.buffer, stats, 6));
  }

  /** Frees the runtime (its models and sessions keep what they need). */
  destroy() {
    if (this._ptr) this._mm._m._mmb_runtime_destroy(this._ptr);
    this._ptr = 0;
  }
}

export class Model {
  constructor(mm, ptr, data) {
    this._mm = mm;
    this._ptr = ptr;
    this._data = data;  // the bundle's bytes, borrowed until the model and its sessions are gone
    this._users = 1;
    const info = (field) => mm._m._mmbjs_model_info(ptr, field);
    /** Logits per step: the real vocabulary. */
    this.vocabSize = info(0);
    this.nLayers = info(1);
    this.dModel = info(2);
    this.eosId = info(3);
  }

  _live() {
    if (!this._ptr) throw new Error('moemamba: the model was destroyed');
    return this._ptr;
  }

  _release() {
    if (--this._users === 0 && this._data) {
      this._mm._m._mmbjs_free(this._data);
      this._data = 0;
    }
  }

  /** Token ids of `text` (with the model's BOS unless addBos is false). */
  tokenize(text, options = {}) {
    const mm = this._mm, m = mm._m;
    const bytes = encoder.encode(text);
    const ptr = mm._copyIn(bytes);
    try {
      const tokens = m._mmbjs_tokenize(this._live(), ptr, bytes.byteLength, options.addBos === false ? 0 : 1,
                                       mm._scratch) >>> 0;
      if (!tokens) mm._check(1);
      const n = mm._u32(mm._scratch);
      const result = new Int32Array(mm._heap.buffer, tokens, n).slice();
      m._mmbjs_free(tokens);
      return result;
    } finally {
      m._mmbjs_free(ptr);
    }
  }

  /** A streaming session: one text's state. */
  createSession() {
    const mm = this._mm;
    mm._check(mm._m._mmbjs_session_create(this._live(), mm._scratch));
    ++this._users;
    return new Session(this, mm._u32(mm._scratch));
  }

  /** Frees the model; its sessions go on working until they are destroyed. */
  destroy() {
    if (!this._ptr) return;
    this._mm._m._mmb_model_destroy(this._ptr);
    this._ptr = 0;
    this._release();
  }
}

export class Session {
  constructor(model, ptr) {
    this.model = model;
    this._mm = model._mm;
    this._ptr = ptr;
  }

  _live() {
    if (!this._ptr) throw new Error('moemamba: the session was destroyed');
    return this._ptr;
  }

  /**
   * Submits a prompt and generation after it as a job; nothing runs until
   * Runtime.frame() (or stream()) advances it. The session continues from its state:
   * reset() starts a new text.
   * @param {string} prompt
   * @param {GenerateOptions} [options]
   */
  submit(prompt, options = {}) {
    const mm = this._mm, m = mm._m;
    const o = { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, repeatPenalty: 1, penaltyWindow: 64,
                seed: 0, maxTokens: 256, addBos: true, stopAtEos: true, stopText: '', ...options };
    let sampler = 0;
    if (o.maxTokens > 0) {
      mm._check(m._mmbjs_sampler_create(o.temperature, o.topK, o.topP, o.minP, o.repeatPenalty, o.penaltyWindow,
                                        o.seed, mm._scratch));
      sampler = mm._u32(mm._scratch);
    }
    const text = encoder.encode(prompt);
    const stop = encoder.encode(o.stopText ?? '');
    const textPtr = mm._copyIn(text), stopPtr = mm._copyIn(stop);
    try {
      mm._check(m._mmbjs_job_submit(this._live(), sampler, textPtr, text.byteLength, o.maxTokens, o.addBos ? 1 : 0,
                                    o.stopAtEos ? 1 : 0, stop.byteLength ? stopPtr : 0, stop.byteLength,
                                    mm._scratch));
      return new Job(this, mm._u32(mm._scratch));
    } finally {
      m._mmbjs_free(textPtr);
      m._mmbjs_free(stopPtr);
      if (sampler) m._mmb_sampler_destroy(sampler);  // the job took its own copy
    }
  }

  /**
   * Streams the generated text as it is chosen: `for await (const piece of
   * session.stream(prompt, options))`. Breaking out of the loop cancels the job.
   * @param {string} prompt
   * @param {GenerateOptions & {frameBudgetMs?: number}} [options]
   */
  async *stream(prompt, options = {}) {
    const runtime = options.runtime ?? this._runtimeOf();
    const job = this.submit(prompt, options);
    try {
      for (;;) {
        runtime.frame(options.frameBudgetMs ?? 8);
        const finished = job.finished;
        const text = job.readText();
        if (text) yield text;
        if (finished) {
          job.throwIfFailed();
          return;
        }
        await nextTurn();
      }
    } finally {
      job.destroy();
    }
  }

  /** The whole generated text at once (stream() collected). */
  async generate(prompt, options = {}) {
    let text = '';
    for await (const piece of this.stream(prompt, options)) text += piece;
    return text;
  }

  _runtimeOf() {
    const runtime = this.model._runtime;
    if (!runtime) throw new Error('moemamba: pass options.runtime (the runtime that loaded the model)');
    return runtime;
  }

  /** Back to the empty state. */
  reset() {
    this._mm._check(this._mm._m._mmb_session_reset(this._live()));
  }

  destroy() {
    if (!this._ptr) return;
    this._mm._m._mmb_session_destroy(this._ptr);
    this._ptr = 0;
    this.model._release();
  }
}

/** A submitted prompt and generation; Runtime.frame() advances it. */
export class Job {
  constructor(session, ptr) {
    this.session = session;
    this._mm = session._mm;
    this._ptr = ptr;
    this._result = 0;
  }

  _poll() {
    const mm = this._mm;
    if (!this._ptr) return JobState.FINISHED;
    const state = mm._m._mmbjs_job_poll(this._ptr, mm._scratch + 8);
    this._result = mm._i32(mm._scratch + 8);
    return state;
  }

  /** JobState: QUEUED, PREFILL, GENERATING or FINISHED. */
  get state() { return this._poll(); }
  get finished() { return this._poll() === JobState.FINISHED; }
  /** The result status once finished: 0, 7 (cancelled) or the error that ended it. */
  get result() { this._poll(); return this._result; }

  /** The text generated since the last call (whole UTF-8 characters; '' when none). */
  readText() {
    if (!this._ptr) return '';
    const mm = this._mm, m = mm._m;
    const ptr = m._mmbjs_job_read_text(this._ptr, mm._scratch) >>> 0;
    if (!ptr) return '';
    const text = decoder.decode(mm._heap.slice(ptr, ptr + mm._u32(mm._scratch)));
    m._mmbjs_free(ptr);
    return text;
  }

  /** Throws a MoemambaError when the job ended with an error (not when cancelled). */
  throwIfFailed() {
    const result = this.result;
    if (result !== 0 && result !== 7) throw new MoemambaError(result, 'the job failed');
  }

  /** Asks the job to stop at its next unit; the session keeps what was consumed. */
  cancel() {
    if (this._ptr) this._mm._m._mmb_job_cancel(this._ptr);
  }

  /** Cancels the job if it runs and frees it; the session is then free. */
  destroy() {
    if (this._ptr) this._mm._m._mmb_job_destroy(this._ptr);
    this._ptr = 0;
  }
}
