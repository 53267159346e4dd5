/**
 * Does fine-tuning help? The judge's accuracy of the base model and of
 * fine-tuned models (one per fine-tuning seed) on the same prompts and image
 * seeds, per category; the effect is the paired difference (fine-tuned minus
 * base) per fine-tuning seed, with a t interval over seeds and an exact
 * sign-flip test, and beside them an interval over prompts and seeds (a
 * two-level bootstrap: the t interval holds the prompts and images fixed,
 * so it says how another fine-tuning seed would do on these images, not on
 * other prompts of the set). Image seeds are strings `eval-finetune/${seed}/...`, never
 * the integer seeds `collect` gives the images fine-tuning learns from.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCheckpointIndex } from '../engine/checkpoint';
import { readJsonFile } from '../engine/files';
import { pairedInterval } from '../reward/ablation';
import { leastSignFlipP, promptSeedInterval, signFlipTest } from '../reward/metrics';
import { diffusionCheckpointDir, loadModel, promptRate } from '../eval/base';
import { SamplerConfig } from '../models/config';
import { generateImages } from '../models/diffusion/sampler';
import { judge } from '../world/judge';
import { Category, CATEGORIES, parsePrompt } from '../world/prompt';
import { PromptEntry, seenPrompts, unseenPrompts } from '../world/promptSets';
import { firstDifference, KEYS_ADDED_SINCE } from './train';

export { promptSeedInterval };

export type Cells = Record<Category | 'all', { k: number; n: number; rate: number; lo: number; hi: number }>;

/** Most objects `drawn` tells apart: its last entry counts images with this many or more. */
export const DRAWN_MAX = 5;

/**
 * One prompt's images: `k` of `n` aligned, and `drawn[c]` images in which the
 * judge found c objects (recognised or not, as its count verdict counts them;
 * index DRAWN_MAX: that many or more). Where a category's rate hides which
 * way counts move, this shows it (docs/finetune-findings.md, "How many objects does the fine-tuned model draw?").
 */
export interface PromptCell {
  k: number;
  n: number;
  drawn: number[];
}

/** Per category and per prompt (in `prompts`' order), one model's verdicts. */
export interface ModelAccuracy {
  cells: Cells;
  byPrompt: PromptCell[];
}

/** A prompt to judge; `seedIndex` (default: its place in the list) names its image seeds. */
export type EvalPrompt = PromptEntry & { seedIndex?: number };

/**
 * The evaluation's prompts: the seen or unseen set, at most `perCategory` per
 * category (a subsample seeded by `seed`), only the categories in `only`. Each
 * keeps its place in the whole set as `seedIndex`, so a prompt gets the same
 * images whichever categories are judged with it.
 */
export function finetuneEvalPrompts(set: 'seen' | 'unseen', perCategory: number, seed: number, only: readonly Category[] = CATEGORIES): EvalPrompt[] {
  const all = (set === 'seen' ? seenPrompts : unseenPrompts)({ perCategory: Object.fromEntries(CATEGORIES.map((c) => [c, perCategory])), seed });
  return all.map((p, seedIndex) => ({ ...p, seedIndex })).filter((p) => only.includes(p.category));
}

