/**
 * What the training loops eat: batches of (image, caption) pairs, as the
 * pretraining corpus (src/world) produces them, and their conversion to tensors.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../engine/random';

/** One training pair. `image` is [32, 32, 3] RGB, row-major: bytes 0..255, or floats in [0, 1]. */
export interface Example {
  image: Uint8Array | Float32Array | { width: number; height: number; data: Uint8Array };
  caption: string;
}

/**
 * The batch for step `step`. A source must be a pure function of the step
 * (e.g. seeded by `${seed}/${step}`), so that a run resumed from a checkpoint
 * sees exactly the batches the uninterrupted run would have seen.
 */
export type BatchSource = (step: number, batchSize: number) => Example[] | Promise<Example[]>;

const SIDE = 32;
const PIXELS = SIDE * SIDE * 3;

/** Refuse a dataset whose images are not the models' size, naming it (before any work on it). */
export function checkModelSide(dir: string, img: { width: number; height: number }, id: string): void {
  if (img.width !== SIDE || img.height !== SIDE) {
    throw new Error(`${dir}: image ${id} is ${img.width}x${img.height}; the models take ${SIDE}x${SIDE} (render-set --size ${SIDE}, collect and generate make them)`);
  }
}

/** Images of a batch as one tensor [B, 32, 32, 3] in [-1, 1]. */
export function imagesToTensor(batch: readonly Example[]): tf.Tensor4D {
  const out = new Float32Array(batch.length * PIXELS);
  batch.forEach((ex, i) => {
    const img = ex.image;
    const data = img instanceof Uint8Array || img instanceof Float32Array ? img : img.data;
    if (!(img instanceof Uint8Array || img instanceof Float32Array) && (img.width !== SIDE || img.height !== SIDE)) {
      throw new Error(`example ${i} ("${ex.caption}") is ${img.width}x${img.height}; the models take ${SIDE}x${SIDE}`);
    }
    if (data.length !== PIXELS) throw new Error(`example ${i} ("${ex.caption}") has ${data.length} values; a 32x32 RGB image has ${PIXELS}`);
    const scale = data instanceof Uint8Array ? 2 / 255 : 2;
    for (let k = 0; k < PIXELS; k++) out[i * PIXELS + k] = data[k] * scale - 1;
  });
  return tf.tensor4d(out, [batch.length, SIDE, SIDE, 3]);
}

/**
 * A BatchSource over a fixed list of examples: shuffled epochs, each epoch's
 * order from `${seed}/epoch/${e}`, so the batch of a step never depends on
 * which steps ran before it in this process.
 */
export function shuffledBatches<E extends Example>(examples: readonly E[], seed: number | string): (step: number, batchSize: number) => E[] {
  if (examples.length === 0) throw new Error('shuffledBatches: no examples');
  const n = examples.length;
  const perms = new Map<number, number[]>();
  const perm = (e: number) => {
    let p = perms.get(e);
    if (!p) {
      p = new Rng(`${seed}/epoch/${e}`).shuffle(Array.from({ length: n }, (_, i) => i));
      if (perms.size > 2) perms.clear();
      perms.set(e, p);
    }
    return p;
  };
  return (step, batchSize) =>
    Array.from({ length: batchSize }, (_, k) => {
      const pos = step * batchSize + k;
      return examples[perm(Math.floor(pos / n))[pos % n]];
    });
}
