/**
 * Can the text encoder tell the words of one attribute apart? For each
 * attribute, the cosine of the token states (what the UNet reads) of prompts
 * that differ in that attribute alone: the least over positions, which is at
 * the changed word (src/eval/textWords.ts).
 *
 *   node --import tsx scripts/text-words.ts [--model DIR | --clip DIR] [--prompts 'P1,P2,...']...
 *
 * --model: a base or fine-tuned model folder (default data/base-model);
 * --clip: a MiniCLIP alone (a checkpoint folder, e.g. scripts/miniclip-counts.ts --out);
 * --prompts: a group of your own (comma-separated prompts, repeatable), in place of the default groups.
 */
import { parseArgs } from 'node:util';
import { initBackend } from '../src/engine';
import { BASE_MODEL_DIR, loadModel, wordSimilarity, wordSimilarityTable, WORD_GROUPS } from '../src/eval';
import { loadMiniClip } from '../src/models';
import { parsePrompt } from '../src/world';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { model: { type: 'string' }, clip: { type: 'string' }, prompts: { type: 'string', multiple: true } }, strict: true });
  if (values.model && values.clip) throw new Error('give --model or --clip, not both');
  const groups = values.prompts?.map((list) => {
    const prompts = list.split(',').map((p) => p.trim());
    if (prompts.length < 2) throw new Error(`--prompts needs two or more comma-separated prompts, got '${list}'`);
    for (const p of prompts) parsePrompt(p); // a prompt outside the grammar: its own error, naming the word
    return { attribute: 'prompts' as const, prompts };
  }) ?? WORD_GROUPS;
  await initBackend();
  const source = values.clip ?? values.model ?? BASE_MODEL_DIR;
  const encoder = values.clip ? (await loadMiniClip(values.clip)).clip : (await loadModel(source)).model;
  try {
    console.log(`Token states of ${source}: least cosine over positions, per pair of prompts\n`);
    console.log(wordSimilarityTable(wordSimilarity(encoder, groups)));
  } finally {
    encoder.dispose({ clip: true });
  }
}

main().catch((e: Error) => {
  process.stderr.write(`text-words: ${e.message}\n`);
  process.exit(1);
});
