import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useWasm } from './compare';

test('Identity shares data: a clone outlives its source, frees nothing twice, and leaks no bytes', async () => {
  await useWasm();
  const buffers0 = tf.memory().numDataBuffers;
  const bytes0 = tf.memory().numBytes;
  const tensors0 = tf.memory().numTensors;
  const x = tf.tensor([1, 2, 3, 4], [2, 2]);
  const y = x.clone();
  assert.equal(tf.memory().numDataBuffers, buffers0 + 1, 'one buffer for both');
  x.dispose();
  assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3, 4]);
  const init = y.clone();
  const v = tf.variable(init);
  init.dispose();
  const doubled = tf.mul(v, 2);
  v.assign(doubled);
  doubled.dispose();
  assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3, 4], 'assigning the variable leaves the clone it came from');
  assert.deepEqual(Array.from(v.dataSync()), [2, 4, 6, 8]);
  tf.dispose([y, v]);
  assert.equal(tf.memory().numTensors, tensors0);
  assert.equal(tf.memory().numBytes, bytes0);
  assert.equal(tf.memory().numDataBuffers, buffers0);
});

test('gradients through saved (cloned) tensors still equal the cpu backend', async () => {
  const f = (x: tf.Tensor) => tf.sum(tf.mul(tf.sigmoid(x), tf.square(x)));
  const values = [-2, -0.5, 0, 0.3, 1.7, 4];
  tf.setBackend('cpu');
  const want = tf.tidy(() => Array.from(tf.grad(f)(tf.tensor(values)).dataSync()));
  await useWasm();
  const got = tf.tidy(() => Array.from(tf.grad(f)(tf.tensor(values)).dataSync()));
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) < 1e-5, `${i}: ${g} vs ${want[i]}`));
});
