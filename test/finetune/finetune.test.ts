import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { checkSettings, compareSettings, recordedCorpusOf, compareWithBase, comparisonTable, settingsTable, drawnCountTable, finetune, finetuneEvalPrompts, finetuneStep, modelData, progressEval, resolveFinetuneConfig, rewardWeightedLoss, weightAudit } from '../../src/finetune';
import { FinetuneComparison, promptSeedInterval } from '../../src/finetune/evaluate';
import { generateImages } from '../../src/models/diffusion/sampler';
import { readCheckpointIndex } from '../../src/engine/checkpoint';
import { loadTextToImage, MiniClip, TextToImage } from '../../src/models';
import { denoisingLoss, drawNoise, timestepWeights } from '../../src/models/diffusion/loss';
import { adam } from '../../src/engine/adam';
import { assertStepDoesNotLeak } from '../../src/engine';
import { imagesToTensor } from '../../src/models/data';
import { Rng } from '../../src/engine/random';
import { embedImages, REWARD_MODEL_DIR, RewardModel, TextEmbeddings } from '../../src/reward';
import { Dataset, ImageLike, parsePrompt, readImage, readManifest, seenPrompts } from '../../src/world';
import { runCli } from '../cli/run-in-process';
import { smallDataset } from '../feedback/helpers';
import { initTestBackend, randomize, tinyConfig, tinyModelFolder } from '../models/helpers';
import { labelledDataset, tinyFrozenClip } from '../reward/helpers';
import { goodShare, labelledImages } from '../../src/reward/data';
import { LabelStore } from '../../src/feedback/store';
import { removedAtExit } from '../helpers/temp';

const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

/** A tiny randomised base model folder (diffusion/ + config.json with a small corpus). */
const tinyBase = () => tinyModelFolder('t2i-ft-base-', { randomizeSeed: 3 });

const TINY = { train: { steps: 4, batchSize: 4, learningRate: 1e-3, warmupSteps: 1, lrSchedule: 'constant', emaDecay: 0.9, checkpointEvery: 2 }, evalEvery: 2, evalPromptsPerCategory: 1, evalImagesPerPrompt: 1 };

test('rewardWeightedLoss: hand-computed value; beta and weights scale their terms', () => {
  const lm = tf.tensor1d([0.5, 2]);
  const w = tf.tensor1d([0.2, 1]);
  const lp = tf.tensor1d([1, 3, 2]);
  close(rewardWeightedLoss(lm, w, lp, 0.5).dataSync()[0], (0.2 * 0.5 + 2) / 2 + 0.5 * 2);
  close(rewardWeightedLoss(lm, w, lp, 0).dataSync()[0], 1.05);
  close(rewardWeightedLoss(tf.tensor1d([]), tf.tensor1d([]), lp, 2).dataSync()[0], 4);
  assert.throws(() => rewardWeightedLoss(lm, w, lp, -1), /beta must be >= 0/);
  // d/dl_i: w_i / Bm for model examples, beta / Bp for pretraining ones.
  const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => rewardWeightedLoss(a as tf.Tensor1D, w, b as tf.Tensor1D, 0.5))([lm, lp]);
  assert.deepEqual(Array.from(g[0].dataSync()).map((x) => +x.toFixed(6)), [0.1, 0.5]);
  assert.deepEqual(Array.from(g[1].dataSync()).map((x) => +x.toFixed(6)), [0.166667, 0.166667, 0.166667]);
});

/** A tiny randomised model (its diffusion config with `diffusion`'s overrides) and a batch of 4 dataset images: noise, images, prompts' encoding. */
async function tinyModelAndBatch(diffusion: Partial<ReturnType<typeof tinyConfig>['diffusion']>, noiseSeed: number) {
  await initTestBackend();
  const cfg = tinyConfig();
  const model = new TextToImage(new MiniClip(cfg.clip, 0), { ...cfg.diffusion, ...diffusion }, 0);
  randomize(model.unet.variables, 3, 0.05);
  const dir = smallDataset(4);
  const batch = readManifest(dir).map((r) => ({ image: readImage(dir, r), caption: r.prompt }));
  const draw = drawNoise(new Rng(noiseSeed), 4, model.schedule.timesteps);
  const x0 = imagesToTensor(batch);
  const cond = model.encodePrompts(batch.map((b) => b.caption));
  return { model, batch, draw, x0, cond };
}

test('all weights 1 and beta 0: the loss is the pretraining (denoising) loss of the same batch', async () => {
  const { model, draw, x0, cond } = await tinyModelAndBatch({}, 1);
  const l = denoisingLoss(model, x0, cond, draw);
  close(rewardWeightedLoss(l, tf.ones([4]) as tf.Tensor1D, tf.tensor1d([]), 0).dataSync()[0], tf.mean(l).dataSync()[0]);
  tf.dispose([x0, cond.context, cond.mask, l]);
  model.dispose({ clip: true });
});

test("timestepWeighting: fine-tuning can replace the model's per-timestep weight; 'model' keeps it", async () => {
  const { model, batch, draw, x0, cond } = await tinyModelAndBatch({ lossWeighting: 'min-snr', snrGamma: 5 }, 2);
  const own = denoisingLoss(model, x0, cond, draw).dataSync();
  const plain = denoisingLoss(model, x0, cond, draw, 'none').dataSync();
  const w = timestepWeights(model, draw.t);
  own.forEach((v, i) => close(v, plain[i] * w[i], 1e-5));
  assert.ok(w.some((x) => Math.abs(x - 1) > 0.01), 'min-SNR weights are not all 1');
  tf.dispose([x0, cond.context, cond.mask]);
  // Through one update: the same draws, so only the weighting differs.
  const step = (weighting?: 'none' | 'min-snr') => {
    const opt = adam(0); // rate 0: the weights stay, so each call sees the same model
    const modelBatch = batch.slice(0, 2).map((b, i) => ({ ...b, id: String(i), weight: 1, from: 'labels' as const }));
    const v = finetuneStep(model, opt, modelBatch, batch.slice(2), 1, new Rng(5), { lossWeighting: weighting });
    opt.dispose();
    return v;
  };
  const byModel = step(), byMinSnr = step('min-snr'), byNone = step('none');
  assert.equal(byMinSnr, byModel, "the model's own weighting is min-SNR");
  assert.notEqual(byNone, byModel);
  assert.equal(resolveFinetuneConfig('default').timestepWeighting, 'model');
  assert.throws(() => resolveFinetuneConfig('default', { timestepWeighting: 'snr' }), /finetune config: timestepWeighting: /);
  assert.throws(() => resolveFinetuneConfig('default', { trainTextEncoder: 'yes' }), /finetune config: trainTextEncoder: /);
  assert.throws(() => resolveFinetuneConfig('default', { stepz: 1 }), /finetune config: \(root\): Unrecognized key: "stepz"; the keys there are train, beta, modelFraction, weights,/);
  assert.throws(() => resolveFinetuneConfig('default', { train: { lr: 1 } }), /finetune config: train: Unrecognized key: "lr"; the keys there are steps, batchSize, learningRate,/);
  model.dispose({ clip: true });
});

