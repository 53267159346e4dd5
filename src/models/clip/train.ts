/**
 * MiniCLIP pretraining: contrastive updates on (image, caption) batches.
 */
import * as tf from '@tensorflow/tfjs';
import { adam } from '../../engine/adam';
import { BatchSource, Example, imagesToTensor } from '../data';
import { PretrainConfig } from '../config';
import { LoopOptions, LoopResult, runTrainingLoop } from '../train-loop';
import { contrastiveLoss, countSwaps, sameCaptionTargets } from './loss';
import { MiniClip } from './model';

/**
 * The contrastive loss of a batch (no update): images [B,32,32,3] in [-1,1], captions [B] -> scalar;
 * with clip.config.countNegatives, each image's softmax also holds its batch's count swaps (`countSwaps`).
 */
export function clipLoss(clip: MiniClip, images: tf.Tensor4D, captions: readonly string[]): tf.Scalar {
  const texts = clip.config.countNegatives ? [...captions, ...countSwaps(captions)] : captions;
  return tf.tidy(() => contrastiveLoss(clip.logits(images, clip.tokenize(texts)), sameCaptionTargets(captions)));
}

/** One optimizer update on a batch; returns its loss. Leaves no tensors behind. */
export function trainClipStep(clip: MiniClip, optimizer: tf.Optimizer, batch: readonly Example[]): number {
  const images = imagesToTensor(batch);
  const captions = batch.map((ex) => ex.caption);
  const loss = optimizer.minimize(() => clipLoss(clip, images, captions), true, Object.values(clip.variables));
  images.dispose();
  const value = loss!.dataSync()[0];
  loss!.dispose();
  return value;
}

/**
 * Pretrain MiniCLIP for `config.clipTrain.steps` updates on batches from
 * `data`, checkpointing to `opts.checkpointDir` (and resuming from it).
 */
export async function trainClip(clip: MiniClip, data: BatchSource, config: PretrainConfig, opts: LoopOptions = {}): Promise<LoopResult> {
  const train = config.clipTrain;
  const optimizer = adam(train.learningRate);
  try {
    return await runTrainingLoop(
      {
        kind: 'miniclip',
        variables: clip.variables,
        trainable: clip.variables,
        optimizer,
        config,
        train,
        vocab: [...clip.tokenizer.vocab],
        step: async (s) => trainClipStep(clip, optimizer, await data(s, train.batchSize)),
      },
      opts,
    );
  } finally {
    optimizer.dispose();
  }
}
