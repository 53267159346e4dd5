/**
 * The native (OpenBLAS) kernels on the wasm backend give the cpu backend's
 * values and gradients: matmul (transpose flags, batched, broadcast, fused
 * bias + activation) and conv2d (strides, paddings, dilations, fused), with
 * no tensor leaks. The native-only tests fail when the addon is not built
 * (skip only under `npm test -- --no-native`, see require-native.ts).
 */
import { before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, nativeStatus } from '../../../src/engine';
import { collapseBroadcast, installNativeKernels, loadNative } from '../../../src/engine/native';
import { requireNative } from './require-native';
import { groupNorm, nativeGroupNorm } from '../../../src/models/layers';

type Arrays = Float32Array[];
type Case = { name: string; shapes: number[][]; f: (...xs: tf.Tensor[]) => tf.Tensor; forwardOnly?: boolean };

let native = false;
let skipReason = '';

before(async () => {
  await initBackend('wasm');
  const s = nativeStatus();
  native = s.active;
  skipReason = s.reason;
});

function rand(shape: number[], seed: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  let s = seed * 2654435761 >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/** Value and gradients of sum(f(xs) * w) (w fixed random) w.r.t. every input, on one backend. */
function run(backend: string, c: Case): Arrays {
  tf.setBackend(backend);
  return tf.tidy(() => {
    const xs = c.shapes.map((s, i) => tf.tensor(rand(s, i + 1), s));
    const y = c.f(...xs);
    const w = tf.tensor(rand(y.shape, 99), y.shape);
    if (c.forwardOnly) return [y.dataSync() as Float32Array];
    const g = tf.grads((...as: tf.Tensor[]) => tf.sum(tf.mul(c.f(...as), w)));
    return [y, ...g(xs)].map((t) => t.dataSync() as Float32Array);
  });
}

function assertClose(got: Arrays, want: Arrays, what: string): void {
  assert.equal(got.length, want.length);
  for (let k = 0; k < want.length; k++) {
    assert.equal(got[k].length, want[k].length, `${what} output ${k}: length`);
    let maxRef = 0;
    let maxDiff = 0;
    for (let i = 0; i < want[k].length; i++) {
      maxRef = Math.max(maxRef, Math.abs(want[k][i]));
      maxDiff = Math.max(maxDiff, Math.abs(got[k][i] - want[k][i]));
    }
    assert.ok(maxDiff <= 1e-4 * Math.max(1, maxRef), `${what} output ${k}: max abs diff ${maxDiff} (max |ref| ${maxRef})`);
  }
}

function check(c: Case): void {
  const want = run('cpu', c);
  tf.setBackend('wasm');
  const n0 = tf.memory().numTensors;
  // run() is a tf.tidy, which disposes tensors: a kernel's leak shows in the backend's buffers, which it does not free.
  const buffers = tf.engine().backend.numDataIds();
  const got = run('wasm', c);
  assert.equal(tf.memory().numTensors, n0, `${c.name}: tensors leaked`);
  assert.equal(tf.engine().backend.numDataIds(), buffers, `${c.name}: ${tf.engine().backend.numDataIds() - buffers} backend buffers leaked`);
  assertClose(got, want, c.name);
}

const mm = (ta: boolean, tb: boolean) => (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b, ta, tb);

const MATMUL: Case[] = [
  { name: '2-D', shapes: [[33, 47], [47, 29]], f: mm(false, false) },
  { name: '2-D transposeA', shapes: [[47, 33], [47, 29]], f: mm(true, false) },
  { name: '2-D transposeB', shapes: [[33, 47], [29, 47]], f: mm(false, true) },
  { name: '2-D both', shapes: [[47, 33], [29, 47]], f: mm(true, true) },
  { name: 'batched', shapes: [[3, 17, 24], [3, 24, 9]], f: mm(false, false) },
  { name: 'batched transposeA/B', shapes: [[3, 24, 17], [3, 9, 24]], f: mm(true, true) },
  { name: 'rank 4', shapes: [[2, 3, 8, 5], [2, 3, 5, 7]], f: mm(false, false) },
  { name: 'attention-like [16,32,16]x[16,16,32]', shapes: [[16, 32, 16], [16, 32, 16]], f: mm(false, true) },
  { name: 'batched large [3,200,100]x[3,100,210]', shapes: [[3, 200, 100], [3, 100, 210]], f: mm(false, false) },
  // tfjs's BatchMatMul gradient does not reduce broadcast batch axes (on every backend): forward only.
  { name: 'broadcast b', shapes: [[4, 10, 6], [6, 5]], f: mm(false, false), forwardOnly: true },
  { name: 'broadcast b transposeA', shapes: [[4, 6, 10], [1, 6, 5]], f: mm(true, false), forwardOnly: true },
  { name: 'broadcast a', shapes: [[10, 6], [4, 6, 5]], f: mm(false, false), forwardOnly: true },
  { name: 'dense-like 256x512x128', shapes: [[256, 512], [512, 128]], f: mm(false, false) },
  { name: 'vector-like', shapes: [[1, 64], [64, 1]], f: mm(false, false) },
];

const fusedMM = (act: tf.fused.Activation, tb = false) => (a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor) =>
  tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias, activation: act, transposeB: tb, leakyreluAlpha: 0.1 });

