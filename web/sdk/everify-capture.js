/**
 * everify capture SDK: records a liveness capture in the browser and sends
 * it to an everify server. A plain ES module with no dependencies.
 *
 *   import { createCapture } from 'https://everify.example/sdk/everify-capture.js';
 *
 *   // `session` is the JSON your backend got from POST /v1/biometrics/liveness/start
 *   // (made there with your API key, which must never reach the browser).
 *   const capture = createCapture({
 *     root: document.querySelector('#capture'),
 *     session,
 *     onProgress: (p) => console.log(p.phase, p.message),
 *     onStatus: (s) => console.log(s.status),
 *   });
 *   try {
 *     const final = await capture.start(); // the last /status response
 *     // final.status is "completed", "failed" or "expired"; your backend
 *     // reads the decision from …/results with its API key.
 *   } catch (err) {
 *     // err is a CaptureError: err.code (stable), err.message (for people),
 *     // err.retryable (start a new session and try again).
 *   }
 *   capture.cancel(); // stops the camera and every request, at any time
 *
 * Options of createCapture:
 *   root        Element the capture UI is drawn into (required).
 *   session     The start response: session_id, session_token (required),
 *               challenge_details, capture, expires_at.
 *   apiBase     Origin (and path prefix) of the everify server; '' (the
 *               page's own origin) by default.
 *   onProgress  Called with {phase, message, step, steps, elapsedMs,
 *               totalMs, framesCaptured, framesUploaded}. Phases, in order:
 *               camera, checking, countdown, recording, uploading,
 *               processing, done (or error).
 *   onStatus    Called with each /status response whose status differs
 *               from the previous one.
 *   messages    Replacement texts, by key (see MESSAGES below). Keys
 *               framing_<verdict> (framing_too_far, framing_off_centre, …)
 *               replace the server's framing instructions.
 *   stylesheet  URL of the stylesheet, or false to bring your own;
 *               everify-capture.css beside this module by default.
 *
 * What it does, in order: asks for the front camera; shows the picture
 * mirrored, with a face oval; waits until the picture inside the oval is
 * bright enough, not backlit, not blank and steady and, while it waits,
 * sends a small preview frame to the server's framing pre-check
 * (…/precheck) every FRAMING_EVERY_MS, showing its instructions ("Move
 * closer…") until it has answered "ok" FRAMING_TO_PASS times in a row (a
 * server without the pre-check, or a person still not framed after
 * FRAMING_PATIENCE_MS, leaves the brightness checks alone to decide: the
 * analysis judges the framing again); counts down; records
 * frames at the session's frame rate while it shows each challenge step in
 * turn; uploads the frames in batches while recording; completes the
 * capture; and polls the session's status until the analysis has ended.
 *
 * The wire protocol is docs/DESIGN.md, "Capture protocol". Every time sent
 * to the server is in milliseconds since the capture started (the first
 * recorded frame's clock), measured with performance.now().
 *
 * Screen-light challenge: when challenge_details.light_sequence is a list
 * of {color: "#rrggbb", duration_ms}, the area around the oval is lit with
 * each colour in turn from the start of the recording, and the times each
 * colour was actually on screen are sent with the completion as
 * `light: [{index, color, shown_at_ms, hidden_at_ms}]`. Durations shorter
 * than MIN_LIGHT_MS are lengthened so that the screen never flashes more
 * than three times a second (WCAG 2.3.1).
 */

/** Texts shown to the person; override any of them with options.messages. */
export const MESSAGES = {
  region: 'Face capture',
  cancel: 'Cancel',
  progress: 'Capture progress',
  starting_camera: 'Starting the camera…',
  place_face: 'Place your face inside the oval.',
  too_dark: 'It is too dark. Turn on a light or face a window.',
  too_bright: 'The picture is too bright. Move out of direct light.',
  backlit: 'There is bright light behind you. Turn so that the light falls on your face.',
  blank: 'The camera picture is blank. Check that the camera is not covered, then place your face inside the oval.',
  hold_still: 'Hold the camera still and keep your face inside the oval.',
  ready: 'Good. Hold still…',
  countdown: 'Get ready. Recording starts in {n} seconds.',
  look: 'Look at the camera.',
  step: 'Step {i} of {n}',
  uploading: 'Sending the capture…',
  processing: 'Checking the capture. This takes a few seconds…',
  done: 'Done. Thank you.',
  failed: 'The check could not be completed. You can start again.',
  expired: 'This session has expired. Start again to get a new one.',
  // Errors, by CaptureError code.
  camera_denied: 'Camera access was refused. Allow this site to use the camera in your browser settings, then try again.',
  no_camera: 'No camera was found. Connect a camera or use a device that has one, then try again.',
  camera_in_use: 'The camera could not be started; another app may be using it. Close other apps that use the camera, then try again.',
  camera_insecure: 'The camera can only be used on a secure (https) page.',
  camera_unsupported: 'This browser cannot use the camera. Use a current version of Chrome, Safari, Firefox or Edge.',
  camera_lost: 'The camera stopped. Check that it is connected, then try again.',
  session_expired: 'This session has expired. Start again to get a new one.',
  session_invalid: 'This session is no longer valid. Start again to get a new one.',
  interrupted: 'The recording stopped because the page was hidden. Keep this page open and start again.',
  network_error: 'The capture could not be sent. Check your internet connection, then try again.',
  status_timeout: 'The result is taking longer than expected. Please try again later.',
  cancelled: 'The capture was cancelled.',
};

