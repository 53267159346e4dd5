/**
 * Can the text encoder tell the words of one attribute apart? For each
 * attribute, the cosine of the token states (what the UNet reads) of prompts
 * that differ in that attribute alone: the least over positions, which is at
 * the changed word (src/eval/textWords.ts).
 *
 *   node --import tsx scripts/text-words.ts [--model DIR]
 *
 * DIR: a base or fine-tuned model folder (default data/base-model).
 */
import { parseArgs } from 'node:util';
import { initBackend } from '../src/engine';
import { BASE_MODEL_DIR, loadModel, wordSimilarity, wordSimilarityTable } from '../src/eval';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { model: { type: 'string' } }, strict: true });
  await initBackend();
  const { model } = await loadModel(values.model ?? BASE_MODEL_DIR);
  try {
    console.log(`Token states of ${values.model ?? 'data/base-model'}: least cosine over positions, per pair of prompts\n`);
    console.log(wordSimilarityTable(wordSimilarity(model)));
  } finally {
    model.dispose({ clip: true });
  }
}

main().catch((e: Error) => {
  process.stderr.write(`text-words: ${e.message}\n`);
  process.exit(1);
});
