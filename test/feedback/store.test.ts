import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { COLUMNS_WITHOUT_SHA, exportLabels, formatRows, imageInfo, importLabels, OLD_COLUMNS, parseRows } from '../../src/feedback/io';
import { readManifest } from '../../src/world/dataset';
import { smallDataset } from './helpers';
import { ConflictError, LabelStore } from '../../src/feedback/store';
import { tempDir } from './helpers';

const WRITER = path.join(__dirname, 'fixtures', 'writer.ts');

function runWriter(args: string[]): Promise<{ added: number; duplicates: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', WRITER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`writer exited ${code}: ${err}`))));
  });
}

test('history: a changed label is a new row, current is the latest, undo retracts the latest live label', () => {
  const store = LabelStore.open(':memory:');
  store.add({ imageId: 'a', rater: 'ann', raterKind: 'human', label: 'good', requestId: 'req-0001' });
  store.add({ imageId: 'a', rater: 'ann', raterKind: 'human', label: 'bad', requestId: 'req-0002' });
  store.add({ imageId: 'b', rater: 'ann', raterKind: 'human', label: 'skip', requestId: 'req-0003' });
  store.add({ imageId: 'a', rater: 'bob', raterKind: 'human', label: 'good', requestId: 'req-0004' });
  assert.deepEqual(store.current().map((r) => [r.imageId, r.rater, r.label]), [['a', 'ann', 'bad'], ['a', 'bob', 'good'], ['b', 'ann', 'skip']]);

  const u1 = store.undo('ann', 'undo-0001')!;
  assert.equal(u1.row.label, 'retract');
  assert.equal(store.row(u1.row.retracts!)!.imageId, 'b');
  assert.deepEqual([...store.labelledBy('ann')], ['a']);
  store.undo('ann', 'undo-0002'); // takes back 'bad' on a: 'good' is current again
  assert.deepEqual(store.current({ rater: 'ann' }).map((r) => [r.imageId, r.label]), [['a', 'good']]);
  store.undo('ann', 'undo-0003');
  assert.equal(store.current({ rater: 'ann' }).length, 0);
  assert.equal(store.undo('ann', 'undo-0004'), null, 'nothing left to undo');
  assert.equal(store.size(), 7, 'four labels and three retractions: nothing deleted');
  assert.deepEqual(store.history({ rater: 'ann' }).map((r) => r.label), ['good', 'bad', 'skip', 'retract', 'retract', 'retract']);
  assert.equal(store.current().length, 1);
  store.close();
});

test('a clock set back does not hide a new label: it is current, and undo takes it back first', () => {
  const store = LabelStore.open(':memory:');
  // Given while the clock ran an hour ahead; the clock is now right, so earlier.
  const ahead = new Date(Date.now() + 3_600_000).toISOString();
  store.add({ imageId: 'a', rater: 'ann', raterKind: 'human', label: 'good', requestId: 'req-0001', time: ahead });
  store.add({ imageId: 'b', rater: 'ann', raterKind: 'human', label: 'good', requestId: 'req-0002', time: ahead });
  const changed = store.add({ imageId: 'a', rater: 'ann', raterKind: 'human', label: 'bad', requestId: 'req-0003' });
  assert.ok(Date.parse(changed.row.time) > Date.parse(ahead), changed.row.time);
  assert.deepEqual(store.current({ rater: 'ann' }).map((r) => [r.imageId, r.label]), [['a', 'bad'], ['b', 'good']]);
  const undone = store.undo('ann', 'undo-0001')!;
  assert.equal(store.row(undone.row.retracts!)!.requestId, 'req-0003', 'the undo took back the label given last');
  // Another rater's rows do not move this one's clock.
  assert.ok(Date.parse(store.add({ imageId: 'a', rater: 'bob', raterKind: 'human', label: 'good', requestId: 'req-0004' }).row.time) < Date.parse(ahead));
  store.close();
});

