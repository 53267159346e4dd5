/**
 * Can a text-to-image model's text encoder tell the words of one attribute
 * apart? The UNet reads the text encoder's token states, so two prompts whose
 * states are almost the same get almost the same images. For each attribute
 * (count two to four, color, background), every pair of prompts about the
 * main object that differ in that attribute alone, and (object) every pair
 * of prompts for one and for two objects that differ in the shape alone;
 * per pair, the least cosine
 * of the two prompts' token states over the positions both fill (the position
 * where they differ most; for counts, the count word). Near 1: the UNet is
 * told nearly the same thing for both prompts.
 */
import * as tf from '@tensorflow/tfjs';
import { TextToImage } from '../models/diffusion/model';
import { formatPrompt } from '../world/prompt';
import { BACKGROUNDS, COLORS, MAIN_OBJECT, OBJECTS } from '../world/vocab';

export interface WordSimilarity {
  /** The attribute the prompts differ in ('prompts': a group given by hand). */
  attribute: 'count' | 'color' | 'background' | 'object' | 'prompts';
  prompts: string[];
  /** One cosine per pair of prompts (i < j, in `prompts`' order). */
  cosines: number[];
  /** The pair with the highest cosine: the two prompts the encoder tells apart least. */
  closest: [string, string];
  mean: number;
  min: number;
  max: number;
}

/**
 * Prompts about the main object differing in one attribute (count 2..4, each color, each background), then
 * prompts differing in the shape alone, for one object and for two (the several-objects prompts' case).
 */
export const WORD_GROUPS: ReadonlyArray<{ attribute: WordSimilarity['attribute']; prompts: string[] }> = [
  { attribute: 'count', prompts: [2, 3, 4].map((count) => formatPrompt({ count, object: MAIN_OBJECT })) },
  { attribute: 'color', prompts: COLORS.map((color) => formatPrompt({ count: 1, object: MAIN_OBJECT, color })) },
  { attribute: 'background', prompts: BACKGROUNDS.map((background) => formatPrompt({ count: 1, object: MAIN_OBJECT, background })) },
  { attribute: 'object', prompts: OBJECTS.map((object) => formatPrompt({ count: 1, object })) },
  { attribute: 'object', prompts: OBJECTS.map((object) => formatPrompt({ count: 2, object })) },
];

function cosine(a: Float32Array, b: Float32Array): number {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return d / Math.sqrt(na * nb);
}

/** Per group (default WORD_GROUPS), the least cosine of the token states of every pair of prompts (see the file comment). */
export function wordSimilarity(model: Pick<TextToImage, 'encodePrompts'>, groups = WORD_GROUPS): WordSimilarity[] {
  return groups.map(({ attribute, prompts }) => {
    const cond = model.encodePrompts(prompts);
    const [, T, D] = cond.context.shape;
    const states = cond.context.dataSync() as Float32Array;
    const mask = cond.mask.dataSync();
    tf.dispose([cond.context, cond.mask]);
    const at = (p: number, t: number) => states.subarray((p * T + t) * D, (p * T + t + 1) * D);
    const cosines: number[] = [];
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < prompts.length; i++) {
      for (let j = i + 1; j < prompts.length; j++) {
        let least = Infinity;
        for (let t = 0; t < T; t++) if (mask[i * T + t] && mask[j * T + t]) least = Math.min(least, cosine(at(i, t), at(j, t)));
        cosines.push(least);
        pairs.push([prompts[i], prompts[j]]);
      }
    }
    const mean = cosines.reduce((a, b) => a + b, 0) / cosines.length;
    const max = Math.max(...cosines);
    return { attribute, prompts, cosines, closest: pairs[cosines.indexOf(max)], mean, min: Math.min(...cosines), max };
  });
}

/** The similarities as a Markdown table. */
export function wordSimilarityTable(rows: readonly WordSimilarity[]): string {
  const shown = (ps: readonly string[]) => (ps.length > 3 ? `${ps[0]}, ${ps[1]}, ... (${ps.length})` : ps.join(', '));
  return [
    '| attribute | prompts | pairs | least cosine of the token states: mean [min, max] | closest pair |',
    '|---|---|---:|---|---|',
    ...rows.map((r) => `| ${r.attribute} | ${shown(r.prompts)} | ${r.cosines.length} | ${r.mean.toFixed(3)} [${r.min.toFixed(3)}, ${r.max.toFixed(3)}] | ${r.closest.join(' / ')} |`),
  ].join('\n');
}
