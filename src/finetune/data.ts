/**
 * Fine-tuning data: D_model, the model-generated images with their weights
 * (from the reward model, the labels, or a threshold), and D_pre, the
 * pretraining corpus the base model was trained on.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonFile } from '../engine/files';
import { defaultStorePath } from '../feedback/label';
import { checkModelSide, Example } from '../models/data';
import { goodShare, labelledImages, promptAttributes } from '../reward/data';
import { datasetImageEmbeddings, FrozenClip } from '../reward/embeddings';
import { RewardModel } from '../reward/model';
import { CorpusConfig, pretrainingCorpus, resolveCorpusConfig } from '../world/corpus';
import { MANIFEST, readImage, readManifest, refuseRepeatedDatasets } from '../world/dataset';
import { judge } from '../world/judge';
import { Attributes, Category, CATEGORIES, categoryOf, formatPrompt } from '../world/prompt';
import { FinetuneConfig } from './config';

/** A model-generated image with its weight in the reward-weighted loss. */
export interface WeightedExample extends Example {
  id: string;
  weight: number;
  /** Where the weight came from. */
  from: 'reward' | 'labels';
}

/** What D_model is made of, for the record saved with the run. */
export interface ModelDataSummary {
  /**
   * Per dataset: its images, how many D_model uses, its manifest's sha256, how many images have labels that set a
   * weight, and the sha256 of those labels (each image's share of raters who said good; null where no label is
   * read), so that a resume after a label changed is refused even where the count of labelled images is the same.
   */
  datasets: Array<{ dir: string; kind: 'labelled' | 'unlabelled'; images: number; used: number; manifestSha256: string; labels: number; labelsSha256: string | null }>;
  examples: number;
  /** Mean, min and max of the weights (after normalisation). */
  weight: { mean: number; min: number; max: number };
  /** Where the weight falls, by the judge's verdicts (see `WeightAudit`). */
  audit: WeightAudit[];
}

/**
 * One row of the weight audit: of the D_model images of a group, the share
 * the judge calls aligned, and the share of the weight those images carry.
 * Weights that see what the judge sees put more weight on aligned images
 * than there are of them (`weightOnAligned` above `aligned`); the closer the
 * two, the less the reward-weighted loss pushes that group towards its
 * aligned images, and the more it teaches the model its misaligned ones.
 * The audit only reads the judge's verdicts; the judge never sets a weight.
 * Images left out by `--weights threshold` count with weight 0.
 */
export interface WeightAudit {
  /** A category, 'several' (two or more objects asked for, in any category) or 'all'. */
  group: Category | 'several' | 'all';
  images: number;
  aligned: number;
  /** NaN where every weight of the group is 0. */
  weightOnAligned: number;
}

/** The weight audit of weighted images with the attributes their prompts ask for (see `WeightAudit`). */
export function weightAudit(items: ReadonlyArray<{ attributes: Attributes; weight: number; aligned: boolean }>): WeightAudit[] {
  const groups: Array<[WeightAudit['group'], (a: Attributes) => boolean]> = [
    ['all', () => true],
    ...CATEGORIES.map((c): [Category, (a: Attributes) => boolean] => [c, (a) => categoryOf(a) === c]),
    ['several', (a) => a.count > 1],
  ];
  return groups.flatMap(([group, f]) => {
    const xs = items.filter((x) => f(x.attributes));
    if (xs.length === 0) return [];
    const w = xs.reduce((a, x) => a + x.weight, 0);
    const wOk = xs.reduce((a, x) => a + (x.aligned ? x.weight : 0), 0);
    return [{ group, images: xs.length, aligned: xs.filter((x) => x.aligned).length / xs.length, weightOnAligned: w > 0 ? wOk / w : NaN }];
  });
}

/** The weight audit as a Markdown table (the CLI prints it, notebook 04 shows it). */
export function weightAuditTable(audit: readonly WeightAudit[]): string {
  const pct = (x: number) => (Number.isNaN(x) ? '-' : `${(100 * x).toFixed(0)}%`);
  return [
    '| group | images | aligned (judge) | share of the weight on aligned images |',
    '|---|---:|---:|---:|',
    ...audit.map((a) => `| ${a.group === 'several' ? 'several objects' : a.group} | ${a.images} | ${pct(a.aligned)} | ${pct(a.weightOnAligned)} |`),
  ].join('\n');
}

