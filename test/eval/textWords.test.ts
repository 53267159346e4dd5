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
  assert.deepEqual(rows.map((r) => r.attribute), ['count', 'color', 'background', 'object', 'object']);
  for (const [i, r] of rows.entries()) {
    const n = WORD_GROUPS[i].prompts.length;
    assert.equal(r.cosines.length, (n * (n - 1)) / 2);
    assert.ok(r.cosines.every((c) => c >= -1 - 1e-6 && c <= 1 + 1e-6), `${r.attribute}: ${r.cosines}`);
    assert.ok(r.min <= r.mean && r.mean <= r.max);
    // The closest pair is the one whose cosine is the greatest.
    const [a, b] = r.closest.map((p) => WORD_GROUPS[i].prompts.indexOf(p));
    assert.ok(a >= 0 && a < b, `${r.closest}`);
    const pairIndex = a * n - (a * (a + 1)) / 2 + (b - a - 1);
    assert.equal(r.cosines[pairIndex], r.max);
  }
  assert.deepEqual(rows[4].prompts.slice(0, 2), ['two circles', 'two squares']);
  assert.equal(wordSimilarityTable(rows).split('\n').length, 7);
  // A prompt against itself is 1; against one that differs in a word, below 1.
  const [same, other] = wordSimilarity(model, [
    { attribute: 'count', prompts: ['two circles', 'two circles'] },
    { attribute: 'count', prompts: ['two circles', 'three circles'] },
  ]);
  assert.ok(Math.abs(same.cosines[0] - 1) < 1e-5, `${same.cosines[0]}`);
  assert.ok(other.cosines[0] < 1 - 1e-3, `${other.cosines[0]}`);
  model.dispose({ clip: true });
});
