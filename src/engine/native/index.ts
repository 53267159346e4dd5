/**
 * Native training kernels for the wasm backend: sgemm and NHWC conv2d
 * (forward, input gradient, filter gradient) over OpenBLAS, through a small
 * N-API addon (native/t2i_native.cc, built at install by
 * scripts/build-native.js when a C++ compiler and libopenblas-dev exist).
 *
 * The wasm backend keeps every tensor in its wasm heap; the addon takes that
 * heap's ArrayBuffer plus byte offsets, so inputs are read and outputs written
 * in place (no copies). OpenBLAS uses all cores.
 *
 * `T2I_NATIVE=0` (or off/false/no) forces the plain wasm kernels.
 * `T2I_NATIVE_THREADS=n` sets the thread count (default: all logical cores).
 * `T2I_NATIVE_ADDON=path` loads the addon from another file.
 *
 * Cases the addon does not cover (non-float32, NCHW, prelu activation, bias
 * that is not per-channel) go to the kernel that was registered before.
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The addon's functions (see native/t2i_native.cc for the argument order). */
export interface NativeAddon {
  gemm(
    heap: ArrayBuffer,
    batch: number,
    m: number,
    n: number,
    k: number,
    transA: number,
    transB: number,
    aOffsets: Float64Array,
    bOffsets: Float64Array,
    cOffset: number,
    biasOffset: number,
    biasLength: number,
    activation: number,
    alpha: number,
  ): void;
  conv2d(
    heap: ArrayBuffer,
    xOffset: number,
    wOffset: number,
    yOffset: number,
    params: Int32Array,
    biasOffset: number,
    activation: number,
    alpha: number,
  ): void;
  conv2dBackpropInput(heap: ArrayBuffer, dyOffset: number, wOffset: number, dxOffset: number, params: Int32Array): void;
  conv2dBackpropFilter(heap: ArrayBuffer, xOffset: number, dyOffset: number, dwOffset: number, params: Int32Array): void;
  adam(
    heap: ArrayBuffer,
    wOffset: number, gOffset: number, mOffset: number, vOffset: number,
    wOutOffset: number, mOutOffset: number, vOutOffset: number,
    n: number, beta1: number, beta2: number, c1: number, c2: number, epsilon: number, negLearningRate: number,
  ): void;
  binary(heap: ArrayBuffer, op: number, aOffset: number, bOffset: number, outOffset: number, shape: Float64Array, aStrides: Float64Array, bStrides: Float64Array): void;
  concat(heap: ArrayBuffer, offsets: Float64Array, rowLengths: Float64Array, rows: number, outOffset: number): void;
  split(heap: ArrayBuffer, inOffset: number, outOffsets: Float64Array, rowLengths: Float64Array, rows: number): void;
  groupNorm(
    heap: ArrayBuffer, xOffset: number, gammaOffset: number, betaOffset: number, yOffset: number,
    b: number, hw: number, c: number, groups: number, eps: number, silu: number, statsOffset?: number,
  ): void;
  groupNormGrad(
    heap: ArrayBuffer, dzOffset: number, xOffset: number, gammaOffset: number, betaOffset: number, statsOffset: number,
    dxOffset: number, dgammaOffset: number, dbetaOffset: number, b: number, hw: number, c: number, groups: number, silu: number,
  ): void;
  /** Threads of the addon's own pool (OpenBLAS itself always runs on one: the pool splits the products). */
  setThreads(n: number): void;
  setChunkBytes(n: number): void;
  /**
   * mode 1: each thread runs im2col + single-threaded sgemm on tasks of `taskBytes` columns (default);
   * 0: one gemm per chunk, cut over the addon's threads. winograd 1 (default): large 3x3 stride-1 convolutions by
   * Winograd (F(2x2, 3x3) forward and input gradient, F(3x3, 2x2) filter gradient); 0: never. Pass
   * numbers only: an explicit `undefined` is a bad argument to the addon.
   */
  setConvMode(mode: number, taskBytes?: number, winograd?: number): void;
  info(): { blasThreads: number; loopThreads: number; config: string; core: string; chunkBytes: number; convMode: number; taskBytes: number; winograd: number };
}

