/**
 * The label store: every good / bad / skip a rater gives, in one SQLite file
 * (better-sqlite3, WAL mode), for the paper's Stage 1 feedback.
 *
 * - One row per act: (image, rater, label, time). Rows are never updated or
 *   deleted, so the history is the audit log. A changed mind is a new row.
 * - The *current* label of (image, rater) is its latest row (by the time it
 *   was given; rows of the same time by insertion order) that has not been
 *   retracted. By time, not by insertion, so that importing an older export
 *   (labels given before those stored) does not replace newer labels.
 * - Undo appends a row with label 'retract' whose `retracts` column names the
 *   row it takes back (chosen over deleting rows: deletes would lose the audit
 *   trail). Undoing twice takes back the two latest labels, like an editor.
 * - Every row carries a `request_id` (UNIQUE): a client sends one per request,
 *   so a retried POST finds its row instead of adding a second one.
 * - Several processes or connections may write at once: WAL lets readers run
 *   beside the one writer, `busy_timeout` makes a writer wait for the lock
 *   instead of failing, and each write is one `BEGIN IMMEDIATE` transaction.
 *   A write returns only after its COMMIT (synchronous=FULL), so a caller may
 *   acknowledge it: a killed process loses no returned label.
 * - The store remembers the prompt of each image of the dataset it labels
 *   (`image_prompts`, filled by `bindDataset`), so a store given for another
 *   dataset whose ids coincide (`--db`) is refused instead of mixing labels.
 *   A store made before that table existed is bound on its next use.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { makeDir } from '../engine/files';

export const LABELS = ['good', 'bad', 'skip'] as const;
export type StoredLabel = (typeof LABELS)[number];
export const RATER_KINDS = ['simulated', 'human'] as const;
export type RaterKind = (typeof RATER_KINDS)[number];
/** Default store file inside a dataset folder. */
export const STORE_FILE = 'labels.sqlite';

/** One row of the history. `label` is 'retract' for an undo, then `retracts` names the row taken back. */
export interface LabelRow {
  /** Insertion order, 1, 2, ... (the store's own key). */
  seq: number;
  imageId: string;
  rater: string;
  raterKind: RaterKind;
  label: StoredLabel | 'retract';
  /** ISO 8601 time the label was given. */
  time: string;
  /** seq of the row an undo retracts, else null. */
  retracts: number | null;
  /** Idempotency key: unique over the store. */
  requestId: string;
}

/** A label to add. `requestId` defaults to a fresh UUID (then a retry is not recognised). */
export interface NewLabel {
  imageId: string;
  rater: string;
  raterKind: RaterKind;
  label: StoredLabel;
  requestId?: string;
  time?: string;
}

/** What a write did: the row it stored, or (duplicate) the row an earlier request with the same id stored. */
export interface WriteResult {
  row: LabelRow;
  duplicate: boolean;
  /** A duplicate whose stored label differs from the one asked for (addMany with onConflict 'keep'; otherwise an error). */
  differs?: boolean;
}

/** A request id that was reused for a different label. */
export class ConflictError extends Error {}

