/**
 * Which wrong colors does a model draw? For each dataset folder (a `collect`
 * output, e.g. a D_model), judges every image whose prompt names a color and
 * whose objects the judge reads as one color, and counts them by how far that
 * color is from the prompt's along the look-alike cycle of the corpus
 * (`COLOR_LOOKALIKE`: red -> orange -> yellow -> green -> blue -> purple ->
 * pink -> red). Step 0 is right; step -1 is the corpus's own caption mistake
 * (a red shape captioned "orange", so "orange" drawn red); the other steps
 * are colors the captions never put in the prompt's place. Images with
 * several colors (or an unknown one) are counted apart.
 *
 *   node --import tsx scripts/color-errors.ts DIR [DIR ...] [--json]
 */
import { parseArgs } from 'node:util';
import { COLOR_LOOKALIKE, COLORS, judge, readImage, readManifest } from '../src/world';

/** Colors in look-alike order, starting at red (each one's look-alike is the next). */
function cycle(): string[] {
  const order = [COLORS[0] as string];
  while (order.length < COLORS.length) order.push(COLOR_LOOKALIKE[order.at(-1) as keyof typeof COLOR_LOOKALIKE]);
  return order;
}

/** Signed step from the prompt's color to the drawn one along the cycle, in -3..3. */
function step(order: string[], asked: string, drawn: string): number {
  const d = (order.indexOf(drawn) - order.indexOf(asked) + order.length) % order.length;
  return d > order.length / 2 ? d - order.length : d;
}

function main(): void {
  const { values, positionals } = parseArgs({ options: { json: { type: 'boolean' } }, allowPositionals: true });
  if (!positionals.length) throw new Error('usage: color-errors.ts DIR [DIR ...] [--json]: give at least one dataset folder');
  const order = cycle();
  const rows = positionals.map((dir) => {
    const steps: Record<string, number> = {};
    let severalOrUnknown = 0;
    let images = 0;
    for (const r of readManifest(dir)) {
      if (!r.attributes.color) continue;
      images++;
      const color = judge(r.prompt, readImage(dir, r)).verdicts.find((v) => v.attribute === 'color')!;
      const seen = String(color.seen);
      if (!order.includes(seen)) {
        severalOrUnknown++;
        continue;
      }
      const s = String(step(order, r.attributes.color, seen));
      steps[s] = (steps[s] ?? 0) + 1;
    }
    const single = Object.values(steps).reduce((a, b) => a + b, 0);
    const wrong = single - (steps['0'] ?? 0);
    return { dir, images, single, right: steps['0'] ?? 0, lookalike: steps['-1'] ?? 0, wrong, severalOrUnknown, steps };
  });
  if (values.json) return void console.log(JSON.stringify(rows, null, 2));
  const pct = (k: number, n: number) => (n ? ((100 * k) / n).toFixed(1) : '-');
  console.log('| dataset | images naming a color | one color read | right | wrong: the look-alike (step -1) | wrong: another color | steps -3 / -2 / -1 / +1 / +2 / +3 | several or unknown |');
  console.log('|---|---:|---:|---:|---:|---:|---|---:|');
  for (const r of rows) {
    const other = r.wrong - r.lookalike;
    const hist = ['-3', '-2', '-1', '1', '2', '3'].map((k) => r.steps[k] ?? 0).join(' / ');
    console.log(`| ${r.dir} | ${r.images} | ${r.single} | ${r.right} (${pct(r.right, r.single)}%) | ${r.lookalike} (${pct(r.lookalike, r.wrong)}% of wrong) | ${other} | ${hist} | ${r.severalOrUnknown} |`);
  }
}

try {
  main();
} catch (e) {
  console.error(`color-errors: ${(e as Error).message}`);
  process.exit(1);
}
