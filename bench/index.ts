/**
 * `npm run bench [-- --json] [-- --only native,wasm,...]`: GFLOP/s of the
 * kit's compute paths next to a native yardstick.
 *
 * Sections (each an exported function; add one to SECTIONS):
 *   native      numpy sgemm 1024 on OpenBLAS, 1 thread and all cores (bench/native.ts)
 *   wasm, cpu, tensorflow
 *               matmul / conv forward and training step per backend (bench/tfjs.ts),
 *               each in its own process (bench/section.ts); tensorflow only when loadable
 *   best        the fastest path the kit trains on here (bench/best.ts)
 *   finetune    reward-weighted fine-tuning updates per second (bench/finetune.ts)
 *   sweep       a sweep's runs inline vs a pool of worker processes (bench/sweep.ts)
 *
 * With --json, stdout gets one JSON object ({"native": {"sgemm1": ..}, "wasm":
 * {"matmulTrain": ..}, ...}), also written to results/bench.json (npm prints
 * its own banner on stdout unless run as `npm run -s bench`); progress goes to
 * stderr. Without it, a table.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { benchNative } from './native';
import { round } from './timing';

export type SectionResult = Record<string, unknown>;

/** Run `bench/section.ts <name>` in a child process (with extra env) and parse its JSON. */
export function runSectionProcess(name: string, env: Record<string, string> = {}, timeoutMs = 150_000): SectionResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'section.ts'), name], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: timeoutMs,
    maxBuffer: 16 << 20,
  });
  if (r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr || '').trim().split('\n').filter((l) => l.trim()).slice(-3).join(' | ');
    return { error: `section ${name} failed (exit ${r.status ?? r.signal}): ${why}` };
  }
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as SectionResult;
}

function tensorflowLoadable(): { ok: boolean; reason?: string } {
  // Probe in this process without activating anything (same check initBackend makes).
  const { probeBackends } = require('../src/engine/backend') as typeof import('../src/engine/backend');
  const p = probeBackends().find((b) => b.name === 'tensorflow')!;
  return p.available ? { ok: true } : { ok: false, reason: p.reason };
}

/** Each section: a name and a function that returns its JSON. */
export const SECTIONS: { name: string; run: () => SectionResult }[] = [
  { name: 'native', run: () => ({ ...benchNative() }) },
  { name: 'wasm', run: () => runSectionProcess('wasm', { T2I_NATIVE: '0' }) },
  { name: 'cpu', run: () => runSectionProcess('cpu') },
  {
    name: 'tensorflow',
    run: () => {
      const t = tensorflowLoadable();
      return t.ok ? runSectionProcess('tensorflow') : { skipped: true, reason: t.reason };
    },
  },
  {
    name: 'best',
    run: () =>
      fs.existsSync(path.join(__dirname, 'best.ts')) ? runSectionProcess('best') : { skipped: true, reason: 'bench/best.ts is missing' },
  },
  // Reward-weighted fine-tuning updates per second (bench/finetune.ts).
  { name: 'finetune', run: () => runSectionProcess('finetune') },
  // A sweep's runs in one process vs a pool of worker processes (bench/sweep.ts).
  { name: 'sweep', run: () => runSectionProcess('sweep', {}, 1_200_000) },
  // The default denoiser vs the same UNet in PyTorch CPU (bench/parity.ts; skipped without python3-torch).
  { name: 'parity', run: () => (require('./parity') as typeof import('./parity')).benchParity() },
];

function table(result: Record<string, unknown>): string {
  const rows: string[][] = [['section', 'metric', 'value']];
  const walk = (prefix: string, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, x);
    else rows.push([prefix.split('.')[0], prefix.split('.').slice(1).join('.'), Array.isArray(v) ? v.join(', ') : String(v)]);
  };
  walk('', result);
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(w[i])).join('  ')).join('\n');
}

/** The flags, checked before any section runs: a typo must not overwrite results/bench.json with an empty run. */
export function benchArgs(argv: string[]): { json: boolean; only?: string[] } {
  let values: { json?: boolean; only?: string };
  try {
    // `npm run bench -- --json -- --only x` hands the script a bare `--` too: drop them.
    ({ values } = parseArgs({ args: argv.filter((a) => a !== '--'), options: { json: { type: 'boolean' }, only: { type: 'string' } }, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new Error(`${(e as Error).message.split('\n')[0]} (usage: npm run bench -- [--json] [--only ${SECTIONS.map((s) => s.name).join(',')}])`);
  }
  const only = values.only?.split(',').map((s) => s.trim());
  const unknown = only?.filter((n) => !SECTIONS.some((s) => s.name === n)) ?? [];
  if (only && (unknown.length || only.length === 0)) throw new Error(`--only: unknown section${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `"${n}"`).join(', ')}; the sections are ${SECTIONS.map((s) => s.name).join(', ')}`);
  return { json: values.json ?? false, only };
}

export async function main(argv: string[]): Promise<Record<string, unknown>> {
  const { json, only } = benchArgs(argv);
  const t0 = performance.now();
  const result: Record<string, unknown> = {
    machine: {
      cpus: os.availableParallelism(),
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memGiB: round(os.totalmem() / 2 ** 30, 1),
      node: process.version,
      platform: `${os.platform()} ${os.arch()}`,
    },
    units: 'GFLOP/s unless named ms',
  };
  for (const s of SECTIONS) {
    if (only && !only.includes(s.name)) continue;
    const t = performance.now();
    process.stderr.write(`bench: ${s.name} ...`);
    try {
      result[s.name] = s.run();
    } catch (e) {
      result[s.name] = { error: String(e instanceof Error ? e.message : e) };
    }
    process.stderr.write(` ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
  }
  result.wallSeconds = round((performance.now() - t0) / 1000, 1);
  if (json) {
    const text = JSON.stringify(result, null, 2) + '\n';
    const out = path.join(__dirname, '..', 'results', 'bench.json');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, text);
    process.stdout.write(text);
    process.stderr.write(`bench: written to ${path.relative(process.cwd(), out)}\n`);
  } else {
    process.stdout.write(table(result) + '\n');
  }
  // Say at the end which sections gave no numbers (a skipped parity section has no ratios), and fail on an error.
  const sections = SECTIONS.map((s) => [s.name, result[s.name]] as const).filter(([, v]) => v && typeof v === 'object');
  for (const [name, v] of sections) {
    const r = v as { skipped?: boolean; reason?: string; error?: string };
    if (r.skipped) process.stderr.write(`bench: ${name} skipped: ${r.reason}\n`);
    if (r.error) process.stderr.write(`bench: ${name} failed: ${r.error}\n`);
  }
  if (sections.some(([, v]) => (v as { error?: string }).error)) process.exitCode = 1;
  return result;
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`bench: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
