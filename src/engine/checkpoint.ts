/**
 * Checkpoints on disk without tfjs-node.
 *
 * A checkpoint is a folder:
 *   checkpoint.json       format, version, meta (config, step, ...), weight specs, weights file name, sha256
 *   weights-<sha8>.bin    the raw weights (tf.io.encodeWeights), named by content
 *
 * Saving writes the new weights file first, then replaces checkpoint.json
 * atomically (temp file + rename), then deletes older weights files: a save
 * killed at any point leaves the previous checkpoint loadable. Loading checks
 * the format, size and hash, and (optionally) the names and shapes the model
 * expects, and says which of these is wrong.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeDir, processAlive, writeFileAtomic } from './files';

export { processAlive, writeFileAtomic };

const FORMAT = 't2i-align-checkpoint';
const VERSION = 1;
const INDEX = 'checkpoint.json';

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export interface CheckpointIndex<M> {
  format: typeof FORMAT;
  version: number;
  meta: M;
  weightsFile: string;
  byteLength: number;
  sha256: string;
  specs: tf.io.WeightsManifestEntry[];
  /**
   * sha256 of the specs' names, shapes and dtypes in order (specsDigest; since 2026-12-07, absent before): the
   * weights' sha256 does not cover them, so two names swapped between tensors of one shape loaded as another model.
   */
  specsSha256?: string;
  savedAt: string;
}

/** The digest of a checkpoint's tensor specs (names, shapes, dtypes, in order): CheckpointIndex.specsSha256. */
export function specsDigest(specs: readonly tf.io.WeightsManifestEntry[]): string {
  return createHash('sha256').update(JSON.stringify(specs.map((s) => [s.name, s.shape, s.dtype]))).digest('hex');
}

export interface LoadedCheckpoint<M> {
  /** Tensors by name; the caller owns (and disposes) them. */
  tensors: tf.NamedTensorMap;
  meta: M;
}

/**
 * Save named tensors (or variables) and JSON-able `meta` (the resolved config,
 * step, metrics) to the folder `dir`, creating it if needed.
 */
export async function saveCheckpoint<M>(dir: string, tensors: tf.NamedTensorMap, meta: M): Promise<void> {
  const names = Object.keys(tensors).sort();
  if (names.length === 0) throw new CheckpointError(`refusing to save an empty checkpoint to ${dir}`);
  const { data, specs } = await tf.io.encodeWeights(names.map((name) => ({ name, tensor: tensors[name] })));
  const bytes = new Uint8Array(data);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const weightsFile = `weights-${sha256.slice(0, 12)}.bin`;
  makeDir(dir);
  writeFileAtomic(path.join(dir, weightsFile), bytes);
  const index: CheckpointIndex<M> = {
    format: FORMAT,
    version: VERSION,
    meta,
    weightsFile,
    byteLength: bytes.byteLength,
    sha256,
    specs,
    specsSha256: specsDigest(specs),
    savedAt: new Date().toISOString(),
  };
  writeFileAtomic(path.join(dir, INDEX), JSON.stringify(index, null, 2) + '\n');
  for (const f of fs.readdirSync(dir)) {
    if (/^weights-[0-9a-f]+\.bin$/.test(f) && f !== weightsFile) fs.rmSync(path.join(dir, f), { force: true });
    // What a save killed mid-write left (a whole checkpoint's size each time): its writer's process is gone here,
    // and it has not been written for 10 minutes (a writer on another host sharing the folder has another pid space).
    const tmp = /^(?:weights-[0-9a-f]+\.bin|checkpoint\.json)\.tmp-(\d+)-/.exec(f);
    if (tmp && !processAlive(Number(tmp[1])) && Date.now() - mtimeMs(path.join(dir, f)) > STALE_TEMP_MS) fs.rmSync(path.join(dir, f), { force: true });
  }
}

/** How long a temp file of a save must have gone unwritten before another save removes it. */
const STALE_TEMP_MS = 10 * 60_000;

function mtimeMs(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return Date.now(); // gone already
  }
}


/** True if `dir` holds a checkpoint index (it may still be corrupt). */
export function hasCheckpoint(dir: string): boolean {
  return fs.existsSync(path.join(dir, INDEX));
}

