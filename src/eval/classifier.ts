/**
 * The attribute classifier: a small CNN that reads count, color, object (or
 * 'unknown') and background off an image. It is the kit's second reader beside
 * the programmatic judge (src/world/judge.ts), learnt instead of hand-written,
 * so that evaluation does not rest on one reader alone; it NEVER labels
 * feedback. Its penultimate layer is the feature space of FID (./fid.ts).
 *
 *   images [B, 32, 32, 3] in [-1, 1]
 *   -> stride-2 3x3 convs with SiLU (flattened, not pooled: counting needs where things are)
 *   -> Linear -> SiLU: features [B, hidden]
 *   -> four Linear heads: count [B, 4], color [B, 7], object [B, 7], background [B, 6]
 *
 * Trained once on fresh renders of every prompt of the grammar (prompts
 * without color or place included) and on hard negatives (object 'unknown'),
 * a share of them mildly blurred and noised; batch s is drawn from the seed
 * and s alone, so a resumed run and an uninterrupted one end with the same weights.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { adam } from '../engine/adam';
import { CheckpointError, hasCheckpoint, loadCheckpoint, readCheckpointIndex, readCheckpointOfKind, saveCheckpoint } from '../engine/checkpoint';
import { Progress, progress as makeProgress } from '../engine/progress';
import { Rng } from '../engine/random';
import { optimizerState, restoreOptimizer } from '../models/checkpoint';
import { TrainConfigSchema } from '../models/config';
import { imagesToTensor } from '../models/data';
import { Conv2d, Linear, ParamStore, silu, variableShapes } from '../models/layers';
import { learningRateAt } from '../models/train-loop';
import { standInGenerator } from '../feedback/collect';
import {
  addGaussianNoise, allAttributes, Attributes, AttributeVerdict, Background, CaptionAttributes, Category, CATEGORIES, Color, COLORS,
  formatPrompt, gaussianBlur, HARD_NEGATIVE_KINDS, HardNegativeKind, ImageLike, judge, MAX_COUNT, OBJECTS, Place, PLACES,
  renderHardNegative, renderPrompt, sampleAttributes, SeenShape, UNKNOWN_OBJECT,
} from '../world';
import { cohenKappa, Label } from '../world/raters';

/** The shipped classifier (data/classifier), relative to the package root (the same from src/ and dist/). */
export const CLASSIFIER_DIR = path.resolve(__dirname, '..', '..', 'data', 'classifier');

/** The classes of each head, in logit order. */
export const CLASSES = {
  count: Array.from({ length: MAX_COUNT }, (_, i) => i + 1),
  color: [...COLORS] as Color[],
  object: [...OBJECTS, UNKNOWN_OBJECT] as SeenShape[],
  background: Object.keys(PLACES) as Place[],
};
export const HEADS = ['count', 'color', 'object', 'background'] as const;
export type Head = (typeof HEADS)[number];

const int = (min: number, max: number) => z.number().int().min(min).max(max);

export const ClassifierConfigSchema = z.strictObject({
  /** Seed of the initial weights and of every training batch (renders, hard negatives, degradations). */
  seed: int(0, 2 ** 31),
  /** Output channels of each level: `depth` 3x3 convs, the last of stride 2 (3 levels: 4x4 at the end; at most 5: 1x1). */
  channels: z.array(int(1, 512)).min(1).max(5),
  /** 3x3 convs per level: 1 (stride 2) or 2 (stride 1, then stride 2). */
  depth: int(1, 2),
  /** Also feed the dense layer the last feature map's max over positions (where an object is does not matter for its shape). */
  pool: z.boolean(),
  /** Width of the dense layer after flattening: the features FID compares. */
  hidden: int(8, 4096),
  /** Adam updates, batch size, learning-rate warmup and schedule, checkpoint interval (no moving average). */
  train: TrainConfigSchema.omit({ emaDecay: true }),
  data: z.strictObject({
    /** Share of each batch that is a hard negative (an oval, blob, warped, merged, cut or frayed shape: object 'unknown'). */
    hardNegativeShare: z.number().min(0).max(1),
    /** Share of each batch that is degraded: blurred, then noised, like a diffusion sample. */
    degradedShare: z.number().min(0).max(1),
    /** A degraded image's Gaussian noise sigma (0-255 scale) is uniform in [0, maxNoise]. */
    maxNoise: z.number().min(0).max(255),
    /** A degraded image's Gaussian blur sigma (pixels) is uniform in [0, maxBlur]. */
    maxBlur: z.number().min(0).max(5),
  }),
});
export type ClassifierConfig = z.infer<typeof ClassifierConfigSchema>;

