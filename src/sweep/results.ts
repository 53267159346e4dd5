/**
 * A sweep's results: results.csv (one row per run and evaluation step) and
 * summary.csv (mean and 95% t interval over seeds per grid point and step),
 * both built with arquero; the figures with plotly.js-dist in a
 * self-contained index.html (../pipeline/report.ts), and each figure exported
 * as a PNG through headless Chromium for the README and the notebooks.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as aq from 'arquero';
import { writeFileAtomic } from '../engine/checkpoint';
import { EvaluateResult } from '../eval/evaluate';
import { launchChromium, PALETTE, ReportFigure, writeReport } from '../pipeline/report';
import { pairedInterval } from '../reward/ablation';
import { Metric, METRIC_TITLES, METRICS, ResolvedSweep, SETTING_KEYS, SettingKey, SweepFigure } from './config';
import { SweepRow } from './run';

/** results.csv's columns, in order. */
export const RESULT_COLUMNS = ['run', ...SETTING_KEYS, 'seed', ...METRICS] as const;
/** Columns summarised over seeds. */
const SUMMARISED = METRICS.filter((m) => m !== 'step');

/** Rows as an arquero table with results.csv's columns, sorted by run and step. */
export function resultsTable(rows: readonly SweepRow[]): aq.ColumnTable {
  return aq.from(rows.map((r) => Object.fromEntries(RESULT_COLUMNS.map((c) => [c, (r as unknown as Record<string, unknown>)[c]])))).orderby('run', 'step');
}

/** One summary row: a grid point and step, with mean, interval and count over seeds of every metric. */
export type SummaryRow = Record<string, number>;

/**
 * Mean over seeds per grid point and step (arquero groupby / rollup), with a
 * 95% t interval (`<metric>_lo`, `<metric>_hi`; NaN with one seed). A metric
 * missing (NaN or null) for some of a row's seeds has no mean there (NaN), not
 * a mean over the others: `seeds` counts them all, so it would overstate it.
 */
export function summariseSweep(table: aq.ColumnTable): SummaryRow[] {
  const keys = [...SETTING_KEYS, 'step'];
  const rollup: Record<string, unknown> = { seeds: aq.op.count() };
  for (const m of SUMMARISED) rollup[m] = aq.op.array_agg(m);
  const grouped = table.groupby(...keys).rollup(rollup as never).orderby(...keys).objects() as Array<Record<string, unknown>>;
  return grouped.map((g) => {
    const out: SummaryRow = Object.fromEntries([...keys, 'seeds'].map((k) => [k, g[k] as number]));
    for (const m of SUMMARISED) {
      const values = g[m] as number[]; // array_agg leaves out NaN and null
      const t = values.length === out.seeds ? pairedInterval(values) : { mean: NaN, lo: NaN, hi: NaN };
      Object.assign(out, { [m]: t.mean, [`${m}_lo`]: t.lo, [`${m}_hi`]: t.hi });
    }
    return out;
  });
}

const BASE_METRICS: Partial<Record<Metric, (b: EvaluateResult) => number>> = {
  overall: (b) => b.overall.accuracy, classifier: (b) => b.otherReader.overall.accuracy, fid: (b) => b.fid.value,
  count: (b) => b.byCategory.count?.accuracy ?? NaN, color: (b) => b.byCategory.color?.accuracy ?? NaN,
  background: (b) => b.byCategory.background?.accuracy ?? NaN, combination: (b) => b.byCategory.combination?.accuracy ?? NaN,
};
const fmt = (v: number) => (Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000));

