import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ablationTable, pairedInterval, signFlipTest, t975 } from '../../src/reward/ablation';
import { accuracyAt, bestThreshold, bootstrapOverPrompts, calibration, fitLogistic, pairedPromptTest, promptSeedInterval, rocAuc } from '../../src/reward/metrics';
import { aucDifference, EvalSet, evaluateScorer, MIN_BOOTSTRAP_PROMPTS } from '../../src/reward/evaluate';
import { categoryOf, parsePrompt } from '../../src/world';
import { RewardEvaluation, rewardTable } from '../../src/reward/run';

test('rocAuc: the Mann-Whitney count, ties half; NaN with one class', () => {
  assert.equal(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
  assert.equal(rocAuc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]), 0.5);
  assert.equal(rocAuc([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1]), (1 + 0.5 + 1 + 1) / 4);
  assert.ok(Number.isNaN(rocAuc([0.1, 0.2], [1, 1])));
});

test('accuracy, best threshold and calibration by hand', () => {
  assert.equal(accuracyAt([0.2, 0.6, 0.7, 0.4], [0, 1, 0, 0], 0.5), 0.75);
  const t = bestThreshold([0.2, 0.6, 0.7, 0.4], [0, 0, 1, 0]);
  assert.ok(t > 0.6 && t <= 0.7);
  const c = calibration([0.05, 0.15, 0.95, 0.95], [0, 1, 1, 0], 10);
  // bins: [0,0.1): 0.05 vs 0; [0.1,0.2): 0.15 vs 1; [0.9,1]: 0.95 vs 0.5
  assert.ok(Math.abs(c.ece - (0.25 * 0.05 + 0.25 * 0.85 + 0.5 * 0.45)) < 1e-12);
  assert.equal(c.bins[9].n, 2);
});

test('fitLogistic: targets that are a logistic curve give its a and b back; separable targets stay finite; what cannot be fitted is an error', () => {
  const s = Array.from({ length: 41 }, (_, i) => 10 + i / 4);
  const y = s.map((x) => 1 / (1 + Math.exp(-(0.8 * x - 12))));
  const fit = fitLogistic(s, y);
  assert.ok(Math.abs(fit.a - 0.8) < 1e-3 && Math.abs(fit.b + 12) < 1e-2, JSON.stringify(fit));
  const hard = fitLogistic([0, 1, 2, 3], [0, 0, 1, 1]);
  assert.ok(hard.a > 0 && Number.isFinite(hard.a) && Number.isFinite(hard.b), JSON.stringify(hard));
  // Targets falling as the score rises: a negative slope (the reward refuses such a calibration).
  assert.ok(fitLogistic(s, y.map((v) => 1 - v)).a < -0.7);
  assert.throws(() => fitLogistic([1, 2], [1]), /2 scores for 1 targets/);
  assert.throws(() => fitLogistic(Array(10).fill(0.3), [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]), /10 scores are constant/);
  assert.throws(() => fitLogistic([0, 1, 2], [0, 0, 0]), /every target is 0: one class/);
  assert.throws(() => fitLogistic([0, NaN, 2], [0, 1, 1]), /score 1 is NaN/);
  assert.throws(() => fitLogistic([0, 1, 2], [0, 1.5, 1]), /target 1 is 1\.5/);
});

test('bootstrapOverPrompts resamples prompts, not images: a prompt\'s images move together', () => {
  // Two prompts, each all-positive or all-negative: any draw is 0%, 50% or 100% positive, never 1/3.
  const items = [
    ...Array.from({ length: 2 }, () => ({ prompt: 'a', score: 1, target: 1 })),
    ...Array.from({ length: 4 }, () => ({ prompt: 'b', score: 0, target: 0 })),
  ];
  const seen = new Set<number>();
  bootstrapOverPrompts(items, (_, t) => {
    const m = t.reduce((a, b) => a + b, 0) / t.length;
    seen.add(Math.round(m * 1000) / 1000);
    return m;
  }, { resamples: 200, seed: 1 });
  assert.deepEqual([...seen].sort(), [0, 0.333, 0.5, 1].filter((x) => seen.has(x)).sort());
  assert.ok(seen.has(0.333) && seen.has(0) && seen.has(1), 'the full data, and single-prompt draws');
  assert.ok(![...seen].some((x) => x !== 0 && x !== 1 && x !== 0.333 && x !== 0.5), `${[...seen]}`);
  const r = bootstrapOverPrompts(items, (s, t) => rocAuc(s, t), { resamples: 100 });
  assert.equal(r.value, 1);
});

