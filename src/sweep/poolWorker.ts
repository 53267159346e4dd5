/**
 * A worker process of the local pool (./pool.ts): it initialises its backend
 * once (with the thread count the pool gave it in T2I_NATIVE_THREADS) and
 * runs sweep runs as they come, sending progress lines back to the pool.
 */
import * as workerpool from 'workerpool';
import { initBackend } from '../engine';
import { executeRun } from './run';
import type { SweepRun } from './config';

let ready: Promise<unknown> | undefined;

workerpool.worker({
  async run(dir: string, run: SweepRun) {
    ready ??= initBackend();
    await ready;
    return executeRun(dir, run, { log: (line) => workerpool.workerEmit({ line }) });
  },
});
