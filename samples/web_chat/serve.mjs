// A small static server for the web chat sample, with the headers that make a page
// cross-origin isolated (COOP/COEP: what a threaded WebAssembly build needs):
//   node samples/web_chat/serve.mjs [--port 8080] [--wasm-dir build/wasm/bindings/js]
// then open http://localhost:8080/. It serves this folder, bindings/js/moemamba.js,
// the wasm build's modules (moemamba[-simd|-mt].mjs, .wasm, .worker.js), and
// models/demo-moe-mamba.mmb.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.wasm': 'application/wasm', '.mmb': 'application/octet-stream',
};

/** Starts the server; resolves to {server, url}. Port 0 picks a free one. */
export function startServer({ port = 8080, host = '127.0.0.1', wasmDir = path.join(root, 'build/wasm/bindings/js'),
                              bundle = path.join(root, 'models/demo-moe-mamba.mmb') } = {}) {
  const files = new Map([
    ['/', path.join(here, 'index.html')],
    ['/index.html', path.join(here, 'index.html')],
    ['/chat.js', path.join(here, 'chat.js')],
    ['/moemamba.js', path.join(root, 'bindings/js/moemamba.js')],
    ...['moemamba', 'moemamba-simd', 'moemamba-mt'].flatMap((name) =>
      ['.mjs', '.wasm', '.worker.js'].map((ext) => [`/${name}${ext}`, path.join(wasmDir, name + ext)])),
    ['/demo-moe-mamba.mmb', bundle],
  ]);
  const server = createServer(async (req, res) => {
    const file = files.get(new URL(req.url, 'http://x').pathname);
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-store',
    };
    try {
      if (!file) throw new Error('not found');
      const body = await readFile(file);
      res.writeHead(200, { ...headers, 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404, headers);
      res.end('not found');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve({ server, url: `http://${host}:${server.address().port}/` }));
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  const { url } = await startServer({ port: Number(arg('--port', 8080)),
                                      wasmDir: path.resolve(arg('--wasm-dir', path.join(root, 'build/wasm/bindings/js'))) });
  console.log(`web_chat: serving on ${url}`);
}
