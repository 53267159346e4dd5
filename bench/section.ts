/**
 * Runs one bench section in this process and prints its JSON on stdout:
 * `node --import tsx bench/section.ts <wasm|cpu|tensorflow|best>`. Each
 * backend gets its own process so that backends, environment switches
 * (T2I_NATIVE) and kernel registrations do not leak between sections.
 */
import { SIZES, benchTfjs } from './tfjs';

/** A bad section name: one line, no stack. */
class UsageError extends Error {}

async function main(name: string): Promise<unknown> {
  if (name === 'finetune') return (await import('./finetune')).benchFinetune();
  if (name === 'sweep') return (await import('./sweep')).benchSweepPool();
  if (name === 'best') {
    // The native-kernel section lives in bench/best.ts (its owner's file).
    const best = (await import('./best')) as { benchBest: () => Promise<unknown> };
    return best.benchBest();
  }
  const sizes = SIZES[name];
  if (!sizes) throw new UsageError(`unknown bench section "${name}"; use one of: ${[...Object.keys(SIZES), 'best', 'finetune', 'sweep'].join(', ')}`);
  const { initBackend } = await import('../src/engine');
  const info = await initBackend(name);
  const out = benchTfjs(sizes, info.threads, info.kitKernels);
  if (name === 'cpu') out.note = 'small sizes and few runs: the cpu backend is ~100x slower than wasm';
  if (name === 'wasm') out.note = 'kit wasm kernels on XNNPACK, native OpenBLAS kernels off (T2I_NATIVE=0); one thread';
  return out;
}

main(process.argv[2] ?? '').then(
  (r) => process.stdout.write(JSON.stringify(r) + '\n'),
  (e) => {
    process.stderr.write(String(e instanceof UsageError ? `bench/section.ts: ${e.message}` : e instanceof Error ? e.stack : e) + '\n');
    process.exit(1);
  },
);
