// scripts/finetune-table.ts and scripts/reward-heldout-lean.ts: a table from a saved comparison; bad input is one clear line and exit status 1.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removedAtExit } from '../helpers/temp';

const ROOT = path.join(__dirname, '..', '..');
const run = (script: string, ...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', script), ...args], { cwd: ROOT, encoding: 'utf8' });

test('finetune-table: the saved comparison\'s table with its interval over prompts and seeds computed again', () => {
  const tmp = removedAtExit('t2i-ft-table-');
  const cell = (k: number) => ({ k, n: 4, drawn: [] });
  const cells = (rate: number) => Object.fromEntries(['all', 'count', 'color', 'background', 'combination'].map((c) => [c, { k: rate * 8, n: 8, rate, lo: 0, hi: 1 }]));
  const byPrompt = [0, 1, 2, 3].map((i) => ({ prompt: `p${i}`, category: 'color', base: cell(1), runs: [cell(3), cell(3)] }));
  const saved = {
    prompts: 4, perPrompt: 4, sampler: {}, base: cells(0.25), runs: [{ dir: 'a', cells: cells(0.75) }, { dir: 'b', cells: cells(0.75) }], byPrompt,
    effects: [{ category: 'all', base: 0.25, finetuned: 0.75, diff: { mean: 0.5, lo: 0.5, hi: 0.5, sd: 0 }, p: 0.5 }], // saved before overPrompts existed
  };
  fs.writeFileSync(path.join(tmp, 'c.json'), JSON.stringify(saved));
  const r = run('finetune-table.ts', path.join(tmp, 'c.json'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\| all \| 25\.0 \(n=8\) \| 75\.0 \| 75\.0, 75\.0 \| \+50\.0 \[50\.0, 50\.0\] \| \[50\.0, 50\.0\] \| 0\.500 \|/);
  assert.match(r.stdout, /With 2 seeds the exact sign-flip p cannot go below 0\.500/);
});

test('finetune-table and reward-heldout-lean: bad input is one line naming what is wrong', () => {
  const tmp = removedAtExit('t2i-stats-bad-');
  const bad = (r: ReturnType<typeof run>, message: RegExp) => {
    assert.equal(r.status, 1);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  };
  bad(run('finetune-table.ts'), /usage: .*finetune-table\.ts FILE\.json/);
  fs.writeFileSync(path.join(tmp, 'x.json'), '{"prompts": 3,');
  bad(run('finetune-table.ts', path.join(tmp, 'x.json')), /x\.json: not a readable eval-finetune --json file/);
  fs.writeFileSync(path.join(tmp, 'base.json'), JSON.stringify({ config: {}, seen: {}, unseen: {} }));
  bad(run('finetune-table.ts', path.join(tmp, 'base.json')), /base\.json: no per-prompt tallies \(byPrompt\)/);
  bad(run('reward-heldout-lean.ts'), /usage: --data DIR/);
  bad(run('reward-heldout-lean.ts', '--data', tmp, '--seeds', '1'), /--seeds must be an integer in 2\.\.100000, got "1"/);
});
