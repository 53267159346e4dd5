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

test('a buffer a kernel forgets to free is a leak, even inside a tf.tidy (which frees tensors, not buffers)', async () => {
  await initBackend('cpu');
  const backend = tf.engine().backend as unknown as { write(values: Float32Array, shape: number[], dtype: string): object; disposeData(id: object): void };
  const forgotten: object[] = [];
  const kernelThatForgets = () => tf.tidy(() => (forgotten.push(backend.write(new Float32Array(4), [4], 'float32')), tf.ones([2]).sum().dataSync()));
  await assert.rejects(assertNoLeaks(kernelThatForgets, 'kernel'), /kernel leaked 1 backend buffer/);
  await assert.rejects(assertStepDoesNotLeak(kernelThatForgets, 'kernel step'), /kernel step leaks: 3 backend buffer/);
  for (const id of forgotten) backend.disposeData(id);
});
