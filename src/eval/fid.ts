/**
 * FID (Heusel et al. 2017) in the attribute classifier's feature space: the
 * Frechet distance between Gaussians fitted to two sets of features,
 *
 *   d^2 = ||mu_a - mu_b||^2 + tr(C_a) + tr(C_b) - 2 tr((C_a C_b)^(1/2)),
 *
 * with tr((C_a C_b)^(1/2)) = tr((S C_b S)^(1/2)) for S = C_a^(1/2): the
 * eigenvalues of C_a C_b are those of the symmetric PSD S C_b S, so both square
 * roots come from symmetric eigendecompositions (ml-matrix), in float64.
 * FID is biased by the sample sizes, so every result carries them: compare
 * FIDs of equal sizes only.
 *
 * Also the reference sets FID compares with: fresh renders of a prompt set,
 * optionally degraded (blur, then noise), written as a dataset folder.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { Rng } from '../engine/random';
import { Dataset, ImageLike, MANIFEST, PromptEntry, readImage, readManifest, renderPrompt } from '../world';
import { degrade } from './classifier';
import { repairManifestTail } from '../feedback/collect';

/** Rows of features: `data` is [n, dim] row-major. */
export interface FeatureTable {
  dim: number;
  data: Float32Array | Float64Array;
}

/** Mean [dim] and unbiased covariance [dim, dim] (divided by n - 1) of the rows. */
export function featureStats(x: FeatureTable): { n: number; mean: Float64Array; cov: Matrix } {
  const { dim, data } = x;
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`feature dim must be a positive integer, got ${dim}`);
  if (data.length % dim !== 0) throw new Error(`${data.length} feature values do not split into rows of ${dim}`);
  const n = data.length / dim;
  if (n < 2) throw new Error(`a covariance needs at least 2 feature rows, got ${n}`);
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let k = 0; k < dim; k++) mean[k] += data[i * dim + k];
  for (let k = 0; k < dim; k++) mean[k] /= n;
  const centred = new Matrix(n, dim);
  for (let i = 0; i < n; i++) for (let k = 0; k < dim; k++) centred.set(i, k, data[i * dim + k] - mean[k]);
  const cov = centred.transpose().mmul(centred).div(n - 1);
  return { n, mean, cov };
}

/** The symmetric part (M + M^T) / 2 (rounding makes products of symmetric matrices slightly asymmetric). */
function symmetric(m: Matrix): Matrix {
  return m.clone().add(m.transpose()).div(2);
}

/** Eigenvalues of a symmetric matrix, negatives from rounding clipped to 0, and its eigenvectors (columns). */
function eigh(m: Matrix): { values: number[]; vectors: Matrix } {
  const e = new EigenvalueDecomposition(symmetric(m), { assumeSymmetric: true });
  return { values: e.realEigenvalues.map((v) => Math.max(0, v)), vectors: e.eigenvectorMatrix };
}

/** The Frechet distance between N(muA, covA) and N(muB, covB) (see the file comment). */
export function frechetDistanceOfStats(muA: ArrayLike<number>, covA: Matrix, muB: ArrayLike<number>, covB: Matrix): number {
  const dim = muA.length;
  if (muB.length !== dim || covA.rows !== dim || covB.rows !== dim || covA.columns !== dim || covB.columns !== dim) {
    throw new Error(`Frechet distance of ${dim}-d and ${muB.length}-d features: the dimensions must match`);
  }
  let meanTerm = 0;
  for (let k = 0; k < dim; k++) meanTerm += (muA[k] - muB[k]) ** 2;
  // S = C_a^(1/2) = V diag(sqrt(lambda)) V^T
  const a = eigh(covA);
  const s = a.vectors.mmul(Matrix.diag(a.values.map(Math.sqrt))).mmul(a.vectors.transpose());
  const traceSqrt = eigh(s.mmul(covB).mmul(s)).values.reduce((acc, v) => acc + Math.sqrt(v), 0);
  const d = meanTerm + covA.trace() + covB.trace() - 2 * traceSqrt;
  // d >= 0 in exact arithmetic; equal sets can round to about -1e-12.
  return Math.max(0, d);
}

/** FID between two sets of feature rows [nA, dim] and [nB, dim] (each at least 2 rows). */
export function frechetDistance(a: FeatureTable, b: FeatureTable): number {
  if (a.dim !== b.dim) throw new Error(`Frechet distance of ${a.dim}-d and ${b.dim}-d features: the dimensions must match`);
  const sa = featureStats(a), sb = featureStats(b);
  return frechetDistanceOfStats(sa.mean, sa.cov, sb.mean, sb.cov);
}

export interface FidResult {
  fid: number;
  nA: number;
  nB: number;
  dim: number;
}

/** FID between two image sets in a classifier's feature space (its penultimate layer), with the sample sizes. */
export function fidBetween(
  classifier: { features(images: readonly ImageLike[]): FeatureTable },
  imagesA: readonly ImageLike[],
  imagesB: readonly ImageLike[],
): FidResult {
  if (imagesA.length < 2 || imagesB.length < 2) throw new Error(`FID needs at least 2 images per set, got ${imagesA.length} and ${imagesB.length}`);
  const a = classifier.features(imagesA), b = classifier.features(imagesB);
  return { fid: frechetDistance(a, b), nA: imagesA.length, nB: imagesB.length, dim: a.dim };
}

