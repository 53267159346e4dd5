/** Parsers for CLI option values: each error names the option, the allowed range and the bad value. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import type { SamplerConfig } from '../models/config';

/**
 * Refuse, before any work, an `--out` folder that is a file (the results would fail to save only
 * at the end). With `holds` (the files this command's results folder has, e.g. ['base-eval.json'])
 * also a folder of other files (a dataset, a model): it is written only when new, empty, holding
 * one of them (an earlier run of the command), or holding only what an interrupted run leaves
 * (`leftovers`, e.g. the grids eval-base writes before its JSON).
 */
export function outFolderOption(out: string | undefined, holds?: { files: readonly string[]; what: string; leftovers?: RegExp }, name = '--out'): void {
  if (out === undefined || !fs.existsSync(out)) return;
  if (!fs.statSync(out).isDirectory()) throw new Error(`${name} ${out} is a file, not a folder (give a folder)`);
  if (!holds || holds.files.some((f) => fs.existsSync(path.join(out, f)))) return;
  const entries = fs.readdirSync(out).filter((f) => !f.startsWith('.'));
  if (holds.leftovers && entries.every((f) => holds.leftovers!.test(f))) return;
  if (entries.length > 0) {
    if (!holds.files.length) throw new Error(`${name} ${out} holds files: a ${holds.what} needs a new or empty folder`);
    throw new Error(`${name} ${out} holds files but no ${holds.what} (${holds.files.join(' or ')}): give a new or empty folder, or the folder of an earlier ${holds.what}`);
  }
}

/**
 * Files the kit keeps its data in (a dataset's manifest and label store, a checkpoint, a run's records):
 * an `--out` file never replaces one, whatever the command (a table written over a manifest loses the dataset).
 */
const KEPT_FILES: ReadonlyArray<[RegExp, string]> = [
  [/^manifest\.jsonl$/, "a dataset's manifest"],
  [/^dataset\.json$/, "a dataset's description"],
  [/^labels\.sqlite(-wal|-shm|-journal)?$/, 'a label store'],
  [/^checkpoint\.json$/, "a model's checkpoint"],
  [/^weights(-[0-9a-f]+)?\.bin$/, "a model's weights"],
  [/^(finetune|sweep|config|timing)\.json$/, "a run's record"],
  [/^(losses|progress)\.jsonl$/, "a run's log"],
];

/**
 * Refuse, before any work, an `--out` file that is a folder, or an existing file the kit keeps data in
 * (KEPT_FILES); any other existing file is replaced, as an output of an earlier run would be.
 * `also`: the other files the command writes beside it (e.g. the markdown table beside a JSON), checked alike.
 */
export function outFileOption(out: string | undefined, name = '--out', also: readonly string[] = []): void {
  if (out === undefined) return;
  for (const f of [out, ...also]) {
    if (!fs.existsSync(f)) continue;
    const what = f === out ? `${name} ${out} is` : `${name} ${out} also writes ${f}, which is`;
    if (fs.statSync(f).isDirectory()) throw new Error(`${what} a folder, where a file is expected (give a file path)`);
    const kept = KEPT_FILES.find(([re]) => re.test(path.basename(f)));
    if (kept) throw new Error(`${what} ${kept[1]}, not an output to replace: give another file name`);
  }
}

/** An integer in [lo, hi]. */
export function intOption(name: string, value: string, lo: number, hi: number): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < lo || n > hi) {
    throw new Error(`${name} must be an integer in ${lo}..${hi}, got "${value}"`);
  }
  return n;
}

/** Comma-separated numbers, each in [lo, hi]. */
export function numberListOption(name: string, value: string, lo: number, hi: number): number[] {
  const xs = value.split(',').map((v) => (DECIMAL.test(v.trim()) ? Number(v.trim()) : NaN));
  if (xs.some((x) => !Number.isFinite(x) || x < lo || x > hi)) {
    throw new Error(`${name} must be comma-separated numbers in ${lo}..${hi}, got "${value}"`);
  }
  return xs;
}

