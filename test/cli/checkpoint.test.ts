import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, readCheckpointIndex, saveCheckpoint } from '../../src/engine';
import { removedAtExit } from '../helpers/temp';

const BIN = path.join(__dirname, '..', '..', 'bin', 't2i-align.js');
const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, T2I_BACKEND: 'cpu' } });

test('checkpoint verifies a good folder and gives a one-line error for a corrupt one', async () => {
  await initBackend('cpu');
  const dir = removedAtExit('t2i-cli-ckpt-');
  const w = tf.ones([3, 4]);
  await saveCheckpoint(dir, { w }, { step: 3 });
  w.dispose();

  const good = run(['checkpoint', dir, '--json']);
  assert.equal(good.status, 0, good.stderr);
  const summary = JSON.parse(good.stdout);
  assert.deepEqual(summary.tensors, [{ name: 'w', shape: [3, 4], dtype: 'float32' }]);
  assert.equal(summary.meta.step, 3);

  const weights = path.join(dir, readCheckpointIndex(dir).weightsFile);
  fs.truncateSync(weights, 10);
  const bad = run(['checkpoint', dir]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^t2i-align: truncated checkpoint .*weights-[0-9a-f]+\.bin: 10 bytes, expected 48\n$/);

  const none = run(['checkpoint', path.join(dir, 'missing')]);
  assert.match(none.stderr, /^t2i-align: no checkpoint at .*missing: the folder does not exist\n$/);
});
