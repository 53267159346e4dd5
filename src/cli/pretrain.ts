/**
 * `t2i-align pretrain`: build the pretraining corpus from the world, train
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
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import { z } from 'zod';
import { hasCheckpoint, initBackend, warnIfSlowPath, writeFileAtomic } from '../engine';
import {
  ddimSample, DeepPartial, Example, SamplerConfig, MiniClip, PresetName, PretrainConfig, PretrainConfigSchema, readModelMeta,
  resolvePretrainConfig, resumeMismatch, shuffledBatches, TextToImage, trainClip, trainDiffusion, loadMiniClip, loadTextToImage, EMA_PREFIX,
} from '../models';
import { CorpusConfig, CorpusConfigSchema, encodePng, ImageLike, pretrainingCorpus, resolveCorpusConfig, seenPrompts, tileImages } from '../world';
import { guidanceOption, intOption } from './options';

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
  // Check the keys against the schema first so the error names the full path of an unknown key.
  const unknownKeys = [...checkKeys(modelOver, PretrainConfigSchema, ''), ...checkKeys(corpusOver ?? {}, CorpusConfigSchema, 'corpus')];
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

/** Unknown keys of `value` against a zod object schema, recursively, as "a.b.c: unknown key". */
function checkKeys(value: unknown, schema: z.ZodType, prefix: string): string[] {
  const def = (schema as unknown as { def?: { type?: string; shape?: Record<string, z.ZodType> } }).def;
  if (!def || def.type !== 'object' || !def.shape || value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    const sub = def.shape[k];
    if (!sub) out.push(`${key}: unknown key (allowed: ${Object.keys(def.shape).join(', ')})`);
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

/** Keep the loss lines of `stage` up to `upTo` (a resumed run redoes the steps after its checkpoint). */
function trimLosses(file: string, stage: LossLine['stage'], upTo: number): void {
  if (!fs.existsSync(file)) return;
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const kept = lines.filter((l) => {
    try {
      const r = JSON.parse(l) as LossLine;
      return r.stage !== stage || r.step <= upTo;
    } catch {
      return false;
    }
  });
  if (kept.length !== lines.length) writeFileAtomic(file, kept.map((l) => l + '\n').join(''));
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

/** Run (or resume) the whole pretraining into `opts.out`. */
export async function pretrain(opts: PretrainOptions): Promise<PretrainResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const { config, corpus } = resolvePretrainRun(opts.preset, opts.overrides ?? {});
  const out = opts.out;
  fs.mkdirSync(path.join(out, 'samples'), { recursive: true });
  const cfgFile = path.join(out, 'config.json');
  const resolved = { preset: opts.preset, ...config, corpus };
  if (fs.existsSync(cfgFile)) {
    const prev = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
    if (JSON.stringify(prev.corpus) !== JSON.stringify(corpus)) {
      throw new Error(`${out} holds a run with another corpus config (${JSON.stringify(prev.corpus)}); use another --out`);
    }
  }
  // Refuse a resume that would change the numbers before anything is written (the loops check again).
  for (const [dir, kind] of [[path.join(out, 'clip'), 'miniclip'], [path.join(out, 'diffusion'), 'diffusion']] as const) {
    if (!hasCheckpoint(dir)) continue;
    const why = resumeMismatch(readModelMeta(dir, kind).config, config, kind);
    if (why) throw new Error(`cannot resume from ${dir}: ${why}; use another output folder, or the checkpoint's settings`);
  }
  writeFileAtomic(cfgFile, JSON.stringify(resolved, null, 2) + '\n');
  const lossFile = path.join(out, 'losses.jsonl');
  const timingFile = path.join(out, 'timing.json');
  const clipDir = path.join(out, 'clip');
  const diffDir = path.join(out, 'diffusion');
  const startedAt = new Date().toISOString();
  const t0 = Date.now();
  const secs = { corpus: 0, clip: 0, diffusion: 0, total: 0 };
  const flushTiming = () => {
    secs.total = (Date.now() - t0) / 1000;
    writeTiming(timingFile, { startedAt, ...secs });
  };
  const appendLoss = (stage: LossLine['stage']) => (step: number, loss: number) => fs.appendFileSync(lossFile, JSON.stringify({ stage, step, loss }) + '\n');
  const progress = opts.progress === false ? (false as const) : undefined;

  // Corpus.
  let t = Date.now();
  const examples: Example[] = [];
  for (const item of pretrainingCorpus(corpus)) examples.push({ image: item.image, caption: item.caption });
  secs.corpus = (Date.now() - t) / 1000;
  log(`corpus: ${examples.length} pairs in ${secs.corpus.toFixed(1)} s`);
  const data = shuffledBatches(examples, config.seed);

  // MiniCLIP.
  t = Date.now();
  trimLosses(lossFile, 'clip', stepOf(clipDir, 'miniclip'));
  trimLosses(lossFile, 'diffusion', stepOf(diffDir, 'diffusion'));
  let clip: MiniClip = new MiniClip(config.clip, config.seed);
  let clipRes;
  try {
    clipRes = await trainClip(clip, data, config, { checkpointDir: clipDir, progress, onStep: appendLoss('clip'), maxUpdates: opts.maxUpdates });
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
    clip: { startStep: clipRes.startStep, step: clipRes.step, lastLoss: clipRes.losses.at(-1) ?? null },
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
  const prompts = samplePrompts();
  const every = opts.sampleEvery ?? config.diffusionTrain.checkpointEvery;
  const grid = (name: string, ema?: Readonly<Record<string, tf.Variable>>) => {
    const imgs = withWeights(model.unet.variables, ema, () => sampleSync(model, config, prompts, `${config.seed}/samples`));
    writeFileAtomic(path.join(out, 'samples', name), encodePng(tileImages(imgs, { columns: prompts.length, scale: 3 })));
  };
  const onLoss = appendLoss('diffusion');
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
    result.diffusion = { startStep: res.startStep, step: res.step, lastLoss: res.losses.at(-1) ?? null };
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

/** `pretrain`: train MiniCLIP and the diffusion model from scratch (or resume). */
export function registerPretrain(program: Command): void {
  registerShip(program);
  program
    .command('pretrain')
    .description('pretrain MiniCLIP and the text-to-image diffusion model on the world corpus (resumable: rerun the same command)')
    .option('--quick', 'the tiny preset (a minute or two; for tests and smoke runs)')
    .option('--out <dir>', 'output folder (default results/pretrain/<preset>)')
    .option('--config <file.json>', 'overrides of the preset (same shape as config.json; "corpus" for the corpus)')
    .option('--corpus-size <n>', 'pairs in the pretraining corpus (overrides corpus.size; default 10000, quick 1000)')
    .option('--seed <n>', 'seed of weights, batches, noise and the corpus')
    .option('--sample-every <n>', 'sample grid every n diffusion updates (default: the checkpoint interval; 0: final only)')
    .option('--max-updates <n>', 'stop each stage after n updates in this call (resume later)')
    .action(async (opts: { quick?: boolean; out?: string; config?: string; corpusSize?: string; seed?: string; sampleEvery?: string; maxUpdates?: string }) => {
      const preset: PresetName = opts.quick ? 'quick' : 'default';
      const overrides: PretrainOverrides = opts.config ? (readOverridesFile(opts.config) as PretrainOverrides) : {};
      if (opts.seed !== undefined) {
        const seed = intOption('--seed', opts.seed, 0, 2 ** 31);
        overrides.seed = seed;
        overrides.corpus = { ...(overrides.corpus ?? {}), seed };
      }
      if (opts.corpusSize !== undefined) overrides.corpus = { ...(overrides.corpus ?? {}), size: intOption('--corpus-size', opts.corpusSize, 1, 10_000_000) };
      resolvePretrainRun(preset, overrides); // fail on bad config before the backend starts
      const b = await initBackend();
      warnIfSlowPath();
      const out = opts.out ?? path.join('results', 'pretrain', preset);
      console.log(`pretrain (${preset}) -> ${out} on ${b.active} (${b.threads} thread(s))`);
      const r = await pretrain({
        preset,
        out,
        overrides,
        sampleEvery: opts.sampleEvery !== undefined ? intOption('--sample-every', opts.sampleEvery, 0, 10_000_000) : undefined,
        maxUpdates: opts.maxUpdates !== undefined ? intOption('--max-updates', opts.maxUpdates, 1, 10_000_000) : undefined,
      });
      console.log(
        r.done
          ? `done: ${out}/diffusion is the text-to-image checkpoint (clip loss ${r.clip.lastLoss?.toFixed(4) ?? '-'}, diffusion loss ${r.diffusion.lastLoss?.toFixed(4) ?? '-'})`
          : `stopped early (clip ${r.clip.step}/${r.config.clipTrain.steps}, diffusion ${r.diffusion.step}/${r.config.diffusionTrain.steps}): rerun the same command to resume`,
      );
    });
}

/**
 * Make a pretrain run shippable (what data/base-model holds): weights-only
 * checkpoints (no Adam state), the resolved config, losses binned by 10
 * updates, timing, the final sample grid, MiniCLIP retrieval and the judge's
 * per-category alignment (metrics.json, eval/ grids), and a README.
 */
export async function shipBaseModel(
  run: string,
  dest: string,
  opts: { imagesPerCategory?: number; promptsPerCategory?: number; seeds?: number[]; sampler?: Partial<SamplerConfig>; log?: (s: string) => void } = {},
): Promise<Record<string, unknown>> {
  const log = opts.log ?? ((s: string) => console.log(s));
  const { loadTextToImage, countParams, saveModelCheckpoint } = await import('../models');
  const { readCheckpointIndex } = await import('../engine');
  const ev = await import('../eval');
  const runConfig = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8'));
  const { model, meta } = await loadTextToImage(path.join(run, 'diffusion'));
  const { clip, meta: cmeta } = await loadMiniClip(path.join(run, 'clip'));
  if (meta.step < meta.config.diffusionTrain.steps) throw new Error(`${run}: the diffusion run is not finished (${meta.step}/${meta.config.diffusionTrain.steps}); resume it first`);
  // The sampler is not part of training: the shipped default may be tuned after it (recorded in config.json).
  meta.config.sampler = { ...meta.config.sampler, ...opts.sampler };
  runConfig.sampler = meta.config.sampler;
  // Build the folder beside dest and swap it in at the end: a failed ship leaves the shipped model as it was.
  const final = dest;
  dest = `${final}.tmp-${process.pid}`;
  try {
    fs.rmSync(dest, { recursive: true, force: true });
    fs.mkdirSync(dest, { recursive: true });
    await saveModelCheckpoint(path.join(dest, 'diffusion'), model.variables, meta);
    await saveModelCheckpoint(path.join(dest, 'clip'), clip.variables, cmeta);
    fs.writeFileSync(path.join(dest, 'config.json'), JSON.stringify(runConfig, null, 2) + '\n');
    const losses = ev.readLosses(path.join(run, 'losses.jsonl'));
    fs.writeFileSync(path.join(dest, 'losses.csv'), ev.lossesCsv(ev.binLosses(losses, 10)));
    const timing = JSON.parse(fs.readFileSync(path.join(run, 'timing.json'), 'utf8'));
    fs.copyFileSync(path.join(run, 'samples', 'final.png'), path.join(dest, 'samples-final.png'));
    fs.copyFileSync(path.join(run, 'samples', 'prompts.txt'), path.join(dest, 'samples-final.txt'));
    const retrieval = ev.clipRetrieval(clip, { n: 256 });
    log(`MiniCLIP retrieval top-1 ${retrieval.top1.rate.toFixed(3)} (n ${retrieval.n})`);
    const r = await ev.evaluateBaseModel(model, meta.config.sampler, {
      imagesPerCategory: opts.imagesPerCategory ?? 96,
      promptsPerCategory: opts.promptsPerCategory ?? 24,
      seeds: opts.seeds ?? [0],
      onBatch: (d, t) => process.stderr.write(`eval ${d}/${t}\n`),
    });
    ev.writeBaseEval(path.join(dest, 'eval'), r, (imgs) => encodePng(tileImages(imgs, { columns: 8, scale: 3 })));
    const side = await ev.rendersBesideSamples(model, meta.config.sampler, ev.comparisonPrompts(), { seed: 0, columns: 8, scale: 4 });
    fs.writeFileSync(path.join(dest, 'renders-vs-samples.png'), encodePng(side.grid));
    fs.writeFileSync(path.join(dest, 'renders-vs-samples.txt'), side.prompts.map((p, i) => `${side.verdicts[i]} ${p}`).join('\n') + '\n');
    const lastMean = (stage: string) => {
      const ps = losses.filter((p) => p.stage === stage).slice(-100);
      return ps.reduce((a, p) => a + p.loss, 0) / Math.max(1, ps.length);
    };
    const metrics = {
      run,
      seed: meta.config.seed,
      corpus: runConfig.corpus,
      steps: { clip: cmeta.step, diffusion: meta.step },
      emaDecay: meta.config.diffusionTrain.emaDecay,
      shipGuidance: opts.sampler?.guidanceScale ?? null,
      params: { unet: countParams(model.unet.variables), textEncoder: countParams(clip.textVariables()), miniclip: countParams(clip.variables) },
      finalLoss: { clipMeanLast100: lastMean('clip'), diffusionMeanLast100: lastMean('diffusion') },
      wallSeconds: timing.total,
      bytes: { diffusion: readCheckpointIndex(path.join(dest, 'diffusion')).byteLength, clip: readCheckpointIndex(path.join(dest, 'clip')).byteLength },
      clipRetrieval: retrieval,
      alignment: ev.withoutImages(r),
      targets: ev.baseModelTargets(r),
    };
    fs.writeFileSync(path.join(dest, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
    fs.writeFileSync(path.join(dest, 'README.md'), baseModelReadme(metrics, ev.alignmentTable(r)));
    log(ev.alignmentTable(r));
    fs.rmSync(final, { recursive: true, force: true });
    fs.renameSync(dest, final);
    return metrics;
  } catch (e) {
    fs.rmSync(dest, { recursive: true, force: true });
    throw e;
  } finally {
    model.dispose({ clip: true });
    clip.dispose();
  }
}

function baseModelReadme(m: Record<string, any>, table: string): string {
  const w = m.wallSeconds;
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
  const a = m.alignment.config;
  return `# The shipped base models

Made by \`npx t2i-align pretrain --out results/pretrain/default\` (the \`default\` preset, seed ${m.seed}; corpus of ${m.corpus.size} pairs, seed ${m.corpus.seed})
then \`npx t2i-align ship-base-model --run results/pretrain/default${m.shipGuidance !== null ? ` --guidance ${m.shipGuidance}` : ''}\`. The kit loads this folder by default
(\`generate\`, \`eval-base\`, \`loadModel()\`).

| file | what |
|---|---|
| \`diffusion/\` | text-to-image checkpoint: UNet (${m.params.unet.toLocaleString('en')} parameters) + the frozen MiniCLIP text encoder (${m.params.textEncoder.toLocaleString('en')}); ${mb(m.bytes.diffusion)}; weights only (no optimizer state); the UNet's weights are ${m.emaDecay > 0 ? `the run's exponential moving average (decay ${m.emaDecay})` : 'the last trained ones'} |
| \`clip/\` | MiniCLIP checkpoint (${m.params.miniclip.toLocaleString('en')} parameters): text + image encoder; ${mb(m.bytes.clip)} |
| \`config.json\` | the resolved model/training config and corpus config of the run |
| \`losses.csv\` | training loss per stage, mean over windows of 10 updates |
| \`metrics.json\` | everything below, as data |
| \`samples-final.png\` | the run's final sample grid (prompts in \`samples-final.txt\`) |
| \`renders-vs-samples.png\` | two seen and two unseen prompts per category: the renderer's image (rows 1 and 3) above the model's sample of the same prompt (rows 2 and 4), upscaled; prompts and the judge's verdicts on the samples in \`renders-vs-samples.txt\` |
| \`eval/\` | the alignment eval: \`base-eval.json\` and the first 16 images per set and category (\`grid-*.png\`, verdicts and prompts in \`grid-*.txt\`) |

## Training

${m.steps.clip} MiniCLIP updates, then ${m.steps.diffusion} diffusion updates. Wall time on the 2-core dev machine (shared with other jobs):
corpus ${w.corpus.toFixed(0)} s, MiniCLIP ${(w.clip / 60).toFixed(1)} min, diffusion ${(w.diffusion / 60).toFixed(1)} min, total ${(w.total / 60).toFixed(1)} min.
Final losses (mean of the last 100 updates): MiniCLIP contrastive ${m.finalLoss.clipMeanLast100.toFixed(3)}, diffusion (v-MSE) ${m.finalLoss.diffusionMeanLast100.toFixed(4)}.

MiniCLIP image -> caption top-1 on ${m.clipRetrieval.n} fresh renders of distinct prompts (exact prompt among all ${m.clipRetrieval.n}):
${(100 * m.clipRetrieval.top1.rate).toFixed(1)}% [${(100 * m.clipRetrieval.top1.lo).toFixed(1)}, ${(100 * m.clipRetrieval.top1.hi).toFixed(1)}] (chance ${(100 * m.clipRetrieval.chance).toFixed(2)}%).

## Alignment (the judge, per category)

${a.imagesPerCategory} images per set and category (up to ${a.promptsPerCategory} prompts per category, a seeded subsample; images spread evenly over them),
image seeds ${JSON.stringify(a.seeds)}, prompt-subsample seed ${a.seed}; DDIM ${a.sampler.steps} steps, guidance ${a.sampler.guidanceScale}, eta ${a.sampler.eta}.
Accuracy: every attribute the prompt names is right; 95% Wilson interval. "object recognised": the judge finds at least one object and all have the prompt's shape.
Reproduce: \`npx t2i-align eval-base --per-category ${a.imagesPerCategory} --prompts-per-category ${a.promptsPerCategory} --seeds ${a.seeds.join(',')} --json\`.

${table}

Targets of the base model (issue 9: it should draw the object and get the attributes only partly right, like the paper's Stable Diffusion):

| target | measured | met |
|---|---|---|
${(m.targets as Array<{ target: string; value: number; ok: boolean }>).map((t) => `| ${t.target} | ${(100 * t.value).toFixed(1)}% | ${t.ok ? 'yes' : '**no**'} |`).join('\n')}
`;
}

/** `ship-base-model`: export a finished pretrain run as the shipped base model folder. */
export function registerShip(program: Command): void {
  program
    .command('ship-base-model')
    .description('export a finished pretrain run (weights only) with its config, losses, metrics and alignment eval, as data/base-model')
    .option('--run <dir>', 'pretrain output folder', path.join('results', 'pretrain', 'default'))
    .option('--out <dir>', 'destination (replaced)', path.join('data', 'base-model'))
    .option('--per-category <n>', 'eval images per set and category', '96')
    .option('--prompts-per-category <n>', 'eval prompts per category', '24')
    .option('--guidance <s>', "the shipped sampler's guidance scale (default: the run's)")
    .action(async (opts: { run: string; out: string; perCategory: string; promptsPerCategory: string; guidance?: string }) => {
      const guidance = opts.guidance === undefined ? undefined : guidanceOption(opts.guidance);
      await initBackend();
      await shipBaseModel(opts.run, opts.out, {
        imagesPerCategory: intOption('--per-category', opts.perCategory, 1, 100000),
        promptsPerCategory: intOption('--prompts-per-category', opts.promptsPerCategory, 1, 100000),
        sampler: guidance === undefined ? {} : { guidanceScale: guidance },
      });
      console.log(`${opts.out}: shipped`);
    });
}
