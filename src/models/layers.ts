/**
 * The few layers the models are built from, written with plain tf ops and
 * `tf.variable` (no tf.layers), so every weight has a readable name in a
 * `Record<string, tf.Variable>` that checkpoints save as is.
 *
 * Each layer registers its weights in a `ParamStore` under `prefix/...` at
 * construction and is applied with `apply(...)`; shapes are in the comments.
 * Initial values come from a seeded `Rng`, so the same seed builds the same model.
 */
import * as tf from '@tensorflow/tfjs';
import { GROUP_NORM_GRAD_KERNEL, GROUP_NORM_KERNEL, GROUP_NORM_TRAIN_KERNEL } from '../engine/native';
import { Rng } from '../engine/random';

/** Named weights of one model, created from a seeded stream. */
export class ParamStore {
  readonly variables: Record<string, tf.Variable> = {};

  constructor(private readonly rng: Rng) {}

  /** A weight of `shape` named `name`: normal(0, std), or all zeros / ones. */
  add(name: string, shape: number[], init: number | 'zeros' | 'ones'): tf.Variable {
    if (name in this.variables) throw new Error(`duplicate parameter name ${name}`);
    const value = tf.tidy(() =>
      init === 'zeros' ? tf.zeros(shape) : init === 'ones' ? tf.ones(shape) : tf.randomNormal(shape, 0, init, 'float32', this.rng.tfSeed()),
    );
    // No tf name: tf variable names are global, and tests build several copies of a model.
    const v = tf.variable(value, true);
    value.dispose();
    this.variables[name] = v;
    return v;
  }
}

/** x * sigmoid(x), with its gradient dy * (s + y (1 - s)) for s = sigmoid(x), y = x s (4 passes instead of 6). */
export function silu<T extends tf.Tensor>(x: T): T {
  const f = tf.customGrad(((xx: tf.Tensor, save: tf.GradSaveFunc) => {
    const sg = tf.sigmoid(xx);
    const y = tf.mul(xx, sg);
    save([sg, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [ss, sy] = saved;
        return [tf.mul(dy as tf.Tensor, tf.add(ss, tf.mul(sy, tf.sub(1, ss))))];
      },
    };
  }) as unknown as GradFn);
  return f(x) as T;
}

/** What tf.customGrad takes (its typing does not accept named tensor parameters). */
type GradFn = Parameters<typeof tf.customGrad>[0];

/**
 * y + bias, bias [C] broadcast over y [..., C]. Same value as tf.add; its bias
 * gradient is one plain matmul (ones [1, N] x dy [N, C]) instead of a sum over
 * the leading axes, which wasm runs as a transpose plus a reduction.
 */
export function biasAdd<T extends tf.Tensor>(y: T, bias: tf.Tensor): T {
  const c = bias.shape[0];
  const n = y.size / c;
  const f = tf.customGrad(((yy: tf.Tensor, bb: tf.Tensor) => ({
    value: tf.add(yy, bb),
    gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
      const d = dy as tf.Tensor;
      return [d.clone(), tf.matMul(tf.ones([1, n]), d.reshape([n, c])).reshape([c])];
    },
  })) as unknown as GradFn);
  return f(y, bias) as T;
}

/**
 * x [B, H, W, C] + v [B, C] broadcast over H and W (same value as tf.add of v
 * reshaped to [B, 1, 1, C]); v's gradient is a batched matmul with ones.
 */
export function addPerImage(x: tf.Tensor4D, v: tf.Tensor2D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const f = tf.customGrad(((xx: tf.Tensor, vv: tf.Tensor) => ({
    value: tf.add(xx, vv.reshape([b, 1, 1, c])),
    gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
      const d = dy as tf.Tensor;
      return [d.clone(), tf.matMul(tf.ones([b, 1, h * w]), d.reshape([b, h * w, c])).reshape([b, c])];
    },
  })) as unknown as GradFn);
  return f(x, v) as tf.Tensor4D;
}

/** y = x W + b over the last axis: [..., inDim] -> [..., outDim]. */
export class Linear {
  readonly w: tf.Variable;
  readonly b?: tf.Variable;

  constructor(ps: ParamStore, prefix: string, readonly inDim: number, readonly outDim: number, opts: { bias?: boolean; zero?: boolean } = {}) {
    this.w = ps.add(`${prefix}/w`, [inDim, outDim], opts.zero ? 'zeros' : 1 / Math.sqrt(inDim));
    if (opts.bias ?? true) this.b = ps.add(`${prefix}/b`, [outDim], 'zeros');
  }