const FUSED_MATMUL: Case[] = (['linear', 'relu', 'relu6', 'leakyrelu', 'sigmoid', 'elu'] as tf.fused.Activation[]).map((act) => ({
  name: `fused matMul ${act}`,
  shapes: [[19, 23], [23, 13], [13]],
  f: fusedMM(act),
}));
FUSED_MATMUL.push({ name: 'fused matMul transposeB bias', shapes: [[19, 23], [13, 23], [13]], f: fusedMM('relu', true) });
FUSED_MATMUL.push({ name: 'fused matMul scalar bias', shapes: [[19, 23], [23, 13], [1]], f: fusedMM('linear') });

type Pad = 'same' | 'valid' | number;
const conv = (strides: number | [number, number], pad: Pad, dil: number | [number, number] = 1) => (x: tf.Tensor, w: tf.Tensor) =>
  tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, strides, pad, 'NHWC', dil);

const CONV: Case[] = [
  { name: '3x3 same s1', shapes: [[2, 9, 11, 5], [3, 3, 5, 7]], f: conv(1, 'same') },
  { name: '3x3 valid s1', shapes: [[2, 9, 11, 5], [3, 3, 5, 7]], f: conv(1, 'valid') },
  { name: '3x3 same s2', shapes: [[2, 9, 11, 5], [3, 3, 5, 7]], f: conv(2, 'same') },
  { name: '3x3 valid s2', shapes: [[2, 10, 11, 4], [3, 3, 4, 6]], f: conv(2, 'valid') },
  { name: '4x4 same s2 (even)', shapes: [[2, 8, 8, 3], [4, 4, 3, 5]], f: conv(2, 'same') },
  { name: '5x3 same strides [2,1]', shapes: [[1, 12, 10, 3], [5, 3, 3, 4]], f: conv([2, 1], 'same') },
  { name: '3x3 explicit pad 2', shapes: [[2, 7, 7, 3], [3, 3, 3, 4]], f: conv(1, 2) },
  { name: '1x1 pointwise', shapes: [[3, 6, 5, 8], [1, 1, 8, 12]], f: conv(1, 'valid') },
  { name: '1x1 stride 2', shapes: [[2, 6, 6, 4], [1, 1, 4, 3]], f: conv(2, 'same') },
  { name: '3x3 dilation 2 (forward)', shapes: [[2, 11, 11, 3], [3, 3, 3, 4]], f: conv(1, 'same', 2), forwardOnly: true },
  { name: '3x3 same s2 batch 5', shapes: [[5, 7, 9, 3], [3, 3, 3, 4]], f: conv(2, 'same') },
  { name: 'unet-like 16x16x32->32', shapes: [[4, 16, 16, 32], [3, 3, 32, 32]], f: conv(1, 'same') },
  // Big enough for the Winograd kernels (>= 256 output tiles forward, >= 1,024 for the gradients):
  // odd sizes (edge tiles), and each padding (pad 1, 0 and 2 become 1, 2 and 0 in the input gradient).
  { name: 'winograd 3x3 same, odd sizes', shapes: [[20, 13, 15, 5], [3, 3, 5, 7]], f: conv(1, 'same') },
  { name: 'winograd 3x3 valid', shapes: [[26, 13, 15, 5], [3, 3, 5, 7]], f: conv(1, 'valid') },
  { name: 'winograd 3x3 explicit pad 2', shapes: [[30, 12, 11, 4], [3, 3, 4, 6]], f: conv(1, 2) },
];

