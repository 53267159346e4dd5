/**
 * Small report helpers for notebooks and READMEs: parameter counts per part
 * of a model, loss curves read from a pretraining run, and a dependency-free
 * SVG line chart (so executed notebooks show figures offline).
 */
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';

/** Parameters per part: weight names grouped by their first `depth` path segments. */
export function parameterCounts(variables: Record<string, tf.Variable>, depth = 2): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, v] of Object.entries(variables)) {
    const key = name.split('/').slice(0, depth).join('/');
    out[key] = (out[key] ?? 0) + v.size;
  }
  return out;
}

export interface LossPoint {
  stage: string;
  step: number;
  loss: number;
}

/**
 * Read a run's losses (losses.jsonl lines or a losses.csv with header stage,step,loss). A line that is not a point
 * (not JSON, a step that is no whole number, a loss that is not a finite number: a diverged run logs null) is an
 * error naming the file and line: it reached a shipped model's losses.csv and metrics as NaN and null.
 */
export function readLosses(file: string): LossPoint[] {
  const text = fs.readFileSync(file, 'utf8');
  const csv = file.endsWith('.csv');
  const out: LossPoint[] = [];
  text.split('\n').forEach((l, i) => {
    if (!l.trim() || (csv && i === 0)) return;
    const where = `${file}:${i + 1}`;
    let p: { stage?: unknown; step?: unknown; loss?: unknown };
    if (csv) {
      const [stage, step, loss] = l.split(',');
      p = { stage, step: Number(step), loss: loss === undefined || loss.trim() === '' ? NaN : Number(loss) };
    } else {
      try {
        p = JSON.parse(l) ?? {};
      } catch (e) {
        throw new Error(`${where}: not valid JSON (${(e as Error).message}): a loss line is {"stage", "step", "loss"}`);
      }
    }
    if (typeof p.stage !== 'string' || !Number.isInteger(p.step) || typeof p.loss !== 'number' || !Number.isFinite(p.loss)) {
      throw new Error(`${where}: not a loss point (a stage name, a whole step and a finite loss; a diverged run logs null): ${l.slice(0, 120)}`);
    }
    out.push({ stage: p.stage, step: p.step as number, loss: p.loss });
  });
  return out;
}

/** Mean loss over consecutive windows of `every` updates per stage (smooths the noisy per-update loss). */
export function binLosses(points: readonly LossPoint[], every: number): LossPoint[] {
  const out: LossPoint[] = [];
  for (const stage of [...new Set(points.map((p) => p.stage))]) {
    const ps = points.filter((p) => p.stage === stage);
    for (let i = 0; i < ps.length; i += every) {
      const w = ps.slice(i, i + every);
      out.push({ stage, step: w[w.length - 1].step, loss: w.reduce((a, p) => a + p.loss, 0) / w.length });
    }
  }
  return out;
}

/** losses as CSV: `stage,step,loss`. */
export function lossesCsv(points: readonly LossPoint[]): string {
  return ['stage,step,loss', ...points.map((p) => `${p.stage},${p.step},${p.loss.toPrecision(5)}`)].join('\n') + '\n';
}

/** The SVG text of a chart's title and axis labels (those given), for a W x H chart with margins m. */
function axisTitles(opts: { title?: string; xLabel?: string; yLabel?: string }, W: number, H: number, m: { l: number; t: number; b: number }): string[] {
  const out: string[] = [];
  const yMid = (H - m.b + m.t) / 2;
  if (opts.title) out.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-size="13">${opts.title}</text>`);
  if (opts.xLabel) out.push(`<text x="${(W + m.l) / 2}" y="${H - 6}" text-anchor="middle">${opts.xLabel}</text>`);
  if (opts.yLabel) out.push(`<text x="12" y="${yMid}" text-anchor="middle" transform="rotate(-90 12 ${yMid})">${opts.yLabel}</text>`);
  return out;
}

/** An SVG line chart of one or more series (x ascending), with axes, ticks and a title. */
export function lineChartSvg(
  series: Array<{ name: string; points: Array<[number, number]> }>,
  opts: { title?: string; xLabel?: string; yLabel?: string; width?: number; height?: number; logY?: boolean } = {},
): string {
  const W = opts.width ?? 560;
  const H = opts.height ?? 280;
  const m = { l: 56, r: 16, t: 28, b: 40 };
  const all = series.flatMap((s) => s.points);
  const fy = (y: number) => (opts.logY ? Math.log10(y) : y);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => fy(p[1]));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((fy(y) - y0) / (y1 - y0 || 1)) * (H - m.t - m.b);
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];
  const ticks = (lo: number, hi: number, k: number) => Array.from({ length: k + 1 }, (_, i) => lo + ((hi - lo) * i) / k);
  const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#333"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#333"/>`,
  ];
  for (const x of ticks(x0, x1, 5)) parts.push(`<text x="${sx(x)}" y="${H - m.b + 14}" text-anchor="middle">${fmt(x)}</text>`);
  for (const yv of ticks(y0, y1, 4)) {
    const y = opts.logY ? 10 ** yv : yv;
    parts.push(`<text x="${m.l - 4}" y="${sy(y) + 4}" text-anchor="end">${fmt(y)}</text>`, `<line x1="${m.l}" y1="${sy(y)}" x2="${W - m.r}" y2="${sy(y)}" stroke="#eee"/>`);
  }
  series.forEach((s, i) => {
    const d = s.points.map(([x, y], k) => `${k ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${colors[i % colors.length]}" stroke-width="1.5"/>`);
    parts.push(`<text x="${W - m.r - 4}" y="${m.t + 14 * (i + 1)}" text-anchor="end" fill="${colors[i % colors.length]}">${s.name}</text>`);
  });
  parts.push(...axisTitles(opts, W, H, m));
  parts.push('</svg>');
  return parts.join('\n');
}

/** An SVG scatter plot of one or more point sets, with axes, ticks, a legend and an optional diagonal. */
export function scatterSvg(
  series: Array<{ name: string; points: Array<[number, number]> }>,
  opts: { title?: string; xLabel?: string; yLabel?: string; width?: number; height?: number; diagonal?: boolean; domain?: [number, number] } = {},
): string {
  const W = opts.width ?? 420;
  const H = opts.height ?? 360;
  const m = { l: 48, r: 16, t: 28, b: 40 };
  const all = series.flatMap((s) => s.points);
  const [lo, hi] = opts.domain ?? [Math.min(...all.flatMap((p) => p)), Math.max(...all.flatMap((p) => p))];
  const sx = (x: number) => m.l + ((x - lo) / (hi - lo || 1)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - lo) / (hi - lo || 1)) * (H - m.t - m.b);
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#333"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#333"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    parts.push(`<text x="${sx(v)}" y="${H - m.b + 14}" text-anchor="middle">${v.toPrecision(2)}</text>`, `<text x="${m.l - 4}" y="${sy(v) + 4}" text-anchor="end">${v.toPrecision(2)}</text>`);
  }
  if (opts.diagonal) parts.push(`<line x1="${sx(lo)}" y1="${sy(lo)}" x2="${sx(hi)}" y2="${sy(hi)}" stroke="#aaa" stroke-dasharray="4 3"/>`);
  series.forEach((s, i) => {
    const c = colors[i % colors.length];
    for (const [x, y] of s.points) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2" fill="${c}" fill-opacity="0.5"/>`);
    parts.push(`<text x="${W - m.r - 4}" y="${m.t + 14 * (i + 1)}" text-anchor="end" fill="${c}">${s.name}</text>`);
  });
  parts.push(...axisTitles(opts, W, H, m));
  parts.push('</svg>');
  return parts.join('\n');
}
