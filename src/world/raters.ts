/**
 * Simulated human raters (the paper's Stage 1 labellers). Each rater sees
 * what the judge sees and answers 'good' (aligned) or 'bad', with noise:
 * - skipRate: answers 'skip' (no label) this often;
 * - leniency: on a partly right image (exactly one named attribute wrong,
 *   at least one object visible) says 'good' with this probability;
 * - flipRate: then flips the answer with this probability.
 * Draws are seeded per (panel seed, rater, item), so a label never depends on
 * the order items are rated in.
 */
import { Rng } from '../engine/random';
import { Verdict } from './judge';

export type Label = 'good' | 'bad' | 'skip';

export interface RaterConfig {
  /** Name, unique in a panel. */
  id: string;
  /** Key of the rater's random draws (default: id), so a rater can be renamed without changing its labels. */
  noiseKey?: string;
  /** Probability of flipping the (lenient) answer. */
  flipRate: number;
  /** Probability of calling a partly right image good. */
  leniency: number;
  /** Probability of skipping an item. */
  skipRate: number;
}

/** True when exactly one named attribute is wrong and something was drawn. */
export function partlyRight(v: Verdict): boolean {
  return !v.aligned && v.reasons.length === 1 && v.observed.objects.length > 0;
}

/** One rater's label for one judged item. */
export function rate(v: Verdict, rater: RaterConfig, rng: Rng): Label {
  for (const k of ['flipRate', 'leniency', 'skipRate'] as const) {
    const p = rater[k];
    if (!(p >= 0 && p <= 1)) throw new Error(`rater ${rater.id}: ${k} must be in [0, 1], got ${p}`);
  }
  if (rng.bernoulli(rater.skipRate)) return 'skip';
  let good = v.aligned;
  if (!good && partlyRight(v) && rng.bernoulli(rater.leniency)) good = true;
  if (rng.bernoulli(rater.flipRate)) good = !good;
  return good ? 'good' : 'bad';
}

/** A reproducible panel of raters. */
export class RaterPanel {
  constructor(readonly raters: readonly RaterConfig[], readonly seed: number | string) {
    const ids = new Set(raters.map((r) => r.id));
    if (ids.size !== raters.length) throw new Error('rater ids must be unique');
    if (raters.length === 0) throw new Error('a panel needs at least one rater');
  }

  /** Every rater's label for the item `itemId` (in panel order). */
  label(itemId: string, v: Verdict): Label[] {
    return this.raters.map((r) => rate(v, r, new Rng(`${this.seed}/${r.noiseKey ?? r.id}/${itemId}`)));
  }
}

/** A panel of `n` raters sharing one noise setting, ids r0..r{n-1}. */
export function uniformPanel(n: number, noise: Omit<RaterConfig, 'id'>, seed: number | string): RaterPanel {
  return new RaterPanel(Array.from({ length: n }, (_, i) => ({ id: `r${i}`, ...noise })), seed);
}

/**
 * Fleiss' kappa from a count matrix: counts[i][j] = raters who put item i in
 * category j. Items may have different numbers of raters (>= 2 each; items
 * with fewer are ignored). kappa = (Pbar - Pe) / (1 - Pe); NaN when Pe = 1
 * (every label the same: agreement beyond chance is undefined, not perfect).
 */
export function fleissKappa(counts: readonly (readonly number[])[]): number {
  const rows = counts.filter((r) => r.reduce((a, b) => a + b, 0) >= 2);
  if (rows.length === 0) throw new Error('fleissKappa: no item has two or more ratings');
  const k = rows[0].length;
  const totals = new Array(k).fill(0);
  let all = 0;
  let pBar = 0;
  for (const r of rows) {
    const n = r.reduce((a, b) => a + b, 0);
    let agree = 0;
    r.forEach((c, j) => {
      agree += c * (c - 1);
      totals[j] += c;
    });
    pBar += agree / (n * (n - 1));
    all += n;
  }
  pBar /= rows.length;
  const pE = totals.reduce((a, t) => a + (t / all) ** 2, 0);
  return pE === 1 ? NaN : (pBar - pE) / (1 - pE);
}

/** Fleiss' kappa of a panel's labels: labels[i] = every rater's label of item i ('skip' ignored). */
export function panelKappa(labels: readonly (readonly Label[])[]): number {
  return fleissKappa(labels.map((ls) => [ls.filter((l) => l === 'good').length, ls.filter((l) => l === 'bad').length]));
}

/** Cohen's kappa of two raters over the same items (items either skipped are ignored); NaN when both give one label to every item (undefined: chance agreement is 1). */
export function cohenKappa(a: readonly Label[], b: readonly Label[]): number {
  if (a.length !== b.length) throw new Error(`cohenKappa: ${a.length} vs ${b.length} labels`);
  let n = 0, agree = 0, aGood = 0, bGood = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === 'skip' || b[i] === 'skip') continue;
    n++;
    if (a[i] === b[i]) agree++;
    if (a[i] === 'good') aGood++;
    if (b[i] === 'good') bGood++;
  }
  if (n === 0) throw new Error('cohenKappa: no item rated by both');
  const po = agree / n;
  const pe = (aGood / n) * (bGood / n) + (1 - aGood / n) * (1 - bGood / n);
  return pe === 1 ? NaN : (po - pe) / (1 - pe);
}
