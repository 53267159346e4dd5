/**
 * The native kernels give bit-identical results run after run, at the real
 * UNet's shapes (the `default` preset: 16x16 feature maps at level 0 with 48
 * channels, 96+48 -> 48 on the up path, a stride-2 downsample, attention over
 * the 4x4 bottleneck with 4 heads of 24), batch 32 (training) and 64 (guided
 * sampling); and the same on 1 and 2 threads: every conv kernel, products
 * large enough to be cut into bands, and the GroupNorm + SiLU kernels (one
 * image per thread; per-image partials added in image order). The work is cut
 * by shape, never by thread count, because OpenBLAS's kernels may sum an
 * element in an order that depends on its place in a call (seen with 0.3.21's
 * Haswell kernels on an AMD EPYC). Then a whole training step of the default
 * UNet, twice from the same weights and draws on 2 threads, and once on 1
 * thread: the same weights. The same for the full-resolution UNet of
 * scripts/base-model-patch1.json (32x32 maps with 16 channels at level 0).
 * Fails (never skips) when the native kernels are inactive.
 */
import { before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { adam, initBackend } from '../../../src/engine';
import { loadNative } from '../../../src/engine/native';
import { Rng } from '../../../src/engine/random';
import { GroupNorm, groupNorm, ParamStore } from '../../../src/models/layers';
import { diffusionStepRng, MiniClip, TextToImage, trainDiffusionStep } from '../../../src/models';
import { resolvePretrainRun } from '../../../src/pipeline/pretrain';
import { fakeBatches } from '../../models/helpers';
import { requireNative } from './require-native';

const REPEATS = 12;

before(async () => {
  await initBackend('wasm');
});

function rand(shape: number[], seed: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    v[i] = s / 2 ** 32 - 0.5;
  }
  return tf.tensor(v, shape);
}

/** Run `f` on the native kernels with `threads` threads; its output's bytes. */
function bytesOf(threads: number, f: () => tf.Tensor): Uint8Array {
  loadNative()!.setThreads(threads);
  const out = tf.tidy(f);
  const y = out.dataSync() as Float32Array;
  out.dispose();
  return new Uint8Array(y.buffer.slice(y.byteOffset, y.byteOffset + y.byteLength));
}

/** How many of `REPEATS` runs differ from the first one in any byte (0 = deterministic). */
function differingRuns(threads: number, f: () => tf.Tensor): number {
  const first = bytesOf(threads, f);
  assert.ok(first.some((b) => b !== 0), 'output is all zeros');
  let differ = 0;
  for (let r = 1; r < REPEATS; r++) if (Buffer.compare(bytesOf(threads, f), first) !== 0) differ++;
  return differ;
}

type Conv = { name: string; x: number[]; w: number[]; stride: number };
const B = 32;
const CONVS: Conv[] = [
  { name: 'level 0 3x3 48->48', x: [B, 16, 16, 48], w: [3, 3, 48, 48], stride: 1 },
  { name: 'up path 3x3 96+48->48', x: [B, 16, 16, 144], w: [3, 3, 144, 48], stride: 1 },
  { name: 'downsample 3x3 s2 48->48', x: [B, 16, 16, 48], w: [3, 3, 48, 48], stride: 2 },
  // The full-resolution level of scripts/base-model-patch1.json (patch size 1, channels 16 / 48 / 96 / 96).
  { name: 'full-resolution input 3x3 3->16 (the image, and the self-conditioning estimate alike)', x: [B, 32, 32, 3], w: [3, 3, 3, 16], stride: 1 },
  { name: 'full-resolution level 3x3 16->16', x: [B, 32, 32, 16], w: [3, 3, 16, 16], stride: 1 },
  { name: 'full-resolution up path 3x3 48+16->16', x: [B, 32, 32, 64], w: [3, 3, 64, 16], stride: 1 },
  { name: 'full-resolution downsample 3x3 s2 16->16', x: [B, 32, 32, 16], w: [3, 3, 16, 16], stride: 2 },
];

const outShape = (c: Conv) => [c.x[0], c.x[1] / c.stride, c.x[2] / c.stride, c.w[3]];

