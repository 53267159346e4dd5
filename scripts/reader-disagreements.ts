/**
 * Where the two readers disagree about a fine-tuning run, image by image. For
 * a `reproduce` folder, regenerate the evaluation images of the base model and
 * of each seed of one variant (the same prompts, seeds and sampler as its
 * `eval/NAME/SPLIT/evaluation.json`; images not paired as stored, or more
 * than 5% of them with other verdicts than the stored ones, are an error; fewer,
 * as after a change of the native kernels' arithmetic, are counted per model in
 * the summary), then write to OUT:
 * - `grid.png`: base left of fine-tuned, for every pair the classifier
 *   turns right while the judge calls both images wrong (upscaled 6x);
 * - `judge-accepts.png`: every image the judge calls right and the classifier
 *   wrong (the judge's possible false positives: a reward hack would show here);
 * - `readings.json`: what each reader saw in every image;
 * - `summary.md`: why the judge rejects the images the classifier accepts, and
 *   the fine-tuning effect re-judged at other shape thresholds (the judge's
 *   SHAPE_THRESHOLD is 0.8).
 *
 *   node --import tsx scripts/reader-disagreements.ts --run DIR [--split unseen] [--variant rlhf] [--out DIR]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/engine';
import { evaluateModel } from '../src/eval/evaluate';
import { loadClassifier, Prediction } from '../src/eval/classifier';
import { categoryOf, parsePrompt } from '../src/world/prompt';
import { encodePng, ImageLike, tileImages } from '../src/world/image';
import { Observation, observe, SeenObject, SHAPE_THRESHOLD, UNKNOWN_OBJECT, verdictFor } from '../src/world/judge';

const THRESHOLDS = [0.7, 0.75, 0.8, 0.85];
/** The share of regenerated images whose verdicts may differ from the stored ones before the run is refused. */
const MAX_CHANGED = 0.05;

interface Reading {
  prompt: string;
  k: number;
  judge: boolean;
  classifier: boolean;
  reasons: string[];
  observed: Observation;
  read: Omit<Prediction, 'probability'>;
}

async function regenerate(evalFile: string, clf: Awaited<ReturnType<typeof loadClassifier>>): Promise<{ readings: Reading[]; images: ImageLike[]; changed: number }> {
  const ev = JSON.parse(fs.readFileSync(evalFile, 'utf8'));
  const s = typeof ev.settings === 'string' ? JSON.parse(ev.settings) : ev.settings;
  const prompts = s.prompts.map((p: string) => {
    const attributes = parsePrompt(p);
    return { prompt: p, attributes, category: categoryOf(attributes) };
  });
  let readings: Reading[] = [];
  let images: ImageLike[] = [];
  await evaluateModel({
    model: s.model, prompts, perPrompt: s.perPrompt, seed: s.seed, sampler: s.sampler, resamples: 10,
    onImages: (imgs, items) => {
      const preds = clf.predict(imgs);
      images = imgs;
      readings = items.map((it, i) => {
        const v = verdictFor(parsePrompt(it.prompt), observe(imgs[i]));
        const { probability: _, ...read } = preds[i];
        return { prompt: it.prompt, k: it.k, judge: it.judge, classifier: it.classifier, reasons: v.reasons, observed: v.observed, read };
      });
    },
  });
  const stored = ev.result.images as Array<{ prompt: string; k: number; judge: boolean; classifier: boolean }>;
  if (readings.length !== stored.length) throw new Error(`${evalFile}: ${readings.length} images regenerated, ${stored.length} stored`);
  const unpaired = readings.filter((r, i) => r.prompt !== stored[i].prompt || r.k !== stored[i].k);
  if (unpaired.length) throw new Error(`${evalFile}: ${unpaired.length} regenerated images are not the stored prompt and image index`);
  const changed = readings.filter((r, i) => r.judge !== stored[i].judge || r.classifier !== stored[i].classifier).length;
  // A few flips are a change of arithmetic (kernels, backend); many mean the images are not the run's.
  if (changed > MAX_CHANGED * readings.length) throw new Error(`${evalFile}: ${changed} of ${readings.length} regenerated images read differently from the stored verdicts (more than ${MAX_CHANGED * 100}%): these are not the run's images`);
  if (changed) process.stderr.write(`${evalFile}: ${changed} of ${readings.length} regenerated images read differently from the stored verdicts (the code, kernels or backend changed since the run)\n`);
  if (readings.some((r) => alignedAt(r, SHAPE_THRESHOLD) !== r.judge)) throw new Error('alignedAt at the judge\'s own threshold differs from the judge');
  return { readings, images, changed };
}

