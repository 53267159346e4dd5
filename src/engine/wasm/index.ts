/**
 * The kit's kernels for the wasm backend: gradient kernels tfjs-backend-wasm
 * lacks, and fast compositions that replace its slow paths. Each is checked
 * against the cpu backend in test/engine/wasm/.
 *
 * | kernel               | why                                                        |
 * |----------------------|------------------------------------------------------------|
 * | BatchMatMul          | transposed / batched products ran a ~1-3 GFLOP/s loop      |
 * | _FusedMatMul         | same, for tf.layers dense with a batch or transpose flag   |
 * | Conv2DBackpropFilter | missing: conv2d could not train                            |
 * | Conv2DBackpropInput  | ~3 GFLOP/s loop; now a forward XNNPACK conv                |
 * | Conv2D               | wasm's gave wrong values / crashed for some paddings    |
 * | UnsortedSegmentSum   | missing: gather (embeddings) could not train               |
 * | Identity             | copied every tensor saved for a gradient; now shares it    |
 */
import * as tf from '@tensorflow/tfjs';
import { batchMatMulKernel } from './batch-matmul';
import { conv2dKernel } from './conv2d';
import { conv2dBackpropFilterKernel } from './conv2d-backprop-filter';
import { conv2dBackpropInputKernel } from './conv2d-backprop-input';
import { fusedMatMulKernel } from './fused-matmul';
import { identityKernel } from './identity';
import { registerWasmKernel } from './kernel-utils';
import { unsortedSegmentSumKernel } from './unsorted-segment-sum';

/** Each kit kernel and the original wasm kernels it builds on. */
const KIT_KERNELS: { name: string; kernelFunc: tf.KernelFunc; uses: string[] }[] = [
  { name: 'BatchMatMul', kernelFunc: batchMatMulKernel as tf.KernelFunc, uses: ['BatchMatMul', 'Transpose'] },
  { name: '_FusedMatMul', kernelFunc: fusedMatMulKernel as tf.KernelFunc, uses: ['_FusedMatMul', 'Transpose'] },
  { name: 'Conv2D', kernelFunc: conv2dKernel as tf.KernelFunc, uses: ['Conv2D'] },
  { name: 'Conv2DBackpropFilter', kernelFunc: conv2dBackpropFilterKernel as tf.KernelFunc, uses: [] },
  { name: 'Conv2DBackpropInput', kernelFunc: conv2dBackpropInputKernel as tf.KernelFunc, uses: ['Conv2DBackpropInput'] },
  { name: 'UnsortedSegmentSum', kernelFunc: unsortedSegmentSumKernel as tf.KernelFunc, uses: ['ScatterNd'] },
  { name: 'Identity', kernelFunc: identityKernel, uses: [] },
];

/** Names of the kernels the kit registers or replaces on wasm. */
export const WASM_KIT_KERNELS: readonly string[] = KIT_KERNELS.map((k) => k.name);

/**
 * Register every kit kernel on the wasm backend (replacing the originals it
 * speeds up); returns their names. Idempotent: a second call re-registers
 * nothing and returns the same names.
 */
export function installWasmKernels(): string[] {
  for (const k of KIT_KERNELS) registerWasmKernel(k.name, k.kernelFunc, k.uses);
  return [...WASM_KIT_KERNELS];
}
