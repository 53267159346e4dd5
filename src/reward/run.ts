/**
 * Stage 2 as the CLI, the notebooks and `reproduce` call it: train a reward
 * model from labelled datasets and save it; evaluate rewards against labels
 * and the judge; the auxiliary-loss ablation over seeds.
 */
import * as path from 'node:path';
import { BASE_MODEL_DIR } from '../eval/base';
import { Progress } from '../engine/progress';
import { readManifest, refuseRepeatedDatasets } from '../world/dataset';
import { allAttributes } from '../world/prompt';
import { goodShare, labelledImages, LabelledImage } from './data';
import { EmbeddingTable, FrozenClip, datasetImageEmbeddings } from './embeddings';
import { saveRewardModel, RewardDatasetInfo } from './checkpoint';
import { SHIPPED_CLIP_DIR } from '../models/checkpoint';
import { AucDifference, aucDifference, EvalSet, evaluateScorer, labelledSet, renderCheck, renderCheckPrompts, ScorerEval, subset } from './evaluate';
import { bestThreshold, fixed3, Interval } from './metrics';
import { ClipScore, RewardModel } from './model';
import { resolveRewardConfig, RewardTrainConfig, RewardTrainResult, trainRewardModel } from './train';

/** The MiniCLIP the shipped base model was trained with (the reward's frozen encoder by default; the reward module's name for SHIPPED_CLIP_DIR, which notebooks import). */
export const BASE_CLIP_DIR = SHIPPED_CLIP_DIR;
/** The shipped reward model, trained on the base model's labelled images (see the README for the commands). */
export const REWARD_MODEL_DIR = path.join(path.dirname(BASE_MODEL_DIR), 'reward-model');

/** Labelled images of several datasets with their embeddings in one table (rows in order). */
export interface RewardData {
  images: LabelledImage[];
  embeddings: EmbeddingTable;
  datasets: RewardDatasetInfo[];
}

/** Fewest training rows, and held-out images, whose numbers the kit prints without a caution. */
export const FEW_LABELS = { train: 200, heldOut: 40 };

/** A one-line caution when a reward model learnt from few labels (a student's ten), else undefined. */
export function fewLabels(rows: { train: number }, heldOutImages: number): string | undefined {
  if (rows.train >= FEW_LABELS.train && heldOutImages >= FEW_LABELS.heldOut) return undefined;
  const swing = heldOutImages > 0 ? `one held-out image moves its held-out accuracy by ${(100 / heldOutImages).toFixed(1)} points` : 'no image was held out to measure it';
  return `only ${rows.train} training rows and ${heldOutImages} held-out images: a reward model this small fits its few labels, and ${swing} (the shipped one learnt from 2,208 rows; label more images, or train on several datasets: --data repeated)`;
}

/** Read the labelled images of each dataset folder and their (cached) embeddings. */
export function loadRewardData(dirs: readonly string[], frozen: FrozenClip): RewardData {
  if (dirs.length === 0) throw new Error('no dataset given (--data DIR)');
  refuseRepeatedDatasets(dirs.map((dir) => ({ dir, flag: '--data' })));
  const images: LabelledImage[] = [];
  const parts: Float32Array[] = [];
  const datasets: RewardDatasetInfo[] = [];
  for (const dir of dirs) {
    const ims = labelledImages(dir);
    const emb = datasetImageEmbeddings(dir, frozen, ims.map((im) => im.record));
    images.push(...ims);
    parts.push(emb.data);
    const labels = ims.flatMap((im) => im.labels);
    datasets.push({
      dir, images: readManifest(dir).length, labelledImages: ims.length,
      labels: { good: labels.filter((l) => l === 'good').length, bad: labels.filter((l) => l === 'bad').length },
    });
  }
  const dim = frozen.clip.config.embedDim;
  const data = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (data.set(p, at), (at += p.length));
  return { images, embeddings: { dim, data }, datasets };
}

export interface TrainRewardRun extends RewardTrainResult {
  /** Accuracy and AUC on the held-out prompts' images against the raters' majority (null without a held-out split). Early stopping chose the epoch on these prompts' loss; a third split measured that lean on the shipped feedback at +0.001 [-0.016, 0.019] AUC (scripts/reward-heldout-lean.ts). The test sets of eval-reward are apart from training altogether. */
  heldOut: { images: number; accuracy: Interval; auc: Interval } | null;
  /** Best-accuracy threshold of the CLIP score on the training images (for its accuracy). */
  clipThreshold: number;
  datasets: RewardDatasetInfo[];
  /** A one-line caution where the model learnt from few labels (fewLabels), printed by the CLI and notebook 03; absent otherwise. */
  caution?: string;
}