/** Judge accuracy of the model in `dir` on `prompts`, `perPrompt` images each, with its sampler and `sampler`'s overrides. */
export async function modelAccuracy(
  dir: string,
  prompts: readonly EvalPrompt[],
  perPrompt: number,
  seed: number | string,
  onBatch?: (done: number, total: number) => void,
  sampler: Partial<SamplerConfig> = {},
): Promise<ModelAccuracy> {
  const { model, meta } = await loadModel(dir);
  try {
    const jobs = prompts.flatMap((p, i) => Array.from({ length: perPrompt }, (_, k) => ({ p, seed: `eval-finetune/${seed}/${p.seedIndex ?? i}/${k}` })));
    const images = await generateImages(model, jobs.map((j) => j.p.prompt), {
      ...meta.config.sampler, ...sampler, seed: jobs.map((j) => j.seed), batchSize: 32, onBatch: (d) => onBatch?.(d, jobs.length),
    });
    const verdicts = jobs.map((j, i) => judge(j.p.attributes, images[i]));
    const ok = verdicts.map((v) => v.aligned);
    const cell = (f: (c: Category) => boolean) => {
      const idx = jobs.map((j, i) => (f(j.p.category) ? i : -1)).filter((i) => i >= 0);
      const r = promptRate(idx.map((i) => ok[i]), idx.map((i) => jobs[i].p.prompt));
      return idx.length ? r : { ...r, rate: NaN };
    };
    const cells = { all: cell(() => true) } as Cells;
    for (const c of CATEGORIES) cells[c] = cell((x) => x === c);
    const byPrompt = prompts.map((): PromptCell => ({ k: 0, n: 0, drawn: new Array<number>(DRAWN_MAX + 1).fill(0) }));
    jobs.forEach((j, i) => {
      const cellOf = byPrompt[Math.floor(i / perPrompt)];
      cellOf.n++;
      if (ok[i]) cellOf.k++;
      cellOf.drawn[Math.min(DRAWN_MAX, verdicts[i].observed.objects.length)]++;
    });
    return { cells, byPrompt };
  } finally {
    model.dispose({ clip: true });
  }
}

export interface FinetuneComparison {
  prompts: number;
  perPrompt: number;
  /** Sampler settings that replaced every model's own (the same on both sides); {} when none did. */
  sampler: Partial<SamplerConfig>;
  base: Cells;
  runs: Array<{ dir: string; cells: Cells }>;
  /** Every prompt's images, the base's and each run's (in `runs`' order). */
  byPrompt: Array<{ prompt: string; category: Category; base: PromptCell; runs: PromptCell[] }>;
  /**
   * Per category: mean fine-tuned accuracy, paired difference to the base over runs (t interval over seeds),
   * sign-flip p (null with one run, which no test can judge, or more than 20), and `overPrompts`: the
   * difference's 95% interval over prompts and seeds (promptSeedInterval; NaN with one prompt).
   */
  effects: Array<{ category: Category | 'all'; base: number; finetuned: number; diff: ReturnType<typeof pairedInterval>; p: number | null; overPrompts: { lo: number; hi: number } }>;
}

/**
 * Compare fine-tuned models (`runs`, one per fine-tuning seed) with `base` on
 * the same prompts and image seeds; `sampler` overrides every model's own
 * sampler settings alike (a fine-tuned model learnt guided samples, so its
 * best guidance scale may be lower than the base model's: compare at one).
 */
export async function compareWithBase(
  base: string,
  runs: readonly string[],
  prompts: readonly EvalPrompt[],
  perPrompt: number,
  seed: number | string = 0,
  onModel?: (dir: string) => void,
  sampler: Partial<SamplerConfig> = {},
): Promise<FinetuneComparison> {
  if (runs.length === 0) throw new Error('no fine-tuned model to compare (--runs DIR, repeated: one per fine-tuning seed)');
  const { settings: [{ name: _, ...c }] } = await compareSettings(base, [{ name: 'runs', runs }], prompts, perPrompt, { seed, onModel, sampler });
  return c;
}

/** One setting of an ablation: the fine-tuned models made with it, one per fine-tuning seed. */
export interface Setting {
  name: string;
  runs: readonly string[];
}

/** Several settings, each paired with the one base model, judged once, on the same prompts and image seeds. */
export interface SettingsComparison {
  prompts: number;
  perPrompt: number;
  sampler: Partial<SamplerConfig>;
  base: Cells;
  /** Each setting's comparison with the base, in the order given (its `base` is the one above). */
  settings: Array<{ name: string } & FinetuneComparison>;
}

/** What a setting's name may be: it heads a table row and a `##` heading, and is `settings[].name` in the JSON. */
export const SETTING_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$/;

/** What `SETTING_NAME` allows, in words. */
export const SETTING_NAME_RULE = "1-40 letters, digits, '.', '_' or '-', starting with a letter or digit";

/**
 * Check settings before anything is judged: names allowed and each given
 * once, every setting with a run, every folder a model, no model twice in a
 * setting (one model counted as two seeds would fake a certain result).
 * Returns each setting's runs as resolved checkpoint folders, in order.
 */
