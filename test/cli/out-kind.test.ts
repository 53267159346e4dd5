// An --out of the wrong kind (a file where a folder is written, a folder where a file is) is one line
// before any work (no sampling, no training), and leaves nothing behind (no temp file beside it).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli, tensorsMade } from './run-in-process';
import { smallDataset } from '../feedback/helpers';
import { removedAtExit } from '../helpers/temp';

test('--out of the wrong kind is refused in one line before any work, and nothing is left beside it', async () => {
  const dir = removedAtExit('t2i-out-kind-');
  const file = path.join(dir, 'notes.txt');
  fs.writeFileSync(file, 'keep');
  const folder = path.join(dir, 'results.csv');
  fs.mkdirSync(folder);
  const jsonFolder = path.join(dir, 'results.json');
  fs.mkdirSync(jsonFolder);
  const data = smallDataset(2);
  const isFile = /--out .*notes\.txt is a file, not a folder \(give a folder\)/;
  const isFolder = /--out .*results\.csv is a folder, where a file is expected \(give a file path\)/;
  const cases: Array<[string[], RegExp]> = [
    [['eval-base', '--out', file], isFile],
    [['evaluate', '--model', 'base', '--prompts', 'seen', '--out', file], isFile],
    [['reproduce', '--quick', '--out', file], isFile],
    [['eval-finetune', '--runs', dir, '--out', folder], isFolder],
    [['reward-ablation', '--data', data, '--judge', data, '--out', jsonFolder], /--out .*results\.json is a folder, where a file is expected/],
    [['render', '--prompt', 'a circle', '--out', folder], isFolder],
    [['judge', '--manifest', data, '--out', folder], isFolder],
    [['export-labels', '--data', data, '--out', folder], isFolder],
  ];
  for (const [args, message] of cases) {
    const made = await tensorsMade(() =>
      assert.rejects(runCli(...args), (e: Error) => (assert.match(e.message, message, args.join(' ')), assert.equal(e.message.split('\n').length, 1), true)),
    );
    assert.equal(made, 0, `${args[0]} refused before any work (it made ${made} tensors)`);
  }
  assert.deepEqual(fs.readdirSync(dir).sort(), ['notes.txt', 'results.csv', 'results.json']);
  assert.equal(fs.readFileSync(file, 'utf8'), 'keep');
  assert.deepEqual(fs.readdirSync(folder), []);
});

test('a results --out that holds other files (a dataset) is refused before any work; the folder is left as it was', async () => {
  const data = smallDataset(2);
  const before = fs.readdirSync(data).sort();
  const holds = (what: string) => new RegExp(`--out .* holds files but no ${what} \\(`);
  const cases: Array<[string[], RegExp]> = [
    [['eval-base', '--out', data], holds('eval-base results')],
    [['evaluate', '--model', 'base', '--prompts', 'seen', '--out', data], holds('evaluation')],
    [['reproduce', '--quick', '--out', data], holds('reproduce run')],
    [['sweep', 'beta', '--quick', '--out', data], holds('sweep')],
    [['train-classifier', '--quick', '--out', data], holds('classifier checkpoint')],
    [['eval-reward', '--model', 'clip', '--judge', data, '--out', data], holds('eval-reward results')],
    [['render-set', '--out', data], /manifest\.jsonl holds another render set \(its image img-0: ".*", not in this set\): choose a new folder/],
  ];
  for (const [args, message] of cases) {
    const made = await tensorsMade(() =>
      assert.rejects(runCli(...args), (e: Error) => (assert.match(e.message, message, args.join(' ')), assert.equal(e.message.split('\n').length, 1), true)),
    );
    assert.equal(made, 0, `${args[0]} refused before any work (it made ${made} tensors)`);
  }
  assert.deepEqual(fs.readdirSync(data).sort(), before);
  const model = removedAtExit('t2i-out-model-');
  fs.writeFileSync(path.join(model, 'checkpoint.json'), '{}');
  await assert.rejects(runCli('render-set', '--out', model), /--out .* holds files: a render set needs a new or empty folder/);
  assert.deepEqual(fs.readdirSync(model), ['checkpoint.json']);
});

