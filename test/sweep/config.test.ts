import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_SETTINGS, NAMED_SWEEPS, namedSweep, resolveSweep, snapshotSteps, sweepFigure, sweepRuns, SWEEP_NAMES, SummaryRow } from '../../src/sweep';
import { claimSweepDir, FEEDBACK_SEED, runFinetuneConfig, sweepEvalPrompts } from '../../src/sweep/run';
import { defaultWorkers, sweepWorkers } from '../../src/cli/sweep';
import { seenPrompts } from '../../src/world';
import { tempDir, TINY } from './helpers';

test('every named sweep resolves, default and quick, with its axes varied and its seeds', () => {
  assert.deepEqual(SWEEP_NAMES, ['beta', 'aux', 'unlabelled', 'labels', 'noise', 'overopt']);
  for (const name of SWEEP_NAMES) {
    for (const quick of [false, true]) {
      const s = resolveSweep(NAMED_SWEEPS[name], { quick });
      const runs = sweepRuns(s);
      const axes = Object.keys(s.grid);
      assert.equal(runs.length, axes.reduce((n, k) => n * s.grid[k as keyof typeof s.grid]!.length, s.seeds), name);
      assert.equal(new Set(runs.map((r) => r.key)).size, runs.length, `${name}: run keys are unique`);
      if (quick) assert.equal(s.settings.steps % s.settings.snapshots, 0);
    }
  }
  const q = resolveSweep(namedSweep('beta'), { quick: true });
  assert.deepEqual(q.grid.beta, [0, 1, 3]);
  assert.equal(q.settings.steps, 100);
  assert.equal(resolveSweep(namedSweep('beta'), { quick: true, seeds: 4 }).seeds, 4);
  assert.equal(resolveSweep(namedSweep('beta')).settings.labels, DEFAULT_SETTINGS.labels);
  for (const name of ['toString', 'hasOwnProperty', 'nope']) assert.throws(() => namedSweep(name), new RegExp(`unknown sweep "${name}"; the named sweeps are`)); // the first two were Object.prototype's
});

test('runs: grid points in order, seeds innermost, settings filled in', () => {
  const s = resolveSweep({ ...TINY, grid: { beta: [0, 1], aux: [0, 0.5] }, seeds: 2, figures: [{ title: 'Beta and aux', x: 'beta', y: ['overall'], series: 'aux' }] });
  const runs = sweepRuns(s);
  assert.equal(runs.length, 8);
  assert.deepEqual(runs.slice(0, 3).map((r) => r.key), ['beta=0,aux=0-seed0', 'beta=0,aux=0-seed1', 'beta=0,aux=0.5-seed0']);
  assert.equal(runs[2].settings.aux, 0.5);
  assert.equal(runs[2].settings.steps, 4);
});

test('evaluation steps: evenly spaced, with 0 (the base) first when there are several', () => {
  assert.deepEqual(snapshotSteps({ ...DEFAULT_SETTINGS, steps: 600, snapshots: 6 }), [0, 100, 200, 300, 400, 500, 600]);
  assert.deepEqual(snapshotSteps({ ...DEFAULT_SETTINGS, steps: 300, snapshots: 1 }), [300]);
});

test('a run checkpoints on every evaluation step and at most 200 updates apart (one evaluation once meant one checkpoint, at the end)', () => {
  for (const [steps, snapshots, interval] of [[1000, 1, 200], [600, 6, 100], [1200, 4, 150], [300, 1, 150], [4, 2, 2], [700, 1, 175], [1400, 2, 175], [802, 2, 401], [1009, 1, 1009], [440, 1, 110]]) {
    const settings = { ...DEFAULT_SETTINGS, steps, snapshots };
    const c = runFinetuneConfig({ settings, seed: 3 });
    assert.equal(c.train.checkpointEvery, interval, `${steps} updates, ${snapshots} evaluation(s)`);
    for (const st of snapshotSteps(settings)) assert.equal(st % c.train.checkpointEvery, 0, `evaluation at ${st}`);
    assert.equal(c.train.steps, steps);
    assert.equal(c.seed, 3);
  }
});

