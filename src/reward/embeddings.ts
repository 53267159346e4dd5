/**
 * Frozen MiniCLIP embeddings, the reward model's inputs (the paper's frozen
 * CLIP ViT-L/14): unit-length image and text vectors of the joint space.
 *
 * Image embeddings are computed once per dataset and cached beside it in
 * `DIR/embeddings/<sha>.f32` + `.json` (the ids, in row order), where <sha>
 * is the first 16 hex digits of the MiniCLIP checkpoint's weights sha256: another
 * MiniCLIP never reads a stale cache. Images added to the dataset later are
 * embedded and appended on the next call. The index also keeps each image's
 * PNG sha256 (16 hex digits; since 2026-12-07), so an image replaced under the
 * same id (another collect copied over the folder: ids are the same in every
 * run) is embedded again instead of read stale; an index made before keeps
 * its rows and takes the files' digests as they are now.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { hasCheckpoint, readCheckpointOfKind, writeFileAtomic } from '../engine/checkpoint';
import { l2normalize, MiniClip } from '../models/clip/model';
import { loadMiniClip } from '../models/checkpoint';
import { checkModelSide, imagesToTensor } from '../models/data';
import { imageFileSha, ManifestRecord, readImage, readManifest } from '../world/dataset';
import { ImageLike } from '../world/image';

/** A MiniCLIP with the hash of its weights (what keys the caches). */
export interface FrozenClip {
  clip: MiniClip;
  /** sha256 of the checkpoint's weights file. */
  sha256: string;
  dir: string;
}

/** The MiniCLIP folder `dir` names: itself, or the clip/ of a model folder; an error names what else it holds. */
export function clipCheckpointDir(dir: string): string {
  if (!hasCheckpoint(dir) && hasCheckpoint(path.join(dir, 'clip'))) dir = path.join(dir, 'clip');
  readCheckpointOfKind(dir, 'miniclip');
  return dir;
}

/** Load the MiniCLIP checkpoint in `dir` (a `miniclip` checkpoint folder, or a model folder holding one in clip/). */
export async function loadFrozenClip(dir: string): Promise<FrozenClip> {
  dir = clipCheckpointDir(dir);
  const sha256 = readCheckpointOfKind(dir, 'miniclip').sha256;
  const { clip } = await loadMiniClip(dir);
  return { clip, sha256, dir };
}

/** Rows of unit vectors: `data` is [n, dim] row-major. */
export interface EmbeddingTable {
  dim: number;
  data: Float32Array;
}

/** Row i of a table (a view, not a copy). */
export function row(t: EmbeddingTable, i: number): Float32Array {
  return t.data.subarray(i * t.dim, (i + 1) * t.dim);
}

/** Rows `idx` of a table as one [idx.length * dim] array. */
export function gatherRows(t: EmbeddingTable, idx: readonly number[]): Float32Array {
  const out = new Float32Array(idx.length * t.dim);
  idx.forEach((i, k) => out.set(row(t, i), k * t.dim));
  return out;
}

/** Unit image embeddings of images [n] -> [n, dim], in batches. */
export function embedImages(clip: MiniClip, images: readonly ImageLike[], batchSize = 256): EmbeddingTable {
  const dim = clip.config.embedDim;
  const data = new Float32Array(images.length * dim);
  for (let b = 0; b < images.length; b += batchSize) {
    const part = images.slice(b, b + batchSize);
    const out = tf.tidy(() => l2normalize(clip.encodeImage(imagesToTensor(part.map((image) => ({ image, caption: '' }))))).dataSync());
    data.set(out, b * dim);
  }
  return { dim, data };
}

/** Unit text embeddings of prompts [n] -> [n, dim]. */
export function embedTexts(clip: MiniClip, prompts: readonly string[], batchSize = 512): EmbeddingTable {
  const dim = clip.config.embedDim;
  const data = new Float32Array(prompts.length * dim);
  for (let b = 0; b < prompts.length; b += batchSize) {
    const part = prompts.slice(b, b + batchSize);
    const out = tf.tidy(() => l2normalize(clip.encodeText(clip.tokenize(part)).embedding).dataSync());
    data.set(out, b * dim);
  }
  return { dim, data };
}

/** Text embeddings by prompt, computed once per prompt. */
export class TextEmbeddings {
  private readonly rows = new Map<string, Float32Array>();

  constructor(readonly frozen: FrozenClip) {}

  get dim(): number {
    return this.frozen.clip.config.embedDim;
  }

