import { buildProgram } from '../../src/cli/main';

/** Run the CLI in this process and return what it printed on stdout; errors reject (as the CLI would print them). */
export async function runCli(...args: string[]): Promise<string> {
  const out: string[] = [];
  const log = console.log;
  const write = process.stdout.write.bind(process.stdout);
  console.log = (...a: unknown[]) => void out.push(a.join(' ') + '\n');
  // The test runner's own reports reach stdout as bytes while an async command runs: pass them through.
  process.stdout.write = ((s: string | Uint8Array, ...rest: unknown[]) =>
    typeof s === 'string' ? (out.push(s), true) : (write as (...a: unknown[]) => boolean)(s, ...rest)) as typeof process.stdout.write;
  try {
    await buildProgram().configureOutput({ writeErr: () => {} }).parseAsync(['node', 't2i-align', ...args]);
  } finally {
    console.log = log;
    process.stdout.write = write;
  }
  return out.join('');
}
