// scripts/compare-base.ts: two eval-base JSONs compared, paired; bad input is one clear line and exit status 1.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CATEGORIES } from '../../src/world';
import { removedAtExit } from '../helpers/temp';

const ROOT = path.join(__dirname, '..', '..');
const run = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'compare-base.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });

const evalJson = (recognised: number) => {
  const byPrompt = [0, 1, 2].map((i) => ({ prompt: `p${i}`, n: 4, aligned: 1, recognised }));
  const cells = Object.fromEntries(CATEGORIES.map((c) => [c, { byPrompt }]));
  return { config: { seed: 0, seeds: [0], imagesPerCategory: 12, promptsPerCategory: 3 }, seen: cells, unseen: cells };
};

test('compare-base: a table of B minus A, and the same rows as JSON', () => {
  const tmp = removedAtExit('t2i-compare-');
  fs.writeFileSync(path.join(tmp, 'a.json'), JSON.stringify(evalJson(1)));
  fs.writeFileSync(path.join(tmp, 'b.json'), JSON.stringify(evalJson(3)));
  const r = run(path.join(tmp, 'a.json'), path.join(tmp, 'b.json'), '--names', 'old,new');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\| seen \| count \| 25\.0% \| 75\.0% \| \+50\.0 \[\+50\.0, \+50\.0\] \|/);
  assert.match(r.stdout, /\| unseen \| all \| 25\.0% \| 75\.0% \|/);
  const j = run(path.join(tmp, 'a.json'), path.join(tmp, 'b.json'), '--json', '--measure', 'aligned');
  assert.equal(j.status, 0, j.stderr);
  const rows = JSON.parse(j.stdout) as Array<{ diff: number }>;
  assert.equal(rows.length, 10);
  assert.ok(rows.every((x) => x.diff === 0), 'aligned is the same in both');
  assert.equal(r.stderr, '', 'both carry their config: no warning');
  // An evaluation written before eval-base recorded its config: compared, with one warning line naming it.
  const { config: _, ...old } = evalJson(1);
  fs.writeFileSync(path.join(tmp, 'old.json'), JSON.stringify(old));
  const w = run(path.join(tmp, 'old.json'), path.join(tmp, 'b.json'));
  assert.equal(w.status, 0, w.stderr);
  assert.match(w.stdout, /\| seen \| count \| 25\.0% \| 75\.0% \|/);
  assert.match(w.stderr, /^compare-base: warning: .*old\.json has no config .* not checked, only their prompts and image counts\n$/);
});

test('compare-base: a wrong file count, a bad --measure or --names, a missing or non-JSON file and an unpaired pair are each one clear line', () => {
  const tmp = removedAtExit('t2i-compare-');
  const a = path.join(tmp, 'a.json'), b = path.join(tmp, 'b.json'), bad = path.join(tmp, 'bad.json'), other = path.join(tmp, 'other.json');
  fs.writeFileSync(a, JSON.stringify(evalJson(1)));
  fs.writeFileSync(b, JSON.stringify({ ...evalJson(2), config: { seed: 0, seeds: [1], imagesPerCategory: 12, promptsPerCategory: 3 } }));
  fs.writeFileSync(bad, '{"seen":');
  fs.writeFileSync(other, '{"rows": []}');
  const cases: Array<[string[], RegExp]> = [
    [[a], /usage: compare-base\.ts A\.json B\.json .*\(got 1 files\)/],
    [[a, a, '--measure', 'count'], /--measure must be recognised or aligned, got "count"/],
    [[a, a, '--names', 'old'], /--names needs two names separated by a comma, got "old"/],
    [[a, path.join(tmp, 'missing.json')], /cannot read .*missing\.json/],
    [[a, bad], /bad\.json is not JSON/],
    [[a, other], /other\.json is not an eval-base --json output/],
    [[a, b], /not paired: config\.seeds is \[0\] against \[1\]/],
  ];
  for (const [args, message] of cases) {
    const r = run(...args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
