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
 * class is missing; a score that is not a finite number (a diverged model)
 * is an error, not an AUC (sorting by NaN would give a plausible one).
 */
export function rocAuc(scores: ArrayLike<number>, targets: ArrayLike<number>): number {
  const n = scores.length;
  for (let i = 0; i < n; i++) if (!Number.isFinite(scores[i])) throw new Error(`ROC AUC: score ${i + 1} of ${n} is ${scores[i]} (scores must be finite numbers; a diverged model?)`);
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
  /** Share of bootstrap draws where the metric was undefined (e.g. AUC of a draw with one class), left out of lo and hi; absent when none. */
  undefinedDraws?: number;
}

/** x with 3 decimals, or '-' when it is not a number (an interval or AUC that could not be computed). */
export const fixed3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '-');

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
 * are left out of the interval, and their share is `undefinedDraws` (then the
 * interval is over the draws where it is defined, and leans to them). Fewer than two prompts give no interval (lo
 * and hi NaN): every draw would be the same, and [x, x] would read as certainty.
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
  if (prompts.length < 2) return { value, lo: NaN, hi: NaN };
  const rng = new Rng(`${opts.seed ?? 0}/bootstrap`);
  const draws: number[] = [];
  const resamples = opts.resamples ?? 1000;
  for (let r = 0; r < resamples; r++) {
    const pick: Scored[] = [];
    for (let k = 0; k < prompts.length; k++) pick.push(...groups.get(prompts[rng.int(0, prompts.length - 1)])!);
    const v = metric(...arrays(pick));
    if (!Number.isNaN(v)) draws.push(v);
  }
  draws.sort((a, b) => a - b);
  const undefinedDraws = draws.length < resamples ? { undefinedDraws: (resamples - draws.length) / resamples } : {};
  if (draws.length === 0) return { value, lo: NaN, hi: NaN, ...undefinedDraws };
  const q = (p: number) => draws[Math.min(draws.length - 1, Math.max(0, Math.round(p * (draws.length - 1))))];
  return { value, lo: q(0.025), hi: q(0.975), ...undefinedDraws };
}

/**
 * One-feature logistic regression (Platt scaling): the a, b that minimise the
 * mean cross-entropy -mean_i [y_i log p_i + (1 - y_i) log(1 - p_i)],
 * p_i = sigmoid(a s_i + b), for soft targets y_i in [0, 1], plus a small
 * ridge on the coefficients of the standardised scores (so separable data
 * still gives finite values). Newton's method with step halving, from a = 0
 * and b = logit(mean y). Constant scores, targets of one class only, and
 * values that are not finite are errors: no slope can be fitted to them.
 * Deterministic: the same inputs give the same a, b.
 */
export function fitLogistic(scores: ArrayLike<number>, targets: ArrayLike<number>, ridge = 1e-6): { a: number; b: number } {
  const n = scores.length;
  if (n !== targets.length) throw new Error(`${n} scores for ${targets.length} targets`);
  if (n === 0) throw new Error('fitLogistic: no rows');
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(scores[i])) throw new Error(`fitLogistic: score ${i} is ${scores[i]}`);
    if (!(targets[i] >= 0 && targets[i] <= 1)) throw new Error(`fitLogistic: target ${i} is ${targets[i]}, not in [0, 1]`);
  }
  let sum = 0;
  let ysum = 0;
  for (let i = 0; i < n; i++) (sum += scores[i]), (ysum += targets[i]);
  const mean = sum / n;
  const ybar = ysum / n;
  if (ybar === 0 || ybar === 1) throw new Error(`fitLogistic: every target is ${ybar}: one class, no slope to fit`);
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (scores[i] - mean) ** 2;
  const sd = Math.sqrt(ss / n);
  if (!(sd > 1e-9 * (1 + Math.abs(mean)))) throw new Error(`fitLogistic: the ${n} scores are constant (${mean}): no slope to fit`);
  const x = Array.from(scores, (v) => (v - mean) / sd);
  const loss = (a: number, b: number) => {
    let l = (ridge / 2) * (a * a + b * b);
    for (let i = 0; i < n; i++) {
      const z = a * x[i] + b;
      // log(1 + e^z) - y z, computed without overflow.
      l += ((z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) - targets[i] * z) / n;
    }
    return l;
  };
  let a = 0;
  let b = Math.log(ybar / (1 - ybar));
  let current = loss(a, b);
  for (let it = 0; it < 100; it++) {
    let ga = ridge * a, gb = ridge * b, haa = ridge, hab = 0, hbb = ridge;
    for (let i = 0; i < n; i++) {
      const p = 1 / (1 + Math.exp(-(a * x[i] + b)));
      const r = (p - targets[i]) / n;
      const w = (p * (1 - p)) / n;
      ga += r * x[i];
      gb += r;
      haa += w * x[i] * x[i];
      hab += w * x[i];
      hbb += w;
    }
    const det = haa * hbb - hab * hab;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    let t = 1;
    let next = loss(a - da, b - db);
    while (next > current && t > 1e-10) (t /= 2), (next = loss(a - t * da, b - t * db));
    if (next > current) break;
    a -= t * da;
    b -= t * db;
    const done = current - next < 1e-15;
    current = next;
    if (done) break;
  }
  return { a: a / sd, b: b - (a * mean) / sd };
}

