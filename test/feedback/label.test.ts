import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { runCli } from '../cli/run-in-process';
import { datasetAgreement, labelWithPanel } from '../../src/feedback/label';
import { panelFromSpec } from '../../src/feedback/panel';
import { LabelStore } from '../../src/feedback/store';
import { smallDataset } from './helpers';

const run = runCli;

test('labelWithPanel: every rater labels every image; a rerun adds nothing; a perfect panel agrees with the judge', () => {
  const dir = smallDataset(12);
  const store = LabelStore.open(':memory:');
  const first = labelWithPanel(dir, store, panelFromSpec('flip=0.1x3', 7));
  assert.equal(first.added, 36);
  assert.deepEqual(labelWithPanel(dir, store, panelFromSpec('flip=0.1x3', 7)), { ...first, added: 0, duplicates: 36 });
  labelWithPanel(dir, store, panelFromSpec('flip=0,skip=0,leniency=0x2', 1)); // sim-r0, sim-r1 change their minds
  assert.equal(store.size(), 36 + 24, 'changed labels are new rows');
  const s = datasetAgreement(dir, store);
  assert.equal(s.labels, 36);
  assert.equal(s.raters.find((r) => r.rater === 'sim-r0')!.judgeAgreement, 1);
  assert.equal(s.raters.find((r) => r.rater === 'sim-r0')!.judgeKappa, 1);
  assert.equal(s.pairs.find((p) => p.a === 'sim-r0' && p.b === 'sim-r1')!.kappa, 1);
  assert.equal(s.balance.all.images, 12);
  assert.equal(s.balance.all.good + s.balance.all.bad + s.balance.all.skip, 36);
  store.close();
});

test('t2i-align label: writes DIR/labels.sqlite, prints kappa and balance; bad --panel is a clear error', async () => {
  const dir = smallDataset(9);
  const out = await run('label', '--data', dir, '--panel', 'flip=0.1,skip=0.05,leniency=0.2x3');
  assert.match(out, /labels\.sqlite: 27 labels added, 0 already stored/);
  assert.match(out, /Fleiss' kappa: /);
  assert.match(out, /sim-r2 +simulated/);
  assert.match(out, /combination|count|color|background/);
  const store = LabelStore.open(path.join(dir, 'labels.sqlite'), { readonly: true });
  assert.equal(store.current().length, 27);
  store.close();
  const json = JSON.parse(await run('label', '--data', dir, '--panel', 'flip=0.1,skip=0.05,leniency=0.2x3', '--json'));
  assert.equal(json.duplicates, 27);
  await assert.rejects(run('label', '--data', dir, '--panel', 'flip=0.1,lenient=0.2x3'), /unknown key "lenient"/);
  await assert.rejects(run('label', '--data', dir, '--panel', 'flip=2'), /flip must be a probability in \[0, 1\]/);
});