/**
 * CaptureError is what start() rejects with. code is stable (the keys of
 * MESSAGES, or the server's error code); message is for people; retryable
 * says whether starting a new session and trying again may help; status is
 * the HTTP status when the server refused a request.
 */
export class CaptureError extends Error {
  constructor(code, message, { retryable = false, status = 0 } = {}) {
    super(message);
    this.name = 'CaptureError';
    this.code = code;
    this.retryable = retryable;
    this.status = status;
  }
}

/** SDK_VERSION is sent to the server in the completion's client object. */
export const SDK_VERSION = 'everify-capture/1.0.0';

// Used when the start response's capture object leaves a value out.
const CAPTURE_DEFAULTS = {
  fps: 15,
  max_frames: 300,
  min_duration_ms: 0,
  max_duration_ms: 20000,
  width: 640,
  height: 480,
  max_frame_bytes: 256 * 1024,
  step_window_ms: 5000,
};

const BASELINE_MS = 1000; // recorded before the first prompt (neutral face)
const COUNTDOWN_S = 3;
const MIN_LIGHT_MS = 350; // at most ~3 colour changes a second
const CHECK_EVERY_MS = 150; // pre-check sampling period
const CHECKS_TO_PASS = 7; // consecutive good samples (~1 s) before the countdown
const FRAMING_EVERY_MS = 400; // a framing pre-check is started this often (one at a time)
const FRAMING_TO_PASS = 2; // consecutive "ok" framing answers before the countdown
const FRAMING_SIDE = 320; // longer side of the preview frames sent to the pre-check
const FRAMING_QUALITY = 0.8; // their JPEG quality (about 10-20 KB)
const FRAMING_MAX_FAILURES = 5; // network errors in a row before going on without the pre-check
const FRAMING_PATIENCE_MS = 20000; // guidance given before going on without the pre-check (within the server's 60 at once)
const JPEG_QUALITIES = [0.85, 0.7, 0.55, 0.4];
const MAX_ATTEMPTS = 6; // per request, on network errors, 429 and 5xx
const STATUS_TIMEOUT_MS = 180000;
const TERMINAL = new Set(['completed', 'failed', 'expired']);

// Oval in the stage's 300x400 coordinate system (the stage is always 3:4).
const STAGE = { w: 300, h: 400 };
const OVAL = { cx: 150, cy: 185, rx: 100, ry: 135 };

// Pre-check limits, on Rec. 601 luma (0-255) of a small copy of the frame.
const LIMITS = {
  darkMean: 50, // mean luma inside the oval below this: too dark
  brightMean: 225, // above this: washed out
  backlitFace: 100, // a face darker than this …
  backlitGap: 60, // … with the surroundings brighter by more than this: backlit
  blankStd: 10, // luma spread inside the oval below this: blank/covered
  motion: 14, // mean absolute change between samples above this: moving
};

let instances = 0;
let styleAdded = false;

/**
 * createCapture prepares a capture for one session. It only adds the
 * stylesheet to the page: the camera and the API are not used until
 * start() is called.
 */
export function createCapture(options) {
  const c = new Capture(options);
  return { start: () => c.start(), cancel: () => c.cancel() };
}

class Capture {
  constructor({ root, session, apiBase = '', onProgress, onStatus, messages, stylesheet } = {}) {
    if (!(root instanceof Element)) throw new TypeError('createCapture: root must be a DOM element');
    if (!session || !session.session_id || !session.session_token) {
      throw new TypeError('createCapture: session must be the start response, with session_id and session_token');
    }
    this.root = root;
    this.token = session.session_token;
    this.api = `${String(apiBase).replace(/\/+$/, '')}/v1/biometrics/liveness/${encodeURIComponent(session.session_id)}`;
    this.onProgress = onProgress || (() => {});
    this.onStatus = onStatus || (() => {});
    this.text = { ...MESSAGES, ...messages };
    this.settings = captureSettings(session.capture);
    this.steps = challengeSteps(session.challenge_details, this.text.look);
    this.plan = capturePlan(this.steps.length, this.settings);
    this.light = lightSequence(session.challenge_details);
    this.abort = new AbortController();
    this.started = false;
    this.phase = '';
    this.current = {}; // what the last say() showed, for onProgress
    this.frames = []; // {index, atMs, blob}; blob is null until encoded
    this.prompts = []; // {step, shown_at_ms}
    this.lightShown = []; // {index, color, shown_at_ms, hidden_at_ms}
    this.uploaded = 0;
    this.t0 = 0;
    addStylesheet(stylesheet);
  }

  /** Runs the whole capture; see the module comment. */
  async start() {
    if (this.started) throw new CaptureError('already_started', 'This capture was already started; create a new one.');
    this.started = true;
    this.buildUI();
    try {
      await this.openCamera();
      await this.precheck();
      await this.countdown();
      await this.record();
      await this.complete();
      const final = await this.pollStatus();
      this.finish(final);
      return final;
    } catch (err) {
      const e = err instanceof CaptureError ? err : this.abort.signal.aborted ? this.abortReason() : toCaptureError(err, this.text);
      this.fail(e);
      throw e;
    } finally {
      this.stopCamera();
    }
  }

  /** Stops the camera, the timers and every request; start() rejects with code "cancelled". */
  cancel() {
    this.stop(new CaptureError('cancelled', this.text.cancelled));
    this.stopCamera();
  }

