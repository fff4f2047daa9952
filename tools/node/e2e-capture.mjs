// End-to-end run of the liveness demo page in Debian's Chromium with a fake
// camera, driven by playwright-core (which never downloads a browser here:
// it is given /usr/bin/chromium).
//
//   node tools/node/e2e-capture.mjs --base-url http://127.0.0.1:8080 \
//     (--y4m FILE | --input CLIP_OR_PHOTO) [--challenge blink,turn_left] \
//     [--timeout 120] [--viewport 390x844] [--screenshot out.png]
//
// --input converts a clip or a photo with ffmpeg (e2e-y4m.mjs) into a
// temporary .y4m that is deleted afterwards. The script opens
// BASE_URL/demo/, presses "Start liveness check", waits until the page
// reaches its final state, and prints ONE line of JSON on stdout:
//
//   {"ok": true, "state": "done", "session_id": "…", "status": "completed",
//    "result": {…results response…}, "error_code": "", "error": "",
//    "phases": [{"phase": "checking", "text": "…", "at_ms": 812}, …],
//    "requests": {"POST frames 200": 12, "POST complete 202": 1, …},
//    "console_errors": [], "elapsed_ms": 23456}
//
// ok is true when the page showed a decision (state "done"); the exit code
// is 0 then, 1 when it did not, and 2 for bad arguments.

import { chromium } from 'playwright-core';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { makeY4M } from './e2e-y4m.mjs';

const { values: args } = parseArgs({
  options: {
    'base-url': { type: 'string' },
    y4m: { type: 'string' },
    input: { type: 'string' },
    challenge: { type: 'string' },
    timeout: { type: 'string', default: '120' },
    viewport: { type: 'string', default: '1280x800' },
    screenshot: { type: 'string' },
    chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
  },
});

if (!args['base-url'] || !(args.y4m || args.input)) {
  console.error('usage: node e2e-capture.mjs --base-url URL (--y4m FILE | --input CLIP_OR_PHOTO) [--challenge a,b] [--timeout S] [--viewport WxH] [--screenshot FILE]');
  process.exit(2);
}

const started = Date.now();
const out = { ok: false, state: '', session_id: '', status: '', result: null, error_code: '', error: '', phases: [], requests: {}, console_errors: [], elapsed_ms: 0 };
let tmp = '';
let browser;

try {
  let y4m = args.y4m;
  if (!y4m) {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'everify-e2e-'));
    y4m = (await makeY4M(args.input, path.join(tmp, 'camera.y4m'))).path;
  }
  await fs.access(y4m);
  const [vw, vh] = args.viewport.split('x').map(Number);
  browser = await chromium.launch({
    executablePath: args.chromium,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--mute-audio',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${y4m}`,
    ],
  });
  const page = await browser.newPage({ viewport: { width: vw, height: vh }, deviceScaleFactor: 1 });
  page.on('console', (m) => {
    if (m.type() === 'error') out.console_errors.push(m.text());
  });
  page.on('pageerror', (e) => out.console_errors.push(`uncaught: ${e.message}`));
  page.on('response', (r) => {
    const m = /\/v1\/biometrics\/liveness\/[^/]+\/(\w+)$/.exec(new URL(r.url()).pathname);
    if (m) {
      const k = `${r.request().method()} ${m[1]} ${r.status()}`;
      out.requests[k] = (out.requests[k] || 0) + 1;
    }
  });
  page.on('requestfailed', (r) => {
    if (r.url().includes('/v1/biometrics/')) {
      const k = `${r.method()} ${new URL(r.url()).pathname.split('/').pop()} failed`;
      out.requests[k] = (out.requests[k] || 0) + 1;
    }
  });
  // Record every phase and prompt the SDK shows, with the time it appeared.
  await page.addInitScript(() => {
    window.__phases = [];
    const t0 = performance.now();
    new MutationObserver(() => {
      const el = document.querySelector('.ev-capture');
      if (!el) return;
      const phase = el.dataset.phase || '';
      const text = (el.querySelector('.ev-prompt')?.textContent || el.querySelector('.ev-error')?.textContent || '').trim();
      const last = window.__phases[window.__phases.length - 1];
      if (!last || last.phase !== phase || last.text !== text) {
        window.__phases.push({ phase, text, at_ms: Math.round(performance.now() - t0) });
      }
    }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['data-phase'] });
  });

  const url = new URL('demo/', args['base-url'].replace(/\/?$/, '/'));
  if (args.challenge) url.searchParams.set('challenge', args.challenge);
  await page.goto(url.href, { waitUntil: 'load' });
  await page.getByRole('button', { name: 'Start liveness check' }).click();
  try {
    await page.waitForFunction(() => ['done', 'error'].includes(document.getElementById('demo')?.dataset.state),
      null, { timeout: Number(args.timeout) * 1000, polling: 250 });
  } catch {
    out.error = `the page did not finish within ${args.timeout} s`;
  }
  const page_ = await page.evaluate(() => {
    const main = document.getElementById('demo');
    const err = document.querySelector('.ev-error:not([hidden])') || document.querySelector('#error:not([hidden])');
    return {
      state: main.dataset.state || '',
      session_id: main.dataset.session || '',
      status: main.dataset.status || '',
      error_code: main.dataset.errorCode || '',
      error: err ? err.textContent.trim() : '',
      raw: document.getElementById('raw').textContent,
      phases: window.__phases,
    };
  });
  Object.assign(out, {
    state: page_.state,
    session_id: page_.session_id,
    status: page_.status,
    error_code: page_.error_code,
    error: page_.error || out.error,
    phases: page_.phases,
    result: page_.raw ? JSON.parse(page_.raw) : null,
    ok: page_.state === 'done',
  });
  if (args.screenshot) await page.screenshot({ path: args.screenshot, fullPage: true });
} catch (err) {
  out.error = err.message;
} finally {
  if (browser) await browser.close().catch(() => {});
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
}
out.elapsed_ms = Date.now() - started;
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(out.ok ? 0 : 1);
