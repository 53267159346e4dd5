import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { assertNoLeaks, CheckpointError, readCheckpointIndex } from '../../src/engine';
import {
  imagesToTensor, loadMiniClip, loadTextToImage, MiniClip, ModelCheckpointMeta, PretrainConfig, resolvePretrainConfig,
  saveModelCheckpoint, TextToImage, trainClip, trainDiffusion,
} from '../../src/models';
import { fakeBatches, initTestBackend, maxAbsDiff, randomize, tinyConfig } from './helpers';
import { removedAtExit } from '../helpers/temp';

const tmp = () => removedAtExit('t2i-models-');
const meta = (kind: ModelCheckpointMeta['kind'], config: PretrainConfig, clip: MiniClip): ModelCheckpointMeta => ({
  kind, step: 0, config, vocab: [...clip.tokenizer.vocab], recentLoss: null,
});

test('MiniCLIP checkpoint round trip gives the same logits', async () => {
  await initTestBackend();
  const cfg = tinyConfig();
  const clip = new MiniClip(cfg.clip, 1);
  randomize(clip.variables, 2, 0.1);
  const dir = tmp();
  await saveModelCheckpoint(dir, clip.variables, meta('miniclip', cfg, clip));
  const { clip: loaded, meta: m } = await loadMiniClip(dir);
  assert.equal(m.kind, 'miniclip');
  tf.tidy(() => {
    const batch = fakeBatches()(0, 3);
    const ids = clip.tokenize(batch.map((e) => e.caption));
    const images = imagesToTensor(batch);
    assert.equal(maxAbsDiff(clip.logits(images, ids), loaded.logits(images, ids)), 0);
    const fresh = new MiniClip(cfg.clip, 1);
    assert.ok(maxAbsDiff(fresh.logits(images, ids), loaded.logits(images, ids)) > 1e-3);
    fresh.dispose();
  });
  clip.dispose();
  loaded.dispose();
});

test('text-to-image checkpoint round trip gives the same noise predictions', async () => {
  await initTestBackend();
  const cfg = tinyConfig();
  const clip = new MiniClip(cfg.clip);
  const model = new TextToImage(clip, cfg.diffusion);
  randomize(model.variables, 3, 0.1);
  const dir = tmp();
  await saveModelCheckpoint(dir, model.variables, meta('diffusion', cfg, clip));
  const { model: loaded } = await loadTextToImage(dir);
  tf.tidy(() => {
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const t = tf.tensor1d([3, 70]);
    const p = ['two red circles', 'a heart'];
    assert.equal(maxAbsDiff(model.epsTheta(x, t, model.encodePrompts(p)), loaded.epsTheta(x, t, loaded.encodePrompts(p))), 0);
  });
  model.dispose();
  clip.dispose();
  loaded.dispose({ clip: true });
});

