/**
 * Can the text encoder tell the words of one attribute apart? The UNet reads
 * the text encoder's token states, so two prompts whose states are almost the
 * same get almost the same image. For each attribute (count two to four,
 * color, background), every pair of prompts about the main object that differ
 * in that attribute alone; per pair, the cosine of the two prompts' token
 * states at the position where they differ most (the changed word). A cosine
 * near 1: the UNet is told nearly the same thing for both words.
 *
 *   node --import tsx scripts/text-words.ts [--model DIR]
 *
 * DIR: a base or fine-tuned model folder (default data/base-model).
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine';
import { BASE_MODEL_DIR, loadModel } from '../src/eval/base';
import { formatPrompt } from '../src/world/prompt';
import { BACKGROUNDS, COLORS, MAIN_OBJECT } from '../src/world/vocab';

/** Prompts differing in one attribute: count 2..4, each color, each background. */
const GROUPS: Record<string, string[]> = {
  count: [2, 3, 4].map((count) => formatPrompt({ count, object: MAIN_OBJECT })),
  color: COLORS.map((color) => formatPrompt({ count: 1, object: MAIN_OBJECT, color })),
  background: BACKGROUNDS.map((background) => formatPrompt({ count: 1, object: MAIN_OBJECT, background })),
};

function cosine(a: Float32Array, b: Float32Array): number {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return d / Math.sqrt(na * nb);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { model: { type: 'string' } }, strict: true });
  await initBackend();
  const { model } = await loadModel(values.model ?? BASE_MODEL_DIR);
  try {
    console.log(`Token states of ${values.model ?? 'data/base-model'}: cosine at the changed word, per pair of prompts\n`);
    console.log('| attribute | prompts | pairs | cosine: mean [min, max] |');
    console.log('|---|---|---:|---|');
    for (const [attribute, prompts] of Object.entries(GROUPS)) {
      const cond = model.encodePrompts(prompts);
      const [, T, D] = cond.context.shape;
      const states = cond.context.dataSync() as Float32Array;
      const mask = cond.mask.dataSync();
      tf.dispose([cond.context, cond.mask]);
      const at = (p: number, t: number) => states.subarray((p * T + t) * D, (p * T + t + 1) * D);
      const sims: number[] = [];
      for (let i = 0; i < prompts.length; i++) {
        for (let j = i + 1; j < prompts.length; j++) {
          let least = Infinity;
          for (let t = 0; t < T; t++) if (mask[i * T + t] && mask[j * T + t]) least = Math.min(least, cosine(at(i, t), at(j, t)));
          sims.push(least);
        }
      }
      const mean = sims.reduce((a, b) => a + b, 0) / sims.length;
      const shown = prompts.length > 3 ? `${prompts[0]}, ${prompts[1]}, ... (${prompts.length})` : prompts.join(', ');
      console.log(`| ${attribute} | ${shown} | ${sims.length} | ${mean.toFixed(3)} [${Math.min(...sims).toFixed(3)}, ${Math.max(...sims).toFixed(3)}] |`);
    }
  } finally {
    model.dispose({ clip: true });
  }
}

main().catch((e: Error) => {
  process.stderr.write(`text-words: ${e.message}\n`);
  process.exit(1);
});
