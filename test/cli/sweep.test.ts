// `sweep` and `worker` on the command line: bad input is one clear error
// before any work (no sweep folder is made).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { runCli } from './run-in-process';
import { removedAtExit } from '../helpers/temp';

const tmp = removedAtExit('t2i-cli-sweep-');

test('sweep: a named sweep prints its config as JSON, a start for your own', async () => {
  const c = JSON.parse(await runCli('sweep', 'overopt', '--print-config'));
  assert.equal(c.name, 'overopt');
  assert.deepEqual(c.grid, { beta: [0, 1] });
});

test('sweep and worker: bad input is one error naming what is wrong, and nothing is written', async () => {
  const out = path.join(tmp, 'never');
  const bad = path.join(tmp, 'bad.json');
  fs.writeFileSync(bad, JSON.stringify({ name: 'x', question: 'q', settings: { bta: 1 }, grid: { beta: [0] }, seeds: 1, eval: {}, figures: [{ title: 't', x: 'beta', y: ['overall'] }] }));
  const cases: Array<[string[], RegExp]> = [
    [['sweep', 'gamma', '--out', out], /unknown sweep "gamma"; the named sweeps are beta, aux, unlabelled, labels, noise, overopt/],
    [['sweep', '--out', out], /name a sweep \(beta, aux, .*\) or give --config FILE/],
    [['sweep', 'beta', '--config', bad, '--out', out], /a sweep name or --config FILE, not both/],
    [['sweep', '--config', bad, '--out', out], /bad\.json: settings: Unrecognized key: "bta"/],
    [['sweep', '--config', path.join(tmp, 'missing.json'), '--out', out], /--config .*missing\.json: no such file$/],
    [['sweep', '--config', tmp, '--out', out], /--config .*: a folder, not a JSON file$/],
    [['sweep', 'beta', '--seeds', '0', '--out', out], /--seeds must be an integer in 1\.\.20, got "0"/],
    [['sweep', 'beta', '--workers', 'two', '--out', out], /--workers must be an integer/],
    [['sweep', 'beta', '--queue', 'http://x:1', '--out', out], /only redis:\/\/ queues are supported/],
    [['sweep', 'beta', '--threads', '0', '--out', out], /--threads must be an integer in 1\.\.256, got "0"/],
    [['worker', '--queue', 'localhost'], /not a URL|only redis/],
    [['worker', '--queue', 'redis://127.0.0.1:6379', '--concurrency', '0'], /--concurrency must be an integer in 1\.\.64, got "0"/],
    [['worker', '--queue', 'redis://127.0.0.1:6379', '--lock-seconds', '0'], /--lock-seconds must be a number in 1\.\.3600/],
  ];
  for (const [args, re] of cases) await assert.rejects(runCli(...args), re, args.join(' '));
  assert.equal(fs.existsSync(out), false);
});