test('wrong kind, mismatched shapes, another vocabulary and corrupt weights are clear errors', async () => {
  await initTestBackend();
  const cfg = tinyConfig();
  const clip = new MiniClip(cfg.clip);
  const dir = tmp();
  await saveModelCheckpoint(dir, clip.variables, meta('miniclip', cfg, clip));
  await assert.rejects(loadTextToImage(dir), (e: Error) => e instanceof CheckpointError && /holds a "miniclip" model, not a diffusion model/.test(e.message));

  // A checkpoint whose config says textWidth 32 but whose weights are 16 wide.
  const lying = tmp();
  const wider = resolvePretrainConfig('quick', { ...cfg, clip: { ...cfg.clip, textWidth: 32 } });
  await saveModelCheckpoint(lying, clip.variables, meta('miniclip', wider, clip));
  await assert.rejects(loadMiniClip(lying), /does not match the model: .*text\/token_embedding is \[\d+,16\] in the file, \[\d+,32\] in the model/);

  const vocab = tmp();
  await saveModelCheckpoint(vocab, clip.variables, { ...meta('miniclip', cfg, clip), vocab: ['<pad>', '<bos>', '<eos>', '<unk>', 'dog'] });
  await assert.rejects(loadMiniClip(vocab), /another vocabulary/);

  const bin = path.join(dir, readCheckpointIndex(dir).weightsFile);
  const bytes = fs.readFileSync(bin);
  bytes[10] ^= 0xff;
  fs.writeFileSync(bin, bytes);
  await assert.rejects(loadMiniClip(dir), /sha256 does not match/);

  // A moving average whose spec was edited to another shape of the same size: named, not a raw tfjs assign error.
  const t2i = new TextToImage(clip, cfg.diffusion, 0);
  const [k, w] = Object.entries(t2i.unet.variables).find(([, v]) => v.shape.length === 2 && v.shape[0] !== v.shape[1])!;
  const withEma = tmp();
  const ema = tf.zeros(w.shape);
  await saveModelCheckpoint(withEma, { ...t2i.variables, [`ema/${k}`]: ema as unknown as tf.Variable }, meta('diffusion', cfg, clip));
  ema.dispose();
  const indexFile = path.join(withEma, 'checkpoint.json');
  const j = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
  const spec = j.specs.find((x: { name: string }) => x.name === `ema/${k}`);
  spec.shape = [...spec.shape].reverse();
  delete j.specsSha256; // as a checkpoint saved before the specs' digest was kept (with it, the edit is refused earlier)
  fs.writeFileSync(indexFile, JSON.stringify(j));
  const [a, b] = w.shape;
  await assert.rejects(loadTextToImage(withEma), new RegExp(`does not match the model: ema/${k} is \\[${b},${a}\\] in the file, \\[${a},${b}\\] in the model`));
  t2i.dispose({ clip: true });
});

test('training resumed from a checkpoint ends where the uninterrupted run ends (diffusion and MiniCLIP)', async () => {
  await initTestBackend();
  const cfg = tinyConfig();
  const data = fakeBatches(4);
  const opts = { progress: false as const };
  const flat = (vs: Record<string, tf.Variable>) => tf.tidy(() => tf.concat(Object.values(vs).map((v) => v.flatten())));
  // Each run builds fresh models, as a new process would; `maxUpdates` stops it like a kill after the step-2 checkpoint.
  const run = async (dir: string, maxUpdates?: number) => {
    const clip = new MiniClip(cfg.clip);
    const c = await trainClip(clip, data, cfg, { ...opts, checkpointDir: path.join(dir, 'clip'), maxUpdates });
    const clipWeights = flat(clip.variables);
    clip.dispose();
    const textEncoder = new MiniClip(cfg.clip, 'text'); // the same frozen text encoder in every diffusion run
    const model = new TextToImage(textEncoder, cfg.diffusion);
    const d = await trainDiffusion(model, data, cfg, { ...opts, checkpointDir: path.join(dir, 'diffusion'), maxUpdates });
    const unetWeights = flat(model.variables);
    model.dispose();
    textEncoder.dispose();
    return { c, d, clipWeights, unetWeights };
  };
  const straightDir = tmp();
  const straight = await run(straightDir);
  const dir = tmp();
  const first = await run(dir, 2);
  assert.deepEqual([first.c.step, first.d.step], [2, 2]);
  // Building, resuming, training and checkpointing leave nothing behind but the 2 returned tensors.
  const resumed = await assertNoLeaks(() => run(dir), 'resumed run', 2);
  assert.deepEqual([resumed.c.startStep, resumed.d.startStep, resumed.d.step], [2, 2, 4]);
  assert.deepEqual(resumed.c.losses, straight.c.losses.slice(2));
  assert.deepEqual(resumed.d.losses, straight.d.losses.slice(2));
  assert.equal(maxAbsDiff(straight.clipWeights, resumed.clipWeights), 0);
  assert.equal(maxAbsDiff(straight.unetWeights, resumed.unetWeights), 0);
  tf.dispose([straight, first, resumed].flatMap((r) => [r.clipWeights, r.unetWeights]));
  // The moving average of the weights (what sampling loads) resumes exactly too, and differs from the last weights.
  assert.ok(cfg.diffusionTrain.emaDecay > 0);
  const sampling = async (d: string, weights: 'ema' | 'trained') => {
    const { model } = await loadTextToImage(path.join(d, 'diffusion'), { weights });
    const w = flat(model.unet.variables);
    model.dispose({ clip: true });
    return w;
  };
  const [emaStraight, emaResumed, trained] = [await sampling(straightDir, 'ema'), await sampling(dir, 'ema'), await sampling(dir, 'trained')];
  assert.equal(maxAbsDiff(emaStraight, emaResumed), 0);
  assert.ok(maxAbsDiff(emaResumed, trained) > 0, 'the EMA weights are not the trained ones');
  tf.dispose([emaStraight, emaResumed, trained]);
});

