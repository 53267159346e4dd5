// scripts/reader-disagreements.ts: bad arguments are one clear line, exit status 1, and nothing is written.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removedAtExit } from '../helpers/temp';

const ROOT = path.join(__dirname, '..', '..');
const run = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'reader-disagreements.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });

test('reader-disagreements: a missing --run, a bad --split and a folder that is no reproduce run are each one clear line', () => {
  const tmp = removedAtExit('t2i-disagree-');
  const cases: Array<[string[], RegExp]> = [
    [[], /usage: --run DIR/],
    [['--run', tmp, '--split', 'train'], /--split must be seen or unseen, got "train"/],
    [['--run', tmp], /is not a reproduce run folder \(it has no eval\/\)/],
  ];
  for (const [args, message] of cases) {
    const r = run(...args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  assert.deepEqual(fs.readdirSync(tmp), [], 'nothing written');
});
