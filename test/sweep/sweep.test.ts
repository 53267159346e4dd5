// A tiny sweep end to end in this process: the shared stages, the runs, the
// CSVs, the page (opened in Chromium: every plot has data), the PNGs, and the
// resume (a rerun does only what is missing).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { initBackend } from '../../src/engine';
import { checkReportInBrowser } from '../../src/pipeline/report';
import { decodePng } from '../../src/world/image';
import { LABELLED_FILE, loadSweepResults, RESULT_COLUMNS, resolveSweep, runSweep, savedRows, SweepResult, sweepRuns } from '../../src/sweep';
import { LabelStore } from '../../src/feedback/store';
import { csvWithoutSeconds, tempDir, TINY } from './helpers';

let dir: string;
let first: SweepResult;

before(async () => {
  await initBackend();
  dir = tempDir('inline');
  first = await runSweep(dir, resolveSweep(TINY), { workers: 0 });
});

test('a sweep writes one row per run and evaluation step, with every column', () => {
  assert.equal(first.ran, 2);
  assert.equal(first.rows.length, 2 * 3);
  const csv = fs.readFileSync(path.join(dir, 'results.csv'), 'utf8').trim().split('\n');
  assert.deepEqual(csv[0].split(','), [...RESULT_COLUMNS]);
  assert.equal(csv.length, 1 + 6);
  for (const r of first.rows) {
    for (const m of ['overall', 'classifier', 'count', 'reward'] as const) assert.ok(r[m] >= 0 && r[m] <= 1, `${m} ${r[m]}`);
    assert.ok(Number.isFinite(r.fid) && r.fid > 0);
    assert.ok(r.labelCount > 0);
  }
  // Step 0 is the base model, the same for both betas; the gain is measured against the base evaluation.
  const zero = first.rows.filter((r) => r.step === 0);
  assert.equal(zero.length, 2);
  assert.equal(zero[0].overall, first.base.overall.accuracy);
  assert.equal(zero[0].fid, zero[1].fid);
  for (const r of first.rows) assert.ok(Math.abs(r.gain - (r.overall - first.base.overall.accuracy)) < 1e-12);
  // Later steps read the fine-tuned model, not the base again, and the two betas train two different models.
  const last = first.rows.filter((r) => r.step === 4);
  assert.equal(last.length, 2);
  for (const r of last) assert.notEqual(r.fid, zero[0].fid, `step 4 of beta ${r.beta} has the base model's FID`);
  assert.notEqual(last[0].fid, last[1].fid, 'beta 0 and beta 1 gave the same model');
  // summary.csv: one row per beta and step.
  assert.equal(first.summary.length, 6);
  assert.equal(fs.readFileSync(path.join(dir, 'summary.csv'), 'utf8').trim().split('\n').length, 7);
});

test('the sweep page draws every figure with data, offline, and the PNGs are the figures', async () => {
  const check = await checkReportInBrowser(path.join(dir, 'index.html'));
  assert.equal(check.figures, TINY.figures.length);
  assert.equal(check.drawn, check.figures);
  assert.deepEqual(check.blank, []);
  assert.deepEqual(check.requests, []);
  assert.deepEqual(check.errors, []);
  assert.deepEqual(first.pngs.map((p) => path.basename(p)), ['tiny-1.png', 'tiny-2.png']);
  for (const p of first.pngs) {
    const img = decodePng(fs.readFileSync(p));
    assert.ok(img.width > 400 && img.height > 200, `${p}: ${img.width}x${img.height}`);
  }
});

test('a finished sweep folder reads back as the same summary and figures (what notebook 06 shows)', () => {
  const r = loadSweepResults(dir);
  assert.equal(r.sweep.name, 'tiny');
  assert.equal(r.table.numRows(), first.rows.length);
  assert.deepEqual(r.summary.map((x) => [x.beta, x.step, x.overall, x.fid]), first.summary.map((x) => [x.beta, x.step, x.overall, x.fid]));
  assert.deepEqual(r.figures.map((f) => f.id), ['tiny-1', 'tiny-2']);
  assert.throws(() => loadSweepResults(path.join(dir, 'runs')), /holds no finished sweep \(sweep\.json is missing\)/);
});

