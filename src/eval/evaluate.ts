/**
 * `evaluate`: how well a text-to-image model is aligned and how good its
 * images look, on any prompt set of the grammar, read by the judge and by an
 * independent reader (the attribute classifier, which never labels feedback).
 *
 * Every model evaluated with the same prompts and `seed` draws the same image
 * seeds (`evaluate/<seed>/<prompt>/<k>`), so two evaluations are paired image
 * by image: `winTieLose` compares them. Accuracy intervals bootstrap over
 * prompts (the images of one prompt are not independent). Fidelity is the
 * Frechet distance, in the classifier's feature space, between the images and
 * fresh renders of the same prompts (seeds `evaluate-renders/...`).
 */
import { SamplerConfig } from '../models/config';
import { generateImages } from '../models/diffusion/sampler';
import { bootstrapOverPrompts } from '../reward/metrics';
import { loadRewardModel } from '../reward/checkpoint';
import { embedImages } from '../reward/embeddings';
import { ImageLike } from '../world/image';
import { judge } from '../world/judge';
import { Attributes, Category, CATEGORIES } from '../world/prompt';
import { PromptEntry } from '../world/promptSets';
import { renderPrompt } from '../world/render';
import { BASE_MODEL_DIR, loadModel } from './base';
import { classifierVerdict, loadClassifier, readReadyClassifierMeta } from './classifier';
import { frechetDistance } from './fid';

/** The paired sign-flip test over prompts lives beside the bootstrap over prompts; re-exported for the claims. */
export { pairedPromptTest } from '../reward/metrics';

export const EVALUATORS = ['judge', 'classifier'] as const;
export type EvaluatorName = (typeof EVALUATORS)[number];

/** Accuracy of one group of images, with a 95% bootstrap-over-prompts interval. */
export interface AccuracyCell {
  accuracy: number;
  /** Images. */
  n: number;
  prompts: number;
  ci95: [number, number];
}

/** One evaluated image (kept for paired comparisons; the pixels are not saved in JSON). */
export interface EvaluatedImage {
  prompt: string;
  category: Category;
  k: number;
  seed: string;
  judge: boolean;
  classifier: boolean;
  reward: number | null;
  /** Squared distance of the image's features to the mean features of the prompt's renders. */
  renderDistance: number;
}

export interface EvaluateResult {
  model: string;
  evaluator: EvaluatorName;
  /** Best of K by the reward model (null: one sample per image). */
  rejection: { k: number; reward: string } | null;
  seed: number;
  perPrompt: number;
  /** The sampler settings the images were made with (the model's, with `sampler`'s overrides). */
  sampler: SamplerConfig;
  byCategory: Partial<Record<Category, AccuracyCell>>;
  overall: AccuracyCell;
  /** The same table read by the other evaluator. */
  otherReader: { evaluator: EvaluatorName; byCategory: Partial<Record<Category, AccuracyCell>>; overall: AccuracyCell };
  /** Share of images where judge and classifier give the same verdict. */
  readersAgree: number;
  /** Mean r(x, z) of the reward model (`reward`), null without one. */
  meanReward: number | null;
  /** Frechet distance to fresh renders of the same prompts, in the classifier's feature space. */
  fid: { value: number; images: number; renders: number; dim: number };
  images: EvaluatedImage[];
}

export interface EvaluateOptions {
  /** Model folder, or 'base' for the shipped base model. */
  model: string;
  prompts: readonly PromptEntry[];
  perPrompt: number;
  seed?: number;
  evaluator?: EvaluatorName;
  /** Reward model folder: meanReward (and the scorer of rejection sampling). */
  reward?: string;
  /** Best of `rejectionK` samples by the reward model (needs `reward`). */
  rejectionK?: number;
  /** Classifier folder (default the shipped data/classifier). */
  classifier?: string;
  /**
   * Overrides of the model's sampler settings (guidance scale, DDIM steps, eta). Give the same to every
   * model of a comparison: a model fine-tuned on guided samples may be best at a lower guidance scale.
   */
  sampler?: Partial<SamplerConfig>;
  resamples?: number;
  batchSize?: number;
  /** Called after each batch of generated images. */
  onProgress?: (done: number, total: number) => void;
  /** Receives the images (e.g. to write grids); they are not kept in the result. */
  onImages?: (images: ImageLike[], items: readonly EvaluatedImage[]) => void;
}

/** Seed of image k of `prompt` (candidate j of rejection sampling; j = 0 is the plain sample). */
export function evaluateSeed(seed: number, prompt: string, k: number, j = 0): string {
  return j === 0 ? `evaluate/${seed}/${prompt}/${k}` : `evaluate/${seed}/${prompt}/${k}/${j}`;
}

