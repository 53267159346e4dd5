import { createHash } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captionCoverage, defaultCorpusConfig, pretrainingCorpus, resolveCorpusConfig } from '../../src/world/corpus';
import { sameImage } from '../../src/world/image';
import { judge } from '../../src/world/judge';
import { BACKGROUNDS, COLOR_LOOKALIKE, COLORS, PLACE_LOOKALIKE } from '../../src/world/vocab';

test('defaults are documented and resolved', () => {
  const d = defaultCorpusConfig();
  assert.equal(d.size, 2000);
  assert.equal(d.dropCount, 0.5);
  assert.equal(d.objects.length, 6);
});

test('unknown keys and bad values are rejected with the key path', () => {
  assert.throws(() => resolveCorpusConfig({ dropColour: 0.2 }), /bad corpus config: .*dropColour/);
  assert.throws(() => resolveCorpusConfig({ dropCount: 1.5 }), /bad corpus config: dropCount: /);
  assert.throws(() => resolveCorpusConfig({ objects: ['circle', 'dog'] }), /objects\.1: /);
  assert.throws(() => resolveCorpusConfig({ size: -1 }), /size: /);
  assert.throws(() => resolveCorpusConfig({ confuseColor: 1.5 }), /bad corpus config: confuseColor: /);
  assert.throws(() => resolveCorpusConfig({ confuseBackground: -0.1 }), /bad corpus config: confuseBackground: /);
  assert.throws(() => resolveCorpusConfig({ confuseColour: 0.2 }), /bad corpus config: .*confuseColour/);
});

test('reproducible; captions incomplete and sometimes wrong at the configured rates', () => {
  const cfg = { size: 1500, seed: 4, dropCount: 0.5, dropColor: 0.2, dropBackground: 0.6, wrongAttribute: 0.1 };
  const items = [...pretrainingCorpus(cfg)];
  const again = [...pretrainingCorpus({ ...cfg, size: 3 })];
  assert.ok(sameImage(items[2].image, again[2].image));
  assert.equal(items[2].caption, again[2].caption);
  const cov = captionCoverage(items);
  const within = (x: number, p: number, n: number) => Math.abs(x - p) <= 4 * Math.sqrt((p * (1 - p)) / n);
  assert.ok(within(cov.count, 0.5, 1500), `count ${cov.count}`);
  assert.ok(within(cov.color, 0.8, 1500), `color ${cov.color}`);
  assert.ok(cov.wrong > 0.05 && cov.wrong < 0.12, `wrong ${cov.wrong}`);
  // rare combinations (2+ objects on a named place) are under-represented
  const rare = items.filter((it) => it.scene.objects.length > 1 && it.scene.place !== 'plain').length / items.length;
  assert.ok(rare < 0.15, `rare ${rare}`);
  // the image always shows what the scene says; wrong captions are caught by the judge
  for (const it of items.slice(0, 200)) {
    const v = judge(it.captionAttributes, it.image);
    assert.equal(v.aligned, it.wrong === undefined, `${it.id} "${it.caption}" ${v.reasons}`);
  }
});

test('look-alike confusions are systematic: a confused color word names its one look-alike', () => {
  const base = { size: 1200, seed: 9, dropColor: 0, dropBackground: 0, wrongAttribute: 0 };
  const plainItems = [...pretrainingCorpus(base)];
  const items = [...pretrainingCorpus({ ...base, confuseColor: 0.45, confuseBackground: 0.45 })];
  // the images are the same; only captions change
  assert.ok(sameImage(plainItems[5].image, items[5].image));
  assert.equal(captionCoverage(plainItems).wrong, 0);
  let colorWrong = 0, lookalike = 0, bgStated = 0, bgWrong = 0;
  for (const it of items) {
    const shown = it.scene.objects[0].color;
    if (it.captionAttributes.color !== shown) {
      colorWrong++;
      if (it.captionAttributes.color === COLOR_LOOKALIKE[shown]) lookalike++;
    }
    if (it.scene.place !== 'plain') {
      bgStated++;
      if (it.captionAttributes.background !== it.scene.place) {
        bgWrong++;
        assert.equal(it.captionAttributes.background, PLACE_LOOKALIKE[it.scene.place]);
      }
    }
  }
  const within = (x: number, p: number, n: number) => Math.abs(x - p) <= 4 * Math.sqrt((p * (1 - p)) / n);
  assert.equal(lookalike, colorWrong);
  assert.ok(within(colorWrong / items.length, 0.45, items.length), `color confused ${colorWrong / items.length}`);
  assert.ok(within(bgWrong / bgStated, 0.45, bgStated), `place confused ${bgWrong / bgStated}`);
  for (const it of items.slice(0, 150)) assert.equal(judge(it.captionAttributes, it.image).aligned, it.wrong === undefined, it.caption);
});

test('every look-alike is another word of the vocabulary, each used once', () => {
  assert.deepEqual([...Object.values(COLOR_LOOKALIKE)].sort(), [...COLORS].sort());
  assert.deepEqual([...Object.values(PLACE_LOOKALIKE)].sort(), [...BACKGROUNDS].sort());
  // each is one cycle through every word, as vocab.ts says
  const cycle = <K extends string>(map: Readonly<Record<K, K>>, start: K) => {
    const seen = new Set<K>();
    for (let k = start; !seen.has(k); k = map[k]) seen.add(k);
    return seen.size;
  };
  assert.equal(cycle(COLOR_LOOKALIKE, 'red'), COLORS.length);
  assert.equal(cycle(PLACE_LOOKALIKE, 'moon'), BACKGROUNDS.length);
});

test('without confusions the corpus is the one made before they existed (pinned: captions and pixels of 100 items)', () => {
  const hash = createHash('sha256');
  for (const it of pretrainingCorpus({ size: 100, seed: 0 })) {
    hash.update(`${it.caption}\n`);
    hash.update(Buffer.from(it.image.data));
  }
  assert.equal(hash.digest('hex'), '0dd7a0c287d4acb7d3241b3365aaffdf460b244c053a1b5647378e28f33c4014');
});
