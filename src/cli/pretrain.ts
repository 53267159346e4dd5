/**
 * `t2i-align pretrain` (src/pipeline/pretrain.ts does the work) and
 * `ship-base-model`: make a pretrain run into what data/base-model holds.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { initBackend, readCheckpointIndex, warnIfSlowPath } from '../engine';
import { processAlive } from '../engine/checkpoint';
import { loadMiniClip, PresetName, SamplerConfig } from '../models';
import { encodePng, tileImages } from '../world';
import { checkClipFrom, checkInitFrom, pretrain, PretrainOverrides, readOverridesFile, resolvePretrainRun } from '../pipeline/pretrain';
import { addSamplerOptions, intOption, SamplerFlags, samplerOverrides } from './options';
import { makeDir, readJsonFile } from '../engine/files';
import { TargetCheck, targetLine } from '../eval/base';


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
    .option('--init-from <dir>', "warm start: take this finished run's (or shipped model's) MiniCLIP and start the diffusion stage from its UNet weights")
    .option('--clip-from <dir>', "take this folder's finished MiniCLIP (a run, a shipped model, or a MiniCLIP checkpoint folder) instead; with --init-from only the UNet comes from there")
    .action(async (opts: { quick?: boolean; out?: string; config?: string; corpusSize?: string; seed?: string; sampleEvery?: string; maxUpdates?: string; initFrom?: string; clipFrom?: string }) => {
      const preset: PresetName = opts.quick ? 'quick' : 'default';
      const overrides: PretrainOverrides = opts.config ? (readOverridesFile(opts.config) as PretrainOverrides) : {};
      if (opts.seed !== undefined) {
        const seed = intOption('--seed', opts.seed, 0, 2 ** 31);
        overrides.seed = seed;
        overrides.corpus = { ...(overrides.corpus ?? {}), seed };
      }
      if (opts.corpusSize !== undefined) overrides.corpus = { ...(overrides.corpus ?? {}), size: intOption('--corpus-size', opts.corpusSize, 1, 10_000_000) };
      const { config } = resolvePretrainRun(preset, overrides); // fail on bad config before the backend starts
      // A folder that is gone is pretrain's to judge (a resumed run may hold what it gave).
      if (opts.clipFrom !== undefined && fs.existsSync(opts.clipFrom)) checkClipFrom(opts.clipFrom, config);
      if (opts.initFrom !== undefined && fs.existsSync(opts.initFrom)) checkInitFrom(opts.initFrom, config, { ownClip: opts.clipFrom !== undefined });
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
        initFrom: opts.initFrom,
        clipFrom: opts.clipFrom,
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
  // The swap at the end replaces the destination folder whole: it must be new, empty or a shipped model, and it is
  // resolved first (with a trailing slash the temporary folder would be inside it, and deleted with it).
  dest = path.resolve(dest);
  if (dest === path.resolve(run)) throw new Error(`--out ${dest} is the run itself (--run): shipping replaces the folder whole, which would delete the run; give another folder`);
  if (fs.existsSync(dest)) {
    if (!fs.statSync(dest).isDirectory()) throw new Error(`--out ${dest} is a file, not a folder`);
    // A pretrain run (its loss log, timing, optimizer state) is not a shipped model, though it holds diffusion/checkpoint.json too.
    const runFiles = ['losses.jsonl', 'timing.json'].filter((f) => fs.existsSync(path.join(dest, f)));
    if (runFiles.length) throw new Error(`--out ${dest} is a pretrain run (it holds ${runFiles.join(' and ')}), and shipping replaces the folder whole: give a new or empty folder, or a shipped model's to replace it`);
    if (fs.readdirSync(dest).length > 0 && !fs.existsSync(path.join(dest, 'diffusion', 'checkpoint.json'))) {
      throw new Error(`--out ${dest} holds files but no shipped model (diffusion/checkpoint.json), and shipping replaces the folder whole: give a new or empty folder, or a shipped model's to replace it`);
    }
  }
  if (!fs.existsSync(run) || !fs.statSync(run).isDirectory()) throw new Error(`--run ${run}: no such folder; give the --out folder of a finished \`t2i-align pretrain\``);
  const lacks = ['config.json', 'losses.jsonl', 'diffusion/checkpoint.json', 'clip/checkpoint.json'].filter((f) => !fs.existsSync(path.join(run, f)));
  if (lacks.length > 0) {
    const shipped = fs.existsSync(path.join(run, 'metrics.json')) ? ' (it is a shipped model: shipping starts from the run it came from)' : '';
    throw new Error(`--run ${run} is not a pretrain run: it lacks ${lacks.join(', ')}${shipped}; give the --out folder of a finished \`t2i-align pretrain\``);
  }
  const { loadTextToImage, countParams, saveModelCheckpoint } = await import('../models');
  const ev = await import('../eval');
  const runConfig = readJsonFile<Record<string, unknown> & { sampler?: unknown }>(path.join(run, 'config.json'), `run \`pretrain --out ${run}\` again to remake it`);
  if (runConfig === null || typeof runConfig !== 'object' || Array.isArray(runConfig)) throw new Error(`${path.join(run, 'config.json')}: not a JSON object of the run's settings: run \`pretrain --out ${run}\` again to remake it`);
  // The run's records, read and checked before the minutes of evaluation (they were read after it, raw).
  const losses = ev.readLosses(path.join(run, 'losses.jsonl'));
  const timing = readJsonFile<{ total?: Record<string, unknown> }>(path.join(run, 'timing.json'), `run \`pretrain --out ${run}\` again to remake it`);
  const total = timing?.total;
  if (!total || typeof total !== 'object' || !['corpus', 'clip', 'diffusion', 'total'].every((k) => typeof total[k] === 'number' && Number.isFinite(total[k]))) {
    throw new Error(`${path.join(run, 'timing.json')}: its "total" is not the run's wall seconds per stage ({"corpus", "clip", "diffusion", "total"}, numbers): run \`pretrain --out ${run}\` again to remake it`);
  }
  const { model, meta } = await loadTextToImage(path.join(run, 'diffusion'));
  const { clip, meta: cmeta } = await loadMiniClip(path.join(run, 'clip'));
  if (meta.step < meta.config.diffusionTrain.steps) throw new Error(`${run}: the diffusion run is not finished (${meta.step}/${meta.config.diffusionTrain.steps}); resume it first`);
  // The sampler is not part of training: the shipped default may be tuned after it (recorded in config.json).
  meta.config.sampler = { ...meta.config.sampler, ...opts.sampler };
  runConfig.sampler = meta.config.sampler;
  // Build the folder beside dest and swap it in at the end: a failed ship leaves the shipped model as it was.
  const final = dest;
  dest = `${final}.tmp-${process.pid}`;
  // A ship stopped by Ctrl-C or a kill (its evaluation is minutes of synchronous work, so no handler could run)
  // leaves its temporary folder: the next ship to this destination removes those whose process is gone.
  removeStaleShipFolders(final);
  const aside = `${final}.old-${process.pid}`; // the shipped model, while the new one is renamed in
  try {
    fs.rmSync(dest, { recursive: true, force: true });
    makeDir(dest);
    await saveModelCheckpoint(path.join(dest, 'diffusion'), model.variables, meta);
    await saveModelCheckpoint(path.join(dest, 'clip'), clip.variables, cmeta);
    fs.writeFileSync(path.join(dest, 'config.json'), JSON.stringify(runConfig, null, 2) + '\n');
    fs.writeFileSync(path.join(dest, 'losses.csv'), ev.lossesCsv(ev.binLosses(losses, 10)));
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
    // null: the stage did not train in this run (a warm start takes MiniCLIP as it is).
    const lastMean = (stage: string) => {
      const ps = losses.filter((p) => p.stage === stage).slice(-100);
      return ps.length ? ps.reduce((a, p) => a + p.loss, 0) / ps.length : null;
    };
    const metrics = {
      run,
      seed: meta.config.seed,
      corpus: runConfig.corpus,
      steps: { clip: cmeta.step, diffusion: meta.step },
      emaDecay: meta.config.diffusionTrain.emaDecay,
      /** Sampler settings given to ship-base-model (they override the run's and are shipped). */
      shipSampler: opts.sampler ?? {},
      params: { unet: countParams(model.unet.variables), textEncoder: countParams(clip.textVariables()), miniclip: countParams(clip.variables) },
      finalLoss: { clipMeanLast100: lastMean('clip'), diffusionMeanLast100: lastMean('diffusion') },
      wallSeconds: total,
      stages: trainingStages(runConfig, total as TrainingStage['wallSeconds'], meta.step),
      bytes: { diffusion: readCheckpointIndex(path.join(dest, 'diffusion')).byteLength, clip: readCheckpointIndex(path.join(dest, 'clip')).byteLength },
      clipRetrieval: retrieval,
      alignment: ev.withoutImages(r),
      targets: ev.baseModelTargets(r),
    };
    fs.writeFileSync(path.join(dest, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
    fs.writeFileSync(path.join(dest, 'README.md'), baseModelReadme(metrics, ev.alignmentTable(r)));
    log(ev.alignmentTable(r));
    // The shipped model is moved aside, not deleted, until the new one is in its place: a kill between the two
    // renames leaves it beside the destination (`.old-<pid>`), and the next ship puts it back before it starts.
    if (fs.existsSync(final)) fs.renameSync(final, aside);
    fs.renameSync(dest, final);
    fs.rmSync(aside, { recursive: true, force: true });
    return metrics;
  } catch (e) {
    fs.rmSync(dest, { recursive: true, force: true });
    if (fs.existsSync(aside) && !fs.existsSync(final)) fs.renameSync(aside, final);
    throw e;
  } finally {
    model.dispose({ clip: true });
    clip.dispose();
  }
}

