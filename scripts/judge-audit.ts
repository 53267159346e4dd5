/**
 * Does fine-tuning use a blind spot of the judge? The audit's flags
 * (src/world/judgeAudit.ts) on the base model's images and on fine-tuned
 * models' images of the same prompts and image seeds, beside renders of them
 * (the control: no mark but a weak place vote now and then). A flag that
 * rises with fine-tuning, among the images the judge calls aligned above all,
 * would be a reward hack that the judge's accuracy counts as a gain
 * (placeShape also by the prompt's place, since the forest's and the moon's
 * textures draw it in renders and the other places' rarely). Then the
 * shape fit (`shapeFits`: the mean template IoU of the objects the judge
 * finds; renders 1), fine-tuned minus base, with the paired sign-flip test
 * over prompts, for all objects and by their size (a model that draws more,
 * smaller objects fits worse for that alone): shapes drawn nearer the
 * judge's threshold, a fidelity cost that the judge's verdicts do not see.
 *
 *   node --import tsx scripts/judge-audit.ts --base DIR --runs DIR[,DIR...] [--grid FILE.png]
 *
 * --grid: the 8 images whose shape fit fell most from the base's to the first run's and 4 at the median
 * change, each base image beside the run's (4 pairs a row, 4x).
 *
 * DIRs: datasets of one prompt file and seed (`generate --prompts F --per-prompt N --seed S`), one per
 * model (the runs: one per fine-tuning seed). Intervals: 95% over prompts and seeds (promptSeedInterval).
 */
import { parseArgs } from 'node:util';
import { pairedPromptTest, promptSeedInterval, Tally } from '../src/reward/metrics';
import * as fs from 'node:fs';
import { readImage, readManifest } from '../src/world/dataset';
import { encodePng, ImageLike, tileImages } from '../src/world/image';
import { observe, verdictFor } from '../src/world/judge';
import { AUDIT_FLAGS, AuditFlag, auditImage, shapeFits } from '../src/world/judgeAudit';
import { parsePrompt } from '../src/world/prompt';
import { renderPrompt } from '../src/world/render';

type Row = { key: string; prompt: string; flags: Record<AuditFlag, boolean>; aligned: boolean; fits: Array<{ fit: number; side: number }>; image?: ImageLike };

function audit(dir: string): Map<string, Row> {
  const rows = new Map<string, Row>();
  for (const r of readManifest(dir)) {
    const img = readImage(dir, r);
    const observed = observe(img); // one reading for the verdict and the shape fit
    rows.set(`${r.prompt}\n${r.seed}`, { key: `${r.prompt}\n${r.seed}`, prompt: r.prompt, flags: auditImage(img), aligned: verdictFor(r.attributes, observed).aligned, fits: shapeFits(img, observed), image: img });
  }
  return rows;
}

const pct = (t: Tally) => (t.n ? `${((100 * t.k) / t.n).toFixed(1)}%` : '-');
const tally = (rows: Row[], keep: (r: Row) => boolean, count: (r: Row) => boolean): Tally => {
  const kept = rows.filter(keep);
  return { k: kept.filter(count).length, n: kept.length };
};

