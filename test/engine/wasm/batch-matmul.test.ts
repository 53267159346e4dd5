import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { assertKitKernel, assertMatchesCpu } from './compare';
import { PER_BATCH_MIN_MACS } from '../../../src/engine/wasm/batch-matmul';

const FLAGS = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
] as const;

/** [batch of a, batch of b]: 2-D, a batched (rows folded), b batched, both batched, broadcast over two dims. */
const BATCHES: [number[], number[]][] = [
  [[], []],
  [[3], []],
  [[], [3]],
  [[3], [3]],
  [[2, 3], [2, 3]],
  [[2, 3], [3]],
];

/** [M, K, N]: tiny (generic loop when batched), and big enough for the per-batch fast path. */
const SIZES = [
  [5, 7, 4],
  [70, 50, 60],
  [1, 9, 1],
];

test('BatchMatMul on wasm is the kit kernel', async () => {
  await assertKitKernel('BatchMatMul');
  if (70 * 50 * 60 < PER_BATCH_MIN_MACS) throw new Error('the big size no longer reaches the per-batch path');
});

for (const [tA, tB] of FLAGS) {
  test(`BatchMatMul matches cpu, transposeA=${tA} transposeB=${tB}`, async () => {
    for (const [ba, bb] of BATCHES) {
      for (const [m, k, n] of SIZES) {
        const aShape = tA ? [...ba, k, m] : [...ba, m, k];
        const bShape = tB ? [...bb, n, k] : [...bb, k, n];
        // tfjs's own BatchMatMul gradient does not reduce broadcast batch dims: values only there.
        const grads = ba.join() === bb.join();
        await assertMatchesCpu(`matMul ${aShape} x ${bShape} ${tA} ${tB}`, {
          shapes: [aShape, bShape],
          f: (a, b) => tf.matMul(a, b, tA, tB),
          grads,
        });
      }
    }
  });
}

test('attention-shaped batched products match cpu (softmax(QK^T)V and its gradients)', async () => {
  for (const [b, t, d] of [
    [4, 16, 8],
    [2, 64, 32],
  ]) {
    await assertMatchesCpu(`attention ${b} ${t} ${d}`, {
      shapes: [
        [b, t, d],
        [b, t, d],
        [b, t, d],
      ],
      f: (q, k, v) => tf.matMul(tf.softmax(tf.matMul(q, k, false, true).div(Math.sqrt(d))), v),
    });
  }
});