/** A prompt's images: `k` of `n` counted (aligned, say). */
export interface Tally {
  k: number;
  n: number;
}

/**
 * A 95% interval of the mean over runs of each run's rate (k / n pooled over
 * the prompts' images), minus the base's rate when `base` is given, over
 * prompts and seeds: each draw takes prompts with replacement (all their
 * images, the base's and every run's, so a pairing holds) and, on them, the
 * runs' mean plus a Student-t draw (R - 1 degrees of freedom) times the runs'
 * standard error, so that the seed level is a t interval's, as wide as the t
 * interval over seeds where the prompts do not vary. (Resampling three runs
 * instead could never reach beyond their range: it covered about 85% in a
 * simulation.) The runs' level is kept in [0, 1]. With one run it is a bootstrap over prompts. Percentiles of
 * the draws; prompts in sorted order, so the rows' order does not matter; NaN
 * with fewer than two prompts.
 */
export function promptSeedInterval(rows: ReadonlyArray<{ prompt: string; base?: Tally; runs: readonly Tally[] }>, opts: { resamples?: number; seed?: string } = {}): { lo: number; hi: number } {
  const byPrompt = new Map<string, Array<{ base?: Tally; runs: readonly Tally[] }>>();
  for (const r of rows) byPrompt.set(r.prompt, [...(byPrompt.get(r.prompt) ?? []), r]);
  const groups = [...byPrompt.keys()].sort().map((k) => byPrompt.get(k)!);
  const runs = rows[0]?.runs.length ?? 0;
  if (rows.some((r) => r.runs.length !== runs)) throw new Error(`promptSeedInterval: every prompt needs each run's tally (${runs} runs on the first, other counts on others)`);
  if (groups.length < 2 || runs === 0) return { lo: NaN, hi: NaN };
  const rng = new Rng(`${opts.seed ?? 'finetune-effect'}/prompts-and-seeds`);
  const hasBase = rows.some((r) => r.base);
  const studentT = (df: number) => {
    let chi2 = 0;
    for (let i = 0; i < df; i++) chi2 += rng.normal() ** 2;
    return rng.normal() / Math.sqrt(chi2 / df);
  };
  const draws: number[] = [];
  for (let b = 0; b < (opts.resamples ?? 2000); b++) {
    const picked = groups.flatMap(() => groups[rng.int(0, groups.length - 1)]);
    const rate = (t: (r: (typeof picked)[number]) => Tally | undefined) => {
      let k = 0, n = 0;
      for (const r of picked) (k += t(r)?.k ?? 0), (n += t(r)?.n ?? 0);
      return n ? k / n : NaN;
    };
    const rates = Array.from({ length: runs }, (_, j) => rate((r) => r.runs[j]));
    const mean = rates.reduce((a, x) => a + x, 0) / runs;
    const se = runs > 1 ? Math.sqrt(rates.reduce((a, x) => a + (x - mean) ** 2, 0) / (runs - 1) / runs) : 0;
    // a rate stays in [0, 1] and a difference of two in [-1, 1] (the t draw alone could leave them)
    const level = Math.min(1, Math.max(0, mean + (runs > 1 ? studentT(runs - 1) * se : 0)));
    const d = hasBase ? level - rate((r) => r.base) : level;
    if (Number.isFinite(d)) draws.push(d);
  }
  // a draw of prompts with no images (in a run or the base) measures nothing; none at all: no interval
  if (draws.length === 0) return { lo: NaN, hi: NaN };
  draws.sort((a, b) => a - b);
  const q = (p: number) => draws[Math.round(p * (draws.length - 1))];
  return { lo: q(0.025), hi: q(0.975) };
}

