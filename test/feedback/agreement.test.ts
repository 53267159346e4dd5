// agreementStats on hand-made labels: humans apart from simulated raters,
// progress and last activity per rater, the most disputed images.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agreementStats, DISPUTED_MAX } from '../../src/feedback/agreement';
import { LabelStore, NewLabel, StoredLabel } from '../../src/feedback/store';
import { ManifestRecord } from '../../src/world/dataset';
import { fleissKappa } from '../../src/world/raters';

const records: ManifestRecord[] = Array.from({ length: 20 }, (_, i) => ({
  id: `img-${i}`,
  file: `img-${i}.png`,
  prompt: 'a red circle',
  attributes: { count: 1, object: 'circle', color: 'red' },
  seed: `s/${i}`,
  source: 'render',
}));
const aligned = new Map(records.map((r, i) => [r.id, i % 2 === 0]));

function label(store: LabelStore, rater: string, image: number, l: StoredLabel, time: string): void {
  const kind = rater.startsWith('sim-') ? 'simulated' : 'human';
  const row: NewLabel = { imageId: `img-${image}`, rater, raterKind: kind, label: l, time };
  store.add(row);
}

test('humans and simulated raters apart; progress and last activity (an undo counts) per rater', () => {
  const store = LabelStore.open(':memory:');
  label(store, 'ann', 0, 'good', '2025-01-01T10:00:00.000Z');
  label(store, 'ann', 1, 'bad', '2025-01-01T10:01:00.000Z');
  label(store, 'ann', 2, 'skip', '2025-01-01T10:02:00.000Z');
  label(store, 'bob', 0, 'bad', '2025-01-01T10:00:30.000Z');
  label(store, 'bob', 1, 'bad', '2025-01-01T10:00:40.000Z');
  store.undo('bob', 'undo-bob-0001', '2025-01-01T11:00:00.000Z');
  for (let i = 0; i < 4; i++) for (const r of ['sim-a', 'sim-b']) label(store, r, i, i % 2 === 0 ? 'good' : 'bad', '2024-12-31T00:00:00.000Z');
  label(store, 'ann', 99, 'good', '2025-01-01T12:00:00.000Z'); // an image outside the dataset: ignored in counts

  const s = agreementStats(records, store.current(), aligned, store.lastActivity());
  const by = Object.fromEntries(s.raters.map((r) => [r.rater, r]));
  assert.deepEqual(Object.keys(by).sort(), ['ann', 'bob', 'sim-a', 'sim-b']);
  assert.deepEqual([by.ann.kind, by.bob.kind, by['sim-a'].kind], ['human', 'human', 'simulated']);
  assert.deepEqual([by.ann.labelled, by.bob.labelled, by['sim-a'].labelled], [3, 1, 4]);
  assert.equal(by.ann.lastActivity, '2025-01-01T12:00:00.000Z');
  assert.equal(by.bob.lastActivity, '2025-01-01T11:00:00.000Z', 'the undo is the latest act');
  // only img-0 has two human good/bad labels (ann good, bob bad); bob's img-1 was undone
  assert.deepEqual(s.kinds.human, { raters: 2, labels: 4, fleissKappa: fleissKappa([[1, 1]]), fleissItems: 1 });
  assert.equal(s.kinds.simulated.raters, 2);
  assert.equal(s.kinds.simulated.labels, 8);
  assert.equal(s.kinds.simulated.fleissItems, 4);
  assert.equal(s.kinds.simulated.fleissKappa, 1, 'two simulated raters who always agree');
  assert.equal(agreementStats(records, store.current(), aligned).raters[0].lastActivity, null, 'without activity times: null');
});

test('disputed: split votes only, most even split first, then most votes; among humans and among all', () => {
  const store = LabelStore.open(':memory:');
  const t = '2025-01-01T10:00:00.000Z';
  const votes: Record<number, Array<[string, StoredLabel]>> = {
    0: [['ann', 'good'], ['bob', 'bad']], // 1:1, 2 votes
    1: [['ann', 'good'], ['bob', 'bad'], ['cat', 'good'], ['dan', 'bad']], // 2:2, 4 votes: first
    2: [['ann', 'good'], ['bob', 'good'], ['cat', 'good'], ['dan', 'bad']], // 3:1
    3: [['ann', 'good'], ['bob', 'good']], // unanimous: not disputed
    4: [['ann', 'good'], ['bob', 'skip']], // one good/bad vote: not disputed
    5: [['ann', 'good'], ['sim-a', 'bad']], // split only with a simulated rater
  };
  for (const [img, vs] of Object.entries(votes)) for (const [r, l] of vs) label(store, r, Number(img), l, t);
  const s = agreementStats(records, store.current(), aligned, store.lastActivity());
  assert.deepEqual(s.disputed.human.map((d) => d.id), ['img-1', 'img-0', 'img-2']);
  assert.deepEqual(s.disputed.all.map((d) => d.id), ['img-1', 'img-0', 'img-5', 'img-2']);
  const d1 = s.disputed.human[0];
  assert.deepEqual([d1.good, d1.bad, d1.skip, d1.disagreement], [2, 2, 0, 0.5]);
  assert.equal(d1.prompt, 'a red circle');
  assert.equal(d1.file, 'img-1.png');
  assert.equal(d1.judgeAligned, false);
  assert.deepEqual(d1.votes.map((v) => `${v.rater}:${v.label}`).sort(), ['ann:good', 'bob:bad', 'cat:good', 'dan:bad']);
  assert.equal(s.disputed.human[2].disagreement, 0.25);

  for (let i = 6; i < 20; i++) (label(store, 'ann', i, 'good', t), label(store, 'bob', i, 'bad', t));
  const many = agreementStats(records, store.current(), aligned);
  assert.equal(many.disputed.human.length, DISPUTED_MAX);
});