const quick: ClassifierConfig = {
  seed: 0,
  channels: [8, 16, 16],
  depth: 1,
  pool: true,
  hidden: 32,
  train: { steps: 300, batchSize: 32, learningRate: 3e-3, warmupSteps: 20, lrSchedule: 'cosine', checkpointEvery: 100 },
  data: { hardNegativeShare: 0.15, degradedShare: 0.5, maxNoise: 20, maxBlur: 0.8 },
};

/** `default`: the recipe of the shipped classifier (data/classifier; its README has the wall time and accuracies). */
const defaults: ClassifierConfig = {
  seed: 0,
  channels: [16, 32, 64],
  depth: 2,
  pool: true,
  hidden: 128,
  train: { steps: 3000, batchSize: 64, learningRate: 2e-3, warmupSteps: 100, lrSchedule: 'cosine', checkpointEvery: 250 },
  data: { hardNegativeShare: 0.15, degradedShare: 0.5, maxNoise: 20, maxBlur: 0.8 },
};

export const CLASSIFIER_PRESETS = { quick, default: defaults } as const;
export type ClassifierPreset = keyof typeof CLASSIFIER_PRESETS;

/** Validate a config; a bad key or value is an error naming its path and what is allowed. */
export function parseClassifierConfig(value: unknown): ClassifierConfig {
  const r = ClassifierConfigSchema.safeParse(value);
  if (!r.success) throw new Error(`invalid classifier config: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** A preset with top-level overrides (`{ seed: 3 }`, `{ train: {...} }` replaces the whole train block), validated. */
export function resolveClassifierConfig(preset: ClassifierPreset = 'default', overrides: Partial<ClassifierConfig> = {}): ClassifierConfig {
  if (!(preset in CLASSIFIER_PRESETS)) throw new Error(`unknown classifier preset "${preset}"; allowed: ${Object.keys(CLASSIFIER_PRESETS).join(', ')}`);
  return parseClassifierConfig({ ...structuredClone(CLASSIFIER_PRESETS[preset]), ...overrides });
}

/** What the classifier reads off one image, with each head's top softmax probability. */
export interface Prediction {
  count: number;
  color: Color;
  /** A shape, or 'unknown': no recognisable shape. */
  object: SeenShape;
  /** The place, null for the plain background (no place). */
  background: Background | null;
  probability: Record<Head, number>;
}

/** Index labels of one training image, one per head (into CLASSES). */
export type HeadLabels = Record<Head, number>;

export class AttributeClassifier {
  readonly variables: Record<string, tf.Variable>;
  private readonly convs: Conv2d[];
  private readonly fc: Linear;
  private readonly heads: Record<Head, Linear>;

  /** Fresh weights from `config.seed` (the same seed gives the same weights). */
  constructor(readonly config: ClassifierConfig) {
    const ps = new ParamStore(new Rng(config.seed).fork('classifier-init'));
    let inC = 3;
    this.convs = config.channels.flatMap((ch, i) =>
      Array.from({ length: config.depth }, (_, j) => {
        const last = j === config.depth - 1;
        const conv = new Conv2d(ps, `conv${i}${config.depth > 1 ? `/${j}` : ''}`, inC, ch, { stride: last ? 2 : 1 });
        inC = ch;
        return conv;
      }),
    );
    const side = 32 / 2 ** config.channels.length;
    this.fc = new Linear(ps, 'fc', side * side * inC + (config.pool ? inC : 0), config.hidden);
    this.heads = Object.fromEntries(HEADS.map((h) => [h, new Linear(ps, `head/${h}`, config.hidden, CLASSES[h].length)])) as Record<Head, Linear>;
    this.variables = ps.variables;
  }

  /** Penultimate features: images [B, 32, 32, 3] in [-1, 1] -> [B, hidden]. */
  embed(images: tf.Tensor4D): tf.Tensor2D {
    let x = images;
    for (const conv of this.convs) x = silu(conv.apply(x));
    let flat: tf.Tensor = x.reshape([x.shape[0], -1]);
    if (this.config.pool) flat = tf.concat([flat, tf.max(x, [1, 2])], 1);
    return silu(this.fc.apply(flat)) as tf.Tensor2D;
  }

  /** Unnormalised log-probabilities per head: images [B, 32, 32, 3] -> { head: [B, classes] }. */
  logits(images: tf.Tensor4D): Record<Head, tf.Tensor2D> {
    const f = this.embed(images);
    return Object.fromEntries(HEADS.map((h) => [h, this.heads[h].apply(f)])) as Record<Head, tf.Tensor2D>;
  }

  /** Read each image's count, color, object (or 'unknown') and background. */
  predict(images: readonly ImageLike[], batchSize = 256): Prediction[] {
    const out: Prediction[] = [];
    for (let b = 0; b < images.length; b += batchSize) {
      const part = images.slice(b, b + batchSize);
      const probs = tf.tidy(() => {
        const z = this.logits(toTensor(part));
        return HEADS.map((h) => tf.softmax(z[h]).dataSync() as Float32Array);
      });
      part.forEach((_, i) => {
        const top = HEADS.map((h, k) => argmax(probs[k], i, CLASSES[h].length));
        const place = CLASSES.background[top[3].index];
        out.push({
          count: CLASSES.count[top[0].index],
          color: CLASSES.color[top[1].index],
          object: CLASSES.object[top[2].index],
          background: place === 'plain' ? null : place,
          probability: { count: top[0].p, color: top[1].p, object: top[2].p, background: top[3].p },
        });
      });
    }
    return out;
  }

  /** Penultimate-layer features of images, row-major [n, dim] (FID's feature space). */
  features(images: readonly ImageLike[], batchSize = 256): { dim: number; data: Float32Array } {
    const dim = this.config.hidden;
    const data = new Float32Array(images.length * dim);
    for (let b = 0; b < images.length; b += batchSize) {
      const part = images.slice(b, b + batchSize);
      data.set(tf.tidy(() => this.embed(toTensor(part)).dataSync()), b * dim);
    }
    return { dim, data };
  }

  dispose(): void {
    tf.dispose(Object.values(this.variables));
  }
}

function toTensor(images: readonly ImageLike[]): tf.Tensor4D {
  return imagesToTensor(images.map((image) => ({ image, caption: '' })));
}

function argmax(p: Float32Array, row: number, n: number): { index: number; p: number } {
  let index = 0;
  for (let k = 1; k < n; k++) if (p[row * n + k] > p[row * n + index]) index = k;
  return { index, p: p[row * n + index] };
}

/**
 * The training loss: the sum over the four heads of the mean softmax cross-entropy,
 *   L = sum_h -1/B sum_i log softmax(z_h)_{i, y_h,i}.
 * logits { head: [B, classes] }, labels { head: [B] int32 } -> scalar.
 */
export function classifierLoss(logits: Record<Head, tf.Tensor2D>, labels: Record<Head, tf.Tensor1D>): tf.Scalar {
  return tf.tidy(() => {
    const parts = HEADS.map((h) => tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(labels[h], CLASSES[h].length), tf.logSoftmax(logits[h])), 1))));
    return tf.addN(parts) as tf.Scalar;
  });
}

/** One training image with its labels. */
export interface LabelledRender {
  image: ImageLike;
  labels: HeadLabels;
}

const ALL_PROMPTS = allAttributes();

/**
 * Batch `step` of a run: a pure function of (config, step). Image i is a
 * render of a uniformly drawn prompt of the grammar, or with probability
 * hardNegativeShare a hard negative of a random kind (count 1, object
 * 'unknown'), seeded `classifier/${seed}/${step}/${i}`; with probability
 * degradedShare it is then blurred and noised.
 */
export function trainingBatch(config: ClassifierConfig, step: number): LabelledRender[] {
  const d = config.data;
  return Array.from({ length: config.train.batchSize }, (_, i) => {
    const key = `classifier/${config.seed}/${step}/${i}`;
    const rng = new Rng(key);
    let image: ImageLike;
    let labels: HeadLabels;
    if (rng.bernoulli(d.hardNegativeShare)) {
      const hn = renderHardNegative(rng.pick(HARD_NEGATIVE_KINDS), key);
      image = hn.image;
      // one connected thing: count 1 (class 0), as the judge counts components
      labels = { count: 0, color: CLASSES.color.indexOf(hn.color), object: CLASSES.object.indexOf(UNKNOWN_OBJECT), background: CLASSES.background.indexOf(hn.place) };
    } else {
      const a = rng.pick(ALL_PROMPTS);
      const r = renderPrompt(a, key);
      image = r.image;
      labels = {
        count: r.scene.objects.length - 1,
        color: CLASSES.color.indexOf(r.scene.objects[0].color),
        object: CLASSES.object.indexOf(a.object),
        background: CLASSES.background.indexOf(r.scene.place),
      };
    }
    if (rng.bernoulli(d.degradedShare)) image = degrade(image, rng.uniform(0, d.maxNoise), rng.uniform(0, d.maxBlur), rng.fork('noise'));
    return { image, labels };
  });
}

/** Blur (std `blur` px), then Gaussian noise (std `noise`, 0-255 scale), as src/world/robustness.ts degrades renders. */
export function degrade(image: ImageLike, noise: number, blur: number, rng: Rng): ImageLike {
  let img = image;
  if (blur > 0) img = gaussianBlur(img, blur);
  if (noise > 0) img = addGaussianNoise(img, noise, rng);
  return img;
}

/** One Adam update on a batch; returns its loss. Leaves no tensors behind. */
export function trainClassifierStep(model: AttributeClassifier, optimizer: tf.Optimizer, batch: readonly LabelledRender[]): number {
  const images = toTensor(batch.map((b) => b.image));
  const labels = Object.fromEntries(HEADS.map((h) => [h, tf.tensor1d(batch.map((b) => b.labels[h]), 'int32')])) as Record<Head, tf.Tensor1D>;
  const loss = optimizer.minimize(() => classifierLoss(model.logits(images), labels), true, Object.values(model.variables));
  tf.dispose([images, ...Object.values(labels)]);
  const value = loss!.dataSync()[0];
  loss!.dispose();
  return value;
}

/** What a classifier checkpoint's meta holds. */
export interface ClassifierMeta {
  kind: 'classifier';
  config: ClassifierConfig;
  /** Updates done (= config.train.steps when finished). */
  step: number;
  /** Training wall time so far, in seconds (summed over resumed runs). */
  seconds: number;
  /** Mean loss over the updates since the previous checkpoint (null when none). */
  recentLoss: number | null;
  /** The classes of each head, checked on load against the vocabulary. */
  classes: typeof CLASSES;
}

/** Read and check a classifier checkpoint's meta (errors name the folder and what is wrong). */
export function readClassifierMeta(dir: string): ClassifierMeta {
  const meta = readCheckpointOfKind<ClassifierMeta>(dir, 'classifier').meta;
  try {
    meta.config = parseClassifierConfig(meta.config);
  } catch (e) {
    throw new CheckpointError(`checkpoint ${dir} has an ${(e as Error).message}`);
  }
  if (JSON.stringify(meta.classes) !== JSON.stringify(CLASSES)) {
    throw new CheckpointError(`checkpoint ${dir} was trained with other classes than the vocabulary's (${JSON.stringify(meta.classes)}); retrain it`);
  }
  return meta;
}

