/**
 * Export and import of the label history: raw per-rater rows, retractions
 * included, as JSONL (one object a line) or CSV (RFC 4180, header line).
 * Both carry the same columns:
 *   seq, image_id, prompt, category, image_sha, rater, rater_kind, label, time, retracts, request_id
 * prompt and category come from the dataset's manifest, image_sha is the
 * first 16 hex digits of the sha256 of the image's PNG (all three empty, or
 * null in JSONL, for an image the dataset does not list). Importing checks
 * both against the dataset: two datasets collected with the same prompts
 * share image ids and prompts, and only the PNG tells their images apart.
 * Exports of older kits, without them, still import. Reading validates
 * every row; a problem is an error `<file>:<line>: ...`.
 */
import * as fs from 'node:fs';
import { z } from 'zod';
import { writeFileAtomic } from '../engine/checkpoint';
import { imageFileSha, ManifestRecord } from '../world/dataset';
import { Attributes, categoryOf } from '../world/prompt';
import { checkRaterName, checkRequestId, LabelRow, LabelStore, retractionProblem } from './store';

export type ExportFormat = 'jsonl' | 'csv';
export const COLUMNS = ['seq', 'image_id', 'prompt', 'category', 'image_sha', 'rater', 'rater_kind', 'label', 'time', 'retracts', 'request_id'] as const;
/** The columns of exports before image_sha was added (2026-12-06; still read). */
export const COLUMNS_WITHOUT_SHA: readonly string[] = COLUMNS.filter((c) => c !== 'image_sha');
/** The columns of exports before prompt and category were added (still read). */
export const OLD_COLUMNS = ['seq', 'image_id', 'rater', 'rater_kind', 'label', 'time', 'retracts', 'request_id'] as const;

/** What an export says of each image besides its id: its prompt, the prompt's category and (given the dataset's folder) its PNG's sha. */
export type ImageInfo = ReadonlyMap<string, { prompt: string; category: string; sha?: string }>;

/**
 * The prompt and category of every record of a dataset (the category as
 * collect recorded it, else from the attributes); with the dataset's folder
 * `dir`, each PNG's sha too (first 16 hex digits of its sha256; none for a
 * PNG that cannot be read).
 */
export function imageInfo(records: readonly ManifestRecord[], dir?: string): ImageInfo {
  const sha = (r: ManifestRecord) => {
    try {
      return imageFileSha(dir!, r).slice(0, 16);
    } catch {
      return undefined;
    }
  };
  return new Map(
    records.map((r) => [r.id, { prompt: r.prompt, category: typeof r.extras?.category === 'string' ? r.extras.category : categoryOf(r.attributes as Attributes), ...(dir !== undefined ? { sha: sha(r) } : {}) }]),
  );
}

const RowSchema = z.strictObject({
  seq: z.number().int().min(1),
  image_id: z.string().min(1),
  prompt: z.string().nullable().optional(),
  category: z.string().nullable().optional(),
  image_sha: z.string().regex(/^[0-9a-f]{16}$/, '16 lowercase hex digits').nullable().optional(),
  // the names and ids the store and the labeller accept (an import is no way around them)
  rater: z.string().superRefine(storeCheck(checkRaterName)).transform((v) => v.normalize('NFC')),
  rater_kind: z.enum(['simulated', 'human']),
  label: z.enum(['good', 'bad', 'skip', 'retract']),
  time: z.iso.datetime({ offset: true }),
  retracts: z.number().int().min(1).nullable(),
  request_id: z.string().superRefine(storeCheck(checkRequestId)),
});

