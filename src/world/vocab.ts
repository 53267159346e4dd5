/**
 * The world's vocabulary: counts, colors, objects (shapes) and backgrounds
 * (places), with the RGB palettes the renderer paints and the judge reads.
 *
 * Palettes are chosen so that every object color is far (in RGB) from every
 * background color and from every other object color, and the colors of
 * different places are far from each other: `paletteMargins()` measures this
 * and a test pins it.
 */

export type RGB = readonly [number, number, number];

/** Count words, index + 1 = the number. "a"/"an" are accepted for one. */
export const COUNT_WORDS = ['one', 'two', 'three', 'four'] as const;
export type CountWord = (typeof COUNT_WORDS)[number];
export const MAX_COUNT = COUNT_WORDS.length;

/** Object colors: saturated, far from every background palette. */
export const OBJECT_COLORS = {
  red: [215, 25, 30],
  orange: [255, 135, 0],
  yellow: [250, 230, 20],
  green: [40, 200, 40],
  blue: [35, 70, 240],
  purple: [150, 30, 210],
  pink: [255, 110, 205],
} as const satisfies Record<string, RGB>;
export type Color = keyof typeof OBJECT_COLORS;
export const COLORS = Object.keys(OBJECT_COLORS) as Color[];

/**
 * The color a careless captioner calls each color by (its neighbour on the hue
 * wheel: red reads as orange, orange as yellow, ..., pink as red). A cycle, so
 * that every color word is misused for exactly one other color (corpus
 * `confuseColor`).
 */
export const COLOR_LOOKALIKE: Readonly<Record<Color, Color>> = {
  red: 'orange',
  orange: 'yellow',
  yellow: 'green',
  green: 'blue',
  blue: 'purple',
  purple: 'pink',
  pink: 'red',
};

/** Objects are flat shapes the judge can tell apart at 32x32 (singular nouns). */
export const OBJECTS = ['circle', 'square', 'triangle', 'star', 'cross', 'heart'] as const;
export type ObjectName = (typeof OBJECTS)[number];

/** The paper's "dog": the one object that seen (feedback) prompts are about. */
export const MAIN_OBJECT: ObjectName = 'circle';

/**
 * Places. `phrase` is the prompt's background phrase; `palette` the colors its
 * procedural texture uses. 'plain' is the neutral background painted when a
 * prompt names none; it has no phrase and cannot be asked for.
 */
export const PLACES = {
  forest: { phrase: 'in the forest', palette: [[20, 70, 30], [55, 95, 20], [70, 50, 25]] },
  city: { phrase: 'in the city', palette: [[95, 100, 115], [140, 140, 150], [60, 60, 70]] },
  moon: { phrase: 'on the moon', palette: [[10, 10, 25], [190, 185, 175]] },
  sea: { phrase: 'in the sea', palette: [[15, 60, 110], [30, 120, 150]] },
  desert: { phrase: 'in the desert', palette: [[215, 185, 135], [175, 135, 85]] },
  plain: { phrase: null, palette: [[250, 250, 250]] },
} as const satisfies Record<string, { phrase: string | null; palette: readonly RGB[] }>;
export type Place = keyof typeof PLACES;
/** Places a prompt can name (all but 'plain'). */
export const BACKGROUNDS = (Object.keys(PLACES) as Place[]).filter((p) => PLACES[p].phrase !== null) as Exclude<Place, 'plain'>[];
export type Background = Exclude<Place, 'plain'>;

/**
 * The place a careless captioner names instead of each place (a cycle, like
 * COLOR_LOOKALIKE: the dark moon is called the sea, the sea the forest, ...;
 * corpus `confuseBackground`).
 */
export const PLACE_LOOKALIKE: Readonly<Record<Background, Background>> = {
  moon: 'sea',
  sea: 'forest',
  forest: 'city',
  city: 'desert',
  desert: 'moon',
};

/** Extra phrasings the parser accepts for a place (the formatter uses `phrase`). */
export const BACKGROUND_ALIASES: Record<string, Background> = {
  'at sea': 'sea',
  'in the ocean': 'sea',
  'on the moon': 'moon',
};

/** Plural of an object noun. */
export function plural(object: ObjectName): string {
  return object === 'cross' ? 'crosses' : `${object}s`;
}

/** Every (color, background) pair, as a `color|background` key. */
export function comboKey(color: Color, background: Background): string {
  return `${color}|${background}`;
}

/**
 * Attribute combinations kept out of every feedback (seen) prompt, so the
 * unseen set can test generalisation to new combinations (paper: "unseen
 * prompts"). Chosen so every color and every background keeps seen pairs.
 */
export const HELD_OUT_COMBINATIONS: ReadonlyArray<{ color: Color; background: Background }> = [
  { color: 'purple', background: 'moon' },
  { color: 'yellow', background: 'sea' },
  { color: 'red', background: 'forest' },
  { color: 'pink', background: 'desert' },
  { color: 'blue', background: 'city' },
];

/** Objects never used in feedback prompts: every object but the main one. */
export const HELD_OUT_OBJECTS: readonly ObjectName[] = OBJECTS.filter((o) => o !== MAIN_OBJECT);

/** Euclidean RGB distance. */
export function rgbDistance(a: RGB, b: RGB): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

/** Smallest RGB distances between palette groups (what keeps the judge reliable). */
export function paletteMargins(): { objectObject: number; objectBackground: number; placePlace: number } {
  const objects = COLORS.map((c) => OBJECT_COLORS[c] as RGB);
  const places = (Object.keys(PLACES) as Place[]).map((p) => PLACES[p].palette as readonly RGB[]);
  let objectObject = Infinity;
  let objectBackground = Infinity;
  let placePlace = Infinity;
  for (let i = 0; i < objects.length; i++) {
    for (let j = i + 1; j < objects.length; j++) objectObject = Math.min(objectObject, rgbDistance(objects[i], objects[j]));
    for (const pal of places) for (const c of pal) objectBackground = Math.min(objectBackground, rgbDistance(objects[i], c));
  }
  for (let i = 0; i < places.length; i++)
    for (let j = i + 1; j < places.length; j++)
      for (const a of places[i]) for (const b of places[j]) placePlace = Math.min(placePlace, rgbDistance(a, b));
  return { objectObject, objectBackground, placePlace };
}

/** The vocabulary as printed by `t2i-align vocab --json`. */
export function vocabulary() {
  return {
    counts: [...COUNT_WORDS],
    colors: [...COLORS],
    objects: [...OBJECTS],
    backgrounds: BACKGROUNDS.map((b) => PLACES[b].phrase),
    mainObject: MAIN_OBJECT,
    heldOut: {
      objects: [...HELD_OUT_OBJECTS],
      combinations: HELD_OUT_COMBINATIONS.map((c) => ({ color: c.color, background: PLACES[c.background].phrase })),
    },
  };
}