/** sha256 of the labels that set weights: each image's share of raters who said good, by image id; null for none. */
export function labelsSha256(shares: ReadonlyMap<string, number>): string | null {
  if (shares.size === 0) return null;
  const rows = [...shares].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(rows)).digest('hex');
}

/** sha256 of a dataset's manifest (which images, prompts and seeds). */
export function manifestSha256(dir: string): string {
  return createHash('sha256').update(fs.readFileSync(path.join(dir, MANIFEST))).digest('hex');
}

/**
 * A caution for D_model datasets whose images are the renderer's (`render-set`), not the model's samples:
 * the paper's D_model is the model's own images, and reward-weighting renders is supervised learning on the
 * renderer's. Undefined when every image comes from a generator. A folder that cannot be read is left to `modelData`.
 */
export function renderedDataCaution(dirs: readonly string[]): string | undefined {
  const rendered = dirs.filter((dir) => {
    try {
      return readManifest(dir, { checkFiles: false }).some((r) => r.source === 'render');
    } catch {
      return false;
    }
  });
  if (rendered.length === 0) return undefined;
  return `${rendered.join(', ')} ${rendered.length === 1 ? 'holds' : 'hold'} renders (render-set), not the model's samples: the paper's D_model is the model's own images, and weighting renders is supervised learning on the renderer's images (give collect's or generate's folders for the paper's method)`;
}

/**
 * D_model from labelled datasets (`data`, with a label store unless the
 * weights come from the reward model) and unlabelled ones (scored by the
 * reward model), weighted per `config.weights` and `config.normalise`.
 * Errors name the dataset and what is missing.
 */
