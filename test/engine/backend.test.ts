import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { BackendError, initBackend, parseBackendChoice, probeBackends } from '../../src/engine';

test('parseBackendChoice accepts the four choices and names the allowed ones otherwise', () => {
  for (const c of ['auto', 'tensorflow', 'wasm', 'cpu']) assert.equal(parseBackendChoice(c), c);
  assert.equal(parseBackendChoice(undefined), 'auto');
  assert.throws(() => parseBackendChoice('gpu'), (e: Error) => e instanceof BackendError && e.message === 'T2I_BACKEND="gpu" is not a backend; use one of: auto, tensorflow, wasm, cpu');
});

test('probes always list cpu and say why tensorflow is missing when it is', () => {
  const probes = probeBackends();
  assert.deepEqual(probes.map((p) => p.name), ['tensorflow', 'wasm', 'cpu']);
  const t = probes[0];
  if (!t.available) assert.match(t.reason ?? '', /tfjs-node/);
});

test('explicit choices activate that backend; an unloadable one is an error naming what is installed', async () => {
  assert.equal((await initBackend('cpu')).active, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  assert.equal((await initBackend('wasm')).active, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  const tensorflow = probeBackends()[0];
  if (!tensorflow.available) {
    await assert.rejects(initBackend('tensorflow'), /T2I_BACKEND=tensorflow cannot load .*installed backends: wasm, cpu/);
  }
});

test('auto picks the fastest installed backend', async () => {
  const probes = probeBackends();
  const expected = probes.find((p) => p.available)!.name;
  assert.equal((await initBackend('auto')).active, expected);
});

test('auto takes tfjs-node-gpu when it loads, and falls back to wasm saying why when its library does not (stand-ins on NODE_PATH)', () => {
  const bin = path.join(__dirname, '..', '..', 'bin', 't2i-align.js');
  const info = (fixture: string, backend = 'auto') =>
    spawnSync(process.execPath, [bin, 'info', '--json'], { encoding: 'utf8', env: { ...process.env, NODE_PATH: path.join(__dirname, 'fixtures', fixture), T2I_BACKEND: backend } });
  const ok = JSON.parse(info('fake-gpu').stdout);
  assert.equal(ok.backend, 'tensorflow');
  assert.deepEqual(ok.backends[0], { name: 'tensorflow', available: true, package: '@tensorflow/tfjs-node-gpu' });
  const broken = JSON.parse(info('broken-gpu').stdout);
  assert.equal(broken.backend, 'wasm');
  assert.match(broken.backends[0].reason, /tfjs-node-gpu failed to load: libcudart\.so\.11\.0/);
  const asked = info('broken-gpu', 'tensorflow');
  assert.equal(asked.status, 1);
  assert.match(asked.stderr, /T2I_BACKEND=tensorflow cannot load \(@tensorflow\/tfjs-node-gpu failed to load: libcudart/);
});
