/**
 * Renders beside samples: for each prompt, the renderer's image (what the
 * world draws) above the model's sample, so a person can see whether the model
 * draws flat fills and clean edges like the world, and where it misses an
 * attribute.
 */
import { generateImages, SamplerConfig, TextToImage } from '../models';
import { ImageLike, judge, parsePrompt, renderPrompt, seenPrompts, tileImages, unseenPrompts } from '../world';

export interface RendersBesideSamples {
  /** Rows of `columns` images: renders, then the samples of the same prompts, and so on. */
  grid: ImageLike;
  prompts: string[];
  /** The judge's verdict on each sample ('+' aligned, '-' not), in prompt order. */
  verdicts: string[];
}

/**
 * Render and sample each prompt once (render seed `${seed}/render/${i}`, sample seed `${seed}/sample/${i}`),
 * and tile them: `columns` prompts per row pair, upscaled `scale` times with sharp pixels.
 */
export async function rendersBesideSamples(
  model: TextToImage,
  sampler: SamplerConfig,
  prompts: readonly string[],
  opts: { seed?: number; columns?: number; scale?: number } = {},
): Promise<RendersBesideSamples> {
  const seed = opts.seed ?? 0;
  const columns = Math.min(opts.columns ?? 8, prompts.length);
  const attrs = prompts.map((p) => parsePrompt(p));
  const renders = attrs.map((a, i) => renderPrompt(a, `${seed}/render/${i}`).image);
  const samples = await generateImages(model, prompts, { ...sampler, seed: prompts.map((_, i) => `${seed}/sample/${i}`) });
  const tiles: ImageLike[] = [];
  for (let r = 0; r < prompts.length; r += columns) {
    const row = (imgs: ImageLike[]) => {
      for (let c = 0; c < columns; c++) tiles.push(imgs[r + c] ?? blank(imgs[0]));
    };
    row(renders);
    row(samples);
  }
  return {
    grid: tileImages(tiles, { columns, scale: opts.scale ?? 4 }),
    prompts: [...prompts],
    verdicts: samples.map((img, i) => (judge(attrs[i], img).aligned ? '+' : '-')),
  };
}

function blank(like: ImageLike): ImageLike {
  return { width: like.width, height: like.height, data: new Uint8Array(like.data.length).fill(255) };
}

/** Prompts of the shipped renders-vs-samples grid: two per category, seen (first row pair) then unseen. */
export function comparisonPrompts(): string[] {
  const two = { count: 2, color: 2, background: 2, combination: 2 };
  return [...seenPrompts({ perCategory: two, seed: 5 }), ...unseenPrompts({ perCategory: two, seed: 5 })].map((p) => p.prompt);
}
