/**
 * Parity: the kit's default denoiser (src/models/diffusion/unet.ts, the
 * `default` preset) against the same architecture in PyTorch CPU
 * (bench/parity_torch.py, Debian's python3-torch), same batch size, on this
 * machine. Two timings, medians in ms:
 *   trainStep   x_t from x_0, the v-prediction MSE, backward, Adam update (batch B)
 *   sampleStep  one guided denoiser call: the UNet on [cond; uncond] (batch 2B), then
 *               eps_uncond + s (eps_cond - eps_uncond)
 * The prompt context is precomputed on both sides (the frozen text encoder is not timed).
 * Ratios are PyTorch's time over the kit's: above 1 means the kit is faster.
 *
 * Run alone: `node --import tsx bench/parity.ts` (prints JSON). `npm run bench`
 * runs it in its own process (section `parity`).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { OPENBLAS_THREAD_TIMEOUT } from '../src/engine/native';
import { round } from './timing';

const PY = '/usr/bin/python3';

export interface KitParity {
  params: number;
  trainStepMs: number;
  sampleStepMs: number;
  trainRuns: number;
  sampleRuns: number;
  backend: string;
  threads: number;
  batch: number;
  /** Large 3x3 convolutions by Winograd (the native default) rather than im2col + sgemm. */
  winograd: boolean;
}

