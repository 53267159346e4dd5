/**
 * How well a text-to-image model is aligned, measured by the judge: images for
 * the seen and unseen prompt sets, per-category accuracy with a 95% interval
 * bootstrapped over prompts (the images of one prompt are not independent),
 * and how often the judge can read the objects at all (the "before" table of
 * the paper, whose Table 1 / Figure 4 report the same categories).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { checkpointKind, hasCheckpoint } from '../engine/checkpoint';
import { SHIPPED_BASE_MODEL_DIR } from '../models/checkpoint';
import { loadTextToImage, ModelCheckpointMeta, SamplerConfig, TextToImage, generateImages } from '../models';
import {
  Category, CATEGORIES, ImageLike, judge, PromptEntry, seenPrompts, unseenPrompts, Verdict,
} from '../world';
import { makeDir, writeFileAtomic } from '../engine/files';
import { bootstrapOverPrompts, pairedPromptTest } from '../reward/metrics';

/** The shipped base model (data/base-model), relative to the package root (the same from src/ and dist/). */
export const BASE_MODEL_DIR = SHIPPED_BASE_MODEL_DIR;

/**
 * The diffusion checkpoint folder of a model location: `dir` itself when it
 * holds a checkpoint, else `dir/diffusion` (a pretrain output or data/base-model).
 */
export function diffusionCheckpointDir(dir: string = BASE_MODEL_DIR): string {
  if (hasCheckpoint(dir)) return checkDiffusionKind(dir);
  const sub = path.join(dir, 'diffusion');
  if (hasCheckpoint(sub)) return checkDiffusionKind(sub);
  const hint = dir === BASE_MODEL_DIR ? ' (the shipped base model is missing: run `t2i-align pretrain` and pass --model results/pretrain/default)' : '';
  throw new Error(`no diffusion checkpoint in ${dir} or ${sub}${hint}`);
}

/** `dir` when its checkpoint is a text-to-image model's; else an error naming what it holds (a reward model, a classifier). */
function checkDiffusionKind(dir: string): string {
  const kind = checkpointKind(dir);
  if (kind !== 'diffusion') throw new Error(`${dir} holds a ${JSON.stringify(kind ?? null)} checkpoint, not a text-to-image model (a model folder holds diffusion/checkpoint.json; e.g. data/base-model or a finetune --out)`);
  return dir;
}

/** Load a text-to-image model from a model location (see diffusionCheckpointDir). Free it with `model.dispose({ clip: true })`. */
export async function loadModel(dir: string = BASE_MODEL_DIR): Promise<{ model: TextToImage; meta: ModelCheckpointMeta; dir: string }> {
  const ckpt = diffusionCheckpointDir(dir);
  return { ...(await loadTextToImage(ckpt)), dir: ckpt };
}

/**
 * Wilson score interval of k successes in n trials (z = 1.96: 95%), for
 * independent trials only (one image per prompt); images that share prompts
 * take `promptRate`.
 */
export function wilson(k: number, n: number, z = 1.96): { lo: number; hi: number } {
  if (n === 0) return { lo: 0, hi: 1 };
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return { lo: Math.max(0, c - h), hi: Math.min(1, c + h) };
}

export interface Rate {
  k: number;
  n: number;
  rate: number;
  lo: number;
  hi: number;
}

/**
 * The share of `ok` with a percentile 95% interval from 1000 bootstrap draws
 * of prompts (each draw takes every image of a drawn prompt; seeded, so the
 * same inputs give the same interval). `prompts[i]` is image i's prompt.
 * One prompt has no interval (lo and hi NaN, shown as '-'); with a handful
 * of prompts the percentile interval is rough, and reads best as a range.
 */