/** Why a run with config `b` cannot resume a checkpoint made with `a` (every key but train.checkpointEvery must match), or undefined. */
export function classifierResumeMismatch(a: ClassifierConfig, b: ClassifierConfig): string | undefined {
  const strip = (c: ClassifierConfig) => ({ ...c, train: { ...c.train, checkpointEvery: 0 } });
  const x = strip(a) as Record<string, unknown>, y = strip(b) as Record<string, unknown>;
  const bad = Object.keys(x).filter((k) => JSON.stringify(x[k]) !== JSON.stringify(y[k]));
  return bad.length ? bad.map((k) => `${k} was ${JSON.stringify(x[k])}, now ${JSON.stringify(y[k])}`).join('; ') : undefined;
}

export interface TrainClassifierOptions {
  /** Checkpoint folder; without it nothing is saved or resumed. */
  out?: string;
  /** Resume from the checkpoint in `out` when there is one (default true); false starts afresh and replaces it. */
  resume?: boolean;
  /** Progress reporting (default: a bar); false for none. */
  progress?: false | ((total: number, label: string) => Progress);
  /** Stop after this many updates in this call (tests of an interrupted run). */
  maxUpdates?: number;
}

export interface TrainClassifierResult {
  classifier: AttributeClassifier;
  /** The step this call started (or resumed) from, and the updates done in total. */
  startStep: number;
  step: number;
  /** Loss of each update of this call. */
  losses: number[];
  /** Training wall time, summed over resumed runs. */
  seconds: number;
}

