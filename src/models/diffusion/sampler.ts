/**
 * Sampling: implements Algorithm 2 in its DDIM form (Song et al. 2021), with
 * classifier-free guidance (Ho & Salimans 2022).
 *
 *   eps_hat = eps_theta(x_t, t, null) + s * (eps_theta(x_t, t, c) - eps_theta(x_t, t, null))
 *   x0_hat  = (x_t - sqrt(1 - alpha_bar_t) eps_hat) / sqrt(alpha_bar_t)      [clipped to [-1, 1]]
 * (both guided alike: they are linear in the UNet's output; a v-prediction UNet gives x0_hat
 * directly as sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) v_hat, with no division by
 * sqrt(alpha_bar_t) ~ 0 at t ~ T, see TextToImage.denoise)
 *   sigma_t = eta * sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)) * sqrt(1 - alpha_bar_t / alpha_bar_prev)
 *   x_prev  = sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev - sigma_t^2) eps_hat + sigma_t z
 *
 * over S timesteps spaced evenly (see ddimTimesteps), with alpha_bar_prev = 1
 * after the last. With a guidance interval [lo, hi], steps with t outside it
 * take the conditional model's estimates alone (s = 1).
 * Image i's noise (x_T and every z) comes from its own seed, so an image
 * depends on its prompt and seed only, not on the rest of the batch (up to
 * float rounding: kernels may sum in another order for another batch size).
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../engine/random';
import type { ImageLike } from '../../world/image';
import { SamplerConfig } from '../config';
import { Conditioning, NULL_PROMPT, TextToImage } from './model';

/** What the sampler needs of a model (TextToImage has it; tests pass an oracle). */
export type Denoiser = Pick<TextToImage, 'schedule' | 'denoise' | 'encodePrompts'> & Partial<Pick<TextToImage, 'selfConditioned'>>;

/**
 * The S DDIM timesteps, descending.
 *   trailing: T-1, T-1-T/S, ..., T/S-1 (starts where training's noise is pure).
 *   leading:  1 + (S-1)k, ..., 1 + k, 1 with k = floor(T/S) (Stable Diffusion's default, steps_offset 1, diffusers'
 *             stride): skips the last k - 1 steps, where alpha_bar ~ 0 makes x0 = (x_t - sqrt(1 - alpha_bar) eps) /
 *             sqrt(alpha_bar) amplify any error of eps_theta by 1 / sqrt(alpha_bar) (~2e4 at t = T-1 for the cosine
 *             schedule). Where S does not divide T it starts well below T-1 from pure noise (S = 600 of T = 1000:
 *             at t = 600, alpha_bar 0.34): use trailing there. With S = T the first step is clamped to T-1, which
 *             is then visited twice (the second visit changes nothing).
 */
export function ddimTimesteps(timesteps: number, steps: number, spacing: SamplerConfig['spacing'] = 'leading'): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > timesteps) {
    throw new Error(`DDIM steps must be an integer in 1..${timesteps}, got ${steps}`);
  }
  const stride = Math.floor(timesteps / steps);
  if (spacing === 'leading') return Array.from({ length: steps }, (_, i) => Math.min(timesteps - 1, (steps - 1 - i) * stride + 1));
  return Array.from({ length: steps }, (_, i) => Math.round(timesteps - (i * timesteps) / steps) - 1);
}

/**
 * Classifier-free guided estimates of x0 and eps, one UNet call on the batch
 * [cond; uncond] of size 2B: for each, uncond + scale * (cond - uncond).
 * @param xt [B,32,32,3]; t [B]; cond and uncond conditionings of batch B.
 * @param selfCond a self-conditioned model's previous x0 estimates [B,32,32,3], each half its own
 *   (as in training, where a dropped prompt's estimate comes from the pass without the prompt).
 * @returns { x0, eps }, each [B,32,32,3]; with selfCond also `own`, each half's x0 clipped to [-1, 1], for the next step.
 */
export function guidedDenoise(
  model: Denoiser, xt: tf.Tensor4D, t: tf.Tensor1D, cond: Conditioning, uncond: Conditioning, scale: number, selfCond?: SelfCondEstimates,
): { x0: tf.Tensor4D; eps: tf.Tensor4D; own?: SelfCondEstimates } {
  return tf.tidy(() => {
    const b = xt.shape[0];
    const both: Conditioning = {
      context: tf.concat([cond.context, uncond.context], 0),
      mask: tf.concat([cond.mask, uncond.mask], 0),
    };
    const out = model.denoise(tf.concat([xt, xt], 0), tf.concat([t, t], 0), both, selfCond ? tf.concat([selfCond.cond, selfCond.uncond], 0) : undefined);
    const guide = (y: tf.Tensor4D) => {
      const [c, u] = tf.split(y, [b, b], 0);
      return tf.add(u, tf.mul(scale, tf.sub(c, u))) as tf.Tensor4D;
    };
    if (!selfCond) return { x0: guide(out.x0), eps: guide(out.eps) };
    const [c, u] = tf.split(tf.clipByValue(out.x0, -1, 1), [b, b], 0) as tf.Tensor4D[];
    return { x0: guide(out.x0), eps: guide(out.eps), own: { cond: c, uncond: u } };
  });
}

