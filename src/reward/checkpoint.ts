/**
 * A trained reward model on disk: its weights, and in the meta the resolved
 * config, the MiniCLIP it reads (folder and weights sha256), the datasets and
 * label counts it learnt from, the split, the training curve and its metrics.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assignVariables, CheckpointError, hasCheckpoint, loadCheckpoint, readCheckpointIndex, readCheckpointOfKind, saveCheckpoint, writeFileAtomic } from '../engine/checkpoint';
import { SHIPPED_CLIP_DIR } from '../models/checkpoint';
import { variableShapes } from '../models/layers';
import { FrozenClip, loadFrozenClip, TextEmbeddings } from './embeddings';
import { TRAINING_IMAGES_FILE, trainingImageDigests } from './evaluate';
import { RewardModel, RewardModelConfig, RewardModelConfigSchema } from './model';
import { EpochStats, RewardTrainConfig, RewardTrainConfigSchema } from './train';

export interface RewardDatasetInfo {
  /** Folder, relative to the checkpoint folder. */
  dir: string;
  images: number;
  labelledImages: number;
  labels: { good: number; bad: number };
}

export interface RewardMeta {
  kind: 'reward';
  config: RewardTrainConfig;
  model: RewardModelConfig;
  /** The frozen MiniCLIP: folder relative to the checkpoint folder, and its weights' sha256. */
  clip: { dir: string; sha256: string };
  datasets: RewardDatasetInfo[];
  trainPrompts: string[];
  heldOutPrompts: string[];
  bestEpoch: number;
  history: EpochStats[];
  /** Whatever metrics the caller computed (held-out accuracy, AUC, ...). */
  metrics: Record<string, unknown>;
  /** TRAINING_IMAGES_FILE beside the checkpoint: its lines and sha256 (a list that does not match is not read). Since 2026-12-07. */
  trainingImages?: { images: number; sha256: string };
}

/**
 * Save a reward model to `dir` (`clip.dir` and dataset folders are made relative to it), with the list of its
 * training images beside it (TRAINING_IMAGES_FILE: checked against where the training folders are not at hand).
 */
export async function saveRewardModel(dir: string, model: RewardModel, meta: RewardMeta): Promise<void> {
  const rel = (p: string) => path.relative(path.resolve(dir), path.resolve(p)) || '.';
  const digests = trainingImageDigests(meta.datasets.map((d) => d.dir));
  const list = digests.join('\n') + '\n';
  await saveCheckpoint(dir, model.variables, {
    ...meta,
    clip: { ...meta.clip, dir: rel(meta.clip.dir) },
    datasets: meta.datasets.map((d) => ({ ...d, dir: rel(d.dir) })),
    trainingImages: { images: digests.length, sha256: createHash('sha256').update(list).digest('hex') },
  });
  // After the checkpoint that names it: a save cut short between the two leaves a list the checkpoint does not match
  // (the model's earlier one, under --overwrite), which is not read.
  writeFileAtomic(path.join(dir, TRAINING_IMAGES_FILE), list);
}

/**
 * The training images' digests a reward model keeps beside it (TRAINING_IMAGES_FILE), or null where it has none
 * that its checkpoint names (a model from before 2026-12-07, or a list that is not this checkpoint's).
 */
export function recordedTrainingImages(dir: string, meta: Pick<RewardMeta, 'trainingImages'> = readRewardMeta(dir)): Set<string> | null {
  const file = path.join(dir, TRAINING_IMAGES_FILE);
  if (!meta.trainingImages || !fs.existsSync(file)) return null;
  const text = fs.readFileSync(file, 'utf8');
  if (createHash('sha256').update(text).digest('hex') !== meta.trainingImages.sha256) return null;
  return new Set(text.split('\n').filter(Boolean));
}

/**
 * The MiniCLIP folder a reward model reads (see findClipDir), its weights checked against the sha256 the model
 * records, reading no weights (a MiniCLIP retrained in place was found only once every image was sampled).
 */
export function checkedClipDir(dir: string): string {
  const meta = readRewardMeta(dir);
  const clipDir = findClipDir(dir, meta);
  const sha = readCheckpointIndex(clipDir).sha256;
  if (sha !== meta.clip.sha256) throw otherClip(dir, meta, sha, clipDir);
  return clipDir;
}

