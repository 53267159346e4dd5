/**
 * The epsilon-prediction UNet eps_theta(x_t, t, c) for 32x32x3 images, after
 * Stable Diffusion's: ResBlocks with a timestep embedding, and transformer
 * blocks (self-attention, cross-attention to the prompt's per-token features
 * from the frozen MiniCLIP text encoder, MLP) at the low resolutions; with
 * `pooledText`, the prompt's mean token feature joins the timestep embedding too.
 *
 *   x [B,32,32,3] --patchify p--> [B,32/p,32/p,3p^2] --convIn--> c0
 *   down level i:  ResBlock(-> c_i) x resBlocks [+ transformer]  (skip kept) [+ stride-2 conv]
 *   bottleneck:    ResBlock, transformer, ResBlock
 *   up level i:    concat skip, ResBlock(-> c_i) x resBlocks [+ transformer] [+ nearest x2, conv -> c_{i-1}]
 *   GroupNorm, SiLU, convOut (zero-initialised) --unpatchify--> eps [B,32,32,3]
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../engine/random';
import { UnetConfig } from '../config';
import { addPerImage, Attention, Conv2d, GroupNorm, LayerNorm, Linear, MLP, ParamStore, silu } from '../layers';

/** Sinusoidal features of timesteps: t [B] -> [B, dim] (first half sin, second half cos). */
export function timestepFeatures(t: tf.Tensor1D, dim: number): tf.Tensor2D {
  const half = Math.floor(dim / 2);
  const freqs = tf.tensor1d(Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / half)));
  const args = tf.mul(t.reshape([-1, 1]), freqs.reshape([1, half])); // [B, half]
  const feats = tf.concat([tf.sin(args), tf.cos(args)], 1);
  return (dim % 2 === 1 ? tf.pad(feats, [[0, 0], [0, 1]]) : feats) as tf.Tensor2D;
}

/** The mean of the prompt's token features over its tokens (mask 1): [B, T, D], [B, T] -> [B, D]; 0 for a prompt of no tokens. */
export function pooledTokens(context: tf.Tensor3D, mask: tf.Tensor2D): tf.Tensor2D {
  const sum = tf.sum(tf.mul(context, tf.expandDims(mask, 2)), 1);
  return tf.div(sum, tf.maximum(tf.sum(mask, 1, true), 1)) as tf.Tensor2D;
}

/** [B, H, W, C] -> [B, H/p, W/p, p*p*C]: each p x p patch becomes one pixel's channels. */
export function spaceToDepth(x: tf.Tensor4D, p: number): tf.Tensor4D {
  if (p === 1) return x;
  const [b, h, w, c] = x.shape;
  return x.reshape([b * (h / p), p, w / p, p * c]).transpose([0, 2, 1, 3]).reshape([b, h / p, w / p, p * p * c]);
}

/** Inverse of spaceToDepth: [B, H, W, p*p*C] -> [B, H*p, W*p, C]. */
export function depthToSpace(x: tf.Tensor4D, p: number): tf.Tensor4D {
  if (p === 1) return x;
  const [b, h, w, cc] = x.shape;
  const c = cc / (p * p);
  return x.reshape([b * h, w, p, p * c]).transpose([0, 2, 1, 3]).reshape([b, h * p, w * p, c]);
}

/**
 * Nearest-neighbour x2 by broadcasting: [B,H,W,C] -> [B,2H,2W,C]. Its gradient, the sum of each 2x2
 * block of dy, is an average pool times 4 (exact: scaling by 4 loses no bits); the broadcast's own
 * gradient, a sum over axes 2 and 4 of [B,H,2,W,2,C], runs as a transpose plus a reduction on wasm,
 * ~20 ms per call at the default UNet's 16x16x96.
 */
