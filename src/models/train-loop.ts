/**
 * The training loop both pretraining stages share: resume from the last
 * checkpoint, run `step` for each update with a warmed-up learning rate,
 * show progress, checkpoint every `checkpointEvery` updates and at the end.
 *
 * Determinism: `step(s)` must depend only on s and the weights (batches and
 * noise seeded from `${seed}/${s}`); the checkpoint holds weights, Adam's
 * state and s. So a run killed and resumed ends with the same weights as an
 * uninterrupted one (a test checks this).
 */
import * as tf from '@tensorflow/tfjs';
import { CheckpointError, hasCheckpoint } from '../engine/checkpoint';
import { Progress, progress as makeProgress } from '../engine/progress';
import { loadWeightsInto, ModelCheckpointMeta, ModelKind, readModelMeta, restoreOptimizer, saveModelCheckpoint } from './checkpoint';
import { PretrainConfig, TrainConfig } from './config';

export interface LoopOptions {
  /** Checkpoint folder; without it nothing is saved or resumed. */
  checkpointDir?: string;
  /** Resume from the checkpoint in checkpointDir when there is one (default true). */
  resume?: boolean;
  /** Progress reporting (default: a bar named after the model); false for none. */
  progress?: false | ((total: number, label: string) => Progress);
  /** Called after every update with its step number (1-based count of updates done) and loss. */
  onStep?: (step: number, loss: number) => void;
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

/** Learning rate at step s: linear warmup over warmupSteps, then constant. */
export function learningRateAt(train: TrainConfig, s: number): number {
  return train.learningRate * Math.min(1, (s + 1) / Math.max(1, train.warmupSteps));
}

function sameModelConfig(a: PretrainConfig, b: PretrainConfig, kind: ModelKind): string | undefined {
  const pick = (c: PretrainConfig) => JSON.stringify(kind === 'miniclip' ? [c.seed, c.clip, c.clipTrain.batchSize] : [c.seed, c.clip, c.diffusion, c.diffusionTrain.batchSize]);
  return pick(a) === pick(b) ? undefined : `saved ${pick(a)}, now ${pick(b)}`;
}

export async function runTrainingLoop(spec: LoopSpec, opts: LoopOptions = {}): Promise<LoopResult> {
  const { train } = spec;
  const dir = opts.checkpointDir;
  let start = 0;
  if (dir && (opts.resume ?? true) && hasCheckpoint(dir)) {
    const meta = readModelMeta(dir, spec.kind);
    const diff = sameModelConfig(meta.config, spec.config, spec.kind);
    if (diff) throw new CheckpointError(`cannot resume from ${dir}: its seed, model or batch size differ from this run's (${diff})`);
    const opt = await loadWeightsInto(dir, spec.variables, frozenOf(spec));
    try {
      if (meta.step > 0) await restoreOptimizer(spec.optimizer, spec.trainable, opt);
    } finally {
      tf.dispose(Object.values(opt));
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
    await saveModelCheckpoint(dir, spec.variables, meta, { optimizer: spec.optimizer, trainable: spec.trainable });
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
      s += 1;
      losses.push(loss);
      recent.push(loss);
      opts.onStep?.(s, loss);
      bar?.tick(1, { loss });
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
