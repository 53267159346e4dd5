/**
 * One tfjs backend's matmul and conv speed, GFLOP/s:
 *   matmul:      y = x W, x [M, K], W [K, N]                       (2MNK flops)
 *   matmulTrain: y, dx = dy W^T, dW = x^T dy (a dense layer step)   (3 x 2MNK)
 *   conv:        3x3 'same' conv [B, H, W, Cin] -> Cout             (2 B H W Cin Cout 9)
 *   convTrain:   forward, dx and dW                                 (3 x that)
 * Runs on whichever backend is active (the section runner picks it).
 */
import * as tf from '@tensorflow/tfjs';
import { medianMs, round, trainStep } from './timing';

export interface TfjsSizes {
  matmul: [number, number, number];
  conv: [number, number, number, number, number];
  budgetMs: number;
  minRuns: number;
}

/** The sizes the task asks for; the cpu backend (~100x slower) gets small ones. */
export const SIZES: Record<string, TfjsSizes> = {
  wasm: { matmul: [256, 512, 512], conv: [32, 32, 32, 64, 64], budgetMs: 2000, minRuns: 5 },
  tensorflow: { matmul: [256, 512, 512], conv: [32, 32, 32, 64, 64], budgetMs: 2000, minRuns: 5 },
  cpu: { matmul: [64, 256, 256], conv: [2, 16, 16, 32, 32], budgetMs: 1500, minRuns: 2 },
};

export interface TfjsSection {
  matmul: number;
  matmulTrain: number;
  conv: number;
  convTrain: number;
  /** Median ms per call of each. */
  ms: { matmul: number; matmulTrain: number; conv: number; convTrain: number };
  sizes: { matmul: string; conv: string };
  threads: number;
  kitKernels: string[];
  note?: string;
}

export function benchTfjs(s: TfjsSizes, threads: number, kitKernels: string[]): TfjsSection {
  const sync = tf.getBackend() === 'tensorflow';
  const opts = { budgetMs: s.budgetMs, minRuns: s.minRuns, sync };
  const rand = (shape: number[]) => tf.randomUniform(shape, -0.5, 0.5, 'float32', 7);

  const [M, K, N] = s.matmul;
  const x = rand([M, K]);
  const w = rand([K, N]);
  const dy = rand([M, N]);
  const mmFlops = 2 * M * N * K;
  const mm = medianMs(() => [tf.matMul(x, w)], opts);
  const mmTrain = medianMs(() => trainStep((a, b) => tf.matMul(a, b), [x, w], dy), opts);

  const [B, H, W, Cin, Cout] = s.conv;
  const cx = rand([B, H, W, Cin]) as tf.Tensor4D;
  const cw = rand([3, 3, Cin, Cout]) as tf.Tensor4D;
  const cdy = rand([B, H, W, Cout]);
  const convFlops = 2 * B * H * W * Cin * Cout * 9;
  const conv = medianMs(() => [tf.conv2d(cx, cw, 1, 'same')], opts);
  const convTrain = medianMs(
    () => trainStep((a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'), [cx, cw], cdy),
    opts,
  );
  tf.dispose([x, w, dy, cx, cw, cdy]);
  const g = (flops: number, ms: number) => round(flops / ms / 1e6);
  return {
    matmul: g(mmFlops, mm),
    matmulTrain: g(3 * mmFlops, mmTrain),
    conv: g(convFlops, conv),
    convTrain: g(3 * convFlops, convTrain),
    ms: { matmul: round(mm), matmulTrain: round(mmTrain), conv: round(conv), convTrain: round(convTrain) },
    sizes: { matmul: `[${M},${K}]x[${K},${N}]`, conv: `3x3 same, [${B},${H},${W},${Cin}] -> ${Cout}` },
    threads,
    kitKernels,
  };
}
