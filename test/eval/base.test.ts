import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MiniClip, TextToImage } from '../../src/models';
import { CATEGORIES, judge, renderPrompt, seenPrompts } from '../../src/world';
import { alignmentTable, evalPlan, evaluateBaseModel, summarise, wilson } from '../../src/eval/base';
import { initTestBackend, randomize, tinyConfig } from '../models/helpers';

test('wilson interval: golden values and edge cases', () => {
  const w = wilson(50, 100);
  assert.ok(Math.abs(w.lo - 0.4038) < 1e-3 && Math.abs(w.hi - 0.5962) < 1e-3);
  const z = wilson(0, 20);
  assert.equal(z.lo, 0);
  assert.ok(Math.abs(z.hi - 0.1611) < 1e-3);
  assert.deepEqual(wilson(0, 0), { lo: 0, hi: 1 });
});

test('evalPlan spreads images over a subsample of prompts per category', () => {
  const plan = evalPlan('seen', { imagesPerCategory: 20, promptsPerCategory: 6, seed: 0 });
  assert.equal(plan.count.prompts.length, 4); // all 4 seen count prompts
  assert.equal(plan.count.perPrompt, 5);
  assert.equal(plan.combination.prompts.length, 6);
  assert.ok(plan.combination.prompts.every((p) => p.category === 'combination'));
});

test('summarise: renders of the prompts are judged aligned and readable', () => {
  const entries = seenPrompts({ perCategory: { combination: 5 } });
  const verdicts = entries.map((e, i) => judge(e.attributes, renderPrompt(e.attributes, i).image));
  const s = summarise(verdicts);
  assert.equal(s.accuracy.n, entries.length);
  assert.ok(s.accuracy.rate > 0.8, `renders judged aligned ${s.accuracy.rate}`);
  assert.ok(s.objectRecognised.rate > 0.8);
  assert.ok(s.attributes.object && s.attributes.object.n === entries.length);
});

test('evaluateBaseModel: every set and category, with n, CI and grids (tiny model)', async () => {
  await initTestBackend();
  const cfg = tinyConfig();
  const clip = new MiniClip(cfg.clip, 0);
  const model = new TextToImage(clip, cfg.diffusion, 0);
  randomize(model.unet.variables, 2, 0.05);
  const r = await evaluateBaseModel(model, cfg.sampler, { imagesPerCategory: 2, promptsPerCategory: 1, batchSize: 16 });
  model.dispose({ clip: true });
  for (const set of ['seen', 'unseen'] as const)
    for (const c of CATEGORIES) {
      const cell = r[set][c];
      assert.equal(cell.accuracy.n, 2, `${set}/${c}`);
      assert.ok(cell.accuracy.lo <= cell.accuracy.rate && cell.accuracy.rate <= cell.accuracy.hi);
      assert.equal(cell.images.length, 2);
    }
  assert.match(alignmentTable(r), /\| unseen \| combination \|/);
});
