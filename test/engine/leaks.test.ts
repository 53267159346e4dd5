import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { assertNoLeaks, assertStepDoesNotLeak, initBackend } from '../../src/engine';

test('assertNoLeaks passes clean code and catches a leak', async () => {
  await initBackend('cpu');
  await assertNoLeaks(() => tf.tidy(() => tf.ones([3]).add(1).sum().dataSync()));
  let kept: tf.Tensor | undefined;
  await assert.rejects(assertNoLeaks(() => { kept = tf.ones([2]); }, 'leaky'), /leaky leaked 1 tensor/);
  kept?.dispose();
});

test('assertStepDoesNotLeak allows first-step state but catches growth', async () => {
  await initBackend('cpu');
  const v = tf.variable(tf.zeros([2]));
  const opt = tf.train.adam(0.1);
  await assertStepDoesNotLeak(() => opt.minimize(() => v.square().sum().add(1), false, [v]));
  const kept: tf.Tensor[] = [];
  await assert.rejects(assertStepDoesNotLeak(() => kept.push(tf.ones([1])), 'grow'), /grow leaks: 3 tensor/);
  tf.dispose([...kept, v]);
  opt.dispose();
});