/**
 * A trained reward model's accuracy and AUC on the held-out prompts' images against the raters'
 * majority, and the CLIP score's best threshold on the training prompts' images. Images the raters
 * split evenly on have no majority: left out (as eval-reward does), not counted as bad (they were
 * until 2026-12-06: HELD_OUT_TIES names the definition).
 */
export function heldOutMetrics(model: RewardModel, data: RewardData, heldOutPrompts: readonly string[], trainPrompts: readonly string[], seed: number): { heldOut: TrainRewardRun['heldOut']; clipThreshold: number } {
  const held = new Set(heldOutPrompts);
  const decided = data.images.flatMap((im, i) => (goodShare(im.labels) === 0.5 ? [] : [i]));
  const all = subset(labelledSet(data.images, data.embeddings, 'held-out prompts (labels)'), decided);
  const part = (heldOut: boolean) => subset(all, all.prompts.flatMap((p, i) => (held.has(p) === heldOut ? [i] : [])));
  const trainSet = part(false);
  const clipThreshold = bestThreshold(new ClipScore(model.texts).score(trainSet.embeddings, trainSet.prompts), trainSet.targets);
  if (!held.size) return { heldOut: null, clipThreshold };
  const row = evaluateScorer(model, part(true), trainPrompts, 0.5, { resamples: 500, seed }).rows[0];
  return { heldOut: { images: row.images, accuracy: row.accuracy, auc: row.auc }, clipThreshold };
}

/** How held-out metrics treat tied images (see heldOutMetrics); a sweep recomputes a cached value without it. */
export const HELD_OUT_TIES = 'left out';

/**
 * Train a reward model on `data` (see trainRewardModel) and measure it on the
 * held-out prompts; with `out`, save it there.
 */
export async function trainReward(
  data: RewardData,
  frozen: FrozenClip,
  overrides: Partial<RewardTrainConfig> = {},
  opts: { out?: string; progress?: false | ((total: number, label: string) => Progress) } = {},
): Promise<TrainRewardRun> {
  const config = resolveRewardConfig(overrides);
  const result = await trainRewardModel(data.images, data.embeddings, frozen, config, { progress: opts.progress });
  const { heldOut, clipThreshold } = heldOutMetrics(result.model, data, result.heldOutPrompts, result.trainPrompts, config.seed);
  const caution = fewLabels(result.rows, heldOut?.images ?? 0);
  const run: TrainRewardRun = { ...result, heldOut, clipThreshold, datasets: data.datasets, ...(caution ? { caution } : {}) };
  if (opts.out) {
    await saveRewardModel(opts.out, result.model, {
      kind: 'reward', config, model: result.model.config, clip: { dir: frozen.dir, sha256: frozen.sha256 }, datasets: data.datasets,
      trainPrompts: result.trainPrompts, heldOutPrompts: result.heldOutPrompts, bestEpoch: result.bestEpoch, history: result.history,
      metrics: { heldOut, clipThreshold, rows: result.rows },
    });
  }
  return run;
}

/** The evaluation of a reward model beside the CLIP baseline on the same sets. */
export interface RewardEvaluation {
  evals: ScorerEval[];
  /** True prompt vs one-attribute changes, on clean renders of seen and unseen prompts. */
  renders: Record<'reward' | 'clip', ReturnType<typeof renderCheck>>;
  /** Per set: reward AUC minus the CLIP score's, with a paired bootstrap over prompts. */
  differences: AucDifference[];
}

/**
 * Evaluate `model` and the CLIP score on each set (images neither has been
 * trained on), and on clean renders of `renderPrompts` prompts of the whole grammar.
 */
