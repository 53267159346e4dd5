/**
 * The reward model r_phi(x, z): an MLP on frozen MiniCLIP embeddings (the
 * paper's MLP on CLIP ViT-L/14 embeddings), output in [0, 1], the probability
 * that people would call image x aligned with prompt z.
 *
 *   input   u * v, or [u, v, u * v] (config.inputs)   u, v: unit image and text embeddings [B, E]
 *   hidden  Linear -> ReLU, for each width in `hidden`
 *   output  Linear -> sigmoid  [B]
 *
 * The product u * v gives the MLP CLIP's own similarity (its sum) as a
 * starting point; the MLP learns which of its parts matter. Trained on one
 * object's images, an MLP that also reads u and v learns what that object
 * looks like and transfers worse to new objects (README, "Reward model"), so
 * the kit trains on u * v alone by default; 'joint' is the older setting.
 * With clipWeight k > 0 (beyond the paper), the MLP, trained alone, is joined
 * with the CLIP score as a product of experts and recalibrated:
 *
 *   r(x, z) = sigmoid(a * (MLP(u * v) + k * cos(u, v)) + b)
 *
 * a and b are fitted after training (`fitLogistic`, on the held-out prompts'
 * rows when they hold both classes, else on every row: reward/train.ts);
 * k = 0 is the MLP alone, exactly. The learnt part ranks the model's
 * images of the trained prompts better, the CLIP score renders of new ones;
 * the sum keeps some of each (README, "Reward model").
 *
 * And the baseline the paper beats: the CLIP score, cosine(u, v) mapped to
 * [0, 1] as (1 + cos) / 2.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { Rng } from '../engine/random';
import { Linear, ParamStore } from '../models/layers';
import { EmbeddingTable, TextEmbeddings } from './embeddings';

/** What the MLP reads: 'joint' is [u, v, u * v]; 'product' is u * v alone. */
export const REWARD_INPUTS = ['joint', 'product'] as const;
export type RewardInputs = (typeof REWARD_INPUTS)[number];

export const RewardModelConfigSchema = z.strictObject({
  /** Widths of the hidden layers. */
  hidden: z.array(z.number().int().min(1).max(4096)).max(8),
  /**
   * 'joint': [u, v, u * v] (the paper's MLP on both embeddings); 'product': u * v alone, so the MLP sees
   * how image and prompt agree, dimension by dimension, but not which object is drawn or asked for.
   */
  inputs: z.enum(REWARD_INPUTS).default('joint'),
  /** Joint-embedding width of the MiniCLIP the model reads (set from the MiniCLIP). */
  embedDim: z.number().int().min(1),
  /** k, the CLIP cosine's weight added to the MLP's logit (0: the MLP alone, and `calibration` unused). */
  clipWeight: z.number().min(0).max(1000).default(0),
  /** a and b of sigmoid(a * (MLP + k * cos) + b), fitted after training when k > 0, and on how many rows. */
  calibration: z.strictObject({ a: z.number(), b: z.number(), rows: z.number().int().min(0).default(0) }).default({ a: 1, b: 0, rows: 0 }),
});
export type RewardModelConfig = z.infer<typeof RewardModelConfigSchema>;
/** The config as callers write it: clipWeight and calibration may be left out (the MLP alone). */
export type RewardModelSpec = z.input<typeof RewardModelConfigSchema>;

/** Scores images (by their embeddings) against prompts: what the evaluation compares. */
export interface RewardScorer {
  /** 'reward' or 'clip'. */
  readonly name: string;
  /** r(x_i, z_i) for row i of `images` and prompts[i]: [n] in [0, 1]. */
  score(images: EmbeddingTable, prompts: readonly string[]): Float32Array;
}

export class RewardModel implements RewardScorer {
  readonly name = 'reward';
  readonly variables: Record<string, tf.Variable>;
  private cfg: RewardModelConfig;
  private readonly layers: Linear[];

  /** Fresh weights from `seed` (the same seed gives the same weights). */
  constructor(spec: RewardModelSpec, readonly texts: TextEmbeddings, seed: number | string = 0) {
    const config = RewardModelConfigSchema.parse(spec);
    this.cfg = config;
    const ps = new ParamStore(new Rng(seed).fork('reward-init'));
    let inDim = (config.inputs === 'joint' ? 3 : 1) * config.embedDim;
    this.layers = [...config.hidden, 1].map((w, i) => {
      const layer = new Linear(ps, `reward/fc${i}`, inDim, w);
      inDim = w;
      return layer;
    });
    this.variables = ps.variables;
  }

