/**
 * A dataset on disk: a folder of PNGs plus `manifest.jsonl`, one JSON record
 * per image. Later stages (generate, collect, label) read and write it here.
 * - PNGs are written atomically (temp file + rename), then the record is
 *   appended as one line, so a crash leaves at worst an unlisted PNG.
 * - Reading validates every line; a bad line, a missing field or a missing
 *   PNG is an error naming the file and line.
 * - `dataset.json` records what the images were made from (prompts,
 *   generator and its settings, seed); a writer that would add images made
 *   from anything else is refused before it writes (checkOrigin).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { makeDir, shownPath, writeFileAtomic as writeAtomic } from '../engine/files';
import { decodePng, encodePng, ImageLike } from './image';
import { Attributes, CaptionAttributes, parsePrompt } from './prompt';
import { BACKGROUNDS, COLORS, OBJECTS } from './vocab';

export const MANIFEST = 'manifest.jsonl';

const AttributesSchema = z.strictObject({
  count: z.number().int().min(1).optional(),
  color: z.enum(COLORS as [string, ...string[]]).optional(),
  object: z.enum(OBJECTS),
  background: z.enum(BACKGROUNDS as [string, ...string[]]).optional(),
});

/** One manifest line. */
export const RecordSchema = z.object({
  /** Unique in the dataset. */
  id: z.string().min(1),
  /** PNG path relative to the dataset folder. */
  file: z.string().min(1),
  /** Prompt or caption text. */
  prompt: z.string(),
  /** Its parsed attributes (captions may lack some). */
  attributes: AttributesSchema,
  /** Seed the image was made with. */
  seed: z.union([z.number(), z.string()]),
  /** Who made it: 'render', 'pretrain', a model name, ... */
  source: z.string().min(1),
  /** Anything else a stage wants to keep (labels, scene, category, ...). */
  extras: z.record(z.string(), z.unknown()).optional(),
});
export type ManifestRecord = Omit<z.infer<typeof RecordSchema>, 'attributes'> & { attributes: CaptionAttributes };

/** Dataset files: via a temp file and a rename, without fsync (thousands of small PNGs; a lost one is made again on resume). */
function writeFileAtomic(file: string, bytes: string | Uint8Array): void {
  writeAtomic(file, bytes, { durable: false });
}

/** Safe file name for a record id. */
function fileFor(id: string): string {
  return `${id.replace(/[^A-Za-z0-9._-]/g, '_')}.png`;
}

/** An on-disk dataset. `Dataset.open` reads an existing one, `Dataset.create` makes the folder. */
export class Dataset {
  private readonly ids = new Set<string>();

  private constructor(readonly dir: string) {}

  /** Make (or reuse) a dataset folder; existing records are kept. */
  static create(dir: string): Dataset {
    makeDir(dir);
    const manifest = path.join(dir, MANIFEST);
    if (!fs.existsSync(manifest)) writeFileAtomic(manifest, '');
    return Dataset.open(dir);
  }

  /** Open an existing dataset, validating its manifest. */
  static open(dir: string): Dataset {
    const ds = new Dataset(dir);
    for (const r of readManifest(dir)) ds.ids.add(r.id);
    return ds;
  }

  get manifestPath(): string {
    return path.join(this.dir, MANIFEST);
  }

  /** Add one image and its record (the record's `file` is chosen from its id). */
  add(record: Omit<ManifestRecord, 'file'>, image: ImageLike): ManifestRecord {
    if (this.ids.has(record.id)) throw new Error(`${this.manifestPath}: duplicate id "${record.id}"`);
    const full: ManifestRecord = { ...record, file: fileFor(record.id) };
    const parsed = RecordSchema.safeParse(full);
    if (!parsed.success) throw new Error(`record ${record.id}: ${issues(parsed.error)}`);
    checkPromptMatches(`record ${record.id}`, full); // what readManifest would refuse is never written
    writeFileAtomic(path.join(this.dir, full.file), encodePng(image));
    fs.appendFileSync(this.manifestPath, JSON.stringify(full) + '\n');
    this.ids.add(full.id);
    return full;
  }

  /** Every record, validated. */
  records(): ManifestRecord[] {
    return readManifest(this.dir);
  }

  /** The image of a record. */
  image(record: ManifestRecord): ImageLike {
    return readImage(this.dir, record);
  }
}

