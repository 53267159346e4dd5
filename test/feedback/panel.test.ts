import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_RATER, panelFromSpec, parsePanelSpec, raterName } from '../../src/feedback/panel';
import { checkRaterName } from '../../src/feedback/store';
import { judge } from '../../src/world/judge';
import { RaterPanel } from '../../src/world/raters';
import { renderPrompt } from '../../src/world/render';

test('panel specs: a count, settings with a count, several groups', () => {
  assert.deepEqual(parsePanelSpec('3').map((r) => r.id), ['sim-r0', 'sim-r1', 'sim-r2']);
  assert.deepEqual(parsePanelSpec('2')[1], { id: 'sim-r1', ...DEFAULT_RATER });
  const p = parsePanelSpec('flip=0.1,skip=0.05,leniency=0.2x3');
  assert.equal(p.length, 3);
  assert.deepEqual(p[2], { id: 'sim-r2', flipRate: 0.1, skipRate: 0.05, leniency: 0.2 });
  const mixed = parsePanelSpec('flip=0.05x2 + flip=0.3,leniency=.5');
  assert.deepEqual(mixed.map((r) => [r.id, r.flipRate, r.leniency]), [['sim-r0', 0.05, DEFAULT_RATER.leniency], ['sim-r1', 0.05, DEFAULT_RATER.leniency], ['sim-r2', 0.3, 0.5]]);
});

test('bad panel specs are errors that say what is wrong and show the syntax', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty spec/],
    ['0', /rater count must be a whole number >= 1/],
    ['flp=0.1x3', /unknown key "flp" \(allowed: flip, skip, leniency\)/],
    ['constructor=0.5', /unknown key "constructor" \(allowed: flip, skip, leniency\)/], // was read as a key (Object.prototype's)
    ['flip=1.5', /flip must be a probability in \[0, 1\], got "1.5"/],
    ['flip=-0.1', /flip must be a probability/],
    ['flip=abc', /flip must be a probability/],
    ['flip', /"flip" is not key=value/],
    ['flip=0.1,flip=0.2', /"flip" given twice/],
    ['3+', /group 2 "" is empty/],
    ['x3', /has a count but no settings/],
    ['101', /more than 100 raters/],
  ];
  for (const [spec, message] of cases) {
    assert.throws(() => parsePanelSpec(spec), (e: Error) => {
      assert.match(e.message, message, spec);
      assert.match(e.message, /Syntax: N \| key=P/, spec);
      return true;
    });
  }
});

test('panel raters are named by spec and seed; their labels do not depend on the name', () => {
  assert.deepEqual(panelFromSpec('3', 0).raters.map((r) => r.id), ['sim-3-s0-r0', 'sim-3-s0-r1', 'sim-3-s0-r2']);
  assert.equal(raterName('flip=0.05x2 + flip=0.3,leniency=.5', 4, 2), 'sim-flip0.05x2:flip0.3_leniency.5-s4-r2');
  const long = 'flip=0.05,skip=0.01,leniency=0.25x2+flip=0.3,skip=0.1,leniency=0.9x2';
  assert.match(raterName(long, 123, 3), /^sim-[0-9a-f]{8}-s123-r3$/, 'a spec too long for a name is hashed');
  for (const name of [raterName('3', 0, 0), raterName(long, 2 ** 31, 99)]) assert.doesNotThrow(() => checkRaterName(name), name);
  assert.notEqual(raterName('3', 0, 0), raterName('3', 1, 0));
  assert.notEqual(raterName('3', 0, 0), raterName('flip=0.1x3', 0, 0));
  // The draws of rater k stay keyed by sim-r<k>: the same labels as a panel of the spec's own configs.
  const verdicts = Array.from({ length: 40 }, (_, i) => judge('two red circles', renderPrompt({ count: 1 + (i % 3), color: 'red', object: 'circle' }, i).image));
  const named = panelFromSpec('flip=0.3,skip=0.2x3', 5);
  const plain = new RaterPanel(parsePanelSpec('flip=0.3,skip=0.2x3'), 5);
  assert.deepEqual(verdicts.map((v, i) => named.label(`img-${i}`, v)), verdicts.map((v, i) => plain.label(`img-${i}`, v)));
});
