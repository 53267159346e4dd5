/**
 * `reproduce`: the paper end to end from the shipped checkpoints, in one
 * resumable run folder (rerun the same command after a kill and it goes on):
 *
 *   config.json              the resolved run config (a rerun with another is refused, naming the key)
 *   feedback/  unlabelled/   Stage 1: base-model images of the seen prompts (labelled by the panel / not)
 *   test/  unseen-test/  standin-unseen/   reward test sets: new labelled base-model images of the seen prompts;
 *                            base-model images of the unseen prompts; renders of the unseen prompts, half wrong
 *   reward/                  Stage 2: the reward model
 *   reward-claims.json       reward vs CLIP score, and the auxiliary-loss ablation over reward seeds
 *   finetune/<variant>-seed<s>/   Stage 3, per variant and fine-tuning seed
 *   eval/<model>/<set>/      evaluate: judge, classifier, reward, fidelity (seen and unseen prompts)
 *   grids/                   before / after images
 *   summary.json, claims.md, claims.json, report.html
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { hasCheckpoint, readCheckpointIndex, writeFileAtomic } from '../engine/checkpoint';
import { readJsonFile, withFolderLock } from '../engine/files';
import { zodIssuesLine } from '../engine/zodIssues';
import { parsePanelSpec } from '../feedback/panel';
import { readManifest } from '../world/dataset';
import { progress as makeProgress, Progress } from '../engine/progress';
import { BASE_MODEL_DIR, diffusionCheckpointDir, loadModel } from '../eval/base';
import { EvaluateResult, evaluationJson, winTieLose, WinTieLose } from '../eval/evaluate';
import { resolveFinetuneConfig } from '../finetune/config';
import { firstDifference } from '../finetune/train';
import { generateImages } from '../models/diffusion/sampler';
import { readModelMeta } from '../models/checkpoint';
import { auxLossAblation } from '../reward/ablation';
import { PERTURBATION_RULES } from '../reward/perturb';
import { loadRewardModel, rewardScoreKey } from '../reward/checkpoint';
import { AucDifference, aucDifference, judgeEvalSet, labelEvalSet } from '../reward/evaluate';
import { fixed3 } from '../reward/metrics';
import { ClipScore } from '../reward/model';
import { loadRewardData } from '../reward/run';
import { Rng } from '../engine/random';
import { encodePng, tileImages } from '../world/image';
import { CATEGORIES } from '../world/prompt';
import { PromptEntry, samplePerCategory, seenPrompts, unseenPrompts } from '../world/promptSets';
import { ALPHA, alignmentPart, Claim, claimsMarkdown, fidelityPart, leastP, makeClaim, perCategoryParts, seedEffectPart, seedInterval, partVerdict } from './claims';
import { collectStage, evaluateStage, finetuneStage, labelStage, trainRewardStage } from './stages';
import { EvaluationSummary, writeReproduceReport } from './reproduceReport';

/** The full default run the README quotes: summary.json, claims.md, claims.json and the grids (its report is not shipped: ~10 MB). */
export const SHIPPED_RUN_DIR = path.join(path.dirname(BASE_MODEL_DIR), 'reproduce');

export const ReproduceConfigSchema = z.strictObject({
  /** Seen prompts per category that feedback is collected for (null: every seen prompt); the same per category of the unseen reward test sets. */
  feedbackPromptsPerCategory: z.number().int().min(1).nullable(),
  /** Fine-tuning seeds (one model per variant and seed). */
  seeds: z.array(z.number().int().min(0)).min(1).max(20),
  /**
   * Stage 1: images per seen prompt to label, their seed, the simulated panel and its seed, and the guidance
   * scale the base model samples every model-generated image with (feedback, unlabelled and reward-test
   * images alike): null for the model's own (2.5 for the shipped base model; 7 until 2026-12-02). Fine-tuning learns the guided
   * samples, and sampling applies guidance again (README, "Fine-tuning").
   */
  feedback: z.strictObject({
    perPrompt: z.number().int().min(1),
    seed: z.number().int().min(0),
    panel: z.string(),
    panelSeed: z.number().int().min(0),
    guidance: z.number().min(0).max(100).nullable().default(null),
  }),
  /** Unlabelled model images per seen prompt (D_model's unlabelled part, weighted by the reward). */
  unlabelled: z.strictObject({
    // At least 1: the claim "unlabelled images help" compares fine-tuning with them and without (with 0 the two runs
    // were one job done twice, and the claim read "not reproduced" without having been tested).
    perPrompt: z.number().int().min(1, 'must be at least 1: the claim that unlabelled images help compares fine-tuning with them and without'),
    seed: z.number().int().min(0),
  }),
  /**
   * Reward test sets: new labelled images per seen prompt (another panel seed); one stand-in render (seed + 1)
   * per unseen prompt and one base-model image (seed + 2) per unseen prompt of a seeded sample of
   * `unseenPromptsPerCategory` per category (null: all; the unseen set is 900 combinations and 80 others; never more
   * than `feedbackPromptsPerCategory`, as they are a prefix of the stand-ins' sample).
   * Both are read by the judge.
   */
  rewardTest: z.strictObject({
    perPrompt: z.number().int().min(1),
    seed: z.number().int().min(0),
    panelSeed: z.number().int().min(0),
    unseenPromptsPerCategory: z.number().int().min(1).nullable().default(null),
  }),
  /** Reward seeds of the auxiliary-loss ablation. */
  rewardSeeds: z.number().int().min(1).max(20),
  /** Fine-tuning updates of every variant. */
  finetuneSteps: z.number().int().min(1),
  /** Rejection sampling baseline: best of K base-model samples by the reward. */
  rejectionK: z.number().int().min(2).max(64),
  /**
   * Evaluation: prompts per category of the seen and unseen sets (seeded sample), images per prompt, seed,
   * and the guidance scale every model (base, fine-tuned, best-of-K) is sampled with there and in the grids:
   * null for each model's own (2.5 for the shipped base model and what is fine-tuned from it). A model
   * fine-tuned on guided samples may be best at a lower scale (README, "Fine-tuning").
   */
  eval: z.strictObject({
    promptsPerCategory: z.number().int().min(1),
    perPrompt: z.number().int().min(1),
    seed: z.number().int().min(0),
    guidance: z.number().min(0).max(100).nullable().default(null),
  }),
});
export type ReproduceConfig = z.infer<typeof ReproduceConfigSchema>;

