/**
 * How optimistic is the reward model's held-out AUC (`train-reward`'s
 * `heldOut`, a sweep's `rewardAucHeldOut`)? Early stopping picks the epoch by
 * the held-out prompts' loss, and the AUC is then measured on those same
 * prompts. Here a third split answers it: for each seed, a seeded 20% of the
 * prompts is set aside as a test split before training; the model trains on
 * the rest with its usual early-stopping split (`heldOutFraction` scaled so
 * that it is 20% of all prompts too), and its AUC is measured on both splits.
 * Both are random prompt sets of one size, so without the selection the two
 * AUCs would differ by zero on average; the mean of (early-stopping AUC -
 * test AUC) over seeds is the lean. Ties (raters split evenly) are left out,
 * as in `heldOutMetrics`.
 *
 *   node --import tsx scripts/reward-heldout-lean.ts --data DIR [--data DIR] [--seeds 16] [--config JSON] [--clip DIR]
 */
import { parseArgs } from 'node:util';
import { initBackend } from '../src/engine';
import { Rng } from '../src/engine/random';
import { formatPrompt } from '../src/world/prompt';
import { loadFrozenClip } from '../src/reward/embeddings';
import { pairedInterval } from '../src/reward/ablation';
import { BASE_CLIP_DIR, heldOutMetrics, loadRewardData, RewardData } from '../src/reward/run';
import { resolveRewardConfig, trainRewardModel } from '../src/reward/train';
import { intArg } from './args';

const TEST_FRACTION = 0.2;

/** The images (and embedding rows) of `data` whose prompt is (or is not) in `prompts`. */
function restrict(data: RewardData, prompts: ReadonlySet<string>, keep: boolean): RewardData {
  const dim = data.embeddings.dim;
  const rows = data.images.flatMap((im, i) => (prompts.has(formatPrompt(im.attributes)) === keep ? [i] : []));
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, j) => out.set(data.embeddings.data.subarray(r * dim, (r + 1) * dim), j * dim));
  return { images: rows.map((r) => data.images[r]), embeddings: { dim, data: out }, datasets: data.datasets };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { data: { type: 'string', multiple: true }, seeds: { type: 'string' }, config: { type: 'string' }, clip: { type: 'string' } } });
  if (!values.data?.length) throw new Error('usage: --data DIR [--data DIR] [--seeds 16] [--config JSON] [--clip DIR]');
  const seeds = intArg('seeds', values.seeds, 16, 2);
  const base = resolveRewardConfig(values.config ? JSON.parse(values.config) : {});
  await initBackend();
  const frozen = await loadFrozenClip(values.clip ?? BASE_CLIP_DIR);
  const data = loadRewardData(values.data, frozen);
  const prompts = [...new Set(data.images.map((im) => formatPrompt(im.attributes)))].sort();
  const esFraction = base.heldOutFraction / (1 - TEST_FRACTION);
  console.log(`${data.images.length} images, ${prompts.length} prompts; per seed: ${Math.round(TEST_FRACTION * prompts.length)} test prompts, early stopping on ${base.heldOutFraction} of all prompts\n`);
  console.log('| seed | best epoch | AUC, early-stopping prompts (images) | AUC, test prompts (images) | difference |');
  console.log('|---:|---:|---:|---:|---:|');
  const es: number[] = [];
  const test: number[] = [];
  for (let seed = 0; seed < seeds; seed++) {
    const testPrompts = new Set(new Rng(`heldout-lean/${seed}`).shuffle(prompts).slice(0, Math.round(TEST_FRACTION * prompts.length)));
    const rest = restrict(data, testPrompts, false);
    const config = { ...base, seed, heldOutFraction: esFraction };
    const r = await trainRewardModel(rest.images, rest.embeddings, frozen, config, { progress: false });
    const a = heldOutMetrics(r.model, rest, r.heldOutPrompts, r.trainPrompts, seed).heldOut!;
    const b = heldOutMetrics(r.model, data, [...testPrompts], r.trainPrompts, seed).heldOut!;
    r.model.dispose();
    es.push(a.auc.value);
    test.push(b.auc.value);
    console.log(`| ${seed} | ${r.bestEpoch} | ${a.auc.value.toFixed(3)} (${a.images}) | ${b.auc.value.toFixed(3)} (${b.images}) | ${(a.auc.value - b.auc.value).toFixed(3)} |`);
  }
  const f = (m: { mean: number; lo: number; hi: number }) => `${m.mean.toFixed(3)} [${m.lo.toFixed(3)}, ${m.hi.toFixed(3)}]`;
  console.log(`\nearly-stopping prompts: AUC ${f(pairedInterval(es))}; test prompts: ${f(pairedInterval(test))}`);
  console.log(`lean (early-stopping minus test, ${seeds} seeds, t interval): ${f(pairedInterval(es.map((x, i) => x - test[i])))}`);
  frozen.clip.dispose();
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