/**
 * Train a classifier for config.train.steps Adam updates on `trainingBatch`es,
 * checkpointing to `out` every train.checkpointEvery updates (weights, Adam's
 * state, step) and resuming from it; the finished checkpoint holds the weights
 * alone (what ships). The caller owns (and disposes) the returned classifier.
 */
export async function trainClassifier(config: ClassifierConfig, opts: TrainClassifierOptions = {}): Promise<TrainClassifierResult> {
  const cfg = parseClassifierConfig(config);
  const train = { ...cfg.train, emaDecay: 0 };
  const model = new AttributeClassifier(cfg);
  const optimizer = adam(train.learningRate);
  const dir = opts.out;
  let start = 0;
  let seconds = 0;
  try {
    if (dir && (opts.resume ?? true) && hasCheckpoint(dir)) {
      const meta = readClassifierMeta(dir);
      const diff = classifierResumeMismatch(meta.config, cfg);
      if (diff) throw new CheckpointError(`cannot resume from ${dir}: ${diff}; use another output folder, or the checkpoint's settings`);
      const extra = await loadClassifierWeights(dir, model, meta.step < train.steps);
      try {
        if (meta.step > 0 && meta.step < train.steps) await restoreOptimizer(optimizer, model.variables, extra);
      } finally {
        tf.dispose(Object.values(extra));
      }
      start = meta.step;
      seconds = meta.seconds;
    }
    const save = async (step: number, recent: number[]) => {
      if (!dir) return;
      const meta: ClassifierMeta = {
        kind: 'classifier', config: cfg, step, seconds, classes: CLASSES,
        recentLoss: recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : null,
      };
      const finished = step >= train.steps;
      const opt = finished ? {} : await optimizerState(optimizer, model.variables);
      try {
        await saveCheckpoint(dir, { ...model.variables, ...opt }, meta);
      } finally {
        // iter and the beta powers are fresh tensors; the moments are the optimizer's own variables.
        tf.dispose(['optimizer/iter', 'optimizer/acc_beta1', 'optimizer/acc_beta2'].map((k) => opt[k]).filter((t) => t !== undefined));
      }
    };
    const end = Math.min(train.steps, start + (opts.maxUpdates ?? Infinity));
    const bar = opts.progress === false ? undefined : (opts.progress ?? makeProgress)(end - start, 'classifier');
    const losses: number[] = [];
    let recent: number[] = [];
    let t0 = Date.now();
    try {
      for (let s = start; s < end; s++) {
        (optimizer as unknown as { learningRate: number }).learningRate = learningRateAt(train, s);
        const loss = trainClassifierStep(model, optimizer, trainingBatch(cfg, s));
        if (!Number.isFinite(loss)) throw new Error(`classifier training diverged: loss ${loss} at step ${s}`);
        losses.push(loss);
        recent.push(loss);
        bar?.tick(1, { loss: loss.toFixed(4) });
        if ((s + 1) % train.checkpointEvery === 0 || s + 1 === train.steps) {
          seconds += (Date.now() - t0) / 1000;
          t0 = Date.now();
          await save(s + 1, recent);
          recent = [];
        }
      }
    } finally {
      bar?.done();
    }
    seconds += (Date.now() - t0) / 1000;
    return { classifier: model, startStep: start, step: end, losses, seconds };
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    optimizer.dispose();
  }
}

