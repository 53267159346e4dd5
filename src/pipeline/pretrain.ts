/**
 * Pretraining (the stage before the paper's): build the pretraining corpus from the world, train
 * MiniCLIP, then the text-to-image diffusion model on MiniCLIP's frozen text
 * encoder. Everything goes to one folder:
 *
 *   config.json     the resolved model/training config and corpus config
 *   clip/           MiniCLIP checkpoint (weights + Adam state, resumable)
 *   diffusion/      diffusion checkpoint (text encoder + UNet + Adam state): enough to generate
 *   losses.jsonl    one line per update: {"stage": "clip"|"diffusion", "step", "loss"}
 *   timing.json     wall seconds per stage, summed over (resumed) invocations
 *   samples/        sample grids every `sampleEvery` diffusion updates, and final.png
 *
 * A killed run resumes from its last checkpoints when the same command is run again.
 *
 * A warm start (`initFrom`: a finished pretrain run or a shipped model) takes that folder's
 * MiniCLIP as it is and starts the diffusion stage from its UNet weights (their moving average,
 * as sampled) instead of random ones; the diffusion stage then runs its own schedule. It is how
 * a finished model gets more updates under a fresh learning-rate cycle. The run's UNet may add
 * attention levels to the source's (`grownLevels`); the added blocks start as the identity.
 *
 * `clipFrom` takes a finished MiniCLIP from another folder instead (a pretrain run, or a MiniCLIP
 * checkpoint folder such as scripts/miniclip-counts.ts writes), with or without a warm start: how
 * a drawing UNet moves onto a new text encoder without relearning to draw.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { hasCheckpoint, readCheckpointIndex, writeFileAtomic } from '../engine';
import { readJsonFile, withFolderLock } from '../engine/files';
import {
  ddimSample, DeepPartial, Example, MiniClip, PresetName, PretrainConfig, PretrainConfigSchema, readModelMeta,
  resolvePretrainConfig, resumeMismatch, shuffledBatches, TextToImage, trainClip, trainDiffusion, loadMiniClip, loadTextToImage, EMA_PREFIX,
  loadWeightsInto,
} from '../models';
import { CorpusConfig, CorpusConfigSchema, encodePng, ImageLike, pretrainingCorpus, resolveCorpusConfig, seenPrompts, tileImages } from '../world';

/**
 * Corpus size per preset when neither --corpus-size nor the config file's corpus.size says
 * (the world's own default, 2000, is small for the default run's 80k training examples).
 */
export const PRETRAIN_CORPUS_SIZE: Record<PresetName, number> = { quick: 1000, default: 10000 };

/** Overrides file of `pretrain --config`: PretrainConfig overrides, plus `corpus` (CorpusConfig overrides). */
export type PretrainOverrides = DeepPartial<PretrainConfig> & { corpus?: Partial<CorpusConfig> };

export interface PretrainOptions {
  preset: PresetName;
  /** Output folder (created). */
  out: string;
  overrides?: PretrainOverrides;
  /** Sample grid every this many diffusion updates (0: only the final grid). Default: diffusion checkpointEvery. */
  sampleEvery?: number;
  /** Stop each stage after this many updates in this call (tests simulate a killed run). */
  maxUpdates?: number;
  /** Warm start from this folder's clip/ and diffusion/ (a finished pretrain run or a shipped model). */
  initFrom?: string;
  /** Take the MiniCLIP from this folder (a finished run's, or a MiniCLIP checkpoint folder) rather than train it or take initFrom's. */
  clipFrom?: string;
  /** Show progress (default true). */
  progress?: boolean;
  /** Log lines (default console.log). */
  log?: (line: string) => void;
}

export interface PretrainResult {
  config: PretrainConfig;
  corpus: CorpusConfig;
  clip: { startStep: number; step: number; lastLoss: number | null };
  diffusion: { startStep: number; step: number; lastLoss: number | null };
  /** Wall seconds of this invocation, per stage. */
  seconds: { corpus: number; clip: number; diffusion: number; total: number };
  done: boolean;
}

/**
 * Resolve a preset plus overrides (as read from a --config file) into the
 * model config and the corpus config. Unknown keys and bad values throw one
 * line naming each key by its path.
 */
