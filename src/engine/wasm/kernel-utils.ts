/**
 * Helpers for kernels that work at the wasm backend level: on `TensorInfo`s
 * (data id, shape, dtype) rather than engine-tracked Tensors, so that
 * intermediates cost no engine bookkeeping and are freed with
 * `backend.disposeData`.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type TensorInfo = tf.TensorInfo;

/** The kernel functions of tfjs-backend-wasm as registered before the kit replaced any. */
const originals = new Map<string, tf.KernelConfig>();

/**
 * The wasm backend's own kernel `name`, captured the first time it is asked
 * for (before the kit replaces it). Throws if wasm has none.
 */
export function originalKernel(name: string): tf.KernelConfig {
  let k = originals.get(name);
  if (!k) {
    const found = tf.getKernel(name, 'wasm');
    if (!found) throw new Error(`tfjs-backend-wasm has no kernel "${name}" to build on`);
    if (isKitKernel(found)) throw new Error(`kernel "${name}" on wasm is already the kit's; its original was lost`);
    k = found;
    originals.set(name, k);
  }
  return k;
}

/** Run the wasm backend's original kernel `name` on TensorInfos; returns the backend's output info. */
export function runOriginal(
  name: string,
  backend: BackendWasm,
  inputs: Record<string, TensorInfo | undefined | null>,
  attrs: Record<string, unknown> = {},
): TensorInfo {
  const out = originalKernel(name).kernelFunc({
    inputs: inputs as tf.NamedTensorInfoMap,
    backend: backend as unknown as tf.KernelBackend,
    attrs: attrs as tf.NamedAttrMap,
  });
  if (Array.isArray(out)) throw new Error(`kernel ${name} returned several outputs; one was expected`);
  return out;
}

const KIT = Symbol.for('t2i-align.kitKernel');

/** Mark a kernel function as the kit's, so a second install recognises it. */
export function markKit<F extends tf.KernelFunc>(f: F): F {
  (f as unknown as Record<symbol, boolean>)[KIT] = true;
  return f;
}

export function isKitKernel(k: tf.KernelConfig | undefined): boolean {
  return k !== undefined && (k.kernelFunc as unknown as Record<symbol, boolean>)[KIT] === true;
}

/**
 * Register `kernelFunc` as wasm's `name`, replacing the original quietly (no
 * warning) and keeping the original's setup function, so a backend that
 * initialises later still wires up the C++ entry points the kit's kernel
 * calls. Idempotent: returns false when the kit already installed `name`
 * (also when another layer, e.g. the native kernels, now sits on top of it).
 */
export function registerWasmKernel(name: string, kernelFunc: tf.KernelFunc, needsOriginal: string[] = []): boolean {
  if (installed.has(name)) return false;
  for (const n of needsOriginal) originalKernel(n);
  const existing = tf.getKernel(name, 'wasm');
  if (existing) {
    if (!originals.has(name)) originals.set(name, existing);
    tf.unregisterKernel(name, 'wasm');
  }
  const setups = needsOriginal.map((n) => originals.get(n)!.setupFunc).filter((s) => s !== undefined);
  tf.registerKernel({
    kernelName: name,
    backendName: 'wasm',
    kernelFunc: markKit(kernelFunc),
    setupFunc: setups.length ? (b) => setups.forEach((s) => s!(b)) : undefined,
  });
  installed.add(name);
  return true;
}

const installed = new Set<string>();

/** Same data, another shape (no copy, no reference taken: do not dispose it separately). */
export function reshaped(x: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: x.dataId, shape, dtype: x.dtype };
}

/**
 * A tensor on `base`'s memory at element `offset` (no copy). Free it with
 * `disposeView`, never `disposeData` (that would free the base's memory).
 */
export function view(backend: BackendWasm, base: TensorInfo, offset: number, shape: number[]): TensorInfo {
  const { memoryOffset } = backend.dataIdMap.get(base.dataId)!;
  return backend.makeOutput(shape, base.dtype, (memoryOffset as number) + offset * 4);
}