test('ifUnlabelled: a second label on an image its rater has a live label on is refused; a retry is still its duplicate; after an undo it is allowed', () => {
  const store = LabelStore.open(':memory:');
  store.add({ imageId: 'a', rater: 'ann', raterKind: 'human', label: 'good', requestId: 'req-0001' }, { ifUnlabelled: true });
  assert.equal(store.add({ imageId: 'a', rater: 'ann', raterKind: 'human', label: 'good', requestId: 'req-0001' }, { ifUnlabelled: true }).duplicate, true);
  assert.throws(() => store.add({ imageId: 'a', rater: 'ann', raterKind: 'human', label: 'bad', requestId: 'req-0002' }, { ifUnlabelled: true }), (e: Error) => e instanceof ConflictError && /ann already labelled image a \(in another tab\?\)/.test(e.message));
  store.add({ imageId: 'a', rater: 'bob', raterKind: 'human', label: 'bad', requestId: 'req-0003' }, { ifUnlabelled: true }); // another rater's is theirs
  store.undo('ann', 'undo-0001');
  store.add({ imageId: 'a', rater: 'ann', raterKind: 'human', label: 'bad', requestId: 'req-0004' }, { ifUnlabelled: true });
  assert.deepEqual(store.current({ rater: 'ann' }).map((r) => r.label), ['bad']);
  store.add({ imageId: 'a', rater: 'ann', raterKind: 'human', label: 'skip', requestId: 'req-0005' }); // without it: a changed mind, as before
  assert.deepEqual(store.current({ rater: 'ann' }).map((r) => r.label), ['skip']);
  store.close();
});

test('idempotency: a retried request id returns the stored row; reuse for another label is a conflict', () => {
  const store = LabelStore.open(':memory:');
  const a = store.add({ imageId: 'a', rater: 'ann', raterKind: 'human', label: 'good', requestId: 'retry-123' });
  const b = store.add({ imageId: 'a', rater: 'ann', raterKind: 'human', label: 'good', requestId: 'retry-123' });
  assert.equal(a.duplicate, false);
  assert.equal(b.duplicate, true);
  assert.equal(b.row.seq, a.row.seq);
  assert.throws(() => store.add({ imageId: 'a', rater: 'ann', raterKind: 'human', label: 'bad', requestId: 'retry-123' }), ConflictError);
  const u = store.undo('ann', 'undo-retry');
  assert.deepEqual(store.undo('ann', 'undo-retry'), { ...u, duplicate: true });
  assert.equal(store.size(), 2);
  assert.throws(() => store.add({ imageId: 'a', rater: 'ann', raterKind: 'human', label: 'meh' as 'good' }), /label must be good, bad or skip/);
  assert.throws(() => store.add({ imageId: 'a', rater: '../x', raterKind: 'human', label: 'good' }), /rater name/);
  store.close();
});

test('a retried request uses up no row number: the next label follows the last one (a panel asked again left a gap of the store\'s size)', () => {
  const dir = tempDir('seq');
  const file = path.join(dir, 'labels.sqlite');
  const store = LabelStore.open(file);
  const labels = ['a', 'b', 'c'].map((id) => ({ imageId: id, rater: 'sim-r0', raterKind: 'simulated' as const, label: 'good' as const, requestId: `sim:test:${id}` }));
  store.addMany(labels, { onConflict: 'keep' });
  assert.ok(store.addMany(labels, { onConflict: 'keep' }).every((r) => r.duplicate));
  assert.equal(store.add({ imageId: 'a', rater: 'ann', raterKind: 'human', label: 'bad', requestId: 'ann:label:1' }).duplicate, false);
  store.close();
  const db = new Database(file, { readonly: true });
  assert.deepEqual(db.prepare('SELECT seq FROM labels ORDER BY seq').all().map((r) => (r as { seq: number }).seq), [1, 2, 3, 4]);
  db.close();
});