test('a rerun resumes: only the missing run is done again, and the numbers are the same', async () => {
  const before = csvWithoutSeconds(dir);
  const key = first.rows[first.rows.length - 1].run;
  fs.rmSync(path.join(dir, 'runs', key, 'rows', 'step-4.json'));
  const again = await runSweep(dir, resolveSweep(TINY), { workers: 0, png: false });
  assert.equal(again.ran, 1);
  assert.equal(csvWithoutSeconds(dir), before);
});

test('a resume evaluates the row missing before the last (not the last again), and relabels a labelling killed midway', async () => {
  const copy = path.join(tempDir('gap'), 'sweep');
  fs.cpSync(dir, copy, { recursive: true });
  const before = csvWithoutSeconds(copy);
  const key = first.rows[0].run;
  fs.rmSync(path.join(copy, 'runs', key, 'rows', 'step-0.json'));
  // A labelling killed after the store was opened: an empty store and no labelled.json.
  const labelled = (fs.readdirSync(copy, { recursive: true }) as string[]).filter((f) => path.basename(f) === LABELLED_FILE);
  assert.ok(labelled.length > 0);
  const killed = path.dirname(path.join(copy, labelled[0]));
  for (const f of fs.readdirSync(killed).filter((f) => f.startsWith('labels.sqlite') || f === LABELLED_FILE)) fs.rmSync(path.join(killed, f));
  LabelStore.open(path.join(killed, 'labels.sqlite')).close();
  const again = await runSweep(copy, resolveSweep(TINY), { workers: 0, png: false });
  assert.equal(again.ran, 1);
  assert.ok(fs.existsSync(path.join(killed, LABELLED_FILE)));
  assert.equal(csvWithoutSeconds(copy), before);
});

test('a sweep folder copied elsewhere resumes there; a row file that is not the run\'s row is named, not read as a blank row', async () => {
  const copy = path.join(tempDir('copy'), 'moved');
  fs.cpSync(dir, copy, { recursive: true });
  const before = csvWithoutSeconds(copy);
  const key = first.rows[first.rows.length - 1].run;
  const row = path.join(copy, 'runs', key, 'rows', 'step-4.json');
  fs.writeFileSync(row, '{}');
  await assert.rejects(runSweep(copy, resolveSweep(TINY), { workers: 0, png: false }), /step-4\.json is not this run's row at step 4 \(no number for seed, step, overall, seconds\): remove it to evaluate that step again/);
  fs.rmSync(row);
  const again = await runSweep(copy, resolveSweep(TINY), { workers: 0, png: false });
  assert.equal(again.ran, 1, 'the evaluations saved under the old path are read, not refused');
  assert.equal(csvWithoutSeconds(copy), before);
});

test('a reward held-out AUC cached before ties were left out is measured again on the same model, and every row of the sweep takes it', async () => {
  const before = csvWithoutSeconds(dir);
  const infos = fs.readdirSync(path.join(dir, 'reward')).map((d) => path.join(dir, 'reward', d, 'sweep-info.json')).filter((f) => fs.existsSync(f));
  assert.ok(infos.length > 0);
  for (const f of infos) {
    const { heldOutTies, ...old } = JSON.parse(fs.readFileSync(f, 'utf8'));
    assert.equal(heldOutTies, 'left out');
    fs.writeFileSync(f, JSON.stringify({ ...old, rewardAucHeldOut: 0.123 }));
  }
  assert.ok(sweepRuns(resolveSweep(TINY)).every((run) => savedRows(dir, run).every((r) => r.rewardAucHeldOut !== 0.123)), 'an old cache is not read as the new definition');
  const again = await runSweep(dir, resolveSweep(TINY), { workers: 0, png: false });
  assert.equal(again.ran, 0, 'no fine-tuning run again');
  for (const f of infos) assert.equal(JSON.parse(fs.readFileSync(f, 'utf8')).heldOutTies, 'left out');
  assert.equal(csvWithoutSeconds(dir), before, 'the same numbers as measured the new way from the start');
});

test('new figures for a finished sweep are drawn without rerunning anything', async () => {
  const figures = [{ title: 'Change since the base', x: 'step', y: ['overall', 'reward'], series: 'beta', change: true }] as const;
  const again = await runSweep(dir, resolveSweep({ ...TINY, figures: [...figures] }), { workers: 0, png: false });
  assert.equal(again.ran, 0);
  assert.equal(again.figures.length, 1);
  // Step 0 of every run is 0 in a change-since-start figure.
  const traces = again.figures[0].data as Array<{ x: number[]; y: number[] }>;
  for (const t of traces) assert.equal(t.y[t.x.indexOf(0)], 0);
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'sweep.json'), 'utf8')).figures[0].title, 'Change since the base');
});