test('outFolderOption: an earlier run\'s folder, or one holding only what an interrupted run leaves, is accepted', async () => {
  const { outFolderOption } = await import('../../src/cli/options');
  const dir = removedAtExit('t2i-out-leftovers-');
  fs.writeFileSync(path.join(dir, 'grid-seen-count.png'), '');
  const evalBase = { files: ['base-eval.json'], what: 'eval-base results', leftovers: /^grid-/ };
  outFolderOption(dir, evalBase);
  fs.writeFileSync(path.join(dir, 'notes.txt'), '');
  assert.throws(() => outFolderOption(dir, evalBase), /holds files but no eval-base results \(base-eval\.json\)/);
  fs.writeFileSync(path.join(dir, 'base-eval.json'), '{}');
  outFolderOption(dir, evalBase);
});

test("an --out file is never one the kit keeps data in (a dataset's manifest, a label store, a checkpoint), whatever the command", async () => {
  const data = smallDataset(2);
  fs.writeFileSync(path.join(data, 'labels.sqlite'), 'labels');
  const before = new Map(fs.readdirSync(data).map((f) => [f, fs.readFileSync(path.join(data, f))]));
  const other = removedAtExit('t2i-out-kept-');
  fs.mkdirSync(path.join(other, 'ablation.md'));
  const manifest = path.join(data, 'manifest.jsonl');
  const cases: Array<[string[], RegExp]> = [
    [['export-labels', '--data', data, '--out', manifest], /--out .*manifest\.jsonl is a dataset's manifest, not an output to replace: give another file name/],
    [['judge', '--manifest', data, '--out', manifest], /is a dataset's manifest/],
    [['render', '--prompt', 'a circle', '--out', path.join(data, 'labels.sqlite')], /labels\.sqlite is a label store/],
    [['eval-finetune', '--runs', data, '--out', manifest], /is a dataset's manifest/],
    // Another file of the folder (a dataset's image) is no output of these: named by what they write.
    [['judge', '--manifest', data, '--out', path.join(data, 'img-0.png')], /--out must name a \.jsonl file \(one verdict a line; the summary goes beside it, \.summary\.json\), got/],
    [['eval-finetune', '--runs', data, '--out', path.join(data, 'img-1.png')], /--out must name a \.json file \(the comparison as JSON\), got/],
    [['reward-ablation', '--data', data, '--judge', data, '--out', path.join(data, 'ablation.md')], /--out must name a \.json file \(the markdown table goes beside it, \.md\), got/],
    [['reward-ablation', '--data', data, '--judge', data, '--out', path.join(other, 'ablation.json')], /--out .*ablation\.json also writes .*ablation\.md, which is a folder/],
  ];
  for (const [args, message] of cases) {
    const made = await tensorsMade(() =>
      assert.rejects(runCli(...args), (e: Error) => (assert.match(e.message, message, args.join(' ')), assert.equal(e.message.split('\n').length, 1), true)),
    );
    assert.equal(made, 0, `${args[0]} refused before any work`);
  }
  assert.deepEqual(new Map(fs.readdirSync(data).map((f) => [f, fs.readFileSync(path.join(data, f))])), before);
});

test('pretrain and reproduce refuse the other\'s run folder by its config.json, naming it, and write nothing there', async () => {
  const dir = removedAtExit('t2i-out-run-kind-');
  const [pre, rep] = ['pretrain-run', 'reproduce-run'].map((n) => path.join(dir, n));
  fs.mkdirSync(pre);
  fs.mkdirSync(rep);
  fs.copyFileSync('data/base-model/config.json', path.join(pre, 'config.json')); // a pretrain run's config
  fs.writeFileSync(path.join(rep, 'config.json'), JSON.stringify({ seeds: [0], finetuneSteps: [100] })); // a reproduce run's keys
  const snapshot = () => [pre, rep].map((d) => fs.readdirSync(d).map((f) => `${f}:${fs.readFileSync(path.join(d, f), 'utf8')}`).join());
  const before = snapshot();
  await assert.rejects(runCli('pretrain', '--quick', '--out', rep), /--out .*reproduce-run holds a config\.json that is not a pretrain run's \(no corpus or diffusionTrain in it: another command's run\?\)/);
  await assert.rejects(runCli('reproduce', '--quick', '--out', pre), /--out .*pretrain-run holds a config\.json that is not a reproduce run's \(none of feedbackPromptsPerCategory, seeds, feedback, unlabelled, \.\.\. in it/);
  assert.deepEqual(snapshot(), before);
});
