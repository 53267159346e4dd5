import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Rng } from '../../src/engine';

const draw = (r: Rng, n = 5) => Array.from({ length: n }, () => r.random());

test('same seed gives the same stream; different seeds differ', () => {
  assert.deepEqual(draw(new Rng(1)), draw(new Rng(1)));
  assert.notDeepEqual(draw(new Rng(1)), draw(new Rng(2)));
});

test('forks are independent of the parent position and of each other', () => {
  const a = new Rng(3);
  const b = new Rng(3);
  draw(a, 10);
  assert.deepEqual(draw(a.fork('x')), draw(b.fork('x')));
  assert.notDeepEqual(draw(a.fork('x')), draw(a.fork('y')));
  // Names are paths (the documented meaning the kit's 'noise/<i>' forks use).
  assert.deepEqual(draw(a.fork('noise/3')), draw(b.fork('noise').fork(3)));
  assert.notDeepEqual(draw(a.fork('noise/3')), draw(a.fork('noise').fork(4)));
});

test('int, pick and shuffle stay in range; normal has mean 0 and std 1', () => {
  const r = new Rng('moments');
  for (let i = 0; i < 1000; i++) {
    const k = r.int(2, 4);
    assert.ok(k >= 2 && k <= 4 && Number.isInteger(k));
  }
  assert.deepEqual(r.shuffle([1, 2, 3, 4]).sort(), [1, 2, 3, 4]);
  const xs = Array.from({ length: 20000 }, () => r.normal());
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const std = Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length);
  // 5 standard errors: fails only if the generator is wrong.
  assert.ok(Math.abs(mean) < 5 / Math.sqrt(xs.length), `mean ${mean}`);
  assert.ok(Math.abs(std - 1) < 5 / Math.sqrt(2 * xs.length), `std ${std}`);
});