/** A zod refinement from one of the store's checks (its message as the issue's). */
export function storeCheck(check: (v: string) => unknown): (v: string, ctx: z.RefinementCtx) => void {
  return (v, ctx) => {
    try {
      check(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
    }
  };
}
type ExportRow = z.infer<typeof RowSchema>;

function toExport(r: LabelRow, images?: ImageInfo): ExportRow {
  const i = images?.get(r.imageId);
  return { seq: r.seq, image_id: r.imageId, prompt: i?.prompt ?? null, category: i?.category ?? null, image_sha: i?.sha ?? null, rater: r.rater, rater_kind: r.raterKind, label: r.label, time: r.time, retracts: r.retracts, request_id: r.requestId };
}

function fromExport(r: ExportRow): LabelRow {
  return { seq: r.seq, imageId: r.image_id, rater: r.rater, raterKind: r.rater_kind, label: r.label, time: r.time, retracts: r.retracts, requestId: r.request_id };
}

function csvCell(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The rows as text in `format`, with each image's prompt and category from `images` (the dataset's, see imageInfo). */
export function formatRows(rows: readonly LabelRow[], format: ExportFormat, images?: ImageInfo): string {
  if (format === 'jsonl') return rows.map((r) => JSON.stringify(toExport(r, images)) + '\n').join('');
  const lines = [COLUMNS.join(',')];
  for (const r of rows) {
    const e = toExport(r, images);
    lines.push(COLUMNS.map((c) => csvCell(e[c])).join(','));
  }
  return lines.join('\n') + '\n';
}

/** Format of a file by its extension (.jsonl or .csv), else an error. */
export function formatOf(file: string): ExportFormat {
  if (file.endsWith('.jsonl')) return 'jsonl';
  if (file.endsWith('.csv')) return 'csv';
  throw new Error(`${file}: label files must end in .jsonl or .csv`);
}

/** Write the store's whole history to `file` (format from its extension), atomically, with prompts and categories from `images`. Returns the row count. */
export function exportLabels(store: LabelStore, file: string, format: ExportFormat = formatOf(file), images?: ImageInfo): number {
  const rows = store.history();
  writeFileAtomic(file, formatRows(rows, format, images));
  return rows.length;
}

function issues(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Split CSV text into records, each with the 1-based line it starts on. */
function csvRecords(text: string, file: string): Array<{ line: number; cells: string[] }> {
  const out: Array<{ line: number; cells: string[] }> = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const start = line;
    const cells: string[] = [];
    let cell = '';
    for (;;) {
      if (text[i] === '"') {
        i++;
        for (;;) {
          if (i >= text.length) throw new Error(`${file}:${start}: unterminated quoted field`);
          if (text[i] === '"' && text[i + 1] === '"') (cell += '"'), (i += 2);
          else if (text[i] === '"') {
            i++;
            break;
          } else {
            if (text[i] === '\n') line++;
            cell += text[i++];
          }
        }
        if (i < text.length && !/[,\r\n]/.test(text[i])) throw new Error(`${file}:${line}: text after a closing quote`);
      } else {
        while (i < text.length && !/[,\r\n]/.test(text[i])) cell += text[i++];
      }
      cells.push(cell);
      cell = '';
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '\r') i++;
      if (text[i] === '\n') (i++, line++);
      break;
    }
    if (!(cells.length === 1 && cells[0] === '')) out.push({ line: start, cells });
  }
  return out;
}

/**
 * Parse an export (JSONL or CSV text, with or without the prompt and category
 * columns), validating every row. Errors name `<file>:<line>`. With `images`
 * (the dataset's), a row whose prompt differs from its image's is an error:
 * its labels belong to another dataset.
 */
