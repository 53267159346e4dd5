/**
 * Run-time choice of the TensorFlow.js backend.
 *
 * `T2I_BACKEND=auto|tensorflow|wasm|cpu`. `auto` takes tfjs-node-gpu or
 * tfjs-node when importable (they download libtensorflow at install time, so
 * they are never required), else wasm (XNNPACK, SIMD), else the pure-JS cpu
 * backend. An explicit choice that cannot load is an error naming what is
 * installed; it never falls back silently.
 */
import * as tf from '@tensorflow/tfjs';
import * as os from 'node:os';
import * as path from 'node:path';

export const BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
export type BackendName = Exclude<BackendChoice, 'auto'>;

/** What one backend's probe found: `available` with the package that gives it, or the reason it is not. */
export interface BackendProbe {
  name: BackendName;
  available: boolean;
  /** The npm package that provides it, when available. */
  package?: string;
  /** Why it cannot load, when not available. */
  reason?: string;
}

export interface BackendInfo {
  /** The backend tfjs runs on now. */
  active: BackendName;
  /** What was asked for (`T2I_BACKEND` or the argument). */
  requested: BackendChoice;
  probes: BackendProbe[];
  /** Threads one training process uses on the active backend. */
  threads: number;
  /** Logical cores of this machine. */
  cores: number;
  /** Kernels this kit registered or replaced on the active backend. */
  kitKernels: string[];
}

export class BackendError extends Error {
  override name = 'BackendError';
}

const TENSORFLOW_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];

function isResolvable(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

function firstLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split('\n')[0];
}

/** Probe each backend without activating any. tensorflow is probed by importing it (that is the only honest test). */
export function probeBackends(): BackendProbe[] {
  const probes: BackendProbe[] = [];
  const reasons: string[] = [];
  let tensorflow: BackendProbe | undefined;
  for (const pkg of TENSORFLOW_PACKAGES) {
    if (!isResolvable(pkg)) {
      reasons.push(`${pkg} is not installed`);
      continue;
    }
    try {
      require(pkg);
      tensorflow = { name: 'tensorflow', available: true, package: pkg };
      break;
    } catch (e) {
      reasons.push(`${pkg} failed to load: ${firstLine(e)}`);
    }
  }
  probes.push(tensorflow ?? { name: 'tensorflow', available: false, reason: reasons.join('; ') });
  probes.push(
    isResolvable('@tensorflow/tfjs-backend-wasm')
      ? { name: 'wasm', available: true, package: '@tensorflow/tfjs-backend-wasm' }
      : { name: 'wasm', available: false, reason: '@tensorflow/tfjs-backend-wasm is not installed' },
  );
  probes.push({ name: 'cpu', available: true, package: '@tensorflow/tfjs' });
  return probes;
}

/** Validate a `T2I_BACKEND` value; the error names the bad value and the allowed ones. */
export function parseBackendChoice(value: string | undefined): BackendChoice {
  const v = (value ?? 'auto').trim() || 'auto';
  if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new BackendError(`T2I_BACKEND="${v}" is not a backend; use one of: ${BACKEND_CHOICES.join(', ')}`);
}

let current: BackendInfo | undefined;
const kernelInstallers = new Map<BackendName, () => string[]>();

/**
 * Register a function that installs the kit's kernels on a backend right after
 * it is activated (the wasm gradient kernels and fast paths, native kernels).
 * It returns the names of the kernels it registered.
 */
export function onBackendReady(name: BackendName, install: () => string[]): void {
  kernelInstallers.set(name, install);
}

async function activate(name: BackendName): Promise<void> {
  if (name === 'wasm') {
    const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
    // The .wasm binaries ship inside the package; point at them so no fetch happens.
    const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    if (tf.findBackend('wasm') === undefined || tf.engine().registryFactory['wasm'] === undefined) {
      wasm.setWasmPaths(dir + path.sep);
    }
  }
  // Production mode: no debug checks and no "install tfjs-node" banner from the cpu backend.
  tf.enableProdMode();
  const ok = await tf.setBackend(name);
  if (!ok) throw new BackendError(`backend "${name}" is registered but failed to initialise`);
  await tf.ready();
}

/**
 * Choose and activate the backend. Idempotent for the same choice.
 * @param choice defaults to `process.env.T2I_BACKEND`, else `auto`.
 */
export async function initBackend(choice?: string): Promise<BackendInfo> {
  const requested = parseBackendChoice(choice ?? process.env.T2I_BACKEND);
  if (current && (current.requested === requested || current.active === requested)) return current;
  const probes = probeBackends();
  const installed = probes.filter((p) => p.available).map((p) => p.name);
  let name: BackendName;
  if (requested === 'auto') {
    name = (['tensorflow', 'wasm', 'cpu'] as const).find((n) => installed.includes(n))!;
  } else {
    const probe = probes.find((p) => p.name === requested)!;
    if (!probe.available) {
      throw new BackendError(
        `T2I_BACKEND=${requested} cannot load (${probe.reason}); installed backends: ${installed.join(', ')}`,
      );
    }
    name = requested;
  }
  await activate(name);
  const kitKernels = kernelInstallers.get(name)?.() ?? [];
  current = {
    active: name,
    requested,
    probes,
    threads: threadsOf(name),
    cores: os.availableParallelism(),
    kitKernels,
  };
  return current;
}

/** The info of the active backend; throws if `initBackend` has not run. */
export function backendInfo(): BackendInfo {
  if (!current) throw new BackendError('no backend initialised yet: call initBackend() first');
  return current;
}

function threadsOf(name: BackendName): number {
  // tfjs disables wasm threads under Node; tfjs-node uses all cores through libtensorflow.
  if (name === 'wasm' || name === 'cpu') return 1;
  return os.availableParallelism();
}