export function resolvePretrainRun(preset: PresetName, overrides: unknown = {}): { config: PretrainConfig; corpus: CorpusConfig } {
  if (overrides === null || typeof overrides !== 'object' || Array.isArray(overrides)) throw new Error('pretrain config overrides must be a JSON object');
  const { corpus: corpusOver, ...modelOver } = overrides as Record<string, unknown>;
  if (corpusOver !== undefined && (corpusOver === null || typeof corpusOver !== 'object' || Array.isArray(corpusOver))) {
    throw new Error(`invalid pretrain config: corpus: must be an object of corpus settings, got ${JSON.stringify(corpusOver)}`);
  }
  // Check the keys against the schema first so the error names the full path of an unknown key.
  const unknownKeys = [...checkKeys(modelOver, PretrainConfigSchema, '', ['corpus']), ...checkKeys(corpusOver ?? {}, CorpusConfigSchema, 'corpus')];
  if (unknownKeys.length) throw new Error(`invalid pretrain config: ${unknownKeys.join('; ')}`);
  let config: PretrainConfig;
  try {
    config = resolvePretrainConfig(preset, modelOver as DeepPartial<PretrainConfig>);
  } catch (e) {
    throw new Error((e as Error).message.replace(/\n\s*/g, ' '));
  }
  const cr = resolveCorpusCfg({ seed: config.seed, size: PRETRAIN_CORPUS_SIZE[preset], ...((corpusOver as object | undefined) ?? {}) });
  return { config, corpus: cr };
}

function resolveCorpusCfg(over: unknown): CorpusConfig {
  try {
    return resolveCorpusConfig(over);
  } catch (e) {
    throw new Error((e as Error).message.replace(/^bad corpus config: /, 'invalid pretrain config: corpus.').replace(/; /g, '; corpus.'));
  }
}

/** Unknown keys of `value` against a zod object schema, recursively, as "a.b.c: unknown key"; `also`: keys allowed beside the schema's at this level. */
function checkKeys(value: unknown, schema: z.ZodType, prefix: string, also: readonly string[] = []): string[] {
  const def = (schema as unknown as { def?: { type?: string; shape?: Record<string, z.ZodType> } }).def;
  if (!def || def.type !== 'object' || !def.shape || value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    const sub = Object.hasOwn(def.shape, k) ? def.shape[k] : undefined; // "__proto__" or "constructor" is no setting
    if (!sub) out.push(`${key}: unknown key (allowed: ${[...Object.keys(def.shape), ...also].join(', ')})`);
    else out.push(...checkKeys(v, sub, key));
  }
  return out;
}

/** Prompts of the periodic sample grids: two seen prompts per category. */
export function samplePrompts(): string[] {
  const byCat = new Map<string, string[]>();
  for (const p of seenPrompts()) {
    const l = byCat.get(p.category) ?? [];
    if (l.length < 2) l.push(p.prompt);
    byCat.set(p.category, l);
  }
  return [...byCat.values()].flat();
}

/** Sample `prompts` synchronously (usable inside a training callback) as images. */
export function sampleSync(model: TextToImage, config: PretrainConfig, prompts: readonly string[], seed: number | string): ImageLike[] {
  const x = ddimSample(model, prompts, { ...config.sampler, seed });
  const bytes = tf.tidy(() => tf.clipByValue(tf.round(tf.mul(tf.add(x, 1), 127.5)), 0, 255));
  const data = bytes.dataSync();
  tf.dispose([x, bytes]);
  const n = 32 * 32 * 3;
  return prompts.map((_, i) => ({ width: 32, height: 32, data: Uint8Array.from(data.subarray(i * n, (i + 1) * n)) }));
}

/** Run `f` with `weights` (named as `ema/<name>`) in place of `variables`, then put the variables' own values back. */
function withWeights<T>(variables: Record<string, tf.Variable>, weights: Readonly<Record<string, tf.Variable>> | undefined, f: () => T): T {
  if (!weights) return f();
  const saved = Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, v.clone()]));
  try {
    for (const [k, v] of Object.entries(variables)) v.assign(weights[`${EMA_PREFIX}${k}`]);
    return f();
  } finally {
    for (const [k, v] of Object.entries(variables)) v.assign(saved[k]);
    tf.dispose(Object.values(saved));
  }
}

