/**
 * How well a score predicts a binary target: accuracy at a threshold, ROC AUC,
 * calibration (ECE and the reliability curve), and intervals by bootstrap
 * over prompts (images of one prompt are not independent, so prompts, not
 * images, are resampled).
 */
import { Rng } from '../engine/random';

/**
 * ROC AUC: the probability that a random positive scores above a random
 * negative (ties count half), the Mann-Whitney U / (n+ n-). NaN when one
 * class is missing.
 */
export function rocAuc(scores: ArrayLike<number>, targets: ArrayLike<number>): number {
  const n = scores.length;
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let pos = 0;
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[idx[j + 1]] === scores[idx[i]]) j++;
    const rank = (i + j) / 2 + 1; // average rank of the tie group (1-based)
    for (let k = i; k <= j; k++) if (targets[idx[k]] === 1) (pos++, (rankSum += rank));
    i = j + 1;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Share of items with (score >= threshold) === (target === 1). */
export function accuracyAt(scores: ArrayLike<number>, targets: ArrayLike<number>, threshold: number): number {
  let hit = 0;
  for (let i = 0; i < scores.length; i++) if ((scores[i] >= threshold) === (targets[i] === 1)) hit++;
  return scores.length ? hit / scores.length : NaN;
}

/** The threshold (midway between two sorted scores) with the best accuracy: how the CLIP score gets one, on training data. */
export function bestThreshold(scores: ArrayLike<number>, targets: ArrayLike<number>): number {
  const s = Array.from(scores).sort((a, b) => a - b);
  let best = { acc: -1, t: 0.5 };
  const candidates = [s[0] - 1e-6, ...s.slice(1).map((v, i) => (v + s[i]) / 2), s[s.length - 1] + 1e-6];
  for (const t of candidates) {
    const acc = accuracyAt(scores, targets, t);
    if (acc > best.acc) best = { acc, t };
  }
  return best.t;
}

export interface ReliabilityBin {
  lo: number;
  hi: number;
  n: number;
  /** Mean score of the bin's items (NaN when empty). */
  meanScore: number;
  /** Share of positives among them. */
  meanTarget: number;
}

/**
 * Expected calibration error over `bins` equal-width bins of [0, 1]:
 * ECE = sum_b (n_b / n) |mean score_b - share of positives_b|, and the bins
 * (the reliability plot).
 */
export function calibration(scores: ArrayLike<number>, targets: ArrayLike<number>, bins = 10): { ece: number; bins: ReliabilityBin[] } {
  const acc = Array.from({ length: bins }, (_, b) => ({ lo: b / bins, hi: (b + 1) / bins, n: 0, s: 0, t: 0 }));
  for (let i = 0; i < scores.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(scores[i] * bins)));
    acc[b].n++;
    acc[b].s += scores[i];
    acc[b].t += targets[i];
  }
  const n = scores.length;
  let ece = 0;
  for (const b of acc) if (b.n) ece += (b.n / n) * Math.abs(b.s / b.n - b.t / b.n);
  return { ece: n ? ece : NaN, bins: acc.map((b) => ({ lo: b.lo, hi: b.hi, n: b.n, meanScore: b.n ? b.s / b.n : NaN, meanTarget: b.n ? b.t / b.n : NaN })) };
}

/** A value with a 95% interval. */
export interface Interval {
  value: number;
  lo: number;
  hi: number;
}

/** A scored item of an evaluation: its prompt (the bootstrap's unit), score and 0/1 target. */
export interface Scored {
  prompt: string;
  score: number;
  target: number;
}

/**
 * `metric` on the items, with a percentile 95% interval from `resamples`
 * bootstrap draws of prompts with replacement (each draw takes all images of
 * the drawn prompts). Draws where the metric is NaN (e.g. AUC with one class)
 * are left out of the interval.
 */
export function bootstrapOverPrompts(
  items: readonly Scored[],
  metric: (scores: Float64Array, targets: Float64Array) => number,
  opts: { resamples?: number; seed?: number | string } = {},
): Interval {
  const groups = new Map<string, Scored[]>();
  for (const it of items) {
    if (!groups.has(it.prompt)) groups.set(it.prompt, []);
    groups.get(it.prompt)!.push(it);
  }
  const prompts = [...groups.keys()].sort();
  const arrays = (list: readonly Scored[]) => [Float64Array.from(list, (x) => x.score), Float64Array.from(list, (x) => x.target)] as const;
  const value = metric(...arrays(items));
  const rng = new Rng(`${opts.seed ?? 0}/bootstrap`);
  const draws: number[] = [];
  for (let r = 0; r < (opts.resamples ?? 1000); r++) {
    const pick: Scored[] = [];
    for (let k = 0; k < prompts.length; k++) pick.push(...groups.get(prompts[rng.int(0, prompts.length - 1)])!);
    const v = metric(...arrays(pick));
    if (!Number.isNaN(v)) draws.push(v);
  }
  draws.sort((a, b) => a - b);
  if (draws.length === 0) return { value, lo: NaN, hi: NaN };
  const q = (p: number) => draws[Math.min(draws.length - 1, Math.max(0, Math.round(p * (draws.length - 1))))];
  return { value, lo: q(0.025), hi: q(0.975) };
}
