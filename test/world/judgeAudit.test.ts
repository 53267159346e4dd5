// The audit's flags: each catches an image the judge accepts and a person would not (a blind spot), and
// renders carry none of the marks (the place vote aside: a large object can leave it under 70%).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { AUDIT_FLAGS, auditImage, shapeFits } from '../../src/world/judgeAudit';
import { ImageLike } from '../../src/world/image';
import { judge, observeWithPixels } from '../../src/world/judge';
import { allAttributes, parsePrompt } from '../../src/world/prompt';
import { renderPrompt } from '../../src/world/render';

const render = (prompt: string, seed = 1) => renderPrompt(parsePrompt(prompt), seed).image;
const copy = (img: ImageLike): ImageLike => ({ ...img, data: new Uint8Array(img.data) });
const paint = (img: ImageLike, pixels: Iterable<number>, rgb: readonly number[]) => {
  for (const p of pixels) img.data.set(rgb, p * 3);
};
const disc = (img: ImageLike, cx: number, cy: number, r: number, step = 1) => {
  const out: number[] = [];
  for (let y = 0; y < img.height; y += step) for (let x = 0; x < img.width; x += step) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) out.push(y * img.width + x);
  return out;
};
const flags = (img: ImageLike) => AUDIT_FLAGS.filter((f) => auditImage(img)[f]);
/** A place of the object away from it: the disc farthest from the object's box, at radius r. */
const emptyCorner = (img: ImageLike, r: number): [number, number] => {
  const box = observeWithPixels(img).objects[0].seen.box;
  const cx = box.x + box.w / 2 < img.width / 2 ? img.width - r - 2 : r + 1;
  const cy = box.y + box.h / 2 < img.height / 2 ? img.height - r - 2 : r + 1;
  return [cx, cy];
};

test('renders of the whole grammar carry no faded color, stray mark or holed shape; place shapes only where the texture draws them', () => {
  const attrs = allAttributes();
  let weak = 0;
  const placeShape = new Map<string, { k: number; n: number }>();
  for (let i = 0; i < attrs.length; i += 5) {
    const r = renderPrompt(attrs[i], i);
    const f = flags(r.image);
    assert.deepEqual(f.filter((x) => x !== 'weakPlace' && x !== 'placeShape'), [], `render ${i}: ${f}`);
    if (f.includes('weakPlace')) weak++;
    const t = placeShape.get(r.scene.place) ?? { k: 0, n: 0 };
    placeShape.set(r.scene.place, { k: t.k + (f.includes('placeShape') ? 1 : 0), n: t.n + 1 });
  }
  assert.ok(weak / Math.ceil(attrs.length / 5) < 0.05, `${weak} renders with a weak place vote`);
  // A forest's foliage and the moon's craters are discs in the place's colors; the other places' textures rarely make a shape.
  for (const place of ['desert', 'sea', 'city']) assert.ok(placeShape.get(place)!.k / placeShape.get(place)!.n < 0.15, `${place}: ${JSON.stringify(placeShape.get(place))}`);
  for (const place of ['forest', 'moon']) assert.ok(placeShape.get(place)!.k / placeShape.get(place)!.n > 0.1, `${place}: the texture's discs make the renders' base rate`);
});

test('the hole of a ring is not a place shape (holedShape says it where the judge still reads a circle)', () => {
  for (const place of ['in the city', 'in the sea', 'in the desert']) {
    const prompt = `a red circle ${place}`;
    let seed = 0;
    for (; flags(render(prompt, seed)).length; seed++);
    const img = copy(render(prompt, seed));
    const { seen } = observeWithPixels(img).objects[0];
    const [cx, cy, r] = [seen.box.x + (seen.box.w - 1) / 2, seen.box.y + (seen.box.h - 1) / 2, (seen.box.w - 1) / 2];
    const ground = [...img.data.subarray(0, 3)];
    paint(img, disc(img, cx, cy, r * 0.55), ground); // a ring
    assert.ok(!flags(img).includes('placeShape'), `${prompt}: ${flags(img)}`);
  }
});

test('a grey circle in the city, which the judge takes for the skyline and does not count, is a place shape', () => {
  let seed = 0;
  for (; flags(render('two red squares in the city', seed)).length; seed++);
  const img = copy(render('two red squares in the city', seed));
  const objects = observeWithPixels(img).objects.map((o) => o.seen.box);
  // A disc of the windows' grey, off the edge and clear of both squares.
  const clear = (cx: number, cy: number) => cx > 5 && cy > 5 && cx < 26 && cy < 26 && objects.every((b) => cx + 5 < b.x || b.x + b.w + 5 <= cx || cy + 5 < b.y || b.y + b.h + 5 <= cy);
  let at: [number, number] | undefined;
  for (let cy = 6; cy < 26 && !at; cy++) for (let cx = 6; cx < 26 && !at; cx++) if (clear(cx, cy)) at = [cx, cy];
  assert.ok(at, 'room for a third shape');
  paint(img, disc(img, at[0], at[1], 3.5), [140, 140, 150]);
  assert.ok(judge('two red squares in the city', img).aligned, 'the blind spot this flag is for: the judge still counts two');
  assert.deepEqual(flags(img), ['placeShape']);
});

test('a brown object the judge reads as orange is a faded color', () => {
  const img = copy(render('an orange circle on the moon'));
  paint(img, observeWithPixels(img).objects[0].pixels, [145, 79, 11]);
  assert.ok(judge('an orange circle on the moon', img).aligned, 'the blind spot this flag is for');
  assert.deepEqual(flags(img), ['fadedColor']);
});

