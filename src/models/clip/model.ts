/**
 * MiniCLIP: a small CLIP (Radford et al. 2021) for the 32x32 world.
 *
 * - Text encoder: token + position embeddings, pre-LN transformer blocks
 *   (bidirectional attention, padding masked), a final LayerNorm. Its
 *   per-token outputs [B, T, D] condition the diffusion UNet (as CLIP's do in
 *   Stable Diffusion); its output at the <eos> token is the pooled text feature.
 * - Image encoder: stride-2 3x3 convs with SiLU, flatten, a 2-layer MLP
 *   (flattening, not pooling, keeps where things are: counting needs it).
 * - Both project into a joint space of embedDim; the contrastive loss lives in
 *   ./loss.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../engine/random';
import { ClipConfig } from '../config';
import { Attention, Conv2d, LayerNorm, Linear, MLP, ParamStore, silu } from '../layers';
import { EOS_ID, PAD_ID, Tokenizer } from './tokenizer';

class TextBlock {
  readonly ln1: LayerNorm;
  readonly attn: Attention;
  readonly ln2: LayerNorm;
  readonly mlp: MLP;

  constructor(ps: ParamStore, prefix: string, width: number, heads: number) {
    this.ln1 = new LayerNorm(ps, `${prefix}/ln1`, width);
    this.attn = new Attention(ps, `${prefix}/attn`, width, width, heads);
    this.ln2 = new LayerNorm(ps, `${prefix}/ln2`, width);
    this.mlp = new MLP(ps, `${prefix}/mlp`, width);
  }

  /** x [B, T, D], mask [B, T] -> [B, T, D]. */
  apply(x: tf.Tensor3D, mask: tf.Tensor2D): tf.Tensor3D {
    const h = this.ln1.apply(x) as tf.Tensor3D;
    x = tf.add(x, this.attn.apply(h, h, mask));
    return tf.add(x, this.mlp.apply(this.ln2.apply(x)));
  }
}

/** What the text encoder gives for a batch of token ids. */
export interface TextEncoding {
  /** Per-token features after the final LayerNorm: [B, T, textWidth] (the diffusion model's context). */
  tokens: tf.Tensor3D;
  /** 1 for real tokens (<bos>, words, <eos>), 0 for padding: [B, T]. */
  mask: tf.Tensor2D;
  /** Unnormalised joint-space embedding from the <eos> token: [B, embedDim]. */
  embedding: tf.Tensor2D;
}

export class MiniClip {
  readonly variables: Record<string, tf.Variable>;
  readonly tokenizer: Tokenizer;
  private readonly tokenEmbedding: tf.Variable; // [V, D]
  private readonly positionEmbedding: tf.Variable; // [T, D]
  private readonly blocks: TextBlock[];
  private readonly lnFinal: LayerNorm;
  private readonly textProjection: Linear;
  private readonly convs: Conv2d[];
  private readonly imageFc: Linear;
  private readonly imageProjection: Linear;
  /** log(1 / temperature) of the contrastive logits. */
  readonly logitScale: tf.Variable;

  /** Builds fresh weights from `seed` (the same seed gives the same weights). */
  constructor(readonly config: ClipConfig, seed: number | string = 0) {
    const c = config;
    const ps = new ParamStore(new Rng(seed).fork('miniclip-init'));
    this.tokenizer = new Tokenizer(c.maxTokens);
    this.tokenEmbedding = ps.add('text/token_embedding', [this.tokenizer.size, c.textWidth], 0.02);
    this.positionEmbedding = ps.add('text/position_embedding', [c.maxTokens, c.textWidth], 0.01);
    this.blocks = Array.from({ length: c.textLayers }, (_, i) => new TextBlock(ps, `text/blocks/${i}`, c.textWidth, c.textHeads));
    this.lnFinal = new LayerNorm(ps, 'text/ln_final', c.textWidth);
    this.textProjection = new Linear(ps, 'text/projection', c.textWidth, c.embedDim, { bias: false });
    let inC = 3;
    this.convs = c.imageChannels.map((ch, i) => {
      const conv = new Conv2d(ps, `image/conv${i}`, inC, ch, { stride: 2 });
      inC = ch;
      return conv;
    });
    const side = 32 / 2 ** c.imageChannels.length;
    this.imageFc = new Linear(ps, 'image/fc', side * side * inC, c.imageHidden);
    this.imageProjection = new Linear(ps, 'image/projection', c.imageHidden, c.embedDim, { bias: false });
    this.logitScale = ps.add('logit_scale', [], 'zeros');
    tf.tidy(() => this.logitScale.assign(tf.scalar(Math.log(1 / c.initTemperature))));
    this.variables = ps.variables;
  }

