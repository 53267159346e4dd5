/**
 * Model checkpoints: a MiniCLIP or a text-to-image model's weights, the
 * optimizer's state (for resuming), and meta (kind, step, the resolved
 * config, the tokenizer's vocabulary), in the engine's folder format.
 *
 *   model weights    text/..., image/..., logit_scale, unet/...
 *   optimizer state  optimizer/iter, optimizer/m/<weight>, optimizer/v/<weight>
 *   moving average   ema/<weight> (when trained with emaDecay > 0): the weights used for sampling
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CheckpointError, loadCheckpoint, readCheckpointIndex, readCheckpointOfKind, saveCheckpoint } from '../engine/checkpoint';
import { MiniClip } from './clip/model';
import { parsePretrainConfig, PretrainConfig } from './config';
import { TextToImage } from './diffusion/model';
import { variableShapes } from './layers';

export type ModelKind = 'miniclip' | 'diffusion';

/** The shipped base model's folder (`data/base-model`: `clip/` and `diffusion/`). */
export const SHIPPED_BASE_MODEL_DIR = path.resolve(__dirname, '..', '..', 'data', 'base-model');
/** Its MiniCLIP (the frozen encoder of the shipped reward model). */
export const SHIPPED_CLIP_DIR = path.join(SHIPPED_BASE_MODEL_DIR, 'clip');

export interface ModelCheckpointMeta {
  kind: ModelKind;
  /** Optimizer updates done. */
  step: number;
  /** The resolved config of the run (model and training). */
  config: PretrainConfig;
  /** The tokenizer's vocabulary, checked on load. */
  vocab: string[];
  /** Mean training loss over the updates since the previous checkpoint (null when none). */
  recentLoss: number | null;
}

const OPT = 'optimizer/';
/** Name prefix of the weights' exponential moving average in a checkpoint. */
export const EMA_PREFIX = 'ema/';

/** Adam's state as named tensors: iterations, then first and second moments by weight name. */
export async function optimizerState(optimizer: tf.Optimizer, trainable: Record<string, tf.Variable>): Promise<tf.NamedTensorMap> {
  const weights = await optimizer.getWeights();
  const keys = Object.keys(trainable);
  const out: tf.NamedTensorMap = {};
  const [iter, ...slots] = weights;
  out[`${OPT}iter`] = iter.tensor;
  // Adam's running beta powers, saved exactly: recomputing them as beta^(n+1) on
  // load (what setWeights does) differs in the last bit and a resumed run drifts.
  const acc = adamBetaPowers(optimizer);
  if (acc) {
    out[`${OPT}acc_beta1`] = acc.accBeta1.clone();
    out[`${OPT}acc_beta2`] = acc.accBeta2.clone();
  }
  if (slots.length === 0) return out;
  if (slots.length !== 2 * keys.length) {
    throw new CheckpointError(`optimizer has ${slots.length} slots for ${keys.length} weights; expected 2 per weight (Adam)`);
  }
  keys.forEach((k, i) => {
    out[`${OPT}m/${k}`] = slots[i].tensor;
    out[`${OPT}v/${k}`] = slots[keys.length + i].tensor;
  });
  return out;
}

/** Load Adam's state saved by `optimizerState` into a fresh optimizer (same weight names and order). */
export async function restoreOptimizer(optimizer: tf.Optimizer, trainable: Record<string, tf.Variable>, tensors: tf.NamedTensorMap): Promise<void> {
  const iter = tensors[`${OPT}iter`];
  if (!iter) throw new CheckpointError('checkpoint has no optimizer state (optimizer/iter) to resume from');
  const keys = Object.keys(trainable);
  const hasSlots = keys.some((k) => `${OPT}m/${k}` in tensors);
  const list: Array<{ name: string; tensor: tf.Tensor }> = [{ name: 'iter', tensor: iter }];
  if (hasSlots) {
    for (const slot of ['m', 'v']) {
      for (const k of keys) {
        const t = tensors[`${OPT}${slot}/${k}`];
        if (!t) throw new CheckpointError(`checkpoint's optimizer state has no ${OPT}${slot}/${k}`);
        list.push({ name: `${k}/${slot}`, tensor: t });
      }
    }
  }
  await optimizer.setWeights(list);
  const acc = adamBetaPowers(optimizer);
  const b1 = tensors[`${OPT}acc_beta1`];
  const b2 = tensors[`${OPT}acc_beta2`];
  if (acc && b1 && b2) {
    acc.accBeta1.assign(b1);
    acc.accBeta2.assign(b2);
  }
}

