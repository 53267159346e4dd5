/**
 * The fused Adam (src/engine/adam.ts) equals tf.train.adam bit for bit: the
 * same weights and moments after several updates with a changing learning
 * rate, the same checkpointable state, and no tensor leaks.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adam, assertNoLeaks, FusedAdamOptimizer, initBackend } from '../../../src/engine';
import { requireNative } from './require-native';

/** Run `steps` Adam updates of a small quadratic model from fixed weights; returns weights then moments, as bytes. */
async function run(makeOptimizer: (lr: number) => tf.AdamOptimizer, steps: number): Promise<Float32Array[]> {
  const shapes = [[3, 3, 8, 16], [16], [257, 300], [1]];
  const vars = shapes.map((s, i) => tf.tidy(() => tf.variable(tf.randomNormal(s, 0, 1, 'float32', 10 + i), true, `w${i}-${Math.random()}`)));
  const targets = shapes.map((s, i) => tf.randomNormal(s, 0, 1, 'float32', 20 + i));
  const opt = makeOptimizer(1e-2);
  for (let s = 0; s < steps; s++) {
    (opt as unknown as { learningRate: number }).learningRate = 1e-2 / (1 + s);
    opt.minimize(() => tf.addN(vars.map((v, i) => tf.sum(tf.square(tf.sub(tf.mul(v, v), targets[i]))))) as tf.Scalar, true)?.dispose();
  }
  const state = await opt.getWeights();
  const out = [...vars.map((v) => v.dataSync() as Float32Array), ...state.slice(1).map((w) => w.tensor.dataSync() as Float32Array)];
  assert.equal(state[0].tensor.dataSync()[0], steps, 'iterations');
  tf.dispose([...vars, ...targets, state[0].tensor]);
  opt.dispose();
  return out;
}

test('fused Adam equals tf.train.adam bit for bit on wasm, and does not leak', async (t) => {
  await initBackend('wasm');
  if (!requireNative(t)) return;
  assert.ok(FusedAdamOptimizer.fused());
  const want = await run((lr) => tf.train.adam(lr), 5);
  const got = await run((lr) => adam(lr), 5);
  assert.equal(got.length, want.length);
  got.forEach((g, k) => assert.ok(Buffer.from(g.buffer).equals(Buffer.from(want[k].buffer)), `tensor ${k} differs: max |diff| ${Math.max(...g.map((x, i) => Math.abs(x - want[k][i])))}`));
  await run((lr) => adam(lr), 1); // warm: moments created
  await assertNoLeaks(() => run((lr) => adam(lr), 3));
});

test('on the cpu backend it is tf.train.adam', async () => {
  await initBackend('cpu');
  assert.equal(FusedAdamOptimizer.fused(), false);
  const want = await run((lr) => tf.train.adam(lr), 3);
  const got = await run((lr) => adam(lr), 3);
  got.forEach((g, k) => assert.deepEqual(g, want[k]));
});
