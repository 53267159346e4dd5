// Sweeps across processes. A local pool run is the reference; then the same
// sweep goes through BullMQ on a real redis-server (Debian's package, started
// here on 127.0.0.1) to two `t2i-align worker` processes, one of which is
// killed mid-run: another worker takes its run over and the CSV is the same;
// then one worker with --concurrency 2 runs both at once, with the same CSV.
// The lock is 15 s: a busy worker renews it between updates, a killed one
// loses it after 15 s. Workers and the pool run with one native thread each, so the sums are done
// in the same order (the thread count changes the last bits).
import assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { initBackend } from '../../src/engine';
import { Queue, QueueEvents } from 'bullmq';
import { queueConnection, QUEUE_NAME, resolveSweep, runSweep, sweepRuns } from '../../src/sweep';
import { jobId, quietFor, runOnQueue } from '../../src/sweep/queue';
import { csvWithoutSeconds, tempDir, TINY } from './helpers';

const ROOT = path.join(__dirname, '..', '..');
const REDIS = '/usr/bin/redis-server';
const children: ChildProcess[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Start a child and resolve when a line of its output matches `ready`. */
function startChild(cmd: string, args: string[], ready: RegExp, env: NodeJS.ProcessEnv = process.env): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      out += b.toString();
      if (ready.test(out)) resolve({ child, output: () => out });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${cmd} ${args.join(' ')} exited (${code}) before it was ready:\n${out}`)));
  });
}

let url: string;

before(async () => {
  if (!fs.existsSync(REDIS)) throw new Error(`redis-server is missing (${REDIS}): the queue tests need Debian's redis-server. Install it with: sudo apt-get install redis-server`);
  await initBackend();
  const port = await freePort();
  await startChild(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], /Ready to accept connections/);
  url = `redis://127.0.0.1:${port}`;
});

after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

test('queue URLs: redis://HOST:PORT[/DB], anything else named with the form', () => {
  assert.deepEqual(queueConnection('redis://10.0.0.2:6380/2'), { host: '10.0.0.2', port: 6380, db: 2, maxRetriesPerRequest: null });
  assert.throws(() => queueConnection('localhost:6379'), /only redis:\/\/ queues are supported/);
  assert.throws(() => queueConnection('nonsense'), /not a URL; give redis:\/\/HOST:PORT/);
  assert.deepEqual(queueConnection('redis://:s%40cret@10.0.0.2'), { host: '10.0.0.2', port: 6379, db: 0, password: 's@cret', maxRetriesPerRequest: null });
  assert.deepEqual(queueConnection('redis://kit:pw@h:1/3'), { host: 'h', port: 1, db: 3, username: 'kit', password: 'pw', maxRetriesPerRequest: null });
});