test('a bad sweep config is an error that names the key and what is allowed', () => {
  const bad = (c: unknown, re: RegExp) => assert.throws(() => resolveSweep(c, { source: 'my.json' }), re);
  bad({ ...TINY, setings: {} }, /my\.json: .*setings/);
  bad({ ...TINY, settings: { beta: -1 } }, /settings\.beta/);
  bad({ ...TINY, settings: { nonsense: 1 } }, /settings.*nonsense/);
  bad({ ...TINY, grid: { gamma: [1] } }, /grid: Unrecognized key: "gamma"; the keys there are labels, raters, flip, unlabelled, aux, beta, steps, snapshots/);
  bad({ ...TINY, quick: { settings: { stpes: 1 } } }, /quick\.settings: .*"stpes"; the keys there are labels, .*steps, snapshots/);
  bad({ ...TINY, figures: [{ title: 't', x: 'step', y: ['overall'], colour: 'red' }] }, /figures\.0: .*"colour"; the keys there are title, x, y, series, mode, change, caption/);
  bad({ ...TINY, settings: { ...TINY.settings, snapshots: 1 }, grid: { beta: [0, 1] }, figures: [{ title: 't', x: 'step', y: ['overall'], series: 'beta', change: true }] }, /figures\.0\.change: a change since step 0 needs runs evaluated more than once \(snapshots > 1\), and snapshots is 1/);
  bad({ ...TINY, settings: { ...TINY.settings, snapshots: 4 }, grid: { snapshots: [1, 2] }, figures: [{ title: 't', x: 'step', y: ['overall'], series: 'snapshots', change: true }] }, /figures\.0\.change: .*and grid\.snapshots has 1$/);
  assert.throws(() => resolveSweep({ ...TINY, quick: { settings: { steps: 5, snapshots: 2 } } }, { quick: true, source: 'my.json' }), /my\.json \(quick\): steps \(5\) must be a multiple of snapshots \(2\)/);
  bad({ ...TINY, grid: {} }, /name at least one setting to vary/);
  bad({ ...TINY, grid: { beta: [0, 0] } }, /grid\.beta: a value is listed twice/);
  bad({ ...TINY, grid: { flip: [0.9] } }, /grid\.flip: 0\.9 is not allowed/);
  bad({ ...TINY, settings: { steps: 5, snapshots: 2 } }, /multiple of snapshots/);
  bad({ ...TINY, figures: [{ title: 't', x: 'nope', y: ['overall'] }] }, /figures\.0\.x/);
  // A setting the grid varies beside the figure's x and series would join its values into one zigzag line.
  bad({ ...TINY, grid: { beta: [0, 1], aux: [0, 0.5] } }, /figures\.0 \("Proxy and truth over updates"\): the grid varies aux, which this figure neither puts on x \(step\) nor makes its series \(beta\), .*set series \(or x\) to aux/);
  assert.doesNotThrow(() => resolveSweep({ ...TINY, grid: { labels: [1, 2] }, figures: [{ title: 't', x: 'labelCount', y: ['gain'] }] }), 'labelCount is labels x raters: it stands for them');
  bad({ ...TINY, name: 'Bad Name' }, /name/);
  assert.throws(() => namedSweep('gamma'), /unknown sweep "gamma"; the named sweeps are beta, aux, unlabelled, labels, noise, overopt/);
});

test('a sweep whose feedback covers a sample of the seen prompts evaluates only among them (as reproduce does)', () => {
  const s = resolveSweep({ ...namedSweep('beta'), feedbackPromptsPerCategory: 4 }, { quick: true });
  const fed = new Set(seenPrompts({ perCategory: { count: 4, color: 4, background: 4, combination: 4 }, seed: FEEDBACK_SEED }).map((p) => p.prompt));
  const evalSet = sweepEvalPrompts(s);
  assert.ok(evalSet.length > 0);
  assert.deepEqual(evalSet.filter((p) => !fed.has(p.prompt)).map((p) => p.prompt), []);
  // Without the sample, every seen prompt can be drawn.
  const all = sweepEvalPrompts(resolveSweep(namedSweep('beta'), { quick: true }));
  assert.ok(all.some((p) => !fed.has(p.prompt)));
});

