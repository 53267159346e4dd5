// bench/index.ts: its flags are checked before any section runs, so a typo cannot overwrite
// results/bench.json with a run of no sections.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { benchArgs } from '../../bench/index';

test('bench flags: --json and --only as given; an unknown section or flag is one line naming the allowed ones', () => {
  assert.deepEqual(benchArgs([]), { json: false, only: undefined });
  assert.deepEqual(benchArgs(['--json', '--only', 'native,parity']), { json: true, only: ['native', 'parity'] });
  assert.deepEqual(benchArgs(['--only=finetune']), { json: false, only: ['finetune'] });
  assert.deepEqual(benchArgs(['--json', '--', '--only', 'native']), { json: true, only: ['native'] }, 'npm run bench -- --json -- --only native');
  assert.throws(() => benchArgs(['--only', 'natve', '--json']), /^Error: --only: unknown section "natve"; the sections are native, wasm, cpu, tensorflow, best, finetune, sweep, parity$/);
  assert.throws(() => benchArgs(['--onyl', 'native']), /Unknown option '--onyl' \(usage: npm run bench -- \[--json\] \[--only native,wasm/);
  assert.throws(() => benchArgs(['native']), /usage: npm run bench/);
});
