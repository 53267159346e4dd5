/**
 * The work of a sweep on disk, in one resumable folder:
 *
 *   sweep.json                  the resolved sweep (a rerun with another is refused, naming the key)
 *   pool/feedback, pool/unlabelled, pool/standin-unseen
 *                               shared images: one collect pass at the largest count any run needs
 *   data/labels<n>-r<k>-flip<f>/  the first n images per prompt of the pool, labelled by that panel
 *   data/unlabelled<n>/         the first n unlabelled images per prompt
 *   reward/<data>-aux<a>-seed<s>/  one reward model per setting that needs one (+ sweep-info.json)
 *   base/evaluation.json        the base model on the evaluation prompts and image seeds
 *   runs/<key>/                 one run: finetune/, eval/step-<s>/, rows/step-<s>.json
 *
 * `prepareSweep` does the shared part in the calling process (collect, label,
 * rewards, the base evaluation); `executeRun` does one run (fine-tune and
 * evaluate) and may run in any process that sees the folder: a local worker
 * or a queue worker on another host. A run that finds its rows on disk
 * returns them; a killed one resumes from its last checkpoint.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hasCheckpoint, writeFileAtomic } from '../engine/checkpoint';
import { makeDir, readJsonFile } from '../engine/files';
import { BASE_MODEL_DIR } from '../eval/base';
import { EvaluateResult } from '../eval/evaluate';
import { FinetuneConfig, resolveFinetuneConfig } from '../finetune/config';
import { firstDifference } from '../finetune/train';
import { readModelMeta } from '../models/checkpoint';
import { collectStage, evaluateStage, finetuneStage, labelStage } from '../pipeline/stages';
import { labelledImages } from '../reward/data';
import { datasetImageEmbeddings, loadFrozenClip } from '../reward/embeddings';
import { judgeEvalSet } from '../reward/evaluate';
import { rocAuc } from '../reward/metrics';
import { loadRewardModel } from '../reward/checkpoint';
import { BASE_CLIP_DIR, HELD_OUT_TIES, heldOutMetrics, loadRewardData, trainReward } from '../reward/run';
import { MANIFEST, ORIGIN_FILE, readManifest, writeManifest } from '../world/dataset';
import { CATEGORIES } from '../world/prompt';
import { PromptEntry, samplePerCategory, seenPrompts, unseenPrompts } from '../world/promptSets';
import { ResolvedSweep, RunSettings, SweepRun, sweepRuns } from './config';

/** One row of results.csv: a run at one evaluation step. */
export interface SweepRow extends RunSettings {
  run: string;
  seed: number;
  step: number;
  labelCount: number;
  count: number;
  color: number;
  background: number;
  combination: number;
  overall: number;
  /** overall minus the base model's overall on the same prompts and image seeds. */
  gain: number;
  classifier: number;
  fid: number;
  reward: number;
  rewardAucUnseen: number;
  rewardAucHeldOut: number;
  /** Wall seconds of the run up to this evaluation (fine-tuning and evaluations). */
  seconds: number;
}

export const SWEEP_FILE = 'sweep.json';
export const FEEDBACK_SEED = 0;
const UNLABELLED_SEED = 10;
const STANDIN_SEED = 21;
const PANEL_SEED = 0;

export const labelsKey = (s: RunSettings) => `labels${s.labels}-r${s.raters}-flip${s.flip}`;
export const rewardKey = (s: RunSettings, seed: number) => `${labelsKey(s)}-aux${s.aux}-seed${seed}`;
const labelsDir = (dir: string, s: RunSettings) => path.join(dir, 'data', labelsKey(s));
const unlabelledDir = (dir: string, s: RunSettings) => path.join(dir, 'data', `unlabelled${s.unlabelled}`);
const rewardDir = (dir: string, s: RunSettings, seed: number) => path.join(dir, 'reward', rewardKey(s, seed));
/** The panel spec of these settings (see src/feedback/panel.ts). */
export const panelSpec = (s: RunSettings) => `flip=${s.flip}x${s.raters}`;

/**
 * The evaluation prompts: a seeded sample of seen prompts per category (the
 * same for every run and the base). Where feedback covers a sample of the seen
 * prompts (`feedbackPromptsPerCategory`), seen means given feedback: the
 * sample is drawn among those, as `reproduce` draws it.
 */
