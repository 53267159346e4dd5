/**
 * The judge: classical image analysis that reads back what an image shows and
 * checks it against a prompt. No learned model:
 *   1. each pixel -> nearest palette color (object colors + every place's
 *      colors); object-colored pixels are foreground;
 *   2. foreground -> 8-connected components; tiny ones (noise) are dropped;
 *   3. each component: color = majority pixel label, shape = the template
 *      (shapes.ts, drawn in the component's bounding box) with the best IoU;
 *   4. background = the place whose colors most background pixels are nearest.
 */
import { ImageLike } from './image';
import { Attributes, formatPrompt, parsePrompt } from './prompt';
import { shapeMask } from './shapes';
import { Color, COLORS, OBJECT_COLORS, ObjectName, OBJECTS, Place, PLACES, RGB } from './vocab';

/** One object the judge sees: color, shape, pixel area and bounding box. */
export interface SeenObject {
  color: Color;
  object: ObjectName;
  area: number;
  box: { x: number; y: number; w: number; h: number };
  /** IoU of the best shape template (1 = exact). */
  shapeScore: number;
}

/** What the judge sees in an image, independent of any prompt. */
export interface Observation {
  background: Place;
  /** Fraction of background pixels that voted for `background`. */
  backgroundShare: number;
  objects: SeenObject[];
}

export type Attribute = 'count' | 'color' | 'object' | 'background';

export interface AttributeVerdict {
  attribute: Attribute;
  expected: string | number;
  seen: string | number;
  ok: boolean;
}

export interface Verdict {
  prompt: string;
  attributes: Attributes;
  observed: Observation;
  /** One verdict per attribute the prompt names (count and object always). */
  verdicts: AttributeVerdict[];
  aligned: boolean;
  /** Why not aligned (empty when aligned). */
  reasons: string[];
}

const PLACE_NAMES = Object.keys(PLACES) as Place[];
// palette: object colors first, then each place's colors
const PALETTE: Array<{ rgb: RGB; color?: Color; place?: Place }> = [
  ...COLORS.map((c) => ({ rgb: OBJECT_COLORS[c] as RGB, color: c })),
  ...PLACE_NAMES.flatMap((p) => (PLACES[p].palette as readonly RGB[]).map((rgb) => ({ rgb, place: p }))),
];

/** Per-pixel index into PALETTE of the nearest color. [H*W] */
function nearestLabels(img: ImageLike): Uint8Array {
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = img.data[i * 3], g = img.data[i * 3 + 1], b = img.data[i * 3 + 2];
    let best = 0;
    let bestD = Infinity;
    for (let k = 0; k < PALETTE.length; k++) {
      const c = PALETTE[k].rgb;
      const d = (r - c[0]) ** 2 + (g - c[1]) ** 2 + (b - c[2]) ** 2;
      if (d < bestD) {
        bestD = d;
        best = k;
      }
    }
    out[i] = best;
  }
  return out;
}

/** Smallest component area kept, in pixels (noise specks are smaller). */
function minArea(img: ImageLike): number {
  return Math.max(4, Math.round((12 * img.width * img.height) / 1024));
}

/** Read an image: background place and every object's color and shape. */
export function observe(img: ImageLike): Observation {
  const { width: w, height: h } = img;
  const labels = nearestLabels(img);
  const nColors = COLORS.length;
  const fg = (i: number) => labels[i] < nColors;
  const comp = new Int32Array(w * h).fill(-1);
  const objects: SeenObject[] = [];
  const inObject = new Uint8Array(w * h);
  const stack: number[] = [];
  let nComp = 0;
  for (let start = 0; start < w * h; start++) {
    if (!fg(start) || comp[start] >= 0) continue;
    const pixels: number[] = [];
    comp[start] = nComp;
    stack.push(start);
    while (stack.length) {
      const p = stack.pop()!;
      pixels.push(p);
      const px = p % w, py = (p - px) / w;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const x = px + dx, y = py + dy;
          if (x < 0 || y < 0 || x >= w || y >= h) continue;
          const q = y * w + x;
          if (fg(q) && comp[q] < 0) {
            comp[q] = nComp;
            stack.push(q);
          }
        }
    }
    nComp++;
    if (pixels.length < minArea(img)) continue;
    for (const p of pixels) inObject[p] = 1;
    objects.push(describe(pixels, labels, w));
  }
  const votes = new Map<Place, number>();
  let total = 0;
  for (let i = 0; i < w * h; i++) {
    if (inObject[i]) continue;
    let place = PALETTE[labels[i]].place;
    if (!place) place = nearestPlace(img, i);
    votes.set(place, (votes.get(place) ?? 0) + 1);
    total++;
  }
  let background: Place = 'plain';
  let best = -1;
  for (const [p, v] of votes) if (v > best) [background, best] = [p, v];
  return { background, backgroundShare: total ? best / total : 0, objects };
}

