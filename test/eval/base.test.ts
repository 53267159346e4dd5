import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MiniClip, TextToImage } from '../../src/models';
import { clipRetrieval } from '../../src/eval/clip';
import { CATEGORIES, createImage, encodePng, ImageLike, judge, parsePrompt, renderPrompt, seenPrompts, tileImages } from '../../src/world';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removedAtExit } from '../helpers/temp';
import { alignmentTable, baseModelTargets, compareBaseEvals, baseEvalCacheKey, evalPlan, evaluateBaseModel, imageBatchCache, pairedDifferenceTable, promptRate, summarise, targetLine, unverifiedPairing, wilson, writeBaseEval } from '../../src/eval/base';
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
  // No image: not measured (a rate of 0% would fail a target that was never measured).
  assert.deepEqual(promptRate([], []), { k: 0, n: 0, rate: NaN, lo: NaN, hi: NaN });
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

/** A tiny text-to-image model with random weights (its images are noise: what the evaluation does with them is tested). */
async function tinyRandomModel() {
  await initTestBackend();
  const cfg = tinyConfig();
  const model = new TextToImage(new MiniClip(cfg.clip, 0), cfg.diffusion, 0);
  randomize(model.unet.variables, 2, 0.05);
  return { cfg, model };
}

test('evaluateBaseModel: every set and category, with n, CI and grids (tiny model)', async () => {
  const { cfg, model } = await tinyRandomModel();
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

test('evaluateBaseModel with a batch cache: killed after some batches, run again it samples only the rest and gives the same images and numbers; another key starts over', async () => {
  const { cfg, model } = await tinyRandomModel();
  const dir = path.join(removedAtExit('t2i-eval-cache-'), '.partial');
  const opts = { imagesPerCategory: 2, promptsPerCategory: 2, batchSize: 6 };
  const bytes = (r: Awaited<ReturnType<typeof evaluateBaseModel>>) => CATEGORIES.map((c) => r.seen[c].images.concat(r.unseen[c].images).map((x) => Buffer.from(x.image.data).toString('hex')).join()).join();
  const numbers = (r: Awaited<ReturnType<typeof evaluateBaseModel>>) => JSON.stringify({ ...r, seconds: 0 }, (k, v) => (k === 'images' ? undefined : v));
  try {
    const whole = await evaluateBaseModel(model, cfg.sampler, opts);
    // "Killed" in the third batch: the first two are kept.
    const first = imageBatchCache(dir, 'key-a');
    let saved = 0;
    const killing = { load: first.load, save: (start: number, imgs: readonly ImageLike[]) => { if (saved === 2) throw new Error('killed'); first.save(start, imgs); saved++; } };
    await assert.rejects(evaluateBaseModel(model, cfg.sampler, { ...opts, cache: killing }), /killed/);
    const again = imageBatchCache(dir, 'key-a');
    assert.equal(again.kept, 12, 'two batches of 6 kept');
    assert.equal(again.discarded, 0);
    let sampled = 0;
    const counting = { load: again.load, save: (start: number, imgs: readonly ImageLike[]) => { sampled += imgs.length; again.save(start, imgs); } };
    const resumed = await evaluateBaseModel(model, cfg.sampler, { ...opts, cache: counting });
    assert.equal(sampled, 2 * CATEGORIES.length * 2 - 12, 'only the images not kept were sampled (16 in all: 2 sets x 4 categories x 2)');
    assert.equal(bytes(resumed), bytes(whole), 'the same images');
    assert.equal(numbers(resumed), numbers(whole), 'the same numbers');
    // A torn batch is sampled again, and another key (other weights, sampler, prompts or batching) starts over.
    const torn = fs.readdirSync(dir).find((f) => f.startsWith('batch-'))!;
    fs.writeFileSync(path.join(dir, torn), fs.readFileSync(path.join(dir, torn)).subarray(0, 40));
    assert.equal(imageBatchCache(dir, 'key-a').load(0, 6), undefined);
    const other = imageBatchCache(dir, 'key-b');
    assert.equal(other.kept, 0);
    assert.equal(other.discarded, 16, "the other key's images are counted as they go (the CLI says so)");
    assert.deepEqual(fs.readdirSync(dir), ['key.json']);
    // The CLI's key: the same options give the same key, another batch size, seed or guidance another.
    const key = (o: Parameters<typeof baseEvalCacheKey>[2]) => baseEvalCacheKey('abc', cfg.sampler, o).key;
    assert.equal(key(opts), key({ ...opts }));
    for (const other of [{ batchSize: 4 }, { seeds: [1] }, { sampler: { guidanceScale: 9 } }]) assert.notEqual(key({ ...opts, ...other }), key(opts), JSON.stringify(other));
    assert.equal(baseEvalCacheKey('abc', cfg.sampler, opts).images, 16);
  } finally {
    model.dispose({ clip: true });
  }
});

test('evaluateBaseModel judges each image against its own prompt: renders of the prompts are all aligned, renders of one prompt are not', async () => {
  await initTestBackend();
  const cfg = tinyConfig();
  const model = new TextToImage(new MiniClip(cfg.clip, 0), cfg.diffusion, 0);
  const opts = { imagesPerCategory: 4, promptsPerCategory: 4 };
  const renders = await evaluateBaseModel(model, cfg.sampler, { ...opts, generate: async (prompts, seeds) => prompts.map((p, i) => renderPrompt(parsePrompt(p), seeds[i]).image) });
  const first = await evaluateBaseModel(model, cfg.sampler, { ...opts, generate: async (prompts, seeds) => prompts.map((_, i) => renderPrompt(parsePrompt(prompts[0]), seeds[i]).image) });
  model.dispose({ clip: true });
  for (const set of ['seen', 'unseen'] as const) {
    for (const c of CATEGORIES) {
      assert.equal(renders[set][c].accuracy.rate, 1, `${set}/${c}: a render of its own prompt is aligned`);
      for (const x of renders[set][c].images) assert.equal(x.aligned, judge(parsePrompt(x.prompt), x.image).aligned);
    }
    assert.equal(renders.summary[set].objectRecognised.rate, 1);
    assert.ok(CATEGORIES.some((c) => first[set][c].accuracy.rate < 0.5), `${set}: images of another prompt are judged not aligned`);
  }
});

test('writeBaseEval into an earlier evaluation\'s folder: stopped midway, it leaves no old JSON beside new grids and no half file', async () => {
  await initTestBackend();
  const cfg = tinyConfig();
  const model = new TextToImage(new MiniClip(cfg.clip, 0), cfg.diffusion, 0);
  const r = await evaluateBaseModel(model, cfg.sampler, { imagesPerCategory: 2, promptsPerCategory: 2, generate: async (prompts, seeds) => prompts.map((p, i) => renderPrompt(parsePrompt(p), seeds[i]).image) });
  model.dispose({ clip: true });
  const dir = removedAtExit('t2i-base-eval-');
  fs.writeFileSync(path.join(dir, 'base-eval.json'), '{"old": true}\n');
  let tiles = 0;
  const failing = (imgs: ImageLike[]) => {
    if (++tiles === 3) throw new Error('stopped');
    return encodePng(tileImages(imgs, { columns: 8 }));
  };
  assert.throws(() => writeBaseEval(dir, r, failing), /stopped/);
  assert.ok(!fs.existsSync(path.join(dir, 'base-eval.json')), 'the old JSON went before the new grids were written (it stayed beside them)');
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.tmp')), [], 'no temporary file left');
  const file = writeBaseEval(dir, r, (imgs) => encodePng(tileImages(imgs, { columns: 8 })));
  assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).old, undefined);
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
  // A plan with no prompt of two to four objects measures nothing there: not measured, not failed.
  r.summary.seen.countsTwoToFour = { k: 0, n: 0, rate: NaN, lo: NaN, hi: NaN };
  const none = baseModelTargets(r).find((t) => t.target === 'seen: counts two to four right >= 15%')!;
  assert.equal(none.ok, null);
  assert.deepEqual(targetLine(none), { value: '-', met: 'not measured' });
  assert.deepEqual(targetLine(baseModelTargets(r)[0]), { value: '95.0%', met: 'yes' });
  // A single-attribute category not measured: combinations cannot be compared with it either.
  r.seen.count.accuracy = { k: 0, n: 0, rate: NaN, lo: NaN, hi: NaN };
  assert.equal(baseModelTargets(r).find((t) => t.target.startsWith('seen combination: accuracy below'))!.ok, null);
});

