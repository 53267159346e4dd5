// The report page in a real browser: Debian's Chromium driven by playwright-core.
// Needs the system package `chromium` (apt-get install chromium); without it
// these tests fail and say so (they never skip silently).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removedAtExit } from '../helpers/temp';
import { test } from 'node:test';
import { checkReportInBrowser, plotlySource, Report, reportHtml, writeReport } from '../../src/pipeline/report';
import { encodePng, tileImages } from '../../src/world/image';
import { seenPrompts } from '../../src/world/promptSets';
import { renderPrompt } from '../../src/world/render';

const ROOT = path.join(__dirname, '..', '..');

const tempDir = () => removedAtExit('t2i-report-');

/** Elements that would load something over the network (absolute or protocol-relative URL). */
const EXTERNAL_REF = /<(script|link|img|iframe|source|video|audio|embed|object|image|use)\b[^>]*\b(src|href|data|srcset)\s*=\s*["']?\s*(https?:)?\/\//gi;

function sampleReport(): Report {
  const prompts = seenPrompts().slice(0, 8);
  // A before/after grid of real 32x32 renders: row 1 the prompts, row 2 other seeds.
  const renders = [0, 1].flatMap((row) => prompts.slice(0, 4).map((p) => renderPrompt(p.attributes, `report-${row}-${p.prompt}`).image));
  const grid = tileImages(renders, { columns: 4, scale: 1, gap: 1 });
  const config = { seed: 7, steps: 200, note: '<script>alert("config")</script>' };
  return {
    title: 'Reproduction <script>alert(1)</script>',
    subtitle: 'A test report & its figures',
    generated: '2026-01-01T00:00:00Z by the report test',
    sections: [
      {
        title: 'Results',
        text: ['Accuracy by category. <script>alert("text")</script> stays text.', 'Second paragraph.'],
        table: {
          columns: ['category', 'before', 'after'],
          rows: [
            ['count', 0.41, 0.63],
            ['color', 0.72, 0.8],
            ['<b>bold?</b>', 0.5, 0.55],
          ],
          caption: 'Judge accuracy on 120 prompts per category.',
        },
        figures: [
          {
            id: 'bars',
            title: 'Accuracy before and after fine-tuning',
            caption: 'Mean over 3 seeds; error bars are one standard deviation.',
            data: [
              { type: 'bar', name: 'before', x: ['count', 'color', 'background'], y: [0.41, 0.72, 0.66], error_y: { type: 'data', array: [0.03, 0.02, 0.04] } },
              { type: 'bar', name: 'after <script>', x: ['count', 'color', 'background'], y: [0.63, 0.8, 0.7], error_y: { type: 'data', array: [0.02, 0.03, 0.02] } },
            ],
            layout: { barmode: 'group', yaxis: { title: { text: 'accuracy' }, range: [0, 1] } },
          },
          {
            id: 'loss',
            title: 'Training loss',
            data: [{ type: 'scatter', mode: 'lines', name: 'loss', x: [0, 1, 2, 3, 4, 5], y: [1.2, 0.9, 0.7, 0.62, 0.58, 0.55] }],
            layout: { xaxis: { title: { text: 'step' } } },
          },
        ],
      },
      {
        title: 'Reward vs judge',
        figures: [
          {
            title: 'Reward model score against judge agreement',
            data: [{ type: 'scatter', mode: 'markers', x: [0.1, 0.3, 0.5, 0.7, 0.9], y: [0.2, 0.25, 0.55, 0.6, 0.95], marker: { size: 9 } }],
          },
        ],
        images: [{ title: 'Before / after', png: encodePng(grid), caption: 'Top: before; bottom: after.', pixelated: true }],
      },
      { title: 'Config', pre: JSON.stringify(config, null, 2) },
    ],
  };
}

test('reportHtml: self-contained, escaped, plotly inline', () => {
  const html = reportHtml(sampleReport());
  assert.deepEqual(html.match(EXTERNAL_REF) ?? [], [], 'no element loads an http(s) or protocol-relative URL');
  assert.doesNotMatch(html, /<link\b/i);
  assert.doesNotMatch(html, /<script[^>]*\bsrc=/i, 'every script is inline');
  assert.ok(!html.includes('<script>alert'), 'user text never becomes a <script>');
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'the title is escaped');
  assert.ok(html.includes('&lt;b&gt;bold?&lt;/b&gt;'), 'table cells are escaped');
  assert.ok(html.includes('\\u003cscript\\u003e'), 'trace names are escaped in the figure JSON');
  // Every <script> opened is closed where it should be: as many openings as closings, none inside plotly.
  assert.equal((html.match(/<script\b/gi) ?? []).length, (html.match(/<\/script>/gi) ?? []).length);
  assert.equal((html.match(/<\/script>/gi) ?? []).length, 4);
  assert.ok(html.includes(plotlySource().source), 'the plotly bundle is embedded verbatim (bar escapes)');
  assert.match(html, /data:image\/png;base64,/);
  assert.match(html, /class="report-image pixelated" width="\d+"/);
  assert.match(html, /href="#section-3"/, 'the table of contents links every section');
  const typed = reportHtml({ title: 't', sections: [{ title: 'S', figures: [{ title: 'f', data: [{ y: new Float32Array([0.5, 1.5]) }] }] }] });
  assert.ok(typed.includes('"y":[0.5,1.5]'), 'typed arrays are written as arrays');
});