export function modelData(
  dirs: { data: readonly string[]; unlabelled: readonly string[] },
  config: Pick<FinetuneConfig, 'weights' | 'threshold' | 'normalise'>,
  reward?: { model: RewardModel; frozen: FrozenClip },
): { examples: WeightedExample[]; summary: ModelDataSummary } {
  if (dirs.data.length + dirs.unlabelled.length === 0) throw new Error('no model-generated images: give --data DIR (and/or --unlabelled DIR)');
  refuseRepeatedDatasets([...dirs.data.map((dir) => ({ dir, flag: '--data' })), ...dirs.unlabelled.map((dir) => ({ dir, flag: '--unlabelled' }))]);
  if (!reward && config.weights === 'reward') throw new Error('--weights reward needs a reward model: --reward DIR (e.g. data/reward-model)');
  if (!reward && dirs.unlabelled.length > 0) throw new Error('unlabelled images are weighted by the reward model: give --reward DIR');
  const examples: WeightedExample[] = [];
  const summary: ModelDataSummary = { datasets: [], examples: 0, weight: { mean: 0, min: 0, max: 0 }, audit: [] };
  const audited: Array<{ attributes: Attributes; aligned: boolean; weight: number }> = [];
  const score = (dir: string, records: ReturnType<typeof readManifest>) => {
    const emb = datasetImageEmbeddings(dir, reward!.frozen, records);
    return reward!.model.score(emb, records.map((r) => formatPrompt(promptAttributes(dir, r))));
  };
  const sources = [...dirs.data.map((dir) => ({ dir, kind: 'labelled' as const })), ...dirs.unlabelled.map((dir) => ({ dir, kind: 'unlabelled' as const }))];
  for (const { dir, kind } of sources) {
    const records = readManifest(dir);
    // Before anything else: an empty dataset was blamed on the weights ("the reward model scores every image 0").
    if (records.length === 0) throw new Error(`no model-generated images in ${dir} (its manifest is empty): give a dataset that holds images (\`t2i-align collect\`)`);
    checkModelSide(dir, readImage(dir, records[0]), records[0].id);
    const hasLabels = kind === 'labelled' && fs.existsSync(defaultStorePath(dir));
    if (kind === 'labelled' && config.weights !== 'reward' && !hasLabels && !reward) {
      throw new Error(`${dir} has no labels (${defaultStorePath(dir)} is missing) and no reward model was given: label it (\`t2i-align label --data ${dir}\`) or pass --reward DIR`);
    }
    // Shares of raters who said good, used unless the weights come from the reward model.
    const labels = hasLabels && config.weights !== 'reward' ? new Map(labelledImages(dir).map((im) => [im.record.id, goodShare(im.labels)])) : new Map<string, number>();
    const scores = reward && (config.weights === 'reward' || records.some((r) => !labels.has(r.id))) ? score(dir, records) : null;
    let used = 0;
    records.forEach((r, i) => {
      const share = labels.get(r.id);
      let weight: number;
      let from: WeightedExample['from'];
      if (share !== undefined) ((weight = config.weights === 'threshold' ? (share > 0.5 ? 1 : 0) : share), (from = 'labels'));
      else if (scores) {
        // A NaN would pass as weight 0 under a threshold and poison the mean otherwise: refused where it arises.
        if (!Number.isFinite(scores[i])) throw new Error(`${dir}: the reward model scored image ${r.id} ${scores[i]}, not a finite number: its weights may be corrupt (check it with \`t2i-align eval-reward --model DIR\`)`);
        ((weight = config.weights === 'threshold' ? (scores[i] >= config.threshold ? 1 : 0) : scores[i]), (from = 'reward'));
      }
      else return;
      const image = readImage(dir, r);
      const attributes = promptAttributes(dir, r);
      audited.push({ attributes, aligned: judge(attributes, image).aligned, weight });
      if (config.weights === 'threshold' && weight === 0) return;
      examples.push({ id: `${dir}:${r.id}`, image, caption: r.prompt, weight, from });
      used++;
    });
    summary.datasets.push({ dir, kind, images: records.length, used, manifestSha256: manifestSha256(dir), labels: labels.size, labelsSha256: labelsSha256(labels) });
  }
  // Weights all 0 leave the model term nothing to teach (the run would be beta x the pretraining loss alone): refused in every mode.
  if (!examples.some((e) => e.weight > 0)) {
    const why = {
      threshold: `lower --threshold (the least reward kept, now ${config.threshold}) or use --weights reward`,
      labels: `every labelled image is bad to all its raters${reward ? ' and the reward model scores the rest 0' : ''}, so the model term has nothing to teach: label more images, or use --weights reward`,
      reward: 'the reward model scores every image 0: check it with `t2i-align eval-reward --model DIR`',
    }[config.weights];
    throw new Error(`no model-generated image has a weight above 0 (weights: ${config.weights}, ${examples.length} images weighed); ${why}`);
  }
  const mean = examples.reduce((a, e) => a + e.weight, 0) / examples.length;
  if (config.normalise === 'mean') for (const e of examples) e.weight /= mean;
  const ws = examples.map((e) => e.weight);
  summary.examples = examples.length;
  // (Not Math.min(...ws): a spread of one argument per image overflows the stack past about 125,000 images.)
  summary.weight = { mean: ws.reduce((a, b) => a + b, 0) / ws.length, min: ws.reduce((a, b) => Math.min(a, b), Infinity), max: ws.reduce((a, b) => Math.max(a, b), -Infinity) };
  summary.audit = weightAudit(audited); // before normalisation: the shares do not depend on the scale
  return { examples, summary };
}

/**
 * The corpus a model was trained on, as its folder records it: for a fine-tuned model the corpus its own D_pre was
 * (finetune.json), else its config.json's `corpus` (a pretrain run or a shipped model). Looked for in `modelDir` and,
 * where that is the checkpoint folder itself (RUN/diffusion, which --model accepts), in the run's folder above it;
 * null where neither records one.
 */
export function recordedCorpusOf(modelDir: string): CorpusConfig | null {
  const dirs = [modelDir];
  if (fs.existsSync(path.join(modelDir, 'checkpoint.json'))) dirs.push(path.dirname(path.resolve(modelDir)));
  for (const dir of dirs) {
    const finetuned = path.join(dir, 'finetune.json');
    if (fs.existsSync(finetuned)) {
      const corpus = readJsonFile<{ inputs?: { corpus?: unknown } }>(finetuned).inputs?.corpus;
      if (corpus) return resolveCorpusConfig(corpus);
    }
    const config = path.join(dir, 'config.json');
    if (fs.existsSync(config)) {
      const corpus = readJsonFile<{ corpus?: unknown }>(config).corpus;
      if (corpus) return resolveCorpusConfig(corpus);
    }
  }
  return null;
}

/** D_pre: the pretraining corpus of `config`, as training pairs. */
export function pretrainingData(config: CorpusConfig): Example[] {
  const out: Example[] = [];
  for (const item of pretrainingCorpus(config)) out.push({ image: item.image, caption: item.caption });
  return out;
}
