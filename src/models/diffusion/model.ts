/**
 * The text-to-image model: MiniCLIP's text encoder (frozen) + the UNet + the
 * noise schedule. A diffusion checkpoint holds both networks' weights
 * (`text/...` and `unet/...`), so `generate` needs only that one folder.
 */
import * as tf from '@tensorflow/tfjs';
import { MiniClip } from '../clip/model';
import { DiffusionConfig } from '../config';
import { makeSchedule, NoiseSchedule } from './schedule';
import { Unet } from './unet';

/** Prompt conditioning: per-token features [B, T, D] and padding mask [B, T]. */
export interface Conditioning {
  context: tf.Tensor3D;
  mask: tf.Tensor2D;
}

/** The null prompt of classifier-free guidance: the empty prompt, `<bos> <eos>`. */
export const NULL_PROMPT = '';

export class TextToImage {
  readonly unet: Unet;
  readonly schedule: NoiseSchedule;

  /**
   * @param clip supplies the text encoder (its `text/` weights are used; pretraining never trains them, fine-tuning may: `trainTextEncoder`).
   * @param seed the UNet's initial weights.
   */
  constructor(readonly clip: MiniClip, readonly config: DiffusionConfig, seed: number | string = 0) {
    this.unet = new Unet(config.unet, clip.config.textWidth, seed);
    this.schedule = makeSchedule(config.schedule, config.timesteps);
  }

  /** Everything a checkpoint holds: the UNet's and the text encoder's weights. */
  get variables(): Record<string, tf.Variable> {
    return { ...this.clip.textVariables(), ...this.unet.variables };
  }

  /** The weights diffusion training updates (the UNet's only). */
  get trainableVariables(): Record<string, tf.Variable> {
    return this.unet.variables;
  }

  /** Encode prompts with the text encoder (frozen unless fine-tuning trains it): context [B, T, D], mask [B, T]. */
  encodePrompts(prompts: readonly string[]): Conditioning {
    return this.clip.encodePrompts(prompts);
  }

  /** Whether the UNet takes its previous x0 estimate (config.unet.selfCondition). */
  get selfConditioned(): boolean {
    return this.config.unet.selfCondition;
  }

  /**
   * The UNet's raw output (eps or v, per config.prediction): x_t [B,32,32,3], t [B] -> [B,32,32,3].
   * `selfCond`: a self-conditioned UNet's previous x0 estimate (absent: zeros); ignored by others.
   */
  predict(xt: tf.Tensor4D, t: tf.Tensor1D, cond: Conditioning, selfCond?: tf.Tensor4D): tf.Tensor4D {
    return this.unet.apply(xt, t, cond.context, cond.mask, selfCond);
  }

  /**
   * The model's estimates of the clean image and of the noise at x_t:
   * x_t [B,32,32,3], t [B] -> { x0, eps }, each [B,32,32,3]. With a = sqrt(alpha_bar_t), s = sqrt(1 - alpha_bar_t):
   *   v-prediction:        x0 = a x_t - s v,          eps = s x_t + a v      (well conditioned at every t)
   *   epsilon-prediction:  x0 = (x_t - s eps) / a                            (amplifies eps's error by 1/a as t -> T)
   */
  denoise(xt: tf.Tensor4D, t: tf.Tensor1D, cond: Conditioning, selfCond?: tf.Tensor4D): { x0: tf.Tensor4D; eps: tf.Tensor4D } {
    return tf.tidy(() => {
      const out = this.predict(xt, t, cond, selfCond);
      const ab = Array.from(t.dataSync(), (ti) => this.schedule.alphasCumprod[ti]);
      const a = tf.tensor4d(ab.map(Math.sqrt), [ab.length, 1, 1, 1]);
      const s = tf.tensor4d(ab.map((v) => Math.sqrt(1 - v)), [ab.length, 1, 1, 1]);
      if (this.config.prediction === 'epsilon') return { x0: tf.div(tf.sub(xt, tf.mul(s, out)), a) as tf.Tensor4D, eps: out };
      return { x0: tf.sub(tf.mul(a, xt), tf.mul(s, out)) as tf.Tensor4D, eps: tf.add(tf.mul(s, xt), tf.mul(a, out)) as tf.Tensor4D };
    });
  }

  /** eps_theta(x_t, t, c): x_t [B,32,32,3], t [B] -> [B,32,32,3] (see denoise). */
  epsTheta(xt: tf.Tensor4D, t: tf.Tensor1D, cond: Conditioning): tf.Tensor4D {
    if (this.config.prediction === 'epsilon') return this.predict(xt, t, cond);
    const { x0, eps } = this.denoise(xt, t, cond);
    x0.dispose();
    return eps;
  }

  /** Disposes the UNet, and the MiniCLIP too with `{ clip: true }` (by default it belongs to the caller). */
  dispose(opts: { clip?: boolean } = {}): void {
    this.unet.dispose();
    if (opts.clip) this.clip.dispose();
  }
}
