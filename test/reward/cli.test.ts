import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fewLabels } from '../../src/reward/run';
import { runCli } from '../cli/run-in-process';
import { smallDataset, tempDir } from '../feedback/helpers';
import { labelledDataset, tinyFrozenClip } from './helpers';
import { assertNoLeaks } from '../../src/engine';
import { auxLossAblation, EvalSet, imagesSeenInTraining, loadRewardData, recordedTrainingImages } from '../../src/reward';
import { encodePng, readImage, readManifest, renderPrompt } from '../../src/world';
import { embedImages, loadRewardModel } from '../../src/reward';

test('t2i-align train-reward, reward --manifest/--image and eval-reward on a small labelled dataset', async () => {
  const data = labelledDataset(30);
  const out = path.join(tempDir('rm'), 'model');
  const stderr: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((t: string | Uint8Array, ...rest: unknown[]) => (typeof t === 'string' ? (stderr.push(t), true) : (write as (...a: unknown[]) => boolean)(t, ...rest))) as typeof process.stderr.write;
  let trained;
  try {
    trained = JSON.parse(await runCli('train-reward', '--data', data, '--out', out, '--json'));
  } finally {
    process.stderr.write = write;
  }
  assert.equal(trained.rows.train + trained.rows.heldOut, 30);
  // 30 images: a caution on stderr, with how much one held-out image moves the accuracy.
  assert.match(stderr.join(''), new RegExp(`(^|\\n)t2i-align: only ${trained.rows.train} training rows and ${trained.heldOut.images} held-out images: .* one held-out image moves its held-out accuracy by ${(100 / trained.heldOut.images).toFixed(1)} points [^\\n]*\\n`));
  assert.equal(fewLabels({ train: 2208 }, 544), undefined);
  assert.match(fewLabels({ train: 7 }, 0)!, /only 7 training rows and 0 held-out images: .*no image was held out/);
  assert.ok(trained.heldOut.auc.value >= 0 && trained.heldOut.auc.value <= 1);
  await assert.rejects(runCli('train-reward', '--data', data, '--out', out), /already holds a reward model.*--overwrite/);
  await assert.rejects(runCli('train-reward', '--data', data, '--data', path.join(data, '..', path.basename(data)), '--out', path.join(tempDir('rm-twice'), 'm')), /is given twice \(--data twice\): each dataset counts once/);
  await assert.rejects(runCli('reward-ablation', '--data', data, '--judge', data, '--seeds', '0,0'), /--seeds must name each seed once .*got "0,0"/);
  // A dataset's folder, or a folder holding another kind of checkpoint, is never written into (not even with --overwrite).
  const before = fs.readdirSync(data).sort();
  await assert.rejects(runCli('train-reward', '--data', data, '--out', data), /holds files but no reward model \(checkpoint\.json\): give a new or empty folder/);
  assert.deepEqual(fs.readdirSync(data).sort(), before);
  const diffusion = path.join(tempDir('rm-other'), 'diffusion');
  fs.mkdirSync(diffusion);
  fs.writeFileSync(path.join(diffusion, 'checkpoint.json'), fs.readFileSync(path.join(out, 'checkpoint.json'), 'utf8').replace(/"kind": *"reward"/, '"kind": "diffusion"'));
  await assert.rejects(runCli('train-reward', '--data', data, '--out', diffusion, '--overwrite'), /holds a "diffusion" checkpoint, not a reward model/);
  const aFile = path.join(path.dirname(out), 'a-file');
  fs.writeFileSync(aFile, 'notes');
  await assert.rejects(runCli('train-reward', '--data', data, '--out', aFile), /--out .*a-file is a file, not a folder/); // before training, not after
  assert.equal(fs.readFileSync(aFile, 'utf8'), 'notes');

  const scored = JSON.parse(await runCli('reward', '--model', out, '--manifest', data, '--json'));
  assert.equal(scored.scores.length, 30);
  for (const s of scored.scores) {
    assert.deepEqual(Object.keys(s), ['id', 'prompt', 'reward']);
    assert.ok(s.reward >= 0 && s.reward <= 1);
  }
  // Every image against its own prompt: the same numbers as scoring each record here, one by one.
  const { model: rm, frozen: rf } = await loadRewardModel(out);
  const records = readManifest(data);
  records.forEach((r, i) => {
    const want = rm.score(embedImages(rf.clip, [readImage(data, r)]), [r.prompt])[0];
    assert.equal(scored.scores[i].id, r.id);
    assert.ok(Math.abs(scored.scores[i].reward - want) < 1e-5, `${r.id}: ${scored.scores[i].reward} against ${want}`);
  });
  assert.ok(new Set(scored.scores.map((s: { reward: number }) => s.reward.toFixed(6))).size > 1);
  rm.dispose();
  rf.clip.dispose();
  const png = path.join(tempDir('img'), 'a.png');
  fs.writeFileSync(png, encodePng(renderPrompt({ count: 2, color: 'red', object: 'circle' }, 1).image));
  for (const model of [out, 'clip']) {
    const one = JSON.parse(await runCli('reward', '--model', model, '--image', png, '--prompt', 'two red circles', '--prompt', 'Three red circles.', '--json'));
    assert.deepEqual(one.scores.map((s: { prompt: string }) => s.prompt), ['two red circles', 'three red circles']);
  }
  const judged = smallDataset(12, tempDir('ds'), 'test'); // images the model never saw
  const ev = JSON.parse(await runCli('eval-reward', '--model', out, '--judge', judged, '--resamples', '20', '--render-prompts', '5', '--json'));
  assert.deepEqual(ev.evals.map((e: { scorer: string }) => e.scorer), ['reward', 'clip']);
  assert.equal(ev.evals[0].rows[0].images, 12);
  assert.ok(ev.renders.reward.pairs >= 0 && ev.renders.reward.pairs <= 1);
  assert.equal(ev.differences.length, 1);
  assert.equal(ev.differences[0].reward, ev.evals[0].rows[0].auc.value, 'the difference starts from the AUCs of the table');
  assert.equal(ev.differences[0].clip, ev.evals[1].rows[0].auc.value);
  // Its own training images are not a test set (a collect with the feedback's --seed makes them again).
  const evOut = path.join(tempDir('ev'), 'out');
  await assert.rejects(runCli('eval-reward', '--model', out, '--judge', judged, '--labels', data, '--out', evOut), /: 30 of its 30 images are in the data this reward model was trained on \(.*\): evaluate on images it never saw/);
  assert.equal(fs.existsSync(evOut), false);
  await assert.rejects(runCli('reward-ablation', '--data', data, '--judge', judged, '--judge', data, '--seeds', '0,1'), /: 30 of its 30 images are in the data these reward models train on/);
  // The same pictures under other prompts are other examples (a stand-in render can equal one of another prompt).
  const renamed = path.join(tempDir('renamed'), 'ds');
  fs.cpSync(data, renamed, { recursive: true });
  const lines = fs.readFileSync(path.join(renamed, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const rotated = lines.map((r, i) => ({ ...r, prompt: lines[(i + 1) % lines.length].prompt, attributes: lines[(i + 1) % lines.length].attributes }));
  fs.writeFileSync(path.join(renamed, 'manifest.jsonl'), rotated.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const { meta } = await loadRewardModel(out).then((m) => (m.model.dispose(), m.frozen.clip.dispose(), m));
  assert.equal(imagesSeenInTraining(out, meta.datasets, renamed).shared, 0);
  assert.equal(imagesSeenInTraining(out, meta.datasets, data).shared, 30);
  // Copied away from its training data, the model still knows its training images by the list beside it (the
  // check was skipped with a note: a copy of the training set then passed as a test set).
  const away = path.join(tempDir('away'), 'a', 'b', 'rm'); // deeper: the recorded relative path leads nowhere from here
  fs.cpSync(out, away, { recursive: true });
  const dataCopy = path.join(tempDir('data-copy'), 'ds');
  fs.cpSync(data, dataCopy, { recursive: true });
  assert.ok(!fs.existsSync(path.resolve(away, meta.datasets[0].dir, 'manifest.jsonl')), 'the training folder is not where the copy looks');
  await assert.rejects(runCli('eval-reward', '--model', away, '--judge', dataCopy, '--resamples', '20'), /: 30 of its 30 images are in the data this reward model was trained on \(.*training-images\.txt\)/);
  const list = recordedTrainingImages(away);
  assert.equal(list?.size, 30);
  assert.equal(imagesSeenInTraining(away, meta.datasets, judged, list).shared, 0, 'images it never saw pass');
  // The same images under respelt prompts ("Two red circles." is "two red circles") are the training images still
  // (they passed as a test set); and `reward --manifest` reads them in the one spelling, as training does.
  const respelt = path.join(tempDir('respelt'), 'ds');
  fs.cpSync(data, respelt, { recursive: true });
  const spelt = fs.readFileSync(path.join(respelt, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  fs.writeFileSync(path.join(respelt, 'manifest.jsonl'), spelt.map((r) => JSON.stringify({ ...r, prompt: `${r.prompt[0].toUpperCase()}${r.prompt.slice(1)}.` })).join('\n') + '\n');
  assert.equal(imagesSeenInTraining(away, meta.datasets, respelt, list).shared, 30);
  const scoresOf = async (dir: string) => JSON.parse(await runCli('reward', '--model', out, '--manifest', dir, '--json')).scores;
  assert.deepEqual(await scoresOf(respelt), await scoresOf(dataCopy));
  // A list its checkpoint does not name (another model's, or its earlier one left by a save cut short) is not read.
  fs.appendFileSync(path.join(away, 'training-images.txt'), '0123456789abcdef\n');
  assert.equal(recordedTrainingImages(away), null);
  // Beside the folders a relative path finds, not instead of them: a copy beside another dataset still knows its own.
  const beside = path.join(tempDir('beside'), 'x');
  fs.cpSync(out, path.join(beside, 'rm'), { recursive: true });
  fs.cpSync(judged, path.resolve(beside, 'rm', meta.datasets[0].dir), { recursive: true }); // another dataset where the path leads
  assert.equal(imagesSeenInTraining(path.join(beside, 'rm'), meta.datasets, dataCopy, recordedTrainingImages(path.join(beside, 'rm'))).shared, 30);
});

test('reward commands: bad input is one clear line and writes nothing', async () => {
  const unlabelled = smallDataset(3);
  const out = path.join(tempDir('rm'), 'none');
  await assert.rejects(runCli('train-reward', '--data', unlabelled, '--out', out), /has no labels/);
  assert.equal(fs.existsSync(out), false);
  await assert.rejects(runCli('train-reward', '--data', unlabelled, '--out', out, '--labels', 'median'), /--labels must be one of mean, rater/);
  await assert.rejects(runCli('train-reward', '--data', unlabelled, '--out', out, '--aux-weight', '-1'), /--aux-weight must be a number in 0\.\.100/);
  await assert.rejects(runCli('train-reward', '--data', unlabelled, '--out', out, '--inputs', 'both'), /--inputs must be one of joint, product, got "both"/);
  await assert.rejects(runCli('train-reward', '--data', unlabelled, '--out', out, '--clip-weight', '-1'), /--clip-weight must be a number in 0\.\.1000, got "-1"/);
  await assert.rejects(runCli('reward', '--model', 'clip', '--image', '/nope.png', '--prompt', 'a circle'), /no such file/);
  const png = path.join(tempDir('img'), 'a.png');
  fs.writeFileSync(png, encodePng(renderPrompt({ count: 1, object: 'circle' }, 1).image));
  await assert.rejects(runCli('reward', '--model', 'clip', '--image', png, '--prompt', 'two purple dogs'), /unknown object "dogs"/);
  await assert.rejects(runCli('reward', '--model', 'clip', '--image', png), /needs at least one --prompt/);
  await assert.rejects(runCli('reward', '--model', unlabelled, '--manifest', unlabelled), /--model: no checkpoint at .*checkpoint\.json is missing/);
  // A wrong kind of folder names the option, what the folder holds and where the right kind is found.
  await assert.rejects(runCli('reward', '--model', 'data/base-model', '--image', png, '--prompt', 'a circle'), /--model: data\/base-model is a text-to-image model folder \(clip\/, diffusion\/\), not a reward checkpoint \(a reward model is what train-reward --out writes, e\.g\. data\/reward-model\)/);
  await assert.rejects(runCli('reward', '--model', 'data/base-model/clip', '--image', png, '--prompt', 'a circle'), /--model: checkpoint data\/base-model\/clip holds a "miniclip" model, not a reward model/);
  await assert.rejects(runCli('reward', '--model', 'CLIP', '--image', png, '--prompt', 'a circle'), /--model CLIP: no such folder; give a reward model folder \(e\.g\. data\/reward-model\) or "clip"/);
  await assert.rejects(runCli('reward', '--model', 'clip', '--clip', 'data/classifier', '--image', png, '--prompt', 'a circle'), /--clip: checkpoint data\/classifier holds a "classifier" model, not a miniclip model \(a MiniCLIP is a model folder's clip\/, e\.g\. data\/base-model\/clip\)/);
  await assert.rejects(runCli('train-reward', '--data', unlabelled, '--out', out, '--clip', 'data/reward-model'), /--clip: checkpoint data\/reward-model holds a "reward" model, not a miniclip model/);
  assert.equal(fs.existsSync(out), false);
  // A model folder stands for its clip/: the same scores as the MiniCLIP folder itself.
  const viaModel = await runCli('reward', '--model', 'clip', '--clip', 'data/base-model', '--image', png, '--prompt', 'a circle', '--json');
  const viaClip = await runCli('reward', '--model', 'clip', '--clip', 'data/base-model/clip', '--image', png, '--prompt', 'a circle', '--json');
  assert.equal(viaModel, viaClip);
  await assert.rejects(runCli('eval-reward', '--model', out), /at least one --labels DIR or --judge DIR/);
  await assert.rejects(runCli('eval-reward', '--model', out, '--judge', unlabelled, '--resamples', 'many'), /--resamples must be an integer in 10\.\.100000/);
  await assert.rejects(runCli('eval-reward', '--model', out, '--judge', unlabelled, '--resamples', '0'), /--resamples must be an integer in 10\.\.100000, got "0"/);
  const aFile = path.join(tempDir('evout'), 'a-file');
  fs.writeFileSync(aFile, 'notes');
  await assert.rejects(runCli('eval-reward', '--model', out, '--judge', unlabelled, '--out', aFile), /--out .*a-file is a file, not a folder/); // before the evaluation
  assert.equal(fs.readFileSync(aFile, 'utf8'), 'notes');
  await assert.rejects(runCli('train-reward', '--data', unlabelled, '--out', out, '--aux-prompts', '1'), /--aux-prompts must be an integer in 2\.\.64/);
  await assert.rejects(runCli('reward-ablation', '--data', unlabelled, '--judge', unlabelled, '--seeds', '3'), /--seeds must be 2\.\.20 integers/);
  await assert.rejects(runCli('reward-ablation', '--data', unlabelled, '--judge', unlabelled, '--aux-weight', '0'), /--aux-weight must be a number in 1e-9\.\.100/);
  await assert.rejects(runCli('reward-ablation', '--data', unlabelled, '--judge', unlabelled, '--render-prompts', '-1'), /--render-prompts must be an integer in 0\.\.100000/);
  assert.equal(fs.existsSync(out), false);
  // a dataset of another image size is named, with the size the models take (it was "example 0 ("") is 64x64")
  const big = path.join(tempDir('big'), 'renders');
  const prompts = path.join(path.dirname(big), 'prompts.txt');
  fs.writeFileSync(prompts, 'a red circle\n');
  await runCli('render-set', '--prompts', prompts, '--size', '64', '--out', big);
  await assert.rejects(runCli('reward', '--model', 'clip', '--manifest', big), /renders: image .* is 64x64; the models take 32x32 \(render-set --size 32/);
});

test('t2i-align reward-ablation writes its result as JSON and as the markdown table beside it', async () => {
  const data = labelledDataset(30);
  const judged = smallDataset(12, tempDir('ds'), 'test'); // images the model never saw
  const out = path.join(tempDir('abl'), 'new', 'ablation.json'); // --out makes its folder (it was refused after every model had trained)
  const printed = await assertNoLeaks(() => runCli('reward-ablation', '--data', data, '--judge', judged, '--seeds', '0,1', '--render-prompts', '4', '--out', out), 'reward-ablation');
  const r = JSON.parse(fs.readFileSync(out, 'utf8'));
  assert.deepEqual(r.seeds, [0, 1]);
  assert.equal(r.auxWeight, 0.5);
  assert.equal(r.runs.length, 2);
  assert.ok(r.effects.some((e: { metric: string }) => e.metric === 'renders/pairs'), 'the render check ran');
  const md = fs.readFileSync(out.replace(/\.json$/, '.md'), 'utf8');
  assert.equal(md, printed.endsWith('\n') ? printed : printed + '\n', 'the .md file is the table the command prints');
  assert.match(md, /\| metric \|/);
});

test('auxLossAblation frees each reward model when an evaluation throws', async () => {
  const frozen = tinyFrozenClip();
  const data = loadRewardData([labelledDataset(20)], frozen);
  const unreadable = { name: 'bad', get embeddings(): never { throw new Error('unreadable set'); } } as unknown as EvalSet;
  await assertNoLeaks(() => assert.rejects(auxLossAblation(data, frozen, [unreadable], [0, 1], { maxEpochs: 1 }, undefined, 0), /unreadable set/), 'a failed ablation');
  frozen.clip.dispose();
});
