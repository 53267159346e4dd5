/**
 * The kit's environment variables, checked by every command before it runs
 * (a preAction hook in main.ts): a bad value, or a T2I_* name the kit does not
 * know (a typo), is a one-line error naming the variable, its value and what
 * is allowed, rather than a silent default.
 */
import * as fs from 'node:fs';
import { parseBackendChoice } from '../engine/backend';

const OFF = ['0', 'off', 'false', 'no'];
const ON = ['1', 'on', 'true', 'yes'];
/** Most native threads accepted (more than any machine here has cores). */
export const MAX_NATIVE_THREADS = 1024;

interface EnvVar {
  /** What it does, for the error line. */
  about: string;
  /**
   * What is wrong with a value, and what is allowed (undefined when it is
   * fine); a message that starts with the variable's name is used as is.
   * Never called with an unset or empty value.
   */
  check?: (value: string) => string | undefined;
}

const oneOf = (allowed: readonly string[], what: string) => (v: string) =>
  allowed.includes(v.trim().toLowerCase()) ? undefined : `use one of: ${allowed.join(', ')}${what}`;

/** Every T2I_* variable the kit reads. Those without a check are not read by the CLI (notebooks, tests). */
export const ENV_VARS: Record<string, EnvVar> = {
  T2I_BACKEND: {
    about: 'the tfjs backend',
    check: (v) => {
      try {
        parseBackendChoice(v);
        return undefined;
      } catch (e) {
        return (e as Error).message; // already the whole line, as initBackend says it
      }
    },
  },
  T2I_NATIVE: { about: 'the native kernels', check: oneOf([...OFF, ...ON], ` (${OFF.join('/')} turns the native kernels off; ${ON.join('/')} or unset uses them when built)`) },
  T2I_NATIVE_THREADS: {
    about: 'threads of the native kernels',
    check: (v) => (/^\d+$/.test(v.trim()) && Number(v) >= 1 && Number(v) <= MAX_NATIVE_THREADS ? undefined : `use a whole number in 1..${MAX_NATIVE_THREADS} (unset: all cores)`),
  },
  T2I_POOL_SPIN_US: {
    about: "how long the native kernels' idle threads spin before they sleep",
    check: (v) => (/^\d+$/.test(v.trim()) && Number(v) <= 1_000_000 ? undefined : 'use a whole number of microseconds in 0..1000000 (unset: 200)'),
  },
  T2I_NATIVE_ADDON: {
    about: 'the native addon file',
    check: (v) => (fs.existsSync(v) && !fs.statSync(v).isFile() ? 'it is a folder; give the path of t2i_native.node (a missing file falls back to the plain wasm kernels)' : undefined),
  },
  T2I_PROGRESS: { about: 'progress bars', check: oneOf(['0', '1'], ' (0 silences progress; 1 or unset shows it)') },
  T2I_DEBUG: { about: 'stack traces of errors', check: oneOf(['0', '1'], ' (1 prints the stack trace after the one-line error)') },
  T2I_QUICK: { about: 'smoke mode of the notebooks' },
  T2I_MODEL: { about: 'the model notebook 02 uses' },
  T2I_RUN: { about: 'the reproduce run notebook 05 reads' },
  T2I_SWEEPS: { about: 'the folder of sweeps notebook 06 reads' },
  T2I_ALLOW_NO_NATIVE: { about: 'tests: allow skipping the native kernels (npm test -- --no-native)' },
  T2I_UPDATE_DOCS: { about: 'tests: refresh the screenshots in docs/' },
};

/** Edit distance of two short strings (for "did you mean"). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

/**
 * Check every T2I_* variable of `env`; throws one line naming the first bad
 * one, its value and the allowed ones. Unset and empty variables take their
 * defaults.
 */
export function checkEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  for (const [name, value] of Object.entries(env).sort(([a], [b]) => a.localeCompare(b))) {
    if (!name.startsWith('T2I_') || value === undefined) continue;
    const known = ENV_VARS[name];
    if (!known) {
      const names = Object.keys(ENV_VARS);
      const near = names.filter((k) => distance(k, name) <= 2);
      const hint = near.length ? `did you mean ${near.join(' or ')}? ` : '';
      throw new Error(`${name} is not a variable of t2i-align (${hint}known: ${names.join(', ')}); unset it`);
    }
    if (value.trim() === '' || !known.check) continue;
    const why = known.check(value);
    if (why) throw new Error(why.startsWith(name) ? why : `${name}="${value}" is not allowed for ${known.about}; ${why}`);
  }
}
