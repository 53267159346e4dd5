/**
 * The prompt grammar: `<count> [<color>] <object>[s] [<background phrase>]`.
 *
 *   "two circles", "a green square", "a triangle in the forest",
 *   "three blue circles on the moon", "one star"
 *
 * `parsePrompt` is strict (unknown words and wrong plurals are errors naming
 * the word and what is allowed); `formatPrompt` gives the canonical text and
 * `parsePrompt(formatPrompt(a))` equals `a`.
 */
import {
  BACKGROUND_ALIASES, BACKGROUNDS, Background, Color, COLORS, COUNT_WORDS, ObjectName, OBJECTS, PLACES, plural,
} from './vocab';

/** What a prompt asks for. `count` is 1..MAX_COUNT. */
export interface Attributes {
  count: number;
  color?: Color;
  object: ObjectName;
  background?: Background;
}

/** The paper's four prompt categories. */
export const CATEGORIES = ['count', 'color', 'background', 'combination'] as const;
export type Category = (typeof CATEGORIES)[number];

const ONE_WORDS = ['a', 'an', 'one'];

function fail(message: string): never {
  throw new Error(message);
}

/** Parse a prompt (case-insensitive, surrounding spaces and a final period ignored). */
export function parsePrompt(text: string): Attributes {
  const clean = text.trim().toLowerCase().replace(/\.$/, '').replace(/\s+/g, ' ');
  if (clean === '') fail('empty prompt; expected "<count> [<color>] <object>[s] [<background>]", e.g. "two red circles in the forest"');
  let rest = clean;
  let background: Background | undefined;
  const phrases: Array<[string, Background]> = [
    ...BACKGROUNDS.map((b) => [PLACES[b].phrase, b] as [string, Background]),
    ...Object.entries(BACKGROUND_ALIASES),
  ];
  for (const [phrase, place] of phrases) {
    if (rest.endsWith(' ' + phrase)) {
      background = place;
      rest = rest.slice(0, -phrase.length - 1);
      break;
    }
  }
  const words = rest.split(' ');
  const countWord = words[0];
  let count: number;
  if (ONE_WORDS.includes(countWord)) count = 1;
  else if ((COUNT_WORDS as readonly string[]).includes(countWord)) count = COUNT_WORDS.indexOf(countWord as never) + 1;
  else {
    const allowed = [...ONE_WORDS, ...COUNT_WORDS.slice(1)].join(', ');
    const isColor = (COLORS as string[]).includes(countWord);
    if (isColor || OBJECTS.some((o) => o === countWord || plural(o) === countWord)) {
      let example = '';
      for (const w of ['one', 'two']) {
        try {
          example = `, e.g. "${formatPrompt(parsePrompt(`${w} ${clean}`))}"`;
          break;
        } catch {
          /* the rest of the prompt is wrong too: no example */
        }
      }
      fail(`a count word is missing at the start of "${text}" (it starts with the ${isColor ? 'color' : 'object'} "${countWord}"); start with one of: ${allowed}${example}`);
    }
    fail(`unknown count word "${countWord}" in "${text}"; allowed: ${allowed}`);
  }
  if (words.length < 2) fail(`missing object in "${text}"; allowed objects: ${OBJECTS.join(', ')}`);
  let color: Color | undefined;
  let i = 1;
  if (words.length > 2) {
    const w = words[1];
    if (!(COLORS as string[]).includes(w)) {
      const isObjectWord = OBJECTS.some((o) => o === w || plural(o) === w);
      if (isObjectWord) {
        const tail = words.slice(2).join(' ');
        fail(`unknown background phrase "${tail}" in "${text}"; allowed: ${BACKGROUNDS.map((b) => PLACES[b].phrase).join(', ')}`);
      }
      fail(`unknown color "${w}" in "${text}"; allowed colors: ${COLORS.join(', ')}`);
    }
    color = w as Color;
    i = 2;
  }
  if (words.length > i + 1) {
    const tail = words.slice(i + 1).join(' ');
    const places: string[] = BACKGROUNDS.map((b) => PLACES[b].phrase);
    // Two of one attribute read as a background that is not one: named for what they are.
    if (places.includes(tail)) fail(`two places in "${text}" ("${tail}" and the one after it): a prompt names at most one; allowed: ${places.join(', ')}`);
    if (color !== undefined && (COLORS as string[]).includes(words[i])) fail(`two colors in "${text}" ("${color}" and "${words[i]}"): a prompt names at most one; allowed colors: ${COLORS.join(', ')}`);
    fail(`unknown background phrase "${tail}" in "${text}"; allowed: ${places.join(', ')}`);
  }
  const noun = words[i];
  const object = OBJECTS.find((o) => o === noun || plural(o) === noun);
  if (!object) {
    if ((COLORS as string[]).includes(noun)) fail(`missing object after color "${noun}" in "${text}"; allowed objects: ${OBJECTS.join(', ')}`);
    fail(`unknown object "${noun}" in "${text}"; allowed objects: ${OBJECTS.join(', ')} (plural: ${OBJECTS.map(plural).join(', ')})`);
  }
  const isPlural = noun === plural(object);
  if (count === 1 && isPlural) fail(`"${countWord}" needs the singular "${object}", not "${noun}", in "${text}"`);
  if (count > 1 && !isPlural) fail(`"${countWord}" needs the plural "${plural(object)}", not "${noun}", in "${text}"`);
  if (count === 1 && countWord !== 'one') {
    const article = /^[aeiou]/.test(color ?? object) ? 'an' : 'a';
    if (countWord !== article) fail(`"${countWord} ${color ?? object}" should be "${article} ${color ?? object}" in "${text}"`);
  }
  const out: Attributes = { count, object };
  if (color) out.color = color;
  if (background) out.background = background;
  return out;
}

