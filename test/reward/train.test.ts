import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { LabelStore } from '../../src/feedback/store';
import { labelAudit, labelledImages } from '../../src/reward/data';
import { readRewardMeta, loadRewardModel } from '../../src/reward/checkpoint';
import { datasetImageEmbeddings, TextEmbeddings } from '../../src/reward/embeddings';
import { RewardModel } from '../../src/reward/model';
import { fewLabels, loadRewardData, trainReward } from '../../src/reward/run';
import { resolveRewardConfig, trainRewardModel } from '../../src/reward/train';
import { formatPrompt, parsePrompt } from '../../src/world/prompt';
import { perturbationsLeft, perturbationsOf } from '../../src/reward/perturb';
import { smallDataset } from '../feedback/helpers';
import { initTestBackend } from '../models/helpers';
import { removedAtExit } from '../helpers/temp';
import { labelledDataset, tinyFrozenClip, weightsOf } from './helpers';

const FAST = { maxEpochs: 6, patience: 3, batchSize: 8, hidden: [16] };

test('labelledImages: skips and retracted labels are left out; a dataset without labels is one clear error', async () => {
  const dir = smallDataset(4);
  assert.throws(() => labelledImages(dir), /has no labels .*labels\.sqlite is missing.*t2i-align label --data/);
  const store = LabelStore.open(path.join(dir, 'labels.sqlite'));
  store.add({ imageId: 'img-0', rater: 'ann', raterKind: 'human', label: 'good' });
  store.add({ imageId: 'img-1', rater: 'ann', raterKind: 'human', label: 'skip' });
  store.add({ imageId: 'img-2', rater: 'ann', raterKind: 'human', label: 'bad' });
  store.add({ imageId: 'img-2', rater: 'bob', raterKind: 'human', label: 'good' });
  store.undo('bob');
  store.close();
  const ims = labelledImages(dir);
  assert.deepEqual(ims.map((im) => [im.record.id, im.labels]), [['img-0', ['good']], ['img-2', ['bad']]]);
  const empty = smallDataset(2);
  LabelStore.open(path.join(empty, 'labels.sqlite')).close();
  assert.throws(() => labelledImages(empty), /no image has a good or bad label/);
});

test('embeddings are cached beside the dataset, keyed by the MiniCLIP hash, and equal a fresh computation', async () => {
  await initTestBackend();
  const dir = labelledDataset(6);
  const frozen = tinyFrozenClip(1);
  const records = labelledImages(dir).map((im) => im.record);
  const a = datasetImageEmbeddings(dir, frozen, records);
  const files = fs.readdirSync(path.join(dir, 'embeddings'));
  assert.deepEqual(files.sort(), [`${frozen.sha256.slice(0, 16)}.f32`, `${frozen.sha256.slice(0, 16)}.json`]);
  const b = datasetImageEmbeddings(dir, frozen, records.slice().reverse());
  assert.deepEqual(Array.from(b.data.subarray(0, a.dim)), Array.from(a.data.subarray((records.length - 1) * a.dim)));
  const other = tinyFrozenClip(2);
  datasetImageEmbeddings(dir, other, records);
  assert.equal(fs.readdirSync(path.join(dir, 'embeddings')).length, 4, 'another MiniCLIP gets its own cache');
  // An index cut short (or edited) is computed again, the same numbers, not an error about JSON.
  for (const body of ['{"dim": 8, "ids": [', 'null', '{"dim": 8, "ids": [1, 2], "sha256": "x"}']) {
    fs.writeFileSync(path.join(dir, 'embeddings', `${frozen.sha256.slice(0, 16)}.json`), body);
    assert.deepEqual(Array.from(datasetImageEmbeddings(dir, frozen, records).data), Array.from(a.data), body);
  }
  // An image replaced under its id (another collect copied over the folder) is embedded again, not read stale; the
  // others keep their rows. (It was read stale: the cached row, 0.4 away from the new image's.)
  const indexFile = path.join(dir, 'embeddings', `${frozen.sha256.slice(0, 16)}.json`);
  const [r0, r1] = records;
  fs.copyFileSync(path.join(dir, r1.file), path.join(dir, r0.file));
  const swapped = datasetImageEmbeddings(dir, frozen, records);
  // (Embedded alone now, in a batch of six before: the same to float rounding, not bit for bit.)
  const gap = Math.max(...Array.from(swapped.data.subarray(0, a.dim), (v, i) => Math.abs(v - a.data[a.dim + i])));
  assert.ok(gap < 1e-5, `image 0's row is now image 1's embedding (largest difference ${gap})`);
  assert.deepEqual(Array.from(swapped.data.subarray(a.dim)), Array.from(a.data.subarray(a.dim)), 'the other rows as they were');
  // An index made before the digests were kept: its rows are kept, and the files' digests taken as they are now.
  const legacy = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
  delete legacy.images;
  fs.writeFileSync(indexFile, JSON.stringify(legacy));
  assert.deepEqual(Array.from(datasetImageEmbeddings(dir, frozen, records).data), Array.from(swapped.data));
  assert.equal(JSON.parse(fs.readFileSync(indexFile, 'utf8')).images.length, records.length, 'the digests are kept from then on');
  frozen.clip.dispose();
  other.clip.dispose();
});