/** The `kind` its meta names ('diffusion', 'reward', 'classifier', ...), undefined when it names none; a corrupt index throws. */
export function checkpointKind(dir: string): unknown {
  return (readCheckpointIndex<{ kind?: unknown }>(dir).meta as { kind?: unknown } | undefined)?.kind;
}

/** What each kind of checkpoint is and where one is found: the hint of a wrong-kind error. */
const KIND_HINTS: Record<string, string> = {
  miniclip: 'a MiniCLIP is a model folder\'s clip/, e.g. data/base-model/clip',
  diffusion: 'a text-to-image model is a folder holding diffusion/, e.g. data/base-model or a finetune --out',
  reward: 'a reward model is what train-reward --out writes, e.g. data/reward-model',
  classifier: 'the classifier is what train-classifier --out writes, e.g. data/classifier',
};

/**
 * The index of the checkpoint in `dir`, which must be of `kind`; otherwise one
 * line naming what the folder holds (another kind, or a model folder with
 * clip/ and diffusion/ where a checkpoint of its own was wanted) and where the
 * wanted kind is found.
 */
export function readCheckpointOfKind<M = unknown>(dir: string, kind: string): CheckpointIndex<M> {
  const hint = KIND_HINTS[kind] ? ` (${KIND_HINTS[kind]})` : '';
  if (fs.existsSync(dir) && !hasCheckpoint(dir)) {
    const parts = ['clip', 'diffusion'].filter((d) => hasCheckpoint(path.join(dir, d)));
    if (parts.length > 0) throw new CheckpointError(`${dir} is a text-to-image model folder (${parts.map((d) => `${d}/`).join(', ')}), not a ${kind} checkpoint${hint}`);
  }
  const index = readCheckpointIndex<M>(dir);
  const found = (index.meta as { kind?: unknown } | undefined)?.kind;
  if (found !== kind) throw new CheckpointError(`checkpoint ${dir} holds a ${JSON.stringify(found ?? null)} model, not a ${kind} model${hint}`);
  return index;
}

/** Read and validate checkpoint.json alone (no weights): meta and specs. */
export function readCheckpointIndex<M = unknown>(dir: string): CheckpointIndex<M> {
  const file = path.join(dir, INDEX);
  if (!fs.existsSync(dir)) throw new CheckpointError(`no checkpoint at ${dir}: the folder does not exist`);
  if (!fs.existsSync(file)) throw new CheckpointError(`no checkpoint at ${dir}: ${INDEX} is missing`);
  let index: CheckpointIndex<M>;
  try {
    index = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CheckpointError(`corrupt checkpoint ${file}: not valid JSON (${(e as Error).message})`);
  }
  if (index?.format !== FORMAT) throw new CheckpointError(`${file} is not a t2i-align checkpoint (format is ${JSON.stringify(index?.format)})`);
  if (index.version !== VERSION) {
    throw new CheckpointError(`${file} has checkpoint version ${JSON.stringify(index.version)}; this kit reads version ${VERSION}`);
  }
  if (!Array.isArray(index.specs) || typeof index.weightsFile !== 'string' || typeof index.byteLength !== 'number') {
    throw new CheckpointError(`corrupt checkpoint ${file}: specs, weightsFile or byteLength missing`);
  }
  checkSpecs(file, index.specs, index.byteLength);
  // A checkpoint saved before the digest was kept has none: read as before.
  if (index.specsSha256 !== undefined && index.specsSha256 !== specsDigest(index.specs)) {
    throw new CheckpointError(`corrupt checkpoint ${file}: its tensor specs (names, shapes, dtypes) are not those it was saved with (specsSha256 does not match); restore it, or save it again`);
  }
  return index;
}

/** Bytes per value of the dtypes a checkpoint may hold. */
const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/**
 * The specs must describe the weights file exactly: each a unique name, a shape of
 * whole numbers and a dtype this kit saves, their sizes adding up to byteLength
 * (the sha256 covers the weights alone, so an edited spec would misread them).
 */