const fusedConv = (act: tf.fused.Activation, strides = 1) => (x: tf.Tensor, w: tf.Tensor, bias: tf.Tensor) =>
  tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides, pad: 'same', bias, activation: act, leakyreluAlpha: 0.1 });

const FUSED_CONV: Case[] = [
  { name: 'fused conv relu', shapes: [[2, 8, 8, 3], [3, 3, 3, 6], [6]], f: fusedConv('relu') },
  { name: 'fused conv linear s2', shapes: [[2, 8, 8, 3], [3, 3, 3, 6], [6]], f: fusedConv('linear', 2) },
  { name: 'fused conv leakyrelu', shapes: [[2, 8, 8, 3], [3, 3, 3, 6], [6]], f: fusedConv('leakyrelu') },
  { name: 'fused conv elu', shapes: [[2, 8, 8, 3], [3, 3, 3, 6], [6]], f: fusedConv('elu') },
  { name: 'fused conv relu, Winograd-sized', shapes: [[16, 12, 12, 6], [3, 3, 6, 10], [10]], f: fusedConv('relu') },
];

const bin = (op: 'add' | 'sub' | 'mul' | 'div') => (a: tf.Tensor, b: tf.Tensor) =>
  op === 'div' ? tf.div(a, tf.add(tf.abs(b), 0.5)) : tf[op](a, b);

// Elementwise ops above the size where the native kernels take over (16,384 outputs), with the
// broadcasts the UNet uses (GroupNorm's per-group statistics, per-channel scales, scalars).
const ELEMENTWISE: Case[] = (['add', 'sub', 'mul', 'div'] as const).flatMap((op) => [
  { name: `${op} same shape`, shapes: [[4, 32, 32, 8], [4, 32, 32, 8]], f: bin(op) },
  { name: `${op} group broadcast`, shapes: [[8, 64, 8, 6], [8, 1, 8, 1]], f: bin(op) },
  { name: `${op} per-channel, left broadcast`, shapes: [[1, 1, 8, 6], [8, 64, 8, 6]], f: bin(op) },
  { name: `${op} scalar`, shapes: [[40000], [1]], f: bin(op) },
  { name: `${op} mixed [5,1,40,1,3]x[1,7,40,11,1]`, shapes: [[5, 1, 40, 1, 3], [1, 7, 40, 11, 1]], f: bin(op) },
]);
const cat = (axis: number) => (...xs: tf.Tensor[]) => tf.concat(xs, axis);
const CONCAT: Case[] = [
  { name: 'concat channels (UNet skip)', shapes: [[8, 16, 16, 48], [8, 16, 16, 24]], f: cat(3) },
  { name: 'concat axis 1, three inputs', shapes: [[4, 16, 16, 12], [4, 8, 16, 12], [4, 1, 16, 12]], f: cat(1) },
  { name: 'concat axis 0', shapes: [[30, 700], [2, 700]], f: cat(0) },
];
/** Split (SplitV), each piece scaled differently, then put back together: forward and gradient through both. */
const splitScale = (sizes: number[], axis: number) => (x: tf.Tensor) => tf.concat(tf.split(x, sizes, axis).map((p, i) => tf.mul(p, i + 1)), axis);
CONCAT.push(
  { name: 'split channels (concat gradient)', shapes: [[8, 16, 16, 72]], f: splitScale([48, 24], 3) },
  { name: 'split axis 1 in three', shapes: [[4, 25, 16, 12]], f: splitScale([16, 8, 1], 1) },
);

