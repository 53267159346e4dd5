/**
 * Evaluating a reward (the learned model, or the CLIP-score baseline) on
 * images it never saw: accuracy, ROC AUC and calibration against
 *   (a) the raters' labels (majority; ties left out), and
 *   (b) the judge's exact verdict,
 * overall, by prompt category and by prompt novelty relative to the reward
 * model's training prompts:
 *   'seen prompt'      the prompt itself was trained on,
 *   'new combination'  every word was trained on, the prompt was not,
 *   'new object'       a word (in this world: the object) never was.
 * Intervals: bootstrap over prompts.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../engine/random';
import { judgeRecords } from '../feedback/label';
import { imageFileSha, ManifestRecord, readManifest } from '../world/dataset';
import { renderPrompt } from '../world/render';
import { Attributes, categoryOf, Category, CATEGORIES, formatPrompt, parsePrompt } from '../world/prompt';
import { goodShare, LabelledImage, labelledImages, promptAttributes } from './data';
import { datasetImageEmbeddings, EmbeddingTable, embedImages, FrozenClip, gatherRows } from './embeddings';
import { accuracyAt, bootstrapOverPrompts, calibration, Interval, ReliabilityBin, rocAuc, Scored } from './metrics';
import { RewardScorer } from './model';
import { perturbationsOf, PERTURBED_ATTRIBUTES } from './perturb';

export const NOVELTIES = ['seen prompt', 'new combination', 'new object'] as const;
export type Novelty = (typeof NOVELTIES)[number];
export const TARGETS = ['labels', 'judge'] as const;
export type EvalTarget = (typeof TARGETS)[number];

/** Images with a 0/1 target each, and their embeddings (rows in the same order). */
export interface EvalSet {
  /** e.g. "seen (labels)". */
  name: string;
  target: EvalTarget;
  dir: string;
  /** The images' manifest records (empty for sets built in memory). */
  records: ManifestRecord[];
  prompts: string[];
  attributes: Attributes[];
  categories: Category[];
  targets: number[];
  embeddings: EmbeddingTable;
}

/** The words of a prompt (its attribute values), for novelty. */
function words(a: Attributes): string[] {
  return [`count:${a.count}`, `object:${a.object}`, ...(a.color ? [`color:${a.color}`] : []), ...(a.background ? [`background:${a.background}`] : [])];
}

/** Novelty of a prompt relative to the training prompts. */
export function noveltyOf(a: Attributes, trainPrompts: ReadonlySet<string>, trainWords: ReadonlySet<string>): Novelty {
  if (trainPrompts.has(formatPrompt(a))) return 'seen prompt';
  return words(a).every((w) => trainWords.has(w)) ? 'new combination' : 'new object';
}


function pick<T>(list: readonly T[], keep: readonly number[]): T[] {
  return keep.map((i) => list[i]);
}

/**
 * Labelled images (rows of `embeddings` in the same order) as an evaluation set:
 * target 1 when most of the image's raters said good.
 */
export function labelledSet(images: readonly LabelledImage[], embeddings: EmbeddingTable, name: string, dir = ''): EvalSet {
  return {
    name, target: 'labels', dir, embeddings, records: images.map((im) => im.record),
    prompts: images.map((im) => formatPrompt(im.attributes)),
    attributes: images.map((im) => im.attributes),
    categories: images.map((im) => im.category),
    targets: images.map((im) => (goodShare(im.labels) > 0.5 ? 1 : 0)),
  };
}

/** A labelled dataset as an evaluation set: target 1 when most of the image's raters said good (ties left out). */
export function labelEvalSet(dir: string, frozen: FrozenClip, name = `${dir} (labels)`): EvalSet {
  const images = labelledImages(dir).filter((im) => goodShare(im.labels) !== 0.5);
  return labelledSet(images, datasetImageEmbeddings(dir, frozen, images.map((im) => im.record)), name, dir);
}

