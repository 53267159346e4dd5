import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const BIN = path.join(__dirname, '..', '..', 'bin', 't2i-align.js');
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

test('info --json is one JSON object with version, backend, loadable backends and threads', () => {
  const r = run(['info', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.match(info.version, /^\d+\.\d+\.\d+/);
  assert.ok(['tensorflow', 'wasm', 'cpu'].includes(info.backend));
  assert.ok(Array.isArray(info.loadable) && info.loadable.includes('cpu'));
  assert.ok(info.loadable.includes(info.backend));
  assert.ok(Number.isInteger(info.threads) && info.threads >= 1);
  assert.ok(Number.isInteger(info.cores) && info.cores >= 1);
});

test('T2I_BACKEND picks the backend; a bad value is a one-line error naming the allowed ones', () => {
  assert.equal(JSON.parse(run(['info', '--json'], { T2I_BACKEND: 'cpu' }).stdout).backend, 'cpu');
  const r = run(['info', '--json'], { T2I_BACKEND: 'cuda' });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 't2i-align: T2I_BACKEND="cuda" is not a backend; use one of: auto, tensorflow, wasm, cpu\n');
});