/**
 * Load a checkpoint's weights into `model` (names and shapes must match; the
 * optimizer state may be there only when `withOptimizer`) and return the
 * optimizer tensors (the caller disposes them).
 */
async function loadClassifierWeights(dir: string, model: AttributeClassifier, withOptimizer: boolean): Promise<tf.NamedTensorMap> {
  const expect: Record<string, number[]> = variableShapes(model.variables);
  if (withOptimizer) for (const s of readCheckpointIndex(dir).specs) if (s.name.startsWith('optimizer/')) expect[s.name] = s.shape;
  const { tensors } = await loadCheckpoint(dir, expect);
  const opt: tf.NamedTensorMap = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (name.startsWith('optimizer/')) opt[name] = t;
    else {
      model.variables[name].assign(t);
      t.dispose();
    }
  }
  return opt;
}

/** A trained classifier with its checkpoint's meta and folder. */
export type LoadedClassifier = AttributeClassifier & { meta: ClassifierMeta; dir: string };

/**
 * The meta of a classifier that can read images (default: the shipped one): refuses a missing checkpoint and an
 * unfinished run's, as loadClassifier does, without loading the weights (a check before any image is sampled).
 */
export function readReadyClassifierMeta(dir: string = CLASSIFIER_DIR): ClassifierMeta {
  if (!hasCheckpoint(dir)) {
    const hint = dir === CLASSIFIER_DIR ? ' (the shipped classifier is missing: run `t2i-align train-classifier`)' : '';
    throw new CheckpointError(`no classifier checkpoint in ${dir}${hint}`);
  }
  const meta = readClassifierMeta(dir);
  if (meta.step < meta.config.train.steps) {
    throw new CheckpointError(`classifier ${dir} is unfinished (step ${meta.step} of ${meta.config.train.steps}); resume it with \`t2i-align train-classifier --out ${dir}\`, with the --quick and --seed it was started with`);
  }
  return meta;
}

