/**
 * Stage 3, the run: fine-tune the base model's UNet (and its text encoder with
 * `trainTextEncoder`) with the reward-weighted
 * loss (./loss.ts) on batches that mix model-generated images (D_model) and
 * pretraining pairs (D_pre), in the pretraining loop (resumable, moving
 * average, checkpoints), judging a small fixed prompt set as it goes.
 *
 * The output folder is a model: `out/diffusion/` is a diffusion checkpoint
 * (`generate --model out`, `eval-base --model out`), `out/finetune.json` the
 * resolved config and the inputs' hashes (a rerun with other settings or
 * inputs is refused), `out/progress.jsonl` the judge's accuracy over updates,
 * `out/weights.json` what D_model holds and where its weight falls (the
 * weight audit, ./data.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { adam } from '../engine/adam';
import { hasCheckpoint, readCheckpointIndex, writeFileAtomic } from '../engine/checkpoint';
import { Progress, progress as makeProgress } from '../engine/progress';
import { Rng } from '../engine/random';
import { BASE_MODEL_DIR, diffusionCheckpointDir } from '../eval/base';
import { EMA_PREFIX, loadTextToImage, readModelMeta } from '../models/checkpoint';
import { LossWeighting, PretrainConfig } from '../models/config';
import { Example, imagesToTensor, shuffledBatches } from '../models/data';
import { denoisingLoss, drawNoise, selfConditionInput } from '../models/diffusion/loss';
import { NULL_PROMPT, TextToImage } from '../models/diffusion/model';
import { generateImages } from '../models/diffusion/sampler';
import { runTrainingLoop } from '../models/train-loop';
import { loadRewardModel, rewardScoreKey } from '../reward/checkpoint';
import { judge } from '../world/judge';
import { Category, CATEGORIES } from '../world/prompt';
import { seenPrompts } from '../world/promptSets';
import { batchSplit, FinetuneConfig } from './config';
import { resolveCorpusConfig } from '../world/corpus';
import { modelData, recordedCorpusOf, ModelDataSummary, pretrainingData, WeightedExample } from './data';
import { rewardWeightedLoss } from './loss';
import { makeDir, withFolderLock, writeIfChanged } from '../engine/files';

export interface FinetuneInputs {
  /** Base model folder (default data/base-model). */
  model?: string;
  /** Labelled dataset folders (their images are D_model). */
  data: readonly string[];
  /** Unlabelled dataset folders, weighted by the reward model. */
  unlabelled?: readonly string[];
  /** Reward model folder. */
  reward?: string;
  /** Output folder. */
  out: string;
}

/** The judge's accuracy on the fixed prompt set after `step` updates. */
export interface EvalPoint {
  step: number;
  accuracy: Record<Category | 'all', number>;
  images: number;
  /** The guidance scale the images were sampled at. */
  guidance: number;
}

export interface FinetuneResult {
  /** The step this call started (or resumed) from. */
  startStep: number;
  /** The step it ended at. */
  step: number;
  losses: number[];
  progress: EvalPoint[];
  seconds: number;
  data: ModelDataSummary;
}

const RECORD = 'finetune.json';
const PROGRESS = 'progress.jsonl';
/** The lock a fine-tuning run holds in its folder while it runs. */
export const FINETUNE_LOCK = '.finetune.lock';
const WEIGHTS = 'weights.json';

/** The draws of step s: prompt dropout, timesteps, noise. */
export function finetuneStepRng(seed: number, s: number): Rng {
  return new Rng(`${seed}/finetune/${s}`);
}

/** How an update runs; each defaults to the model's own setting. */
export interface FinetuneStepOptions {
  /** Probability that a prompt is replaced by the empty one. */
  condDropout?: number;
  /** The same for the model-generated examples (default: condDropout). */
  modelCondDropout?: number;
  /** The per-timestep weight of the denoising loss. */
  lossWeighting?: LossWeighting;
  /** The model-generated examples' timesteps [lo, hi] (default: 0..T-1, as the pretraining examples'). */
  modelTimesteps?: readonly [number, number];
  /** The weights the update changes (default: the UNet's; `model.variables` adds the text encoder's). */
  trainable?: Record<string, tf.Variable>;
}