export function promptRate(ok: readonly boolean[], prompts: readonly string[]): Rate {
  if (ok.length !== prompts.length) throw new Error(`promptRate: ${ok.length} verdicts for ${prompts.length} prompts`);
  const k = ok.filter(Boolean).length, n = ok.length;
  if (n === 0) return { k, n, rate: NaN, lo: NaN, hi: NaN }; // no image: not measured (not 0%)
  if (new Set(prompts).size < 2) return { k, n, rate: k / n, lo: NaN, hi: NaN };
  const items = ok.map((x, i) => ({ prompt: prompts[i], score: 0, target: x ? 1 : 0 }));
  const mean = (_s: Float64Array, t: Float64Array) => t.reduce((a, b) => a + b, 0) / t.length;
  const { lo, hi } = bootstrapOverPrompts(items, mean, { seed: 'base-eval' });
  return { k, n, rate: k / n, lo, hi };
}

export interface CategoryResult {
  prompts: number;
  perPrompt: number;
  /** Images whose every stated attribute the judge confirms. */
  accuracy: Rate;
  /** Per attribute: share of images where the judge confirms it (object always; count, color, background when stated). */
  attributes: Partial<Record<'count' | 'color' | 'object' | 'background', Rate>>;
  /** Images where the judge sees at least one object, all of the prompt's shape (readable objects). */
  objectRecognised: Rate;
  /** Images where the judge sees at least one object of some shape at all. */
  anyObject: Rate;
  /** Per prompt, in order of first appearance: what a paired comparison of two models on the same images needs (`compareBaseEvals`). */
  byPrompt: PromptTally[];
}

/** One prompt's images in a cell: how many, how many aligned, how many with the prompt's shape recognised. */
export interface PromptTally {
  prompt: string;
  n: number;
  aligned: number;
  recognised: number;
}

export interface BaseEvalOptions {
  /** Images per category and set (spread evenly over its prompts). Default 96. */
  imagesPerCategory?: number;
  /** Most prompts per category (a seeded subsample of the set). Default 24. */
  promptsPerCategory?: number;
  /** Seed of the prompt subsample and the images. Default 0. */
  seed?: number;
  /** Image seeds: every cell's images are made once per seed and pooled (default [seed]). */
  seeds?: number[];
  batchSize?: number;
  sampler?: Partial<SamplerConfig>;
  /** Keep the images of each cell (for grids). Default: the first 16. */
  keepImages?: number;
  /** Draws the images in place of the model (a test's renderer); default: the model's sampler. */
  generate?: (prompts: string[], seeds: string[]) => Promise<ImageLike[]>;
  /** Keeps each sampled batch, so that a killed evaluation resumes where it stopped (imageBatchCache). */
  cache?: ImageBatchCache;
  onBatch?: (done: number, total: number) => void;
}

/** Sampled batches kept by their first image's index: a batch found here is not sampled again. */
/** The lock file eval-base holds on its results folder while it samples into `OUT/.partial` (see imageBatchCache). */
export const EVAL_BASE_LOCK = '.eval-base.lock';

export interface ImageBatchCache {
  load(start: number, count: number): ImageLike[] | undefined;
  save(start: number, images: readonly ImageLike[]): void;
}

/**
 * An ImageBatchCache in `dir`, for one evaluation: `key` names everything its images depend on (the weights,
 * the sampler, the prompts and seeds, the batch size, since a batch's bits depend on its company); a folder
 * holding another key's batches is emptied first. `kept` is how many images were there to begin with,
 * `discarded` how many of another key's were removed; `remove()` deletes the folder (the evaluation is
 * written). Each batch is one file, written whole (aside, then renamed in): a kill loses at most the batch
 * being sampled. One evaluation at a time may use `dir` (eval-base holds EVAL_BASE_LOCK on its folder): a
 * second, with another key, would empty it under the first, which would then read the second's batches.
 */