/** Load the classifier in `dir` (default: the shipped data/classifier). Refuses an unfinished run's checkpoint. */
export async function loadClassifier(dir: string = CLASSIFIER_DIR): Promise<LoadedClassifier> {
  const meta = readReadyClassifierMeta(dir);
  const model = new AttributeClassifier(meta.config);
  try {
    tf.dispose(Object.values(await loadClassifierWeights(dir, model, false)));
  } catch (e) {
    model.dispose();
    throw e;
  }
  return Object.assign(model, { meta, dir });
}

/**
 * Check a prediction against a prompt's attributes, with the judge's rules
 * (`verdictFor`): the object always, the count, color and background only
 * when the prompt states them; 'unknown' fails the object ("no recognisable shape").
 */
export function classifierVerdict(attributes: CaptionAttributes, p: Prediction): { aligned: boolean; reasons: string[]; verdicts: AttributeVerdict[] } {
  const verdicts: AttributeVerdict[] = [];
  if (attributes.count !== undefined) verdicts.push({ attribute: 'count', expected: attributes.count, seen: p.count, ok: p.count === attributes.count });
  const seenObject = p.object === UNKNOWN_OBJECT ? 'no recognisable shape' : p.object;
  verdicts.push({ attribute: 'object', expected: attributes.object, seen: seenObject, ok: p.object === attributes.object });
  if (attributes.color) verdicts.push({ attribute: 'color', expected: attributes.color, seen: p.color, ok: p.color === attributes.color });
  if (attributes.background) {
    verdicts.push({ attribute: 'background', expected: attributes.background, seen: p.background ?? 'plain', ok: p.background === attributes.background });
  }
  const reasons = verdicts.filter((v) => !v.ok).map((v) => `${v.attribute}: expected ${v.expected}, saw ${v.seen}`);
  return { aligned: reasons.length === 0, reasons, verdicts };
}

