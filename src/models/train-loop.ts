/**
 * The training loop both pretraining stages share: resume from the last
 * checkpoint, run `step` for each update with a warmed-up learning rate,
 * show progress, checkpoint every `checkpointEvery` updates and at the end.
 *
 * Determinism: `step(s)` must depend only on s and the weights (batches and
 * noise seeded from `${seed}/${s}`); the checkpoint holds weights, Adam's
 * state, the weights' moving average (when train.emaDecay > 0) and s. So a run
 * killed and resumed ends with the same weights as an uninterrupted one (a
 * test checks this), and a resume that would change the learning-rate
 * schedule or the average is refused.
 */
import * as tf from '@tensorflow/tfjs';
import { CheckpointError, hasCheckpoint } from '../engine/checkpoint';
import { Progress, progress as makeProgress } from '../engine/progress';
import { EMA_PREFIX, loadWeightsInto, ModelCheckpointMeta, ModelKind, readModelMeta, restoreOptimizer, saveModelCheckpoint } from './checkpoint';
import { PretrainConfig, TrainConfig } from './config';

export interface LoopOptions {
  /** Checkpoint folder; without it nothing is saved or resumed. */
  checkpointDir?: string;
  /** Resume from the checkpoint in checkpointDir when there is one (default true). */
  resume?: boolean;
  /** Progress reporting (default: a bar named after the model); false for none. */
  progress?: false | ((total: number, label: string) => Progress);
  /**
   * Called after every update with its step number (1-based count of updates done), its loss and,
   * when the run keeps one, the weights' moving average (`ema/<name>`; read it, never keep it).
   * The loop awaits it (e.g. a periodic evaluation); it must leave the weights as it found them.
   */
  onStep?: (step: number, loss: number, ema?: Readonly<Record<string, tf.Variable>>) => void | Promise<void>;
  /** Stop after this many updates in this call (for tests that simulate an interrupted run). */
  maxUpdates?: number;
}

export interface LoopResult {
  /** The step the run started (or resumed) from. */
  startStep: number;
  /** Updates done in total (= train.steps unless stopped early). */
  step: number;
  /** Loss of each update done in this call. */
  losses: number[];
}

export interface LoopSpec {
  kind: ModelKind;
  /** Everything the checkpoint holds. On resume, those not in `trainable` must equal the checkpoint's (they are never overwritten). */
  variables: Record<string, tf.Variable>;
  /** What the optimizer updates (a subset of variables), in a fixed order. */
  trainable: Record<string, tf.Variable>;
  optimizer: tf.AdamOptimizer;
  config: PretrainConfig;
  train: TrainConfig;
  vocab: string[];
  /** One update for step s (0-based); returns its loss. */
  step: (s: number) => Promise<number> | number;
}

/** The saved weights the run does not train (the diffusion run's text encoder). */
function frozenOf(spec: LoopSpec): Set<string> {
  return new Set(Object.keys(spec.variables).filter((k) => !(k in spec.trainable)));
}

/** Learning rate at step s: linear warmup over warmupSteps, then constant, or a half cosine down to 0 at `steps`. */
export function learningRateAt(train: TrainConfig, s: number): number {
  const warm = Math.min(1, (s + 1) / Math.max(1, train.warmupSteps));
  if (train.lrSchedule !== 'cosine' || s < train.warmupSteps) return train.learningRate * warm;
  const progress = (s - train.warmupSteps) / Math.max(1, train.steps - train.warmupSteps);
  return train.learningRate * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, progress)));
}

/** Decay of the weights' moving average at update s (0-based): min(emaDecay, (1 + s) / (10 + s)). */
export function emaDecayAt(train: TrainConfig, s: number): number {
  return Math.min(train.emaDecay, (1 + s) / (10 + s));
}

/**
 * Why a checkpoint made with config `a` cannot be resumed with config `b`, or undefined.
 * The model, the seed and every training key that changes the numbers must match; only
 * `checkpointEvery`, and `steps` under a constant learning rate (a run may be extended), may differ.
 */
export function resumeMismatch(a: PretrainConfig, b: PretrainConfig, kind: ModelKind): string | undefined {
  const trainKey = kind === 'miniclip' ? 'clipTrain' : 'diffusionTrain';
  const ta = a[trainKey], tb = b[trainKey];
  const pairs: Array<[string, unknown, unknown]> = [
    ['seed', a.seed, b.seed],
    ['clip', a.clip, b.clip],
    ...(kind === 'diffusion' ? [['diffusion', a.diffusion, b.diffusion] as [string, unknown, unknown]] : []),
    ...(['batchSize', 'learningRate', 'warmupSteps', 'lrSchedule', 'emaDecay'] as const).map((k) => [`${trainKey}.${k}`, ta[k], tb[k]] as [string, unknown, unknown]),
  ];
  if (kind === 'diffusion') {
    // The timestep and noise draws; absent keys are their defaults, and logitMean/logitStd matter only under 'logit-normal'.
    const da = a.diffusionTrain, db = b.diffusionTrain;
    const logit = da.timestepSampling === 'logit-normal' || db.timestepSampling === 'logit-normal';
    pairs.push(['diffusionTrain.timestepSampling', da.timestepSampling ?? 'uniform', db.timestepSampling ?? 'uniform']);
    if (logit) pairs.push(['diffusionTrain.logitMean', da.logitMean ?? 0, db.logitMean ?? 0], ['diffusionTrain.logitStd', da.logitStd ?? 1, db.logitStd ?? 1]);
    pairs.push(['diffusionTrain.inputPerturbation', da.inputPerturbation ?? 0, db.inputPerturbation ?? 0]);
  }
  if (ta.lrSchedule === 'cosine' || tb.lrSchedule === 'cosine') pairs.push([`${trainKey}.steps (part of the cosine schedule)`, ta.steps, tb.steps]);
  const bad = pairs.filter(([, x, y]) => JSON.stringify(x) !== JSON.stringify(y));
  return bad.length ? bad.map(([k, x, y]) => `${k} was ${JSON.stringify(x)}, now ${JSON.stringify(y)}`).join('; ') : undefined;
}

