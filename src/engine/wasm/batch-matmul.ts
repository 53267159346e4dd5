/**
 * BatchMatMul for wasm that always lands on XNNPACK's fast path.
 *
 * tfjs-backend-wasm uses XNNPACK only for batch 1 with no transpose flags;
 * every other case runs a generic loop at ~1-3 GFLOP/s (matmul gradients
 * always set a flag). Here: transpose explicitly (cheap next to the product),
 * fold batches into rows when one side is not batched, and run genuinely
 * batched products batch by batch on zero-copy views when each is big enough.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  KernelArgs,
  TensorInfo,
  need,
  disposeInfos,
  disposeView,
  prod,
  reshaped,
  runOriginal,
  swapLast,
  transposeInfo,
  view,
} from './kernel-utils';

/**
 * Below this many multiply-adds per batch (M*N*K) the per-call cost of the
 * fast path (operator creation, weight packing) outweighs its speed and the
 * generic loop wins (measured crossover near 64x64x32 on this kind of machine).
 */
export const PER_BATCH_MIN_MACS = 100_000;

export interface MatMulPlan {
  /** Rows of op(a), columns of op(b), shared inner size. */
  m: number;
  n: number;
  k: number;
  batchA: number;
  batchB: number;
  outShape: number[];
}

/** Shapes of `op(a) @ op(b)` with broadcast batch dims; errors name both shapes. */
export function planMatMul(aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean): MatMulPlan {
  const aR = aShape.length;
  const bR = bShape.length;
  const m = transposeA ? aShape[aR - 1] : aShape[aR - 2];
  const k = transposeA ? aShape[aR - 2] : aShape[aR - 1];
  const kb = transposeB ? bShape[bR - 1] : bShape[bR - 2];
  const n = transposeB ? bShape[bR - 2] : bShape[bR - 1];
  if (k !== kb) {
    throw new Error(
      `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${aShape} and ${bShape} ` +
        `and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    );
  }
  const batch = tf.backend_util.assertAndGetBroadcastShape(aShape.slice(0, -2), bShape.slice(0, -2));
  return {
    m,
    n,
    k,
    batchA: prod(aShape.slice(0, -2)),
    batchB: prod(bShape.slice(0, -2)),
    outShape: [...batch, m, n],
  };
}

/** `x` as rank 3 `[batch, rows, cols]`, transposed to the no-flag layout if `t`; new infos go to `temps`. */
function noFlag(backend: BackendWasm, x: TensorInfo, batch: number, t: boolean, temps: TensorInfo[]): TensorInfo {
  const r = x.shape.length;
  const x3 = reshaped(x, [batch, x.shape[r - 2], x.shape[r - 1]]);
  if (!t) return x3;
  const xt = swapLast(backend, x3);
  temps.push(xt);
  return xt;
}

const NO_FLAGS = { transposeA: false, transposeB: false };

/**
 * `[B, M, K] @ [B, K, N]` (both in no-flag layout, same B) batch by batch
 * through the fast path, each batch a view on the inputs' memory.
 */
function perBatch(backend: BackendWasm, a: TensorInfo, b: TensorInfo, p: MatMulPlan): TensorInfo {
  const { m, n, k } = p;
  const batch = p.batchA;
  const out = backend.makeOutput([batch, m, n], 'float32');
  for (let i = 0; i < batch; i++) {
    const av = view(backend, a, i * m * k, [1, m, k]);
    const bv = view(backend, b, i * k * n, [1, k, n]);
    const o = runOriginal('BatchMatMul', backend, { a: av, b: bv }, NO_FLAGS);
    // Views on the heap are taken after the call: a heap growth detaches older ones.
    backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(o), i * m * n);
    backend.disposeData(o.dataId);
    disposeView(backend, av);
    disposeView(backend, bv);
  }
  return out;
}

/** The product with each case routed to XNNPACK; returns a backend-level info of shape `p.outShape`. */
export function fastMatMul(
  backend: BackendWasm,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): TensorInfo {
  const p = planMatMul(a.shape, b.shape, transposeA, transposeB);
  const { m, n, k, batchA, batchB } = p;
  const temps: TensorInfo[] = [];
  let out: TensorInfo;
  if (m * n * k === 0) {
    out = runOriginal('BatchMatMul', backend, { a, b }, { transposeA, transposeB });
  } else if (batchB === 1) {
    // [BA*M, K] @ [K, N]: batches of a become rows.
    const an = noFlag(backend, a, batchA, transposeA, temps);
    const bn = noFlag(backend, b, 1, transposeB, temps);
    out = runOriginal('BatchMatMul', backend, { a: reshaped(an, [1, batchA * m, k]), b: bn }, NO_FLAGS);
  } else if (batchA === 1) {
    // [M, K] @ [K, BB*N], then [M, BB, N] -> [BB, M, N].
    const an = noFlag(backend, a, 1, transposeA, temps);
    const b3 = reshaped(b, [batchB, b.shape[b.shape.length - 2], b.shape[b.shape.length - 1]]);
    const bk = transposeInfo(backend, b3, transposeB ? [2, 0, 1] : [1, 0, 2]);
    temps.push(bk);
    const wide = runOriginal('BatchMatMul', backend, { a: an, b: reshaped(bk, [1, k, batchB * n]) }, NO_FLAGS);
    temps.push(wide);
    out = transposeInfo(backend, reshaped(wide, [m, batchB, n]), [1, 0, 2]);
  } else if (batchA === batchB && m * n * k >= PER_BATCH_MIN_MACS) {
    const an = noFlag(backend, a, batchA, transposeA, temps);
    const bn = noFlag(backend, b, batchB, transposeB, temps);
    out = perBatch(backend, an, bn, p);
  } else {
    // Small batched products (the generic loop is fastest there) and
    // broadcasts across several batch dims.
    out = runOriginal('BatchMatMul', backend, { a, b }, { transposeA, transposeB });
  }
  disposeInfos(backend, temps);
  return { dataId: out.dataId, dtype: out.dtype, shape: p.outShape };
}

export function batchMatMulKernel(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const a = need(args, 'a', 'BatchMatMul');
  const b = need(args, 'b', 'BatchMatMul');
  const transposeA = Boolean(args.attrs?.transposeA);
  const transposeB = Boolean(args.attrs?.transposeB);
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    return runOriginal('BatchMatMul', backend, { a, b }, { transposeA, transposeB });
  }
  return fastMatMul(backend, a, b, transposeA, transposeB);
}