  /** Embed every prompt not embedded yet. */
  add(prompts: Iterable<string>): void {
    const todo = [...new Set(prompts)].filter((p) => !this.rows.has(p));
    if (todo.length === 0) return;
    const t = embedTexts(this.frozen.clip, todo);
    todo.forEach((p, i) => this.rows.set(p, row(t, i)));
  }

  /** The embedding of `prompt` (embedding it now if needed). */
  get(prompt: string): Float32Array {
    if (!this.rows.has(prompt)) this.add([prompt]);
    return this.rows.get(prompt)!;
  }
}

const CACHE_DIR = 'embeddings';

function cacheFiles(dir: string, sha256: string): { data: string; index: string } {
  const base = path.join(dir, CACHE_DIR, sha256.slice(0, 16));
  return { data: `${base}.f32`, index: `${base}.json` };
}

/**
 * Unit image embeddings of the records of the dataset in `dir`, in record
 * order, from the cache when it has them (see the file comment).
 */
export function datasetImageEmbeddings(dir: string, frozen: FrozenClip, records: readonly ManifestRecord[] = readManifest(dir)): EmbeddingTable {
  const dim = frozen.clip.config.embedDim;
  const files = cacheFiles(dir, frozen.sha256);
  let ids: string[] = [];
  let shas: string[] = [];
  let cached = new Float32Array(0);
  let legacy = false; // an index without the images' digests (made before 2026-12-07)
  if (fs.existsSync(files.index) && fs.existsSync(files.data)) {
    // A cache, so an index it cannot read (cut short, edited) is computed again, not an error about JSON.
    let index: { dim?: unknown; ids?: unknown; sha256?: unknown; images?: unknown } = {};
    try {
      index = JSON.parse(fs.readFileSync(files.index, 'utf8')) ?? {};
    } catch {
      index = {};
    }
    const bytes = fs.readFileSync(files.data);
    const strings = (x: unknown): x is string[] => Array.isArray(x) && x.every((v) => typeof v === 'string');
    if (index.dim === dim && index.sha256 === frozen.sha256 && strings(index.ids) && bytes.byteLength === index.ids.length * dim * 4) {
      ids = index.ids;
      cached = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      legacy = !(strings(index.images) && index.images.length === ids.length);
      shas = legacy ? ids.map(() => '') : (index.images as string[]);
    }
  }
  const at = new Map(ids.map((id, i) => [id, i]));
  // Each record's PNG digest, read once (compared with the cached row's, then kept for the rows written).
  const digests = new Map<string, string>();
  const digest = (r: ManifestRecord) => digests.get(r.id) ?? digests.set(r.id, imageFileSha(dir, r).slice(0, 16)).get(r.id)!;
  // Rows of images replaced since they were embedded (another PNG under the same id): embedded again, in place.
  const stale: ManifestRecord[] = [];
  let adopted = false;
  for (const r of records) {
    const row = at.get(r.id);
    if (row === undefined) continue;
    const now = digest(r);
    if (shas[row] === now) continue;
    if (shas[row] === '') ((shas[row] = now), (adopted = true));
    else stale.push(r);
  }
  const missing = records.filter((r) => !at.has(r.id));
  const todo = [...stale, ...missing];
  if (todo.length > 0) {
    const images = todo.map((r) => readImage(dir, r));
    images.forEach((img, i) => checkModelSide(dir, img, todo[i].id));
    const fresh = embedImages(frozen.clip, images);
    const all = new Float32Array(cached.length + missing.length * dim);
    all.set(cached);
    todo.forEach((r, i) => {
      if (!at.has(r.id)) (at.set(r.id, ids.length), ids.push(r.id), shas.push(''));
      const row = at.get(r.id)!;
      all.set(fresh.data.subarray(i * dim, (i + 1) * dim), row * dim);
      shas[row] = digest(r);
    });
    cached = all;
  }
  const index = () => JSON.stringify({ sha256: frozen.sha256, clip: path.resolve(frozen.dir), dim, ids, images: shas }) + '\n';
  if (todo.length > 0) {
    fs.mkdirSync(path.dirname(files.data), { recursive: true });
    writeFileAtomic(files.data, new Uint8Array(cached.buffer));
    writeFileAtomic(files.index, index());
  } else if (adopted || legacy) {
    try {
      writeFileAtomic(files.index, index()); // the digests taken now; a folder it cannot write keeps the old index
    } catch {
      // read-only: the rows were right, only the digests are not kept
    }
  }
  const data = new Float32Array(records.length * dim);
  records.forEach((r, i) => data.set(cached.subarray(at.get(r.id)! * dim, (at.get(r.id)! + 1) * dim), i * dim));
  return { dim, data };
}
