/**
 * The denoising loss: implements Algorithm 1 (training) of DDPM (Ho et al. 2020).
 *
 *   x_0 ~ data, t ~ Uniform{0..T-1}, eps ~ N(0, I)
 *   x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps
 *   L(theta) = || eps - eps_theta(x_t, t, c) ||^2
 *
 * It returns one loss per example, so that reward-weighted fine-tuning
 * (Lee et al. 2023, stage 3) can weight each by r_phi(x, z):
 *   L = E[ r(x, z) * || eps - eps_theta(x_t, t, z) ||^2 ] + beta * E_pre[ ... ].
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../engine/random';
import { DiffusionTrainConfig, LossWeighting } from '../config';
import { Conditioning, TextToImage } from './model';
import { NoiseSchedule } from './schedule';

/** The random draws of one loss evaluation, made from a seeded stream. */
export interface NoiseDraw {
  /** Timesteps, one per example, in 0..T-1. */
  t: Int32Array;
  /** Seed of eps ~ N(0, I) (tf.randomNormal). */
  noiseSeed: number;
  /** Input perturbation (DiffusionTrainConfig.inputPerturbation): x_t is made with eps + gamma xi, xi from `seed`. */
  perturb?: { gamma: number; seed: number };
}

/**
 * How timesteps and noise are drawn (DiffusionTrainConfig's timestepSampling, logitMean, logitStd,
 * inputPerturbation); absent: uniform timesteps, no perturbation.
 */
export type TimestepDraw = Pick<DiffusionTrainConfig, 'timestepSampling' | 'logitMean' | 'logitStd' | 'inputPerturbation'>;

/**
 * Draw a timestep per example and a noise seed from `rng`: t ~ Uniform{0..T-1}, or with
 * 'logit-normal' t = min(T-1, floor(T sigmoid(u))), u ~ N(logitMean, logitStd^2); then, only
 * with an input perturbation, the perturbation's seed (so draws without one are as before).
 */
export function drawNoise(rng: Rng, batchSize: number, timesteps: number, sampling?: TimestepDraw): NoiseDraw {
  const t = new Int32Array(batchSize);
  for (let i = 0; i < batchSize; i++) {
    if (sampling?.timestepSampling === 'logit-normal') {
      const u = rng.normal(sampling.logitMean ?? 0, sampling.logitStd ?? 1);
      t[i] = Math.min(timesteps - 1, Math.floor(timesteps / (1 + Math.exp(-u))));
    } else t[i] = rng.int(0, timesteps - 1);
  }
  const noiseSeed = rng.tfSeed();
  const gamma = sampling?.inputPerturbation ?? 0;
  return gamma > 0 ? { t, noiseSeed, perturb: { gamma, seed: rng.tfSeed() } } : { t, noiseSeed };
}

/** x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, for x0, eps [B,H,W,C] and t [B]. */
export function qSample(schedule: NoiseSchedule, x0: tf.Tensor4D, eps: tf.Tensor4D, t: Int32Array): tf.Tensor4D {
  return tf.tidy(() => {
    const b = t.length;
    const a = tf.tensor4d(Array.from(t, (ti) => schedule.sqrtAlphasCumprod[ti]), [b, 1, 1, 1]);
    const s = tf.tensor4d(Array.from(t, (ti) => schedule.sqrtOneMinusAlphasCumprod[ti]), [b, 1, 1, 1]);
    return tf.add(tf.mul(a, x0), tf.mul(s, eps)) as tf.Tensor4D;
  });
}

/**
 * The per-timestep weight w_t of the denoising loss (config.lossWeighting).
 * With SNR_t = alpha_bar_t / (1 - alpha_bar_t), the plain losses are, in terms of the x0 error,
 *   || eps - eps_theta ||^2 = SNR_t || x0 - x0_theta ||^2,   || v - v_theta ||^2 = (SNR_t + 1) || x0 - x0_theta ||^2.
 * 'min-snr' (Hang et al. 2023) trains on min(SNR_t, gamma) || x0 - x0_theta ||^2, so
 *   w_t = min(SNR_t, gamma) / SNR_t (eps),   w_t = min(SNR_t, gamma) / (SNR_t + 1) (v);   'none': w_t = 1.
 */
