/**
 * The report page: one self-contained HTML file (plotly.js embedded inline,
 * images as data: URIs, a Content-Security-Policy that forbids every fetch),
 * so `DIR/report.html` opens offline, from a mail attachment or an archive,
 * and shows the same thing in ten years.
 *
 * `reportHtml` is a pure function of a `Report`; `writeReport` writes it
 * atomically; `checkReportInBrowser` opens the file in Debian's Chromium and
 * says whether every figure was drawn with marks, and whether the page asked
 * for anything over the network (it must not).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import { writeFileAtomic } from '../engine/checkpoint';
import { decodePng } from '../world/image';

/** One color per model or series, the same in every figure (plotly's default cycle). */
export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

/** One plotly figure; `data` and `layout` are plotly.js traces and layout, passed through. */
export interface ReportFigure {
  /** HTML id of the figure (letters, digits, '-', '_'); default `fig-<section>-<k>`. */
  id?: string;
  title: string;
  caption?: string;
  data: object[];
  layout?: object;
}

/** A PNG shown as an image; `png` is its bytes or a path to it. */
export interface ReportImage {
  title: string;
  png: Buffer | string;
  caption?: string;
  /** Nearest-neighbour display (`image-rendering: pixelated`), scaled up by an integer (see `scale`). */
  pixelated?: boolean;
  /** Display scale; default for pixelated images: the largest integer with width <= 640 px, else 1. */
  scale?: number;
}

export interface ReportTable {
  columns: string[];
  rows: (string | number)[][];
  caption?: string;
}

/** A section: its parts are shown in this order: text, table, figures, images, pre. */
export interface ReportSection {
  title: string;
  /** Paragraphs of plain text (escaped, never parsed as HTML). */
  text?: string[];
  table?: ReportTable;
  figures?: ReportFigure[];
  images?: ReportImage[];
  /** Preformatted text, e.g. the resolved config as JSON. */
  pre?: string;
}

export interface Report {
  title: string;
  subtitle?: string;
  /** When and by what the report was made, shown under the title (e.g. an ISO date and the command). */
  generated?: string;
  sections: ReportSection[];
}

/** What `checkReportInBrowser` found. */
export interface ReportCheck {
  /** Figures on the page. */
  figures: number;
  /** Figures that Plotly.newPlot finished drawing. */
  drawn: number;
  /** Ids of the figures with no plotted marks (or an all-background picture). */
  blank: string[];
  /** URLs the page asked for that are not file:, data: or blob: (all blocked; should be none). */
  requests: string[];
  /** Uncaught page errors and console errors. */
  errors: string[];
  /** Per figure: SVG marks inside its traces, and distinct non-background colors in its screenshot. */
  details: { id: string; marks: number; colors: number }[];
}

/**
 * Trace types drawn in SVG without network access. WebGL types (`*gl`, 3D)
 * are not static pictures and need a GPU; map and geo types fetch tiles or
 * topojson from the network: both are refused.
 */
const SVG_TRACE_TYPES = new Set([
  'scatter', 'bar', 'box', 'violin', 'histogram', 'histogram2d', 'histogram2dcontour', 'heatmap', 'contour',
  'pie', 'funnel', 'funnelarea', 'waterfall', 'scatterpolar', 'barpolar', 'scatterternary', 'scattersmith',
  'sunburst', 'treemap', 'icicle', 'sankey', 'table', 'indicator', 'carpet', 'scattercarpet', 'contourcarpet',
  'ohlc', 'candlestick', 'image',
]);

/**
 * plotly.js config for every figure: a static, responsive picture. MathJax is
 * never loaded by plotly itself, `typesetMath: false` only stops it looking;
 * the topojson and cloud URLs (https by default) are never reached with the
 * trace types above, and are pointed at nothing in case.
 */
const PLOTLY_CONFIG = {
  staticPlot: true,
  responsive: true,
  displayModeBar: false,
  displaylogo: false,
  typesetMath: false,
  showSendToCloud: false,
  showEditInChartStudio: false,
  plotlyServerURL: '',
  topojsonURL: 'data:,',
};