/** How long a ship's temporary folder must have gone unchanged before another ship may remove it. */
const STALE_SHIP_MS = 60 * 60_000;

/**
 * Remove `${dest}.tmp-PID` folders of ships killed mid-way: no process of that pid runs here and the folder has
 * not changed for an hour (a ship on another machine sharing the folder has a pid this one cannot see).
 */
export function removeStaleShipFolders(dest: string): string[] {
  const parent = path.dirname(dest);
  const prefix = `${path.basename(dest)}.tmp-`;
  if (!fs.existsSync(parent)) return [];
  // A shipped model moved aside by a ship killed before its new one was renamed in: back in its place. One whose
  // replacement did land is the old model: removed.
  const asidePrefix = `${path.basename(dest)}.old-`;
  for (const f of fs.readdirSync(parent).filter((f) => f.startsWith(asidePrefix) && /^\d+$/.test(f.slice(asidePrefix.length)) && !processAlive(Number(f.slice(asidePrefix.length))))) {
    if (!fs.existsSync(dest)) fs.renameSync(path.join(parent, f), dest);
    else fs.rmSync(path.join(parent, f), { recursive: true, force: true });
  }
  const old = (f: string) => Date.now() - fs.statSync(path.join(parent, f)).mtimeMs > STALE_SHIP_MS;
  const stale = fs.readdirSync(parent).filter((f) => f.startsWith(prefix) && /^\d+$/.test(f.slice(prefix.length)) && !processAlive(Number(f.slice(prefix.length))) && old(f));
  for (const f of stale) fs.rmSync(path.join(parent, f), { recursive: true, force: true });
  return stale;
}