export function imageBatchCache(dir: string, key: string): ImageBatchCache & { kept: number; discarded: number; remove(): void } {
  const keyFile = path.join(dir, 'key.json');
  const HEADER = 12; // count, width, height as uint32 LE
  const batchImages = () =>
    (fs.existsSync(dir) ? fs.readdirSync(dir) : []).filter((f) => /^batch-\d+\.bin$/.test(f)).reduce((n, f) => {
      const b = fs.readFileSync(path.join(dir, f));
      return n + (b.length >= HEADER ? b.readUInt32LE(0) : 0);
    }, 0);
  let same = false;
  try {
    same = fs.readFileSync(keyFile, 'utf8') === key;
  } catch {
    same = false;
  }
  let discarded = 0;
  if (!same) {
    discarded = batchImages();
    fs.rmSync(dir, { recursive: true, force: true });
    makeDir(dir);
    writeFileAtomic(keyFile, key, { durable: false });
  }
  const file = (start: number) => path.join(dir, `batch-${String(start).padStart(7, '0')}.bin`);
  const read = (start: number, count: number): ImageLike[] | undefined => {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file(start));
    } catch {
      return undefined;
    }
    if (bytes.length < HEADER) return undefined;
    const [n, w, h] = [bytes.readUInt32LE(0), bytes.readUInt32LE(4), bytes.readUInt32LE(8)];
    const size = w * h * 3;
    if (n !== count || bytes.length !== HEADER + n * size) return undefined; // another batching or a torn file: sampled again
    return Array.from({ length: n }, (_, i) => ({ width: w, height: h, data: new Uint8Array(bytes.subarray(HEADER + i * size, HEADER + (i + 1) * size)) }));
  };
  return {
    kept: batchImages(),
    discarded,
    load: read,
    save(start, images) {
      const header = Buffer.alloc(HEADER);
      header.writeUInt32LE(images.length, 0);
      header.writeUInt32LE(images[0]?.width ?? 0, 4);
      header.writeUInt32LE(images[0]?.height ?? 0, 8);
      writeFileAtomic(file(start), Buffer.concat([header, ...images.map((im) => Buffer.from(im.data.buffer, im.data.byteOffset, im.data.byteLength))]), { durable: false });
    },
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export interface CellResult extends CategoryResult {
  images: Array<{ prompt: string; image: ImageLike; aligned: boolean }>;
}

/** Per set, across its categories. */
export interface SetSummary {
  /** Images whose prompt asks for 2, 3 or 4 objects (count and combination prompts) with that many objects seen. */
  countsTwoToFour: Rate;
  /** Images where the judge recognises the prompt's shape (all categories). */
  objectRecognised: Rate;
}

export interface BaseEvalResult {
  config: { imagesPerCategory: number; promptsPerCategory: number; seed: number; seeds: number[]; sampler: SamplerConfig };
  seen: Record<Category, CellResult>;
  unseen: Record<Category, CellResult>;
  summary: { seen: SetSummary; unseen: SetSummary };
  seconds: number;
}

/** The prompts and per-prompt image counts of one category cell. */
export function evalPlan(set: 'seen' | 'unseen', opts: { imagesPerCategory: number; promptsPerCategory: number; seed: number }): Record<Category, { prompts: PromptEntry[]; perPrompt: number }> {
  const perCategory = Object.fromEntries(CATEGORIES.map((c) => [c, opts.promptsPerCategory]));
  const entries = (set === 'seen' ? seenPrompts : unseenPrompts)({ perCategory, seed: opts.seed });
  const out = {} as Record<Category, { prompts: PromptEntry[]; perPrompt: number }>;
  for (const c of CATEGORIES) {
    const prompts = entries.filter((e) => e.category === c);
    out[c] = { prompts, perPrompt: prompts.length ? Math.max(1, Math.ceil(opts.imagesPerCategory / prompts.length)) : 0 };
  }
  return out;
}

/** Summarise judge verdicts of one cell; `prompts[i]` is verdict i's prompt (the intervals' resampling unit). */
export function summarise(verdicts: readonly Verdict[], prompts: readonly string[]): Omit<CategoryResult, 'prompts' | 'perPrompt'> {
  const attributes: CategoryResult['attributes'] = {};
  for (const a of ['count', 'color', 'object', 'background'] as const) {
    const has = verdicts.map((v, i) => ({ v: v.verdicts.find((x) => x.attribute === a), prompt: prompts[i] })).filter((x) => x.v);
    if (has.length) attributes[a] = promptRate(has.map((x) => x.v!.ok), has.map((x) => x.prompt));
  }
  const recognised = verdicts.map((v) => !!v.verdicts.find((x) => x.attribute === 'object')?.ok);
  const byPrompt = new Map<string, PromptTally>();
  verdicts.forEach((v, i) => {
    const t = byPrompt.get(prompts[i]) ?? { prompt: prompts[i], n: 0, aligned: 0, recognised: 0 };
    t.n++;
    t.aligned += v.aligned ? 1 : 0;
    t.recognised += recognised[i] ? 1 : 0;
    byPrompt.set(prompts[i], t);
  });
  return {
    accuracy: promptRate(verdicts.map((v) => v.aligned), prompts),
    attributes,
    objectRecognised: promptRate(recognised, prompts),
    anyObject: promptRate(verdicts.map((v) => v.observed.objects.length > 0), prompts),
    byPrompt: [...byPrompt.values()],
  };
}

/** One image of a base-model evaluation: its cell, prompt and image seed. */
export interface EvalJob {
  set: 'seen' | 'unseen';
  category: Category;
  entry: PromptEntry;
  seed: string;
}

/**
 * The images of one set's cells (default every category), in the order they are made.
 * Image j of prompt p uses seed `${s}/${set}/${category}/${p}/${j}` for each s of `seeds`,
 * round-robin over prompts so that the first images of a cell cover its prompts (and the grid shows several).
 */
export function evalJobs(
  set: 'seen' | 'unseen',
  cfg: { imagesPerCategory: number; promptsPerCategory: number; seed: number; seeds: readonly number[] },
  categories: readonly Category[] = CATEGORIES,
): EvalJob[] {
  const plan = evalPlan(set, cfg);
  const jobs: EvalJob[] = [];
  for (const category of categories) {
    const { prompts, perPrompt } = plan[category];
    for (const s of cfg.seeds)
      for (let j = 0; j < perPrompt; j++) prompts.forEach((entry, p) => jobs.push({ set, category, entry, seed: `${s}/${set}/${category}/${p}/${j}` }));
  }
  return jobs;
}

/** An evaluation's resolved settings and its images to make, seen set first (what evaluateBaseModel samples). */
function baseEvalJobs(sampler: SamplerConfig, opts: BaseEvalOptions) {
  const cfg = {
    imagesPerCategory: opts.imagesPerCategory ?? 96,
    promptsPerCategory: opts.promptsPerCategory ?? 24,
    seed: opts.seed ?? opts.seeds?.[0] ?? 0,
    seeds: opts.seeds ?? [opts.seed ?? 0],
    sampler: { ...sampler, ...opts.sampler },
  };
  return { cfg, jobs: [...evalJobs('seen', cfg), ...evalJobs('unseen', cfg)] };
}

/**
 * The key of an evaluation's kept batches (imageBatchCache): the weights' sha256 and everything evaluateBaseModel
 * makes its images from with these options (the sampler, the batch size, every image's prompt and seed); and how
 * many images it makes.
 */
export function baseEvalCacheKey(weightsSha256: string, sampler: SamplerConfig, opts: BaseEvalOptions = {}): { key: string; images: number } {
  const { cfg, jobs } = baseEvalJobs(sampler, opts);
  const made = createHash('sha256').update(JSON.stringify(jobs.map((j) => [j.entry.prompt, j.seed]))).digest('hex');
  return { key: JSON.stringify({ weights: weightsSha256, sampler: cfg.sampler, batchSize: opts.batchSize ?? 32, jobs: made }), images: jobs.length };
}

/**
 * Generate images for the seen and unseen prompt sets and judge them.
 * Image j of prompt p in a cell uses seed `${s}/${set}/${category}/${p}/${j}` for each s of `seeds`
 * (the prompt subsample uses `seed`).
 */
export async function evaluateBaseModel(model: TextToImage, sampler: SamplerConfig, opts: BaseEvalOptions = {}): Promise<BaseEvalResult> {
  const t0 = Date.now();
  const { cfg, jobs } = baseEvalJobs(sampler, opts);
  const keep = opts.keepImages ?? 16;
  const plans = { seen: evalPlan('seen', cfg), unseen: evalPlan('unseen', cfg) };
  const images: ImageLike[] = [];
  if (opts.generate) images.push(...(await opts.generate(jobs.map((j) => j.entry.prompt), jobs.map((j) => j.seed))));
  else {
    // Batch by batch, as generateImages would batch them all (the same company, so the same bits), so that a
    // kept batch (opts.cache) is read back instead of sampled again.
    const bs = opts.batchSize ?? 32;
    for (let i = 0; i < jobs.length; i += bs) {
      const part = jobs.slice(i, i + bs);
      let made = opts.cache?.load(i, part.length);
      if (!made) {
        made = await generateImages(model, part.map((j) => j.entry.prompt), { ...cfg.sampler, seed: part.map((j) => j.seed), batchSize: bs });
        opts.cache?.save(i, made);
      }
      images.push(...made);
      opts.onBatch?.(i + part.length, jobs.length);
    }
  }
  const result = { config: cfg, seen: {}, unseen: {}, summary: {}, seconds: 0 } as BaseEvalResult;
  const verdictOf = images.map((img, i) => judge(jobs[i].entry.attributes, img));
  for (const set of ['seen', 'unseen'] as const) {
    const inSet = jobs.map((j, i) => (j.set === set ? i : -1)).filter((i) => i >= 0);
    const multi = inSet.filter((i) => jobs[i].entry.attributes.count >= 2);
    const okOf = (idx: number[], a: 'count' | 'object') => idx.map((i) => !!verdictOf[i].verdicts.find((v) => v.attribute === a)?.ok);
    const promptsOf = (idx: number[]) => idx.map((i) => jobs[i].entry.prompt);
    result.summary[set] = {
      countsTwoToFour: promptRate(okOf(multi, 'count'), promptsOf(multi)),
      objectRecognised: promptRate(okOf(inSet, 'object'), promptsOf(inSet)),
    };
    for (const category of CATEGORIES) {
      const idx = jobs.map((j, i) => (j.set === set && j.category === category ? i : -1)).filter((i) => i >= 0);
      const verdicts = idx.map((i) => verdictOf[i]);
      result[set][category] = {
        prompts: plans[set][category].prompts.length,
        perPrompt: plans[set][category].perPrompt * cfg.seeds.length,
        ...summarise(verdicts, idx.map((i) => jobs[i].entry.prompt)),
        images: idx.slice(0, keep).map((i, k) => ({ prompt: jobs[i].entry.prompt, image: images[i], aligned: verdicts[k].aligned })),
      };
    }
  }
  result.seconds = (Date.now() - t0) / 1000;
  return result;
}

/** The result without images (what results JSON and metrics.json hold). */
export function withoutImages(r: BaseEvalResult): Omit<BaseEvalResult, 'seen' | 'unseen'> & { seen: Record<Category, CategoryResult>; unseen: Record<Category, CategoryResult> } {
  const strip = (cells: Record<Category, CellResult>) =>
    Object.fromEntries(Object.entries(cells).map(([c, { images: _images, ...rest }]) => [c, rest])) as Record<Category, CategoryResult>;
  return { ...r, seen: strip(r.seen), unseen: strip(r.unseen) };
}

/** One of issue 9's targets for the shipped base model, checked on an eval result. */
export interface TargetCheck {
  target: string;
  /** NaN when no image measured it (e.g. no prompt with two to four objects in a small plan). */
  value: number;
  /** null: not measured. */
  ok: boolean | null;
}

/** A target's line: measured and met or not, or not measured. */
export function targetLine(t: TargetCheck): { value: string; met: string } {
  return t.ok === null ? { value: '-', met: 'not measured' } : { value: `${(100 * t.value).toFixed(1)}%`, met: t.ok ? 'yes' : 'no' };
}

/**
 * The base model's targets: the paper's starting point is a model that draws
 * the object and gets the attributes only partly right.
 *   object recognised >= 90% in every seen category, >= 75% in every unseen one;
 *   counts 2-4 right >= 15% (seen);
 *   each single-attribute seen category (count, color, background) between 15% and 85%;
 *   seen combinations below every single-attribute seen category.
 */
export function baseModelTargets(r: Pick<BaseEvalResult, 'seen' | 'unseen' | 'summary'>): TargetCheck[] {
  const out: TargetCheck[] = [];
  for (const c of CATEGORIES) out.push({ target: `seen ${c}: object recognised >= 90%`, value: r.seen[c].objectRecognised.rate, ok: r.seen[c].objectRecognised.rate >= 0.9 });
  for (const c of CATEGORIES) out.push({ target: `unseen ${c}: object recognised >= 75%`, value: r.unseen[c].objectRecognised.rate, ok: r.unseen[c].objectRecognised.rate >= 0.75 });
  const k = r.summary.seen.countsTwoToFour.rate;
  out.push({ target: 'seen: counts two to four right >= 15%', value: k, ok: k >= 0.15 });
  const singles = (['count', 'color', 'background'] as const).map((c) => r.seen[c].accuracy.rate);
  (['count', 'color', 'background'] as const).forEach((c, i) => out.push({ target: `seen ${c}: accuracy in [15%, 85%]`, value: singles[i], ok: singles[i] >= 0.15 && singles[i] <= 0.85 }));
  const comb = r.seen.combination.accuracy.rate;
  out.push({ target: 'seen combination: accuracy below every single-attribute category', value: comb, ok: singles.some(Number.isNaN) ? null : comb < Math.min(...singles) });
  return out.map((t) => (Number.isNaN(t.value) ? { ...t, ok: null } : t));
}

/** One row of `compareBaseEvals`: model B minus model A on the same images' prompts. */
export interface PairedDifference {
  set: 'seen' | 'unseen';
  /** A category, or 'all' for every image of the set. */
  cell: Category | 'all';
  a: number;
  b: number;
  /** b - a, as shares of the cell's images. */
  diff: number;
  /** Percentile 95% interval of the difference from 1000 bootstrap draws of prompts, both models' images of a drawn prompt together. */
  lo: number;
  hi: number;
  /** Two-sided sign-flip test over prompts of the difference's own estimand, the mean over images (each prompt's sum of differences flips as one; pairedPromptTest with weight 'image'). */
  p: number;
  prompts: number;
  images: number;
}

type PerPromptCells = { config?: { seed: number; seeds: readonly number[]; imagesPerCategory: number; promptsPerCategory: number }; seen: Record<Category, Pick<CategoryResult, 'byPrompt'>>; unseen: Record<Category, Pick<CategoryResult, 'byPrompt'>> };

/**
 * Why `compareBaseEvals` cannot check that `a` and `b` used the same image seeds (one or
 * both were written before eval-base recorded its config), or null when it can. The
 * prompts and image counts are still checked; a caller should show this warning.
 */
export function unverifiedPairing(a: PerPromptCells, b: PerPromptCells, names: readonly [string, string] = ['A', 'B']): string | null {
  const missing = [a, b].flatMap((e, i) => (e.config ? [] : [names[i]]));
  if (!missing.length) return null;
  return `${missing.join(' and ')} ${missing.length > 1 ? 'have' : 'has'} no config (written before eval-base recorded its --seed and --seeds): that both evaluations drew the same image seeds is not checked, only their prompts and image counts`;
}

/**
 * Model B against model A, evaluated by `eval-base` on the same prompts and image seeds
 * (the same --seed, --seeds, --per-category and --prompts-per-category; the sampler may differ):
 * per set and category, and over the whole set, the difference in the share of images with
 * the prompt's shape recognised (`measure` 'recognised') or judged aligned ('aligned'), with an
 * interval bootstrapped over prompts and a paired sign-flip test over prompts. Evaluations that
 * are not paired (another prompt or image count in a cell, or no per-prompt tallies) are refused;
 * the image seeds can be checked only where both carry their config (see `unverifiedPairing`).
 * The interval covers the images' noise only: a second training seed of either model may differ more.
 */
export function compareBaseEvals(a: PerPromptCells, b: PerPromptCells, measure: 'recognised' | 'aligned' = 'recognised'): PairedDifference[] {
  if (a.config && b.config) {
    for (const k of ['seed', 'imagesPerCategory', 'promptsPerCategory'] as const)
      if (a.config[k] !== b.config[k]) throw new Error(`the two evaluations are not paired: config.${k} is ${a.config[k]} against ${b.config[k]} (evaluate both with the same --seed, --seeds, --per-category and --prompts-per-category)`);
    if (a.config.seeds.join(',') !== b.config.seeds.join(',')) throw new Error(`the two evaluations are not paired: config.seeds is [${a.config.seeds}] against [${b.config.seeds}]`);
  }
  const rows: PairedDifference[] = [];
  for (const set of ['seen', 'unseen'] as const) {
    const all: Array<{ prompt: string; n: number; ka: number; kb: number }> = [];
    for (const cell of CATEGORIES) {
      const ta = a[set][cell].byPrompt, tb = b[set][cell].byPrompt;
      if (!ta || !tb) throw new Error(`${set} ${cell}: an evaluation without per-prompt tallies (byPrompt; written before they existed): rerun eval-base --json on it`);
      if (ta.length !== tb.length) throw new Error(`the two evaluations are not paired: ${set} ${cell} has ${ta.length} prompts against ${tb.length}`);
      const pairs = ta.map((x, i) => {
        const y = tb[i];
        if (x.prompt !== y.prompt || x.n !== y.n) throw new Error(`the two evaluations are not paired: ${set} ${cell} prompt ${i + 1} is "${x.prompt}" (${x.n} images) against "${y.prompt}" (${y.n})`);
        return { prompt: `${cell}/${x.prompt}`, n: x.n, ka: x[measure], kb: y[measure] };
      });
      rows.push(pairedRow(set, cell, pairs));
      all.push(...pairs);
    }
    rows.push(pairedRow(set, 'all', all));
  }
  return rows;
}

function pairedRow(set: 'seen' | 'unseen', cell: Category | 'all', pairs: ReadonlyArray<{ prompt: string; n: number; ka: number; kb: number }>): PairedDifference {
  // One item per image: score = model A's outcome, target = model B's; a prompt's images are resampled together,
  // so only each prompt's tallies matter, not which of its images is which.
  const items = pairs.flatMap((x) => Array.from({ length: x.n }, (_, j) => ({ prompt: x.prompt, score: j < x.ka ? 1 : 0, target: j < x.kb ? 1 : 0 })));
  const diff = (s: Float64Array, t: Float64Array) => (t.reduce((u, v) => u + v, 0) - s.reduce((u, v) => u + v, 0)) / t.length;
  const { value, lo, hi } = bootstrapOverPrompts(items, diff, { seed: 'base-compare' });
  const n = pairs.reduce((u, x) => u + x.n, 0);
  // The test's estimand is the difference's: the mean over images (prompts of a cell can have different image counts).
  const { p } = pairedPromptTest(pairs.flatMap((x) => Array.from({ length: x.n }, () => ({ prompt: x.prompt, d: (x.kb - x.ka) / x.n }))), { seed: 'base-compare', weight: 'image' });
  return { set, cell, a: pairs.reduce((u, x) => u + x.ka, 0) / n, b: pairs.reduce((u, x) => u + x.kb, 0) / n, diff: value, lo, hi, p, prompts: pairs.length, images: n };
}

/** `compareBaseEvals` as a markdown table, in points. */
export function pairedDifferenceTable(rows: readonly PairedDifference[], names: [string, string] = ['A', 'B']): string {
  const pt = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(1) : '-');
  const signed = (x: number) => (x > 0 ? '+' : '') + pt(x);
  return [
    `| set | category | ${names[0]} | ${names[1]} | ${names[1]} - ${names[0]}, points [95% CI over prompts] | sign-flip p | prompts | images |`,
    '|---|---|---:|---:|---|---:|---:|---:|',
    ...rows.map((r) => `| ${r.set} | ${r.cell} | ${pt(r.a)}% | ${pt(r.b)}% | ${signed(r.diff)} [${signed(r.lo)}, ${signed(r.hi)}] | ${!Number.isFinite(r.p) ? '-' : r.p < 0.001 ? '<0.001' : r.p.toFixed(3)} | ${r.prompts} | ${r.images} |`),
  ].join('\n');
}