  get config(): RewardModelConfig {
    return this.cfg;
  }

  /** Unit image and text embeddings [B, E] each -> rewards [B] in [0, 1]. */
  apply(image: tf.Tensor2D, text: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => tf.sigmoid(this.logit(image, text)));
  }

  /** The logit of apply(): a * (MLP + k * cos) + b, or the MLP's alone when k = 0. */
  logit(image: tf.Tensor2D, text: tf.Tensor2D): tf.Tensor1D {
    const { clipWeight: k, calibration: { a, b } } = this.config;
    if (k === 0) return this.mlpLogit(image, text);
    return tf.tidy(() => this.joinedLogit(image, text, k).mul(a).add(b) as tf.Tensor1D);
  }

  /** MLP logit + k * cos(u, v), before the calibration [B]. */
  joinedLogit(image: tf.Tensor2D, text: tf.Tensor2D, k: number): tf.Tensor1D {
    return tf.tidy(() => this.mlpLogit(image, text).add(tf.sum(tf.mul(image, text), 1).mul(k)) as tf.Tensor1D);
  }

  /** The MLP's logit alone [B]. */
  mlpLogit(image: tf.Tensor2D, text: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => {
      const product = tf.mul(image, text);
      let h: tf.Tensor = this.config.inputs === 'joint' ? tf.concat([image, text, product], 1) : product;
      this.layers.forEach((layer, i) => {
        h = layer.apply(h);
        if (i < this.layers.length - 1) h = tf.relu(h);
      });
      return h.reshape([-1]) as tf.Tensor1D;
    });
  }

  /** Join the CLIP score with weight k and calibration (a, b), a > 0 (what training does after the MLP's last epoch). */
  joinClipScore(clipWeight: number, calibration: { a: number; b: number; rows?: number }): void {
    if (!(calibration.a > 0 && Number.isFinite(calibration.a) && Number.isFinite(calibration.b))) {
      throw new Error(`reward calibration a = ${calibration.a}, b = ${calibration.b}: a must be positive and both finite (else the reward would rank images backwards or not at all)`);
    }
    this.cfg = RewardModelConfigSchema.parse({ ...this.cfg, clipWeight, calibration });
  }

  score(images: EmbeddingTable, prompts: readonly string[]): Float32Array {
    checkRows(images, prompts);
    this.texts.add(prompts);
    const out = new Float32Array(prompts.length);
    const batch = 4096;
    for (let b = 0; b < prompts.length; b += batch) {
      const n = Math.min(batch, prompts.length - b);
      const r = tf.tidy(() => {
        const img = tf.tensor2d(images.data.subarray(b * images.dim, (b + n) * images.dim), [n, images.dim]);
        const txt = tf.tensor2d(textRows(this.texts, prompts.slice(b, b + n)), [n, images.dim]);
        return this.apply(img, txt).dataSync();
      });
      out.set(r, b);
    }
    return out;
  }

  dispose(): void {
    tf.dispose(Object.values(this.variables));
  }
}

/** The CLIP-score baseline: (1 + cos(u, v)) / 2 for unit embeddings u, v. */
export class ClipScore implements RewardScorer {
  readonly name = 'clip';

  constructor(readonly texts: TextEmbeddings) {}

  score(images: EmbeddingTable, prompts: readonly string[]): Float32Array {
    checkRows(images, prompts);
    const out = new Float32Array(prompts.length);
    prompts.forEach((p, i) => {
      const v = this.texts.get(p);
      let dot = 0;
      for (let k = 0; k < images.dim; k++) dot += images.data[i * images.dim + k] * v[k];
      out[i] = (1 + dot) / 2;
    });
    return out;
  }
}

function checkRows(images: EmbeddingTable, prompts: readonly string[]): void {
  if (images.data.length !== prompts.length * images.dim) {
    throw new Error(`${images.data.length / images.dim} image embeddings for ${prompts.length} prompts`);
  }
}

/** The text embeddings of `prompts` as one [n * E] array. */
export function textRows(texts: TextEmbeddings, prompts: readonly string[]): Float32Array {
  const dim = texts.dim;
  const out = new Float32Array(prompts.length * dim);
  prompts.forEach((p, i) => out.set(texts.get(p), i * dim));
  return out;
}