/** One training run behind a shipped model: what it ran and how long it took. */
export interface TrainingStage {
  /** The command (with `--config` overrides spelled out) that ran it. */
  command: string;
  /** The warm start's diffusion weights (sha256), or null for random initial weights. */
  initFrom: string | null;
  diffusionUpdates: number;
  learningRate: number;
  wallSeconds: { corpus: number; clip: number; diffusion: number; total: number };
}

/**
 * The runs behind a model, oldest first: those behind a warm start's source (from its
 * metrics.json when it is a shipped model, else from its config and timing as a pretrain
 * run folder) and then this run.
 */
function trainingStages(runConfig: Record<string, any>, wallSeconds: TrainingStage['wallSeconds'], diffusionUpdates: number): TrainingStage[] {
  const init = runConfig.initFrom as { dir: string; sha256: string } | null | undefined;
  const read = (file: string) => JSON.parse(fs.readFileSync(path.join(init!.dir, file), 'utf8'));
  let earlier: TrainingStage[] = [];
  if (init && fs.existsSync(path.join(init.dir, 'metrics.json'))) {
    const prev = read('metrics.json');
    // A model shipped before metrics listed its runs was one run from random weights.
    earlier = prev.stages ?? trainingStages(read('config.json'), prev.wallSeconds, prev.steps.diffusion);
    // The folder was replaced since this run started from it (e.g. this run shipped into its own source): its list
    // goes on past the source, from the first run that started from the same weights as this one; keep what came before.
    const from = earlier.findIndex((st) => st.initFrom === init.sha256);
    if (from >= 0) earlier = earlier.slice(0, from);
  } else if (init && fs.existsSync(path.join(init.dir, 'timing.json'))) {
    earlier = trainingStages(read('config.json'), read('timing.json').total, readCheckpointIndex<{ step: number }>(path.join(init.dir, 'diffusion')).meta.step);
  }
  const dt = runConfig.diffusionTrain;
  const clipFrom = runConfig.clipFrom as { dir: string } | undefined;
  // --clip-from's MiniCLIP must match the run's clip settings, so the command names them; so are a UNet's
  // settings where they are not its preset's (a warm start may add attention levels).
  // The training settings are named too (a run from random weights may train longer than its preset: the one
  // cycle); a warm start always names its schedule, since its fresh cycle is what the run is.
  const sections = clipFrom ? (['clip', 'clipTrain', 'diffusion', 'corpus'] as const) : (['diffusion', 'corpus'] as const);
  const trained = sectionOverrides(runConfig, 'diffusionTrain');
  const diffusionTrain = init ? { steps: dt.steps, learningRate: dt.learningRate, ...trained } : trained;
  const changed = Object.fromEntries(sections.map((k) => [k, sectionOverrides(runConfig, k)]).filter(([, v]) => v));
  const overrides = JSON.stringify({ ...(diffusionTrain ? { diffusionTrain } : {}), ...changed });
  const flags = `${init ? ` --init-from ${init.dir}` : ''}${clipFrom ? ` --clip-from ${clipFrom.dir}` : ''}${overrides !== '{}' ? ` --config <(echo '${overrides}')` : ''}`;
  const command = `npx t2i-align pretrain${runConfig.preset === 'quick' ? ' --quick' : ''}${flags}`;
  return [...earlier, { command, initFrom: init?.sha256 ?? null, diffusionUpdates, learningRate: dt.learningRate, wallSeconds }];
}