  apply(x: tf.Tensor): tf.Tensor {
    const lead = x.shape.slice(0, -1);
    // A plain 2-D matmul without transpose flags: the fast path on wasm.
    let y: tf.Tensor = tf.matMul(x.reshape([-1, this.inDim]), this.w);
    if (this.b) y = biasAdd(y, this.b);
    return y.reshape([...lead, this.outDim]);
  }
}

/** LayerNorm over the last axis: [..., D] -> [..., D]. */
export class LayerNorm {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;

  constructor(ps: ParamStore, prefix: string, dim: number, readonly eps = 1e-5) {
    this.gamma = ps.add(`${prefix}/gamma`, [dim], 'ones');
    this.beta = ps.add(`${prefix}/beta`, [dim], 'zeros');
  }

  /**
   * (x - mean) / sqrt(var + eps) * gamma + beta over the last axis, with a hand-written gradient
   * whose sums are matmuls with ones (autodiff's reduces broadcast axes with wasm's slow Sum):
   *   dxhat = dy gamma,  dx = (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) / std,
   *   dgamma = sum_rows(dy xhat),  dbeta = sum_rows(dy).
   */
  apply(x: tf.Tensor): tf.Tensor {
    const d = x.shape[x.shape.length - 1];
    const n = x.size / d;
    const eps = this.eps;
    const f = tf.customGrad(((xx: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, save: tf.GradSaveFunc) => {
      const { mean, variance } = tf.moments(xx, -1, true);
      const std = tf.sqrt(tf.add(variance, eps));
      const xhat = tf.div(tf.sub(xx, mean), std);
      save([xhat, std]);
      return {
        value: tf.add(tf.mul(xhat, gamma), beta),
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
          const [sxhat, sstd] = saved;
          const dy2 = (dy as tf.Tensor).reshape([n, d]);
          const xhat2 = sxhat.reshape([n, d]);
          const onesRows = tf.ones([1, n]);
          const rowMean = (t: tf.Tensor) => tf.div(tf.matMul(t, tf.ones([d, 1])), d); // [n, 1]
          const dxhat = tf.mul(dy2, gamma);
          const dx = tf.div(tf.sub(tf.sub(dxhat, rowMean(dxhat)), tf.mul(xhat2, rowMean(tf.mul(dxhat, xhat2)))), sstd.reshape([n, 1]));
          return [dx.reshape(x.shape), tf.matMul(onesRows, tf.mul(dy2, xhat2)).reshape([d]), tf.matMul(onesRows, dy2).reshape([d])];
        },
      };
    }) as unknown as GradFn);
    return f(x, this.gamma, this.beta);
  }
}

/** True when the kit's native GroupNorm kernels can run: the wasm backend with the addon's kernels. */
export function nativeGroupNorm(): boolean {
  return tf.getBackend() === 'wasm' && tf.getKernel(GROUP_NORM_KERNEL, 'wasm') !== undefined;
}

/**
 * GroupNorm of x [B, H, W, C] with gamma, beta [C] over `groups` groups of
 * C / groups channels, then SiLU when `withSilu`:
 *
 *   y = (x - mean) / sqrt(var + eps) * gamma + beta   (mean, var per image and group)
 *
 * On the native path (`nativeGroupNorm()`) one kernel does it in three passes
 * over each image, sums in double in a fixed order, one image per thread; with
 * a gradient being recorded it also returns each image and group's mean and
 * 1/std, and its gradient is one more kernel (dgamma, dbeta: per-image
 * partials added in image order). The same bits on any thread count; within
 * float32 rounding of the composed ops, which run elsewhere: the group sums as
 * matmuls with ones (no transposes), and a hand-written gradient.
 */
export function groupNorm(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, groups: number, eps: number, withSilu: boolean): tf.Tensor4D {
  if (nativeGroupNorm()) {
    const attrs = { groups, eps, silu: withSilu ? 1 : 0 } as unknown as tf.NamedAttrMap;
    if (tf.engine().state.gradientDepth === 0) return tf.engine().runKernel(GROUP_NORM_KERNEL, { x, gamma, beta }, attrs) as tf.Tensor4D;
    const f = tf.customGrad(((xx: tf.Tensor, g: tf.Tensor, bt: tf.Tensor, save: tf.GradSaveFunc) => {
      const [y, stats] = tf.engine().runKernel(GROUP_NORM_TRAIN_KERNEL, { x: xx, gamma: g, beta: bt }, attrs) as tf.Tensor[];
      save([xx, stats, g, bt]); // the gradient may use only saved tensors: the forward's others are gone by then
      return {
        value: y,
        gradFunc: (dz: tf.Tensor | tf.Tensor[], [sx, sstats, sg, sb]: tf.Tensor[]) =>
          tf.engine().runKernel(GROUP_NORM_GRAD_KERNEL, { dz: dz as tf.Tensor, x: sx, gamma: sg, beta: sb, stats: sstats }, attrs) as tf.Tensor[],
      };
    }) as unknown as GradFn);
    return f(x, gamma, beta) as tf.Tensor4D;
  }
  const y = composedGroupNorm(x, gamma, beta, groups, eps);
  return withSilu ? silu(y) : y;
}

