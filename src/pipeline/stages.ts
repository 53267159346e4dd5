/**
 * The paper's stages as functions: each takes a typed config and folders and
 * returns what it wrote. The CLI commands, the notebooks and `reproduce` all
 * call these (pretraining is in ./pretrain.ts). Call initBackend first.
 *
 *   collectStage      Stage 1: images of the base model for prompts (resumable)
 *   labelStage        Stage 1: a simulated rater panel labels them
 *   trainRewardStage  Stage 2: the reward model
 *   finetuneStage     Stage 3: reward-weighted fine-tuning (resumable)
 *   evaluateStage     alignment (judge and classifier), reward, fidelity
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hasCheckpoint, readCheckpointIndex, writeFileAtomic } from '../engine/checkpoint';
import { firstMissingDir, readJsonFile, removeEmptyTree, shownPath } from '../engine/files';
import { BASE_MODEL_DIR, diffusionCheckpointDir } from '../eval/base';
import { readModelMeta } from '../models/checkpoint';
import { CLASSIFIER_DIR } from '../eval/classifier';
import { Progress } from '../engine/progress';
import { EvaluateOptions, EvaluateResult, evaluateModel, evaluationJson } from '../eval/evaluate';
import { collect, CollectResult, ImageGenerator, loadPrompts, prepareCollect, standInGenerator, standInOrigin } from '../feedback/collect';
import { datasetAgreement, defaultStorePath, labelWithPanel } from '../feedback/label';
import { AgreementStats } from '../feedback/agreement';
import { DEFAULT_MODEL_DIR, modelGenerator, modelOrigin } from '../feedback/modelGenerator';
import { panelFromSpec } from '../feedback/panel';
import { imageInfo } from '../feedback/io';
import { LabelStore } from '../feedback/store';
import { finetune, FinetuneInputs, FinetuneResult, firstDifference } from '../finetune/train';
import { FinetuneConfig } from '../finetune/config';
import { loadFrozenClip } from '../reward/embeddings';
import { rewardScoreKey } from '../reward/checkpoint';
import { BASE_CLIP_DIR, loadRewardData, trainReward, TrainRewardRun } from '../reward/run';
import { RewardTrainConfig } from '../reward/train';
import { DatasetOrigin, promptsOrigin, readManifest } from '../world/dataset';
import { RaterPanel } from '../world/raters';
import { PromptEntry } from '../world/promptSets';
import { SamplerConfig } from '../models/config';

export interface CollectStageConfig {
  /** 'seen', 'unseen', a prompts file, or the prompts themselves. */
  prompts: string | readonly PromptEntry[];
  /** Where prompts given as entries came from (e.g. their file), for the dataset's dataset.json. Default 'list'. */
  promptSource?: string;
  perPrompt: number;
  /** Base seed of the per-image seeds. */
  seed: number;
  /** Model folder (default the shipped base model). */
  model?: string;
  /** Overrides of the model's sampler settings (guidance scale, DDIM steps). */
  sampler?: Partial<SamplerConfig>;
  /** No model: render, getting one attribute wrong with this probability. */
  standIn?: number;
  batchSize?: number;
}

export interface CollectStageResult extends CollectResult {
  out: string;
  prompts: number;
  source: string;
}

/**
 * Stage 1: `perPrompt` images per prompt into the dataset folder `out` (an
 * existing one is resumed). The folder records what its images are made from
 * (prompts, model weights and sampler settings or the stand-in, seed); a run
 * from anything else is refused before the model loads (prepareCollect).
 */
export async function collectStage(config: CollectStageConfig, out: string, hooks: { onProgress?: (done: number, total: number) => void } = {}): Promise<CollectStageResult> {
  const prompts = typeof config.prompts === 'string' ? loadPrompts(config.prompts) : config.prompts;
  const promptSource = typeof config.prompts === 'string' ? config.prompts : (config.promptSource ?? 'list');
  if (config.model !== undefined && config.standIn !== undefined) throw new Error('use either a model or the stand-in, not both');
  if (config.sampler && Object.keys(config.sampler).length && config.standIn !== undefined) throw new Error('sampler settings (guidance, steps) belong to a model; the stand-in has none');
  const dir = config.model ?? DEFAULT_MODEL_DIR;
  let origin: DatasetOrigin;
  let source: string;
  if (config.standIn !== undefined) {
    origin = standInOrigin(promptSource, prompts, config.standIn, config.seed);
    source = `stand-in:${config.standIn}`;
  } else {
    origin = { prompts: promptsOrigin(promptSource, prompts.map((p) => p.prompt)), seed: config.seed, ...modelOrigin(dir, config.sampler ?? {}) };
    const changed = Object.entries(config.sampler ?? {}).filter(([, v]) => v !== undefined).map(([k, v]) => ` ${k} ${v}`).join('');
    source = shownPath(dir) + changed;
  }
  const target = { prompts, perPrompt: config.perPrompt, outDir: out, seed: config.seed, source, origin };
  const made = firstMissingDir(out);
  prepareCollect(target);
  let generate: ImageGenerator;
  let dispose = () => {};
  if (config.standIn !== undefined) generate = standInGenerator(config.standIn);
  else {
    try {
      const m = await modelGenerator(dir, config.sampler ?? {});
      generate = m.generate;
      dispose = m.dispose;
    } catch (e) {
      if (made) removeEmptyTree(made); // a model that cannot be loaded leaves no empty --out behind
      throw e;
    }
  }
  try {
    const r = await collect({ ...target, generate, batchSize: config.batchSize, onProgress: hooks.onProgress });
    return { ...r, out, prompts: prompts.length, source };
  } finally {
    dispose();
  }
}