export function sweepEvalPrompts(s: ResolvedSweep): PromptEntry[] {
  const k = s.eval.promptsPerCategory;
  if (s.feedbackPromptsPerCategory !== null) return samplePerCategory(feedbackPrompts(s, 'seen'), k, `eval-prompts/${s.eval.seed}`);
  return seenPrompts({ perCategory: Object.fromEntries(CATEGORIES.map((c) => [c, k])), seed: s.eval.seed });
}

/** The prompts feedback is collected for: every seen prompt, or a seeded sample per category. */
function feedbackPrompts(s: ResolvedSweep, set: 'seen' | 'unseen'): PromptEntry[] {
  const f = set === 'seen' ? seenPrompts : unseenPrompts;
  const k = s.feedbackPromptsPerCategory;
  return k === null ? f() : f({ perCategory: Object.fromEntries(CATEGORIES.map((c) => [c, k])), seed: FEEDBACK_SEED });
}

/** Read the sweep a folder holds. */
export function readSweep(dir: string): ResolvedSweep {
  const file = path.join(dir, SWEEP_FILE);
  if (!fs.existsSync(file)) throw new Error(`${dir} holds no sweep (${SWEEP_FILE} is missing)`);
  return readJsonFile<ResolvedSweep>(file, 'it records the sweep\'s settings: restore it, or use another --out');
}

/**
 * Write sweep.json, or check that the folder holds this same sweep (to resume
 * it). The question and the figures may change (they do not touch the runs),
 * and the seeds (more seeds add runs): the new ones are saved and drawn.
 */
export function claimSweepDir(dir: string, s: ResolvedSweep): void {
  makeDir(dir);
  const file = path.join(dir, SWEEP_FILE);
  if (fs.existsSync(file)) {
    // More seeds only add runs: the runs on disk stay valid.
    const runsOnly = ({ question, figures, seeds, ...rest }: ResolvedSweep) => (void question, void figures, void seeds, JSON.parse(JSON.stringify(rest)));
    const saved = readJsonFile<ResolvedSweep>(file, 'it records the sweep\'s settings: restore it, or use another --out');
    const diff = firstDifference(runsOnly(saved), runsOnly(s));
    if (diff) throw new Error(`${dir} holds another sweep (${diff}); use another --out, or the same settings to resume`);
    // The runs' folder names follow the grid's order (beta=0,aux=1-seed0): the same grid in another order would
    // name every run anew and redo them all.
    const order = (g: object) => Object.keys(g ?? {}).join(', ');
    if (order(saved.grid) !== order(s.grid)) throw new Error(`${dir} holds this sweep with its grid in the order ${order(saved.grid)}, and this config gives ${order(s.grid)}: its runs are named in that order, so give the grid's settings in it to resume`);
  }
  writeFileAtomic(file, JSON.stringify(s, null, 2) + '\n');
}

/**
 * A dataset of the records of `src` that `keep` accepts, in `out`: the
 * manifest and dataset.json written, the PNGs hard-linked (copied where the
 * file system cannot link). Done once: an existing one is kept as it is.
 */