function issues(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/**
 * The manifest of the dataset folder `dir`, or an error that says what `dir`
 * is instead: a folder that does not exist, the manifest file itself (its
 * folder is meant), or a folder without one.
 */
export function manifestFile(dir: string): string {
  const file = path.join(dir, MANIFEST);
  if (fs.existsSync(file)) return file;
  const made = 'a dataset folder is made by collect, generate or render-set with --out';
  if (!fs.existsSync(dir)) throw new Error(`${dir}: no such folder (${made})`);
  if (!fs.statSync(dir).isDirectory()) {
    const hint = path.basename(dir) === MANIFEST ? `give its folder, ${path.dirname(dir)}` : made;
    throw new Error(`${dir} is a file, not a dataset folder (${hint})`);
  }
  throw new Error(`${file}: no manifest (not a dataset folder? ${made})`);
}

/**
 * Refuse a dataset folder named twice (by any path to it) among `folders`: its images would count twice.
 * `flag` is the option each came from, for the message.
 */
export function refuseRepeatedDatasets(folders: ReadonlyArray<{ dir: string; flag: string }>): void {
  const seen = new Map<string, string>();
  for (const { dir, flag } of folders) {
    const key = fs.existsSync(dir) ? fs.realpathSync(dir) : path.resolve(dir);
    const before = seen.get(key);
    if (before !== undefined) throw new Error(`${dir} is given twice (${before === flag ? `${flag} twice` : `${before} and ${flag}`}): each dataset counts once, or its images weigh double`);
    seen.set(key, flag);
  }
}

/**
 * Read and validate `dir/manifest.jsonl` (blank lines allowed). Throws
 * `<file>:<line>: <problem>` on a bad JSON line, a bad or missing field, a
 * duplicate id or (with checkFiles, the default) a missing PNG.
 */
export function readManifest(dir: string, opts: { checkFiles?: boolean } = {}): ManifestRecord[] {
  const file = manifestFile(dir);
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const out: ManifestRecord[] = [];
  const seen = new Set<string>();
  lines.forEach((line, k) => {
    if (line.trim() === '') return;
    const where = `${file}:${k + 1}`;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      const partial = k === lines.length - 1 && !text.endsWith('\n') ? ' (truncated last line?)' : '';
      throw new Error(`${where}: not valid JSON${partial}`);
    }
    const r = RecordSchema.safeParse(json);
    if (!r.success) throw new Error(`${where}: ${issues(r.error)}`);
    const rec = r.data as ManifestRecord;
    checkPromptMatches(where, rec);
    if (seen.has(rec.id)) throw new Error(`${where}: duplicate id "${rec.id}"`);
    seen.add(rec.id);
    if (opts.checkFiles !== false && !fs.existsSync(path.join(dir, rec.file))) {
      throw new Error(`${where}: image file ${path.join(dir, rec.file)} is missing`);
    }
    out.push(rec);
  });
  return out;
}

/**
 * A record whose attributes name a count holds a prompt of the grammar: the prompt must parse and
 * say what the attributes say (the judge reads the attributes, the reward the prompt; a hand-edited
 * line where they differ would be scored against two different prompts). Captions without a count
 * (pretraining-style) are outside the grammar and not checked.
 */
function checkPromptMatches(where: string, rec: ManifestRecord): void {
  if (rec.attributes.count === undefined) return;
  let said: Attributes;
  try {
    said = parsePrompt(rec.prompt);
  } catch (e) {
    throw new Error(`${where}: prompt ${JSON.stringify(rec.prompt)}: ${(e as Error).message}`);
  }
  for (const k of ['count', 'color', 'object', 'background'] as const) {
    if (said[k] !== rec.attributes[k]) {
      throw new Error(`${where}: prompt ${JSON.stringify(rec.prompt)} says ${k} ${said[k] ?? '(none)'}, but the record's attributes say ${k} ${rec.attributes[k] ?? '(none)'}: the prompt and its attributes must agree (edited by hand?)`);
    }
  }
}

/** Replace the whole manifest atomically (e.g. after adding labels to extras). */
export function writeManifest(dir: string, records: readonly ManifestRecord[]): void {
  for (const r of records) {
    const p = RecordSchema.safeParse(r);
    if (!p.success) throw new Error(`record ${r.id}: ${issues(p.error)}`);
  }
  writeFileAtomic(path.join(dir, MANIFEST), records.map((r) => JSON.stringify(r) + '\n').join(''));
}