export function checkSettings(base: string, settings: readonly Setting[]): string[][] {
  if (settings.length === 0) throw new Error('no setting to compare (--group NAME=DIR[,DIR...])');
  const baseSha = readCheckpointIndex(diffusionCheckpointDir(base)).sha256; // throws, naming the folder
  const names = new Set<string>();
  return settings.map((s) => {
    if (!SETTING_NAME.test(s.name)) throw new Error(`setting name "${s.name}": use ${SETTING_NAME_RULE}`);
    if (names.has(s.name)) throw new Error(`setting "${s.name}" is given twice: give each setting once, with all its runs (NAME=DIR,DIR)`);
    names.add(s.name);
    if (s.runs.length === 0) throw new Error(`setting "${s.name}" has no fine-tuned model (NAME=DIR[,DIR...])`);
    const resolved = s.runs.map((dir) => path.resolve(diffusionCheckpointDir(dir)));
    resolved.forEach((r, i) => {
      const j = resolved.indexOf(r);
      if (j < i) throw new Error(`setting "${s.name}" names one model twice (as ${s.runs[j]} and ${s.runs[i]}): give each fine-tuning seed's folder once`);
    });
    checkRuns(s, resolved, baseSha);
    return resolved;
  });
}

/**
 * What a setting's runs say of themselves (their finetune.json, where they have one): each fine-tuned from
 * the base it is paired with, no two the same model (a copy, or the same seed), and no setting but the seed
 * differing between them. A folder without a record (a model made otherwise) is checked by its weights alone.
 */
function checkRuns(s: Setting, resolved: readonly string[], baseSha: string): void {
  const byWeights = new Map<string, number>();
  const bySeed = new Map<unknown, number>();
  let first: { i: number; what: Record<string, unknown> } | undefined;
  resolved.forEach((dir, i) => {
    const sha = readCheckpointIndex(dir).sha256;
    if (sha === baseSha) throw new Error(`setting "${s.name}": ${s.runs[i]} holds the base model's own weights (the base, or a copy of it): give the fine-tuned runs, and the base as --base`);
    if (byWeights.has(sha)) throw new Error(`setting "${s.name}": ${s.runs[byWeights.get(sha)!]} and ${s.runs[i]} hold the same weights (a copy?): give each fine-tuning seed's own run`);
    byWeights.set(sha, i);
    const file = [path.join(s.runs[i], 'finetune.json'), path.join(path.dirname(dir), 'finetune.json')].find((f) => fs.existsSync(f));
    if (!file) return;
    const rec = readJsonFile<{ config?: Record<string, unknown>; inputs?: { model?: { sha256?: string; dir?: string }; reward?: { sha256?: string } | null; datasets?: Array<{ manifestSha256?: string }> } }>(file);
    if (rec.inputs?.model?.sha256 !== undefined && rec.inputs.model.sha256 !== baseSha) {
      throw new Error(`setting "${s.name}": ${s.runs[i]} was fine-tuned from ${rec.inputs.model.dir ?? 'another model'}, not from the base it is compared with (another checkpoint): give that model as --base`);
    }
    const what = {
      config: { ...KEYS_ADDED_SINCE, ...(rec.config ?? {}), seed: undefined },
      reward: rec.inputs?.reward?.sha256 ?? null,
      datasets: (rec.inputs?.datasets ?? []).map((d) => d.manifestSha256),
    };
    const diff = first && firstDifference(first.what, what);
    if (first && diff) throw new Error(`setting "${s.name}": ${s.runs[first.i]} and ${s.runs[i]} differ in more than the seed (${diff.replace(' was ', ': ').replace(', now ', ' in the first, ')} in the second): a setting's runs are one recipe's fine-tuning seeds (give the others as another --group)`);
    first ??= { i, what };
    const seed = rec.config?.seed;
    if (bySeed.has(seed)) throw new Error(`setting "${s.name}": ${s.runs[bySeed.get(seed)!]} and ${s.runs[i]} are the same recipe with the same seed (${seed}): give each fine-tuning seed once`);
    bySeed.set(seed, i);
  });
}

