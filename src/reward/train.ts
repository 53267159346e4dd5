/**
 * Training the reward model (the paper's Stage 2): L = L_mse + lambda * L_pc
 * on frozen MiniCLIP embeddings, Adam, minibatches, early stopping on the
 * held-out prompts' loss (the best epoch's weights are kept).
 *
 * Determinism: the epoch order comes from `${seed}/epoch/${e}`, the perturbed
 * prompts of row i in epoch e from `${seed}/pc/${e}/${i}`, the initial weights
 * from `seed`; the same data, config and backend give the same weights.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { adam } from '../engine/adam';
import { progress as makeProgress, Progress } from '../engine/progress';
import { Rng } from '../engine/random';
import { allAttributes, Attributes, formatPrompt } from '../world/prompt';
import { goodShare, heldOutPrompts, LABEL_MODES, LabelledImage } from './data';
import { EmbeddingTable, FrozenClip, gatherRows, TextEmbeddings } from './embeddings';
import { mseLoss, promptClassificationLoss, rewardLoss } from './losses';
import { fitLogistic } from './metrics';
import { REWARD_INPUTS, RewardModel, textRows } from './model';
import { perturbPrompt } from './perturb';

export const RewardTrainConfigSchema = z.strictObject({
  /** Hidden layer widths of the MLP. */
  hidden: z.array(z.number().int().min(1).max(4096)).max(8).default([128, 64]),
  /** What the MLP reads: u * v ('product') or [u, v, u * v] ('joint'); RewardModelConfig.inputs. */
  inputs: z.enum(REWARD_INPUTS).default('product'),
  /** lambda, the weight of the prompt-classification loss (paper: 0.5; 0 turns it off). */
  auxWeight: z.number().min(0).max(100).default(0.5),
  /** N, the prompts per good image in that loss: the true one and N-1 perturbed (paper: 10). */
  auxPrompts: z.number().int().min(2).max(64).default(10),
  /** Targets: 'mean' (one row per image, the share of raters who said good) or 'rater' (one row per label). */
  labels: z.enum(LABEL_MODES).default('mean'),
  /** Share of distinct prompts held out (for early stopping and the held-out metrics). */
  heldOutFraction: z.number().min(0).max(0.9).default(0.2),
  learningRate: z.number().positive().max(1).default(1e-3),
  batchSize: z.number().int().min(1).max(65536).default(64),
  maxEpochs: z.number().int().min(1).max(100000).default(200),
  /** Stop after this many epochs without a better held-out loss. */
  patience: z.number().int().min(1).default(20),
  /**
   * k, the weight of the CLIP cosine added to the trained MLP's logit before a
   * logistic recalibration (RewardModel; beyond the paper). 0, the default, is
   * the MLP alone, as the paper; README, "Reward model", has what 40 does.
   */
  clipWeight: z.number().min(0).max(1000).default(0),
  /** Seed of the weights, the split, the epoch order and the perturbations. */
  seed: z.number().int().min(0).default(0),
});
export type RewardTrainConfig = z.infer<typeof RewardTrainConfigSchema>;