export interface NativeStatus {
  /** True when the native kernels are registered on the active (wasm) backend. */
  active: boolean;
  /** True when the addon loaded (it may still be inactive: other backend, not installed yet). */
  loaded: boolean;
  /** Why it is active or not, in words. */
  reason: string;
  /** Threads the native kernels use (0 when not loaded). */
  threads: number;
  /** The BLAS library and its build (OpenBLAS config string), or '' when not loaded. */
  library: string;
  /** The addon file looked for. */
  addon: string;
  /** Kernels replaced on the wasm backend. */
  kernels: string[];
}

/** The package root: this file sits at src/engine/native/ (tsx) or dist/engine/native/ (compiled). */
const ROOT = path.resolve(__dirname, '..', '..', '..');
/** The addon file; `T2I_NATIVE_ADDON` overrides it (tests point it at a missing file to check the fallback). */
export const ADDON_PATH = process.env.T2I_NATIVE_ADDON || path.join(ROOT, 'build', 'Release', 't2i_native.node');
const BUILD_REPORT = path.join(ROOT, 'build', 'native-build.json');

/**
 * How long OpenBLAS's idle worker threads spin before they sleep, as log2 of CPU cycles (its
 * minimum; OpenBLAS's own default is 28, about 0.1 s). After each threaded gemm the spinning
 * worker (sched_yield in a loop) takes a core from the kit's own threads, which run most
 * kernels: a train step took 6-27% less at 4 (three alternating pairs here), and its system
 * time fell from ~35% of the CPU time to ~9%. The waiting strategy only: no result changes. A value already in the
 * environment is kept. Since 2026-12-03's evening the addon runs OpenBLAS on one thread and splits
 * products over its own pool (native/t2i_native.cc, sgemmPar), so the kit itself no longer starts
 * OpenBLAS's workers and this setting no longer changes its speed; it stays because the parity bench
 * gives PyTorch, which links the same OpenBLAS and does thread it, the same value.
 */
export const OPENBLAS_THREAD_TIMEOUT = '4';

let loaded: { addon?: NativeAddon; reason: string } | undefined;
let installedKernels: string[] = [];

/** True when `T2I_NATIVE` asks for the plain wasm path. */
export function nativeDisabledByEnv(): boolean {
  const v = (process.env.T2I_NATIVE ?? '').trim().toLowerCase();
  return ['0', 'off', 'false', 'no'].includes(v);
}

function buildReportReason(): string {
  try {
    const r = JSON.parse(fs.readFileSync(BUILD_REPORT, 'utf8')) as { ok?: boolean; reason?: string };
    if (r && r.ok === false && r.reason) return `not built at install: ${r.reason}`;
  } catch {
    /* no report */
  }
  return 'not built (needs a C++ compiler and libopenblas-dev; then run `npm run build:native`)';
}

/** Load the addon once (never throws); `undefined` with a reason when it cannot load or is disabled. */
export function loadNative(): NativeAddon | undefined {
  if (loaded) return loaded.addon;
  if (nativeDisabledByEnv()) {
    loaded = { reason: `disabled by T2I_NATIVE=${process.env.T2I_NATIVE}` };
    return undefined;
  }
  if (!fs.existsSync(ADDON_PATH)) {
    loaded = { reason: `${buildReportReason()}; ${ADDON_PATH} is missing` };
    return undefined;
  }
  // OpenBLAS reads this once, when the addon loads it, so it is set before the require.
  if (process.env.OPENBLAS_THREAD_TIMEOUT === undefined) process.env.OPENBLAS_THREAD_TIMEOUT = OPENBLAS_THREAD_TIMEOUT;
  try {
    const addon = require(ADDON_PATH) as NativeAddon;
    const want = Number(process.env.T2I_NATIVE_THREADS ?? '') || os.availableParallelism();
    addon.setThreads(Math.max(1, Math.floor(want)));
    loaded = { addon, reason: 'loaded' };
  } catch (e) {
    loaded = { reason: `addon failed to load: ${String(e instanceof Error ? e.message : e).split('\n')[0]}` };
  }
  return loaded.addon;
}