test('paired t interval and the exact sign-flip test', () => {
  const p = pairedInterval([1, 2, 3]);
  assert.equal(p.mean, 2);
  assert.ok(Math.abs(p.hi - (2 + 4.303 * (1 / Math.sqrt(3)))) < 1e-9);
  assert.equal(signFlipTest([1, 1, 1]), 2 / 8);
  assert.equal(signFlipTest([1, -1]), 1);
  assert.equal(signFlipTest([0.5, 0.2, 0.3, 0.1, 0.4]), 2 / 32);
  assert.throws(() => signFlipTest([]), /1\.\.20/);
  // A NaN difference compares false with everything: refused, not p = 0.
  assert.throws(() => signFlipTest([0.5, NaN, 0.5]), /must be finite numbers, got \[0\.5, NaN, 0\.5\]/);
});

test('t975: the table up to 30 degrees of freedom, the Cornish-Fisher expansion beyond', () => {
  assert.equal(t975(1), 12.706);
  assert.equal(t975(30), 2.042);
  // Student's t 97.5% quantiles (R: qt(0.975, df)).
  for (const [df, q] of [[31, 2.039513], [40, 2.021075], [60, 2.000298], [120, 1.979930], [1000, 1.962339]] as const)
    assert.ok(Math.abs(t975(df) - q) < 2e-5, `df ${df}: ${t975(df)} vs ${q}`);
  // 32 seeds: the interval uses 31 degrees of freedom, not the normal 1.96.
  const diffs = Array.from({ length: 32 }, (_, i) => (i % 4) - 1.5);
  const p = pairedInterval(diffs);
  assert.ok(Math.abs(p.hi - p.mean - 2.039513 * (p.sd / Math.sqrt(32))) < 1e-4);
  assert.throws(() => t975(0), /positive integer, got 0/);
});

test('ablationTable: the AUC and render rows, signed differences, lambda from the result', () => {
  const effect = (metric: string, mean: number) => ({ metric, withMean: 0.8, withoutMean: 0.8 - mean, diff: { mean, lo: mean - 0.01, hi: mean + 0.01, sd: 0.01 }, p: 0.008 });
  const table = ablationTable({ auxWeight: 0.5, seeds: [0, 1], runs: [], effects: [effect('a/all/auc', 0.1), effect('a/all/accuracy', 0.2), effect('renders/count', -0.05)] });
  assert.deepEqual(table.split('\n'), [
    '| metric | with (lambda 0.5) | without | difference [95% t interval] | sign-flip p |',
    '|---|---:|---:|---|---:|',
    '| a/all/auc | 0.800 | 0.700 | +0.100 [0.090, 0.110] | 0.008 |',
    '| renders/count | 0.800 | 0.850 | -0.050 [-0.060, -0.040] | 0.008 |',
  ]);
});

