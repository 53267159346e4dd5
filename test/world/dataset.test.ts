import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkOrigin, Dataset, DatasetOrigin, MANIFEST, ORIGIN_FILE, promptsOrigin, readManifest, readOrigin, writeManifest, writeOrigin } from '../../src/world/dataset';
import { sameImage } from '../../src/world/image';
import { judgeDataset } from '../../src/world/judgeDataset';
import { formatPrompt, parsePrompt } from '../../src/world/prompt';
import { renderPrompt } from '../../src/world/render';
import { removedAtExit } from '../helpers/temp';

function tmpDir(): string {
  return removedAtExit('t2i-world-');
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

  // A prompt edited by hand: outside the grammar, or saying other than the attributes.
  const unicorns = JSON.parse(lines[1]);
  unicorns.prompt = 'two unicorns';
  fs.writeFileSync(file, [lines[0], JSON.stringify(unicorns)].join('\n') + '\n');
  assert.throws(() => readManifest(dir), /manifest\.jsonl:2: prompt "two unicorns": unknown object "unicorns"/);
  const other = JSON.parse(lines[1]);
  const said = parsePrompt(other.prompt);
  other.prompt = formatPrompt({ ...said, count: said.count === 1 ? 2 : 1 });
  fs.writeFileSync(file, [lines[0], JSON.stringify(other)].join('\n') + '\n');
  assert.throws(() => readManifest(dir), /manifest\.jsonl:2: prompt ".*" says count \d, but the record's attributes say count \d: the prompt and its attributes must agree/);

  // Dataset.add refuses what readManifest would, before writing anything.
  fs.writeFileSync(file, good);
  const ds = Dataset.open(dir);
  assert.throws(() => ds.add({ ...JSON.parse(lines[1]), id: 'new', prompt: 'two unicorns' }, renderPrompt(parsePrompt('a circle'), 0).image), /record new: prompt "two unicorns": unknown object/);
  assert.equal(fs.readFileSync(file, 'utf8'), good);
  assert.ok(!fs.existsSync(path.join(dir, 'new.png')));

  fs.writeFileSync(file, good);
  fs.rmSync(path.join(dir, 'r1.png'));
  assert.throws(() => readManifest(dir), /manifest.jsonl:2: image file .*r1.png is missing/);
  assert.equal(readManifest(dir, { checkFiles: false }).length, 3);

  assert.throws(() => readManifest(tmpDir()), /manifest\.jsonl: no manifest \(not a dataset folder\? a dataset folder is made by collect, generate or render-set with --out\)/);
  // A typo'd folder, and the manifest given for its folder, say so.
  assert.throws(() => readManifest(path.join(dir, 'typo')), /typo: no such folder \(a dataset folder is made by/);
  assert.throws(() => readManifest(path.join(dir, 'manifest.jsonl')), new RegExp(`manifest\\.jsonl is a file, not a dataset folder \\(give its folder, ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));
});

test('dataset.json: images from another generator, seed or prompts are refused; more prompts after the same ones are not', () => {
  const dir = tmpDir();
  const prompts = ['two red circles', 'a star in the sea'];
  const origin: DatasetOrigin = { prompts: promptsOrigin('mine.txt', prompts), generator: { kind: 'model', weightsSha256: 'a'.repeat(64), sampler: { steps: 25, guidanceScale: 7 } }, seed: 0, location: '/models/a' };
  checkOrigin(path.join(dir, 'new'), origin, prompts, 'x'); // nothing there yet: anything may start it
  fill(dir);
  writeOrigin(dir, origin);
  assert.deepEqual(readOrigin(dir), origin);
  checkOrigin(dir, { ...origin, location: '/elsewhere' }, prompts, 'x'); // the folder is for people, not compared
  checkOrigin(dir, { ...origin, prompts: promptsOrigin('seen', [...prompts, 'a circle']) }, [...prompts, 'a circle'], 'x');
  const refused = (o: DatasetOrigin, ps: string[], re: RegExp) => assert.throws(() => checkOrigin(dir, o, ps, 'x'), (e: Error) => (assert.match(e.message, re), assert.doesNotMatch(e.message, /\n/), true));
  refused({ ...origin, generator: { kind: 'stand-in', errorRate: 0.3 } }, prompts, /dataset\.json: this dataset was made with the model \/models\/a \(--model; weights aaaaaaaaaaaa\); this run has the stand-in \(--stand-in 0\.3\): use the same generator .* or a new --out \(nothing was written\)$/);
  refused({ ...origin, generator: { ...origin.generator, sampler: { steps: 25, guidanceScale: 3 } } }, prompts, /made with --guidance 7; this run has --guidance 3/);
  refused({ ...origin, seed: 1 }, prompts, /made with --seed 0; this run has --seed 1/);
  refused({ ...origin, generator: { ...origin.generator, sampler: { steps: 25, guidanceScale: 7, guidanceInterval: [800, 950] } } }, prompts, /made with --guidance-interval all; this run has --guidance-interval 800:950/);
  refused({ ...origin, prompts: promptsOrigin('other.txt', ['a circle']) }, ['a circle'], /made for 2 prompts from mine\.txt; this run's 1 prompts \(from other\.txt\) do not start with them/);
  refused(origin, [...prompts].reverse(), /do not start with them/);
  fs.writeFileSync(path.join(dir, ORIGIN_FILE), '{');
  assert.throws(() => readOrigin(dir), /dataset\.json: not valid JSON/);
});

test('a dataset of an older kit (no dataset.json) takes images only from the source its records name', () => {
  const dir = tmpDir();
  fill(dir); // records with source 'render'
  const origin: DatasetOrigin = { prompts: promptsOrigin('list', ['a circle']), generator: { source: 'render' }, seed: 0 };
  checkOrigin(dir, origin, ['a circle'], 'render');
  assert.throws(() => checkOrigin(dir, origin, ['a circle'], 'data/base-model'), /its images were made by "render", and this run makes images with "data\/base-model": use the same generator/);
  // A model's path from another folder: said to be perhaps the same model, named from elsewhere
  const made = path.join(dir, 'manifest.jsonl');
  fs.writeFileSync(made, fs.readFileSync(made, 'utf8').replaceAll('"source":"render"', '"source":"data/base-model"'));
  assert.throws(() => checkOrigin(dir, origin, ['a circle'], '/work/main/data/base-model'), /made by "data\/base-model", and this run makes images with "\/work\/main\/data\/base-model" \(a model's path as given, from the folder its run was started in: .*so run from that folder\): use the same generator/);
  assert.throws(() => checkOrigin(dir, origin, ['a circle'], 'results/ft-b'), (e: Error) => /made by "data\/base-model", and this run makes images with "results\/ft-b": use the same generator/.test(e.message), 'two models, no note');
});