const DEFAULT: ReproduceConfig = {
  feedbackPromptsPerCategory: null,
  seeds: [0, 1, 2],
  feedback: { perPrompt: 8, seed: 0, panel: '3', panelSeed: 0, guidance: null },
  unlabelled: { perPrompt: 8, seed: 10 },
  rewardTest: { perPrompt: 2, seed: 20, panelSeed: 1, unseenPromptsPerCategory: null },
  rewardSeeds: 8,
  finetuneSteps: 500,
  rejectionK: 4,
  eval: { promptsPerCategory: 12, perPrompt: 4, seed: 30, guidance: null },
};

export const REPRODUCE_PRESETS: Record<'quick' | 'default', ReproduceConfig> = {
  default: DEFAULT,
  quick: {
    ...DEFAULT,
    seeds: [0],
    feedback: { ...DEFAULT.feedback, perPrompt: 2 },
    unlabelled: { perPrompt: 1, seed: 10 },
    rewardTest: { ...DEFAULT.rewardTest, perPrompt: 1, unseenPromptsPerCategory: 25 },
    rewardSeeds: 6,
    finetuneSteps: 100,
    eval: { promptsPerCategory: 4, perPrompt: 2, seed: 30, guidance: null },
  },
};

/** A preset with overrides (nested objects merged); errors name the key. */
export function resolveReproduceConfig(preset: 'quick' | 'default', overrides: Record<string, unknown> = {}): ReproduceConfig {
  const base = REPRODUCE_PRESETS[preset] as unknown as Record<string, unknown>;
  const merged: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(overrides)) {
    const known = Object.hasOwn(base, k) ? base[k] : undefined;
    const value = v && typeof v === 'object' && !Array.isArray(v) && typeof known === 'object' && !Array.isArray(known) ? { ...(known as object), ...(v as object) } : v;
    // An own property, so a "__proto__" key is refused as unknown below (assigned, it set the prototype: ignored).
    Object.defineProperty(merged, k, { value, enumerable: true, writable: true, configurable: true });
  }
  const p = ReproduceConfigSchema.safeParse(merged);
  if (!p.success) throw new Error(`reproduce config: ${zodIssuesLine(p.error, ReproduceConfigSchema)}`);
  // Checked here, before any image is made (the panel was read only at the label step, after collecting).
  try {
    parsePanelSpec(p.data.feedback.panel);
  } catch (e) {
    throw new Error(`reproduce config: feedback.panel: ${(e as Error).message}`);
  }
  // The seen-prompt image sets come from one collect each: the same seed would make the same images (the reward's
  // test set its training set, or D_model's unlabelled part its labelled part again).
  const sets = [['feedback.seed', p.data.feedback.seed], ['unlabelled.seed', p.data.unlabelled.seed], ['rewardTest.seed', p.data.rewardTest.seed]] as const;
  for (const [i, [a, x]] of sets.entries()) {
    const same = sets.slice(i + 1).find(([, y]) => y === x);
    if (same) throw new Error(`reproduce config: ${a} and ${same[0]} are both ${x}: the two sets would be the same images; give each its own seed`);
  }
  // The raters' draws are keyed by panel seed, rater and image id, and the two sets share their ids (p<i>-<k>): one
  // panel seed would give the test labels the feedback's skips, leniency and flips, image for image.
  if (p.data.rewardTest.panelSeed === p.data.feedback.panelSeed) {
    throw new Error(`reproduce config: rewardTest.panelSeed and feedback.panelSeed are both ${p.data.feedback.panelSeed}: the test labels would repeat the feedback labels' rater noise; give each its own panel seed`);
  }
  const seen = new Set<number>();
  for (const s of p.data.seeds) {
    if (seen.has(s)) throw new Error(`reproduce config: seeds: ${s} is given twice (a repeated seed counts one fine-tuning twice in the interval over seeds), got [${p.data.seeds.join(', ')}]`);
    seen.add(s);
  }
  return p.data;
}