test('training: the split has no prompt on both sides; same seed same weights; another seed other weights; no tensor leaks', async () => {
  await initTestBackend();
  const dir = labelledDataset(30);
  const frozen = tinyFrozenClip(1);
  const data = loadRewardData([dir], frozen);
  const before = tf.memory().numTensors;
  const run = async (seed: number, extra = {}) => trainRewardModel(data.images, data.embeddings, frozen, resolveRewardConfig({ ...FAST, seed, ...extra }), { progress: false });
  const a = await run(0);
  const nVars = Object.keys(a.model.variables).length;
  assert.equal(tf.memory().numTensors - before, nVars, 'only the model\'s weights remain');
  assert.ok(a.heldOutPrompts.length > 0 && a.trainPrompts.length > 0);
  assert.equal(a.trainPrompts.filter((p) => a.heldOutPrompts.includes(p)).length, 0);
  assert.equal(a.rows.train + a.rows.heldOut, data.images.length);
  assert.deepEqual(new Set(data.images.map((im) => formatPrompt(im.attributes))), new Set([...a.trainPrompts, ...a.heldOutPrompts]));
  assert.ok(a.history.every((h) => Number.isFinite(h.train.loss) && h.heldOut !== null));
  // Training never reads a held-out prompt, as a wrong prompt of the auxiliary loss either (19.6% of them were).
  const read = new Set<string>();
  const halves = await trainRewardModel(data.images, data.embeddings, frozen, resolveRewardConfig({ ...FAST, seed: 0, heldOutFraction: 0.5 }), { progress: false, onAuxPrompts: (ps) => ps.forEach((p) => read.add(p)) });
  const held = new Set(halves.heldOutPrompts);
  const kept = halves.trainPrompts.filter((p) => !perturbationsLeft(parsePrompt(p), held)); // rows whose every perturbation is held out keep them
  assert.ok(read.size > halves.trainPrompts.length, 'wrong prompts were drawn');
  const SUBSETS = [['count'], ['color'], ['background'], ['count', 'color'], ['count', 'background'], ['color', 'background'], ['count', 'color', 'background']] as const;
  const allowed = new Set(kept.flatMap((k) => SUBSETS.flatMap((w) => perturbationsOf(parsePrompt(k), w).map((x) => x.prompt))));
  assert.deepEqual([...read].filter((p) => held.has(p) && !allowed.has(p)), []);
  assert.ok(kept.length < halves.trainPrompts.length);
  halves.model.dispose();
  const b = await run(0);
  assert.deepEqual(weightsOf(b.model.variables), weightsOf(a.model.variables));
  const c = await run(1);
  assert.notDeepEqual(weightsOf(c.model.variables), weightsOf(a.model.variables));
  for (const r of [a, b, c]) r.model.dispose();
  assert.equal(tf.memory().numTensors, before);
  frozen.clip.dispose();
});

test('lambda = 0 removes the auxiliary term exactly: the number of perturbed prompts then changes nothing', async () => {
  await initTestBackend();
  const dir = labelledDataset(20);
  const frozen = tinyFrozenClip(1);
  const data = loadRewardData([dir], frozen);
  const go = async (auxWeight: number, auxPrompts: number) =>
    (await trainRewardModel(data.images, data.embeddings, frozen, resolveRewardConfig({ ...FAST, auxWeight, auxPrompts }), { progress: false })).model;
  const [a, b, c] = [await go(0, 2), await go(0, 10), await go(0.5, 10)];
  assert.deepEqual(weightsOf(a.variables), weightsOf(b.variables));
  assert.notDeepEqual(weightsOf(c.variables), weightsOf(a.variables), 'with lambda > 0 the term moves the weights');
  [a, b, c].forEach((m) => m.dispose());
  frozen.clip.dispose();
});

