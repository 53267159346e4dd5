/**
 * Collect images to label (the paper's Stage 1 data): N images per prompt
 * from a text-to-image model, into a dataset folder (PNGs + manifest.jsonl).
 *
 * Resumable: image k of prompt i has the id `p<i>-<k>` and the seed
 * seedFor(seed, i, k), so a rerun skips the ids already in the manifest and
 * makes exactly the missing ones. Work goes in fixed batches (jobs
 * [bB, (b+1)B) of the prompt-major job list); a batch that is partly done is
 * generated whole again and only its missing images are added, so every
 * image comes from the same batch as in an uninterrupted run. Dataset.add
 * writes each PNG atomically before appending its manifest line; a crash
 * inside that append leaves a truncated last line, which the next run drops.
 *
 * The folder's dataset.json records what its images are made from (prompts,
 * generator and settings, seed): a run from anything else is refused before
 * it writes or loads a model (prepareCollect), so two sources never mix.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../engine/random';
import { makeDir, withFolderLock } from '../engine/files';
import { processAlive } from '../engine/checkpoint';
import { checkOrigin, Dataset, DatasetOrigin, MANIFEST, promptsOrigin, readManifest, readOrigin, writeOrigin } from '../world/dataset';
import { ImageLike } from '../world/image';
import { Attributes, categoryOf, parsePrompt } from '../world/prompt';
import { readPromptsFile } from '../world/promptFile';
import { PromptEntry, seenPrompts, unseenPrompts } from '../world/promptSets';
import { renderPrompt } from '../world/render';
import { BACKGROUNDS, COLORS, MAX_COUNT, OBJECTS } from '../world/vocab';

/** What collect needs from a model: one image per (prompt, seed), same inputs give the same images. */
export type ImageGenerator = (prompts: string[], seeds: number[]) => Promise<ImageLike[]>;

export interface CollectOptions {
  /** Prompts to generate for, in order (their index i is part of each id). */
  prompts: readonly PromptEntry[];
  /** Images per prompt. */
  perPrompt: number;
  /** Dataset folder (created if needed; an existing one is resumed). */
  outDir: string;
  generate: ImageGenerator;
  /** Base seed of the per-image seeds. Default 0. */
  seed?: number;
  /** Images per generator call. Default DEFAULT_BATCH_SIZE (32). */
  batchSize?: number;
  /** The manifest's `source` field, e.g. the model folder. Default 'pretrain'. */
  source?: string;
  /**
   * What the images are made from, recorded in the folder's dataset.json and
   * checked against it (see checkOrigin). Default: the prompts as a 'list',
   * the generator named by `source`, and `seed`.
   */
  origin?: DatasetOrigin;
  /** Called after each batch with (images in the dataset, total). */
  onProgress?: (done: number, total: number) => void;
}

export interface CollectResult {
  total: number;
  /** Images made by this run. */
  generated: number;
  /** Images found already in the manifest. */
  existing: number;
}

/** Seed of image k of prompt i: a 31-bit integer from (seed, i, k). */
export function seedFor(seed: number, i: number, k: number): number {
  return new Rng(`collect/${seed}/${i}/${k}`).int(0, 2 ** 31 - 1);
}

/** Id of image k of prompt i. */
export function collectId(i: number, k: number): string {
  return `p${i}-${k}`;
}

/** Drop a truncated last manifest line (a crash mid-append); returns true when it did. */
export function repairManifestTail(dir: string): boolean {
  const file = path.join(dir, MANIFEST);
  if (!fs.existsSync(file)) return false;
  const text = fs.readFileSync(file, 'utf8');
  if (text === '' || text.endsWith('\n')) return false;
  const keep = text.slice(0, text.lastIndexOf('\n') + 1);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, keep);
  fs.renameSync(tmp, file);
  return true;
}

/** The origin collect records when given none: the prompts as a list, the generator named by its `source`. */
export function defaultOrigin(prompts: readonly PromptEntry[], source: string, seed: number): DatasetOrigin {
  return { prompts: promptsOrigin('list', prompts.map((p) => p.prompt)), generator: { source }, seed };
}

/** The origin of images from the stand-in generator (standInGenerator(errorRate)). */
export function standInOrigin(promptSource: string, prompts: readonly PromptEntry[], errorRate: number, seed: number): DatasetOrigin {
  return { prompts: promptsOrigin(promptSource, prompts.map((p) => p.prompt)), generator: { kind: 'stand-in', errorRate }, seed };
}