/** The sha256 (hex) of a record's PNG file, as stored (what tells two datasets' images of one id apart). */
export function imageFileSha(dir: string, record: Pick<ManifestRecord, 'file'>): string {
  return createHash('sha256').update(fs.readFileSync(path.join(dir, record.file))).digest('hex');
}

/** Decode a record's PNG (errors name the file). */
export function readImage(dir: string, record: ManifestRecord): ImageLike {
  const file = path.join(dir, record.file);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    throw new Error(`${file}: image of record ${record.id} is missing`);
  }
  try {
    return decodePng(bytes);
  } catch (e) {
    throw new Error(`${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The file in a dataset folder that records what its images were made from. */
export const ORIGIN_FILE = 'dataset.json';

const PromptsOriginSchema = z.strictObject({
  /** Where the prompts came from: 'seen', 'unseen', a prompts file, or 'list' (given in code). */
  source: z.string().min(1),
  /** How many prompts. */
  count: z.number().int().min(0),
  /** sha256 of the prompts, one a line (see promptsOrigin). */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

/** What the images of a dataset were made from (DIR/dataset.json). */
export const DatasetOriginSchema = z.strictObject({
  prompts: PromptsOriginSchema,
  /**
   * The generator and its settings, e.g. { kind: 'model', weightsSha256,
   * sampler } or { kind: 'stand-in', errorRate }: a later writer must match
   * it exactly.
   */
  generator: z.record(z.string(), z.unknown()),
  /** Base seed of the per-image seeds. */
  seed: z.number().int(),
  /** Where the generator was loaded from (a model folder): for people, not compared. */
  location: z.string().optional(),
});
export type DatasetOrigin = z.infer<typeof DatasetOriginSchema>;

/** The prompts part of an origin: the source's name, the count and the sha256 of the prompts joined by newlines. */
export function promptsOrigin(source: string, prompts: readonly string[]): DatasetOrigin['prompts'] {
  return { source, count: prompts.length, sha256: createHash('sha256').update(prompts.join('\n')).digest('hex') };
}

/** The origin recorded in `dir`, or undefined when the folder has none (a new folder, or one made by an older kit). */
export function readOrigin(dir: string): DatasetOrigin | undefined {
  const file = path.join(dir, ORIGIN_FILE);
  if (!fs.existsSync(file)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    throw new Error(`${file}: not valid JSON (it records what the dataset was made from; restore it, or use a new folder)`);
  }
  const r = DatasetOriginSchema.safeParse(json);
  if (!r.success) throw new Error(`${file}: ${issues(r.error)}`);
  return r.data;
}

/** Write `dir/dataset.json` atomically. */
export function writeOrigin(dir: string, origin: DatasetOrigin): void {
  writeFileAtomic(path.join(dir, ORIGIN_FILE), JSON.stringify(DatasetOriginSchema.parse(origin), null, 2) + '\n');
}

/** Leaves of a JSON value as 'a.b.c' -> JSON text (long strings shortened, for one-line messages). */
function leaves(v: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) leaves(x, prefix ? `${prefix}.${k}` : k, out);
  } else {
    const s = JSON.stringify(v) ?? 'none';
    out.set(prefix, s.length > 24 ? `${s.slice(0, 13)}…"` : s);
  }
  return out;
}

/** The option that sets each compared origin setting (collect's and generate's), for refusals a person reads. */
const FLAG_OF: Record<string, string> = {
  seed: '--seed',
  'generator.errorRate': '--stand-in',
  'generator.weightsSha256': 'the model (--model), weights',
  'generator.sampler.guidanceScale': '--guidance',
  'generator.sampler.steps': '--steps',
  'generator.sampler.eta': '--eta',
  'generator.sampler.guidanceInterval': '--guidance-interval',
};

/** A compared setting's value as its option takes it: a guidance interval as lo:hi (all when none is set). */
function flagValue(key: string, json: string | undefined): string {
  if (key !== 'generator.sampler.guidanceInterval') return json ?? 'none';
  const v: unknown = json === undefined || json === 'none' ? null : JSON.parse(json);
  return Array.isArray(v) && v.length === 2 ? `${v[0]}:${v[1]}` : 'all';
}