test('concurrency: four processes write at once through their own connections; every label stored once', async () => {
  const file = path.join(tempDir('store'), 'labels.sqlite');
  LabelStore.open(file).close();
  // w1 and w2 share request ids (a retry landing on another connection).
  const results = await Promise.all([
    runWriter([file, 'w1', '100', 'shared']),
    runWriter([file, 'w1', '100', 'shared']),
    runWriter([file, 'w3', '100', 'w3']),
    runWriter([file, 'w4', '100', 'w4']),
  ]);
  assert.equal(results[0].added + results[1].added, 100);
  assert.equal(results[0].duplicates + results[1].duplicates, 100);
  const store = LabelStore.open(file, { readonly: true });
  assert.equal(store.size(), 300);
  assert.equal(new Set(store.history().map((r) => r.requestId)).size, 300);
  assert.equal(store.current().length, 300);
  store.close();
});

test('export and import round trip, JSONL and CSV, history and retractions included', () => {
  const dir = tempDir('io');
  const store = LabelStore.open(path.join(dir, 'a.sqlite'));
  store.add({ imageId: 'img,"1"', rater: 'Zoë', raterKind: 'human', label: 'good', requestId: 'r-000001' });
  store.add({ imageId: 'img-2', rater: 'sim-r0', raterKind: 'simulated', label: 'skip', requestId: 'r-000002' });
  store.add({ imageId: 'img,"1"', rater: 'Zoë', raterKind: 'human', label: 'bad', requestId: 'r-000003' });
  store.undo('Zoë', 'r-000004');
  for (const format of ['jsonl', 'csv'] as const) {
    const file = path.join(dir, `labels.${format}`);
    assert.equal(exportLabels(store, file), 4);
    const copy = LabelStore.open(path.join(dir, `b-${format}.sqlite`));
    assert.deepEqual(importLabels(copy, file), { added: 4, skipped: 0 });
    assert.deepEqual(copy.history(), store.history());
    assert.deepEqual(copy.current(), store.current());
    assert.deepEqual(importLabels(copy, file), { added: 0, skipped: 4 }, 'importing twice adds nothing');
    const again = path.join(dir, `again.${format}`);
    exportLabels(copy, again);
    assert.equal(fs.readFileSync(again, 'utf8'), fs.readFileSync(file, 'utf8'));
    copy.close();
  }
  store.close();
});

test('an import whose request id is stored for another label, or was used by an empty undo, is refused whole', () => {
  const dir = tempDir('io-conflict');
  const source = LabelStore.open(path.join(dir, 'source.sqlite'));
  source.add({ imageId: 'img-1', rater: 'ann', raterKind: 'human', label: 'good', requestId: 'r-000001' });
  source.add({ imageId: 'img-2', rater: 'ann', raterKind: 'human', label: 'bad', requestId: 'r-000002' });
  const file = path.join(dir, 'labels.jsonl');
  exportLabels(source, file);
  source.close();

  const other = LabelStore.open(path.join(dir, 'other.sqlite'));
  other.add({ imageId: 'img-2', rater: 'bob', raterKind: 'human', label: 'good', requestId: 'r-000002' });
  assert.throws(() => importLabels(other, file), (e: Error) => e instanceof ConflictError && /row 2: request_id r-000002 is stored here for a different label/.test(e.message) && !/bob/.test(e.message));
  assert.deepEqual(other.history().map((r) => [r.imageId, r.rater, r.label]), [['img-2', 'bob', 'good']], 'nothing imported, the stored label kept');
  other.close();

  const undone = LabelStore.open(path.join(dir, 'undone.sqlite'));
  assert.equal(undone.undo('ann', 'r-000001'), null);
  assert.throws(() => importLabels(undone, file), (e: Error) => e instanceof ConflictError && /row 1: request_id r-000001 was already used here for an undo/.test(e.message));
  assert.equal(undone.size(), 0);
  undone.close();
});