test('reportHtml refuses bad input with the section named', () => {
  const withFigure = (f: object): Report => ({ title: 't', sections: [{ title: 'S', figures: [{ title: 'f', data: [], ...f }] }] });
  assert.throws(() => reportHtml(withFigure({ data: [{ type: 'scattergl', x: [1], y: [1] }] })), /section 1 \("S"\).*"scattergl"/);
  assert.throws(() => reportHtml(withFigure({ data: [{ type: 'scattermap' }] })), /allowed/);
  assert.throws(() => reportHtml(withFigure({ id: 'a b' })), /figure id "a b"/);
  assert.throws(() => reportHtml(withFigure({ id: 'section-1' })), /clashes/);
  assert.throws(() => reportHtml({ title: 't', sections: [{ title: 'S', table: { columns: ['a', 'b'], rows: [[1]] } }] }), /row 0 has 1 cells/);
  assert.throws(() => reportHtml({ title: 't', sections: [{ title: 'S', images: [{ title: 'i', png: Buffer.from('nope') }] }] }), /not a PNG/);
});

test('checkReportInBrowser: every figure drawn, none blank, no network, no errors; screenshot', async () => {
  const file = path.join(tempDir(), 'run', 'report.html');
  const report = sampleReport();
  writeReport(file, report);
  const shot = path.join(ROOT, 'results', 'screenshots', 'report.png');
  const check = await checkReportInBrowser(file, { screenshot: shot });
  assert.equal(check.figures, 3);
  assert.equal(check.drawn, 3);
  assert.deepEqual(check.blank, [], JSON.stringify(check.details));
  assert.deepEqual(check.requests, []);
  assert.deepEqual(check.errors, []);
  assert.ok(fs.statSync(shot).size > 10_000, 'a full-page screenshot was written');
});

test('checkReportInBrowser: an empty figure is blank, a network reference is caught', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'report.html');
  writeReport(file, {
    title: 'Empty',
    sections: [
      {
        title: 'Nothing plotted',
        figures: [
          { id: 'empty-trace', title: 'empty trace', data: [{ type: 'scatter', x: [], y: [] }] },
          { id: 'no-traces', title: 'no traces', data: [] },
          { id: 'one-point', title: 'one point', data: [{ type: 'scatter', mode: 'markers', x: [1], y: [1] }] },
        ],
      },
    ],
  });
  const empty = await checkReportInBrowser(file);
  assert.equal(empty.drawn, 3);
  assert.deepEqual(empty.blank, ['empty-trace', 'no-traces']);
  assert.deepEqual(empty.requests, []);

  // The same page with an image from the network slipped in: the request is recorded (and never made).
  const leaky = path.join(dir, 'leaky.html');
  fs.writeFileSync(leaky, fs.readFileSync(file, 'utf8').replace('<main>', '<main><img src="http://127.0.0.1:9/pixel.png">'));
  const caught = await checkReportInBrowser(leaky);
  assert.ok(caught.requests.some((u) => u.startsWith('http://127.0.0.1:9/pixel.png')), JSON.stringify(caught.requests));
});
