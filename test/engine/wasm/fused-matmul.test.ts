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
