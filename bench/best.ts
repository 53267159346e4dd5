/**
 * The fastest way this kit trains here, in GFLOP/s (forward + backward):
 *   matmulTrain: a dense layer [256,512] x [512,512]: y = xW, dx = dy W^T, dW = x^T dy
 *                (3 products, 2*M*N*K flops each);
 *   convTrain:   a 3x3 'same' conv 32x32x64 -> 64, batch 32: forward, dx, dW
 *                (3 passes, 2*B*H*W*Cin*Cout*9 flops each).
 * Both run through the public ops and tf.grads on the backend the kit picks
 * (wasm + native OpenBLAS kernels when built; `T2I_NATIVE=0` for plain wasm),
 * with all cores the native path uses. The headline numbers take the best
 * step (the machine is shared; the median is reported beside them).
 *
 * Run alone: `node --import tsx bench/best.ts` (prints JSON, plus the ratio to
 * numpy's all-core sgemm 1024 when python3 with numpy is on PATH).
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { initBackend, nativeStatus } from '../src/engine';

export interface BestResult {
  /** GFLOP/s of a dense layer's forward + backward. */
  matmulTrain: number;
  /** GFLOP/s of a 3x3 conv layer's forward + both gradients. */
  convTrain: number;
  /** What ran, in words. */
  how: string;
  backend: string;
  native: boolean;
  threads: number;
  /** GFLOP/s from the median step time (the headline numbers use the best step, like the sgemm yardstick). */
  matmulTrainMedian: number;
  convTrainMedian: number;
  /** Best milliseconds per training step of each. */
  matmulStepMs: number;
  convStepMs: number;
}

function rand(shape: number[]): tf.Tensor {
  return tf.randomUniform(shape, -0.5, 0.5, 'float32', 7);
}

/** Best and median ms of `step` (which returns tensors to dispose), after warm-up, within ~`budgetMs`. */
function timeStep(step: () => tf.Tensor[], budgetMs = 1500, minRuns = 5): { best: number; median: number } {
  for (let i = 0; i < 3; i++) tf.dispose(step());
  const times: number[] = [];
  const t0 = performance.now();
  while (times.length < minRuns || (performance.now() - t0 < budgetMs && times.length < 200)) {
    const s = performance.now();
    const out = step();
    // Backends here run kernels synchronously; reading the smallest output (a
    // filter/weight gradient) is enough to sync, without copying whole activations out.
    out.reduce((a, b) => (b.size < a.size ? b : a)).dataSync();
    times.push(performance.now() - s);
    tf.dispose(out);
  }
  times.sort((a, b) => a - b);
  return { best: times[0], median: times[Math.floor(times.length / 2)] };
}

/** Forward + backward of f at xs with a fixed upstream gradient dy; returns [y, ...grads]. */
function trainStep(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): tf.Tensor[] {
  return tf.tidy(() => {
    const { value, grads } = tf.valueAndGrads(f)(xs, dy);
    return [value, ...grads];
  });
}

export async function benchBest(opts: { budgetMs?: number } = {}): Promise<BestResult> {
  const info = await initBackend();
  const budget = opts.budgetMs ?? 1500;
  const ns = nativeStatus();

  const [M, K, N] = [256, 512, 512];
  const x = rand([M, K]);
  const w = rand([K, N]);
  const dy = rand([M, N]);
  const mmMs = timeStep(() => trainStep((a, b) => tf.matMul(a, b), [x, w], dy), budget);
  const mmFlops = 3 * 2 * M * N * K;

  const [B, H, W, Cin, Cout] = [32, 32, 32, 64, 64];
  const cx = rand([B, H, W, Cin]);
  const cw = rand([3, 3, Cin, Cout]);
  const cdy = rand([B, H, W, Cout]);
  const convMs = timeStep(
    () => trainStep((a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'), [cx, cw], cdy),
    budget,
  );
  const convFlops = 3 * 2 * B * H * W * Cin * Cout * 9;
  tf.dispose([x, w, dy, cx, cw, cdy]);

  const how = ns.active
    ? `${info.active} backend + native OpenBLAS kernels (${ns.threads} threads; ${ns.library})`
    : `${info.active} backend, ${info.threads} thread(s); native inactive: ${ns.reason}`;
  return {
    matmulTrain: round(mmFlops / mmMs.best / 1e6),
    convTrain: round(convFlops / convMs.best / 1e6),
    how,
    backend: info.active,
    native: ns.active,
    threads: ns.active ? ns.threads : info.threads,
    matmulTrainMedian: round(mmFlops / mmMs.median / 1e6),
    convTrainMedian: round(convFlops / convMs.median / 1e6),
    matmulStepMs: round(mmMs.best),
    convStepMs: round(convMs.best),
  };
}

const round = (v: number) => Math.round(v * 100) / 100;

/** numpy's float32 1024^3 matmul on all cores, GFLOP/s, or undefined without python3 + numpy. */
export function numpySgemmAll(): number | undefined {
  const py = `
import numpy as np, time
n=1024; a=np.random.rand(n,n).astype(np.float32); b=np.random.rand(n,n).astype(np.float32)
for _ in range(3): a@b
best=1e9
for _ in range(10):
    t=time.perf_counter(); a@b; best=min(best,time.perf_counter()-t)
print(2*n**3/best/1e9)
`;
  for (const exe of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(exe, ['-c', py], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return round(Number(r.stdout.trim()));
  }
  return undefined;
}

if (require.main === module) {
  void (async () => {
    const best = await benchBest();
    const sgemmAll = numpySgemmAll();
    const ratio = sgemmAll ? { matmulTrain: round(best.matmulTrain / sgemmAll), convTrain: round(best.convTrain / sgemmAll) } : undefined;
    process.stdout.write(JSON.stringify({ best, numpySgemmAll: sgemmAll, ratioToSgemmAll: ratio }, null, 2) + '\n');
  })();
}
