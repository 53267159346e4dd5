import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { progress } from '../../src/engine';
import { NOTEBOOK_UPDATE_MS } from '../../src/engine/progress';

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

test('notebook mode: at most one update a second, the last step always, and a display that throws (its socket busy) does not stop the work', async () => {
  const shown: string[] = [];
  let calls = 0;
  const display = { html(s: string) { if (++calls % 2 === 1) throw new Error('Socket is busy writing; only one send operation may be in progress'); shown.push(s); } };
  const p = progress(50, 'finetune', 'notebook', display);
  for (let i = 0; i < 50; i++) {
    p.tick(1, { loss: 0.1 });
    if (i === 24) await new Promise((r) => setTimeout(r, NOTEBOOK_UPDATE_MS + 50));
  }
  p.done();
  assert.equal(calls, 2, 'one update after a second, then the last step; nothing in between');
  assert.equal(shown.length, 1);
  assert.match(shown[0], /finetune 50\/50 \(100%\)/);
});
