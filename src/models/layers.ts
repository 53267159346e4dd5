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

/** x * sigmoid(x). */
export function silu<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.sigmoid(x));
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
    if (this.b) y = tf.add(y, this.b);
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

  apply(x: tf.Tensor): tf.Tensor {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, this.eps))), this.gamma), this.beta);
  }
}

/** GroupNorm over [B, H, W, C] with `groups` groups of C / groups channels. */
export class GroupNorm {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;

  constructor(ps: ParamStore, prefix: string, readonly channels: number, readonly groups: number, readonly eps = 1e-5) {
    if (channels % groups !== 0) throw new Error(`${prefix}: ${channels} channels do not split into ${groups} groups`);
    this.gamma = ps.add(`${prefix}/gamma`, [channels], 'ones');
    this.beta = ps.add(`${prefix}/beta`, [channels], 'zeros');
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    const [b, h, w, c] = x.shape;
    const g = x.reshape([b, h, w, this.groups, c / this.groups]); // [B, H, W, G, C/G]
    const { mean, variance } = tf.moments(g, [1, 2, 4], true);
    const normed = tf.div(tf.sub(g, mean), tf.sqrt(tf.add(variance, this.eps))).reshape([b, h, w, c]);
    return tf.add(tf.mul(normed, this.gamma), this.beta) as tf.Tensor4D;
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
    return tf.add(tf.conv2d(x, this.w as tf.Tensor4D, s, 'same'), this.b) as tf.Tensor4D;
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