export function upsample2(x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const f = tf.customGrad(((xx: tf.Tensor) => ({
    value: tf.mul(xx.reshape([b, h, 1, w, 1, c]), tf.ones([1, 1, 2, 1, 2, 1])).reshape([b, 2 * h, 2 * w, c]),
    gradFunc: (dy: tf.Tensor | tf.Tensor[]) => tf.mul(tf.avgPool(dy as tf.Tensor4D, 2, 2, 'valid'), 4),
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x) as tf.Tensor4D;
}

class ResBlock {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly time: Linear;
  readonly norm2: GroupNorm;
  readonly conv2: Conv2d;
  readonly skip?: Conv2d;

  constructor(ps: ParamStore, prefix: string, inC: number, outC: number, timeDim: number, groups: number) {
    this.norm1 = new GroupNorm(ps, `${prefix}/norm1`, inC, groups);
    this.conv1 = new Conv2d(ps, `${prefix}/conv1`, inC, outC);
    this.time = new Linear(ps, `${prefix}/time`, timeDim, outC);
    this.norm2 = new GroupNorm(ps, `${prefix}/norm2`, outC, groups);
    this.conv2 = new Conv2d(ps, `${prefix}/conv2`, outC, outC, { zero: true });
    if (inC !== outC) this.skip = new Conv2d(ps, `${prefix}/skip`, inC, outC, { kernel: 1 });
  }

  /** x [B,H,W,inC], temb [B,timeDim] -> [B,H,W,outC]. */
  apply(x: tf.Tensor4D, temb: tf.Tensor2D): tf.Tensor4D {
    let h = this.conv1.apply(this.norm1.applySilu(x));
    h = addPerImage(h, this.time.apply(silu(temb)) as tf.Tensor2D);
    h = this.conv2.apply(this.norm2.applySilu(h));
    return tf.add(this.skip ? this.skip.apply(x) : x, h);
  }
}

/** Pre-LN transformer over the H*W pixels of a feature map, with cross-attention to the prompt. */
class SpatialTransformer {
  readonly ln1: LayerNorm;
  readonly selfAttn: Attention;
  readonly ln2: LayerNorm;
  readonly crossAttn: Attention;
  readonly ln3: LayerNorm;
  readonly mlp: MLP;

  constructor(ps: ParamStore, prefix: string, channels: number, contextDim: number, heads: number) {
    this.ln1 = new LayerNorm(ps, `${prefix}/ln1`, channels);
    this.selfAttn = new Attention(ps, `${prefix}/self_attn`, channels, channels, heads);
    this.ln2 = new LayerNorm(ps, `${prefix}/ln2`, channels);
    this.crossAttn = new Attention(ps, `${prefix}/cross_attn`, channels, contextDim, heads);
    this.ln3 = new LayerNorm(ps, `${prefix}/ln3`, channels);
    this.mlp = new MLP(ps, `${prefix}/mlp`, channels);
  }

  /** x [B,H,W,C], context [B,T,Dc], mask [B,T] -> [B,H,W,C]. */
  apply(x: tf.Tensor4D, context: tf.Tensor3D, mask: tf.Tensor2D): tf.Tensor4D {
    const [b, h, w, c] = x.shape;
    let s = x.reshape([b, h * w, c]) as tf.Tensor3D;
    const n1 = this.ln1.apply(s) as tf.Tensor3D;
    s = tf.add(s, this.selfAttn.apply(n1, n1));
    s = tf.add(s, this.crossAttn.apply(this.ln2.apply(s) as tf.Tensor3D, context, mask));
    s = tf.add(s, this.mlp.apply(this.ln3.apply(s)));
    return s.reshape([b, h, w, c]);
  }
}

interface Level {
  /** config.resBlocks ResBlocks (the first changes the channels; on the way up it takes the skip too). */
  res: ResBlock[];
  attn?: SpatialTransformer;
}

/** The variable prefix of ResBlock j of a level: `<level>/res` for the first (as before resBlocks), `<level>/res<j>` after. */
function resName(level: string, j: number): string {
  return j === 0 ? `${level}/res` : `${level}/res${j}`;
}

export class Unet {
  readonly variables: Record<string, tf.Variable>;
  private readonly timeFc1: Linear;
  private readonly timeFc2: Linear;
  private readonly convIn: Conv2d;
  private readonly down: Level[] = [];
  private readonly downsample: Conv2d[] = [];
  private readonly mid1: ResBlock;
  private readonly midAttn: SpatialTransformer;
  private readonly mid2: ResBlock;
  private readonly up: Level[] = [];
  private readonly upsample: Conv2d[] = [];
  private readonly normOut: GroupNorm;
  private readonly convOut: Conv2d;
  private readonly textFc?: Linear;
  private readonly convSelf?: Conv2d;

  /**
   * @param contextDim width of the text encoder's per-token features.
   * @param seed initial weights (the same seed gives the same weights).
   */
  constructor(readonly config: UnetConfig, readonly contextDim: number, seed: number | string = 0) {
    const { channels: ch, groups, heads, timeEmbedDim: td, patchSize: p } = config;
    const ps = new ParamStore(new Rng(seed).fork('unet-init'));
    const name = (s: string) => `unet/${s}`;
    const attnAt = (i: number) => config.attentionLevels.includes(i);
    this.timeFc1 = new Linear(ps, name('time/fc1'), td, td);
    this.timeFc2 = new Linear(ps, name('time/fc2'), td, td);
    this.convIn = new Conv2d(ps, name('conv_in'), 3 * p * p, ch[0]);
    let c = ch[0];
    const blocks = (level: string, firstIn: number, out: number) =>
      Array.from({ length: config.resBlocks }, (_, j) => new ResBlock(ps, name(resName(level, j)), j === 0 ? firstIn : out, out, td, groups));
    ch.forEach((out, i) => {
      this.down.push({
        res: blocks(`down/${i}`, c, out),
        attn: attnAt(i) ? new SpatialTransformer(ps, name(`down/${i}/attn`), out, contextDim, heads) : undefined,
      });
      c = out;
      if (i < ch.length - 1) this.downsample.push(new Conv2d(ps, name(`down/${i}/downsample`), c, c, { stride: 2 }));
    });
    this.mid1 = new ResBlock(ps, name('mid/res1'), c, c, td, groups);
    this.midAttn = new SpatialTransformer(ps, name('mid/attn'), c, contextDim, heads);
    this.mid2 = new ResBlock(ps, name('mid/res2'), c, c, td, groups);
    for (let i = ch.length - 1; i >= 0; i--) {
      this.up[i] = {
        res: blocks(`up/${i}`, c + ch[i], ch[i]),
        attn: attnAt(i) ? new SpatialTransformer(ps, name(`up/${i}/attn`), ch[i], contextDim, heads) : undefined,
      };
      c = ch[i];
      if (i > 0) {
        this.upsample[i] = new Conv2d(ps, name(`up/${i}/upsample`), c, ch[i - 1]);
        c = ch[i - 1];
      }
    }
    this.normOut = new GroupNorm(ps, name('norm_out'), c, groups);
    this.convOut = new Conv2d(ps, name('conv_out'), c, 3 * p * p, { zero: true });
    // Made last, so that the other weights start as they do without it.
    if (config.pooledText) this.textFc = new Linear(ps, name('time/text_fc'), contextDim, td, { zero: true });
    if (config.selfCondition) this.convSelf = new Conv2d(ps, name('conv_in_self'), 3 * p * p, ch[0], { zero: true });
    this.variables = ps.variables;
  }

  /**
   * eps_theta(x_t, t, c).
   * @param xt noisy images [B, 32, 32, 3]
   * @param t timesteps [B] (float, 0 .. T-1)
   * @param context prompt token features [B, T, contextDim]; mask [B, T] (1 = token, 0 = padding)
   * @param selfCond with `selfCondition`, the previous estimate of x0 [B, 32, 32, 3] (absent: zeros, as at a first step)
   * @returns predicted noise [B, 32, 32, 3]
   */
  apply(xt: tf.Tensor4D, t: tf.Tensor1D, context: tf.Tensor3D, mask: tf.Tensor2D, selfCond?: tf.Tensor4D): tf.Tensor4D {
    let temb = this.timeFc2.apply(silu(this.timeFc1.apply(timestepFeatures(t, this.config.timeEmbedDim)))) as tf.Tensor2D;
    if (this.textFc) temb = tf.add(temb, this.textFc.apply(pooledTokens(context, mask))) as tf.Tensor2D;
    let h = this.convIn.apply(spaceToDepth(xt, this.config.patchSize));
    if (this.convSelf) h = tf.add(h, this.convSelf.apply(spaceToDepth(selfCond ?? tf.zerosLike(xt), this.config.patchSize)));
    const skips: tf.Tensor4D[] = [];
    this.down.forEach((level, i) => {
      for (const r of level.res) h = r.apply(h, temb);
      if (level.attn) h = level.attn.apply(h, context, mask);
      skips.push(h);
      if (i < this.down.length - 1) h = this.downsample[i].apply(h);
    });
    h = this.mid2.apply(this.midAttn.apply(this.mid1.apply(h, temb), context, mask), temb);
    for (let i = this.up.length - 1; i >= 0; i--) {
      h = this.up[i].res.reduce((x, r) => r.apply(x, temb), tf.concat([h, skips[i]], 3) as tf.Tensor4D);
      if (this.up[i].attn) h = this.up[i].attn!.apply(h, context, mask);
      if (i > 0) h = this.upsample[i].apply(upsample2(h));
    }
    const out = this.convOut.apply(this.normOut.applySilu(h));
    return depthToSpace(out, this.config.patchSize);
  }

  dispose(): void {
    tf.dispose(Object.values(this.variables));
  }
}
