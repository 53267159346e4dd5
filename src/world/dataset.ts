/**
 * A dataset on disk: a folder of PNGs plus `manifest.jsonl`, one JSON record
 * per image. Later stages (generate, collect, label) read and write it here.
 * - PNGs are written atomically (temp file + rename), then the record is
 *   appended as one line, so a crash leaves at worst an unlisted PNG.
 * - Reading validates every line; a bad line, a missing field or a missing
 *   PNG is an error naming the file and line.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { decodePng, encodePng, ImageLike } from './image';
import { CaptionAttributes } from './prompt';
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

/** Write `bytes` to `file` via a temp file and a rename (readers never see half a file). */
function writeFileAtomic(file: string, bytes: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
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
    fs.mkdirSync(dir, { recursive: true });
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
 * Read and validate `dir/manifest.jsonl` (blank lines allowed). Throws
 * `<file>:<line>: <problem>` on a bad JSON line, a bad or missing field, a
 * duplicate id or (with checkFiles, the default) a missing PNG.
 */
export function readManifest(dir: string, opts: { checkFiles?: boolean } = {}): ManifestRecord[] {
  const file = path.join(dir, MANIFEST);
  if (!fs.existsSync(file)) throw new Error(`${file}: no manifest (not a dataset folder?)`);
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
    if (seen.has(rec.id)) throw new Error(`${where}: duplicate id "${rec.id}"`);
    seen.add(rec.id);
    if (opts.checkFiles !== false && !fs.existsSync(path.join(dir, rec.file))) {
      throw new Error(`${where}: image file ${path.join(dir, rec.file)} is missing`);
    }
    out.push(rec);
  });
  return out;
}

/** Replace the whole manifest atomically (e.g. after adding labels to extras). */
export function writeManifest(dir: string, records: readonly ManifestRecord[]): void {
  for (const r of records) {
    const p = RecordSchema.safeParse(r);
    if (!p.success) throw new Error(`record ${r.id}: ${issues(p.error)}`);
  }
  writeFileAtomic(path.join(dir, MANIFEST), records.map((r) => JSON.stringify(r) + '\n').join(''));
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
