import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { progress } from '../../src/engine';

function captureStderr(fn: () => void): string {
  const write = process.stderr.write;
  let out = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stderr.write = write;
  }
  return out;
}

test('lines mode prints at most every 10% and always the last step, with info', () => {
  const out = captureStderr(() => {
    const p = progress(100, 'train', 'lines');
    for (let i = 0; i < 100; i++) p.tick(1, { loss: 1 / (i + 1) });
    p.done();
  });
  const lines = out.trim().split('\n');
  assert.equal(lines.length, 10);
  assert.match(lines.at(-1)!, /^train 100\/100 \(100%\) [\d.]+s loss=0\.01000$/);
});

test('silent mode prints nothing; done() on an unfinished bar reports where it stopped', () => {
  assert.equal(captureStderr(() => { const p = progress(5, 'x', 'silent'); p.tick(); p.done(); }), '');
  const out = captureStderr(() => { const p = progress(1000, 'half', 'lines'); p.tick(3); p.done(); p.done(); });
  assert.match(out.trim().split('\n').at(-1)!, /^half 3\/1000 \(0%\)/);
});
