/**
 * `sweep <name>`: an ablation sweep with several seeds, a table and figures
 * (src/sweep); `worker --queue URL`: a process that takes sweep runs from a
 * BullMQ queue, on any host that sees the sweep folder.
 */
import * as path from 'node:path';
import { Command } from 'commander';
import { initBackend, warnIfSlowPath } from '../engine';
import { availableCores, checkQueue, namedSweep, resolveSweep, runSweep, startQueueWorker, SWEEP_NAMES } from '../sweep';
import { intOption, jsonFileOption, numberOption, outFolderOption } from './options';

export function registerSweep(program: Command): void {
  program
    .command('sweep')
    .description(`an ablation sweep over seeds: results.csv, summary.csv, index.html and PNG figures (resumable: rerun the same command). Named: ${SWEEP_NAMES.join(', ')}`)
    .argument('[name]', `a named sweep: ${SWEEP_NAMES.join(' | ')} (or --config FILE)`)
    .option('--config <file>', 'your own sweep as JSON (the keys of a named sweep; see src/sweep/config.ts)')
    .option('--quick', 'the sweep\'s quick variant: fewer points and seeds, 100 updates, a small evaluation (<= 10 min on 2 cores)')
    .option('--seeds <n>', 'seeds per grid point (default: the sweep\'s)')
    .option('--out <dir>', 'sweep folder (default results/sweeps/<name>[-quick])')
    .option('--workers <n>', `worker processes of the local pool, 0 for this process (default ${defaultWorkers()}; 1 on the tensorflow backend)`)
    .option('--threads <n>', 'native threads per pool worker (default: cores / workers)')
    .option('--queue <url>', 'enqueue the runs on BullMQ at redis://HOST:PORT for `t2i-align worker` processes')
    .option('--no-png', 'skip the PNG export through Chromium')
    .option('--json', 'print the summary rows as JSON')
    .option('--print-config', 'print the named sweep\'s config as JSON (a start for your own --config) and exit')
    .action(async (name: string | undefined, opts: { printConfig?: boolean; config?: string; quick?: boolean; seeds?: string; out?: string; workers?: string; threads?: string; queue?: string; png: boolean; json?: boolean }) => {
      if (name !== undefined && opts.config !== undefined) throw new Error('give a sweep name or --config FILE, not both');
      if (name === undefined && opts.config === undefined) throw new Error(`name a sweep (${SWEEP_NAMES.join(', ')}) or give --config FILE`);
      const input = opts.config !== undefined ? jsonFileOption('--config', opts.config) : namedSweep(name!);
      if (opts.printConfig) return void process.stdout.write(JSON.stringify(input, null, 2) + '\n');
      const s = resolveSweep(input, {
        quick: opts.quick, seeds: opts.seeds !== undefined ? intOption('--seeds', opts.seeds, 1, 20) : undefined,
        source: opts.config ?? `sweep ${name}`,
      });
      const asked = opts.workers !== undefined ? intOption('--workers', opts.workers, 0, 64) : undefined;
      const threads = opts.threads !== undefined ? intOption('--threads', opts.threads, 1, 256) : undefined;
      if (opts.queue !== undefined) await checkQueue(opts.queue); // a bad URL, or no server there, fails before any work
      const out = opts.out ?? path.join('results', 'sweeps', s.name + (s.quick ? '-quick' : ''));
      outFolderOption(out, { files: ['sweep.json'], what: 'sweep' });
      const backend = await initBackend();
      const workers = sweepWorkers(asked, backend.active); // auto may take tensorflow too
      warnIfSlowPath();
      const r = await runSweep(out, s, { workers, threads, queue: opts.queue, png: opts.png, log: (l) => process.stderr.write(`sweep ${s.name}: ${l}\n`) });
      if (opts.json) return void process.stdout.write(JSON.stringify({ dir: out, seconds: r.seconds, ran: r.ran, summary: r.summary, pngs: r.pngs }, null, 2) + '\n');
      console.log(`${out}: ${r.rows.length} rows (${r.ran} runs this time) in ${(r.seconds / 60).toFixed(1)} min`);
      console.log(`  results.csv, summary.csv, index.html${r.pngs.length ? `, figures/ (${r.pngs.map((p) => path.basename(p)).join(', ')})` : ''}`);
    });

  program
    .command('worker')
    .description('take sweep runs from a BullMQ queue until stopped (Ctrl-C); the sweep folder must be visible here at the same path')
    .requiredOption('--queue <url>', 'the queue: redis://HOST:PORT')
    .option('--concurrency <n>', 'runs at once in this process', '1')
    .option('--lock-seconds <s>', 'seconds a silent worker keeps its run before another takes it over', '30')
    .action(async (opts: { queue: string; concurrency: string; lockSeconds: string }) => {
      const concurrency = intOption('--concurrency', opts.concurrency, 1, 64);
      const lockMs = Math.round(1000 * numberOption('--lock-seconds', opts.lockSeconds, 1, 3600));
      await initBackend();
      warnIfSlowPath();
      const log = (l: string) => process.stderr.write(`worker ${process.pid}: ${l}\n`);
      const worker = await startQueueWorker(opts.queue, { concurrency, lockMs, log });
      log(`waiting for runs on ${opts.queue}`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          log('stopping (the run in progress, if any, is finished first)');
          void worker.close().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}

/**
 * Default pool size: one worker per core, one native thread each (the README's measurement: 1.6x one
 * process on 2 cores). On the tensorflow backend the sweep takes one instead: libtensorflow in every
 * worker process would each take the GPU's memory.
 */
export function defaultWorkers(): number {
  return availableCores();
}

/** The pool size: `--workers` when given, else one on the tensorflow backend, else `defaultWorkers()`. */
export function sweepWorkers(asked: number | undefined, backend: string): number {
  return asked ?? (backend === 'tensorflow' ? 1 : defaultWorkers());
}