/** Parts of CollectOptions that decide where images go and what they are made from. */
export type CollectTarget = Pick<CollectOptions, 'prompts' | 'perPrompt' | 'outDir' | 'seed' | 'source' | 'origin'>;

/**
 * Check that this run may write into `outDir` before any work (no model
 * loaded, nothing written): the folder can be made, its dataset.json (or, for
 * an older dataset, its records' source) matches `origin`, and every id
 * already there has this run's prompt and seed. Each refusal is one line and
 * leaves the folder as it was.
 */
export function prepareCollect(opts: CollectTarget): void {
  const { prompts, perPrompt, outDir } = opts;
  const seed = opts.seed ?? 0;
  const source = opts.source ?? 'pretrain';
  if (!Number.isSafeInteger(perPrompt) || perPrompt < 1) throw new Error(`perPrompt must be a positive integer, got ${perPrompt}`);
  if (prompts.length === 0) throw new Error('collect: no prompts');
  if (fs.existsSync(outDir) && !fs.statSync(outDir).isDirectory()) throw new Error(`${outDir} exists and is not a folder (pick another --out)`);
  if (fs.existsSync(outDir) && !fs.existsSync(path.join(outDir, MANIFEST)) && fs.readdirSync(outDir).some((f) => !f.startsWith('.'))) {
    throw new Error(`${outDir} holds files but no dataset (${MANIFEST}): pick a new or empty --out, or a dataset's folder to resume it`);
  }
  const existing = new Map<string, { prompt: string; seed: number | string }>();
  if (fs.existsSync(path.join(outDir, MANIFEST))) {
    const text = fs.readFileSync(path.join(outDir, MANIFEST), 'utf8');
    const complete = text === '' || text.endsWith('\n') ? text : text.slice(0, text.lastIndexOf('\n') + 1); // a truncated last line is dropped on resume
    complete.split('\n').forEach((line, k) => {
      if (line.trim() === '') return;
      let r: { id?: unknown; prompt?: unknown; seed?: unknown };
      try {
        r = JSON.parse(line);
      } catch {
        throw new Error(`${path.join(outDir, MANIFEST)}:${k + 1}: not valid JSON`);
      }
      if (typeof r.id === 'string' && typeof r.prompt === 'string' && (typeof r.seed === 'number' || typeof r.seed === 'string')) existing.set(r.id, { prompt: r.prompt, seed: r.seed });
    });
  }
  for (let i = 0; i < prompts.length; i++)
    for (let k = 0; k < perPrompt; k++) {
      const id = collectId(i, k);
      const r = existing.get(id);
      const s = seedFor(seed, i, k);
      if (r && (r.prompt !== prompts[i].prompt || r.seed !== s)) {
        throw new Error(`${path.join(outDir, MANIFEST)}: ${id} has prompt "${r.prompt}" and seed ${r.seed}, but this run makes "${prompts[i].prompt}" with seed ${s}: use the same --prompts and --seed as before, or a new --out`);
      }
    }
  checkOrigin(outDir, opts.origin ?? defaultOrigin(prompts, source, seed), prompts.map((p) => p.prompt), source);
  makeDir(outDir);
}

/** Images per generator call unless `batchSize` says otherwise (the CLI's --batch-size default too). */
export const DEFAULT_BATCH_SIZE = 32;

/** The lock a collect holds in its folder: two at once each appended every image (duplicate ids: a dataset no command reads). */
export const COLLECT_LOCK = '.collect.lock';

/** Generate the missing images of the job list into `outDir` (see the file comment); one collect per folder at a time. */
export async function collect(opts: CollectOptions): Promise<CollectResult> {
  const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
  prepareCollect(opts); // refusals (another dataset's folder, ...) before the lock file is made in it
  return withFolderLock(opts.outDir, COLLECT_LOCK, 'collect', () => collectLocked(opts, batchSize));
}

