import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { assertKitKernel, assertMatchesCpu } from './compare';

test('Conv2D on wasm is the kit kernel', async () => {
  await assertKitKernel('Conv2D');
});

test("conv2d 'same' at stride > 1 with even filters matches cpu (tfjs-backend-wasm gave zeros)", async () => {
  for (const [h, f, s] of [
    [9, 2, 3],
    [6, 2, 3],
    [8, 4, 2],
    [7, 3, 2],
  ]) {
    await assertMatchesCpu(`conv2d same ${h} f${f} s${s}`, {
      shapes: [
        [2, h, h, 5],
        [f, f, 5, 3],
      ],
      f: (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, 'same'),
    });
  }
});
