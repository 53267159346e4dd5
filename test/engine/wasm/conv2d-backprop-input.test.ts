import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { assertKitKernel, assertMatchesCpu } from './compare';

test('Conv2DBackpropInput on wasm is the kit kernel', async () => {
  await assertKitKernel('Conv2DBackpropInput');
});

/** Output size of conv2dTranspose along one axis. */
function upSize(n: number, f: number, s: number, pad: 'same' | 'valid'): number {
  return pad === 'same' ? n * s : (n - 1) * s + f;
}

for (const s of [1, 2, 3]) {
  test(`conv2dTranspose (Conv2DBackpropInput forward) and its gradients match cpu, stride ${s}`, async () => {
    for (const pad of ['same', 'valid'] as const) {
      for (const [n, h, w, cin, f, cout] of [
        [2, 4, 5, 4, 3, 3],
        [1, 3, 3, 2, 2, 5],
        [2, 5, 4, 3, 4, 2],
        [1, 6, 6, 8, 1, 4],
      ]) {
        const out = [n, upSize(h, f, s, pad), upSize(w, f, s, pad), cout];
        await assertMatchesCpu(`conv2dTranspose ${[n, h, w, cin]} f${f} s${s} ${pad}`, {
          shapes: [
            [n, h, w, cin],
            [f, f, cout, cin],
          ],
          f: (x, k) => tf.conv2dTranspose(x as tf.Tensor4D, k as tf.Tensor4D, out as [number, number, number, number], s, pad),
        });
      }
    }
  });
}

test('conv2d input gradient with padding larger than the filter falls back and matches cpu', async () => {
  await assertMatchesCpu('conv2d big pad', {
    shapes: [
      [1, 5, 5, 2],
      [2, 2, 2, 3],
    ],
    f: (x, k) => tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, 1, 3),
  });
});