/** Where the native path stands: active or not, why, threads and library. */
export function nativeStatus(): NativeStatus {
  const addon = loadNative();
  const base = { addon: ADDON_PATH, kernels: installedKernels.slice() };
  if (!addon) return { ...base, active: false, loaded: false, reason: loaded!.reason, threads: 0, library: '' };
  const i = addon.info();
  const library = i.config;
  const threads = i.loopThreads;
  if (installedKernels.length === 0) {
    return { ...base, active: false, loaded: true, reason: 'addon loaded; kernels not installed (the wasm backend is not active)', threads, library };
  }
  const backend = tf.getBackend();
  if (backend !== 'wasm') {
    return { ...base, active: false, loaded: true, reason: `native kernels serve the wasm backend; active backend is ${backend}`, threads, library };
  }
  const conv = i.winograd ? '; large 3x3 convolutions by Winograd' : '; Winograd off';
  return { ...base, active: true, loaded: true, reason: `OpenBLAS sgemm kernels on wasm (${threads} threads${conv})`, threads, library };
}

// ---- access to the wasm backend's heap ----------------------------------------------

interface WasmBackendLike {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

function offsetOf(backend: WasmBackendLike, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset;
}

/** The heap buffer: fetch it after allocating outputs (a heap growth detaches the old one). */
function heapOf(backend: WasmBackendLike): ArrayBuffer {
  return backend.wasm.HEAPU8.buffer as ArrayBuffer;
}

const ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, relu6: 2, leakyrelu: 3, sigmoid: 4, elu: 5 };

type KernelArgs = Parameters<tf.KernelFunc>[0];
type Prev = tf.KernelFunc | undefined;

function delegate(prev: Prev, name: string, args: KernelArgs, why: string): tf.TensorInfo | tf.TensorInfo[] {
  if (!prev) throw new Error(`${name}: the native kernel does not handle ${why}, and wasm has no other kernel for it`);
  return prev(args);
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Per-channel bias (size n, only the last axis > 1) or a scalar one: its length, else -1. */
function biasLength(bias: tf.TensorInfo, n: number): number {
  const s = size(bias.shape);
  if (s === 1) return 1;
  if (s === n && bias.shape[bias.shape.length - 1] === n) return n;
  return -1;
}

// ---- matmul ---------------------------------------------------------------------------

function matMul(prev: Prev, name: string, args: KernelArgs, fused: boolean): tf.TensorInfo | tf.TensorInfo[] {
  const { inputs, attrs } = args;
  const backend = args.backend as unknown as WasmBackendLike;
  const a = inputs.a as tf.TensorInfo;
  const b = inputs.b as tf.TensorInfo;
  const bias = inputs.bias as tf.TensorInfo | undefined;
  const prelu = inputs.preluActivationWeights as tf.TensorInfo | undefined;
  const transposeA = Boolean(attrs?.transposeA);
  const transposeB = Boolean(attrs?.transposeB);
  const activation = fused ? String(attrs?.activation ?? 'linear') : 'linear';
  const alpha = Number(attrs?.leakyreluAlpha ?? 0.2);
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return delegate(prev, name, args, `dtype ${a.dtype}x${b.dtype}`);
  if (prelu || !(activation in ACTIVATIONS)) return delegate(prev, name, args, `activation ${activation}`);
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) return delegate(prev, name, args, 'rank < 2');
  const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const K = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const Kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (K !== Kb) {
    throw new Error(`${name}: inner dimensions differ: ${a.shape} and ${b.shape} (transposeA=${transposeA}, transposeB=${transposeB})`);
  }
  let bLen = -1;
  if (bias) {
    if (bias.dtype !== 'float32') return delegate(prev, name, args, 'non-float32 bias');
    bLen = biasLength(bias, N);
    if (bLen < 0) return delegate(prev, name, args, `bias of shape ${bias.shape}`);
  }
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const outBatch = tf.backend_util.assertAndGetBroadcastShape(batchA, batchB);
  const outShape = [...outBatch, M, N];
  const out = backend.makeOutput(outShape, 'float32');
  if (size(outShape) === 0) return out;
  const aOff = offsetOf(backend, a);
  const bOff = offsetOf(backend, b);
  const cOff = offsetOf(backend, out);
  const biasOff = bias ? offsetOf(backend, bias) : -1;
  const nBatch = size(outBatch);
  const heap = heapOf(backend);
  const addon = loaded!.addon!;
  const act = ACTIVATIONS[activation];
  if (size(batchB) === 1 && !transposeA) {
    // One shared right-hand matrix: fold the batch into the rows (one big gemm).
    addon.gemm(heap, 1, nBatch * M, N, K, 0, transposeB ? 1 : 0, new Float64Array([aOff]), new Float64Array([bOff]), cOff, biasOff, bLen, act, alpha);
    return out;
  }
  const aOffs = new Float64Array(nBatch);
  const bOffs = new Float64Array(nBatch);
  const sa = broadcastStrides(batchA, outBatch);
  const sb = broadcastStrides(batchB, outBatch);
  const idx = new Array<number>(outBatch.length).fill(0);
  for (let i = 0; i < nBatch; i++) {
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < outBatch.length; d++) {
      ia += idx[d] * sa[d];
      ib += idx[d] * sb[d];
    }
    aOffs[i] = aOff + ia * M * K * 4;
    bOffs[i] = bOff + ib * K * N * 4;
    for (let d = outBatch.length - 1; d >= 0; d--) {
      if (++idx[d] < outBatch[d]) break;
      idx[d] = 0;
    }
  }
  addon.gemm(heap, nBatch, M, N, K, transposeA ? 1 : 0, transposeB ? 1 : 0, aOffs, bOffs, cOff, biasOff, bLen, act, alpha);
  return out;
}