test('a queue behind a password is reached with the password in its URL (it was dropped)', async () => {
  const port = await freePort();
  await startChild(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', 'kit-pass'], /Ready to accept connections/);
  const queue = new Queue(QUEUE_NAME, { connection: queueConnection(`redis://:kit-pass@127.0.0.1:${port}`) });
  try {
    assert.equal(await queue.count(), 0);
  } finally {
    await queue.close();
  }
});

test('quietFor: a file that goes while the folder is read is a write just now, not an ENOENT', () => {
  const dir = tempDir('quiet');
  fs.mkdirSync(path.join(dir, 'rows'));
  fs.writeFileSync(path.join(dir, 'rows', 'step-0.json'), '{}');
  const old = new Date(Date.now() - 3_600_000);
  for (const f of [path.join(dir, 'rows', 'step-0.json'), path.join(dir, 'rows'), dir]) fs.utimesSync(f, old, old);
  assert.ok(quietFor(dir) > 3_000_000, 'an hour quiet');
  // A dangling link stands for a checkpoint's temporary file renamed between the listing and the stat.
  fs.symlinkSync(path.join(dir, 'weights.bin.tmp-gone'), path.join(dir, 'rows', 'weights.bin.tmp-1'));
  fs.utimesSync(path.join(dir, 'rows'), old, old);
  assert.ok(quietFor(dir) < 60_000);
  assert.equal(quietFor(path.join(dir, 'nope')), Infinity);
});

test('a worker that cannot reach its queue says so in one line', () => {
  const r = spawnSync(process.execPath, ['bin/t2i-align.js', 'worker', '--queue', 'redis://127.0.0.1:1'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr.trim(), /^t2i-align: cannot reach the queue at redis:\/\/127\.0\.0\.1:1 within 10 s: is redis-server running there\?/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('a sweep whose queue cannot be reached says so before any stage runs, and makes no sweep folder', () => {
  const out = path.join(tempDir('unreachable'), 'sweep');
  const r = spawnSync(process.execPath, ['bin/t2i-align.js', 'sweep', 'beta', '--quick', '--queue', 'redis://127.0.0.1:1', '--out', out], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr.trim(), /^t2i-align: cannot reach the queue at redis:\/\/127\.0\.0\.1:1 within 10 s/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(!fs.existsSync(out));
});

test('through the queue, with a worker killed mid-run, the sweep gives the local pool\'s CSV', async () => {
  const sweep = resolveSweep(TINY);
  const local = tempDir('pool');
  await runSweep(local, sweep, { workers: 1, threads: 1, png: false });

  const env = { ...process.env, T2I_NATIVE_THREADS: '1', OPENBLAS_NUM_THREADS: '1', T2I_PROGRESS: '0' };
  const args = ['bin/t2i-align.js', 'worker', '--queue', url, '--lock-seconds', '15'];
  const a = await startChild(process.execPath, args, /waiting for runs/, env);
  const b = await startChild(process.execPath, args, /waiting for runs/, env);
  // Kill A as soon as it has taken a run.
  let killedRun = '';
  const killed = new Promise<void>((resolve) => {
    const watch = setInterval(() => {
      const m = /started (\S+)/.exec(a.output());
      if (m) {
        clearInterval(watch);
        killedRun = m[1];
        a.child.kill('SIGKILL');
        resolve();
      }
    }, 50);
  });
  const queued = tempDir('queue');
  const r = await runSweep(queued, sweep, { queue: url, png: false });
  await killed;
  assert.equal(r.ran, 2);
  assert.ok(killedRun, 'worker A took a run');
  assert.equal(a.child.signalCode, 'SIGKILL');
  // B finished both runs, the one A had started among them.
  assert.match(b.output(), new RegExp(`finished ${killedRun.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.ok(new Set([...b.output().matchAll(/finished (\S+)/g)].map((m) => m[1])).size === 2, b.output());
  assert.equal(csvWithoutSeconds(queued), csvWithoutSeconds(local));

  // A completed job left in the queue (a sweep stopped before its clean-up) must not stand in for a run whose rows
  // were removed since: the run is done again, not taken as done.
  const [run] = sweepRuns(sweep);
  const queue = new Queue(QUEUE_NAME, { connection: queueConnection(url) });
  const events = new QueueEvents(QUEUE_NAME, { connection: queueConnection(url) });
  try {
    await events.waitUntilReady();
    const stale = await queue.add('run', { dir: path.resolve(queued), run }, { jobId: jobId(queued, run), removeOnComplete: false });
    await stale.waitUntilFinished(events); // worker B: the rows are on disk, so it returns them at once
    assert.equal(await stale.getState(), 'completed');
  } finally {
    await events.close();
    await queue.close();
  }
  fs.rmSync(path.join(queued, 'runs', run.key), { recursive: true });
  const again = await runSweep(queued, sweep, { queue: url, png: false });
  assert.equal(again.ran, 1);
  assert.equal(csvWithoutSeconds(queued), csvWithoutSeconds(local));

  // A job an earlier sweep of the folder left queued, with other settings under the same run name, is another
  // job; a worker that takes it refuses it, and the sweep's own run is not mixed with it.
  const other = { ...run, settings: { ...run.settings, beta: run.settings.beta + 1 } };
  assert.notEqual(jobId(queued, other), jobId(queued, run));
  const refused = await runOnQueue(url, queued, [other], () => {}, { pollMs: 100 }).then(() => '', (e: Error) => e.message);
  assert.match(refused, /^1 run\(s\) failed on the queue's workers \(rerun the same command to resume them\): .*: run .* is not this sweep's \(settings\.beta was \d+, now \d+; a job an earlier sweep of the folder left in the queue\?\): nothing was run/);
  assert.equal(csvWithoutSeconds(queued), csvWithoutSeconds(local));

  // One worker with --concurrency 2 takes both runs at once: they interleave on its one thread (each update and
  // denoising step lets the event loop turn), and the CSV is still the local pool's.
  b.child.kill('SIGKILL');
  const c = await startChild(process.execPath, [...args, '--concurrency', '2'], /waiting for runs/, env);
  const both = tempDir('queue-concurrent');
  assert.equal((await runSweep(both, sweep, { queue: url, png: false })).ran, 2);
  const log = c.output();
  const starts = [...log.matchAll(/started (\S+)/g)];
  assert.equal(new Set(starts.map((m) => m[1])).size, 2, log);
  assert.ok(starts[1].index! < log.indexOf('finished '), `the second run started before the first finished:\n${log}`);
  assert.equal(csvWithoutSeconds(both), csvWithoutSeconds(local));
});

test('a job that Redis lost (restarted without its data) is settled by the folder: rows on disk, else enqueued again', async () => {
  const sweep = resolveSweep(TINY);
  const [run] = sweepRuns(sweep);
  const dir = tempDir('lost');
  await runSweep(dir, sweep, { workers: 0, png: false });
  const noWorker = `${url}/3`; // a database no worker reads: the jobs wait until they are lost
  const lose = () => new Promise<void>((resolve) => setTimeout(async () => {
    const q = new Queue(QUEUE_NAME, { connection: queueConnection(noWorker) });
    await q.obliterate({ force: true });
    await q.close();
    resolve();
  }, 400));
  const logged: string[] = [];
  const done: string[] = [];
  await Promise.all([runOnQueue(noWorker, dir, [run], (r) => done.push(r.key), { pollMs: 100, log: (l) => logged.push(l) }), lose()]);
  assert.deepEqual(done, [run.key], 'its rows were on disk: done');
  // Without its rows the run is asked for again.
  const rows = path.join(dir, 'runs', run.key, 'rows');
  fs.renameSync(rows, `${rows}.aside`);
  let waited: Promise<void> | undefined;
  await new Promise<void>((resolve) => {
    waited = runOnQueue(noWorker, dir, [run], (r) => done.push(r.key), { pollMs: 100, quietMs: 0, log: (l) => (logged.push(l), /enqueued again$/.test(l) && resolve()) });
    void lose();
  });
  const q = new Queue(QUEUE_NAME, { connection: queueConnection(noWorker) });
  assert.equal(await (await q.getJob(jobId(dir, run)))!.getState(), 'waiting', 'enqueued again');
  fs.renameSync(`${rows}.aside`, rows); // a worker elsewhere finished it; then the queue lost it again
  await q.obliterate({ force: true });
  await q.close();
  await waited;
  assert.deepEqual(done, [run.key, run.key]);
  // A run whose folder was written lately may still be running on the worker that lost its job: not enqueued
  // again (two workers would race on one folder) until the folder is quiet; here its rows appear meanwhile.
  fs.renameSync(rows, `${rows}.aside`);
  fs.utimesSync(path.join(dir, 'runs', run.key), new Date(), new Date());
  const waitedLog: string[] = [];
  let patient: Promise<void> | undefined;
  await new Promise<void>((resolve) => {
    patient = runOnQueue(noWorker, dir, [run], (r) => done.push(r.key), { pollMs: 100, log: (l) => (waitedLog.push(l), /a worker may still run it/.test(l) && resolve()) });
    void lose();
  });
  const q2 = new Queue(QUEUE_NAME, { connection: queueConnection(noWorker) });
  assert.equal(await q2.getJob(jobId(dir, run)), undefined, 'not enqueued again while its folder is fresh');
  fs.renameSync(`${rows}.aside`, rows);
  await q2.close();
  await patient;
  assert.deepEqual(done, [run.key, run.key, run.key]);
  assert.match(waitedLog.join('\n'), /its folder was written \d+ s ago, so a worker may still run it: enqueued again once it is 600 s quiet/);
  assert.ok(logged.some((l) => new RegExp(`^${run.key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: its job is no longer in the queue \\(did Redis restart without its data\\?\\); enqueued again$`).test(l)), logged.join('\n'));
});
