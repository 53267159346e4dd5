import { Command } from 'commander';
import { initBackend, nativeStatus } from '../engine';
import { KIT_VERSION } from '../version';

/** `t2i-align info [--json]`: kit version, active backend, loadable backends, threads. */
export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('print the kit version, the active tfjs backend, the backends that could load, and training threads')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }) => {
      const b = await initBackend();
      const native = nativeStatus();
      // Training threads: the native kernels' pool when active, else the backend's own.
      const threads = b.active === 'wasm' && native.active ? native.threads : b.threads;
      const info = {
        version: KIT_VERSION,
        node: process.version,
        backend: b.active,
        requested: b.requested,
        backends: b.probes,
        loadable: b.probes.filter((p) => p.available).map((p) => p.name),
        threads,
        cores: b.cores,
        kitKernels: b.kitKernels,
        native,
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
      const n = native;
      console.log(`native:   ${n.active ? `active, ${n.threads} threads, ${n.library}` : `inactive: ${n.reason}`}`);
    });
}