/** Element strides (in matrices) of `shape`'s batch, aligned right to `out`, 0 on broadcast axes. */
function broadcastStrides(shape: number[], out: number[]): number[] {
  const strides = new Array<number>(out.length).fill(0);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    const od = d + out.length - shape.length;
    strides[od] = shape[d] === 1 ? 0 : s;
    s *= shape[d];
  }
  return strides;
}

// ---- conv2d ---------------------------------------------------------------------------

type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

function convParams(info: tf.backend_util.Conv2DInfo): Int32Array {
  return new Int32Array([
    info.batchSize, info.inHeight, info.inWidth, info.inChannels,
    info.outHeight, info.outWidth, info.outChannels,
    info.filterHeight, info.filterWidth,
    info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
    info.padInfo.top, info.padInfo.left,
  ]);
}

function conv2d(prev: Prev, name: string, args: KernelArgs, fused: boolean): tf.TensorInfo | tf.TensorInfo[] {
  const { inputs, attrs } = args;
  const backend = args.backend as unknown as WasmBackendLike;
  const x = inputs.x as tf.TensorInfo;
  const filter = inputs.filter as tf.TensorInfo;
  const bias = inputs.bias as tf.TensorInfo | undefined;
  const prelu = inputs.preluActivationWeights as tf.TensorInfo | undefined;
  const dataFormat = String(attrs?.dataFormat ?? 'NHWC') as 'NHWC' | 'NCHW';
  const activation = fused ? String(attrs?.activation ?? 'linear') : 'linear';
  const alpha = Number(attrs?.leakyreluAlpha ?? 0.2);
  if (x.dtype !== 'float32' || filter.dtype !== 'float32') return delegate(prev, name, args, `dtype ${x.dtype}`);
  if (dataFormat !== 'NHWC') return delegate(prev, name, args, `dataFormat ${dataFormat}`);
  if (prelu || !(activation in ACTIVATIONS)) return delegate(prev, name, args, `activation ${activation}`);
  if (x.shape.length !== 4 || filter.shape.length !== 4) return delegate(prev, name, args, 'rank != 4');
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    attrs!.strides as number | [number, number],
    (attrs!.dilations ?? 1) as number | [number, number],
    attrs!.pad as Pad,
    attrs!.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    false,
    'channelsLast',
  );
  let biasOff = -1;
  if (bias) {
    if (bias.dtype !== 'float32' || size(bias.shape) !== info.outChannels || bias.shape[bias.shape.length - 1] !== info.outChannels) {
      return delegate(prev, name, args, `bias of shape ${bias.shape}`);
    }
  }
  const out = backend.makeOutput(info.outShape, 'float32');
  if (size(info.outShape) === 0) return out;
  if (bias) biasOff = offsetOf(backend, bias);
  loaded!.addon!.conv2d(heapOf(backend), offsetOf(backend, x), offsetOf(backend, filter), offsetOf(backend, out), convParams(info), biasOff, ACTIVATIONS[activation], alpha);
  return out;
}

