import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MiniClip, saveModelCheckpoint, TextToImage } from '../../src/models';
import { readManifest, readImage } from '../../src/world';
import { readPromptsFile } from '../../src/world/promptFile';
import { seedFor } from '../../src/feedback/collect';
import { initTestBackend, randomize, tinyConfig } from '../models/helpers';
import { removedAtExit } from '../helpers/temp';
import { shownPath } from '../../src/engine/files';
import { EVAL_BASE_LOCK } from '../../src/eval/base';

const BIN = path.join(__dirname, '..', '..', 'bin', 't2i-align.js');
const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, T2I_PROGRESS: '0' } });

/** A tiny (untrained, randomised) diffusion checkpoint in a pretrain-like folder: <dir>/diffusion. */
async function tinyModelDir(): Promise<string> {
  await initTestBackend();
  const cfg = tinyConfig();
  const clip = new MiniClip(cfg.clip, 0);
  const model = new TextToImage(clip, cfg.diffusion, 0);
  randomize(model.unet.variables, 3, 0.05);
  const dir = removedAtExit('t2i-gen-model-');
  await saveModelCheckpoint(path.join(dir, 'diffusion'), model.variables, { kind: 'diffusion', step: 0, config: cfg, vocab: [...clip.tokenizer.vocab], recentLoss: null });
  model.dispose({ clip: true });
  return dir;
}

test('readPromptsFile skips blanks and comments and names the line of an unknown word', () => {
  const dir = removedAtExit('t2i-prompts-');
  const good = path.join(dir, 'good.txt');
  fs.writeFileSync(good, '# comment\n\nTwo red circles in the forest\n  a star  \n');
  assert.deepEqual(readPromptsFile(good).map((p) => [p.line, p.prompt]), [[3, 'two red circles in the forest'], [4, 'a star']]);
  const bad = path.join(dir, 'bad.txt');
  fs.writeFileSync(bad, 'a red circle\n# ok\nthree purple blorps\nfive dogs\n');
  assert.throws(() => readPromptsFile(bad), new RegExp(`^Error: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: unknown object "blorps"`));
});

test('generate writes PNGs and a manifest, skips ids already there, and rejects a bad prompts file before generating', async () => {
  const modelDir = await tinyModelDir();
  const dir = removedAtExit('t2i-gen-');
  const prompts = path.join(dir, 'prompts.txt');
  fs.writeFileSync(prompts, '# two prompts\ntwo red circles in the forest\n\na blue square\n');
  const out = path.join(dir, 'out');

  const r = run(['generate', '--prompts', prompts, '--per-prompt', '2', '--out', out, '--model', modelDir, '--seed', '5', '--batch-size', '3']);
  assert.equal(r.status, 0, r.stderr);
  const recs = readManifest(out);
  // The same writer as collect: ids p<i>-<k>, seeds seedFor(seed, i, k), source the model folder.
  assert.deepEqual(recs.map((x) => x.id), ['p0-0', 'p0-1', 'p1-0', 'p1-1']);
  assert.equal(recs[0].source, shownPath(path.join(modelDir, 'diffusion'))); // a folder outside the working one: its absolute path
  assert.equal(recs[0].seed, seedFor(5, 0, 0));
  assert.deepEqual(recs[0].attributes, { count: 2, object: 'circle', color: 'red', background: 'forest' });
  assert.equal(recs[0].extras?.category, 'combination');
  assert.equal(recs[2].extras?.category, 'color');
  const img = readImage(out, recs[0]);
  assert.equal(img.width, 32);

  const again = run(['generate', '--prompts', prompts, '--per-prompt', '3', '--out', out, '--model', modelDir, '--seed', '5']);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /2 images written, 4 already there/);
  assert.equal(readManifest(out).length, 6);
  const other = run(['generate', '--prompts', prompts, '--per-prompt', '2', '--out', out, '--model', modelDir, '--seed', '6']);
  assert.equal(other.status, 1);
  assert.match(other.stderr, /^t2i-align: .*p0-0 has prompt "two red circles in the forest" and seed \d+, but this run makes .* use the same --prompts and --seed/);
  assert.equal(readManifest(out).length, 6, 'nothing already saved is lost');

  const bad = path.join(dir, 'bad.txt');
  fs.writeFileSync(bad, 'a red circle\nthree purple blorps\n');
  const badRun = run(['generate', '--prompts', bad, '--out', path.join(dir, 'never'), '--model', modelDir]);
  assert.equal(badRun.status, 1);
  assert.match(badRun.stderr, /^t2i-align: .*bad\.txt:2: unknown object "blorps"/);
  assert.ok(!fs.existsSync(path.join(dir, 'never')));

  const evalOut = path.join(dir, 'eval');
  const twice = run(['eval-base', '--model', modelDir, '--seeds', '1,1', '--out', evalOut]);
  assert.equal(twice.status, 1);
  assert.match(twice.stderr, /^t2i-align: --seeds must name each seed once \(a repeated seed draws the same images again and counts them twice\), got "1,1"/);
  assert.ok(!fs.existsSync(evalOut));
  const ev = run(['eval-base', '--model', modelDir, '--per-category', '1', '--prompts-per-category', '1', '--seeds', '0,1', '--out', evalOut, '--json']);
  assert.equal(ev.status, 0, ev.stderr);
  const res = JSON.parse(ev.stdout);
  assert.equal(res.seen.combination.accuracy.n, 2);
  assert.deepEqual(res.seen.combination.byPrompt.map((t: { n: number }) => t.n), [2], 'one prompt, its two image seeds: what compare-base pairs');
  assert.deepEqual(res.config.seeds, [0, 1]);
  assert.ok(fs.existsSync(path.join(evalOut, 'grid-unseen-count.png')));
  assert.ok(!fs.existsSync(path.join(evalOut, '.partial')), 'the kept batches go once the results are written');

  const noModel = run(['generate', '--prompts', prompts, '--out', path.join(dir, 'x'), '--model', path.join(dir, 'nothing')]);
  assert.equal(noModel.status, 1);
  assert.match(noModel.stderr, /no diffusion checkpoint in/);
});