/**
 * The keys of one section of a run's config that it sets otherwise than its preset would (undefined: none),
 * nested objects down to the keys that differ (`{"unet": {"selfCondition": true}}`, not the whole UNet).
 */
function sectionOverrides(runConfig: Record<string, any>, section: 'clip' | 'clipTrain' | 'diffusion' | 'diffusionTrain' | 'corpus'): Record<string, unknown> | undefined {
  if (!runConfig[section]) return undefined;
  const preset = (runConfig.preset ?? 'default') as PresetName;
  const { config, corpus } = resolvePretrainRun(preset, { seed: runConfig.seed });
  return objectDiff(runConfig[section], section === 'corpus' ? corpus : config[section]);
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What `actual` sets otherwise than `plain`, recursing into objects both hold (undefined: nothing). */
function objectDiff(actual: Record<string, unknown>, plain: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const diff: Array<[string, unknown]> = [];
  for (const [k, v] of Object.entries(actual)) {
    const p = plain?.[k];
    if (isPlainObject(v) && isPlainObject(p)) {
      const inner = objectDiff(v, p);
      if (inner) diff.push([k, inner]);
    } else if (JSON.stringify(v) !== JSON.stringify(p)) diff.push([k, v]);
  }
  return diff.length ? Object.fromEntries(diff) : undefined;
}

/** The ship-base-model flags that give these sampler overrides. */
function shipFlags(s: Partial<SamplerConfig>): string {
  const flags: Array<[string, number | string | undefined]> = [['--guidance', s.guidanceScale], ['--steps', s.steps], ['--eta', s.eta]];
  if ('guidanceInterval' in s) flags.push(['--guidance-interval', s.guidanceInterval ? s.guidanceInterval.join(':') : 'all']);
  return flags.filter(([, v]) => v !== undefined).map(([f, v]) => ` ${f} ${v}`).join('');
}

/** The corpus's look-alike confusions in words ('' when it has none). */
function lookalikeNote(corpus: { confuseColor?: number; confuseBackground?: number }, when: string): string {
  const pct = (x = 0) => `${+(100 * x).toFixed(1)}%`;
  return corpus.confuseColor || corpus.confuseBackground
    ? `; ${when}its captions name a color's look-alike in ${pct(corpus.confuseColor)} and a place's in ${pct(corpus.confuseBackground)} of the captions that name one`
    : '';
}

function baseModelReadme(m: Record<string, any>, table: string): string {
  const w = m.wallSeconds;
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
  const a = m.alignment.config;
  const stages = m.stages as TrainingStage[];
  const clipTrained = m.finalLoss.clipMeanLast100 !== null;
  const runFolder = typeof m.run === 'string' ? m.run : 'results/pretrain/default'; // the folder that was shipped
  const made = stages.length > 1
    ? `Made by ${stages.length} training runs, each a warm start from the one before (\`pretrain --init-from\`: the earlier model's MiniCLIP as it is, or the one \`--clip-from\` names, its UNet's averaged weights as the start, and a fresh learning-rate cycle):

| run | diffusion updates | peak learning rate | wall time (min) |
|---|---:|---:|---:|
${stages.map((st) => `| \`${st.command}\` | ${st.diffusionUpdates} | ${st.learningRate} | ${(st.wallSeconds.total / 60).toFixed(1)} |`).join('\n')}