async function collectLocked(opts: CollectOptions, batchSize: number): Promise<CollectResult> {
  const { prompts, perPrompt, outDir } = opts;
  const seed = opts.seed ?? 0;
  const origin = opts.origin ?? defaultOrigin(prompts, opts.source ?? 'pretrain', seed);
  repairManifestTail(outDir);
  // A PNG a killed collect was writing (`p2-1.png.tmp-<pid>-...`): its writer is gone, and this collect holds the folder.
  if (fs.existsSync(outDir)) {
    for (const f of fs.readdirSync(outDir)) {
      const m = /\.tmp-(\d+)-/.exec(f);
      if (m && !processAlive(Number(m[1]))) fs.rmSync(path.join(outDir, f), { force: true });
    }
  }
  const ds = Dataset.create(outDir);
  const recorded = readOrigin(outDir);
  // Record the origin; a run whose prompts extend the recorded ones records its longer list.
  if (!recorded || recorded.prompts.count < origin.prompts.count) writeOrigin(outDir, origin);
  const existing = new Map(readManifest(outDir).map((r) => [r.id, r]));
  // A resumed dataset's new records name their generator as its first records do: the same one (its origin was
  // checked), whose path a resume from another working folder wrote another way (relative, then absolute).
  const source = existing.values().next().value?.source ?? opts.source ?? 'pretrain';
  const jobs = prompts.flatMap((p, i) => Array.from({ length: perPrompt }, (_, k) => ({ p, i, k, id: collectId(i, k), seed: seedFor(seed, i, k) })));
  let done = jobs.filter((j) => existing.has(j.id)).length;
  const result: CollectResult = { total: jobs.length, generated: 0, existing: done };
  for (let b = 0; b < jobs.length; b += batchSize) {
    const batch = jobs.slice(b, b + batchSize);
    if (batch.every((j) => existing.has(j.id))) continue;
    const images = await opts.generate(batch.map((j) => j.p.prompt), batch.map((j) => j.seed));
    if (images.length !== batch.length) throw new Error(`the generator returned ${images.length} images for ${batch.length} prompts`);
    batch.forEach((j, n) => {
      if (existing.has(j.id)) return;
      ds.add({ id: j.id, prompt: j.p.prompt, attributes: j.p.attributes, seed: j.seed, source, extras: { category: j.p.category, promptIndex: j.i, k: j.k } }, images[n]);
      result.generated++;
      done++;
    });
    opts.onProgress?.(done, jobs.length);
  }
  return result;
}

/**
 * A prompt set by name ('seen', 'unseen') or a text file with one prompt a
 * line (blank lines and lines starting with # are ignored; a bad prompt is an
 * error naming its line).
 */
export function loadPrompts(spec: string): PromptEntry[] {
  if (spec === 'seen') return seenPrompts();
  if (spec === 'unseen') return unseenPrompts();
  if (!fs.existsSync(spec) || !fs.statSync(spec).isFile()) {
    throw new Error(`--prompts must be seen, unseen or a readable text file, got "${spec}"`);
  }
  // The canonical form ("One Circle" -> "a circle"): what the models were trained on and the reward scores.
  return readPromptsFile(spec).map((p) => ({ prompt: p.prompt, attributes: p.attributes, category: categoryOf(p.attributes) }));
}

/** Change one attribute of `a` to another value (the mistake of the stand-in generator). */
function mistake(a: Attributes, rng: Rng): Attributes {
  const which = rng.pick(['count', 'color', 'object', 'background'] as const);
  if (which === 'count') return { ...a, count: rng.pick(Array.from({ length: MAX_COUNT }, (_, c) => c + 1).filter((c) => c !== a.count)) };
  if (which === 'color') return { ...a, color: rng.pick(COLORS.filter((c) => c !== a.color)) };
  if (which === 'object') return { ...a, object: rng.pick(OBJECTS.filter((o) => o !== a.object)) };
  return { ...a, background: rng.pick(BACKGROUNDS.filter((g) => g !== a.background)) };
}

/**
 * A stand-in for a trained model, for demos and tests: renders each prompt
 * with the world's renderer, but with probability `errorRate` gets one
 * attribute (count, color, object or background) wrong first.
 */
export function standInGenerator(errorRate: number): ImageGenerator {
  if (!(errorRate >= 0 && errorRate <= 1)) throw new Error(`stand-in error rate must be in [0, 1], got ${errorRate}`);
  return async (prompts, seeds) =>
    prompts.map((p, n) => {
      const rng = new Rng(`stand-in/${seeds[n]}`);
      let a = parsePrompt(p);
      if (rng.bernoulli(errorRate)) a = mistake(a, rng.fork('mistake'));
      return renderPrompt(a, seeds[n]).image;
    });
}