function nearestPlace(img: ImageLike, i: number): Place {
  let bestD = Infinity;
  let place: Place = 'plain';
  for (const e of PALETTE) {
    if (!e.place) continue;
    const d = (img.data[i * 3] - e.rgb[0]) ** 2 + (img.data[i * 3 + 1] - e.rgb[1]) ** 2 + (img.data[i * 3 + 2] - e.rgb[2]) ** 2;
    if (d < bestD) [bestD, place] = [d, e.place];
  }
  return place;
}

function describe(pixels: number[], labels: Uint8Array, w: number): SeenObject {
  let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
  const counts = new Array(COLORS.length).fill(0);
  for (const p of pixels) {
    const x = p % w, y = (p - x) / w;
    x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    counts[labels[p]]++;
  }
  const color = COLORS[counts.indexOf(Math.max(...counts))];
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  const mask = new Uint8Array(bw * bh);
  for (const p of pixels) {
    const x = p % w, y = (p - x) / w;
    mask[(y - y0) * bw + (x - x0)] = 1;
  }
  let object: ObjectName = OBJECTS[0];
  let shapeScore = -1;
  for (const shape of OBJECTS) {
    const t = shapeMask(shape, bw, bh);
    let inter = 0, union = 0;
    for (let k = 0; k < t.length; k++) {
      inter += t[k] & mask[k];
      union += t[k] | mask[k];
    }
    const iou = union ? inter / union : 0;
    if (iou > shapeScore) [object, shapeScore] = [shape, iou];
  }
  return { color, object, area: pixels.length, box: { x: x0, y: y0, w: bw, h: bh }, shapeScore };
}

/** Check an image against a prompt (text or parsed attributes). */
export function judge(prompt: string | Attributes, img: ImageLike): Verdict {
  const attributes = typeof prompt === 'string' ? parsePrompt(prompt) : prompt;
  const observed = observe(img);
  return verdictFor(attributes, observed);
}

/** Compare an observation with a prompt's attributes (pure; used by judge and raters). */
export function verdictFor(attributes: Attributes, observed: Observation): Verdict {
  const objs = observed.objects;
  const summary = (values: string[]) => (values.length ? [...new Set(values)].sort().join('+') : 'none');
  const verdicts: AttributeVerdict[] = [
    { attribute: 'count', expected: attributes.count, seen: objs.length, ok: objs.length === attributes.count },
    {
      attribute: 'object',
      expected: attributes.object,
      seen: summary(objs.map((o) => o.object)),
      ok: objs.length > 0 && objs.every((o) => o.object === attributes.object),
    },
  ];
  if (attributes.color) {
    verdicts.push({
      attribute: 'color',
      expected: attributes.color,
      seen: summary(objs.map((o) => o.color)),
      ok: objs.length > 0 && objs.every((o) => o.color === attributes.color),
    });
  }
  if (attributes.background) {
    verdicts.push({ attribute: 'background', expected: attributes.background, seen: observed.background, ok: observed.background === attributes.background });
  }
  const reasons = verdicts.filter((v) => !v.ok).map((v) => `${v.attribute}: expected ${v.expected}, saw ${v.seen}`);
  return { prompt: formatPrompt(attributes), attributes, observed, verdicts, aligned: reasons.length === 0, reasons };
}
