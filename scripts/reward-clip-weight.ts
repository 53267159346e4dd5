/**
 * How the CLIP cosine's weight k (train-reward --clip-weight) was chosen: for
 * reward models trained with --clip-weight 0 (the MLP alone), the ROC AUC of
 * MLP logit + k * cos(u, v) for several k, against the judge on the tuning
 * set's base-model images and stand-in renders, and against the raters on
 * each model's own held-out prompts. The recalibration that train-reward adds
 * is increasing (a > 0, checked), so it changes no AUC here. Mean over the models given.
 *
 *   node --import tsx scripts/reward-clip-weight.ts --feedback DIR --judge DIR [--judge DIR] MODEL [MODEL ...]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine';
import { loadRewardModel } from '../src/reward/checkpoint';
import { EvalSet, judgeEvalSet, labelEvalSet, subset } from '../src/reward/evaluate';
import { rocAuc } from '../src/reward/metrics';
import { ClipScore, RewardModel, textRows } from '../src/reward/model';

const K = [0, 10, 20, 40, 80];

function aucs(model: RewardModel, set: EvalSet): number[] {
  const n = set.prompts.length;
  const dim = set.embeddings.dim;
  return tf.tidy(() => {
    const image = tf.tensor2d(set.embeddings.data, [n, dim]);
    const text = tf.tensor2d(textRows(model.texts, set.prompts), [n, dim]);
    return K.map((k) => rocAuc(model.joinedLogit(image, text, k).dataSync(), set.targets));
  }).concat(rocAuc(new ClipScore(model.texts).score(set.embeddings, set.prompts), set.targets));
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { feedback: { type: 'string' }, judge: { type: 'string', multiple: true } }, allowPositionals: true });
  if (!values.feedback || !values.judge?.length || !positionals.length) throw new Error('usage: --feedback DIR --judge DIR [--judge DIR] MODEL [MODEL ...]');
  await initBackend();
  const rows = new Map<string, number[][]>();
  for (const dir of positionals) {
    const { model, frozen, meta } = await loadRewardModel(dir);
    if (model.config.clipWeight !== 0) throw new Error(`${dir} was trained with --clip-weight ${model.config.clipWeight}; give models trained with --clip-weight 0`);
    const labels = labelEvalSet(values.feedback, frozen);
    const held = new Set(meta.heldOutPrompts);
    const sets = [
      ...values.judge.map((d) => judgeEvalSet(d, frozen)),
      subset(labels, labels.prompts.flatMap((p, i) => (held.has(p) ? [i] : [])), `${values.feedback}, held-out prompts (labels)`),
    ];
    for (const set of sets) rows.set(set.name, [...(rows.get(set.name) ?? []), aucs(model, set)]);
    model.dispose();
    frozen.clip.dispose();
  }
  console.log(`| set | ${K.map((k) => `k = ${k}`).join(' | ')} | CLIP score |`);
  console.log(`|---|${K.map(() => '---:').join('|')}|---:|`);
  for (const [name, r] of rows) console.log(`| ${name} | ${r[0].map((_, j) => (r.reduce((a, x) => a + x[j], 0) / r.length).toFixed(3)).join(' | ')} |`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