/** The error for a reward model given a MiniCLIP of other weights (`sha256`, from `clipDir`) than it was trained on. */
function otherClip(dir: string, meta: RewardMeta, sha256: string, clipDir: string): CheckpointError {
  return new CheckpointError(`reward model ${dir} was trained on the MiniCLIP with weights ${meta.clip.sha256.slice(0, 12)}, not ${sha256.slice(0, 12)} (${clipDir})`);
}

/** Read a reward checkpoint's meta (errors name the folder and what is wrong). */
export function readRewardMeta(dir: string): RewardMeta {
  const meta = readCheckpointOfKind<RewardMeta>(dir, 'reward').meta;
  const cfg = RewardTrainConfigSchema.safeParse(meta.config);
  const m = RewardModelConfigSchema.safeParse(meta.model);
  if (!cfg.success || !m.success) throw new CheckpointError(`checkpoint ${dir} has an invalid reward config`);
  // A checkpoint from before `inputs` (or `clipWeight`) existed read [u, v, u * v] (and the MLP alone): its model block
  // says so, and so must its config.
  return { ...meta, config: { ...cfg.data, inputs: m.data.inputs, clipWeight: m.data.clipWeight }, model: m.data };
}

/**
 * What a reward model's scores depend on beside its weights' bytes: its model block (inputs, clipWeight, the
 * calibration) and its MiniCLIP's sha256. `train-reward --clip-weight K --overwrite` rewrites the first with the
 * same weights, so a cache keyed on the weights' sha256 alone reused results scored by the model before.
 */
export function rewardScoreKey(dir: string): { model: RewardModelConfig; clip: string } {
  const meta = readRewardMeta(dir);
  return { model: meta.model, clip: meta.clip.sha256 };
}

/**
 * Load a reward model, with the MiniCLIP it was trained on (from the folder
 * its meta names, or the shipped one with the same weights: `findClipDir`;
 * unless `clip` is given; either way its weights' sha256 must match the one
 * recorded).
 */
export async function loadRewardModel(dir: string, opts: { clip?: FrozenClip } = {}): Promise<{ model: RewardModel; meta: RewardMeta; frozen: FrozenClip }> {
  const meta = readRewardMeta(dir);
  const frozen = opts.clip ?? (await loadFrozenClip(findClipDir(dir, meta)));
  if (frozen.sha256 !== meta.clip.sha256) {
    if (!opts.clip) frozen.clip.dispose();
    throw otherClip(dir, meta, frozen.sha256, frozen.dir);
  }
  const model = new RewardModel(meta.model, new TextEmbeddings(frozen));
  try {
    assignVariables(model.variables, (await loadCheckpoint(dir, variableShapes(model.variables))).tensors);
  } catch (e) {
    model.dispose();
    if (!opts.clip) frozen.clip.dispose();
    throw e;
  }
  return { model, meta, frozen };
}

/**
 * The MiniCLIP folder a reward model reads: the one its meta names (relative
 * to the reward model's folder), or, where that path no longer leads to the
 * recorded weights (the reward model's folder was copied or moved, as a sweep
 * folder is), the shipped base model's MiniCLIP when its weights are those
 * recorded. Otherwise a one-line error says where it looked.
 */
function findClipDir(dir: string, meta: RewardMeta): string {
  const named = path.resolve(dir, meta.clip.dir);
  const shipped = SHIPPED_CLIP_DIR;
  const holdsRecorded = (d: string) => hasCheckpoint(d) && readCheckpointIndex(d).sha256 === meta.clip.sha256;
  if (holdsRecorded(named)) return named;
  if (holdsRecorded(shipped)) return shipped;
  if (hasCheckpoint(named)) return named; // the sha256 check on load names both weights
  const what = fs.existsSync(named) ? 'holds no checkpoint.json (a partial copy?)' : 'does not exist';
  throw new CheckpointError(
    `reward model ${dir} names its MiniCLIP as ${meta.clip.dir} (relative to its folder), and ${named} ${what}, nor is it the shipped one (${shipped}): ` +
      `a reward model folder keeps that path when it is copied or moved; train it with --out where it will be used, or put it back where it was trained (its MiniCLIP's weights: ${meta.clip.sha256.slice(0, 12)})`,
  );
}