test('the native kernels are active on wasm when the addon is built', (t) => {
  if (!requireNative(t)) return;
  const s = nativeStatus();
  assert.ok(s.threads >= 1);
  assert.match(s.library, /OpenBLAS/);
  for (const k of ['BatchMatMul', '_FusedMatMul', 'Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'Add', 'Sub', 'Multiply', 'RealDiv', 'Concat', 'SplitV', 'T2IFusedAdam', 'T2IGroupNorm', 'T2IGroupNormTrain', 'T2IGroupNormGrad']) {
    assert.ok(s.kernels.includes(k), `${k} is native`);
  }
  // Installing twice keeps one layer (no recursion through our own kernel).
  installNativeKernels();
  check(MATMUL[0]);
});

for (const [group, cases] of [['matMul', MATMUL], ['fused matMul', FUSED_MATMUL], ['conv2d', CONV], ['fused conv2d', FUSED_CONV], ['elementwise', ELEMENTWISE], ['concat', CONCAT]] as const) {
  test(`${group}: values and gradients equal the cpu backend's`, (t) => {
    if (!native) t.diagnostic(`native inactive (${skipReason}): checking the plain wasm kernels`);
    for (const c of cases) {
      if (!native && c.name === 'fused matMul scalar bias') {
        // The plain wasm _FusedMatMul misreads a size-1 bias (diff ~0.2 measured); not the native path's concern.
        t.diagnostic('skipped on plain wasm: fused matMul scalar bias');
        continue;
      }
      check(c);
    }
  });
}

test('conv2d in each native strategy (small tasks per thread, one threaded gemm, Winograd or not) equals the cpu backend', (t) => {
  if (!requireNative(t)) return;
  const addon = loadNative()!;
  const saved = addon.info();
  try {
    for (const [mode, taskBytes, winograd] of [[1, 4096, 1], [1, 20000, 0], [0, 4096, 0], [0, 4096, 1]]) {
      addon.setConvMode(mode, taskBytes, winograd);
      addon.setChunkBytes(Math.max(4096, taskBytes));
      for (const c of [...CONV, ...FUSED_CONV]) check({ ...c, name: `${c.name} (mode ${mode}, ${taskBytes} B, winograd ${winograd})` });
    }
  } finally {
    addon.setConvMode(saved.convMode, saved.taskBytes, saved.winograd);
    addon.setChunkBytes(saved.chunkBytes);
  }
});

test('the Winograd-sized cases reach the Winograd kernels: forward, input and filter gradient differ in their bits from im2col\'s', (t) => {
  // Both ways agree with the cpu backend (the test above); Winograd rounds differently, so equal bits
  // would mean the Winograd leg of that test ran im2col.
  if (!requireNative(t)) return;
  const addon = loadNative()!;
  const saved = addon.info();
  try {
    for (const name of ['winograd 3x3 same, odd sizes', 'winograd 3x3 valid', 'winograd 3x3 explicit pad 2']) {
      const c = CONV.find((x) => x.name === name)!;
      const [im2col, winograd] = [0, 1].map((w) => {
        addon.setConvMode(saved.convMode, saved.taskBytes, w);
        return run('wasm', c);
      });
      ['output', 'input gradient', 'filter gradient'].forEach((what, k) =>
        assert.ok(!Buffer.from(im2col[k].buffer).equals(Buffer.from(winograd[k].buffer)), `${name}, ${what}: the same bits with Winograd on and off`),
      );
    }
  } finally {
    addon.setConvMode(saved.convMode, saved.taskBytes, saved.winograd);
  }
});

test('matMul broadcasting both batch axes ([2,1]x[1,3]) equals the tiled product', (t) => {
  // The cpu backend flattens batch axes and gets this case wrong, so compare with explicit tiling.
  if (!requireNative(t)) return;
  tf.setBackend('wasm');
  const n0 = tf.memory().numTensors;
  const [got, want] = tf.tidy(() => {
    const a = tf.tensor(rand([2, 1, 4, 6], 1), [2, 1, 4, 6]);
    const b = tf.tensor(rand([1, 3, 6, 5], 2), [1, 3, 6, 5]);
    const y = tf.matMul(a, b, false, false);
    const at = tf.reshape(tf.tile(a, [1, 3, 1, 1]), [6, 4, 6]);
    const bt = tf.reshape(tf.tile(b, [2, 1, 1, 1]), [6, 6, 5]);
    const ref = tf.reshape(tf.matMul(at, bt), [2, 3, 4, 5]);
    assert.deepEqual(y.shape, [2, 3, 4, 5]);
    return [y.dataSync() as Float32Array, ref.dataSync() as Float32Array];
  });
  assert.equal(tf.memory().numTensors, n0);
  assertClose([got], [want], 'broadcast both');
});

test('a training step (dense + conv, optimizer) leaks no tensors', () => {
  tf.setBackend('wasm');
  const w1 = tf.variable(tf.tensor(rand([3, 3, 4, 8], 5), [3, 3, 4, 8]));
  const w2 = tf.variable(tf.tensor(rand([8 * 8 * 8, 10], 6), [512, 10]));
  const x = tf.tensor(rand([4, 8, 8, 4], 7), [4, 8, 8, 4]);
  const opt = tf.train.sgd(0.01);
  const step = () => {
    const loss = opt.minimize(() => {
      const h = tf.relu(tf.conv2d(x as tf.Tensor4D, w1 as tf.Variable<tf.Rank.R4>, 1, 'same'));
      return tf.mean(tf.square(tf.matMul(tf.reshape(h, [4, 512]), w2)));
    }, true)!;
    const v = loss.dataSync()[0];
    loss.dispose();
    return v;
  };
  step();
  const n0 = tf.memory().numTensors;
  const l1 = step();
  const l2 = step();
  assert.equal(tf.memory().numTensors, n0);
  assert.ok(Number.isFinite(l1) && Number.isFinite(l2));
  tf.dispose([w1, w2, x]);
  opt.dispose();
});

test('native add, sub and mul round each element once: the same bits as the cpu backend', (t) => {
  if (!requireNative(t)) return;
  for (const c of ELEMENTWISE.filter((e) => !e.name.startsWith('div'))) {
    const want = run('cpu', { ...c, forwardOnly: true })[0];
    const got = run('wasm', { ...c, forwardOnly: true })[0];
    assert.ok(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), c.name);
  }
});

