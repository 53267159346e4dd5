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
import * as path from 'node:path';
import { Job, Queue, QueueEvents, Worker } from 'bullmq';
import type { SweepRun } from './config';
import { executeRun, SweepRow } from './run';

export const QUEUE_NAME = 't2i-align-runs';

/** What a job carries: the sweep folder (absolute, as the workers see it) and the run. */
export interface RunJob {
  dir: string;
  run: SweepRun;
}

/** ioredis options from `redis://HOST:PORT[/DB]`; anything else is an error that shows the form. */
export function queueConnection(url: string): { host: string; port: number; db: number; maxRetriesPerRequest: null } {
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
  return { host: u.hostname, port, db, maxRetriesPerRequest: null };
}

/** The job id of a run: the same run of the same sweep folder is one job, however often it is enqueued. */
export function jobId(dir: string, run: SweepRun): string {
  return createHash('sha256').update(`${path.resolve(dir)}\n${run.key}`).digest('hex').slice(0, 32);
}

/** Give up on connecting after this long, with a clear error (ioredis would retry for ever). */
const CONNECT_TIMEOUT_MS = 10_000;

async function reachable(queue: Queue, url: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`cannot reach the queue at ${url} within ${CONNECT_TIMEOUT_MS / 1000} s: is redis-server running there? (start one with: redis-server --port PORT)`)), CONNECT_TIMEOUT_MS);
  });
  try {
    await Promise.race([queue.waitUntilReady(), timeout]);
  } finally {
    clearTimeout(timer);
  }
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

/**
 * Enqueue the runs of a prepared sweep folder and wait for their rows.
 * `onDone` is called as each finishes. A failed run (after its attempts) rejects.
 */
export async function runOnQueue(url: string, dir: string, runs: readonly SweepRun[], onDone: (run: SweepRun, rows: SweepRow[]) => void): Promise<void> {
  const connection = queueConnection(url);
  const queue = new Queue<RunJob, SweepRow[]>(QUEUE_NAME, { connection });
  const events = new QueueEvents(QUEUE_NAME, { connection });
  try {
    await reachable(queue, url);
    await events.waitUntilReady();
    const abs = path.resolve(dir);
    const jobs = await Promise.all(runs.map(async (run) => {
      // A job of an earlier sweep of this folder would be found again: failed, or completed with rows that are no
      // longer on disk (the run was missing, so it is asked for again). Start it afresh; one still queued or running
      // (another sweep process's) is waited for.
      const old = await queue.getJob(jobId(abs, run));
      if (old && ['completed', 'failed'].includes(await old.getState())) await old.remove();
      return queue.add('run', { dir: abs, run }, { jobId: jobId(abs, run), attempts: 2, removeOnComplete: false, removeOnFail: false });
    }));
    await Promise.all(jobs.map(async (job, i) => {
      const rows = (await job.waitUntilFinished(events)) as SweepRow[];
      onDone(runs[i], rows);
    }));
    // Finished jobs are not needed once their rows are on disk; a later sweep of the same folder enqueues afresh.
    await Promise.all(jobs.map((j) => j.remove().catch(() => {})));
  } finally {
    await events.close();
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
