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
 * initialises later still wires up the original's C++ entry points the kit's
 * kernel calls. Idempotent: returns false when the kit's kernel is there.
 */
export function registerWasmKernel(name: string, kernelFunc: tf.KernelFunc, needsOriginal: string[] = []): boolean {
  const existing = tf.getKernel(name, 'wasm');
  if (isKitKernel(existing)) return false;
  for (const n of needsOriginal) originalKernel(n);
  const setups = needsOriginal.map((n) => originals.get(n)!.setupFunc).filter((s) => s !== undefined);
  if (existing) {
    originals.set(name, existing);
    tf.unregisterKernel(name, 'wasm');
  }
  tf.registerKernel({
    kernelName: name,
    backendName: 'wasm',
    kernelFunc: markKit(kernelFunc),
    setupFunc: setups.length ? (b) => setups.forEach((s) => s!(b)) : undefined,
  });
  return true;
}

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
