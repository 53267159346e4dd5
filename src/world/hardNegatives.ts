/**
 * Hard negatives for the judge: images of one object-colored thing on a place
 * that is NOT one of the world's shapes, drawn procedurally with the world's
 * palette, places and shape masks. The judge must answer "no recognisable
 * shape" for them instead of the nearest template's name (a blob called
 * "circle" would be a reward hack for a fine-tuned model).
 *
 * Kinds (each seeded, sizes like a single rendered object, 40-56% of the canvas):
 * - ellipse: an oval, aspect 1.3-2, at any angle;
 * - blob: a star-convex blob r(t) = R (1 + sum_k a_k cos(k t + p_k)), k = 2..4;
 * - deformed: a world shape under a sine warp and a shear (amplitude >= 12% of its box);
 * - merged: two world shapes (30-40% each) touching or overlapping, one component;
 * - partial: a world shape with 35-60% cut off by a straight line or the canvas edge;
 * - ragged: a world shape whose every pixel samples the mask 1.5-2.5 px off (frayed edge).
 */
import { Rng } from '../engine/random';
import { addGaussianNoise, gaussianBlur, ImageLike } from './image';
import { observe, UNKNOWN_OBJECT } from './judge';
import { paintBackground } from './render';
import { shapeMask } from './shapes';
import { Color, COLORS, OBJECT_COLORS, ObjectName, OBJECTS, Place, PLACES } from './vocab';

export const HARD_NEGATIVE_KINDS = ['ellipse', 'blob', 'deformed', 'merged', 'partial', 'ragged'] as const;
export type HardNegativeKind = (typeof HARD_NEGATIVE_KINDS)[number];

export interface HardNegative {
  kind: HardNegativeKind;
  image: ImageLike;
  color: Color;
  place: Place;
  /** The world shape(s) it was made from (none for ellipse and blob). */
  from: ObjectName[];
}

/** A predicate on canvas pixel centres (x + 0.5, y + 0.5). */
type Region = (x: number, y: number) => boolean;

const HIRES = 96;
const hiresCache = new Map<ObjectName, Uint8Array>();

/** `shape` as an inside test on the unit box, via a 96 x 96 mask (u right, v down; false outside). */
function unitShape(shape: ObjectName): (u: number, v: number) => boolean {
  let m = hiresCache.get(shape);
  if (!m) hiresCache.set(shape, (m = shapeMask(shape, HIRES, HIRES)));
  const mask = m;
  return (u, v) => u >= 0 && v >= 0 && u < 1 && v < 1 && mask[Math.floor(v * HIRES) * HIRES + Math.floor(u * HIRES)] === 1;
}

/** Side of a single object's box, as the renderer draws one object: 40-56% of the canvas. */
function objectSide(size: number, rng: Rng): number {
  return Math.round(rng.uniform(0.4, 0.56) * size);
}

/** A box corner so that a side-`s` box lies inside the canvas with a 1 px margin. */
function corner(size: number, s: number, rng: Rng): [number, number] {
  return [rng.int(1, size - 1 - s), rng.int(1, size - 1 - s)];
}

function ellipse(size: number, rng: Rng): Region {
  const s = objectSide(size, rng);
  const a = s / 2, b = a / rng.uniform(1.3, 2), t = rng.uniform(0, Math.PI);
  const [x0, y0] = corner(size, s, rng);
  const cx = x0 + s / 2, cy = y0 + s / 2, c = Math.cos(t), sn = Math.sin(t);
  return (x, y) => {
    const p = (x - cx) * c + (y - cy) * sn, q = -(x - cx) * sn + (y - cy) * c;
    return (p / a) ** 2 + (q / b) ** 2 <= 1;
  };
}

function blob(size: number, rng: Rng): Region {
  const s = objectSide(size, rng);
  const terms = [2, 3, 4].map((k) => ({ k, a: rng.uniform(0.08, 0.22), p: rng.uniform(0, 2 * Math.PI) }));
  const peak = 1 + terms.reduce((acc, t) => acc + t.a, 0);
  const r0 = s / 2 / peak;
  const [x0, y0] = corner(size, s, rng);
  const cx = x0 + s / 2, cy = y0 + s / 2;
  return (x, y) => {
    const t = Math.atan2(y - cy, x - cx);
    const r = r0 * (1 + terms.reduce((acc, m) => acc + m.a * Math.cos(m.k * t + m.p), 0));
    return Math.hypot(x - cx, y - cy) <= r;
  };
}

