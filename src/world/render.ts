/**
 * The renderer: a prompt's attributes + a seed -> a small RGB image with N
 * flat objects of one color and shape at random, non-overlapping positions
 * and sizes, on a procedural texture of the named place.
 *
 * Decisions (the judge relies on them):
 * - a prompt without a color gets a random object color (seeded);
 * - a prompt without a background gets the neutral 'plain' background;
 * - objects keep a gap of >= 8% of the canvas (3 px at 32) between them, so
 *   they stay separate components after a mild blur.
 */
import { Rng } from '../engine/random';
import { createImage, ImageLike } from './image';
import { Attributes } from './prompt';
import { shapeMask } from './shapes';
import { Color, COLORS, MAX_COUNT, OBJECT_COLORS, ObjectName, Place, PLACES, RGB } from './vocab';

/** One painted object: its top-left corner and square box side, in pixels. */
export interface PlacedObject {
  object: ObjectName;
  color: Color;
  x: number;
  y: number;
  size: number;
}

/** A fully specified scene (what the image truly shows). */
export interface Scene {
  place: Place;
  objects: Array<{ object: ObjectName; color: Color }>;
}

export interface RenderOptions {
  /** Canvas side in pixels (square). Default 32. */
  size?: number;
}

export interface Rendered {
  image: ImageLike;
  scene: Scene;
  placed: PlacedObject[];
}

/** The scene a prompt asks for, filling unnamed attributes (random color, plain background). */
export function sceneFor(a: Attributes, rng: Rng): Scene {
  const color = a.color ?? rng.pick(COLORS);
  return {
    place: a.background ?? 'plain',
    objects: Array.from({ length: a.count }, () => ({ object: a.object, color })),
  };
}

/** Render what the prompt's attributes ask for; the same seed gives the same bytes. */
export function renderPrompt(a: Attributes, seed: number | string, opts: RenderOptions = {}): Rendered {
  const rng = new Rng(seed);
  return renderScene(sceneFor(a, rng.fork('scene')), rng.fork('render'), opts);
}

/** Object box side range [lo, hi] (fractions of the canvas) by number of objects. */
const SIZE_RANGE: Record<number, [number, number]> = {
  1: [0.4, 0.56],
  2: [0.32, 0.45],
  3: [0.3, 0.38],
  4: [0.28, 0.36],
};

/** Render an explicit scene (used for prompts and for deliberately wrong images). */
export function renderScene(scene: Scene, rng: Rng, opts: RenderOptions = {}): Rendered {
  const size = opts.size ?? 32;
  if (!Number.isInteger(size) || size < 16 || size > 1024) throw new Error(`render size must be an integer in 16..1024, got ${size}`);
  const n = scene.objects.length;
  if (n < 0 || n > MAX_COUNT) throw new Error(`scene has ${n} objects; the canvas fits 0..${MAX_COUNT}`);
  const image = paintBackground(scene.place, size, rng.fork('background'));
  const boxes = placeBoxes(n, size, rng.fork('layout'));
  const placed = boxes.map((b, i) => ({ ...scene.objects[i], ...b }));
  for (const p of placed) {
    const mask = shapeMask(p.object, p.size, p.size);
    const c = OBJECT_COLORS[p.color];
    for (let y = 0; y < p.size; y++)
      for (let x = 0; x < p.size; x++) if (mask[y * p.size + x]) image.data.set(c, ((p.y + y) * size + p.x + x) * 3);
  }
  return { image, scene, placed };
}

/** Non-overlapping square boxes with a gap; shrinks the sizes if a layout will not fit. */
function placeBoxes(n: number, size: number, rng: Rng): Array<{ x: number; y: number; size: number }> {
  if (n === 0) return [];
  const gap = Math.max(2, Math.round(0.08 * size));
  const margin = 1;
  const [lo, hi] = SIZE_RANGE[n];
  for (let shrink = 0; ; shrink++) {
    const boxes: Array<{ x: number; y: number; size: number }> = [];
    for (let attempt = 0; attempt < 400 && boxes.length < n; attempt++) {
      const s = Math.max(6, Math.round(rng.uniform(lo, hi) * size) - shrink);
      const x = rng.int(margin, size - margin - s);
      const y = rng.int(margin, size - margin - s);
      const clash = boxes.some((b) => x < b.x + b.size + gap && b.x < x + s + gap && y < b.y + b.size + gap && b.y < y + s + gap);
      if (!clash) boxes.push({ x, y, size: s });
    }
    if (boxes.length === n) return boxes;
    if (shrink > size) throw new Error(`cannot place ${n} objects on a ${size}px canvas`);
  }
}