/** AdamOptimizer's (protected) running powers beta1^(n+1), beta2^(n+1); undefined for other optimizers. */
function adamBetaPowers(optimizer: tf.Optimizer): { accBeta1: tf.Variable; accBeta2: tf.Variable } | undefined {
  const o = optimizer as unknown as { accBeta1?: tf.Variable; accBeta2?: tf.Variable };
  return o.accBeta1 && o.accBeta2 ? { accBeta1: o.accBeta1, accBeta2: o.accBeta2 } : undefined;
}

/** Save a model's weights, (optionally) its optimizer state, and meta to the folder `dir`. */
export async function saveModelCheckpoint(
  dir: string,
  variables: Record<string, tf.Variable>,
  meta: ModelCheckpointMeta,
  optimizer?: { optimizer: tf.Optimizer; trainable: Record<string, tf.Variable> },
): Promise<void> {
  const opt = optimizer ? await optimizerState(optimizer.optimizer, optimizer.trainable) : {};
  try {
    await saveCheckpoint(dir, { ...variables, ...opt }, meta);
  } finally {
    // iter and the beta powers are fresh tensors; the moments are the optimizer's own variables.
    tf.dispose([`${OPT}iter`, `${OPT}acc_beta1`, `${OPT}acc_beta2`].map((k) => opt[k]).filter((t) => t !== undefined));
  }
}

/**
 * Read the meta of a model checkpoint and check it is of `kind`, with its
 * config validated (errors name the folder and what is wrong).
 */
export function readModelMeta(dir: string, kind: ModelKind): ModelCheckpointMeta {
  const meta = readCheckpointOfKind<ModelCheckpointMeta>(dir, kind).meta;
  try {
    meta.config = parsePretrainConfig(meta.config);
  } catch (e) {
    throw new CheckpointError(`checkpoint ${dir} has an invalid config: ${(e as Error).message}`);
  }
  return meta;
}

/**
 * Load weights into `variables` (names and shapes must match exactly; the
 * optimizer state and the moving average may be present or not), and return
 * the optimizer and moving-average tensors (the caller disposes them, or
 * passes them to `restoreOptimizer`).
 * Weights named in `frozen` are not loaded but checked: a resumed run must
 * use the same frozen weights (e.g. the text encoder) as the checkpoint.
 * With `frozenCheck: 'skip'` they are neither loaded nor checked (a warm
 * start onto another text encoder). Weights named in `fresh` are not in the
 * checkpoint and keep their values (blocks added to a warm-started UNet).
 */