test('summarise: per-prompt tallies of images, aligned and recognised', () => {
  const entries = seenPrompts({ perCategory: { combination: 3 } }).filter((e) => e.category === 'combination');
  const prompts = entries.flatMap((e) => [e.prompt, e.prompt]);
  // Each prompt twice: its own render, then a blank grey canvas (no object).
  const verdicts = entries.flatMap((e, i) => {
    const render = renderPrompt(e.attributes, i).image;
    return [judge(e.attributes, render), judge(e.attributes, createImage(render.width, render.height, [128, 128, 128]))];
  });
  const s = summarise(verdicts, prompts);
  assert.deepEqual(s.byPrompt.map((t) => t.prompt), entries.map((e) => e.prompt));
  for (const [k, t] of s.byPrompt.entries()) {
    const mine = verdicts.slice(2 * k, 2 * k + 2);
    assert.equal(t.n, 2);
    assert.equal(t.aligned, mine.filter((v) => v.aligned).length);
    assert.equal(t.recognised, mine.filter((v) => v.verdicts.find((x) => x.attribute === 'object')?.ok).length);
  }
  assert.equal(s.byPrompt.reduce((a, t) => a + t.recognised, 0), s.objectRecognised.k);
  assert.equal(s.byPrompt.reduce((a, t) => a + t.aligned, 0), s.accuracy.k);
});