(the default preset, seed ${m.seed}; corpus of ${m.corpus.size} pairs, seed ${m.corpus.seed}${lookalikeNote(m.corpus, 'in the last run ')}),
then \`npx t2i-align ship-base-model --run <the last run's folder>${shipFlags(m.shipSampler)}\`.`
    : `Made by \`${stages[0]?.command ?? 'npx t2i-align pretrain'} --out ${runFolder}\` (seed ${m.seed}; corpus of ${m.corpus.size} pairs, seed ${m.corpus.seed}${lookalikeNote(m.corpus, '')})
then \`npx t2i-align ship-base-model --run ${runFolder}${shipFlags(m.shipSampler)}\`.`;
  return `# The shipped base models

${made} The kit loads this folder by default
(\`generate\`, \`eval-base\`, \`loadModel()\`).

| file | what |
|---|---|
| \`diffusion/\` | text-to-image checkpoint: UNet (${m.params.unet.toLocaleString('en')} parameters) + the frozen MiniCLIP text encoder (${m.params.textEncoder.toLocaleString('en')}); ${mb(m.bytes.diffusion)}; weights only (no optimizer state); the UNet's weights are ${m.emaDecay > 0 ? `the run's exponential moving average (decay ${m.emaDecay})` : 'the last trained ones'} |
| \`clip/\` | MiniCLIP checkpoint (${m.params.miniclip.toLocaleString('en')} parameters): text + image encoder; ${mb(m.bytes.clip)} |
| \`config.json\` | the resolved model/training config and corpus config of the run |
| \`losses.csv\` | training loss of the last run per stage, mean over windows of 10 updates${clipTrained ? '' : ' (diffusion only: the last run did not train MiniCLIP)'} |
| \`metrics.json\` | everything below, as data |
| \`samples-final.png\` | the run's final sample grid (prompts in \`samples-final.txt\`) |
| \`renders-vs-samples.png\` | two seen and two unseen prompts per category: the renderer's image (rows 1 and 3) above the model's sample of the same prompt (rows 2 and 4), upscaled; prompts and the judge's verdicts on the samples in \`renders-vs-samples.txt\` |
| \`eval/\` | the alignment eval: \`base-eval.json\` and the first 16 images per set and category (\`grid-*.png\`, verdicts and prompts in \`grid-*.txt\`) |

## Training

${m.steps.clip} MiniCLIP updates, then ${stages.map((st) => st.diffusionUpdates).reduce((x, y) => x + y, 0)} diffusion updates${stages.length > 1 ? ` in all (${m.steps.diffusion} in the last run)` : ''}. Wall time of the last run on the 2-core dev machine (shared with other jobs):
${clipTrained
    ? `corpus ${w.corpus.toFixed(0)} s, MiniCLIP ${(w.clip / 60).toFixed(1)} min, diffusion ${(w.diffusion / 60).toFixed(1)} min, total ${(w.total / 60).toFixed(1)} min.