/** The three conv kernels of one layer on fixed random inputs (made once; `dispose` frees them). */
function convKernels(c: Conv) {
  const x = rand(c.x, 1) as tf.Tensor4D;
  const x64 = rand([64, ...c.x.slice(1)], 1) as tf.Tensor4D;
  const dy = rand(outShape(c), 2) as tf.Tensor4D;
  const w = rand(c.w, 3) as tf.Tensor4D;
  const attrs = { strides: c.stride, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: c.w } as unknown as tf.NamedAttrMap;
  return {
    kernels: [
      ['filter gradient', () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs) as tf.Tensor],
      ['input gradient', () => tf.conv2dTranspose(dy, w, c.x as [number, number, number, number], c.stride, 'same')],
      ['forward', () => tf.conv2d(x, w, c.stride, 'same')],
      ['forward batch 64', () => tf.conv2d(x64, w, c.stride, 'same')],
    ] as const,
    dispose: () => tf.dispose([x, x64, dy, w]),
  };
}

/** Call `check` on each conv kernel of each layer in CONVS (its label and the kernel), freeing the inputs and restoring the thread count after. */
function forEachConvKernel(check: (label: string, f: () => tf.Tensor) => void): void {
  const saved = loadNative()!.info().loopThreads;
  try {
    for (const c of CONVS) {
      const k = convKernels(c);
      try {
        for (const [what, f] of k.kernels) check(`${c.name} ${what}`, f);
      } finally {
        k.dispose();
      }
    }
  } finally {
    loadNative()!.setThreads(saved);
  }
}

test('conv2d at the default UNet shapes: filter gradient, input gradient and forward are bit-identical over 12 runs on 2 threads', (t) => {
  if (!requireNative(t)) return;
  forEachConvKernel((label, f) => {
    const t0 = Date.now();
    const differ = differingRuns(2, f);
    t.diagnostic(`${label}: ${differ}/${REPEATS - 1} reruns differ from the first (${Date.now() - t0} ms)`);
    assert.equal(differ, 0, `${label}: ${differ} of ${REPEATS - 1} reruns differ from the first`);
  });
});

test('conv2d at the default UNet shapes: all four kernels give the same bits on 1 and 2 threads', (t) => {
  if (!requireNative(t)) return;
  forEachConvKernel((label, f) => assert.equal(Buffer.compare(bytesOf(1, f), bytesOf(2, f)), 0, `${label}: 1 and 2 threads differ`));
});

// Products large enough to be cut into bands (of rows, or of columns when there are few rows), with
// row and column counts that are not multiples of OpenBLAS's register tiles: 1 and 2 threads must make
// the same BLAS calls, since a kernel may sum an element in an order that depends on its place in a call.
test('matMul products cut into bands give the same bits on 1 and 2 threads', (t) => {
  if (!requireNative(t)) return;
  const saved = loadNative()!.info().loopThreads;
  try {
    for (const [m, k, n] of [[8192, 144, 48], [1000, 576, 64], [40, 300, 1000], [2048, 96, 288]]) {
      const a = rand([m, k], 1);
      const b = rand([k, n], 2);
      for (const [ta, tb] of [[false, false], [true, false], [false, true]]) {
        const f = () => tf.matMul(ta ? a.transpose() : a, tb ? b.transpose() : b, ta, tb);
        assert.equal(Buffer.compare(bytesOf(1, f), bytesOf(2, f)), 0, `${m}x${k} by ${k}x${n} (transposed ${ta}, ${tb}): 1 and 2 threads differ`);
      }
      tf.dispose([a, b]);
    }
  } finally {
    loadNative()!.setThreads(saved);
  }
});