/** The config with defaults filled in; a bad key or value is an error naming its path and what is allowed. */
export function resolveRewardConfig(overrides: unknown = {}): RewardTrainConfig {
  const p = RewardTrainConfigSchema.safeParse(overrides);
  if (!p.success) throw new Error(`reward config: ${p.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return p.data;
}

/** One training row: an image (row of the embedding table), its prompt and target. */
interface Row {
  /** Index among all rows (keys its perturbations' seeds). */
  key: number;
  image: number;
  prompt: string;
  attributes: Attributes;
  /** y in [0, 1]. */
  target: number;
  /** Takes part in the prompt-classification loss. */
  good: boolean;
}

export interface EpochStats {
  epoch: number;
  train: { loss: number; mse: number; pc: number };
  heldOut: { loss: number; mse: number; pc: number } | null;
}

export interface RewardTrainResult {
  model: RewardModel;
  config: RewardTrainConfig;
  history: EpochStats[];
  /** Epoch whose weights were kept (1-based). */
  bestEpoch: number;
  trainPrompts: string[];
  heldOutPrompts: string[];
  rows: { train: number; heldOut: number; goodTrain: number };
}

/** Rows of the training data under a label mode. */
function rowsOf(images: readonly LabelledImage[], mode: RewardTrainConfig['labels']): Row[] {
  const rows = images.flatMap((im, i): Array<Omit<Row, 'key'>> => {
    const base = { image: i, prompt: formatPrompt(im.attributes), attributes: im.attributes };
    if (mode === 'rater') return im.labels.map((l) => ({ ...base, target: l === 'good' ? 1 : 0, good: l === 'good' }));
    const y = goodShare(im.labels);
    return [{ ...base, target: y, good: y > 0.5 }];
  });
  return rows.map((r, key) => ({ ...r, key }));
}

/** The tensors of a batch: inputs and targets, and the [G * N] pairs of its good rows' prompt classification. */
function batchTensors(rows: readonly Row[], emb: EmbeddingTable, texts: TextEmbeddings, n: number, rngOf: (r: Row) => Rng, exclude?: ReadonlySet<string>, onPrompts?: (prompts: readonly string[]) => void) {
  const e = emb.dim;
  const good = rows.filter((r) => r.good);
  const pcPrompts = good.flatMap((r) => [r.prompt, ...perturbPrompt(r.attributes, n - 1, rngOf(r), exclude).map((p) => p.prompt)]);
  onPrompts?.(pcPrompts);
  return {
    image: tf.tensor2d(gatherRows(emb, rows.map((r) => r.image)), [rows.length, e]),
    text: tf.tensor2d(textRows(texts, rows.map((r) => r.prompt)), [rows.length, e]),
    target: tf.tensor1d(rows.map((r) => r.target)),
    pcImage: tf.tensor2d(gatherRows(emb, good.flatMap((r) => Array<number>(n).fill(r.image))), [good.length * n, e]),
    pcText: tf.tensor2d(textRows(texts, pcPrompts), [good.length * n, e]),
    goods: good.length,
  };
}
type Batch = ReturnType<typeof batchTensors>;

function disposeBatch(b: Batch): void {
  tf.dispose([b.image, b.text, b.target, b.pcImage, b.pcText]);
}

/**
 * Join the trained MLP with the CLIP score: s = MLP logit + k * cos(u, v), and
 * a, b of sigmoid(a s + b) fitted to the rows' targets (the held-out prompts'
 * rows, those the MLP did not learn from, when they hold good and bad ones,
 * else every row; `calibration.rows` records which; the held-out
 * accuracy at 0.5 is then measured on the rows it was calibrated on, while
 * AUC does not change with a, b as long as a > 0, which is checked: a fit
 * that would rank images backwards is an error naming k and the rows).
 */
function calibrateJoinedScore(model: RewardModel, rows: readonly Row[], emb: EmbeddingTable, k: number): void {
  const s = tf.tidy(() => {
    const image = tf.tensor2d(gatherRows(emb, rows.map((r) => r.image)), [rows.length, emb.dim]);
    const text = tf.tensor2d(textRows(model.texts, rows.map((r) => r.prompt)), [rows.length, emb.dim]);
    return model.joinedLogit(image, text, k).dataSync();
  });
  try {
    model.joinClipScore(k, { ...fitLogistic(s, rows.map((r) => r.target)), rows: rows.length });
  } catch (e) {
    throw new Error(`reward clipWeight ${k}: calibrating on ${rows.length} rows failed: ${e instanceof Error ? e.message : e}`);
  }
}

/** [L, L_mse, L_pc] of a batch as one [3] tensor. */
function losses(model: RewardModel, b: Batch, n: number, lambda: number): tf.Tensor1D {
  return tf.tidy(() => {
    const mse = mseLoss(model.apply(b.image, b.text), b.target);
    const pc = lambda === 0 || b.goods === 0 ? tf.scalar(0) : promptClassificationLoss(model.apply(b.pcImage, b.pcText).reshape([b.goods, n]));
    return tf.stack([rewardLoss(mse, () => pc, lambda), mse, pc]) as tf.Tensor1D;
  });
}

/**
 * Train a reward model on labelled images whose unit image embeddings are the
 * rows of `embeddings` (in the same order).
 */
export async function trainRewardModel(
  images: readonly LabelledImage[],
  embeddings: EmbeddingTable,
  frozen: FrozenClip,
  config: RewardTrainConfig,
  opts: {
    progress?: false | ((total: number, label: string) => Progress);
    onEpoch?: (s: EpochStats) => void;
    /** Sees each training batch's prompt classes (true prompts and their perturbations), e.g. to check what training reads. */
    onAuxPrompts?: (prompts: readonly string[]) => void;
  } = {},
): Promise<RewardTrainResult> {
  if (embeddings.data.length !== images.length * embeddings.dim) throw new Error(`${embeddings.data.length / embeddings.dim} embeddings for ${images.length} images`);
  const held = heldOutPrompts(images.map((im) => formatPrompt(im.attributes)), config.heldOutFraction, config.seed);
  const all = rowsOf(images, config.labels);
  const train = all.filter((r) => !held.has(r.prompt));
  const heldOut = all.filter((r) => held.has(r.prompt));
  if (train.length === 0) throw new Error('no training rows left after the held-out split');
  const texts = new TextEmbeddings(frozen);
  texts.add(allAttributes().map(formatPrompt));
  const model = new RewardModel({ hidden: config.hidden, inputs: config.inputs, embedDim: embeddings.dim }, texts, config.seed);
  const optimizer = adam(config.learningRate);
  const n = config.auxPrompts;
  const lambda = config.auxWeight;
  const vars = Object.values(model.variables);
  const valBatch = heldOut.length ? batchTensors(heldOut, embeddings, texts, n, (r) => new Rng(`${config.seed}/held-out/${r.key}`)) : null;
  const bar = opts.progress === false ? null : (opts.progress ?? makeProgress)(config.maxEpochs, 'train-reward');
  const history: EpochStats[] = [];
  let best = { loss: Infinity, epoch: 0, weights: null as Float32Array[] | null };
  try {
    for (let e = 0; e < config.maxEpochs; e++) {
      const order = new Rng(`${config.seed}/epoch/${e}`).shuffle(train.map((_, i) => i));
      const sums = [0, 0, 0];
      for (let s = 0; s < order.length; s += config.batchSize) {
        const idx = order.slice(s, s + config.batchSize);
        // The held-out prompts are not drawn as wrong prompts either: their AUC is that of prompts never trained on.
        const b = batchTensors(idx.map((i) => train[i]), embeddings, texts, n, (r) => new Rng(`${config.seed}/pc/${e}/${r.key}`), held, opts.onAuxPrompts);
        let parts: tf.Tensor1D | undefined;
        const loss = optimizer.minimize(() => {
          const l = losses(model, b, n, lambda);
          parts = tf.keep(l.clone());
          return l.slice([0], [1]).reshape([]) as tf.Scalar;
        }, true, vars);
        const v = parts!.dataSync();
        tf.dispose([loss!, parts!]);
        disposeBatch(b);
        for (let k = 0; k < 3; k++) sums[k] += v[k] * idx.length;
      }
      const stats: EpochStats = {
        epoch: e + 1,
        train: { loss: sums[0] / train.length, mse: sums[1] / train.length, pc: sums[2] / train.length },
        heldOut: null,
      };
      if (valBatch) {
        const v = tf.tidy(() => losses(model, valBatch, n, lambda).dataSync());
        stats.heldOut = { loss: v[0], mse: v[1], pc: v[2] };
      }
      history.push(stats);
      opts.onEpoch?.(stats);
      bar?.tick(1);
      const score = stats.heldOut ? stats.heldOut.loss : stats.train.loss;
      if (score < best.loss - 1e-7) best = { loss: score, epoch: e + 1, weights: vars.map((x) => Float32Array.from(x.dataSync())) };
      else if (stats.heldOut && e + 1 - best.epoch >= config.patience) break;
    }
  } finally {
    bar?.done();
    if (valBatch) disposeBatch(valBatch);
    optimizer.dispose();
  }
  if (best.weights) vars.forEach((x, i) => tf.tidy(() => x.assign(tf.tensor(best.weights![i], x.shape))));
  if (config.clipWeight > 0) {
    try {
      const bothClasses = (rows: readonly Row[]) => rows.some((r) => r.target > 0) && rows.some((r) => r.target < 1);
      calibrateJoinedScore(model, bothClasses(heldOut) ? heldOut : [...train, ...heldOut], embeddings, config.clipWeight);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }
  const trainPrompts = [...new Set(train.map((r) => r.prompt))].sort();
  return {
    model, config, history, bestEpoch: best.epoch, trainPrompts, heldOutPrompts: [...held].sort(),
    rows: { train: train.length, heldOut: heldOut.length, goodTrain: train.filter((r) => r.good).length },
  };
}