/** GroupNorm from tf ops: (x - mean) * (gamma * rsqrt(var + eps)) + beta, with a hand-written gradient. */
function composedGroupNorm(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, groups: number, eps: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const G = groups;
  const cg = c / G;
  const hw = h * w;
  const n = hw * cg;
  // Mean over (H, W, channels of the group) per image and group: t [B, HW, G, C/G] -> [B, 1, G, 1].
  const groupMean = (t: tf.Tensor, ones: tf.Tensor) =>
    tf.div(tf.sum(tf.matMul(ones, t.reshape([b, hw, c])).reshape([b, G, cg]), 2), n).reshape([b, 1, G, 1]);
  const f = tf.customGrad(((xx: tf.Tensor, gm: tf.Tensor, bt: tf.Tensor, save: tf.GradSaveFunc) => {
    const ones = tf.ones([b, 1, hw]);
    const x4 = xx.reshape([b, hw, G, cg]);
    const xc = tf.sub(x4, groupMean(x4, ones));
    const rstd = tf.rsqrt(tf.add(groupMean(tf.square(xc), ones), eps)); // [B, 1, G, 1]
    const y = tf.add(tf.mul(xc, tf.mul(rstd, gm.reshape([1, 1, G, cg]))), bt.reshape([1, 1, G, cg]));
    save([xc, rstd, gm]);
    return {
      value: y.reshape([b, h, w, c]),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [sxc, srstd, sgm] = saved;
        const ones1 = tf.ones([b, 1, hw]);
        const onesAll = tf.ones([1, b * hw]);
        const colSum = (t: tf.Tensor) => tf.matMul(onesAll, t.reshape([b * hw, c])).reshape([c]);
        const dy4 = (dy as tf.Tensor).reshape([b, hw, G, cg]);
        const xhat = tf.mul(sxc, srstd);
        const dbeta = colSum(dy4);
        const dgamma = colSum(tf.mul(dy4, xhat));
        const dxhat = tf.mul(dy4, sgm.reshape([1, 1, G, cg]));
        const m1 = groupMean(dxhat, ones1);
        const m2 = groupMean(tf.mul(dxhat, xhat), ones1);
        const dx = tf.mul(tf.sub(tf.sub(dxhat, m1), tf.mul(xhat, m2)), srstd).reshape([b, h, w, c]);
        return [dx, dgamma, dbeta];
      },
    };
  }) as unknown as GradFn);
  return f(x, gamma, beta) as tf.Tensor4D;
}

/** GroupNorm over [B, H, W, C] with `groups` groups of C / groups channels (see `groupNorm`). */
export class GroupNorm {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;

  constructor(ps: ParamStore, prefix: string, readonly channels: number, readonly groups: number, readonly eps = 1e-5) {
    if (channels % groups !== 0) throw new Error(`${prefix}: ${channels} channels do not split into ${groups} groups`);
    this.gamma = ps.add(`${prefix}/gamma`, [channels], 'ones');
    this.beta = ps.add(`${prefix}/beta`, [channels], 'zeros');
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return groupNorm(x, this.gamma, this.beta, this.groups, this.eps, false);
  }

  /** silu(apply(x)), in one native pass where it can. */
  applySilu(x: tf.Tensor4D): tf.Tensor4D {
    return groupNorm(x, this.gamma, this.beta, this.groups, this.eps, true);
  }
}

/** 'same'-padded 2-D convolution, NHWC: [B, H, W, inC] -> [B, H/stride, W/stride, outC]. */
export class Conv2d {
  readonly w: tf.Variable;
  readonly b: tf.Variable;