interface LossLine {
  stage: 'clip' | 'diffusion';
  step: number;
  loss: number;
}

/** The loss log's lines, each with its record, or null for a torn line (a kill mid-write). */
function lossLines(file: string): { text: string; record: LossLine | null }[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((text) => {
      try {
        return { text, record: JSON.parse(text) as LossLine };
      } catch {
        return { text, record: null };
      }
    });
}

/** Keep the loss lines of `stage` up to `upTo` (a resumed run redoes the steps after its checkpoint); torn lines go. */
function trimLosses(file: string, stage: LossLine['stage'], upTo: number): void {
  const lines = lossLines(file);
  const kept = lines.filter(({ record: r }) => r !== null && (r.stage !== stage || r.step <= upTo));
  if (kept.length !== lines.length) writeFileAtomic(file, kept.map((l) => l.text + '\n').join(''));
}

/** The last loss `file` logged for `stage` (a resumed run's stage that had nothing left to do trains no update to report), or null. */
function lastLogged(file: string, stage: LossLine['stage']): number | null {
  const last = lossLines(file).reverse().find((l) => l.record?.stage === stage);
  return last ? last.record!.loss : null;
}

function stepOf(dir: string, kind: 'miniclip' | 'diffusion'): number {
  return hasCheckpoint(dir) ? readModelMeta(dir, kind).step : 0;
}

interface Timing {
  runs: Array<{ startedAt: string; corpus: number; clip: number; diffusion: number; total: number }>;
  total: { corpus: number; clip: number; diffusion: number; total: number };
}

function writeTiming(file: string, run: Timing['runs'][number]): void {
  const prev: Timing = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : { runs: [], total: { corpus: 0, clip: 0, diffusion: 0, total: 0 } };
  const runs = [...prev.runs.filter((r) => r.startedAt !== run.startedAt), run];
  const total = { corpus: 0, clip: 0, diffusion: 0, total: 0 };
  for (const r of runs) for (const k of Object.keys(total) as Array<keyof typeof total>) total[k] += r[k];
  writeFileAtomic(file, JSON.stringify({ runs, total }, null, 2) + '\n');
}

/**
 * Refuse an --out that is not a pretrain run's folder before anything is written in it: a file, or a
 * folder of other files (a dataset, a shipped model, a fine-tuning run). New, empty, a run's (its
 * config.json, and no metrics.json, which a shipped model has), or holding only samples/ (an
 * interrupted start) and clip/ or diffusion/ checkpoints copied in are taken.
 */
export function checkPretrainOut(out: string): void {
  if (!fs.existsSync(out)) return;
  if (!fs.statSync(out).isDirectory()) throw new Error(`--out ${out} is a file, not a folder (give a folder)`);
  const entries = fs.readdirSync(out).filter((f) => !f.startsWith('.'));
  // samples/ an interrupted start leaves; clip/ or diffusion/ checkpoints copied in to resume from (README, "a run of
  // the MiniCLIP stage copied in"; their settings are checked against the run's before anything is written)
  if (entries.every((f) => f === 'samples' || f === 'clip' || f === 'diffusion')) return;
  if (fs.existsSync(path.join(out, 'config.json')) && !fs.existsSync(path.join(out, 'metrics.json'))) return;
  const shipped = fs.existsSync(path.join(out, 'metrics.json')) ? ' (a shipped model: a pretrain run can start from it with --init-from)' : '';
  throw new Error(`--out ${out} holds files but no pretrain run (config.json)${shipped}: give a new or empty folder, or the folder of an earlier pretrain run to resume it (a MiniCLIP of another run: --clip-from DIR)`);
}

/** The lock a pretrain run holds in its folder while it runs. */
export const PRETRAIN_LOCK = '.pretrain.lock';

/** Run (or resume) the whole pretraining into `opts.out`; one run per folder at a time (two side by side each appended every loss line). */
export async function pretrain(opts: PretrainOptions): Promise<PretrainResult> {
  const { config, corpus } = resolvePretrainRun(opts.preset, opts.overrides ?? {});
  checkPretrainOut(opts.out);
  return withFolderLock(opts.out, PRETRAIN_LOCK, 'pretrain', () => pretrainLocked(opts, config, corpus));
}