/** Comma-separated names, each one of `allowed` (no repeats). */
export function choiceListOption<T extends string>(name: string, value: string, allowed: readonly T[]): T[] {
  const xs = value.split(',').map((v) => v.trim());
  const bad = xs.find((x) => !(allowed as readonly string[]).includes(x));
  if (bad !== undefined || new Set(xs).size !== xs.length) {
    throw new Error(`${name} must be comma-separated names from ${allowed.join(', ')} (each once), got "${value}"`);
  }
  return xs as T[];
}

/** A decimal number as written ("2.5", "-1", "1e-4"); Number() alone also takes "", " ", "0x10" and "0b11". */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A classifier-free guidance scale: a number in 0..100 (`--guidance`). */
export function guidanceOption(v: string): number {
  return numberOption('--guidance', v, 0, 100);
}

/** A decimal number in [lo, hi]. */
export function numberOption(name: string, value: string, lo: number, hi: number): number {
  const x = Number(value);
  if (!DECIMAL.test(value.trim()) || !Number.isFinite(x) || x < lo || x > hi) throw new Error(`${name} must be a number in ${lo}..${hi}, got "${value}"`);
  return x;
}

/** Commander's collector for a repeatable option (`--data A --data B`). */
export const repeatable = (value: string, previous: string[]): string[] => [...previous, value];

/** The JSON object in the file of a `--config` option (e.g. preset overrides); errors name the option and the file. */
export function jsonFileOption(name: string, file: string): Record<string, unknown> {
  let v: unknown;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${name} ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a folder, not a JSON file' : (e as Error).message}`);
  }
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${name} ${file}: not valid JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${name} ${file}: must be a JSON object of settings, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
  return v as Record<string, unknown>;
}

/** The sampler options shared by the commands that sample (generate, eval-base, ship-base-model). */
export interface SamplerFlags {
  guidance?: string;
  steps?: string;
  eta?: string;
  guidanceInterval?: string;
}

/** Add --guidance, --steps, --eta and --guidance-interval to a command; `what` says whose default applies. */
export function addSamplerOptions(cmd: Command, what = "the checkpoint config's"): Command {
  return cmd
    .option('--guidance <s>', `classifier-free guidance scale (default: ${what})`)
    .option('--steps <n>', `DDIM steps (default: ${what})`)
    .option('--eta <x>', `DDIM eta in 0..1: 0 deterministic, 1 as stochastic as DDPM (default: ${what})`)
    .option('--guidance-interval <lo:hi>', `guide only the steps with timestep lo <= t <= hi, the others conditional alone; "all" guides every step (default: ${what})`);
}

/** The sampler settings the flags override (only those given). */
export function samplerOverrides(opts: SamplerFlags): Partial<SamplerConfig> {
  const out: Partial<SamplerConfig> = {};
  if (opts.guidance !== undefined) out.guidanceScale = guidanceOption(opts.guidance);
  if (opts.steps !== undefined) out.steps = intOption('--steps', opts.steps, 1, 1000);
  if (opts.eta !== undefined) out.eta = numberOption('--eta', opts.eta, 0, 1);
  if (opts.guidanceInterval !== undefined) out.guidanceInterval = guidanceIntervalOption(opts.guidanceInterval);
  return out;
}

/** `--guidance-interval lo:hi` (timesteps, lo <= hi), or "all": every step guided (undefined). */
export function guidanceIntervalOption(v: string): [number, number] | undefined {
  if (v.trim() === 'all') return undefined;
  const m = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(v);
  if (!m || Number(m[1]) > Number(m[2]) || Number(m[2]) > 100000) {
    throw new Error(`--guidance-interval must be lo:hi, two timesteps with lo <= hi (e.g. 0:600), or "all", got "${v}"`);
  }
  return [Number(m[1]), Number(m[2])];
}

/**
 * Run `f`, which reads what the option `flag` names (a checkpoint folder, a dataset): an error it
 * throws gains the option's name ("--clip: checkpoint data/classifier holds a ..."), unless it
 * names an option already. Works for a sync or an async `f`.
 */
export function forOption<T>(flag: string, f: () => T): T {
  const named = (e: unknown) => {
    if (e instanceof Error && !e.message.startsWith('--')) e.message = `${flag}: ${e.message}`;
    return e;
  };
  try {
    const r = f();
    return (r instanceof Promise ? r.catch((e: unknown) => Promise.reject(named(e))) : r) as T;
  } catch (e) {
    throw named(e);
  }
}
