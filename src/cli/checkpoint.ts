import { Command } from 'commander';
import * as tf from '@tensorflow/tfjs';
import { initBackend, loadCheckpoint, readCheckpointIndex } from '../engine';

/** `t2i-align checkpoint DIR [--json]`: verify a checkpoint (specs, size, hash) and print its meta and tensors. */
export function registerCheckpoint(program: Command): void {
  program
    .command('checkpoint')
    .description('verify a checkpoint folder (its tensor specs against the weights\' size, and their sha256) and print its meta and tensors')
    .argument('<dir>', 'checkpoint folder (holds checkpoint.json)')
    .option('--json', 'print one JSON object')
    .action(async (dir: string, opts: { json?: boolean }) => {
      await initBackend();
      const index = readCheckpointIndex(dir);
      const { tensors } = await loadCheckpoint(dir);
      tf.dispose(Object.values(tensors));
      const summary = {
        dir,
        ok: true,
        savedAt: index.savedAt,
        bytes: index.byteLength,
        sha256: index.sha256,
        tensors: index.specs.map((s) => ({ name: s.name, shape: s.shape, dtype: s.dtype })),
        meta: index.meta,
      };
      if (opts.json) {
        process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
        return;
      }
      console.log(`${dir}: ok, ${summary.tensors.length} tensors, ${summary.bytes} bytes, saved ${summary.savedAt}`);
      for (const t of summary.tensors) console.log(`  ${t.name} [${t.shape.join(', ')}] ${t.dtype}`);
    });
}
