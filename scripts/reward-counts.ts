/**
 * Does a reward model see counts? For each dataset (base-model images the
 * reward model never trained on), the ROC AUC of the reward and of the CLIP
 * score against the judge, in three groups:
 * - one object: prompts asking for one (count right is nearly free there);
 * - several objects: prompts asking for two or more;
 * - count alone: several objects whose other attributes (object, color,
 *   background) the judge finds right, with the target "count right": an AUC
 *   near 0.5 here means the score cannot tell two circles from three.
 *
 *   node --import tsx scripts/reward-counts.ts [--model data/reward-model] DIR [DIR...]
 */
import { parseArgs } from 'node:util';
import { initBackend } from '../src/engine';
import { loadRewardModel } from '../src/reward/checkpoint';
import { promptAttributes } from '../src/reward/data';
import { datasetImageEmbeddings, TextEmbeddings } from '../src/reward/embeddings';
import { rocAuc } from '../src/reward/metrics';
import { ClipScore } from '../src/reward/model';
import { readImage, readManifest } from '../src/world/dataset';
import { judge, Verdict } from '../src/world/judge';
import { formatPrompt } from '../src/world/prompt';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { model: { type: 'string', default: 'data/reward-model' } }, allowPositionals: true });
  if (positionals.length === 0) throw new Error('usage: [--model DIR] DATASET [DATASET...] (e.g. results/reward/seen-test)');
  const manifests = positionals.map((dir) => readManifest(dir)); // every folder checked before any work
  await initBackend();
  const reward = await loadRewardModel(values.model!);
  const clip = new ClipScore(new TextEmbeddings(reward.frozen));
  const pct = (x: number) => (100 * x).toFixed(0);
  console.log('| dataset | group | images | target share | AUC reward | AUC CLIP |\n|---|---|---:|---:|---:|---:|');
  for (const [k, dir] of positionals.entries()) {
    const records = manifests[k];
    const emb = datasetImageEmbeddings(dir, reward.frozen, records);
    const attributes = records.map((r) => promptAttributes(dir, r));
    const prompts = attributes.map(formatPrompt); // as the reward model is trained and scored
    const scores = { reward: reward.model.score(emb, prompts), clip: clip.score(emb, prompts) };
    const verdicts: Verdict[] = records.map((r, i) => judge(attributes[i], readImage(dir, r)));
    const countOk = (v: Verdict) => v.verdicts.find((a) => a.attribute === 'count')?.ok ?? false;
    const several = (v: Verdict) => (v.attributes.count ?? 1) > 1;
    const groups: Array<[string, (v: Verdict) => boolean, (v: Verdict) => boolean]> = [
      ['one object', (v) => !several(v), (v) => v.aligned],
      ['several objects', several, (v) => v.aligned],
      ['count alone', (v) => several(v) && v.verdicts.every((a) => a.attribute === 'count' || a.ok), countOk],
    ];
    for (const [name, keep, target] of groups) {
      const idx = verdicts.map((v, i) => (keep(v) ? i : -1)).filter((i) => i >= 0);
      const t = idx.map((i) => (target(verdicts[i]) ? 1 : 0));
      const auc = (s: Float32Array) => rocAuc(idx.map((i) => s[i]), t).toFixed(3);
      console.log(`| ${dir} | ${name} | ${idx.length} | ${pct(t.reduce((a: number, b) => a + b, 0) / Math.max(1, idx.length))}% | ${auc(scores.reward)} | ${auc(scores.clip)} |`);
    }
  }
  reward.model.dispose();
  reward.frozen.clip.dispose();
}

main().catch((e) => {
  console.error(`reward-counts: ${(e as Error).message}`);
  process.exit(1);
});
