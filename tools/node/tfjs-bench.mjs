// Times an original TF.js graph model with @tensorflow/tfjs-backend-wasm
// (SIMD and threads where this Node supports them), as the baseline for
// everify's ONNX Runtime benchmarks (internal/vision/onnx, `make bench`).
//
// Usage: node tfjs-bench.mjs MODEL.json SHAPE ITERATIONS [THREADS]
//   SHAPE is the input shape, comma-separated (e.g. 1,256,256,3).
// Prints one JSON line: {"backend", "simd", "threads", "iterations",
// "p50_ms", "p99_ms", "mean_ms"}.
import * as tf from '@tensorflow/tfjs';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import { fileHandler } from './tfjs-model.mjs';

const [modelPath, shapeArg, itersArg, threadsArg] = process.argv.slice(2);
const shape = shapeArg.split(',').map(Number);
const iterations = Number(itersArg);
if (threadsArg) wasm.setThreadsCount(Number(threadsArg));
if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not initialise');
await tf.ready();
const model = await tf.loadGraphModel(fileHandler(modelPath));
const input = tf.randomUniform(shape, 0, 1, 'float32', 1);

async function once() {
  let out = model.execute(input);
  if (!Array.isArray(out)) out = [out];
  for (const t of out) await t.data();
  tf.dispose(out);
}

for (let i = 0; i < 3; i++) await once(); // warm-up
const times = [];
for (let i = 0; i < iterations; i++) {
  const t0 = process.hrtime.bigint();
  await once();
  times.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
times.sort((a, b) => a - b);
const pct = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
console.log(JSON.stringify({
  backend: tf.getBackend(),
  simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
  threads: await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT') ? wasm.getThreadsCount() : 1,
  iterations,
  p50_ms: pct(0.5),
  p99_ms: pct(0.99),
  mean_ms: times.reduce((a, b) => a + b, 0) / times.length,
}));
