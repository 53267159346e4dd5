/**
 * _FusedMatMul (matmul + bias + activation, what tf.layers dense calls) for
 * wasm: same slow generic loop as BatchMatMul whenever a transpose flag is
 * set or `a` has a batch. When `b` is not batched (a layer's kernel), the
 * batches of `a` become rows and transposes are made explicit, so XNNPACK
 * runs it with the bias and activation still fused.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KernelArgs, TensorInfo, need, disposeInfos, reshaped, runOriginal, swapLast } from './kernel-utils';
import { planMatMul } from './batch-matmul';

export function fusedMatMulKernel(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const a = need(args, 'a', '_FusedMatMul');
  const b = need(args, 'b', '_FusedMatMul');
  const { bias, preluActivationWeights } = args.inputs;
  const attrs = args.attrs ?? {};
  const transposeA = Boolean(attrs.transposeA);
  const transposeB = Boolean(attrs.transposeB);
  const p = planMatMul(a.shape, b.shape, transposeA, transposeB);
  const preluFlat = preluActivationWeights == null || preluActivationWeights.shape.length <= 1;
  const alreadyFast = !transposeA && !transposeB && p.batchA === 1 && p.batchB === 1;
  if (p.batchB !== 1 && bias != null && p.m * p.n * p.k > 0) return batchedWithBias(backend, args, transposeA, transposeB);
  if (alreadyFast || p.batchB !== 1 || !preluFlat || p.m * p.n * p.k === 0 || a.dtype !== 'float32') {
    return runOriginal('_FusedMatMul', backend, args.inputs, attrs);
  }
  const temps: TensorInfo[] = [];
  const rA = a.shape.length;
  let an = reshaped(a, [p.batchA, a.shape[rA - 2], a.shape[rA - 1]]);
  if (transposeA) temps.push((an = swapLast(backend, an)));
  let bn = reshaped(b, [1, b.shape[b.shape.length - 2], b.shape[b.shape.length - 1]]);
  if (transposeB) temps.push((bn = swapLast(backend, bn)));
  const out = runOriginal(
    '_FusedMatMul',
    backend,
    { a: reshaped(an, [1, p.batchA * p.m, p.k]), b: bn, bias, preluActivationWeights },
    { ...attrs, transposeA: false, transposeB: false },
  );
  disposeInfos(backend, temps);
  return { dataId: out.dataId, dtype: out.dtype, shape: p.outShape };
}


/** The activations of _FusedMatMul, as the kernels that apply them alone. */
const ACTIVATIONS: Record<string, string> = { relu: 'Relu', relu6: 'Relu6', elu: 'Elu', sigmoid: 'Sigmoid', leakyrelu: 'LeakyRelu', prelu: 'Prelu' };

/**
 * A batched `b` with a bias, step by step: tfjs-backend-wasm's fused kernel adds the bias wrongly there (ones
 * [3,2,4] x ones [3,4,2] + [10, 20] gave rows of 24, 24). The kit's models never take this path; it is slow and right.
 */
function batchedWithBias(backend: BackendWasm, args: KernelArgs, transposeA: boolean, transposeB: boolean): TensorInfo {
  const { a, b, bias, preluActivationWeights } = args.inputs;
  const attrs = args.attrs ?? {};
  const product = runOriginal('BatchMatMul', backend, { a, b }, { transposeA, transposeB });
  const biased = runOriginal('Add', backend, { a: product, b: bias }, {});
  disposeInfos(backend, [product]);
  const activation = String(attrs.activation ?? 'linear');
  if (activation === 'linear') return biased;
  const kernel = ACTIVATIONS[activation];
  if (!kernel) throw new Error(`_FusedMatMul: unknown activation "${activation}"`);
  const out = kernel === 'Prelu' ? runOriginal(kernel, backend, { x: biased, alpha: preluActivationWeights })
    : runOriginal(kernel, backend, { x: biased }, kernel === 'LeakyRelu' ? { alpha: attrs.leakyreluAlpha ?? 0.2 } : {});
  disposeInfos(backend, [biased]);
  return out;
}
