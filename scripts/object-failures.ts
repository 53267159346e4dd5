/**
 * Why does the judge not recognise the object on prompts of several objects?
 * Makes the count and combination images of `eval-base` (the same prompts,
 * image seeds and sampler, so the same images as `eval-base --seed S --seeds S`),
 * then reads every object the judge finds in them and reports:
 * - images whose objects are all recognised as the prompt's shape (eval-base's
 *   "object recognised");
 * - each object that is not: read as another shape (which one), or as no
 *   shape (template IoU below the judge's threshold), by the size of its box;
 * - a grid of the first 24 images that fail (upscaled 6x), with what the judge
 *   read in each object, in reading order.
 *
 *   node --import tsx scripts/object-failures.ts [--model DIR] [--set seen|unseen]
 *       [--seed S] [--per-category N] [--prompts-per-category P] [--guidance G] [--out DIR]
 *
 * The sampler is the model's own (`sampler` in its config.json), with G as its
 * guidance scale when given: a pretrain run's folder holds its preset's scale
 * (7), a shipped model the scale it was shipped at (2.5), so give --guidance
 * to compare the two.
 * S defaults to 1000, the tuning seed of docs/base-model-recipe.md (never a
 * reported seed); N and P default to that tuning's 96 and 8.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/engine';
import { BASE_MODEL_DIR, evalJobs, loadModel } from '../src/eval';
import { generateImages } from '../src/models';
import { encodePng, ImageLike, tileImages } from '../src/world/image';
import { judge, SeenObject, UNKNOWN_OBJECT } from '../src/world/judge';
import { intArg, numberArg } from './args';

const CATEGORIES = ['count', 'combination'] as const;
const SIDE_BINS: Array<[string, (side: number) => boolean]> = [
  ['<= 9 px', (s) => s <= 9],
  ['10-11 px', (s) => s >= 10 && s <= 11],
  ['12-13 px', (s) => s >= 12 && s <= 13],
  ['>= 14 px', (s) => s >= 14],
];

const pct = (k: number, n: number) => (n ? `${((100 * k) / n).toFixed(1)}%` : '-');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      set: { type: 'string', default: 'seen' },
      seed: { type: 'string' },
      'per-category': { type: 'string' },
      'prompts-per-category': { type: 'string' },
      guidance: { type: 'string' },
      out: { type: 'string', default: path.join('results', 'object-failures') },
    },
    strict: true,
  });
  const set = values.set;
  if (set !== 'seen' && set !== 'unseen') throw new Error(`--set must be seen or unseen, got '${set}'`);
  const seed = intArg('seed', values.seed, 1000, 0, 2 ** 31);
  const imagesPerCategory = intArg('per-category', values['per-category'], 96, 1);
  const promptsPerCategory = intArg('prompts-per-category', values['prompts-per-category'], 8, 1);
  const guidance = numberArg('guidance', values.guidance, 0, 100);
  await initBackend();
  const { model, meta, dir } = await loadModel(values.model ?? BASE_MODEL_DIR);
  try {
    // eval-base's images of these two cells (src/eval/base.ts).
    const jobs = evalJobs(set, { imagesPerCategory, promptsPerCategory, seed, seeds: [seed] }, CATEGORIES);
    const sampler = { ...meta.config.sampler, ...(guidance !== undefined ? { guidanceScale: guidance } : {}) };
    const images = await generateImages(model, jobs.map((j) => j.entry.prompt), { ...sampler, seed: jobs.map((j) => j.seed), batchSize: 32 });

    const lines: string[] = [`${dir}, ${set} prompts, seed ${seed}, guidance ${sampler.guidanceScale}, ${sampler.steps} steps`, ''];
    const failed: Array<{ image: ImageLike; note: string }> = [];
    for (const category of CATEGORIES) {
      const idx = jobs.map((j, i) => (j.category === category ? i : -1)).filter((i) => i >= 0);
      let recognised = 0;
      const objects: Array<{ o: SeenObject; expected: string }> = [];
      for (const i of idx) {
        const { prompt, attributes } = jobs[i].entry;
        const v = judge(attributes, images[i]);
        const ok = !!v.verdicts.find((x) => x.attribute === 'object')?.ok;
        if (ok) recognised++;
        else if (failed.length < 24)
          failed.push({ image: images[i], note: `${prompt}: ${v.observed.objects.map((o) => `${o.object} ${o.box.w}x${o.box.h} IoU ${o.shapeScore.toFixed(2)}`).join('; ') || 'no object'}` });
        for (const o of v.observed.objects) objects.push({ o, expected: attributes.object });
      }
      const wrong = objects.filter(({ o, expected }) => o.object !== expected);
      const byReading = new Map<string, number>();
      for (const { o } of wrong) {
        const key = o.object === UNKNOWN_OBJECT ? 'no shape (IoU < threshold)' : `another shape: ${o.object}`;
        byReading.set(key, (byReading.get(key) ?? 0) + 1);
      }
      lines.push(`## ${category}: objects recognised in ${recognised} of ${idx.length} images (${pct(recognised, idx.length)})`, '');
      lines.push(`${objects.length} objects found, ${wrong.length} not read as the prompt's shape (${pct(wrong.length, objects.length)}):`, '');
      lines.push('| read as | objects | share of the misread |', '|---|---:|---:|');
      for (const [k, n] of [...byReading].sort((a, b) => b[1] - a[1])) lines.push(`| ${k} | ${n} | ${pct(n, wrong.length)} |`);
      lines.push('', '| object box (longer side) | objects | misread |', '|---|---:|---:|');
      for (const [name, inBin] of SIDE_BINS) {
        const all = objects.filter(({ o }) => inBin(Math.max(o.box.w, o.box.h)));
        const bad = all.filter(({ o, expected }) => o.object !== expected);
        lines.push(`| ${name} | ${all.length} | ${bad.length} (${pct(bad.length, all.length)}) |`);
      }
      lines.push('');
    }
    fs.mkdirSync(values.out!, { recursive: true });
    if (failed.length) {
      fs.writeFileSync(path.join(values.out!, 'failed.png'), encodePng(tileImages(failed.map((f) => f.image), { columns: 8, scale: 6 })));
      fs.writeFileSync(path.join(values.out!, 'failed.txt'), failed.map((f, k) => `${k + 1} ${f.note}`).join('\n') + '\n');
    }
    fs.writeFileSync(path.join(values.out!, 'summary.md'), lines.join('\n'));
    console.log(lines.join('\n'));
    console.log(`${values.out}/summary.md, failed.png and failed.txt (the grid's images in reading order)`);
  } finally {
    model.dispose({ clip: true });
  }
}

main().catch((e: Error) => {
  process.stderr.write(`object-failures: ${e.message}\n`);
  process.exit(1);
});