/** The fine-tuning variants: the paper's method and its ablations, and supervised fine-tuning on good images. */
export const VARIANTS = {
  rlhf: { beta: 1, weights: 'reward', unlabelled: true, label: 'reward-weighted, with the pretraining term and unlabelled data (the paper)' },
  'no-pretrain': { beta: 0, weights: 'reward', unlabelled: true, label: 'the same without the pretraining term (beta 0)' },
  'labelled-only': { beta: 1, weights: 'reward', unlabelled: false, label: 'the same without unlabelled data' },
  sft: { beta: 1, weights: 'threshold', unlabelled: false, label: 'supervised fine-tuning on the images most raters called good' },
} as const;
export type VariantName = keyof typeof VARIANTS;
export const VARIANT_NAMES = Object.keys(VARIANTS) as VariantName[];

export const EVAL_SETS = ['seen', 'unseen'] as const;
export type EvalSetName = (typeof EVAL_SETS)[number];
type ModelEvals = Record<EvalSetName, EvaluateResult>;

/** One invocation's wall seconds, in all and per step; `interrupted` where it stopped before its summary. */
export interface Invocation {
  seconds: number;
  steps: Record<string, number>;
  interrupted?: true;
}

/** The invocations' times, rewritten after every step (summary.json is written once, at the end: a killed run's times were lost). */
export const TIMING_FILE = 'timing.json';

export interface ReproduceSummary {
  config: ReproduceConfig;
  out: string;
  seconds: number;
  /** Wall seconds of each step in this invocation (resumed steps are near 0). */
  steps: Record<string, number>;
  /**
   * `seconds` and `steps` of the earlier invocations on this folder, oldest first: a rerun keeps the times of the
   * work it resumed, a stopped invocation's (`interrupted`) up to its last finished step.
   */
  earlier?: Invocation[];
  reward: RewardClaims;
  evaluations: Record<string, Record<EvalSetName, EvaluationSummary>>;
  pairs: Array<{ a: string; b: string; set: EvalSetName; alignment: WinTieLose; fidelity: WinTieLose }>;
  claims: Claim[];
}

/** Reward vs CLIP on the reward test sets, and the auxiliary-loss ablation. */
export interface RewardClaims {
  sets: AucDifference[];
  ablation: { seeds: number[]; metrics: Record<string, { with: number[]; without: number[] }> };
}

/** Evaluation prompts of a set: a seeded sample per category. */
export function evalPrompts(set: EvalSetName, config: ReproduceConfig): PromptEntry[] {
  const k = config.eval.promptsPerCategory;
  if (set === 'seen' && config.feedbackPromptsPerCategory !== null) {
    // Seen means given feedback: sample among the prompts feedback was collected for.
    return samplePerCategory(feedbackPrompts('seen', config), k, `eval-prompts/${config.eval.seed}`);
  }
  return (set === 'seen' ? seenPrompts : unseenPrompts)({ perCategory: Object.fromEntries(CATEGORIES.map((c) => [c, k])), seed: config.eval.seed });
}

/**
 * The evaluation's design in words: its prompts per category in each set (a category with fewer prompts than
 * eval.promptsPerCategory gives all it has: 4 seen count prompts, not 12) and images per prompt.
 */
export function evalDesignText(config: ReproduceConfig): string {
  const counts = (set: EvalSetName) => {
    const ps = evalPrompts(set, config);
    return CATEGORIES.map((c) => ps.filter((p) => p.category === c).length).join(' / ');
  };
  return `seen prompts ${counts('seen')} and unseen ${counts('unseen')} (count / color / background / combination; at most ${config.eval.promptsPerCategory} each), ${config.eval.perPrompt} images per prompt`;
}

/**
 * The prompts feedback is collected for (set 'seen'), or the unseen prompts of the stand-in renders; with
 * `perCategory`, fewer (a prefix of the same seeded sample, so the base-model images' prompts are among the renders').
 */
export function feedbackPrompts(set: EvalSetName, config: ReproduceConfig, perCategory: number | null = null): PromptEntry[] {
  const caps = [config.feedbackPromptsPerCategory, perCategory].filter((k): k is number => k !== null);
  const k = caps.length ? Math.min(...caps) : null;
  const f = set === 'seen' ? seenPrompts : unseenPrompts;
  return k === null ? f() : f({ perCategory: Object.fromEntries(CATEGORIES.map((c) => [c, k])), seed: config.feedback.seed });
}

/** The unseen prompts of the base-model reward test set (`unseen-test/`): one image each. */
function unseenTestPrompts(config: ReproduceConfig): PromptEntry[] {
  return feedbackPrompts('unseen', config, config.rewardTest.unseenPromptsPerCategory);
}

/** Work units of the whole run (a generated image is 1), for the one progress bar. */
function plan(config: ReproduceConfig) {
  const seen = feedbackPrompts('seen', config).length;
  const perEval = 2 * 4 * config.eval.promptsPerCategory * config.eval.perPrompt;
  return {
    collect: seen * (config.feedback.perPrompt + config.unlabelled.perPrompt + config.rewardTest.perPrompt) + unseenTestPrompts(config).length,
    reward: 40 * (1 + 2 * config.rewardSeeds),
    finetune: 5 * config.finetuneSteps * VARIANT_NAMES.length * config.seeds.length,
    evaluate: perEval * (1 + config.rejectionK + VARIANT_NAMES.length * config.seeds.length),
    grids: 128,
  };
}

