/**
 * Plain RGB images: `{ width, height, data }` with `data` a Uint8Array of
 * length width*height*3, row-major, channels last ([H, W, 3]). PNG helpers,
 * a grid tiler for notebooks, and the degradations (Gaussian noise, Gaussian
 * blur) used to test the judge against diffusion-like samples.
 */
import { PNG } from 'pngjs';
import { Rng } from '../engine/random';

export interface ImageLike {
  width: number;
  height: number;
  /** [H, W, 3] RGB bytes. */
  data: Uint8Array;
}

/** A blank image filled with one color. */
export function createImage(width: number, height: number, fill: readonly [number, number, number] = [0, 0, 0]): ImageLike {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`image size must be positive integers, got ${width}x${height}`);
  }
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(fill, i * 3);
  return { width, height, data };
}

/** PNG bytes (8-bit RGB, no alpha). */
export function encodePng(img: ImageLike): Buffer {
  const png = new PNG({ width: img.width, height: img.height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}

/** The eight bytes every PNG file starts with. */
const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Decode PNG bytes to RGB. An image with a transparent pixel is refused: what a viewer shows there depends
 * on what it is drawn over, and the colour under it is anything (a judge reading it would see what no person does).
 */
export function decodePng(bytes: Uint8Array): ImageLike {
  if (bytes.length === 0) throw new Error('not a PNG: the file is empty');
  if (bytes.length < SIGNATURE.length && SIGNATURE.slice(0, bytes.length).every((b, i) => bytes[i] === b)) throw new Error('not a readable PNG: the file ends early (truncated?)');
  if (!SIGNATURE.every((b, i) => bytes[i] === b)) {
    const start = Buffer.from(bytes.subarray(0, 4)).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
    throw new Error(`not a PNG: it does not start with the PNG signature (it starts "${start}"; another format, or text?)`);
  }
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes));
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    // pngjs reports a file cut short as read requests left waiting on the stream.
    throw new Error(`not a readable PNG: ${/waiting|waitng|unexpected end|end of stream/i.test(why) ? 'the file ends early (truncated?)' : why}`);
  }
  const { width, height } = png;
  const data = new Uint8Array(width * height * 3);
  let transparent = 0;
  for (let i = 0; i < width * height; i++) if (png.data[i * 4 + 3] !== 255) transparent++;
  if (transparent > 0) {
    throw new Error(`not an opaque image: ${transparent} of its ${width * height} pixels are transparent (alpha below 255); flatten it onto a background first (the kit reads RGB)`);
  }
  for (let i = 0; i < width * height; i++) {
    data[i * 3] = png.data[i * 4];
    data[i * 3 + 1] = png.data[i * 4 + 1];
    data[i * 3 + 2] = png.data[i * 4 + 2];
  }
  return { width, height, data };
}

/** Nearest-neighbour upscale by an integer factor (for display). */
export function upscale(img: ImageLike, factor: number): ImageLike {
  const out = createImage(img.width * factor, img.height * factor);
  for (let y = 0; y < out.height; y++)
    for (let x = 0; x < out.width; x++) {
      const src = (Math.floor(y / factor) * img.width + Math.floor(x / factor)) * 3;
      out.data.set(img.data.subarray(src, src + 3), (y * out.width + x) * 3);
    }
  return out;
}

/**
 * Tile images row by row into one image, each upscaled by `scale`
 * (nearest neighbour), with `gap` pixels of `gapColor` between tiles.
 */
export function tileImages(
  images: readonly ImageLike[],
  opts: { columns?: number; scale?: number; gap?: number; gapColor?: readonly [number, number, number] } = {},
): ImageLike {
  if (images.length === 0) throw new Error('tileImages: no images');
  const columns = Math.min(opts.columns ?? 8, images.length);
  const scale = opts.scale ?? 4;
  const gap = opts.gap ?? 2;
  const tw = Math.max(...images.map((i) => i.width)) * scale;
  const th = Math.max(...images.map((i) => i.height)) * scale;
  const rows = Math.ceil(images.length / columns);
  const out = createImage(columns * tw + (columns + 1) * gap, rows * th + (rows + 1) * gap, opts.gapColor ?? [255, 255, 255]);
  images.forEach((img, k) => {
    const big = upscale(img, scale);
    const ox = gap + (k % columns) * (tw + gap);
    const oy = gap + Math.floor(k / columns) * (th + gap);
    for (let y = 0; y < big.height; y++) {
      out.data.set(big.data.subarray(y * big.width * 3, (y + 1) * big.width * 3), ((oy + y) * out.width + ox) * 3);
    }
  });
  return out;
}

/** Add i.i.d. Gaussian noise of std `sigma` (in 0..255 units) per channel, clipped. */
export function addGaussianNoise(img: ImageLike, sigma: number, rng: Rng): ImageLike {
  const data = new Uint8Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = clampByte(img.data[i] + rng.normal(0, sigma));
  return { width: img.width, height: img.height, data };
}

/** Separable Gaussian blur with std `sigma` pixels (edges clamped). sigma 0 returns a copy. */
export function gaussianBlur(img: ImageLike, sigma: number): ImageLike {
  if (sigma <= 0) return { ...img, data: img.data.slice() };
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k: number[] = [];
  for (let i = -r; i <= r; i++) k.push(Math.exp(-(i * i) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0);
  const kern = k.map((v) => v / sum);
  const { width: w, height: h } = img;
  const tmp = new Float32Array(img.data.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let i = -r; i <= r; i++) acc += kern[i + r] * img.data[(y * w + Math.min(w - 1, Math.max(0, x + i))) * 3 + c];
        tmp[(y * w + x) * 3 + c] = acc;
      }
  const data = new Uint8Array(img.data.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let i = -r; i <= r; i++) acc += kern[i + r] * tmp[(Math.min(h - 1, Math.max(0, y + i)) * w + x) * 3 + c];
        data[(y * w + x) * 3 + c] = clampByte(acc);
      }
  return { width: w, height: h, data };
}

function clampByte(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/** True when two images have the same size and bytes. */
export function sameImage(a: ImageLike, b: ImageLike): boolean {
  if (a.width !== b.width || a.height !== b.height || a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}