/** How `compareSettings` and `compareWithBase` judge: the image seeds' name, who hears of each model, the sampler overrides. */
export interface CompareOptions {
  seed?: number | string;
  onModel?: (dir: string) => void;
  /** Overrides every model's own sampler settings alike (the base's and the runs'). */
  sampler?: Partial<SamplerConfig>;
}

/**
 * Compare several settings with `base` (as `compareWithBase` does for one):
 * the base is judged once, every run on the same prompts and image seeds, so
 * the settings' rows differ only by their models. Every run folder is checked
 * before anything is judged, so a mistyped one fails in a second, not after
 * the base's minutes.
 */
export async function compareSettings(
  base: string,
  settings: readonly Setting[],
  prompts: readonly EvalPrompt[],
  perPrompt: number,
  { seed = 0, onModel, sampler = {} }: CompareOptions = {},
): Promise<SettingsComparison> {
  const resolved = checkSettings(base, settings);
  onModel?.(base);
  const b = await modelAccuracy(base, prompts, perPrompt, seed, undefined, sampler);
  const judged = new Map<string, ModelAccuracy>([[path.resolve(diffusionCheckpointDir(base)), b]]); // by resolved folder: each model is judged once
  const out: SettingsComparison['settings'] = [];
  for (const [k, s] of settings.entries()) {
    const rs: ModelAccuracy[] = [];
    for (const [i, dir] of s.runs.entries()) {
      const key = resolved[k][i];
      if (!judged.has(key)) {
        onModel?.(dir);
        judged.set(key, await modelAccuracy(dir, prompts, perPrompt, seed, undefined, sampler));
      }
      rs.push(judged.get(key)!);
    }
    out.push({ name: s.name, ...pairWithBase(b, s.runs, rs, prompts, perPrompt, sampler) });
  }
  return { prompts: prompts.length, perPrompt, sampler: { ...sampler }, base: b.cells, settings: out };
}

/** The paired comparison of runs' verdicts (`acc[i]` is `runs[i]`'s) with the base's. */
function pairWithBase(
  base: ModelAccuracy,
  runs: readonly string[],
  acc: readonly ModelAccuracy[],
  prompts: readonly EvalPrompt[],
  perPrompt: number,
  sampler: Partial<SamplerConfig>,
): FinetuneComparison {
  const b = base.cells;
  const rs = runs.map((dir, i) => ({ dir, cells: acc[i].cells }));
  const byPrompt = prompts.map((p, i) => ({ prompt: p.prompt, category: p.category, base: base.byPrompt[i], runs: acc.map((r) => r.byPrompt[i]) }));
  const effects = (['all', ...CATEGORIES] as const).filter((c) => b[c].n > 0).map((category) => {
    const diffs = rs.map((r) => r.cells[category].rate - b[category].rate);
    return {
      category, base: b[category].rate, finetuned: rs.reduce((a, r) => a + r.cells[category].rate, 0) / rs.length,
      diff: pairedInterval(diffs), p: diffs.length >= 2 && diffs.length <= 20 ? signFlipTest(diffs) : null, // one seed: no test
      overPrompts: promptSeedInterval(byPrompt.filter((r) => category === 'all' || r.category === category), { seed: `finetune-effect/${category}` }),
    };
  });
  return { prompts: prompts.length, perPrompt, sampler: { ...sampler }, base: b, runs: rs, byPrompt, effects };
}

// A bound that does not exist is NaN here and null in a comparison read back from its JSON (JSON.stringify writes
// NaN as null, which 100 * null would print as 0.0: a one-seed run's missing interval shown as [0.0, 0.0]).
const known = (x: number | null): x is number => x !== null && Number.isFinite(x);
const pct = (x: number | null) => (known(x) ? (100 * x).toFixed(1) : '-');
const signed = (x: number) => `${x >= 0 ? '+' : ''}${pct(x)}`;

/**
 * One row per setting: its accuracy per fine-tuning seed, and per category the
 * mean difference to the base in points with its 95% t interval over seeds
 * (none with one seed). The rows share the base's images, so they compare.
 */
