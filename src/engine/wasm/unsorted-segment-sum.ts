/**
 * UnsortedSegmentSum for wasm (missing there; `gather`'s gradient, i.e. every
 * embedding, needs it): out[s, ...] = sum over i with ids[i] = s of x[i, ...],
 * as one ScatterNd, which sums duplicate indices.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KernelArgs, TensorInfo, need, prod, reshaped, runOriginal } from './kernel-utils';

export function unsortedSegmentSumKernel(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const x = need(args, 'x', 'UnsortedSegmentSum');
  const segmentIds = need(args, 'segmentIds', 'UnsortedSegmentSum');
  const numSegments = args.attrs?.numSegments as number;
  const idsRank = segmentIds.shape.length;
  const prefix = x.shape.slice(0, idsRank);
  if (prefix.join(',') !== segmentIds.shape.join(',')) {
    throw new Error(`UnsortedSegmentSum: segmentIds shape [${segmentIds.shape}] must prefix x shape [${x.shape}]`);
  }
  const numIds = prod(segmentIds.shape);
  const rest = x.shape.slice(idsRank);
  const ids = backend.typedArrayFromHeap(segmentIds);
  for (let i = 0; i < ids.length; i++) {
    if (!(ids[i] >= 0 && ids[i] < numSegments)) {
      throw new Error(`UnsortedSegmentSum: segment id ${ids[i]} at ${i} is outside [0, ${numSegments})`);
    }
  }
  const indices = reshaped(segmentIds, [numIds, 1]);
  const shape = [numSegments, ...rest];
  if (x.dtype === 'float32' && segmentIds.dtype === 'int32') {
    return runOriginal('ScatterNd', backend, { indices, updates: reshaped(x, [numIds, ...rest]) }, { shape });
  }
  throw new Error(`UnsortedSegmentSum on wasm supports float32 x and int32 ids, got ${x.dtype} and ${segmentIds.dtype}`);
}