/** Correct reads per attribute, and of all four at once (`exact`), out of n. */
export interface AttributeCounts {
  n: number;
  exact: number;
  count: number;
  color: number;
  object: number;
  background: number;
}

export interface ClassifierAccuracy {
  perCategory: number;
  seed: number;
  noise: number;
  blur: number;
  /** Fresh renders per prompt category (the images `judge-accuracy` reads with the same seed and degradation). */
  categories: Record<Category, AttributeCounts>;
  /** All categories together. */
  all: AttributeCounts;
  /** Per kind of hard negative: how often the object head says 'unknown'. */
  hardNegatives: Record<HardNegativeKind, { n: number; unknown: number; rate: number }>;
}

export interface AccuracyOptions {
  /** Renders per category, and hard negatives per kind. */
  perCategory: number;
  /** Seed of prompts, renders and noise (training never uses these seeds). */
  seed: number;
  /** Gaussian noise sigma (0-255), added after the blur. Default 0. */
  noise?: number;
  /** Gaussian blur sigma in pixels. Default 0. */
  blur?: number;
}

/**
 * The classifier's accuracy on fresh renders, per category and attribute
 * (count, color, object, background = place or plain), and its 'unknown' rate
 * on hard negatives. Image i of category c is `renderPrompt(sampleAttributes(...), '${seed}/${c}/${i}')`
 * degraded with noise seed `${seed}/${c}/noise/${i}`, as in the judge's `judgeAccuracy`.
 */