export interface ReproduceHooks {
  log?: (line: string) => void;
  /** The run's one progress display (default: the kit's progress bar). */
  progress?: (total: number, label: string) => Progress;
  /** How often, at most, a running stage's time so far is saved to timing.json (default 30 s; a killed stage kept none of it). */
  timingEveryMs?: number;
}

/** Sampler overrides for a guidance-scale key (eval.guidance, feedback.guidance): `{ sampler: { guidanceScale } }`, or nothing for null (the model's own). */
function guidanceOverride(scale: number | null): { sampler?: { guidanceScale: number } } {
  return scale === null ? {} : { sampler: { guidanceScale: scale } };
}

/** The lock file of a reproduce run's folder (see withFolderLock). */
export const REPRODUCE_LOCK = '.reproduce.lock';

/**
 * Run (or resume) the whole pipeline into `out`. Call initBackend first. The folder is held while it runs: a
 * second reproduce into it is refused (two ran side by side, each stage's lock refusing the later one midway).
 */
export async function reproduce(config: ReproduceConfig, out: string, hooks: ReproduceHooks = {}): Promise<ReproduceSummary> {
  return withFolderLock(out, REPRODUCE_LOCK, 'reproduce', () => reproduceLocked(config, out, hooks));
}

async function reproduceLocked(config: ReproduceConfig, out: string, hooks: ReproduceHooks): Promise<ReproduceSummary> {
  const t0 = Date.now();
  const log = hooks.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const configFile = path.join(out, 'config.json');
  if (fs.existsSync(configFile)) {
    const raw = readJsonFile<any>(configFile, 'it records the run\'s settings: restore it, or use another --out');
    // Keys added since the run began read as their defaults (a run from before eval.guidance or feedback.guidance used each model's own),
    // except where the key's stage is new: a run from before the unseen base-model reward test set has not collected it yet.
    if (raw?.rewardTest && typeof raw.rewardTest === 'object' && !('unseenPromptsPerCategory' in raw.rewardTest)) {
      raw.rewardTest.unseenPromptsPerCategory = config.rewardTest.unseenPromptsPerCategory;
    }
    const parsed = ReproduceConfigSchema.safeParse(raw);
    // Another command's config.json (a pretrain run's) is no reproduce run to resume: it was read as "another config (seeds was undefined ...)".
    const ownKeys = Object.keys(ReproduceConfigSchema.shape);
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || !ownKeys.some((k) => k in raw)) {
      throw new Error(`--out ${out} holds a config.json that is not a reproduce run's (none of ${ownKeys.slice(0, 4).join(', ')}, ... in it: another command's run?); give a new or empty folder, or the folder of an earlier reproduce run`);
    }
    const diff = firstDifference(parsed.success ? parsed.data : raw, config);
    if (diff) throw new Error(`${out} holds a run with another config (${diff}); use another --out, or the same settings to resume`);
  } else writeFileAtomic(configFile, JSON.stringify(config, null, 2) + '\n');

  const units = plan(config);
  const runBar = (hooks.progress ?? makeProgress)(Object.values(units).reduce((a, b) => a + b, 0), 'reproduce');
  const earlier = earlierInvocations(out);
  const steps: Record<string, number> = {};
  const writeTiming = (now: Invocation) => writeFileAtomic(path.join(out, TIMING_FILE), JSON.stringify({ invocations: [...earlier, now] }, null, 2) + '\n');
  // A stopped invocation's times: its finished stages, and the running one's time so far, saved as the stage
  // ticks and on a timer (at most every `timingEveryMs`), so that a killed stage keeps its minutes too.
  let running: { name: string; s0: number } | undefined;
  let savedAt = Date.now();
  const timingEveryMs = hooks.timingEveryMs ?? 30_000;
  const saveStopped = () => {
    savedAt = Date.now();
    const now = { ...steps };
    if (running) now[running.name] = (now[running.name] ?? 0) + (savedAt - running.s0) / 1000;
    writeTiming({ seconds: (savedAt - t0) / 1000, steps: now, interrupted: true });
  };
  const saveIfDue = () => {
    if (running && Date.now() - savedAt >= timingEveryMs) saveStopped();
  };
  const timer = setInterval(saveIfDue, Math.max(1000, timingEveryMs));
  timer.unref();
  let ticked = 0;
  const bar = { tick: (n: number) => ((ticked += n), saveIfDue(), runBar.tick(n)) };
  /** Run stage `name`; where it ticked fewer than its `planned` units (work found done by a resumed run), the bar takes the rest. */
  const step = async <T>(name: string, f: () => Promise<T> | T, planned = 0): Promise<T> => {
    const s0 = Date.now();
    const ticked0 = ticked;
    log(`reproduce: ${name}`);
    running = { name, s0 };
    const r = await f();
    running = undefined;
    if (ticked - ticked0 < planned) bar.tick(planned - (ticked - ticked0));
    steps[name] = (steps[name] ?? 0) + (Date.now() - s0) / 1000;
    saveStopped();
    return r;
  };
  /** A stage's own progress as ticks of the run's bar (`weight` run units per stage unit). */
  const ticker = (weight: number) => {
    let shown = 0;
    return (done: number) => {
      if (done > shown) bar.tick((done - shown) * weight);
      shown = Math.max(shown, done);
    };
  };
  const sub = (weight: number) => (total: number): Progress => {
    void total;
    return { tick: (n = 1) => bar.tick(n * weight), done: () => {} };
  };

  try {
    const dir = (...p: string[]) => path.join(out, ...p);
    // Stage 1. Its base-model images are all sampled at feedback.guidance.
    const modelImages = (name: string, perPrompt: number, seed: number, prompts = feedbackPrompts('seen', config)) =>
      collectStage({ prompts, perPrompt, seed, ...guidanceOverride(config.feedback.guidance) }, dir(name), { onProgress: ticker(1) });
    const seenCount = feedbackPrompts('seen', config).length;
    await step('collect feedback', () => modelImages('feedback', config.feedback.perPrompt, config.feedback.seed), seenCount * config.feedback.perPrompt);
    await step('label feedback', () => labelStage({ panel: config.feedback.panel, seed: config.feedback.panelSeed }, dir('feedback')));
    if (config.unlabelled.perPrompt > 0) {
      await step('collect unlabelled', () => modelImages('unlabelled', config.unlabelled.perPrompt, config.unlabelled.seed), seenCount * config.unlabelled.perPrompt);
    }
    await step('collect reward test', () => modelImages('test', config.rewardTest.perPrompt, config.rewardTest.seed), seenCount * config.rewardTest.perPrompt);
    await step('label reward test', () => labelStage({ panel: config.feedback.panel, seed: config.rewardTest.panelSeed }, dir('test')));
    await step('collect unseen reward test', () => modelImages('unseen-test', 1, config.rewardTest.seed + 2, unseenTestPrompts(config)), unseenTestPrompts(config).length);
    await step('render unseen stand-in', () => collectStage({ prompts: feedbackPrompts('unseen', config), perPrompt: 1, seed: config.rewardTest.seed + 1, standIn: 0.5 }, dir('standin-unseen')));

    // Stage 2.
    const rewardDir = dir('reward');
    if (!hasCheckpoint(rewardDir)) await step('train reward', () => trainRewardStage({ seed: 0 }, [dir('feedback')], rewardDir, { progress: false }));
    bar.tick(40);
    const reward = await step('reward claims', () => rewardClaims(config, out, () => bar.tick(40)), units.reward - 40);

    // Stage 3.
    const ftDir = (v: VariantName, s: number) => dir('finetune', `${v}-seed${s}`);
    for (const s of config.seeds) {
      for (const v of VARIANT_NAMES) {
        const spec = VARIANTS[v];
        const ftConfig = resolveFinetuneConfig('default', {
          beta: spec.beta, weights: spec.weights, seed: s, evalEvery: 0,
          train: { steps: config.finetuneSteps, checkpointEvery: Math.max(50, Math.ceil(config.finetuneSteps / 4)) },
        });
        await step(`finetune ${v} seed ${s}`, () =>
          finetuneStage(ftConfig, {
            data: [dir('feedback')], unlabelled: spec.unlabelled && config.unlabelled.perPrompt > 0 ? [dir('unlabelled')] : [], reward: rewardDir, out: ftDir(v, s),
          }, { progress: sub(5) }),
          units.finetune / (VARIANT_NAMES.length * config.seeds.length),
        );
      }
    }

    // Evaluation: every model on the same prompts and image seeds.
    const models: Array<{ name: string; model: string; rejectionK?: number }> = [
      { name: 'base', model: BASE_MODEL_DIR },
      { name: `base+best-of-${config.rejectionK}`, model: BASE_MODEL_DIR, rejectionK: config.rejectionK },
      ...config.seeds.flatMap((s) => VARIANT_NAMES.map((v) => ({ name: `${v}-seed${s}`, model: ftDir(v, s) }))),
    ];
    const evals: Record<string, ModelEvals> = {};
    for (const m of models) {
      evals[m.name] = {} as ModelEvals;
      for (const set of EVAL_SETS) {
        evals[m.name][set] = await step(`evaluate ${m.name} ${set}`, () =>
          evaluateStage(
            {
              model: m.model, prompts: evalPrompts(set, config), perPrompt: config.eval.perPrompt, seed: config.eval.seed, reward: rewardDir, rejectionK: m.rejectionK, resamples: 1000,
              ...guidanceOverride(config.eval.guidance),
            },
            dir('eval', m.name, set),
            { onProgress: ticker(1) },
          ),
          evalPrompts(set, config).length * config.eval.perPrompt * (m.rejectionK ?? 1),
        );
      }
    }
    await step('grids', () => writeGrids(config, out, [{ name: 'base', model: BASE_MODEL_DIR }, ...VARIANT_NAMES.map((v) => ({ name: v, model: ftDir(v, config.seeds[0]) }))]));
    bar.tick(units.grids);

    const byVariant = (v: VariantName, set: EvalSetName) => config.seeds.map((s) => evals[`${v}-seed${s}`][set]);
    const rejection = evals[`base+best-of-${config.rejectionK}`];
    const claims = buildClaims(config, evals.base, rejection, byVariant, reward);
    const pairs: ReproduceSummary['pairs'] = [];
    for (const set of EVAL_SETS) {
      for (const [a, b] of [['rlhf', 'base'], ['rlhf', `base+best-of-${config.rejectionK}`], ['rlhf', 'sft'], ['sft', 'base'], ['no-pretrain', 'base'], ['labelled-only', 'base']] as const) {
        const ea = a === 'rlhf' || a === 'sft' || a === 'no-pretrain' || a === 'labelled-only' ? byVariant(a, set) : [evals[a][set]];
        const eb = b === 'sft' ? byVariant('sft', set) : config.seeds.map(() => evals[b][set]);
        const sum = (k: 'alignment' | 'fidelity') => ea.map((x, i) => winTieLose(x, eb[i])[k]).reduce((acc, w) => ({ win: acc.win + w.win, tie: acc.tie + w.tie, lose: acc.lose + w.lose, n: acc.n + w.n }));
        pairs.push({ a, b, set, alignment: sum('alignment'), fidelity: sum('fidelity') });
      }
    }
    const seconds = (Date.now() - t0) / 1000;
    const summary: ReproduceSummary = {
      config, out, seconds, steps, ...(earlier.length ? { earlier } : {}), reward,
      evaluations: Object.fromEntries(Object.entries(evals).map(([k, v]) => [k, { seen: evaluationJson(v.seen), unseen: evaluationJson(v.unseen) }])),
      pairs, claims,
    };
    writeFileAtomic(dir('summary.json'), JSON.stringify(summary, null, 2) + '\n');
    writeFileAtomic(dir('claims.json'), JSON.stringify(claims, null, 2) + '\n');
    writeFileAtomic(dir('claims.md'), claimsMarkdown(claims, `# Claims of Lee et al. (2023), as the kit measures them\n\n${config.seeds.length} fine-tuning seed(s), ${config.finetuneSteps} updates each; evaluation on ${evalDesignText(config)}, image seed ${config.eval.seed}${config.eval.guidance === null ? '' : `, every model at guidance ${config.eval.guidance}`}. Effects in accuracy points, FID or AUC; judge verdicts, the independent classifier beside them.\n`) + '\n');
    writeReproduceReport(dir('report.html'), summary);
    writeTiming({ seconds, steps });
    return summary;
  } finally {
    clearInterval(timer);
    runBar.done();
  }
}

