/**
 * The layers with hand-written gradients (LayerNorm, GroupNorm, SiLU, biasAdd,
 * addPerImage) against the same forward written with plain tf ops, whose
 * gradients tfjs derives: values and every gradient, on the backend the tests use.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../src/engine';
import { addPerImage, biasAdd, GroupNorm, LayerNorm, ParamStore, silu } from '../../src/models';
import { initTestBackend, maxAbsDiff } from './helpers';

/** Value and gradients of sum(f(xs) * w) for a fixed random w. */
function valueAndGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[]): tf.Tensor[] {
  const y = f(...xs);
  const w = tf.randomNormal(y.shape, 0, 1, 'float32', 9);
  return [y, ...tf.grads((...as: tf.Tensor[]) => tf.sum(tf.mul(f(...as), w)))(xs)];
}

function assertSame(got: tf.Tensor[], want: tf.Tensor[], what: string): void {
  got.forEach((g, i) => {
    const scale = Math.max(1, tf.max(tf.abs(want[i])).dataSync()[0]);
    assert.ok(maxAbsDiff(g as tf.Tensor4D, want[i] as tf.Tensor4D) < 1e-4 * scale, `${what} output ${i}`);
  });
}

test('LayerNorm and GroupNorm: values and gradients equal the plain-ops formula', async () => {
  await initTestBackend();
  tf.tidy(() => {
    const ps = new ParamStore(new Rng(1));
    const ln = new LayerNorm(ps, 'ln', 24);
    const gn = new GroupNorm(ps, 'gn', 12, 4);
    const x3 = tf.randomNormal([3, 5, 24], 0.5, 2, 'float32', 1);
    const x4 = tf.randomNormal([2, 4, 4, 12], -0.3, 1.5, 'float32', 2);
    const g24 = tf.randomNormal([24], 1, 0.3, 'float32', 3), b24 = tf.randomNormal([24], 0, 0.3, 'float32', 4);
    const g12 = tf.randomNormal([12], 1, 0.3, 'float32', 5), b12 = tf.randomNormal([12], 0, 0.3, 'float32', 6);
    const lnRef = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
    };
    const gnRef = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const xg = x.reshape([2, 16, 4, 3]);
      const { mean, variance } = tf.moments(xg, [1, 3], true);
      return tf.add(tf.mul(tf.div(tf.sub(xg, mean), tf.sqrt(tf.add(variance, 1e-5))).reshape([2, 4, 4, 12]), g), b);
    };
    for (const [name, layer, x, g, b, ref] of [['LayerNorm', ln, x3, g24, b24, lnRef], ['GroupNorm', gn, x4, g12, b12, gnRef]] as const) {
      layer.gamma.assign(g);
      layer.beta.assign(b);
      const w = tf.randomNormal(ref(x, g, b).shape, 0, 1, 'float32', 9);
      const got = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(x as tf.Tensor4D), w)) as tf.Scalar, [layer.gamma, layer.beta]);
      const gotX = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(layer.apply(xx as tf.Tensor4D), w)))(x);
      const want = valueAndGrads((xx, gg, bb) => ref(xx, gg, bb), [x, g, b]);
      assertSame([layer.apply(x as tf.Tensor4D), gotX, got.grads[layer.gamma.name], got.grads[layer.beta.name]], want, name);
    }
    Object.values(ps.variables).forEach((v) => v.dispose());
  });
});

test('SiLU, biasAdd and addPerImage: values and gradients equal the plain ops', async () => {
  await initTestBackend();
  tf.tidy(() => {
    const x = tf.randomNormal([2, 3, 3, 5], 0, 2, 'float32', 1);
    const bias = tf.randomNormal([5], 0, 1, 'float32', 2);
    const v = tf.randomNormal([2, 5], 0, 1, 'float32', 3);
    assertSame(valueAndGrads((a) => silu(a), [x]), valueAndGrads((a) => tf.mul(a, tf.sigmoid(a)), [x]), 'silu');
    assertSame(valueAndGrads((a, b) => biasAdd(a, b), [x, bias]), valueAndGrads((a, b) => tf.add(a, b), [x, bias]), 'biasAdd');
    assertSame(valueAndGrads((a, b) => addPerImage(a as tf.Tensor4D, b as tf.Tensor2D), [x, v]), valueAndGrads((a, b) => tf.add(a, b.reshape([2, 1, 1, 5])), [x, v]), 'addPerImage');
  });
});