/** Forget a `view` without freeing the memory it points into. */
export function disposeView(backend: BackendWasm, v: TensorInfo): void {
  const data = backend.dataIdMap.get(v.dataId)!;
  backend.wasm.tfjs.disposeData(data.id);
  backend.dataIdMap.delete(v.dataId);
}

export function transposeInfo(backend: BackendWasm, x: TensorInfo, perm: number[]): TensorInfo {
  return runOriginal('Transpose', backend, { x }, { perm });
}

/** Swap the last two axes of a rank-3 info. */
export function swapLast(backend: BackendWasm, x: TensorInfo): TensorInfo {
  return transposeInfo(backend, x, [0, 2, 1]);
}

/** Dispose backend-level intermediates; `keep` is spared. */
export function disposeInfos(backend: BackendWasm, infos: TensorInfo[], keep?: TensorInfo): void {
  for (const t of infos) if (t !== keep && t.dataId !== keep?.dataId) backend.disposeData(t.dataId);
}

export function prod(xs: readonly number[]): number {
  return xs.reduce((a, b) => a * b, 1);
}

/**
 * A kernel input as the engine-tracked Tensor it is when an op calls the
 * kernel (kernels that compose tf ops need Tensors, not bare TensorInfos).
 */
export function asTensor<R extends tf.Rank>(x: TensorInfo, what: string): tf.Tensor<R> {
  if (!(x instanceof tf.Tensor)) throw new Error(`${what} must be a Tensor (call the kernel through tf ops / engine.runKernel)`);
  return x as tf.Tensor<R>;
}

/** The `[top, bottom, left, right]` zero padding, height/width strides and the filter size of a NHWC conv. */
export function convGeometry(
  what: string,
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: tf.NamedAttrMap,
): tf.backend_util.Conv2DInfo {
  const dataFormat = (attrs.dataFormat as string | undefined) ?? 'NHWC';
  if (dataFormat !== 'NHWC') throw new Error(`${what} on wasm supports dataFormat NHWC only, got ${dataFormat}`);
  const dil = attrs.dilations as number | [number, number] | undefined;
  if (dil !== undefined && !(dil === 1 || (Array.isArray(dil) && dil[0] === 1 && dil[1] === 1))) {
    throw new Error(`${what} on wasm supports dilations 1 only, got ${JSON.stringify(dil)}`);
  }
  return tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    attrs.strides as number | [number, number],
    1,
    attrs.pad as 'same' | 'valid' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    false,
    'channelsLast',
  );
}

/** What the engine hands a kernel function. */
export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

/** Input `name` of `kernel`; a missing one is an error naming both. */
export function need(args: KernelArgs, name: string, kernel: string): TensorInfo {
  const x = args.inputs[name];
  if (x == null) throw new Error(`${kernel}: input "${name}" is missing`);
  return x;
}

export type Pads4 = [[number, number], [number, number], [number, number], [number, number]];

/**
 * Stride-1 NHWC conv2d with explicit zero padding `[top, bottom, left, right]`,
 * through wasm's Conv2D in the two modes measured correct here: 'valid', and
 * 'same' when that is the same padding. Other paddings pad x first: wasm's
 * Conv2D with explicit or uneven padding gave wrong values and out-of-bounds
 * memory accesses in tests (tfjs-backend-wasm 4.22).
 */
export function paddedConv2d(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  pads: [number, number, number, number],
  dilations: [number, number] = [1, 1],
): tf.Tensor4D {
  const [t, b, l, r] = pads;
  const [fh, fw] = w.shape;
  if (t === 0 && b === 0 && l === 0 && r === 0) return tf.conv2d(x, w, 1, 'valid', 'NHWC', dilations);
  const sameOk = dilations[0] === 1 && dilations[1] === 1 && fh % 2 === 1 && fw % 2 === 1;
  if (sameOk && t === (fh - 1) / 2 && b === t && l === (fw - 1) / 2 && r === l) return tf.conv2d(x, w, 1, 'same');
  const xp = tf.pad(x, [[0, 0], [t, b], [l, r], [0, 0]]);
  const y = tf.conv2d(xp, w, 1, 'valid', 'NHWC', dilations);
  xp.dispose();
  return y;
}
