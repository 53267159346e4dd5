import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { mseLoss, promptClassificationLoss, rewardLoss } from '../../src/reward/losses';

const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) < tol, `${a} vs ${b}`);

test('mseLoss: hand-computed values, with and without row weights', () => {
  const r = tf.tensor1d([0.2, 0.9, 0.5]);
  const y = tf.tensor1d([0, 1, 1]);
  close(mseLoss(r, y).dataSync()[0], (0.04 + 0.01 + 0.25) / 3);
  close(mseLoss(r, y, tf.tensor1d([1, 0, 3])).dataSync()[0], (0.04 + 3 * 0.25) / 4);
});

test('promptClassificationLoss: -log softmax of the true prompt, by hand', () => {
  const rows = [[0.9, 0.1, 0.3], [0.2, 0.8, 0.5]];
  const want = rows.map((r) => -Math.log(Math.exp(r[0]) / r.reduce((s, x) => s + Math.exp(x), 0)));
  close(promptClassificationLoss(tf.tensor2d(rows)).dataSync()[0], (want[0] + want[1]) / 2);
  assert.equal(promptClassificationLoss(tf.zeros([0, 3]) as tf.Tensor2D).dataSync()[0], 0);
  // Rewards in [0, 1] as logits: the floor is log(1 + (N-1)/e).
  close(promptClassificationLoss(tf.tensor2d([[1, 0, 0, 0]])).dataSync()[0], Math.log(1 + 3 / Math.E));
});

test('rewardLoss: mse + lambda * pc; lambda = 0 returns the mse itself and never computes pc', () => {
  const mse = tf.scalar(0.3);
  close(rewardLoss(mse, () => tf.scalar(2), 0.5).dataSync()[0], 1.3);
  let called = false;
  assert.equal(rewardLoss(mse, () => ((called = true), tf.scalar(2)), 0), mse);
  assert.equal(called, false);
});

test('the gradient of the total loss is the mse gradient plus lambda times the pc gradient', () => {
  const w = tf.variable(tf.tensor1d([0.3, -0.2]));
  const f = (lambda: number) => () => {
    const r = tf.sigmoid(w) as tf.Tensor1D;
    return rewardLoss(mseLoss(r, tf.tensor1d([1, 0])), () => promptClassificationLoss(r.reshape([1, 2]) as tf.Tensor2D), lambda);
  };
  const g = (lambda: number) => Array.from(tf.variableGrads(f(lambda), [w]).grads[w.name].dataSync());
  const g0 = g(0);
  const g1 = g(1);
  const g05 = g(0.5);
  g05.forEach((v, i) => close(v, g0[i] + 0.5 * (g1[i] - g0[i]), 1e-6));
});