/** Accuracy per category and overall of 0/1 outcomes, intervals bootstrapped over prompts. */
export function accuracyTable(
  items: ReadonlyArray<{ prompt: string; category: Category; ok: boolean }>,
  opts: { resamples?: number; seed?: number | string } = {},
): { byCategory: Partial<Record<Category, AccuracyCell>>; overall: AccuracyCell } {
  const cell = (list: typeof items): AccuracyCell => {
    const scored = list.map((x) => ({ prompt: x.prompt, score: x.ok ? 1 : 0, target: 0 }));
    const mean = (s: Float64Array) => (s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN);
    const ci = bootstrapOverPrompts(scored, mean, { resamples: opts.resamples ?? 1000, seed: opts.seed });
    return { accuracy: ci.value, n: list.length, prompts: new Set(list.map((x) => x.prompt)).size, ci95: [ci.lo, ci.hi] };
  };
  const byCategory: Partial<Record<Category, AccuracyCell>> = {};
  for (const c of CATEGORIES) {
    const inCat = items.filter((x) => x.category === c);
    if (inCat.length) byCategory[c] = cell(inCat);
  }
  return { byCategory, overall: cell(items) };
}

/** The mean feature vector of each prompt's images. */
function centroids(prompts: readonly string[], feats: { dim: number; data: Float32Array }): Map<string, Float64Array> {
  const sums = new Map<string, { s: Float64Array; n: number }>();
  prompts.forEach((p, i) => {
    const e = sums.get(p) ?? { s: new Float64Array(feats.dim), n: 0 };
    for (let d = 0; d < feats.dim; d++) e.s[d] += feats.data[i * feats.dim + d];
    e.n++;
    sums.set(p, e);
  });
  return new Map([...sums].map(([p, e]) => [p, e.s.map((v) => v / e.n)]));
}

/**
 * Generate `perPrompt` images per prompt with the model (or the best of
 * `rejectionK` by the reward model), read them with the judge and the
 * classifier, score them with the reward model, and measure fidelity.
 */
export async function evaluateModel(opts: EvaluateOptions): Promise<EvaluateResult> {
  const seed = opts.seed ?? 0;
  const evaluator = opts.evaluator ?? 'judge';
  if (!(EVALUATORS as readonly string[]).includes(evaluator)) throw new Error(`evaluator must be one of ${EVALUATORS.join(', ')}, got "${evaluator}"`);
  if (opts.prompts.length === 0) throw new Error('evaluate: no prompts');
  const repeated = opts.prompts.find((p, i) => opts.prompts.findIndex((q) => q.prompt === p.prompt) !== i);
  if (repeated) throw new Error(`evaluate: the prompt "${repeated.prompt}" is given twice (as written, or another way to write it): its images would be drawn with the same seeds and counted twice; give each prompt once`);
  if (!Number.isSafeInteger(opts.perPrompt) || opts.perPrompt < 1) throw new Error(`perPrompt must be a positive integer, got ${opts.perPrompt}`);
  const K = opts.rejectionK ?? 1;
  if (!Number.isSafeInteger(K) || K < 1) throw new Error(`rejection K must be a positive integer, got ${K}`);
  if (K > 1 && !opts.reward) throw new Error('rejection sampling needs a reward model (--reward DIR)');
  const modelDir = opts.model === 'base' ? BASE_MODEL_DIR : opts.model;
  readReadyClassifierMeta(opts.classifier); // a classifier that cannot read is refused before any image is sampled

  const slots = opts.prompts.flatMap((p) => Array.from({ length: opts.perPrompt }, (_, k) => ({ p, k })));
  const jobs = slots.flatMap((s, slot) => Array.from({ length: K }, (_, j) => ({ ...s, slot, seed: evaluateSeed(seed, s.p.prompt, s.k, j) })));

  const { model, meta } = await loadModel(modelDir);
  const sampler: SamplerConfig = { ...meta.config.sampler, ...opts.sampler };
  let candidates: ImageLike[];
  try {
    candidates = await generateImages(model, jobs.map((j) => j.p.prompt), {
      ...sampler, seed: jobs.map((j) => j.seed), batchSize: opts.batchSize ?? 64,
      onBatch: (done) => opts.onProgress?.(done, jobs.length),
    });
  } finally {
    model.dispose({ clip: true });
  }

  let rewards: Float32Array | null = null;
  if (opts.reward) {
    const r = await loadRewardModel(opts.reward);
    try {
      rewards = r.model.score(embedImages(r.frozen.clip, candidates), jobs.map((j) => j.p.prompt));
    } finally {
      r.model.dispose();
      r.frozen.clip.dispose();
    }
  }
  // Best of K per slot (the first candidate wins ties).
  const chosen = slots.map((_, slot) => {
    let best = slot * K;
    if (rewards) for (let j = 1; j < K; j++) if (rewards[slot * K + j] > rewards[best]) best = slot * K + j;
    return best;
  });
  const images = chosen.map((i) => candidates[i]);

  const classifier = await loadClassifier(opts.classifier);
  let items: EvaluatedImage[];
  let fid: EvaluateResult['fid'];
  try {
    const predictions = classifier.predict(images);
    const renderSeeds = slots.map((s) => `evaluate-renders/${seed}/${s.p.prompt}/${s.k}`);
    const renders = slots.map((s, i) => renderPrompt(s.p.attributes, renderSeeds[i]).image);
    const fi = classifier.features(images);
    const fr = classifier.features(renders);
    const centre = centroids(slots.map((s) => s.p.prompt), fr);
    fid = { value: frechetDistance(fi, fr), images: images.length, renders: renders.length, dim: fi.dim };
    items = slots.map((s, i) => {
      const c = centre.get(s.p.prompt)!;
      let d2 = 0;
      for (let d = 0; d < fi.dim; d++) d2 += (fi.data[i * fi.dim + d] - c[d]) ** 2;
      return {
        prompt: s.p.prompt, category: s.p.category, k: s.k, seed: jobs[chosen[i]].seed,
        judge: judge(s.p.attributes as Attributes, images[i]).aligned,
        classifier: classifierVerdict(s.p.attributes, predictions[i]).aligned,
        reward: rewards ? rewards[chosen[i]] : null,
        renderDistance: d2,
      };
    });
  } finally {
    classifier.dispose();
  }
  opts.onImages?.(images, items);

  const table = (reader: EvaluatorName) => accuracyTable(items.map((x) => ({ prompt: x.prompt, category: x.category, ok: x[reader] })), { resamples: opts.resamples, seed: `${seed}/${reader}` });
  const other: EvaluatorName = evaluator === 'judge' ? 'classifier' : 'judge';
  const main = table(evaluator);
  return {
    model: opts.model,
    evaluator,
    rejection: K > 1 ? { k: K, reward: opts.reward! } : null,
    seed,
    perPrompt: opts.perPrompt,
    sampler,
    ...main,
    otherReader: { evaluator: other, ...table(other) },
    readersAgree: items.filter((x) => x.judge === x.classifier).length / items.length,
    meanReward: rewards ? items.reduce((a, x) => a + x.reward!, 0) / items.length : null,
    fid,
    images: items,
  };
}

