import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { runCli } from '../cli/run-in-process';
import { datasetAgreement, labelWithPanel } from '../../src/feedback/label';
import { panelFromSpec } from '../../src/feedback/panel';
import { LabelStore } from '../../src/feedback/store';
import { OLD_COLUMNS } from '../../src/feedback/io';
import { Dataset, readManifest } from '../../src/world/dataset';
import { seenPrompts } from '../../src/world/promptSets';
import { renderPrompt } from '../../src/world/render';
import { encodePng } from '../../src/world/image';
import { Attributes } from '../../src/world/prompt';
import { smallDataset } from './helpers';

const run = runCli;

test('labelWithPanel: every rater labels every image; a rerun adds nothing; a perfect panel agrees with the judge', () => {
  const dir = smallDataset(12);
  const store = LabelStore.open(':memory:');
  const first = labelWithPanel(dir, store, panelFromSpec('flip=0.1x3', 7));
  assert.equal(first.added, 36);
  assert.deepEqual(labelWithPanel(dir, store, panelFromSpec('flip=0.1x3', 7)), { ...first, added: 0, duplicates: 36, differing: 0 });
  // A second panel labels beside the first: its raters are named by its spec and seed.
  labelWithPanel(dir, store, panelFromSpec('flip=0,skip=0,leniency=0x2', 1));
  assert.equal(store.size(), 36 + 24);
  const s = datasetAgreement(dir, store);
  assert.equal(s.labels, 60, 'no label of the first panel is replaced');
  assert.deepEqual(s.raters.map((r) => r.rater).sort(), ['sim-flip0.1x3-s7-r0', 'sim-flip0.1x3-s7-r1', 'sim-flip0.1x3-s7-r2', 'sim-flip0_skip0_leniency0x2-s1-r0', 'sim-flip0_skip0_leniency0x2-s1-r1']);
  const perfect = ['sim-flip0_skip0_leniency0x2-s1-r0', 'sim-flip0_skip0_leniency0x2-s1-r1'];
  assert.equal(s.raters.find((r) => r.rater === perfect[0])!.judgeAgreement, 1);
  assert.equal(s.raters.find((r) => r.rater === perfect[0])!.judgeKappa, 1);
  assert.equal(s.pairs.find((p) => p.a === perfect[0] && p.b === perfect[1])!.kappa, 1);
  assert.equal(s.balance.all.images, 12);
  assert.equal(s.balance.all.good + s.balance.all.bad + s.balance.all.skip, 60);
  store.close();
});

test('labelWithPanel again after the judge changed its mind: the stored labels are kept, and counted as differing (was a conflict error)', () => {
  const dir = smallDataset(6);
  const store = LabelStore.open(':memory:');
  const panel = () => panelFromSpec('flip=0,skip=0,leniency=0x2', 3);
  const first = labelWithPanel(dir, store, panel());
  assert.equal(first.differing, 0);
  const before = store.current().filter((l) => l.imageId === 'img-0').map((l) => l.label);
  assert.deepEqual(before, ['good', 'good']); // img-0 shows its prompt
  // The same image now shows another object: the judge says no, so the panel would now say bad.
  const rec = readManifest(dir).find((r) => r.id === 'img-0')!;
  const other: Attributes = { ...rec.attributes, count: rec.attributes.count ?? 1, object: rec.attributes.object === 'circle' ? 'square' : 'circle' };
  fs.writeFileSync(path.join(dir, rec.file), encodePng(renderPrompt(other, 'x').image));
  const again = labelWithPanel(dir, store, panel());
  assert.deepEqual([again.added, again.duplicates, again.differing], [0, 12, 2]);
  assert.deepEqual(store.current().filter((l) => l.imageId === 'img-0').map((l) => l.label), before);
  assert.equal(store.size(), 12);
  store.close();
});