async function pretrainLocked(opts: PretrainOptions, config: PretrainConfig, corpus: CorpusConfig): Promise<PretrainResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const out = opts.out;
  const cfgFile = path.join(out, 'config.json');
  type Source = { dir: string; sha256: string };
  const prev = fs.existsSync(cfgFile) ? readJsonFile<{ corpus?: unknown; initFrom?: Source | null; clipFrom?: Source }>(cfgFile, 'restore it, or use another --out') : undefined;
  // A resume names --clip-from and --init-from as the run did; where the folder named is gone (the run was copied to
  // another machine without it) and the run already holds what it gave (its clip/ the recorded MiniCLIP; a diffusion
  // checkpoint past the warm start), config.json's record stands in for it. It was refused, "no checkpoint there".
  const recorded = prev !== null && typeof prev === 'object' && !Array.isArray(prev) ? prev : undefined;
  const ownClipSha = hasCheckpoint(path.join(out, 'clip')) ? readCheckpointIndex(path.join(out, 'clip')).sha256 : null;
  // Gone, and named as the run named it (a path the run never named is not taken for its source).
  const goneAs = (dir: string, recordedDirs: readonly string[]) =>
    !fs.existsSync(dir) && recordedDirs.some((r) => r === dir || path.resolve(r) === path.resolve(dir));
  const standIn = (flag: string, dir: string, source: Source) => {
    log(`${flag} ${dir} is not here; the run holds what it gave (sha256 ${source.sha256.slice(0, 12)}), as its config.json records, and resumes with it`);
    return source;
  };
  const clipFrom = opts.clipFrom === undefined ? null
    : recorded?.clipFrom && recorded.clipFrom.sha256 === ownClipSha && goneAs(opts.clipFrom, [recorded.clipFrom.dir, path.dirname(recorded.clipFrom.dir)]) ? standIn('--clip-from', opts.clipFrom, recorded.clipFrom)
    : checkClipFrom(opts.clipFrom, config);
  const initFrom = opts.initFrom === undefined ? null
    : recorded?.initFrom && ownClipSha !== null && hasCheckpoint(path.join(out, 'diffusion')) && goneAs(opts.initFrom, [recorded.initFrom.dir]) ? standIn('--init-from', opts.initFrom, recorded.initFrom)
    : checkInitFrom(opts.initFrom, config, { ownClip: clipFrom !== null });
  const resolved = { preset: opts.preset, ...config, corpus, initFrom, ...(clipFrom ? { clipFrom } : {}) };
  if (prev !== undefined) {
    // Another command's config.json (a reproduce run's) is no pretrain run to resume: it was read as "another corpus config (undefined)".
    if (prev === null || typeof prev !== 'object' || Array.isArray(prev) || !('corpus' in prev) || !('diffusionTrain' in prev)) {
      throw new Error(`--out ${out} holds a config.json that is not a pretrain run's (no corpus or diffusionTrain in it: another command's run?); give a new or empty folder, or the folder of an earlier pretrain run to resume it`);
    }
    if (JSON.stringify(prev.corpus) !== JSON.stringify(corpus)) {
      throw new Error(`${out} holds a run with another corpus config (${JSON.stringify(prev.corpus)}); use another --out`);
    }
    if ((prev.initFrom?.sha256 ?? null) !== (initFrom?.sha256 ?? null)) {
      const was = prev.initFrom ? `warm-started from ${prev.initFrom.dir} (diffusion sha256 ${prev.initFrom.sha256.slice(0, 12)})` : 'started from random weights';
      throw new Error(`${out} holds a run ${was}; resume it with the same --init-from (that folder or a copy of it; once the run has its own diffusion checkpoint, the same path even where it is gone), or use another --out`);
    }
    if ((prev.clipFrom?.sha256 ?? null) !== (clipFrom?.sha256 ?? null)) {
      const was = prev.clipFrom ? `with the MiniCLIP of ${prev.clipFrom.dir} (sha256 ${prev.clipFrom.sha256.slice(0, 12)})` : 'without --clip-from';
      throw new Error(`${out} holds a run ${was}; resume it with the same --clip-from (that folder or a copy of it; the same path even where it is gone, the run holding its MiniCLIP), or use another --out`);
    }
  }
  // Refuse a resume that would change the numbers before anything is written (the loops check again).
  for (const [dir, kind] of [[path.join(out, 'clip'), 'miniclip'], [path.join(out, 'diffusion'), 'diffusion']] as const) {
    if (!hasCheckpoint(dir)) continue;
    const why = resumeMismatch(readModelMeta(dir, kind).config, config, kind);
    if (why) throw new Error(`cannot resume from ${dir}: ${why}; use another output folder, or the checkpoint's settings`);
  }
  fs.mkdirSync(path.join(out, 'samples'), { recursive: true }); // the checks above passed: the run's folder
  writeFileAtomic(cfgFile, JSON.stringify(resolved, null, 2) + '\n');
  const lossFile = path.join(out, 'losses.jsonl');
  const timingFile = path.join(out, 'timing.json');
  const clipDir = path.join(out, 'clip');
  const diffDir = path.join(out, 'diffusion');
  const startedAt = new Date().toISOString();
  const t0 = Date.now();
  const secs = { corpus: 0, clip: 0, diffusion: 0, total: 0 };
  let t = t0; // when the current stage began
  const flushTiming = () => {
    secs.total = (Date.now() - t0) / 1000;
    writeTiming(timingFile, { startedAt, ...secs });
  };
  // Each update's loss is appended; at each checkpoint the stage's wall time so far is written too, so an
  // invocation that is killed keeps the time that produced the checkpoint its resume starts from.
  const recordUpdate = (stage: LossLine['stage']) => (step: number, loss: number) => {
    fs.appendFileSync(lossFile, JSON.stringify({ stage, step, loss }) + '\n');
    if (step % (stage === 'clip' ? config.clipTrain : config.diffusionTrain).checkpointEvery === 0) {
      secs[stage] = (Date.now() - t) / 1000;
      flushTiming();
    }
  };
  const progress = opts.progress === false ? (false as const) : undefined;

  // Corpus.
  t = Date.now();
  const examples: Example[] = [];
  for (const item of pretrainingCorpus(corpus)) examples.push({ image: item.image, caption: item.caption });
  secs.corpus = (Date.now() - t) / 1000;
  log(`corpus: ${examples.length} pairs in ${secs.corpus.toFixed(1)} s`);
  const data = shuffledBatches(examples, config.seed);

  // MiniCLIP.
  t = Date.now();
  trimLosses(lossFile, 'clip', stepOf(clipDir, 'miniclip'));
  trimLosses(lossFile, 'diffusion', stepOf(diffDir, 'diffusion'));
  const clipSource = clipFrom?.dir ?? (initFrom ? path.join(initFrom.dir, 'clip') : null);
  if (clipSource && !hasCheckpoint(clipDir)) fs.cpSync(clipSource, clipDir, { recursive: true });
  let clip: MiniClip = new MiniClip(config.clip, config.seed);
  let clipRes;
  try {
    // A MiniCLIP taken from elsewhere is finished (checkInitFrom, checkClipFrom); shipped ones hold no optimizer state to resume from.
    clipRes = clipSource
      ? { startStep: config.clipTrain.steps, step: config.clipTrain.steps, losses: [] }
      : await trainClip(clip, data, config, { checkpointDir: clipDir, progress, onStep: recordUpdate('clip'), maxUpdates: opts.maxUpdates });
  } catch (e) {
    clip.dispose();
    throw e;
  }
  secs.clip = (Date.now() - t) / 1000;
  flushTiming();
  log(`clip: steps ${clipRes.startStep}..${clipRes.step} of ${config.clipTrain.steps} in ${secs.clip.toFixed(1)} s`);
  const result: PretrainResult = {
    config,
    corpus,
    clip: { startStep: clipRes.startStep, step: clipRes.step, lastLoss: clipRes.losses.at(-1) ?? lastLogged(lossFile, 'clip') },
    diffusion: { startStep: 0, step: 0, lastLoss: null },
    seconds: secs,
    done: false,
  };
  if (clipRes.step < config.clipTrain.steps) {
    clip.dispose();
    return result;
  }
  // The diffusion model uses the saved (final) text encoder, so a resumed run conditions on exactly the same weights.
  clip.dispose();
  clip = (await loadMiniClip(clipDir)).clip;

  // Diffusion.
  t = Date.now();
  const model = new TextToImage(clip, config.diffusion, config.seed);
  if (initFrom && !hasCheckpoint(diffDir)) {
    try {
      await warmStart(model, path.join(initFrom.dir, 'diffusion'), { sameText: clipFrom === null });
    } catch (e) {
      model.dispose({ clip: true });
      throw e;
    }
    log(`diffusion: warm start from ${initFrom.dir} (sha256 ${initFrom.sha256.slice(0, 12)})`);
  }
  const prompts = samplePrompts();
  const every = opts.sampleEvery ?? config.diffusionTrain.checkpointEvery;
  const grid = (name: string, ema?: Readonly<Record<string, tf.Variable>>) => {
    const imgs = withWeights(model.unet.variables, ema, () => sampleSync(model, config, prompts, `${config.seed}/samples`));
    writeFileAtomic(path.join(out, 'samples', name), encodePng(tileImages(imgs, { columns: prompts.length, scale: 3 })));
  };
  const onLoss = recordUpdate('diffusion');
  try {
    const res = await trainDiffusion(model, data, config, {
      checkpointDir: diffDir,
      progress,
      maxUpdates: opts.maxUpdates,
      onStep: (s, loss, ema) => {
        onLoss(s, loss);
        if (every > 0 && s % every === 0 && s < config.diffusionTrain.steps) grid(`step-${String(s).padStart(6, '0')}.png`, ema);
      },
    });
    result.diffusion = { startStep: res.startStep, step: res.step, lastLoss: res.losses.at(-1) ?? lastLogged(lossFile, 'diffusion') };
    if (res.step >= config.diffusionTrain.steps) {
      // the final grid shows what `generate` will draw: the saved checkpoint, with its moving average
      const saved = (await loadTextToImage(diffDir)).model;
      try {
        writeFileAtomic(path.join(out, 'samples', 'final.png'), encodePng(tileImages(sampleSync(saved, config, prompts, `${config.seed}/samples`), { columns: prompts.length, scale: 3 })));
      } finally {
        saved.dispose({ clip: true });
      }
      writeFileAtomic(path.join(out, 'samples', 'prompts.txt'), prompts.join('\n') + '\n');
      result.done = true;
    }
  } finally {
    model.dispose({ clip: true });
  }
  secs.diffusion = (Date.now() - t) / 1000;
  flushTiming();
  log(`diffusion: steps ${result.diffusion.startStep}..${result.diffusion.step} of ${config.diffusionTrain.steps} in ${secs.diffusion.toFixed(1)} s`);
  return result;
}


