/**
 * A sweep: a small typed config that names a base setting of the whole
 * pipeline (labels, raters, unlabelled data, auxiliary loss, beta, updates),
 * one or two axes to vary, the seeds, the evaluation and the figures. The
 * named sweeps ship here; a user writes their own as JSON (`--config FILE`),
 * checked by the same schema, so a bad key is an error that names it.
 */
import { z } from 'zod';
import { zodIssuesLine } from '../engine/zodIssues';

/** One point of the pipeline: what data the reward and the fine-tuning see, and how they train. */
export const RunSettingsSchema = z.strictObject({
  /** Labelled model images per seen prompt (stage 1). */
  labels: z.number().int().min(1).max(64),
  /** Simulated raters per image, and the rate at which each flips the judge's verdict. */
  raters: z.number().int().min(1).max(9),
  flip: z.number().min(0).max(0.5),
  /** Unlabelled model images per seen prompt, weighted by the reward (0: none). */
  unlabelled: z.number().int().min(0).max(64),
  /** Weight lambda of the reward model's auxiliary prompt-classification loss (0: off). */
  aux: z.number().min(0).max(10),
  /** Weight beta of the pretraining loss in fine-tuning (0: off). */
  beta: z.number().min(0).max(1000),
  /** Fine-tuning updates. */
  steps: z.number().int().min(1).max(100_000),
  /** Evaluations along fine-tuning, evenly spaced, the last at `steps` (1: only the end). */
  snapshots: z.number().int().min(1).max(50),
});
export type RunSettings = z.infer<typeof RunSettingsSchema>;
export const SETTING_KEYS = Object.keys(RunSettingsSchema.shape) as Array<keyof RunSettings>;
export type SettingKey = keyof RunSettings;

/** Columns of results.csv a figure may plot (besides the settings). */
export const METRICS = [
  'step', 'labelCount', 'count', 'color', 'background', 'combination', 'overall', 'gain', 'classifier', 'fid', 'reward', 'rewardAucUnseen', 'rewardAucHeldOut', 'seconds',
] as const;
export type Metric = (typeof METRICS)[number];
/** What each column means (the CSV's header notes and the figures' axis titles). */
export const METRIC_TITLES: Record<Metric | SettingKey, string> = {
  labels: 'labelled images per prompt', raters: 'raters per image', flip: 'rater flip rate', unlabelled: 'unlabelled images per prompt',
  aux: 'auxiliary loss weight (lambda)', beta: 'pretraining weight (beta)', steps: 'fine-tuning updates', snapshots: 'evaluations',
  step: 'fine-tuning updates', labelCount: 'labels used', count: 'judge accuracy: count prompts', color: 'judge accuracy: color prompts',
  background: 'judge accuracy: background prompts', combination: 'judge accuracy: combination prompts', overall: 'judge accuracy (overall)',
  gain: 'judge accuracy minus the base model\'s', classifier: 'classifier accuracy (overall)', fid: 'FID to renders (lower: closer)',
  reward: 'mean reward of the fine-tuned model\'s images', rewardAucUnseen: 'reward AUC vs the judge, unseen prompts', rewardAucHeldOut: 'reward AUC, held-out labels (the early-stopping prompts)',
  seconds: 'wall seconds',
};
const Column = z.enum([...SETTING_KEYS, ...METRICS] as unknown as [string, ...string[]]);

export const FigureSchema = z.strictObject({
  title: z.string().min(1),
  /** Column on the x axis; points are means over seeds of the runs sharing every setting (and step). */
  x: Column,
  /** Columns on the y axis (one line each, or one per series value). */
  y: z.array(Column).min(1).max(8),
  /** A setting whose values get one line each (e.g. beta on a curve over steps). */
  series: z.enum(SETTING_KEYS as [string, ...string[]]).optional(),
  /** 'lines' joins the points in x order; 'markers' for a trade-off scatter (x and y both metrics). */
  mode: z.enum(['lines', 'markers']).default('lines'),
  /** Plot each run's change since its own step 0 (paired by run; needs snapshots > 1) instead of the values. */
  change: z.boolean().default(false),
  caption: z.string().optional(),
});
export type SweepFigure = z.infer<typeof FigureSchema>;

export const EvalSettingsSchema = z.strictObject({
  /** Seen prompts per category (a seeded sample, the same for every run), images per prompt, seed. */
  promptsPerCategory: z.number().int().min(1).max(100),
  perPrompt: z.number().int().min(1).max(64),
  seed: z.number().int().min(0),
});

