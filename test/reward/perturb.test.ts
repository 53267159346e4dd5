import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/engine/random';
import { perturbationsLeft, perturbationsOf, perturbPrompt, PERTURBED_ATTRIBUTES } from '../../src/reward/perturb';
import { allAttributes, Attributes, formatPrompt, parsePrompt } from '../../src/world/prompt';
import { seenPrompts, unseenPrompts, usesHeldOutCombination } from '../../src/world/promptSets';
import { heldOutPrompts } from '../../src/reward/data';

const KEYS = ['count', 'color', 'background'] as const;

function differs(a: Attributes, b: Attributes): string[] {
  return KEYS.filter((k) => a[k] !== b[k]);
}

test('every perturbation of every prompt of the grammar is grammatical, differs from the original and changes exactly its tagged attributes', () => {
  let n = 0;
  for (const a of allAttributes()) {
    const original = formatPrompt(a);
    for (const p of perturbPrompt(a, 9, new Rng(original))) {
      assert.deepEqual(parsePrompt(p.prompt), p.attributes, `${p.prompt} does not parse back`);
      assert.notEqual(p.prompt, original);
      assert.deepEqual(differs(a, p.attributes), p.changed, `${original} -> ${p.prompt}`);
      assert.equal(p.attributes.object, a.object, 'the object never changes');
      if (a.color === undefined) assert.equal(p.attributes.color, undefined, `${original} -> ${p.prompt} adds a color the image may have`);
      if (a.background === undefined) assert.equal(p.attributes.background, undefined, `${original} -> ${p.prompt} adds a place the image may show`);
      n++;
    }
  }
  assert.equal(n, allAttributes().length * 9);
});

test('single-attribute changes come first, distinct; the pool of "a circle" is its 3 other counts, of "a red circle" 3 counts and 6 colors', () => {
  const a = parsePrompt('a circle');
  const singles = PERTURBED_ATTRIBUTES.flatMap((k) => perturbationsOf(a, [k]));
  assert.deepEqual(singles.map((p) => p.prompt).sort(), ['four circles', 'three circles', 'two circles']);
  const nine = perturbPrompt(a, 9, new Rng(1));
  assert.deepEqual(new Set(nine.map((p) => p.prompt)), new Set(['four circles', 'three circles', 'two circles']), 'beyond its pool of 3 they repeat');
  const red = perturbPrompt(parsePrompt('a red circle'), 12, new Rng(1));
  assert.equal(new Set(red.map((p) => p.prompt)).size, 12);
  assert.deepEqual(red.map((p) => p.changed.length), [...Array(9).fill(1), 2, 2, 2]);
  assert.ok(red.every((p) => p.attributes.background === undefined));
  const c = parsePrompt('two red circles in the sea');
  const p = perturbPrompt(c, 9, new Rng(2));
  assert.ok(p.every((x) => x.changed.length === 1), 'a prompt with 13 single changes needs no double ones');
  assert.deepEqual(perturbPrompt(c, 9, new Rng(2)), p, 'seeded');
  assert.equal(perturbPrompt(a, 40, new Rng(3)).length, 40, 'beyond the pool they repeat');
  assert.throws(() => perturbPrompt(a, -1, new Rng(0)), /non-negative integer/);
});

test('no perturbation training draws for a seen prompt is a test-only prompt (a held-out color/background pair): the reward never trains on what its unseen rows test', () => {
  const unseen = new Set(unseenPrompts().map((p) => p.prompt));
  let draws = 0;
  let testOnlyInFullPool = 0;
  for (const seen of seenPrompts()) {
    // 600 draws take the whole pool (it is drawn level by level before anything repeats).
    for (const p of perturbPrompt(seen.attributes, 600, new Rng(seen.prompt))) {
      assert.ok(!unseen.has(p.prompt), `${seen.prompt} -> ${p.prompt}, an unseen prompt`);
      draws++;
    }
    for (const k of KEYS) testOnlyInFullPool += perturbationsOf(seen.attributes, [k]).filter((p) => unseen.has(p.prompt)).length;
  }
  assert.ok(draws > 10_000);
  assert.ok(testOnlyInFullPool > 0, 'perturbationsOf (what the render check reads) keeps them all');
  // A prompt that has a held-out pair (an unseen one) keeps it in the changes of its count.
  const held = unseenPrompts().find((p) => p.attributes.color !== undefined && p.attributes.background !== undefined && p.attributes.object === 'circle')!;
  const drawn = perturbPrompt(held.attributes, 600, new Rng(1));
  assert.ok(drawn.some((p) => p.changed.length === 1 && p.changed[0] === 'count' && usesHeldOutCombination(p.attributes)), 'its count changes are drawn');
  // ... and no other held-out pair, for any unseen circle prompt with a color and a place.
  for (const u of unseenPrompts().filter((p) => p.attributes.object === 'circle' && p.attributes.color !== undefined && p.attributes.background !== undefined)) {
    for (const p of perturbPrompt(u.attributes, 600, new Rng(u.prompt))) {
      const own = p.attributes.color === u.attributes.color && p.attributes.background === u.attributes.background;
      assert.ok(own || !usesHeldOutCombination(p.attributes), `${u.prompt} -> ${p.prompt}, another held-out pair`);
    }
  }
});

test("the run's held-out prompts are not drawn as wrong prompts when excluded, unless nothing else is left", () => {
  const seen = seenPrompts().map((p) => p.prompt);
  const held = heldOutPrompts(seen, 0.2, 0);
  assert.ok(held.size > 20);
  let hits = 0;
  const kept: string[] = [];
  for (const p of seenPrompts().filter((q) => !held.has(q.prompt))) {
    const all = perturbPrompt(p.attributes, 600, new Rng(p.prompt)).map((x) => x.prompt);
    hits += all.filter((x) => held.has(x)).length; // without the exclusion: the leak measured on 2026-12-06
    if (!perturbationsLeft(p.attributes, held)) {
      kept.push(p.prompt);
      continue;
    }
    for (const x of perturbPrompt(p.attributes, 600, new Rng(p.prompt), held)) assert.ok(!held.has(x.prompt), `${p.prompt} -> ${x.prompt}, a held-out prompt`);
  }
  assert.ok(hits > 1000, `without exclude the held-out prompts are drawn (${hits})`);
  // a prompt of count alone whose three other counts are all held out keeps them: its rows need wrong prompts
  assert.deepEqual(kept, ['three circles']);
  const a = parsePrompt('three circles');
  assert.deepEqual(perturbPrompt(a, 5, new Rng(0), held), perturbPrompt(a, 5, new Rng(0)));
});