function conv2dBackpropInput(prev: Prev, name: string, args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { inputs, attrs } = args;
  const backend = args.backend as unknown as WasmBackendLike;
  const dy = inputs.dy as tf.TensorInfo;
  const filter = inputs.filter as tf.TensorInfo;
  const dataFormat = String(attrs?.dataFormat ?? 'NHWC');
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32') return delegate(prev, name, args, `dtype ${dy.dtype}`);
  if (dataFormat !== 'NHWC') return delegate(prev, name, args, `dataFormat ${dataFormat}`);
  const inputShape = attrs!.inputShape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    attrs!.strides as number | [number, number],
    1,
    attrs!.pad as Pad,
    attrs!.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    false,
    'channelsLast',
  );
  const out = backend.makeOutput([...inputShape], 'float32');
  if (size(inputShape) === 0) return out;
  loaded!.addon!.conv2dBackpropInput(heapOf(backend), offsetOf(backend, dy), offsetOf(backend, filter), offsetOf(backend, out), convParams(info));
  return out;
}

function conv2dBackpropFilter(prev: Prev, name: string, args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { inputs, attrs } = args;
  const backend = args.backend as unknown as WasmBackendLike;
  const x = inputs.x as tf.TensorInfo;
  const dy = inputs.dy as tf.TensorInfo;
  const dataFormat = String(attrs?.dataFormat ?? 'NHWC');
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') return delegate(prev, name, args, `dtype ${x.dtype}`);
  if (dataFormat !== 'NHWC') return delegate(prev, name, args, `dataFormat ${dataFormat}`);
  const filterShape = attrs!.filterShape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    attrs!.strides as number | [number, number],
    1,
    attrs!.pad as Pad,
    attrs!.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    false,
    'channelsLast',
  );
  const out = backend.makeOutput([...filterShape], 'float32');
  if (size(filterShape) === 0) return out;
  loaded!.addon!.conv2dBackpropFilter(heapOf(backend), offsetOf(backend, x), offsetOf(backend, dy), offsetOf(backend, out), convParams(info));
  return out;
}

// ---- elementwise binary ops and concat ---------------------------------------------------

/** Below this many output elements the wasm kernels are as fast (no thread start, no N-API call). */
const SMALL_ELEMENTWISE = 16384;
const BINARY_OPS: Record<string, number> = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3 };

/**
 * The broadcast of a and b to `out`, as few axes as possible: out's shape and each input's element
 * strides (0 on broadcast axes), with size-1 axes dropped and axes that are contiguous in both merged.
 */
export function collapseBroadcast(aShape: number[], bShape: number[], out: number[]): { shape: number[]; a: number[]; b: number[] } {
  const strides = (shape: number[]) => {
    const padded = [...new Array(out.length - shape.length).fill(1), ...shape];
    const st = new Array<number>(out.length).fill(0);
    for (let d = out.length - 1, s = 1; d >= 0; d--) {
      st[d] = padded[d] === 1 ? 0 : s;
      s *= padded[d];
    }
    return st;
  };
  const sa = strides(aShape), sb = strides(bShape);
  const shape: number[] = [], a: number[] = [], b: number[] = [];
  for (let d = 0; d < out.length; d++) {
    if (out[d] === 1) continue;
    const k = shape.length - 1;
    if (k >= 0 && a[k] === sa[d] * out[d] && b[k] === sb[d] * out[d]) {
      shape[k] *= out[d];
      a[k] = sa[d];
      b[k] = sb[d];
    } else {
      shape.push(out[d]);
      a.push(sa[d]);
      b.push(sb[d]);
    }
  }
  if (shape.length === 0) return { shape: [1], a: [0], b: [0] };
  return { shape, a, b };
}

