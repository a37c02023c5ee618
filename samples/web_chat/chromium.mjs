// Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
// NUL-separated JSON on its file descriptors 3 and 4), so no WebSocket client is needed.
// Used by test_web_chat.mjs and bench_browser.mjs.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts Chromium; resolves to {send(method, params, sessionId), open(url), close(), stderr()}. */
export async function launchChromium(executable = process.env.CHROMIUM ?? 'chromium') {
  const profile = mkdtempSync(path.join(tmpdir(), 'mmb-web-chat-'));
  const browser = spawn(executable, [
    '--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check',
    '--remote-debugging-pipe', `--user-data-dir=${profile}`, '--window-size=900,640', '--hide-scrollbars',
    'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  let stderr = '';
  browser.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => browser.once('exit', resolve));

  let nextId = 1, buffered = '';
  const pending = new Map();
  browser.stdio[4].on('data', (chunk) => {
    buffered += chunk.toString('utf8');
    let end;
    while ((end = buffered.indexOf('\0')) >= 0) {
      const message = JSON.parse(buffered.slice(0, end));
      buffered = buffered.slice(end + 1);
      const waiter = pending.get(message.id);
      if (waiter) {
        pending.delete(message.id);
        if (message.error) waiter.reject(new Error(JSON.stringify(message.error)));
        else waiter.resolve(message.result);
      }
    }
  });
  const send = (method, params = {}, sessionId = undefined) => {
    const id = nextId++;
    browser.stdio[3].write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  };
  return {
    send,
    stderr: () => stderr,
    /** Opens a tab at url; resolves to the session id its commands take. */
    async open(url) {
      const { targetId } = await send('Target.createTarget', { url });
      const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
      await send('Page.enable', {}, sessionId);
      return sessionId;
    },
    /** The value of a JavaScript expression in the tab (awaited when it is a promise); undefined
     *  while the page is still navigating and has no context to evaluate in. */
    async evaluate(sessionId, expression) {
      const reply = await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, sessionId)
        .catch(() => ({ result: {} }));
      if (reply.exceptionDetails) throw new Error(`in the page: ${reply.exceptionDetails.exception?.description}`);
      return reply.result.value;
    },
    async close() {
      // Browser.close lets Chromium end its helper processes; a kill is the fallback.
      await Promise.race([send('Browser.close').catch(() => {}), sleep(5000)]);
      if (await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]) === false) browser.kill('SIGKILL');
      try {
        // Helpers may still be writing into the profile for a moment after the browser exits.
        rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 300 });
      } catch (error) {
        console.error(`chromium: could not remove the profile ${profile}: ${error.message}`);
      }
    },
  };
}
