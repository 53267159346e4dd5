/**
 * The clean fallback: with T2I_NATIVE=0, or with the addon file missing, the
 * kit runs the plain wasm kernels, `nativeStatus()` and `t2i-align info --json`
 * say native is inactive and why, and the numbers still equal the cpu backend's.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../src/engine';
import { runFallbackCase } from './fallback-case';

const root = path.resolve(__dirname, '..', '..', '..');

function child(env: Record<string, string>, args: string[]): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  return r.stdout;
}

async function cpuReference(): Promise<number[][]> {
  await initBackend('cpu');
  return runFallbackCase().map((a) => Array.from(a));
}

function assertClose(got: number[][], want: number[][]): void {
  assert.equal(got.length, want.length);
  for (let k = 0; k < want.length; k++) {
    const maxRef = Math.max(1, ...want[k].map(Math.abs));
    const maxDiff = Math.max(...want[k].map((v, i) => Math.abs(v - got[k][i])));
    assert.equal(got[k].length, want[k].length);
    assert.ok(maxDiff <= 1e-4 * maxRef, `output ${k}: max abs diff ${maxDiff}`);
  }
}

const FIXTURE = 'test/engine/native/fallback-child.ts';

for (const [what, env, reason] of [
  ['T2I_NATIVE=0', { T2I_NATIVE: '0' }, /disabled by T2I_NATIVE=0/],
  ['T2I_NATIVE=off', { T2I_NATIVE: 'off' }, /disabled by T2I_NATIVE=off/],
  ['the addon missing', { T2I_NATIVE_ADDON: '/nonexistent/t2i_native.node' }, /\/nonexistent\/t2i_native\.node is missing/],
] as const) {
  test(`with ${what}: native inactive with its reason, plain wasm kernels equal the cpu backend`, async () => {
    const out = JSON.parse(child(env, [FIXTURE, 'wasm']));
    assert.equal(out.backend, 'wasm');
    assert.equal(out.status.active, false);
    assert.equal(out.status.loaded, false);
    assert.match(out.status.reason, reason);
    assert.deepEqual(out.status.kernels, []);
    assert.equal(out.leaked, 0);
    assertClose(out.values, await cpuReference());
    tf.setBackend('cpu');
  });
}

test('`t2i-align info --json` reports the native path and why it is off', () => {
  const program = "require('./src/cli/main').main(['node', 't2i-align', 'info', '--json'])";
  const off = JSON.parse(child({ T2I_NATIVE: '0', T2I_BACKEND: 'wasm' }, ['-e', program]));
  assert.equal(off.native.active, false);
  assert.match(off.native.reason, /T2I_NATIVE=0/);
  const on = JSON.parse(child({ T2I_BACKEND: 'wasm' }, ['-e', program]));
  assert.equal(typeof on.native.active, 'boolean');
  assert.equal(typeof on.native.reason, 'string');
  if (on.native.active) {
    assert.ok(on.native.threads >= 1);
    assert.match(on.native.library, /OpenBLAS/);
  }
});
