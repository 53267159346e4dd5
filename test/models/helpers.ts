/** Tiny models and fake batches for the model tests (fast on the cpu backend). */
import * as tf from '@tensorflow/tfjs';
import { initBackend, Rng } from '../../src/engine';
import { Example, PretrainConfig, resolvePretrainConfig } from '../../src/models';

export function tinyConfig(): PretrainConfig {
  return resolvePretrainConfig('quick', {
    clip: { textWidth: 16, textLayers: 1, textHeads: 2, imageChannels: [4, 8], imageHidden: 16, embedDim: 16 },
    clipTrain: { steps: 4, batchSize: 4, warmupSteps: 1, checkpointEvery: 2 },
    diffusion: { timesteps: 100, unet: { patchSize: 2, channels: [8, 16], attentionLevels: [1], heads: 2, timeEmbedDim: 8, groups: 4 } },
    diffusionTrain: { steps: 4, batchSize: 4, warmupSteps: 1, checkpointEvery: 2 },
    sampler: { steps: 3, guidanceScale: 3, spacing: 'leading', eta: 0, clipSample: true },
  });
}

export const CAPTIONS = ['two red circles', 'a blue square in the forest', 'three green stars on the moon', 'a heart', 'four pink crosses in the sea'];

/** Random 32x32 images with captions: the batch for `step` (a pure function of seed and step). */
export function fakeBatches(seed: number | string = 0) {
  return (step: number, batchSize: number): Example[] => {
    const rng = new Rng(`${seed}/${step}`);
    return Array.from({ length: batchSize }, () => {
      const image = new Uint8Array(32 * 32 * 3);
      for (let i = 0; i < image.length; i++) image[i] = rng.int(0, 255);
      return { image, caption: rng.pick(CAPTIONS) };
    });
  };
}

/** Give every weight random values (zero-initialised layers would make outputs trivially equal). */
export function randomize(variables: Record<string, tf.Variable>, seed = 1, std = 0.2): void {
  const rng = new Rng(seed);
  for (const v of Object.values(variables)) tf.tidy(() => v.assign(tf.randomNormal(v.shape, 0, std, 'float32', rng.tfSeed())));
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/**
 * The backend for model tests: wasm when it has the kit's gradient kernels
 * (conv training on the cpu backend takes seconds even for these tiny models),
 * else the cpu backend (complete, slow).
 */
export async function initTestBackend(): Promise<void> {
  const info = await initBackend('wasm');
  if (!info.kitKernels.includes('Conv2DBackpropFilter')) await initBackend('cpu');
}
