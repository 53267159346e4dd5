// One small computation (matmul with both transpose flags, strided conv) with
// its gradients, shared by fallback.test.ts and its child process.
import * as tf from '@tensorflow/tfjs';

export const FALLBACK_CASE = 'matMul(tA,tB) + conv2d s2 same: value and gradients';

function rand(shape: number[], seed: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    v[i] = s / 2 ** 32 - 0.5;
  }
  return tf.tensor(v, shape);
}

export function runFallbackCase(): Float32Array[] {
  return tf.tidy(() => {
    const a = rand([12, 9], 1);
    const b = rand([7, 12], 2);
    const x = rand([2, 9, 9, 3], 3);
    const w = rand([3, 3, 3, 5], 4);
    const f = (a: tf.Tensor, b: tf.Tensor, x: tf.Tensor, w: tf.Tensor) =>
      tf.add(tf.sum(tf.square(tf.matMul(a, b, true, true))), tf.sum(tf.square(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same'))));
    const { value, grads } = tf.valueAndGrads(f)([a, b, x, w]);
    return [value, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}