export async function loadWeightsInto(
  dir: string,
  variables: Record<string, tf.Variable>,
  frozen: ReadonlySet<string> = new Set(),
  frozenCheck: 'check' | 'skip' = 'check',
  fresh: ReadonlySet<string> = new Set(),
): Promise<tf.NamedTensorMap> {
  const index = readCheckpointIndex(dir);
  const expect: Record<string, number[]> = variableShapes(variables);
  for (const name of fresh) delete expect[name];
  const extra = (name: string) => name.startsWith(OPT) || name.startsWith(EMA_PREFIX);
  // A weight's moving average (ema/K) and Adam moments (optimizer/m/K, optimizer/v/K) have weight K's shape: expected
  // so (an edited spec gave a raw tfjs "shape of the new value ... must match" at the assign, naming nothing). Others
  // (Adam's step counts; entries of weights the model lacks or does not check) keep the file's.
  const weightOf = (name: string) => (name.startsWith(EMA_PREFIX) ? name.slice(EMA_PREFIX.length) : /^optimizer\/[mv]\//.test(name) ? name.slice(`${OPT}m/`.length) : null);
  for (const s of index.specs) {
    if (!extra(s.name)) continue;
    const k = weightOf(s.name);
    const own = k !== null && Object.hasOwn(variables, k) && !fresh.has(k) && !(frozen.has(k) && frozenCheck === 'skip');
    expect[s.name] = own ? variables[k!].shape : s.shape;
  }
  const { tensors } = await loadCheckpoint(dir, expect);
  const opt: tf.NamedTensorMap = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (extra(name)) opt[name] = t;
    else if (frozen.has(name)) {
      const same = frozenCheck === 'skip' || tf.tidy(() => tf.all(tf.equal(variables[name], t)).dataSync()[0] === 1);
      if (!same) {
        tf.dispose([...Object.values(tensors)]);
        throw new CheckpointError(`cannot resume from ${dir}: frozen weight ${name} differs from the checkpoint's (another text encoder?)`);
      }
      t.dispose();
    } else {
      variables[name].assign(t);
      t.dispose();
    }
  }
  return opt;
}

function checkVocab(dir: string, meta: ModelCheckpointMeta, clip: MiniClip): void {
  const now = clip.tokenizer.vocab.join(' ');
  if ((meta.vocab ?? []).join(' ') !== now) {
    throw new CheckpointError(`checkpoint ${dir} was trained with another vocabulary than the grammar's; retrain it (saved: ${meta.vocab?.length} tokens, now: ${clip.tokenizer.size})`);
  }
}

/** A MiniCLIP from a `miniclip` checkpoint. */
export async function loadMiniClip(dir: string): Promise<{ clip: MiniClip; meta: ModelCheckpointMeta }> {
  const meta = readModelMeta(dir, 'miniclip');
  const clip = new MiniClip(meta.config.clip);
  try {
    checkVocab(dir, meta, clip);
    tf.dispose(Object.values(await loadWeightsInto(dir, clip.variables)));
  } catch (e) {
    clip.dispose();
    throw e;
  }
  return { clip, meta };
}

/**
 * A text-to-image model from a `diffusion` checkpoint, with its own MiniCLIP
 * (text encoder loaded; image encoder untrained): free it with `model.dispose({ clip: true })`.
 * Every weight the run averaged (the UNet's; the text encoder's too after
 * `finetune` with `trainTextEncoder`) gets its moving average when the
 * checkpoint has one (`weights: 'trained'` for the last trained weights instead).
 */
export async function loadTextToImage(dir: string, opts: { weights?: 'ema' | 'trained' } = {}): Promise<{ model: TextToImage; meta: ModelCheckpointMeta }> {
  const meta = readModelMeta(dir, 'diffusion');
  const clip = new MiniClip(meta.config.clip);
  const model = new TextToImage(clip, meta.config.diffusion);
  try {
    checkVocab(dir, meta, clip);
    // The checkpoint holds text/ and unet/ weights; the image encoder is not part of it.
    const extra = await loadWeightsInto(dir, model.variables);
    // Sample with the moving average of the trained weights when the run kept one (the UNet's; the text
    // encoder's too where fine-tuning trained it: finetune's trainTextEncoder).
    if (opts.weights !== 'trained')
      for (const [k, v] of Object.entries(model.variables)) if (extra[`${EMA_PREFIX}${k}`]) v.assign(extra[`${EMA_PREFIX}${k}`]);
    tf.dispose(Object.values(extra));
  } catch (e) {
    model.dispose({ clip: true });
    throw e;
  }
  return { model, meta };
}