test('eval-base killed midway, run again with the same command: resumes from the batches it kept and gives the results of an uninterrupted run', async () => {
  const modelDir = await tinyModelDir();
  const dir = removedAtExit('t2i-evalbase-kill-');
  const args = (out: string) => ['eval-base', '--model', modelDir, '--per-category', '60', '--prompts-per-category', '2', '--batch-size', '4', '--out', out, '--json'];
  const whole = run(args(path.join(dir, 'whole')));
  assert.equal(whole.status, 0, whole.stderr);
  const out = path.join(dir, 'killed');
  const child = spawn(process.execPath, [BIN, ...args(out)], { env: { ...process.env, T2I_PROGRESS: '0' }, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const kept = () => (fs.existsSync(path.join(out, '.partial')) ? fs.readdirSync(path.join(out, '.partial')).filter((f) => f.startsWith('batch-')).length : 0);
  try {
    while (kept() < 3) {
      assert.ok(child.exitCode === null, 'the evaluation ended before it could be killed');
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  assert.ok(!fs.existsSync(path.join(out, 'base-eval.json')));
  // While another eval-base holds the folder (a live pid in its lock), a second is refused before it touches the
  // kept batches: with other settings it would empty them under the first, which would then read the second's.
  const lock = path.join(out, EVAL_BASE_LOCK);
  assert.ok(fs.existsSync(lock), 'the killed run left its lock');
  const before = kept();
  fs.writeFileSync(lock, String(process.pid));
  const second = run(['eval-base', '--model', modelDir, '--per-category', '60', '--prompts-per-category', '2', '--batch-size', '4', '--guidance', '9', '--out', out]);
  assert.equal(second.status, 1);
  assert.match(second.stderr, new RegExp(`^t2i-align: another eval-base \\(pid ${process.pid}\\) is running in `));
  assert.equal(kept(), before, 'the kept batches are untouched');
  fs.writeFileSync(lock, '999999999'); // a killed run's lock (its pid gone): taken over by the rerun
  const again = run(args(out));
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /eval-base: resuming: \d+ of 480 images were sampled by a run that stopped/);
  const strip = (json: string) => JSON.stringify({ ...JSON.parse(json), seconds: 0 });
  assert.equal(strip(again.stdout), strip(whole.stdout), 'the same results as the uninterrupted run');
  assert.ok(!fs.existsSync(path.join(out, '.partial')));
  assert.ok(!fs.existsSync(lock), 'the lock goes with its eval-base');
});

test('a long command on the plain wasm kernels says so in one stderr line: why, and how to get the native ones', async () => {
  const modelDir = await tinyModelDir();
  const dir = removedAtExit('t2i-gen-slow-');
  const prompts = path.join(dir, 'prompts.txt');
  fs.writeFileSync(prompts, 'a blue square\n');
  const gen = (name: string, env: Record<string, string>) => {
    const r = spawnSync(process.execPath, [BIN, 'generate', '--prompts', prompts, '--out', path.join(dir, name), '--model', modelDir], {
      encoding: 'utf8',
      env: { ...process.env, T2I_PROGRESS: '0', T2I_BACKEND: 'wasm', ...env },
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stderr.split('\n').filter((l) => /native kernels/.test(l));
  };
  const missing = gen('missing', { T2I_NATIVE_ADDON: '/nonexistent/t2i_native.node' });
  assert.equal(missing.length, 1, missing.join('\n'));
  assert.match(missing[0], /^t2i-align: native kernels not active \(.*\/nonexistent\/t2i_native\.node is missing\); running on the plain wasm kernels/);
  assert.ok(missing[0].endsWith('To get them: sudo apt-get install g++ make libopenblas-dev && npm run build:native'), missing[0]);
  assert.deepEqual(gen('off', { T2I_NATIVE: '0' }), ['t2i-align: native kernels disabled by T2I_NATIVE=0 (slow path: plain wasm kernels)']);
  const { loadNative } = await import('../../src/engine/native');
  if (loadNative()) assert.deepEqual(gen('native', {}), [], 'silent when the native kernels are active');
});
