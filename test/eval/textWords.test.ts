import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { wordSimilarity, wordSimilarityTable, WORD_GROUPS } from '../../src/eval/textWords';
import { MiniClip, TextToImage } from '../../src/models';
import { initTestBackend, randomize, tinyConfig } from '../models/helpers';

test('wordSimilarity: every pair of each group, cosines in [-1, 1], leak-free; the table has a row per attribute', async () => {
  await initTestBackend();
  const cfg = tinyConfig();
  const model = new TextToImage(new MiniClip(cfg.clip, 0), cfg.diffusion, 0);
  randomize(model.variables, 1, 0.5);
  const before = tf.memory().numTensors;
  const rows = wordSimilarity(model);
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  assert.deepEqual(rows.map((r) => r.attribute), ['count', 'color', 'background']);
  for (const [i, r] of rows.entries()) {
    const n = WORD_GROUPS[i].prompts.length;
    assert.equal(r.cosines.length, (n * (n - 1)) / 2);
    assert.ok(r.cosines.every((c) => c >= -1 - 1e-6 && c <= 1 + 1e-6), `${r.attribute}: ${r.cosines}`);
    assert.ok(r.min <= r.mean && r.mean <= r.max);
    assert.ok(r.cosines.some((c) => c < 0.999), `${r.attribute}: random weights tell the words apart`);
  }
  assert.equal(wordSimilarityTable(rows).split('\n').length, 5);
  model.dispose({ clip: true });
});