/** One prompt's images in an evaluation: how many, and how many each reader calls aligned. */
export interface PromptVerdicts {
  prompt: string;
  category: Category;
  n: number;
  judge: number;
  classifier: number;
}

/** Per-prompt tallies of the images, prompts in the order they first appear. */
export function promptTallies(images: readonly EvaluatedImage[]): PromptVerdicts[] {
  const by = new Map<string, PromptVerdicts>();
  for (const x of images) {
    const t = by.get(x.prompt) ?? { prompt: x.prompt, category: x.category, n: 0, judge: 0, classifier: 0 };
    t.n++;
    if (x.judge) t.judge++;
    if (x.classifier) t.classifier++;
    by.set(x.prompt, t);
  }
  return [...by.values()];
}

/** The evaluation as the CLI's JSON: without the per-image list unless asked, with per-prompt tallies (intervals over prompts need them). */
export function evaluationJson(r: EvaluateResult): Omit<EvaluateResult, 'images'> & { images: number; byPrompt: PromptVerdicts[] };
export function evaluationJson(r: EvaluateResult, withImages: true): EvaluateResult;
export function evaluationJson(r: EvaluateResult, withImages = false): object {
  const { images, ...rest } = r;
  return withImages ? r : { ...rest, images: images.length, byPrompt: promptTallies(images) };
}

/** A paired comparison of two evaluations of the same prompts and image seeds. */
export interface WinTieLose {
  win: number;
  tie: number;
  lose: number;
  n: number;
}

/**
 * A against B image by image: alignment (A aligned and B not is a win) and
 * fidelity (A's image closer to the renders of its prompt, in the classifier's
 * feature space, by more than `tolerance` relative). Both must come from the
 * same prompts, perPrompt and seed.
 */
export function winTieLose(a: EvaluateResult, b: EvaluateResult, reader: EvaluatorName = 'judge', tolerance = 0.05): { alignment: WinTieLose; fidelity: WinTieLose } {
  const key = (x: EvaluatedImage) => `${x.prompt}\u0000${x.k}`;
  const bs = new Map(b.images.map((x) => [key(x), x]));
  if (a.seed !== b.seed || a.images.length !== b.images.length || a.images.some((x) => !bs.has(key(x)))) {
    throw new Error('win/tie/lose needs two evaluations of the same prompts, images per prompt and seed');
  }
  const al: WinTieLose = { win: 0, tie: 0, lose: 0, n: a.images.length };
  const fi: WinTieLose = { win: 0, tie: 0, lose: 0, n: a.images.length };
  for (const x of a.images) {
    const y = bs.get(key(x))!;
    if (x[reader] === y[reader]) al.tie++;
    else if (x[reader]) al.win++;
    else al.lose++;
    const rel = (y.renderDistance - x.renderDistance) / Math.max(1e-12, Math.max(x.renderDistance, y.renderDistance));
    if (Math.abs(rel) <= tolerance) fi.tie++;
    else if (rel > 0) fi.win++;
    else fi.lose++;
  }
  return { alignment: al, fidelity: fi };
}