/**
 * Every image of a dataset folder, checked for what the classifier reads:
 * errors name the folder when it is missing, not a dataset or empty, and the
 * file when an image is not 32x32.
 */
export function datasetImages(dir: string, label = dir): ImageLike[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`${label}: no such dataset folder`);
  if (!fs.existsSync(path.join(dir, MANIFEST))) throw new Error(`${label}: not a dataset folder (no ${MANIFEST})`);
  const records = readManifest(dir);
  if (records.length === 0) throw new Error(`${label}: the dataset has no images`);
  return records.map((r) => {
    const img = readImage(dir, r);
    if (img.width !== 32 || img.height !== 32) throw new Error(`${path.join(dir, r.file)} is ${img.width}x${img.height}; the classifier reads 32x32 images`);
    return img;
  });
}

export interface RenderSetOptions {
  prompts: readonly PromptEntry[];
  perPrompt: number;
  /** Dataset folder: new, or this set's, interrupted (it is finished); another set's is refused. */
  out: string;
  /** Seed of the renders and the noise. Default 0. */
  seed?: number;
  /** Gaussian noise sigma (0-255), added after the blur. Default 0. */
  noise?: number;
  /** Gaussian blur sigma in pixels. Default 0. */
  blur?: number;
  /** Canvas side in pixels. Default 32. */
  size?: number;
}

/**
 * Fresh renders of a prompt set into a dataset folder (PNGs + manifest.jsonl,
 * the format of `generate` and `collect`), optionally degraded. Image k of
 * prompt i has the id `p<i>-<k>` and the render seed `${seed}/${i}/${k}`; its
 * noise comes from `${seed}/${i}/${k}/noise`. A folder holding part of the
 * same set (a killed run's) is finished, the same images as an uninterrupted
 * run; one holding another set is refused. Returns the images of the set.
 */
export function renderSet(opts: RenderSetOptions): number {
  const { prompts, perPrompt, out } = opts;
  const seed = opts.seed ?? 0, noise = opts.noise ?? 0, blur = opts.blur ?? 0;
  if (prompts.length === 0) throw new Error('render set: no prompts');
  if (!Number.isInteger(perPrompt) || perPrompt < 1) throw new Error(`perPrompt must be a positive integer, got ${perPrompt}`);
  if (!(noise >= 0 && noise <= 255)) throw new Error(`noise must be a sigma in 0..255, got ${noise}`);
  if (!(blur >= 0 && blur <= 10)) throw new Error(`blur must be a sigma in 0..10 px, got ${blur}`);
  const jobs = prompts.flatMap((p, i) => Array.from({ length: perPrompt }, (_, k) => ({ p, id: `p${i}-${k}`, seed: `${seed}/${i}/${k}` })));
  const record = (j: (typeof jobs)[number]) => ({ id: j.id, prompt: j.p.prompt, attributes: j.p.attributes, seed: j.seed, source: 'render', extras: { category: j.p.category, noise, blur } });
  const existing = new Map<string, ReturnType<typeof record>>();
  if (fs.existsSync(path.join(out, MANIFEST))) {
    repairManifestTail(out);
    const planned = new Map(jobs.map((j) => [j.id, j]));
    const other = `${path.join(out, MANIFEST)} holds another render set`;
    const advice = 'choose a new folder, or the same prompts, --per-prompt, --seed, --noise, --blur and --size to finish it';
    // Compared with the keys in one order (the manifest's reader orders a record's attributes its own way).
    const canonical = (x: unknown): unknown => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, canonical((x as Record<string, unknown>)[k])])) : x);
    for (const r of readManifest(out)) {
      const j = planned.get(r.id);
      const want = j ? JSON.stringify(canonical(record(j))) : undefined;
      const got = JSON.stringify(canonical({ id: r.id, prompt: r.prompt, attributes: r.attributes, seed: r.seed, source: r.source, extras: r.extras }));
      if (want !== got) {
        const w = j ? record(j) : undefined;
        const fields: Array<[string, unknown, unknown]> = [
          ['prompt', r.prompt, w?.prompt], ['seed', r.seed, w?.seed], ['noise', r.extras?.noise, noise], ['blur', r.extras?.blur, blur], ['source', r.source, 'render'],
          ['attributes', canonical(r.attributes), canonical(w?.attributes)], ['category', r.extras?.category, w?.extras.category],
        ];
        const why = w
          ? fields.filter(([, a, b]) => JSON.stringify(a) !== JSON.stringify(b)).map(([k, a, b]) => `${k} ${JSON.stringify(a)} there, ${JSON.stringify(b)} here`).join(', ')
          : `${JSON.stringify(r.prompt)}, not in this set`;
        throw new Error(`${other} (its image ${r.id}: ${why}): ${advice}`);
      }
      if (existing.size === 0) {
        const side = readImage(out, r).width;
        if (side !== (opts.size ?? 32)) throw new Error(`${other} (its images are ${side}x${side}, not ${opts.size ?? 32}): ${advice}`);
      }
      existing.set(r.id, record(j!));
    }
  }
  const ds = Dataset.create(out);
  for (const j of jobs) {
    if (existing.has(j.id)) continue;
    const image = degrade(renderPrompt(j.p.attributes, j.seed, { size: opts.size }).image, noise, blur, new Rng(`${j.seed}/noise`));
    ds.add(record(j), image);
  }
  return jobs.length;
}
