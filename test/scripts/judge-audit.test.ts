// scripts/judge-audit.ts: a flag the fine-tuned images carry and the base's do not shows as a rise; datasets
// that are not of the same prompts and seeds are refused in one line.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { Dataset } from '../../src/world/dataset';
import { observeWithPixels } from '../../src/world/judge';
import { parsePrompt } from '../../src/world/prompt';
import { renderPrompt } from '../../src/world/render';
import { removedAtExit } from '../helpers/temp';

const ROOT = path.join(__dirname, '..', '..');
const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'judge-audit.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });
const PROMPTS = ['a red circle', 'a blue square', 'a green star', 'a pink heart'];

/** Renders of PROMPTS x 2 seeds; `marked` adds a pale disc away from the object (a stray mark the judge does not count). */
function dataset(marked: boolean, seeds = [0, 1]): string {
  const dir = removedAtExit('t2i-audit-');
  const ds = Dataset.create(dir);
  for (const prompt of PROMPTS) {
    for (const seed of seeds) {
      const img = renderPrompt(parsePrompt(prompt), seed).image;
      if (marked) {
        const box = observeWithPixels(img).objects[0].seen.box;
        const cx = box.x + box.w / 2 < 16 ? 26 : 5, cy = box.y + box.h / 2 < 16 ? 26 : 5;
        for (let y = cy - 3; y <= cy + 3; y++) for (let x = cx - 3; x <= cx + 3; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= 9) img.data.set([150, 190, 250], (y * 32 + x) * 3);
      }
      ds.add({ id: `${prompt}-${seed}`, prompt, attributes: parsePrompt(prompt), seed, source: 'render' }, img);
    }
  }
  return dir;
}

test('judge-audit: the marks fine-tuned images carry show as a rise over the base, aligned images too', () => {
  const r = run('--base', dataset(false), '--runs', `${dataset(true)},${dataset(true)}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^8 images of 4 prompts per model; 2 fine-tuned runs/);
  const rows = r.stdout.split('\n').filter((l) => l.startsWith('| strayMarks'));
  assert.equal(rows.length, 2);
  for (const row of rows) assert.match(row, /^\| strayMarks \| 0\.0% \| 0\.0% \| 100\.0%, 100\.0% \| \+100\.0 \[100\.0, 100\.0\] \|$/);
  assert.match(r.stdout, /\| fadedColor \| 0\.0% \| 0\.0% \| 0\.0%, 0\.0% \| \+0\.0 /);
  // placeShape overall and by each place the prompts name (plain for none), in both tables
  const places = [...new Set(PROMPTS.map((p) => parsePrompt(p).background ?? 'plain'))].sort();
  for (const pl of places) assert.equal(r.stdout.split('\n').filter((l) => l.startsWith(`| placeShape, ${pl} |`)).length, 2, pl);
  assert.equal(r.stdout.split('\n').filter((l) => l.startsWith('| placeShape |')).length, 2);
});

test('judge-audit: runs not of the base\'s prompts and seeds, and a missing flag, are one line each', () => {
  const other = run('--base', dataset(false), '--runs', dataset(false, [0, 2]));
  assert.equal(other.status, 1);
  assert.match(other.stderr, /^.* does not hold the base's prompts and image seeds \(4 of 8 missing\): generate it with the same --prompts, --per-prompt and --seed\n$/);
  const usage = run('--base', dataset(false));
  assert.equal(usage.status, 1);
  assert.match(usage.stderr, /^usage: node --import tsx scripts\/judge-audit\.ts --base DIR --runs DIR\[,DIR\.\.\.\]\n$/);
});

test('judge-audit: shape fit is 1 on renders and falls with a frayed shape; --grid writes the pairs, and a --grid that is not a .png is one line', () => {
  // the runs' objects lose a pixel column at their box's right edge: a shape a little off its template
  const frayed = removedAtExit('t2i-audit-frayed-');
  const ds = Dataset.create(frayed);
  for (const prompt of PROMPTS) {
    for (const seed of [0, 1]) {
      const img = renderPrompt(parsePrompt(prompt), seed).image;
      const { seen, pixels } = observeWithPixels(img).objects[0];
      const ground = [...img.data.subarray(0, 3)];
      for (const p of pixels) if (p % 32 === seen.box.x + seen.box.w - 1 && (Math.floor(p / 32) - seen.box.y) % 2 === 0) img.data.set(ground, p * 3);
      ds.add({ id: `${prompt}-${seed}`, prompt, attributes: parsePrompt(prompt), seed, source: 'render' }, img);
    }
  }
  const grid = path.join(removedAtExit('t2i-audit-grid-'), 'grid.png');
  const r = run('--base', dataset(false), '--runs', frayed, '--grid', grid);
  assert.equal(r.status, 0, r.stderr);
  const all = r.stdout.split('\n').find((l) => l.startsWith('| all objects'))!;
  const [, , renders, base, runs, diff] = all.split('|').map((c) => c.trim());
  assert.match(renders, /^1\.000 \(8\)$/);
  assert.match(base, /^1\.000 \(8\)$/);
  assert.ok(Number(runs.split(' ')[0]) < 1, all);
  assert.match(diff, /^-0\.\d+ \[/);
  assert.ok(fs.statSync(grid).size > 0);
  assert.match(r.stdout, /grid\.png: base beside run 0/);
  const bad = run('--base', dataset(false), '--runs', frayed, '--grid', path.join(path.dirname(grid), 'grid.jpg'));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^--grid must name a \.png file, got ".*grid\.jpg"\n$/);
});
