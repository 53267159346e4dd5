import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { assertNoLeaks, CheckpointError, initBackend, loadCheckpoint, readCheckpointIndex, saveCheckpoint } from '../../src/engine';
import { removedAtExit } from '../helpers/temp';

function tmpDir(): string {
  return removedAtExit('t2i-ckpt-');
}

async function saveExample(dir: string) {
  const w = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
  const b = tf.tensor1d([0.5, -0.25, 1e-3]);
  await saveCheckpoint(dir, { 'dense/w': w, 'dense/b': b }, { step: 7, config: { lr: 0.1 } });
  tf.dispose([w, b]);
}

test('round trip keeps values, shapes and meta, and leaks nothing', async () => {
  await initBackend('cpu');
  const dir = tmpDir();
  await saveExample(dir);
  await assertNoLeaks(async () => {
    const { tensors, meta } = await loadCheckpoint<{ step: number }>(dir, { 'dense/w': [2, 3], 'dense/b': [3] });
    assert.equal(meta.step, 7);
    assert.deepEqual(tensors['dense/w'].arraySync(), [[1, 2, 3], [4, 5, 6]]);
    assert.deepEqual(Array.from(tensors['dense/b'].dataSync()), Array.from(new Float32Array([0.5, -0.25, 1e-3])));
    tf.dispose(Object.values(tensors));
  });
});

test('saving again replaces the weights file and leaves exactly one', async () => {
  await initBackend('cpu');
  const dir = tmpDir();
  await saveExample(dir);
  const x = tf.ones([4]);
  await saveCheckpoint(dir, { x }, { step: 8 });
  x.dispose();
  const bins = fs.readdirSync(dir).filter((f) => f.endsWith('.bin'));
  assert.equal(bins.length, 1);
  assert.equal(readCheckpointIndex<{ step: number }>(dir).meta.step, 8);
});