  /** Stops everything because of err (the first reason wins). */
  stop(err) {
    this.stopReason = this.stopReason || err;
    this.abort.abort();
    this.wake();
  }

  /** The error that explains why the abort signal fired. */
  abortReason() {
    return this.stopReason || new CaptureError('cancelled', this.text.cancelled);
  }

  // ---- UI -------------------------------------------------------------

  buildUI() {
    const id = `ev-mask-${++instances}`;
    const { w, h } = STAGE;
    const { cx, cy, rx, ry } = OVAL;
    this.el = el('div', { class: 'ev-capture', role: 'region', 'aria-label': this.text.region });
    this.el.innerHTML = `
      <div class="ev-stage">
        <video class="ev-video" playsinline muted autoplay></video>
        <svg class="ev-overlay" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" aria-hidden="true" focusable="false">
          <defs><mask id="${id}"><rect width="${w}" height="${h}" fill="#fff"/>
            <ellipse cx="${cx}" cy="${cy}" rx="${rx}" ry="${ry}" fill="#000"/></mask></defs>
          <rect class="ev-shade" width="${w}" height="${h}" mask="url(#${id})"/>
          <ellipse class="ev-oval" cx="${cx}" cy="${cy}" rx="${rx}" ry="${ry}"/>
        </svg>
        <div class="ev-count" aria-hidden="true"></div>
      </div>
      <p class="ev-prompt" aria-live="polite" aria-atomic="true"><span class="ev-step"></span> <span class="ev-text"></span></p>
      <progress class="ev-progress" max="100" value="0"></progress>
      <p class="ev-error" role="alert" hidden></p>
      <button type="button" class="ev-cancel"></button>`;
    this.root.replaceChildren(this.el);
    const q = (s) => this.el.querySelector(s);
    this.ui = {
      video: q('.ev-video'),
      step: q('.ev-step'),
      text: q('.ev-text'),
      bar: q('.ev-progress'),
      count: q('.ev-count'),
      error: q('.ev-error'),
      cancel: q('.ev-cancel'),
    };
    this.ui.bar.setAttribute('aria-label', this.text.progress);
    this.ui.cancel.textContent = this.text.cancel;
    this.ui.cancel.addEventListener('click', () => this.cancel());
  }

  /**
   * say shows the main prompt (screen readers announce it when it changes)
   * with "Step i of n" when step > 0, and reports progress when anything
   * changed.
   */
  say(phase, message, extra = {}) {
    const step = extra.step || 0;
    const stepText = step ? `${fill(this.text.step, { i: step, n: this.steps.length })}:` : '';
    const changed = phase !== this.phase || message !== this.current.message || step !== (this.current.step || 0);
    this.current = { message, ...extra, step };
    if (!changed) return;
    // Only real changes touch the live region: rewriting the same text can
    // make a screen reader announce it again.
    this.phase = phase;
    this.el.dataset.phase = phase;
    this.ui.step.textContent = stepText;
    this.ui.text.textContent = message;
    this.progress();
  }

  progress(extra = {}) {
    this.onProgress({
      phase: this.phase,
      steps: this.steps.length,
      elapsedMs: this.t0 ? Math.round(performance.now() - this.t0) : 0,
      totalMs: this.plan.totalMs,
      framesCaptured: this.frames.length,
      framesUploaded: this.uploaded,
      ...this.current,
      ...extra,
    });
  }

  /** Sets the progress bar to a fraction, or to "busy" (null). */
  bar(fraction) {
    if (fraction == null) this.ui.bar.removeAttribute('value');
    else this.ui.bar.value = Math.round(Math.min(1, Math.max(0, fraction)) * 100);
  }

  finish(final) {
    const key = { completed: 'done', expired: 'expired' }[final.status] || 'failed';
    this.bar(1);
    this.say('done', this.text[key], { status: final.status });
    this.el.dataset.result = final.status;
    this.ui.cancel.hidden = true;
  }

  fail(e) {
    if (!this.el) return;
    this.setLight(null);
    this.el.classList.remove('ev-fullscreen');
    this.phase = 'error';
    this.el.dataset.phase = 'error';
    this.ui.step.textContent = '';
    this.ui.text.textContent = '';
    this.ui.count.textContent = '';
    this.ui.error.textContent = e.message;
    this.ui.error.hidden = false;
    this.ui.cancel.hidden = true;
    this.bar(0);
    this.current = { message: e.message, step: 0 };
    this.progress({ error: { code: e.code, message: e.message, retryable: e.retryable } });
  }

  /** Lights the area around the oval with a colour, or restores it (null). */
  setLight(color) {
    this.el.classList.toggle('ev-lit', Boolean(color));
    if (color) this.el.style.setProperty('--ev-light', color);
  }

  // ---- camera -----------------------------------------------------------

