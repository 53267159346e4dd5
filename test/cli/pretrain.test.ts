import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine';
import { hasCheckpoint, readCheckpointIndex } from '../../src/engine/checkpoint';
import { generateImages, loadMiniClip, loadTextToImage, PretrainConfig } from '../../src/models';
import { checkPretrainOut, grownLevels, PretrainOverrides, resolvePretrainRun } from '../../src/pipeline/pretrain';
import { removedAtExit } from '../helpers/temp';

const BIN = path.join(__dirname, '..', '..', 'bin', 't2i-align.js');
const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, T2I_PROGRESS: '0' } });

/** The quick preset shrunk to seconds: a few updates of tiny models. */
const TINY = {
  clip: { textWidth: 16, textLayers: 1, textHeads: 2, imageChannels: [4, 8], imageHidden: 16, embedDim: 16 },
  clipTrain: { steps: 4, batchSize: 8, warmupSteps: 1, checkpointEvery: 2 },
  diffusion: { timesteps: 100, unet: { patchSize: 2, channels: [8, 16], attentionLevels: [1], heads: 2, timeEmbedDim: 8, groups: 4 } },
  diffusionTrain: { steps: 4, batchSize: 4, warmupSteps: 1, checkpointEvery: 2 },
  sampler: { steps: 2 },
};

function tinyConfigFile(dir: string, extra: object = {}): string {
  const file = path.join(dir, 'tiny.json');
  fs.writeFileSync(file, JSON.stringify({ ...TINY, ...extra }));
  return file;
}