test('what a save killed mid-write left is removed by the next save; a running writer\'s temp file, or one written lately, is kept', async () => {
  await initBackend('cpu');
  const dir = tmpDir();
  await saveExample(dir);
  const gone = spawnSync(process.execPath, ['-e', '']).pid!; // a process that has exited
  const orphans = [`weights-0123456789ab.bin.tmp-${gone}-1-abc`, `checkpoint.json.tmp-${gone}-2-def`];
  const running = `weights-0123456789ab.bin.tmp-${process.ppid}-3-ghi`; // another process writes it now
  const lately = `checkpoint.json.tmp-${gone}-4-jkl`; // its pid is not running here, but it was written a minute ago (another host?)
  const old = new Date(Date.now() - 3_600_000);
  for (const f of [...orphans, running, lately]) {
    fs.writeFileSync(path.join(dir, f), 'half a file');
    if (f !== lately) fs.utimesSync(path.join(dir, f), old, old);
  }
  fs.utimesSync(path.join(dir, lately), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  await saveExample(dir);
  const left = fs.readdirSync(dir).filter((f) => f.includes('.tmp-')).sort();
  assert.deepEqual(left, [lately, running].sort());
});

test('missing, truncated, corrupt and mismatched checkpoints give one-line errors naming the problem', async () => {
  await initBackend('cpu');
  const missing = path.join(tmpDir(), 'nope');
  await assert.rejects(loadCheckpoint(missing), (e: Error) => e instanceof CheckpointError && /does not exist/.test(e.message));

  const dir = tmpDir();
  await saveExample(dir);
  const index = readCheckpointIndex(dir);
  const weights = path.join(dir, index.weightsFile);
  const bytes = fs.readFileSync(weights);

  fs.writeFileSync(weights, bytes.subarray(0, bytes.length - 4));
  await assert.rejects(loadCheckpoint(dir), /truncated checkpoint .* 32 bytes, expected 36/);

  const flipped = Buffer.from(bytes);
  flipped[0] ^= 0xff;
  fs.writeFileSync(weights, flipped);
  await assert.rejects(loadCheckpoint(dir), /corrupt checkpoint .*sha256/);

  fs.writeFileSync(weights, bytes);
  await assert.rejects(loadCheckpoint(dir, { 'dense/w': [3, 2], 'dense/b': [3] }), /does not match the model: dense\/w is \[2,3\] in the file, \[3,2\] in the model/);
  await assert.rejects(loadCheckpoint(dir, { 'dense/w': [2, 3] }), /unexpected dense\/b/);

  // Edited specs (the sha256 covers the weights alone): each is refused before a tensor is decoded.
  const indexFile = path.join(dir, 'checkpoint.json');
  const saved = fs.readFileSync(indexFile, 'utf8');
  const edit = (f: (specs: Array<Record<string, unknown>>) => void) => {
    const j = JSON.parse(saved);
    j.specs.sort((a: { name: string }, b: { name: string }) => (a.name === 'dense/w' ? -1 : b.name === 'dense/w' ? 1 : 0)); // dense/w [2, 3] first
    f(j.specs);
    fs.writeFileSync(indexFile, JSON.stringify(j));
  };
  edit((s) => (s[0].shape = [1, 3])); // 6 values -> 3
  await assert.rejects(loadCheckpoint(dir), /corrupt checkpoint .*checkpoint\.json: its tensor specs describe 24 bytes, but byteLength is 36/);
  edit((s) => (s[0].dtype = 'complex64'));
  await assert.rejects(loadCheckpoint(dir), /tensor dense\/w has dtype "complex64"; allowed: float32, int32, bool/);
  edit((s) => (s[0].shape = [2, -3]));
  await assert.rejects(loadCheckpoint(dir), /tensor dense\/w has shape \[2,-3\], not a list of whole numbers/);
  edit((s) => (s[1].name = s[0].name));
  await assert.rejects(loadCheckpoint(dir), /tensor dense\/w is listed twice/);
  // Two names swapped between tensors of one shape (the weights' sha256 does not cover the specs): refused by the
  // specs' digest; a checkpoint saved before the digest was kept (none in its index) loads as before.
  const pair = tmpDir();
  const [ta, tb] = [tf.tensor1d([1, 2]), tf.tensor1d([3, 4])];
  await saveCheckpoint(pair, { 'a/b': ta, 'a/w': tb }, {});
  tf.dispose([ta, tb]);
  const pairIndex = JSON.parse(fs.readFileSync(path.join(pair, 'checkpoint.json'), 'utf8'));
  [pairIndex.specs[0].name, pairIndex.specs[1].name] = [pairIndex.specs[1].name, pairIndex.specs[0].name];
  fs.writeFileSync(path.join(pair, 'checkpoint.json'), JSON.stringify(pairIndex));
  await assert.rejects(loadCheckpoint(pair), /its tensor specs \(names, shapes, dtypes\) are not those it was saved with \(specsSha256 does not match\)/);
  const { specsSha256: _, ...older } = JSON.parse(saved);
  assert.equal(typeof _, 'string', 'a save keeps the digest');
  fs.writeFileSync(indexFile, JSON.stringify(older));
  await loadCheckpoint(dir).then((c) => tf.dispose(Object.values(c.tensors)));
  // A version of another type reads as such (it was "has checkpoint version 1; this kit reads version 1").
  const versioned = JSON.parse(saved);
  fs.writeFileSync(indexFile, JSON.stringify({ ...versioned, version: String(versioned.version) }));
  await assert.rejects(loadCheckpoint(dir), new RegExp(`has checkpoint version "${versioned.version}"; this kit reads version ${versioned.version}$`));
  fs.writeFileSync(indexFile, saved);
  await loadCheckpoint(dir).then((c) => tf.dispose(Object.values(c.tensors)));

  fs.writeFileSync(path.join(dir, 'checkpoint.json'), '{"format": "t2i-align-checkp');
  await assert.rejects(loadCheckpoint(dir), (e: Error) => /not valid JSON/.test(e.message) && !e.message.includes('\n'));
});

test('writeFileAtomic: a write that cannot land (the path is a folder) leaves no temp file beside it; the error names the path the caller gave', async () => {
  const { writeFileAtomic } = await import('../../src/engine/files');
  const { errorLine } = await import('../../src/cli/errors');
  const dir = removedAtExit('t2i-atomic-');
  fs.mkdirSync(path.join(dir, 'taken'));
  for (const durable of [true, false]) {
    let err: unknown;
    try {
      writeFileAtomic(path.join(dir, 'taken'), 'data', { durable });
    } catch (e) {
      err = e;
    }
    assert.ok(err, 'the write fails');
    assert.match(errorLine(err), new RegExp(`^${path.join(dir, 'taken').replace(/[/.]/g, '\\$&')} is a folder, where a file is expected`));
    assert.deepEqual(fs.readdirSync(dir), ['taken']);
  }
  writeFileAtomic(path.join(dir, 'ok.txt'), 'data');
  assert.equal(fs.readFileSync(path.join(dir, 'ok.txt'), 'utf8'), 'data');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['ok.txt', 'taken']);
});