  async openCamera() {
    this.say('camera', this.text.starting_camera);
    this.bar(null);
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      const code = window.isSecureContext ? 'camera_unsupported' : 'camera_insecure';
      throw new CaptureError(code, this.text[code]);
    }
    const { width, height, fps } = this.settings;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: false,
        // resizeMode "none" keeps the camera's own aspect (a phone in portrait gives 480x640)
        // instead of letting the browser crop it to the requested shape.
        video: {
          facingMode: 'user',
          width: { ideal: width },
          height: { ideal: height },
          frameRate: { ideal: fps },
          resizeMode: { ideal: 'none' },
        },
      });
    } catch (err) {
      throw cameraError(err, this.text);
    }
    if (this.abort.signal.aborted) {
      for (const t of stream.getTracks()) t.stop();
      throw this.abortReason();
    }
    this.stream = stream;
    // "ended" fires when the camera goes away, not when we stop it.
    stream.getVideoTracks()[0].addEventListener('ended', () =>
      this.stop(new CaptureError('camera_lost', this.text.camera_lost, { retryable: true })));
    const video = this.ui.video;
    video.muted = true; // required for autoplay on phones, with playsinline
    video.srcObject = stream;
    await Promise.race([
      new Promise((resolve) => (video.readyState >= 2 ? resolve() : video.addEventListener('loadeddata', resolve, { once: true }))),
      abortable(this.abort.signal),
    ]);
    // A muted inline video may autoplay; if the browser still refuses, it keeps decoding frames.
    await video.play().catch(() => {});
    if ('requestVideoFrameCallback' in video) {
      // Count the camera's frames, so that a slow camera is not recorded twice per frame.
      this.videoFrames = 0;
      const count = () => {
        this.videoFrames++;
        if (this.stream) video.requestVideoFrameCallback(count);
      };
      video.requestVideoFrameCallback(count);
    }
  }

  stopCamera() {
    if (this.stream) for (const t of this.stream.getTracks()) t.stop();
    this.stream = null;
    if (this.ui) this.ui.video.srcObject = null;
  }

  // ---- pre-checks -------------------------------------------------------

  /**
   * Waits until the picture in the oval has passed the brightness checks
   * for about a second and the server's framing pre-check (when it has
   * one) has answered "ok" FRAMING_TO_PASS times in a row. The prompt
   * shows the most useful problem: the light first, then the framing, then
   * a moving picture.
   */
  async precheck() {
    this.say('checking', this.text.place_face);
    const video = this.ui.video;
    const sampler = new LumaSampler(video.videoWidth, video.videoHeight);
    const framing = new FramingCheck(this, video);
    let good = 0;
    let prev = null;
    let last = null; // the previous sample's verdict
    try {
      while (good < CHECKS_TO_PASS || !framing.passed()) {
        await sleep(CHECK_EVERY_MS, this.abort.signal);
        framing.tick();
        const s = sampler.sample(video);
        const light = lumaProblem(s, prev);
        prev = s;
        good = light ? 0 : good + 1;
        this.bar(Math.min(good / CHECKS_TO_PASS, framing.progress()));
        const shown = this.precheckPrompt(light, framing);
        // A verdict is shown once it held for two samples, so that the
        // announced text does not flicker.
        if (last && shown.check === last.check && shown.text === last.text) {
          this.el.classList.toggle('ev-ready', shown.check === 'ready');
          this.say('checking', shown.text, { check: shown.check, framing: framing.verdict || undefined });
        }
        last = shown;
      }
    } finally {
      framing.stop();
    }
  }

  /**
   * precheckPrompt picks what the pre-checks show, as {check, text}: a
   * light problem, then the framing's instructions, then a moving picture;
   * "ready" once the framing is ok (or not checked).
   */
  precheckPrompt(light, framing) {
    if (light && light !== 'hold_still') return { check: light, text: this.text[light] };
    const problem = framing.problem();
    if (problem) return problem;
    if (light) return { check: light, text: this.text[light] };
    if (framing.passed() || framing.verdict === 'ok') return { check: 'ready', text: this.text.ready };
    return { check: 'place_face', text: this.text.place_face };
  }

  async countdown() {
    this.say('countdown', fill(this.text.countdown, { n: COUNTDOWN_S }));
    for (let n = COUNTDOWN_S; n > 0; n--) {
      this.ui.count.textContent = String(n);
      this.bar(1 - n / COUNTDOWN_S);
      await sleep(1000, this.abort.signal);
    }
    this.ui.count.textContent = '';
  }

  // ---- recording and upload --------------------------------------------

  /**
   * record captures frames for the planned duration while showing each
   * step's prompt (and the light sequence), and uploads them in batches as
   * they are encoded. It resolves once every batch has been accepted.
   */
  async record() {
    const video = this.ui.video;
    const size = frameSize(video.videoWidth, video.videoHeight, this.settings);
    const canvas = el('canvas');
    canvas.width = size.width;
    canvas.height = size.height;
    const ctx = canvas.getContext('2d');
    this.camera = { width: video.videoWidth, height: video.videoHeight };
    this.frameSize = size;
    this.quality = 0; // index into JPEG_QUALITIES for the next frame
    this.recording = true;
    if (this.light.length) this.el.classList.add('ev-fullscreen');

    const onHidden = () => {
      if (document.hidden) this.stop(new CaptureError('interrupted', this.text.interrupted, { retryable: true }));
    };
    document.addEventListener('visibilitychange', onHidden);
    const uploads = this.uploadLoop();
    uploads.catch((err) => this.stop(toCaptureError(err, this.text))); // a refused batch stops the recording
    const { totalMs, promptAtMs, fps } = this.plan;
    const interval = 1000 / fps;
    try {
      this.t0 = performance.now();
      await new Promise((resolve, reject) => {
        let step = -1;
        let nextFrameAt = 0;
        let lastGrabAt = 0;
        let lastVideoFrame = -1;
        let light = { i: -1, until: 0 };
        const tick = () => {
          if (this.abort.signal.aborted) return reject(this.abortReason());
          const t = performance.now() - this.t0;
          if (t >= totalMs || this.frames.length >= this.settings.max_frames) return resolve();
          if (step < 0 && t < promptAtMs[0]) this.say('recording', this.text.look);
          while (step + 1 < promptAtMs.length && t >= promptAtMs[step + 1]) {
            step++;
            const s = this.steps[step];
            this.say('recording', s.instructions, { step: step + 1, challengeType: s.challenge_type });
            this.prompts.push({ step, shown_at_ms: Math.round(performance.now() - this.t0) });
          }
          light = this.advanceLight(light, t);
          this.bar(t / totalMs);
          // Grab only new camera frames (when the browser tells), but never stall for long.
          const fresh = this.videoFrames === undefined || this.videoFrames !== lastVideoFrame || t - lastGrabAt > 3 * interval;
          if (t >= nextFrameAt && fresh) {
            lastVideoFrame = this.videoFrames;
            lastGrabAt = t;
            ctx.drawImage(video, 0, 0, size.width, size.height);
            this.encode(canvas, Math.round(performance.now() - this.t0));
            nextFrameAt = Math.max(nextFrameAt + interval, t + interval / 2);
          }
          requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
      });
    } finally {
      document.removeEventListener('visibilitychange', onHidden);
      this.recording = false;
      this.wake();
    }
    await this.endLight();
    this.stopCamera();
    this.say('uploading', this.text.uploading);
    this.bar(this.uploaded / this.frames.length);
    await uploads;
  }

  /**
   * advanceLight switches to the next colour of the light sequence when
   * the current one's time is up, and records when each change reached the
   * screen (the next animation frame).
   */
  advanceLight(light, t) {
    if (light.i >= this.light.length || t < light.until) return light;
    const i = light.i + 1;
    const prev = this.lightShown[light.i];
    const next = i < this.light.length ? { index: i, color: this.light[i].color, shown_at_ms: null, hidden_at_ms: null } : null;
    this.setLight(next && next.color);
    if (next) this.lightShown.push(next);
    requestAnimationFrame(() => {
      const at = Math.round(performance.now() - this.t0);
      if (prev) prev.hidden_at_ms = at;
      if (next) next.shown_at_ms = at;
    });
    return { i, until: next ? t + this.light[i].duration_ms : Infinity };
  }

  /** endLight turns the light off after the recording and closes the record of the last colour. */
  async endLight() {
    if (!this.light.length) return;
    this.setLight(null);
    this.el.classList.remove('ev-fullscreen');
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const at = Math.round(performance.now() - this.t0);
    this.lightShown = this.lightShown.filter((x) => x.shown_at_ms != null);
    for (const x of this.lightShown) if (x.hidden_at_ms == null) x.hidden_at_ms = at;
  }

  /** encode queues a JPEG of the canvas for upload, within max_frame_bytes. */
  encode(canvas, atMs) {
    const frame = { index: this.frames.length, atMs, blob: null };
    this.frames.push(frame);
    const qi = this.quality;
    // toBlob copies the canvas now, so the canvas may be drawn on again at once.
    toJPEG(canvas, JPEG_QUALITIES[qi])
      .then((blob) => this.fit(blob, qi))
      .then((blob) => {
        frame.blob = blob;
        this.wake();
      })
      .catch((err) => this.stop(new CaptureError('encode_failed', `A camera frame could not be encoded: ${err.message}`)));
  }

  /**
   * fit re-encodes a JPEG above max_frame_bytes at lower qualities, and
   * makes later frames start at the quality that fitted.
   */
  async fit(blob, qi) {
    const limit = this.settings.max_frame_bytes;
    if (blob.size <= limit) return blob;
    const bitmap = await createImageBitmap(blob);
    const c = el('canvas');
    c.width = bitmap.width;
    c.height = bitmap.height;
    c.getContext('2d').drawImage(bitmap, 0, 0);
    for (let q = qi + 1; q < JPEG_QUALITIES.length; q++) {
      this.quality = Math.max(this.quality, q);
      blob = await toJPEG(c, JPEG_QUALITIES[q]);
      if (blob.size <= limit) return blob;
    }
    throw new Error(`it is ${blob.size} bytes at the lowest quality, over the server's limit of ${limit}`);
  }

  /** wake resumes uploadLoop when it waits for frames. */
  wake() {
    const w = this.waiter;
    this.waiter = null;
    if (w) w();
  }

  /** uploadLoop sends the encoded frames in order, about one second of frames per batch. */
  async uploadLoop() {
    const per = Math.max(1, Math.round(this.plan.fps));
    let batch = 0;
    for (;;) {
      const next = this.uploaded;
      let ready = next;
      while (ready < this.frames.length && this.frames[ready].blob) ready++;
      const allIn = !this.recording && ready === this.frames.length;
      if (ready - next >= per || (allIn && ready > next)) {
        const frames = this.frames.slice(next, next + Math.min(per, ready - next));
        await this.sendBatch(batch++, frames);
        this.uploaded += frames.length;
        if (!this.recording) this.bar(this.uploaded / this.frames.length);
        this.progress();
        continue;
      }
      if (allIn) return;
      if (this.abort.signal.aborted) throw this.abortReason();
      await new Promise((resolve) => (this.waiter = resolve));
    }
  }

  async sendBatch(batch, frames) {
    const form = new FormData();
    const meta = { batch, frames: frames.map((f) => ({ index: f.index, captured_at_ms: f.atMs })) };
    form.append('meta', JSON.stringify(meta));
    for (const f of frames) form.append('frame', f.blob, `frame-${String(f.index).padStart(5, '0')}.jpg`);
    // 409 batch_already_received means an earlier attempt of this batch
    // reached the server although its answer was lost: that attempt counts.
    await this.request('frames', { method: 'POST', body: form }, ['batch_already_received']);
  }

  async complete() {
    const body = { frame_count: this.frames.length, prompts: this.prompts, client: this.clientInfo() };
    if (this.light.length) body.light = this.lightShown;
    // 409 capture_already_complete: an earlier attempt got through.
    await this.request('complete', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    }, ['capture_already_complete']);
  }

  /** clientInfo is what the client says about itself (recorded by the server, never trusted); all strings. */
  clientInfo() {
    const f = this.frames;
    const span = f.length > 1 ? f[f.length - 1].atMs - f[0].atMs : 0;
    const o = ovalInFrame(this.frameSize.width, this.frameSize.height);
    return {
      sdk: SDK_VERSION,
      user_agent: navigator.userAgent,
      screen: `${screen.width}x${screen.height}@${window.devicePixelRatio || 1}`,
      camera: `${this.camera.width}x${this.camera.height}`,
      frame_size: `${this.frameSize.width}x${this.frameSize.height}`,
      fps_target: String(this.plan.fps),
      fps_measured: span > 0 ? (((f.length - 1) * 1000) / span).toFixed(1) : '0',
      oval: [o.cx, o.cy, o.rx, o.ry].map((v) => v.toFixed(0)).join(','),
      preview_mirrored: 'true',
    };
  }

  // ---- status -----------------------------------------------------------

  /** pollStatus polls /status until the session ends, calling onStatus on each change. */
  async pollStatus() {
    this.say('processing', this.text.processing);
    this.bar(null);
    const deadline = performance.now() + STATUS_TIMEOUT_MS;
    let last = '';
    for (let i = 0; ; i++) {
      const res = await this.request('status', { method: 'GET' });
      if (res.status !== last) {
        last = res.status;
        this.onStatus(res);
      }
      if (TERMINAL.has(res.status)) return res;
      if (performance.now() > deadline) throw new CaptureError('status_timeout', this.text.status_timeout, { retryable: true });
      await sleep(i < 10 ? 1000 : 2000, this.abort.signal);
    }
  }

  // ---- HTTP -------------------------------------------------------------

  /**
   * request calls one of the session's endpoints with the session token,
   * retrying network errors, 429 and 5xx with exponential backoff (or the
   * server's Retry-After). An error whose code is in okCodes counts as
   * success. It returns the parsed JSON body.
   */
  async request(path, init, okCodes = []) {
    const headers = { ...init.headers, Authorization: `Bearer ${this.token}` };
    let wait = 0;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (attempt > 0) await sleep(wait || backoff(attempt), this.abort.signal);
      let res;
      try {
        res = await fetch(`${this.api}/${path}`, { ...init, headers, signal: this.abort.signal, cache: 'no-store' });
      } catch {
        if (this.abort.signal.aborted) throw this.abortReason(); // otherwise a network error: retry
        wait = 0;
        continue;
      }
      const body = await res.json().catch(() => ({}));
      if (res.ok) return body;
      const e = body.error || {};
      if (okCodes.includes(e.code)) return body;
      if (res.status !== 429 && res.status < 500) throw apiError(res.status, e, body.message, this.text);
      const after = Number(res.headers.get('Retry-After')) || e.retry_after_seconds || 0;
      wait = Math.min(after * 1000, 30000);
    }
    throw new CaptureError('network_error', this.text.network_error, { retryable: true });
  }
}

