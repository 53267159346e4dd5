import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judge, Verdict } from '../../src/world/judge';
import { parsePrompt } from '../../src/world/prompt';
import { cohenKappa, fleissKappa, Label, panelKappa, partlyRight, RaterPanel, uniformPanel } from '../../src/world/raters';
import { renderPrompt } from '../../src/world/render';

const good = judge('two red circles', renderPrompt(parsePrompt('two red circles'), 1).image);
const partly = judge('two red circles', renderPrompt(parsePrompt('three red circles'), 1).image);
const bad = judge('two red circles', renderPrompt(parsePrompt('a blue square in the sea'), 1).image);

/** 4-sigma binomial bound. */
function near(k: number, n: number, p: number, what: string) {
  const sd = Math.sqrt(n * p * (1 - p));
  assert.ok(Math.abs(k - n * p) <= 4 * sd + 1e-9, `${what}: ${k}/${n}, expected ${p}`);
}

function labels(panel: RaterPanel, v: Verdict, n: number): Label[] {
  const out: Label[] = [];
  for (let i = 0; i < n; i++) out.push(...panel.label(`item${i}`, v));
  return out;
}

test('fixtures: aligned, partly right, badly wrong', () => {
  assert.equal(good.aligned, true);
  assert.equal(partlyRight(partly), true);
  assert.equal(partlyRight(bad), false);
});

test('rater noise rates match their settings (4-sigma binomial)', () => {
  const n = 4000;
  const panel = uniformPanel(1, { flipRate: 0.1, leniency: 0.3, skipRate: 0.05 }, 7);
  const g = labels(panel, good, n);
  near(g.filter((l) => l === 'skip').length, n, 0.05, 'skip');
  const gr = g.filter((l) => l !== 'skip');
  near(gr.filter((l) => l === 'bad').length, gr.length, 0.1, 'flip on good');
  const p = labels(panel, partly, n).filter((l) => l !== 'skip');
  // good when lenient and not flipped, or strict and flipped: 0.3*0.9 + 0.7*0.1
  near(p.filter((l) => l === 'good').length, p.length, 0.34, 'leniency on partly right');
  const b = labels(panel, bad, n).filter((l) => l !== 'skip');
  near(b.filter((l) => l === 'good').length, b.length, 0.1, 'flip on bad');
});

test('labels are reproducible and independent of order', () => {
  const panel = uniformPanel(3, { flipRate: 0.2, leniency: 0.5, skipRate: 0.1 }, 'p');
  assert.deepEqual(panel.label('x', partly), panel.label('x', partly));
  const again = uniformPanel(3, { flipRate: 0.2, leniency: 0.5, skipRate: 0.1 }, 'p');
  again.label('y', good);
  assert.deepEqual(again.label('x', partly), panel.label('x', partly));
  assert.throws(() => uniformPanel(1, { flipRate: 2, leniency: 0, skipRate: 0 }, 1).label('x', good), /flipRate must be in \[0, 1\]/);
});

test("Fleiss' kappa matches the textbook example (0.210)", () => {
  const counts = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
  ];
  assert.ok(Math.abs(fleissKappa(counts) - 0.21) < 0.001, String(fleissKappa(counts)));
});

test("Cohen's kappa matches the textbook example (0.4) and skips are ignored", () => {
  const a: Label[] = [], b: Label[] = [];
  const add = (x: Label, y: Label, n: number) => { for (let i = 0; i < n; i++) { a.push(x); b.push(y); } };
  add('good', 'good', 20); add('good', 'bad', 5); add('bad', 'good', 10); add('bad', 'bad', 15); add('skip', 'good', 7);
  assert.ok(Math.abs(cohenKappa(a, b) - 0.4) < 1e-12);
});

test('noiseless panels agree perfectly; noisy ones less', () => {
  const verdicts = Array.from({ length: 300 }, (_, i) => [good, partly, bad][i % 3]);
  const clean = uniformPanel(4, { flipRate: 0, leniency: 0, skipRate: 0 }, 1);
  assert.equal(panelKappa(verdicts.map((v, i) => clean.label(`i${i}`, v))), 1);
  const noisy = uniformPanel(4, { flipRate: 0.1, leniency: 0, skipRate: 0 }, 1);
  const k = panelKappa(verdicts.map((v, i) => noisy.label(`i${i}`, v)));
  // two raters with flip f on balanced-ish truth agree with prob 1-2f(1-f) = 0.82 -> kappa ~ 0.64
  assert.ok(k > 0.5 && k < 0.78, String(k));
});

test("kappa is undefined (NaN), not perfect agreement, when every label is the same", () => {
  assert.ok(Number.isNaN(cohenKappa(['good', 'good', 'good'], ['good', 'good', 'good'])));
  assert.ok(Number.isNaN(fleissKappa([[3, 0], [2, 0], [4, 0]])));
  assert.ok(Number.isNaN(panelKappa([['bad', 'bad'], ['bad', 'skip', 'bad']])));
  // one rater's labels vary: chance agreement is below 1, kappa is defined
  assert.equal(cohenKappa(['good', 'good', 'bad'], ['good', 'good', 'good']), 0);
});
