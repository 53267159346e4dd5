import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accuracyTable, EvaluatedImage, EvaluateResult, evaluationJson, pairedPromptTest, winTieLose } from '../../src/eval/evaluate';
import { alignmentEffect, alignmentPart, claimsMarkdown, claimVerdict, fidelityPart, formatP, makeClaim, partVerdict, perCategoryParts } from '../../src/pipeline/claims';
import { buildClaims, evalDesignText, resolveReproduceConfig, ReproduceSummary, RewardClaims } from '../../src/pipeline/reproduce';
import { EvaluationSummary, reproduceFigures } from '../../src/pipeline/reproduceReport';
import { Rng } from '../../src/engine/random';
import { Category, CATEGORIES } from '../../src/world/prompt';

/** A made-up evaluation: `prompts` prompts per category, `per` images each; image i aligned with probability rate(category). */
function fakeEval(rate: (c: Category) => number, seed: string, opts: { prompts?: number; per?: number; fid?: number; distance?: number } = {}): EvaluateResult {
  const rng = new Rng(seed);
  const images: EvaluatedImage[] = CATEGORIES.flatMap((category) =>
    Array.from({ length: opts.prompts ?? 10 }, (_, p) =>
      Array.from({ length: opts.per ?? 4 }, (_, k) => {
        const ok = rng.bernoulli(rate(category));
        return { prompt: `${category} prompt ${p}`, category, k, seed: `s/${p}/${k}`, judge: ok, classifier: ok, reward: null, renderDistance: (opts.distance ?? 1) * (1 + 0.1 * rng.uniform(0, 1)) };
      }),
    ).flat(),
  );
  const t = accuracyTable(images.map((x) => ({ prompt: x.prompt, category: x.category, ok: x.judge })), { resamples: 50 });
  return {
    model: seed, evaluator: 'judge', rejection: null, seed: 0, perPrompt: opts.per ?? 4, sampler: { steps: 2, guidanceScale: 7, eta: 0, spacing: 'trailing', clipSample: true }, ...t, otherReader: { evaluator: 'classifier', ...t },
    readersAgree: 1, meanReward: null, fid: { value: opts.fid ?? 1, images: images.length, renders: images.length, dim: 8 }, images,
  };
}

test('formatP: a p just under 0.05 never prints as 0.050', () => {
  assert.equal(formatP(0.0496), '0.0496');
  assert.equal(formatP(500 / 10001), '0.0499', 'a Monte Carlo p of 0.049995 (it printed 0.0500)');
  assert.equal(formatP(0.05), '0.050');
  assert.equal(formatP(0.0312), '0.031');
  assert.equal(formatP(0.0004), '<0.001');
  assert.equal(formatP(NaN), '-');
});

test('partVerdict: right sign with a significant test and an interval clear of 0 reproduces; otherwise mixed or not', () => {
  assert.equal(partVerdict(0.1, 1, 0.01, [0.02, 0.2]), 'reproduced');
  assert.equal(partVerdict(0.1, 1, 0.01, null), 'mixed', 'one seed: no interval over seeds, so at most mixed');
  assert.equal(partVerdict(0.1, 1, 0.01, [-0.02, 0.2]), 'mixed');
  assert.equal(partVerdict(0.1, 1, 0.2, [0.01, 0.2]), 'mixed');
  assert.equal(partVerdict(0.1, 1, 0.2, [-0.1, 0.2]), 'not reproduced');
  assert.equal(partVerdict(-0.1, 1, 0.001, [-0.2, -0.05]), 'not reproduced', 'a significant effect the other way');
  assert.equal(partVerdict(-2, -1, 0.001, [-3, -1]), 'reproduced', 'a claimed decrease');
  assert.equal(partVerdict(0, 1, 0.001, null), 'not reproduced');
  assert.equal(partVerdict(0.1, 1, NaN, [0.02, 0.2]), 'mixed', 'no p: the interval alone');
  assert.equal(partVerdict(0.1, 1, null as unknown as number, [0.02, 0.2]), 'mixed', 'a p read back from JSON as null is not 0');
  assert.equal(claimVerdict([{ verdict: 'reproduced' }, { verdict: 'reproduced' }]), 'reproduced');
  assert.equal(claimVerdict([{ verdict: 'reproduced' }, { verdict: 'not reproduced' }]), 'mixed');
  assert.equal(claimVerdict([{ verdict: 'not reproduced' }, { verdict: 'not reproduced' }]), 'not reproduced');
  assert.equal(claimVerdict([{ verdict: 'mixed' }, { verdict: 'not reproduced' }]), 'mixed');
});