const SweepBody = {
  /** The question the sweep answers (shown above its figures). */
  question: z.string().min(1),
  /** The base point: every setting the grid does not vary. */
  settings: RunSettingsSchema.partial(),
  /** The axes: each setting listed takes each of its values (the grid is their product). */
  grid: z.partialRecord(z.enum(SETTING_KEYS as [string, ...string[]]), z.array(z.number()).min(1).max(20)),
  /** Seeds 0..seeds-1 of the reward model and the fine-tuning (the data are shared). */
  seeds: z.number().int().min(1).max(20),
  eval: EvalSettingsSchema.partial(),
  /** Seen prompts per category that feedback is collected for (a seeded sample; null or absent: all 172). */
  feedbackPromptsPerCategory: z.number().int().min(1).max(100).nullable().optional(),
  figures: z.array(FigureSchema).min(1).max(8),
};

export const SweepConfigSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/, 'lower-case letters, digits and -'),
  ...SweepBody,
  /** What `--quick` changes (any of the keys above but name). */
  quick: z.strictObject({ settings: SweepBody.settings, grid: SweepBody.grid, seeds: SweepBody.seeds, eval: SweepBody.eval, feedbackPromptsPerCategory: SweepBody.feedbackPromptsPerCategory }).partial().optional(),
});
export type SweepConfigInput = z.input<typeof SweepConfigSchema>;

/** A sweep ready to run: the quick part applied, every setting filled in. */
export interface ResolvedSweep {
  name: string;
  question: string;
  quick: boolean;
  settings: RunSettings;
  grid: Partial<Record<SettingKey, number[]>>;
  seeds: number;
  eval: z.infer<typeof EvalSettingsSchema>;
  feedbackPromptsPerCategory: number | null;
  figures: SweepFigure[];
}

/** The base point of every sweep (a setting a sweep names overrides it). */
export const DEFAULT_SETTINGS: RunSettings = { labels: 2, raters: 3, flip: 0.05, unlabelled: 2, aux: 0.5, beta: 1, steps: 300, snapshots: 1 };
const DEFAULT_EVAL = { promptsPerCategory: 8, perPrompt: 2, seed: 30 };
/** What every quick sweep changes: fewer updates and a smaller evaluation. */
/** What `--quick` caps a sweep at (never raising a config's own smaller values). */
const QUICK_STEPS = 100;
const QUICK_EVAL = { promptsPerCategory: 4, perPrompt: 2 };

const ALIGNMENT = ['count', 'color', 'background', 'combination', 'overall'] as const;