test('modelTimesteps: the model-generated examples\' timesteps are the same draws mapped onto [lo, hi]; the pretraining ones and everything else stay', async () => {
  const { model, batch, x0, cond } = await tinyModelAndBatch({}, 4);
  tf.dispose([x0, cond.context, cond.mask]);
  const seen: number[][] = [];
  const predict = model.predict.bind(model);
  model.predict = (xt, t, c) => {
    seen.push(Array.from(t.dataSync()));
    return predict(xt, t, c);
  };
  const modelBatch = batch.slice(0, 2).map((b, i) => ({ ...b, id: String(i), weight: 1, from: 'labels' as const }));
  const step = (modelTimesteps?: readonly [number, number]) => {
    const opt = adam(0);
    const v = finetuneStep(model, opt, modelBatch, batch.slice(2), 1, new Rng(9), { modelTimesteps });
    opt.dispose();
    return { v, t: seen.at(-1)! };
  };
  const T = model.schedule.timesteps;
  const plain = step();
  const banded = step([70, 99]);
  assert.deepEqual(banded.t.slice(0, 2), plain.t.slice(0, 2).map((t) => 70 + Math.floor((t * 30) / T)));
  assert.deepEqual(banded.t.slice(2), plain.t.slice(2), 'the pretraining examples keep their timesteps');
  for (const t of banded.t.slice(0, 2)) assert.ok(t >= 70 && t <= 99, `t = ${t}`);
  assert.notDeepEqual(banded.t.slice(0, 2), plain.t.slice(0, 2), 'the draws here fall below 70 at least once');
  assert.deepEqual(step([0, T - 1]).t, plain.t, '[0, T-1] is the identity');
  assert.equal(resolveFinetuneConfig('default').modelTimesteps, null);
  model.dispose({ clip: true });
});

test('a self-conditioned UNet is fine-tuned as it was pretrained: leak-free, its estimate input learns, the same step twice gives the same weights', async () => {
  const { model, batch, x0, cond } = await tinyModelAndBatch({ unet: { ...tinyConfig().diffusion.unet, selfCondition: true } }, 4);
  tf.dispose([x0, cond.context, cond.mask]);
  const modelBatch = batch.slice(0, 2).map((b, i) => ({ ...b, id: String(i), weight: 1, from: 'labels' as const }));
  const start = Object.fromEntries(Object.entries(model.unet.variables).map(([k, v]) => [k, v.clone()]));
  const run = async (check: boolean) => {
    for (const [k, v] of Object.entries(model.unet.variables)) v.assign(start[k]);
    const opt = adam(1e-2);
    for (let s = 0; s < 3; s++) {
      const step = () => { finetuneStep(model, opt, modelBatch, batch.slice(2), 1, new Rng(s)); };
      if (check && s === 0) await assertStepDoesNotLeak(step, 'finetuneStep with selfCondition');
      else step();
    }
    opt.dispose();
    return Object.fromEntries(Object.entries(model.unet.variables).map(([k, v]) => [k, Array.from(v.dataSync())]));
  };
  const a = await run(false);
  assert.ok(a['unet/conv_in_self/w'].some((v) => v !== 0), 'conv_in_self/w learns');
  assert.deepEqual(await run(false), a);
  await run(true);
  tf.dispose(Object.values(start));
  model.dispose({ clip: true });
});

test('finetune config: the default is 2,400 updates at 2e-4 on mean-normalised weights; --quick is its first 1,000; the earlier presets come back from their files', () => {
  const d = resolveFinetuneConfig('default'), q = resolveFinetuneConfig('quick');
  assert.deepEqual([d.train.steps, d.train.learningRate, d.normalise], [2400, 2e-4, 'mean']);
  assert.deepEqual([q.train.steps, q.train.learningRate, q.normalise, q.evalEvery], [1000, 2e-4, 'mean', 250]);
  const read = (f: string) => JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'scripts', f), 'utf8'));
  const q600 = resolveFinetuneConfig('quick', read('finetune-quick-until-2026-12-06.json'));
  assert.deepEqual([q600.train.steps, q600.train.checkpointEvery, q600.evalEvery, q600.train.learningRate], [600, 100, 100, 2e-4]);
  for (const train of [5, null, [1], 'fast']) assert.throws(() => resolveFinetuneConfig('default', { train }), /finetune config: train: must be an object of training settings/);
  const old = resolveFinetuneConfig('default', read('finetune-default-until-2026-12-05.json'));
  assert.deepEqual([old.train.steps, old.train.learningRate, old.normalise, old.modelCondDropout], [2400, 2e-5, 'none', 0]);
  const dropped = resolveFinetuneConfig('default', read('finetune-dropped-prompts-until-2026-12-05.json'));
  assert.deepEqual([dropped.train.learningRate, dropped.normalise, dropped.modelCondDropout], [2e-5, 'none', null]);
});

test('modelCondDropout: the model-generated examples keep their prompts at 0 while D_pre keeps its own dropout; same draws otherwise', async () => {
  const { model, batch, x0, cond } = await tinyModelAndBatch({}, 3);
  tf.dispose([x0, cond.context, cond.mask]);
  const seen: string[][] = [];
  const encode = model.encodePrompts.bind(model);
  model.encodePrompts = (prompts: readonly string[]) => {
    seen.push([...prompts]);
    return encode(prompts);
  };
  const modelBatch = batch.slice(0, 2).map((b, i) => ({ ...b, id: String(i), weight: 1, from: 'labels' as const }));
  const step = (opts: { condDropout: number; modelCondDropout?: number }) => {
    const opt = adam(0);
    const v = finetuneStep(model, opt, modelBatch, batch.slice(2), 1, new Rng(5), opts);
    opt.dispose();
    return { v, prompts: seen.at(-1)! };
  };
  const all = step({ condDropout: 1 });
  assert.deepEqual(all.prompts, ['', '', '', ''], 'condDropout 1 drops every prompt');
  const kept = step({ condDropout: 1, modelCondDropout: 0 });
  assert.deepEqual(kept.prompts, [batch[0].caption, batch[1].caption, '', '']);
  assert.notEqual(kept.v, all.v);
  const none = step({ condDropout: 0 });
  assert.deepEqual(none.prompts, batch.map((b) => b.caption));
  // The dropout draws do not shift the timesteps and noise: with no prompt dropped either way, the loss is the same.
  assert.equal(step({ condDropout: 0, modelCondDropout: 0 }).v, none.v);
  assert.equal(resolveFinetuneConfig('default').modelCondDropout, 0);
  assert.equal(resolveFinetuneConfig('quick').modelCondDropout, 0);
  assert.equal(resolveFinetuneConfig('default', { modelCondDropout: null }).modelCondDropout, null);
  assert.throws(() => resolveFinetuneConfig('default', { modelCondDropout: 2 }), /finetune config: modelCondDropout: /);
  model.dispose({ clip: true });
});