/** A dataset as an evaluation set with the judge's verdicts as targets (1 = aligned). */
export function judgeEvalSet(dir: string, frozen: FrozenClip, name = `${dir} (judge)`, records: ManifestRecord[] = readManifest(dir)): EvalSet {
  const verdicts = judgeRecords(dir, records);
  const attributes = records.map((r) => promptAttributes(dir, r));
  return {
    name, target: 'judge', dir, records,
    embeddings: datasetImageEmbeddings(dir, frozen, records),
    prompts: attributes.map(formatPrompt),
    attributes,
    categories: attributes.map(categoryOf),
    targets: records.map((r) => (verdicts.get(r.id)!.aligned ? 1 : 0)),
  };
}

/** Rows `keep` of an evaluation set. */
export function subset(set: EvalSet, keep: readonly number[], name = set.name): EvalSet {
  return {
    ...set, name, records: set.records.length ? pick(set.records, keep) : [], prompts: pick(set.prompts, keep), attributes: pick(set.attributes, keep), categories: pick(set.categories, keep),
    targets: pick(set.targets, keep), embeddings: { dim: set.embeddings.dim, data: gatherRows(set.embeddings, keep) },
  };
}

export interface MetricRow {
  /** 'all', a category or a novelty. */
  group: string;
  images: number;
  prompts: number;
  /** Share of positive targets. */
  positives: number;
  accuracy: Interval;
  auc: Interval;
  /** Expected calibration error; lo and hi are NaN (no interval: see metricRow). */
  ece: Interval;
}

export interface ScorerEval {
  scorer: string;
  set: string;
  target: EvalTarget;
  /** Score at or above which an image counts as aligned. */
  threshold: number;
  rows: MetricRow[];
  reliability: ReliabilityBin[];
}

export interface EvalOptions {
  /** Bootstrap draws per interval. Default 1000. */
  resamples?: number;
  seed?: number;
}

function metricRow(group: string, items: Scored[], threshold: number, opts: EvalOptions): MetricRow {
  const b = (m: (s: Float64Array, t: Float64Array) => number) => bootstrapOverPrompts(items, m, { resamples: opts.resamples, seed: `${opts.seed ?? 0}/${group}` });
  return {
    group,
    images: items.length,
    prompts: new Set(items.map((x) => x.prompt)).size,
    positives: items.filter((x) => x.target === 1).length / items.length,
    accuracy: b((s, t) => accuracyAt(s, t, threshold)),
    auc: b(rocAuc),
    // no interval: ECE is biased upward under resampling, and its percentile interval often lies above the value itself
    ece: { value: calibration(Float64Array.from(items, (x) => x.score), Float64Array.from(items, (x) => x.target)).ece, lo: NaN, hi: NaN },
  };
}

/**
 * Score an evaluation set with `scorer` and measure it overall, by category
 * and by novelty (relative to `trainPrompts`).
 */
export function evaluateScorer(scorer: RewardScorer, set: EvalSet, trainPrompts: readonly string[], threshold: number, opts: EvalOptions = {}): ScorerEval {
  const scores = scorer.score(set.embeddings, set.prompts);
  const train = new Set(trainPrompts);
  const trainWords = new Set(trainPrompts.flatMap((p) => words(parsePrompt(p))));
  const items = set.prompts.map((prompt, i) => ({
    prompt, score: scores[i], target: set.targets[i], category: set.categories[i], novelty: noveltyOf(set.attributes[i], train, trainWords),
  }));
  const rows: MetricRow[] = [metricRow('all', items, threshold, opts)];
  for (const c of CATEGORIES) {
    const part = items.filter((x) => x.category === c);
    if (part.length) rows.push(metricRow(c, part, threshold, opts));
  }
  for (const nv of NOVELTIES) {
    const part = items.filter((x) => x.novelty === nv);
    if (part.length) rows.push(metricRow(nv, part, threshold, opts));
  }
  return { scorer: scorer.name, set: set.name, target: set.target, threshold, rows, reliability: calibration(scores, Float64Array.from(set.targets)).bins };
}


/** The `k` images of a set whose score is furthest from their target: [index, score, target], worst first. */
export function worstScored(scorer: RewardScorer, set: EvalSet, k: number): Array<{ index: number; score: number; target: number }> {
  const scores = scorer.score(set.embeddings, set.prompts);
  return set.targets
    .map((target, index) => ({ index, score: scores[index], target }))
    .sort((a, b) => Math.abs(b.score - b.target) - Math.abs(a.score - a.target))
    .slice(0, k);
}