test('pairedPromptTest: a consistent shift is significant, noise is not; p is never 0', () => {
  const rng = new Rng('ppt');
  const shift = Array.from({ length: 40 }, (_, i) => ({ prompt: `p${i % 20}`, d: 0.3 + 0.1 * rng.normal() }));
  const noise = Array.from({ length: 40 }, (_, i) => ({ prompt: `p${i % 20}`, d: rng.normal() }));
  const a = pairedPromptTest(shift, { draws: 2000 });
  const b = pairedPromptTest(noise, { draws: 2000 });
  assert.equal(a.prompts, 20);
  assert.ok(a.p < 0.01 && a.p > 0, `shift p ${a.p}`);
  assert.ok(b.p > 0.05, `noise p ${b.p}`);
});

test('alignment claims: a real improvement in every category reproduces, no change does not, and pairing is checked', () => {
  const base = fakeEval(() => 0.2, 'base');
  const better = [0, 1, 2].map((s) => fakeEval(() => 0.7, `better${s}`));
  const same = [0, 1, 2].map((s) => fakeEval(() => 0.2, `same${s}`));
  const up = makeClaim({ id: 'x', claim: 'up', measure: 'm', unit: 'points', parts: perCategoryParts(better, base) });
  assert.equal(up.parts.length, 4);
  assert.equal(up.verdict, 'reproduced', JSON.stringify(up.parts.map((p) => [p.effect, p.p, p.interval])));
  for (const p of up.parts) assert.ok(Math.abs(p.effect - 0.5) < 0.2, `effect ${p.effect}`);
  const flat = makeClaim({ id: 'y', claim: 'flat', measure: 'm', unit: 'points', parts: perCategoryParts(same, base) });
  assert.notEqual(flat.verdict, 'reproduced');
  const other = fakeEval(() => 0.5, 'other', { prompts: 5 });
  assert.throws(() => alignmentEffect('bad', [other], base), /not paired/);
  assert.throws(() => winTieLose(other, base), /same prompts/);
  assert.match(claimsMarkdown([up, flat]), /\| up \|.*\*\*reproduced\*\*/);
});