const DEFAULT_LAYOUT = {
  autosize: true,
  height: 360,
  margin: { l: 64, r: 24, t: 24, b: 56 },
  font: { family: 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif', size: 13 },
  paper_bgcolor: '#ffffff',
  plot_bgcolor: '#ffffff',
};

/** Forbids every fetch: the page can only use what it carries inline. */
const CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:";

const STYLE = `
:root { --fg: #1d232b; --muted: #5b6573; --line: #dde1e6; --bg-soft: #f5f7f9; --accent: #2b6cb0; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 64px; }
header h1 { font-size: 28px; margin: 8px 0 4px; }
header .subtitle { font-size: 17px; color: var(--muted); margin: 0; }
header .generated { font-size: 13px; color: var(--muted); margin: 4px 0 0; }
nav.toc { margin: 20px 0 8px; padding: 12px 18px; background: var(--bg-soft); border: 1px solid var(--line); border-radius: 6px; }
nav.toc h2 { font-size: 14px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin: 0 0 6px; border: 0; padding: 0; }
nav.toc ol { margin: 0; padding-left: 22px; } nav.toc ol ol { list-style: circle; font-size: 14px; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
section { margin-top: 36px; }
h2 { font-size: 21px; margin: 0 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 0 0 6px; }
p { margin: 0 0 10px; max-width: 80ch; }
figure { margin: 18px 0 24px; }
figcaption { font-size: 13.5px; color: var(--muted); margin-top: 6px; max-width: 90ch; }
.plot { width: 100%; min-height: 120px; border: 1px solid var(--line); border-radius: 4px; }
table { border-collapse: collapse; font-size: 14px; margin: 8px 0 4px; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 12px; text-align: left; vertical-align: top; }
th { background: var(--bg-soft); font-weight: 600; border-bottom: 2px solid var(--line); }
td.num { text-align: right; }
.table-wrap { overflow-x: auto; }
img.report-image { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); }
img.pixelated { image-rendering: pixelated; image-rendering: crisp-edges; }
pre { background: var(--bg-soft); border: 1px solid var(--line); border-radius: 4px; padding: 12px 14px; overflow-x: auto; font-size: 13px; line-height: 1.45; }
`;

/** Show plain text as HTML text or an attribute value. */
function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** JSON that is safe inside a <script> element: no '<', '>', '&' or line separators left raw. */
function scriptJson(value: unknown): string {
  // Typed arrays (Float32Array data from tensors) become plain arrays, not {"0": ...} objects.
  return JSON.stringify(value, (_k, v: unknown) => (ArrayBuffer.isView(v) && !(v instanceof DataView) ? Array.from(v as Float32Array) : v))
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/**
 * JavaScript source made safe inside a <script> element: `</script` would
 * close it early; `<\/script` means the same in strings, regexes and comments.
 * `<!--` starts the parser's escaped state, which no rewrite keeps meaning, so it is refused.
 */
function inlineScript(source: string, name: string): string {
  if (/<!--/.test(source)) throw new Error(`${name} contains '<!--' and cannot be inlined in a <script> element safely`);
  return source.replace(/<\/(script)/gi, '<\\/$1');
}

let plotlyCache: { source: string; version: string } | undefined;

/** The plotly.js bundle that `plotly.js-dist` ships (its `main`, plotly.js, unminified). */
export function plotlySource(): { source: string; version: string } {
  if (!plotlyCache) {
    const pkgFile = require.resolve('plotly.js-dist/package.json');
    const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as { main?: string; version: string };
    const file = path.join(path.dirname(pkgFile), pkg.main ?? 'plotly.js');
    plotlyCache = { source: inlineScript(fs.readFileSync(file, 'utf8'), file), version: pkg.version };
  }
  return plotlyCache;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** PNG bytes and their size from the IHDR chunk. */
function readPng(img: ReportImage): { bytes: Buffer; width: number; height: number } {
  const bytes = typeof img.png === 'string' ? fs.readFileSync(img.png) : img.png;
  const from = typeof img.png === 'string' ? img.png : 'its bytes';
  if (bytes.length < 24 || !bytes.subarray(0, 8).equals(PNG_SIGNATURE)) {
    throw new Error(`report image "${img.title}": ${from} is not a PNG (only PNG images are embedded)`);
  }
  return { bytes, width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

const ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]*$/;

function figureSpec(f: ReportFigure, where: string): { data: object[]; layout: object } {
  if (!Array.isArray(f.data)) throw new Error(`${where}: data must be an array of plotly traces`);
  f.data.forEach((trace, k) => {
    const type = (trace as { type?: unknown }).type ?? 'scatter';
    if (typeof type !== 'string' || !SVG_TRACE_TYPES.has(type)) {
      throw new Error(`${where}: trace ${k} has type ${JSON.stringify(type)}; allowed (SVG, offline): ${[...SVG_TRACE_TYPES].join(', ')}`);
    }
  });
  const layout = (f.layout ?? {}) as Record<string, unknown>;
  return {
    data: f.data,
    layout: {
      ...DEFAULT_LAYOUT,
      ...layout,
      margin: { ...DEFAULT_LAYOUT.margin, ...(layout.margin as object | undefined) },
      font: { ...DEFAULT_LAYOUT.font, ...(layout.font as object | undefined) },
    },
  };
}

function tableHtml(t: ReportTable, where: string): string {
  t.rows.forEach((row, i) => {
    if (row.length !== t.columns.length) throw new Error(`${where}: row ${i} has ${row.length} cells, the table has ${t.columns.length} columns`);
  });
  const head = t.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const body = t.rows
    .map((row) => `<tr>${row.map((v) => (typeof v === 'number' ? `<td class="num">${escapeHtml(String(v))}</td>` : `<td>${escapeHtml(v)}</td>`)).join('')}</tr>`)
    .join('\n');
  const caption = t.caption ? `<figcaption>${escapeHtml(t.caption)}</figcaption>` : '';
  return `<figure><div class="table-wrap"><table><thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table></div>${caption}</figure>`;
}

function imageHtml(img: ReportImage, where: string): string {
  const { bytes, width, height } = readPng(img);
  let scale = img.scale ?? (img.pixelated ? Math.max(1, Math.floor(640 / width)) : 1);
  if (!(scale > 0) || !Number.isFinite(scale)) throw new Error(`${where}: scale must be a positive number, got ${img.scale}`);
  if (img.pixelated) scale = Math.max(1, Math.round(scale));
  const w = Math.round(width * scale);
  const h = Math.round(height * scale);
  const cls = img.pixelated ? 'report-image pixelated' : 'report-image';
  const caption = img.caption ? `<figcaption>${escapeHtml(img.caption)}</figcaption>` : '';
  return (
    `<figure><h3>${escapeHtml(img.title)}</h3>` +
    `<img class="${cls}" width="${w}" height="${h}" alt="${escapeHtml(img.title)}" src="data:image/png;base64,${bytes.toString('base64')}">` +
    `${caption}</figure>`
  );
}

/** Draws every figure at load; marks each `[data-drawn="1"]` (or `data-error`) and the body `data-ready="1"`. */
const LOADER = `(function () {
  var specs = JSON.parse(document.getElementById('report-figures').textContent);
  var config = JSON.parse(document.getElementById('report-plotly-config').textContent);
  document.body.dataset.figures = String(specs.length);
  Promise.allSettled(specs.map(function (f) {
    var el = document.getElementById(f.id);
    return new Promise(function (resolve) { resolve(Plotly.newPlot(el, f.data, f.layout, config)); })
      .then(function () { el.dataset.drawn = '1'; });
  })).then(function (results) {
    document.body.dataset.ready = '1';
    results.forEach(function (r, i) {
      if (r.status === 'rejected') {
        var message = String(r.reason && r.reason.message || r.reason);
        document.getElementById(specs[i].id).dataset.error = message;
        setTimeout(function () { throw new Error('figure ' + specs[i].id + ': ' + message); });
      }
    });
  });
})();`;

/**
 * The report as one self-contained HTML page: a table of contents, then each
 * section's paragraphs, table, plotly figures, images and preformatted text.
 * All user text is escaped; figure data goes in as JSON. Throws, naming the
 * section, on a bad figure id, a refused trace type, a ragged table or an
 * image that is not a PNG.
 */
export function reportHtml(r: Report): string {
  // Every element id on the page: sections, figures and their wrappers must not collide.
  const ids = new Set<string>(r.sections.map((_s, i) => `section-${i + 1}`));
  const figures: { id: string; data: object[]; layout: object }[] = [];
  const toc: string[] = [];
  const body: string[] = [];
  r.sections.forEach((s, i) => {
    const sid = `section-${i + 1}`;
    const where = `section ${i + 1} ("${s.title}")`;
    const parts: string[] = [`<section id="${sid}"><h2>${escapeHtml(s.title)}</h2>`];
    for (const p of s.text ?? []) parts.push(`<p>${escapeHtml(p)}</p>`);
    if (s.table) parts.push(tableHtml(s.table, `${where}, table`));
    const subToc: string[] = [];
    (s.figures ?? []).forEach((f, k) => {
      const id = f.id ?? `fig-${i + 1}-${k + 1}`;
      if (!ID_PATTERN.test(id)) throw new Error(`${where}: figure id ${JSON.stringify(id)} must match ${ID_PATTERN}`);
      if (ids.has(id) || ids.has(`${id}-figure`)) throw new Error(`${where}: figure id "${id}" clashes with another id on the page`);
      ids.add(id).add(`${id}-figure`);
      const spec = figureSpec(f, `${where}, figure "${id}"`);
      figures.push({ id, ...spec });
      const caption = f.caption ? `<figcaption>${escapeHtml(f.caption)}</figcaption>` : '';
      // A fixed height: plotly's responsive resize reads it (without one, a resize, e.g. a full-page screenshot, shrinks the plot to the min-height).
      const height = Number((spec.layout as { height?: unknown }).height) || DEFAULT_LAYOUT.height;
      parts.push(`<figure id="${id}-figure"><h3>${escapeHtml(f.title)}</h3><div class="plot" id="${id}" style="height:${height + 2}px"></div>${caption}</figure>`);
      subToc.push(`<li><a href="#${id}-figure">${escapeHtml(f.title)}</a></li>`);
    });
    (s.images ?? []).forEach((img, k) => parts.push(imageHtml(img, `${where}, image ${k + 1} ("${img.title}")`)));
    if (s.pre !== undefined) parts.push(`<pre>${escapeHtml(s.pre)}</pre>`);
    parts.push('</section>');
    body.push(parts.join('\n'));
    const sub = subToc.length ? `<ol>${subToc.join('')}</ol>` : '';
    toc.push(`<li><a href="#${sid}">${escapeHtml(s.title)}</a>${sub}</li>`);
  });
  const plotly = plotlySource();
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="t2i-align; plotly.js ${escapeHtml(plotly.version)} embedded">
<title>${escapeHtml(r.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<header>
<h1>${escapeHtml(r.title)}</h1>
${r.subtitle ? `<p class="subtitle">${escapeHtml(r.subtitle)}</p>` : ''}
${r.generated ? `<p class="generated">${escapeHtml(r.generated)}</p>` : ''}
</header>
<nav class="toc"><h2>Contents</h2><ol>${toc.join('\n')}</ol></nav>
${body.join('\n')}
</main>
<script type="application/json" id="report-figures">${scriptJson(figures)}</script>
<script type="application/json" id="report-plotly-config">${scriptJson(PLOTLY_CONFIG)}</script>
<script>/* plotly.js ${escapeHtml(plotly.version)}, MIT license, Plotly, Inc. */
${plotly.source}
</script>
<script>${LOADER}</script>
</body>
</html>
`;
}

let notebookFigures = 0;

/**
 * One figure as HTML for a notebook output (tslab.display.html): a div and a
 * script that draws it with the same offline plotly.js and config as the
 * report. The first figure of a kernel also carries plotly.js itself (~10 MB,
 * never a CDN); later ones reuse it. Jupyter runs the scripts of trusted
 * notebooks; nbconvert keeps the output as it is.
 */
export function notebookFigureHtml(f: ReportFigure): string {
  const id = `t2i-nb-figure-${process.pid}-${++notebookFigures}`;
  const spec = figureSpec(f, `notebook figure "${f.title}"`);
  const lib = notebookFigures === 1 ? `<script>/* plotly.js ${escapeHtml(plotlySource().version)}, MIT license, Plotly, Inc. */\n${plotlySource().source}\n</script>` : '';
  const caption = f.caption ? `<p style="color:#5b6573;font-size:90%">${escapeHtml(f.caption)}</p>` : '';
  return `${lib}<div><h4>${escapeHtml(f.title)}</h4><div id="${id}" style="width:100%;max-width:900px;height:${(spec.layout as { height?: number }).height ?? 360}px"></div>${caption}</div>
<script>(function () { var f = ${scriptJson(spec)}; var c = ${scriptJson(PLOTLY_CONFIG)}; if (window.Plotly) window.Plotly.newPlot('${id}', f.data, f.layout, c); })();</script>`;
}

/** Write `reportHtml(r)` to `file` atomically (its folder is created). */
export function writeReport(file: string, r: Report): void {
  const html = reportHtml(r);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileAtomic(file, html);
}

/** Debian's Chromium, the browser the kit's browser checks use. */
export const CHROMIUM = '/usr/bin/chromium';

/** Launch headless Chromium with a fresh profile and no background traffic. */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing (${CHROMIUM}): the browser checks need Debian's Chromium. Install it with: sudo apt-get install chromium`);
  }
  let playwright: typeof import('playwright-core');
  try {
    playwright = await import('playwright-core');
  } catch {
    throw new Error('playwright-core is not installed: the browser checks need it (npm install, with dev dependencies)');
  }
  return playwright.chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * SVG elements inside plotly traces that paint something (counted when their
 * box is not empty). Most trace types draw in `g.trace`; heatmaps (and
 * histogram2d) in `g.hm`, contours in `g.contour`, images in `g.im`, sankey
 * and table in their own groups.
 */
const MARK_SELECTOR = ['g.trace', 'g.hm', 'g.contour', 'g.im', 'g.sankey', 'g.table']
  .flatMap((g) => ['path', 'image', 'rect', 'text', 'line', 'polygon', 'circle'].map((el) => `${g} ${el}`))
  .join(', ');

/**
 * Open a report file in Chromium and check it: every figure drawn, each with
 * plotted marks (SVG elements with a non-empty box inside its traces) and a
 * picture of more than a few colors; no request that is not file:, data: or
 * blob: (they are aborted, and the page's CSP blocks them too: both are
 * recorded); no page or console errors. Optionally saves a full-page screenshot.
 */
export async function checkReportInBrowser(file: string, opts: { screenshot?: string; timeoutMs?: number } = {}): Promise<ReportCheck> {
  if (!fs.existsSync(file)) throw new Error(`no report at ${file}`);
  const timeout = opts.timeoutMs ?? 60_000;
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const requests: string[] = [];
    const errors: string[] = [];
    const local = (url: string) => /^(file|data|blob|about):/i.test(url);
    await context.route((url) => !local(url.href), (route) => route.abort());
    const page = await context.newPage();
    page.on('request', (req) => {
      if (!local(req.url())) requests.push(req.url());
    });
    page.on('websocket', (ws) => requests.push(ws.url()));
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console error: ${m.text()}`);
    });
    await page.addInitScript(() => {
      const blocked: string[] = [];
      (window as unknown as { __cspBlocked: string[] }).__cspBlocked = blocked;
      document.addEventListener('securitypolicyviolation', (e) => blocked.push(`${e.blockedURI} (blocked by the page's CSP: ${e.violatedDirective})`));
    });
    await page.goto('file://' + path.resolve(file), { waitUntil: 'load', timeout });
    try {
      await page.waitForFunction(() => document.body.dataset.ready === '1', undefined, { timeout });
    } catch {
      const waiting = await page.$$eval('.plot:not([data-drawn="1"])', (els) => els.map((el) => el.id));
      errors.push(`timed out after ${timeout} ms waiting for figures to draw: ${waiting.join(', ')}`);
    }
    const figs = await page.$$eval(
      '.plot',
      (els, selector) =>
        els.map((el) => {
          const marks = Array.from(el.querySelectorAll<SVGGraphicsElement>(selector)).filter((m) => {
            const b = m.getBBox();
            return b.width > 0 || b.height > 0;
          }).length;
          return { id: el.id, drawn: (el as HTMLElement).dataset.drawn === '1', marks };
        }),
      MARK_SELECTOR,
    );
    const details: ReportCheck['details'] = [];
    for (const f of figs) {
      const shot = await page.locator(`#${f.id}`).screenshot({ timeout });
      details.push({ id: f.id, marks: f.marks, colors: foregroundColors(shot) });
    }
    requests.push(...(await page.evaluate(() => (window as unknown as { __cspBlocked: string[] }).__cspBlocked)));
    if (opts.screenshot) {
      fs.mkdirSync(path.dirname(path.resolve(opts.screenshot)), { recursive: true });
      await page.screenshot({ path: opts.screenshot, fullPage: true, timeout });
    }
    return {
      figures: figs.length,
      drawn: figs.filter((f) => f.drawn).length,
      blank: details.filter((d) => d.marks === 0 || d.colors < MIN_COLORS).map((d) => d.id),
      requests,
      errors,
      details,
    };
  } finally {
    await browser.close();
  }
}

/** A drawn figure has more distinct non-background colors than this (axes alone have a few). */
const MIN_COLORS = 4;

/** Distinct colors in a PNG screenshot, not counting the most common one (the background). */
function foregroundColors(png: Buffer): number {
  const img = decodePng(png);
  const counts = new Map<number, number>();
  for (let i = 0; i < img.width * img.height; i++) {
    const c = (img.data[i * 3] << 16) | (img.data[i * 3 + 1] << 8) | img.data[i * 3 + 2];
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  return Math.max(0, counts.size - 1);
}