test('t2i-align label: writes DIR/labels.sqlite, prints kappa and balance; bad --panel is a clear error', async () => {
  const dir = smallDataset(9);
  const out = await run('label', '--data', dir, '--panel', 'flip=0.1,skip=0.05,leniency=0.2x3');
  assert.match(out, /labels\.sqlite: 27 labels added, 0 already stored/);
  assert.match(out, /Fleiss' kappa: /);
  assert.match(out, /sim-flip0\.1_skip0\.05_leniency0\.2x3-s0-r2 +simulated/);
  assert.match(out, /combination|count|color|background/);
  const store = LabelStore.open(path.join(dir, 'labels.sqlite'), { readonly: true });
  assert.equal(store.current().length, 27);
  store.close();
  const json = JSON.parse(await run('label', '--data', dir, '--panel', 'flip=0.1,skip=0.05,leniency=0.2x3', '--json'));
  assert.equal(json.duplicates, 27);
  await assert.rejects(run('label', '--data', dir, '--panel', 'flip=0.1,lenient=0.2x3'), /unknown key "lenient"/);
  await assert.rejects(run('label', '--data', dir, '--panel', 'flip=2'), /flip must be a probability in \[0, 1\]/);
});

test('t2i-align label with a second panel adds its raters beside the first and says so on stderr; the same panel again says nothing', async () => {
  const dir = smallDataset(6);
  const stderrOf = async (...args: string[]) => {
    const lines: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string | Uint8Array, ...rest: unknown[]) => (typeof s === 'string' ? (lines.push(s), true) : (write as (...a: unknown[]) => boolean)(s, ...rest))) as typeof process.stderr.write;
    try {
      await run(...args);
    } finally {
      process.stderr.write = write;
    }
    return lines.join('');
  };
  assert.equal(await stderrOf('label', '--data', dir, '--panel', '3'), '');
  assert.equal(await stderrOf('label', '--data', dir, '--panel', '3'), '', 'the same panel again, alone in its store');
  // Another panel of the same seed would copy the first's draws (rater k shares rater k's noise): refused, nothing written.
  const before = LabelStore.open(path.join(dir, 'labels.sqlite'), { readonly: true });
  const rows = before.current().length;
  before.close();
  await assert.rejects(run('label', '--data', dir, '--panel', 'flip=0.3x2'), /holds the labels of panel sim-3-s0, of the same seed 0: .*give another --seed, or label into a new store \(--db FILE\)/);
  const after = LabelStore.open(path.join(dir, 'labels.sqlite'), { readonly: true });
  assert.equal(after.current().length, rows);
  after.close();
  const second = await stderrOf('label', '--data', dir, '--panel', 'flip=0.3x2', '--seed', '2');
  assert.match(second, /^t2i-align: .*labels\.sqlite also holds the labels of another simulated panel \(sim-3-s0: 3 raters\), and the reward model averages every rater's labels; for this panel's alone, label into a new store \(--db FILE\)\.\n$/);
  assert.match(await stderrOf('label', '--data', dir, '--panel', '3', '--seed', '1'), /of 2 other simulated panels \(sim-3-s0: 3 raters, sim-flip0\.3x2-s2: 2 raters\)/);
  const store = LabelStore.open(path.join(dir, 'labels.sqlite'), { readonly: true });
  assert.equal(new Set(store.current().map((r) => r.rater)).size, 8, 'the panels label beside each other');
  store.close();
});

test('t2i-align export-labels writes prompt and category columns; import-labels reads them back', async () => {
  const dir = smallDataset(4);
  await run('label', '--data', dir, '--panel', '2');
  const csv = path.join(dir, 'labels.csv');
  assert.match(await run('export-labels', '--data', dir, '--out', csv), /labels\.csv: 8 rows/);
  const lines = fs.readFileSync(csv, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'seq,image_id,prompt,category,image_sha,rater,rater_kind,label,time,retracts,request_id');
  const first = readManifest(dir)[0];
  assert.ok(lines.slice(1).some((l) => l.startsWith(`1,${first.id},${first.prompt},${first.extras!.category},`) && /^([^,]*,){4}[0-9a-f]{16},sim-2-s0-r0,simulated,/.test(l)), lines[1]);
  assert.match(await run('import-labels', '--data', dir, '--in', csv, '--db', path.join(dir, 'copy.sqlite')), /copy\.sqlite: 8 rows added, 0 already stored$/m);
  // A dataset of the same prompts and ids but other images (another seed) does not take them, and gets no store.
  const twin = smallDataset(4, undefined, 'twin');
  await assert.rejects(run('import-labels', '--data', twin, '--in', csv), /is not the dataset's image of that id .*: these labels belong to another dataset's images \(nothing was imported\)/);
  assert.ok(!fs.existsSync(path.join(twin, 'labels.sqlite')));
  // rows of images the dataset does not have are said, not silently stored
  const other = lines.slice(1).map((l) => l.replace(`,${first.id},${first.prompt},`, `,not-here,${first.prompt},`));
  const orphaned = path.join(dir, 'orphans.csv');
  fs.writeFileSync(orphaned, [lines[0], ...other].join('\n') + '\n');
  const n = other.filter((l) => l.includes(',not-here,')).length;
  assert.ok(n > 0);
  assert.match(await run('import-labels', '--data', dir, '--in', orphaned, '--db', path.join(dir, 'copy2.sqlite')), new RegExp(`8 rows added, 0 already stored; ${n} of the file's rows are for images .* does not have`));
});