export function subsetDataset(src: string, out: string, keep: (id: string) => boolean): void {
  if (fs.existsSync(path.join(out, MANIFEST))) return;
  const tmp = `${out}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  makeDir(tmp);
  const records = readManifest(src).filter((r) => keep(r.id));
  for (const r of records) {
    makeDir(path.dirname(path.join(tmp, r.file)));
    try {
      fs.linkSync(path.join(src, r.file), path.join(tmp, r.file));
    } catch {
      fs.copyFileSync(path.join(src, r.file), path.join(tmp, r.file));
    }
  }
  if (fs.existsSync(path.join(src, ORIGIN_FILE))) fs.copyFileSync(path.join(src, ORIGIN_FILE), path.join(tmp, ORIGIN_FILE));
  writeManifest(tmp, records);
  fs.renameSync(tmp, out);
}

/** Written in a labels folder once its labels are in the store (the store alone may be a killed labelling's). */
export const LABELLED_FILE = 'labelled.json';

/** Image k of a prompt has id `p<i>-<k>` (see collectId). */
const kOf = (id: string) => Number(id.slice(id.lastIndexOf('-') + 1));

/** What the runs of one reward model share: its held-out AUC, its AUC on unseen stand-ins, the labels it learnt from. */
interface RewardInfo {
  labelCount: number;
  rewardAucHeldOut: number;
  rewardAucUnseen: number;
  /** How rewardAucHeldOut treats images the raters split evenly on (HELD_OUT_TIES); absent: counted as bad (before 2026-12-06). */
  heldOutTies?: string;
}

const infoFile = (dir: string, settings: RunSettings, seed: number) => path.join(rewardDir(dir, settings, seed), 'sweep-info.json');

export interface PrepareHooks {
  log?: (line: string) => void;
}

/**
 * The shared part of a sweep, in this process: collect the pools, make and
 * label the data subsets, train every reward model the runs need and measure
 * it, evaluate the base model. Each step is skipped where its output exists.
 */
export async function prepareSweep(dir: string, s: ResolvedSweep, hooks: PrepareHooks = {}): Promise<{ base: EvaluateResult }> {
  const log = hooks.log ?? (() => {});
  claimSweepDir(dir, s);
  const runs = sweepRuns(s);
  const maxLabels = Math.max(...runs.map((r) => r.settings.labels));
  const maxUnlabelled = Math.max(...runs.map((r) => r.settings.unlabelled));
  log(`collect: ${maxLabels} labelled${maxUnlabelled ? ` + ${maxUnlabelled} unlabelled` : ''} images per seen prompt`);
  await collectStage({ prompts: feedbackPrompts(s, 'seen'), promptSource: 'seen', perPrompt: maxLabels, seed: FEEDBACK_SEED }, path.join(dir, 'pool', 'feedback'));
  if (maxUnlabelled > 0) await collectStage({ prompts: feedbackPrompts(s, 'seen'), promptSource: 'seen', perPrompt: maxUnlabelled, seed: UNLABELLED_SEED }, path.join(dir, 'pool', 'unlabelled'));
  await collectStage({ prompts: feedbackPrompts(s, 'unseen'), promptSource: 'unseen', perPrompt: 1, seed: STANDIN_SEED, standIn: 0.5 }, path.join(dir, 'pool', 'standin-unseen'));

  for (const r of runs) {
    const d = labelsDir(dir, r.settings);
    // Done once labelled.json is written after the labels: the store exists from the moment labelling starts, so a
    // sweep killed inside labelStage left an empty one that was taken as done. Labelling again keeps the labels there.
    const done = path.join(d, LABELLED_FILE);
    if (!fs.existsSync(done)) {
      subsetDataset(path.join(dir, 'pool', 'feedback'), d, (id) => kOf(id) < r.settings.labels);
      labelStage({ panel: panelSpec(r.settings), seed: PANEL_SEED }, d);
      writeFileAtomic(done, JSON.stringify({ panel: panelSpec(r.settings), seed: PANEL_SEED }) + '\n');
      log(`labelled ${path.basename(d)} (panel ${panelSpec(r.settings)})`);
    }
    if (r.settings.unlabelled > 0) subsetDataset(path.join(dir, 'pool', 'unlabelled'), unlabelledDir(dir, r.settings), (id) => kOf(id) < r.settings.unlabelled);
  }

  const frozen = await loadFrozenClip(BASE_CLIP_DIR);
  try {
    // Embeddings are cached beside each dataset; computing them here keeps workers from writing the same cache at once.
    for (const d of new Set(runs.flatMap((r) => (r.settings.unlabelled > 0 ? [unlabelledDir(dir, r.settings)] : [])))) datasetImageEmbeddings(d, frozen);
    const standIn = judgeEvalSet(path.join(dir, 'pool', 'standin-unseen'), frozen, 'unseen stand-in (judge)');
    for (const r of runs) {
      const rd = rewardDir(dir, r.settings, r.seed);
      const file = infoFile(dir, r.settings, r.seed);
      if (fs.existsSync(file)) {
        const old = readJsonFile<RewardInfo>(file);
        if (old.heldOutTies === HELD_OUT_TIES) continue;
        // Cached before ties were left out: measured again on the same reward model, so every row of the sweep has one definition.
        log(`held-out AUC of ${path.basename(rd)} again (ties left out)`);
        const { model, meta } = await loadRewardModel(rd, { clip: frozen });
        try {
          const { heldOut } = heldOutMetrics(model, loadRewardData([labelsDir(dir, r.settings)], frozen), meta.heldOutPrompts, meta.trainPrompts, meta.config.seed);
          writeFileAtomic(file, JSON.stringify({ ...old, rewardAucHeldOut: heldOut?.auc.value ?? NaN, heldOutTies: HELD_OUT_TIES }, null, 2) + '\n');
        } finally {
          model.dispose();
        }
        continue;
      }
      log(`train reward ${path.basename(rd)}`);
      fs.rmSync(rd, { recursive: true, force: true });
      // The shared MiniCLIP serves training and scoring (trainRewardStage would load its own each time).
      const { model, ...t } = await trainReward(loadRewardData([labelsDir(dir, r.settings)], frozen), frozen, { seed: r.seed, auxWeight: r.settings.aux }, { out: rd, progress: false });
      try {
        const info: RewardInfo = {
          labelCount: labelledImages(labelsDir(dir, r.settings)).reduce((n, im) => n + im.labels.length, 0),
          rewardAucHeldOut: t.heldOut?.auc.value ?? NaN,
          rewardAucUnseen: rocAuc(model.score(standIn.embeddings, standIn.prompts), standIn.targets),
          heldOutTies: HELD_OUT_TIES,
        };
        writeFileAtomic(file, JSON.stringify(info, null, 2) + '\n');
      } finally {
        model.dispose();
      }
    }
  } finally {
    frozen.clip.dispose();
  }
  log('evaluate the base model');
  const base = await evaluateStage({ model: BASE_MODEL_DIR, prompts: sweepEvalPrompts(s), perPrompt: s.eval.perPrompt, seed: s.eval.seed, resamples: 200 }, path.join(dir, 'base'));
  return { base };
}

/** The evaluation steps of a run: `snapshots` evenly spaced, the last at `steps`, and 0 (the base model) before them when there are several. */
export function snapshotSteps(s: RunSettings): number[] {
  const after = Array.from({ length: s.snapshots }, (_, j) => (s.steps / s.snapshots) * (j + 1));
  return s.snapshots > 1 ? [0, ...after] : after;
}

/** The fields every saved row has as numbers (a check that the file is one). */
const ROW_NUMBERS = ['seed', 'step', 'overall', 'seconds'] as const;

const rowFile = (dir: string, run: SweepRun, step: number) => path.join(dir, 'runs', run.key, 'rows', `step-${step}.json`);

/**
 * The rows of a run already on disk (one per evaluation step done), with the reward's held-out AUC
 * as its sweep-info.json has it now (a row written before it was measured again keeps one definition).
 */
export function savedRows(dir: string, run: SweepRun): SweepRow[] {
  const rows = snapshotSteps(run.settings).flatMap((st) => {
    const file = rowFile(dir, run, st);
    if (!fs.existsSync(file)) return [];
    const row = readJsonFile<SweepRow>(file, 'remove it to evaluate that step again');
    // A row is the run's finished evaluation at that step only if it says so (an empty or foreign file made a blank line of results.csv).
    const bad = row === null || typeof row !== 'object' ? ['(not an object)'] : ROW_NUMBERS.filter((k) => typeof row[k] !== 'number' || !Number.isFinite(row[k]));
    if (bad.length || row.step !== st || row.seed !== run.seed) {
      throw new Error(`${file} is not this run's row at step ${st} (${bad.length ? `no number for ${bad.join(', ')}` : `it says step ${row.step}, seed ${row.seed}`}): remove it to evaluate that step again`);
    }
    return [row];
  });
  const file = infoFile(dir, run.settings, run.seed);
  const info = rows.length && fs.existsSync(file) ? readJsonFile<RewardInfo>(file) : undefined;
  return info?.heldOutTies === HELD_OUT_TIES ? rows.map((r) => ({ ...r, rewardAucHeldOut: info.rewardAucHeldOut })) : rows;
}

