/**
 * Two base models on the same images, paired: `node --import tsx scripts/compare-base.ts A.json B.json
 * [--measure recognised|aligned] [--names A,B] [--json]`. A.json and B.json are `eval-base --json`
 * outputs made with the same --seed, --seeds, --per-category and --prompts-per-category (the sampler
 * may differ). Prints, per set and category and over each whole set, B minus A in the share of
 * images with the prompt's shape recognised (default) or judged aligned, with a 95% interval
 * bootstrapped over prompts and a paired sign-flip test over prompts (`compareBaseEvals`).
 * The interval covers the images' noise only, not a second training seed's.
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { compareBaseEvals, pairedDifferenceTable, unverifiedPairing } from '../src/eval/base';

function readEval(file: string): Parameters<typeof compareBaseEvals>[0] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new Error(`cannot read ${file}`);
  }
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not JSON (${(e as Error).message})`);
  }
  const ok = (x: unknown): x is Parameters<typeof compareBaseEvals>[0] =>
    typeof x === 'object' && x !== null && 'seen' in x && 'unseen' in x && typeof (x as { seen: unknown }).seen === 'object';
  if (!ok(r)) throw new Error(`${file} is not an eval-base --json output (it has no seen and unseen cells)`);
  return r;
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { measure: { type: 'string', default: 'recognised' }, names: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  if (positionals.length !== 2) throw new Error(`usage: compare-base.ts A.json B.json [--measure recognised|aligned] [--names A,B] [--json] (got ${positionals.length} files)`);
  const measure = values.measure;
  if (measure !== 'recognised' && measure !== 'aligned') throw new Error(`--measure must be recognised or aligned, got "${measure}"`);
  const names = (values.names ?? positionals.join(',')).split(',');
  if (names.length !== 2 || names.some((n) => n.trim() === '')) throw new Error(`--names needs two names separated by a comma, got "${values.names}"`);
  const [a, b] = [readEval(positionals[0]), readEval(positionals[1])];
  const rows = compareBaseEvals(a, b, measure);
  const warning = unverifiedPairing(a, b, [positionals[0], positionals[1]]);
  if (warning) process.stderr.write(`compare-base: warning: ${warning}\n`);
  process.stdout.write(values.json ? JSON.stringify(rows, null, 2) + '\n' : `${measure === 'recognised' ? 'objects recognised' : 'judged aligned'}\n\n${pairedDifferenceTable(rows, [names[0], names[1]])}\n`);
}

try {
  main();
} catch (e) {
  process.stderr.write(`compare-base: ${(e as Error).message}\n`);
  process.exit(1);
}
