import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { collect, COLLECT_LOCK, ImageGenerator, loadPrompts, seedFor, standInGenerator } from '../../src/feedback/collect';
import { createImage } from '../../src/world/image';
import { judge } from '../../src/world/judge';
import { MANIFEST, ORIGIN_FILE, promptsOrigin, readManifest, readOrigin } from '../../src/world/dataset';
import { collectStage } from '../../src/pipeline/stages';
import { seenPrompts } from '../../src/world/promptSets';
import { runCli } from '../cli/run-in-process';
import { tempDir } from './helpers';
import { tinyModelFolder } from '../models/helpers';

const PROMPTS = seenPrompts().slice(0, 5);

/**
 * A fake model whose every image depends on its own seed AND on the whole
 * batch (like float sums in a batched network), counting images made; it
 * throws once `failAfter` images have been made.
 */
function fakeGenerator(failAfter = Infinity): { generate: ImageGenerator; made: () => number } {
  let made = 0;
  return {
    made: () => made,
    generate: async (prompts, seeds) => {
      if (made + prompts.length > failAfter) throw new Error('interrupted');
      made += prompts.length;
      const batch = seeds.reduce((a, b) => (a + b) % 251, 0);
      return seeds.map((s) => createImage(8, 8, [s % 256, (s >> 8) % 256, batch]));
    },
  };
}

const manifestText = (dir: string) => fs.readFileSync(path.join(dir, MANIFEST), 'utf8');
const pngs = (dir: string) => Object.fromEntries(fs.readdirSync(dir).filter((f) => f.endsWith('.png')).map((f) => [f, fs.readFileSync(path.join(dir, f)).toString('base64')]));

test('collect: deterministic ids and seeds; an interrupted run resumed gives the same manifest and images', async () => {
  const full = tempDir('collect-full');
  const g = fakeGenerator();
  const r = await collect({ prompts: PROMPTS, perPrompt: 3, outDir: full, generate: g.generate, batchSize: 4, seed: 9 });
  assert.deepEqual(r, { total: 15, generated: 15, existing: 0 });
  const records = readManifest(full);
  assert.deepEqual(records.slice(0, 4).map((x) => x.id), ['p0-0', 'p0-1', 'p0-2', 'p1-0']);
  assert.equal(records[4].seed, seedFor(9, 1, 1));
  assert.equal(new Set(records.map((x) => x.seed)).size, 15);

  // Interrupted after two batches (8 images), then resumed.
  const part = tempDir('collect-part');
  await assert.rejects(collect({ prompts: PROMPTS, perPrompt: 3, outDir: part, generate: fakeGenerator(8).generate, batchSize: 4, seed: 9 }), /interrupted/);
  assert.equal(readManifest(part).length, 8);
  const g2 = fakeGenerator();
  assert.deepEqual(await collect({ prompts: PROMPTS, perPrompt: 3, outDir: part, generate: g2.generate, batchSize: 4, seed: 9 }), { total: 15, generated: 7, existing: 8 });
  assert.equal(g2.made(), 7, 'only the two missing batches (4 + 3 images) were generated');
  assert.equal(manifestText(part), manifestText(full));
  assert.deepEqual(pngs(part), pngs(full));

  // Resumed from another working folder, the same generator named by another path: the new records name it as
  // the first ones do (the manifest mixed relative and absolute paths).
  const moved = tempDir('collect-moved');
  const origin = { prompts: promptsOrigin('list', PROMPTS.map((p) => p.prompt)), generator: { model: 'sha-of-the-weights' }, seed: 9 };
  await assert.rejects(collect({ prompts: PROMPTS, perPrompt: 3, outDir: moved, generate: fakeGenerator(8).generate, batchSize: 4, seed: 9, source: 'models/m', origin }), /interrupted/);
  await collect({ prompts: PROMPTS, perPrompt: 3, outDir: moved, generate: fakeGenerator().generate, batchSize: 4, seed: 9, source: '/home/me/kit/models/m', origin });
  assert.deepEqual([...new Set(readManifest(moved).map((x) => x.source))], ['models/m']);

  // A crash inside a batch: the last two records lost, the line before them cut in half.
  const text = manifestText(part).split('\n');
  const cut = text.slice(0, 11).join('\n') + '\n' + text[11].slice(0, 20);
  fs.writeFileSync(path.join(part, MANIFEST), cut);
  assert.deepEqual(await collect({ prompts: PROMPTS, perPrompt: 3, outDir: part, generate: fakeGenerator().generate, batchSize: 4, seed: 9 }), { total: 15, generated: 4, existing: 11 });
  assert.equal(manifestText(part), manifestText(full), 'a partly done batch is generated whole again, so its images match');
  assert.deepEqual(pngs(part), pngs(full));

  // Rerun when complete: nothing to do. Another seed into the same folder: a clear error.
  const g3 = fakeGenerator();
  assert.deepEqual(await collect({ prompts: PROMPTS, perPrompt: 3, outDir: part, generate: g3.generate, batchSize: 4, seed: 9 }), { total: 15, generated: 0, existing: 15 });
  assert.equal(g3.made(), 0);
  await assert.rejects(collect({ prompts: PROMPTS, perPrompt: 3, outDir: part, generate: g3.generate, seed: 10 }), /p0-0 has prompt .* use the same --prompts and --seed/);
});