// ---- pure helpers ---------------------------------------------------------

/** captureSettings fills the start response's capture object with defaults. */
function captureSettings(c = {}) {
  const out = { ...CAPTURE_DEFAULTS };
  for (const k of Object.keys(out)) {
    const v = Number(c && c[k]);
    if (Number.isFinite(v) && v > 0) out[k] = v;
  }
  out.fps = Math.min(30, Math.max(1, out.fps));
  return out;
}

/** challengeSteps lists the steps to prompt, falling back to the seed's single challenge. */
function challengeSteps(d = {}, look) {
  if (d && Array.isArray(d.steps) && d.steps.length) {
    return d.steps.map((s) => ({ challenge_type: s.challenge_type, instructions: s.instructions || look }));
  }
  if (d && d.challenge_type) return [{ challenge_type: d.challenge_type, instructions: d.instructions || look }];
  return [{ challenge_type: 'look', instructions: look }];
}

/**
 * capturePlan times the recording: BASELINE_MS of neutral face, then one
 * window per step, shortened to fit max_duration_ms or lengthened to reach
 * min_duration_ms, at a frame rate that keeps within max_frames.
 */
function capturePlan(n, s) {
  const baseline = Math.min(BASELINE_MS, s.max_duration_ms / 4);
  const window = Math.min(s.step_window_ms, (s.max_duration_ms - baseline) / n);
  const totalMs = Math.max(baseline + n * window, Math.min(s.min_duration_ms, s.max_duration_ms));
  const promptAtMs = Array.from({ length: n }, (_, i) => baseline + i * window);
  const fps = Math.min(s.fps, Math.floor((s.max_frames * 1000) / totalMs) || 1);
  return { totalMs, promptAtMs, fps };
}

