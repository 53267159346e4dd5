/**
 * Perturbed prompts for the auxiliary prompt-classification loss (the paper's
 * Stage 2): for an image of prompt z, prompts z_2..z_N that change its count,
 * color or background words, so that the image is wrong for each of them.
 *
 * Which changes are safe (the image is certainly wrong for the new prompt):
 * - count: another count word (the noun's number follows);
 * - color: another color, only where the prompt names one (adding a color to
 *   "a circle" could name the color the image happens to have);
 * - background: another place, only where the prompt names one (an image of
 *   "a circle" may show any place: the model draws one in about a third of
 *   such images, the judge and the raters accept any, so "a circle on the
 *   moon" can be true of it. Until 2026-12-06 a place was added there too.)
 * Words are never dropped: a shorter prompt is still true of the image.
 * Every perturbation is a prompt of the grammar (formatPrompt) and differs
 * from the original. None is a test-only prompt: a change that would make a
 * held-out color/background pair is not made (until 2026-12-06 it was, and
 * the 20 unseen prompts of the main object were classes of the auxiliary
 * loss, so the reward had trained on the prompts its "new combination" rows
 * test).
 */
import { Rng } from '../engine/random';
import { Attributes, formatPrompt } from '../world/prompt';
import { usesHeldOutCombination } from '../world/promptSets';
import { BACKGROUNDS, COLORS, MAX_COUNT } from '../world/vocab';

/** The attributes a perturbation may change. */
export const PERTURBED_ATTRIBUTES = ['count', 'color', 'background'] as const;
export type PerturbedAttribute = (typeof PERTURBED_ATTRIBUTES)[number];

export interface Perturbation {
  prompt: string;
  attributes: Attributes;
  /** What differs from the original, in PERTURBED_ATTRIBUTES order. */
  changed: PerturbedAttribute[];
}

/** Every value each attribute of `a` can be changed to (see the file comment). */
function alternatives(a: Attributes): Record<PerturbedAttribute, Array<Partial<Attributes>>> {
  return {
    count: Array.from({ length: MAX_COUNT }, (_, i) => i + 1).filter((c) => c !== a.count).map((count) => ({ count })),
    color: a.color === undefined ? [] : COLORS.filter((c) => c !== a.color).map((color) => ({ color })),
    background: a.background === undefined ? [] : BACKGROUNDS.filter((b) => b !== a.background).map((background) => ({ background })),
  };
}

/**
 * Every perturbation of `a` that changes exactly the attributes in `which`
 * (one, two or all three), in a fixed order (all of them: the reward's render check reads them;
 * training draws from `poolOf`'s, which leaves out the test-only ones).
 */
export function perturbationsOf(a: Attributes, which: readonly PerturbedAttribute[]): Perturbation[] {
  const alt = alternatives(a);
  let out: Array<Partial<Attributes>> = [{}];
  for (const key of which) out = out.flatMap((p) => alt[key].map((v) => ({ ...p, ...v })));
  const changed = PERTURBED_ATTRIBUTES.filter((k) => which.includes(k));
  return out.map((p) => {
    const attributes = { ...a, ...p };
    return { prompt: formatPrompt(attributes), attributes, changed };
  });
}

/**
 * The version of the rules training draws perturbed prompts by; a cache of results of models trained with
 * them (reproduce's reward claims) holds it, so that a change of the rules recomputes it. 3: none is one of
 * the run's own held-out prompts (2026-12-06); 2: none is a test-only prompt; 1: no place added where none is named.
 */
export const PERTURBATION_RULES = 3;

const pools = new Map<string, Perturbation[][]>();

/**
 * The perturbations training may draw for `a`, by how many attributes they change (1, 2, 3), memoised by
 * prompt: none is a test-only prompt (a held-out pair `a` does not have). perturbPrompt also leaves out
 * the run's own held-out prompts.
 */
function poolOf(a: Attributes): Perturbation[][] {
  const key = formatPrompt(a);
  let pool = pools.get(key);
  if (!pool) {
    const k = PERTURBED_ATTRIBUTES;
    // A held-out pair is kept only where it is `a`'s own (a's color and place): for a prompt outside the held-out
    // pairs (everything the kit trains on) that leaves the pool as it was, so PERTURBATION_RULES stays 3.
    const ownPair = (b: Attributes) => b.color === a.color && b.background === a.background;
    const trainable = (ps: Perturbation[]) => ps.filter((p) => !usesHeldOutCombination(p.attributes) || ownPair(p.attributes));
    pool = [
      trainable(k.flatMap((x) => perturbationsOf(a, [x]))),
      trainable([[k[0], k[1]], [k[0], k[2]], [k[1], k[2]]].flatMap((w) => perturbationsOf(a, w))),
      trainable(perturbationsOf(a, [...k])),
    ];
    if (pools.size > 4096) pools.clear();
    pools.set(key, pool);
  }
  return pool;
}

/** Whether `exclude` leaves some of the perturbations training may draw for `a` (else perturbPrompt draws them all). */
export function perturbationsLeft(a: Attributes, exclude: ReadonlySet<string>): boolean {
  return poolOf(a).some((level) => level.some((p) => !exclude.has(p.prompt)));
}

/**
 * `count` perturbed prompts of `a` for one training example, drawn from `rng`:
 * single-attribute changes first (in random order), then two-attribute
 * changes, then three, so the classes are as close to the true prompt as the
 * grammar allows. They are distinct while the grammar has enough of them
 * ("a circle" has 3 single changes, its counts, and no double ones; "a red
 * circle" 9 single and 18 double); beyond that they repeat,
 * drawn again from the whole pool. `exclude`: prompts training must not
 * see either, as a wrong prompt or otherwise (the reward's held-out prompts,
 * whose AUC is reported as that of prompts it was not trained on). Where it
 * leaves nothing (a prompt of count alone has three perturbations, its
 * other counts, and a 20% split holds out all three now and then: "three
 * circles" at seed 0), the whole pool is drawn, since a row needs its wrong
 * prompts; `perturbationsLeft` says whether that happens.
 */
export function perturbPrompt(a: Attributes, count: number, rng: Rng, exclude?: ReadonlySet<string>): Perturbation[] {
  if (!Number.isInteger(count) || count < 0) throw new Error(`perturbation count must be a non-negative integer, got ${count}`);
  const out: Perturbation[] = [];
  const levels = exclude?.size && perturbationsLeft(a, exclude) ? poolOf(a).map((level) => level.filter((p) => !exclude.has(p.prompt))) : poolOf(a);
  for (const level of levels) {
    if (out.length >= count) break;
    out.push(...rng.shuffle(level).slice(0, count - out.length));
  }
  const all = levels.flat();
  while (out.length < count) out.push(rng.pick(all));
  return out;
}
