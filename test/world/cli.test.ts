import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { runCli, runCliStatus } from '../cli/run-in-process';
import { removedAtExit } from '../helpers/temp';
import { decodePng, encodePng } from '../../src/world/image';

const run = runCli;

test('vocab --json has the documented shape', async () => {
  const v = JSON.parse(await run('vocab', '--json'));
  assert.deepEqual(v.counts, ['one', 'two', 'three', 'four']);
  assert.ok(v.backgrounds.includes('in the forest'));
  assert.ok(Array.isArray(v.heldOut.objects) && Array.isArray(v.heldOut.combinations));
  // The text says what the JSON cannot: "a"/"an" count as one, and what the held-out line is for.
  const text = await run('vocab');
  assert.match(text, /^counts: +one, two, three, four \("a" or "an" for one\)$/m);
  assert.match(text, /^held out: .*\n +\(the unseen prompts: never asked for in the feedback, kept to test generalisation; render and judge take every prompt\)$/m);
});

test('render then judge a PNG; render-set then judge --manifest', async () => {
  const dir = removedAtExit('t2i-cli-');
  const png = path.join(dir, 'x.png');
  await run('render', '--prompt', 'two red stars in the city', '--seed', '3', '--out', png);
  const v = JSON.parse(await run('judge', '--prompt', 'two red stars in the city', '--image', png, '--json'));
  assert.equal(v.aligned, true);
  // Exit status 1 when the image is not aligned (scripts can test it), after printing the verdict.
  const w = await runCliStatus('judge', '--prompt', 'two blue stars in the city', '--image', png, '--json');
  assert.equal(w.status, 1);
  assert.deepEqual(JSON.parse(w.stdout).reasons, ['color: expected blue, saw red']);
  const plain = await runCliStatus('judge', '--prompt', 'two blue stars in the city', '--image', png);
  assert.equal(plain.status, 1);
  assert.match(plain.stdout, /^NOT aligned: "two blue stars in the city"\n/);
  assert.match(plain.stdout, /\n  - color +expected blue, saw red\n/);
  assert.equal((await runCliStatus('judge', '--prompt', 'two red stars in the city', '--image', png)).status, 0);
  // A strip of two images (as a grid is) is refused, not read as one image of four stars.
  const one = decodePng(fs.readFileSync(png));
  const strip = { width: one.width * 2, height: one.height, data: new Uint8Array(one.width * 2 * one.height * 3) };
  for (let y = 0; y < one.height; y++) for (let k = 0; k < 2; k++) strip.data.set(one.data.subarray(y * one.width * 3, (y + 1) * one.width * 3), (y * strip.width + k * one.width) * 3);
  const stripPng = path.join(dir, 'strip.png');
  fs.writeFileSync(stripPng, encodePng(strip));
  await assert.rejects(run('judge', '--prompt', 'four red stars in the city', '--image', stripPng), /strip\.png is 64x32; the judge reads one square image of the world \(a sample is 32x32\): a grid of several\? Judge the dataset it came from with --manifest DIR/);
  const ds = path.join(dir, 'set');
  await run('render-set', '--set', 'seen', '--out', ds);
  const res = JSON.parse(await run('judge', '--manifest', ds, '--json'));
  assert.equal(res.summary.all.n, 172);
  assert.equal(res.summary.all.rate, 1);
  assert.equal(fs.readFileSync(path.join(ds, 'verdicts.jsonl'), 'utf8').trim().split('\n').length, 172);
});

test('bad input is an error naming it', async () => {
  await assert.rejects(run('render', '--prompt', 'two dogs', '--out', '/tmp/never.png'), /unknown object "dogs"/);
  await assert.rejects(run('render', '--prompt', 'two circles', '--seed', '1.5', '--out', '/tmp/never.png'), /--seed must be an integer/);
  await assert.rejects(run('render', '--prompt', 'two circles', '--size', '8', '--out', '/tmp/never.png'), /--size must be an integer in 16..1024/);
  await assert.rejects(run('judge', '--prompt', 'a circle', '--image', '/nonexistent.png'), /cannot read image \/nonexistent\.png: \/nonexistent\.png: no such file or folder/);
  await assert.rejects(run('judge', '--prompt', 'a circle', '--image', '/tmp'), /cannot read image \/tmp: \/tmp is a folder, where a file is expected \(give a file path\); for every image of a dataset folder, --manifest DIR$/);
  await assert.rejects(run('render', '--prompt', 'a red circle', '--out', '/tmp/never.jpg'), /^Error: --out must name a \.png file \(render writes PNG\), got "\/tmp\/never\.jpg"$/);
  assert.ok(!fs.existsSync('/tmp/never.jpg'));
  await assert.rejects(run('render-set', '--set', 'unseen', '--prompts', 'seen', '--out', '/tmp/never'), /--set unseen and --prompts seen disagree: give one of them/);
  const notPng = path.join(removedAtExit('t2i-cli-'), 'notes.png');
  fs.writeFileSync(notPng, 'not an image');
  await assert.rejects(run('judge', '--prompt', 'a circle', '--image', notPng), new RegExp(`^Error: ${notPng.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not a PNG: it does not start with the PNG signature \\(it starts "not "; another format, or text\\?\\)$`));
  await assert.rejects(run('render', '--prompt', 'red circle', '--out', '/tmp/never.png'), /a count word is missing at the start of "red circle" .*e\.g\. "a red circle"/);
  await assert.rejects(run('judge', '--prompt', 'a circle'), /needs --prompt and --image/);
  await assert.rejects(run('render-set', '--set', 'other', '--out', '/tmp/never'), /--set must be seen or unseen/);
});

test('judge-accuracy reports per-category accuracy per noise/blur cell and rejects bad lists', async () => {
  const rows = JSON.parse(await run('judge-accuracy', '--per-category', '20', '--seed', '5', '--noise', '0,10', '--json'));
  assert.equal(rows.length, 2);
  assert.deepEqual(rows.map((r: { noiseSigma: number }) => r.noiseSigma), [0, 10]);
  for (const r of rows) assert.deepEqual(Object.keys(r.exact).sort(), ['all', 'background', 'color', 'combination', 'count']);
  await assert.rejects(run('judge-accuracy', '--noise', '1,x'), /--noise must be comma-separated numbers in 0..255, got "1,x"/);
  await assert.rejects(run('judge-accuracy', '--noise', '0x10'), /--noise must be comma-separated numbers in 0..255, got "0x10"/);
  await assert.rejects(run('judge-accuracy', '--per-category', '0'), /--per-category must be an integer in 1..100000/);
});

test('judge-accuracy shows progress (a large --per-category is minutes of silent work otherwise)', () => {
  const bin = path.join(__dirname, '..', '..', 'bin', 't2i-align.js');
  const r = spawnSync(process.execPath, [bin, 'judge-accuracy', '--per-category', '50', '--noise', '0,5', '--json'], { encoding: 'utf8', env: { ...process.env, T2I_PROGRESS: '' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^judge-accuracy 400\/400 \(100%\)/m, 'one tick a render: 4 categories x 50 x 2 cells');
  assert.equal(JSON.parse(r.stdout).length, 2, 'the JSON on stdout is untouched');
});