test('the GroupNorm + SiLU kernels at the default UNet sampling shapes (batch 64): 1 and 2 threads give the same bits (forward and gradient), 12 forward runs on 2 threads too', (t) => {
  if (!requireNative(t)) return;
  const saved = loadNative()!.info().loopThreads;
  const ps = new ParamStore(new Rng('gn-determinism'));
  try {
    for (const [c, hw] of [[48, 16], [144, 16], [96, 4]]) {
      const gn = new GroupNorm(ps, `gn${c}x${hw}`, c, 8);
      tf.tidy(() => gn.gamma.assign(rand([c], 1).add(1)));
      const x = rand([64, hw, hw, c], 2);
      const f = () => gn.applySilu(x as tf.Tensor4D);
      assert.equal(Buffer.compare(bytesOf(1, f), bytesOf(2, f)), 0, `${c} channels at ${hw}x${hw}: 1 and 2 threads differ`);
      assert.equal(differingRuns(2, f), 0, `${c} channels at ${hw}x${hw}: runs differ`);
      // The training kernels: the gradient with respect to x, gamma and beta, concatenated.
      const g = () => {
        const w = rand([64, hw, hw, c], 3);
        const [dx, dgamma, dbeta] = tf.grads((xx: tf.Tensor, gm: tf.Tensor, bt: tf.Tensor) => tf.sum(tf.mul(groupNorm(xx as tf.Tensor4D, gm, bt, 8, 1e-5, true), w)))([x, gn.gamma, gn.beta]);
        return tf.concat([dx.reshape([-1]), dgamma, dbeta]);
      };
      assert.equal(Buffer.compare(bytesOf(1, g), bytesOf(2, g)), 0, `${c} channels at ${hw}x${hw}: the gradient on 1 and 2 threads differs`);
      x.dispose();
    }
  } finally {
    loadNative()!.setThreads(saved);
    tf.dispose(Object.values(ps.variables));
  }
});

test('attention matmuls at the default UNet shapes (4 heads of 24 over 16 tokens, batch 32): gradients bit-identical over 12 runs', (t) => {
  if (!requireNative(t)) return;
  const saved = loadNative()!.info().loopThreads;
  // q k^T -> softmax -> v, and the qkv projection of the 16 tokens' 96 channels; all gradients concatenated.
  const attention = () => {
    const q = rand([B, 4, 16, 24], 1);
    const k = rand([B, 4, 16, 24], 2);
    const v = rand([B, 4, 16, 24], 3);
    const x = rand([B * 16, 96], 4);
    const wqkv = rand([96, 288], 5);
    const dy = rand([B, 4, 16, 24], 6);
    const f = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, x: tf.Tensor, w: tf.Tensor) =>
      tf.add(tf.sum(tf.mul(tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(24))), v), dy)), tf.sum(tf.square(tf.matMul(x, w))));
    const g = tf.grads(f)([q, k, v, x, wqkv]);
    return tf.concat(g.map((d) => d.reshape([-1])));
  };
  try {
    const differ = differingRuns(2, attention);
    t.diagnostic(`attention gradients: ${differ}/${REPEATS - 1} runs differ from the first`);
    assert.equal(differ, 0);
  } finally {
    loadNative()!.setThreads(saved);
  }
});

const PATCH1 = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'scripts', 'base-model-patch1.json'), 'utf8'));

for (const [name, overrides] of [['the default UNet', {}], ['the full-resolution UNet', PATCH1]] as const) {
  test(`a training step of ${name}, twice from the same weights and draws, gives bit-identical weights on 2 threads, and the same on 1 thread`, (t) => {
    if (!requireNative(t)) return;
    const saved = loadNative()!.info().loopThreads;
    const { config } = resolvePretrainRun('default', overrides);
    const clip = new MiniClip(config.clip, 0);
    const batch = fakeBatches(7)(0, config.diffusionTrain.batchSize);
    const weightsAfterStep = (threads: number): Uint8Array[] => {
      loadNative()!.setThreads(threads);
      const model = new TextToImage(clip, config.diffusion, 0);
      const optimizer = adam(config.diffusionTrain.learningRate);
      try {
        const loss = trainDiffusionStep(model, optimizer, batch, diffusionStepRng(config.seed, 1));
        assert.ok(Number.isFinite(loss));
        return Object.values(model.trainableVariables).map((v) => new Uint8Array((v.dataSync() as Float32Array).slice().buffer));
      } finally {
        optimizer.dispose();
        model.dispose();
      }
    };
    try {
      const t0 = Date.now();
      const a = weightsAfterStep(2);
      const b = weightsAfterStep(2);
      t.diagnostic(`batch ${batch.length}: two steps in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${a.length} weight tensors`);
      assert.equal(a.length, b.length);
      const differ = a.filter((w, i) => Buffer.compare(w, b[i]) !== 0).length;
      assert.equal(differ, 0, `${differ} of ${a.length} weight tensors differ after one step`);
      const one = weightsAfterStep(1);
      const differOne = a.filter((w, i) => Buffer.compare(w, one[i]) !== 0).length;
      assert.equal(differOne, 0, `${differOne} of ${a.length} weight tensors differ between 2 threads and 1 thread after one step`);
    } finally {
      clip.dispose();
      loadNative()!.setThreads(saved);
    }
  });
}
