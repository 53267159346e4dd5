/** Timing helpers shared by the bench sections. */
import * as tf from '@tensorflow/tfjs';

export const round = (v: number, digits = 2): number => Math.round(v * 10 ** digits) / 10 ** digits;

/**
 * Median milliseconds of `step` (returns tensors to dispose) after `warmup`
 * runs, over at least `minRuns` runs and about `budgetMs`. `sync` reads the
 * outputs back (needed for asynchronous backends; wasm and cpu compute
 * synchronously, and reading back would add a heap copy to the time).
 */
export function medianMs(step: () => tf.Tensor[], opts: { budgetMs: number; minRuns: number; warmup?: number; sync?: boolean }): number {
  for (let i = 0; i < (opts.warmup ?? 1); i++) tf.dispose(step());
  const times: number[] = [];
  const t0 = performance.now();
  while (times.length < opts.minRuns || (performance.now() - t0 < opts.budgetMs && times.length < 100)) {
    const s = performance.now();
    const out = step();
    if (opts.sync) for (const t of out) t.dataSync();
    times.push(performance.now() - s);
    tf.dispose(out);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** Forward + backward of `f` at `xs` with upstream gradient `dy`: [y, ...grads]. */
export function trainStep(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): tf.Tensor[] {
  return tf.tidy(() => {
    const { value, grads } = tf.valueAndGrads(f)(xs, dy);
    return [value, ...grads];
  });
}
