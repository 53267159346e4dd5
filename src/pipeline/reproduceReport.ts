/**
 * The page `reproduce` writes (report.html): the claims table, the figures of
 * the paper's evaluation from this run's data, before / after grids and the
 * config, self-contained (./report.ts embeds plotly.js-dist).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import * as aq from 'arquero';
import { AccuracyCell, EvaluateResult, PromptVerdicts } from '../eval/evaluate';
import { promptSeedInterval } from '../reward/metrics';
import { pairedInterval } from '../reward/ablation';
import { CATEGORIES } from '../world/prompt';
import { Claim, formatEffect, formatP } from './claims';
import { PALETTE, Report, ReportFigure, ReportSection, writeReport } from './report';
import { evalDesignText, REPRODUCE_PRESETS } from './reproduce';
import type { EvalSetName, ReproduceSummary } from './reproduce';

/** An evaluation as summary.json holds it (the per-image list replaced by its length and, since 2026-12-06, per-prompt tallies). */
export type EvaluationSummary = Omit<EvaluateResult, 'images'> & { byPrompt?: PromptVerdicts[] };



/** Models of the run in report order, each with its evaluations (one per fine-tuning seed). */
export function modelGroups(evals: Record<string, Record<EvalSetName, EvaluationSummary>>): Array<{ name: string; runs: Array<Record<EvalSetName, EvaluationSummary>> }> {
  const groups = new Map<string, Array<Record<EvalSetName, EvaluationSummary>>>();
  for (const [name, e] of Object.entries(evals)) {
    const g = name.replace(/-seed\d+$/, '');
    groups.set(g, [...(groups.get(g) ?? []), e]);
  }
  return [...groups].map(([name, runs]) => ({ name, runs }));
}

/**
 * Mean over runs of a category's accuracy (or 'overall') and a 95% interval:
 * over prompts and seeds (a two-level bootstrap of the runs' per-prompt
 * tallies; one run: over prompts) where every run has them, so that every
 * group's bar covers the prompts' spread alike; else (a summary written before
 * the tallies) t over runs, or the single run's bootstrap interval.
 */
function meanWithError(runs: readonly EvaluationSummary[], category: string): { y: number; lo: number; hi: number } {
  const cells = runs.map((r) => (category === 'overall' ? r.overall : r.byCategory[category as (typeof CATEGORIES)[number]])).filter((c): c is AccuracyCell => !!c);
  if (cells.length === 0) return { y: NaN, lo: NaN, hi: NaN };
  const y = cells.reduce((a, c) => a + c.accuracy, 0) / cells.length;
  if (runs.every((r) => r.byPrompt)) {
    const keep = (t: PromptVerdicts) => category === 'overall' || t.category === category;
    const perRun = runs.map((r) => new Map(r.byPrompt!.filter(keep).map((t) => [t.prompt, { k: t[r.evaluator], n: t.n }]))); // the reader the bar's height is
    const rows = [...perRun[0].keys()].map((prompt) => ({ prompt, runs: perRun.map((m) => m.get(prompt) ?? { k: 0, n: 0 }) }));
    return { y, ...promptSeedInterval(rows, { seed: `report/${category}` }) };
  }
  if (cells.length === 1) return { y, lo: cells[0].ci95[0], hi: cells[0].ci95[1] };
  const t = pairedInterval(cells.map((c) => c.accuracy));
  return { y: t.mean, lo: t.lo, hi: t.hi };
}

function accuracyFigure(set: EvalSetName, groups: ReturnType<typeof modelGroups>): ReportFigure {
  const x = [...CATEGORIES, 'overall'];
  const tallies = groups.every((g) => g.runs.every((r) => r[set].byPrompt));
  return {
    title: `Judge accuracy per category, ${set} prompts`,
    caption: tallies
      ? 'Bars: mean over fine-tuning seeds; error bars: 95% interval over prompts and seeds (a two-level bootstrap; one seed: over prompts), alike for every model.'
      : 'Bars: mean over fine-tuning seeds; error bars: 95% t interval over seeds, which holds the prompts fixed (one seed: bootstrap over prompts, which does not), so the two kinds differ in width: compare them with care.',
    data: groups.map((g) => {
      const pts = x.map((c) => meanWithError(g.runs.map((r) => r[set]), c));
      return {
        type: 'bar', name: g.name, x, y: pts.map((p) => 100 * p.y), marker: { color: PALETTE[groups.indexOf(g) % PALETTE.length] },
        error_y: { type: 'data', symmetric: false, array: pts.map((p) => 100 * (p.hi - p.y)), arrayminus: pts.map((p) => 100 * (p.y - p.lo)) },
      };
    }),
    layout: { barmode: 'group', yaxis: { title: { text: 'aligned images (%)' }, rangemode: 'tozero' } },
  };
}