  /** Weights of the text encoder alone (what the diffusion model reuses, frozen). */
  textVariables(): Record<string, tf.Variable> {
    return Object.fromEntries(Object.entries(this.variables).filter(([k]) => k.startsWith('text/')));
  }

  /** Token ids of prompts as an int32 tensor [B, T]. */
  tokenize(prompts: readonly string[]): tf.Tensor2D {
    return tf.tensor2d(this.tokenizer.encodeBatch(prompts), [prompts.length, this.config.maxTokens], 'int32');
  }

  /**
   * Prompts -> the text encoder's token states [B, T, D] (`context`) and padding mask [B, T]: what a
   * diffusion model conditioned on this MiniCLIP reads (TextToImage.encodePrompts).
   */
  encodePrompts(prompts: readonly string[]): { context: tf.Tensor3D; mask: tf.Tensor2D } {
    return tf.tidy(() => {
      const { tokens, mask } = this.encodeText(this.tokenize(prompts));
      return { context: tokens, mask };
    });
  }

  /** ids [B, T] int32 -> per-token features, padding mask, joint embedding. */
  encodeText(ids: tf.Tensor2D): TextEncoding {
    const [b, t] = ids.shape;
    const d = this.config.textWidth;
    // one-hot @ table instead of tf.gather: its gradient is a plain matmul (gather's needs UnsortedSegmentSum).
    const onehot = tf.oneHot(ids.reshape([-1]), this.tokenizer.size).toFloat(); // [B*T, V]
    let x = tf.add(tf.matMul(onehot, this.tokenEmbedding).reshape([b, t, d]), this.positionEmbedding) as tf.Tensor3D;
    const mask = tf.notEqual(ids, PAD_ID).toFloat() as tf.Tensor2D;
    for (const block of this.blocks) x = block.apply(x, mask);
    const tokens = this.lnFinal.apply(x) as tf.Tensor3D;
    const atEos = tf.equal(ids, EOS_ID).toFloat().reshape([b, t, 1]);
    const pooled = tf.sum(tf.mul(tokens, atEos), 1); // [B, D]
    return { tokens, mask, embedding: this.textProjection.apply(pooled) as tf.Tensor2D };
  }

  /** images [B, 32, 32, 3] in [-1, 1] -> unnormalised joint embedding [B, embedDim]. */
  encodeImage(images: tf.Tensor4D): tf.Tensor2D {
    let x = images;
    for (const conv of this.convs) x = silu(conv.apply(x));
    const h = silu(this.imageFc.apply(x.reshape([x.shape[0], -1])));
    return this.imageProjection.apply(h) as tf.Tensor2D;
  }

  /**
   * Cosine-similarity logits scaled by 1/temperature: [B_img, B_txt].
   * This is the image-text score (CLIP score = logits / scale).
   */
  logits(images: tf.Tensor4D, ids: tf.Tensor2D): tf.Tensor2D {
    const img = l2normalize(this.encodeImage(images));
    const txt = l2normalize(this.encodeText(ids).embedding);
    return tf.mul(tf.matMul(img, txt, false, true), this.scale()) as tf.Tensor2D;
  }

  /** exp(logitScale), capped at 100 (CLIP's cap, temperature 0.01). */
  scale(): tf.Scalar {
    return tf.exp(tf.minimum(this.logitScale, Math.log(100))) as tf.Scalar;
  }

  dispose(): void {
    tf.dispose(Object.values(this.variables));
  }
}

/** x / ||x|| along the last axis: [B, E] -> [B, E]. */
export function l2normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.sqrt(tf.add(tf.sum(tf.square(x), -1, true), 1e-12))) as tf.Tensor2D;
}