/** lightSequence returns the valid entries of challenge_details.light_sequence. */
function lightSequence(d = {}) {
  const seq = d && Array.isArray(d.light_sequence) ? d.light_sequence : [];
  return seq
    .filter((x) => x && /^#[0-9a-f]{6}$/i.test(x.color))
    .map((x) => ({ color: x.color, duration_ms: Math.max(MIN_LIGHT_MS, Number(x.duration_ms) || 0) }));
}

/** frameSize scales the camera picture down to fit the capture size, in either orientation. */
function frameSize(vw, vh, s) {
  const long = Math.max(s.width, s.height);
  const short = Math.min(s.width, s.height);
  const k = Math.min(1, long / Math.max(vw, vh), short / Math.min(vw, vh));
  return { width: Math.round(vw * k), height: Math.round(vh * k) };
}

/**
 * ovalInFrame maps the on-screen oval to frame pixels: the stage shows the
 * frame's centre cropped to 3:4 (CSS object-fit: cover).
 */
function ovalInFrame(fw, fh) {
  const aspect = STAGE.w / STAGE.h;
  const visibleWidth = fw / fh > aspect ? fh * aspect : fw;
  const k = visibleWidth / STAGE.w; // frame pixels per stage unit
  return {
    cx: fw / 2 + (OVAL.cx - STAGE.w / 2) * k,
    cy: fh / 2 + (OVAL.cy - STAGE.h / 2) * k,
    rx: OVAL.rx * k,
    ry: OVAL.ry * k,
  };
}

/**
 * FramingCheck runs the server's framing pre-check during the pre-checks:
 * every FRAMING_EVERY_MS (one request at a time) it sends the picture,
 * scaled to FRAMING_SIDE pixels on its longer side, as a JPEG with the
 * oval in its pixels and the size the recorded frames will have, and
 * keeps the verdict. It turns itself off, leaving the light checks to
 * decide, when the server has no pre-check (404, 405, 503
 * framing_check_unavailable), when the session's pre-checks are used up
 * (429 precheck_limit_reached), on any other refusal, after
 * FRAMING_MAX_FAILURES network errors or server failures in a row, and
 * when the framing has not passed after FRAMING_PATIENCE_MS (guidance, not
 * a gate that could hold someone forever; the analysis judges the framing
 * again); it waits out a 429 rate_limited. A refused session token or an
 * expired session stops the capture, as the upload would.
 */
class FramingCheck {
  constructor(capture, video) {
    this.c = capture;
    this.video = video;
    const vw = video.videoWidth;
    const vh = video.videoHeight;
    const k = Math.min(1, FRAMING_SIDE / Math.max(vw, vh));
    this.canvas = el('canvas');
    this.canvas.width = Math.max(1, Math.round(vw * k));
    this.canvas.height = Math.max(1, Math.round(vh * k));
    const o = ovalInFrame(this.canvas.width, this.canvas.height);
    this.oval = [o.cx, o.cy, o.rx, o.ry].map((v) => v.toFixed(1)).join(',');
    const size = frameSize(vw, vh, capture.settings);
    this.frameSize = `${size.width}x${size.height}`;
    this.on = true;
    this.giveUpAt = performance.now() + FRAMING_PATIENCE_MS;
    this.busy = false;
    this.nextAt = 0;
    this.failures = 0;
    this.streak = 0; // consecutive "ok" answers
    this.verdict = ''; // the last answer's framing
    this.text = '';
  }

  /** passed reports whether the framing allows the countdown. */
  passed() {
    return !this.on || this.streak >= FRAMING_TO_PASS;
  }

  /** progress is the share of the framing pre-check done, 0-1. */
  progress() {
    return this.on ? Math.min(1, this.streak / FRAMING_TO_PASS) : 1;
  }

  /** problem is what to show for the last verdict, or null when there is none to show. */
  problem() {
    if (!this.on || !this.verdict || this.verdict === 'ok') return null;
    return { check: `framing_${this.verdict}`, text: this.text };
  }

  /** tick starts a pre-check when it is time and none is running. */
  tick() {
    const now = performance.now();
    if (this.on && !this.passed() && now > this.giveUpAt) this.stop();
    if (!this.on || this.busy || now < this.nextAt) return;
    this.busy = true;
    this.nextAt = now + FRAMING_EVERY_MS;
    this.send()
      .catch(() => this.fail(now)) // encoding failed: like a network error
      .finally(() => (this.busy = false));
  }

  /** stop ignores the answers still on their way. */
  stop() {
    this.on = false;
  }

  async send() {
    const c = this.c;
    this.canvas.getContext('2d').drawImage(this.video, 0, 0, this.canvas.width, this.canvas.height);
    const form = new FormData();
    form.append('frame', await toJPEG(this.canvas, FRAMING_QUALITY), 'preview.jpg');
    form.append('oval', this.oval);
    form.append('frame_size', this.frameSize);
    let res;
    try {
      res = await fetch(`${c.api}/precheck`, {
        method: 'POST', body: form, headers: { Authorization: `Bearer ${c.token}` }, signal: c.abort.signal, cache: 'no-store',
      });
    } catch {
      if (!c.abort.signal.aborted) this.fail(performance.now());
      return;
    }
    const body = await res.json().catch(() => ({}));
    if (!this.on) return;
    const e = body.error || {};
    if (res.ok && typeof body.framing === 'string') {
      this.failures = 0;
      this.verdict = body.framing;
      this.text = c.text[`framing_${body.framing}`] || body.instructions || c.text.place_face;
      this.streak = body.framing === 'ok' ? this.streak + 1 : 0;
    } else if (res.status === 401 || res.status === 410) {
      c.stop(apiError(res.status, e, body.message, c.text));
    } else if (res.status === 429 && e.code !== 'precheck_limit_reached') {
      const after = Number(res.headers.get('Retry-After')) || e.retry_after_seconds || 1;
      this.nextAt = performance.now() + Math.min(after * 1000, 30000);
    } else if (res.status >= 500 && e.code !== 'framing_check_unavailable') {
      this.fail(performance.now());
    } else {
      this.stop(); // no pre-check here (or not for this session): the light checks decide
    }
  }

  /** fail counts a failed attempt, backs off, and gives up after FRAMING_MAX_FAILURES in a row. */
  fail(now) {
    this.failures++;
    if (this.failures >= FRAMING_MAX_FAILURES) this.stop();
    else this.nextAt = now + backoff(this.failures);
  }
}

/** LumaSampler measures the brightness inside and outside the oval on a 64-pixel-wide copy. */
class LumaSampler {
  constructor(vw, vh) {
    this.w = 64;
    this.h = Math.max(1, Math.round((64 * vh) / vw));
    this.canvas = el('canvas');
    this.canvas.width = this.w;
    this.canvas.height = this.h;
    this.ctx = this.canvas.getContext('2d', { willReadFrequently: true });
    const o = ovalInFrame(this.w, this.h);
    this.inOval = new Uint8Array(this.w * this.h);
    for (let y = 0; y < this.h; y++) {
      for (let x = 0; x < this.w; x++) {
        const dx = (x + 0.5 - o.cx) / o.rx;
        const dy = (y + 0.5 - o.cy) / o.ry;
        this.inOval[y * this.w + x] = dx * dx + dy * dy <= 1 ? 1 : 0;
      }
    }
  }

  /** Returns {inside, outside, std, luma}: mean luma in and out of the oval, the spread inside, and the oval's lumas. */
  sample(video) {
    this.ctx.drawImage(video, 0, 0, this.w, this.h);
    const px = this.ctx.getImageData(0, 0, this.w, this.h).data;
    const luma = new Float32Array(this.w * this.h);
    let sin = 0, sin2 = 0, nin = 0, sout = 0, nout = 0;
    for (let i = 0; i < luma.length; i++) {
      const y = 0.299 * px[4 * i] + 0.587 * px[4 * i + 1] + 0.114 * px[4 * i + 2];
      luma[i] = y;
      if (this.inOval[i]) { sin += y; sin2 += y * y; nin++; } else { sout += y; nout++; }
    }
    const inside = sin / nin;
    return { inside, outside: nout ? sout / nout : inside, std: Math.sqrt(Math.max(0, sin2 / nin - inside * inside)), luma, mask: this.inOval };
  }
}

/** lumaProblem names the first failed pre-check (a MESSAGES key), or '' when all pass. */
function lumaProblem(s, prev) {
  if (s.inside < LIMITS.darkMean) return 'too_dark';
  if (s.inside > LIMITS.brightMean) return 'too_bright';
  if (s.std < LIMITS.blankStd) return 'blank';
  if (s.inside < LIMITS.backlitFace && s.outside - s.inside > LIMITS.backlitGap) return 'backlit';
  if (prev) {
    let d = 0, n = 0;
    for (let i = 0; i < s.luma.length; i++) {
      if (s.mask[i]) { d += Math.abs(s.luma[i] - prev.luma[i]); n++; }
    }
    if (d / n > LIMITS.motion) return 'hold_still';
  }
  return '';
}

function cameraError(err, text) {
  const name = err && err.name;
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') {
    return new CaptureError('camera_denied', text.camera_denied, { retryable: true });
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError' || name === 'DevicesNotFoundError') {
    return new CaptureError('no_camera', text.no_camera);
  }
  return new CaptureError('camera_in_use', text.camera_in_use, { retryable: true });
}

