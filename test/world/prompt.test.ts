import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allAttributes, categoryOf, formatCaption, formatPrompt, parsePrompt } from '../../src/world/prompt';
import { seenPrompts, unseenPrompts, usesHeldOutCombination } from '../../src/world/promptSets';
import { MAIN_OBJECT, paletteMargins, vocabulary } from '../../src/world/vocab';

test('parser reads the grammar', () => {
  assert.deepEqual(parsePrompt('two circles'), { count: 2, object: 'circle' });
  assert.deepEqual(parsePrompt('A green square'), { count: 1, color: 'green', object: 'square' });
  assert.deepEqual(parsePrompt('a triangle in the forest'), { count: 1, object: 'triangle', background: 'forest' });
  assert.deepEqual(parsePrompt('Three blue circles on the moon.'), { count: 3, color: 'blue', object: 'circle', background: 'moon' });
  assert.deepEqual(parsePrompt('one star at sea'), { count: 1, object: 'star', background: 'sea' });
  assert.deepEqual(parsePrompt('an orange cross'), { count: 1, color: 'orange', object: 'cross' });
  assert.deepEqual(parsePrompt('four crosses'), { count: 4, object: 'cross' });
});

test('format and parse round-trip over the whole grammar', () => {
  const all = allAttributes();
  assert.equal(all.length, 6 * 4 * 8 * 6);
  for (const a of all) assert.deepEqual(parsePrompt(formatPrompt(a)), a);
});

test('parser rejects words outside the grammar, naming the word and the allowed ones', () => {
  const cases: Array<[string, RegExp]> = [
    ['two dogs', /unknown object "dogs".*allowed objects: circle/],
    ['five circles', /unknown count word "five".*allowed: a, an, one, two/],
    ['red circle', /Error: a count word is missing at the start of "red circle" \(it starts with the color "red"\); start with one of: a, an, one, two, three, four, e\.g\. "a red circle"$/],
    ['orange star', /count word is missing.*e\.g\. "an orange star"/],
    ['circles in the forest', /count word is missing .*the object "circles".*e\.g\. "two circles in the forest"/],
    ['red dragon', /count word is missing at the start of "red dragon" \(it starts with the color "red"\); start with one of: a, an, one, two, three, four$/],
    ['two teal circles', /unknown color "teal".*allowed colors: red/],
    ['two circles under water', /unknown background phrase "under water".*in the forest/],
    // Two of one attribute named for what they are (they read as an unknown background, one of the allowed ones).
    ['two red circles in the forest on the moon', /two places in ".*" \("in the forest" and the one after it\): a prompt names at most one; allowed: in the forest/],
    ['two red blue circles', /two colors in "two red blue circles" \("red" and "blue"\): a prompt names at most one; allowed colors: red/],
    ['two circle', /needs the plural "circles"/],
    ['one circles', /needs the singular "circle"/],
    ['an circle', /should be "a circle"/],
    ['two red', /missing object|unknown object/],
    ['', /empty prompt/],
  ];
  for (const [text, re] of cases) assert.throws(() => parsePrompt(text), re, text);
});

test('categories follow the paper', () => {
  assert.equal(categoryOf(parsePrompt('two circles')), 'count');
  assert.equal(categoryOf(parsePrompt('a circle')), 'count');
  assert.equal(categoryOf(parsePrompt('a green circle')), 'color');
  assert.equal(categoryOf(parsePrompt('a circle in the forest')), 'background');
  assert.equal(categoryOf(parsePrompt('two green circles')), 'combination');
  assert.equal(categoryOf(parsePrompt('a red circle on the moon')), 'combination');
});

test('seen prompts are about the main object and avoid held-out pairs; unseen cover the rest', () => {
  const seen = seenPrompts();
  const unseen = unseenPrompts();
  assert.ok(seen.every((p) => p.attributes.object === MAIN_OBJECT && !usesHeldOutCombination(p.attributes)));
  const cats = (list: typeof seen) => Object.fromEntries(['count', 'color', 'background', 'combination'].map((c) => [c, list.filter((p) => p.category === c).length]));
  assert.deepEqual(cats(seen), { count: 4, color: 7, background: 5, combination: 156 });
  const seenText = new Set(seen.map((p) => p.prompt));
  assert.ok(unseen.every((p) => !seenText.has(p.prompt)));
  assert.equal(seen.length + unseen.length, 6 * 4 * 8 * 6);
  const capped = seenPrompts({ perCategory: { combination: 20 }, seed: 3 });
  assert.equal(capped.filter((p) => p.category === 'combination').length, 20);
  assert.deepEqual(capped, seenPrompts({ perCategory: { combination: 20 }, seed: 3 }));
});

test('captions without a count leave out the count word', () => {
  assert.equal(formatCaption({ object: 'circle', color: 'red', background: 'sea' }, 3), 'red circles in the sea');
  assert.equal(formatCaption({ object: 'star', count: 2 }), 'two stars');
});

test('palettes keep object and place colors apart (golden margins)', () => {
  const m = paletteMargins();
  assert.ok(m.objectBackground >= 100, `object/background margin ${m.objectBackground}`);
  assert.ok(m.objectObject >= 90, `object/object margin ${m.objectObject}`);
  assert.ok(m.placePlace >= 45, `place/place margin ${m.placePlace}`);
  const v = vocabulary();
  assert.ok(v.colors.length >= 6 && v.objects.length >= 5 && v.backgrounds.length >= 5);
});
