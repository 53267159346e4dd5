import assert from 'node:assert/strict';
import { test } from 'node:test';
import { METRICS, SETTING_KEYS } from '../../src/sweep/config';
import { resultsTable, summariseSweep } from '../../src/sweep/results';
import { SweepRow } from '../../src/sweep/run';

test('summariseSweep: a metric missing for one of the seeds has no mean (it was the mean of the others, beside seeds = 3)', () => {
  const row = (seed: number, held: number) =>
    ({
      run: `r${seed}`, seed, ...Object.fromEntries(SETTING_KEYS.map((k) => [k, 1])),
      ...Object.fromEntries(METRICS.map((m) => [m, m === 'step' ? 0 : 0.5 + seed / 10])), rewardAucHeldOut: held,
    }) as unknown as SweepRow;
  const [s] = summariseSweep(resultsTable([row(0, NaN), row(1, 0.8), row(2, 0.9)]));
  assert.equal(s.seeds, 3);
  assert.ok(Number.isNaN(s.rewardAucHeldOut) && Number.isNaN(s.rewardAucHeldOut_lo) && Number.isNaN(s.rewardAucHeldOut_hi), JSON.stringify(s));
  assert.ok(Math.abs(s.overall - 0.6) < 1e-12 && s.overall_lo < 0.6 && s.overall_hi > 0.6, 'the other metrics as before');
  const [all] = summariseSweep(resultsTable([row(0, 0.7), row(1, 0.8), row(2, 0.9)]));
  assert.ok(Math.abs(all.rewardAucHeldOut - 0.8) < 1e-12);
});
