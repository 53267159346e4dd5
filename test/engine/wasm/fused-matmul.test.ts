import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { assertKitKernel, assertMatchesCpu } from './compare';

test('_FusedMatMul on wasm is the kit kernel', async () => {
  await assertKitKernel('_FusedMatMul');
});

test('fused matMul with bias and activation matches cpu, all transpose flags, batched a', async () => {
  const [m, k, n] = [40, 30, 20];
  for (const tA of [false, true]) {
    for (const tB of [false, true]) {
      for (const batch of [1, 3]) {
        for (const activation of ['linear', 'relu', 'sigmoid'] as const) {
          const aShape = tA ? [batch, k, m] : [batch, m, k];
          const bShape = tB ? [1, n, k] : [1, k, n];
          await assertMatchesCpu(`fused ${aShape} ${bShape} ${activation}`, {
            shapes: [aShape, bShape, [n]],
            f: (a, b, bias) => tf.fused.matMul({ a, b, transposeA: tA, transposeB: tB, bias, activation }),
            // tfjs's fused gradient does not reduce b's broadcast batch: values only there.
            grads: batch === 1,
          });
        }
      }
    }
  }
});

test('fused matMul with a batched b and a bias matches cpu, every activation (the stock wasm kernel added the bias wrongly)', async () => {
  for (const activation of ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu'] as const) {
    for (const tB of [false, true]) {
      await assertMatchesCpu(`fused batched b ${activation} tB ${tB}`, {
        shapes: [[3, 5, 4], tB ? [3, 6, 4] : [3, 4, 6], [6]],
        f: (a, b, bias) => tf.fused.matMul({ a, b, transposeB: tB, bias, activation, leakyreluAlpha: 0.1 }),
        grads: false,
      });
    }
  }
});