/** The sweeps that ship with the kit (`t2i-align sweep <name>`). */
export const NAMED_SWEEPS: Record<string, SweepConfigInput> = {
  beta: {
    name: 'beta',
    question: 'How does the pretraining term trade alignment against fidelity? (the paper\'s central figure: beta from 0 up)',
    settings: {},
    grid: { beta: [0, 0.3, 1, 3] },
    seeds: 3,
    eval: {},
    figures: [
      { title: 'Alignment against fidelity as beta varies', x: 'fid', y: ['overall'], series: 'beta', mode: 'markers', caption: 'One point per beta: mean over seeds, bars 95% t intervals over seeds (x and y). Lower FID is closer to the renders.' },
      { title: 'Judge accuracy per category against beta', x: 'beta', y: [...ALIGNMENT] },
      { title: 'FID against beta', x: 'beta', y: ['fid'] },
    ],
    quick: { grid: { beta: [0, 1, 3] }, seeds: 1 },
  },
  aux: {
    name: 'aux',
    question: 'Does the auxiliary prompt-classification loss make the reward generalise to unseen prompts, and does that reach the fine-tuned model?',
    settings: {},
    grid: { aux: [0, 0.25, 0.5, 1] },
    seeds: 3,
    eval: {},
    figures: [
      { title: 'Reward AUC against the auxiliary loss weight', x: 'aux', y: ['rewardAucUnseen', 'rewardAucHeldOut'] },
      { title: 'Fine-tuned alignment against the auxiliary loss weight', x: 'aux', y: ['overall', 'classifier'] },
    ],
    quick: { grid: { aux: [0, 0.5] }, seeds: 2 },
  },
  unlabelled: {
    name: 'unlabelled',
    question: 'Do unlabelled model images, weighted by the reward, help, and how many?',
    settings: {},
    grid: { unlabelled: [0, 2, 4, 8] },
    seeds: 3,
    eval: {},
    figures: [
      { title: 'Judge accuracy against unlabelled images per prompt', x: 'unlabelled', y: ['overall', 'classifier'] },
      { title: 'FID against unlabelled images per prompt', x: 'unlabelled', y: ['fid'] },
    ],
    quick: { grid: { unlabelled: [0, 2, 4] }, seeds: 1 },
  },
  labels: {
    name: 'labels',
    question: 'How much alignment does each label buy? (label efficiency: no peer reports this curve)',
    settings: { unlabelled: 0 },
    grid: { labels: [1, 2, 4, 8] },
    seeds: 3,
    eval: {},
    figures: [
      { title: 'Alignment gained against the number of labels', x: 'labelCount', y: ['gain'], caption: 'Gain: judge accuracy minus the base model\'s on the same prompts and image seeds. Labels: images x raters.' },
      { title: 'Reward AUC against the number of labels', x: 'labelCount', y: ['rewardAucHeldOut', 'rewardAucUnseen'] },
    ],
    quick: { grid: { labels: [1, 2, 4] }, seeds: 1 },
  },
  noise: {
    name: 'noise',
    question: 'How much rater noise can the method take? (each rater flips the judge\'s verdict at this rate)',
    settings: {},
    grid: { flip: [0, 0.1, 0.2, 0.35] },
    seeds: 3,
    eval: {},
    figures: [
      { title: 'Final alignment against the rater flip rate', x: 'flip', y: ['overall', 'gain'] },
      { title: 'Reward AUC against the rater flip rate', x: 'flip', y: ['rewardAucHeldOut', 'rewardAucUnseen'] },
    ],
    quick: { grid: { flip: [0, 0.2, 0.4] }, seeds: 1 },
  },
  overopt: {
    name: 'overopt',
    question: 'Reward over-optimisation: as fine-tuning goes on, and with beta at 0, does the reward model\'s score keep tracking the judge and the independent classifier?',
    settings: { steps: 400, snapshots: 4 },
    grid: { beta: [0, 1] },
    seeds: 3,
    eval: {},
    figures: [
      { title: 'Proxy and truth over fine-tuning: change since the base model', x: 'step', y: ['reward', 'overall', 'classifier'], series: 'beta', change: true, caption: 'Each run\'s change since its step 0 (the base model scored by that run\'s reward model), mean over seeds with 95% t intervals of the paired changes: mean reward (the proxy) and the share of images the judge and the independent classifier call aligned; one color per beta.' },
      { title: 'Proxy and truth over fine-tuning', x: 'step', y: ['reward', 'overall', 'classifier'], series: 'beta', caption: 'The values themselves (mean over seeds; each seed has its own reward model, so the reward starts at a different level).' },
      { title: 'FID over fine-tuning', x: 'step', y: ['fid'], series: 'beta' },
    ],
    quick: { settings: { steps: 150, snapshots: 3 }, seeds: 1 },
  },
};
export const SWEEP_NAMES = Object.keys(NAMED_SWEEPS);

