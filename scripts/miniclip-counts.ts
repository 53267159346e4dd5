/**
 * Does a MiniCLIP tell counts apart, and what makes it? Trains a MiniCLIP of
 * the default preset on the default corpus (the shipped MiniCLIP's recipe:
 * 1,500 updates, no count negatives) with the given updates and count hard
 * negatives, then reports, beside the shipped MiniCLIP:
 * - count top-1: on renders of two, three and four circles (60 each), how
 *   often the right one of "two/three/four circles" scores highest (chance 1/3);
 * - the text encoder's token states at the changed word (src/eval/textWords.ts).
 * The same seed and settings give the same MiniCLIP (1,500 updates without
 * negatives give the shipped one).
 *
 *   node --import tsx scripts/miniclip-counts.ts [--steps N] [--count-negatives] [--seed S] [--out DIR]
 *
 * S seeds the MiniCLIP's weights and batches (default 0, the shipped one's).
 * DIR keeps the MiniCLIP checkpoint (resumable; default a temporary folder).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine';
import { BASE_MODEL_DIR, wordSimilarity, wordSimilarityTable } from '../src/eval';
import { imagesToTensor, loadMiniClip, MiniClip, shuffledBatches, trainClip } from '../src/models';
import { resolvePretrainRun } from '../src/pipeline/pretrain';
import { formatPrompt, MAIN_OBJECT, pretrainingCorpus, renderPrompt } from '../src/world';

const COUNTS = [2, 3, 4];

/** Right top-1 among the count prompts, on `perCount` renders of each count. */
function countTop1(clip: MiniClip, perCount = 60): { k: number; n: number } {
  const prompts = COUNTS.map((count) => formatPrompt({ count, object: MAIN_OBJECT }));
  let k = 0;
  for (const [i, count] of COUNTS.entries()) {
    const batch = Array.from({ length: perCount }, (_, j) => ({ image: renderPrompt({ count, object: MAIN_OBJECT }, `miniclip-counts/${j}/${count}`).image, caption: '' }));
    const scores = tf.tidy(() => {
      const x = imagesToTensor(batch);
      return tf.argMax(clip.logits(x, clip.tokenize(prompts)), 1).dataSync();
    });
    k += Array.from(scores).filter((s) => s === i).length;
  }
  return { k, n: perCount * COUNTS.length };
}

function report(name: string, clip: MiniClip): void {
  const top1 = countTop1(clip);
  console.log(`\n${name}: count top-1 ${top1.k}/${top1.n} (${((100 * top1.k) / top1.n).toFixed(1)}%; chance 33.3%)\n`);
  console.log(wordSimilarityTable(wordSimilarity(clip)));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { steps: { type: 'string' }, 'count-negatives': { type: 'boolean' }, seed: { type: 'string' }, out: { type: 'string' } }, strict: true });
  const steps = values.steps === undefined ? 1500 : Number(values.steps);
  if (!Number.isInteger(steps) || steps < 1 || steps > 100000) throw new Error(`--steps must be an integer in 1..100000, got "${values.steps}"`);
  const seed = values.seed === undefined ? 0 : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0 || seed > 2 ** 31) throw new Error(`--seed must be an integer in 0..${2 ** 31}, got "${values.seed}"`);
  await initBackend();
  const { config, corpus } = resolvePretrainRun('default', { seed, clip: { countNegatives: Boolean(values['count-negatives']) }, clipTrain: { steps } });
  const out = values.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'miniclip-counts-'));
  const shipped = (await loadMiniClip(path.join(BASE_MODEL_DIR, 'clip'))).clip;
  report('shipped MiniCLIP (data/base-model/clip)', shipped);
  shipped.dispose();
  const examples = [...pretrainingCorpus(corpus)].map((it) => ({ image: it.image, caption: it.caption }));
  const clip = new MiniClip(config.clip, config.seed);
  const t0 = Date.now();
  await trainClip(clip, shuffledBatches(examples, config.seed), config, { checkpointDir: out });
  report(`trained here (${steps} updates, count negatives ${config.clip.countNegatives ? 'on' : 'off'}, seed ${seed}, ${((Date.now() - t0) / 60000).toFixed(1)} min; ${out})`, clip);
  clip.dispose();
}

main().catch((e: Error) => {
  process.stderr.write(`miniclip-counts: ${e.message}\n`);
  process.exit(1);
});