function binary(prev: Prev, name: string, args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const backend = args.backend as unknown as WasmBackendLike;
  const { a, b } = args.inputs as Record<string, tf.TensorInfo>;
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return delegate(prev, name, args, `dtype ${a.dtype} ${b.dtype}`);
  const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
  if (size(outShape) < SMALL_ELEMENTWISE) return delegate(prev, name, args, 'small tensors');
  const c = collapseBroadcast(a.shape, b.shape, outShape);
  const out = backend.makeOutput(outShape, 'float32');
  loaded!.addon!.binary(heapOf(backend), BINARY_OPS[name], offsetOf(backend, a), offsetOf(backend, b), offsetOf(backend, out), new Float64Array(c.shape), new Float64Array(c.a), new Float64Array(c.b));
  return out;
}

function concat(prev: Prev, name: string, args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const backend = args.backend as unknown as WasmBackendLike;
  const inputs = args.inputs as unknown as tf.TensorInfo[];
  if (inputs.some((t) => t.dtype !== 'float32' || size(t.shape) === 0)) return delegate(prev, name, args, 'non-float32 or empty inputs');
  const axis = tf.util.parseAxisParam(args.attrs!.axis as number, inputs[0].shape)[0];
  const outShape = tf.backend_util.computeOutShape(inputs.map((t) => t.shape), axis);
  if (size(outShape) < SMALL_ELEMENTWISE) return delegate(prev, name, args, 'small tensors');
  const rows = size(outShape.slice(0, axis));
  const out = backend.makeOutput(outShape, 'float32');
  const offsets = new Float64Array(inputs.map((t) => offsetOf(backend, t)));
  const lengths = new Float64Array(inputs.map((t) => size(t.shape.slice(axis))));
  loaded!.addon!.concat(heapOf(backend), offsets, lengths, rows, offsetOf(backend, out));
  return out;
}

/** SplitV (concat's gradient): wasm slices each piece out along the last axis with a generic loop. */
function splitV(prev: Prev, name: string, args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const backend = args.backend as unknown as WasmBackendLike;
  const x = args.inputs.x as tf.TensorInfo;
  if (x.dtype !== 'float32' || size(x.shape) < SMALL_ELEMENTWISE) return delegate(prev, name, args, 'non-float32 or small tensors');
  const axis = tf.util.parseAxisParam(args.attrs!.axis as number, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x, args.attrs!.numOrSizeSplits as number | number[], axis);
  if (sizes.some((s) => s === 0)) return delegate(prev, name, args, 'empty pieces');
  const rows = size(x.shape.slice(0, axis));
  const inner = size(x.shape.slice(axis + 1));
  const outs = sizes.map((s) => backend.makeOutput([...x.shape.slice(0, axis), s, ...x.shape.slice(axis + 1)], 'float32'));
  loaded!.addon!.split(heapOf(backend), offsetOf(backend, x), new Float64Array(outs.map((o) => offsetOf(backend, o))), new Float64Array(sizes.map((s) => s * inner)), rows);
  return outs;
}

// ---- Adam ---------------------------------------------------------------------------------

/** The kit's own kernel: one fused Adam update of a weight (see FusedAdam in src/engine/adam.ts). */
export const FUSED_ADAM_KERNEL = 'T2IFusedAdam';

/** Inputs w, g, m, v (float32, one shape); attrs beta1, beta2, c1, c2, epsilon, learningRate; outputs [w', m', v']. */
function fusedAdam(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as unknown as WasmBackendLike;
  const { w, g, m, v } = args.inputs as Record<string, tf.TensorInfo>;
  const at = args.attrs as unknown as { beta1: number; beta2: number; c1: number; c2: number; epsilon: number; learningRate: number };
  for (const t of [w, g, m, v]) {
    if (t.dtype !== 'float32') throw new Error(`${FUSED_ADAM_KERNEL}: needs float32 tensors, got ${t.dtype}`);
    if (size(t.shape) !== size(w.shape)) throw new Error(`${FUSED_ADAM_KERNEL}: shapes differ: ${w.shape} and ${t.shape}`);
  }
  const outs = [w, m, v].map(() => backend.makeOutput([...w.shape], 'float32'));
  const n = size(w.shape);
  if (n > 0) {
    loaded!.addon!.adam(
      heapOf(backend), offsetOf(backend, w), offsetOf(backend, g), offsetOf(backend, m), offsetOf(backend, v),
      offsetOf(backend, outs[0]), offsetOf(backend, outs[1]), offsetOf(backend, outs[2]),
      n, at.beta1, at.beta2, at.c1, at.c2, at.epsilon, -at.learningRate,
    );
  }
  return outs;
}

