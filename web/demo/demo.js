// The everify demo page: starts a liveness session through the demo-only
// server route (the server holds the demo API key; the browser never sees
// it), runs the capture SDK, and shows the decision.
//
// Demo routes (served by `everify serve --demo`):
//   POST api/session       body {"challenge_types": [...]} (optional) →
//                          the liveness start response (with session_token)
//   GET  api/session/{id}  → the liveness results response
//
// ?challenge=blink,turn_left in the page URL asks for those steps.
//
// <main data-state> is idle, starting, capturing, fetching, done or error,
// and #raw holds the results JSON once done, for people and for tests.

import { createCapture } from '../sdk/everify-capture.js';

const $ = (id) => document.getElementById(id);
const main = $('demo');

/** api calls a demo route and returns its JSON, or throws with the server's message. */
async function api(method, path, body) {
  const init = { method, cache: 'no-store', headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new Error('The everify server could not be reached. Check that it is running, then try again.');
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = data.error || {};
    const err = new Error(e.message || data.message || `The server answered HTTP ${res.status}.`);
    err.code = e.code || `http_${res.status}`;
    throw err;
  }
  return data;
}

function setState(state) {
  main.dataset.state = state;
}

function requestedChallenges() {
  const v = new URLSearchParams(location.search).get('challenge');
  const types = v ? v.split(',').map((s) => s.trim()).filter(Boolean) : [];
  return types.length ? { challenge_types: types } : {};
}

async function run() {
  $('intro').hidden = true;
  $('again').hidden = true;
  $('outcome').hidden = true;
  $('error').hidden = true;
  delete main.dataset.errorCode;
  setState('starting');
  try {
    const session = await api('POST', 'api/session', requestedChallenges());
    main.dataset.session = session.session_id;
    const sessionLine = $('session');
    sessionLine.textContent = `Session ${session.session_id}`;
    sessionLine.hidden = false;
    const capture = createCapture({
      root: $('capture'),
      session,
      onStatus: (s) => {
        sessionLine.textContent = `Session ${session.session_id}: ${s.status}`;
      },
    });
    setState('capturing');
    const final = await capture.start();
    setState('fetching');
    const results = await api('GET', `api/session/${encodeURIComponent(session.session_id)}`);
    main.dataset.status = results.status || final.status;
    $('capture').replaceChildren();
    showResults(results);
    setState('done');
    $('outcome-title').focus();
  } catch (err) {
    main.dataset.errorCode = err.code || 'unexpected';
    // The SDK shows its own errors inside the capture area; show the others here.
    if (!$('capture').querySelector('.ev-error:not([hidden])')) {
      $('error').textContent = err.message;
      $('error').hidden = false;
    }
    setState('error');
  }
  $('again').hidden = false;
}

/** showResults renders a liveness results response in words, not colours alone. */
function showResults(r) {
  $('raw').textContent = JSON.stringify(r, null, 2);
  const res = r.result;
  const verdict = $('verdict');
  verdict.className = 'verdict';
  if (r.status === 'completed' && res) {
    verdict.textContent = res.is_live ? '✔ Live person: yes' : '✘ Live person: no';
    verdict.classList.add(res.is_live ? 'pass' : 'fail');
  } else {
    verdict.textContent = `No decision: the session ended ${r.status}.`;
    verdict.classList.add('fail');
  }
  const summary = [['Status', r.status], ['Session', r.session_id]];
  if (res) {
    summary.push(
      ['Liveness score', `${fmt(res.liveness_score)} of 100`],
      ['Live', yesNo(res.is_live)],
      ['Spoof attempt detected', yesNo(res.spoof_attempt_detected)],
    );
    if (res.model_version) summary.push(['Model', res.model_version]);
  }
  $('summary').replaceChildren(...summary.flatMap(([k, v]) => [node('dt', k), node('dd', v)]));

  const failure = $('failure');
  failure.hidden = !r.failure;
  if (r.failure) {
    failure.replaceChildren(node('p', `${r.failure.message} (${r.failure.code}${r.failure.retryable ? '; you can try again' : ''})`));
  }

  const reasons = (res && res.reasons) || [];
  $('reasons-box').hidden = reasons.length === 0;
  $('reasons').replaceChildren(...reasons.map((x) => node('li', x)));

  const checks = (res && res.checks) || [];
  $('checks-box').hidden = checks.length === 0;
  $('checks').tBodies[0].replaceChildren(...checks.map((c) => row([
    words(c.name),
    fmt(c.score),
    (c.passed ? '✔ Passed' : '✘ Failed') + (c.attack ? ' (attack signal)' : ''),
    c.detail || '',
  ])));

  const steps = (res && res.steps) || [];
  $('steps-box').hidden = steps.length === 0;
  $('steps').tBodies[0].replaceChildren(...steps.map((s) => row([
    words(s.challenge_type),
    s.seen ? '✔ Yes' : '✘ No',
    s.prompt_ms != null ? `${(s.prompt_ms / 1000).toFixed(2)} s` : '',
    s.seen && s.seen_ms != null ? `${(s.seen_ms / 1000).toFixed(2)} s` : '',
  ])));
  $('outcome').hidden = false;
}

const fmt = (x) => (typeof x === 'number' ? x.toFixed(1) : '–');
const yesNo = (b) => (b ? 'Yes' : 'No');
const words = (s) => String(s || '').replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());

function node(tag, text) {
  const e = document.createElement(tag);
  e.textContent = text;
  return e;
}

function row(cells) {
  const tr = document.createElement('tr');
  tr.append(...cells.map((c) => node('td', c)));
  return tr;
}

$('start').addEventListener('click', run);
$('again').addEventListener('click', run);