export function settingsTable(s: SettingsComparison): string {
  const cats = s.settings[0]?.effects.map((e) => e.category) ?? [];
  const over = s.settings.some((x) => x.runs.length >= 2) ? 'over the base, points [95% t interval]' : 'over the base, points';
  return [
    `| setting | accuracy per seed, % (base ${pct(s.base.all.rate)}) | ${cats.map((c, i) => (i === 0 ? `${over}: ${c}` : c)).join(' | ')} |`,
    `|---|---|${cats.map(() => '---|').join('')}`,
    ...s.settings.map((x) => `| ${x.name} | ${x.runs.map((r) => pct(r.cells.all.rate)).join(', ')} | ${x.effects
      .map((e) => `${signed(e.diff.mean)}${known(e.diff.lo) ? ` [${pct(e.diff.lo)}, ${pct(e.diff.hi)}]` : ''}`).join(' | ')} |`),
  ].join('\n');
}

/**
 * The comparison as a Markdown table, and under it what its intervals cover
 * and the least p its sign-flip test can give with this many seeds.
 */
export function comparisonTable(c: FinetuneComparison): string {
  const lines = [
    `| category | base | fine-tuned (mean of ${c.runs.length}) | per seed | difference [95% t interval over seeds], points | [95% over prompts and seeds] | sign-flip p over seeds |`,
    '|---|---:|---:|---|---|---|---:|',
  ];
  for (const e of c.effects) {
    const per = c.runs.map((r) => pct(r.cells[e.category].rate)).join(', ');
    const op = e.overPrompts ?? { lo: NaN, hi: NaN }; // comparisons saved before it existed
    lines.push(`| ${e.category} | ${pct(e.base)} (n=${c.base[e.category].n}) | ${pct(e.finetuned)} | ${per} | ${signed(e.diff.mean)} [${pct(e.diff.lo)}, ${pct(e.diff.hi)}] | [${pct(op.lo)}, ${pct(op.hi)}] | ${e.p === null ? '-' : e.p.toFixed(3)} |`);
  }
  lines.push('', 'The t interval holds these prompts and images fixed (another fine-tuning seed on the same images); the interval over prompts and seeds also resamples the prompts (another draw of prompts from the set).');
  if (c.runs.length >= 2 && c.runs.length <= 20 && leastSignFlipP(c.runs.length) >= 0.05) {
    lines.push(`With ${c.runs.length} seeds the exact sign-flip p cannot go below ${leastSignFlipP(c.runs.length).toFixed(3)}, whatever the effect: it cannot reach 0.05 below 6 seeds.`);
  }
  return lines.join('\n');
}

/**
 * The count prompts, one row each: images aligned, images with the asked-for
 * number of objects (the count verdict alone), and how many objects were
 * drawn, for the base model and for the fine-tuned models together (summed
 * over runs). Empty when the comparison has no count prompt.
 */
export function drawnCountTable(c: FinetuneComparison): string {
  const rows = c.byPrompt.filter((p) => p.category === 'count');
  if (rows.length === 0) return '';
  const sum = (cells: readonly PromptCell[]): PromptCell => ({
    k: cells.reduce((a, x) => a + x.k, 0),
    n: cells.reduce((a, x) => a + x.n, 0),
    drawn: cells.reduce((a, x) => a.map((v, i) => v + x.drawn[i]), new Array<number>(DRAWN_MAX + 1).fill(0)),
  });
  const show = (x: PromptCell, count: number) => `${x.k}/${x.n} | ${x.drawn[Math.min(count, DRAWN_MAX)]}/${x.n} | ${x.drawn.join(' / ')}`;
  const counts = Array.from({ length: DRAWN_MAX + 1 }, (_, i) => (i === DRAWN_MAX ? `${i}+` : `${i}`)).join(' / ');
  const side = (who: string) => `${who}: aligned | ${who}: right count | ${who}: images with ${counts} objects`;
  return [
    `| prompt | ${side('base')} | ${side(`fine-tuned (${c.runs.length} run${c.runs.length === 1 ? '' : 's'})`)} |`,
    '|---|---:|---:|---|---:|---:|---|',
    ...rows.map((p) => {
      const count = parsePrompt(p.prompt).count ?? 1;
      return `| ${p.prompt} | ${show(p.base, count)} | ${show(sum(p.runs), count)} |`;
    }),
  ].join('\n');
}
