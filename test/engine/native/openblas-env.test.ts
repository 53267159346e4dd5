/**
 * OpenBLAS's idle threads sleep at once (OPENBLAS_THREAD_TIMEOUT, set before the addon loads
 * OpenBLAS) unless the environment already says otherwise; PyTorch in the parity bench gets the
 * same value.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { initBackend } from '../../../src/engine';
import { requireNative } from './require-native';

const root = path.resolve(__dirname, '..', '..', '..');
const PROBE = "const n = require('./src/engine/native'); n.loadNative(); process.stdout.write(JSON.stringify([process.env.OPENBLAS_THREAD_TIMEOUT, n.nativeStatus().loaded]))";

function childTimeout(value: string | undefined): [string | undefined, boolean] {
  const env = { ...process.env };
  delete env.OPENBLAS_THREAD_TIMEOUT;
  if (value !== undefined) env.OPENBLAS_THREAD_TIMEOUT = value;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', PROBE], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

test('loading the addon sets OPENBLAS_THREAD_TIMEOUT to 4 when unset, and keeps a value already set', async (t) => {
  await initBackend();
  if (!requireNative(t)) return;
  assert.deepEqual(childTimeout(undefined), ['4', true]);
  assert.deepEqual(childTimeout('20'), ['20', true]);
});