export function evaluateReward(
  model: RewardModel,
  frozen: FrozenClip,
  sets: readonly EvalSet[],
  meta: { trainPrompts: string[]; clipThreshold: number },
  opts: { resamples?: number; seed?: number; renderPrompts?: number } = {},
): RewardEvaluation {
  const clip = new ClipScore(model.texts);
  const evals: ScorerEval[] = [];
  for (const set of sets) {
    evals.push(evaluateScorer(model, set, meta.trainPrompts, 0.5, opts));
    evals.push(evaluateScorer(clip, set, meta.trainPrompts, meta.clipThreshold, opts));
  }
  const differences = sets.map((set) =>
    aucDifference(set, model.score(set.embeddings, set.prompts), clip.score(set.embeddings, set.prompts), `eval-reward/${opts.seed ?? 0}/${set.name}`));
  const prompts = renderCheckPrompts(allAttributes(), opts.renderPrompts ?? 200, `${opts.seed ?? 0}`);
  return {
    evals,
    renders: { reward: renderCheck(model, frozen, prompts, `renders/${opts.seed ?? 0}`), clip: renderCheck(clip, frozen, prompts, `renders/${opts.seed ?? 0}`) },
    differences,
  };
}

const pct = (x: number) => (Number.isNaN(x) ? '-' : (100 * x).toFixed(1));
/** Bootstrap draws undefined beyond this share mark an interval (see Interval.undefinedDraws). */
const UNDEFINED_DRAWS_MARK = 0.05;
const ci = (i: Interval, f: (x: number) => string = pct) => `${f(i.value)} [${f(i.lo)}, ${f(i.hi)}]${(i.undefinedDraws ?? 0) > UNDEFINED_DRAWS_MARK ? '*' : ''}`;
const num = fixed3;

/** The evaluation as a Markdown table: one line per (set, group), reward beside CLIP. */
export function rewardTable(r: RewardEvaluation): string {
  const lines = [
    '| set | group | images | prompts | aligned % | AUC reward | AUC CLIP | acc % reward | acc % CLIP | ECE reward | ECE CLIP |',
    '|---|---|---:|---:|---:|---|---|---|---|---|---|',
  ];
  for (let i = 0; i < r.evals.length; i += 2) {
    const [rw, cl] = [r.evals[i], r.evals[i + 1]];
    rw.rows.forEach((row, k) => {
      const c = cl.rows[k];
      lines.push(`| ${rw.set} | ${row.group} | ${row.images} | ${row.prompts} | ${pct(row.positives)} | ${ci(row.auc, num)} | ${ci(c.auc, num)} | ${ci(row.accuracy)} | ${ci(c.accuracy)} | ${num(row.ece.value)} | ${num(c.ece.value)} |`);
    });
  }
  lines.push(
    '',
    'Reward minus CLIP score, ROC AUC on each whole set (paired bootstrap over prompts, 1,000 draws; p: two-sided):',
    '',
    '| set | images | prompts | AUC reward | AUC CLIP | difference [95% CI] | p |',
    '|---|---:|---:|---:|---:|---|---:|',
    ...r.differences.map((d) => `| ${d.name} | ${d.images} | ${d.prompts} | ${num(d.reward)} | ${num(d.clip)} | ${d.diff.value >= 0 ? '+' : ''}${ci(d.diff, num)} | ${num(d.diff.p)} |`),
  );
  const marked = [...r.evals.flatMap((e) => e.rows.flatMap((row) => [row.auc, row.accuracy])), ...r.differences.map((d) => d.diff)].filter((i) => (i.undefinedDraws ?? 0) > UNDEFINED_DRAWS_MARK);
  if (marked.length) {
    const most = Math.max(...marked.map((i) => i.undefinedDraws!));
    lines.push('', `\\* In more than ${100 * UNDEFINED_DRAWS_MARK}% of this interval's bootstrap draws (at most ${pct(most)}%) the drawn prompts' images were all of one class, so the AUC was undefined there; the interval (and a difference's p) is over the other draws and leans to them.`);
  }
  const rr = r.renders;
  const byAttribute = Object.keys(rr.reward.byAttribute).map((a) => `${a} ${pct(rr.reward.byAttribute[a])}% vs ${pct(rr.clip.byAttribute[a])}%`).join(', ');
  lines.push('', `Clean renders (${rr.reward.renders} prompts of the whole grammar): true prompt above each one-attribute change in ${pct(rr.reward.pairs)}% of pairs (reward) vs ${pct(rr.clip.pairs)}% (CLIP); above all of them in ${pct(rr.reward.all)}% vs ${pct(rr.clip.all)}% of renders. By the attribute changed: ${byAttribute}.`);
  return lines.join('\n');
}