/** A generator in words: "the stand-in (--stand-in 0.3)" or "the model data/base-model (weights 1a2b3c4d5e6f)". */
function generatorWords(o: Pick<DatasetOrigin, 'generator' | 'location'>): string {
  const g = o.generator as { kind?: unknown; errorRate?: unknown; weightsSha256?: unknown };
  if (g.kind === 'stand-in') return `the stand-in (--stand-in ${String(g.errorRate)})`;
  if (g.kind === 'model') {
    const where = o.location ? ` ${shownPath(o.location)}` : '';
    return `the model${where} (--model; weights ${String(g.weightsSha256).slice(0, 12)})`;
  }
  return `the generator ${JSON.stringify(o.generator).slice(0, 60)}`;
}

/**
 * Throws a one-line error unless images made from `origin` may join the
 * dataset in `dir`; reads only, so a refused run leaves the folder as it was.
 * - A folder without a dataset: anything may start it.
 * - With dataset.json: the generator and the seed must be equal, and this
 *   run's prompts (`prompts`, canonical texts in order) must start with the
 *   recorded ones (more prompts may follow; per-id checks are the writer's).
 * - A dataset of an older kit (a manifest, no dataset.json): every record's
 *   `source` must be `recordSource`.
 */
export function checkOrigin(dir: string, origin: DatasetOrigin, prompts: readonly string[], recordSource: string): void {
  const recorded = readOrigin(dir);
  const advice = 'use the same generator (--model or --stand-in, --guidance; for generate also --steps, --eta, --guidance-interval) and --seed as before, or a new --out (nothing was written)';
  if (!recorded) {
    const manifest = path.join(dir, MANIFEST);
    if (!fs.existsSync(manifest)) return;
    const sources = new Set<string>();
    for (const line of fs.readFileSync(manifest, 'utf8').split('\n')) {
      try {
        const s = (JSON.parse(line) as { source?: unknown }).source;
        if (typeof s === 'string') sources.add(s);
      } catch {
        /* blank or truncated line: the writer repairs or reports it */
      }
    }
    const other = [...sources].filter((s) => s !== recordSource);
    if (other.length) {
      // A model is named by the path given, relative to the folder its run was started from: the same model named
      // from another folder reads as another (the message said it was another generator).
      const tail = (a: string, b: string) => a.endsWith(`/${b.replace(/^(\.\.?\/)+/, '')}`);
      const paths = other.every((s) => tail(s, recordSource) || tail(recordSource, s));
      const note = paths ? ` (a model's path as given, from the folder its run was started in: this older kit's dataset has no ${ORIGIN_FILE} to say more; the same model from another folder reads as another, so run from that folder)` : '';
      throw new Error(`${dir}: its images were made by ${other.map((s) => `"${s}"`).join(', ')}, and this run makes images with "${recordSource}"${note}: ${advice}`);
    }
    return;
  }
  const was = leaves({ generator: recorded.generator, seed: recorded.seed });
  const now = leaves({ generator: origin.generator, seed: origin.seed });
  const keys = [...new Set([...was.keys(), ...now.keys()])].filter((k) => was.get(k) !== now.get(k));
  if (keys.length) {
    const kindChanged = keys.includes('generator.kind');
    const list = (m: Map<string, string>, o: Pick<DatasetOrigin, 'generator' | 'location'>) =>
      kindChanged ? generatorWords(o) : keys.map((k) => `${FLAG_OF[k] ?? k} ${flagValue(k, m.get(k))}`).join(', ');
    const seed = kindChanged && keys.includes('seed') ? (m: Map<string, string>) => `, --seed ${m.get('seed')}` : () => '';
    throw new Error(`${path.join(dir, ORIGIN_FILE)}: this dataset was made with ${list(was, recorded)}${seed(was)}; this run has ${list(now, origin)}${seed(now)}: ${advice}`);
  }
  const p = recorded.prompts;
  if (prompts.length < p.count || promptsOrigin(p.source, prompts.slice(0, p.count)).sha256 !== p.sha256) {
    throw new Error(
      `${path.join(dir, ORIGIN_FILE)}: this dataset was made for ${p.count} prompts from ${p.source}; this run's ${prompts.length} prompts (from ${origin.prompts.source}) do not start with them: use the same --prompts (more may follow them), or a new --out (nothing was written)`,
    );
  }
}
