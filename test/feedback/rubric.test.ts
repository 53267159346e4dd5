// The rubric states the judge's rules; its examples must be judged as the rubric says.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderRubricExample, rubric, rubricImage, RUBRIC_SIZE } from '../../src/feedback/rubric';
import { decodePng } from '../../src/world/image';
import { observe, UNKNOWN_OBJECT } from '../../src/world/judge';
import { COLORS, OBJECT_COLORS, OBJECTS, PLACES } from '../../src/world/vocab';

test('the rubric covers every shape, color and place of the vocabulary, swatches from its RGB values', () => {
  const r = rubric();
  assert.deepEqual(r.rules.map((x) => x.attribute), ['count', 'shape', 'color', 'place']);
  assert.deepEqual(r.shapes.map((x) => x.object), [...OBJECTS]);
  assert.deepEqual(r.colors.map((x) => x.color), COLORS);
  for (const c of r.colors) {
    assert.deepEqual(c.rgb, OBJECT_COLORS[c.color]);
    assert.equal(c.hex, '#' + OBJECT_COLORS[c.color].map((v) => v.toString(16).padStart(2, '0')).join(''));
  }
  assert.deepEqual(r.places.map((x) => x.place).sort(), Object.keys(PLACES).sort());
  assert.equal(r.places.find((x) => x.place === 'plain')!.phrase, null);
  assert.match(r.notShapes.find((x) => x.kind === 'ellipse')!.caption, /oval is not a circle/);
});

test('each example is judged as the rubric says: the shape, no recognisable shape, the place', () => {
  const r = rubric();
  for (const s of r.shapes) {
    const seen = observe(renderRubricExample(s.example)!).objects;
    assert.deepEqual(seen.map((o) => o.object), [s.object], s.example);
  }
  for (const n of r.notShapes) {
    const seen = observe(renderRubricExample(n.example)!).objects;
    assert.deepEqual(seen.map((o) => o.object), [UNKNOWN_OBJECT], n.example);
  }
  for (const p of r.places) assert.equal(observe(renderRubricExample(p.example)!).background, p.place, p.example);
});

test('example PNGs are RUBRIC_SIZE square, rendered once; unknown names give null', () => {
  const png = rubricImage('shape-circle')!;
  const img = decodePng(png);
  assert.deepEqual([img.width, img.height], [RUBRIC_SIZE, RUBRIC_SIZE]);
  assert.equal(rubricImage('shape-circle'), png, 'cached: the same bytes object');
  for (const bad of ['shape-oval', 'not-circle', 'place-mars', 'shape', 'color-red', '', 'shape-circle-x']) assert.equal(rubricImage(bad), null, bad);
});