/** A markdown table: set, category, accuracy [95% CI] (n), objects recognised. */
export function alignmentTable(r: { seen: Record<Category, CategoryResult>; unseen: Record<Category, CategoryResult>; summary?: BaseEvalResult['summary'] }): string {
  const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : '-');
  const lines = [
    '| set | category | judge accuracy [95% CI] | n (prompts x images) | object recognised | count ok | color ok | background ok |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const set of ['seen', 'unseen'] as const)
    for (const c of CATEGORIES) {
      const x = r[set][c];
      const attr = (a: 'count' | 'color' | 'background') => (x.attributes[a] ? pct(x.attributes[a]!.rate) : '-');
      lines.push(
        `| ${set} | ${c} | ${pct(x.accuracy.rate)} [${pct(x.accuracy.lo)}, ${pct(x.accuracy.hi)}] | ${x.accuracy.n} (${x.prompts} x ${x.perPrompt}) | ${pct(x.objectRecognised.rate)} | ${attr('count')} | ${attr('color')} | ${attr('background')} |`,
      );
    }
  if (r.summary) {
    for (const set of ['seen', 'unseen'] as const) {
      const k = r.summary[set].countsTwoToFour;
      lines.push(`| ${set} | counts 2-4 (count + combination prompts) | count right ${pct(k.rate)} [${pct(k.lo)}, ${pct(k.hi)}] | ${k.n} | ${pct(r.summary[set].objectRecognised.rate)} (all) | | | |`);
    }
  }
  return lines.join('\n');
}