export interface LabelStageConfig {
  /** Rater panel spec (see panelFromSpec), e.g. '3' or 'flip=0.1,skip=0.05x3'. */
  panel: string;
  seed: number;
  /** Label store (default DIR/labels.sqlite). */
  db?: string;
}

/** Stage 1: every rater of the panel labels every image of `data` into its label store. */
export function labelStage(config: LabelStageConfig, data: string): { store: string; added: number; duplicates: number; differing: number; raters: number; stats: AgreementStats } {
  const panel = panelFromSpec(config.panel, config.seed);
  const records = readManifest(data); // a folder that is not a dataset is refused before a label store is made in it
  const file = config.db ?? defaultStorePath(data);
  const store = LabelStore.open(file);
  try {
    store.bindDataset(imageInfo(records), data);
    // Rater k of every panel draws its noise from the seed and k alone: a second panel of the same seed would copy
    // the first's coin flips (correlated raters the reward counts as independent). Refused before any label.
    const seedOf = (name: string) => /-s([^-]+)$/.exec(name)?.[1];
    const twin = otherPanels(store, panel).find((o) => seedOf(o.panel) === seedOf(panel.raters[0].id.replace(/-r\d+$/, '')));
    if (twin) throw new Error(`${file} holds the labels of panel ${twin.panel}, of the same seed ${config.seed}: this panel's raters would draw the same noise as its raters (rater k of each panel shares rater k's draws), so the two would agree far more than independent raters; give another --seed, or label into a new store (--db FILE)`);
    const run = labelWithPanel(data, store, panel);
    if (run.differing) process.stderr.write(`t2i-align: ${file}: ${run.differing} of the panel's stored labels differ from what it gives now (the judge changed since they were given); the stored labels are kept. For labels from today's judge, label into a new store (--db) or with another --seed.\n`);
    const others = otherPanels(store, panel);
    if (others.length) {
      process.stderr.write(
        `t2i-align: ${file} also holds the labels of ${others.length === 1 ? 'another simulated panel' : `${others.length} other simulated panels`} (${others.map((o) => `${o.panel}: ${o.raters} rater${o.raters === 1 ? '' : 's'}`).join(', ')}), and the reward model averages every rater's labels; for this panel's alone, label into a new store (--db FILE).\n`,
      );
    }
    return { store: file, added: run.added, duplicates: run.duplicates, differing: run.differing, raters: panel.raters.length, stats: datasetAgreement(data, store, run.verdicts) };
  } finally {
    store.close();
  }
}

/** The simulated panels other than `panel` with current labels in `store`: name (`sim-3-s0`) and rater count. */
function otherPanels(store: LabelStore, panel: RaterPanel): Array<{ panel: string; raters: number }> {
  const panelOf = (rater: string) => rater.replace(/-r\d+$/, '');
  const own = new Set(panel.raters.map((r) => panelOf(r.id)));
  const raters = new Map<string, Set<string>>();
  for (const row of store.current()) {
    if (row.raterKind !== 'simulated' || own.has(panelOf(row.rater))) continue;
    const name = panelOf(row.rater);
    if (!raters.has(name)) raters.set(name, new Set());
    raters.get(name)!.add(row.rater);
  }
  return [...raters].map(([name, set]) => ({ panel: name, raters: set.size }));
}

/** Stage 2: train the reward model on the labelled datasets `data` and save it in `out` (refused where one is saved, unless `overwrite`). */
export async function trainRewardStage(
  config: Partial<RewardTrainConfig>,
  data: readonly string[],
  out: string,
  opts: { clip?: string; overwrite?: boolean; progress?: false | ((total: number, label: string) => Progress) } = {},
): Promise<{ out: string; seconds: number; run: Omit<TrainRewardRun, 'model'> }> {
  if (hasCheckpoint(out) && !opts.overwrite) throw new Error(`${out} already holds a checkpoint; choose another folder or pass --overwrite`);
  const frozen = await loadFrozenClip(opts.clip ?? BASE_CLIP_DIR);
  try {
    const t0 = Date.now();
    const { model, ...run } = await trainReward(loadRewardData(data, frozen), frozen, config, { out, progress: opts.progress });
    model.dispose();
    return { out, seconds: (Date.now() - t0) / 1000, run };
  } finally {
    frozen.clip.dispose();
  }
}