/** Where a warm start comes from: the folder and its diffusion weights' sha256 (what a resume must match). */
export interface InitFrom {
  dir: string;
  sha256: string;
}

/**
 * Check that `dir` can warm-start a run with `config`: a finished MiniCLIP trained exactly as the
 * run's would be (it is used as it is; not read when the run has its own, `ownClip`), and a
 * diffusion checkpoint of the same architecture. Throws one line naming what differs.
 */
export function checkInitFrom(dir: string, config: PretrainConfig, opts: { ownClip?: boolean } = {}): InitFrom {
  const clipDir = path.join(dir, 'clip'), diffDir = path.join(dir, 'diffusion');
  for (const d of opts.ownClip ? [diffDir] : [clipDir, diffDir]) if (!hasCheckpoint(d)) throw new Error(`--init-from ${dir}: no checkpoint in ${d} (a finished pretrain run or a shipped model folder holds clip/ and diffusion/)`);
  if (!opts.ownClip) checkFinishedClip('--init-from', dir, clipDir, config);
  const diffMeta = readModelMeta(diffDir, 'diffusion');
  if (JSON.stringify(diffMeta.config.diffusion) !== JSON.stringify(config.diffusion) && grownLevels(diffMeta.config.diffusion, config.diffusion) === null) {
    throw new Error(
      `--init-from ${dir}: its diffusion model differs from the run's (only attention levels or self-conditioning may be added): diffusion was ${JSON.stringify(diffMeta.config.diffusion)}, now ${JSON.stringify(config.diffusion)}`,
    );
  }
  return { dir, sha256: readCheckpointIndex(diffDir).sha256 };
}