export interface RunHooks {
  log?: (line: string) => void;
}

/**
 * The fine-tuning config of a sweep run. Its checkpoints land on every evaluation step (each is where a
 * `maxUpdates` call stops) and at most the default's interval apart: with one evaluation they were only at the
 * end, and a run killed midway started again from update 0. Where no divisor of the gap between evaluations
 * comes near that interval (a prime gap), once per evaluation, as before.
 */
export function runFinetuneConfig(run: Pick<SweepRun, 'settings' | 'seed'>): FinetuneConfig {
  const every = run.settings.steps / run.settings.snapshots;
  const most = resolveFinetuneConfig('default', {}).train.checkpointEvery;
  let interval = Math.min(every, most);
  while (every % interval !== 0) interval--;
  // A gap with no divisor near the default (401 updates: only 1) would checkpoint every few updates: once per evaluation then.
  if (interval < 25) interval = every;
  return resolveFinetuneConfig('default', {
    beta: run.settings.beta, seed: run.seed, evalEvery: 0,
    train: { steps: run.settings.steps, checkpointEvery: interval },
  });
}

/**
 * One run of a prepared sweep: fine-tune up to each evaluation step (resuming
 * from the run's checkpoint), evaluate, write the row. Returns every row of the run.
 */
export async function executeRun(dir: string, run: SweepRun, hooks: RunHooks = {}): Promise<SweepRow[]> {
  const log = hooks.log ?? (() => {});
  const s = readSweep(dir);
  // A queued job carries its run: one an earlier sweep of this folder left behind has another sweep's settings.
  const mine = sweepRuns(s).find((r) => r.key === run.key);
  const diff = mine ? firstDifference(mine, JSON.parse(JSON.stringify(run))) : 'not a run of it';
  if (diff) throw new Error(`${dir}: run ${run.key} is not this sweep's (${diff}; a job an earlier sweep of the folder left in the queue?): nothing was run`);
  const steps = snapshotSteps(run.settings);
  const done = savedRows(dir, run);
  if (done.length === steps.length) return done;
  const base = JSON.parse(fs.readFileSync(path.join(dir, 'base', 'evaluation.json'), 'utf8')).result as EvaluateResult;
  const rd = rewardDir(dir, run.settings, run.seed);
  const info = readJsonFile<RewardInfo>(infoFile(dir, run.settings, run.seed));
  const ftOut = path.join(dir, 'runs', run.key, 'finetune');
  const ckpt = path.join(ftOut, 'diffusion');
  const config = runFinetuneConfig(run);
  const inputs = { data: [labelsDir(dir, run.settings)], unlabelled: run.settings.unlabelled > 0 ? [unlabelledDir(dir, run.settings)] : [], reward: rd, out: ftOut };
  const prompts = sweepEvalPrompts(s);
  let seconds = Math.max(0, ...done.map((r) => r.seconds));
  const rows = [...done];
  // The steps without a row, wherever they are (a row removed before the last is evaluated again, not the last twice).
  for (const step of steps.filter((st) => !done.some((r) => r.step === st))) {
    const t0 = Date.now();
    const at = hasCheckpoint(ckpt) ? readModelMeta(ckpt, 'diffusion').step : 0;
    if (step > 0 && at > step) throw new Error(`${ftOut} is at update ${at}, past the evaluation at ${step} that has no row: remove ${path.join(dir, 'runs', run.key)} and rerun`);
    if (step > 0 && at < step) {
      log(`${run.key}: fine-tune to update ${step}`);
      await finetuneStage(config, inputs, { progress: false, maxUpdates: step - at });
    }
    log(`${run.key}: evaluate at update ${step}`);
    const e = await evaluateStage({ model: step === 0 ? BASE_MODEL_DIR : ftOut, prompts, perPrompt: s.eval.perPrompt, seed: s.eval.seed, reward: rd, resamples: 200 }, path.join(dir, 'runs', run.key, 'eval', `step-${step}`));
    seconds += (Date.now() - t0) / 1000;
    const acc = (c: (typeof CATEGORIES)[number]) => e.byCategory[c]?.accuracy ?? NaN;
    const row: SweepRow = {
      run: run.key, ...run.settings, seed: run.seed, step, labelCount: info.labelCount,
      count: acc('count'), color: acc('color'), background: acc('background'), combination: acc('combination'),
      overall: e.overall.accuracy, gain: e.overall.accuracy - base.overall.accuracy, classifier: e.otherReader.overall.accuracy,
      fid: e.fid.value, reward: e.meanReward ?? NaN, rewardAucUnseen: info.rewardAucUnseen, rewardAucHeldOut: info.rewardAucHeldOut,
      seconds: Math.round(seconds * 10) / 10,
    };
    makeDir(path.dirname(rowFile(dir, run, step)));
    writeFileAtomic(rowFile(dir, run, step), JSON.stringify(row, null, 2) + '\n');
    rows.push(row);
  }
  return rows.sort((a, b) => a.step - b.step);
}