/** Reward vs CLIP on the test sets and the auxiliary-loss ablation (cached in reward-claims.json). */
async function rewardClaims(config: ReproduceConfig, out: string, onRun: () => void): Promise<RewardClaims> {
  const file = path.join(out, 'reward-claims.json');
  const key = JSON.stringify({
    reward: readCheckpointIndex(path.join(out, 'reward')).sha256, rewardScore: rewardScoreKey(path.join(out, 'reward')), seeds: config.rewardSeeds,
    // the perturbed prompts the ablation's models train with: a cache made before a change of them is computed again
    perturbations: PERTURBATION_RULES,
    sets: ['feedback', 'test', 'unseen-test', 'standin-unseen'].map((d) => readManifest(path.join(out, d)).length),
  });
  if (fs.existsSync(file)) {
    const saved = readJsonFile<Partial<RewardClaims> & { key?: unknown }>(file, 'remove it to compute the reward claims again');
    // A cache made before the reward's score key (2026-12-06) is compared on the rest of its key.
    const sameKey = (() => {
      if (typeof saved?.key !== 'string') return false;
      try {
        const k = JSON.parse(saved.key);
        return JSON.stringify('rewardScore' in k ? JSON.parse(key) : { ...JSON.parse(key), rewardScore: undefined }) === JSON.stringify(k);
      } catch {
        return false;
      }
    })();
    if (sameKey) {
      const shaped = Array.isArray(saved.sets) && saved.sets.every((s) => s && typeof s === 'object' && s.diff && typeof s.diff === 'object') && saved.ablation && typeof saved.ablation === 'object';
      if (!shaped) throw new Error(`${file}: not the reward claims reproduce writes (sets with their AUC differences, and the ablation); remove it to compute them again`);
      // JSON keeps NaN (no interval, no p) as null, which a comparison would read as 0 (p < 0.05): back to NaN.
      const nan = (x: number | null) => (x === null ? NaN : x);
      const sets = saved.sets!.map((s) => ({ ...s, reward: nan(s.reward), clip: nan(s.clip), diff: { ...s.diff, value: nan(s.diff.value), lo: nan(s.diff.lo), hi: nan(s.diff.hi), p: nan(s.diff.p) } }));
      return { sets, ablation: saved.ablation! };
    }
  }
  const { model, frozen } = await loadRewardModel(path.join(out, 'reward'));
  try {
    const sets = [
      labelEvalSet(path.join(out, 'test'), frozen, 'seen test (labels)'),
      judgeEvalSet(path.join(out, 'unseen-test'), frozen, 'unseen test (judge)'),
      judgeEvalSet(path.join(out, 'standin-unseen'), frozen, 'unseen stand-in (judge)'),
    ];
    const clip = new ClipScore(model.texts);
    const claims: RewardClaims = {
      sets: sets.map((s) => aucDifference(s, model.score(s.embeddings, s.prompts), clip.score(s.embeddings, s.prompts), `reward-claims/${s.name}`)),
      ablation: { seeds: [], metrics: {} },
    };
    const data = loadRewardData([path.join(out, 'feedback')], frozen);
    const seeds = Array.from({ length: config.rewardSeeds }, (_, i) => 100 + i);
    const ab = await auxLossAblation(data, frozen, sets, seeds, {}, () => onRun(), 0);
    claims.ablation.seeds = seeds;
    for (const e of ab.effects) claims.ablation.metrics[e.metric] = { with: ab.runs.map((r) => r.with[e.metric]), without: ab.runs.map((r) => r.without[e.metric]) };
    writeFileAtomic(file, JSON.stringify({ key, ...claims }, null, 2) + '\n');
    return claims;
  } finally {
    model.dispose();
    frozen.clip.dispose();
  }
}

