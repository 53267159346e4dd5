// The labelling server under load, at a small scale (bench/feedback-load.ts
// runs the full 20 raters x 5,000 labels).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadDataset, runLoad } from '../../bench/feedback-load';
import { tempDir } from './helpers';

test('5 raters posting 500 labels at once (with retries): every label stored exactly once', async () => {
  const r = await runLoad({ raters: 5, labels: 500, retryRate: 0.1, dataDir: loadDataset(100, tempDir('load')) });
  assert.equal(r.acked, 500);
  assert.equal(r.stored, 500);
  assert.equal(r.lost, 0);
  assert.equal(r.duplicated, 0);
  assert.ok(r.retriesRecognised > 0, 'some retried POSTs were recognised as duplicates');
});

test('a server killed (SIGKILL) mid-session loses no acknowledged label', async () => {
  const r = await runLoad({ raters: 5, labels: 400, killAfter: 120, dataDir: loadDataset(80, tempDir('kill')) });
  assert.equal(r.killed, true);
  assert.ok(r.acked >= 120 && r.acked < 400, `acked ${r.acked}`);
  assert.equal(r.lost, 0, 'every acknowledged label is in the reopened store');
  assert.equal(r.duplicated, 0);
  assert.ok(r.stored >= r.acked, 'labels committed but not yet acknowledged may be stored too');
});
