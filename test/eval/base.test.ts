import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MiniClip, TextToImage } from '../../src/models';
import { CATEGORIES, judge, renderPrompt, seenPrompts } from '../../src/world';
import { alignmentTable, baseModelTargets, evalPlan, evaluateBaseModel, promptRate, summarise, wilson } from '../../src/eval/base';
import { initTestBackend, randomize, tinyConfig } from '../models/helpers';

test('wilson interval: golden values and edge cases', () => {
  const w = wilson(50, 100);
  assert.ok(Math.abs(w.lo - 0.4038) < 1e-3 && Math.abs(w.hi - 0.5962) < 1e-3);
  const z = wilson(0, 20);
  assert.equal(z.lo, 0);
  assert.ok(Math.abs(z.hi - 0.1611) < 1e-3);
  assert.deepEqual(wilson(0, 0), { lo: 0, hi: 1 });
});

test('promptRate: the interval resamples prompts, not images', () => {
  // 4 prompts x 25 images: two prompts always aligned, two never. Over images (Wilson) the share looks
  // well known, [0.40, 0.60]; over prompts it is anything from 0 to 1.
  const prompts = [0, 1, 2, 3].flatMap((p) => Array.from({ length: 25 }, () => `prompt ${p}`));
  const ok = prompts.map((p) => p === 'prompt 0' || p === 'prompt 1');
  const r = promptRate(ok, prompts);
  assert.deepEqual([r.k, r.n, r.rate], [50, 100, 0.5]);
  assert.ok(r.lo <= 0.25 && r.hi >= 0.75, `${r.lo} ${r.hi}`);
  assert.ok(r.hi - r.lo > 2 * (wilson(50, 100).hi - wilson(50, 100).lo), 'wider than the interval over images');
  // Independent images (one per prompt): close to Wilson's.
  const single = Array.from({ length: 100 }, (_, i) => `p${i}`);
  const s = promptRate(single.map((_, i) => i % 2 === 0), single);
  assert.ok(Math.abs(s.lo - 0.4) < 0.03 && Math.abs(s.hi - 0.6) < 0.03, `${s.lo} ${s.hi}`);
  assert.deepEqual(promptRate(ok, prompts), r, 'seeded: the same interval again');
  assert.deepEqual(promptRate([], []), { k: 0, n: 0, rate: 0, lo: 0, hi: 1 });
  // One prompt: nothing to resample, so no interval (not [rate, rate], which would read as certainty).
  const one = promptRate([true, false, true], ['p', 'p', 'p']);
  assert.deepEqual([one.k, one.n, one.rate, Number.isNaN(one.lo), Number.isNaN(one.hi)], [2, 3, 2 / 3, true, true]);
  assert.throws(() => promptRate([true], []), /1 verdicts for 0 prompts/);
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
  const s = summarise(verdicts, entries.map((e) => e.prompt));
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
  const r = await evaluateBaseModel(model, cfg.sampler, { imagesPerCategory: 2, promptsPerCategory: 2, batchSize: 16 });
  model.dispose({ clip: true });
  for (const set of ['seen', 'unseen'] as const)
    for (const c of CATEGORIES) {
      const cell = r[set][c];
      assert.equal(cell.accuracy.n, 2, `${set}/${c}`);
      assert.ok(cell.accuracy.lo <= cell.accuracy.rate && cell.accuracy.rate <= cell.accuracy.hi);
      assert.equal(cell.images.length, 2);
    }
  // counts 2-4: the multi-object count and combination prompts of the set
  const multi = (set: 'seen' | 'unseen') => (['count', 'combination'] as const).reduce((n, c) => n + (r[set][c].images.filter((x) => !/^(one|a|an) /.test(x.prompt)).length), 0);
  for (const set of ['seen', 'unseen'] as const) assert.equal(r.summary[set].countsTwoToFour.n, multi(set), set);
  assert.equal(r.summary.seen.objectRecognised.n, 8);
  assert.match(alignmentTable(r), /\| unseen \| combination \|/);
  assert.match(alignmentTable(r), /\| seen \| counts 2-4/);
});

test('baseModelTargets: each target met or not by its own measure', () => {
  const rate = (x: number) => ({ k: 0, n: 100, rate: x, lo: x, hi: x });
  const cell = (acc: number, obj: number) => ({ accuracy: rate(acc), objectRecognised: rate(obj) });
  const r = {
    seen: { count: cell(0.3, 0.95), color: cell(0.5, 0.92), background: cell(0.6, 0.9), combination: cell(0.1, 0.91) },
    unseen: { count: cell(0.1, 0.8), color: cell(0.2, 0.76), background: cell(0.3, 0.75), combination: cell(0.05, 0.9) },
    summary: { seen: { countsTwoToFour: rate(0.2), objectRecognised: rate(0.9) }, unseen: { countsTwoToFour: rate(0.1), objectRecognised: rate(0.8) } },
  } as unknown as Parameters<typeof baseModelTargets>[0];
  const all = baseModelTargets(r);
  assert.equal(all.length, 4 + 4 + 1 + 3 + 1);
  assert.ok(all.every((t) => t.ok), JSON.stringify(all.filter((t) => !t.ok)));
  r.seen.combination.accuracy.rate = 0.35; // above seen count (0.3)
  r.seen.color.accuracy.rate = 0.9; // above 85%
  r.unseen.background.objectRecognised.rate = 0.74;
  r.summary.seen.countsTwoToFour.rate = 0.14;
  const failed = baseModelTargets(r).filter((t) => !t.ok).map((t) => t.target);
  assert.deepEqual(failed.sort(), [
    'seen color: accuracy in [15%, 85%]',
    'seen combination: accuracy below every single-attribute category',
    'seen: counts two to four right >= 15%',
    'unseen background: object recognised >= 75%',
  ]);
});