/** Is Debian's torch importable? (the reason when not). */
export function torchAvailable(): { ok: boolean; reason?: string } {
  const r = spawnSync(PY, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) return { ok: false, reason: `${PY} cannot run: ${r.error.message}` };
  if (r.status !== 0) return { ok: false, reason: `PyTorch is not installed for ${PY} (apt-get install python3-torch)` };
  return { ok: true };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timeIt(fn: () => void, budgetMs: number, minRuns = 3): { ms: number; runs: number } {
  fn(); // warm-up
  const times: number[] = [];
  const t0 = performance.now();
  while (times.length < minRuns || (performance.now() - t0 < budgetMs && times.length < 50)) {
    const s = performance.now();
    fn();
    times.push(performance.now() - s);
  }
  return { ms: median(times), runs: times.length };
}

/** Time the kit's default denoiser (in this process). */
export async function benchKit(budgetMs = 5000): Promise<KitParity> {
  const { adam, initBackend, Rng, nativeStatus } = await import('../src/engine');
  const m = await import('../src/models');
  const info = await initBackend();
  const cfg = m.resolvePretrainConfig('default');
  const clip = new m.MiniClip(cfg.clip, 0);
  const model = new m.TextToImage(clip, cfg.diffusion, 0);
  const B = cfg.diffusionTrain.batchSize;
  // Perturb the zero-initialised layers, as the PyTorch side does, so gradients are generic.
  for (const v of Object.values(model.unet.variables)) v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.02, 'float32', 1))));
  const prompts = Array.from({ length: B }, (_, i) => ['two red circles in the forest', 'a blue square', 'three stars'][i % 3]);
  const cond = model.encodePrompts(prompts);
  const uncond = model.encodePrompts(prompts.map(() => m.NULL_PROMPT));
  const x0 = tf.randomUniform([B, 32, 32, 3], -1, 1, 'float32', 2) as tf.Tensor4D;
  const optimizer = adam(1e-4);
  const rng = new Rng('parity');
  const train = timeIt(() => {
    const draw = m.drawNoise(rng, B, model.schedule.timesteps);
    const loss = optimizer.minimize(() => tf.mean(m.denoisingLoss(model, x0, cond, draw)) as tf.Scalar, true, Object.values(model.trainableVariables));
    loss!.dataSync();
    loss!.dispose();
  }, budgetMs);
  const xt = tf.randomNormal([B, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
  const t = tf.fill([B], 500) as tf.Tensor1D;
  const sample = timeIt(() => {
    const eps = m.guidedEps(model, xt, t, cond, uncond, 3);
    eps.dataSync();
    eps.dispose();
  }, budgetMs);
  const params = m.countParams(model.unet.variables);
  tf.dispose([x0, xt, t, cond.context, cond.mask, uncond.context, uncond.mask]);
  optimizer.dispose();
  model.dispose({ clip: true });
  const native = nativeStatus();
  const { loadNative } = await import('../src/engine/native');
  return {
    params,
    trainStepMs: round(train.ms, 1),
    sampleStepMs: round(sample.ms, 1),
    trainRuns: train.runs,
    sampleRuns: sample.runs,
    backend: `${info.active}${native.active ? ` + native ${native.library.split(' ')[0]}` : ''}`,
    threads: native.active ? native.threads : info.threads,
    batch: B,
    winograd: native.active && loadNative()?.info().winograd === 1,
  };
}

/** PyTorch's environment: the kit's OpenBLAS thread timeout too (PyTorch links OpenBLAS for its matmuls), so both wait alike. */
function torchEnv(): NodeJS.ProcessEnv {
  return { ...process.env, OPENBLAS_THREAD_TIMEOUT: process.env.OPENBLAS_THREAD_TIMEOUT ?? OPENBLAS_THREAD_TIMEOUT };
}

/** The PyTorch twin, in a python process. */
export function benchTorch(spec: { unet: unknown; contextDim: number; tokens: number; batch: number; threads: number; budgetS: number }): Record<string, number | string> {
  const cfgFile = path.join(os.tmpdir(), `t2i-parity-${process.pid}.json`);
  fs.writeFileSync(cfgFile, JSON.stringify({ ...spec, budget_s: spec.budgetS }));
  try {
    const r = spawnSync(PY, [path.join(__dirname, 'parity_torch.py'), cfgFile], { encoding: 'utf8', timeout: 120_000, env: torchEnv() });
    if (r.error || r.status !== 0) throw new Error(`parity_torch.py failed: ${r.error?.message ?? (r.stderr || '').trim().split('\n').slice(-2).join(' | ')}`);
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
  } finally {
    fs.rmSync(cfgFile, { force: true });
  }
}

/** Rounds of the section: kit, then PyTorch, each round (both sides see the same drift). */
export const PARITY_ROUNDS = 3;

/**
 * The whole section: PARITY_ROUNDS rounds, each the kit (in a child process,
 * so its backend is fresh) then PyTorch. On a shared virtual machine either
 * side's step time swings by up to 2x between minutes (PyTorch's more than
 * the kit's), so one pair of timings can land either way; the ratios are of
 * the medians over rounds, and each round's ratios are kept beside them.
 */
export function benchParity(rounds = PARITY_ROUNDS): Record<string, unknown> {
  const torch = torchAvailable();
  if (!torch.ok) return { skipped: true, reason: torch.reason };
  const threads = os.availableParallelism();
  const kits: (KitParity & { unet: unknown; contextDim: number; tokens: number })[] = [];
  const pts: Record<string, number | string>[] = [];
  for (let i = 0; i < rounds; i++) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', __filename, '--kit-only'], { encoding: 'utf8', timeout: 120_000, maxBuffer: 1 << 20 });
    if (r.status !== 0) return { error: `kit side failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' | ')}` };
    const kit = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as (typeof kits)[number];
    kits.push(kit);
    pts.push(benchTorch({ unet: kit.unet, contextDim: kit.contextDim, tokens: kit.tokens, batch: kit.batch, threads, budgetS: 5 }));
  }
  const kitTrain = median(kits.map((k) => k.trainStepMs));
  const kitSample = median(kits.map((k) => k.sampleStepMs));
  const ptTrain = median(pts.map((p) => Number(p.trainStepMs)));
  const ptSample = median(pts.map((p) => Number(p.sampleStepMs)));
  const [kit, pt] = [kits[0], pts[0]];
  return {
    trainStepRatio: round(ptTrain / kitTrain, 2),
    sampleStepRatio: round(ptSample / kitSample, 2),
    kitTrainStepMs: round(kitTrain, 1),
    kitSampleStepMs: round(kitSample, 1),
    torchTrainStepMs: round(ptTrain, 1),
    torchSampleStepMs: round(ptSample, 1),
    rounds,
    trainStepRatioPerRound: kits.map((k, i) => round(Number(pts[i].trainStepMs) / k.trainStepMs, 2)),
    sampleStepRatioPerRound: kits.map((k, i) => round(Number(pts[i].sampleStepMs) / k.sampleStepMs, 2)),
    batch: kit.batch,
    kitParams: kit.params,
    torchParams: pt.params,
    kitBackend: kit.backend,
    kitThreads: kit.threads,
    kitWinograd: kit.winograd,
    torchThreads: pt.threads,
    torchVersion: pt.torch,
    openblasCoretype: process.env.OPENBLAS_CORETYPE ?? 'unset',
    openblasThreadTimeout: torchEnv().OPENBLAS_THREAD_TIMEOUT,
    note: 'ratio = PyTorch ms / kit ms (>1: kit faster), of the medians over rounds (kit then PyTorch in each); default preset UNet, train = loss+backward+Adam at batch B, sample = one CFG denoiser call at batch 2B',
  };
}

async function cli(argv: string[]): Promise<unknown> {
  if (argv.includes('--kit-only')) {
    const kit = await benchKit();
    const { resolvePretrainConfig } = await import('../src/models');
    const cfg = resolvePretrainConfig('default');
    return { ...kit, unet: cfg.diffusion.unet, contextDim: cfg.clip.textWidth, tokens: cfg.clip.maxTokens };
  }
  return benchParity();
}

if (require.main === module) {
  cli(process.argv.slice(2)).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (e) => {
      process.stderr.write(String(e instanceof Error ? e.stack : e) + '\n');
      process.exit(1);
    },
  );
}
