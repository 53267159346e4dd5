// The whole pipeline at toy scale on the shipped checkpoints: reproduce writes
// the summary, the claims and a report whose every figure draws in Chromium
// (apt-get install chromium); a rerun resumes instead of redoing the work, and
// a rerun with another config is refused before anything is touched.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { initBackend } from '../../src/engine';
import { checkReportInBrowser } from '../../src/pipeline/report';
import { reproduce, resolveReproduceConfig } from '../../src/pipeline/reproduce';
import { readManifest } from '../../src/world/dataset';
import { seenPrompts } from '../../src/world/promptSets';
import { removedAtExit } from '../helpers/temp';

const TOY = {
  feedbackPromptsPerCategory: 2,
  seeds: [0],
  feedback: { perPrompt: 2, guidance: 2.5 },
  unlabelled: { perPrompt: 1 },
  rewardTest: { perPrompt: 2, unseenPromptsPerCategory: 1 },
  rewardSeeds: 2,
  finetuneSteps: 2,
  rejectionK: 2,
  eval: { promptsPerCategory: 1, perPrompt: 2 },
};

test('reproduce at toy scale: summary, claims, a report that draws, resume, and a changed config refused', { timeout: 600_000 }, async () => {
  await initBackend();
  const out = removedAtExit('t2i-reproduce-');
  const config = resolveReproduceConfig('quick', TOY);
  const lines: string[] = [];
  const s = await reproduce(config, out, { log: (l) => lines.push(l) });

  assert.equal(readManifest(path.join(out, 'feedback')).length, 8 * 2);
  // feedback.guidance reaches every model-generated dataset of stage 1.
  const guidanceOf = (d: string) => JSON.parse(fs.readFileSync(path.join(out, d, 'dataset.json'), 'utf8')).generator.sampler.guidanceScale;
  assert.deepEqual(['feedback', 'unlabelled', 'test', 'unseen-test'].map(guidanceOf), [2.5, 2.5, 2.5, 2.5]);
  // The reward claims read the base model's images of the unseen prompts as well as the stand-in renders
  // (a set of one class is named in the claim's note instead of a part).
  const promptsOf = (d: string) => readManifest(path.join(out, d)).map((r) => r.prompt).sort();
  // The base-model images' prompts are a seeded sample of the stand-ins' (rewardTest.unseenPromptsPerCategory).
  const standIns = new Set(promptsOf('standin-unseen'));
  assert.equal(promptsOf('unseen-test').length, 4, 'one prompt per category');
  assert.ok(promptsOf('unseen-test').every((p) => standIns.has(p)));
  const seen = new Set(seenPrompts().map((e) => e.prompt));
  assert.ok(promptsOf('unseen-test').every((p) => !seen.has(p)), 'unseen-test holds unseen prompts');
  for (const f of ['summary.json', 'claims.md', 'claims.json', 'report.html', 'config.json', 'reward-claims.json', 'grids/base.png', 'grids/rlhf.png']) {
    assert.ok(fs.existsSync(path.join(out, f)), `${f} written`);
  }
  const claims = JSON.parse(fs.readFileSync(path.join(out, 'claims.json'), 'utf8'));
  assert.equal(claims.length, 8);
  for (const c of claims) assert.ok(['reproduced', 'mixed', 'not reproduced'].includes(c.verdict), `${c.id}: ${c.verdict}`);
  for (const id of ['auxiliary-loss', 'reward-vs-clip']) {
    const c = claims.find((x: { id: string }) => x.id === id);
    const text = JSON.stringify(c.parts.map((p: { name: string }) => p.name)) + (c.note ?? '');
    assert.match(text, id === 'reward-vs-clip' ? /unseen test \(judge\)/ : /unseen prompts \(base-model images, judge\)/, `${id} reads the unseen base-model images: ${text}`);
  }
  assert.deepEqual(Object.keys(s.evaluations).sort(), ['base', 'base+best-of-2', 'labelled-only-seed0', 'no-pretrain-seed0', 'rlhf-seed0', 'sft-seed0']);
  const ev = s.evaluations.base.seen as { byCategory: Record<string, { n: number }>; fid: { images: number } };
  assert.equal(ev.byCategory.count.n, 2);
  assert.equal(ev.fid.images, 8);
  assert.ok(s.pairs.every((p) => p.alignment.win + p.alignment.tie + p.alignment.lose === p.alignment.n));

  const check = await checkReportInBrowser(path.join(out, 'report.html'), { screenshot: path.join('results', 'screenshots', 'reproduce-report.png') });
  assert.deepEqual(check.errors, []);
  assert.deepEqual(check.requests, []);
  assert.deepEqual(check.blank, []);
  assert.equal(check.drawn, check.figures);
  assert.ok(check.figures >= 8, `${check.figures} figures`);
  // The report names the preset and carries the claims' notes, as claims.md does.
  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  assert.match(html, /a config of its own \(config\.json\)/);
  const noted = claims.filter((c: { note?: string }) => c.note);
  assert.ok(noted.length > 0);
  for (const c of noted) assert.ok(html.includes(`${c.id}: `), `${c.id}'s note is in report.html`);
  assert.match(html, /- \(1 seed\)/, 'an interval a single seed cannot give says why it is missing');

  // Resume: every stage finds its work done (no image, weights file, evaluation or fine-tuning record is written
  // again); the claims come out the same.
  const work = () =>
    Object.fromEntries(['feedback', 'reward', 'finetune', 'eval'].flatMap((d) =>
      (fs.readdirSync(path.join(out, d), { recursive: true }) as string[]).map((f) => path.join(d, f))
        .filter((f) => /\.(png|bin|jsonl)$/.test(f) || (f.startsWith('eval') && f.endsWith('.json')) || /(finetune|weights)\.json$/.test(f))
        .map((f) => [f, fs.statSync(path.join(out, f)).mtimeMs]),
    ));
  const stamps = work();
  assert.ok(Object.keys(stamps).some((f) => f.endsWith('.bin')) && Object.keys(stamps).some((f) => f.startsWith('eval')), Object.keys(stamps).join(' '));
  const bar = { total: 0, ticked: 0 };
  const again = await reproduce(config, out, { log: () => {}, progress: (total) => ((bar.total = total), { tick: (n = 1) => void (bar.ticked += n), done: () => {} }) });
  assert.deepEqual(again.claims, s.claims);
  assert.deepEqual(again.earlier, [{ seconds: s.seconds, steps: s.steps }], 'the first invocation\'s times are kept');
  assert.deepEqual(work(), stamps, 'a resumed run redid no stage');
  assert.equal(bar.ticked, bar.total, 'the bar of a run that found every stage done reaches its end (it stopped at 4%)');
  // The folder is held: a second reproduce into it while one runs is refused at once, naming the holder.
  const both = await Promise.allSettled([reproduce(config, out, { log: () => {} }), reproduce(config, out, { log: () => {} })]);
  assert.deepEqual(both.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  assert.match(((both.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason as Error).message, /another reproduce \(pid \d+, this one\) is running in /);
  assert.ok(!fs.existsSync(path.join(out, '.reproduce.lock')), 'the lock goes with the run');
  // A run stopped midway keeps its times up to its last finished step (they were lost with it: summary.json is
  // written at the end), and the next run counts them among the earlier invocations.
  const timing = () => JSON.parse(fs.readFileSync(path.join(out, 'timing.json'), 'utf8')).invocations;
  const made = timing().length;
  fs.rmSync(path.join(out, 'grids', 'base.json'));
  await assert.rejects(reproduce(config, out, { log: (l) => { if (l === 'reproduce: grids') throw new Error('stopped here'); } }), /stopped here/);
  const stopped = timing();
  assert.equal(stopped.length, made + 1);
  assert.equal(stopped.at(-1).interrupted, true);
  assert.ok('evaluate base seen' in stopped.at(-1).steps && !('grids' in stopped.at(-1).steps), JSON.stringify(stopped.at(-1)));
  const resumed = await reproduce(config, out, { log: () => {} });
  assert.deepEqual(resumed.earlier, stopped);
  assert.equal(timing().length, made + 2);
  // A stage killed midway (at its first batch of images) keeps its time so far (saved as it ticks, here at every tick): a stopped evaluation's
  // minutes were lost with it.
  fs.rmSync(path.join(out, 'eval', 'base', 'seen'), { recursive: true });
  let inEval = false;
  const stopInEval = { tick: () => { if (inEval) throw new Error('killed in the evaluation'); }, done: () => {} };
  await assert.rejects(reproduce(config, out, { log: (l) => void (inEval = l === 'reproduce: evaluate base seen'), progress: () => stopInEval, timingEveryMs: 0 }), /killed in the evaluation/);
  const killed = timing().at(-1);
  assert.equal(timing().length, made + 3);
  assert.equal(killed.interrupted, true);
  assert.ok(killed.steps['evaluate base seen'] > 0, JSON.stringify(killed));
  assert.deepEqual((await reproduce(config, out, { log: () => {} })).claims, s.claims);

  // A grid is kept only beside its key: one without (or drawn from other weights) is drawn again, not shown
  // under the model's name. A reward-claims cache from before the reward's score key is read as it is; one of
  // another shape under this run's key is one line naming the file.
  const grid = path.join(out, 'grids', 'base.png');
  const drawn = fs.readFileSync(grid);
  fs.writeFileSync(grid, 'not this model\n');
  fs.rmSync(path.join(out, 'grids', 'base.json'));
  const claimsFile = path.join(out, 'reward-claims.json');
  const cached = JSON.parse(fs.readFileSync(claimsFile, 'utf8'));
  fs.writeFileSync(claimsFile, JSON.stringify({ ...cached, key: JSON.stringify({ ...JSON.parse(cached.key), rewardScore: undefined }) }));
  const legacyStamp = fs.statSync(claimsFile).mtimeMs;
  assert.deepEqual((await reproduce(config, out, { log: () => {} })).claims, s.claims);
  assert.deepEqual(fs.readFileSync(grid), drawn, 'the grid without its key was drawn again');
  assert.equal(fs.statSync(claimsFile).mtimeMs, legacyStamp, 'the cache from before the score key was read, not computed again');
  fs.writeFileSync(claimsFile, JSON.stringify({ key: cached.key }));
  await assert.rejects(reproduce(config, out, { log: () => {} }), /reward-claims\.json: not the reward claims reproduce writes .*remove it to compute them again/);
  fs.writeFileSync(claimsFile, JSON.stringify(cached));

  // A run folder from before eval.guidance existed resumes: the missing key reads as its default (null).
  const saved = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  delete saved.eval.guidance;
  delete saved.rewardTest.unseenPromptsPerCategory; // from before the unseen base-model reward test set: takes this run's
  fs.writeFileSync(path.join(out, 'config.json'), JSON.stringify(saved, null, 2) + '\n');
  assert.deepEqual((await reproduce(config, out, { log: () => {} })).claims, s.claims);
  await assert.rejects(reproduce(resolveReproduceConfig('quick', { ...TOY, eval: { ...TOY.eval, guidance: 2.5 } }), out, { log: () => {} }), /another config \(eval\.guidance was null, now 2\.5\)/);
  await assert.rejects(reproduce(resolveReproduceConfig('quick', { ...TOY, feedback: { perPrompt: 2 } }), out, { log: () => {} }), /another config \(feedback\.guidance was 2\.5, now null\)/);

  const other = resolveReproduceConfig('quick', { ...TOY, finetuneSteps: 3 });
  const before = fs.readFileSync(path.join(out, 'config.json'), 'utf8');
  await assert.rejects(reproduce(other, out, { log: () => {} }), /holds a run with another config \(finetuneSteps was 2, now 3\)/);
  assert.equal(fs.readFileSync(path.join(out, 'config.json'), 'utf8'), before, 'nothing already saved is lost');
});
