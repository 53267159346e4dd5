/**
 * Sweeps beyond one machine, on an existing job queue: BullMQ on Redis. A
 * sweep with `--queue redis://HOST:PORT` prepares its shared data, enqueues
 * one job per missing run and waits; `t2i-align worker --queue ...` processes
 * on any host that sees the sweep folder (a shared file system) take jobs,
 * run them (./run.ts executeRun) and return the rows through the queue.
 *
 * A worker that dies mid-run stops renewing its job's lock; BullMQ's stalled
 * check (in the other workers) puts the job back, and the next worker resumes
 * the run from its last checkpoint in the shared folder, so the CSV is the
 * same as a local run's.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Job, Queue, Worker } from 'bullmq';
import type { SweepRun } from './config';
import { executeRun, savedRows, snapshotSteps, SweepRow } from './run';

export const QUEUE_NAME = 't2i-align-runs';

/** What a job carries: the sweep folder (absolute, as the workers see it) and the run. */
export interface RunJob {
  dir: string;
  run: SweepRun;
}

/** ioredis options from `redis://HOST:PORT[/DB]`; anything else is an error that shows the form. */
export function queueConnection(url: string): { host: string; port: number; db: number; username?: string; password?: string; maxRetriesPerRequest: null } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--queue "${url}" is not a URL; give redis://HOST:PORT, e.g. redis://127.0.0.1:6379`);
  }
  if (u.protocol !== 'redis:') throw new Error(`--queue "${url}": only redis:// queues are supported (BullMQ on Redis), e.g. redis://127.0.0.1:6379`);
  const port = u.port ? Number(u.port) : 6379;
  const db = u.pathname && u.pathname !== '/' ? Number(u.pathname.slice(1)) : 0;
  if (!u.hostname || !Number.isInteger(db) || db < 0) throw new Error(`--queue "${url}": give redis://HOST:PORT[/DB], e.g. redis://127.0.0.1:6379`);
  // redis://[USER]:PASSWORD@HOST: the credentials go to Redis (they were dropped, and an AUTH-protected queue refused).
  const auth = { ...(u.username ? { username: decodeURIComponent(u.username) } : {}), ...(u.password ? { password: decodeURIComponent(u.password) } : {}) };
  return { host: u.hostname, port, db, ...auth, maxRetriesPerRequest: null };
}

/**
 * The job id of a run: the same run of the same sweep folder is one job, however often it is enqueued. The run's
 * settings are in it, so a job an earlier sweep of the folder left queued (other settings, same run name) is
 * another job, never taken for this one.
 */
export function jobId(dir: string, run: SweepRun): string {
  return createHash('sha256').update(`${path.resolve(dir)}\n${run.key}\n${JSON.stringify(run)}`).digest('hex').slice(0, 32);
}

/** Give up on connecting after this long, with a clear error (ioredis would retry for ever). */
const CONNECT_TIMEOUT_MS = 10_000;

/** `p`, or `undefined` when it has not settled within `ms` (Redis away: ioredis waits for it for ever). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function reachable(queue: Queue, url: string): Promise<void> {
  const ready = await within(queue.waitUntilReady().then(() => true), CONNECT_TIMEOUT_MS);
  if (!ready) throw new Error(`cannot reach the queue at ${url} within ${CONNECT_TIMEOUT_MS / 1000} s: is redis-server running there? (start one with: redis-server --port PORT)`);
}

/** Throw (within 10 s) unless the queue at `url` answers: a sweep checks it before its stages, not after. */
export async function checkQueue(url: string): Promise<void> {
  const queue = new Queue<RunJob, SweepRow[]>(QUEUE_NAME, { connection: queueConnection(url) });
  try {
    await reachable(queue, url);
  } finally {
    await queue.close().catch(() => {});
  }
}

export interface QueueWaitOptions {
  /** One line when the queue stops or starts answering, or a run's job is enqueued again. */
  log?: (line: string) => void;
  /** How often each job is asked after (default 5 s). */
  pollMs?: number;
  /**
   * A lost job's run is enqueued again only when nothing in its folder was written for this long (default
   * 10 min): the worker that had it may still be running it (a worker is not stopped when its job is lost),
   * and two on one run folder would race.
   */
  quietMs?: number;
}

/**
 * Milliseconds since anything under `dir` was last written (Infinity when it does not exist). A file or folder
 * that goes between listing and reading (a checkpoint's temporary file renamed, old weights removed) is a write
 * just now: someone is still at work there.
 */
export function quietFor(dir: string): number {
  let newest = -Infinity;
  const gone = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch (e) {
      if (!gone(e)) throw e;
      newest = Date.now();
      return;
    }
    for (const e of entries) {
      const f = path.join(d, e.name);
      try {
        newest = Math.max(newest, fs.statSync(f).mtimeMs);
      } catch (err) {
        if (!gone(err)) throw err;
        newest = Date.now();
        continue;
      }
      if (e.isDirectory()) walk(f);
    }
  };
  if (!fs.existsSync(dir)) return Infinity;
  walk(dir);
  return Date.now() - newest;
}

