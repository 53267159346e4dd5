/**
 * The auxiliary-loss ablation: the same data and seeds, trained with lambda
 * (the paper's 0.5) and with lambda = 0; for each seed both models are
 * evaluated on the same sets, and the effect on each metric is the paired
 * difference, with a t interval over seeds and an exact sign-flip test.
 */
import { FrozenClip } from './embeddings';
import { allAttributes } from '../world/prompt';
import { EvalSet, evaluateScorer, renderCheck, renderCheckPrompts } from './evaluate';
import { RewardData, trainReward } from './run';
import { fixed3, leastSignFlipP, signFlipTest } from './metrics';
import { RewardTrainConfig } from './train';

export { leastSignFlipP, signFlipTest };

/** Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom. */
const T975: readonly number[] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/**
 * The 97.5% quantile of Student's t with `df` degrees of freedom: the table
 * up to 30, then the Cornish-Fisher expansion in 1/df around the normal
 * quantile z (error below 1e-5 from 31 on; 1.960 in the limit).
 */
export function t975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new Error(`t975: degrees of freedom must be a positive integer, got ${df}`);
  if (df <= T975.length) return T975[df - 1];
  const z = 1.959963984540054, z2 = z * z;
  return z + (z * (z2 + 1)) / (4 * df) + (z * (5 * z2 * z2 + 16 * z2 + 3)) / (96 * df ** 2) + (z * (3 * z2 ** 3 + 19 * z2 * z2 + 17 * z2 - 15)) / (384 * df ** 3);
}

/** Mean of paired differences with a 95% t interval (n >= 2). */
export function pairedInterval(diffs: readonly number[]): { mean: number; lo: number; hi: number; sd: number } {
  const n = diffs.length;
  const mean = diffs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, lo: NaN, hi: NaN, sd: NaN };
  const sd = Math.sqrt(diffs.reduce((a, d) => a + (d - mean) ** 2, 0) / (n - 1));
  const h = t975(n - 1) * (sd / Math.sqrt(n));
  return { mean, lo: mean - h, hi: mean + h, sd };
}

export interface AblationRun {
  seed: number;
  /** Metric values by `${set}/${group}/auc` (and /accuracy), with the auxiliary loss and without. */
  with: Record<string, number>;
  without: Record<string, number>;
}

export interface AblationEffect {
  metric: string;
  withMean: number;
  withoutMean: number;
  /** with - without, paired by seed. */
  diff: { mean: number; lo: number; hi: number; sd: number };
  /** Sign-flip p-value. */
  p: number;
}

export interface AblationResult {
  auxWeight: number;
  seeds: number[];
  runs: AblationRun[];
  effects: AblationEffect[];
}

/**
 * Train with `config.auxWeight` (default 0.5) and with 0 for each seed on the
 * same data; measure AUC and accuracy of each on `sets` (all images and each
 * novelty group), and the clean-render check (true prompt above each
 * one-attribute change) on `renderPrompts` renders (0 to skip it).
 */
export async function auxLossAblation(
  data: RewardData,
  frozen: FrozenClip,
  sets: readonly EvalSet[],
  seeds: readonly number[],
  config: Partial<RewardTrainConfig> = {},
  onRun?: (seed: number, lambda: number) => void,
  renderPrompts = 200,
): Promise<AblationResult> {
  const renderSet = renderCheckPrompts(allAttributes(), renderPrompts, 'ablation');
  const auxWeight = config.auxWeight ?? 0.5;
  if (auxWeight === 0) throw new Error('the ablation compares an auxiliary weight > 0 with 0; got --aux-weight 0');
  const runs: AblationRun[] = [];
  for (const seed of seeds) {
    const measure = async (lambda: number) => {
      onRun?.(seed, lambda);
      const run = await trainReward(data, frozen, { ...config, auxWeight: lambda, seed }, { progress: false });
      const out: Record<string, number> = {};
      try {
        for (const set of sets) {
          for (const row of evaluateScorer(run.model, set, run.trainPrompts, 0.5, { resamples: 0 }).rows) {
            out[`${set.name}/${row.group}/auc`] = row.auc.value;
            out[`${set.name}/${row.group}/accuracy`] = row.accuracy.value;
          }
        }
        if (renderPrompts > 0) {
          const rc = renderCheck(run.model, frozen, renderSet, 'ablation-renders');
          out['renders/pairs'] = rc.pairs;
          for (const [k, v] of Object.entries(rc.byAttribute)) out[`renders/${k}`] = v;
        }
      } finally {
        run.model.dispose(); // also when an evaluation throws: a notebook goes on with the same process
      }
      return out;
    };
    runs.push({ seed, with: await measure(auxWeight), without: await measure(0) });
  }
  const metrics = Object.keys(runs[0].with).filter((m) => runs.every((r) => Number.isFinite(r.with[m]) && Number.isFinite(r.without[m])));
  const effects = metrics.map((metric) => {
    const diffs = runs.map((r) => r.with[metric] - r.without[metric]);
    const mean = (k: 'with' | 'without') => runs.reduce((a, r) => a + r[k][metric], 0) / runs.length;
    return { metric, withMean: mean('with'), withoutMean: mean('without'), diff: pairedInterval(diffs), p: signFlipTest(diffs) };
  });
  return { auxWeight, seeds: [...seeds], runs, effects };
}

/** The ablation's AUC and render effects as a markdown table. */
export function ablationTable(r: AblationResult): string {
  const sign = (x: number) => (x >= 0 ? '+' : '');
  return [
    `| metric | with (lambda ${r.auxWeight}) | without | difference [95% t interval] | sign-flip p |`,
    '|---|---:|---:|---|---:|',
    ...r.effects
      .filter((e) => e.metric.endsWith('/auc') || e.metric.startsWith('renders/'))
      .map((e) => `| ${e.metric} | ${fixed3(e.withMean)} | ${fixed3(e.withoutMean)} | ${sign(e.diff.mean)}${fixed3(e.diff.mean)} [${fixed3(e.diff.lo)}, ${fixed3(e.diff.hi)}] | ${fixed3(e.p)} |`),
  ].join('\n');
}
