// Converts a video clip or a still photo into a .y4m file for Chromium's
// fake camera (--use-file-for-fake-video-capture=FILE), with Debian's ffmpeg.
//
//   node tools/node/e2e-y4m.mjs INPUT OUT.y4m [--seconds 8] [--fps 15] [--size 480x640]
//
// The picture is scaled to cover the size and cropped in the centre; by
// default the size is 640x480, or 480x640 for a portrait input (a phone
// selfie). A still photo (.jpg, .jpeg, .png, .webp) is repeated for the
// whole duration. Chromium loops the file. Write the output to a temporary
// directory: a y4m is raw video (8 s at 640x480 is about 55 MB) and made
// from evaluation data, so it never belongs in the repository.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const STILL = new Set(['.jpg', '.jpeg', '.png', '.webp']);

/** probeSize returns the displayed width and height of the input's first video stream. */
async function probeSize(input) {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0',
    '-show_entries', 'stream=width,height:stream_side_data=rotation', '-of', 'json', input]);
  const s = JSON.parse(stdout).streams?.[0];
  if (!s || !s.width || !s.height) throw new Error(`${input}: ffprobe found no video or image stream`);
  const rotation = Math.abs(Number(s.side_data_list?.find((d) => 'rotation' in d)?.rotation) || 0);
  return rotation === 90 || rotation === 270 ? { width: s.height, height: s.width } : { width: s.width, height: s.height };
}

/**
 * makeY4M writes out (a .y4m) from input, a clip or a still photo: seconds
 * long at fps, size "WxH" (or the orientation-preserving default).
 */
export async function makeY4M(input, out, { seconds = 8, fps = 15, size } = {}) {
  let w, h;
  if (size) {
    [w, h] = size.split('x').map(Number);
    if (!(w > 0 && h > 0)) throw new Error(`size ${size}: want WIDTHxHEIGHT`);
  } else {
    const s = await probeSize(input);
    [w, h] = s.height > s.width ? [480, 640] : [640, 480];
  }
  const still = STILL.has(path.extname(input).toLowerCase());
  const args = ['-v', 'error', '-y'];
  if (still) args.push('-loop', '1', '-framerate', String(fps));
  args.push('-i', input, '-t', String(seconds), '-an',
    '-vf', `fps=${fps},scale=${w}:${h}:force_original_aspect_ratio=increase,crop=${w}:${h},setsar=1,format=yuv420p`,
    '-f', 'yuv4mpegpipe', out);
  try {
    await run('ffmpeg', args, { maxBuffer: 1 << 20 });
  } catch (err) {
    throw new Error(`ffmpeg could not convert ${input}: ${(err.stderr || err.message).trim()}`);
  }
  return { path: out, width: w, height: h, fps, seconds, still };
}

function usage() {
  console.error('usage: node e2e-y4m.mjs INPUT OUT.y4m [--seconds 8] [--fps 15] [--size WxH]');
  process.exit(2);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [input, out, ...rest] = process.argv.slice(2);
  if (!input || !out || rest.length % 2) usage();
  const opt = {};
  for (let i = 0; i < rest.length; i += 2) {
    const [k, v] = [rest[i], rest[i + 1]];
    if (k === '--seconds') opt.seconds = Number(v);
    else if (k === '--fps') opt.fps = Number(v);
    else if (k === '--size') opt.size = v;
    else usage();
  }
  makeY4M(input, out, opt).then(
    (r) => console.log(JSON.stringify(r)),
    (err) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