// ---- GroupNorm (+ SiLU) -------------------------------------------------------------------

/**
 * The kit's own kernels for GroupNorm over NHWC, optionally followed by SiLU
 * (see GroupNorm in src/models/layers.ts): GROUP_NORM_KERNEL for inference;
 * for training, GROUP_NORM_TRAIN_KERNEL, which also returns each image and
 * group's mean and 1/std, and GROUP_NORM_GRAD_KERNEL, the gradient from them.
 */
export const GROUP_NORM_KERNEL = 'T2IGroupNorm';
export const GROUP_NORM_TRAIN_KERNEL = 'T2IGroupNormTrain';
export const GROUP_NORM_GRAD_KERNEL = 'T2IGroupNormGrad';

type GroupNormAttrs = { groups: number; eps: number; silu: number };

/** x [B, H, W, C], gamma and beta [C], float32, C a multiple of the groups: its B, H*W and C. */
function groupNormShape(name: string, x: tf.TensorInfo, gamma: tf.TensorInfo, beta: tf.TensorInfo, groups: number): [number, number, number] {
  for (const t of [x, gamma, beta]) if (t.dtype !== 'float32') throw new Error(`${name}: needs float32 tensors, got ${t.dtype}`);
  const [b, h, w, c] = x.shape;
  if (x.shape.length !== 4 || size(gamma.shape) !== c || size(beta.shape) !== c || c % groups !== 0) {
    throw new Error(`${name}: needs x [B,H,W,C] with C a multiple of ${groups} and gamma, beta [C]; got ${x.shape}, ${gamma.shape}, ${beta.shape}`);
  }
  return [b, h * w, c];
}

/** Inputs x, gamma, beta; attrs groups, eps, silu (0 or 1); output y like x (and, training, stats [B, G, 2]). */
function groupNorm(args: KernelArgs, training: boolean): tf.TensorInfo | tf.TensorInfo[] {
  const backend = args.backend as unknown as WasmBackendLike;
  const { x, gamma, beta } = args.inputs as Record<string, tf.TensorInfo>;
  const at = args.attrs as unknown as GroupNormAttrs;
  const [b, hw, c] = groupNormShape(training ? GROUP_NORM_TRAIN_KERNEL : GROUP_NORM_KERNEL, x, gamma, beta, at.groups);
  const out = backend.makeOutput([...x.shape], 'float32');
  const stats = training ? backend.makeOutput([b, at.groups, 2], 'float32') : undefined;
  if (b > 0) {
    loaded!.addon!.groupNorm(
      heapOf(backend), offsetOf(backend, x), offsetOf(backend, gamma), offsetOf(backend, beta), offsetOf(backend, out),
      b, hw, c, at.groups, at.eps, at.silu ? 1 : 0, stats ? offsetOf(backend, stats) : -1,
    );
  }
  return stats ? [out, stats] : out;
}

/** Inputs dz (like x), x, gamma, beta, stats; attrs as the forward's; outputs dx, dgamma, dbeta. */
function groupNormGrad(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as unknown as WasmBackendLike;
  const { dz, x, gamma, beta, stats } = args.inputs as Record<string, tf.TensorInfo>;
  const at = args.attrs as unknown as GroupNormAttrs;
  const [b, hw, c] = groupNormShape(GROUP_NORM_GRAD_KERNEL, x, gamma, beta, at.groups);
  if (size(dz.shape) !== size(x.shape) || size(stats.shape) !== b * at.groups * 2) {
    throw new Error(`${GROUP_NORM_GRAD_KERNEL}: dz ${dz.shape} and stats ${stats.shape} do not fit x ${x.shape}`);
  }
  const dx = backend.makeOutput([...x.shape], 'float32');
  const dgamma = backend.makeOutput([c], 'float32');
  const dbeta = backend.makeOutput([c], 'float32');
  if (b === 0) {
    // An empty batch (the forward accepts one): no gradient, and the sums over no images are 0.
    for (const t of [dgamma, dbeta]) new Float32Array(heapOf(backend), offsetOf(backend, t), c).fill(0);
    return [dx, dgamma, dbeta];
  }
  loaded!.addon!.groupNormGrad(
    heapOf(backend), offsetOf(backend, dz), offsetOf(backend, x), offsetOf(backend, gamma), offsetOf(backend, beta), offsetOf(backend, stats),
    offsetOf(backend, dx), offsetOf(backend, dgamma), offsetOf(backend, dbeta), b, hw, c, at.groups, at.silu ? 1 : 0,
  );
  return [dx, dgamma, dbeta];
}

