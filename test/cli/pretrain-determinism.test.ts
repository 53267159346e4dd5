/**
 * Two fresh `pretrain --quick` runs with the same seed, in two folders, save
 * the same weights: the clip/ and diffusion/ checkpoints' weights files are
 * byte-identical (same sha256), their checkpoint.json files equal up to the
 * save time, and the final sample grids are the same PNG. Runs the built CLI
 * (dist/) with the quick preset's models for 3 updates of each stage. Then the
 * default preset's UNet (warm-started from data/base-model) for 2 updates on 1
 * and on 2 native threads: the same weights, bit for bit.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadNative } from '../../src/engine/native';
import { removedAtExit } from '../helpers/temp';

const BIN = path.join(__dirname, '..', '..', 'bin', 't2i-align.js');

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** What must not change between runs: each checkpoint's index without `savedAt`, and the sha256 of every weights file and the final grid. */
function fingerprint(out: string): Record<string, unknown> {
  const fp: Record<string, unknown> = {};
  for (const stage of ['clip', 'diffusion']) {
    const dir = path.join(out, stage);
    const { savedAt, ...index } = JSON.parse(fs.readFileSync(path.join(dir, 'checkpoint.json'), 'utf8'));
    assert.equal(typeof savedAt, 'string');
    fp[`${stage}/checkpoint.json`] = index;
    const weights = fs.readdirSync(dir).filter((f) => /^weights-.*\.bin$/.test(f));
    assert.equal(weights.length, 1, `${dir}: one weights file`);
    const digest = sha256(path.join(dir, weights[0]));
    assert.equal(digest, index.sha256, `${dir}: the weights file matches its recorded sha256`);
    fp[`${stage}/weights`] = digest;
  }
  fp['samples/final.png'] = sha256(path.join(out, 'samples', 'final.png'));
  return fp;
}

test('pretrain --quick twice with the same seed, from scratch, gives identical checkpoint weights', () => {
  const dir = removedAtExit('t2i-pretrain-det-');
  const cfg = path.join(dir, 'short.json');
  fs.writeFileSync(cfg, JSON.stringify({ clipTrain: { steps: 3, checkpointEvery: 3 }, diffusionTrain: { steps: 3, checkpointEvery: 3 } }));
  const pretrain = (name: string) => {
    const out = path.join(dir, name);
    const r = spawnSync(process.execPath, [BIN, 'pretrain', '--quick', '--config', cfg, '--corpus-size', '64', '--seed', '5', '--out', out, '--sample-every', '0'], {
      encoding: 'utf8',
      env: { ...process.env, T2I_PROGRESS: '0', T2I_NATIVE_THREADS: '2' },
    });
    assert.equal(r.status, 0, r.stderr);
    return fingerprint(out);
  };
  const a = pretrain('a');
  const b = pretrain('b');
  assert.deepEqual(b, a);
});

test('pretrain at the default UNet shapes gives the same weights on 1 and 2 native threads', (t) => {
  // The native kernels are required, as in test/engine/native: only `npm test -- --no-native` skips.
  const addon = loadNative();
  if (!addon && process.env.T2I_ALLOW_NO_NATIVE === '1') {
    t.skip('native kernels not loaded; allowed by --no-native');
    return;
  }
  assert.ok(addon, 'native kernels not loaded: npm run build:native (or npm test -- --no-native)');
  const dir = removedAtExit('t2i-pretrain-threads-');
  const cfg = path.join(dir, 'short.json');
  const model = path.join(__dirname, '..', '..', 'data', 'base-model');
  // The shipped model's own diffusion settings (it is self-conditioned), so the warm start is the UNet as shipped.
  const shipped = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8'));
  fs.writeFileSync(cfg, JSON.stringify({ diffusion: shipped.diffusion, diffusionTrain: { steps: 2, checkpointEvery: 2 } }));
  const pretrain = (threads: number) => {
    const out = path.join(dir, `t${threads}`);
    const r = spawnSync(process.execPath, [BIN, 'pretrain', '--init-from', model, '--config', cfg, '--corpus-size', '64', '--out', out, '--sample-every', '0'], {
      encoding: 'utf8',
      env: { ...process.env, T2I_PROGRESS: '0', T2I_NATIVE_THREADS: String(threads) },
    });
    assert.equal(r.status, 0, r.stderr);
    return fingerprint(out);
  };
  assert.deepEqual(pretrain(2), pretrain(1));
});
