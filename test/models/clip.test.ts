import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { assertNoLeaks, assertStepDoesNotLeak } from '../../src/engine';
import { allAttributes, formatPrompt } from '../../src/world/prompt';
import { clipLoss, contrastiveLoss, countSwaps, imagesToTensor, MiniClip, sameCaptionTargets, Tokenizer, trainClipStep, UNK_ID } from '../../src/models';
import { fakeBatches, initTestBackend, tinyConfig } from './helpers';

test('tokenizer: every grammar prompt encodes without <unk> and decodes back', () => {
  const tok = new Tokenizer(12);
  for (const a of allAttributes()) {
    const p = formatPrompt(a);
    const ids = tok.encode(p);
    assert.equal(ids.length, 12);
    assert.ok(!ids.includes(UNK_ID), p);
    assert.equal(tok.decode(ids), p);
  }
  assert.deepEqual(tok.encode('').slice(0, 3), [1, 2, 0]);
  assert.equal(tok.encode('two purple dogs')[3], UNK_ID);
  assert.throws(() => new Tokenizer(8).encode('three blue circles in the forest at night'), /has 8 words; at most 6 fit in 8 tokens/);
});

test('MiniCLIP shapes: per-token features, mask, embeddings, logits', async () => {
  await initTestBackend();
  const cfg = tinyConfig();
  const clip = new MiniClip(cfg.clip);
  await assertNoLeaks(() => {
    tf.tidy(() => {
      const ids = clip.tokenize(['two red circles', 'a heart', '']);
      const enc = clip.encodeText(ids);
      assert.deepEqual(enc.tokens.shape, [3, 12, 16]);
      assert.deepEqual(Array.from(enc.mask.sum(1).dataSync()), [5, 4, 2]);
      assert.deepEqual(enc.embedding.shape, [3, 16]);
      const images = imagesToTensor(fakeBatches()(0, 2));
      assert.deepEqual(clip.encodeImage(images).shape, [2, 16]);
      assert.deepEqual(clip.logits(images, ids).shape, [2, 3]);
    });
  }, 'forward');
  clip.dispose();
});

test('contrastive loss: log(B) for equal logits, 0-ish for perfect ones, equal captions are not negatives', async () => {
  await initTestBackend();
  tf.tidy(() => {
    const targets = sameCaptionTargets(['a', 'b', 'c', 'd']);
    assert.ok(Math.abs(contrastiveLoss(tf.zeros([4, 4]), targets).dataSync()[0] - Math.log(4)) < 1e-6);
    assert.ok(contrastiveLoss(tf.mul(tf.eye(4), 100) as tf.Tensor2D, targets).dataSync()[0] < 1e-6);
    const dup = sameCaptionTargets(['a', 'a', 'b']);
    assert.deepEqual(Array.from(dup.dataSync()).map((v) => +v.toFixed(3)), [0.5, 0.5, 0, 0.5, 0.5, 0, 0, 0, 1]);
    // Two images of one caption scoring equally high on it is optimal: loss ~ log 2 per duplicated row only.
    const logits = tf.tensor2d([[50, 50, 0], [50, 50, 0], [0, 0, 50]]);
    assert.ok(contrastiveLoss(logits, dup).dataSync()[0] < Math.log(2) * (2 / 3) + 1e-4);
  });
});

test('count hard negatives: the other counts of each caption naming two to four, none that is a caption of the batch; extra columns are wrong answers for every image', async () => {
  assert.deepEqual(countSwaps(['two red circles', 'a circle', 'four circles in the sea']), [
    'three red circles', 'four red circles', 'two circles in the sea', 'three circles in the sea',
  ]);
  assert.deepEqual(countSwaps(['two circles', 'three circles']), ['four circles'], 'a swap equal to a caption of the batch is that image\'s right answer');
  assert.deepEqual(countSwaps(['a circle', 'red circles']), []);
  await initTestBackend();
  tf.tidy(() => {
    const targets = sameCaptionTargets(['a', 'b', 'c']);
    const paired = tf.mul(tf.eye(3), 5) as tf.Tensor2D;
    const plain = contrastiveLoss(paired, targets).dataSync()[0];
    const far = contrastiveLoss(tf.concat([paired, tf.fill([3, 2], -100)], 1) as tf.Tensor2D, targets).dataSync()[0];
    assert.ok(Math.abs(far - plain) < 1e-5, 'negatives nobody picks cost nothing');
    const near = contrastiveLoss(tf.concat([paired, tf.fill([3, 2], 5)], 1) as tf.Tensor2D, targets).dataSync()[0];
    // image -> text: each row's softmax now has 2 more columns as high as the right one; text -> image is unchanged.
    const rowLoss = (extra: number) => -(5 - Math.log(Math.exp(5) * (1 + extra) + 2));
    assert.ok(Math.abs(near - 0.5 * (rowLoss(2) + rowLoss(0))) < 1e-4, `${near}`);
  });
  // A MiniCLIP that trains with them: the loss of a batch with counts uses them (it differs from the loss without).
  const cfg = tinyConfig();
  const on = new MiniClip({ ...cfg.clip, countNegatives: true }, 0);
  const off = new MiniClip(cfg.clip, 0);
  const captions = ['two circles', 'three red squares', 'a circle', 'four stars'];
  const images = imagesToTensor(captions.map(() => ({ image: fakeBatches()(0, 1)[0].image, caption: '' })));
  const [a, b] = [on, off].map((c) => tf.tidy(() => clipLoss(c, images, captions).dataSync()[0]));
  assert.ok(Number.isFinite(a) && a > b, `${a} vs ${b}`);
  images.dispose();
  const opt = tf.train.adam(1e-2);
  const data = fakeBatches();
  let s = 0;
  await assertStepDoesNotLeak(() => assert.ok(Number.isFinite(trainClipStep(on, opt, data(s++, 4)))), 'trainClipStep with count negatives');
  opt.dispose();
  on.dispose();
  off.dispose();
});

test('MiniCLIP training step: finite loss, weights move, no leak', async () => {
  await initTestBackend();
  const cfg = tinyConfig();
  const clip = new MiniClip(cfg.clip);
  const opt = tf.train.adam(1e-2);
  const data = fakeBatches();
  const before = clip.variables['image/fc/w'].dataSync().slice();
  let s = 0;
  await assertStepDoesNotLeak(() => {
    const loss = trainClipStep(clip, opt, data(s++, 4));
    assert.ok(Number.isFinite(loss) && loss > 0, `loss ${loss}`);
  }, 'trainClipStep');
  const after = clip.variables['image/fc/w'].dataSync();
  assert.ok(after.some((v, i) => v !== before[i]));
  const l = tf.tidy(() => clipLoss(clip, imagesToTensor(data(0, 4)), data(0, 4).map((e) => e.caption)).dataSync()[0]);
  assert.ok(Number.isFinite(l));
  opt.dispose();
  clip.dispose();
});
