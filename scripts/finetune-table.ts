/**
 * The table of a saved `eval-finetune --json` comparison, its intervals over
 * prompts and seeds computed again from its per-prompt tallies (for
 * comparisons saved before `overPrompts` existed, or to read several at once).
 *
 *   node --import tsx scripts/finetune-table.ts FILE.json [FILE.json ...]
 */
import * as fs from 'node:fs';
import { comparisonTable, FinetuneComparison, promptSeedInterval } from '../src/finetune/evaluate';

function main(): void {
  const files = process.argv.slice(2);
  if (!files.length) throw new Error('usage: node --import tsx scripts/finetune-table.ts FILE.json [FILE.json ...] (eval-finetune --json output)');
  for (const file of files) {
    let c: FinetuneComparison;
    try {
      c = JSON.parse(fs.readFileSync(file, 'utf8')) as FinetuneComparison;
    } catch (e) {
      throw new Error(`${file}: not a readable eval-finetune --json file (${(e as Error).message})`);
    }
    if (!Array.isArray(c.byPrompt) || !c.byPrompt.length || !Array.isArray(c.effects)) throw new Error(`${file}: no per-prompt tallies (byPrompt): an eval-finetune --json comparison of one setting is needed`);
    const effects = c.effects.map((e) => ({
      ...e,
      overPrompts: promptSeedInterval(c.byPrompt.filter((r) => e.category === 'all' || r.category === e.category), { seed: `finetune-effect/${e.category}` }),
    }));
    console.log(`## ${file} (${c.prompts} prompts x ${c.perPrompt} images, ${c.runs.length} runs)\n\n${comparisonTable({ ...c, effects })}\n`);
  }
}

try {
  main();
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
}
