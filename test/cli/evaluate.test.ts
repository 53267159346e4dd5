import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { readCheckpointIndex } from '../../src/engine/checkpoint';
import { DEFAULT_MODEL_DIR } from '../../src/feedback/modelGenerator';
import { runCli } from './run-in-process';
import { removedAtExit } from '../helpers/temp';

test('evaluate prints one JSON object per the spec for a prompt file, with the shipped base model', { timeout: 300_000 }, async () => {
  const dir = removedAtExit('t2i-evaluate-');
  const file = path.join(dir, 'prompts.txt');
  fs.writeFileSync(file, '# one prompt per category\ntwo circles\na green circle\na circle on the moon\nthree red stars in the sea\n');
  const r = JSON.parse(await runCli('evaluate', '--model', 'base', '--prompts', file, '--per-prompt', '2', '--seed', '3', '--reward', 'data/reward-model', '--out', path.join(dir, 'a'), '--json'));
  for (const c of ['count', 'color', 'background', 'combination']) {
    const cell = r.byCategory[c];
    assert.equal(cell.n, 2, c);
    assert.equal(cell.prompts, 1, c);
    assert.ok(cell.accuracy >= 0 && cell.accuracy <= 1);
    assert.deepEqual(cell.ci95, [null, null], 'one prompt: no interval over prompts (was [x, x])');
  }
  assert.equal(r.overall.n, 8);
  assert.ok(r.overall.ci95[0] <= r.overall.accuracy && r.overall.accuracy <= r.overall.ci95[1], 'four prompts: an interval');
  assert.ok(r.meanReward > 0 && r.meanReward < 1);
  assert.ok(Number.isFinite(r.fid.value) && r.fid.value >= 0);
  assert.equal(r.fid.images, 8);
  assert.equal(r.fid.renders, 8);
  assert.equal(r.images, 8);
  assert.equal(r.evaluator, 'judge');
  assert.equal(r.otherReader.evaluator, 'classifier');
  const own = readCheckpointIndex<{ config: { sampler: { guidanceScale: number } } }>(path.join(DEFAULT_MODEL_DIR, 'diffusion')).meta.config.sampler;
  assert.equal(r.sampler.guidanceScale, own.guidanceScale, "the model's own sampler");

  // --guidance and --steps replace the model's own settings, and the result says which were used.
  const other = own.guidanceScale === 4 ? 5 : 4;
  const g = JSON.parse(await runCli('evaluate', '--model', 'base', '--prompts', file, '--per-prompt', '1', '--guidance', String(other), '--steps', '2', '--json'));
  assert.equal(g.sampler.guidanceScale, other);
  assert.equal(g.sampler.steps, 2);
  assert.equal(g.sampler.eta, r.sampler.eta);

  // Same prompts and seed: the same images, so the same verdicts (paired across models); the classifier as the reader swaps the tables.
  const c = JSON.parse(await runCli('evaluate', '--model', 'base', '--prompts', file, '--per-prompt', '2', '--seed', '3', '--evaluator', 'classifier', '--out', path.join(dir, 'b'), '--json'));
  assert.deepEqual(c.overall, r.otherReader.overall);
  assert.deepEqual(c.otherReader.overall, r.overall);
  assert.equal(c.fid.value, r.fid.value);
  assert.equal(c.meanReward, null);

  // The same model, prompts and seeds: every image ties with itself.
  const w = JSON.parse(await runCli('compare', '--a', path.join(dir, 'a'), '--b', path.join(dir, 'b'), '--json'));
  assert.deepEqual(w.alignment, { win: 0, tie: 8, lose: 0, n: 8 });
  assert.deepEqual(w.fidelity, { win: 0, tie: 8, lose: 0, n: 8 });
  await assert.rejects(runCli('compare', '--a', path.join(dir, 'a'), '--b', dir), /--b .*: no evaluation\.json \(write one with `evaluate --out/);
  // Damaged images are refused naming the file and image (a null was a raw error, "false" a win, a repeat counted twice).
  const evalB = JSON.parse(fs.readFileSync(path.join(dir, 'b', 'evaluation.json'), 'utf8'));
  const damaged = path.join(dir, 'b-damaged');
  fs.mkdirSync(damaged, { recursive: true });
  for (const [edit, message] of [
    [(im: unknown[]) => (im[0] = null), /image 0: .*expected object/],
    [(im: Array<Record<string, unknown>>) => (im[1] = { ...im[1], judge: 'false' }), /image 1: judge: .*expected boolean/],
    [(im: Array<Record<string, unknown>>) => im.push({ ...im[2] }), /image 8 \(".*", k \d+\) is listed twice/],
  ] as const) {
    const images = structuredClone(evalB.result.images);
    (edit as (im: unknown[]) => void)(images);
    fs.writeFileSync(path.join(damaged, 'evaluation.json'), JSON.stringify({ ...evalB, result: { ...evalB.result, images } }));
    await assert.rejects(runCli('compare', '--a', path.join(dir, 'a'), '--b', damaged), new RegExp(`b-damaged/evaluation\\.json: ${message.source}`));
  }

  // A reward model rewritten with the same weights but another score (train-reward --clip-weight K --overwrite) is
  // another reward: its saved evaluation is refused, not read back as this one's.
  const rescored = path.join(dir, 'reward-rescored');
  fs.cpSync('data/reward-model', rescored, { recursive: true });
  const index = JSON.parse(fs.readFileSync(path.join(rescored, 'checkpoint.json'), 'utf8'));
  index.meta.model = { ...index.meta.model, clipWeight: 20, calibration: { a: 2, b: -1, rows: 100 } };
  fs.writeFileSync(path.join(rescored, 'checkpoint.json'), JSON.stringify(index));
  await assert.rejects(runCli('evaluate', '--model', 'base', '--prompts', file, '--per-prompt', '2', '--seed', '3', '--reward', rescored, '--out', path.join(dir, 'a'), '--json'), /evaluation\.json holds an evaluation with other settings or weights \(rewardScore\.model\.clipWeight was 0, now 20\)/);
  // The same settings written without the evaluator (as code calling evaluateStage may) are the same evaluation: read back, not refused.
  const saved = path.join(dir, 'a', 'evaluation.json');
  const body = JSON.parse(fs.readFileSync(saved, 'utf8'));
  const settings = JSON.parse(body.settings);
  assert.equal(settings.evaluator, 'judge');
  delete settings.evaluator;
  fs.writeFileSync(saved, JSON.stringify({ ...body, settings: JSON.stringify(settings) }));
  const err: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string | Uint8Array) => (err.push(String(s)), true)) as typeof process.stderr.write;
  const again = await runCli('evaluate', '--model', 'base', '--prompts', file, '--per-prompt', '2', '--seed', '3', '--reward', 'data/reward-model', '--out', path.join(dir, 'a'), '--json').finally(() => (process.stderr.write = write));
  assert.deepEqual(JSON.parse(again).overall, r.overall);
  assert.ok(err.some((l) => l.includes(`evaluate: read back from ${saved} (the same settings and weights; remove it to evaluate again)`)), `said it read the evaluation back: ${err.join('')}`);
  // One saved without its sampler (an older kit's) may be another guidance's: refused, not read back.
  fs.writeFileSync(saved, JSON.stringify({ ...body, settings: JSON.stringify(settings), result: { ...body.result, sampler: undefined } }));
  await assert.rejects(runCli('evaluate', '--model', 'base', '--prompts', file, '--per-prompt', '2', '--seed', '3', '--reward', 'data/reward-model', '--out', path.join(dir, 'a'), '--json'), (e: Error) => !e.message.includes('\n') && e.message.includes(`${saved} holds an evaluation that does not record its sampler`) && /remove it to evaluate again/.test(e.message));
  // A saved file of another shape is one line naming it.
  for (const [i, body] of ['{}', 'null', '[]', '{"settings": "{}", "result": null}', '{"settings": "not json", "result": {"images": []}}'].entries()) {
    const out = path.join(dir, `shape-${i}`);
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'evaluation.json'), body);
    await assert.rejects(runCli('evaluate', '--model', 'base', '--prompts', file, '--per-prompt', '1', '--out', out), (e: Error) => e.message.includes(path.join(out, 'evaluation.json')) && !e.message.includes('\n') && /not an evaluation written by evaluate|not valid JSON/.test(e.message), body);
  }
});

test('evaluate: bad input is one line naming what is wrong and what is allowed', async () => {
  const dir = removedAtExit('t2i-evaluate-bad-');
  const bad = path.join(dir, 'bad.txt');
  fs.writeFileSync(bad, 'a red circle\n\nthree purple blorps\n');
  await assert.rejects(runCli('evaluate', '--model', 'base', '--prompts', bad), /bad\.txt:3: unknown object "blorps".*allowed objects/);
  // One prompt twice (here written two ways) would be the same images counted twice.
  fs.writeFileSync(bad, 'two circles\na red circle\nTwo Circles\n');
  await assert.rejects(runCli('evaluate', '--model', 'base', '--prompts', bad), /the prompt "two circles" is given twice .*counted twice; give each prompt once/);
  await assert.rejects(runCli('evaluate', '--model', 'base', '--prompts', 'seen', '--evaluator', 'human'), /--evaluator must be one of judge, classifier, got "human"/);
  await assert.rejects(runCli('evaluate', '--model', 'base', '--prompts', 'seen', '--rejection', '4'), /--rejection needs --reward DIR/);
  await assert.rejects(runCli('evaluate', '--model', path.join(dir, 'nope'), '--prompts', 'seen'), /--model .*nope: no such folder/);
  await assert.rejects(runCli('evaluate', '--model', 'base', '--prompts', 'seen', '--per-prompt', '0'), /--per-prompt/);
  await assert.rejects(runCli('evaluate', '--model', 'base', '--prompts', 'seen', '--guidance', 'high'), /--guidance must be a number in 0\.\.100, got "high"/);
  await assert.rejects(runCli('evaluate', '--model', 'base', '--prompts', 'seen', '--guidance-interval', '600:200'), /--guidance-interval must be lo:hi, two timesteps with lo <= hi .*got "600:200"/);
  await assert.rejects(runCli('evaluate', '--model', 'base', '--prompts', 'everything'), /--prompts must be seen, unseen or a readable text file, got "everything"/);
  await assert.rejects(runCli('reproduce', '--quick', '--config', bad), /--config .*bad\.txt/);
  const cfg = path.join(dir, 'cfg.json');
  fs.writeFileSync(cfg, JSON.stringify({ seeds: [0], finetuneStep: 3 }));
  await assert.rejects(runCli('reproduce', '--quick', '--config', cfg, '--out', path.join(dir, 'run')), /reproduce config: .*finetuneStep/);
  assert.ok(!fs.existsSync(path.join(dir, 'run')), 'nothing written on a refused config');
  // The wrong kind of model in any role, and a single image, are refused before any sampling.
  const one = path.join(dir, 'one.txt');
  fs.writeFileSync(one, 'a red circle\n');
  await assert.rejects(runCli('evaluate', '--model', 'data/reward-model', '--prompts', one, '--per-prompt', '2'), /data\/reward-model holds a "reward" checkpoint, not a text-to-image model/);
  await assert.rejects(runCli('evaluate', '--model', 'base', '--prompts', one, '--per-prompt', '2', '--reward', 'data/classifier'), /checkpoint data\/classifier holds a "classifier" model, not a reward model/);
  await assert.rejects(runCli('evaluate', '--model', 'base', '--prompts', one, '--per-prompt', '2', '--classifier', 'data/reward-model'), /--classifier: checkpoint data\/reward-model holds a "reward" model, not a classifier model \(the classifier is what train-classifier --out writes/);
  // A reward model whose weights were damaged is refused before sampling too (was after every image was drawn).
  const damaged = path.join(dir, 'damaged-reward');
  fs.cpSync('data/reward-model', damaged, { recursive: true });
  const weights = path.join(damaged, readCheckpointIndex(damaged).weightsFile);
  const bytes = fs.readFileSync(weights);
  bytes[100] ^= 0xff;
  fs.writeFileSync(weights, bytes);
  await assert.rejects(runCli('evaluate', '--model', 'base', '--prompts', one, '--per-prompt', '2', '--reward', damaged, '--out', path.join(dir, 'damaged-eval')), /--reward: corrupt checkpoint .*sha256 does not match/);
  assert.ok(!fs.existsSync(path.join(dir, 'damaged-eval')), 'nothing written for a corrupt reward model');
  // ... and one copied away from its MiniCLIP (was refused after every image was drawn and judged)
  const stranded = path.join(dir, 'stranded-reward');
  fs.cpSync('data/reward-model', stranded, { recursive: true });
  const index = JSON.parse(fs.readFileSync(path.join(stranded, 'checkpoint.json'), 'utf8'));
  index.meta.clip.sha256 = 'f'.repeat(64); // a MiniCLIP that is neither beside it nor the shipped one
  fs.writeFileSync(path.join(stranded, 'checkpoint.json'), JSON.stringify(index));
  await assert.rejects(runCli('evaluate', '--model', 'base', '--prompts', one, '--per-prompt', '2', '--reward', stranded), /^\w*Error: --reward: reward model .*stranded-reward names its MiniCLIP as .* does not exist, nor is it the shipped one/);
  // ... or beside another MiniCLIP where its own was (retrained in place)
  const retrained = path.join(dir, 'retrained');
  fs.cpSync('data/reward-model', path.join(retrained, 'reward-model'), { recursive: true });
  fs.cpSync('data/base-model/clip', path.join(retrained, 'base-model', 'clip'), { recursive: true });
  // other weights, whole (their own sha256 in their checkpoint.json), for a reward trained on a MiniCLIP found nowhere
  const clipDir = path.join(retrained, 'base-model', 'clip');
  const clipIndex = JSON.parse(fs.readFileSync(path.join(clipDir, 'checkpoint.json'), 'utf8'));
  const other = fs.readFileSync(path.join(clipDir, clipIndex.weightsFile));
  other[100] ^= 0xff;
  const otherSha = createHash('sha256').update(other).digest('hex');
  fs.rmSync(path.join(clipDir, clipIndex.weightsFile));
  fs.writeFileSync(path.join(clipDir, `weights-${otherSha.slice(0, 12)}.bin`), other);
  fs.writeFileSync(path.join(clipDir, 'checkpoint.json'), JSON.stringify({ ...clipIndex, sha256: otherSha, weightsFile: `weights-${otherSha.slice(0, 12)}.bin` }));
  fs.writeFileSync(path.join(retrained, 'reward-model', 'checkpoint.json'), JSON.stringify({ ...index, meta: { ...index.meta, clip: { ...index.meta.clip, sha256: 'd'.repeat(64) } } }));
  await assert.rejects(runCli('evaluate', '--model', 'base', '--prompts', one, '--per-prompt', '2', '--reward', path.join(retrained, 'reward-model')), new RegExp(`^\\w*Error: --reward: reward model .*retrained/reward-model was trained on the MiniCLIP with weights dddddddddddd, not ${otherSha.slice(0, 12)}`));
  await assert.rejects(runCli('evaluate', '--model', 'base', '--prompts', one, '--per-prompt', '1'), /1 prompt x --per-prompt 1 is one image: the FID needs at least 2/);
  await assert.rejects(runCli('eval-finetune', '--runs', 'data/classifier'), /data\/classifier holds a "classifier" checkpoint, not a text-to-image model/);
});
