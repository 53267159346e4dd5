import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { removedAtExit } from '../helpers/temp';
import { processAlive, processStamp, shownPath, withFolderLock } from '../../src/engine/files';

test('shownPath: relative inside the working folder, absolute outside it, "." for the folder itself', () => {
  const cwd = process.cwd();
  assert.equal(shownPath(path.join(cwd, 'data', 'base-model')), path.join('data', 'base-model'));
  assert.equal(shownPath('data/base-model'), path.join('data', 'base-model'));
  assert.equal(shownPath(cwd), '.');
  const outside = path.resolve(cwd, '..', 'elsewhere', 'model');
  assert.equal(shownPath(outside), outside);
  assert.equal(shownPath(path.join('..', 'elsewhere', 'model')), outside);
});

test('withFolderLock: processes that find a dead process\'s lock at once take it over one at a time (two could both remove it and both run)', async () => {
  const child = path.join(__dirname, 'fixtures', 'lock-child.ts');
  for (let trial = 0; trial < 4; trial++) {
    const dir = removedAtExit('t2i-lock-');
    fs.writeFileSync(path.join(dir, '.test.lock'), '999999999'); // a pid no process has
    const kids = Array.from({ length: 4 }, () => spawn(process.execPath, ['--import', 'tsx', child, dir], { stdio: 'ignore' }));
    const exited = kids.map((k) => new Promise((r) => k.on('exit', r)));
    // Every child loaded and spinning (each writes ready-<pid>), or the test fails here rather than hangs.
    for (const t0 = Date.now(); fs.readdirSync(dir).filter((f) => f.startsWith('ready-')).length < 4; ) {
      assert.ok(Date.now() - t0 < 60_000 && kids.every((k) => k.exitCode === null), 'a child exited or never got ready');
      await new Promise((r) => setTimeout(r, 20));
    }
    fs.writeFileSync(path.join(dir, 'go'), '');
    await Promise.all(exited);
    const lines = fs.readFileSync(path.join(dir, 'log'), 'utf8').trim().split('\n').map((l) => l.split(' ')[0]);
    assert.equal(lines.length, 5, lines.join(', '));
    // One holder, once; every other refused (none ran beside it, none failed).
    const count = (w: string) => lines.filter((l) => l === w).length;
    assert.deepEqual([count('start'), count('end'), count('refused')], [1, 1, 3], lines.join(', '));
    assert.ok(!fs.existsSync(path.join(dir, '.test.lock')) && !fs.existsSync(path.join(dir, '.test.lock.takeover')), 'nothing left behind');
  }
});

test('withFolderLock: a lock whose pid another process has taken since (its stamp differs) is taken over; the live holder\'s is refused', async () => {
  const dir = removedAtExit('t2i-lock-');
  const lock = path.join(dir, '.test.lock');
  const other = process.ppid; // a live process that is not this one
  const stamp = processStamp(other);
  if (process.platform === 'linux') assert.match(stamp, /^[0-9a-f-]+\/\d+$/, 'Linux gives a boot id and a start time');
  const run = () => withFolderLock(dir, '.test.lock', 'test', async () => fs.readFileSync(lock, 'utf8'));
  for (const held of [String(other), `${other} ${stamp}`, `${other} ${stamp || '-'} ${os.hostname()}`]) {
    fs.writeFileSync(lock, held);
    await assert.rejects(run(), new RegExp(`another test \\(pid ${other}\\) is running in`), held);
  }
  if (stamp) {
    // the pid's process started at another time (or on another boot): the lock's holder is gone
    fs.writeFileSync(lock, `${other} ${stamp.replace(/\d+$/, (t) => String(Number(t) + 1))}`);
    const text = await run();
    assert.equal(text, `${process.pid} ${processStamp(process.pid)} ${os.hostname()}`, 'the lock names this process, its stamp and its host');
    assert.ok(!fs.existsSync(lock));
  }
  // Another host's lock on a shared folder: nothing here tells whether it runs, so it is not taken over (it was
  // judged by a pid of this machine); the refusal names the host and the file to remove if none runs there.
  for (const held of ['999999999 - far-away', `999999999 ${stamp || '-'} far-away`]) {
    fs.writeFileSync(lock, held);
    await assert.rejects(run(), new RegExp(`another test \\(pid 999999999 on host far-away\\) holds .*; wait for it, or, if none runs there, remove .*\\.test\\.lock`));
  }
});

test('processAlive: a zombie (killed, not yet reaped by its parent) is not alive; a running process is', { skip: process.platform !== 'linux' && 'zombies are read from /proc' }, async () => {
  // sh starts a child that exits at once, then becomes `sleep`, which never reaps it: a zombie for 5 s.
  const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const zombie = Number(await new Promise<string>((resolve) => parent.stdout!.once('data', (b: Buffer) => resolve(b.toString()))));
  for (const t0 = Date.now(); !/\) Z /.test(fs.readFileSync(`/proc/${zombie}/stat`, 'utf8')); ) {
    assert.ok(Date.now() - t0 < 3000, 'the child never became a zombie');
    await new Promise((r) => setTimeout(r, 20));
  }
  process.kill(zombie, 0); // signal 0 still finds it
  assert.equal(processAlive(zombie), false);
  assert.equal(processAlive(parent.pid!), true);
  parent.kill();
});

test('withFolderLock: a refused run leaves no folder it made, parents included; a folder that held something before, or gets something, stays', async () => {
  const root = removedAtExit('t2i-lock-tree-');
  const out = path.join(root, 'a', 'b', 'out');
  await assert.rejects(withFolderLock(out, '.test.lock', 'test', async () => { throw new Error('refused before writing'); }), /refused before writing/);
  assert.deepEqual(fs.readdirSync(root), [], 'a, a/b and a/b/out go with the lock');
  await withFolderLock(out, '.test.lock', 'test', async () => fs.writeFileSync(path.join(out, 'result'), 'x'));
  assert.deepEqual(fs.readdirSync(out), ['result'], 'work written: kept, only the lock goes');
  const kept = path.join(root, 'kept');
  fs.mkdirSync(kept);
  await assert.rejects(withFolderLock(path.join(kept, 'new', 'out'), '.test.lock', 'test', async () => { throw new Error('no'); }));
  assert.ok(fs.existsSync(kept) && fs.readdirSync(kept).length === 0, 'a folder that was there before stays');
});