  constructor(
    ps: ParamStore, prefix: string, inC: number, readonly outC: number,
    readonly opts: { kernel?: number; stride?: number; zero?: boolean } = {},
  ) {
    const k = opts.kernel ?? 3;
    this.w = ps.add(`${prefix}/w`, [k, k, inC, outC], opts.zero ? 'zeros' : 1 / Math.sqrt(k * k * inC));
    this.b = ps.add(`${prefix}/b`, [outC], 'zeros');
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    const s = this.opts.stride ?? 1;
    const [b, h, w, c] = x.shape;
    const filterShape = this.w.shape as [number, number, number, number];
    // Forward: one FusedConv2D with the bias (no separate add pass). Gradient: the
    // kernels tf.conv2d's own gradient runs, and the bias gradient as a matmul with ones.
    const f = tf.customGrad(((xx: tf.Tensor4D, ww: tf.Tensor4D, bb: tf.Tensor1D, save: tf.GradSaveFunc) => {
      save([xx, ww]);
      return {
        value: tf.fused.conv2d({ x: xx, filter: ww, strides: s, pad: 'same', bias: bb }),
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
          const d = dy as tf.Tensor4D;
          const [sx, sw] = saved as [tf.Tensor4D, tf.Tensor4D];
          const n = d.size / this.outC;
          const dx = tf.conv2dTranspose(d, sw, [b, h, w, c], s, 'same');
          const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x: sx, dy: d }, { strides: s, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
          const db = tf.matMul(tf.ones([1, n]), d.reshape([n, this.outC])).reshape([this.outC]);
          return [dx, dw, db];
        },
      };
    }) as unknown as GradFn);
    return f(x, this.w, this.b) as tf.Tensor4D;
  }
}

/**
 * Multi-head attention: queries from `x` [B, N, D], keys and values from
 * `context` [B, T, Dc] (= x for self-attention). `keyMask` [B, T] is 1 for
 * tokens to attend to and 0 for padding. Returns [B, N, D].
 */
export class Attention {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly out: Linear;

  constructor(ps: ParamStore, prefix: string, readonly dim: number, contextDim: number, readonly heads: number) {
    if (dim % heads !== 0) throw new Error(`${prefix}: width ${dim} does not split into ${heads} heads`);
    this.q = new Linear(ps, `${prefix}/q`, dim, dim, { bias: false });
    this.k = new Linear(ps, `${prefix}/k`, contextDim, dim, { bias: false });
    this.v = new Linear(ps, `${prefix}/v`, contextDim, dim, { bias: false });
    // Zero-initialised output: each residual attention branch starts as the identity.
    this.out = new Linear(ps, `${prefix}/out`, dim, dim, { zero: true });
  }

  apply(x: tf.Tensor3D, context: tf.Tensor3D = x, keyMask?: tf.Tensor2D): tf.Tensor3D {
    const [b, n] = x.shape;
    const t = context.shape[1];
    const hs = this.dim / this.heads;
    const split = (y: tf.Tensor, len: number) => y.reshape([b, len, this.heads, hs]).transpose([0, 2, 1, 3]); // [B, nh, len, hs]
    const q = split(this.q.apply(x), n);
    const k = split(this.k.apply(context), t);
    const v = split(this.v.apply(context), t);
    let scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hs)); // [B, nh, N, T]
    if (keyMask) scores = tf.add(scores, tf.mul(tf.sub(1, keyMask), -1e9).reshape([b, 1, 1, t]));
    const y = tf.matMul(tf.softmax(scores), v); // [B, nh, N, hs]
    return this.out.apply(y.transpose([0, 2, 1, 3]).reshape([b, n, this.dim])) as tf.Tensor3D;
  }
}

/** Position-wise MLP with a SiLU: [..., D] -> [..., D] (hidden width mult * D, zero-initialised output). */
export class MLP {
  readonly fc: Linear;
  readonly proj: Linear;

  constructor(ps: ParamStore, prefix: string, dim: number, mult = 4) {
    this.fc = new Linear(ps, `${prefix}/fc`, dim, mult * dim);
    this.proj = new Linear(ps, `${prefix}/proj`, mult * dim, dim, { zero: true });
  }

  apply(x: tf.Tensor): tf.Tensor {
    return this.proj.apply(silu(this.fc.apply(x)));
  }
}

/** Names and shapes of a model's variables (what a checkpoint must hold). */
export function variableShapes(variables: Record<string, tf.Variable>): Record<string, number[]> {
  return Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, v.shape]));
}

/** Total number of weights. */
export function countParams(variables: Record<string, tf.Variable>): number {
  return Object.values(variables).reduce((n, v) => n + v.size, 0);
}
