/**
 * The sweep pool: the same runs of a small sweep (4 beta values, 60
 * fine-tuning updates, a small evaluation), timed three ways on this machine
 * after one shared preparation:
 *   inline  one after another in this process, native kernels on all cores;
 *   pool    C worker processes (C = cores) with 1 native thread each;
 *   pool1   one worker process with all cores (the default pool on 2 cores).
 * Reported: wall seconds of each, and inline / pool (> 1: the pool is faster).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../src/engine';
import { availableCores, createRunPool, executeRun, prepareSweep, resolveSweep, sweepRuns } from '../src/sweep';
import { round } from './timing';

const CONFIG = {
  name: 'bench-pool', question: 'How fast do the runs go?',
  settings: { labels: 1, raters: 1, unlabelled: 1, steps: 60, snapshots: 1 },
  grid: { beta: [0, 0.5, 1, 2] }, seeds: 1, eval: { promptsPerCategory: 2, perPrompt: 2 }, feedbackPromptsPerCategory: 4,
  figures: [{ title: 'unused', x: 'beta', y: ['overall'] }],
};

/** A copy of the prepared sweep folder without its runs (each mode starts from the same state). */
function fresh(prepared: string, tag: string): string {
  const dir = `${prepared}-${tag}`;
  fs.cpSync(prepared, dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}runs`) });
  return dir;
}

export async function benchSweepPool(): Promise<Record<string, unknown>> {
  await initBackend();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 't2i-bench-sweep-'));
  try {
    const s = resolveSweep(CONFIG);
    const prepared = path.join(root, 'sweep');
    await prepareSweep(prepared, s);
    const runs = sweepRuns(s);
    const cores = availableCores();
    const time = async (f: () => Promise<unknown>) => {
      const t = performance.now();
      await f();
      return (performance.now() - t) / 1000;
    };
    const inlineDir = fresh(prepared, 'inline');
    const inline = await time(async () => {
      for (const r of runs) await executeRun(inlineDir, r);
    });
    const poolOf = async (workers: number, threads: number, tag: string) => {
      const dir = fresh(prepared, tag);
      const pool = createRunPool(workers, threads);
      try {
        return await time(() => Promise.all(runs.map((r) => pool.run(dir, r))));
      } finally {
        await pool.close();
      }
    };
    const pool = await poolOf(cores, 1, 'pool');
    const pool1 = await poolOf(1, cores, 'pool1');
    return {
      runs: runs.length, updatesPerRun: CONFIG.settings.steps, cores,
      inlineSeconds: round(inline, 1), poolSeconds: round(pool, 1), pool1Seconds: round(pool1, 1),
      inlineOverPool: round(inline / pool, 2), inlineOverPool1: round(inline / pool1, 2),
    };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