/** Write `dir/base-eval.json` (no images) and one PNG grid per set and category; returns the JSON path. */
export function writeBaseEval(dir: string, r: BaseEvalResult, tile: (imgs: ImageLike[]) => Uint8Array, extra: Record<string, unknown> = {}): string {
  makeDir(dir);
  const file = path.join(dir, 'base-eval.json');
  // The earlier evaluation's JSON goes first and the new one comes last, each file whole (written aside, renamed in):
  // a kill between them leaves the new grids without a JSON (an interrupted run, which a rerun replaces), never the
  // old JSON beside the new grids, nor an empty JSON where the old one was.
  fs.rmSync(file, { force: true });
  for (const set of ['seen', 'unseen'] as const)
    for (const c of CATEGORIES) {
      const imgs = r[set][c].images.map((x) => x.image);
      if (imgs.length) writeFileAtomic(path.join(dir, `grid-${set}-${c}.png`), tile(imgs));
      writeFileAtomic(path.join(dir, `grid-${set}-${c}.txt`), r[set][c].images.map((x) => `${x.aligned ? '+' : '-'} ${x.prompt}`).join('\n') + '\n');
    }
  writeFileAtomic(file, JSON.stringify({ ...extra, ...withoutImages(r), targets: baseModelTargets(r) }, null, 2) + '\n');
  return file;
}