function jitter(c: RGB, rng: Rng, amount: number): RGB {
  const d = rng.int(-amount, amount);
  return [c[0] + d, c[1] + d, c[2] + d].map((v) => Math.max(0, Math.min(255, v))) as unknown as RGB;
}

/** The procedural texture of a place: only that place's palette colors, lightly jittered. */
export function paintBackground(place: Place, size: number, rng: Rng): ImageLike {
  const pal = PLACES[place].palette as readonly RGB[];
  const img = createImage(size, size, pal[0]);
  const set = (x: number, y: number, c: RGB) => {
    if (x >= 0 && y >= 0 && x < size && y < size) img.data.set(jitter(c, rng, 6), (y * size + x) * 3);
  };
  const s = size / 32;
  switch (place) {
    case 'plain':
      break;
    case 'forest': {
      // foliage blobs and brown trunks on dark green
      for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) set(x, y, pal[0]);
      for (let k = 0; k < 14; k++) {
        const cx = rng.int(0, size - 1), cy = rng.int(0, size - 1), r = rng.uniform(1.5, 4) * s;
        for (let y = Math.floor(cy - r); y <= cy + r; y++)
          for (let x = Math.floor(cx - r); x <= cx + r; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) set(x, y, pal[1]);
      }
      for (let k = 0; k < 5; k++) {
        const tx = rng.int(0, size - 1), w = Math.max(1, Math.round(s * rng.int(1, 2))), top = rng.int(Math.floor(size / 3), size - 4);
        for (let y = top; y < size; y++) for (let x = tx; x < tx + w; x++) set(x, y, pal[2]);
      }
      break;
    }
    case 'city': {
      // a skyline of grey blocks with lit windows, on dark
      for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) set(x, y, pal[2]);
      let x = 0;
      while (x < size) {
        const w = Math.round(rng.uniform(4, 9) * s), top = rng.int(Math.floor(size * 0.1), Math.floor(size * 0.6));
        for (let yy = top; yy < size; yy++) for (let xx = x; xx < x + w - 1; xx++) set(xx, yy, pal[0]);
        for (let yy = top + 2; yy < size - 1; yy += Math.max(2, Math.round(3 * s)))
          for (let xx = x + 1; xx < x + w - 2; xx += 2) if (rng.bernoulli(0.5)) set(xx, yy, pal[1]);
        x += w;
      }
      break;
    }
    case 'moon': {
      // black sky with a few stars above a grey horizon
      const horizon = Math.round(size * rng.uniform(0.35, 0.6));
      for (let y = 0; y < size; y++)
        for (let xx = 0; xx < size; xx++) {
          const hy = horizon + Math.round(1.5 * s * Math.sin(xx / (4 * s) + horizon));
          set(xx, y, y >= hy ? pal[1] : pal[0]);
        }
      for (let k = 0; k < 6; k++) set(rng.int(0, size - 1), rng.int(0, horizon - 3), pal[1]);
      for (let k = 0; k < 3; k++) {
        const cx = rng.int(0, size - 1), cy = rng.int(horizon + 2, size - 1), r = rng.uniform(1, 2.5) * s;
        for (let y = Math.floor(cy - r); y <= cy + r; y++)
          for (let xx = Math.floor(cx - r); xx <= cx + r; xx++) if ((xx - cx) ** 2 + (y - cy) ** 2 <= r * r && y >= horizon + 1) set(xx, y, pal[0]);
      }
      break;
    }
    case 'sea': {
      // wavy horizontal bands
      const phase = rng.uniform(0, 2 * Math.PI), period = rng.uniform(5, 8) * s;
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          const w = y + 1.5 * s * Math.sin(x / (3 * s) + phase);
          set(x, y, Math.floor(w / (period / 2)) % 2 === 0 ? pal[0] : pal[1]);
        }
      break;
    }
    case 'desert': {
      // light sand with darker dune shadows
      const dunes = Array.from({ length: 3 }, () => ({ y: rng.uniform(0.2, 0.95) * size, ph: rng.uniform(0, 6), a: rng.uniform(1, 3) * s }));
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          const shadow = dunes.some((d) => {
            const edge = d.y + d.a * Math.sin(x / (5 * s) + d.ph);
            return y >= edge && y < edge + 2 * s;
          });
          set(x, y, shadow ? pal[1] : pal[0]);
        }
      break;
    }
  }
  return img;
}
