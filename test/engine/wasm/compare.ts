/**
 * Compare a computation on wasm (with the kit's kernels) against the cpu
 * backend: values and gradients, within 1e-4 * max(1, max |reference|), and
 * with no tensors left behind on wasm.
 */
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Rng, initBackend } from '../../../src/engine';

// These tests check the kit's wasm kernels themselves: keep the native
// (OpenBLAS) kernels, which would sit on top of them, out of this process.
process.env.T2I_NATIVE = '0';

let ready: Promise<unknown> | undefined;

/** Activate wasm through the kit (installs its kernels) once; afterwards switch with tf.setBackend. */
export async function useWasm(): Promise<void> {
  ready ??= initBackend('wasm');
  await ready;
  await tf.setBackend('wasm');
}

/** Normal random values for a shape, seeded by `name`. */
export function randn(name: string, shape: number[]): Float32Array {
  const rng = new Rng(`wasm-test/${name}/${shape.join('x')}`);
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal();
  return out;
}

export interface Case {
  /** Shapes of the differentiable inputs. */
  shapes: number[][];
  /** The computation; its output gets a random upstream gradient. */
  f: (...xs: tf.Tensor[]) => tf.Tensor;
  /** Compare gradients too (default true). */
  grads?: boolean;
}

/** Output then one gradient per input, as plain arrays with shapes, computed on the active backend. */
function evaluate(label: string, c: Case): { shape: number[]; values: Float32Array }[] {
  return tf.tidy(() => {
    const xs = c.shapes.map((s, i) => tf.tensor(randn(`${label}/x${i}`, s), s));
    const y = c.f(...xs);
    const results = [y];
    if (c.grads !== false) {
      const dy = tf.tensor(randn(`${label}/dy`, y.shape), y.shape);
      results.push(...tf.grads((...ys: tf.Tensor[]) => c.f(...ys))(xs, dy));
    }
    return results.map((t) => ({ shape: t.shape.slice(), values: t.dataSync() as Float32Array }));
  });
}

export function maxAbs(xs: Float32Array): number {
  let m = 0;
  for (const x of xs) m = Math.max(m, Math.abs(x));
  return m;
}

/**
 * Run `c` on cpu and on wasm and assert: same shapes, max |diff| <=
 * 1e-4 * max(1, max |ref|) for the output and each gradient, and no wasm leak.
 */
export async function assertMatchesCpu(label: string, c: Case): Promise<void> {
  await tf.setBackend('cpu');
  const ref = evaluate(label, c);
  await useWasm();
  const before = tf.memory().numTensors;
  // evaluate runs in a tf.tidy, which disposes any tensor the case makes: a kernel's leak shows in the backend's
  // buffers, which no tidy frees (a kernel works on buffers, and one it forgets to free stays).
  const buffers = tf.engine().backend.numDataIds();
  const got = evaluate(label, c);
  assert.equal(tf.memory().numTensors, before, `${label}: leaked ${tf.memory().numTensors - before} tensor(s) on wasm`);
  assert.equal(tf.engine().backend.numDataIds(), buffers, `${label}: leaked ${tf.engine().backend.numDataIds() - buffers} backend buffer(s) on wasm`);
  assert.equal(got.length, ref.length);
  ref.forEach((r, i) => {
    const what = i === 0 ? 'value' : `gradient ${i - 1}`;
    assert.deepEqual(got[i].shape, r.shape, `${label} ${what}: shape`);
    let diff = 0;
    for (let j = 0; j < r.values.length; j++) {
      const d = Math.abs(got[i].values[j] - r.values[j]);
      if (!(d <= diff)) diff = d; // NaN propagates into a failure
    }
    const tol = 1e-4 * Math.max(1, maxAbs(r.values));
    assert.ok(diff <= tol, `${label} ${what}: max |wasm - cpu| = ${diff} > ${tol}`);
  });
}

/** The wasm kernel registered as `name` is the kit's (not tfjs-backend-wasm's, not missing). */
export async function assertKitKernel(name: string): Promise<void> {
  await useWasm();
  const k = tf.getKernel(name, 'wasm');
  assert.ok(k, `no wasm kernel ${name}`);
  assert.equal((k.kernelFunc as unknown as Record<symbol, boolean>)[Symbol.for('t2i-align.kitKernel')], true, `${name} on wasm is not the kit's`);
}
