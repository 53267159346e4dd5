// scripts/reward-counts.ts: bad arguments are one clear line, exit status 1, and nothing is written.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removedAtExit } from '../helpers/temp';

const ROOT = path.join(__dirname, '..', '..');
const run = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'reward-counts.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });

test('reward-counts: no dataset, an unknown flag, a folder that is no dataset and a missing reward model are each one clear line', () => {
  const tmp = removedAtExit('t2i-counts-');
  fs.writeFileSync(path.join(tmp, 'manifest.jsonl'), '');
  const cases: Array<[string[], RegExp]> = [
    [[], /usage: \[--model DIR\] DATASET/],
    [['--bogus', tmp], /Unknown option '--bogus'/],
    [[path.join(tmp, 'none')], /none: no such folder \(a dataset folder is made by collect, generate or render-set with --out\)/],
    [['--model', path.join(tmp, 'no-model'), tmp], /no checkpoint at .*no-model/],
  ];
  for (const [args, message] of cases) {
    const r = run(...args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(r.stdout, '', 'no partial table');
  }
  assert.deepEqual(fs.readdirSync(tmp), ['manifest.jsonl'], 'nothing written');
});