test('trainTextEncoder: the text encoder learns only when asked; leak-free, resumed bit for bit, sampled with its moving average', async () => {
  const base = await tinyBase();
  const data = labelledDataset(10);
  const cfg = resolveFinetuneConfig('quick', { ...TINY, weights: 'labels', evalEvery: 0, trainTextEncoder: true });
  const dirs = [0, 1, 2].map((i) => removedAtExit(`t2i-ft-text${i}-`));
  const before = tf.memory().numTensors;
  await finetune({ model: base, data: [data], out: dirs[0] }, cfg, { progress: false });
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  await finetune({ model: base, data: [data], out: dirs[1] }, cfg, { progress: false, maxUpdates: 2 });
  await finetune({ model: base, data: [data], out: dirs[1] }, cfg, { progress: false });
  const sha = (d: string) => readCheckpointIndex(path.join(d, 'diffusion')).sha256;
  assert.equal(sha(dirs[1]), sha(dirs[0]), 'resumed bit for bit');
  await finetune({ model: base, data: [data], out: dirs[2] }, { ...cfg, trainTextEncoder: false }, { progress: false });
  const text = async (dir: string, weights?: 'trained') => {
    const { model } = await loadTextToImage(path.join(dir, 'diffusion'), { weights });
    const values = Object.entries(model.variables).filter(([k]) => k.startsWith('text/')).map(([, v]) => Array.from(v.dataSync()));
    model.dispose({ clip: true });
    return values;
  };
  const original = await text(base);
  assert.deepEqual(await text(dirs[2]), original, 'the UNet alone: text weights as the base model\'s');
  assert.deepEqual(await text(dirs[2], 'trained'), original);
  const largest = (a: number[][], b: number[][]) => Math.max(...a.flatMap((xs, i) => xs.map((x, j) => Math.abs(x - b[i][j]))));
  const trained = await text(dirs[0], 'trained');
  assert.ok(largest(trained, original) > 1e-3, `trained: text weights moved by ${largest(trained, original)}`);
  const averaged = await text(dirs[0]);
  assert.ok(largest(averaged, original) > 1e-4 && largest(averaged, trained) > 1e-4, 'sampling reads the text weights\' moving average, between the two');
  await assert.rejects(finetune({ model: base, data: [data], out: dirs[0] }, { ...cfg, trainTextEncoder: false }, { progress: false }), /config\.trainTextEncoder was true, now false/);
  // timestepWeighting reaches the updates: the tiny base trains with plain weights, so 'min-snr' changes them.
  const minSnr = removedAtExit('t2i-ft-snr-');
  await finetune({ model: base, data: [data], out: minSnr }, { ...cfg, trainTextEncoder: false, timestepWeighting: 'min-snr' }, { progress: false });
  assert.notEqual(sha(minSnr), sha(dirs[2]));
});

test('modelData: weights all 0 are refused in every mode and normalisation (the run would be the pretraining term alone)', async () => {
  await initTestBackend();
  const dir = smallDataset(6);
  const store = LabelStore.open(path.join(dir, 'labels.sqlite'));
  for (const r of readManifest(dir)) store.add({ imageId: r.id, rater: 'r0', raterKind: 'simulated', label: 'bad' });
  store.close();
  for (const weights of ['labels', 'threshold'] as const) {
    for (const normalise of ['none', 'mean'] as const) {
      assert.throws(() => modelData({ data: [dir], unlabelled: [] }, { weights, threshold: 0.5, normalise }), new RegExp(`no model-generated image has a weight above 0 \\(weights: ${weights}, `));
    }
  }
  assert.throws(() => modelData({ data: [dir], unlabelled: [] }, { weights: 'labels', threshold: 0.5, normalise: 'none' }), /every labelled image is bad to all its raters.*label more images, or use --weights reward/);
  // A dataset with no images at all is named as such (it was blamed on the weights: "the reward model scores every image 0").
  const empty = removedAtExit('t2i-ft-empty-');
  Dataset.create(empty);
  LabelStore.open(path.join(empty, 'labels.sqlite')).close();
  assert.throws(() => modelData({ data: [empty], unlabelled: [] }, { weights: 'labels', threshold: 0.5, normalise: 'none' }), (e: Error) => e.message.startsWith(`no model-generated images in ${empty} (its manifest is empty)`));
});

test('modelData: label shares, threshold keeps good images only, mean normalisation; no reward model is a clear error', async () => {
  await initTestBackend();
  const dir = labelledDataset(12, 'flip=0,skip=0,leniency=0x3');
  const labels = modelData({ data: [dir], unlabelled: [] }, { weights: 'labels', threshold: 0.5, normalise: 'none' });
  assert.equal(labels.examples.length, 12);
  assert.ok(labels.examples.every((e) => e.weight === 0 || e.weight === 1) && labels.examples.some((e) => e.weight === 1));
  // The panel never errs: the weight is 1 exactly on the images the judge calls aligned (every third image of
  // smallDataset shows another shape), so all the weight sits on aligned images and some images get none.
  assert.ok(labels.examples.some((e) => e.weight === 0));
  assert.equal(labels.summary.audit[0].weightOnAligned, 1);
  assert.equal(labels.summary.audit[0].aligned, labels.examples.filter((e) => e.weight === 1).length / 12);
  const sft = modelData({ data: [dir], unlabelled: [] }, { weights: 'threshold', threshold: 0.5, normalise: 'none' });
  assert.equal(sft.examples.length, labels.examples.filter((e) => e.weight === 1).length);
  assert.equal(sft.summary.audit[0].images, 12, 'images the threshold leaves out count in the audit, with weight 0');
  const norm = modelData({ data: [dir], unlabelled: [] }, { weights: 'labels', threshold: 0.5, normalise: 'mean' });
  close(norm.summary.weight.mean, 1);
  assert.equal(norm.summary.audit[0].group, 'all');
  assert.equal(norm.summary.audit[0].images, 12, 'the audit covers every weighted image');
  assert.throws(() => modelData({ data: [dir], unlabelled: [] }, { weights: 'reward', threshold: 0.5, normalise: 'none' }), /--weights reward needs a reward model: --reward DIR/);
  assert.throws(() => modelData({ data: [smallDataset(2)], unlabelled: [] }, { weights: 'labels', threshold: 0.5, normalise: 'none' }), /has no labels .* no reward model was given/);
  // A folder named twice, by any path to it, would weigh its images double.
  assert.throws(() => modelData({ data: [dir, path.join(dir, '.')], unlabelled: [] }, { weights: 'labels', threshold: 0.5, normalise: 'none' }), /is given twice \(--data twice\): each dataset counts once/);
  assert.throws(() => modelData({ data: [dir], unlabelled: [dir + '/'] }, { weights: 'labels', threshold: 0.5, normalise: 'none' }), /is given twice \(--data and --unlabelled\)/);
  const frozen = tinyFrozenClip(1);
  const reward = new RewardModel({ hidden: [8], inputs: 'product', embedDim: frozen.clip.config.embedDim }, new TextEmbeddings(frozen), 0);
  const scored = modelData({ data: [], unlabelled: [smallDataset(5)] }, { weights: 'reward', threshold: 0.5, normalise: 'none' }, { model: reward, frozen });
  assert.equal(scored.examples.length, 5);
  assert.ok(scored.examples.every((e) => e.from === 'reward' && e.weight > 0 && e.weight < 1));
  // Each image's weight is the reward of that image with its own prompt (scored here one by one, apart from the cache).
  for (const e of scored.examples) {
    const want = reward.score(embedImages(frozen.clip, [e.image as ImageLike]), [e.caption])[0];
    assert.ok(Math.abs(e.weight - want) < 1e-5, `${e.id}: weight ${e.weight}, its reward ${want}`);
  }
  assert.ok(new Set(scored.examples.map((e) => e.weight.toFixed(6))).size > 1, 'the weights are not all one value');
  // A reward that is not a number is refused where it arises (a threshold read it as 0, a mean as NaN).
  const nan = { score: (_e: unknown, prompts: string[]) => prompts.map(() => NaN) } as unknown as RewardModel;
  for (const weights of ['reward', 'threshold'] as const) {
    assert.throws(() => modelData({ data: [], unlabelled: [smallDataset(3)] }, { weights, threshold: 0.5, normalise: 'none' }, { model: nan, frozen }), /the reward model scored image .* NaN, not a finite number/);
  }
  reward.dispose();
  frozen.clip.dispose();
});