test('compareBaseEvals: the paired difference, its interval over prompts, and unpaired inputs refused', () => {
  const tallies = (rec: number[]) => rec.map((r, i) => ({ prompt: `p${i}`, n: 4, aligned: Math.min(r, 2), recognised: r }));
  const cells = (rec: number[]) => Object.fromEntries(CATEGORIES.map((c) => [c, { byPrompt: tallies(rec) }])) as Record<(typeof CATEGORIES)[number], { byPrompt: ReturnType<typeof tallies> }>;
  const config = { seed: 0, seeds: [0], imagesPerCategory: 32, promptsPerCategory: 8 };
  const a = { config, seen: cells([1, 2, 1, 0, 2, 1, 3, 2]), unseen: cells([2, 2, 2, 2, 2, 2, 2, 2]) };
  // B recognises one more image of every seen prompt: +1/4 everywhere, the same for every prompt.
  const b = { config, seen: cells([2, 3, 2, 1, 3, 2, 4, 3]), unseen: cells([2, 2, 2, 2, 2, 2, 2, 2]) };
  const rows = compareBaseEvals(a, b);
  assert.equal(rows.length, 2 * (CATEGORIES.length + 1));
  const seenCount = rows.find((r) => r.set === 'seen' && r.cell === 'count')!;
  assert.equal(seenCount.a, 12 / 32);
  assert.equal(seenCount.b, 20 / 32);
  assert.equal(seenCount.diff, 0.25);
  assert.deepEqual([seenCount.lo, seenCount.hi], [0.25, 0.25], 'the same shift in every prompt: no spread');
  assert.ok(seenCount.p < 0.01, `p ${seenCount.p}`);
  const seenAll = rows.find((r) => r.set === 'seen' && r.cell === 'all')!;
  assert.deepEqual([seenAll.diff, seenAll.prompts, seenAll.images], [0.25, 32, 128]);
  const unseen = rows.find((r) => r.set === 'unseen' && r.cell === 'all')!;
  assert.deepEqual([unseen.diff, unseen.p], [0, 1]);
  // Mixed shifts: the interval spans the per-prompt differences' spread and the test sees no effect.
  const mixed = { config, seen: cells([2, 1, 2, 0, 2, 1, 3, 1]), unseen: a.unseen };
  const m = compareBaseEvals(a, mixed).find((r) => r.set === 'seen' && r.cell === 'count')!;
  assert.equal(m.diff, 0);
  assert.ok(m.lo < 0 && m.hi > 0 && m.p > 0.5, JSON.stringify(m));
  assert.equal(compareBaseEvals(a, b, 'aligned').find((r) => r.set === 'seen' && r.cell === 'count')!.diff, (15 - 11) / 32); // aligned = min(recognised, 2)
  assert.match(pairedDifferenceTable(rows, ['shipped', 'new']), /\| seen \| count \| 37\.5% \| 62\.5% \| \+25\.0 \[\+25\.0, \+25\.0\] \| 0\.0\d\d \| 8 \| 32 \|/);
  assert.match(pairedDifferenceTable(rows), /\| seen \| all \| .* \| 32 \| 128 \|/);
  // a cell with no prompts: '-' for its p as for its other columns, never NaN
  const empty = pairedDifferenceTable([{ ...seenCount, a: NaN, b: NaN, diff: NaN, lo: NaN, hi: NaN, p: NaN, prompts: 0, images: 0 }]);
  assert.doesNotMatch(empty, /NaN/);
  assert.match(empty, /\| - \| 0 \| 0 \|$/);
  // Unpaired: another image seed, another prompt, another image count, no tallies.
  assert.throws(() => compareBaseEvals(a, { ...b, config: { ...config, seeds: [1] } }), /not paired: config\.seeds is \[0\] against \[1\]/);
  const other = { config, seen: { ...b.seen, color: { byPrompt: tallies([1, 1, 1, 1, 1, 1, 1, 1]).map((t, i) => (i === 3 ? { ...t, prompt: 'q' } : t)) } }, unseen: b.unseen };
  assert.throws(() => compareBaseEvals(a, other), /not paired: seen color prompt 4 is "p3" \(4 images\) against "q" \(4\)/);
  const fewer = { config, seen: { ...b.seen, background: { byPrompt: tallies([1, 1]) } }, unseen: b.unseen };
  assert.throws(() => compareBaseEvals(a, fewer), /seen background has 8 prompts against 2/);
  const old = { config, seen: { ...b.seen, count: {} }, unseen: b.unseen } as unknown as typeof b;
  assert.throws(() => compareBaseEvals(a, old), /seen count: an evaluation without per-prompt tallies .* rerun eval-base --json/);
  // Without a config the image seeds cannot be checked: compared, with a warning naming the file.
  const noConfig = { seen: b.seen, unseen: b.unseen };
  assert.equal(compareBaseEvals(a, noConfig).find((r) => r.set === 'seen' && r.cell === 'count')!.diff, 0.25);
  assert.equal(unverifiedPairing(a, b), null);
  assert.match(unverifiedPairing(a, noConfig, ['old.json', 'new.json'])!, /^new\.json has no config .* same image seeds is not checked/);
  assert.match(unverifiedPairing(noConfig, noConfig)!, /^A and B have no config/);
});