/** Fresh copies of `trainable`, the moving average's start: `ema/<name>`. */
function emaCopies(trainable: Record<string, tf.Variable>): Record<string, tf.Variable> {
  return Object.fromEntries(
    Object.entries(trainable).map(([k, v]) => {
      const init = v.clone();
      const e = tf.variable(init, false, `${EMA_PREFIX}${k}#${init.id}`);
      init.dispose();
      return [`${EMA_PREFIX}${k}`, e];
    }),
  );
}

/** ema <- d * ema + (1 - d) * w, for every trained weight w. */
function updateEma(ema: Record<string, tf.Variable>, trainable: Record<string, tf.Variable>, d: number): void {
  tf.tidy(() => {
    for (const [k, w] of Object.entries(trainable)) {
      const e = ema[`${EMA_PREFIX}${k}`];
      e.assign(tf.add(tf.mul(e, d), tf.mul(w, 1 - d)));
    }
  });
}

export async function runTrainingLoop(spec: LoopSpec, opts: LoopOptions = {}): Promise<LoopResult> {
  const { train } = spec;
  const dir = opts.checkpointDir;
  const ema = train.emaDecay > 0 ? emaCopies(spec.trainable) : undefined;
  let start = 0;
  try {
    return await loop();
  } finally {
    if (ema) tf.dispose(Object.values(ema));
  }

  async function loop(): Promise<LoopResult> {
    if (dir && (opts.resume ?? true) && hasCheckpoint(dir)) {
      const meta = readModelMeta(dir, spec.kind);
      const diff = resumeMismatch(meta.config, spec.config, spec.kind);
      if (diff) throw new CheckpointError(`cannot resume from ${dir}: ${diff}; use another output folder, or the checkpoint's settings`);
      const extra = await loadWeightsInto(dir, spec.variables, frozenOf(spec));
      try {
        if (meta.step > 0) await restoreOptimizer(spec.optimizer, spec.trainable, extra);
        if (ema) {
          const missing = Object.keys(ema).filter((k) => !(k in extra));
          if (missing.length) throw new CheckpointError(`cannot resume from ${dir}: it has no moving average of the weights (${missing[0]}, ...)`);
          for (const [k, v] of Object.entries(ema)) v.assign(extra[k]);
        }
      } finally {
        tf.dispose(Object.values(extra));
      }
      start = meta.step;
    }
    const save = async (step: number, recent: number[]) => {
      if (!dir) return;
      const meta: ModelCheckpointMeta = {
        kind: spec.kind,
        step,
        config: spec.config,
        vocab: spec.vocab,
        recentLoss: recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : null,
      };
      await saveModelCheckpoint(dir, { ...spec.variables, ...ema }, meta, { optimizer: spec.optimizer, trainable: spec.trainable });
    };
    const bar = opts.progress === false ? undefined : (opts.progress ?? makeProgress)(train.steps - start, spec.kind);
    const losses: number[] = [];
    let recent: number[] = [];
    let s = start;
    const end = Math.min(train.steps, start + (opts.maxUpdates ?? Infinity));
    try {
      while (s < end) {
        // AdamOptimizer reads its (protected) learningRate at every update.
        (spec.optimizer as unknown as { learningRate: number }).learningRate = learningRateAt(train, s);
        const loss = await spec.step(s);
        if (!Number.isFinite(loss)) throw new Error(`${spec.kind} training diverged: loss ${loss} at step ${s}`);
        if (ema) updateEma(ema, spec.trainable, emaDecayAt(train, s));
        s += 1;
        losses.push(loss);
        recent.push(loss);
        await opts.onStep?.(s, loss, ema);
        bar?.tick(1, { loss });
        // Let the event loop turn between updates (awaits of settled promises do not): a pool worker whose sweep
        // was killed hears its channel close and exits, instead of training on beside the rerun's worker.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (s % train.checkpointEvery === 0 || s === train.steps) {
          await save(s, recent);
          recent = [];
        }
      }
    } finally {
      bar?.done();
    }
    return { startStep: start, step: s, losses };
  }
}