/** The judge's verdict with another shape threshold: a component is its nearest shape when its IoU reaches `t`. */
function alignedAt(r: Reading, t: number): boolean {
  const objects = r.observed.objects.map((o): SeenObject => ({ ...o, object: o.shapeScore >= t ? o.nearest : UNKNOWN_OBJECT }));
  return verdictFor(parsePrompt(r.prompt), { ...r.observed, objects }).aligned;
}

/** The judge recognises a shape other than the prompt's (beside others: a mix, which one object head cannot read). */
const OTHER_SHAPE = /^(a mix of shapes|another shape)/;

/** Why the judge rejects an image (the attributes it fails; for the object, what it saw instead). */
function whyRejected(r: Reading): string {
  const attrs = r.reasons.map((x) => x.split(':')[0]);
  const objs = r.observed.objects;
  const want = parsePrompt(r.prompt).object;
  const kinds: string[] = [];
  if (attrs.includes('object')) {
    const unknown = objs.filter((o) => o.object === UNKNOWN_OBJECT);
    const other = objs.find((o) => o.object !== UNKNOWN_OBJECT && o.object !== want);
    if (!objs.length) kinds.push('no object');
    else if (other) kinds.push(objs.some((o) => o.object !== other.object) ? 'a mix of shapes' : 'another shape');
    else kinds.push(unknown.every((o) => o.shapeScore >= 0.75) ? `a shape not recognised, IoU 0.75-${SHAPE_THRESHOLD}` : 'a shape not recognised, IoU < 0.75');
  }
  for (const a of ['count', 'color', 'background']) if (attrs.includes(a)) kinds.push(a);
  return kinds.join(' + ');
}