/** Stage 3: reward-weighted fine-tuning (resumable; see src/finetune/train.ts). */
export async function finetuneStage(config: FinetuneConfig, inputs: FinetuneInputs, hooks: Parameters<typeof finetune>[2] = {}): Promise<FinetuneResult> {
  return finetune(inputs, config, hooks);
}

export const EVALUATION_FILE = 'evaluation.json';

/**
 * Evaluate a model (see evaluateModel); with `out`, write `out/evaluation.json`
 * (with the per-image outcomes, for paired comparisons). When that file holds
 * an evaluation with the same settings and weights it is read instead
 * (resumable); one with other settings is refused, never overwritten.
 */
export async function evaluateStage(config: Omit<EvaluateOptions, 'onProgress' | 'onImages'>, out?: string, hooks: Pick<EvaluateOptions, 'onProgress' | 'onImages'> = {}): Promise<EvaluateResult> {
  const file = out ? path.join(out, EVALUATION_FILE) : undefined;
  // The settings and the weights they name: a model retrained in place is not mistaken for the saved one.
  const sha = (dir: string | undefined) => (dir ? readCheckpointIndex(dir).sha256 : null);
  const modelDir = diffusionCheckpointDir(config.model === 'base' ? BASE_MODEL_DIR : config.model);
  const settings = JSON.stringify({
    ...config, prompts: config.prompts.map((p) => p.prompt),
    weights: { model: sha(modelDir), reward: sha(config.reward), classifier: sha(config.classifier ?? CLASSIFIER_DIR) },
    ...(config.reward ? { rewardScore: rewardScoreKey(config.reward) } : {}),
  });
  if (file && fs.existsSync(file)) {
    const again = 'remove it to evaluate again, or use another --out';
    const saved = readJsonFile<{ settings?: unknown; result?: EvaluateResult }>(file, again);
    const shaped = (x: typeof saved) => x !== null && typeof x === 'object' && !Array.isArray(x) && typeof x.settings === 'string' && typeof x.result === 'object' && x.result !== null && Array.isArray(x.result.images);
    let savedSettings: Record<string, unknown> | undefined;
    try {
      if (shaped(saved)) savedSettings = JSON.parse(saved.settings as string);
    } catch {
      // named below
    }
    if (!savedSettings || typeof savedSettings !== 'object') throw new Error(`${file}: not an evaluation written by evaluate (no settings and per-image results); ${again}`);
    // Compared without the folders' paths (the weights' sha256 stands for them), so a saved evaluation is read in a
    // folder moved, copied or mounted elsewhere (a queue worker's); a model retrained in place is refused. The
    // sampler it was made with is compared too: two folders of the same weights can ship different ones. An
    // evaluation saved before the reward's score key was kept (2026-12-06) is compared without it.
    // The evaluator is compared as read (an omitted one is the judge), so the same settings written either way agree.
    const legacy = !('rewardScore' in savedSettings);
    const withoutPaths = (s: string) => {
      const o = JSON.parse(s) as Record<string, unknown>;
      return JSON.parse(JSON.stringify({ ...o, evaluator: o.evaluator ?? 'judge', model: undefined, reward: undefined, classifier: undefined, ...(legacy ? { rewardScore: undefined } : {}) })) as unknown;
    };
    const sampler = { ...readModelMeta(modelDir, 'diffusion').config.sampler, ...config.sampler };
    // One without a sampler (an older kit's) cannot show it was made with this one: refused, not read back.
    if (!saved.result!.sampler) throw new Error(`${file} holds an evaluation that does not record its sampler (an older kit's), so it may be another guidance or step count's; ${again}`);
    if (JSON.stringify(saved.result!.sampler) !== JSON.stringify(sampler)) {
      throw new Error(`${file} holds an evaluation sampled with ${JSON.stringify(saved.result!.sampler)}, and this model samples with ${JSON.stringify(sampler)}; use another folder (nothing was overwritten)`);
    }
    const diff = firstDifference(withoutPaths(saved.settings as string), withoutPaths(settings));
    if (diff) throw new Error(`${file} holds an evaluation with other settings or weights (${diff}); use another folder (nothing was overwritten)`);
    if (!hooks.onImages) return saved.result!;
  }
  const r = await evaluateModel({ ...config, ...hooks });
  if (file) {
    fs.mkdirSync(out!, { recursive: true });
    writeFileAtomic(file, JSON.stringify({ settings, result: evaluationJson(r, true) }) + '\n');
  }
  return r;
}
