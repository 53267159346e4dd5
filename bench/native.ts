/**
 * Native yardstick: numpy's float32 sgemm 1024 on Debian's OpenBLAS
 * (/usr/bin/python3 with python3-numpy), on one thread and on all cores.
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import { round } from './timing';

export interface NativeSection {
  /** GFLOP/s, OPENBLAS_NUM_THREADS=1. */
  sgemm1?: number;
  /** GFLOP/s, OPENBLAS_NUM_THREADS = logical cores. */
  sgemmAll?: number;
  threadsAll?: number;
  size: number;
  library: string;
  /** Why the numbers are missing, when they are. */
  reason?: string;
}

const PY = `
import numpy as np, time, sys
n=int(sys.argv[1]); a=np.random.rand(n,n).astype(np.float32); b=np.random.rand(n,n).astype(np.float32)
for _ in range(3): a@b
best=1e9
for _ in range(10):
    t=time.perf_counter(); a@b; best=min(best,time.perf_counter()-t)
print(2*n**3/best/1e9)
`;

function sgemm(threads: number, n: number): number | string {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
  const r = spawnSync('/usr/bin/python3', ['-c', PY, String(n)], { encoding: 'utf8', timeout: 120_000, env });
  if (r.error) return `/usr/bin/python3 failed to run: ${r.error.message}`;
  if (r.status !== 0) return `numpy sgemm failed: ${(r.stderr || '').trim().split('\n').pop()}`;
  return Number(r.stdout.trim());
}

/** Best-of-10 GFLOP/s of a float32 n x n matmul in numpy, one thread and all cores. */
export function benchNative(n = 1024): NativeSection {
  const threadsAll = os.availableParallelism();
  const library = `numpy on Debian's OpenBLAS (OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? 'unset'})`;
  const one = sgemm(1, n);
  if (typeof one === 'string') return { size: n, library, reason: one };
  const all = sgemm(threadsAll, n);
  if (typeof all === 'string') return { sgemm1: round(one), size: n, library, reason: all };
  return { sgemm1: round(one), sgemmAll: round(all), threadsAll, size: n, library };
}