/** apiError turns a refused request into a CaptureError, with plain texts for the common cases. */
function apiError(status, e, message, text) {
  const code = e.code || `http_${status}`;
  if (status === 410 || code === 'session_expired') return new CaptureError('session_expired', text.session_expired, { retryable: true, status });
  if (status === 401) return new CaptureError('session_invalid', text.session_invalid, { retryable: true, status });
  return new CaptureError(code, e.message || message || `The server refused the capture (HTTP ${status}).`, { status });
}

function toCaptureError(err, text) {
  if (err instanceof CaptureError) return err;
  return new CaptureError('unexpected', (err && err.message) || text.failed);
}

function toJPEG(canvas, quality) {
  return new Promise((resolve, reject) =>
    canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the browser produced no JPEG'))), 'image/jpeg', quality));
}

function backoff(attempt) {
  const base = Math.min(8000, 500 * 2 ** (attempt - 1));
  return base * (0.8 + 0.4 * Math.random());
}

/** sleep waits ms, or rejects with an AbortError as soon as signal fires. */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new DOMException('aborted', 'AbortError'));
    const onAbort = () => {
      clearTimeout(t);
      reject(new DOMException('aborted', 'AbortError'));
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function abortable(signal) {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')), { once: true }));
}

function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, k) => String(values[k]));
}

function el(tag, attrs = {}) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** Adds the stylesheet link once per page. */
function addStylesheet(url) {
  if (styleAdded || url === false) return;
  styleAdded = true;
  const link = el('link', { rel: 'stylesheet', href: String(url || new URL('./everify-capture.css', import.meta.url)) });
  document.head.append(link);
}