function tradeoffFigure(groups: ReturnType<typeof modelGroups>): ReportFigure {
  return {
    title: 'Alignment against fidelity',
    caption: 'Each point is one model (one fine-tuning seed) on one prompt set (filled: seen, open: unseen); lower FID is closer to the renders. FIDs compare within one prompt set only (equal sample sizes).',
    data: groups.flatMap((g, i) => (['seen', 'unseen'] as const).map((set) => ({
      type: 'scatter', mode: 'markers', name: `${g.name} (${set})`, legendgroup: g.name,
      x: g.runs.map((r) => 100 * r[set].overall.accuracy), y: g.runs.map((r) => r[set].fid.value),
      marker: { size: 10, color: PALETTE[i % PALETTE.length], symbol: set === 'seen' ? 'circle' : 'diamond-open' },
    }))),
    layout: { height: 520, xaxis: { title: { text: 'judge accuracy (%)' } }, yaxis: { title: { text: 'FID to renders' } } },
  };
}

function readersFigure(groups: ReturnType<typeof modelGroups>): ReportFigure {
  const pts = groups.flatMap((g) => g.runs.flatMap((r) => (['seen', 'unseen'] as const).map((set) => ({ name: `${g.name} ${set}`, j: r[set].overall.accuracy, c: r[set].otherReader.overall.accuracy }))));
  const hi = Math.max(0.05, ...pts.flatMap((p) => [p.j, p.c])) * 100;
  return {
    title: 'Two readers: the judge and the independent classifier',
    caption: 'Overall accuracy of every evaluated model as each reader sees it; the diagonal is perfect agreement.',
    data: [
      { type: 'scatter', mode: 'markers', name: 'models', x: pts.map((p) => 100 * p.j), y: pts.map((p) => 100 * p.c), text: pts.map((p) => p.name), marker: { size: 9 } },
      { type: 'scatter', mode: 'lines', name: 'y = x', x: [0, hi], y: [0, hi], line: { dash: 'dot' } },
    ],
    layout: { xaxis: { title: { text: 'judge accuracy (%)' } }, yaxis: { title: { text: 'classifier accuracy (%)' } } },
  };
}

function winTieLoseFigure(summary: ReproduceSummary, kind: 'alignment' | 'fidelity'): ReportFigure {
  const labels = summary.pairs.map((p) => `${p.a} vs ${p.b} (${p.set})`);
  const part = (k: 'win' | 'tie' | 'lose') => summary.pairs.map((p) => (100 * p[kind][k]) / p[kind].n);
  return {
    title: `Win / tie / lose, ${kind}`,
    caption: kind === 'alignment' ? 'Image by image on the same prompts and seeds: win = the first model\'s image is aligned and the second\'s is not (judge).' : 'Image by image: win = the first model\'s image is closer (by more than 5%) to the renders of its prompt in the classifier\'s feature space.',
    data: (['win', 'tie', 'lose'] as const).map((k) => ({ type: 'bar', orientation: 'h', name: k, y: labels, x: part(k), marker: { color: { win: '#2ca02c', tie: '#c7c7c7', lose: '#d62728' }[k] } })),
    layout: { barmode: 'stack', xaxis: { title: { text: '% of images' }, range: [0, 100] }, margin: { l: 260 } },
  };
}

function rewardFigures(summary: ReproduceSummary): ReportFigure[] {
  const r = summary.reward;
  const figs: ReportFigure[] = [{
    title: 'Reward model against the CLIP score (ROC AUC)',
    caption: 'AUC of predicting the target (raters\' majority, or the judge) on images neither scorer was trained on.',
    data: [
      { type: 'bar', name: 'reward', x: r.sets.map((s) => s.name), y: r.sets.map((s) => s.reward) },
      { type: 'bar', name: 'CLIP score', x: r.sets.map((s) => s.name), y: r.sets.map((s) => s.clip) },
    ],
    layout: { barmode: 'group', yaxis: { title: { text: 'ROC AUC' }, range: [0, 1] } },
  }];
  const metrics = Object.entries(r.ablation.metrics).filter(([m]) => m.endsWith('/all/auc'));
  if (metrics.length) {
    figs.push({
      title: 'The auxiliary loss, per reward seed',
      caption: `AUC with the prompt-classification loss (the reward's default weight) and without it, ${r.ablation.seeds.length} reward seeds.`,
      data: metrics.flatMap(([m, v]) => [
        { type: 'scatter', mode: 'markers', name: `${m.replace('/all/auc', '')}: with`, x: r.ablation.seeds, y: v.with, marker: { size: 9 } },
        { type: 'scatter', mode: 'markers', name: `${m.replace('/all/auc', '')}: without`, x: r.ablation.seeds, y: v.without, marker: { size: 9, symbol: 'x' } },
      ]),
      layout: { xaxis: { title: { text: 'reward seed' } }, yaxis: { title: { text: 'ROC AUC' } } },
    });
  }
  return figs;
}

