import { Command } from 'commander';
import { initBackend } from '../engine';
import { KIT_VERSION } from '../version';

/** `t2i-align info [--json]`: kit version, active backend, loadable backends, threads. */
export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('print the kit version, the active tfjs backend, the backends that could load, and training threads')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }) => {
      const b = await initBackend();
      const info = {
        version: KIT_VERSION,
        node: process.version,
        backend: b.active,
        requested: b.requested,
        backends: b.probes,
        loadable: b.probes.filter((p) => p.available).map((p) => p.name),
        threads: b.threads,
        cores: b.cores,
        kitKernels: b.kitKernels,
      };
      if (opts.json) {
        process.stdout.write(JSON.stringify(info, null, 2) + '\n');
        return;
      }
      console.log(`t2i-align ${info.version} (node ${info.node})`);
      console.log(`backend:  ${info.backend} (requested: ${info.requested})`);
      for (const p of info.backends) console.log(`  ${p.available ? '+' : '-'} ${p.name.padEnd(10)} ${p.package ?? p.reason}`);
      console.log(`threads:  ${info.threads} of ${info.cores} cores`);
      console.log(`kit kernels: ${info.kitKernels.join(', ') || 'none'}`);
    });
}