/**
 * The earlier invocations on `out`: from timing.json, or (a run from before it) from summary.json, which holds
 * the finished ones only. Times are a record, not a result: an unreadable file gives none, as a fresh folder does.
 */
function earlierInvocations(out: string): Invocation[] {
  const read = (name: string) => {
    try {
      return JSON.parse(fs.readFileSync(path.join(out, name), 'utf8'));
    } catch {
      return undefined;
    }
  };
  const isInvocation = (x: any): x is Invocation => typeof x?.seconds === 'number' && !!x.steps && typeof x.steps === 'object';
  const timing = read(TIMING_FILE);
  if (Array.isArray(timing?.invocations)) return timing.invocations.filter(isInvocation);
  const prev = read('summary.json');
  if (!isInvocation(prev)) return [];
  const before: unknown = (prev as { earlier?: unknown }).earlier;
  return [...(Array.isArray(before) ? before.filter(isInvocation) : []), { seconds: prev.seconds, steps: prev.steps }];
}

/** The note of a claim whose sets `names` could not be tested (all images of one class: no AUC), or nothing. */
function untestable(names: readonly string[]): { note?: string } {
  return names.length ? { note: `left out, all of their images of one class (no AUC): ${names.join(', ')}` } : {};
}

/** The claims of the paper from the evaluations (see ./claims.ts for the verdict rules). */
export function buildClaims(
  config: ReproduceConfig,
  base: ModelEvals,
  rejection: ModelEvals,
  byVariant: (v: VariantName, set: EvalSetName) => EvaluateResult[],
  reward: RewardClaims,
): Claim[] {
  const both = (v: VariantName) => EVAL_SETS.map((set) => ({ set, evals: byVariant(v, set) }));
  const claims: Claim[] = [];
  for (const set of EVAL_SETS) {
    claims.push(makeClaim({
      id: `alignment-${set}`,
      claim: `Fine-tuning improves alignment in every category on ${set} prompts`,
      measure: `judge accuracy, fine-tuned (rlhf) minus base, on ${set} prompts`,
      unit: 'points',
      parts: [...perCategoryParts(byVariant('rlhf', set), base[set]), alignmentPart('all', byVariant('rlhf', set), base[set])],
    }));
  }
  claims.push(makeClaim({
    id: 'fidelity-cost',
    claim: 'Fine-tuning costs some image fidelity',
    measure: 'FID to fresh renders (classifier features), rlhf minus base',
    unit: 'FID',
    parts: both('rlhf').map(({ set, evals }) => fidelityPart(set, evals, base[set], 1)),
    note: 'the features are an attribute classifier\'s and the renders show the prompt, so a better-aligned model also moves closer to them: read fidelity and alignment together',
  }));
  claims.push(makeClaim({
    id: 'pretraining-term',
    claim: 'The pretraining term (beta) keeps fidelity: the cost is larger without it',
    measure: 'FID, no-pretrain (beta 0) minus rlhf (beta 1)',
    unit: 'FID',
    parts: EVAL_SETS.map((set) => fidelityPart(set, byVariant('no-pretrain', set), byVariant('rlhf', set), 1)),
  }));
  claims.push(makeClaim({
    id: 'unlabelled-data',
    claim: 'Unlabelled model images (weighted by the reward) help',
    measure: 'rlhf minus labelled-only: judge accuracy (up), FID (down)',
    unit: 'points',
    parts: EVAL_SETS.flatMap((set) => [
      alignmentPart(`${set}: alignment`, byVariant('rlhf', set), byVariant('labelled-only', set)),
      fidelityPart(`${set}: FID`, byVariant('rlhf', set), byVariant('labelled-only', set), -1),
    ]),
  }));
  // A set of one class has no AUC: its part is left out (named in the note), not counted against the claim.
  const auxSets = [
    ['unseen test (judge)', 'unseen prompts (base-model images, judge)'],
    ['unseen stand-in (judge)', 'unseen prompts (stand-in renders, judge)'],
    ['seen test (labels)', 'seen prompts, new images (labels)'],
  ] as const;
  const auxMetrics = auxSets.map(([set, name]) => {
    const m = reward.ablation.metrics[`${set}/all/auc`];
    // The ablation keeps finite metrics only: a set may be missing there only when it is of one class (no AUC).
    const measured = reward.sets.find((s) => s.name === set);
    if (!m && !(measured && Number.isNaN(measured.diff.value))) {
      throw new Error(`the auxiliary-loss ablation has no ${set}/all/auc (it measured: ${Object.keys(reward.ablation.metrics).join(', ')})`);
    }
    return { name, m };
  });
  const auxOneClass = auxMetrics.filter((a) => !a.m).map((a) => a.name);
  claims.push(makeClaim({
    id: 'auxiliary-loss',
    claim: 'The auxiliary prompt-classification loss helps the reward generalise',
    measure: `reward AUC with the auxiliary loss minus without, ${reward.ablation.seeds.length} reward seeds`,
    unit: 'AUC',
    parts: auxMetrics.flatMap(({ name, m }) => (m ? [seedEffectPart(name, m.with.map((w, i) => w - m.without[i]), 1)] : [])),
    // Where the floor is ALPHA or more, makeClaim's note says so for each part.
    note: [
      ...(leastP(reward.ablation.seeds.length) < ALPHA ? [`with ${reward.ablation.seeds.length} reward seeds the exact sign-flip p cannot go below ${leastP(reward.ablation.seeds.length).toFixed(3)}`] : []),
      ...(auxOneClass.length ? [untestable(auxOneClass).note!] : []),
    ].join('; ') || undefined,
  }));
  claims.push(makeClaim({
    id: 'reward-vs-clip',
    claim: 'The learned reward predicts alignment better than the CLIP score',
    measure: `AUC of the reward minus AUC of the CLIP score: effect and interval over the ${reward.ablation.seeds.length} reward seeds of the recipe (the auxiliary-loss runs with it), p of the run's own reward model (paired bootstrap over prompts)`,
    unit: 'AUC',
    // As for fine-tuning, the verdict needs a paired test over prompts and an interval over training seeds: the
    // bootstrap's own percentile interval comes from the same draws as its p, one piece of evidence, not two.
    // A set of one class has no AUC: it is left out (named in the note), not counted against the claim.
    parts: reward.sets.filter((s) => Number.isFinite(s.diff.value)).map((s) => {
      // Like every effect of the table, the mean over training seeds; the run's own model (whose scores weighted its
      // fine-tuning) is tested over prompts, its difference shown beside its p.
      const seeds = reward.ablation.metrics[`${s.name}/all/auc`]?.with.map((auc) => auc - s.clip) ?? [];
      const perSeed = seeds.length ? seeds : [s.diff.value];
      const effect = perSeed.reduce((a, b) => a + b, 0) / perSeed.length;
      const iv = seedInterval(perSeed);
      const sign = (x: number) => (x >= 0 ? '+' : '') + fixed3(x);
      return {
        name: s.name, effect, direction: 1 as const, perSeed, interval: iv,
        test: `the run's model ${sign(s.diff.value)}, paired bootstrap over ${s.prompts} prompts [${fixed3(s.diff.lo)}, ${fixed3(s.diff.hi)}]`, p: s.diff.p,
        // the test speaks for the claim only where the run's model points the same way as the seeds' mean
        verdict: partVerdict(effect, 1, Math.sign(s.diff.value) === Math.sign(effect) ? s.diff.p : 1, iv),
      };
    }),
    ...untestable(reward.sets.filter((s) => !Number.isFinite(s.diff.value)).map((s) => s.name)),
  }));
  claims.push(makeClaim({
    id: 'rejection-sampling',
    claim: `The fine-tuned model is more aligned than the base model with rejection sampling (best of ${config.rejectionK} by the reward)`,
    measure: `judge accuracy, rlhf minus base + best-of-${config.rejectionK}`,
    unit: 'points',
    parts: EVAL_SETS.map((set) => alignmentPart(set, byVariant('rlhf', set), rejection[set])),
  }));
  return claims;
}

