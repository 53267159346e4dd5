/**
 * The local pool: a sweep's independent runs on worker processes (workerpool,
 * child processes, so each has its own tfjs backend and native thread pool).
 * With W workers on C cores each gets max(1, floor(C / W)) native threads.
 * A worker that dies fails its run's promise; the sweep reports it and a
 * rerun resumes the run from its last checkpoint.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import * as workerpool from 'workerpool';
import type { SweepRun } from './config';
import type { SweepRow } from './run';

/** Cores this process may use. */
export function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** The worker script and how to start it: the compiled .js, or the .ts source through tsx (tests run from src/). */
function workerScript(): { file: string; execArgv: string[] } {
  const js = path.join(__dirname, 'poolWorker.js');
  if (fs.existsSync(js)) return { file: js, execArgv: [] };
  return { file: path.join(__dirname, 'poolWorker.ts'), execArgv: ['--import', 'tsx'] };
}

export interface RunPool {
  run(dir: string, run: SweepRun, onLine?: (line: string) => void): Promise<SweepRow[]>;
  close(): Promise<void>;
}

/** A pool of `workers` processes, each with `threads` native threads (default: a fair share of the cores). */
export function createRunPool(workers: number, threads = Math.max(1, Math.floor(availableCores() / workers))): RunPool {
  const { file, execArgv } = workerScript();
  const pool = workerpool.pool(file, {
    workerType: 'process', maxWorkers: workers, minWorkers: 0,
    forkOpts: { execArgv, env: { ...process.env, T2I_NATIVE_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), T2I_PROGRESS: '0' } },
  });
  // A sweep stopped with Ctrl-C or a kill signal takes its workers with it: left, each trained on to its next
  // update holding its run's folder lock, and a rerun started at once was refused ("another finetune is running").
  const onSignal = (signal: NodeJS.Signals) => {
    void pool.terminate(true).finally(() => process.kill(process.pid, signal));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    run: (dir, run, onLine) => pool.exec('run', [path.resolve(dir), run], { on: (p: { line?: string }) => p.line && onLine?.(p.line) }) as unknown as Promise<SweepRow[]>,
    close: async () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await pool.terminate();
    },
  };
}