/** Check a sweep config (a named one or a user's JSON) and apply `quick`; errors name the key. */
export function resolveSweep(input: unknown, opts: { quick?: boolean; seeds?: number; source?: string } = {}): ResolvedSweep {
  const p = SweepConfigSchema.safeParse(input);
  const where = opts.source ?? 'sweep config';
  if (!p.success) throw new Error(`${where}: ${zodIssuesLine(p.error, SweepConfigSchema)}`);
  const c = p.data;
  const q = opts.quick ? (c.quick ?? {}) : {};
  // --quick caps the updates (at a multiple of the config's snapshots, so its evaluations stay evenly spaced) and
  // the evaluation; a config's own smaller values stay (it made a run larger, or asked for steps it never wrote).
  const own = { ...DEFAULT_SETTINGS, ...c.settings };
  const quickSteps = Math.min(own.steps, Math.max(own.snapshots, QUICK_STEPS - (QUICK_STEPS % own.snapshots)));
  const settings = { ...own, ...(opts.quick ? { steps: quickSteps } : {}), ...(q.settings ?? {}) };
  const grid = { ...c.grid, ...(q.grid ?? {}) } as Partial<Record<SettingKey, number[]>>;
  const axes = Object.keys(grid) as SettingKey[];
  if (axes.length === 0) throw new Error(`${where}: grid: name at least one setting to vary (one of ${SETTING_KEYS.join(', ')})`);
  if (axes.length > 2) throw new Error(`${where}: grid: at most two settings vary in one sweep, got ${axes.join(', ')}`);
  // Every grid value must be a valid setting.
  for (const k of axes) {
    for (const v of grid[k]!) {
      const r = RunSettingsSchema.safeParse({ ...settings, [k]: v });
      if (!r.success) throw new Error(`${where}: grid.${k}: ${v} is not allowed (${zodIssuesLine(r.error)})`);
    }
    if (new Set(grid[k]).size !== grid[k]!.length) throw new Error(`${where}: grid.${k}: a value is listed twice`);
  }
  const s = RunSettingsSchema.safeParse(settings);
  if (!s.success) throw new Error(`${where}: settings: ${zodIssuesLine(s.error)}`);
  for (const st of grid.steps ?? [s.data.steps]) {
    for (const n of grid.snapshots ?? [s.data.snapshots]) {
      if (st % n !== 0) throw new Error(`${where}${opts.quick ? ' (quick)' : ''}: steps (${st}) must be a multiple of snapshots (${n}), so that the evaluations are evenly spaced`);
    }
  }
  c.figures.forEach((f, k) => {
    // One line per series value: a setting the grid varies besides the figure's x and series would join points
    // of its different values into one zigzag line (labels and raters make labelCount, so it stands for them).
    const shown = new Set<string>([f.x, ...(f.series ? [f.series] : []), ...(f.x === 'labelCount' ? ['labels', 'raters'] : [])]);
    const hidden = axes.filter((a) => !shown.has(a));
    if (hidden.length) {
      throw new Error(`${where}${opts.quick ? ' (quick)' : ''}: figures.${k} ("${f.title}"): the grid varies ${hidden.join(' and ')}, which this figure neither puts on x (${f.x}) nor makes its series${f.series ? ` (${f.series})` : ''}, so each of its lines would join points of different ${hidden.join(' and ')}: set series (or x) to ${hidden[0]}`);
    }
    // A change since step 0 needs a step 0 in every run: each evaluated more than once.
    const once = grid.snapshots ? grid.snapshots.find((n) => n < 2) : s.data.snapshots < 2 ? s.data.snapshots : undefined;
    if (f.change && once !== undefined) {
      throw new Error(`${where}${opts.quick ? ' (quick)' : ''}: figures.${k}.change: a change since step 0 needs runs evaluated more than once (snapshots > 1), and ${grid.snapshots ? `grid.snapshots has ${once}` : `snapshots is ${once}`}`);
    }
  });
  const ownEval = { ...DEFAULT_EVAL, ...c.eval };
  const quickEval = { promptsPerCategory: Math.min(ownEval.promptsPerCategory, QUICK_EVAL.promptsPerCategory), perPrompt: Math.min(ownEval.perPrompt, QUICK_EVAL.perPrompt) };
  const ev = EvalSettingsSchema.parse({ ...ownEval, ...(opts.quick ? quickEval : {}), ...(q.eval ?? {}) });
  return {
    name: c.name, question: c.question, quick: !!opts.quick, settings: s.data, grid,
    seeds: opts.seeds ?? q.seeds ?? c.seeds, eval: ev, figures: c.figures,
    feedbackPromptsPerCategory: (q.feedbackPromptsPerCategory !== undefined ? q.feedbackPromptsPerCategory : c.feedbackPromptsPerCategory) ?? null,
  };
}

/** A named sweep, or an error listing the names. */
export function namedSweep(name: string): SweepConfigInput {
  const c = Object.hasOwn(NAMED_SWEEPS, name) ? NAMED_SWEEPS[name] : undefined; // not "toString" and the like
  if (!c) throw new Error(`unknown sweep "${name}"; the named sweeps are ${SWEEP_NAMES.join(', ')} (or give your own with --config FILE)`);
  return c;
}

/** One run of a sweep: a grid point and a seed. */
export interface SweepRun {
  /** Folder name under runs/, e.g. `beta=0.3-seed1`. */
  key: string;
  point: Partial<RunSettings>;
  settings: RunSettings;
  seed: number;
}

/** Every run of the sweep, grid points in order, seeds innermost. */
export function sweepRuns(s: ResolvedSweep): SweepRun[] {
  const axes = Object.keys(s.grid) as SettingKey[];
  let points: Array<Partial<RunSettings>> = [{}];
  for (const k of axes) points = points.flatMap((p) => s.grid[k]!.map((v) => ({ ...p, [k]: v })));
  return points.flatMap((point) =>
    Array.from({ length: s.seeds }, (_, seed) => ({
      key: `${Object.entries(point).map(([k, v]) => `${k}=${v}`).join(',')}-seed${seed}`,
      point, settings: { ...s.settings, ...point }, seed,
    })),
  );
}