test('aucDifference: reward AUC minus CLIP\'s with a paired bootstrap over prompts; equal scores give 0 and p 1', () => {
  // 20 prompts, 3 images each; the reward ranks every aligned image first, the "CLIP" scores are noise.
  const prompts: string[] = [], targets: number[] = [], reward: number[] = [], noise: number[] = [];
  for (let p = 0; p < 20; p++) {
    for (let i = 0; i < 3; i++) {
      const t = (p + i) % 2;
      prompts.push(`prompt ${p}`);
      targets.push(t);
      reward.push(t + 0.01 * i);
      noise.push(((p * 7 + i * 13) % 10) / 10);
    }
  }
  const set = { name: 'toy', target: 'judge', dir: '', records: [], prompts, attributes: [], categories: [], targets, embeddings: undefined } as unknown as EvalSet;
  const d = aucDifference(set, reward, noise, 'toy');
  assert.equal(d.images, 60);
  assert.equal(d.prompts, 20);
  assert.equal(d.reward, 1);
  assert.equal(d.clip, rocAuc(noise, targets));
  assert.ok(Math.abs(d.diff.value - (1 - d.clip)) < 1e-12);
  assert.ok(d.diff.lo > 0 && d.diff.lo <= d.diff.value && d.diff.value <= d.diff.hi, JSON.stringify(d.diff));
  assert.ok(d.diff.p < 0.01, `p ${d.diff.p}`);
  const same = aucDifference(set, noise, noise, 'toy');
  assert.deepEqual([same.diff.value, same.diff.lo, same.diff.hi, same.diff.p], [0, 0, 0, 1]);
  // One class only: no AUC, so no interval and no p (NaN, shown as '-'), not undefined.
  const oneClass = { ...set, targets: targets.map(() => 1) } as EvalSet;
  const none = aucDifference(oneClass, reward, noise, 'toy');
  assert.deepEqual([none.reward, none.diff.value, none.diff.lo, none.diff.hi, none.diff.p].map(Number.isNaN), [true, true, true, true, true]);
  // One prompt: nothing to resample (it gave a zero-width interval and p 0.002); a few: an interval, no p.
  const keep = (n: number) => {
    const idx = prompts.map((p, i) => (Number(p.split(' ')[1]) < n ? i : -1)).filter((i) => i >= 0);
    const sub = { ...set, prompts: idx.map((i) => prompts[i]), targets: idx.map((i) => targets[i]) } as EvalSet;
    return aucDifference(sub, idx.map((i) => reward[i]), idx.map((i) => noise[i]), 'toy');
  };
  const one = keep(1);
  assert.ok(Number.isFinite(one.diff.value));
  assert.deepEqual([one.diff.lo, one.diff.hi, one.diff.p].map(Number.isNaN), [true, true, true]);
  const few = keep(MIN_BOOTSTRAP_PROMPTS - 1);
  assert.ok(Number.isFinite(few.diff.lo) && Number.isNaN(few.diff.p));
  assert.ok(Number.isFinite(keep(MIN_BOOTSTRAP_PROMPTS).diff.p));
  assert.equal(d.diff.undefinedDraws, undefined, 'every draw has both classes');
  // Aligned images under 2 of 12 prompts only: a draw without either has one class and no AUC. Such draws are
  // left out, counted (about (10/12)^12 = 11% of them), and the table marks the interval (they were dropped unsaid).
  const rare = { ...set, targets: prompts.map((p, i) => (Number(p.split(' ')[1]) < 2 ? targets[i] : 0)) } as EvalSet;
  const idx = prompts.map((p, i) => (Number(p.split(' ')[1]) < 12 ? i : -1)).filter((i) => i >= 0);
  const sub = { ...rare, prompts: idx.map((i) => prompts[i]), targets: idx.map((i) => rare.targets[i]) } as EvalSet;
  const r = aucDifference(sub, idx.map((i) => reward[i]), idx.map((i) => noise[i]), 'toy');
  assert.ok(r.diff.undefinedDraws! > 0.05 && r.diff.undefinedDraws! < 0.2, `share ${r.diff.undefinedDraws}`);
  const table = rewardTable({ evals: [], differences: [r], renders: { reward: { renders: 0, pairs: NaN, all: NaN, byAttribute: {} }, clip: { renders: 0, pairs: NaN, all: NaN, byAttribute: {} } } } as unknown as RewardEvaluation);
  assert.match(table, /\| toy \| 36 \| 12 \| .* \[[-0-9.]+, [-0-9.]+\]\* \|/);
  assert.match(table, /all of one class, so the AUC was undefined there; the interval \(and a difference's p\) is over the other draws/);
});

test('signFlipTest: p does not depend on the scale of the differences (exact ties at any size)', () => {
  const a = [1, -1, -2, 0, 1, -1];
  const b = [-1, 0, 0, 2, -3, 0, 2, 1];
  for (const scale of [1, 3333, 33333, 1e7]) {
    assert.equal(signFlipTest(a.map((x) => x * scale)), signFlipTest(a), `scale ${scale}`);
    assert.equal(signFlipTest(b.map((x) => x * scale)), signFlipTest(b), `scale ${scale}`);
  }
  assert.equal(signFlipTest(a), 0.75);
  assert.equal(signFlipTest(b), 1);
});

test('promptSeedInterval: prompts with no images give no interval, not [0, 0]', () => {
  const empty = promptSeedInterval([{ prompt: 'a', base: { k: 0, n: 0 }, runs: [{ k: 0, n: 0 }] }, { prompt: 'b', base: { k: 0, n: 0 }, runs: [{ k: 0, n: 0 }] }]);
  assert.ok(Number.isNaN(empty.lo) && Number.isNaN(empty.hi));
  // one prompt empty, one not: the draws that pick only the empty one are left out
  const part = promptSeedInterval([{ prompt: 'a', base: { k: 0, n: 0 }, runs: [{ k: 0, n: 0 }] }, { prompt: 'b', base: { k: 1, n: 4 }, runs: [{ k: 3, n: 4 }] }]);
  assert.equal(part.lo, 0.5);
  assert.equal(part.hi, 0.5);
});

test('ablationTable: one seed has no interval, shown as "-", not NaN', () => {
  const table = ablationTable({ auxWeight: 0.5, seeds: [0], runs: [], effects: [{ metric: 'a/all/auc', withMean: 0.8, withoutMean: 0.7, diff: pairedInterval([0.1]), p: signFlipTest([0.1]) }] });
  assert.match(table, /\| a\/all\/auc \| 0\.800 \| 0\.700 \| \+0\.100 \[-, -\] \| 1\.000 \|/);
  assert.doesNotMatch(table, /NaN/);
});

test('rocAuc: a score that is not a finite number is an error naming it, not a plausible AUC', () => {
  assert.throws(() => rocAuc([0.1, NaN, 0.3, 0.9], [0, 1, 0, 1]), /ROC AUC: score 2 of 4 is NaN/);
  assert.throws(() => rocAuc([NaN, NaN], [0, 1]), /score 1 of 2 is NaN/);
  assert.throws(() => rocAuc([0, Infinity], [0, 1]), /is Infinity/);
});

test('bootstrapOverPrompts: one prompt gives the value and no interval (every draw would be the same)', () => {
  const mean = (s: Float64Array) => s.reduce((a, b) => a + b, 0) / s.length;
  const one = bootstrapOverPrompts([1, 0, 1, 1].map((score) => ({ prompt: 'a', score, target: 0 })), mean);
  assert.equal(one.value, 0.75);
  assert.ok(Number.isNaN(one.lo) && Number.isNaN(one.hi), JSON.stringify(one));
  const two = bootstrapOverPrompts([1, 0, 1, 1].map((score, i) => ({ prompt: `p${i % 2}`, score, target: 0 })), mean);
  assert.ok(two.lo < two.hi, JSON.stringify(two));
});

test('pairedPromptTest: exact up to 20 prompts (the sign-flip enumeration), independent of order; image weighting tests the image mean', () => {
  const d = [0.3, -0.1, 0.2, 0.25, -0.05, 0.15, 0.1, 0.2].map((x, i) => ({ prompt: `q${i}`, d: x }));
  const a = pairedPromptTest(d, { seed: 'x' });
  assert.equal(a.p, signFlipTest(d.map((x) => x.d)));
  assert.equal(a.p, 14 / 256);
  assert.deepEqual(pairedPromptTest([...d].reverse(), { seed: 'y' }), a);
  // Beyond 20 prompts, Monte Carlo over the prompts in sorted order: the same p for any row order.
  const many = Array.from({ length: 30 }, (_, i) => ({ prompt: `m${String(i).padStart(2, '0')}`, d: ((i * 37) % 11) / 10 - 0.4 }));
  const m = pairedPromptTest(many, { draws: 500 });
  assert.deepEqual(pairedPromptTest([...many].reverse(), { draws: 500 }), m);
  assert.ok(m.p > 0 && m.p <= 1);
  // Two prompts of 24 images each much better, twelve of 4 images each slightly worse: the mean over images is up,
  // the mean over prompts down; each weighting gives its own mean and sign.
  const rows = [
    ...[0, 1].flatMap((p) => Array.from({ length: 24 }, () => ({ prompt: `big${p}`, d: 1 }))),
    ...Array.from({ length: 12 }, (_, p) => Array.from({ length: 4 }, () => ({ prompt: `small${p}`, d: -0.25 }))).flat(),
  ];
  const byPrompt = pairedPromptTest(rows);
  const byImage = pairedPromptTest(rows, { weight: 'image' });
  assert.ok(Math.abs(byPrompt.mean - (2 - 3) / 14) < 1e-12, String(byPrompt.mean));
  assert.ok(Math.abs(byImage.mean - (48 - 12) / 96) < 1e-12, String(byImage.mean));
  assert.equal(byImage.prompts, 14);
  // Image sums: +24 twice and -1 twelve times, observed 36. Every pattern with the two big prompts of one sign
  // reaches |s| >= 36, none with them apart: p = 1/2 exactly (the prompt-weighted test reads the other mean).
  assert.equal(byImage.p, 0.5);
  assert.notEqual(byPrompt.p, byImage.p);
});

test('aucDifference: the bootstrap does not depend on the order of the rows', () => {
  const prompts: string[] = [], targets: number[] = [], reward: number[] = [], clip: number[] = [];
  for (let p = 0; p < 15; p++) for (let i = 0; i < 4; i++) {
    const t = (p * 3 + i) % 2;
    prompts.push(`prompt ${p}`), targets.push(t), reward.push(t + ((p * 5 + i * 7) % 9) / 6), clip.push(t + ((p * 11 + i * 3) % 13) / 6);
  }
  const set = (order: number[]) => ({ name: 'toy', prompts: order.map((i) => prompts[i]), targets: order.map((i) => targets[i]) }) as unknown as EvalSet;
  const fwd = prompts.map((_, i) => i), back = [...fwd].reverse();
  const a = aucDifference(set(fwd), fwd.map((i) => reward[i]), fwd.map((i) => clip[i]), 's');
  const b = aucDifference(set(back), back.map((i) => reward[i]), back.map((i) => clip[i]), 's');
  assert.ok(a.diff.lo < a.diff.hi);
  assert.deepEqual(b.diff, a.diff);
});

test('evaluateScorer: ECE is the value on all images, with no interval (its bootstrap lies above the value)', () => {
  const prompts = Array.from({ length: 40 }, (_, i) => ['two circles', 'a red square', 'a triangle in the forest', 'three blue circles on the moon'][i % 4]);
  const attributes = prompts.map(parsePrompt);
  const targets = prompts.map((_, i) => (i * 7) % 3 === 0 ? 1 : 0);
  const scores = Float32Array.from(targets, (t, i) => (t ? 0.6 : 0.3) + ((i * 13) % 10) / 50);
  const set = { name: 'toy', target: 'judge', dir: '', records: [], prompts, attributes, categories: attributes.map((a) => categoryOf(a)), targets, embeddings: { dim: 1, data: new Float32Array(40) } } as EvalSet;
  const r = evaluateScorer({ name: 'fixed', score: () => scores }, set, [], 0.5, { resamples: 50 });
  const all = r.rows.find((row) => row.group === 'all')!;
  assert.equal(all.ece.value, calibration(scores, Float64Array.from(targets)).ece);
  assert.ok(Number.isNaN(all.ece.lo) && Number.isNaN(all.ece.hi));
  assert.ok(all.auc.lo <= all.auc.value && all.auc.value <= all.auc.hi);
});

test('bootstrapOverPrompts says what share of its draws had no value (AUC of one class), where there were any', () => {
  // One prompt of six holds every positive: draws without it have one class and no AUC.
  const items = Array.from({ length: 6 }, (_, p) => [0, 1, 2].map((i) => ({ prompt: `p${p}`, score: i / 3 + p / 10, target: p === 0 && i > 0 ? 1 : 0 }))).flat();
  const r = bootstrapOverPrompts(items, (s, t) => rocAuc(s, t), { resamples: 400 });
  assert.ok(r.undefinedDraws! > 0.25 && r.undefinedDraws! < 0.45, String(r.undefinedDraws)); // (5/6)^6 = 0.33
  const mean = (s: Float64Array) => s.reduce((a, b) => a + b, 0) / s.length;
  assert.equal(bootstrapOverPrompts(items, mean, { resamples: 50 }).undefinedDraws, undefined, 'none: no field');
});
