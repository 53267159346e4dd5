/** Tiny models and fake batches for the model tests (fast on the cpu backend). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, Rng } from '../../src/engine';
import { Example, MiniClip, PretrainConfig, resolvePretrainConfig, saveModelCheckpoint, TextToImage } from '../../src/models';
import { removedAtExit } from '../helpers/temp';

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

/**
 * A tiny base model folder (diffusion/ + config.json with a small corpus), removed at exit: tinyConfig's UNet,
 * without self-conditioning; `randomizeSeed` gives its UNet random weights (std 0.05) instead of its initial ones.
 */
export async function tinyModelFolder(prefix: string, opts: { randomizeSeed?: number } = {}): Promise<string> {
  await initTestBackend();
  const cfg = tinyConfig();
  const clip = new MiniClip(cfg.clip, 0);
  const model = new TextToImage(clip, cfg.diffusion, 0);
  if (opts.randomizeSeed !== undefined) randomize(model.unet.variables, opts.randomizeSeed, 0.05);
  const dir = removedAtExit(prefix);
  await saveModelCheckpoint(path.join(dir, 'diffusion'), model.variables, { kind: 'diffusion', step: 0, config: cfg, vocab: [...clip.tokenizer.vocab], recentLoss: null });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ corpus: { size: 48, seed: 0 } }));
  model.dispose({ clip: true });
  return dir;
}