/**
 * Enqueue the runs of a prepared sweep folder and wait for their rows, asking after each job every few seconds.
 * `onDone` is called as each finishes. A job that is gone (Redis restarted without its data) is settled by the
 * folder: the run's rows on disk when a worker wrote them all, else the job is enqueued again. While the queue
 * does not answer the wait goes on, said once. Runs that fail (after their attempts) are named together at the
 * end, after the others have finished.
 */
export async function runOnQueue(
  url: string, dir: string, runs: readonly SweepRun[], onDone: (run: SweepRun, rows: SweepRow[]) => void, opts: QueueWaitOptions = {},
): Promise<void> {
  const log = opts.log ?? (() => {});
  const pollMs = opts.pollMs ?? 5000;
  const quietMs = opts.quietMs ?? 600_000;
  const waitingOn = new Set<string>();
  const queue = new Queue<RunJob, SweepRow[]>(QUEUE_NAME, { connection: queueConnection(url) });
  try {
    await reachable(queue, url);
    const abs = path.resolve(dir);
    const enqueue = async (run: SweepRun) => {
      // A job of an earlier sweep of this folder would be found again: failed, or completed with rows that are no
      // longer on disk (the run was missing, so it is asked for again). Start it afresh; one still queued or running
      // (another sweep process's) is waited for.
      const old = await queue.getJob(jobId(abs, run));
      if (old && ['completed', 'failed'].includes(await old.getState())) await old.remove();
      await queue.add('run', { dir: abs, run }, { jobId: jobId(abs, run), attempts: 2, removeOnComplete: false, removeOnFail: false });
    };
    for (const run of runs) await enqueue(run);
    const pending = new Set(runs);
    const failures: string[] = [];
    let away = false;
    while (pending.size > 0) {
      for (const run of [...pending]) {
        const asked = await within((async () => {
          const job = await queue.getJob(jobId(abs, run));
          return { job, state: job ? await job.getState() : 'gone' };
        })(), CONNECT_TIMEOUT_MS);
        if (!asked) {
          if (!away) log(`the queue at ${url} does not answer; waiting for it (workers write each run's rows to the folder)`);
          away = true;
          break;
        }
        if (away) log(`the queue at ${url} answers again`);
        away = false;
        const { job, state } = asked;
        if (state === 'completed') {
          pending.delete(run);
          onDone(run, job!.returnvalue);
          await job!.remove().catch(() => {}); // its rows are on disk; a later sweep of the folder enqueues afresh
        } else if (state === 'failed') {
          pending.delete(run);
          failures.push(`${run.key}: ${job!.failedReason}`);
        } else if (state === 'gone') {
          const rows = savedRows(abs, run);
          const quiet = () => quietFor(path.join(abs, 'runs', run.key)); // walks the run's folder: only when its rows are not all there
          if (rows.length === snapshotSteps(run.settings).length) {
            pending.delete(run);
            onDone(run, rows);
          } else if (quiet() < quietMs) {
            if (!waitingOn.has(run.key)) log(`${run.key}: its job is no longer in the queue (did Redis restart without its data?); its folder was written ${Math.round(quiet() / 1000)} s ago, so a worker may still run it: enqueued again once it is ${quietMs / 1000} s quiet`);
            waitingOn.add(run.key);
          } else {
            log(`${run.key}: its job is no longer in the queue (did Redis restart without its data?); enqueued again`);
            waitingOn.delete(run.key);
            await enqueue(run);
          }
        }
      }
      if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
    if (failures.length) throw new Error(`${failures.length} run(s) failed on the queue's workers (rerun the same command to resume them): ${failures.join('; ')}`);
  } finally {
    await queue.close();
  }
}

export interface QueueWorkerOptions {
  /** Runs at once in this process (default 1). */
  concurrency?: number;
  /** How long a job stays locked without renewal before another worker may take it (default 30 s). */
  lockMs?: number;
  log?: (line: string) => void;
}

/** Take runs from the queue until closed (SIGINT / SIGTERM in the CLI). */
export async function startQueueWorker(url: string, opts: QueueWorkerOptions = {}): Promise<Worker<RunJob, SweepRow[]>> {
  const connection = queueConnection(url);
  const log = opts.log ?? (() => {});
  const probe = new Queue(QUEUE_NAME, { connection });
  try {
    await reachable(probe, url);
  } finally {
    await probe.close();
  }
  const lockDuration = opts.lockMs ?? 30_000;
  const worker = new Worker<RunJob, SweepRow[]>(
    QUEUE_NAME,
    async (job: Job<RunJob, SweepRow[]>) => {
      log(`started ${job.data.run.key} (${job.data.dir})`);
      const rows = await executeRun(job.data.dir, job.data.run, { log });
      log(`finished ${job.data.run.key}`);
      return rows;
    },
    { connection, concurrency: opts.concurrency ?? 1, lockDuration, stalledInterval: Math.max(1000, Math.round(lockDuration / 2)), maxStalledCount: 2 },
  );
  worker.on('failed', (job, err) => log(`failed ${job?.data.run.key ?? '?'}: ${err.message}`));
  await worker.waitUntilReady();
  return worker;
}