/** The canonical prompt for some attributes ("a"/"an" for one, plural otherwise). */
export function formatPrompt(a: Attributes): string {
  if (!Number.isInteger(a.count) || a.count < 1 || a.count > COUNT_WORDS.length) {
    fail(`count ${a.count} out of range; allowed: 1..${COUNT_WORDS.length}`);
  }
  if (!OBJECTS.includes(a.object)) fail(`unknown object "${a.object}"; allowed: ${OBJECTS.join(', ')}`);
  if (a.color !== undefined && !COLORS.includes(a.color)) fail(`unknown color "${a.color}"; allowed: ${COLORS.join(', ')}`);
  if (a.background !== undefined && !BACKGROUNDS.includes(a.background)) {
    fail(`unknown background "${a.background}"; allowed: ${BACKGROUNDS.join(', ')}`);
  }
  const first = a.color ?? a.object;
  const countWord = a.count === 1 ? (/^[aeiou]/.test(first) ? 'an' : 'a') : COUNT_WORDS[a.count - 1];
  const parts = [countWord];
  if (a.color) parts.push(a.color);
  parts.push(a.count === 1 ? a.object : plural(a.object));
  if (a.background) parts.push(PLACES[a.background].phrase);
  return parts.join(' ');
}

/**
 * The paper's category of a prompt: a non-default count (2+), a color and a
 * background are its attributes; one of them names the category, two or more
 * make a "combination". A bare "a circle" counts as a count prompt ("One dog").
 */
export function categoryOf(a: Attributes): Category {
  const named: Category[] = [];
  if (a.count > 1) named.push('count');
  if (a.color) named.push('color');
  if (a.background) named.push('background');
  if (named.length === 0) return 'count';
  return named.length === 1 ? named[0] : 'combination';
}

/** Every prompt of the grammar for the given objects (canonical attributes). */
export function allAttributes(objects: readonly ObjectName[] = OBJECTS): Attributes[] {
  const out: Attributes[] = [];
  for (const object of objects)
    for (let count = 1; count <= COUNT_WORDS.length; count++)
      for (const color of [undefined, ...COLORS])
        for (const background of [undefined, ...BACKGROUNDS]) {
          const a: Attributes = { count, object };
          if (color) a.color = color;
          if (background) a.background = background;
          out.push(a);
        }
  return out;
}

/**
 * Attributes a caption may state: the object always, the rest optional
 * (pretraining captions drop words). A full prompt's attributes are one.
 */
export type CaptionAttributes = Partial<Omit<Attributes, 'object'>> & { object: ObjectName };

/**
 * Text of possibly incomplete attributes. With a count it is the canonical
 * prompt; without one the count word is left out ("red circles in the sea"),
 * the noun plural when `trueCount` > 1. Such captions are outside the
 * prompt grammar on purpose (LAION captions are not tidy either).
 */
export function formatCaption(a: CaptionAttributes, trueCount = 1): string {
  if (a.count !== undefined) return formatPrompt(a as Attributes);
  const parts: string[] = [];
  if (a.color) parts.push(a.color);
  parts.push(trueCount > 1 ? plural(a.object) : a.object);
  if (a.background) parts.push(PLACES[a.background].phrase);
  return parts.join(' ');
}
