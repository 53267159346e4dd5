/**
 * The labelling rubric: what a rater should call good, stated as the judge
 * (world/judge.ts) decides it, with example renders made by the world's own
 * renderer (never checked-in pictures) and color swatches from the
 * vocabulary's RGB values. The labelling app shows it beside every image.
 *
 * Example names (the app fetches `/rubric/<name>.png`):
 *   shape-<object>      one object of that shape, drawn with the renderer's mask, centred;
 *   not-<kind>          a hard negative (hardNegatives.ts) the judge calls
 *                       "no recognisable shape": an oval, a blob, two shapes merged...;
 *   place-<place>       a circle on that place's texture ('plain' = no place named).
 */
import { Rng } from '../engine/random';
import { HARD_NEGATIVE_KINDS, HardNegativeKind, renderHardNegative } from '../world/hardNegatives';
import { encodePng, ImageLike } from '../world/image';
import { observe, UNKNOWN_OBJECT } from '../world/judge';
import { paintBackground } from '../world/render';
import { shapeMask } from '../world/shapes';
import { BACKGROUNDS, Color, COLORS, MAIN_OBJECT, OBJECT_COLORS, ObjectName, OBJECTS, Place, PLACES, RGB } from '../world/vocab';

/** Side of the example renders, px: the world's default canvas, like the images being labelled. */
export const RUBRIC_SIZE = 32;

/** What a hard negative shows, in a rater's words. */
const NOT_SHAPE_CAPTIONS: Record<HardNegativeKind, string> = {
  ellipse: 'an oval is not a circle',
  blob: 'a blob is no shape',
  deformed: 'a bent or sheared shape is no shape',
  merged: 'two shapes touching are one thing, and no shape',
  partial: 'a shape cut off (by a line or the edge) is no shape',
  ragged: 'a frayed shape is no shape',
};

/** Colors of the shape and of the place examples (any object color would do; red stands out on every place). */
const EXAMPLE_COLOR: Color = 'blue';
const PLACE_EXAMPLE_COLOR: Color = 'red';

export interface RubricRule {
  attribute: 'count' | 'shape' | 'color' | 'place';
  text: string;
}

export interface Rubric {
  /** Side of every example image, px. */
  size: number;
  /** One rule per attribute; an image is good when every attribute the prompt names holds. */
  rules: RubricRule[];
  summary: string;
  shapes: Array<{ object: ObjectName; example: string }>;
  notShapes: Array<{ kind: HardNegativeKind; caption: string; example: string }>;
  colors: Array<{ color: Color; rgb: RGB; hex: string }>;
  places: Array<{ place: Place; phrase: string | null; palette: string[]; example: string }>;
}

const hex = (c: RGB): string => '#' + c.map((v) => v.toString(16).padStart(2, '0')).join('');

/** The rubric as data; `example` fields are names for `rubricImage`. */
export function rubric(): Rubric {
  return {
    size: RUBRIC_SIZE,
    summary: 'Good: the image shows exactly what the prompt says. Bad: any one thing is wrong. Skip: you cannot tell.',
    rules: [
      {
        attribute: 'count',
        text: 'Count every separate thing drawn in one of the colors below, shape or not (the place\'s own texture, like the moon\'s craters, is background); specks smaller than about 1% of the image are noise. "a" and "one" mean exactly one.',
      },
      {
        attribute: 'shape',
        text: `Every thing must be the named shape, drawn whole. ${OBJECTS.length} shapes exist; anything else (below) is no shape, even if it looks close.`,
      },
      {
        attribute: 'color',
        text: `Every thing must be the named color: a shade counts as the nearest of the ${COLORS.length} swatches (purplish blue is blue if it is nearer blue). When the prompt names no color, any color is fine.`,
      },
      {
        attribute: 'place',
        text: 'The background must be the named place. When the prompt names no place, any background is fine.',
      },
    ],
    shapes: OBJECTS.map((object) => ({ object, example: `shape-${object}` })),
    notShapes: HARD_NEGATIVE_KINDS.map((kind) => ({ kind, caption: NOT_SHAPE_CAPTIONS[kind], example: `not-${kind}` })),
    colors: COLORS.map((color) => ({ color, rgb: OBJECT_COLORS[color], hex: hex(OBJECT_COLORS[color]) })),
    places: [...BACKGROUNDS, 'plain' as const].map((place) => ({
      place,
      phrase: PLACES[place].phrase,
      palette: (PLACES[place].palette as readonly RGB[]).map(hex),
      example: `place-${place}`,
    })),
  };
}

/**
 * The first seed (0, 1, ...) whose hard negative of `kind` the judge reads as
 * exactly one thing with no recognisable shape: an example that teaches what
 * the judge rejects (84-100% of each kind are, so a few seeds suffice).
 */
function notShapeExample(kind: HardNegativeKind): ImageLike {
  for (let seed = 0; seed < 200; seed++) {
    const n = renderHardNegative(kind, `rubric/${seed}`, { size: RUBRIC_SIZE });
    const seen = observe(n.image).objects;
    if (seen.length === 1 && seen[0].object === UNKNOWN_OBJECT) return n.image;
  }
  throw new Error(`no ${kind} hard negative in 200 seeds that the judge calls "no recognisable shape"`);
}

/** Render the example `name` (see the file comment); null for a name the rubric does not have. [size, size, 3] */
export function renderRubricExample(name: string): ImageLike | null {
  const [group, what] = name.split(/-(.*)/s, 2);
  if (group === 'shape' && (OBJECTS as readonly string[]).includes(what)) return centered('plain', what as ObjectName, EXAMPLE_COLOR, 0.56);
  if (group === 'not' && (HARD_NEGATIVE_KINDS as readonly string[]).includes(what)) return notShapeExample(what as HardNegativeKind);
  if (group === 'place' && Object.hasOwn(PLACES, what)) return centered(what as Place, MAIN_OBJECT, PLACE_EXAMPLE_COLOR, 0.4);
  return null;
}

/**
 * One object in the middle of a place, its box `side` of the canvas (the
 * renderer's sizes for one object are 0.4-0.56): the renderer's background
 * texture and shape masks, without its random layout. [size, size, 3]
 */
function centered(place: Place, object: ObjectName, color: Color, side: number): ImageLike {
  const img = paintBackground(place, RUBRIC_SIZE, new Rng(`rubric/${place}`));
  const s = Math.round(side * RUBRIC_SIZE);
  const o = Math.floor((RUBRIC_SIZE - s) / 2);
  const mask = shapeMask(object, s, s);
  for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) if (mask[y * s + x]) img.data.set(OBJECT_COLORS[color], ((o + y) * RUBRIC_SIZE + o + x) * 3);
  return img;
}

const cache = new Map<string, Buffer>();

/** PNG bytes of the example `name`, rendered once per process; null for an unknown name. */
export function rubricImage(name: string): Buffer | null {
  let png = cache.get(name);
  if (!png) {
    const img = renderRubricExample(name);
    if (!img) return null;
    cache.set(name, (png = encodePng(img)));
  }
  return png;
}
