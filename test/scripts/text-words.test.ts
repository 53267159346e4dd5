// scripts/text-words.ts: one row per attribute with every pair's cosine; bad arguments are one clear line.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const run = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'text-words.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });

test('text-words: a row per attribute, every pair of prompts, cosines in [-1, 1]', () => {
  const r = run();
  assert.equal(r.status, 0, r.stderr);
  const rows = r.stdout.split('\n').filter((l) => /^\| (count|color|background) \|/.test(l));
  assert.deepEqual(rows.map((l) => l.split('|')[1].trim()), ['count', 'color', 'background']);
  assert.deepEqual(rows.map((l) => Number(l.split('|')[3])), [3, 21, 10], 'pairs of 3 counts, 7 colors, 5 places');
  for (const row of rows) {
    const [mean, lo, hi] = row.split('|')[4].match(/-?\d+\.\d+/g)!.map(Number);
    assert.ok(-1 <= lo && lo <= mean && mean <= hi && hi <= 1, row);
  }
});

test('text-words: an unknown flag and a missing model are each one clear line, exit status 1', () => {
  for (const [args, message] of [[['--bogus'], /Unknown option '--bogus'/], [['--model', '/nonexistent'], /no diffusion checkpoint in \/nonexistent/]] as const) {
    const r = run(...args);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(r.stdout, '');
  }
});

test('text-words: the object rows, a group of your own, and its bad input as one line', () => {
  const all = run();
  assert.equal(all.status, 0, all.stderr);
  const objects = all.stdout.split('\n').filter((l) => /^\| object \|/.test(l));
  assert.deepEqual(objects.map((l) => Number(l.split('|')[3])), [15, 15], 'pairs of 6 shapes, for one and for two objects');
  const own = run('--prompts', 'two circles,two squares');
  assert.equal(own.status, 0, own.stderr);
  const rows = own.stdout.split('\n').filter((l) => /^\| prompts \|/.test(l));
  assert.equal(rows.length, 1, own.stdout);
  assert.match(rows[0], /\| two circles \/ two squares \|$/);
  for (const [args, message] of [
    [['--prompts', 'two circlez,a square'], /unknown object "circlez"/],
    [['--prompts', 'a circle'], /--prompts needs two or more/],
    [['--model', 'data/base-model', '--clip', 'data/base-model/clip'], /give --model or --clip, not both/],
    [['--clip', '/nonexistent'], /no checkpoint at \/nonexistent/],
  ] as const) {
    const r = run(...args);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