test('a pale extra circle and a dotted one the judge does not count are stray marks', () => {
  for (const step of [1, 2]) {
    const img = copy(render('a red circle'));
    const [cx, cy] = emptyCorner(img, 5);
    paint(img, disc(img, cx, cy, 5, step), step === 1 ? [150, 190, 250] : [35, 70, 240]);
    assert.ok(judge('a red circle', img).aligned, `the judge still sees one red circle (step ${step})`);
    assert.deepEqual(flags(img), ['strayMarks'], `step ${step}`);
  }
});

test('a ring read as a circle is a holed shape', () => {
  const img = copy(render('a red circle'));
  const { seen } = observeWithPixels(img).objects[0];
  const [cx, cy] = [seen.box.x + seen.box.w / 2 - 0.5, seen.box.y + seen.box.h / 2 - 0.5];
  paint(img, disc(img, cx, cy, 1.5), [250, 250, 250]);
  assert.equal(judge('a red circle', img).observed.objects[0].object, 'circle', 'the blind spot this flag is for');
  assert.deepEqual(flags(img), ['holedShape']);
});

test('a background of two places, which the judge passes as one of them, is a weak place', () => {
  const sea = render('a red circle in the sea');
  const box = observeWithPixels(sea).objects[0].seen.box;
  const left = box.x + box.w / 2 < sea.width / 2;
  const [x0, x1] = left ? [sea.width - 12, sea.width] : [0, 12]; // 12 of 32 columns away from the object become the city
  assert.ok(left ? box.x + box.w < x0 : box.x >= x1, 'the object is outside the band');
  // A city render whose own object is outside that band.
  let city: ImageLike | undefined;
  for (let seed = 0; !city; seed++) {
    const c = render('a red circle in the city', seed);
    const b = observeWithPixels(c).objects[0].seen.box;
    if (left ? b.x + b.w < x0 - 1 : b.x > x1 + 1) city = c;
  }
  const img = copy(sea);
  for (let y = 0; y < img.height; y++) for (let x = x0; x < x1; x++) img.data.set(city.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3), (y * img.width + x) * 3);
  assert.ok(judge('a red circle in the sea', img).aligned, 'the blind spot this flag is for: 37% of it is the city');
  // The city's band is also off the sea's colors: marks no object explains.
  assert.deepEqual(flags(img), ['strayMarks', 'weakPlace']);
});

test('a flat canvas of one color near a place\'s, which the judge reads as that place, is a flat place; its renders are not', () => {
  for (const [prompt, fill] of [['a yellow circle in the city', [128, 128, 128]], ['a blue circle on the moon', [0, 0, 0]], ['a blue circle in the forest', [110, 70, 40]], ['a red circle in the sea', [0, 160, 160]], ['a red circle in the desert', [215, 185, 135]]] as const) {
    const rendered = render(prompt);
    assert.ok(!flags(rendered).includes('flatPlace'), `${prompt}: its render`);
    const img = copy(rendered);
    const inObject = new Set(observeWithPixels(img).objects.flatMap((o) => o.pixels));
    paint(img, [...Array(img.width * img.height).keys()].filter((p) => !inObject.has(p)), fill);
    assert.ok(judge(prompt, img).aligned, `${prompt}: the blind spot this flag is for (a flat ${fill} canvas)`);
    assert.ok(flags(img).includes('flatPlace'), `${prompt}: ${flags(img)}`);
  }
});

test('shape fit: 1 for every object of a render, under 1 for an octagon the judge reads as a circle, and an unrecognised object counts too', () => {
  for (const prompt of ['a red circle', 'three blue squares in the city', 'two stars on the moon']) {
    const fits = shapeFits(render(prompt, 3));
    assert.equal(fits.length, parsePrompt(prompt).count ?? 1, prompt);
    for (const f of fits) assert.equal(f.fit, 1, prompt), assert.ok(f.side > 0 && f.side <= 1);
  }
  const img = copy(render('a red circle', 2));
  const { seen, pixels } = observeWithPixels(img).objects[0];
  const ground = [...img.data.subarray(0, 3)];
  paint(img, pixels, ground);
  const [cx, cy, r] = [seen.box.x + (seen.box.w - 1) / 2, seen.box.y + (seen.box.h - 1) / 2, (seen.box.w - 1) / 2];
  const inOctagon = (x: number, y: number) => Math.abs(x - cx) <= r && Math.abs(y - cy) <= r && Math.abs(x - cx) + Math.abs(y - cy) <= 1.25 * r;
  const octagon: number[] = [];
  for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) if (inOctagon(x, y)) octagon.push(y * img.width + x);
  paint(img, octagon, [230, 30, 30]);
  assert.ok(judge('a red circle', img).aligned, 'the blind spot the fit is for');
  const [octFit] = shapeFits(img);
  assert.ok(octFit.fit >= 0.8 && octFit.fit < 0.95, `octagon fit ${octFit.fit}`);
  // a thin bar beside it: found, not recognised, and in the fits
  const bar = copy(img);
  const [bx, by] = emptyCorner(bar, 4);
  const barPixels: number[] = [];
  for (let y = by - 4; y <= by + 4; y++) for (let x = bx - 1; x <= bx; x++) barPixels.push(y * bar.width + x);
  paint(bar, barPixels, [230, 30, 30]);
  const objects = observeWithPixels(bar).objects.map((o) => o.seen);
  assert.equal(objects.length, 2);
  const fits = shapeFits(bar);
  assert.deepEqual(fits.map((f) => f.fit).sort(), objects.map((o) => Math.max(0, o.shapeScore)).sort());
  assert.ok(objects.some((o) => o.object === 'unknown'), `the bar is not recognised: ${objects.map((o) => `${o.object} ${o.shapeScore.toFixed(2)}`)}`);
});
