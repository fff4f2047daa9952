// Runs an original TF.js graph model on inputs given as raw float32 files
// and writes the requested outputs the same way. It is the reference side
// of everify's converter parity test (internal/vision/onnx) and uses the
// pure-JavaScript CPU backend of @tensorflow/tfjs.
//
// Usage: node tfjs-run.mjs JOB.json
//
// JOB.json: {"model": "/abs/model.json",
//            "outputs": ["node", ...],
//            "runs": [{"inputs": [{"name": "input", "shape": [1,256,256,3], "file": "/abs/x.f32"}],
//                      "outDir": "/abs/dir"}]}
// For each run it writes outDir/<k>.f32 for the k-th requested output and
// outDir/outputs.json with [{"name", "shape", "file"}].
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fileHandler } from './tfjs-model.mjs';

function readF32(file, shape) {
  const buf = fs.readFileSync(file);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  return tf.tensor(data, shape, 'float32');
}

async function main() {
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  await tf.setBackend('cpu');
  await tf.ready();
  const model = await tf.loadGraphModel(fileHandler(job.model));
  for (const run of job.runs) {
    const feeds = {};
    for (const inp of run.inputs) feeds[inp.name] = readF32(inp.file, inp.shape);
    let outs = model.execute(feeds, job.outputs);
    if (!Array.isArray(outs)) outs = [outs];
    fs.mkdirSync(run.outDir, { recursive: true });
    const index = [];
    for (let k = 0; k < outs.length; k++) {
      const data = await outs[k].data();
      const file = path.join(run.outDir, `${k}.f32`);
      fs.writeFileSync(file, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      index.push({ name: job.outputs[k], shape: outs[k].shape, file });
    }
    fs.writeFileSync(path.join(run.outDir, 'outputs.json'), JSON.stringify(index));
    tf.dispose([...Object.values(feeds), ...outs]);
  }
}

main().catch((err) => {
  console.error(`tfjs-run: ${err.stack || err}`);
  process.exit(1);
});