/** Before / after: the same prompts and seeds from the base and each variant (fine-tuning seed 0), one PNG per model. */
async function writeGrids(config: ReproduceConfig, out: string, models: Array<{ name: string; model: string }>): Promise<void> {
  const gdir = path.join(out, 'grids');
  fs.mkdirSync(gdir, { recursive: true });
  const prompts = new Rng(`grids/${config.eval.seed}`).shuffle(evalPrompts('seen', config)).slice(0, 8).map((p) => p.prompt);
  writeFileAtomic(path.join(gdir, 'prompts.txt'), prompts.join('\n') + '\n');
  for (const m of models) {
    const file = path.join(gdir, `${m.name}.png`);
    // A grid is kept only beside the key it was drawn with (the weights, sampler, prompts and seeds): a model
    // fine-tuned again in its folder is drawn again, not shown under its new name with the old images.
    const keyFile = path.join(gdir, `${m.name}.json`);
    const sampler = { ...readModelMeta(diffusionCheckpointDir(m.model), 'diffusion').config.sampler, ...guidanceOverride(config.eval.guidance).sampler };
    const key = JSON.stringify({ weights: readCheckpointIndex(diffusionCheckpointDir(m.model)).sha256, sampler, prompts, seed: config.eval.seed }) + '\n';
    if (fs.existsSync(file) && fs.existsSync(keyFile) && fs.readFileSync(keyFile, 'utf8') === key) continue;
    const { model } = await loadModel(m.model);
    try {
      const jobs = prompts.flatMap((p) => [0, 1, 2, 3].map((k) => ({ p, seed: `grids/${config.eval.seed}/${p}/${k}` })));
      const images = await generateImages(model, jobs.map((j) => j.p), { ...sampler, seed: jobs.map((j) => j.seed), batchSize: 32 });
      writeFileAtomic(file, encodePng(tileImages(images, { columns: 4, scale: 3, gap: 2 })));
      writeFileAtomic(keyFile, key);
    } finally {
      model.dispose({ clip: true });
    }
  }
}