/**
 * On clean renders: does the scorer put the true prompt above every prompt
 * with exactly one attribute (count, color or background) changed?
 * `pairs`: share of (render, changed prompt) pairs ordered right;
 * `all`: share of renders whose true prompt beats all its single changes.
 */
export function renderCheck(scorer: RewardScorer, frozen: FrozenClip, prompts: readonly Attributes[], seed: number | string): { pairs: number; all: number; renders: number; byAttribute: Record<string, number> } {
  const images = prompts.map((a, i) => renderPrompt(a, `${seed}/${i}`).image);
  const emb = embedImages(frozen.clip, images);
  const dim = emb.dim;
  let pairs = 0;
  let right = 0;
  let allRight = 0;
  const by: Record<string, [number, number]> = {};
  prompts.forEach((a, i) => {
    const alts = PERTURBED_ATTRIBUTES.flatMap((k) => perturbationsOf(a, [k]));
    const list = [formatPrompt(a), ...alts.map((p) => p.prompt)];
    const rows = new Float32Array(list.length * dim);
    for (let k = 0; k < list.length; k++) rows.set(emb.data.subarray(i * dim, (i + 1) * dim), k * dim);
    const s = scorer.score({ dim, data: rows }, list);
    let ok = true;
    alts.forEach((p, k) => {
      const win = s[0] > s[k + 1];
      pairs++;
      if (win) right++;
      else ok = false;
      const key = p.changed[0];
      by[key] ??= [0, 0];
      by[key][0] += win ? 1 : 0;
      by[key][1]++;
    });
    if (ok) allRight++;
  });
  return { pairs: right / pairs, all: allRight / prompts.length, renders: prompts.length, byAttribute: Object.fromEntries(Object.entries(by).map(([k, [w, n]]) => [k, w / n])) };
}

/** Random prompts of the grammar for renderCheck (seeded). */
export function renderCheckPrompts(all: readonly Attributes[], n: number, seed: number | string): Attributes[] {
  return new Rng(`${seed}/render-check`).shuffle(all).slice(0, n);
}

/** Fewest prompts for which aucDifference gives a p. */
export const MIN_BOOTSTRAP_PROMPTS = 5;

/** Reward AUC minus the CLIP score's on one set, with its paired bootstrap over prompts (aucDifference). */
export interface AucDifference {
  name: string;
  images: number;
  prompts: number;
  reward: number;
  clip: number;
  /** undefinedDraws: the share of draws whose images were all of one class (no AUC), left out of the interval and p, as in `Interval`. */
  diff: { value: number; lo: number; hi: number; p: number; undefinedDraws?: number };
}

/**
 * AUC of reward minus CLIP on one set, with a paired bootstrap over prompts
 * (1,000 draws; every draw takes all images of the drawn prompts, scored by
 * both): a percentile interval, and p = 2 x the smaller share of draws on
 * either side of 0 (each count + 1, so p is never 0). With one prompt there
 * is nothing to resample (NaN interval and p); with fewer than
 * MIN_BOOTSTRAP_PROMPTS the interval is given but no p (a bootstrap over so
 * few prompts has few distinct draws and would claim p = 0.002). Draws of one
 * class have no AUC: they are left out, and their share is `undefinedDraws`.
 */