/** A self-conditioned model's previous x0 estimates during guided sampling: the conditional pass's and the unconditional (or negative) pass's. */
export interface SelfCondEstimates {
  cond: tf.Tensor4D;
  uncond: tf.Tensor4D;
}

/** Classifier-free guided noise prediction: eps_uncond + scale * (eps_cond - eps_uncond), [B,32,32,3]. */
export function guidedEps(model: Denoiser, xt: tf.Tensor4D, t: tf.Tensor1D, cond: Conditioning, uncond: Conditioning, scale: number): tf.Tensor4D {
  const { x0, eps } = guidedDenoise(model, xt, t, cond, uncond, scale);
  x0.dispose();
  return eps;
}

export interface SampleOptions extends SamplerConfig {
  /** One seed per prompt, or one base seed: image i then uses `${seed}/${i}`. */
  seed: number | string | ReadonlyArray<number | string>;
  /** The guidance scale at the steps outside `guidanceInterval` (default 1: the conditional model alone, one UNet pass). */
  guidanceOutside?: number;
  /**
   * Start from these images instead of pure noise (SDEdit, Meng et al. 2022): noise them to the
   * timestep of sampling step `fromStep` (0 = the first, pure noise at t = T-1 with 'trailing')
   * with each image's own seeded noise, then run the remaining steps. Images [B,32,32,3] in [-1, 1].
   */
  init?: { images: tf.Tensor4D; fromStep: number };
  /**
   * Negative prompts, one per prompt: guidance then steers away from each instead of
   * from the empty prompt, uncond + scale * (cond - uncond) with uncond the negative's
   * prediction (as Stable Diffusion's negative prompt). Absent: the empty prompt.
   */
  negativePrompts?: readonly string[];
}

function checkNegatives(opts: Pick<SampleOptions, 'negativePrompts'>, n: number): void {
  if (opts.negativePrompts && opts.negativePrompts.length !== n) throw new Error(`got ${opts.negativePrompts.length} negative prompts for ${n} prompts; give one per prompt`);
}

function perImageRngs(seed: SampleOptions['seed'], n: number): Rng[] {
  if (Array.isArray(seed)) {
    if (seed.length !== n) throw new Error(`got ${seed.length} seeds for ${n} prompts; give one per prompt or a single seed`);
    return seed.map((s) => new Rng(s).fork('sample'));
  }
  return Array.from({ length: n }, (_, i) => new Rng(`${seed}/${i}`).fork('sample'));
}

