// scripts/miniclip-counts.ts: the shipped MiniCLIP's rows and a few trained updates; bad arguments are one clear line.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { removedAtExit } from '../helpers/temp';

const ROOT = path.join(__dirname, '..', '..');
const run = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'miniclip-counts.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });

test('miniclip-counts: the shipped MiniCLIP and one trained with count negatives, each with count top-1 and the word table; resumable', () => {
  const out = removedAtExit('t2i-miniclip-');
  const r = run('--steps', '4', '--count-negatives', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const top1 = [...r.stdout.matchAll(/count top-1 (\d+)\/180/g)].map((m) => Number(m[1]));
  assert.equal(top1.length, 2, r.stdout);
  assert.ok(top1.every((k) => k >= 0 && k <= 180));
  assert.match(r.stdout, /trained here \(4 updates, count negatives on, seed 0,/);
  assert.equal((r.stdout.match(/^\| count \| two circles, three circles, four circles \| 3 \|/gm) ?? []).length, 2);
  const again = run('--steps', '4', '--count-negatives', '--out', out);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(again.stdout.replace(/\d+\.\d min/g, ''), r.stdout.replace(/\d+\.\d min/g, ''), 'a finished run in --out gives the same numbers');
});

test('miniclip-counts: a bad --steps, a bad --seed and an unknown flag are each one clear line, exit status 1', () => {
  for (const [args, message] of [[['--steps', '0'], /--steps must be an integer in 1\.\.100000, got "0"/], [['--seed', 'x'], /--seed must be an integer in 0\.\.\d+, got "x"/], [['--bogus'], /Unknown option '--bogus'/]] as const) {
    const r = run(...args);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(r.stdout, '');
  }
});