function lossLines(out: string): Array<{ stage: string; step: number; loss: number }> {
  return fs.readFileSync(path.join(out, 'losses.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

test('pretrain --quick: stopped early, rerun resumes; writes loadable checkpoints, config, losses, timing, samples', async () => {
  const dir = removedAtExit('t2i-pretrain-');
  const out = path.join(dir, 'run');
  const cfg = tinyConfigFile(dir);
  const args = ['pretrain', '--quick', '--config', cfg, '--corpus-size', '48', '--out', out, '--sample-every', '2'];

  const first = run([...args, '--max-updates', '3']);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /stopped early \(clip 3\/4, diffusion 0\/4\)/);
  assert.ok(!fs.existsSync(path.join(out, 'diffusion')));
  fs.appendFileSync(path.join(out, 'losses.jsonl'), '{"stage":"clip","st'); // a kill mid-write: the resume drops the torn line

  const second = run(args);
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout, /clip: steps 2\.\.4 of 4/); // resumed from the step-2 checkpoint
  assert.match(second.stdout, /done: /);

  // Each update logged once, even the ones redone after the resume.
  const losses = lossLines(out);
  assert.deepEqual(losses.filter((l) => l.stage === 'clip').map((l) => l.step), [1, 2, 3, 4]);
  assert.deepEqual(losses.filter((l) => l.stage === 'diffusion').map((l) => l.step), [1, 2, 3, 4]);
  assert.ok(losses.every((l) => Number.isFinite(l.loss)));

  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.equal(config.preset, 'quick');
  assert.equal(config.corpus.size, 48);
  assert.equal(config.diffusionTrain.steps, 4);
  const timing = JSON.parse(fs.readFileSync(path.join(out, 'timing.json'), 'utf8'));
  assert.equal(timing.runs.length, 2);
  assert.ok(timing.total.clip > 0 && timing.total.diffusion > 0);
  for (const f of ['final.png', 'step-000002.png', 'prompts.txt']) assert.ok(fs.existsSync(path.join(out, 'samples', f)), f);

  // The diffusion checkpoint alone is enough to generate.
  await initBackend();
  const { model, meta } = await loadTextToImage(path.join(out, 'diffusion'));
  assert.equal(meta.step, 4);
  const imgs = await generateImages(model, ['a red circle', 'two blue squares'], { ...meta.config.sampler, seed: 1 });
  assert.equal(imgs.length, 2);
  assert.equal(imgs[0].data.length, 32 * 32 * 3);
  model.dispose({ clip: true });
  const { clip, meta: cmeta } = await loadMiniClip(path.join(out, 'clip'));
  assert.equal(cmeta.step, 4);
  clip.dispose();
  // A rerun of the finished run trains nothing and still reports the last losses (it printed "clip loss -").
  const last = (stage: string) => losses.filter((l) => l.stage === stage).at(-1)!.loss.toFixed(4);
  assert.match(run(args).stdout, new RegExp(`done: .*\\(clip loss ${last('clip')}, diffusion loss ${last('diffusion')}\\)`));
});

test('pretrain: a killed invocation keeps its wall time up to the last checkpoint in timing.json', async () => {
  const dir = removedAtExit('t2i-pretrain-kill-');
  const out = path.join(dir, 'run');
  const cfg = tinyConfigFile(dir, { diffusionTrain: { ...TINY.diffusionTrain, steps: 100_000 } });
  const child = spawn(process.execPath, [BIN, 'pretrain', '--quick', '--config', cfg, '--corpus-size', '48', '--out', out, '--sample-every', '0'], {
    env: { ...process.env, T2I_PROGRESS: '0' },
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const diffStep = () => (hasCheckpoint(path.join(out, 'diffusion')) ? readCheckpointIndex<{ step: number }>(path.join(out, 'diffusion')).meta.step : 0);
  const deadline = Date.now() + 120_000;
  try {
    while (diffStep() < 4) {
      assert.ok(Date.now() < deadline && child.exitCode === null, 'the run made no diffusion checkpoint at step 4 in time');
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  const timing = JSON.parse(fs.readFileSync(path.join(out, 'timing.json'), 'utf8'));
  assert.equal(timing.runs.length, 1);
  assert.ok(timing.runs[0].diffusion > 0 && timing.total.diffusion > 0, JSON.stringify(timing));
  assert.ok(timing.total.total >= timing.total.clip + timing.total.diffusion, JSON.stringify(timing));
});

test('pretrain: a bad config key is a one-line error naming its path', () => {
  const dir = removedAtExit('t2i-pretrain-bad-');
  const bad = run(['pretrain', '--quick', '--config', tinyConfigFile(dir, { diffusionTrain: { stepz: 3 } }), '--out', path.join(dir, 'x')]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^t2i-align: invalid pretrain config: diffusionTrain\.stepz: unknown key/);
  assert.ok(!fs.existsSync(path.join(dir, 'x')));
  assert.throws(() => resolvePretrainRun('quick', { diffusion: { unet: { chanels: [8] } } }), /diffusion\.unet\.chanels: unknown key/);
  assert.throws(() => resolvePretrainRun('quick', { corpus: { sise: 3 } }), /corpus\.sise/);
  assert.throws(() => resolvePretrainRun('quick', { clipTrain: { steps: -1 } }), /clipTrain\.steps/);
  for (const corpus of [5, null, 'abc', [1]]) assert.throws(() => resolvePretrainRun('quick', { corpus }), /^Error: invalid pretrain config: corpus: must be an object of corpus settings/);
  assert.throws(() => resolvePretrainRun('quick', { diffusionTrain: { timestepSampling: 'gaussian' } }), /diffusionTrain\.timestepSampling: .*uniform.*logit-normal/);
  assert.throws(() => resolvePretrainRun('quick', { diffusionTrain: { logitStd: 0 } }), /diffusionTrain\.logitStd/);
  assert.throws(() => resolvePretrainRun('quick', { diffusionTrain: { inputPerturbation: -0.1 } }), /diffusionTrain\.inputPerturbation: .*>=0/);
  const badRate = run(['pretrain', '--quick', '--config', tinyConfigFile(dir, { corpus: { confuseColor: 2 } }), '--out', path.join(dir, 'y')]);
  assert.equal(badRate.status, 1);
  assert.match(badRate.stderr, /^t2i-align: invalid pretrain config: corpus\.confuseColor: .*<=1/);
  assert.ok(!fs.existsSync(path.join(dir, 'y')));
});

test('pretrain refuses to resume with another learning rate or schedule: one line naming the key, nothing rewritten', () => {
  const dir = removedAtExit('t2i-pretrain-');
  const out = path.join(dir, 'run');
  const base = ['pretrain', '--quick', '--corpus-size', '48', '--out', out, '--sample-every', '0'];
  const first = run([...base, '--config', tinyConfigFile(dir), '--max-updates', '2']);
  assert.equal(first.status, 0, first.stderr);
  const config = fs.readFileSync(path.join(out, 'config.json'), 'utf8');
  const other = path.join(dir, 'other.json');
  fs.writeFileSync(other, JSON.stringify({ ...TINY, clipTrain: { ...TINY.clipTrain, learningRate: 0.003 } }));
  const refused = run([...base, '--config', other]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr.trim(), /^t2i-align: cannot resume from .*clip: clipTrain\.learningRate was 0\.001, now 0\.003; use another output folder/);
  assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  assert.equal(fs.readFileSync(path.join(out, 'config.json'), 'utf8'), config, 'config.json is the checkpoint\'s, not the refused one');
});

test('ship-base-model --guidance, --steps, --eta: a bad value is one line and the destination is left as it was', () => {
  const dir = removedAtExit('t2i-ship-');
  const dest = path.join(dir, 'shipped');
  fs.mkdirSync(dest);
  fs.writeFileSync(path.join(dest, 'keep.txt'), 'old model');
  const cases: Array<[string, string, string]> = [
    ['--guidance', 'abc', 'a number in 0..100'], ['--guidance', '-1', 'a number in 0..100'], ['--guidance', '101', 'a number in 0..100'],
    ['--steps', '0', 'an integer in 1..1000'], ['--steps', '2.5', 'an integer in 1..1000'], ['--eta', '1.5', 'a number in 0..1'], ['--eta', 'x', 'a number in 0..1'],
    // Number() takes these as 0, 16 and 3: not what anyone meant.
    ['--guidance', '', 'a number in 0..100'], ['--guidance', '0x10', 'a number in 0..100'], ['--eta', '0b1', 'a number in 0..1'],
  ];
  for (const [flag, bad, allowed] of cases) {
    const r = run(['ship-base-model', '--run', path.join(dir, 'no-run'), '--out', dest, flag, bad]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim(), `t2i-align: ${flag} must be ${allowed}, got "${bad}"`);
  }
  assert.equal(fs.readFileSync(path.join(dest, 'keep.txt'), 'utf8'), 'old model');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['shipped']);
  // Shipping replaces the folder whole: one that holds files but no shipped model is refused before any work,
  // also when named with a trailing slash (which once put the temporary folder inside it, deleted with it).
  for (const out of [dest, `${dest}/`]) {
    const r = run(['ship-base-model', '--run', path.join(dir, 'no-run'), '--out', out]);
    assert.equal(r.status, 1);
    assert.match(r.stderr.trim(), /^t2i-align: --out .*shipped holds files but no shipped model \(diffusion\/checkpoint\.json\)/);
  }
  assert.equal(fs.readFileSync(path.join(dest, 'keep.txt'), 'utf8'), 'old model');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['shipped']);
  // A --run that is no pretrain run (none, a shipped model, a MiniCLIP) is named as such (was "config.json: no such file").
  for (const [runArg, message] of [
    [path.join(dir, 'no-run'), /^t2i-align: --run .*no-run: no such folder; give the --out folder of a finished `t2i-align pretrain`$/],
    ['data/base-model', /^t2i-align: --run data\/base-model is not a pretrain run: it lacks losses\.jsonl \(it is a shipped model: shipping starts from the run it came from\)/],
    ['data/base-model/clip', /^t2i-align: --run data\/base-model\/clip is not a pretrain run: it lacks config\.json, losses\.jsonl, diffusion\/checkpoint\.json, clip\/checkpoint\.json;/],
  ] as Array<[string, RegExp]>) {
    const r = run(['ship-base-model', '--run', runArg, '--out', path.join(dir, 'new-out')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr.trim(), message);
  }
  assert.deepEqual(fs.readdirSync(dir).sort(), ['shipped']);
});

test('ship-base-model never replaces a pretrain run (the run itself, or another), and pretrain --out never writes into a folder of other files', () => {
  const dir = removedAtExit('t2i-ship-run-');
  const runDir = path.join(dir, 'run');
  fs.mkdirSync(path.join(runDir, 'diffusion'), { recursive: true });
  for (const f of ['config.json', 'losses.jsonl', 'timing.json', 'diffusion/checkpoint.json']) fs.writeFileSync(path.join(runDir, f), '{}');
  const snapshot = (d: string) => fs.readdirSync(d, { recursive: true }).map(String).sort();
  const before = snapshot(dir);
  for (const [args, message] of [
    [['--run', runDir, '--out', runDir], /--out .*run is the run itself \(--run\): shipping replaces the folder whole/],
    [['--run', path.join(dir, 'other'), '--out', runDir], /--out .*run is a pretrain run \(it holds losses\.jsonl and timing\.json\)/],
  ] as Array<[string[], RegExp]>) {
    const r = run(['ship-base-model', ...args]);
    assert.equal(r.status, 1);
    assert.match(r.stderr.trim(), message);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
  // a dataset, a shipped model (metrics.json): refused before anything is written in them
  const data = path.join(dir, 'data');
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, 'manifest.jsonl'), '');
  const shipped = path.join(dir, 'shipped');
  fs.mkdirSync(shipped);
  for (const f of ['config.json', 'metrics.json']) fs.writeFileSync(path.join(shipped, f), '{}');
  const before2 = snapshot(dir);
  let r = run(['pretrain', '--quick', '--out', data]);
  assert.equal(r.status, 1);
  assert.match(r.stderr.trim(), /^t2i-align: --out .*data holds files but no pretrain run \(config\.json\): give a new or empty folder/);
  // a folder holding only a checkpoint copied in (to resume from) is still taken: checked against the run's settings
  const copied = path.join(dir, 'copied');
  fs.mkdirSync(path.join(copied, 'clip'), { recursive: true });
  assert.doesNotThrow(() => checkPretrainOut(copied));
  fs.rmSync(copied, { recursive: true });
  r = run(['pretrain', '--quick', '--out', shipped]);
  assert.match(r.stderr.trim(), /holds files but no pretrain run \(config\.json\) \(a shipped model: a pretrain run can start from it with --init-from\)/);
  // a run's config.json that is not JSON: named, with what to do
  fs.writeFileSync(path.join(runDir, 'config.json'), 'x');
  r = run(['pretrain', '--quick', '--out', runDir]);
  assert.match(r.stderr.trim(), /config\.json: not valid JSON .*restore it, or use another --out/);
  fs.writeFileSync(path.join(runDir, 'config.json'), '{}');
  assert.deepEqual(snapshot(dir), before2);
  assert.ok(before.every((f) => before2.includes(f)));
});

test('pretrain --init-from: takes the folder\'s MiniCLIP and starts the UNet from its (averaged) weights; resumes only with the same start', async () => {
  const dir = removedAtExit('t2i-pretrain-init-');
  const a = path.join(dir, 'a'), b = path.join(dir, 'b');
  const base = ['pretrain', '--quick', '--corpus-size', '48', '--sample-every', '0'];
  const first = run([...base, '--config', tinyConfigFile(dir), '--out', a]);
  assert.equal(first.status, 0, first.stderr);
  // A learning rate so small that Adam's steps (about lr each) vanish in float32: b's UNet must end where a's average was.
  const still = path.join(dir, 'still.json');
  fs.writeFileSync(still, JSON.stringify({ ...TINY, diffusionTrain: { ...TINY.diffusionTrain, learningRate: 1e-12 } }));
  const warm = run([...base, '--config', still, '--out', b, '--init-from', a]);
  assert.equal(warm.status, 0, warm.stderr);
  assert.match(warm.stdout, /diffusion: warm start from .*\/a \(sha256 [0-9a-f]{12}\)/);
  assert.equal(JSON.parse(fs.readFileSync(path.join(b, 'config.json'), 'utf8')).initFrom.dir, a);

  await initBackend();
  const wa = (await loadTextToImage(path.join(a, 'diffusion'))).model;
  const wb = (await loadTextToImage(path.join(b, 'diffusion'))).model;
  const fresh = (await loadTextToImage(path.join(a, 'diffusion'), { weights: 'trained' })).model;
  try {
    const maxDiff = (x: typeof wa, y: typeof wa) =>
      Math.max(...Object.keys(x.unet.variables).map((k) => tf.tidy(() => tf.max(tf.abs(tf.sub(x.unet.variables[k], y.unet.variables[k]))).dataSync()[0])));
    assert.ok(maxDiff(wa, wb) < 1e-6, `b starts from a's averaged weights (max diff ${maxDiff(wa, wb)})`);
    assert.ok(maxDiff(wa, fresh) > 1e-4, 'the average differs from the last weights, so the check above can tell them apart');
  } finally {
    for (const m of [wa, wb, fresh]) m.dispose({ clip: true });
  }
  const clipSha = (out: string) => JSON.parse(fs.readFileSync(path.join(out, 'clip', 'checkpoint.json'), 'utf8')).sha256;
  assert.equal(clipSha(b), clipSha(a), 'the same MiniCLIP');

  // Rerun without --init-from: refused in one line, nothing rewritten.
  const config = fs.readFileSync(path.join(b, 'config.json'), 'utf8');
  const cold = run([...base, '--config', still, '--out', b]);
  assert.equal(cold.status, 1);
  assert.match(cold.stderr.trim(), /^t2i-align: .*\/b holds a run warm-started from .*\/a \(diffusion sha256 [0-9a-f]{12}\); resume it with the same --init-from \(that folder or a copy of it; .*\), or use another --out$/);
  assert.equal(fs.readFileSync(path.join(b, 'config.json'), 'utf8'), config);

  // Bad sources: one line each, naming the folder and what is wrong; no output folder made.
  const unet = (u: object) => {
    const file = path.join(dir, `unet-${Object.values(u).join('-')}.json`);
    fs.writeFileSync(file, JSON.stringify({ ...TINY, diffusion: { ...TINY.diffusion, unet: { ...TINY.diffusion.unet, ...u } } }));
    return file;
  };
  const cases: Array<[string[], RegExp]> = [
    [['--config', still, '--init-from', path.join(dir, 'nothing')], /--init-from .*nothing: no checkpoint in .*clip \(a finished pretrain run or a shipped model folder holds clip\/ and diffusion\/\)/],
    [['--config', unet({ channels: [8, 24] }), '--init-from', a], /--init-from .*\/a: its diffusion model differs from the run's \(only attention levels or self-conditioning may be added\): diffusion was .*"channels":\[8,16\].*, now .*"channels":\[8,24\]/],
    [['--config', unet({ attentionLevels: [] }), '--init-from', a], /--init-from .*\/a: its diffusion model differs from the run's \(only attention levels or self-conditioning may be added\): .*"attentionLevels":\[1\].*, now .*"attentionLevels":\[\]/],
    [['--config', unet({ pooledText: true }), '--init-from', a], /--init-from .*\/a: its diffusion model differs from the run's \(only attention levels or self-conditioning may be added\): .*"pooledText":false.*, now .*"pooledText":true/],
    [['--init-from', a], /--init-from .*\/a: its MiniCLIP was trained otherwise \(clip was /],
  ];
  for (const [args, message] of cases) {
    const r = run([...base, ...args, '--out', path.join(dir, 'c')]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.ok(!fs.existsSync(path.join(dir, 'c')));
  }
});

test('pretrain --init-from onto a UNet with more attention levels and self-conditioning: the added blocks start as the identity', async () => {
  const dir = removedAtExit('t2i-pretrain-grow-');
  const a = path.join(dir, 'a'), b = path.join(dir, 'b');
  const base = ['pretrain', '--quick', '--corpus-size', '48', '--sample-every', '0'];
  assert.equal(run([...base, '--config', tinyConfigFile(dir), '--out', a]).status, 0);
  // As above, a rate too small to move a weight: b must compute what a computes.
  const grown = path.join(dir, 'grown.json');
  const unet = { ...TINY.diffusion.unet, attentionLevels: [0, 1], selfCondition: true };
  fs.writeFileSync(grown, JSON.stringify({ ...TINY, diffusion: { ...TINY.diffusion, unet }, diffusionTrain: { ...TINY.diffusionTrain, learningRate: 1e-12 } }));
  const warm = run([...base, '--config', grown, '--out', b, '--init-from', a]);
  assert.equal(warm.status, 0, warm.stderr);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(b, 'config.json'), 'utf8')).diffusion.unet.attentionLevels, [0, 1]);

  await initBackend();
  const { model: wa, meta } = await loadTextToImage(path.join(a, 'diffusion'));
  const wb = (await loadTextToImage(path.join(b, 'diffusion'))).model;
  try {
    const added = Object.keys(wb.unet.variables).filter((k) => !(k in wa.unet.variables));
    assert.ok(added.length > 0 && added.every((k) => /(down|up)\/0\/attn\/|conv_in_self\//.test(k)), `only level 0's attention and the estimate's convolution are new: ${added.join(', ')}`);
    assert.ok(added.includes('unet/conv_in_self/w') && wb.selfConditioned);
    const diff = (k: string) => tf.tidy(() => tf.max(tf.abs(tf.sub(wa.unet.variables[k], wb.unet.variables[k]))).dataSync()[0]);
    assert.ok(Object.keys(wa.unet.variables).every((k) => diff(k) < 1e-6), 'the shared weights are a\'s average');
    const prompts = ['a red circle', 'two blue squares in the forest'];
    const opts = { ...meta.config.sampler, seed: 5 };
    const [ia, ib] = [await generateImages(wa, prompts, opts), await generateImages(wb, prompts, opts)];
    assert.deepEqual(ib.map((im) => Array.from(im.data)), ia.map((im) => Array.from(im.data)), 'the grown UNet draws the same images');
  } finally {
    for (const m of [wa, wb]) m.dispose({ clip: true });
  }
  // The shipped list of runs gives the grown UNet's settings, so its command makes the same model.
  const shipped = run(['ship-base-model', '--run', b, '--out', path.join(dir, 'shipped-b'), '--per-category', '2', '--prompts-per-category', '1']);
  assert.equal(shipped.status, 0, shipped.stderr);
  const stages = JSON.parse(fs.readFileSync(path.join(dir, 'shipped-b', 'metrics.json'), 'utf8')).stages;
  assert.match(stages.at(-1).command, /--init-from .*\/a --config <\(echo '\{"diffusionTrain":.*"diffusion":\{.*"attentionLevels":\[0,1\]/);
});

test('pretrain --clip-from: the MiniCLIP from another folder as it is, the UNet from --init-from; resumes only with the same MiniCLIP', async () => {
  const dir = removedAtExit('t2i-pretrain-clipfrom-');
  const a = path.join(dir, 'a'), k = path.join(dir, 'k'), b = path.join(dir, 'b');
  const base = ['pretrain', '--quick', '--corpus-size', '48', '--sample-every', '0'];
  assert.equal(run([...base, '--config', tinyConfigFile(dir), '--out', a]).status, 0);
  const negatives = { ...TINY, clip: { ...TINY.clip, countNegatives: true } };
  const kConfig = path.join(dir, 'k.json');
  fs.writeFileSync(kConfig, JSON.stringify(negatives));
  assert.equal(run([...base, '--config', kConfig, '--out', k]).status, 0);
  const still = path.join(dir, 'still.json');
  fs.writeFileSync(still, JSON.stringify({ ...negatives, diffusionTrain: { ...TINY.diffusionTrain, learningRate: 1e-12 } }));
  const warm = run([...base, '--config', still, '--out', b, '--init-from', a, '--clip-from', k]);
  assert.equal(warm.status, 0, warm.stderr);
  const clipSha = (out: string) => JSON.parse(fs.readFileSync(path.join(out, 'clip', 'checkpoint.json'), 'utf8')).sha256;
  assert.equal(clipSha(b), clipSha(k), "k's MiniCLIP");
  assert.notEqual(clipSha(k), clipSha(a), 'the two MiniCLIPs differ, so the check above can tell them apart');
  assert.equal(JSON.parse(fs.readFileSync(path.join(b, 'config.json'), 'utf8')).clipFrom.dir, path.join(k, 'clip'));

  await initBackend();
  const wa = (await loadTextToImage(path.join(a, 'diffusion'))).model;
  const wb = (await loadTextToImage(path.join(b, 'diffusion'))).model;
  const wk = (await loadTextToImage(path.join(k, 'diffusion'))).model;
  try {
    const maxDiff = (x: Record<string, tf.Variable>, y: Record<string, tf.Variable>) =>
      Math.max(...Object.keys(x).map((n) => tf.tidy(() => tf.max(tf.abs(tf.sub(x[n], y[n]))).dataSync()[0])));
    assert.ok(maxDiff(wa.unet.variables, wb.unet.variables) < 1e-6, "b's UNet starts from a's averaged weights");
    assert.equal(maxDiff(wk.clip.textVariables(), wb.clip.textVariables()), 0, "b's text encoder is k's");
    assert.ok(maxDiff(wa.clip.textVariables(), wb.clip.textVariables()) > 1e-4, "and not a's");
  } finally {
    for (const m of [wa, wb, wk]) m.dispose({ clip: true });
  }

  // A resume without --clip-from, or with a MiniCLIP the run's config does not describe, or from a folder without one: one line each.
  // (d: --clip-from without a warm start, the UNet from random weights.)
  const d = path.join(dir, 'd');
  assert.equal(run([...base, '--config', still, '--out', d, '--clip-from', path.join(k, 'clip')]).status, 0);
  assert.equal(clipSha(d), clipSha(k), 'a MiniCLIP checkpoint folder itself works too');
  const config = fs.readFileSync(path.join(b, 'config.json'), 'utf8');
  const cases: Array<[string[], RegExp]> = [
    [['--config', still, '--out', b, '--init-from', a], /--init-from .*\/a: its MiniCLIP was trained otherwise \(clip was .*"countNegatives":false.*\); give the run its clip and clipTrain settings in --config, or another MiniCLIP with --clip-from$/],
    [['--config', still, '--out', d], /\/d holds a run with the MiniCLIP of .*\/k\/clip \(sha256 [0-9a-f]{12}\); resume it with the same --clip-from \(that folder or a copy of it; .*\), or use another --out$/],
    [['--config', tinyConfigFile(dir), '--out', path.join(dir, 'c'), '--init-from', a, '--clip-from', k], /--clip-from .*\/k: its MiniCLIP was trained otherwise \(clip was .*"countNegatives":true.*\); give the run its clip and clipTrain settings in --config, or another MiniCLIP with --clip-from$/],
    [['--config', still, '--out', path.join(dir, 'c'), '--clip-from', path.join(dir, 'nothing')], /--clip-from .*nothing: no MiniCLIP checkpoint there or in its clip\//],
  ];
  for (const [args, message] of cases) {
    const r = run([...base, ...args]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trim(), message);
  }
  assert.equal(fs.readFileSync(path.join(b, 'config.json'), 'utf8'), config);
  assert.ok(!fs.existsSync(path.join(dir, 'c')));

  // Copied to a machine without the folders it started from: resumed with the same flags, config.json standing in
  // for them (it was refused, "no MiniCLIP checkpoint there"); without the run's own MiniCLIP, still refused.
  const away = path.join(dir, 'away');
  fs.cpSync(b, away, { recursive: true });
  const hidden = [a, k].map((f) => [f, `${f}.hidden`]);
  for (const [f, h] of hidden) fs.renameSync(f, h);
  try {
    const moved = run([...base, '--config', still, '--out', away, '--init-from', a, '--clip-from', k]);
    assert.equal(moved.status, 0, moved.stderr);
    assert.match(moved.stdout, /--init-from .*\/a is not here; the run holds what it gave \(sha256 [0-9a-f]{12}\), as its config\.json records, and resumes with it/);
    assert.equal(clipSha(away), clipSha(b));
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(away, 'config.json'), 'utf8')).initFrom, JSON.parse(config).initFrom, 'the record kept');
    // a gone path the run never named is no stand-in for its source
    const typo = run([...base, '--config', still, '--out', away, '--init-from', path.join(dir, 'a-typo'), '--clip-from', k]);
    assert.equal(typo.status, 1);
    assert.match(typo.stderr.trim(), /^t2i-align: --init-from .*a-typo: no checkpoint in /);
    fs.rmSync(path.join(away, 'clip'), { recursive: true });
    const bare = run([...base, '--config', still, '--out', away, '--init-from', a, '--clip-from', k]);
    assert.equal(bare.status, 1);
    assert.match(bare.stderr.trim(), /^t2i-align: --clip-from .*\/k: no MiniCLIP checkpoint there or in its clip\//);
  } finally {
    for (const [f, h] of hidden) fs.renameSync(h, f);
  }

  // The shipped model's list of runs names the MiniCLIP's folder and the clip settings it needs.
  const shipped = run(['ship-base-model', '--run', b, '--out', path.join(dir, 'shipped-b'), '--per-category', '2', '--prompts-per-category', '1']);
  assert.equal(shipped.status, 0, shipped.stderr);
  const stages = JSON.parse(fs.readFileSync(path.join(dir, 'shipped-b', 'metrics.json'), 'utf8')).stages;
  assert.match(stages.at(-1).command, /--init-from .*\/a --clip-from .*\/k\/clip --config <\(echo '\{"diffusionTrain":.*"clip":\{.*"countNegatives":true\}/);
});

test('ship-base-model ships a finished run; a warm start from the shipped folder lists both runs in metrics.json and the README', () => {
  const dir = removedAtExit('t2i-ship-ok-');
  const base = ['pretrain', '--quick', '--corpus-size', '48', '--sample-every', '0', '--config', tinyConfigFile(dir)];
  const ship = (runDir: string, dest: string) => {
    const r = run(['ship-base-model', '--run', runDir, '--out', dest, '--per-category', '2', '--prompts-per-category', '1']);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(fs.readFileSync(path.join(dest, 'metrics.json'), 'utf8'));
  };
  assert.equal(run([...base, '--out', path.join(dir, 'a')]).status, 0);
  const first = ship(path.join(dir, 'a'), path.join(dir, 'shipped-a'));
  assert.equal(first.stages.length, 1);
  assert.equal(first.stages[0].initFrom, null);
  assert.equal(first.stages[0].diffusionUpdates, 4);
  for (const f of ['diffusion/checkpoint.json', 'clip/checkpoint.json', 'config.json', 'losses.csv', 'README.md', 'renders-vs-samples.png', 'eval/base-eval.json']) {
    assert.ok(fs.existsSync(path.join(dir, 'shipped-a', f)), f);
  }
  // A run whose records are damaged is refused in one line naming the file, before the evaluation, and the shipped
  // model stays as it was (they were read after it: raw JavaScript errors, and a NaN loss shipped as null).
  const shippedBytes = fs.readFileSync(path.join(dir, 'shipped-a', 'metrics.json'));
  const damaged = path.join(dir, 'a-damaged');
  for (const [file, body, message] of [
    ['timing.json', 'null', /timing\.json: its "total" is not the run's wall seconds per stage/],
    ['timing.json', '{"total": ', /timing\.json: not valid JSON/],
    ['config.json', 'null', /config\.json: not a JSON object of the run's settings/],
    ['losses.jsonl', null, /losses\.jsonl:\d+: not a loss point \(a stage name, a whole step and a finite loss; a diverged run logs null\)/],
  ] as const) {
    fs.rmSync(damaged, { recursive: true, force: true });
    fs.cpSync(path.join(dir, 'a'), damaged, { recursive: true });
    if (body === null) fs.appendFileSync(path.join(damaged, file), '{"stage":"diffusion","step":5,"loss":null}\n');
    else fs.writeFileSync(path.join(damaged, file), body);
    const r = run(['ship-base-model', '--run', damaged, '--out', path.join(dir, 'shipped-a'), '--per-category', '2', '--prompts-per-category', '1']);
    assert.equal(r.status, 1, `${file}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^t2i-align: .*${message.source}`), file);
    assert.doesNotMatch(r.stderr, /^eval /m, `${file}: refused before the evaluation`);
    assert.deepEqual(fs.readFileSync(path.join(dir, 'shipped-a', 'metrics.json')), shippedBytes, 'the shipped model is as it was');
  }

  // The warm run also changes the corpus's captions: its command in the list says so.
  const lookalikes = path.join(dir, 'lookalikes.json');
  fs.writeFileSync(lookalikes, JSON.stringify({ ...TINY, corpus: { confuseColor: 0.5 } }));
  const warm = run([...base, '--config', lookalikes, '--out', path.join(dir, 'b'), '--init-from', path.join(dir, 'shipped-a')]);
  assert.equal(warm.status, 0, warm.stderr);
  const second = ship(path.join(dir, 'b'), path.join(dir, 'shipped-b'));
  assert.equal(second.stages.length, 2);
  assert.deepEqual(second.stages[0], first.stages[0]);
  const sha = JSON.parse(fs.readFileSync(path.join(dir, 'shipped-a', 'diffusion', 'checkpoint.json'), 'utf8')).sha256;
  assert.equal(second.stages[1].initFrom, sha);
  assert.match(second.stages[1].command, /--init-from .*shipped-a --config <\(echo '\{"diffusionTrain":\{"steps":4,"learningRate":0\.001,.*\},"diffusion":\{"timesteps":100,.*\},"corpus":\{"size":48,"confuseColor":0\.5\}\}'\)/);
  assert.match(fs.readFileSync(path.join(dir, 'shipped-b', 'README.md'), 'utf8'), /in the last run its captions name a color's look-alike in 50% and a place's in 0% of the captions that name one/);
  const readme = fs.readFileSync(path.join(dir, 'shipped-b', 'README.md'), 'utf8');
  assert.match(readme, /Made by 2 training runs/);
  assert.match(readme, /8 diffusion updates in all \(4 in the last run\)/);
  // The warm start took MiniCLIP as it was: no MiniCLIP loss or time is reported for it, rather than a 0.
  assert.equal(second.finalLoss.clipMeanLast100, null);
  assert.equal(typeof first.finalLoss.clipMeanLast100, 'number');
  assert.match(readme, /MiniCLIP was not trained in this run \(taken as it is from the run before\)/);
  assert.doesNotMatch(readme, /MiniCLIP contrastive/);

  // A source shipped before metrics listed its runs (no `stages`) counts as one run from random weights.
  const metricsA = path.join(dir, 'shipped-a', 'metrics.json');
  const { stages: _, ...legacy } = JSON.parse(fs.readFileSync(metricsA, 'utf8'));
  fs.writeFileSync(metricsA, JSON.stringify(legacy));
  assert.deepEqual(ship(path.join(dir, 'b'), path.join(dir, 'shipped-b2')).stages, second.stages);

  // A warm start from a pretrain run folder (not shipped) lists that run too, from its config and timing.
  assert.equal(run([...base, '--out', path.join(dir, 'c'), '--init-from', path.join(dir, 'a')]).status, 0);
  const third = ship(path.join(dir, 'c'), path.join(dir, 'shipped-c'));
  assert.deepEqual(third.stages.map((st: { diffusionUpdates: number }) => st.diffusionUpdates), [4, 4]);
  // The listed command remakes the run's settings: its overrides on the preset give the run's config (training included).
  const first0 = third.stages[0].command as string;
  assert.match(first0, /^npx t2i-align pretrain --quick --config <\(echo '\{"diffusionTrain":\{"steps":4,.*\}'\)$/);
  // The --config is a shell's process substitution: the command runs as written (bash reads it as a file).
  const substituted = spawnSync('bash', ['-c', `cat ${first0.slice(first0.indexOf('<('))}`], { encoding: 'utf8' });
  assert.equal(substituted.status, 0, substituted.stderr);
  const { config: remade, corpus: remadeCorpus } = resolvePretrainRun('quick', JSON.parse(substituted.stdout));
  const ranA = JSON.parse(fs.readFileSync(path.join(dir, 'a', 'config.json'), 'utf8'));
  assert.deepEqual([remade.diffusion, remade.diffusionTrain, remadeCorpus], [ranA.diffusion, ranA.diffusionTrain, ranA.corpus]);
  assert.doesNotMatch(first0, /"resBlocks"/, 'only the keys that differ from the preset');
  assert.match(third.stages[1].command, /--init-from .*\/a --config/);
  assert.ok(third.stages[0].wallSeconds.total > 0);

  // Shipping a run again into the folder it was warm-started from (the shipped model replaced by its own
  // continuation, then shipped once more): the folder's list already ends with this run, so it is not listed twice.
  fs.cpSync(path.join(dir, 'shipped-c'), path.join(dir, 'a-shipped'), { recursive: true });
  const cConfig = path.join(dir, 'c', 'config.json');
  const conf = JSON.parse(fs.readFileSync(cConfig, 'utf8'));
  fs.writeFileSync(cConfig, JSON.stringify({ ...conf, initFrom: { ...conf.initFrom, dir: path.join(dir, 'a-shipped') } }));
  const reshipped = ship(path.join(dir, 'c'), path.join(dir, 'a-shipped')).stages;
  assert.deepEqual(reshipped.map((st: { initFrom: string | null }) => st.initFrom), third.stages.map((st: { initFrom: string | null }) => st.initFrom));
  assert.deepEqual(reshipped[0], third.stages[0], 'the first run kept, the re-shipped run listed once');
  // ...and again: a folder replaced twice still lists each run once.
  assert.equal(ship(path.join(dir, 'c'), path.join(dir, 'a-shipped')).stages.length, 2);
});

test('grownLevels: a warm start may add attention levels or self-conditioning (both start as the identity), and may not drop either', () => {
  const d = TINY.diffusion as unknown as PretrainConfig['diffusion'];
  const withUnet = (u: object) => ({ ...d, unet: { ...d.unet, ...u } }) as PretrainConfig['diffusion'];
  assert.deepEqual(grownLevels(d, d), []);
  assert.deepEqual(grownLevels(d, withUnet({ selfCondition: true })), []);
  assert.deepEqual(grownLevels(d, withUnet({ selfCondition: true, attentionLevels: [0, 1] })), [0]);
  assert.equal(grownLevels(withUnet({ selfCondition: true }), withUnet({ selfCondition: false })), null);
  assert.equal(grownLevels(d, withUnet({ pooledText: true })), null);
});

test('a killed ship-base-model\'s temporary folder is removed by the next ship to that destination (not one whose process runs)', async () => {
  const dir = removedAtExit('t2i-ship-int-');
  assert.equal(run(['pretrain', '--quick', '--corpus-size', '48', '--sample-every', '0', '--config', tinyConfigFile(dir), '--out', path.join(dir, 'a')]).status, 0);
  const child = spawn(process.execPath, [BIN, 'ship-base-model', '--run', path.join(dir, 'a'), '--out', path.join(dir, 'shipped'), '--per-category', '40', '--prompts-per-category', '4'], { env: { ...process.env, T2I_PROGRESS: '0' }, stdio: 'ignore' });
  const exited = new Promise<unknown>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const tmp = () => fs.readdirSync(dir).filter((f) => f.includes('.tmp-'));
  for (let t = 0; tmp().length === 0 && t < 2400; t++) await new Promise((r) => setTimeout(r, 25));
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  assert.equal(tmp().length, 1, 'a killed ship leaves its folder');
  const [killed] = tmp();
  const live = path.join(dir, `shipped.tmp-${process.pid}`); // a ship still running (this process): kept
  fs.mkdirSync(live);
  const recent = path.join(dir, 'shipped.tmp-999999999'); // no such process here, but changed within the hour (another machine's?): kept
  fs.mkdirSync(recent);
  const hoursAgo = new Date(Date.now() - 2 * 3600_000);
  for (const d of [killed, path.basename(live)]) fs.utimesSync(path.join(dir, d), hoursAgo, hoursAgo);
  const r = run(['ship-base-model', '--run', path.join(dir, 'a'), '--out', path.join(dir, 'shipped'), '--per-category', '2', '--prompts-per-category', '1']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(tmp().sort(), [path.basename(live), path.basename(recent)].sort());
  assert.ok(fs.existsSync(path.join(dir, 'shipped', 'metrics.json')));
});

test('two pretrains into one folder at once: the second is refused naming the first (both appended every loss line), and nothing is doubled', async () => {
  await initBackend();
  const { pretrain } = await import('../../src/pipeline/pretrain');
  const dir = removedAtExit('t2i-pretrain-twice-');
  const out = path.join(dir, 'run');
  const go = () => pretrain({ preset: 'quick', out, overrides: { ...TINY, corpus: { size: 48 } } as PretrainOverrides, sampleEvery: 0, log: () => {} });
  const both = await Promise.allSettled([go(), go()]);
  assert.equal(both.filter((r) => r.status === 'fulfilled').length, 1);
  assert.match(((both.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason as Error).message, /another pretrain \(pid \d+, this one\) is running in .*run/);
  const losses = lossLines(out);
  assert.equal(losses.length, 8, 'each update logged once');
  assert.ok(!fs.existsSync(path.join(out, '.pretrain.lock')));
  // Refused before writing (a bad --clip-from): no folder is left behind for the lock alone.
  const none = path.join(dir, 'none');
  await assert.rejects(pretrain({ preset: 'quick', out: none, overrides: TINY as PretrainOverrides, clipFrom: path.join(dir, 'nowhere'), log: () => {} }), /--clip-from .*nowhere: no MiniCLIP checkpoint/);
  assert.ok(!fs.existsSync(none));
});

test('a ship killed between moving the shipped model aside and renaming the new one in loses nothing: the next ship puts it back first', async () => {
  const { removeStaleShipFolders } = await import('../../src/cli/pretrain');
  const dir = removedAtExit('t2i-ship-aside-');
  const dest = path.join(dir, 'shipped');
  const aside = path.join(dir, 'shipped.old-999999999'); // its ship was killed (no such process)
  fs.mkdirSync(path.join(aside, 'diffusion'), { recursive: true });
  fs.writeFileSync(path.join(aside, 'diffusion', 'checkpoint.json'), '{"the": "shipped model"}');
  removeStaleShipFolders(dest);
  assert.equal(fs.readFileSync(path.join(dest, 'diffusion', 'checkpoint.json'), 'utf8'), '{"the": "shipped model"}', 'put back (it was deleted before the new one was in place)');
  assert.ok(!fs.existsSync(aside));
  // One whose replacement did land is the old model: removed. A live ship's (this process) is left alone.
  fs.mkdirSync(aside);
  const live = path.join(dir, `shipped.old-${process.pid}`);
  fs.mkdirSync(live);
  removeStaleShipFolders(dest);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['shipped', `shipped.old-${process.pid}`]);
});