/** The least two-sided p of an exact sign flip over `units` units: every sign alike, 2 of the 2^units patterns. */
export function leastSignFlipP(units: number): number {
  return units > 0 ? Math.min(1, 2 / 2 ** units) : 1;
}

/**
 * Exact two-sided sign-flip (paired permutation) test of mean difference 0:
 * the share of the 2^n sign patterns whose |mean| is at least the observed
 * one (n <= 20).
 */
export function signFlipTest(diffs: readonly number[]): number {
  const n = diffs.length;
  if (n === 0 || n > 20) throw new Error(`sign-flip test needs 1..20 paired differences, got ${n}`);
  if (!diffs.every(Number.isFinite)) throw new Error(`sign-flip test: the paired differences must be finite numbers, got [${diffs.join(', ')}]`);
  const observed = Math.abs(diffs.reduce((a, b) => a + b, 0));
  let extreme = 0;
  for (let mask = 0; mask < 1 << n; mask++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += mask & (1 << i) ? -diffs[i] : diffs[i];
    if (Math.abs(s) >= observed - 1e-12 * Math.max(1, observed)) extreme++; // relative: sums of large values tie exactly too
  }
  return extreme / (1 << n);
}

/** Up to this many prompts the sign-flip test enumerates every pattern (exact); beyond, Monte Carlo draws. */
export const EXACT_SIGN_FLIP_PROMPTS = 20;

/**
 * Paired test over prompts (two-sided sign flip; the prompt is the unit, since
 * images of one prompt are not independent). `weight` says which mean is
 * tested, and so which mean `mean` is: 'prompt' (default) the mean over
 * prompts of each prompt's mean difference; 'image' the mean over images,
 * each prompt's sign flipping its images' sum (the estimand of an
 * image-weighted difference and its bootstrap, where prompts have different
 * image counts). Exact over all 2^n sign patterns up to
 * EXACT_SIGN_FLIP_PROMPTS prompts; beyond, `draws` seeded Monte Carlo draws
 * over the prompts in sorted order, p = (extreme + 1) / (draws + 1). Either
 * way p is never 0 and does not depend on the order of `diffs`.
 */
export function pairedPromptTest(
  diffs: ReadonlyArray<{ prompt: string; d: number }>,
  opts: { draws?: number; seed?: string; weight?: 'prompt' | 'image' } = {},
): { mean: number; p: number; prompts: number } {
  const per = new Map<string, { s: number; n: number }>();
  for (const x of diffs) {
    const e = per.get(x.prompt) ?? { s: 0, n: 0 };
    e.s += x.d;
    e.n++;
    per.set(x.prompt, e);
  }
  const bad = diffs.find((x) => !Number.isFinite(x.d));
  if (bad) throw new Error(`paired test: the difference for prompt "${bad.prompt}" is ${bad.d} (the two evaluations are not paired)`);
  const byImage = opts.weight === 'image';
  const v = [...per.keys()].sort().map((k) => (byImage ? per.get(k)!.s : per.get(k)!.s / per.get(k)!.n));
  const n = v.length;
  if (n === 0) return { mean: NaN, p: NaN, prompts: 0 };
  const total = v.reduce((a, b) => a + b, 0);
  const mean = total / (byImage ? diffs.length : n);
  if (n <= EXACT_SIGN_FLIP_PROMPTS) return { mean, p: signFlipTest(v), prompts: n };
  const observed = Math.abs(total) - 1e-12 * Math.max(1, Math.abs(total));
  const rng = new Rng(opts.seed ?? 'paired-prompt-test');
  const draws = opts.draws ?? 10000;
  let extreme = 0;
  for (let r = 0; r < draws; r++) {
    let s = 0;
    for (const x of v) s += rng.bernoulli(0.5) ? x : -x;
    if (Math.abs(s) >= observed) extreme++;
  }
  return { mean, p: (extreme + 1) / (draws + 1), prompts: n };
}