Final losses (mean of the last 100 updates): MiniCLIP contrastive ${m.finalLoss.clipMeanLast100.toFixed(3)}, diffusion (v-MSE) ${m.finalLoss.diffusionMeanLast100.toFixed(4)}.`
    : `corpus ${w.corpus.toFixed(0)} s, diffusion ${(w.diffusion / 60).toFixed(1)} min, total ${(w.total / 60).toFixed(1)} min; MiniCLIP was not trained in this run (taken as it is from the run before).
Final loss (mean of the last 100 updates): diffusion (v-MSE) ${m.finalLoss.diffusionMeanLast100.toFixed(4)}.`}

MiniCLIP image -> caption top-1 on ${m.clipRetrieval.n} fresh renders of distinct prompts (exact prompt among all ${m.clipRetrieval.n}):
${(100 * m.clipRetrieval.top1.rate).toFixed(1)}% [${(100 * m.clipRetrieval.top1.lo).toFixed(1)}, ${(100 * m.clipRetrieval.top1.hi).toFixed(1)}] (chance ${(100 * m.clipRetrieval.chance).toFixed(2)}%).

## Alignment (the judge, per category)

${a.imagesPerCategory} images per set and category (up to ${a.promptsPerCategory} prompts per category, a seeded subsample; images spread evenly over them),
image seeds ${JSON.stringify(a.seeds)}, prompt-subsample seed ${a.seed}; DDIM ${a.sampler.steps} steps, guidance ${a.sampler.guidanceScale}${a.sampler.guidanceInterval ? ` at timesteps ${a.sampler.guidanceInterval.join('-')}` : ''}, eta ${a.sampler.eta}.
Accuracy: every attribute the prompt names is right; 95% interval bootstrapped over prompts (images of one prompt are not independent). "object recognised": the judge finds at least one object and all have the prompt's shape.
Reproduce: \`npx t2i-align eval-base --per-category ${a.imagesPerCategory} --prompts-per-category ${a.promptsPerCategory} --seeds ${a.seeds.join(',')} --json\`.

${table}

Targets of the base model (issue 9: it should draw the object and get the attributes only partly right, like the paper's Stable Diffusion):

| target | measured | met |
|---|---|---|
${(m.targets as TargetCheck[]).map((t) => `| ${t.target} | ${targetLine(t).value} | ${t.ok === false ? '**no**' : targetLine(t).met} |`).join('\n')}
`;
}

/** `ship-base-model`: export a finished pretrain run as the shipped base model folder. */
export function registerShip(program: Command): void {
  const ship = program
    .command('ship-base-model')
    .description('export a finished pretrain run (weights only) with its config, losses, metrics and alignment eval, as data/base-model')
    .option('--run <dir>', 'pretrain output folder', path.join('results', 'pretrain', 'default'))
    .option('--out <dir>', 'destination (replaced)', path.join('data', 'base-model'))
    .option('--per-category <n>', 'eval images per set and category', '96')
    .option('--prompts-per-category <n>', 'eval prompts per category', '24');
  addSamplerOptions(ship, "the run's; what is given here is shipped")
    .action(async (opts: { run: string; out: string; perCategory: string; promptsPerCategory: string } & SamplerFlags) => {
      const sampler = samplerOverrides(opts);
      await initBackend();
      await shipBaseModel(opts.run, opts.out, {
        imagesPerCategory: intOption('--per-category', opts.perCategory, 1, 100000),
        promptsPerCategory: intOption('--prompts-per-category', opts.promptsPerCategory, 1, 100000),
        sampler,
      });
      console.log(`${opts.out}: shipped`);
    });
}
