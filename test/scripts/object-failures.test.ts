// scripts/object-failures.ts: bad arguments are one clear line and write nothing (a full run samples 192 images: not a unit test).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removedAtExit } from '../helpers/temp';

const ROOT = path.join(__dirname, '..', '..');

test('object-failures: a bad set, guidance, seed, image count or model is one line, exit status 1, nothing written', () => {
  const out = path.join(removedAtExit('of-'), 'out');
  for (const [args, message] of [
    [['--set', 'both'], /--set must be seen or unseen, got 'both'/],
    [['--guidance', 'x'], /--guidance must be a number in 0\.\.100, got "x"/],
    [['--guidance', ''], /--guidance must be a number in 0\.\.100, got ""/], // Number('') is 0: the summary said guidance 0
    [['--seed', '1.5'], /--seed must be an integer in 0\.\.2147483648, got "1\.5"/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['--per-category', '0'], /--per-category must be an integer in 1\.\.100000, got "0"/],
    [['--per-category', '1e300'], /--per-category must be an integer in 1\.\.100000, got "1e300"/], // it ran silently for ever
    [['--model', '/nonexistent'], /no diffusion checkpoint in \/nonexistent/],
  ] as const) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'object-failures.ts'), ...args, '--out', out], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!fs.existsSync(out), 'nothing written');
  }
});
