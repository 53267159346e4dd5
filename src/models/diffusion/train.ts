/**
 * Diffusion pretraining: the DDPM loss (Algorithm 1) on (image, caption)
 * batches, with the text encoder frozen and the prompt dropped (replaced by the
 * null prompt) with probability condDropout, so that one network learns both
 * eps_theta(x_t, t, c) and eps_theta(x_t, t, null) for classifier-free guidance.
 */
import * as tf from '@tensorflow/tfjs';
import { adam } from '../../engine/adam';
import { Rng } from '../../engine/random';
import { PretrainConfig } from '../config';
import { BatchSource, Example, imagesToTensor } from '../data';
import { LoopOptions, LoopResult, runTrainingLoop } from '../train-loop';
import { denoisingLoss, drawNoise, selfConditionInput, TimestepDraw } from './loss';
import { NULL_PROMPT, TextToImage } from './model';

/** The draws of step s of a run with `seed`: prompt dropout, timesteps, noise. */
export function diffusionStepRng(seed: number, s: number): Rng {
  return new Rng(`${seed}/diffusion/${s}`);
}

/**
 * One optimizer update of the UNet on a batch; returns its loss.
 * `rng` decides which prompts are dropped, the timesteps (drawn as `sampling` says; absent, uniform) and the noise,
 * and for a self-conditioned UNet which examples get its own x0 estimate (half, `selfConditionInput`).
 */
export function trainDiffusionStep(
  model: TextToImage,
  optimizer: tf.Optimizer,
  batch: readonly Example[],
  rng: Rng,
  condDropout = model.config.condDropout,
  sampling?: TimestepDraw,
): number {
  const prompts = batch.map((ex) => (rng.bernoulli(condDropout) ? NULL_PROMPT : ex.caption));
  const draw = drawNoise(rng, batch.length, model.schedule.timesteps, sampling);
  const use = model.selfConditioned ? batch.map(() => rng.bernoulli(0.5)) : [];
  const x0 = imagesToTensor(batch);
  const cond = model.encodePrompts(prompts);
  const selfCond = selfConditionInput(model, x0, cond, draw, use) ?? undefined;
  const loss = optimizer.minimize(() => tf.mean(denoisingLoss(model, x0, cond, draw, undefined, selfCond)) as tf.Scalar, true, Object.values(model.trainableVariables));
  tf.dispose([x0, cond.context, cond.mask, selfCond as tf.Tensor]);
  const value = loss!.dataSync()[0];
  loss!.dispose();
  return value;
}

/**
 * Pretrain the UNet for `config.diffusionTrain.steps` updates on batches from
 * `data`, checkpointing to `opts.checkpointDir` (and resuming from it).
 */
export async function trainDiffusion(model: TextToImage, data: BatchSource, config: PretrainConfig, opts: LoopOptions = {}): Promise<LoopResult> {
  const train = config.diffusionTrain;
  const optimizer = adam(train.learningRate);
  try {
    return await runTrainingLoop(
      {
        kind: 'diffusion',
        variables: model.variables,
        trainable: model.trainableVariables,
        optimizer,
        config,
        train,
        vocab: [...model.clip.tokenizer.vocab],
        step: async (s) => trainDiffusionStep(model, optimizer, await data(s, train.batchSize), diffusionStepRng(config.seed, s), model.config.condDropout, train),
      },
      opts,
    );
  } finally {
    optimizer.dispose();
  }
}