test('importing an older export keeps the newer labels current; the older rows join the history', () => {
  const dir = tempDir('io-older');
  const laptop = LabelStore.open(path.join(dir, 'laptop.sqlite'));
  laptop.add({ imageId: 'a', rater: 'ann', raterKind: 'human', label: 'bad', requestId: 'old-000001', time: '2026-12-01T10:00:00.000Z' });
  laptop.add({ imageId: 'b', rater: 'ann', raterKind: 'human', label: 'good', requestId: 'old-000002', time: '2026-12-01T11:00:00+02:00' });
  const file = path.join(dir, 'laptop.jsonl');
  exportLabels(laptop, file);
  laptop.close();
  const store = LabelStore.open(path.join(dir, 'main.sqlite'));
  // ann changed her mind about a later, on this machine; b's stored label (09:30Z) is newer than the laptop's (09:00Z).
  store.add({ imageId: 'a', rater: 'ann', raterKind: 'human', label: 'good', requestId: 'new-000001', time: '2026-12-02T10:00:00.000Z' });
  store.add({ imageId: 'b', rater: 'ann', raterKind: 'human', label: 'bad', requestId: 'new-000002', time: '2026-12-01T09:30:00.000Z' });
  assert.deepEqual(importLabels(store, file), { added: 2, skipped: 0 });
  assert.equal(store.size(), 4);
  assert.deepEqual(store.current().map((r) => [r.imageId, r.label]), [['a', 'good'], ['b', 'bad']]);
  // Undo takes back the latest label by time (a's), not the last row inserted.
  store.undo('ann', 'undo-000001');
  assert.deepEqual(store.current().map((r) => [r.imageId, r.label]), [['a', 'bad'], ['b', 'bad']]);
  assert.throws(() => store.add({ imageId: 'c', rater: 'ann', raterKind: 'human', label: 'good', time: 'yesterday' }), /time must be an ISO 8601 date and time with an offset .* got "yesterday"/);
  assert.throws(() => store.add({ imageId: 'c', rater: 'ann', raterKind: 'human', label: 'good', time: '2026-13-01T25:00:00Z' }), /time must be an ISO 8601 date/);
  store.close();
});

test('a corrupt import file is an error naming the line, and nothing is imported', () => {
  const store = LabelStore.open(':memory:');
  store.add({ imageId: 'a', rater: 'ann', raterKind: 'human', label: 'good', requestId: 'r-000001' });
  store.add({ imageId: 'b', rater: 'ann', raterKind: 'human', label: 'bad', requestId: 'r-000002' });
  const jsonl = formatRows(store.history(), 'jsonl').split('\n');
  const csv = formatRows(store.history(), 'csv').split('\n');
  const bad = (lines: string[], k: number, line: string) => lines.map((l, i) => (i === k ? line : l)).join('\n');
  assert.throws(() => parseRows(bad(jsonl, 1, '{"seq": 2,'), 'jsonl', 'x.jsonl'), /^Error: x\.jsonl:2: not valid JSON/);
  assert.throws(() => parseRows(bad(jsonl, 1, jsonl[1].replace('"bad"', '"meh"')), 'jsonl', 'x.jsonl'), /x\.jsonl:2: label:/);
  assert.throws(() => parseRows(bad(jsonl, 1, jsonl[1].replace('"image_sha":null', '"image_sha":"XYZ"')), 'jsonl', 'x.jsonl'), /^Error: x\.jsonl:2: image_sha: 16 lowercase hex digits$/);
  assert.throws(() => parseRows(bad(csv, 2, csv[2].replace(',bad,', ',meh,')), 'csv', 'x.csv'), /x\.csv:3: label:/);
  assert.throws(() => parseRows(bad(csv, 2, 'just,three,fields'), 'csv', 'x.csv'), /x\.csv:3: expected 11 fields, got 3/);
  assert.throws(() => parseRows(bad(csv, 0, 'seq,image'), 'csv', 'x.csv'), /x\.csv:1: header must be/);
  assert.throws(() => parseRows(bad(jsonl, 1, jsonl[1].replace('"retracts":null', '"retracts":9')), 'jsonl', 'x.jsonl'), /x\.jsonl:2: retracts/);
  assert.throws(() => parseRows(bad(csv, 2, csv[2].replace(/,[^,]*$/, ',r-000001')), 'csv', 'x.csv'), /x\.csv:3: duplicate request_id/);
  // A CSV cut inside its last row (the request id shortened, still valid): refused, not imported half.
  const whole = formatRows(store.history(), 'csv');
  assert.throws(() => parseRows(whole.slice(0, whole.length - 4), 'csv', 'x.csv'), /x\.csv:3: the file ends inside this row \(no line break after it\): truncated\?/);
  assert.equal(parseRows(whole, 'csv', 'x.csv').length, 2);
  store.close();
});