function deformed(size: number, rng: Rng, from: ObjectName[]): Region {
  const shape = rng.pick(OBJECTS);
  from.push(shape);
  const inside = unitShape(shape);
  const s = objectSide(size, rng);
  const [x0, y0] = corner(size, s, rng);
  const amp = rng.uniform(0.12, 0.2), freq = rng.uniform(0.8, 1.5), ph = rng.uniform(0, 2 * Math.PI);
  const shear = rng.uniform(0.15, 0.3) * (rng.bernoulli(0.5) ? 1 : -1);
  const vertical = rng.bernoulli(0.5);
  return (x, y) => {
    let u = (x - x0) / s, v = (y - y0) / s;
    if (vertical) [u, v] = [v, u];
    const uu = u + shear * (v - 0.5) + amp * Math.sin(2 * Math.PI * freq * v + ph);
    return vertical ? inside(v, uu) : inside(uu, v);
  };
}

function merged(size: number, rng: Rng, from: ObjectName[]): Region {
  const sa = Math.round(rng.uniform(0.3, 0.4) * size), sb = Math.round(rng.uniform(0.3, 0.4) * size);
  const a = rng.pick(OBJECTS), b = rng.pick(OBJECTS);
  from.push(a, b);
  const ma = shapeMask(a, sa, sa), mb = shapeMask(b, sb, sb);
  // slide b towards a (on a virtual canvas, a at the origin) until they touch, then overlap by 0-2 px more
  const t = rng.uniform(0, 2 * Math.PI), overlap = rng.int(0, 2);
  const hitsA = (bx: number, by: number, grow: number) => {
    for (let y = 0; y < sb; y++)
      for (let x = 0; x < sb; x++) {
        if (!mb[y * sb + x]) continue;
        for (let dy = -grow; dy <= grow; dy++)
          for (let dx = -grow; dx <= grow; dx++) {
            const ax = bx + x + dx, ay = by + y + dy;
            if (ax >= 0 && ay >= 0 && ax < sa && ay < sa && ma[ay * sa + ax]) return true;
          }
      }
    return false;
  };
  let d = sa + sb;
  const at = (dist: number): [number, number] => [
    Math.round(sa / 2 + dist * Math.cos(t) - sb / 2),
    Math.round(sa / 2 + dist * Math.sin(t) - sb / 2),
  ];
  while (d > 0 && !hitsA(...at(d), 1)) d--;
  d = Math.max(0, d - overlap);
  const [bx, by] = at(d);
  // the union's box, placed at random on the canvas
  const ux0 = Math.min(0, bx), uy0 = Math.min(0, by), ux1 = Math.max(sa, bx + sb), uy1 = Math.max(sa, by + sb);
  const ox = rng.int(1, Math.max(1, size - 1 - (ux1 - ux0))) - ux0, oy = rng.int(1, Math.max(1, size - 1 - (uy1 - uy0))) - uy0;
  const inMask = (m: Uint8Array, s: number, x: number, y: number) => x >= 0 && y >= 0 && x < s && y < s && m[y * s + x] === 1;
  return (x, y) => {
    const px = Math.floor(x) - ox, py = Math.floor(y) - oy;
    return inMask(ma, sa, px, py) || inMask(mb, sb, px - bx, py - by);
  };
}

function partial(size: number, rng: Rng, from: ObjectName[]): Region {
  const shape = rng.pick(OBJECTS);
  from.push(shape);
  const inside = unitShape(shape);
  const s = objectSide(size, rng);
  const hidden = rng.uniform(0.35, 0.6);
  // a triangle cut parallel to its base is still a triangle: cut triangles from the left or right only
  const sideways = shape === 'triangle';
  if (rng.bernoulli(0.5)) {
    // cut by a line at a random angle: keep the side u.n <= c
    const [x0, y0] = corner(size, s, rng);
    const t = sideways ? rng.pick([0, Math.PI]) + rng.uniform(-0.3, 0.3) : rng.uniform(0, 2 * Math.PI), c = 0.5 - hidden;
    return (x, y) => {
      const u = (x - x0) / s, v = (y - y0) / s;
      return inside(u, v) && (u - 0.5) * Math.cos(t) + (v - 0.5) * Math.sin(t) <= c;
    };
  }
  // hang off one canvas edge by `hidden` of its side
  const off = Math.round(hidden * s), side = sideways ? rng.int(0, 1) : rng.int(0, 3);
  let [x0, y0] = corner(size, s, rng);
  if (side === 0) x0 = -off;
  else if (side === 1) x0 = size - s + off;
  else if (side === 2) y0 = -off;
  else y0 = size - s + off;
  return (x, y) => inside((x - x0) / s, (y - y0) / s);
}

