// Runs the original face-api networks (@vladmandic/face-api with the
// @tensorflow/tfjs pure-JS CPU backend) on raw float32 inputs, as the
// reference for everify's converted ONNX models. Used by the Go parity
// tests in internal/modelpkg/faceapi; not part of the service.
//
//   node faceapi-parity.mjs NET INPUT.f32 SIZE OUTDIR
//
// NET is ssd_mobilenetv1, face_landmark_68 or face_recognition. INPUT.f32
// holds N images, little-endian float32 NHWC [N, SIZE, SIZE, 3], RGB 0-255.
// Each output is written to OUTDIR/NAME.f32 (float32 little-endian), and one
// JSON line on stdout lists the outputs' names and shapes.
//
//   node faceapi-parity.mjs detect IMAGE.f32 HEIGHT WIDTH MINSCORE
//
// runs face-api's whole SsdMobilenetv1.locateFaces on one [HEIGHT, WIDTH, 3]
// image and prints the detections as JSON (boxes in input pixels).
import { register } from 'node:module';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

// face-api's no-bundle ESM build imports tfjs's ESM sources
// ("@tensorflow/tfjs/dist/index.js"), which Node cannot load (they use
// extensionless imports); send those imports to the packages' Node builds.
register('data:text/javascript,' + encodeURIComponent(`
export async function resolve(spec, ctx, next) {
  const m = /^(@tensorflow\\/tfjs(?:-backend-(?:webgl|wasm))?)\\/dist\\/index\\.js$/.exec(spec);
  return next(m ? m[1] : spec, ctx);
}`));
const faceapi = await import('@vladmandic/face-api/dist/face-api.esm-nobundle.js');
const { tf } = faceapi;
await tf.setBackend('cpu');
await tf.ready();

const require = createRequire(import.meta.url);
const modelDir = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');

// loadNet loads face-api's weights with tfjs's own decoder, as face-api's
// loadFromUri/loadFromDisk do.
async function loadNet(net, name) {
  const manifest = JSON.parse(await readFile(path.join(modelDir, `${name}_model-weights_manifest.json`), 'utf8'));
  const shards = [];
  const specs = [];
  for (const group of manifest) {
    for (const p of group.paths) shards.push(await readFile(path.join(modelDir, p)));
    specs.push(...group.weights);
  }
  const buf = Buffer.concat(shards);
  net.loadFromWeightMap(tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length), specs));
  return net;
}

async function readFloats(file) {
  const b = await readFile(file);
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
}

async function writeTensor(dir, name, t) {
  const data = await t.data();
  await writeFile(path.join(dir, `${name}.f32`), Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  return { name, shape: t.shape };
}

const nets = {
  ssd_mobilenetv1: async (net, input) => {
    const { boxes, scores } = net.forwardInput(input);
    return { boxes: tf.stack(boxes), scores: tf.stack(scores) };
  },
  face_landmark_68: async (net, input) => ({ landmarks: net.runNet(input) }),
  face_recognition: async (net, input) => ({ descriptor: net.forwardInput(input) }),
};

const classes = {
  ssd_mobilenetv1: () => new faceapi.SsdMobilenetv1(),
  face_landmark_68: () => new faceapi.FaceLandmark68Net(),
  face_recognition: () => new faceapi.FaceRecognitionNet(),
};

const [mode, file, ...rest] = process.argv.slice(2);
if (mode === 'detect') {
  const [h, w, minScore] = rest.map(Number);
  const net = await loadNet(classes.ssd_mobilenetv1(), 'ssd_mobilenetv1');
  const img = tf.tensor3d(await readFloats(file), [h, w, 3]);
  // A NetInput built from tensors needs no DOM or canvas environment.
  const dets = await net.locateFaces(new faceapi.NetInput([img]), { minConfidence: minScore });
  console.log(JSON.stringify(dets.map((d) => ({ score: d.score, x: d.box.x, y: d.box.y, width: d.box.width, height: d.box.height }))));
} else if (nets[mode]) {
  const [size, outDir] = [Number(rest[0]), rest[1]];
  const data = await readFloats(file);
  const n = data.length / (size * size * 3);
  const images = [];
  for (let i = 0; i < n; i++) images.push(tf.tensor3d(data.subarray(i * size * size * 3, (i + 1) * size * size * 3), [size, size, 3]));
  const net = await loadNet(classes[mode](), mode);
  const outs = await nets[mode](net, new faceapi.NetInput(images, true));
  const written = [];
  for (const [name, t] of Object.entries(outs)) written.push(await writeTensor(outDir, name, t));
  console.log(JSON.stringify({ outputs: written }));
} else {
  console.error('usage: faceapi-parity.mjs NET INPUT.f32 SIZE OUTDIR | detect IMAGE.f32 HEIGHT WIDTH MINSCORE');
  process.exit(2);
}
