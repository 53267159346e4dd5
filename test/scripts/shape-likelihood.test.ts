// scripts/shape-likelihood.ts: a small run on the shipped model reads clean shapes at little noise, and bad arguments are one clear line.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removedAtExit } from '../helpers/temp';

const ROOT = path.join(__dirname, '..', '..');
const run = (args: readonly string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'shape-likelihood.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });

test('shape-likelihood: at t = 100 the shipped model reads each paired render by its own prompt; one row per count and shape', () => {
  const out = path.join(removedAtExit('sl-'), 'out');
  const r = run(['--images', '2', '--t', '100', '--draws', '1', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  const rows = fs.readFileSync(path.join(out, 'summary.md'), 'utf8').split('\n').filter((l) => /^\| \d \|/.test(l));
  assert.equal(rows.length, 8, 'four counts, two shapes');
  for (const [i, row] of rows.entries()) {
    const cells = row.split('|').map((c) => c.trim());
    assert.equal(cells[1], String(Math.floor(i / 2) + 1));
    assert.equal(cells[3], i % 2 === 0 ? 'circle' : 'square');
    // The right prompt's error is lower for both images (a sign error in the reading would give 0%).
    assert.match(cells[4], /^100% \(\+\d+\.\d%\)$/, row);
  }
});

test('shape-likelihood: --attribute count gives one row per count, of the first shape', () => {
  const out = path.join(removedAtExit('sl-'), 'out');
  const r = run(['--attribute', 'count', '--counts', '2,4', '--images', '2', '--t', '900', '--draws', '1', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  const text = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
  assert.match(text, /2 scenes per count of circles, 1 noise draws per timestep, error over the whole image/);
  const rows = text.split('\n').filter((l) => /^\| \d \|/.test(l)).map((l) => l.split('|').map((c) => c.trim()));
  assert.deepEqual(rows.map((c) => [c[1], c[3]]), [['2', 'circle'], ['4', 'circle']]);
  for (const c of rows) assert.match(c[4], /^(0|50|100)% \([+-]\d+\.\d%\)$/);
});

test('shape-likelihood: a bad attribute, shapes, timesteps, counts or model is one line, exit status 1, nothing written', () => {
  const out = path.join(removedAtExit('sl-'), 'out');
  for (const [args, message] of [
    [['--shapes', 'circle,dog'], /--shapes takes circle, square, triangle, star, cross, heart, got 'dog'/],
    [['--shapes', 'circle'], /--shapes needs two or more different shapes, got 'circle'/],
    [['--t', '1000'], /--t takes timesteps in 0..999, got '1000'/],
    [['--t', '100,'], /--t takes timesteps in 0..999, got ''/],
    [['--images', '0'], /--images must be an integer in 1\.\.100000, got "0"/],
    [['--attribute', 'size'], /--attribute must be shape or count, got 'size'/],
    [['--attribute', 'count', '--counts', '2,2'], /--counts needs two or more different counts, got '2,2'/],
    [['--attribute', 'count', '--counts', '2,5'], /--counts takes counts in 1..4, got '5'/],
    [['--model', '/nonexistent'], /no diffusion checkpoint in \/nonexistent/],
  ] as const) {
    const r = run([...args, '--out', out]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!fs.existsSync(out), 'nothing written');
  }
});