function main(): void {
  const { values } = parseArgs({ options: { base: { type: 'string' }, runs: { type: 'string', multiple: true }, grid: { type: 'string' } }, strict: true });
  if (values.grid !== undefined && !values.grid.endsWith('.png')) throw new Error(`--grid must name a .png file, got "${values.grid}"`);
  const runDirs = (values.runs ?? []).flatMap((r) => r.split(',')).filter((r) => r);
  if (!values.base || runDirs.length === 0) throw new Error('usage: node --import tsx scripts/judge-audit.ts --base DIR --runs DIR[,DIR...]');
  const base = audit(values.base);
  const runs = runDirs.map((d) => {
    const rows = audit(d);
    const missing = [...base.keys()].filter((k) => !rows.has(k));
    if (missing.length || rows.size !== base.size) throw new Error(`${d} does not hold the base's prompts and image seeds (${missing.length} of ${base.size} missing): generate it with the same --prompts, --per-prompt and --seed`);
    return rows;
  });
  // Renders of the same prompts and seeds: what the world itself draws.
  const renders = new Map([...readManifest(values.base)].map((r) => {
    const image = renderPrompt(parsePrompt(r.prompt), r.seed).image;
    return [`${r.prompt}\n${r.seed}`, { key: '', prompt: r.prompt, flags: auditImage(image), aligned: true, fits: shapeFits(image) }];
  }));
  const prompts = [...new Set([...base.values()].map((r) => r.prompt))].sort();
  const of = (m: Map<string, Row>, p: string) => [...m.values()].filter((r) => r.prompt === p);
  console.log(`${base.size} images of ${prompts.length} prompts per model; ${runs.length} fine-tuned runs\n`);
  for (const [what, keep] of [['all images', () => true], ['images the judge calls aligned', (r: Row) => r.aligned]] as const) {
    console.log(`### ${what}\n\n| flag | renders | base | fine-tuned (${runs.map((_, i) => `run ${i}`).join(', ')}) | fine-tuned minus base [95% over prompts and seeds] |\n|---|---:|---:|---|---|`);
    // placeShape also by the prompt's place: the forest's foliage and the moon's craters draw it in renders, the other places rarely
    const placeOf = (r: { prompt: string }) => parsePrompt(r.prompt).background ?? 'plain';
    const places = [...new Set(prompts.map((p) => placeOf({ prompt: p })))].sort();
    const rowsOf: Array<[string, AuditFlag, (r: { prompt: string }) => boolean]> = [
      ...AUDIT_FLAGS.map((f): [string, AuditFlag, () => boolean] => [f, f, () => true]),
      ...places.map((pl): [string, AuditFlag, (r: { prompt: string }) => boolean] => [`placeShape, ${pl}`, 'placeShape', (r) => placeOf(r) === pl]),
    ];
    for (const [label, f, inRow] of rowsOf) {
      const rowPrompts = prompts.filter((p) => inRow({ prompt: p }));
      const per = rowPrompts.map((p) => ({ prompt: p, base: tally(of(base, p), keep, (r) => r.flags[f]), runs: runs.map((m) => tally(of(m, p), keep, (r) => r.flags[f])) }));
      const sum = (ts: Tally[]) => ({ k: ts.reduce((a, t) => a + t.k, 0), n: ts.reduce((a, t) => a + t.n, 0) });
      const baseT = sum(per.map((x) => x.base));
      const runT = runs.map((_, j) => sum(per.map((x) => x.runs[j])));
      const mean = runT.reduce((a, t) => a + (t.n ? t.k / t.n : 0), 0) / runs.length - (baseT.n ? baseT.k / baseT.n : 0);
      const iv = promptSeedInterval(per, { seed: `judge-audit/${label}/${what}` });
      const renderT = sum(rowPrompts.map((p) => tally(of(renders, p), () => true, (r) => r.flags[f])));
      console.log(`| ${label} | ${pct(renderT)} | ${pct(baseT)} | ${runT.map(pct).join(', ')} | ${(100 * mean >= 0 ? '+' : '') + (100 * mean).toFixed(1)} [${(100 * iv.lo).toFixed(1)}, ${(100 * iv.hi).toFixed(1)}] |`);
    }
    console.log('');
  }
  // Shape fit: the objects' summed fit over their number, pooled over a prompt's images (a Tally of sum and n).
  const SIZES: Array<[string, (side: number) => boolean]> = [
    ['all objects', () => true],
    ['box side under 0.3 of the image', (s) => s < 0.3],
    ['0.3 to 0.45', (s) => s >= 0.3 && s < 0.45],
    ['0.45 and over', (s) => s >= 0.45],
  ];
  const rate = (t: Tally) => (t.n ? t.k / t.n : NaN);
  console.log(`### shape fit: mean template IoU of the objects the judge finds (renders 1; recognised from 0.8; objects in brackets)\n`);
  console.log(`| objects | renders | base | fine-tuned (${runs.map((_, i) => `run ${i}`).join(', ')}) | fine-tuned minus base, pooled over objects [95% over prompts and seeds] | the same, mean over prompts: sign-flip p (prompts) |\n|---|---:|---:|---|---|---|`);
  for (const [what, keep] of SIZES) {
    const fitOf = (rows: Row[]): Tally => {
      const kept = rows.flatMap((r) => r.fits.filter((f) => keep(f.side)));
      return { k: kept.reduce((a, f) => a + f.fit, 0), n: kept.length };
    };
    const per = prompts.map((p) => ({ prompt: p, base: fitOf(of(base, p)), runs: runs.map((m) => fitOf(of(m, p))) }));
    const all = (m: Map<string, Row>) => fitOf([...m.values()]);
    const cell = (m: Map<string, Row>) => `${rate(all(m)).toFixed(3)} (${all(m).n})`;
    const diff = runs.reduce((a, m) => a + rate(all(m)), 0) / runs.length - rate(all(base));
    const iv = promptSeedInterval(per, { seed: `judge-audit/shape-fit/${what}` });
    // per prompt: the runs' mean fit minus the base's, over the prompts with such objects in every model
    const diffs = per.filter((x) => x.base.n && x.runs.every((t) => t.n)).map((x) => ({ prompt: x.prompt, d: x.runs.reduce((a, t) => a + rate(t), 0) / runs.length - rate(x.base) }));
    const test = pairedPromptTest(diffs, { seed: `judge-audit/shape-fit/${what}` });
    // the test weighs every prompt alike, the pooled effect every object: both shown, as they can disagree
    const p = !diffs.length ? '-' : `${(test.mean >= 0 ? '+' : '') + test.mean.toFixed(3)}: ${test.p < 0.001 ? '< 0.001' : test.p.toFixed(3)} (${test.prompts})`;
    console.log(`| ${what} | ${cell(renders)} | ${cell(base)} | ${runs.map(cell).join(', ')} | ${(diff >= 0 ? '+' : '') + diff.toFixed(3)} [${iv.lo.toFixed(3)}, ${iv.hi.toFixed(3)}] | ${p} |`);
  }
  if (values.grid) {
    // base beside run 0, by the change in the image's mean fit: the largest falls, then the median ones
    const mean = (r: Row) => (r.fits.length ? r.fits.reduce((a, f) => a + f.fit, 0) / r.fits.length : 1);
    const pairs = [...base.values()].map((b) => ({ b, r: runs[0].get(b.key)! })).map((x) => ({ ...x, d: mean(x.r) - mean(x.b) })).sort((x, y) => x.d - y.d || (x.b.key < y.b.key ? -1 : 1));
    const mid = Math.floor(pairs.length / 2);
    const shown = [...pairs.slice(0, 8), ...pairs.slice(mid - 2, mid + 2)];
    fs.writeFileSync(values.grid, encodePng(tileImages(shown.flatMap((x) => [x.b.image!, x.r.image!]), { columns: 8, scale: 4, gap: 2 })));
    console.log(`\n${values.grid}: base beside run 0, 4 pairs a row; the 8 largest falls in shape fit, then 4 at the median:\n${shown.map((x) => `${x.b.prompt}: ${mean(x.b).toFixed(3)} -> ${mean(x.r).toFixed(3)}`).join('\n')}`);
  }
}

try {
  main();
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
}
