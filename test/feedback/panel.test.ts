import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_RATER, parsePanelSpec } from '../../src/feedback/panel';

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