test('a bad config key or value is an error naming it', () => {
  assert.throws(() => resolveRewardConfig({ auxWieght: 1 }), /auxWieght/);
  assert.throws(() => resolveRewardConfig({ auxPrompts: 1 }), /auxPrompts/);
  assert.throws(() => resolveRewardConfig({ labels: 'median' }), /labels.*mean.*rater/);
});

test('inputs: "product" reads u * v alone (u and v matter only through it); "joint" reads [u, v, u * v]; the default is product', async () => {
  await initTestBackend();
  assert.equal(resolveRewardConfig({}).inputs, 'product');
  assert.throws(() => resolveRewardConfig({ inputs: 'both' }), /inputs/);
  const texts = new TextEmbeddings(tinyFrozenClip(1));
  const product = new RewardModel({ hidden: [8], inputs: 'product', embedDim: 4 }, texts, 3);
  const joint = new RewardModel({ hidden: [8], inputs: 'joint', embedDim: 4 }, texts, 3);
  assert.deepEqual(product.variables['reward/fc0/w'].shape, [4, 8]);
  assert.deepEqual(joint.variables['reward/fc0/w'].shape, [12, 8]);
  // Swapping u and v, or scaling u by 2 and v by 1/2, keeps u * v: the product model cannot tell; the joint one can.
  const u = tf.tensor2d([[0.5, -0.5, 0.5, 0.5]]);
  const v = tf.tensor2d([[0.1, 0.7, -0.1, 0.7]]);
  const same = (m: RewardModel, a: [tf.Tensor2D, tf.Tensor2D], b: [tf.Tensor2D, tf.Tensor2D]) =>
    tf.tidy(() => m.apply(...a).dataSync()[0] === m.apply(...b).dataSync()[0]);
  assert.equal(same(product, [u, v], [v, u]), true);
  assert.equal(same(joint, [u, v], [v, u]), false);
  const [u2, v2] = [tf.mul(u, 2) as tf.Tensor2D, tf.mul(v, 0.5) as tf.Tensor2D];
  assert.equal(same(product, [u, v], [u2, v2]), true);
  tf.dispose([u, v, u2, v2]);
  product.dispose();
  joint.dispose();
  texts.frozen.clip.dispose();
});

test('a checkpoint saved before `inputs` existed reads as "joint", in its model and in its config', async () => {
  await initTestBackend();
  const dir = labelledDataset(24);
  const frozen = tinyFrozenClip(1);
  const out = path.join(dir, 'rm');
  const run = await trainReward(loadRewardData([dir], frozen), frozen, { ...FAST, inputs: 'joint' }, { out, progress: false });
  const dim = frozen.clip.config.embedDim;
  const image = { dim, data: new Float32Array(dim).fill(0.3) };
  const expected = run.model.score(image, ['a circle']);
  run.model.dispose();
  const file = path.join(out, 'checkpoint.json');
  const index = JSON.parse(fs.readFileSync(file, 'utf8'));
  delete index.meta.model.inputs;
  delete index.meta.config.inputs;
  fs.writeFileSync(file, JSON.stringify(index));
  assert.equal(readRewardMeta(out).config.inputs, 'joint');
  const { model } = await loadRewardModel(out, { clip: frozen });
  assert.equal(model.config.inputs, 'joint');
  assert.deepEqual(model.score(image, ['a circle']), expected);
  model.dispose();
  frozen.clip.dispose();
});

