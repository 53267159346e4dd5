import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readManifest } from '../../src/world';
import { initTestBackend } from '../models/helpers';
import { runCli } from './run-in-process';
import { removedAtExit } from '../helpers/temp';

const tmp = () => removedAtExit('t2i-evaluator-cli-');

test('render-set: renders of a prompt file, degraded; bad input is one clear error', async () => {
  const dir = tmp();
  const prompts = path.join(dir, 'prompts.txt');
  fs.writeFileSync(prompts, '# two prompts\ntwo red circles\na star on the moon\n');
  const out = path.join(dir, 'set');
  const text = await runCli('render-set', '--prompts', prompts, '--per-prompt', '3', '--out', out, '--noise', '10', '--blur', '0.5');
  assert.match(text, /6 renders of 2 prompts \(noise 10, blur 0.5\)/);
  const records = readManifest(out);
  assert.deepEqual(records.map((r) => r.id), ['p0-0', 'p0-1', 'p0-2', 'p1-0', 'p1-1', 'p1-2']);
  assert.deepEqual(records[3].attributes, { count: 1, object: 'star', background: 'moon' });
  assert.deepEqual(records[0].extras, { category: 'combination', noise: 10, blur: 0.5 });
  await assert.rejects(runCli('render-set', '--prompts', prompts, '--per-prompt', '1', '--out', out), /manifest\.jsonl holds another render set \(its image p0-0: noise 10 there, 0 here, blur 0\.5 there, 0 here\): choose a new folder, or the same prompts/);
  await assert.rejects(runCli('render-set', '--prompts', 'seens', '--per-prompt', '1', '--out', path.join(dir, 'x')), /--prompts must be seen, unseen or a readable text file, got "seens"/);
  await assert.rejects(runCli('render-set', '--prompts', 'seen', '--per-prompt', '0', '--out', path.join(dir, 'x')), /--per-prompt must be an integer in 1\.\.100000, got "0"/);
  await assert.rejects(runCli('render-set', '--prompts', 'seen', '--per-prompt', '1', '--noise', 'loud', '--out', path.join(dir, 'x')), /--noise must be a number in 0\.\.255, got "loud"/);
  await assert.rejects(runCli('render-set', '--prompts', 'seen', '--per-prompt', '1', '--blur', '-1', '--out', path.join(dir, 'x')), /--blur must be a number in 0\.\.10, got "-1"/);
  assert.equal(fs.existsSync(path.join(dir, 'x')), false, 'bad input writes nothing');
});

test('fid: JSON with the sample sizes and the classifier; missing, empty and non-dataset folders are clear errors', async () => {
  await initTestBackend();
  const dir = tmp();
  const prompts = path.join(dir, 'prompts.txt');
  fs.writeFileSync(prompts, 'two red circles\na blue star on the moon\nthree hearts in the sea\n');
  const a = path.join(dir, 'a'), b = path.join(dir, 'b');
  await runCli('render-set', '--prompts', prompts, '--per-prompt', '4', '--out', a, '--seed', '1');
  await runCli('render-set', '--prompts', prompts, '--per-prompt', '5', '--out', b, '--seed', '2', '--noise', '30');
  const r = JSON.parse(await runCli('fid', '--a', a, '--b', b, '--json'));
  assert.deepEqual(Object.keys(r).sort(), ['classifier', 'dim', 'fid', 'nA', 'nB']);
  assert.equal(r.nA, 12);
  assert.equal(r.nB, 15);
  assert.ok(Number.isFinite(r.fid) && r.fid > 0);
  assert.match(r.classifier, /data[/\\]classifier$/);
  await assert.rejects(runCli('fid', '--a', path.join(dir, 'nope'), '--b', b), /--a .*nope: no such dataset folder/);
  await assert.rejects(runCli('fid', '--a', a, '--b', dir), /--b .*: not a dataset folder \(no manifest.jsonl\)/);
  const empty = path.join(dir, 'empty');
  fs.mkdirSync(empty);
  fs.writeFileSync(path.join(empty, 'manifest.jsonl'), '');
  await assert.rejects(runCli('fid', '--a', a, '--b', empty), /--b .*empty: the dataset has no images/);
  await assert.rejects(runCli('fid', '--a', a, '--b', b, '--model', path.join(dir, 'no-model')), /no classifier checkpoint in .*no-model/);
});

test('classifier-accuracy: bad --noise, --blur, --per-category and --model are clear errors', async () => {
  await assert.rejects(runCli('classifier-accuracy', '--noise', '-3'), /--noise must be a number in 0\.\.255, got "-3"/);
  await assert.rejects(runCli('classifier-accuracy', '--blur', 'x'), /--blur must be a number in 0\.\.10, got "x"/);
  await assert.rejects(runCli('classifier-accuracy', '--per-category', '1.5'), /--per-category must be an integer/);
  await assert.rejects(runCli('classifier-accuracy', '--model', '/no/such/dir'), /no classifier checkpoint in \/no\/such\/dir/);
});

test('classifier-accuracy --json on the shipped classifier: sample sizes, per-category accuracy, agreement', async () => {
  await initTestBackend();
  const r = JSON.parse(await runCli('classifier-accuracy', '--per-category', '20', '--seed', '7', '--json'));
  assert.equal(r.accuracy.all.n, 80);
  assert.equal(r.accuracy.categories.count.n, 20);
  assert.equal(r.accuracy.hardNegatives.ellipse.n, 20);
  assert.equal(r.agreement.n, 80);
  assert.ok(r.accuracy.all.exact / r.accuracy.all.n > 0.9);
});

test('train-classifier --quick trains and checkpoints; a second run refuses to overwrite without --overwrite', async () => {
  await initTestBackend();
  const out = path.join(tmp(), 'clf');
  await assert.rejects(runCli('train-classifier', '--quick', '--seed', 'x', '--out', out), /--seed must be an integer/);
  const r = JSON.parse(await runCli('train-classifier', '--quick', '--out', out, '--json'));
  assert.equal(r.step, r.config.train.steps);
  assert.ok(r.seconds > 0);
  await assert.rejects(runCli('train-classifier', '--quick', '--out', out), /already holds a trained classifier .*pass --overwrite/);
  fs.writeFileSync(path.join(out, 'checkpoint.json'), '{ not json');
  await assert.rejects(runCli('train-classifier', '--quick', '--out', out), /corrupt checkpoint .*pass --overwrite to replace it/);
  // A checkpoint of another kind is never replaced, --overwrite or not (a reward model was deleted for a classifier).
  const reward = path.join(tmp(), 'reward');
  fs.cpSync('data/reward-model', reward, { recursive: true });
  const before = fs.readdirSync(reward).sort();
  await assert.rejects(runCli('train-classifier', '--quick', '--out', reward, '--overwrite'), /holds a "reward" checkpoint, not a classifier: give a new or empty folder \(--overwrite replaces only a classifier\)/);
  assert.deepEqual(fs.readdirSync(reward).sort(), before);
});