test('loadPrompts: sets by name, a file with comments, a bad line named', () => {
  assert.equal(loadPrompts('seen').length, seenPrompts().length);
  const dir = tempDir('prompts');
  const file = path.join(dir, 'p.txt');
  fs.writeFileSync(file, '# my prompts\ntwo red circles in the forest\n\nThree Circles\none circle\n');
  // The canonical form, whatever the case or count word written: what the models were trained on.
  assert.deepEqual(loadPrompts(file).map((p) => [p.prompt, p.category]), [['two red circles in the forest', 'combination'], ['three circles', 'count'], ['a circle', 'count']]);
  fs.writeFileSync(file, 'two red circles\nseven purple dragons\n');
  assert.throws(() => loadPrompts(file), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2: `));
  assert.throws(() => loadPrompts(path.join(dir, 'missing.txt')), /--prompts must be seen, unseen or a readable text file/);
});

test('the stand-in generator gets about errorRate of the images wrong', async () => {
  const prompts = seenPrompts().slice(0, 60).map((p) => p.prompt);
  const seeds = prompts.map((_, i) => i);
  const clean = await standInGenerator(0)(prompts, seeds);
  assert.ok(clean.every((img, i) => judge(prompts[i], img).aligned));
  const noisy = await standInGenerator(0.5)(prompts, seeds);
  const wrong = noisy.filter((img, i) => !judge(prompts[i], img).aligned).length;
  assert.ok(wrong > 15 && wrong < 45, `wrong ${wrong} of 60`);
});

test('t2i-align collect --guidance: a bad scale, or a scale for the stand-in, is one clear line and writes nothing', async () => {
  const out = path.join(tempDir('guid'), 'ds');
  await assert.rejects(runCli('collect', '--prompts', 'seen', '--out', out, '--guidance', 'strong'), /--guidance must be a number in 0\.\.100, got "strong"/);
  await assert.rejects(runCli('collect', '--prompts', 'seen', '--out', out, '--stand-in', '0.5', '--guidance', '3'), /--guidance is a setting of the model; the stand-in has none/);
  assert.equal(fs.existsSync(out), false);
  // A folder that holds something else (here a model's checkpoint) gets no images beside it.
  const other = path.join(tempDir('other'), 'model');
  fs.mkdirSync(other);
  fs.writeFileSync(path.join(other, 'checkpoint.json'), '{}');
  await assert.rejects(runCli('collect', '--prompts', 'seen', '--out', other, '--stand-in', '0'), /holds files but no dataset \(manifest\.jsonl\): pick a new or empty --out/);
  assert.deepEqual(fs.readdirSync(other), ['checkpoint.json']);
});

/** Every file of a folder and its bytes (to show a refused run changed nothing). */
const snapshot = (dir: string) => Object.fromEntries(fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f)).toString('base64')]));

test('a dataset records what it was made from, and refuses images of another source before any work', async () => {
  const dir = path.join(tempDir('origin'), 'ds');
  const r = await collectStage({ prompts: PROMPTS, promptSource: 'five seen', perPrompt: 2, seed: 3, standIn: 0.2 }, dir);
  assert.equal(r.generated, 10);
  assert.deepEqual(readOrigin(dir), { prompts: promptsOrigin('five seen', PROMPTS.map((p) => p.prompt)), generator: { kind: 'stand-in', errorRate: 0.2 }, seed: 3 });
  // The same source again, with more images per prompt and more prompts after the same ones: a resume.
  const more = await collectStage({ prompts: seenPrompts().slice(0, 6), perPrompt: 3, seed: 3, standIn: 0.2 }, dir);
  assert.deepEqual([more.existing, more.generated], [10, 8]);
  assert.equal(readOrigin(dir)!.prompts.count, 6, 'the longer prompt list is recorded');
  const before = snapshot(dir);
  await assert.rejects(collectStage({ prompts: PROMPTS, perPrompt: 1, seed: 3, standIn: 0.5 }, dir), /made with --stand-in 0\.2; this run has --stand-in 0\.5: use the same generator/);
  // The shipped model: refused from its checkpoint.json alone, before it loads.
  await assert.rejects(collectStage({ prompts: PROMPTS, perPrompt: 1, seed: 3 }, dir), /made with the stand-in \(--stand-in 0\.2\); this run has the model \S+ \(--model; weights [0-9a-f]{12}\)/);
  await assert.rejects(collectStage({ prompts: seenPrompts().slice(1, 6), perPrompt: 1, seed: 3, standIn: 0.2 }, dir), /p0-0 has prompt .* use the same --prompts and --seed/);
  assert.deepEqual(snapshot(dir), before, 'a refused run leaves the dataset as it was');

  // A dataset of an older kit: its records' source decides.
  fs.rmSync(path.join(dir, ORIGIN_FILE));
  await assert.rejects(collectStage({ prompts: PROMPTS, perPrompt: 1, seed: 3, standIn: 0.5 }, dir), /its images were made by "stand-in:0\.2", and this run makes images with "stand-in:0\.5"/);
  await collectStage({ prompts: PROMPTS, perPrompt: 1, seed: 3, standIn: 0.2 }, dir);
  assert.equal(readOrigin(dir)!.generator.errorRate, 0.2, 'the origin is recorded on the first run of this kit');
});

test('t2i-align collect and generate into a folder made from another source: one line, nothing written', async () => {
  const dir = tempDir('origin-cli');
  const prompts = path.join(dir, 'prompts.txt');
  fs.writeFileSync(prompts, 'two red circles\na blue star in the sea\n');
  const out = path.join(dir, 'ds');
  await runCli('collect', '--prompts', prompts, '--per-prompt', '2', '--stand-in', '0.1', '--out', out);
  assert.equal(readOrigin(out)!.prompts.source, prompts);
  const before = snapshot(out);
  await assert.rejects(runCli('collect', '--prompts', prompts, '--per-prompt', '2', '--stand-in', '0.3', '--out', out), /^Error: [^\n]*dataset\.json: this dataset was made with --stand-in 0\.1; this run has --stand-in 0\.3/);
  await assert.rejects(runCli('generate', '--prompts', prompts, '--out', out), /dataset\.json: this dataset was made with the stand-in \(--stand-in 0\.1\); this run has the model \S+ \(--model; weights [0-9a-f]{12}\)/);
  assert.deepEqual(snapshot(out), before);
});

test('t2i-align collect and generate with a model whose weights cannot be loaded: one line, and no empty --out left behind', async () => {
  const model = await tinyModelFolder('t2i-broken-model-');
  const weights = fs.readdirSync(path.join(model, 'diffusion')).find((f) => f.endsWith('.bin'))!;
  fs.truncateSync(path.join(model, 'diffusion', weights), 100);
  const dir = tempDir('broken-model');
  const prompts = path.join(dir, 'prompts.txt');
  fs.writeFileSync(prompts, 'a circle\n');
  await assert.rejects(runCli('collect', '--prompts', prompts, '--model', model, '--out', path.join(dir, 'new', 'ds')), /truncated checkpoint .*: 100 bytes, expected/);
  await assert.rejects(runCli('generate', '--prompts', prompts, '--model', model, '--out', path.join(dir, 'gen')), /truncated checkpoint/);
  assert.deepEqual(fs.readdirSync(dir), ['prompts.txt'], 'neither --out nor its new parent is left');
  // An --out that existed before is left as it was, empty or not.
  fs.mkdirSync(path.join(dir, 'mine'));
  await assert.rejects(runCli('collect', '--prompts', prompts, '--model', model, '--out', path.join(dir, 'mine')), /truncated checkpoint/);
  assert.ok(fs.existsSync(path.join(dir, 'mine')));
});

test('two collects into one folder at once: the second is refused naming the first (both appended every image: duplicate ids); a killed one\'s lock is taken over', async () => {
  const out = tempDir('collect-twice');
  const runs = await Promise.allSettled([0, 1].map(() => collect({ prompts: PROMPTS, perPrompt: 2, outDir: out, generate: fakeGenerator().generate, batchSize: 2, seed: 3 })));
  assert.equal(runs.filter((r) => r.status === 'fulfilled').length, 1);
  const refused = runs.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  assert.match((refused.reason as Error).message, new RegExp(`another collect \\(pid ${process.pid}, this one\\) is running in .*; wait for it`));
  assert.equal(readManifest(out).length, 10);
  assert.ok(!fs.existsSync(path.join(out, COLLECT_LOCK)), 'the lock goes with its collect');
  // A lock a killed collect left (its pid gone): taken over, and the CLI's folder check does not mind it.
  fs.writeFileSync(path.join(out, COLLECT_LOCK), '999999999');
  // ... with the PNG it was writing: removed (it outlived every rerun), a live writer's kept.
  const dead = path.join(out, 'p2-1.png.tmp-999999999-1-abc');
  const live = path.join(out, `p2-1.png.tmp-${process.ppid}-1-abc`);
  fs.writeFileSync(dead, 'half a png');
  fs.writeFileSync(live, 'being written');
  assert.deepEqual(await collect({ prompts: PROMPTS, perPrompt: 2, outDir: out, generate: fakeGenerator().generate, seed: 3 }), { total: 10, generated: 0, existing: 10 });
  assert.ok(!fs.existsSync(dead) && fs.existsSync(live));
  fs.rmSync(live);
  const elsewhere = tempDir('collect-cli');
  const prompts = path.join(elsewhere, 'two-prompts.txt');
  fs.writeFileSync(prompts, 'two circles\na red circle\n');
  const cli = path.join(elsewhere, 'cli');
  const args = ['collect', '--prompts', prompts, '--stand-in', '0.3', '--per-prompt', '1', '--out', cli];
  await runCli(...args);
  fs.writeFileSync(path.join(cli, COLLECT_LOCK), '999999999');
  await runCli(...args);
  assert.equal(readManifest(cli).length, 2);
  assert.ok(!fs.existsSync(path.join(cli, COLLECT_LOCK)));
});