test('weightAudit: per category and for several objects, the aligned share and the share of the weight on aligned images', () => {
  const items = [
    { attributes: parsePrompt('a red circle'), weight: 0.9, aligned: true },
    { attributes: parsePrompt('a red circle'), weight: 0.1, aligned: false },
    { attributes: parsePrompt('two circles'), weight: 0.5, aligned: true },
    { attributes: parsePrompt('two circles'), weight: 0.5, aligned: false },
    { attributes: parsePrompt('two circles'), weight: 1, aligned: false },
    { attributes: parsePrompt('three red circles'), weight: 0, aligned: false },
  ];
  const rows = Object.fromEntries(weightAudit(items).map((r) => [r.group, r]));
  assert.deepEqual(Object.keys(rows), ['all', 'count', 'color', 'combination', 'several'], 'no row for a category without images');
  assert.deepEqual(rows.color, { group: 'color', images: 2, aligned: 0.5, weightOnAligned: 0.9 });
  assert.equal(rows.count.images, 3);
  close(rows.count.aligned, 1 / 3);
  close(rows.count.weightOnAligned, 0.25);
  close(rows.several.weightOnAligned, 0.25);
  assert.equal(rows.several.images, 4);
  close(rows.all.weightOnAligned, 1.4 / 3);
  assert.ok(Number.isNaN(rows.combination.weightOnAligned), 'all weights 0: no share');
});

