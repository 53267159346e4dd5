/**
 * Shape masks shared by the renderer (to paint) and the judge (as templates).
 * Each shape is an `inside(u, v)` test on the unit box (u right, v down),
 * scaled so the shape touches all four sides of its box; a mask of a w x h box
 * samples pixel centres.
 */
import { ObjectName } from './vocab';

type Inside = (u: number, v: number) => boolean;

function starPolygon(points: number, innerRatio: number): Array<[number, number]> {
  const raw: Array<[number, number]> = [];
  for (let i = 0; i < points * 2; i++) {
    const r = i % 2 === 0 ? 1 : innerRatio;
    const a = -Math.PI / 2 + (i * Math.PI) / points;
    raw.push([r * Math.cos(a), r * Math.sin(a)]);
  }
  const xs = raw.map((p) => p[0]);
  const ys = raw.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  return raw.map(([x, y]) => [(x - x0) / (x1 - x0), (y - y0) / (y1 - y0)]);
}

function insidePolygon(poly: Array<[number, number]>, u: number, v: number): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if (yi > v !== yj > v && u < ((xj - xi) * (v - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

const STAR = starPolygon(5, 0.48);
const CROSS_ARM = 0.36;

const SHAPES: Record<ObjectName, Inside> = {
  circle: (u, v) => (u - 0.5) ** 2 + (v - 0.5) ** 2 <= 0.25,
  square: () => true,
  // apex at top centre, base along the bottom
  triangle: (u, v) => Math.abs(u - 0.5) * 2 <= v,
  star: (u, v) => insidePolygon(STAR, u, v),
  cross: (u, v) => Math.abs(u - 0.5) <= CROSS_ARM / 2 || Math.abs(v - 0.5) <= CROSS_ARM / 2,
  // two lobes on top, a point at the bottom
  heart: (u, v) => {
    const r = 0.26;
    if ((u - r) ** 2 + (v - r) ** 2 <= r * r || (u - (1 - r)) ** 2 + (v - r) ** 2 <= r * r) return true;
    return v >= r && v <= 1 && Math.abs(u - 0.5) <= 0.5 * (1 - (v - r) / (1 - r)) + 1e-9;
  },
};

/** A w x h boolean mask (row-major) of `shape` filling its box. */
export function shapeMask(shape: ObjectName, w: number, h: number): Uint8Array {
  const inside = SHAPES[shape];
  const m = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[y * w + x] = inside((x + 0.5) / w, (y + 0.5) / h) ? 1 : 0;
  return m;
}