test('collapseBroadcast merges axes contiguous in both inputs and drops size-1 axes', () => {
  assert.deepEqual(collapseBroadcast([8, 64, 8, 6], [8, 1, 8, 1], [8, 64, 8, 6]), { shape: [8, 64, 8, 6], a: [3072, 48, 6, 1], b: [8, 0, 1, 0] });
  assert.deepEqual(collapseBroadcast([4, 5, 6], [4, 5, 6], [4, 5, 6]), { shape: [120], a: [1], b: [1] });
  assert.deepEqual(collapseBroadcast([40000], [1], [40000]), { shape: [40000], a: [1], b: [0] });
  assert.deepEqual(collapseBroadcast([2, 3, 1, 5], [1, 1, 1, 5], [2, 3, 1, 5]), { shape: [6, 5], a: [5, 1], b: [0, 1] });
});

const GROUP_NORM: Case[] = [
  [64, 16, 16, 48, 8, true],
  [3, 5, 7, 12, 4, true],
  [2, 4, 4, 96, 8, false],
  [4, 8, 8, 96, 8, true],
].map(([b, h, w, c, g, withSilu]) => ({
  name: `groupNorm [${b},${h},${w},${c}] groups ${g}${withSilu ? ' + silu' : ''}`,
  shapes: [[b, h, w, c] as number[], [c as number], [c as number]],
  f: (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) =>
    groupNorm(tf.add(tf.mul(x, 4), 0.5) as tf.Tensor4D, tf.add(gamma, 1), beta, g as number, 1e-5, withSilu as boolean),
}));

test('the native GroupNorm (+ SiLU) kernels: values and gradients (x, gamma, beta) equal the cpu backend\'s composed ops', (t) => {
  if (!requireNative(t)) return;
  assert.equal(nativeGroupNorm(), true);
  for (const c of GROUP_NORM) {
    check(c);
    check({ ...c, name: `${c.name}, inference`, forwardOnly: true });
  }
});

test('the native GroupNorm + SiLU is 0 far below zero (where exp(-y) overflows float), as the composed ops are', (t) => {
  if (!requireNative(t)) return;
  tf.setBackend('wasm');
  const out = tf.tidy(() => {
    const x = tf.tensor(rand([2, 4, 4, 16], 5), [2, 4, 4, 16]) as tf.Tensor4D;
    return groupNorm(x, tf.ones([16]), tf.fill([16], -100), 4, 1e-5, true).dataSync() as Float32Array;
  });
  // y = xhat - 100 < -95 everywhere: silu(y) = y sigmoid(y) rounds to 0 (or a denormal) in float32.
  for (const v of out) assert.ok(Math.abs(v) < 1e-40, `silu of y < -95 gave ${v}`);
});

test('the native GroupNorm gradient of an empty batch: dx empty, dgamma and dbeta zero (as the forward accepts B = 0)', (t) => {
  if (!requireNative(t)) return;
  const x = tf.zeros([0, 4, 4, 16]) as tf.Tensor4D;
  const gamma = tf.ones([16]), beta = tf.zeros([16]);
  const gr = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => groupNorm(xx as tf.Tensor4D, gg, bb, 4, 1e-5, true))([x, gamma, beta]);
  assert.deepEqual(gr[0].shape, [0, 4, 4, 16]);
  assert.deepEqual(Array.from(gr[1].dataSync()), new Array(16).fill(0));
  assert.deepEqual(Array.from(gr[2].dataSync()), new Array(16).fill(0));
  tf.dispose([x, gamma, beta, ...gr]);
});