const pct = (xs: boolean[]) => (100 * xs.filter(Boolean).length) / xs.length;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { run: { type: 'string' }, split: { type: 'string', default: 'unseen' }, variant: { type: 'string', default: 'rlhf' }, out: { type: 'string' } } });
  if (!values.run) throw new Error('usage: --run DIR [--split seen|unseen] [--variant rlhf] [--out DIR]');
  const split = values.split!;
  if (split !== 'seen' && split !== 'unseen') throw new Error(`--split must be seen or unseen, got "${split}"`);
  const evalDir = path.join(values.run, 'eval');
  if (!fs.existsSync(evalDir)) throw new Error(`${values.run} is not a reproduce run folder (it has no eval/)`);
  const seedOf = (d: string) => Number(d.slice(`${values.variant}-seed`.length));
  const seeds = fs.readdirSync(evalDir).filter((d) => d.startsWith(`${values.variant}-seed`)).sort((a, b) => seedOf(a) - seedOf(b));
  if (!seeds.length) throw new Error(`no ${values.variant}-seed* folders in ${evalDir}`);
  const out = values.out ?? path.join(values.run, 'disagreements', split);
  fs.mkdirSync(out, { recursive: true });
  for (const f of ['grid.png', 'judge-accepts.png']) fs.rmSync(path.join(out, f), { force: true });
  await initBackend();
  const clf = await loadClassifier();
  const file = (name: string) => path.join(evalDir, name, split, 'evaluation.json');
  const base = await regenerate(file('base'), clf);
  const runs: Array<{ name: string; readings: Reading[]; images: ImageLike[]; changed: number }> = [];
  for (const name of seeds) {
    const run = await regenerate(file(name), clf);
    if (run.readings.length !== base.readings.length || run.readings.some((r, i) => r.prompt !== base.readings[i].prompt || r.k !== base.readings[i].k)) throw new Error(`${name}: its images are not paired with the base model's`);
    runs.push({ name, ...run });
  }

  const grid: ImageLike[] = [];
  let picked = 0;
  for (const run of runs) {
    run.readings.forEach((a, i) => {
      const b = base.readings[i];
      if (!b.classifier && a.classifier && !b.judge && !a.judge) {
        picked++;
        grid.push(base.images[i], run.images[i]);
      }
    });
  }
  if (grid.length) fs.writeFileSync(path.join(out, 'grid.png'), encodePng(tileImages(grid, { columns: 8, scale: 6 })));

  const all = [base.readings, ...runs.map((r) => r.readings)].flat();
  const changed = base.changed + runs.reduce((n, r) => n + r.changed, 0);
  const allImages = [base.images, ...runs.map((r) => r.images)].flat();
  const judgeOnly = all.flatMap((r, i) => (r.judge && !r.classifier ? [i] : []));
  if (judgeOnly.length) fs.writeFileSync(path.join(out, 'judge-accepts.png'), encodePng(tileImages(judgeOnly.map((i) => allImages[i]), { columns: 10, scale: 4 })));
  const judgeOnlyReads = new Map<string, number>();
  for (const i of judgeOnly) {
    const read = `classifier reads ${all[i].read.count} ${all[i].read.object}`;
    judgeOnlyReads.set(read, (judgeOnlyReads.get(read) ?? 0) + 1);
  }

  const why = new Map<string, number>();
  const accepted = all.filter((r) => r.classifier && !r.judge);
  for (const r of accepted) why.set(whyRejected(r), (why.get(whyRejected(r)) ?? 0) + 1);

  const perModel = [{ name: 'base', readings: base.readings }, ...runs].map(({ name, readings }) => {
    const n = (f: (r: Reading) => boolean) => readings.filter(f).length;
    const classifierOnly = (r: Reading) => !r.judge && r.classifier;
    return `| ${name} | ${readings.length} | ${n((r) => r.judge && r.classifier)} | ${n((r) => r.judge && !r.classifier)} | ${n(classifierOnly)} | ${n((r) => classifierOnly(r) && OTHER_SHAPE.test(whyRejected(r)))} |`;
  });

  const lines = [
    `# Where the readers disagree: ${values.run}, ${split} prompts, base and ${seeds.join(', ')}`,
    '',
    `Regenerated images that read differently from the verdicts stored with the run: ${changed} of ${all.length}${changed ? ` (base ${base.changed}, ${runs.map((r) => `${r.name} ${r.changed}`).join(', ')}; the code, kernels or backend changed since the run; everything below reads the regenerated images)` : ''}.`,
    '',
    `Pairs (same prompt and image seed) that the classifier turns right while the judge calls both images wrong: ${picked} (grid.png, base left of fine-tuned).`,
    '',
    `Images the classifier calls right and the judge wrong (base and every seed, ${all.length} images): ${accepted.length}, ${accepted.filter((r) => r.observed.objects.length > 1).length} of them with several objects. The judge's reasons:`,
    '',
    '| reason | images |',
    '|---|---:|',
    ...[...why].sort((a, b) => b[1] - a[1]).map(([k, n]) => `| ${k} | ${n} |`),
    '',
    `Images the judge calls right and the classifier wrong: ${judgeOnly.length} (judge-accepts.png). What the classifier reads there:`,
    '',
    '| reading | images |',
    '|---|---:|',
    ...[...judgeOnlyReads].sort((a, b) => b[1] - a[1]).map(([k, n]) => `| ${k} | ${n} |`),
    '',
    'Per model: if fine-tuning found a blind spot of the judge, the images only the judge accepts would grow.',
    '',
    '| model | images | both readers right | judge only | classifier only | of which another shape recognised |',
    '|---|---:|---:|---:|---:|---:|',
    ...perModel,
    '',
    `The judge re-run at other shape thresholds (IoU with the nearest template; shipped ${SHAPE_THRESHOLD}): accuracy, and ${values.variant} minus base per seed (points).`,
    '',
    `| threshold | base | ${values.variant} (mean of seeds) | per seed | mean difference |`,
    '|---:|---:|---:|---|---:|',
    ...THRESHOLDS.map((t) => {
      const b = pct(base.readings.map((r) => alignedAt(r, t)));
      const m = runs.map((run) => pct(run.readings.map((r) => alignedAt(r, t))));
      const d = m.map((x) => x - b);
      return `| ${t} | ${b.toFixed(1)} | ${(m.reduce((s, x) => s + x, 0) / m.length).toFixed(1)} | ${d.map((x) => x.toFixed(1)).join(', ')} | ${(d.reduce((s, x) => s + x, 0) / d.length).toFixed(1)} |`;
    }),
    '',
  ];
  fs.writeFileSync(path.join(out, 'summary.md'), lines.join('\n'));
  fs.writeFileSync(path.join(out, 'readings.json'), JSON.stringify({ base: base.readings, ...Object.fromEntries(runs.map((r) => [r.name, r.readings])) }));
  console.log(lines.join('\n'));
}

main().catch((e) => {
  console.error(`reader-disagreements: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