function ragged(size: number, rng: Rng, from: ObjectName[]): Region {
  const shape = rng.pick(OBJECTS);
  from.push(shape);
  const inside = unitShape(shape);
  const s = objectSide(size, rng);
  const [x0, y0] = corner(size, s, rng);
  const r = rng.uniform(1.5, 2.5);
  const jitter = new Float32Array(size * size * 2).map(() => rng.uniform(-r, r));
  return (x, y) => {
    const i = (Math.floor(y) * size + Math.floor(x)) * 2;
    return inside((x + jitter[i] - x0) / s, (y + jitter[i + 1] - y0) / s);
  };
}

const GENERATORS: Record<HardNegativeKind, (size: number, rng: Rng, from: ObjectName[]) => Region> = {
  ellipse, blob, deformed, merged, partial, ragged,
};

/** One hard negative of `kind` on a random place in a random object color; same seed, same bytes. [size, size, 3] */
export function renderHardNegative(kind: HardNegativeKind, seed: number | string, opts: { size?: number } = {}): HardNegative {
  const gen = GENERATORS[kind];
  if (!gen) throw new Error(`unknown hard-negative kind "${kind}"; allowed: ${HARD_NEGATIVE_KINDS.join(', ')}`);
  const size = opts.size ?? 32;
  if (!Number.isInteger(size) || size < 16 || size > 1024) throw new Error(`hard-negative size must be an integer in 16..1024, got ${size}`);
  const rng = new Rng(`${kind}/${seed}`);
  const place = rng.pick(Object.keys(PLACES) as Place[]);
  const color = rng.pick(COLORS);
  const image = paintBackground(place, size, rng.fork('background'));
  const from: ObjectName[] = [];
  const region = gen(size, rng.fork('shape'), from);
  const c = OBJECT_COLORS[color];
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) if (region(x + 0.5, y + 0.5)) image.data.set(c, (y * size + x) * 3);
  return { kind, image, color, place, from };
}

export interface HardNegativeRate {
  n: number;
  /** Images in which the judge recognised no shape (every component UNKNOWN_OBJECT, or none seen). */
  rejected: number;
  rate: number;
  /** Median over images of the best component's shapeScore (0 when none seen). */
  medianScore: number;
}

/**
 * How often the judge rejects each kind of hard negative: `perKind` images per
 * kind, image i seeded `${seed}/${i}`, optionally blurred then noised like a
 * diffusion sample (as in `judgeAccuracy`).
 */
export function hardNegativeRates(opts: {
  perKind: number;
  seed: number;
  noiseSigma?: number;
  blurSigma?: number;
  size?: number;
}): Record<HardNegativeKind, HardNegativeRate> {
  if (!Number.isInteger(opts.perKind) || opts.perKind < 1) throw new Error(`perKind must be a positive integer, got ${opts.perKind}`);
  const out = {} as Record<HardNegativeKind, HardNegativeRate>;
  for (const kind of HARD_NEGATIVE_KINDS) {
    const scores: number[] = [];
    let rejected = 0;
    for (let i = 0; i < opts.perKind; i++) {
      let img = renderHardNegative(kind, `${opts.seed}/${i}`, { size: opts.size }).image;
      if (opts.blurSigma) img = gaussianBlur(img, opts.blurSigma);
      if (opts.noiseSigma) img = addGaussianNoise(img, opts.noiseSigma, new Rng(`${kind}/${opts.seed}/${i}/noise`));
      const objects = observe(img).objects;
      if (objects.every((o) => o.object === UNKNOWN_OBJECT)) rejected++;
      scores.push(Math.max(0, ...objects.map((o) => o.shapeScore)));
    }
    scores.sort((a, b) => a - b);
    out[kind] = { n: opts.perKind, rejected, rate: rejected / opts.perKind, medianScore: scores[Math.floor(scores.length / 2)] };
  }
  return out;
}