// ---- registration -----------------------------------------------------------------------

type Impl = (prev: Prev, name: string, args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];
const IMPLS: Record<string, Impl> = {
  BatchMatMul: (p, n, a) => matMul(p, n, a, false),
  _FusedMatMul: (p, n, a) => matMul(p, n, a, true),
  Conv2D: (p, n, a) => conv2d(p, n, a, false),
  FusedConv2D: (p, n, a) => conv2d(p, n, a, true),
  Conv2DBackpropInput: conv2dBackpropInput,
  Conv2DBackpropFilter: conv2dBackpropFilter,
  Add: binary,
  Sub: binary,
  Multiply: binary,
  RealDiv: binary,
  Concat: concat,
  SplitV: splitV,
};

const OURS = new WeakSet<tf.KernelFunc>();

/**
 * Replace the wasm backend's matmul and conv kernels by the native ones (call
 * with wasm active, after the kit's other wasm kernels, which become the
 * fallback for cases the addon does not handle). Returns the kernels replaced;
 * none when the addon is off or missing (see `nativeStatus()`).
 */
export function installNativeKernels(): string[] {
  const addon = loadNative();
  if (!addon) return [];
  const names: string[] = [];
  for (const [name, impl] of Object.entries(IMPLS)) {
    const before = tf.getKernel(name, 'wasm');
    if (before && OURS.has(before.kernelFunc)) {
      names.push(name);
      continue;
    }
    const prev = before?.kernelFunc;
    const kernelFunc: tf.KernelFunc = (args) => impl(prev, name, args);
    OURS.add(kernelFunc);
    if (before) tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc, setupFunc: before?.setupFunc, disposeFunc: before?.disposeFunc });
    names.push(name);
  }
  // The kit's own kernels (no wasm kernel of that name to wrap).
  const own: Array<[string, tf.KernelFunc]> = [
    [FUSED_ADAM_KERNEL, fusedAdam],
    [GROUP_NORM_KERNEL, (a) => groupNorm(a, false)],
    [GROUP_NORM_TRAIN_KERNEL, (a) => groupNorm(a, true)],
    [GROUP_NORM_GRAD_KERNEL, groupNormGrad],
  ];
  for (const [kernelName, kernelFunc] of own) if (!tf.getKernel(kernelName, 'wasm')) tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  names.push(...own.map(([n]) => n));
  installedKernels = names;
  return names.map((n) => `${n} (native)`);
}

// ---- the slow-path warning ------------------------------------------------------------

/** How to get the native kernels, for messages. */
export const NATIVE_HOWTO = 'sudo apt-get install g++ make libopenblas-dev && npm run build:native';

let warned = false;

/**
 * For long commands (pretrain, generate, collect, eval-base): one line on
 * stderr when they are about to run on the plain wasm kernels (several times
 * slower) instead of the native ones, with the reason and how to get them.
 * Silent when native is active or another backend (tensorflow, cpu) runs;
 * a short line when T2I_NATIVE=0 turned it off on purpose. At most once per
 * process. Call after `initBackend()`. Returns the line, or '' when silent.
 */
export function warnIfSlowPath(write: (line: string) => void = (line) => void process.stderr.write(line)): string {
  if (warned || tf.getBackend() !== 'wasm') return '';
  const s = nativeStatus();
  if (s.active) return '';
  warned = true;
  const line = nativeDisabledByEnv()
    ? `t2i-align: native kernels disabled by T2I_NATIVE=${process.env.T2I_NATIVE} (slow path: plain wasm kernels)\n`
    : `t2i-align: native kernels not active (${s.reason}); running on the plain wasm kernels, several times slower. To get them: ${NATIVE_HOWTO}\n`;
  write(line);
  return line;
}