function claimsTable(claims: readonly Claim[]): ReportSection['table'] {
  return {
    columns: ['claim', 'part', 'effect', '95% interval over seeds', 'paired test, p', 'part verdict', 'classifier reads', 'claim verdict'],
    rows: claims.flatMap((c) => c.parts.map((p, i) => [
      i === 0 ? c.claim : '', `${p.name} (${p.unit ?? c.unit})`, formatEffect(p.effect, p.unit ?? c.unit),
      p.interval ? `[${formatEffect(p.interval[0], p.unit ?? c.unit)}, ${formatEffect(p.interval[1], p.unit ?? c.unit)}]` : `- (${p.perSeed.length} seed${p.perSeed.length === 1 ? '' : 's'})`,
      `${p.test}: ${formatP(p.p)}`, p.verdict, p.secondReader ? `${formatEffect(p.secondReader.effect, p.unit ?? c.unit)} (${p.secondReader.verdict})` : '', i === 0 ? c.verdict : '',
    ])),
    // The claims' notes (a test that cannot reach p < 0.05, how to read a part), as claims.md has them.
    caption: ['Verdict rules: src/pipeline/claims.ts. Effects in accuracy points (alignment), FID units (fidelity) or AUC (reward).', ...claims.filter((c) => c.note).map((c) => `${c.id}: ${c.note}.`)].join(' '),
  };
}

/** Which preset a run's config is: a `--quick` run's report says so (its tests cannot reach what the default's can). */
function presetName(c: ReproduceSummary['config']): string {
  for (const preset of ['quick', 'default'] as const) if (isDeepStrictEqual(JSON.parse(JSON.stringify(c)), JSON.parse(JSON.stringify(REPRODUCE_PRESETS[preset])))) return preset === 'quick' ? 'the --quick preset' : 'the default preset';
  return 'a config of its own (config.json)';
}

/** The run's figures, by name (the report's, and notebook 05's from a summary.json). */
export function reproduceFigures(summary: ReproduceSummary): Record<'seen' | 'unseen' | 'tradeoff' | 'readers' | 'winTieLoseAlignment' | 'winTieLoseFidelity' | 'rewardAuc' | 'auxiliaryLoss', ReportFigure | undefined> {
  const groups = modelGroups(summary.evaluations);
  const [rewardAuc, auxiliaryLoss] = rewardFigures(summary);
  return {
    seen: accuracyFigure('seen', groups), unseen: accuracyFigure('unseen', groups), tradeoff: tradeoffFigure(groups), readers: readersFigure(groups),
    winTieLoseAlignment: winTieLoseFigure(summary, 'alignment'), winTieLoseFidelity: winTieLoseFigure(summary, 'fidelity'), rewardAuc, auxiliaryLoss,
  };
}

/**
 * One row per model and prompt set (fine-tuning seeds averaged, arquero's
 * groupby / rollup): judge and classifier accuracy, FID to renders, mean reward.
 */
export function evaluationTable(summary: ReproduceSummary): aq.ColumnTable {
  const names = Object.keys(summary.evaluations).map((n) => n.replace(/-seed\d+$/, ''));
  const rows = Object.entries(summary.evaluations).flatMap(([, e], i) =>
    (['seen', 'unseen'] as const).map((set) => ({
      model: names[i], rank: names.indexOf(names[i]), set, judge: e[set].overall.accuracy, classifier: e[set].otherReader.overall.accuracy, fid: e[set].fid.value, reward: e[set].meanReward,
    })),
  );
  return aq
    .from(rows)
    .groupby('model', 'set')
    .rollup({ rank: aq.op.min('rank'), seeds: aq.op.count(), judge: aq.op.mean('judge'), classifier: aq.op.mean('classifier'), fid: aq.op.mean('fid'), reward: aq.op.mean('reward') })
    .orderby('set', 'rank')
    .select(aq.not('rank'));
}