test('a reward model copied away from its MiniCLIP is one clear error naming the stored path, not a missing-file error', async () => {
  await initTestBackend();
  const dir = labelledDataset(12);
  const frozen = tinyFrozenClip(1);
  const out = path.join(dir, 'rm');
  (await trainReward(loadRewardData([dir], frozen), frozen, FAST, { out, progress: false })).model.dispose();
  const moved = path.join(dir, 'deeper', 'still', 'rm');
  fs.cpSync(out, moved, { recursive: true });
  const stored = readRewardMeta(moved).clip.dir;
  await assert.rejects(loadRewardModel(moved), (e: Error) => {
    assert.ok(e.message.includes(`names its MiniCLIP as ${stored}`), e.message);
    assert.match(e.message, /does not exist, nor is it the shipped one \(.*\): a reward model folder keeps that path when it is copied or moved/);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
  // A folder where the MiniCLIP should be, without its checkpoint, is named as such.
  fs.mkdirSync(path.resolve(moved, stored), { recursive: true });
  await assert.rejects(loadRewardModel(moved), /holds no checkpoint\.json \(a partial copy\?\), nor is it the shipped one \(.*\): a reward model folder keeps that path when it is copied or moved/);
  const { model } = await loadRewardModel(moved, { clip: frozen }); // given the MiniCLIP, the copy loads
  model.dispose();
  frozen.clip.dispose();
});

test('a reward model trained on the shipped MiniCLIP, copied elsewhere (a moved sweep folder), reads the shipped MiniCLIP and scores as before', async () => {
  await initTestBackend();
  const shipped = path.resolve(__dirname, '..', '..', 'data', 'reward-model');
  const moved = path.join(removedAtExit('t2i-rm-moved-'), 'a', 'b', 'rm');
  fs.cpSync(shipped, moved, { recursive: true, filter: (src) => path.relative(shipped, src).split(path.sep)[0] !== 'eval' });
  assert.ok(!fs.existsSync(path.resolve(moved, readRewardMeta(moved).clip.dir)), 'the stored relative path leads nowhere from the copy');
  const here = await loadRewardModel(shipped);
  const there = await loadRewardModel(moved);
  assert.equal(there.frozen.sha256, here.frozen.sha256);
  const dim = here.frozen.clip.config.embedDim;
  const image = { dim, data: new Float32Array(dim).fill(0.125) };
  assert.deepEqual(there.model.score(image, ['two red circles']), here.model.score(image, ['two red circles']));
  for (const r of [here, there]) {
    r.model.dispose();
    r.frozen.clip.dispose();
  }
});

test('clipWeight: the MLP is trained alone, then joined with k * cos(u, v) and recalibrated; 0 (the default) is the MLP alone; an older checkpoint reads as 0', async () => {
  await initTestBackend();
  assert.equal(resolveRewardConfig({}).clipWeight, 0);
  assert.throws(() => resolveRewardConfig({ clipWeight: -1 }), /clipWeight/);
  const dir = labelledDataset(24);
  const frozen = tinyFrozenClip(1);
  const data = loadRewardData([dir], frozen);
  const alone = await trainRewardModel(data.images, data.embeddings, frozen, resolveRewardConfig({ ...FAST, clipWeight: 0 }), { progress: false });
  const before = tf.memory().numTensors;
  const joined = await trainRewardModel(data.images, data.embeddings, frozen, resolveRewardConfig({ ...FAST, clipWeight: 7 }), { progress: false });
  assert.equal(tf.memory().numTensors - before, Object.keys(joined.model.variables).length, 'only the new model\'s weights are left');
  assert.deepEqual(weightsOf(joined.model.variables), weightsOf(alone.model.variables), 'the same MLP');
  assert.deepEqual(alone.model.config.calibration, { a: 1, b: 0, rows: 0 });
  const { a, b } = joined.model.config.calibration;
  assert.equal(joined.model.config.clipWeight, 7);
  assert.ok(a > 0 && Number.isFinite(b), `a ${a}, b ${b}`);
  assert.ok(joined.model.config.calibration.rows > 0);
  // By hand on one row: sigmoid(a * (MLP logit + 7 * u . v) + b); k = 0: sigmoid(MLP logit).
  const u = [0.5, -0.5, 0.5, 0.5, 0, 0, 0, 0].slice(0, data.embeddings.dim);
  const image = { dim: data.embeddings.dim, data: Float32Array.from({ length: data.embeddings.dim }, (_, i) => u[i % u.length]) };
  const prompt = 'two red circles';
  const v = joined.model.texts.get(prompt);
  const cos = Array.from(image.data).reduce((acc, x, i) => acc + x * v[i], 0);
  const mlp = tf.tidy(() => alone.model.mlpLogit(tf.tensor2d(image.data, [1, image.dim]), tf.tensor2d(v, [1, image.dim])).dataSync()[0]);
  const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
  assert.ok(Math.abs(alone.model.score(image, [prompt])[0] - sigmoid(mlp)) < 1e-6);
  assert.ok(Math.abs(joined.model.score(image, [prompt])[0] - sigmoid(a * (mlp + 7 * cos) + b)) < 1e-5);
  assert.throws(() => joined.model.joinClipScore(7, { a: -1, b: 0 }), /a must be positive/);
  // Saved and loaded, the joined model scores the same.
  const saved = await trainReward(data, frozen, { ...FAST, clipWeight: 7 }, { out: path.join(dir, 'rm-joined'), progress: false });
  const reloaded = (await loadRewardModel(path.join(dir, 'rm-joined'), { clip: frozen })).model;
  assert.deepEqual(reloaded.config, saved.model.config);
  assert.deepEqual(reloaded.score(image, [prompt]), joined.model.score(image, [prompt]));
  [saved.model, reloaded].forEach((m) => m.dispose());
  // A checkpoint saved before clipWeight existed: the MLP alone, in its model and its config.
  const out = path.join(dir, 'rm-old');
  const run = await trainReward(data, frozen, { ...FAST, clipWeight: 0 }, { out, progress: false });
  const file = path.join(out, 'checkpoint.json');
  const index = JSON.parse(fs.readFileSync(file, 'utf8'));
  delete index.meta.model.clipWeight;
  delete index.meta.model.calibration;
  delete index.meta.config.clipWeight;
  fs.writeFileSync(file, JSON.stringify(index));
  assert.equal(readRewardMeta(out).config.clipWeight, 0);
  // The model block is what the weights were scored with: a config that disagrees reads as the model says.
  fs.writeFileSync(file, JSON.stringify({ ...index, meta: { ...index.meta, config: { ...index.meta.config, clipWeight: 7 } } }));
  assert.equal(readRewardMeta(out).config.clipWeight, 0);
  fs.writeFileSync(file, JSON.stringify(index));
  const { model } = await loadRewardModel(out, { clip: frozen });
  assert.equal(model.config.clipWeight, 0);
  assert.deepEqual(model.score(image, [prompt]), run.model.score(image, [prompt]));
  [alone.model, joined.model, run.model, model].forEach((m) => m.dispose());
  frozen.clip.dispose();
});

test('trainReward saves a checkpoint with its config, datasets and label counts; held-out metrics come back', async () => {
  await initTestBackend();
  const dir = labelledDataset(24);
  const frozen = tinyFrozenClip(1);
  const out = path.join(dir, 'rm');
  const run = await trainReward(loadRewardData([dir], frozen), frozen, FAST, { out, progress: false });
  const meta = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint.json'), 'utf8')).meta;
  assert.equal(meta.kind, 'reward');
  assert.equal(meta.config.auxWeight, 0.5);
  assert.equal(meta.datasets[0].dir, '..');
  assert.equal(meta.datasets[0].labels.good + meta.datasets[0].labels.bad, run.datasets[0].labels.good + run.datasets[0].labels.bad);
  assert.ok(meta.datasets[0].labels.good > 0);
  assert.ok(run.heldOut && run.heldOut.images > 0);
  run.model.dispose();
  frozen.clip.dispose();
});

test('held-out metrics and the CLIP threshold leave out the images the raters split evenly on (no majority), as eval-reward does', async () => {
  await initTestBackend();
  const dir = labelledDataset(40, 'flip=0.5,skip=0x2');
  const frozen = tinyFrozenClip(1);
  const data = loadRewardData([dir], frozen);
  const run = await trainReward(data, frozen, FAST, { progress: false });
  const held = data.images.filter((im) => run.heldOutPrompts.includes(formatPrompt(im.attributes)));
  const tied = held.filter((im) => im.labels.filter((l) => l === 'good').length * 2 === im.labels.length);
  assert.ok(tied.length > 0, 'the panel gives some held-out images a tie');
  assert.equal(run.heldOut!.images, held.length - tied.length);
  // 40 images: the run carries the few-labels caution, for a notebook as for the CLI.
  assert.equal(run.caution, fewLabels(run.rows, run.heldOut!.images));
  assert.match(run.caution!, new RegExp(`^only ${run.rows.train} training rows and ${run.heldOut!.images} held-out images`));
  run.model.dispose();
  frozen.clip.dispose();
});

test('labelAudit: with a panel that never errs, every good image is aligned', () => {
  const dir = labelledDataset(18, 'flip=0,skip=0,leniency=0x3');
  const a = labelAudit(dir);
  assert.ok(a.good > 0);
  assert.equal(a.judgeAligned, a.good);
  assert.deepEqual(a.wrong, {});
  const lenient = labelAudit(labelledDataset(18, 'flip=0,skip=0,leniency=1x3'));
  assert.ok(lenient.good > lenient.judgeAligned && (lenient.wrong.object ?? 0) > 0, JSON.stringify(lenient));
});