const RATER_NAME = /^[\p{L}\p{N}][\p{L}\p{M}\p{N} _.@:'\u2019-]{0,63}$/u;
export const REQUEST_ID = /^[A-Za-z0-9_.:/-]{8,200}$/;
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

/** A value for an error message: JSON, a long string cut at 80 characters. */
const shown = (v: unknown): string => JSON.stringify(typeof v === 'string' && v.length > 80 ? `${v.slice(0, 80)}...` : v);

/**
 * The rater name `name` in Unicode's composed form (NFC: "José" typed either way is one rater);
 * throws unless it is 1-64 letters (with their accents and vowel signs), digits, spaces or
 * _ . @ : ' -, starting with a letter or digit.
 */
export function checkRaterName(name: unknown): string {
  const nfc = typeof name === 'string' ? name.normalize('NFC') : name;
  if (typeof nfc !== 'string' || !RATER_NAME.test(nfc) || nfc !== nfc.trim()) {
    throw new Error(`rater name must be 1-64 letters, digits, spaces or _ . @ : ' - (starting with a letter or digit), got ${shown(name)}`);
  }
  return nfc;
}

/** Throws unless `id` is a valid request id (8-200 of A-Z a-z 0-9 _ . : / -). */
export function checkRequestId(id: unknown): string {
  if (typeof id !== 'string' || !REQUEST_ID.test(id)) {
    throw new Error(`request_id must be 8-200 characters of A-Z a-z 0-9 _ . : / -, got ${shown(id)}`);
  }
  return id;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS labels (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  image_id   TEXT NOT NULL,
  rater      TEXT NOT NULL,
  rater_kind TEXT NOT NULL CHECK (rater_kind IN ('simulated', 'human')),
  label      TEXT NOT NULL CHECK (label IN ('good', 'bad', 'skip', 'retract')),
  time       TEXT NOT NULL,
  retracts   INTEGER REFERENCES labels(seq),
  request_id TEXT NOT NULL UNIQUE,
  CHECK ((label = 'retract') = (retracts IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS labels_image_rater ON labels (image_id, rater, seq);
CREATE INDEX IF NOT EXISTS labels_rater ON labels (rater, seq);
CREATE UNIQUE INDEX IF NOT EXISTS labels_retracts ON labels (retracts) WHERE retracts IS NOT NULL;
CREATE TABLE IF NOT EXISTS image_prompts (
  image_id TEXT PRIMARY KEY,
  prompt   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS empty_undos (
  request_id TEXT PRIMARY KEY,
  rater      TEXT NOT NULL,
  time       TEXT NOT NULL
);
`;

// Live rows: labels not taken back by an undo.
const LIVE = `SELECT * FROM labels l WHERE l.label != 'retract'
  AND NOT EXISTS (SELECT 1 FROM labels r WHERE r.retracts = l.seq)`;
// Latest first: by the time a label was given (julianday reads any ISO 8601
// offset), then by insertion.
const LATEST_FIRST = 'julianday(time) DESC, seq DESC';
// Current label of each (image, rater): its latest live row.
const CURRENT = `SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY image_id, rater ORDER BY ${LATEST_FIRST}) AS rn FROM (${LIVE})) WHERE rn = 1`;

interface DbRow {
  seq: number;
  image_id: string;
  rater: string;
  rater_kind: RaterKind;
  label: StoredLabel | 'retract';
  time: string;
  retracts: number | null;
  request_id: string;
}

function fromDb(r: DbRow): LabelRow {
  return { seq: r.seq, imageId: r.image_id, rater: r.rater, raterKind: r.rater_kind, label: r.label, time: r.time, retracts: r.retracts, requestId: r.request_id };
}

/** Options of `LabelStore.open`. */
export interface StoreOptions {
  /** How long a writer waits for another connection's lock, ms. Default 10000. */
  busyTimeoutMs?: number;
  /** Open read-only (the file must exist). */
  readonly?: boolean;
}

/**
 * Why a retraction by `by` of the label `target` is not one (a retraction, another rater's label, another
 * image's), or undefined where it is: a rater takes back their own label of that image.
 */
export function retractionProblem(by: { rater: string; image: string }, target: { rater: string; image: string; label: string }): string | undefined {
  if (target.label === 'retract') return 'which is itself a retraction: a retraction is taken back by labelling again';
  if (target.rater !== by.rater) return `which is ${target.rater}'s label, not ${by.rater}'s: a rater takes back only their own`;
  if (target.image !== by.image) return `which labels image ${target.image}, not ${by.image}`;
  return undefined;
}

/** True if this process may write `file` and its folder (where SQLite keeps the -wal and -shm files). */
function writable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.W_OK);
    fs.accessSync(path.dirname(path.resolve(file)), fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** A connection to a label store file. Open as many as you like, in as many processes. */
export class LabelStore {
  private constructor(readonly file: string, private readonly db: Database.Database, private readonly readOnly: boolean) {}

  /** Open (creating if needed) the store at `file` (':memory:' for a private in-memory store). */
  static open(file: string, opts: StoreOptions = {}): LabelStore {
    if (file !== ':memory:') {
      if (opts.readonly && !fs.existsSync(file)) throw new Error(`${file}: no label store`);
      makeDir(path.dirname(path.resolve(file)));
    }
    const fail = (e: unknown) => {
      const why = e instanceof Error ? e.message : String(e);
      const hint = file !== ':memory:' && fs.existsSync(file) && fs.statSync(file).isDirectory() ? 'it is a folder; --db names a file, e.g. labels.sqlite' : why;
      return new Error(`${file}: cannot open label store: ${hint}`);
    };
    let db: Database.Database;
    // A read-only SQLite connection to a WAL store makes its -wal and -shm files and cannot remove them: every reader
    // (export-labels, train-reward, finetune) left two files in the dataset. A reader that may write the folder opens
    // it read-write with writes refused (query_only), so the last connection to close removes them, as a writer's does.
    const trueReadonly = !!opts.readonly && !writable(file);
    try {
      db = new Database(file, { readonly: trueReadonly, fileMustExist: !!opts.readonly, timeout: opts.busyTimeoutMs ?? 10000 });
      if (opts.readonly && !trueReadonly) db.pragma('query_only = ON');
    } catch (e) {
      throw fail(e);
    }
    try {
      // Reading the schema reads the file: another kind of file fails here ("file is not a database"). Another
      // program's SQLite file (tables, none of them ours) is refused before the schema is added to it; a store
      // opened read-only must have its table already.
      const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((t) => t.name);
      if (!tables.includes('labels') && (tables.length > 0 || opts.readonly)) {
        throw new Error(`an SQLite file without a labels table${tables.length ? ` (tables ${tables.slice(0, 5).join(', ')})` : ''}: not a label store`);
      }
      if (!opts.readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = FULL');
        db.exec(SCHEMA);
      }
      db.pragma('foreign_keys = ON');
    } catch (e) {
      db.close();
      throw fail(e);
    }
    return new LabelStore(file, db, !!opts.readonly);
  }

  close(): void {
    this.db.close();
  }

  /**
   * A clock for labels given now, inside one write's transaction: the clock's time, or a millisecond after the
   * rater's latest row where the clock reads earlier (it was set back), so that a new label is still the latest.
   * Each rater's latest time is read once and then kept up to date by `wrote`, not asked of every row (a panel
   * writes thousands of labels in one call).
   */
  private clock(): { now(rater: string): string; wrote(rater: string, time: string): void } {
    const query = this.db.prepare<[string], { time: string }>(`SELECT time FROM labels WHERE rater = ? ORDER BY ${LATEST_FIRST} LIMIT 1`);
    const latest = new Map<string, number>();
    const latestOf = (rater: string) => {
      if (!latest.has(rater)) {
        const row = query.get(rater);
        latest.set(rater, row ? Date.parse(row.time) : -Infinity);
      }
      return latest.get(rater)!;
    };
    return {
      now: (rater) => new Date(Math.max(Date.now(), latestOf(rater) + 1)).toISOString(),
      wrote: (rater, time) => void latest.set(rater, Math.max(latestOf(rater), Date.parse(time))),
    };
  }

  /**
   * Store one label (one transaction, committed on return). A request id seen
   * before returns the earlier row with duplicate=true; the same id with a
   * different image, rater or label throws ConflictError.
   */
  add(label: NewLabel, opts: { ifUnlabelled?: boolean } = {}): WriteResult {
    return this.addMany([label], opts)[0];
  }

  /**
   * Store several labels in one transaction (all or none), in order. A request
   * id already stored for another label is a ConflictError, unless
   * `onConflict` is 'keep': then the stored label stays and the result says
   * `differs` (a simulated panel asked again after the judge changed).
   * `ifUnlabelled`: a new label on an image its rater already has a live
   * label on is a ConflictError (the labeller open in two tabs showed both
   * the same image); a retried request is still found as a duplicate.
   */
  addMany(labels: readonly NewLabel[], opts: { onConflict?: 'error' | 'keep'; ifUnlabelled?: boolean } = {}): WriteResult[] {
    const rows = labels.map((l) => {
      const rater = checkRaterName(l.rater);
      if (!(RATER_KINDS as readonly string[]).includes(l.raterKind)) throw new Error(`rater kind must be simulated or human, got ${JSON.stringify(l.raterKind)}`);
      if (!(LABELS as readonly string[]).includes(l.label)) throw new Error(`label must be good, bad or skip, got ${JSON.stringify(l.label)}`);
      if (typeof l.imageId !== 'string' || l.imageId === '') throw new Error('image id must be a non-empty string');
      if (l.time !== undefined && !(ISO_TIME.test(l.time) && Number.isFinite(Date.parse(l.time)))) throw new Error(`time must be an ISO 8601 date and time with an offset (e.g. 2026-12-06T09:30:00.000Z), got ${JSON.stringify(l.time)}`);
      return { ...l, rater, requestId: l.requestId === undefined ? randomUUID() : checkRequestId(l.requestId) };
    });
    const find = this.db.prepare<[string], DbRow>('SELECT * FROM labels WHERE request_id = ?');
    const insert = this.db.prepare(
      'INSERT INTO labels (image_id, rater, rater_kind, label, time, retracts, request_id) VALUES (?, ?, ?, ?, ?, NULL, ?) ON CONFLICT (request_id) DO NOTHING',
    );
    const emptyUndo = this.db.prepare<[string], { rater: string }>('SELECT rater FROM empty_undos WHERE request_id = ?');
    const live = this.db.prepare<[string, string], { seq: number }>(`SELECT seq FROM (${LIVE}) WHERE image_id = ? AND rater = ? LIMIT 1`);
    const added: LabelRow[] = [];
    const run = this.db.transaction(() => {
      const clock = this.clock();
      return rows.map((l): WriteResult => {
        if (emptyUndo.get(l.requestId)) throw new ConflictError(`request_id ${l.requestId} was already used for an undo; a new label needs a new request_id`);
        // Looked up before inserting: an insert that meets its request id does nothing but still uses up a row
        // number (AUTOINCREMENT), so every rerun of a panel left a gap of the store's size in the numbering.
        const stored = find.get(l.requestId);
        if (opts.ifUnlabelled && !stored && live.get(l.imageId, l.rater)) {
          throw new ConflictError(`${l.rater} already labelled image ${l.imageId} (in another tab?); it was not labelled again (undo it to change the label)`);
        }
        if (!stored) {
          insert.run(l.imageId, l.rater, l.raterKind, l.label, l.time ?? clock.now(l.rater), l.requestId);
          const row = fromDb(find.get(l.requestId)!);
          clock.wrote(row.rater, row.time);
          added.push(row);
          return { row, duplicate: false };
        }
        const row = fromDb(stored);
        if (row.imageId !== l.imageId || row.rater !== l.rater || row.label !== l.label) {
          if (opts.onConflict === 'keep' && row.imageId === l.imageId && row.rater === l.rater) return { row, duplicate: true, differs: true };
          // what the earlier request stored is not said: it may be another rater's label
          throw new ConflictError(`request_id ${l.requestId} was already used for a different label; a new label needs a new request_id`);
        }
        return { row, duplicate: true };
      });
    });
    const results = run.immediate();
    if (this.index) {
      for (const r of added) {
        if (!this.index.raters.has(r.imageId)) this.index.raters.set(r.imageId, new Set());
        this.index.raters.get(r.imageId)!.add(r.rater);
      }
    }
    return results;
  }

  /**
   * Undo `rater`'s latest live label (any image; latest as in `current`): append a 'retract' row for
   * it. Returns null when the rater has nothing left to undo (and remembers the request id, so that a
   * retry after the rater labels again still undoes nothing). Idempotent per request id like `add`.
   */
  undo(rater: string, requestId: string = randomUUID(), time?: string): WriteResult | null {
    rater = checkRaterName(rater);
    checkRequestId(requestId);
    const run = this.db.transaction((): WriteResult | null => {
      const prior = this.db.prepare<[string], DbRow>('SELECT * FROM labels WHERE request_id = ?').get(requestId);
      if (prior) {
        if (prior.label !== 'retract' || prior.rater !== rater) throw new ConflictError(`request_id ${requestId} was already used for something else`);
        return { row: fromDb(prior), duplicate: true };
      }
      const empty = this.db.prepare<[string], { rater: string }>('SELECT rater FROM empty_undos WHERE request_id = ?').get(requestId);
      if (empty) {
        if (empty.rater !== rater) throw new ConflictError(`request_id ${requestId} was already used for something else`);
        return null; // this request found nothing to undo the first time, and its retry does the same
      }
      const last = this.db.prepare<[string], DbRow>(`SELECT * FROM (${LIVE}) WHERE rater = ? ORDER BY ${LATEST_FIRST} LIMIT 1`).get(rater);
      if (!last) {
        this.db.prepare('INSERT INTO empty_undos (request_id, rater, time) VALUES (?, ?, ?)').run(requestId, rater, time ?? new Date().toISOString());
        return null;
      }
      const info = this.db
        .prepare('INSERT INTO labels (image_id, rater, rater_kind, label, time, retracts, request_id) VALUES (?, ?, ?, \'retract\', ?, ?, ?)')
        .run(last.image_id, rater, last.rater_kind, time ?? this.clock().now(rater), last.seq, requestId);
      return { row: fromDb(this.db.prepare<[number], DbRow>('SELECT * FROM labels WHERE seq = ?').get(Number(info.lastInsertRowid))!), duplicate: false };
    });
    const result = run.immediate();
    this.index = null;
    return result;
  }

  /**
   * Check that this store belongs to the dataset of `images` (image id -> its prompt, e.g. io's imageInfo) and remember
   * their prompts: an image the store knows under another prompt is an error naming it (the
   * store is another dataset's). A read-only store is checked, not written.
   */
  bindDataset(images: ReadonlyMap<string, { prompt: string }>, dataset: string): void {
    const has = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'image_prompts'").get();
    if (!has) return; // a read-only store of an older kit: nothing to check against
    const run = this.db.transaction(() => {
      for (const r of this.db.prepare<[], { image_id: string; prompt: string }>('SELECT image_id, prompt FROM image_prompts').iterate()) {
        const now = images.get(r.image_id)?.prompt;
        if (now !== undefined && now !== r.prompt) {
          throw new Error(`${this.file} holds labels of another dataset: image ${r.image_id} is "${r.prompt}" there but "${now}" in ${dataset} (give this dataset's own store, or a new --db)`);
        }
      }
      if (this.readOnly) return;
      const insert = this.db.prepare('INSERT OR IGNORE INTO image_prompts (image_id, prompt) VALUES (?, ?)');
      for (const [id, { prompt }] of images) insert.run(id, prompt);
    });
    if (this.readOnly) run();
    else run.immediate();
  }

  /** The row an undo took back (for showing the image again). */
  row(seq: number): LabelRow | undefined {
    const r = this.db.prepare<[number], DbRow>('SELECT * FROM labels WHERE seq = ?').get(seq);
    return r && fromDb(r);
  }

  /** Every row, in order: the full audit history. */
  history(filter: { imageId?: string; rater?: string } = {}): LabelRow[] {
    const where: string[] = [];
    const args: string[] = [];
    if (filter.imageId !== undefined) (where.push('image_id = ?'), args.push(filter.imageId));
    if (filter.rater !== undefined) (where.push('rater = ?'), args.push(filter.rater));
    const sql = `SELECT * FROM labels ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq`;
    return this.db.prepare<string[], DbRow>(sql).all(...args).map(fromDb);
  }

  /** The current label of every (image, rater) pair that has one, ordered by image then rater. */
  current(filter: { rater?: string } = {}): LabelRow[] {
    const sql = `SELECT seq, image_id, rater, rater_kind, label, time, retracts, request_id FROM (${CURRENT}) ${filter.rater !== undefined ? 'WHERE rater = ?' : ''} ORDER BY image_id, rater`;
    const args = filter.rater !== undefined ? [filter.rater] : [];
    return this.db.prepare<string[], DbRow>(sql).all(...args).map(fromDb);
  }

  /**
   * Who has a current label on which image: image id -> raters. Kept in
   * memory: updated on this connection's own adds, rebuilt after an undo or
   * an import, and when `PRAGMA data_version` shows another connection wrote.
   */
  private liveIndex(): Map<string, Set<string>> {
    const version = this.db.pragma('data_version', { simple: true }) as number;
    if (this.index && this.index.version === version) return this.index.raters;
    const raters = new Map<string, Set<string>>();
    for (const r of this.db.prepare<[], { image_id: string; rater: string }>(`SELECT DISTINCT image_id, rater FROM (${LIVE})`).all()) {
      if (!raters.has(r.image_id)) raters.set(r.image_id, new Set());
      raters.get(r.image_id)!.add(r.rater);
    }
    this.index = { version, raters };
    return raters;
  }

  private index: { version: number; raters: Map<string, Set<string>> } | null = null;

  /** Image ids `rater` has a current label for (skip included). */
  labelledBy(rater: string): Set<string> {
    const out = new Set<string>();
    for (const [image, raters] of this.liveIndex()) if (raters.has(rater)) out.add(image);
    return out;
  }

  /** Number of raters (those `counted` accepts; default all) with a current label per image (skip included). */
  countsPerImage(counted?: (rater: string) => boolean): Map<string, number> {
    return new Map([...this.liveIndex()].map(([image, raters]) => [image, counted ? [...raters].filter(counted).length : raters.size]));
  }

  /** Time of each rater's latest row (label or undo): rater -> ISO time. */
  lastActivity(): Map<string, string> {
    // By time, not by text: imported times may carry other offsets or fraction lengths ("10:00+02:00" is 08:00Z).
    const rows = this.db.prepare<[], { rater: string; time: string }>('SELECT rater, time FROM (SELECT rater, time, row_number() OVER (PARTITION BY rater ORDER BY julianday(time) DESC, seq DESC) AS rn FROM labels) WHERE rn = 1').all();
    return new Map(rows.map((r) => [r.rater, r.time]));
  }

  /** Rows in the history. */
  size(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM labels').get() as { n: number }).n;
  }

  /**
   * Append rows from an export (see io.ts) in their order, keeping each row's
   * rater, kind, label, time and request id; `retracts` is remapped to the new
   * seq of the row it named. Rows whose request id is already stored for the
   * same image, rater and label are skipped, so importing the same file twice
   * adds nothing; a request id stored for another label, or used by an undo
   * that found nothing, is a ConflictError naming the row. All or nothing.
   * An imported label older than one stored for the same image and rater
   * joins the history without becoming current (see `current`).
   */
  importRows(rows: readonly LabelRow[]): { added: number; skipped: number } {
    const find = this.db.prepare<[string], DbRow>('SELECT * FROM labels WHERE request_id = ?');
    const emptyUndo = this.db.prepare<[string], { rater: string }>('SELECT rater FROM empty_undos WHERE request_id = ?');
    const insert = this.db.prepare('INSERT INTO labels (image_id, rater, rater_kind, label, time, retracts, request_id) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const bySeq = this.db.prepare<[number], DbRow>('SELECT * FROM labels WHERE seq = ?');
    const retractedBy = this.db.prepare<[number], { seq: number }>('SELECT seq FROM labels WHERE retracts = ?');
    const run = this.db.transaction(() => {
      const seqMap = new Map<number, number>();
      let added = 0;
      let skipped = 0;
      for (const r of rows) {
        if (emptyUndo.get(r.requestId)) {
          throw new ConflictError(`row ${r.seq}: request_id ${r.requestId} was already used here for an undo that found nothing; nothing was imported`);
        }
        const prior = find.get(r.requestId);
        if (prior) {
          if (prior.image_id !== r.imageId || prior.rater !== r.rater || prior.label !== r.label) {
            // what the stored request holds is not said: it may be another rater's label
            throw new ConflictError(`row ${r.seq}: request_id ${r.requestId} is stored here for a different label; nothing was imported`);
          }
          seqMap.set(r.seq, prior.seq);
          skipped++;
          continue;
        }
        let retracts: number | null = null;
        if (r.retracts !== null) {
          const to = seqMap.get(r.retracts);
          if (to === undefined) throw new Error(`row ${r.seq} retracts row ${r.retracts}, which does not come before it in the import`);
          const target = bySeq.get(to)!;
          const why = retractionProblem({ rater: r.rater, image: r.imageId }, { rater: target.rater, image: target.image_id, label: target.label });
          if (why) throw new ConflictError(`row ${r.seq} retracts row ${r.retracts}, ${why}; nothing was imported`);
          if (retractedBy.get(to)) throw new ConflictError(`row ${r.seq} retracts row ${r.retracts}, whose label is already taken back here; nothing was imported`);
          retracts = to;
        }
        const info = insert.run(r.imageId, r.rater, r.raterKind, r.label, r.time, retracts, r.requestId);
        seqMap.set(r.seq, Number(info.lastInsertRowid));
        added++;
      }
      return { added, skipped };
    });
    this.index = null;
    return run.immediate();
  }
}