test('more seeds extend a finished sweep: only the new runs are done', async () => {
  const more = await runSweep(dir, resolveSweep({ ...TINY, seeds: 2 }), { workers: 0, png: false });
  assert.equal(more.ran, 2);
  assert.equal(more.rows.length, 4 * 3);
  assert.deepEqual([...new Set(more.rows.map((r) => r.seed))], [0, 1]);
});

test('a second sweep into a folder in use is refused with the holder\'s pid; a lock left by a dead process is taken over', async () => {
  const lock = path.join(dir, '.sweep.lock');
  fs.writeFileSync(lock, String(process.ppid));
  await assert.rejects(runSweep(dir, resolveSweep(TINY), { workers: 0, png: false }), new RegExp(`another sweep \\(pid ${process.ppid}\\) is running in`));
  fs.writeFileSync(lock, '999999999');
  const r = await runSweep(dir, resolveSweep({ ...TINY, seeds: 2 }), { workers: 0, png: false });
  assert.equal(r.ran, 0);
  assert.equal(fs.existsSync(lock), false);
});

test('a folder holding another sweep is refused, naming the difference, with nothing written', async () => {
  const manifest = fs.readFileSync(path.join(dir, 'sweep.json'), 'utf8');
  await assert.rejects(runSweep(dir, resolveSweep({ ...TINY, grid: { beta: [0, 2] } }), { workers: 0, png: false }), /holds another sweep \(grid\.beta/);
  assert.equal(fs.readFileSync(path.join(dir, 'sweep.json'), 'utf8'), manifest);
});

test('a sweep stopped with SIGINT takes its pool workers with it: none holds its run\'s folder once the sweep has exited', async () => {
  const { spawn } = await import('node:child_process');
  const dir = tempDir('sigint');
  const config = path.join(dir, 'sweep.json');
  fs.writeFileSync(config, JSON.stringify({ ...TINY, settings: { ...TINY.settings, steps: 400, snapshots: 2 }, grid: { beta: [1] } }));
  const out = path.join(dir, 'out');
  const bin = path.join(__dirname, '..', '..', 'bin', 't2i-align.js');
  const child = spawn(process.execPath, [bin, 'sweep', '--config', config, '--out', out, '--workers', '1', '--no-png'], { env: { ...process.env, T2I_PROGRESS: '0' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      if (/fine-tune to update/.test(err)) resolve();
    });
    child.on('exit', () => reject(new Error(`the sweep ended before fine-tuning:\n${err}`)));
  });
  await new Promise((r) => setTimeout(r, 1500)); // a few updates in
  child.kill('SIGINT'); // the sweep process alone, as `kill -INT` does (Ctrl-C signals the whole group)
  await exited;
  const lock = path.join(out, 'runs', 'beta=1-seed0', 'finetune', '.finetune.lock');
  const holder = fs.existsSync(lock) ? Number(fs.readFileSync(lock, 'utf8').split(' ')[0]) : NaN; // "pid stamp"
  const alive = Number.isInteger(holder) && (() => {
    try {
      process.kill(holder, 0);
      return true;
    } catch {
      return false;
    }
  })();
  assert.equal(alive, false, `the pool worker ${holder} still holds the run (a rerun now was refused: "another finetune is running")`);
});