/**
 * The attention levels a run adds to a warm start's UNet, or null when the two diffusion
 * configs differ in anything else (or the run drops a level or self-conditioning). An added
 * block starts as the identity (its attention and MLP output projections are zero), as does
 * added self-conditioning (its input convolution is zero), so the grown UNet first computes
 * exactly what the source did.
 */
export function grownLevels(from: PretrainConfig['diffusion'], to: PretrainConfig['diffusion']): number[] | null {
  const strip = (d: PretrainConfig['diffusion']) => JSON.stringify({ ...d, unet: { ...d.unet, attentionLevels: [], selfCondition: false } });
  if (from.unet.selfCondition && !to.unet.selfCondition) return null;
  if (strip(from) !== strip(to) || !from.unet.attentionLevels.every((l) => to.unet.attentionLevels.includes(l))) return null;
  return to.unet.attentionLevels.filter((l) => !from.unet.attentionLevels.includes(l));
}

/**
 * Check that `dir` holds a finished MiniCLIP trained as `config` says (`dir` itself, or its clip/):
 * what `--clip-from` takes as it is. Throws one line naming what differs.
 */
export function checkClipFrom(dir: string, config: PretrainConfig): { dir: string; sha256: string } {
  const clipDir = [dir, path.join(dir, 'clip')].find((d) => hasCheckpoint(d) && readCheckpointIndex<{ kind?: string }>(d).meta.kind === 'miniclip');
  if (!clipDir) throw new Error(`--clip-from ${dir}: no MiniCLIP checkpoint there or in its clip/ (a pretrain run, a shipped model, or scripts/miniclip-counts.ts --out)`);
  checkFinishedClip('--clip-from', dir, clipDir, config);
  return { dir: clipDir, sha256: readCheckpointIndex(clipDir).sha256 };
}