/** The plotly figure of one figure spec from the summary rows (and the base model, drawn as a dotted line where it has the metric). */
export function sweepFigure(spec: SweepFigure, summary: readonly SummaryRow[], base: EvaluateResult | undefined, id: string): ReportFigure {
  // Against anything but the step, each run's last evaluation (the fine-tuned model): the rows of its earlier
  // steps would join into the same line.
  if (spec.x !== 'step') {
    const point = (r: SummaryRow) => SETTING_KEYS.map((k) => r[k]).join(',');
    const last = new Map<string, number>();
    for (const r of summary) last.set(point(r), Math.max(last.get(point(r)) ?? -Infinity, r.step));
    summary = summary.filter((r) => r.step === last.get(point(r)));
  }
  const seriesValues = spec.series ? [...new Set(summary.map((r) => r[spec.series!]))].sort((a, b) => a - b) : [undefined];
  const xIsSetting = (SETTING_KEYS as readonly string[]).includes(spec.x) || spec.x === 'step';
  const err = (r: SummaryRow, c: string) => (Number.isFinite(r[`${c}_lo`]) ? { plus: r[`${c}_hi`] - r[c], minus: r[c] - r[`${c}_lo`] } : { plus: NaN, minus: NaN });
  const traces: object[] = [];
  // With a series: one color per series value, one dash and marker per metric; without: one color per metric.
  const DASHES = ['solid', 'dash', 'dot', 'dashdot', 'longdash', 'longdashdot', 'solid', 'dash'];
  const SYMBOLS = ['circle', 'square', 'diamond', 'triangle-up', 'cross', 'x', 'star', 'hexagon'];
  for (const [yi, y] of spec.y.entries()) {
    for (const [si, sv] of seriesValues.entries()) {
      const rows = summary.filter((r) => sv === undefined || r[spec.series!] === sv).sort((a, b) => a[spec.x] - b[spec.x]);
      const name = [spec.y.length > 1 || !spec.series ? y : '', sv !== undefined ? `${spec.series} ${fmt(sv)}` : ''].filter(Boolean).join(', ');
      const c = PALETTE[(spec.series ? si : yi) % PALETTE.length];
      const dash = spec.series ? DASHES[yi % DASHES.length] : 'solid';
      const symbol = spec.series ? SYMBOLS[yi % SYMBOLS.length] : 'circle';
      traces.push({
        type: 'scatter', mode: spec.mode === 'markers' ? 'markers+text' : 'lines+markers', name,
        x: rows.map((r) => r[spec.x]), y: rows.map((r) => r[y]),
        text: spec.mode === 'markers' ? rows.map(() => (sv !== undefined ? `${spec.series} ${fmt(sv)}` : '')) : undefined, textposition: 'top center',
        marker: { size: 9, color: c, symbol }, line: { color: c, dash },
        error_y: { type: 'data', symmetric: false, array: rows.map((r) => err(r, y).plus), arrayminus: rows.map((r) => err(r, y).minus), visible: rows.some((r) => Number.isFinite(err(r, y).plus)) },
        ...(xIsSetting ? {} : { error_x: { type: 'data', symmetric: false, array: rows.map((r) => err(r, spec.x).plus), arrayminus: rows.map((r) => err(r, spec.x).minus), visible: rows.some((r) => Number.isFinite(err(r, spec.x).plus)) } }),
      });
    }
  }
  // The base model, where it has the metric: a dotted line across the x range (or a star on a trade-off plot).
  if (base) {
    const xs = summary.map((r) => r[spec.x]).filter(Number.isFinite);
    for (const y of spec.y) {
      const f = BASE_METRICS[y as Metric];
      if (!f) continue;
      if (spec.mode === 'markers') {
        const bx = BASE_METRICS[spec.x as Metric];
        if (bx) traces.push({ type: 'scatter', mode: 'markers+text', name: 'base model', x: [bx(base)], y: [f(base)], text: ['base'], textposition: 'bottom center', marker: { size: 12, symbol: 'star', color: '#444' } });
      } else if (xs.length) {
        traces.push({ type: 'scatter', mode: 'lines', name: `base model: ${y}`, x: [Math.min(...xs), Math.max(...xs)], y: [f(base), f(base)], line: { dash: 'dot', color: '#888' }, hoverinfo: 'name+y' });
      }
    }
  }
  const yTitle = spec.y.length === 1 ? METRIC_TITLES[spec.y[0] as Metric] : spec.y.every((m) => ['count', 'color', 'background', 'combination', 'overall', 'classifier', 'reward'].includes(m)) ? 'share of images (reward: mean score)' : 'value';
  return {
    id, title: spec.title, caption: spec.caption ?? 'Points: mean over seeds; bars: 95% t interval over seeds (none with one seed). Dotted: the base model on the same prompts and image seeds.',
    data: traces,
    layout: { height: 440, xaxis: { title: { text: METRIC_TITLES[spec.x as Metric | SettingKey] } }, yaxis: { title: { text: yTitle } }, legend: { orientation: 'h', y: -0.25 } },
  };
}

/** Each row's metrics minus its own run's values at step 0 (the rows of runs without a step 0 are left out). */
export function changeSinceStart(table: aq.ColumnTable): aq.ColumnTable {
  const rows = table.objects() as Array<Record<string, number | string>>;
  const start = new Map(rows.filter((r) => r.step === 0).map((r) => [r.run, r]));
  return aq.from(rows.flatMap((r) => {
    const s = start.get(r.run);
    if (!s) return [];
    return [{ ...r, ...Object.fromEntries(SUMMARISED.filter((m) => m !== 'labelCount' && m !== 'seconds').map((m) => [m, (r[m] as number) - (s[m] as number)])) }];
  }));
}