test('exports carry each image\'s prompt and category; exports without them (older kits) still import; another dataset\'s labels are refused', () => {
  const dir = tempDir('io-prompts');
  const data = smallDataset(3, path.join(dir, 'ds'));
  const images = imageInfo(readManifest(data), data);
  const store = LabelStore.open(path.join(dir, 'a.sqlite'));
  store.add({ imageId: 'img-1', rater: 'ann', raterKind: 'human', label: 'good', requestId: 'r-000001' });
  store.add({ imageId: 'gone', rater: 'ann', raterKind: 'human', label: 'bad', requestId: 'r-000002' });
  const csv = path.join(dir, 'labels.csv');
  exportLabels(store, csv, 'csv', images);
  const lines = fs.readFileSync(csv, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'seq,image_id,prompt,category,image_sha,rater,rater_kind,label,time,retracts,request_id');
  const prompt = readManifest(data)[1].prompt;
  const sha = images.get('img-1')!.sha!;
  assert.match(sha, /^[0-9a-f]{16}$/);
  assert.ok(lines[1].startsWith(`1,img-1,${prompt},${images.get('img-1')!.category},${sha},ann,human,good,`), lines[1]);
  assert.ok(lines[2].startsWith('2,gone,,,,ann,human,bad,'), 'an image the dataset does not list: empty prompt, category and sha');
  const jsonl = path.join(dir, 'labels.jsonl');
  exportLabels(store, jsonl, 'jsonl', images);
  const rows = fs.readFileSync(jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual([rows[0].prompt, rows[0].category, rows[0].image_sha, rows[1].prompt, rows[1].image_sha], [prompt, images.get('img-1')!.category, sha, null, null]);
  for (const file of [csv, jsonl]) {
    const copy = LabelStore.open(':memory:');
    assert.deepEqual(importLabels(copy, file, undefined, images), { added: 2, skipped: 0 });
    assert.deepEqual(copy.history(), store.history());
    copy.close();
  }

  // Exports of older kits: no image_sha column; no prompt or category columns either.
  const noShaCsv = path.join(dir, 'no-sha.csv');
  fs.writeFileSync(noShaCsv, [COLUMNS_WITHOUT_SHA.join(','), ...lines.slice(1).map((l) => l.replace(/^((?:[^,]*,){4})[^,]*,/, '$1'))].join('\n') + '\n');
  const oldCsv = path.join(dir, 'old.csv');
  fs.writeFileSync(oldCsv, [OLD_COLUMNS.join(','), ...lines.slice(1).map((l) => l.replace(/^(\d+,[^,]*),[^,]*,[^,]*,[^,]*,/, '$1,'))].join('\n') + '\n');
  const oldJsonl = path.join(dir, 'old.jsonl');
  fs.writeFileSync(oldJsonl, rows.map(({ prompt: _p, category: _c, image_sha: _s, ...r }) => JSON.stringify(r) + '\n').join(''));
  for (const file of [noShaCsv, oldCsv, oldJsonl]) {
    const copy = LabelStore.open(':memory:');
    assert.deepEqual(importLabels(copy, file, undefined, images), { added: 2, skipped: 0 }, file);
    assert.deepEqual(copy.history(), store.history());
    copy.close();
  }

  // Labels of another dataset made with the same prompts (same ids and prompts, other PNGs: another collect seed): refused whole.
  const twin = imageInfo(readManifest(smallDataset(3, path.join(dir, 'twin'), 'u')), path.join(dir, 'twin'));
  assert.equal(twin.get('img-1')!.prompt, prompt);
  assert.notEqual(twin.get('img-1')!.sha, sha);
  const refused = LabelStore.open(':memory:');
  assert.throws(() => importLabels(refused, csv, undefined, twin), /labels\.csv:2: image img-1 here is not the dataset's image of that id \(PNG sha [0-9a-f]{16} here, [0-9a-f]{16} in the dataset; same id and prompt, so another dataset made with the same prompts, e\.g\. another collect seed\): these labels belong to another dataset's images \(nothing was imported\)/);
  assert.equal(refused.size(), 0);
  refused.close();

  // Labels of another dataset (same ids, other prompts): refused whole, naming the line.
  const other = path.join(dir, 'other.csv');
  fs.writeFileSync(other, fs.readFileSync(csv, 'utf8').replace(`,${prompt},`, ',a purple dragon,'));
  const copy = LabelStore.open(':memory:');
  assert.throws(() => importLabels(copy, other, undefined, images), /other\.csv:2: image img-1 has prompt "a purple dragon" here but ".*" in the dataset: these labels belong to another dataset/);
  // Labels of another dataset none of whose ids this one lists: refused too, with prompts or without.
  const elsewhere = path.join(dir, 'elsewhere.csv');
  fs.writeFileSync(elsewhere, fs.readFileSync(csv, 'utf8').replace(',img-1,', ',p168-0,'));
  assert.throws(() => importLabels(copy, elsewhere, undefined, images), /elsewhere\.csv: none of its 2 images is in the dataset: these labels belong to another dataset/);
  const oldElsewhere = path.join(dir, 'old-elsewhere.csv');
  fs.writeFileSync(oldElsewhere, fs.readFileSync(oldCsv, 'utf8').replace(',img-1,', ',p168-0,'));
  assert.throws(() => importLabels(copy, oldElsewhere, undefined, images), /old-elsewhere\.csv: none of its 2 images is in the dataset: these labels belong to another dataset/);
  assert.equal(copy.size(), 0);
  copy.close();
  store.close();
});

test('another program\'s SQLite file is refused as a label store, and left as it was', () => {
  const file = path.join(tempDir('foreign'), 'notes.sqlite');
  const db = new Database(file);
  db.exec('CREATE TABLE notes (x TEXT)');
  db.close();
  for (const readonly of [false, true]) assert.throws(() => LabelStore.open(file, { readonly }), /notes\.sqlite: cannot open label store: an SQLite file without a labels table \(tables notes\): not a label store/);
  const again = new Database(file, { readonly: true });
  assert.deepEqual(again.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((t) => t.name), ['notes']);
  assert.equal(again.pragma('journal_mode', { simple: true }), 'delete');
  again.close();
});

test('an import retracts only its rater\'s own label of that image, once (it took back another rater\'s label)', () => {
  const row = (seq: number, image: string, rater: string, label: string, retracts: number | null) =>
    JSON.stringify({ seq, image_id: image, rater, rater_kind: 'human', label, time: `2026-01-02T00:00:0${seq}.000Z`, retracts, request_id: `req-import-000${seq}` });
  const file = (...rows: string[]) => rows.join('\n');
  // In the file itself: each named with its line.
  assert.throws(() => parseRows(file(row(1, 'x', 'ann', 'good', null), row(2, 'x', 'bob', 'retract', 1)), 'jsonl', 'f.jsonl'), /f\.jsonl:2: retracts seq 1 \(line 1\), which is ann's label, not bob's: a rater takes back only their own/);
  assert.throws(() => parseRows(file(row(1, 'x', 'ann', 'good', null), row(2, 'y', 'ann', 'retract', 1)), 'jsonl', 'f.jsonl'), /f\.jsonl:2: retracts seq 1 \(line 1\), which labels image x, not y/);
  assert.throws(() => parseRows(file(row(1, 'x', 'ann', 'good', null), row(2, 'x', 'ann', 'retract', 1), row(3, 'x', 'ann', 'retract', 2)), 'jsonl', 'f.jsonl'), /f\.jsonl:3: .*which is itself a retraction/);
  assert.throws(() => parseRows(file(row(1, 'x', 'ann', 'good', null), row(2, 'x', 'ann', 'retract', 1), row(3, 'x', 'ann', 'retract', 1)), 'jsonl', 'f.jsonl'), /f\.jsonl:3: retracts seq 1, already retracted at line 2/);
  // Against the store: a label retracted here already is named, not a raw SQLite error, and nothing is imported.
  const store = LabelStore.open(':memory:');
  store.importRows(parseRows(file(row(1, 'x', 'ann', 'good', null), row(2, 'x', 'ann', 'retract', 1)), 'jsonl', 'a.jsonl'));
  const again = parseRows(file(row(1, 'x', 'ann', 'good', null), JSON.stringify({ ...JSON.parse(row(2, 'x', 'ann', 'retract', 1)), request_id: 'req-other-undo-1' })), 'jsonl', 'b.jsonl');
  assert.throws(() => store.importRows(again), (e: Error) => e instanceof ConflictError && /row 2 retracts row 1, whose label is already taken back here; nothing was imported/.test(e.message));
  assert.equal(store.history().length, 2);
  store.close();
});

test('lastActivity is the latest label by time, not by the text of its timestamp', () => {
  const store = LabelStore.open(':memory:');
  const row = (seq: number, image: string, rater: string, time: string) => ({ seq, imageId: image, rater, raterKind: 'human' as const, label: 'good' as const, time, retracts: null, requestId: `req-time-000${seq}` });
  store.importRows([row(1, 'a', 'ann', '2026-01-01T10:00:00+02:00'), row(2, 'b', 'ann', '2026-01-01T09:00:00.000Z'), row(3, 'a', 'bob', '2026-01-01T09:00:00Z'), row(4, 'b', 'bob', '2026-01-01T09:00:00.500Z')]);
  assert.deepEqual(Object.fromEntries(store.lastActivity()), { ann: '2026-01-01T09:00:00.000Z', bob: '2026-01-01T09:00:00.500Z' });
  store.close();
});

test('a reader leaves no -wal or -shm file beside the store, cannot write, and still opens a store it may not write', () => {
  const dir = tempDir('store-reader');
  const file = path.join(dir, 'labels.sqlite');
  const w = LabelStore.open(file);
  w.add({ imageId: 'img-1', rater: 'r', raterKind: 'human', label: 'good', requestId: 'r-000001' });
  w.close();
  const files = () => fs.readdirSync(dir).sort();
  assert.deepEqual(files(), ['labels.sqlite']);
  const bytes = fs.readFileSync(file);
  const r = LabelStore.open(file, { readonly: true });
  assert.equal(r.size(), 1);
  assert.throws(() => r.add({ imageId: 'img-2', rater: 'r', raterKind: 'human', label: 'bad', requestId: 'r-000002' }), /readonly|read-only|query_only/i);
  r.close();
  assert.deepEqual(files(), ['labels.sqlite'], 'the reader removed what it made (it left labels.sqlite-shm and -wal)');
  assert.ok(fs.readFileSync(file).equals(bytes), 'the store is unchanged by a reader');
  // A store this process may not write (a shared class folder): opened read-only as before.
  if (process.getuid?.() !== 0) {
    fs.chmodSync(file, 0o444);
    const ro = LabelStore.open(file, { readonly: true });
    assert.equal(ro.size(), 1);
    ro.close();
    fs.chmodSync(file, 0o644);
  }
});