function checkFinishedClip(flag: string, dir: string, clipDir: string, config: PretrainConfig): void {
  const clipMeta = readModelMeta(clipDir, 'miniclip');
  if (clipMeta.step < clipMeta.config.clipTrain.steps) throw new Error(`${flag} ${dir}: its MiniCLIP is not finished (${clipMeta.step}/${clipMeta.config.clipTrain.steps})`);
  const clipWhy = resumeMismatch(clipMeta.config, config, 'miniclip');
  if (clipWhy) throw new Error(`${flag} ${dir}: its MiniCLIP was trained otherwise (${clipWhy}); give the run its clip and clipTrain settings in --config, or another MiniCLIP with --clip-from`);
}

/**
 * Load a diffusion checkpoint's UNet weights into `model` (the moving average where it kept one).
 * With `sameText` its text encoder must equal the model's; without, the checkpoint's is not read.
 * Attention blocks the checkpoint lacks (`grownLevels`) keep their identity start.
 */
async function warmStart(model: TextToImage, dir: string, opts: { sameText: boolean }): Promise<void> {
  const text = new Set(Object.keys(model.variables).filter((k) => !(k in model.unet.variables)));
  const saved = new Set(readCheckpointIndex(dir).specs.map((s) => s.name));
  const fresh = new Set(Object.keys(model.unet.variables).filter((k) => !saved.has(k)));
  const extra = await loadWeightsInto(dir, model.variables, text, opts.sameText ? 'check' : 'skip', fresh);
  try {
    for (const [k, v] of Object.entries(model.unet.variables)) if (extra[`${EMA_PREFIX}${k}`]) v.assign(extra[`${EMA_PREFIX}${k}`]);
  } finally {
    tf.dispose(Object.values(extra));
  }
}

/** Read a --config JSON file: errors name the file. */
export function readOverridesFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new Error(`cannot read config file ${file}`);
  }
  try {
    const v = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v;
  } catch (e) {
    throw new Error(`config file ${file} is not a JSON object: ${(e as Error).message}`);
  }
}