export function timestepWeights(
  model: Pick<TextToImage, 'schedule' | 'config'>, t: Int32Array, lossWeighting: LossWeighting = model.config.lossWeighting,
): Float32Array {
  const { snrGamma, prediction } = model.config;
  return Float32Array.from(t, (ti) => {
    if (lossWeighting === 'none') return 1;
    const ab = model.schedule.alphasCumprod[ti];
    const snr = ab / Math.max(1 - ab, 1e-12);
    return Math.min(snr, snrGamma) / (prediction === 'v' ? snr + 1 : Math.max(snr, 1e-12));
  });
}

/**
 * Per-example denoising loss, mean over pixels and channels, times the timestep's weight w_t
 * (`timestepWeights`; 1 unless `lossWeighting`, by default the model's config.lossWeighting, says otherwise):
 * || eps - eps_theta ||^2 for an epsilon-prediction UNet, || v - v_theta ||^2 for a v-prediction one,
 * v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0 (the same objective up to a per-t weight).
 * @param x0 clean images [B, 32, 32, 3] in [-1, 1]
 * @param cond the prompts' conditioning (null prompt for dropped ones)
 * @param selfCond a self-conditioned model's x0 estimates (`selfConditionInput`); absent: zeros
 * @returns [B]
 */
export function denoisingLoss(
  model: TextToImage, x0: tf.Tensor4D, cond: Conditioning, draw: NoiseDraw, lossWeighting: LossWeighting = model.config.lossWeighting, selfCond?: tf.Tensor4D,
): tf.Tensor1D {
  return tf.tidy(() => {
    const { eps, xt } = noised(model.schedule, x0, draw);
    const pred = model.predict(xt, tf.tensor1d(Float32Array.from(draw.t)), cond, selfCond);
    const target = model.config.prediction === 'epsilon' ? eps : qSample(model.schedule, eps, tf.neg(x0), draw.t);
    const perExample = tf.mean(tf.square(tf.sub(target, pred)), [1, 2, 3]) as tf.Tensor1D;
    return lossWeighting === 'none' ? perExample : (tf.mul(perExample, tf.tensor1d(timestepWeights(model, draw.t, lossWeighting))) as tf.Tensor1D);
  });
}

/**
 * Self-conditioning's training input (Chen et al. 2022): for the examples with `use[i]`, the model's
 * own x0 estimate at the same x_t (the draw's noise and timesteps), from a pass with a zero estimate,
 * clipped to [-1, 1]; zeros for the others. Call it outside the gradient tape: the estimate is an
 * input, not trained through. Null when no example uses one (the loss then passes zeros).
 */
export function selfConditionInput(model: TextToImage, x0: tf.Tensor4D, cond: Conditioning, draw: NoiseDraw, use: readonly boolean[]): tf.Tensor4D | null {
  if (!use.some(Boolean)) return null;
  return tf.tidy(() => {
    const { xt } = noised(model.schedule, x0, draw);
    const est = tf.clipByValue(model.denoise(xt, tf.tensor1d(Float32Array.from(draw.t)), cond).x0, -1, 1);
    return tf.mul(est, tf.tensor4d(use.map((u) => (u ? 1 : 0)), [use.length, 1, 1, 1])) as tf.Tensor4D;
  });
}

/**
 * The draw's noise eps (the target's) and x_t (`qSample`) for clean images x0: the same tensors for the
 * same draw. With an input perturbation, x_t is made with eps + gamma xi instead (Ning et al. 2023).
 */
function noised(schedule: NoiseSchedule, x0: tf.Tensor4D, draw: NoiseDraw): { eps: tf.Tensor4D; xt: tf.Tensor4D } {
  return tf.tidy(() => {
    const eps = tf.randomNormal(x0.shape, 0, 1, 'float32', draw.noiseSeed) as tf.Tensor4D;
    const p = draw.perturb;
    const input = p ? (tf.add(eps, tf.mul(tf.randomNormal(x0.shape, 0, 1, 'float32', p.seed), p.gamma)) as tf.Tensor4D) : eps;
    return { eps, xt: qSample(schedule, x0, input, draw.t) };
  });
}