test('import-labels takes the rater names and request ids the labeller takes, no others (a formula or markup as a name was imported)', async () => {
  const dir = smallDataset(2);
  await run('label', '--data', dir, '--panel', '1');
  const file = path.join(dir, 'labels.jsonl');
  await run('export-labels', '--data', dir, '--out', file);
  const row = JSON.parse(fs.readFileSync(file, 'utf8').trim().split('\n')[0]);
  for (const [key, value, message] of [
    ['rater', '=HYPERLINK("http://x")', /rater name must be/],
    ['rater', '<img src=x onerror=alert(1)>', /rater name must be/],
    ['request_id', 'hostile 0002 <b>', /request_id must be 8-200 characters/],
  ] as const) {
    const bad = path.join(dir, `bad-${key}.jsonl`);
    fs.writeFileSync(bad, JSON.stringify({ ...row, [key]: value, request_id: key === 'request_id' ? value : 'import-test-0001' }) + '\n');
    await assert.rejects(run('import-labels', '--data', dir, '--in', bad, '--db', path.join(dir, 'other.sqlite')), message, `${key} ${value}`);
  }
});

test('t2i-align label and import-labels refused (no dataset, a bad file, another dataset\'s labels) make no label store', async () => {
  const dir = smallDataset(4);
  await run('label', '--data', dir, '--panel', '2');
  const csv = path.join(dir, 'labels.csv');
  await run('export-labels', '--data', dir, '--out', csv);
  const empty = fs.mkdtempSync(path.join(path.dirname(dir), 'no-dataset-'));
  await assert.rejects(run('label', '--data', empty), /manifest\.jsonl: no manifest/);
  await assert.rejects(run('label', '--data', path.join(empty, 'typo')), /typo: no such folder/);
  assert.deepEqual(fs.readdirSync(empty), []);
  const other = smallDataset(2);
  const before = fs.readdirSync(other).sort();
  const bad = path.join(other, 'bad.csv');
  fs.writeFileSync(bad, 'seq,image\n');
  await assert.rejects(run('import-labels', '--data', other, '--in', bad), /bad\.csv:1: header must be/);
  await assert.rejects(run('import-labels', '--data', other, '--in', path.join(other, 'missing.csv')), /missing\.csv: cannot read/);
  assert.deepEqual(fs.readdirSync(other).sort(), [...before, 'bad.csv'].sort(), 'no labels.sqlite');
  // `other` is a copy of the same dataset with fewer images (the same ids and prompts): its labels merge, the extra images' too.
  assert.match(await run('import-labels', '--data', other, '--in', csv, '--db', path.join(other, 'c.sqlite')), /c\.sqlite: 8 rows added, 0 already stored/);
});

test('a label store given for another dataset whose image ids coincide is refused by label, import-labels, export-labels and train-reward\'s reader; the store is left as it was', async () => {
  const a = smallDataset(4);
  // Another dataset with the same ids (img-0 ...) and other prompts.
  const b = fs.mkdtempSync(path.join(path.dirname(a), 'other-ds-'));
  const other = Dataset.create(b);
  seenPrompts().slice(40, 44).forEach((p, i) => other.add({ id: `img-${i}`, prompt: p.prompt, attributes: p.attributes, seed: `o/${i}`, source: 'render', extras: { category: p.category } }, renderPrompt(p.attributes, `o/${i}`).image));
  assert.deepEqual(readManifest(b).map((r) => r.id), readManifest(a).map((r) => r.id));
  await run('label', '--data', a, '--panel', '2');
  const store = path.join(a, 'labels.sqlite');
  const size = () => { const s = LabelStore.open(store, { readonly: true }); const n = s.size(); s.close(); return n; };
  const before = size();
  const another = /labels\.sqlite holds labels of another dataset: image \S+ is ".*" there but ".*" in .* \(give this dataset's own store, or a new --db\)/;
  await assert.rejects(run('label', '--data', b, '--db', store, '--seed', '5'), another);
  const csv = path.join(path.dirname(a), `${path.basename(a)}-labels.csv`);
  await run('export-labels', '--data', a, '--out', csv);
  await assert.rejects(run('export-labels', '--data', b, '--db', store, '--out', `${csv}.b.csv`), another);
  await assert.rejects(run('import-labels', '--data', b, '--in', csv, '--db', store), /another dataset/);
  // An export of an older kit carries no prompts (its ids are b's too): only the store's own memory can refuse it.
  const old = `${csv}.old.csv`;
  const rows = fs.readFileSync(csv, 'utf8').trimEnd().split('\n');
  fs.writeFileSync(old, [OLD_COLUMNS.join(','), ...rows.slice(1).map((l) => l.replace(/^(\d+,[^,]*),[^,]*,[^,]*,[^,]*,/, '$1,'))].join('\n') + '\n');
  await assert.rejects(run('import-labels', '--data', b, '--in', old, '--db', store), another);
  const { labelledImages } = await import('../../src/reward/data');
  assert.throws(() => labelledImages(b, store), another);
  assert.equal(size(), before);
  assert.equal(labelledImages(a).length, 4, 'its own dataset still reads it');
});
