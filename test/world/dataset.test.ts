import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Dataset, MANIFEST, readManifest, writeManifest } from '../../src/world/dataset';
import { sameImage } from '../../src/world/image';
import { judgeDataset } from '../../src/world/judgeDataset';
import { parsePrompt } from '../../src/world/prompt';
import { renderPrompt } from '../../src/world/render';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 't2i-world-'));
}

function fill(dir: string, n = 3): Dataset {
  const ds = Dataset.create(dir);
  for (let i = 0; i < n; i++) {
    const prompt = ['two red circles', 'a star in the sea', 'a circle'][i % 3];
    const attributes = parsePrompt(prompt);
    ds.add({ id: `r${i}`, prompt, attributes, seed: i, source: 'render' }, renderPrompt(attributes, i).image);
  }
  return ds;
}

test('write, append, reopen and read back', () => {
  const dir = tmpDir();
  const ds = fill(dir);
  const recs = Dataset.open(dir).records();
  assert.equal(recs.length, 3);
  assert.deepEqual(recs[0].attributes, { count: 2, color: 'red', object: 'circle' });
  assert.ok(sameImage(ds.image(recs[1]), renderPrompt(parsePrompt('a star in the sea'), 1).image));
  const again = Dataset.create(dir);
  again.add({ id: 'r9', prompt: 'a circle', attributes: { count: 1, object: 'circle' }, seed: 9, source: 'render', extras: { label: 'good' } }, renderPrompt({ count: 1, object: 'circle' }, 9).image);
  assert.equal(readManifest(dir).length, 4);
  assert.throws(() => again.add({ id: 'r9', prompt: 'a circle', attributes: { count: 1, object: 'circle' }, seed: 9, source: 'x' }, renderPrompt({ count: 1, object: 'circle' }, 9).image), /duplicate id "r9"/);
  assert.ok(!fs.readdirSync(dir).some((f) => f.includes('.tmp-')));
  writeManifest(dir, readManifest(dir).slice(0, 2));
  assert.equal(readManifest(dir).length, 2);
});

test('judge over a dataset: verdicts and per-category summary', () => {
  const dir = tmpDir();
  fill(dir, 6);
  const res = judgeDataset(dir);
  assert.equal(res.records.length, 6);
  assert.equal(res.summary.all.rate, 1);
  assert.equal(res.summary.combination.n, 2);
  assert.equal(res.summary.background.n, 2);
  assert.equal(res.summary.count.n, 2);
});

test('corrupt manifests give errors naming file and line', () => {
  const dir = tmpDir();
  fill(dir);
  const file = path.join(dir, MANIFEST);
  const good = fs.readFileSync(file, 'utf8');
  const lines = good.trimEnd().split('\n');

  fs.writeFileSync(file, [lines[0], '{"id": "x", oops', lines[2]].join('\n') + '\n');
  assert.throws(() => readManifest(dir), new RegExp(`${MANIFEST}:2: not valid JSON`));

  fs.writeFileSync(file, good + lines[0].slice(0, 20));
  assert.throws(() => readManifest(dir), /manifest.jsonl:4: not valid JSON \(truncated last line\?\)/);

  const noSeed = JSON.parse(lines[1]);
  delete noSeed.seed;
  fs.writeFileSync(file, [lines[0], JSON.stringify(noSeed)].join('\n') + '\n');
  assert.throws(() => readManifest(dir), /manifest.jsonl:2: seed: /);

  const badAttr = JSON.parse(lines[0]);
  badAttr.attributes.object = 'dog';
  fs.writeFileSync(file, JSON.stringify(badAttr) + '\n');
  assert.throws(() => readManifest(dir), /manifest.jsonl:1: attributes.object/);

  fs.writeFileSync(file, good);
  fs.rmSync(path.join(dir, 'r1.png'));
  assert.throws(() => readManifest(dir), /manifest.jsonl:2: image file .*r1.png is missing/);
  assert.equal(readManifest(dir, { checkFiles: false }).length, 3);

  assert.throws(() => readManifest(tmpDir()), /no manifest/);
});
