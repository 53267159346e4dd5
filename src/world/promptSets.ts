/**
 * Prompt sets, after the paper: "seen" prompts (used for feedback) are all
 * about one object (MAIN_OBJECT, the paper's "dog") across the four
 * categories, minus the held-out color/background pairs; "unseen" prompts use
 * the other objects and the held-out pairs, to test generalisation.
 */
import { Rng } from '../engine/random';
import { allAttributes, Attributes, categoryOf, Category, CATEGORIES, formatPrompt } from './prompt';
import { BACKGROUNDS, COLORS, comboKey, HELD_OUT_COMBINATIONS, HELD_OUT_OBJECTS, MAIN_OBJECT, MAX_COUNT, ObjectName, OBJECTS } from './vocab';

export interface PromptEntry {
  prompt: string;
  attributes: Attributes;
  category: Category;
}

export interface PromptSetOptions {
  /** Most prompts kept per category (a seeded sample when there are more). Default: all. */
  perCategory?: Partial<Record<Category, number>>;
  /** Seed of the subsampling. Default 0. */
  seed?: number;
}

const HELD = new Set(HELD_OUT_COMBINATIONS.map((c) => comboKey(c.color, c.background)));

/** True when the attributes use a held-out color/background pair. */
export function usesHeldOutCombination(a: Attributes): boolean {
  return a.color !== undefined && a.background !== undefined && HELD.has(comboKey(a.color, a.background));
}

function entries(list: Attributes[], opts: PromptSetOptions): PromptEntry[] {
  const rng = new Rng(opts.seed ?? 0);
  const out: PromptEntry[] = [];
  for (const category of CATEGORIES) {
    let inCat = list.filter((a) => categoryOf(a) === category);
    const cap = opts.perCategory?.[category];
    if (cap !== undefined && cap < inCat.length) inCat = rng.fork(category).shuffle(inCat).slice(0, cap);
    for (const a of inCat) out.push({ prompt: formatPrompt(a), attributes: a, category });
  }
  return out;
}

/**
 * Feedback prompts: every prompt about MAIN_OBJECT except held-out pairs.
 * Defaults give 4 count, 7 color, 5 background and 156 combination prompts (172).
 */
export function seenPrompts(opts: PromptSetOptions = {}): PromptEntry[] {
  return entries(allAttributes([MAIN_OBJECT]).filter((a) => !usesHeldOutCombination(a)), opts);
}

/**
 * Test-only prompts: every prompt about a held-out object, plus the main
 * object's prompts that use a held-out color/background pair (tagged
 * 'combination').
 */
export function unseenPrompts(opts: PromptSetOptions = {}): PromptEntry[] {
  const list = [
    ...allAttributes(HELD_OUT_OBJECTS),
    ...allAttributes([MAIN_OBJECT]).filter(usesHeldOutCombination),
  ];
  return entries(list, opts);
}

/**
 * At most `perCategory` prompts per category of `among`, a seeded shuffle of
 * each category's (the same `seed` gives the same ones): evaluation prompts
 * drawn only from those that got feedback.
 */
export function samplePerCategory(among: readonly PromptEntry[], perCategory: number, seed: string): PromptEntry[] {
  const rng = new Rng(seed);
  return CATEGORIES.flatMap((c) => rng.fork(c).shuffle(among.filter((p) => p.category === c)).slice(0, perCategory));
}

/** A random prompt of a category (uniform over its attribute choices). */
export function sampleAttributes(rng: Rng, category: Category, objects: readonly ObjectName[] = OBJECTS): Attributes {
  const object = rng.pick(objects);
  switch (category) {
    case 'count':
      return { count: rng.int(1, MAX_COUNT), object };
    case 'color':
      return { count: 1, color: rng.pick(COLORS), object };
    case 'background':
      return { count: 1, object, background: rng.pick(BACKGROUNDS) };
    case 'combination': {
      for (;;) {
        const a: Attributes = { count: rng.bernoulli(0.5) ? rng.int(2, MAX_COUNT) : 1, object };
        if (rng.bernoulli(0.7)) a.color = rng.pick(COLORS);
        if (rng.bernoulli(0.7)) a.background = rng.pick(BACKGROUNDS);
        if (categoryOf(a) === 'combination') return a;
      }
    }
  }
}