export function parseRows(text: string, format: ExportFormat, file = '<labels>', images?: ImageInfo): LabelRow[] {
  const raw: Array<{ line: number; value: unknown }> = [];
  if (format === 'jsonl') {
    text.split('\n').forEach((l, k) => {
      if (l.trim() === '') return;
      try {
        raw.push({ line: k + 1, value: JSON.parse(l) });
      } catch {
        throw new Error(`${file}:${k + 1}: not valid JSON`);
      }
    });
  } else {
    const records = csvRecords(text, file);
    // An export ends with a line break; a last row without one may be cut short (and its request id with it).
    if (records.length > 1 && !/\r?\n$/.test(text)) throw new Error(`${file}:${records[records.length - 1].line}: the file ends inside this row (no line break after it): truncated? An export ends with a line break; add one if the row is whole (nothing was imported)`);
    if (records.length === 0) throw new Error(`${file}:1: empty CSV (expected the header ${COLUMNS.join(',')})`);
    const header = records[0].cells;
    const columns: readonly string[] | undefined = [COLUMNS, COLUMNS_WITHOUT_SHA, OLD_COLUMNS].find((cs) => header.join(',') === cs.join(','));
    if (!columns) throw new Error(`${file}:1: header must be ${COLUMNS.join(',')} (or, from older kits, ${COLUMNS_WITHOUT_SHA.join(',')} or ${OLD_COLUMNS.join(',')}), got ${header.join(',')}`);
    for (const { line, cells } of records.slice(1)) {
      if (cells.length !== columns.length) throw new Error(`${file}:${line}: expected ${columns.length} fields, got ${cells.length}`);
      const o: Record<string, unknown> = {};
      columns.forEach((c, j) => {
        const v = cells[j];
        o[c] = c === 'seq' || c === 'retracts' ? (v === '' ? null : /^\d+$/.test(v) ? Number(v) : v) : (c === 'prompt' || c === 'category' || c === 'image_sha') && v === '' ? null : v;
      });
      raw.push({ line, value: o });
    }
  }
  const seqs = new Set<number>();
  const ids = new Set<string>();
  // What each earlier row is, for its retractions: a rater takes back their own label of that image, once.
  const bySeq = new Map<number, { rater: string; image: string; label: string; line: number }>();
  const retracted = new Map<number, number>();
  const rows = raw.map(({ line, value }) => {
    const p = RowSchema.safeParse(value);
    if (!p.success) throw new Error(`${file}:${line}: ${issues(p.error)}`);
    const r = p.data;
    if ((r.label === 'retract') !== (r.retracts !== null)) throw new Error(`${file}:${line}: retracts must be set exactly when label is retract`);
    if (seqs.has(r.seq)) throw new Error(`${file}:${line}: duplicate seq ${r.seq}`);
    if (ids.has(r.request_id)) throw new Error(`${file}:${line}: duplicate request_id ${r.request_id}`);
    if (r.retracts !== null && !seqs.has(r.retracts)) throw new Error(`${file}:${line}: retracts seq ${r.retracts}, which no earlier row has`);
    if (r.retracts !== null) {
      const target = bySeq.get(r.retracts)!;
      const why = retractionProblem({ rater: r.rater, image: r.image_id }, target);
      if (why) throw new Error(`${file}:${line}: retracts seq ${r.retracts} (line ${target.line}), ${why}`);
      if (retracted.has(r.retracts)) throw new Error(`${file}:${line}: retracts seq ${r.retracts}, already retracted at line ${retracted.get(r.retracts)}`);
      retracted.set(r.retracts, line);
    }
    bySeq.set(r.seq, { rater: r.rater, image: r.image_id, label: r.label, line });
    const known = images?.get(r.image_id)?.prompt;
    if (known !== undefined && r.prompt != null && r.prompt !== known) {
      throw new Error(`${file}:${line}: image ${r.image_id} has prompt "${r.prompt}" here but "${known}" in the dataset: these labels belong to another dataset (nothing was imported)`);
    }
    const png = images?.get(r.image_id)?.sha;
    if (png !== undefined && r.image_sha != null && r.image_sha !== png) {
      throw new Error(
        `${file}:${line}: image ${r.image_id} here is not the dataset's image of that id (PNG sha ${r.image_sha} here, ${png} in the dataset; same id and prompt, so another dataset made with the same prompts, e.g. another collect seed): these labels belong to another dataset's images (nothing was imported)`,
      );
    }
    seqs.add(r.seq);
    ids.add(r.request_id);
    return fromExport(r);
  });
  // A file none of whose images the dataset lists is another dataset's (older exports carry no prompts to compare).
  // Some unknown ids beside known ones are kept: a copy of the same dataset with more images per prompt.
  if (images && rows.length > 0 && !rows.some((r) => images.has(r.imageId))) {
    throw new Error(`${file}: none of its ${new Set(rows.map((r) => r.imageId)).size} images is in the dataset: these labels belong to another dataset (nothing was imported)`);
  }
  return rows;
}

/**
 * Read an export file (format from its extension) into the store. Rows
 * already stored (same request id) are skipped; with `images` (the dataset's),
 * a file whose prompts differ from the dataset's is refused whole.
 */
export function importLabels(store: LabelStore, file: string, format: ExportFormat = formatOf(file), images?: ImageInfo): { added: number; skipped: number } {
  return store.importRows(readLabelFile(file, format, images));
}

/** Read and check an export file (see parseRows) without touching any store: so a bad file creates no store. */
export function readLabelFile(file: string, format: ExportFormat = formatOf(file), images?: ImageInfo): LabelRow[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new Error(`${file}: cannot read`);
  }
  return parseRows(text, format, file, images);
}