test('the training loop lets the event loop turn between updates (a pool worker hears its sweep die and exits)', async () => {
  await initTestBackend();
  const cfg = tinyConfig();
  const clip = new MiniClip(cfg.clip, 1);
  const model = new TextToImage(clip, cfg.diffusion);
  let updates = 0;
  let heardAt = -1;
  setImmediate(() => (heardAt = updates)); // as an IPC 'disconnect' would be delivered
  await trainDiffusion(model, fakeBatches(), cfg, { progress: false, checkpointDir: tmp(), maxUpdates: 3, onStep: () => void updates++ });
  assert.equal(updates, 3);
  assert.ok(heardAt >= 0 && heardAt < 3, `the event loop turned only after the last update (heard at ${heardAt})`);
  [model, clip].forEach((m) => m.dispose());
});

test("resuming diffusion with another text encoder than the checkpoint's is refused", async () => {
  await initTestBackend();
  const cfg = tinyConfig();
  const dir = tmp();
  const clip = new MiniClip(cfg.clip, 1);
  const model = new TextToImage(clip, cfg.diffusion);
  await trainDiffusion(model, fakeBatches(), cfg, { progress: false, checkpointDir: dir, maxUpdates: 2 });
  const other = new MiniClip(cfg.clip, 2);
  const model2 = new TextToImage(other, cfg.diffusion);
  await assert.rejects(trainDiffusion(model2, fakeBatches(), cfg, { progress: false, checkpointDir: dir }), /frozen weight text\/.* differs from the checkpoint's/);
  [model, model2, clip, other].forEach((m) => m.dispose());
});

test('resuming with another model config is refused', async () => {
  await initTestBackend();
  const cfg = tinyConfig();
  const dir = tmp();
  const clip = new MiniClip(cfg.clip);
  await trainClip(clip, fakeBatches(), { ...cfg, clipTrain: { ...cfg.clipTrain, steps: 2 } }, { progress: false, checkpointDir: dir });
  const other = { ...cfg, seed: 9 };
  await assert.rejects(trainClip(clip, fakeBatches(), other, { progress: false, checkpointDir: dir }), /cannot resume from .*: seed was 0, now 9;/);
  clip.dispose();
});

test('resuming with another learning rate, schedule or average is refused, naming the key', async () => {
  await initTestBackend();
  const cfg = tinyConfig();
  const dir = tmp();
  const clip = new MiniClip(cfg.clip);
  const run = (over: Partial<typeof cfg.clipTrain>) => trainClip(clip, fakeBatches(), { ...cfg, clipTrain: { ...cfg.clipTrain, steps: 2, ...over } }, { progress: false, checkpointDir: dir });
  await run({ lrSchedule: 'cosine' });
  const before = readCheckpointIndex(dir).meta;
  await assert.rejects(run({ lrSchedule: 'cosine', learningRate: cfg.clipTrain.learningRate * 2 }), /clipTrain\.learningRate was [0-9.e-]+, now [0-9.e-]+/);
  await assert.rejects(run({ lrSchedule: 'constant' }), /clipTrain\.lrSchedule was "cosine", now "constant"/);
  await assert.rejects(run({ lrSchedule: 'cosine', steps: 4 }), /clipTrain\.steps \(part of the cosine schedule\) was 2, now 4/);
  await assert.rejects(run({ lrSchedule: 'cosine', emaDecay: 0.5 }), /clipTrain\.emaDecay was 0, now 0\.5/);
  assert.deepEqual(readCheckpointIndex(dir).meta, before, 'a refused resume leaves the checkpoint as it was');
  clip.dispose();
});