/**
 * One update: the reward-weighted loss on `modelBatch` plus beta times the
 * denoising loss on `preBatch`, both with the per-timestep weight
 * `opts.lossWeighting`. Returns the loss.
 */
export function finetuneStep(
  model: TextToImage,
  optimizer: tf.Optimizer,
  modelBatch: readonly WeightedExample[],
  preBatch: readonly Example[],
  beta: number,
  rng: Rng,
  opts: FinetuneStepOptions = {},
): number {
  const { condDropout = model.config.condDropout, lossWeighting = model.config.lossWeighting, trainable = model.trainableVariables } = opts;
  const modelDropout = opts.modelCondDropout ?? condDropout;
  const all = [...modelBatch, ...preBatch];
  // One draw per example whatever the probabilities, so the timesteps and noise below do not depend on them.
  const prompts = all.map((ex, i) => (rng.bernoulli(i < modelBatch.length ? modelDropout : condDropout) ? NULL_PROMPT : ex.caption));
  const T = model.schedule.timesteps;
  const draw = drawNoise(rng, all.length, T);
  if (opts.modelTimesteps) {
    const [lo, hi] = opts.modelTimesteps;
    if (hi >= T) throw new Error(`modelTimesteps [${lo}, ${hi}]: timesteps run 0..${T - 1}`);
    // The same draws mapped onto lo..hi, so that every other draw of the step stays as it was. Where hi - lo + 1 does
    // not divide T the map is uneven: each timestep of the range takes floor or ceil of T / (hi - lo + 1) of the T
    // values a draw can have (e.g. [800, 950]: 6 or 7 of the 1,000), so some are drawn 7/6 as often as others.
    for (let i = 0; i < modelBatch.length; i++) draw.t[i] = lo + Math.floor((draw.t[i] * (hi - lo + 1)) / T);
  }
  // A self-conditioned UNet is trained as in pretraining: half the examples get its own x0 estimate.
  const use = model.selfConditioned ? all.map(() => rng.bernoulli(0.5)) : [];
  const x0 = imagesToTensor(all);
  let selfCond: tf.Tensor4D | undefined;
  if (use.some(Boolean)) {
    const c = model.encodePrompts(prompts);
    selfCond = selfConditionInput(model, x0, c, draw, use) ?? undefined;
    tf.dispose([c.context, c.mask]);
  }
  const weights = tf.tensor1d(modelBatch.map((e) => e.weight));
  const m = modelBatch.length;
  const loss = optimizer.minimize(
    () => {
      // Encoded inside: where the text encoder is trained, its weights need this on the gradient tape.
      const cond = model.encodePrompts(prompts);
      const l = denoisingLoss(model, x0, cond, draw, lossWeighting, selfCond);
      return rewardWeightedLoss(l.slice([0], [m]), weights, l.slice([m], [all.length - m]), beta);
    },
    true,
    Object.values(trainable),
  );
  tf.dispose([x0, weights, selfCond as tf.Tensor]);
  const value = loss!.dataSync()[0];
  loss!.dispose();
  return value;
}

/**
 * The fixed prompt set the run judges as it goes: seen prompts subsampled with seed 7919, so most of them are among
 * `eval-finetune`'s too; their image seeds (`finetune-progress/...`) are never those of a reported evaluation.
 */
export function progressPrompts(perCategory: number): ReturnType<typeof seenPrompts> {
  return seenPrompts({ perCategory: Object.fromEntries(CATEGORIES.map((c) => [c, perCategory])), seed: 7919 });
}

/** Judge `model` on the progress prompt set, sampled (by `generate`) at config.evalGuidance or the sampler's scale: accuracy per category and overall. */
export async function progressEval(
  model: TextToImage, sampler: PretrainConfig['sampler'], config: FinetuneConfig, step: number, generate: typeof generateImages = generateImages,
): Promise<EvalPoint> {
  const prompts = progressPrompts(config.evalPromptsPerCategory);
  const jobs = prompts.flatMap((p) => Array.from({ length: config.evalImagesPerPrompt }, (_, k) => ({ p, seed: `finetune-progress/${p.prompt}/${k}` })));
  const guidance = config.evalGuidance ?? sampler.guidanceScale;
  const images = await generate(model, jobs.map((j) => j.p.prompt), { ...sampler, guidanceScale: guidance, seed: jobs.map((j) => j.seed), batchSize: 32 });
  const ok = jobs.map((j, i) => judge(j.p.attributes, images[i]).aligned);
  const acc = (f: (c: Category) => boolean) => {
    const idx = jobs.map((j, i) => (f(j.p.category) ? i : -1)).filter((i) => i >= 0);
    return idx.filter((i) => ok[i]).length / idx.length;
  };
  const accuracy = { all: acc(() => true) } as EvalPoint['accuracy'];
  for (const c of CATEGORIES) accuracy[c] = acc((x) => x === c);
  return { step, accuracy, images: jobs.length, guidance };
}

