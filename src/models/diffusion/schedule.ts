/**
 * The noise schedule of the forward process q(x_t | x_0), as plain arrays
 * indexed by the timestep t = 0 .. T-1 (the paper's t = 1 .. T).
 */
import { DiffusionConfig } from '../config';

export interface NoiseSchedule {
  /** T, the number of diffusion steps. */
  timesteps: number;
  /** beta_t, the variance added at step t. */
  betas: Float32Array;
  /** alpha_t = 1 - beta_t. */
  alphas: Float32Array;
  /** alpha_bar_t = prod_{s <= t} alpha_s, so x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps. */
  alphasCumprod: Float32Array;
  /** sqrt(alpha_bar_t): the signal's scale in x_t. */
  sqrtAlphasCumprod: Float32Array;
  /** sqrt(1 - alpha_bar_t): the noise's scale in x_t. */
  sqrtOneMinusAlphasCumprod: Float32Array;
}

/**
 * Betas and their products.
 *   linear (DDPM, Ho et al. 2020): beta_t from 1e-4 to 0.02, scaled by 1000 / T.
 *   cosine (Nichol & Dhariwal 2021): alpha_bar(t) = f(t) / f(0),
 *     f(t) = cos^2(((t / T + s) / (1 + s)) * pi / 2), s = 0.008, and
 *     beta_t = 1 - alpha_bar(t+1) / alpha_bar(t), clipped at 0.999.
 */
export function makeSchedule(kind: DiffusionConfig['schedule'], timesteps: number): NoiseSchedule {
  const T = timesteps;
  const betas = new Float32Array(T);
  if (kind === 'linear') {
    const lo = (1000 / T) * 1e-4;
    const hi = (1000 / T) * 0.02;
    for (let t = 0; t < T; t++) betas[t] = lo + ((hi - lo) * t) / Math.max(1, T - 1);
  } else if (kind === 'cosine') {
    const s = 0.008;
    const f = (t: number) => Math.cos((((t / T) + s) / (1 + s)) * (Math.PI / 2)) ** 2;
    for (let t = 0; t < T; t++) betas[t] = Math.min(1 - f(t + 1) / f(t), 0.999);
  } else {
    throw new Error(`unknown beta schedule "${kind}"; allowed: linear, cosine`);
  }
  const alphas = betas.map((b) => 1 - b);
  const alphasCumprod = new Float32Array(T);
  let prod = 1;
  for (let t = 0; t < T; t++) alphasCumprod[t] = prod *= alphas[t];
  return {
    timesteps: T,
    betas,
    alphas,
    alphasCumprod,
    sqrtAlphasCumprod: alphasCumprod.map(Math.sqrt),
    sqrtOneMinusAlphasCumprod: alphasCumprod.map((a) => Math.sqrt(1 - a)),
  };
}
