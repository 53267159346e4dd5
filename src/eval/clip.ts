/**
 * MiniCLIP retrieval: for fresh renders of distinct prompts (not the
 * pretraining corpus), does the image's top-scoring caption among all the
 * prompts' captions name exactly its prompt? (CLIP's zero-shot check.)
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../engine/random';
import { MiniClip } from '../models/clip/model';
import { imagesToTensor } from '../models/data';
import { allAttributes, formatPrompt, renderPrompt } from '../world';
import { Rate, wilson } from './base';

export interface RetrievalResult {
  /** image -> caption top-1 among `n` distinct captions. */
  top1: Rate;
  /** Chance level, 1 / n. */
  chance: number;
  n: number;
}

/**
 * Image -> caption top-1 accuracy of MiniCLIP on `n` distinct random prompts
 * of the whole grammar, each rendered once with seed `${seed}/${i}` (seeds the
 * corpus never uses).
 */
export function clipRetrieval(clip: MiniClip, opts: { n?: number; seed?: number | string } = {}): RetrievalResult {
  const n = opts.n ?? 256;
  const grammar = allAttributes().length;
  if (!Number.isInteger(n) || n < 2 || n > grammar) throw new Error(`retrieval needs 2 to ${grammar} distinct prompts (the grammar's), got ${n}`);
  const seed = opts.seed ?? 'retrieval';
  const attrs = new Rng(`${seed}/prompts`).shuffle(allAttributes()).slice(0, n);
  const captions = attrs.map(formatPrompt);
  const batch = attrs.map((a, i) => ({ image: renderPrompt(a, `${seed}/${i}`).image, caption: captions[i] }));
  const hits = tf.tidy(() => {
    const logits = clip.logits(imagesToTensor(batch), clip.tokenize(captions)); // [n, n]
    const best = logits.argMax(1).dataSync();
    return Array.from(best).filter((j, i) => j === i).length;
  });
  return { top1: { k: hits, n, rate: hits / n, ...wilson(hits, n) }, chance: 1 / n, n };
}