export function aucDifference(set: EvalSet, reward: ArrayLike<number>, clip: ArrayLike<number>, seed: string): AucDifference {
  const byPrompt = new Map<string, number[]>();
  set.prompts.forEach((p, i) => byPrompt.set(p, [...(byPrompt.get(p) ?? []), i]));
  const groups = [...byPrompt.keys()].sort().map((p) => byPrompt.get(p)!); // sorted, so the draws do not depend on the rows' order
  const diff = (idx: readonly number[]) => {
    const t = idx.map((i) => set.targets[i]);
    return rocAuc(idx.map((i) => reward[i]), t) - rocAuc(idx.map((i) => clip[i]), t);
  };
  const all = set.targets.map((_, i) => i);
  const value = diff(all);
  const rng = new Rng(`${seed}/bootstrap`);
  const B = 1000;
  const draws: number[] = [];
  for (let b = 0; b < B; b++) {
    const d = diff(groups.flatMap(() => groups[rng.int(0, groups.length - 1)]));
    if (!Number.isNaN(d)) draws.push(d);
  }
  draws.sort((a, b) => a - b);
  const base = { name: set.name, images: all.length, prompts: groups.length, reward: rocAuc(reward, set.targets), clip: rocAuc(clip, set.targets) };
  // One class in every draw (or in the set), or one prompt: no AUC to resample, so no difference to test.
  const undefinedDraws = draws.length < B ? { undefinedDraws: (B - draws.length) / B } : {};
  if (draws.length === 0 || groups.length < 2) return { ...base, diff: { value, lo: NaN, hi: NaN, p: NaN, ...undefinedDraws } };
  const q = (x: number) => draws[Math.min(draws.length - 1, Math.max(0, Math.round(x * (draws.length - 1))))];
  const below = draws.filter((d) => d <= 0).length + 1;
  const above = draws.filter((d) => d >= 0).length + 1;
  const p = groups.length < MIN_BOOTSTRAP_PROMPTS ? NaN : Math.min(1, (2 * Math.min(below, above)) / (draws.length + 1));
  return { ...base, diff: { value, lo: q(0.025), hi: q(0.975), p, ...undefinedDraws } };
}

/**
 * The file beside a reward model's checkpoint that lists its training images, one short digest of each image's
 * prompt and PNG bytes a line (sorted): a test set is checked against it where the training folders are not at
 * hand (the model copied elsewhere without them, where the check was skipped with a note).
 */
export const TRAINING_IMAGES_FILE = 'training-images.txt';

/**
 * An image's identity for the check: its prompt (in the grammar's one spelling, as training reads it: "One circle."
 * is "a circle", so a copy of the training images under respelt prompts is still caught; collect writes that
 * spelling, so the lists made before read the same) and PNG bytes together, hashed short (64 bits).
 */
function imageDigest(dir: string, r: ManifestRecord): string {
  return createHash('sha256').update(`${formatPrompt(promptAttributes(dir, r))}\n${imageFileSha(dir, r)}`).digest('hex').slice(0, 16);
}

/** The digests of every image in `dirs` (TRAINING_IMAGES_FILE's lines), sorted; an image file that is gone is left out. */
export function trainingImageDigests(dirs: readonly string[]): string[] {
  const out = new Set<string>();
  for (const d of dirs) {
    for (const r of readManifest(d)) {
      try {
        out.add(imageDigest(d, r));
      } catch {
        // an image of the training set that is gone: nothing to compare it with
      }
    }
  }
  return [...out].sort();
}

/**
 * Images of the dataset `dir` that are also in a dataset the reward model
 * was trained on (`datasets`, as its checkpoint records them: folders
 * relative to `modelDir`), by prompt and PNG bytes together (a test set
 * collected with the feedback's --seed is the training set again; a render
 * of "a circle" that happens to equal one of "a yellow circle" is another
 * example). `recorded`: the model's own list of its training images
 * (recordedTrainingImages), read beside the folders found (a relative path
 * may lead a copied model to another dataset); without it, training folders
 * that are no longer there are named in `missing` (nothing to compare).
 */
export function imagesSeenInTraining(
  modelDir: string,
  datasets: ReadonlyArray<{ dir: string }>,
  dir: string,
  recorded: ReadonlySet<string> | null = null,
): { shared: number; total: number; trainDirs: string[]; missing: string[] } {
  const dirs = datasets.map((t) => path.resolve(modelDir, t.dir));
  const missing = dirs.filter((d) => !fs.existsSync(path.join(d, 'manifest.jsonl')));
  const trainDirs = dirs.filter((d) => !missing.includes(d));
  const seen = new Set([...trainingImageDigests(trainDirs), ...(recorded ?? [])]);
  const records = readManifest(dir);
  const shared = seen.size ? records.filter((r) => seen.has(imageDigest(dir, r))).length : 0;
  return { shared, total: records.length, trainDirs: recorded ? [...trainDirs, path.join(modelDir, TRAINING_IMAGES_FILE)] : trainDirs, missing: recorded ? [] : missing };
}
