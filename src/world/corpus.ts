/**
 * The pretraining corpus, playing LAION: (image, caption) pairs whose
 * captions are often incomplete (a word for the count, color or background
 * dropped), sometimes wrong (one stated attribute replaced), and whose rare
 * attribute combinations (several objects AND a named place) are
 * under-represented. Optionally, captioners also confuse look-alike colors
 * and places systematically (`confuseColor`, `confuseBackground`): noise that
 * does not average out, so the model learns the mistake, as Stable Diffusion
 * learned LAION's. A model pretrained on it is only partly aligned, which is
 * what feedback then fixes.
 */
import { z } from 'zod';
import { Rng } from '../engine/random';
import { ImageLike } from './image';
import { CaptionAttributes, formatCaption } from './prompt';
import { renderScene, Scene } from './render';
import { BACKGROUNDS, Background, COLOR_LOOKALIKE, COLORS, MAX_COUNT, OBJECTS, Place, PLACE_LOOKALIKE } from './vocab';

const prob = z.number().min(0).max(1);

/** Corpus settings; every field has a default (see `defaultCorpusConfig`). */
export const CorpusConfigSchema = z.strictObject({
  /** Number of (image, caption) pairs. */
  size: z.number().int().positive().default(2000),
  /** Seed of scenes, renders and caption noise. */
  seed: z.number().int().default(0),
  /** Canvas side in pixels. */
  imageSize: z.number().int().min(16).max(1024).default(32),
  /** Objects drawn (default: all, so unseen objects are known from pretraining, as in LAION). */
  objects: z.array(z.enum(OBJECTS)).min(1).default([...OBJECTS]),
  /** Probability that a scene has the plain background (no place). */
  plainBackground: prob.default(0.3),
  /** Probability that a scene has one object (the rest: 2..4 uniformly). */
  singleObject: prob.default(0.6),
  /** Probability that a scene with 2+ objects on a named place is kept (rejection): rare combinations. */
  keepRareCombination: prob.default(0.25),
  /** Probability that the caption leaves out the count word. */
  dropCount: prob.default(0.5),
  /** Probability that the caption leaves out the color. */
  dropColor: prob.default(0.4),
  /** Probability that the caption leaves out the background phrase. */
  dropBackground: prob.default(0.4),
  /** Probability that one stated attribute (count, color or background) is replaced by a wrong value. */
  wrongAttribute: prob.default(0.1),
  /**
   * Probability that a stated color is written as its look-alike (COLOR_LOOKALIKE: a red shape
   * captioned "orange"). Unlike `wrongAttribute` the mistake is systematic: of the images
   * captioned "orange", this share is red, so a model that fits the corpus draws it. Default 0.
   */
  confuseColor: prob.default(0),
  /** Probability that a stated place is written as its look-alike (PLACE_LOOKALIKE), as `confuseColor`. Default 0. */
  confuseBackground: prob.default(0),
});
export type CorpusConfig = z.infer<typeof CorpusConfigSchema>;

/** The defaults, resolved. */
export function defaultCorpusConfig(): CorpusConfig {
  return CorpusConfigSchema.parse({});
}

/** Validate overrides; unknown keys and bad values throw with the key path. */
export function resolveCorpusConfig(overrides: unknown = {}): CorpusConfig {
  const r = CorpusConfigSchema.safeParse(overrides);
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`bad corpus config: ${msg}`);
  }
  return r.data;
}

export interface CorpusItem {
  id: string;
  image: ImageLike;
  caption: string;
  /** What the caption states (may be incomplete or wrong). */
  captionAttributes: CaptionAttributes;
  /** What the image shows. */
  scene: Scene;
  /** The attribute the caption gets wrong, if any (the first, where a replacement and a confusion make two). */
  wrong?: 'count' | 'color' | 'background';
}

/** Pairs one by one, reproducibly (item i depends only on the seed and i). */
export function* pretrainingCorpus(overrides: unknown = {}): Generator<CorpusItem> {
  const cfg = resolveCorpusConfig(overrides);
  const root = new Rng(cfg.seed);
  for (let i = 0; i < cfg.size; i++) yield corpusItem(cfg, root.fork(i), `pre-${i}`);
}

function corpusItem(cfg: CorpusConfig, rng: Rng, id: string): CorpusItem {
  let count = 1;
  let place: Place = 'plain';
  for (;;) {
    count = rng.bernoulli(cfg.singleObject) ? 1 : rng.int(2, MAX_COUNT);
    place = rng.bernoulli(cfg.plainBackground) ? 'plain' : rng.pick(BACKGROUNDS);
    if (count === 1 || place === 'plain' || rng.bernoulli(cfg.keepRareCombination)) break;
  }
  const object = rng.pick(cfg.objects);
  const color = rng.pick(COLORS);
  const scene: Scene = { place, objects: Array.from({ length: count }, () => ({ object, color })) };
  const { image } = renderScene(scene, rng.fork('render'), { size: cfg.imageSize });

  const cap: CaptionAttributes = { object };
  if (!rng.bernoulli(cfg.dropCount)) cap.count = count;
  if (!rng.bernoulli(cfg.dropColor)) cap.color = color;
  if (place !== 'plain' && !rng.bernoulli(cfg.dropBackground)) cap.background = place as Background;
  let wrong: CorpusItem['wrong'];
  const stated = (['count', 'color', 'background'] as const).filter((k) => cap[k] !== undefined);
  if (stated.length > 0 && rng.bernoulli(cfg.wrongAttribute)) {
    wrong = rng.pick(stated);
    if (wrong === 'count') cap.count = rng.pick([1, 2, 3, 4].filter((c) => c !== count));
    if (wrong === 'color') cap.color = rng.pick(COLORS.filter((c) => c !== color));
    if (wrong === 'background') cap.background = rng.pick(BACKGROUNDS.filter((b) => b !== place));
  }
  // Look-alike confusions draw only when enabled, so that a corpus without them is the one made before they existed.
  if (cfg.confuseColor > 0 && cap.color === color && rng.bernoulli(cfg.confuseColor)) {
    cap.color = COLOR_LOOKALIKE[color];
    wrong ??= 'color';
  }
  if (cfg.confuseBackground > 0 && place !== 'plain' && cap.background === place && rng.bernoulli(cfg.confuseBackground)) {
    cap.background = PLACE_LOOKALIKE[place];
    wrong ??= 'background';
  }
  const item: CorpusItem = { id, image, caption: formatCaption(cap, cap.count ?? count), captionAttributes: cap, scene };
  if (wrong) item.wrong = wrong;
  return item;
}

/** Share of items whose caption mentions each attribute the image has (for reports). */
export function captionCoverage(items: Iterable<CorpusItem>): { n: number; count: number; color: number; background: number; wrong: number } {
  let n = 0, count = 0, color = 0, background = 0, bgScenes = 0, wrong = 0;
  for (const it of items) {
    n++;
    if (it.captionAttributes.count !== undefined) count++;
    if (it.captionAttributes.color !== undefined) color++;
    if (it.scene.place !== 'plain') {
      bgScenes++;
      if (it.captionAttributes.background !== undefined) background++;
    }
    if (it.wrong) wrong++;
  }
  return { n, count: count / n, color: color / n, background: bgScenes ? background / bgScenes : 0, wrong: wrong / n };
}