export function classifierAccuracy(classifier: AttributeClassifier, opts: AccuracyOptions): ClassifierAccuracy {
  const { perCategory, seed } = opts;
  if (!Number.isInteger(perCategory) || perCategory < 1) throw new Error(`perCategory must be a positive integer, got ${perCategory}`);
  const noise = opts.noise ?? 0, blur = opts.blur ?? 0;
  const zero = (): AttributeCounts => ({ n: 0, exact: 0, count: 0, color: 0, object: 0, background: 0 });
  const all = zero();
  const root = new Rng(seed);
  const categories = {} as Record<Category, AttributeCounts>;
  for (const c of CATEGORIES) {
    const rng = root.fork(c);
    const truth: Array<{ count: number; color: Color; object: SeenShape; place: Place }> = [];
    const images: ImageLike[] = [];
    for (let i = 0; i < perCategory; i++) {
      const a = sampleAttributes(rng, c);
      const r = renderPrompt(a, `${seed}/${c}/${i}`);
      truth.push({ count: r.scene.objects.length, color: r.scene.objects[0].color, object: a.object, place: r.scene.place });
      images.push(degrade(r.image, noise, blur, rng.fork(`noise/${i}`)));
    }
    const acc = zero();
    classifier.predict(images).forEach((p, i) => {
      const t = truth[i];
      const ok = { count: p.count === t.count, color: p.color === t.color, object: p.object === t.object, background: (p.background ?? 'plain') === t.place };
      for (const h of HEADS) if (ok[h]) (acc[h]++, all[h]++);
      if (HEADS.every((h) => ok[h])) (acc.exact++, all.exact++);
      acc.n++;
      all.n++;
    });
    categories[c] = acc;
  }
  const hardNegatives = {} as ClassifierAccuracy['hardNegatives'];
  for (const kind of HARD_NEGATIVE_KINDS) {
    const images = Array.from({ length: perCategory }, (_, i) =>
      degrade(renderHardNegative(kind, `${seed}/${i}`).image, noise, blur, new Rng(`${kind}/${seed}/${i}/noise`)));
    const unknown = classifier.predict(images).filter((p) => p.object === UNKNOWN_OBJECT).length;
    hardNegatives[kind] = { n: perCategory, unknown, rate: unknown / perCategory };
  }
  return { perCategory, seed, noise, blur, categories, all, hardNegatives };
}

export interface JudgeAgreement {
  n: number;
  /** Share of images where the classifier's aligned verdict equals the judge's. */
  agreement: number;
  /** Cohen's kappa of the two verdicts (aligned = good). */
  kappa: number;
  /** Share each reader calls aligned. */
  classifierAligned: number;
  judgeAligned: number;
}

/** How often the classifier's verdict (`classifierVerdict`) equals the judge's on the same images, and Cohen's kappa. */
export function agreementWithJudge(classifier: AttributeClassifier, items: ReadonlyArray<{ attributes: CaptionAttributes; image: ImageLike }>): JudgeAgreement {
  if (items.length === 0) throw new Error('agreementWithJudge: no images');
  const preds = classifier.predict(items.map((x) => x.image));
  const ours = preds.map((p, i): Label => (classifierVerdict(items[i].attributes, p).aligned ? 'good' : 'bad'));
  const theirs = items.map((x): Label => (judge(x.attributes, x.image).aligned ? 'good' : 'bad'));
  const n = items.length;
  const share = (ls: Label[]) => ls.filter((l) => l === 'good').length / n;
  return {
    n,
    agreement: ours.filter((l, i) => l === theirs[i]).length / n,
    kappa: cohenKappa(ours, theirs),
    classifierAligned: share(ours),
    judgeAligned: share(theirs),
  };
}

/**
 * Images to compare the two readers on: per category, `perCategory` prompts
 * (sampleAttributes) drawn by the kit's stand-in generator, which renders a
 * prompt but gets one attribute (count, color, object or background) wrong
 * with probability `errorRate` (default 0.5, so both verdicts occur), then
 * degraded like `classifierAccuracy`'s renders.
 */
export async function agreementSet(opts: AccuracyOptions & { errorRate?: number }): Promise<Array<{ attributes: Attributes; image: ImageLike }>> {
  const generate = standInGenerator(opts.errorRate ?? 0.5);
  const out: Array<{ attributes: Attributes; image: ImageLike }> = [];
  const root = new Rng(`agreement/${opts.seed}`);
  for (const c of CATEGORIES) {
    const rng = root.fork(c);
    const attrs = Array.from({ length: opts.perCategory }, () => sampleAttributes(rng, c));
    const seeds = attrs.map((_, i) => new Rng(`agreement/${opts.seed}/${c}/${i}`).int(0, 2 ** 31 - 1));
    const images = await generate(attrs.map(formatPrompt), seeds);
    images.forEach((image, i) => out.push({ attributes: attrs[i], image: degrade(image, opts.noise ?? 0, opts.blur ?? 0, rng.fork(`noise/${i}`)) }));
  }
  return out;
}
