import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { assertNoLeaks, assertStepDoesNotLeak } from '../../src/engine';
import { allAttributes, formatPrompt } from '../../src/world/prompt';
import { clipLoss, contrastiveLoss, imagesToTensor, MiniClip, sameCaptionTargets, Tokenizer, trainClipStep, UNK_ID } from '../../src/models';
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