/** Seconds per step in this invocation, and in the earlier ones on the same folder where there were any (the work a rerun resumed). */
function timeTable(summary: ReproduceSummary): { columns: string[]; rows: string[][] } {
  const earlier = summary.earlier ?? [];
  if (earlier.length === 0) return { columns: ['step', 'seconds'], rows: Object.entries(summary.steps).map(([k, v]) => [k, v.toFixed(1)]) };
  const before = (k: string) => earlier.reduce((a, e) => a + (e.steps[k] ?? 0), 0);
  const names = [...new Set([...earlier.flatMap((e) => Object.keys(e.steps)), ...Object.keys(summary.steps)])];
  return {
    columns: ['step', 'seconds, this invocation', `seconds, the ${earlier.length} earlier`],
    rows: names.map((k) => [k, (summary.steps[k] ?? 0).toFixed(1), before(k).toFixed(1)]),
  };
}

/** Write the report of a finished run. */
export function writeReproduceReport(file: string, summary: ReproduceSummary): void {
  const groups = modelGroups(summary.evaluations);
  const gdir = path.join(path.dirname(file), 'grids');
  const prompts = fs.existsSync(path.join(gdir, 'prompts.txt')) ? fs.readFileSync(path.join(gdir, 'prompts.txt'), 'utf8').trim().split('\n') : [];
  const grids = fs.existsSync(gdir) ? fs.readdirSync(gdir).filter((f) => f.endsWith('.png')).sort((a, b) => (a === 'base.png' ? -1 : b === 'base.png' ? 1 : a.localeCompare(b))) : [];
  const c = summary.config;
  const perModel = evaluationTable(summary).objects().map((r) => {
    const x = r as Record<string, number | string | null>;
    const f = (v: unknown, d: number) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '-');
    return [x.model as string, x.set as string, x.seeds as number, f(100 * (x.judge as number), 1), f(100 * (x.classifier as number), 1), f(x.fid, 2), f(x.reward, 3)];
  });
  const report: Report = {
    title: 'Aligning a text-to-image model with (simulated) human feedback: the reproduction',
    subtitle: `Lee et al. (2023), reproduced by t2i-align in its world of shapes. Run folder ${summary.out}; ${presetName(c)}; ${c.seeds.length} fine-tuning seed(s); ${(summary.seconds / 60).toFixed(1)} min in this invocation${summary.earlier?.length ? `, ${(summary.earlier.reduce((a, e) => a + e.seconds, 0) / 60).toFixed(1)} min in the ${summary.earlier.length} earlier (${summary.earlier.filter((e) => e.interrupted).length} stopped before the end)` : ''}.`,
    generated: new Date().toISOString(),
    sections: [
      {
        title: 'Claims',
        text: ['Each claim of the paper with the effect the kit measures, an interval over fine-tuning seeds, a paired test and a verdict. A claim that does not reproduce here is a result, not a bug.'],
        table: claimsTable(summary.claims),
      },
      {
        title: 'Alignment',
        text: [`Every model generates the same images (the same prompts and image seeds): ${evalDesignText(c)}; the judge reads them.`],
        figures: [accuracyFigure('seen', groups), accuracyFigure('unseen', groups)],
        table: {
          columns: ['model', 'prompts', 'seeds', 'judge %', 'classifier %', 'FID', 'mean reward'],
          rows: perModel,
          caption: 'Means over fine-tuning seeds. FID: Frechet distance to fresh renders of the same prompts in the classifier\'s feature space.',
        },
      },
      { title: 'Fidelity and the trade-off', figures: [tradeoffFigure(groups)] },
      { title: 'Pairwise: win / tie / lose', figures: [winTieLoseFigure(summary, 'alignment'), winTieLoseFigure(summary, 'fidelity')] },
      { title: 'The reward model', figures: rewardFigures(summary) },
      { title: 'A second reader', text: ['The classifier never labels feedback; where its verdicts move with the judge\'s, an improvement is not the judge\'s blind spot.'], figures: [readersFigure(groups)] },
      {
        title: 'Before and after',
        text: [`The same ${prompts.length} seen prompts and seeds, 4 images each (one row per prompt): ${prompts.join('; ')}.`],
        images: grids.map((g) => ({ title: g.replace(/\.png$/, ''), png: path.join(gdir, g), pixelated: true })),
      },
      { title: 'Time', table: timeTable(summary) },
      { title: 'Config', pre: JSON.stringify(summary.config, null, 2) },
    ],
  };
  writeReport(file, report);
}