/** Run `fn` with the moving average in the trained weights (`vars`), then put the trained weights back exactly. */
async function withWeights<T>(vars: Record<string, tf.Variable>, ema: Readonly<Record<string, tf.Variable>> | undefined, fn: () => Promise<T>): Promise<T> {
  if (!ema) return fn();
  const saved = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, v.clone()]));
  try {
    for (const [k, v] of Object.entries(vars)) v.assign(ema[`${EMA_PREFIX}${k}`]);
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(vars)) v.assign(saved[k]);
    tf.dispose(Object.values(saved));
  }
}

/** Drop the points of a progress file judged after `step` (the checkpoint a run resumes from). */
function keepProgressUpTo(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const steps = lines.map((l, i) => {
    try {
      return (JSON.parse(l) as EvalPoint).step;
    } catch {
      // A last line cut short (a kill, a full disk mid-append) is a point never finished: judged again on resume.
      if (i === lines.length - 1) return Infinity;
      throw new Error(`${file}:${i + 1}: not a progress point (${l.slice(0, 60)}); remove the line, or the run's folder to start again`);
    }
  });
  const kept = lines.filter((_, i) => steps[i] <= step);
  if (kept.length < lines.length) writeFileAtomic(file, kept.map((l) => l + '\n').join(''));
}

/** Config keys added after the first fine-tuning runs, with the value those runs used (for resuming them). */
export const KEYS_ADDED_SINCE: Partial<FinetuneConfig> = { evalGuidance: null, timestepWeighting: 'model', trainTextEncoder: false, modelCondDropout: null, modelTimesteps: null };

/**
 * First differing key path of two JSON values, or undefined (the order of an object's keys does not count; arrays of
 * objects of the same length compare item by item, as `datasets[0].labels`, other arrays whole while short; a long
 * one, a list of 48 prompts, by its first differing item, or by its length).
 */
