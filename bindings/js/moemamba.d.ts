// Types of moemamba.js: the library compiled to WebAssembly, as an ES module.

/** Anything a bundle or moemamba.wasm can be read from: bytes, a fetch Response, a
 *  Blob, or a URL (fetched; in Node.js a file: URL or a path is read from disk). */
export type ByteSource = ArrayBuffer | ArrayBufferView | Response | Blob | URL | string;

export interface LoadOptions {
  /** The folder holding moemamba[-simd].mjs and .wasm; default: beside moemamba.js. */
  dir?: string | URL;
  /** SIMD128 or not: 'auto' (default) asks the engine. */
  simd?: boolean | 'auto';
  /** Most compute threads: 'auto' (default) takes moemamba-mt.wasm where canUseThreads(), with up
   *  to 4 threads (navigator.hardwareConcurrency at most); 1: a single-threaded module. */
  threads?: number | 'auto';
  /** The emscripten ES module (NAME.mjs) or its default export, instead of the one in dir. */
  factory?: string | URL | ((args: object) => Promise<unknown>);
  /** NAME.wasm or its bytes, instead of the one beside the factory. */
  wasm?: ByteSource;
}

/** Whether this engine runs moemamba-simd.wasm (WebAssembly SIMD128). */
export declare function hasSimd128(): boolean;

/** Whether this page may run moemamba-mt.wasm: cross-origin isolated, with SharedArrayBuffer and SIMD128. */
export declare function canUseThreads(): boolean;

/** Job states (Job.state). */
export declare const JobState: Readonly<{ QUEUED: 0; PREFILL: 1; GENERATING: 2; FINISHED: 3 }>;
export type JobStateValue = 0 | 1 | 2 | 3;

/** Most bytes the module's memory may grow to (wasm32: 4 GiB), for the bundle's
 *  bytes, decoded weights and session state together. */
export declare const WASM32_MEMORY_LIMIT: number;

/** A library call failed. */
export declare class MoemambaError extends Error {
  /** The mmb_status (3: MMB_ERR_FORMAT, ...). */
  readonly status: number;
  /** Its constant name, e.g. "MMB_ERR_FORMAT". */
  readonly statusName: string;
}

/** Sampling and stopping; temperature 0 is greedy (the same text as the native build). */
export interface GenerateOptions {
  /** Default 0.8; <= 0: greedy. */
  temperature?: number;
  /** Default 40; 0: off. */
  topK?: number;
  /** Default 0.95; 1: off. */
  topP?: number;
  /** Default 0.05; 0: off. */
  minP?: number;
  /** Default 1 (off). */
  repeatPenalty?: number;
  /** Default 64. */
  penaltyWindow?: number;
  /** Default 0: the same seed gives the same text. */
  seed?: number;
  /** Most tokens to generate; default 256. 0: only consume the prompt. */
  maxTokens?: number;
  /** Prepend the model's BOS (its tokenizer's special tokens); default true. */
  addBos?: boolean;
  /** Stop at EOS and the model's end-of-turn tokens; default true. */
  stopAtEos?: boolean;
  /** Stop once the text contains this (it is emitted). */
  stopText?: string;
}

export interface StreamOptions extends GenerateOptions {
  /** Milliseconds of work per slice before the event loop gets a turn; default 8. */
  frameBudgetMs?: number;
  /** The runtime whose frames advance the job; default: the one that loaded the model. */
  runtime?: Runtime;
}

/** Per-call figures of Runtime.frame(). */
export interface FrameStats {
  steps: number;
  tokensGenerated: number;
  promptTokens: number;
  timeUs: number;
  jobsActive: number;
  jobsFinished: number;
}

/** Loads moemamba.wasm. */
export declare function loadMoemamba(options?: LoadOptions): Promise<Moemamba>;

export declare class Moemamba {
  /** The library's version, e.g. "0.8.0". */
  readonly version: string;
  /** Whether this is the SIMD128 module (moemamba-simd.wasm). */
  readonly simd: boolean;
  /** Threads this module computes on at most (1: a single-threaded module). */
  readonly maxThreads: number;
  /** threads: compute threads, the calling one included (default and most: maxThreads). */
  createRuntime(options?: { threads?: number }): Runtime;
}

export declare class Runtime {
  readonly threads: number;
  /** Copies the bundle into module memory once and verifies it (checksums unless verify is false). */
  loadModel(source: ByteSource, options?: { verify?: boolean }): Promise<Model>;
  /** Advances every unfinished job for about budgetMs on this thread (at least one slice). */
  frame(budgetMs?: number): FrameStats;
  destroy(): void;
}

export declare class Model {
  readonly vocabSize: number;
  readonly nLayers: number;
  readonly dModel: number;
  /** End of text, or -1. */
  readonly eosId: number;
  tokenize(text: string, options?: { addBos?: boolean }): Int32Array;
  createSession(): Session;
  /** Its sessions go on working until they are destroyed. */
  destroy(): void;
}

export declare class Session {
  readonly model: Model;
  /** Submits the prompt and generation after it; Runtime.frame() advances the job. */
  submit(prompt: string, options?: GenerateOptions): Job;
  /** The generated text piece by piece; breaking out of the loop cancels the job. */
  stream(prompt: string, options?: StreamOptions): AsyncGenerator<string, void, undefined>;
  /** stream() collected into one string. */
  generate(prompt: string, options?: StreamOptions): Promise<string>;
  reset(): void;
  destroy(): void;
}

export declare class Job {
  readonly session: Session;
  readonly state: JobStateValue;
  readonly finished: boolean;
  /** 0, 7 (cancelled) or the status of the error that ended the job. */
  readonly result: number;
  /** Text generated since the last call; '' when none. */
  readText(): string;
  throwIfFailed(): void;
  cancel(): void;
  destroy(): void;
}