/** The figures of a sweep from its results table (values, or changes since step 0 where a figure asks). */
export function sweepFigures(s: Pick<ResolvedSweep, 'name' | 'figures'>, table: aq.ColumnTable, summary: readonly SummaryRow[], base: EvaluateResult | undefined): ReportFigure[] {
  let change: SummaryRow[] | undefined;
  return s.figures.map((f, k) => {
    if (!f.change) return sweepFigure(f, summary, base, figureId(s.name, k));
    change ??= summariseSweep(changeSinceStart(table));
    const fig = sweepFigure(f, change, undefined, figureId(s.name, k));
    const layout = fig.layout as { yaxis: { title: { text: string } } };
    layout.yaxis.title.text = 'change since the base model (step 0)';
    return fig;
  });
}

/** Figure ids: `<sweep>-<k>` (also the PNG names). */
export const figureId = (sweep: string, k: number) => `${sweep}-${k + 1}`;

/** Write results.csv, summary.csv and index.html; returns the figures. */
export function writeSweepResults(dir: string, s: ResolvedSweep, rows: readonly SweepRow[], base: EvaluateResult | undefined): { figures: ReportFigure[]; summary: SummaryRow[] } {
  const table = resultsTable(rows);
  writeFileAtomic(path.join(dir, 'results.csv'), table.toCSV().trimEnd() + '\n');
  const summary = summariseSweep(table);
  writeFileAtomic(path.join(dir, 'summary.csv'), aq.from(summary).toCSV().trimEnd() + '\n');
  const figures = sweepFigures(s, table, summary, base);
  const axes = Object.keys(s.grid) as SettingKey[];
  const shown = [...axes, 'step', 'seeds', 'overall', 'classifier', 'fid', 'reward', 'gain', 'rewardAucUnseen'];
  writeReport(path.join(dir, 'index.html'), {
    title: `Sweep: ${s.name}${s.quick ? ' (quick)' : ''}`,
    subtitle: s.question,
    generated: `${new Date().toISOString().slice(0, 10)}, t2i-align sweep ${s.name}${s.quick ? ' --quick' : ''} --seeds ${s.seeds}; ${rows.length} rows in results.csv`,
    sections: [
      { title: 'Figures', text: [s.question], figures },
      {
        title: 'Summary (summary.csv)',
        text: ['Mean over seeds per grid point and evaluation step; the 95% intervals are in summary.csv. Accuracies are shares of images (judge; classifier: the independent reader).'],
        table: { columns: shown, rows: summary.map((r) => shown.map((c) => (Number.isFinite(r[c]) ? fmt(r[c]) : ''))) },
      },
      { title: 'Sweep config', pre: JSON.stringify(s, null, 2) },
    ],
  });
  return { figures, summary };
}

/** Export every figure of `index.html` as `figures/<id>.png` through headless Chromium; returns the files. */
export async function exportFigurePngs(dir: string, ids: readonly string[]): Promise<string[]> {
  const browser = await launchChromium();
  try {
    const page = await (await browser.newContext({ viewport: { width: 1000, height: 800 }, deviceScaleFactor: 1 })).newPage();
    await page.route((url) => !/^(file|data|blob|about):/i.test(url.href), (route) => route.abort());
    await page.goto('file://' + path.resolve(dir, 'index.html'), { waitUntil: 'load' });
    await page.waitForFunction(() => document.body.dataset.ready === '1', undefined, { timeout: 60_000 });
    fs.mkdirSync(path.join(dir, 'figures'), { recursive: true });
    const files: string[] = [];
    for (const id of ids) {
      const file = path.join(dir, 'figures', `${id}.png`);
      await page.locator(`#${id}`).screenshot({ path: file });
      files.push(file);
    }
    return files;
  } finally {
    await browser.close();
  }
}

/** Where the kit ships the sweeps' results (sweep.json, results.csv, summary.csv, base/evaluation.json, figures/). */
export const SHIPPED_SWEEPS_DIR = path.join(__dirname, '..', '..', 'data', 'sweeps');

/** A finished sweep folder read back: its config, results table (arquero), summary over seeds, base evaluation and figures. */
export function loadSweepResults(dir: string): { sweep: ResolvedSweep; table: aq.ColumnTable; summary: SummaryRow[]; base: EvaluateResult | undefined; figures: ReportFigure[] } {
  const file = (f: string) => path.join(dir, f);
  for (const f of ['sweep.json', 'results.csv']) if (!fs.existsSync(file(f))) throw new Error(`${dir} holds no finished sweep (${f} is missing): run \`t2i-align sweep\` into it first`);
  const sweep = JSON.parse(fs.readFileSync(file('sweep.json'), 'utf8')) as ResolvedSweep;
  const table = aq.fromCSV(fs.readFileSync(file('results.csv'), 'utf8').trimEnd());
  const summary = summariseSweep(table);
  const baseFile = file(path.join('base', 'evaluation.json'));
  const base = fs.existsSync(baseFile) ? (JSON.parse(fs.readFileSync(baseFile, 'utf8')).result as EvaluateResult) : undefined;
  return { sweep, table, summary, base, figures: sweepFigures(sweep, table, summary, base) };
}