function checkSpecs(file: string, specs: unknown[], byteLength: number): void {
  const names = new Set<string>();
  let total = 0;
  specs.forEach((s, i) => {
    const spec = s as { name?: unknown; shape?: unknown; dtype?: unknown };
    const what = typeof spec?.name === 'string' ? `tensor ${spec.name}` : `tensor spec ${i + 1}`;
    if (typeof spec?.name !== 'string' || spec.name === '') throw new CheckpointError(`corrupt checkpoint ${file}: ${what} has no name`);
    if (names.has(spec.name)) throw new CheckpointError(`corrupt checkpoint ${file}: ${what} is listed twice`);
    names.add(spec.name);
    if (!Array.isArray(spec.shape) || !spec.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new CheckpointError(`corrupt checkpoint ${file}: ${what} has shape ${JSON.stringify(spec.shape)}, not a list of whole numbers`);
    const bytes = typeof spec.dtype === 'string' ? DTYPE_BYTES[spec.dtype] : undefined;
    if (bytes === undefined) throw new CheckpointError(`corrupt checkpoint ${file}: ${what} has dtype ${JSON.stringify(spec.dtype)}; allowed: ${Object.keys(DTYPE_BYTES).join(', ')}`);
    total += (spec.shape as number[]).reduce((a, b) => a * b, 1) * bytes;
  });
  if (total !== byteLength) throw new CheckpointError(`corrupt checkpoint ${file}: its tensor specs describe ${total} bytes, but byteLength is ${byteLength}`);
}

/**
 * Load a checkpoint. With `expect` (name -> shape, e.g. from the model's
 * variables), any missing, extra or differently shaped tensor is an error.
 */
export async function loadCheckpoint<M = unknown>(
  dir: string,
  expect?: Record<string, readonly number[]>,
): Promise<LoadedCheckpoint<M>> {
  const { index, bytes } = readVerifiedWeights<M>(dir);
  if (expect) checkShapes(dir, index.specs, expect);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const tensors = tf.io.decodeWeights(buffer, index.specs);
  return { tensors, meta: index.meta };
}

/**
 * A checkpoint's index and its weights' bytes, checked against the index (present, of its size,
 * of its sha256): what a command verifies before long work that loads the checkpoint at its end.
 */
export function readVerifiedWeights<M = unknown>(dir: string): { index: CheckpointIndex<M>; bytes: Buffer } {
  const index = readCheckpointIndex<M>(dir);
  const weightsPath = path.join(dir, path.basename(index.weightsFile));
  if (!fs.existsSync(weightsPath)) throw new CheckpointError(`corrupt checkpoint ${dir}: weights file ${index.weightsFile} is missing`);
  const bytes = fs.readFileSync(weightsPath);
  if (bytes.byteLength !== index.byteLength) {
    throw new CheckpointError(
      `${bytes.byteLength < index.byteLength ? 'truncated' : 'corrupt'} checkpoint ${weightsPath}: ${bytes.byteLength} bytes, expected ${index.byteLength}`,
    );
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== index.sha256) throw new CheckpointError(`corrupt checkpoint ${weightsPath}: sha256 does not match ${INDEX}`);
  return { index, bytes };
}

function checkShapes(dir: string, specs: tf.io.WeightsManifestEntry[], expect: Record<string, readonly number[]>): void {
  const saved = new Map(specs.map((s) => [s.name, s.shape]));
  const problems: string[] = [];
  for (const [name, shape] of Object.entries(expect)) {
    const got = saved.get(name);
    if (!got) problems.push(`missing ${name}`);
    else if (got.join(',') !== shape.join(',')) problems.push(`${name} is [${got}] in the file, [${shape}] in the model`);
  }
  for (const name of saved.keys()) if (!(name in expect)) problems.push(`unexpected ${name}`);
  if (problems.length > 0) {
    const shown = problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; and ${problems.length - 5} more` : '');
    throw new CheckpointError(`checkpoint ${dir} does not match the model: ${shown}`);
  }
}

/** Copy loaded tensors into variables of the same names (shapes checked), disposing the loaded tensors. */
export function assignVariables(variables: Record<string, tf.Variable>, loaded: tf.NamedTensorMap): void {
  for (const [name, v] of Object.entries(variables)) {
    const t = loaded[name];
    if (!t) throw new CheckpointError(`checkpoint has no tensor ${name}`);
    if (t.shape.join(',') !== v.shape.join(',')) {
      throw new CheckpointError(`checkpoint tensor ${name} is [${t.shape}], the variable is [${v.shape}]`);
    }
    v.assign(t);
  }
  tf.dispose(Object.values(loaded));
}
