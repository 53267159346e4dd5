/**
 * Ablation sweeps: `runSweep` runs every point of a sweep (./config.ts) with
 * several seeds, sharing what the runs share (./run.ts prepareSweep), on this
 * process, a local pool of worker processes (./pool.ts) or a BullMQ queue
 * (./queue.ts), then writes results.csv, summary.csv, index.html and the PNGs
 * (./results.ts). Resumable: a rerun finishes only the missing runs.
 * Call initBackend first.
 */
import { withFolderLock } from '../engine/files';
import { progress as makeProgress, Progress } from '../engine/progress';
import { EvaluateResult } from '../eval/evaluate';
import { ReportFigure } from '../pipeline/report';
import { ResolvedSweep, SweepRun, sweepRuns } from './config';
import { availableCores, createRunPool } from './pool';
import { runOnQueue } from './queue';
import { figureId, exportFigurePngs, SummaryRow, writeSweepResults } from './results';
import { executeRun, prepareSweep, savedRows, snapshotSteps, SweepRow } from './run';

export * from './config';
export * from './run';
export * from './results';
export { createRunPool, availableCores } from './pool';
export { checkQueue, queueConnection, runOnQueue, startQueueWorker, QUEUE_NAME } from './queue';

export interface SweepOptions {
  /** Worker processes of the local pool (0: run in this process). Ignored with `queue`. */
  workers?: number;
  /** Native threads per pool worker (default: a fair share of the cores). */
  threads?: number;
  /** `redis://HOST:PORT`: enqueue the runs for `t2i-align worker` processes instead. */
  queue?: string;
  /** Export the figures as PNGs through Chromium (default true). */
  png?: boolean;
  log?: (line: string) => void;
  progress?: (total: number, label: string) => Progress;
}

export interface SweepResult {
  dir: string;
  sweep: ResolvedSweep;
  rows: SweepRow[];
  summary: SummaryRow[];
  base: EvaluateResult;
  figures: ReportFigure[];
  pngs: string[];
  /** Runs done by this invocation (the others were on disk). */
  ran: number;
  seconds: number;
}

const LOCK = '.sweep.lock';

/** Run (or resume) a sweep in `dir`; one sweep process per folder at a time. */
export async function runSweep(dir: string, s: ResolvedSweep, opts: SweepOptions = {}): Promise<SweepResult> {
  return withFolderLock(dir, LOCK, 'sweep', () => runSweepLocked(dir, s, opts));
}

async function runSweepLocked(dir: string, s: ResolvedSweep, opts: SweepOptions): Promise<SweepResult> {
  const t0 = Date.now();
  const log = opts.log ?? (() => {});
  const { base } = await prepareSweep(dir, s, { log });
  const runs = sweepRuns(s);
  const lacksRows = (r: SweepRun) => savedRows(dir, r).length < snapshotSteps(r.settings).length;
  const missing = runs.filter(lacksRows);
  log(`${runs.length} runs, ${runs.length - missing.length} already done`);
  const bar = (opts.progress ?? makeProgress)(missing.length, `sweep ${s.name}`);
  const finished = (run: SweepRun) => {
    log(`done ${run.key}`);
    bar.tick(1);
  };
  const failures: string[] = [];
  try {
    if (missing.length && opts.queue) {
      await runOnQueue(opts.queue, dir, missing, (run) => finished(run), { log });
    } else if (missing.length && (opts.workers ?? 0) > 0) {
      // Threads from the requested pool size, not from the runs left: the same --workers gives the same numbers on a resume.
      const threads = opts.threads ?? Math.max(1, Math.floor(availableCores() / opts.workers!));
      const pool = createRunPool(Math.min(opts.workers!, missing.length), threads);
      try {
        const settled = await Promise.allSettled(missing.map((r) => pool.run(dir, r, log).then(() => finished(r))));
        settled.forEach((p, i) => p.status === 'rejected' && failures.push(`${missing[i].key}: ${(p.reason as Error)?.message ?? p.reason}`));
      } finally {
        await pool.close();
      }
    } else {
      for (const r of missing) {
        await executeRun(dir, r, { log });
        finished(r);
      }
    }
  } finally {
    bar.done();
  }
  if (failures.length) throw new Error(`${failures.length} run(s) failed (rerun the same command to resume them): ${failures.join('; ')}`);
  const incomplete = runs.filter(lacksRows);
  if (incomplete.length) {
    throw new Error(`${incomplete.length} run(s) ended without all their rows (${incomplete.map((r) => r.key).join(', ')}): rerun the same command to resume them`);
  }
  const rows = runs.flatMap((r) => savedRows(dir, r));
  const { figures, summary } = writeSweepResults(dir, s, rows, base);
  const pngs = opts.png === false ? [] : await exportFigurePngs(dir, s.figures.map((_, k) => figureId(s.name, k)));
  return { dir, sweep: s, rows, summary, base, figures, pngs, ran: missing.length, seconds: (Date.now() - t0) / 1000 };
}
