// A file a command reads back (an evaluation, a sweep's or a run's settings, a label store) that is
// corrupt or of another kind is one line naming the file and what to do, not a raw JavaScript or
// SQLite message; nothing is written.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli } from './run-in-process';
import { smallDataset } from '../feedback/helpers';
import { removedAtExit } from '../helpers/temp';

test('corrupt or foreign files read back by compare, evaluate, sweep, reproduce, label and export-labels: one line naming the file', async () => {
  const dir = removedAtExit('t2i-corrupt-');
  const at = (...p: string[]) => path.join(dir, ...p);
  const write = (file: string, text: string) => (fs.mkdirSync(path.dirname(file), { recursive: true }), fs.writeFileSync(file, text));
  write(at('empty-eval', 'evaluation.json'), '{}');
  write(at('other-eval', 'evaluation.json'), '{"result": {}}');
  write(at('cut-eval', 'evaluation.json'), '{"settings": "x", "result": {"mod');
  write(at('sweep', 'sweep.json'), '{');
  write(at('run', 'config.json'), '');
  write(at('not-a-db.sqlite'), 'notes, not a database');
  fs.mkdirSync(at('db-folder'));
  fs.writeFileSync(at('one.txt'), 'a red circle\n');
  const data = smallDataset(2);
  const before = (d: string) => fs.readdirSync(d).sort();
  const dataBefore = before(data);
  const cases: Array<[string[], RegExp]> = [
    [['compare', '--a', at('empty-eval'), '--b', at('other-eval')], /empty-eval\/evaluation\.json: not an evaluation \(no result with images and an overall cell\): write it again with `evaluate --out/],
    [['evaluate', '--model', 'base', '--prompts', at('one.txt'), '--per-prompt', '2', '--out', at('cut-eval')], /cut-eval\/evaluation\.json: not valid JSON \(.*\): remove it to evaluate again, or use another --out/],
    [['sweep', 'beta', '--quick', '--out', at('sweep')], /sweep\/sweep\.json: not valid JSON \(.*\): it records the sweep's settings: restore it, or use another --out/],
    [['reproduce', '--quick', '--out', at('run')], /run\/config\.json: not valid JSON \(.*; the file is empty\): it records the run's settings/],
    [['label', '--data', data, '--db', at('db-folder')], /db-folder: cannot open label store: it is a folder; --db names a file/],
    [['export-labels', '--data', data, '--out', at('x.csv'), '--db', at('not-a-db.sqlite')], /not-a-db\.sqlite: cannot open label store: file is not a database/],
  ];
  for (const [args, message] of cases) {
    await assert.rejects(runCli(...args), (e: Error) => (assert.match(e.message, message, args.join(' ')), assert.equal(e.message.split('\n').length, 1), true));
  }
  assert.deepEqual(before(dir), ['cut-eval', 'db-folder', 'empty-eval', 'not-a-db.sqlite', 'one.txt', 'other-eval', 'run', 'sweep']);
  assert.deepEqual(before(at('db-folder')), []);
  assert.deepEqual(before(data), dataBefore);
});
