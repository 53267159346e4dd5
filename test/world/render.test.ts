import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import { decodePng, encodePng, sameImage, tileImages } from '../../src/world/image';
import { parsePrompt } from '../../src/world/prompt';
import { renderPrompt } from '../../src/world/render';

test('same seed gives the same bytes; different seeds differ', () => {
  const a = parsePrompt('three blue circles on the moon');
  const r1 = renderPrompt(a, 42);
  const r2 = renderPrompt(a, 42);
  assert.ok(sameImage(r1.image, r2.image));
  assert.deepEqual(r1.placed, r2.placed);
  assert.ok(!sameImage(r1.image, renderPrompt(a, 43).image));
  assert.equal(r1.image.data.length, 32 * 32 * 3);
});

test('objects do not overlap and stay on the canvas, at every size', () => {
  for (const size of [32, 48, 64]) {
    for (let seed = 0; seed < 200; seed++) {
      const r = renderPrompt({ count: 4, object: 'star' }, seed, { size });
      assert.equal(r.image.width, size);
      for (const p of r.placed) assert.ok(p.x >= 0 && p.y >= 0 && p.x + p.size <= size && p.y + p.size <= size);
      for (let i = 0; i < r.placed.length; i++)
        for (let j = i + 1; j < r.placed.length; j++) {
          const [p, q] = [r.placed[i], r.placed[j]];
          assert.ok(p.x + p.size <= q.x || q.x + q.size <= p.x || p.y + p.size <= q.y || q.y + q.size <= p.y);
        }
    }
  }
});

test('no color -> a seeded random color; no background -> plain', () => {
  const r = renderPrompt({ count: 2, object: 'heart' }, 5);
  assert.equal(r.scene.place, 'plain');
  assert.equal(new Set(r.scene.objects.map((o) => o.color)).size, 1);
});

test('PNG round-trip and tiling', () => {
  const r = renderPrompt(parsePrompt('a red star in the desert'), 1);
  assert.ok(sameImage(decodePng(encodePng(r.image)), r.image));
  const grid = tileImages([r.image, r.image, r.image], { columns: 2, scale: 3, gap: 1 });
  assert.equal(grid.width, 2 * 96 + 3);
  assert.equal(grid.height, 2 * 96 + 3);
  assert.throws(() => decodePng(new Uint8Array([1, 2, 3])), /^Error: not a PNG: it does not start with the PNG signature \(it starts "\.\.\."; another format, or text\?\)$/);
  assert.throws(() => decodePng(new Uint8Array(0)), /^Error: not a PNG: the file is empty$/);
  assert.throws(() => decodePng(new Uint8Array([0x89, 0x50, 0x4e, 0x47])), /^Error: not a readable PNG: the file ends early \(truncated\?\)$/, 'cut inside the signature');
  const png = encodePng(r.image);
  assert.throws(() => decodePng(png.subarray(0, 60)), /^Error: not a readable PNG: the file ends early \(truncated\?\)$/);
  // A red circle drawn fully transparent: a viewer shows nothing there, the RGB under it says "red circle".
  const rgba = new PNG({ width: r.image.width, height: r.image.height });
  for (let i = 0; i < r.image.width * r.image.height; i++) {
    rgba.data.set(r.image.data.subarray(i * 3, i * 3 + 3), i * 4);
    rgba.data[i * 4 + 3] = i < 10 ? 0 : 255;
  }
  assert.throws(() => decodePng(PNG.sync.write(rgba)), /not an opaque image: 10 of its \d+ pixels are transparent \(alpha below 255\); flatten it onto a background first/);
  for (let i = 0; i < 10; i++) rgba.data[i * 4 + 3] = 255;
  assert.ok(sameImage(decodePng(PNG.sync.write(rgba)), r.image), 'an opaque RGBA PNG reads as its RGB');
});