function noiseFor(rngs: Rng[]): tf.Tensor4D {
  return tf.tidy(() => tf.concat(rngs.map((r) => tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', r.tfSeed())), 0) as tf.Tensor4D);
}

/**
 * Sample images for prompts.
 * @returns x_0 [B, 32, 32, 3] in [-1, 1] (the caller disposes it).
 */
export function ddimSample(model: Denoiser, prompts: readonly string[], opts: SampleOptions): tf.Tensor4D {
  const steps = ddimSteps(model, prompts, opts);
  for (;;) {
    const s = steps.next();
    if (s.done) return s.value;
  }
}

/**
 * ddimSample, letting the event loop turn after each denoising step (awaits of settled promises do not): a
 * queue worker renews its job's lock while it samples, and a pool worker whose sweep was killed hears its
 * channel close. The same images as ddimSample.
 */
export async function ddimSampleYielding(model: Denoiser, prompts: readonly string[], opts: SampleOptions): Promise<tf.Tensor4D> {
  const steps = ddimSteps(model, prompts, opts);
  for (;;) {
    const s = steps.next();
    if (s.done) return s.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** The DDIM loop of ddimSample, one denoising step per `next()`; returns x_0. */
function* ddimSteps(model: Denoiser, prompts: readonly string[], opts: SampleOptions): Generator<void, tf.Tensor4D> {
  if (prompts.length === 0) throw new Error('ddimSample: no prompts');
  const { alphasCumprod } = model.schedule;
  const ts = ddimTimesteps(model.schedule.timesteps, opts.steps, opts.spacing);
  const rngs = perImageRngs(opts.seed, prompts.length);
  const from = opts.init?.fromStep ?? 0;
  if (opts.init && !(Number.isInteger(from) && from >= 0 && from < ts.length)) throw new Error(`init.fromStep must be a step in 0..${ts.length - 1}, got ${from}`);
  if (opts.init && opts.init.images.shape[0] !== prompts.length) throw new Error(`init: got ${opts.init.images.shape[0]} images for ${prompts.length} prompts`);
  checkNegatives(opts, prompts.length);
  const cond = model.encodePrompts(prompts);
  const uncond = model.encodePrompts(opts.negativePrompts ?? prompts.map(() => NULL_PROMPT));
  const [lo, hi] = opts.guidanceInterval ?? [0, Infinity];
  // The scale of each step, or null for the conditional model alone.
  const scaleAt = (t: number) => (t >= lo && t <= hi ? opts.guidanceScale : opts.guidanceOutside !== undefined && opts.guidanceOutside !== 1 ? opts.guidanceOutside : null);
  let x = noiseFor(rngs);
  if (opts.init) {
    const ab = alphasCumprod[ts[from]];
    const noise = x;
    x = tf.tidy(() => tf.add(tf.mul(Math.sqrt(ab), opts.init!.images), tf.mul(Math.sqrt(1 - ab), noise)) as tf.Tensor4D);
    noise.dispose();
  }
  // A self-conditioned model's passes each get their own previous x0, clipped; zeros at the first step.
  let prevX0: SelfCondEstimates | null = model.selfConditioned ? { cond: tf.zerosLike(x), uncond: tf.zerosLike(x) } : null;
  for (const [i, t] of ts.entries()) {
    if (i < from) continue;
    const abT = alphasCumprod[t];
    const abPrev = i + 1 < ts.length ? alphasCumprod[ts[i + 1]] : 1;
    const sigma = opts.eta * Math.sqrt((1 - abPrev) / (1 - abT)) * Math.sqrt(1 - abT / abPrev);
    const [next, ownCond, ownUncond] = tf.tidy(() => {
      const tt = tf.fill([prompts.length], t) as tf.Tensor1D;
      const scale = scaleAt(t);
      const sc = prevX0 ?? undefined;
      let x0: tf.Tensor4D, eps: tf.Tensor4D, own: SelfCondEstimates | undefined;
      if (scale !== null) ({ x0, eps, own } = guidedDenoise(model, x, tt, cond, uncond, scale, sc));
      else {
        ({ x0, eps } = model.denoise(x, tt, cond, sc?.cond));
        // The unconditional pass did not run: it keeps its last estimate.
        if (sc) own = { cond: tf.clipByValue(x0, -1, 1), uncond: tf.clone(sc.uncond) };
      }
      if (opts.clipSample) {
        x0 = tf.clipByValue(x0, -1, 1);
        eps = tf.div(tf.sub(x, tf.mul(Math.sqrt(abT), x0)), Math.sqrt(1 - abT)) as tf.Tensor4D;
      }
      let prev = tf.add(tf.mul(Math.sqrt(abPrev), x0), tf.mul(Math.sqrt(Math.max(0, 1 - abPrev - sigma * sigma)), eps));
      if (sigma > 0) prev = tf.add(prev, tf.mul(sigma, noiseFor(rngs)));
      return own ? [prev as tf.Tensor4D, own.cond, own.uncond] : [prev as tf.Tensor4D];
    });
    x.dispose();
    x = next;
    if (prevX0) {
      tf.dispose([prevX0.cond, prevX0.uncond]);
      prevX0 = { cond: ownCond!, uncond: ownUncond! };
    }
    yield;
  }
  tf.dispose([cond.context, cond.mask, uncond.context, uncond.mask]);
  if (prevX0) tf.dispose([prevX0.cond, prevX0.uncond]);
  return x;
}

/** [B,32,32,3] in [-1, 1] -> RGB images (bytes, rounded, clipped). */
export async function toImages(x: tf.Tensor4D): Promise<ImageLike[]> {
  const [b, h, w] = x.shape;
  const bytes = tf.tidy(() => tf.clipByValue(tf.round(tf.mul(tf.add(x, 1), 127.5)), 0, 255).toInt());
  const data = Uint8Array.from(await bytes.data());
  bytes.dispose();
  const n = h * w * 3;
  return Array.from({ length: b }, (_, i) => ({ width: w, height: h, data: data.slice(i * n, (i + 1) * n) }));
}

/**
 * Generate images for prompts: DDIM with classifier-free guidance, in
 * batches of `batchSize`. The same prompts and seed give the same images.
 * A seed fixes an image's noise, not the other images in its batch: batched
 * differently, the same (prompt, seed) can come out a level of 255 apart in a
 * few channel values (measured in the README, "Base models").
 */
export async function generateImages(
  model: Denoiser,
  prompts: readonly string[],
  opts: SampleOptions & { batchSize?: number; onBatch?: (done: number) => void },
): Promise<ImageLike[]> {
  const rngSeeds: Array<number | string> = Array.isArray(opts.seed)
    ? [...(opts.seed as Array<number | string>)]
    : prompts.map((_, i) => `${opts.seed}/${i}`);
  if (rngSeeds.length !== prompts.length) throw new Error(`got ${rngSeeds.length} seeds for ${prompts.length} prompts`);
  checkNegatives(opts, prompts.length);
  const bs = opts.batchSize ?? 32;
  const out: ImageLike[] = [];
  for (let i = 0; i < prompts.length; i += bs) {
    const negativePrompts = opts.negativePrompts?.slice(i, i + bs);
    const x = await ddimSampleYielding(model, prompts.slice(i, i + bs), { ...opts, seed: rngSeeds.slice(i, i + bs), ...(negativePrompts ? { negativePrompts } : {}) });
    out.push(...(await toImages(x)));
    x.dispose();
    opts.onBatch?.(Math.min(prompts.length, i + bs));
  }
  return out;
}
