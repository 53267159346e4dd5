import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { assertKitKernel, assertMatchesCpu, useWasm } from './compare';

test('Conv2DBackpropFilter exists on wasm and is the kit kernel', async () => {
  await assertKitKernel('Conv2DBackpropFilter');
});

/** [N, H, W, Cin], [fh, fw, Cin, Cout]. */
const SHAPES: [number[], number[]][] = [
  [[2, 8, 9, 3], [3, 3, 3, 4]],
  [[1, 9, 7, 2], [1, 1, 2, 5]],
  [[2, 10, 11, 4], [5, 3, 4, 3]],
  [[3, 6, 6, 8], [2, 2, 8, 8]],
];

for (const strides of [1, 2, 3, [2, 1]] as (number | [number, number])[]) {
  test(`conv2d gradients match cpu, strides ${strides}`, async () => {
    for (const pad of ['same', 'valid', 1] as const) {
      for (const [xs, ws] of SHAPES) {
        if (pad === 'valid' && (xs[1] < ws[0] || xs[2] < ws[1])) continue;
        // tfjs sizes numeric-pad outputs from the filter height and stride height only.
        if (pad === 1 && (ws[0] !== ws[1] || Array.isArray(strides))) continue;
        await assertMatchesCpu(`conv2d ${xs} ${ws} s${strides} ${pad}`, {
          shapes: [xs, ws],
          f: (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, strides, pad),
        });
      }
    }
  });
}

test('conv2d with explicit asymmetric padding trains like cpu', async () => {
  await assertMatchesCpu('conv2d explicit', {
    shapes: [
      [2, 7, 8, 3],
      [3, 3, 3, 2],
    ],
    f: (x, w) =>
      tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, [
        [0, 0],
        [1, 2],
        [0, 1],
        [0, 0],
      ]),
  });
});

test('conv2d with a numeric pad tfjs would size wrongly is refused by name on wasm', async () => {
  await useWasm();
  const x = tf.zeros([1, 6, 7, 2]) as tf.Tensor4D;
  const w = tf.zeros([3, 1, 2, 2]) as tf.Tensor4D;
  assert.throws(() => tf.conv2d(x, w, 1, 1), /explicit pads/);
  tf.dispose([x, w]);
});

test('Conv2DBackpropFilter rejects NCHW with a clear message', async () => {
  await useWasm();
  const x = tf.zeros([1, 4, 4, 2]);
  assert.throws(
    () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: x }, { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [1, 1, 2, 2] }),
    /NHWC only/,
  );
  x.dispose();
});