test('finetune resumed: a step judged after the last checkpoint is judged once; a changed label is refused, naming it', async () => {
  const base = await tinyBase();
  const data = labelledDataset(10);
  // Judged every update, checkpointed every second: stopped after update 3, the point of step 3 outlives its checkpoint.
  const cfg = resolveFinetuneConfig('quick', { ...TINY, weights: 'labels', evalEvery: 1 });
  const whole = removedAtExit('t2i-ft-pa-');
  const cut = removedAtExit('t2i-ft-pb-');
  await finetune({ model: base, data: [data], out: whole }, cfg, { progress: false });
  await finetune({ model: base, data: [data], out: cut }, cfg, { progress: false, maxUpdates: 3 });
  const steps = (d: string) => fs.readFileSync(path.join(d, 'progress.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.deepEqual(steps(cut), [0, 1, 2, 3]);
  // A point cut short as it was appended (a kill, a full disk): dropped and judged again (the resume failed on it, unnamed).
  fs.appendFileSync(path.join(cut, 'progress.jsonl'), '{"step":4,"accuracy":{"all":0.');
  // Two runs into one folder at once: the second is refused (both appended every point), and the first goes on.
  const both = await Promise.allSettled([0, 1].map(() => finetune({ model: base, data: [data], out: cut }, cfg, { progress: false })));
  assert.equal(both.filter((r) => r.status === 'fulfilled').length, 1);
  assert.match(((both.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason as Error).message, /another finetune \(pid \d+, this one\) is running in/);
  assert.ok(!fs.existsSync(path.join(cut, '.finetune.lock')), 'the lock goes with its run');
  assert.deepEqual(steps(cut), [0, 1, 2, 3, 4]);
  assert.equal(fs.readFileSync(path.join(cut, 'progress.jsonl'), 'utf8'), fs.readFileSync(path.join(whole, 'progress.jsonl'), 'utf8'));
  // The run and its inputs copied elsewhere resume there: inputs are known by their hashes, and the record then
  // names where they are now (it was refused: "inputs.model.dir was ..., now ...", with the same settings).
  // A dataset is taken for the recorded one only where that folder is gone (a manifest names images by seed, not by
  // their bytes: a folder beside it may hold another generator's images under the same manifest).
  const away = removedAtExit('t2i-ft-moved-');
  for (const [from, to] of [[base, 'base'], [data, 'data'], [cut, 'run']]) fs.cpSync(from, path.join(away, to), { recursive: true });
  const resumeAway = () => finetune({ model: path.join(away, 'base'), data: [path.join(away, 'data')], out: path.join(away, 'run') }, cfg, { progress: false });
  await assert.rejects(resumeAway(), /other settings or inputs \(inputs\.datasets\[0\]\.dir was /);
  fs.renameSync(data, `${data}.gone`);
  try {
    assert.equal((await resumeAway()).step, 4, 'resumed (already done)');
  } finally {
    fs.renameSync(`${data}.gone`, data);
  }
  const movedRecord = JSON.parse(fs.readFileSync(path.join(away, 'run', 'finetune.json'), 'utf8'));
  assert.deepEqual([movedRecord.inputs.model.dir, movedRecord.inputs.datasets[0].dir], [path.join(away, 'base', 'diffusion'), path.join(away, 'data')]);
  // One more rater's label on an image that had labels: as many labelled images, another weight.
  const first = labelledImages(data)[0];
  const store = LabelStore.open(path.join(data, 'labels.sqlite'));
  store.add({ imageId: first.record.id, rater: 'late', raterKind: 'human', label: goodShare(first.labels) > 0 ? 'bad' : 'good' });
  store.close();
  const before = fs.readFileSync(path.join(cut, 'finetune.json'), 'utf8');
  await assert.rejects(finetune({ model: base, data: [data], out: cut }, cfg, { progress: false }), /other settings or inputs \(inputs\.datasets\[0\]\.labelsSha256 was "[0-9a-f]{64}", now "[0-9a-f]{64}"\)/);
  assert.equal(fs.readFileSync(path.join(cut, 'finetune.json'), 'utf8'), before, 'nothing rewritten');
  // A record made before the hash was kept resumes (checked on the rest).
  const record = JSON.parse(before);
  delete record.inputs.datasets[0].labelsSha256;
  fs.writeFileSync(path.join(cut, 'finetune.json'), JSON.stringify(record));
  assert.equal((await finetune({ model: base, data: [data], out: cut }, cfg, { progress: false })).step, 4, 'resumed (already done)');
});

test('finetune: leak-free; an interrupted and resumed run ends with the weights of an uninterrupted one; progress judged', async () => {
  const base = await tinyBase();
  const data = labelledDataset(10);
  const cfg = resolveFinetuneConfig('quick', { ...TINY, weights: 'labels' });
  const outA = removedAtExit('t2i-ft-a-');
  const outB = removedAtExit('t2i-ft-b-');
  const before = tf.memory().numTensors;
  const a = await finetune({ model: base, data: [data], out: outA }, cfg, { progress: false });
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  assert.deepEqual(a.progress.map((p) => p.step), [0, 2, 4]);
  await finetune({ model: base, data: [data], out: outB }, cfg, { progress: false, maxUpdates: 2 });
  const b = await finetune({ model: base, data: [data], out: outB }, cfg, { progress: false });
  assert.deepEqual([b.startStep, b.step], [2, 4], 'resumed at the checkpoint');
  const saved = JSON.parse(fs.readFileSync(path.join(outB, 'weights.json'), 'utf8'));
  assert.equal(saved.audit[0].group, 'all');
  assert.equal(saved.examples, b.data.examples);
  const sha = (d: string) => readCheckpointIndex(path.join(d, 'diffusion')).sha256;
  assert.equal(sha(outB), sha(outA), 'weights, moving average and optimizer state bit for bit');
  // Checkpoints written at another interval change no number: a resume with another checkpointEvery is taken (a sweep
  // run begun before its interval changed was refused) and ends on the same weights.
  const outC = removedAtExit('t2i-ft-c-');
  await finetune({ model: base, data: [data], out: outC }, cfg, { progress: false, maxUpdates: 2 });
  const every1 = resolveFinetuneConfig('quick', { ...TINY, weights: 'labels', train: { ...TINY.train, checkpointEvery: 1 } });
  const c = await finetune({ model: base, data: [data], out: outC }, every1, { progress: false });
  assert.deepEqual([c.startStep, c.step], [2, 4], 'resumed at the checkpoint, not begun again');
  assert.equal(sha(outC), sha(outA), 'the same weights with checkpoints every update');
  const mtimes = (d: string) => ['finetune.json', 'weights.json'].map((f) => fs.statSync(path.join(d, f)).mtimeMs);
  const written = mtimes(outB);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal((await finetune({ model: base, data: [data], out: outB }, cfg, { progress: false })).step, 4, 'a finished run asked again');
  assert.deepEqual(mtimes(outB), written, 'a finished run\'s record and weight audit are not written again');
  assert.deepEqual(fs.readFileSync(path.join(outB, 'progress.jsonl'), 'utf8'), fs.readFileSync(path.join(outA, 'progress.jsonl'), 'utf8'));
  await assert.rejects(finetune({ model: base, data: [data], out: outA }, resolveFinetuneConfig('quick', { ...TINY, weights: 'labels', beta: 2 }), { progress: false }), /other settings or inputs \(config\.beta was 1, now 2\)/);
  // The progress judge samples at the model's own scale, or at evalGuidance; a run begun before that key resumes.
  const ownScale = JSON.parse(fs.readFileSync(path.join(base, 'diffusion', 'checkpoint.json'), 'utf8')).meta.config.sampler.guidanceScale;
  assert.deepEqual(a.progress.map((p) => p.guidance), [ownScale, ownScale, ownScale]);
  await assert.rejects(finetune({ model: base, data: [data], out: outA }, resolveFinetuneConfig('quick', { ...TINY, weights: 'labels', evalGuidance: 2.5 }), { progress: false }), /config\.evalGuidance was null, now 2\.5/);
  const record = path.join(outA, 'finetune.json');
  const old = JSON.parse(fs.readFileSync(record, 'utf8'));
  delete old.config.evalGuidance;
  fs.writeFileSync(record, JSON.stringify(old));
  assert.equal((await finetune({ model: base, data: [data], out: outA }, cfg, { progress: false })).step, 4, 'resumed (already done)');
  const outG = removedAtExit('t2i-ft-g-');
  const g = await finetune({ model: base, data: [data], out: outG }, resolveFinetuneConfig('quick', { ...TINY, weights: 'labels', evalGuidance: 2.5, train: { ...TINY.train, steps: 2 } }), { progress: false });
  assert.deepEqual(g.progress.map((p) => p.guidance), [2.5, 2.5]);
  assert.notEqual(ownScale, 2.5);
  // What the sampler is asked for: the scale the point records.
  const scales: number[] = [];
  const spy: typeof generateImages = async (m, prompts, o) => (scales.push(o.guidanceScale!), generateImages(m, prompts, o));
  const loaded = await loadTextToImage(path.join(base, 'diffusion'));
  const sampler = { steps: 2, guidanceScale: ownScale, spacing: 'trailing' as const, eta: 0, clipSample: true };
  const p1 = await progressEval(loaded.model, sampler, resolveFinetuneConfig('quick', { ...TINY, evalGuidance: 2.5 }), 0, spy);
  const p2 = await progressEval(loaded.model, sampler, resolveFinetuneConfig('quick', TINY), 0, spy);
  assert.deepEqual([p1.guidance, p2.guidance, ...scales], [2.5, ownScale, 2.5, ownScale]);
  loaded.model.dispose({ clip: true });
  // Paired comparison with the base on the same prompts and image seeds; a second fine-tuning seed (outB is outA's model again).
  const outS = removedAtExit('t2i-ft-s1-');
  await finetune({ model: base, data: [data], out: outS }, resolveFinetuneConfig('quick', { ...TINY, weights: 'labels', seed: 1 }), { progress: false });
  await assert.rejects(compareWithBase(base, [outA, outB], seenPrompts({ perCategory: { count: 1 } }), 1, 0), /hold the same weights \(a copy\?\)/);
  const cmp = await compareWithBase(base, [outA, outS], seenPrompts({ perCategory: { count: 1, color: 1, background: 1, combination: 1 } }), 1, 0);
  assert.deepEqual(cmp.effects.map((e) => e.category), ['all', 'count', 'color', 'background', 'combination']);
  assert.equal(cmp.effects[0].diff.mean, cmp.runs[0].cells.all.rate - cmp.base.all.rate);
  assert.match(comparisonTable(cmp), /\| all \| /);
  // Per prompt: every image counted once, the same verdicts as the categories, and where objects were drawn.
  assert.deepEqual(cmp.byPrompt.map((p) => p.category), ['count', 'color', 'background', 'combination']);
  for (const cells of [cmp.byPrompt.map((p) => p.base), ...cmp.runs.map((_, r) => cmp.byPrompt.map((p) => p.runs[r]))]) {
    assert.ok(cells.every((x) => x.n === 1 && x.k <= x.n && x.drawn.length === 6 && x.drawn.reduce((a, v) => a + v, 0) === x.n));
  }
  assert.equal(cmp.byPrompt.reduce((a, p) => a + p.base.k, 0), cmp.base.all.k);
  const countRow = drawnCountTable(cmp).split('\n')[2];
  const asked = parsePrompt(cmp.byPrompt[0].prompt).count ?? 1;
  const b0 = cmp.byPrompt[0].base, r0 = cmp.byPrompt[0].runs[0], r1 = cmp.byPrompt[0].runs[1];
  assert.ok(countRow.startsWith(`| ${cmp.byPrompt[0].prompt} | ${b0.k}/1 | ${b0.drawn[asked]}/1 | ${b0.drawn.join(' / ')} | `), countRow);
  const summed = r0.drawn.map((v, i) => v + r1.drawn[i]).join(' / ');
  assert.ok(countRow.endsWith(`| ${r0.k + r1.k}/2 | ${r0.drawn[asked] + r1.drawn[asked]}/2 | ${summed} |`), `fine-tuned cells are summed over runs: ${countRow}`);
  assert.equal(drawnCountTable({ ...cmp, byPrompt: cmp.byPrompt.filter((p) => p.category !== 'count') }), '', 'no count prompt, no table');
  // --categories: a prompt keeps its place in the whole set, so it gets the same image seeds as in a full run.
  const whole = finetuneEvalPrompts('seen', 2, 0);
  assert.deepEqual(whole.map((p) => p.seedIndex), whole.map((_, i) => i));
  const colors = finetuneEvalPrompts('seen', 2, 0, ['color']);
  assert.equal(colors.length, 2);
  assert.ok(colors.every((p) => p.category === 'color' && p.seedIndex! > 0 && whole[p.seedIndex!].prompt === p.prompt), JSON.stringify(colors));
  const counted = await runCli('eval-finetune', '--base', base, '--runs', outA, '--categories', 'count', '--prompts-per-category', '1', '--per-prompt', '1', '--steps', '2');
  assert.match(counted, /^\| count \| /m);
  assert.doesNotMatch(counted, /^\| color \| /m);
  assert.match(counted, /Count prompts: images aligned/);
  assert.deepEqual(cmp.sampler, {});
  // Several settings against one judging of the base: each setting's row is what compareWithBase gives it alone.
  const judgedModels: string[] = [];
  const settings = [{ name: 'a', runs: [outA] }, { name: 'a-and-b', runs: [outA, outS] }, { name: 'mix', runs: [`${outS}/`, outA] }];
  const both = await compareSettings(base, settings, seenPrompts({ perCategory: { count: 1, color: 1, background: 1, combination: 1 } }), 1, { onModel: (d) => judgedModels.push(d) });
  assert.deepEqual(judgedModels, [base, outA, outS], 'each model judged once, however often and however spelt it is named');
  await assert.rejects(compareSettings(base, [{ name: 'self', runs: [`${base}/`] }], seenPrompts({ perCategory: { count: 1, color: 0, background: 0, combination: 0 } }), 1), /setting "self": .* holds the base model's own weights/);
  assert.deepEqual(both.settings.map((x) => x.name), ['a', 'a-and-b', 'mix']);
  const mix = both.settings[2];
  assert.deepEqual(mix.runs.map((r) => r.dir), [`${outS}/`, outA]);
  mix.byPrompt.forEach((p, i) => {
    assert.equal(p.runs[0], both.settings[1].byPrompt[i].runs[1], "each run's verdicts are its own model's: S's");
    assert.equal(p.runs[1], both.settings[0].byPrompt[i].runs[0], "and A's");
  });
  const { name: _name, ...second } = both.settings[1];
  assert.deepEqual(second, cmp, 'the same comparison as compareWithBase of those runs');
  assert.deepEqual(both.base, cmp.base);
  const rows = settingsTable(both).split('\n');
  assert.equal(rows.length, 5);
  assert.ok(rows[2].startsWith(`| a | ${(100 * both.settings[0].runs[0].cells.all.rate).toFixed(1)} | `) && !rows[2].includes('['), `one seed: no interval: ${rows[2]}`);
  assert.match(rows[3], /^\| a-and-b \| [\d.]+, [\d.]+ \| [+-][\d.]+ \[/);
  const groupsJson = path.join(removedAtExit('t2i-ft-grp-'), 'new', 'groups.json'); // --out makes its folder
  const grouped = await runCli('eval-finetune', '--base', base, '--group', `one=${outA}`, '--group', `two=${outA},${outS}`, '--categories', 'color', '--prompts-per-category', '1', '--per-prompt', '1', '--steps', '2', '--out', groupsJson);
  assert.match(grouped, /^\| one \| /m);
  assert.match(grouped, /^\| two \| /m);
  assert.match(grouped, /^## two$/m);
  assert.deepEqual(JSON.parse(fs.readFileSync(groupsJson, 'utf8')).settings.map((x: { name: string }) => x.name), ['one', 'two']);
  // A fine-tuned model fine-tuned again draws D_pre from its base's corpus, not the defaults.
  assert.deepEqual(recordedCorpusOf(outA), recordedCorpusOf(base));
  assert.equal(recordedCorpusOf(outA)?.size, 48);
  // ... also when --model names its checkpoint folder (RUN/diffusion): it took the default corpus (2,000 images).
  assert.deepEqual(recordedCorpusOf(path.join(outA, 'diffusion')), recordedCorpusOf(base));
  const bare = removedAtExit('t2i-ft-bare-');
  fs.cpSync(path.join(outA, 'diffusion'), path.join(bare, 'diffusion'), { recursive: true });
  assert.equal(recordedCorpusOf(path.join(bare, 'diffusion')), null, 'a checkpoint that records no corpus: none, not a guess');
  // A setting's runs are one recipe's seeds, each fine-tuned from the base it is compared with.
  const outBeta = removedAtExit('t2i-ft-beta-');
  await finetune({ model: base, data: [data], out: outBeta }, resolveFinetuneConfig('quick', { ...TINY, weights: 'labels', seed: 1, beta: 2 }), { progress: false });
  assert.throws(() => checkSettings(base, [{ name: 'x', runs: [outA, outBeta] }]), /setting "x": .* differ in more than the seed \(config\.beta: 1 in the first, 2 in the second\)/);
  const otherBase = await tinyModelFolder('t2i-ft-base2-', { randomizeSeed: 4 });
  assert.throws(() => checkSettings(otherBase, [{ name: 'x', runs: [outA] }]), /was fine-tuned from .*, not from the base it is compared with/);
  assert.throws(() => checkSettings(base, [{ name: 'x', runs: [base] }]), /setting "x": .* holds the base model's own weights \(the base, or a copy of it\)/);
  const one = await compareWithBase(base, [outA], seenPrompts({ perCategory: { count: 1, color: 0, background: 0, combination: 0 } }), 1, 0, undefined, { guidanceScale: 2.5, steps: 2 });
  assert.deepEqual(one.sampler, { guidanceScale: 2.5, steps: 2 }, 'the sampler both sides used is recorded');
  assert.ok(one.effects.every((e) => e.p === null), 'one run: no sign-flip p');
  assert.ok(cmp.effects.every((e) => e.p !== null && e.p >= 0.5), 'two runs: an exact p, at least 2/4');
  assert.match(comparisonTable(one), /\| all \|.*\| - \|$/m);
  // Read back from its JSON (--out; scripts/finetune-table.ts), where NaN is null: no bound is still '-', not 0.0.
  const oneBack = JSON.parse(JSON.stringify(one));
  assert.equal(oneBack.effects[0].diff.lo, null);
  assert.equal(comparisonTable(oneBack), comparisonTable(one));
  assert.match(comparisonTable(oneBack), /\| all \| [^|]+ \| [^|]+ \| [^|]+ \| [+-][\d.]+ \[-, -\] \|/m);
  // The output is a model generate/eval-base accept.
  const said = await runCli('generate', '--model', outA, '--prompts', writePrompts(), '--out', path.join(outA, 'samples'));
  assert.match(said, /1 images written/);
  assert.equal(readManifest(path.join(outA, 'samples')).length, 1);
});

function writePrompts(): string {
  const f = path.join(removedAtExit('t2i-ft-p-'), 'p.txt');
  fs.writeFileSync(f, 'a red circle\n');
  return f;
}

test('t2i-align finetune: images without labels and no reward model to weigh them are named as left out, not dropped silently', async () => {
  const base = await tinyBase();
  const data = labelledDataset(10);
  // Take back every rater's latest label: the images they were on now have none.
  const store = LabelStore.open(path.join(data, 'labels.sqlite'));
  const raters = [...new Set(store.current().map((r) => r.rater))];
  for (const r of raters) store.undo(r);
  const unlabelled = readManifest(data).length - labelledImages(data).length;
  store.close();
  assert.ok(unlabelled > 0);
  const config = path.join(removedAtExit('t2i-ft-cfg-'), 'tiny.json');
  fs.writeFileSync(config, JSON.stringify({ ...TINY, evalEvery: 0 }));
  const said = await runCli('finetune', '--model', base, '--data', data, '--weights', 'labels', '--config', config, '--out', path.join(removedAtExit('t2i-ft-left-'), 'out'));
  assert.match(said, new RegExp(`: ${unlabelled} of its ${readManifest(data).length} images have no labels and no reward model weighs them \\(--reward DIR\\): left out of D_model`));
});

test('t2i-align finetune: bad input is one clear line and writes nothing', async () => {
  const base = await tinyBase();
  const out = path.join(removedAtExit('t2i-ft-bad-'), 'out');
  const unlabelled = smallDataset(3);
  await assert.rejects(runCli('finetune', '--model', base, '--data', unlabelled, '--weights', 'labels', '--out', out), /has no labels .* no reward model was given/);
  await assert.rejects(runCli('finetune', '--model', base, '--data', unlabelled, '--out', out), /--weights reward needs a reward model/);
  await assert.rejects(runCli('finetune', '--model', base, '--data', unlabelled, '--weights', 'best', '--out', out), /--weights must be one of reward, labels, threshold/);
  await assert.rejects(runCli('finetune', '--model', base, '--data', unlabelled, '--weights', 'labels', '--threshold', '0.3', '--out', out), /--threshold applies to --weights threshold only \(these weights are labels/);
  await assert.rejects(runCli('finetune', '--model', base, '--data', unlabelled, '--beta', '-1', '--out', out), /--beta must be a number in 0\.\.1000/);
  const bad = path.join(path.dirname(out), 'bad.json');
  fs.writeFileSync(bad, JSON.stringify({ betta: 1 }));
  await assert.rejects(runCli('finetune', '--model', base, '--data', unlabelled, '--weights', 'labels', '--config', bad, '--out', out), /finetune config: .*betta/);
  await assert.rejects(runCli('finetune', '--model', base, '--data', unlabelled, '--normalise', 'max', '--out', out), /--normalise must be one of none, mean/);
  await assert.rejects(runCli('finetune', '--model', base, '--data', unlabelled, '--weights', 'labels', '--eval-guidance', 'high', '--out', out), /--eval-guidance must be a number in 0\.\.100, got "high"/);
  // A beta with no D_pre in the batch would be ignored: refused, naming both keys.
  fs.writeFileSync(bad, JSON.stringify({ modelFraction: 1 }));
  await assert.rejects(runCli('finetune', '--model', base, '--data', unlabelled, '--weights', 'labels', '--config', bad, '--out', out), /finetune config: beta 1 weighs the pretraining loss, but modelFraction 1 of train\.batchSize 32 leaves no D_pre example in a batch .*give beta 0, or a smaller modelFraction/);
  assert.equal(resolveFinetuneConfig('default', { modelFraction: 1, beta: 0 }).beta, 0);
  await assert.rejects(runCli('finetune', '--model', base, '--data', unlabelled, '--weights', 'threshold', '--threshold', '1.5', '--out', out), /--threshold must be a number in 0\.\.1, got "1\.5"/);
  fs.writeFileSync(bad, JSON.stringify({ evalGuidance: -2 }));
  await assert.rejects(runCli('finetune', '--model', base, '--data', unlabelled, '--weights', 'labels', '--config', bad, '--out', out), /finetune config: evalGuidance: /);
  await assert.rejects(runCli('finetune', '--model', base, '--data', unlabelled, '--config', '/nope.json', '--out', out), /--config \/nope\.json: /);
  fs.writeFileSync(bad, 'null');
  await assert.rejects(runCli('finetune', '--model', base, '--data', unlabelled, '--config', bad, '--out', out), /--config .*bad\.json: must be a JSON object of settings, got null/);
  fs.writeFileSync(bad, '[1]');
  await assert.rejects(runCli('finetune', '--model', base, '--data', unlabelled, '--config', bad, '--out', out), /must be a JSON object of settings, got an array/);
  // A train that is no object is the config's error, with or without --steps (it was read as the default settings).
  for (const train of [5, null, 'abc', [1]]) {
    fs.writeFileSync(bad, JSON.stringify({ train }));
    for (const steps of [[], ['--steps', '3']]) {
      await assert.rejects(runCli('finetune', '--model', base, '--data', unlabelled, '--weights', 'labels', '--config', bad, ...steps, '--out', out), new RegExp(`finetune config: train: must be an object of training settings, got ${JSON.stringify(train).replace(/[[\]]/g, '\\$&')}`));
    }
  }
  // An --out that holds something else (here a model) is refused before anything is written into it.
  const before = fs.readdirSync(base).sort();
  await assert.rejects(runCli('finetune', '--model', base, '--data', labelledDataset(3), '--weights', 'labels', '--out', base), /--out .* holds files but no fine-tuning run \(finetune\.json\): give a new or empty folder/);
  assert.deepEqual(fs.readdirSync(base).sort(), before);
  // ... and before the datasets are read: scoring them with a reward model would cache embeddings in their folders.
  const scoredData = smallDataset(2);
  const listing = fs.readdirSync(scoredData).sort();
  const occupied = removedAtExit('t2i-ft-occupied-');
  fs.writeFileSync(path.join(occupied, 'notes.txt'), 'mine\n');
  await assert.rejects(runCli('finetune', '--model', base, '--data', scoredData, '--reward', REWARD_MODEL_DIR, '--out', occupied), /--out .* holds files but no fine-tuning run \(finetune\.json\): give a new or empty folder/);
  assert.deepEqual(fs.readdirSync(scoredData).sort(), listing);
  fs.writeFileSync(bad, JSON.stringify({ modelTimesteps: [900, 800] }));
  await assert.rejects(runCli('finetune', '--model', base, '--data', unlabelled, '--weights', 'labels', '--config', bad, '--out', out), /finetune config: modelTimesteps: \[lo, hi\] needs lo <= hi/);
  const labelled = labelledDataset(3);
  fs.writeFileSync(bad, JSON.stringify({ modelTimesteps: [50, 100] })); // the tiny base has 100 timesteps: 0..99
  await assert.rejects(runCli('finetune', '--model', base, '--data', labelled, '--weights', 'labels', '--config', bad, '--out', out), /modelTimesteps \[50, 100\]: the base model's timesteps run 0\.\.99/);
  await assert.rejects(runCli('eval-finetune', '--runs', out, '--prompts', 'all'), /--prompts must be seen or unseen/);
  await assert.rejects(runCli('eval-finetune', '--runs', out, '--per-prompt', '0'), /--per-prompt must be an integer in 1\.\.10000/);
  await assert.rejects(runCli('eval-finetune', '--runs', out, '--categories', 'count,shape'), /--categories must be comma-separated names from count, color, background, combination \(each once\), got "count,shape"/);
  await assert.rejects(runCli('eval-finetune', '--runs', out, '--categories', 'count,count'), /--categories must be/);
  await assert.rejects(runCli('eval-finetune', '--runs', out, '--guidance', '-1'), /--guidance must be a number in 0\.\.100, got "-1"/);
  await assert.rejects(runCli('eval-finetune'), /nothing to compare: give --runs DIR .* or --group NAME=DIR,DIR/);
  await assert.rejects(runCli('eval-finetune', '--runs', out, '--group', `a=${out}`), /give either --runs .* or --group .*, not both/);
  for (const g of ['=x', ' =x', 'a=', 'a=x,,y', 'nodirs']) await assert.rejects(runCli('eval-finetune', '--group', g), /--group must be NAME=DIR\[,DIR\.\.\.\]/);
  await assert.rejects(runCli('eval-finetune', '--base', base, '--group', `a b=${base}`), /--group "a b=.*": NAME must be 1-40 letters/);
  await assert.rejects(runCli('eval-finetune', '--base', base, '--group', `a=${base}`, '--group', `a=${base}`), /--group a=\.\.\. is given twice/);
  await assert.rejects(runCli('eval-finetune', '--base', base, '--group', `a=${base},${base}/`), /setting "a" names one model twice \(as .* and .*\/\): give each fine-tuning seed's folder once/);
  await assert.rejects(runCli('eval-finetune', '--base', base, '--runs', out), /no diffusion checkpoint in .*out/);
  const judged: string[] = [];
  const onePrompt = seenPrompts({ perCategory: { count: 1, color: 0, background: 0, combination: 0 } });
  await assert.rejects(compareSettings(base, [{ name: 'b', runs: [out] }], onePrompt, 1, { onModel: (d) => judged.push(d) }), /no diffusion checkpoint in .*out/);
  await assert.rejects(compareSettings(base, [{ name: 'a b', runs: [base] }], onePrompt, 1, { onModel: (d) => judged.push(d) }), /setting name "a b": use 1-40 letters/);
  assert.deepEqual(judged, [], 'a bad setting fails before the base is judged');
  assert.equal(fs.existsSync(out), false);
});

test('promptSeedInterval: resamples prompts as well as seeds; seeds that agree on varied prompts still get a wide interval', () => {
  const cell = (k: number, n = 4) => ({ k, n, drawn: [] as number[] });
  // 8 prompts: the base gets 2 of 4 on each; three runs agree exactly with one another on every prompt,
  // gaining 2 on half the prompts and losing 1 on the other half. Over seeds the effect is certain (+12.5 every seed);
  // over prompts it is not.
  const rows = Array.from({ length: 8 }, (_, p) => ({ prompt: `p${p}`, base: cell(2), runs: [0, 1, 2].map(() => cell(p % 2 ? 4 : 1)) }));
  const iv = promptSeedInterval(rows, { resamples: 1000 });
  assert.ok(iv.lo < 0.125 && 0.125 < iv.hi, JSON.stringify(iv));
  assert.ok(iv.hi - iv.lo > 0.2, `width ${iv.hi - iv.lo}`);
  // The same draws in any row order; one prompt gives none.
  assert.deepEqual(promptSeedInterval([...rows].reverse(), { resamples: 1000 }), iv);
  assert.ok(Number.isNaN(promptSeedInterval(rows.slice(0, 1)).lo));
  // No prompt varies, the seeds do (30, 50, 70%): the seed level is a t interval's (df 2), not the seeds' range.
  const spread = Array.from({ length: 10 }, (_, p) => ({ prompt: `s${p}`, runs: [3, 5, 7].map((k) => cell(k, 10)) }));
  const wide = promptSeedInterval(spread);
  assert.ok(wide.lo < 0.15 && wide.hi > 0.85, JSON.stringify(wide)); // t over seeds: [0.003, 0.997]; the seeds' range [0.3, 0.7]
  // Every prompt gains alike on every seed: the interval is that gain.
  const same = Array.from({ length: 6 }, (_, p) => ({ prompt: `q${p}`, base: cell(1), runs: [cell(3), cell(3)] }));
  assert.deepEqual(promptSeedInterval(same, { resamples: 200 }), { lo: 0.5, hi: 0.5 });
});

test('comparisonTable: both intervals, what each covers, and the least p three seeds allow', () => {
  const cells = (rate: number) => Object.fromEntries(['all', 'count', 'color', 'background', 'combination'].map((c) => [c, { k: rate * 8, n: 8, rate, lo: 0, hi: 1 }])) as FinetuneComparison['base'];
  const c = {
    prompts: 2, perPrompt: 4, sampler: {}, base: cells(0.25), runs: [0, 1, 2].map((i) => ({ dir: `r${i}`, cells: cells(0.5) })), byPrompt: [],
    effects: [{ category: 'all' as const, base: 0.25, finetuned: 0.5, diff: { mean: 0.25, lo: 0.25, hi: 0.25, sd: 0 }, p: 0.25, overPrompts: { lo: -0.1, hi: 0.6 } }],
  } as FinetuneComparison;
  const t = comparisonTable(c);
  assert.match(t, /\| all \| 25\.0 \(n=8\) \| 50\.0 \| 50\.0, 50\.0, 50\.0 \| \+25\.0 \[25\.0, 25\.0\] \| \[-10\.0, 60\.0\] \| 0\.250 \|/);
  assert.match(t, /With 3 seeds the exact sign-flip p cannot go below 0\.250/);
  assert.match(t, /also resamples the prompts/);
  // A comparison saved before the interval existed still prints.
  assert.match(comparisonTable({ ...c, effects: [{ ...c.effects[0], overPrompts: undefined as never }] }), /\| \[-, -\] \|/);
});

test('modelData names a dataset whose images are not the models\' size, before reading any label or score', async () => {
  const big = path.join(removedAtExit('t2i-ft-big-'), 'renders');
  const prompts = path.join(path.dirname(big), 'prompts.txt');
  fs.writeFileSync(prompts, 'a red circle\n');
  await runCli('render-set', '--prompts', prompts, '--size', '64', '--out', big);
  assert.throws(() => modelData({ data: [big], unlabelled: [] }, resolveFinetuneConfig('quick', { weights: 'labels' })), /renders: image .* is 64x64; the models take 32x32/);
});

test('firstDifference: a long list of plain values is named by its first differing item or its length (a cut-off list of 48 prompts said nothing)', async () => {
  const { firstDifference } = await import('../../src/finetune/train');
  const prompts = seenPrompts().slice(0, 48).map((p) => p.prompt);
  const other = [...prompts];
  other[30] = 'a red circle';
  assert.equal(firstDifference({ prompts }, { prompts: other }), `prompts[30] was ${JSON.stringify(prompts[30])}, now "a red circle"`);
  assert.equal(firstDifference({ prompts }, { prompts: prompts.slice(0, 40) }), 'prompts had 48 items, now 40');
  // short lists are shown whole, as before; objects item by item
  assert.equal(firstDifference({ seeds: [0, 1] }, { seeds: [0, 1, 2] }), 'seeds was [0,1], now [0,1,2]');
  assert.equal(firstDifference([{ a: 1 }], [{ a: 2 }]), '[0].a was 1, now 2');
  assert.equal(firstDifference({ b: 1, a: [1, 2] }, { a: [1, 2], b: 1 }), undefined);
});
