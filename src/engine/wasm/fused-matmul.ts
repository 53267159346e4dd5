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