test('a sweep\'s pool: --workers as given, one worker on the tensorflow backend (each would hold the GPU\'s memory), else one per core', () => {
  assert.equal(sweepWorkers(undefined, 'tensorflow'), 1);
  assert.equal(sweepWorkers(undefined, 'wasm'), defaultWorkers());
  assert.equal(sweepWorkers(3, 'tensorflow'), 3);
  assert.equal(sweepWorkers(0, 'wasm'), 0);
});

test('a sweep folder refuses its grid in another order (its runs are named in the first order and would all be redone)', () => {
  const dir = tempDir('order');
  const ba = resolveSweep({ ...TINY, grid: { beta: [0, 1], aux: [0, 0.5] }, figures: [{ title: 'Beta and aux', x: 'beta', y: ['overall'], series: 'aux' }] });
  const ab = resolveSweep({ ...TINY, grid: { aux: [0, 0.5], beta: [0, 1] }, figures: [{ title: 'Beta and aux', x: 'beta', y: ['overall'], series: 'aux' }] });
  assert.notDeepEqual(sweepRuns(ba).map((r) => r.key).sort(), sweepRuns(ab).map((r) => r.key).sort());
  claimSweepDir(dir, ba);
  const saved = fs.readFileSync(path.join(dir, 'sweep.json'), 'utf8');
  assert.throws(() => claimSweepDir(dir, ab), /holds this sweep with its grid in the order beta, aux, and this config gives aux, beta: .*give the grid's settings in it to resume/);
  assert.equal(fs.readFileSync(path.join(dir, 'sweep.json'), 'utf8'), saved);
  claimSweepDir(dir, ba);
});

test('a figure against anything but the step draws each run\'s last evaluation: earlier steps would join the same line', () => {
  const row = (beta: number, step: number, fid: number, overall: number) => ({ ...DEFAULT_SETTINGS, steps: 4, snapshots: 2, beta, step, fid, overall, seeds: 1 }) as unknown as SummaryRow;
  const summary = [row(0, 0, 50, 0.2), row(0, 2, 40, 0.3), row(0, 4, 30, 0.4), row(1, 0, 50, 0.2), row(1, 2, 45, 0.25), row(1, 4, 42, 0.3)];
  const fig = sweepFigure({ title: 't', x: 'fid', y: ['overall'], series: 'beta', mode: 'lines', change: false }, summary, undefined, 'f') as unknown as { data: Array<{ x: number[]; y: number[] }> };
  assert.deepEqual(fig.data.map((d) => [d.x, d.y]), [[[30], [0.4]], [[42], [0.3]]]);
  const overSteps = sweepFigure({ title: 't', x: 'step', y: ['overall'], series: 'beta', mode: 'lines', change: false }, summary, undefined, 'f') as unknown as { data: Array<{ x: number[] }> };
  assert.deepEqual(overSteps.data.map((d) => d.x), [[0, 2, 4], [0, 2, 4]]);
});

test('--quick caps a config at 100 updates and 4 prompts x 2 images, never raising its own smaller values, and keeps its evaluations evenly spaced', () => {
  const small = resolveSweep({ ...TINY, settings: { ...TINY.settings, steps: 40, snapshots: 2 }, eval: { promptsPerCategory: 2, perPrompt: 1 } }, { quick: true });
  assert.deepEqual([small.settings.steps, small.eval.promptsPerCategory, small.eval.perPrompt], [40, 2, 1]);
  // 600 updates evaluated 6 times: 96 under --quick (100 is no multiple of 6, and the user never wrote it).
  const six = resolveSweep({ ...TINY, settings: { ...TINY.settings, steps: 600, snapshots: 6 }, eval: {} }, { quick: true });
  assert.deepEqual([six.settings.steps, six.eval.promptsPerCategory, six.eval.perPrompt], [96, 4, 2]);
  // A config's own quick block still has the last word.
  const own = resolveSweep({ ...TINY, settings: { ...TINY.settings, steps: 600, snapshots: 6 }, quick: { settings: { steps: 120 } } }, { quick: true });
  assert.equal(own.settings.steps, 120);
});