test('compareBaseEvals: the "all" row tests the mean it reports (over images), not the mean over prompts', () => {
  // count: 2 prompts x 24 images, B recognises all, A none; the other cells: 12 prompts x 4 images, B one fewer on 10 of them.
  const evalOf = (which: 'a' | 'b') => {
    const set = Object.fromEntries(CATEGORIES.map((c, ci) => {
      const [P, n] = ci === 0 ? [2, 24] : [12, 4];
      const byPrompt = Array.from({ length: P }, (_, i) => ({
        prompt: `${c}${i}`, n, aligned: 0,
        recognised: ci === 0 ? (which === 'b' ? 24 : 0) : which === 'b' ? (i < 10 ? 2 : 4) : i < 10 ? 3 : 4,
      }));
      return [c, { byPrompt }];
    }));
    return { seen: set, unseen: set } as unknown as Parameters<typeof compareBaseEvals>[0];
  };
  const all = compareBaseEvals(evalOf('a'), evalOf('b')).find((r) => r.set === 'seen' && r.cell === 'all')!;
  assert.ok(Math.abs(all.diff - (48 - 30) / 192) < 1e-12, String(all.diff)); // +9.4 points over images
  // over prompts B loses on 30 of 38 and the prompt mean is down: a prompt-weighted test called that p < 0.01
  // beside a positive difference; over images the two count prompts carry it, and two prompts cannot make it significant.
  assert.ok(all.p > 0.2, `p ${all.p}`);
});

test('clipRetrieval asks for at most the grammar\'s prompts (chance 1/n needs n distinct captions)', () => {
  const none = {} as MiniClip; // refused before the model is used
  assert.throws(() => clipRetrieval(none, { n: 2000 }), /retrieval needs 2 to 1152 distinct prompts \(the grammar's\), got 2000/);
  assert.throws(() => clipRetrieval(none, { n: 1 }), /got 1$/);
});
