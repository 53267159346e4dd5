/**
 * How often the judge reads renders right, clean and degraded like a
 * diffusion sample (Gaussian pixel noise, Gaussian blur). Results are data:
 * one row per (sigma, blur) with per-category accuracy.
 */
import { Rng } from '../engine/random';
import { addGaussianNoise, gaussianBlur } from './image';
import { judge, Observation } from './judge';
import { Category, CATEGORIES } from './prompt';
import { sampleAttributes } from './promptSets';
import { renderPrompt, Scene } from './render';

export interface JudgeAccuracyOptions {
  /** Renders per category. */
  perCategory: number;
  /** Seed of prompts, render seeds and noise. */
  seed: number;
  /** Pixel noise std in 0..255 units, added after the blur. Default 0. */
  noiseSigma?: number;
  /** Blur std in pixels. Default 0. */
  blurSigma?: number;
  /** Canvas side. Default 32. */
  size?: number;
  /** Called after each render is judged (progress). */
  onImage?: () => void;
}

export interface CategoryAccuracy {
  n: number;
  /** Judge said aligned (renders are aligned by construction). */
  aligned: number;
  /** Observation equals the true scene exactly: background, count, each color and shape. */
  exact: number;
}

/** True when an observation reads back the scene exactly (order-free). */
export function observationMatches(obs: Observation, scene: Scene): boolean {
  if (obs.background !== scene.place || obs.objects.length !== scene.objects.length) return false;
  const key = (o: { object: string; color: string }) => `${o.color} ${o.object}`;
  const a = obs.objects.map(key).sort();
  const b = scene.objects.map(key).sort();
  return a.every((k, i) => k === b[i]);
}

/** Judge accuracy on fresh random renders, per category. */
export function judgeAccuracy(opts: JudgeAccuracyOptions): Record<Category, CategoryAccuracy> {
  const root = new Rng(opts.seed);
  const out = {} as Record<Category, CategoryAccuracy>;
  for (const category of CATEGORIES) {
    const rng = root.fork(category);
    const acc: CategoryAccuracy = { n: opts.perCategory, aligned: 0, exact: 0 };
    for (let i = 0; i < opts.perCategory; i++) {
      const attrs = sampleAttributes(rng, category);
      const r = renderPrompt(attrs, `${opts.seed}/${category}/${i}`, { size: opts.size });
      let img = r.image;
      if (opts.blurSigma) img = gaussianBlur(img, opts.blurSigma);
      if (opts.noiseSigma) img = addGaussianNoise(img, opts.noiseSigma, rng.fork(`noise/${i}`));
      const v = judge(attrs, img);
      if (v.aligned) acc.aligned++;
      if (observationMatches(v.observed, r.scene)) acc.exact++;
      opts.onImage?.();
    }
    out[category] = acc;
  }
  return out;
}

export interface RobustnessRow {
  noiseSigma: number;
  blurSigma: number;
  /** Fraction judged aligned, per category and overall. */
  aligned: Record<Category | 'all', number>;
  /** Fraction read back exactly, per category and overall. */
  exact: Record<Category | 'all', number>;
}

/** Judge accuracy over a grid of noise and blur levels (every pair). */
export function robustnessCurve(opts: {
  noiseSigmas: number[];
  blurSigmas: number[];
  perCategory: number;
  seed: number;
  size?: number;
  onImage?: () => void;
}): RobustnessRow[] {
  const rows: RobustnessRow[] = [];
  for (const blurSigma of opts.blurSigmas)
    for (const noiseSigma of opts.noiseSigmas) {
      const acc = judgeAccuracy({ perCategory: opts.perCategory, seed: opts.seed, noiseSigma, blurSigma, size: opts.size, onImage: opts.onImage });
      const frac = (k: 'aligned' | 'exact') => {
        const r = {} as Record<Category | 'all', number>;
        let sum = 0, n = 0;
        for (const c of CATEGORIES) {
          r[c] = acc[c][k] / acc[c].n;
          sum += acc[c][k];
          n += acc[c].n;
        }
        r.all = sum / n;
        return r;
      };
      rows.push({ noiseSigma, blurSigma, aligned: frac('aligned'), exact: frac('exact') });
    }
  return rows;
}
