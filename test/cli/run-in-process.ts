import { buildProgram } from '../../src/cli/main';
import { ExitStatus } from '../../src/cli/errors';
import * as tf from '@tensorflow/tfjs';

/** Run the CLI in this process; returns what it printed on stdout and how it ended (an error as thrown, or an exit status). */
async function capture(args: string[]): Promise<{ stdout: string; status: number; error?: unknown }> {
  const out: string[] = [];
  const log = console.log;
  const write = process.stdout.write.bind(process.stdout);
  console.log = (...a: unknown[]) => void out.push(a.join(' ') + '\n');
  // The test runner's own reports reach stdout as bytes while an async command runs: pass them through.
  process.stdout.write = ((s: string | Uint8Array, ...rest: unknown[]) =>
    typeof s === 'string' ? (out.push(s), true) : (write as (...a: unknown[]) => boolean)(s, ...rest)) as typeof process.stdout.write;
  try {
    await buildProgram().configureOutput({ writeErr: () => {} }).parseAsync(['node', 't2i-align', ...args]);
    return { stdout: out.join(''), status: 0 };
  } catch (e) {
    return { stdout: out.join(''), status: e instanceof ExitStatus ? e.status : 1, error: e };
  } finally {
    console.log = log;
    process.stdout.write = write;
  }
}

/** Run the CLI in this process and return what it printed on stdout; errors reject (as the CLI would print them). */
export async function runCli(...args: string[]): Promise<string> {
  const r = await capture(args);
  if (r.error !== undefined) throw r.error;
  return r.stdout;
}

/**
 * Run the CLI in this process for its exit status: a command that printed its
 * result and ends with a non-zero status (ExitStatus, e.g. `judge` on an image
 * that is not aligned) resolves with it; other errors reject.
 */
export async function runCliStatus(...args: string[]): Promise<{ status: number; stdout: string }> {
  const r = await capture(args);
  if (r.error !== undefined && !(r.error instanceof ExitStatus)) throw r.error;
  return { status: r.status, stdout: r.stdout };
}

/**
 * How many tensors tfjs made while `run` ran: 0 says a command was refused before any work (no model
 * loaded, nothing sampled or trained), where a time bound would only say it was quick.
 */
export async function tensorsMade(run: () => Promise<unknown>): Promise<number> {
  const id = () => {
    const t = tf.scalar(0); // tfjs numbers every tensor it makes, in order
    t.dispose();
    return t.id;
  };
  const before = id();
  await run();
  return id() - before - 1;
}