test('a part whose sign-flip test cannot reach p < 0.05 (4 prompts) is never reproduced, and the note says why', () => {
  // Every image wrong before and right after: the largest effect there is, on 4 prompts a category.
  const base = fakeEval(() => 0, 'base4', { prompts: 4 });
  const perfect = [0, 1, 2].map((s) => fakeEval(() => 1, `perfect${s}`, { prompts: 4 }));
  const claim = makeClaim({ id: 'z', claim: 'every category', measure: 'm', unit: 'points', parts: perCategoryParts(perfect, base) });
  for (const p of claim.parts) {
    assert.equal(p.effect, 1);
    assert.equal(p.leastP, 0.125);
    assert.ok(p.p >= 0.1, `p ${p.p}`);
    assert.equal(p.verdict, 'mixed', 'the interval over seeds is clear of 0, the test cannot be');
  }
  assert.match(claim.note!, /^count \(sign-flip over 4 prompts: p >= 0\.125\), color .*: their tests cannot reach p < 0\.05/);
  // With one seed there is no interval: not reproduced.
  const one = makeClaim({ id: 'z1', claim: 'every category', measure: 'm', unit: 'points', parts: perCategoryParts(perfect.slice(0, 1), base) });
  assert.deepEqual(one.parts.map((p) => p.verdict), ['not reproduced', 'not reproduced', 'not reproduced', 'not reproduced']);
  // Enough prompts: no note.
  const base10 = fakeEval(() => 0, 'base10');
  const up10 = makeClaim({ id: 'z2', claim: 'c', measure: 'm', unit: 'points', parts: perCategoryParts([0, 1].map((s) => fakeEval(() => 1, `p10-${s}`)), base10) });
  assert.equal(up10.note, undefined);
  assert.match(claimsMarkdown([claim]), /- z: count \(sign-flip over 4 prompts/);
});

test('fidelity parts and win/tie/lose read the distances to the renders', () => {
  const base = fakeEval(() => 0.3, 'base', { fid: 2, distance: 1 });
  const worse = [fakeEval(() => 0.3, 'w0', { fid: 5, distance: 3 }), fakeEval(() => 0.3, 'w1', { fid: 6, distance: 3 })];
  const part = fidelityPart('seen', worse, base, 1);
  assert.equal(part.effect, 3.5);
  assert.deepEqual(part.perSeed, [3, 4]);
  assert.equal(part.verdict, 'mixed', 'two seeds: the t interval is wide, the paired test clear');
  const w = winTieLose(worse[0], base);
  assert.equal(w.fidelity.lose, w.fidelity.n);
  assert.equal(w.alignment.win + w.alignment.tie + w.alignment.lose, w.alignment.n);
});

test('buildClaims: every claim of the paper, each with a verdict', () => {
  const config = resolveReproduceConfig('quick', { seeds: [0, 1] });
  const base = { seen: fakeEval(() => 0.2, 'b-seen'), unseen: fakeEval(() => 0.1, 'b-unseen') };
  const rej = { seen: fakeEval(() => 0.3, 'r-seen'), unseen: fakeEval(() => 0.15, 'r-unseen') };
  const byVariant = (v: string, set: 'seen' | 'unseen') => config.seeds.map((s) => fakeEval(() => (v === 'rlhf' ? 0.5 : 0.25), `${v}/${set}/${s}`));
  const reward: RewardClaims = {
    sets: [
      { name: 'seen test (labels)', images: 40, prompts: 10, reward: 0.8, clip: 0.6, diff: { value: 0.2, lo: 0.1, hi: 0.3, p: 0.002 } },
      // All of one class: no AUC, so the ablation has no metric for it either.
      { name: 'unseen test (judge)', images: 6, prompts: 6, reward: NaN, clip: NaN, diff: { value: NaN, lo: NaN, hi: NaN, p: NaN } },
    ],
    ablation: {
      seeds: [1, 2, 3, 4, 5],
      metrics: {
        'unseen stand-in (judge)/all/auc': { with: [0.7, 0.72, 0.71, 0.73, 0.7], without: [0.6, 0.6, 0.61, 0.62, 0.6] },
        'seen test (labels)/all/auc': { with: [0.8, 0.8, 0.8, 0.8, 0.8], without: [0.8, 0.81, 0.79, 0.8, 0.8] },
      },
    },
  };
  const claims = buildClaims(config, base, rej, byVariant, reward);
  assert.deepEqual(claims.map((c) => c.id), ['alignment-seen', 'alignment-unseen', 'fidelity-cost', 'pretraining-term', 'unlabelled-data', 'auxiliary-loss', 'reward-vs-clip', 'rejection-sampling']);
  for (const c of claims) assert.ok(['reproduced', 'mixed', 'not reproduced'].includes(c.verdict));
  assert.equal(claims.find((c) => c.id === 'reward-vs-clip')!.verdict, 'reproduced');
  // Reward against CLIP: the run's model gives the effect and the test over prompts, the ablation's reward seeds
  // (the same recipe) the interval; the bootstrap's own interval (the same draws as its p) is no second piece of evidence.
  const vsClipPart = claims.find((c) => c.id === 'reward-vs-clip')!.parts[0];
  assert.deepEqual(vsClipPart.perSeed.map((x) => +x.toFixed(9)), [0.2, 0.2, 0.2, 0.2, 0.2]);
  assert.deepEqual(vsClipPart.interval!.map((x) => +x.toFixed(9)), [0.2, 0.2]);
  const spread = structuredClone(reward);
  spread.ablation.metrics['seen test (labels)/all/auc'].with = [0.55, 0.66, 0.57, 0.65, 0.58];
  const spreadPart = buildClaims(config, base, rej, byVariant, spread).find((c) => c.id === 'reward-vs-clip')!.parts[0];
  assert.ok(spreadPart.interval![0] < 0 && spreadPart.interval![1] > 0, JSON.stringify(spreadPart.interval));
  assert.equal(spreadPart.p, 0.002);
  assert.equal(spreadPart.verdict, 'mixed', 'p 0.002 over prompts, but another reward seed may lose to CLIP');
  // The effect is the seeds' mean; the run's own model's p counts only where it points the same way.
  const against = structuredClone(reward);
  against.sets[0].diff = { value: -0.05, lo: -0.09, hi: -0.01, p: 0.002 };
  const againstPart = buildClaims(config, base, rej, byVariant, against).find((c) => c.id === 'reward-vs-clip')!.parts[0];
  assert.equal(+againstPart.effect.toFixed(9), 0.2);
  assert.equal(againstPart.verdict, 'mixed', 'the seeds beat CLIP, the run\'s own model loses to it: the test does not count');
  assert.match(againstPart.test, /^the run's model -0\.050, paired bootstrap over 10 prompts/);
  const aux = claims.find((c) => c.id === 'auxiliary-loss')!;
  assert.equal(aux.parts[0].p, 1 / 16);
  assert.equal(aux.parts[0].verdict, 'mixed', 'five seeds: the exact sign-flip p cannot go below 1/16');
  assert.equal(aux.parts[1].verdict, 'not reproduced');
  assert.match(aux.note!, /labels\) \(exact sign-flip over 5 seeds: p >= 0\.063\): their tests cannot reach p < 0\.05/);
  assert.equal(aux.parts[0].leastP, 1 / 16);
  assert.deepEqual(aux.parts.map((p) => p.name), ['unseen prompts (stand-in renders, judge)', 'seen prompts, new images (labels)']);
  assert.match(aux.note!, /one class \(no AUC\): unseen prompts \(base-model images, judge\)/);
  // A set whose images are all of one class has no AUC: left out and named, not counted against the claim.
  reward.sets.push({ name: 'unseen (one class)', images: 12, prompts: 3, reward: NaN, clip: NaN, diff: { value: NaN, lo: NaN, hi: NaN, p: NaN } });
  const vsClip = buildClaims(config, base, rej, byVariant, reward).find((c) => c.id === 'reward-vs-clip')!;
  assert.deepEqual(vsClip.parts.map((p) => p.name), ['seen test (labels)']);
  assert.equal(vsClip.verdict, 'reproduced');
  assert.match(vsClip.note!, /left out, all of their images of one class \(no AUC\): unseen test \(judge\), unseen \(one class\)/);
  // A set the reward claims never measured is an error, not a set of one class.
  const measured = reward.sets.splice(1, 1);
  assert.throws(() => buildClaims(config, base, rej, byVariant, reward), /ablation has no unseen test \(judge\)\/all\/auc/);
  reward.sets.splice(1, 0, ...measured);
  delete (reward.ablation.metrics as Record<string, unknown>)['seen test (labels)/all/auc'];
  assert.throws(() => buildClaims(config, base, rej, byVariant, reward), /ablation has no seen test \(labels\)\/all\/auc/);
});

test('a gain only the judge sees is mixed; a fidelity test pointing the other way does not count; unpaired evaluations throw', () => {
  const base = fakeEval(() => 0.2, 'base2');
  const judgeOnly = [0, 1, 2].map((s) => {
    const e = fakeEval(() => 0.8, `jo${s}`);
    const b = new Map(base.images.map((x) => [`${x.prompt}/${x.k}`, x.classifier]));
    return { ...e, images: e.images.map((x) => ({ ...x, classifier: b.get(`${x.prompt}/${x.k}`)! })) };
  });
  const part = alignmentPart('all', judgeOnly, base);
  assert.equal(part.secondReader!.verdict, 'not reproduced');
  assert.equal(part.verdict, 'mixed');
  // FID up for every seed, but each image closer to its renders: the per-image test points the other way.
  const closer = [fakeEval(() => 0.2, 'c0', { fid: 9, distance: 0.5 }), fakeEval(() => 0.2, 'c1', { fid: 9.5, distance: 0.5 })];
  const f = fidelityPart('seen', closer, fakeEval(() => 0.2, 'b3', { fid: 2, distance: 1 }), 1);
  assert.ok(f.p < 0.05 && f.effect > 0);
  assert.notEqual(f.verdict, 'reproduced');
  assert.match(f.test, /mean -0\.\d+: against the FID's direction, so the verdict reads p as 1\)$/);
  const further = [fakeEval(() => 0.2, 'f0', { fid: 5, distance: 3 }), fakeEval(() => 0.2, 'f1', { fid: 6, distance: 3 })];
  assert.doesNotMatch(fidelityPart('seen', further, fakeEval(() => 0.2, 'b3', { fid: 2, distance: 1 }), 1).test, /against/);
  assert.throws(() => fidelityPart('seen', [fakeEval(() => 0.2, 'x', { prompts: 5 })], base, 1), /not paired/);
});

test('the evaluation design in words counts the prompts each category has (4 seen count prompts, not 12)', () => {
  assert.equal(evalDesignText(resolveReproduceConfig('default')), 'seen prompts 4 / 7 / 5 / 12 and unseen 12 / 12 / 12 / 12 (count / color / background / combination; at most 12 each), 4 images per prompt');
});

test('resolveReproduceConfig: presets, nested overrides, and errors naming the key', () => {
  const q = resolveReproduceConfig('quick');
  assert.deepEqual(q.seeds, [0]);
  assert.deepEqual(resolveReproduceConfig('default').seeds, [0, 1, 2]);
  assert.equal(resolveReproduceConfig('quick', { eval: { perPrompt: 2 } }).eval.promptsPerCategory, q.eval.promptsPerCategory);
  assert.throws(() => resolveReproduceConfig('quick', { sedes: [1] }), /reproduce config: \(root\): Unrecognized key: "sedes"; the keys there are feedbackPromptsPerCategory, seeds, feedback,/);
  assert.throws(() => resolveReproduceConfig('quick', { eval: { prompts: 3 } }), /eval: Unrecognized key: "prompts"; the keys there are promptsPerCategory, perPrompt, seed, guidance/);
  // checked before any image is made: the panel (read only at the label step before) and a repeated seed
  assert.throws(() => resolveReproduceConfig('quick', { feedback: { panel: 'bogus' } }), /reproduce config: feedback\.panel: .*"bogus" is not key=value/);
  assert.throws(() => resolveReproduceConfig('quick', { seeds: [0, 1, 0] }), /reproduce config: seeds: 0 is given twice/);
  assert.throws(() => resolveReproduceConfig('quick', { rewardTest: { seed: 0 } }), /reproduce config: feedback\.seed and rewardTest\.seed are both 0: the two sets would be the same images/);
  assert.throws(() => resolveReproduceConfig('quick', { eval: { perPrompt: 0 } }), /eval\.perPrompt/);
  // From a review (2026-12-07): both accepted before, each making a claim untrustworthy.
  assert.throws(() => resolveReproduceConfig('quick', { rewardTest: { panelSeed: 0 } }), /rewardTest\.panelSeed and feedback\.panelSeed are both 0: the test labels would repeat the feedback labels' rater noise/);
  assert.throws(() => resolveReproduceConfig('quick', { unlabelled: { perPrompt: 0 } }), /unlabelled\.perPrompt.*at least 1: the claim that unlabelled images help compares fine-tuning with them and without/);
  assert.equal(q.eval.guidance, null, "each model's own guidance by default");
  assert.equal(resolveReproduceConfig('quick', { eval: { guidance: 2.5 } }).eval.guidance, 2.5);
  assert.throws(() => resolveReproduceConfig('quick', { eval: { guidance: -1 } }), /eval\.guidance/);
  assert.equal(q.feedback.guidance, null, "the base model's own guidance for stage 1's images by default");
  assert.equal(resolveReproduceConfig('quick', { feedback: { guidance: 2.5 } }).feedback.guidance, 2.5);
  assert.throws(() => resolveReproduceConfig('quick', { feedback: { guidance: 'low' } }), /feedback\.guidance/);
  assert.equal(resolveReproduceConfig('default').rewardTest.unseenPromptsPerCategory, null, 'every unseen prompt by default');
  assert.equal(q.rewardTest.unseenPromptsPerCategory, 25);
  assert.throws(() => resolveReproduceConfig('quick', { rewardTest: { unseenPromptsPerCategory: 0 } }), /rewardTest\.unseenPromptsPerCategory/);
});

test('buildClaims: each claim reads the comparison it names (variants told apart by their accuracy and FID)', () => {
  const config = resolveReproduceConfig('quick', { seeds: [0, 1] });
  const rate: Record<string, number> = { rlhf: 0.7, sft: 0.25, 'labelled-only': 0.4, 'no-pretrain': 0.5 };
  const fid: Record<string, number> = { rlhf: 3, sft: 5, 'labelled-only': 4, 'no-pretrain': 6 };
  const base = { seen: fakeEval(() => 0.2, 'b-seen', { fid: 2 }), unseen: fakeEval(() => 0.1, 'b-unseen', { fid: 2 }) };
  const rej = { seen: fakeEval(() => 0.3, 'r-seen', { fid: 2 }), unseen: fakeEval(() => 0.15, 'r-unseen', { fid: 2 }) };
  const evals = new Map<string, EvaluateResult[]>();
  const byVariant = (v: string, set: 'seen' | 'unseen') => {
    const key = `${v}/${set}`;
    if (!evals.has(key)) evals.set(key, config.seeds.map((s) => fakeEval(() => rate[v], `${key}/${s}`, { fid: fid[v] })));
    return evals.get(key)!;
  };
  const reward: RewardClaims = {
    sets: [{ name: 'seen test (labels)', images: 40, prompts: 10, reward: 0.8, clip: 0.6, diff: { value: 0.2, lo: 0.1, hi: 0.3, p: 0.002 } }],
    ablation: {
      seeds: [1, 2],
      metrics: Object.fromEntries(['unseen test (judge)', 'unseen stand-in (judge)', 'seen test (labels)'].map((s) => [`${s}/all/auc`, { with: [0.7, 0.7], without: [0.6, 0.6] }])),
    },
  };
  const claims = Object.fromEntries(buildClaims(config, base, rej, byVariant, reward).map((c) => [c.id, c]));
  const part = (id: string, name: string) => claims[id].parts.find((p) => p.name === name)!;
  for (const set of ['seen', 'unseen'] as const) {
    assert.deepEqual(part(`alignment-${set}`, 'all'), alignmentPart('all', byVariant('rlhf', set), base[set]), `alignment-${set}: rlhf against the base`);
    assert.deepEqual(part('rejection-sampling', set), alignmentPart(set, byVariant('rlhf', set), rej[set]), 'rlhf against best-of-K, not the plain base');
    assert.deepEqual(part('fidelity-cost', set), fidelityPart(set, byVariant('rlhf', set), base[set], 1));
    assert.deepEqual(part('unlabelled-data', `${set}: alignment`), alignmentPart(`${set}: alignment`, byVariant('rlhf', set), byVariant('labelled-only', set)));
  }
  // By hand: FID without the pretraining term (6) minus with it (3), per seed; alignment rlhf (0.7) minus base (0.2), about +0.5.
  assert.deepEqual(part('pretraining-term', 'seen').perSeed, [3, 3]);
  assert.equal(part('fidelity-cost', 'seen').effect, 1);
  assert.ok(Math.abs(part('alignment-seen', 'all').effect - 0.5) < 0.12, `${part('alignment-seen', 'all').effect}`);
  assert.ok(Math.abs(part('rejection-sampling', 'seen').effect - 0.4) < 0.12, `${part('rejection-sampling', 'seen').effect}`);
});

test('the report\'s accuracy bars: every model\'s interval over prompts (and seeds), not t over seeds beside a bootstrap over prompts', () => {
  // Three fine-tuning seeds with the same verdicts on every image: a t interval over seeds has width 0, but the
  // prompts vary (half always right, half never), so an interval over prompts cannot be narrow.
  const varied = (seed: string) => fakeEval(() => 0, seed, { prompts: 10, per: 4 });
  const flip = (e: EvaluateResult): EvaluateResult => {
    const images = e.images.map((x) => ({ ...x, judge: Number(x.prompt.split(' ').pop()) % 2 === 0, classifier: false }));
    return { ...e, images, ...accuracyTable(images.map((x) => ({ prompt: x.prompt, category: x.category, ok: x.judge }))) };
  };
  const evals: Record<string, Record<'seen' | 'unseen', EvaluationSummary>> = { base: { seen: evaluationJson(flip(varied('b'))), unseen: evaluationJson(flip(varied('bu'))) } };
  for (const s of [0, 1, 2]) evals[`rlhf-seed${s}`] = { seen: evaluationJson(flip(varied('r'))), unseen: evaluationJson(flip(varied('ru'))) };
  const summary = { evaluations: evals, pairs: [], reward: { sets: [], ablation: { seeds: [], metrics: {} } }, claims: [] } as unknown as ReproduceSummary;
  const seen = reproduceFigures(summary).seen!;
  assert.match(seen.caption!, /over prompts and seeds .* alike for every model/);
  const bar = (name: string) => (seen.data as Array<{ name: string; y: number[]; error_y: { array: number[]; arrayminus: number[] } }>).find((d) => d.name === name)!;
  const overall = 4; // x: the four categories, then overall
  for (const name of ['base', 'rlhf']) {
    assert.equal(bar(name).y[overall], 50);
    assert.ok(bar(name).error_y.array[overall] > 10 && bar(name).error_y.arrayminus[overall] > 10, `${name}: ${JSON.stringify(bar(name).error_y)}`);
  }
  // A summary written before the tallies: the old bars, and a caption that says they differ in kind.
  for (const e of Object.values(evals)) (delete (e.seen as { byPrompt?: unknown }).byPrompt, delete (e.unseen as { byPrompt?: unknown }).byPrompt);
  const old = reproduceFigures(summary).seen!;
  assert.match(old.caption!, /compare them with care/);
  assert.equal((old.data as Array<{ name: string; error_y: { array: number[] } }>).find((d) => d.name === 'rlhf')!.error_y.array[overall], 0);
});