export function firstDifference(a: unknown, b: unknown, at = ''): string | undefined {
  if (JSON.stringify(a) === JSON.stringify(b)) return undefined;
  const long = Array.isArray(a) && Array.isArray(b) && JSON.stringify(a).length + JSON.stringify(b).length > 200;
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length && (long || [...a, ...b].some((x) => x !== null && typeof x === 'object'))) {
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${at}[${i}]`);
      if (d) return d;
    }
  }
  if (long && (a as unknown[]).length !== (b as unknown[]).length) return `${at || '(root)'} had ${(a as unknown[]).length} items, now ${(b as unknown[]).length}`;
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], at ? `${at}.${k}` : k);
      if (d) return d;
    }
    return undefined; // the same keys and values, in another order
  }
  return `${at || '(root)'} was ${JSON.stringify(a)}, now ${JSON.stringify(b)}`;
}

/**
 * Fine-tune the base model in `inputs.model` (see the file comment). Bad input
 * (no labels and no reward model, a missing folder, an output folder holding
 * another run) is an error before anything is written.
 */
export async function finetune(
  inputs: FinetuneInputs,
  config: FinetuneConfig,
  opts: { progress?: false | ((total: number, label: string) => Progress); onEval?: (p: EvalPoint) => void; maxUpdates?: number } = {},
): Promise<FinetuneResult> {
  const t0 = Date.now();
  const baseDir = diffusionCheckpointDir(inputs.model ?? BASE_MODEL_DIR);
  const recordFile = path.join(inputs.out, RECORD);
  // An --out that is a file or holds something else is refused before the datasets are read (reading them caches
  // their embeddings in their folders); a run's own folder is compared with its record once the inputs are known.
  if (!fs.existsSync(recordFile) && fs.existsSync(inputs.out) && (!fs.statSync(inputs.out).isDirectory() || fs.readdirSync(inputs.out).some((f) => f !== FINETUNE_LOCK))) {
    throw new Error(`--out ${inputs.out} ${fs.statSync(inputs.out).isDirectory() ? `holds files but no fine-tuning run (${RECORD})` : 'is a file'}: give a new or empty folder`);
  }
  // One run per folder at a time: two ran side by side and each appended every progress point (a kill's lock is taken over).
  return withFolderLock(inputs.out, FINETUNE_LOCK, 'finetune', () => finetuneLocked(inputs, config, opts, { t0, baseDir, recordFile }));
}

async function finetuneLocked(
  inputs: FinetuneInputs,
  config: FinetuneConfig,
  opts: { progress?: false | ((total: number, label: string) => Progress); onEval?: (p: EvalPoint) => void; maxUpdates?: number },
  { t0, baseDir, recordFile }: { t0: number; baseDir: string; recordFile: string },
): Promise<FinetuneResult> {
  const reward = inputs.reward ? await loadRewardModel(inputs.reward) : undefined;
  let data: ReturnType<typeof modelData>;
  try {
    data = modelData({ data: inputs.data, unlabelled: inputs.unlabelled ?? [] }, config, reward);
  } finally {
    reward?.model.dispose();
    reward?.frozen.clip.dispose();
  }
  const { examples, summary } = data;
  const modelDir = inputs.model ?? BASE_MODEL_DIR;
  const recorded = recordedCorpusOf(modelDir);
  // D_pre should be the corpus the model was trained on; a folder that records none gets the default one, aloud.
  if (!recorded) process.stderr.write(`finetune: ${modelDir} records no pretraining corpus (no finetune.json or config.json with one, in it or, for a checkpoint folder, beside it): D_pre is the default corpus\n`);
  const corpus = recorded ?? resolveCorpusConfig({});
  const record = {
    config,
    inputs: {
      model: { dir: path.resolve(baseDir), sha256: readCheckpointIndex(baseDir).sha256 },
      reward: inputs.reward ? { dir: path.resolve(inputs.reward), sha256: readCheckpointIndex(inputs.reward).sha256, score: rewardScoreKey(inputs.reward) } : null,
      datasets: summary.datasets.map((d) => ({ ...d, dir: path.resolve(d.dir) })),
      corpus,
    },
  };
  if (fs.existsSync(recordFile)) {
    const saved = JSON.parse(fs.readFileSync(recordFile, 'utf8'));
    // Keys added since a run began read as the values the run used.
    saved.config = { ...KEYS_ADDED_SINCE, ...saved.config };
    // A record made before the labels' hash was kept is checked on the rest (the count of labels among it).
    for (const [i, d] of (saved.inputs?.datasets ?? []).entries()) {
      if (d && typeof d === 'object' && !('labelsSha256' in d)) d.labelsSha256 = record.inputs.datasets[i]?.labelsSha256 ?? null;
    }
    // ... and one made before the reward's score key (2026-12-06) on its weights' sha256 alone.
    const savedReward = saved.inputs?.reward;
    if (savedReward && typeof savedReward === 'object' && !('score' in savedReward) && record.inputs.reward) savedReward.score = record.inputs.reward.score;
    // How often checkpoints are written changes no number (a resume is bit-identical), as in pretraining: not compared.
    if (saved.config?.train && typeof saved.config.train === 'object') saved.config.train.checkpointEvery = record.config.train.checkpointEvery;
    // A run (or an input) moved or copied elsewhere resumes (it was refused, "inputs.reward.dir was /a, now /b", with
    // the same settings): a model or reward model is known by its weights' sha256; a dataset by its manifest and
    // labels only where its recorded folder is gone (a manifest names its images by seed, not by their bytes: another
    // folder beside it may hold another generator's images under the same manifest).
    const moved = (was: any, now: { dir: string } | null | undefined, same: (was: any) => boolean) => {
      if (was && typeof was === 'object' && now && typeof was.dir === 'string' && same(was)) was.dir = now.dir;
    };
    moved(saved.inputs?.model, record.inputs.model, (was) => was.sha256 === record.inputs.model.sha256);
    moved(saved.inputs?.reward, record.inputs.reward, (was) => was.sha256 === record.inputs.reward?.sha256);
    if (Array.isArray(saved.inputs?.datasets)) {
      saved.inputs.datasets.forEach((d: unknown, i: number) => {
        const now = record.inputs.datasets[i];
        moved(d, now, (was) => !!now && !fs.existsSync(was.dir) && was.manifestSha256 === now.manifestSha256 && was.labelsSha256 === now.labelsSha256);
      });
    }
    const diff = firstDifference(saved, JSON.parse(JSON.stringify(record)));
    if (diff) throw new Error(`${inputs.out} holds a fine-tuning run with other settings or inputs (${diff}); use another --out, or the same settings to resume`);
  }
  let model: TextToImage | undefined;
  try {
    const loaded = await loadTextToImage(baseDir);
    model = loaded.model;
    const T = model.schedule.timesteps;
    if (config.modelTimesteps && config.modelTimesteps[1] >= T) {
      throw new Error(`modelTimesteps [${config.modelTimesteps.join(', ')}]: the base model's timesteps run 0..${T - 1}`);
    }
    const pre = pretrainingData(corpus);
    makeDir(inputs.out);
    // A resumed or finished run's files are left as they are where nothing in them changed.
    writeIfChanged(recordFile, JSON.stringify(record, null, 2) + '\n');
    writeIfChanged(path.join(inputs.out, WEIGHTS), JSON.stringify(summary, null, 2) + '\n');

    const loopConfig: PretrainConfig = { ...loaded.meta.config, seed: config.seed, diffusionTrain: config.train };
    const { model: nModel, pre: nPre } = batchSplit(config);
    const modelBatches = shuffledBatches(examples, `${config.seed}/model`);
    const preBatches = shuffledBatches(pre, `${config.seed}/pre`);
    const ckpt = path.join(inputs.out, 'diffusion');
    const progressFile = path.join(inputs.out, PROGRESS);
    const progress: EvalPoint[] = [];
    const addPoint = (p: EvalPoint) => {
      progress.push(p);
      fs.appendFileSync(progressFile, JSON.stringify(p) + '\n');
      opts.onEval?.(p);
    };
    if (!hasCheckpoint(ckpt)) {
      fs.rmSync(progressFile, { force: true });
      if (config.evalEvery > 0) addPoint(await progressEval(model, loaded.meta.config.sampler, config, 0));
    } else {
      // A run stopped after judging a step but before its checkpoint judges that step again on resume.
      keepProgressUpTo(progressFile, readModelMeta(ckpt, 'diffusion').step);
    }
    const optimizer = adam(config.train.learningRate);
    const m = model;
    const trainable = config.trainTextEncoder ? m.variables : m.trainableVariables;
    const stepOpts: FinetuneStepOptions = {
      trainable,
      lossWeighting: config.timestepWeighting === 'model' ? undefined : config.timestepWeighting,
      modelCondDropout: config.modelCondDropout ?? undefined,
      modelTimesteps: config.modelTimesteps ?? undefined,
    };
    try {
      const result = await runTrainingLoop(
        {
          kind: 'diffusion', variables: m.variables, trainable, optimizer, config: loopConfig, train: config.train,
          vocab: [...m.clip.tokenizer.vocab],
          step: (s) => finetuneStep(m, optimizer, modelBatches(s, nModel), nPre ? preBatches(s, nPre) : [], config.beta, finetuneStepRng(config.seed, s), stepOpts),
        },
        {
          checkpointDir: ckpt,
          progress: opts.progress === false ? false : (total) => (typeof opts.progress === 'function' ? opts.progress : makeProgress)(total, 'finetune'),
          maxUpdates: opts.maxUpdates,
          onStep: async (s, _loss, ema) => {
            if (config.evalEvery > 0 && (s % config.evalEvery === 0 || s === config.train.steps)) {
              addPoint(await withWeights(trainable, ema, () => progressEval(m, loaded.meta.config.sampler, config, s)));
            }
          },
        },
      );
      return { startStep: result.startStep, step: result.step, losses: result.losses, progress, seconds: (Date.now() - t0) / 1000, data: summary };
    } finally {
      optimizer.dispose();
    }
  } finally {
    model?.dispose({ clip: true });
  }
}
