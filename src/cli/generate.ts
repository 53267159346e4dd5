/**
 * `generate`: sample images for a file of prompts into a dataset folder, and
 * `eval-base`: the judge's per-category accuracy of a text-to-image model.
 * Both use the shipped base model (data/base-model) unless `--model DIR`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { initBackend, warnIfSlowPath } from '../engine';
import { alignmentTable, BASE_MODEL_DIR, baseEvalCacheKey, EVAL_BASE_LOCK, baseModelTargets, diffusionCheckpointDir, evaluateBaseModel, imageBatchCache, loadModel, targetLine, writeBaseEval } from '../eval/base';
import { readCheckpointIndex } from '../engine/checkpoint';
import { withFolderLock } from '../engine/files';
import { collectStage } from '../pipeline/stages';
import { SamplerConfig } from '../models';
import { categoryOf, encodePng, PromptLine, readPromptsFile, tileImages } from '../world';
import { addSamplerOptions, intOption, outFolderOption, SamplerFlags, samplerOverrides } from './options';

export interface GenerateOptions {
  prompts: readonly PromptLine[];
  /** Where the prompts came from (their file), recorded in the dataset's dataset.json. */
  promptSource?: string;
  perPrompt: number;
  out: string;
  /** Model location (default data/base-model). */
  model?: string;
  seed?: number;
  batchSize?: number;
  /** Overrides of the checkpoint's sampler settings. */
  sampler?: Partial<SamplerConfig>;
  onBatch?: (done: number, total: number) => void;
}

/**
 * Generate `perPrompt` images per prompt into the dataset folder `out`, with
 * the same writer as `collect` (collectStage): image k of the i-th prompt has
 * id `p<i>-<k>` and seed seedFor(seed, i, k); ids already in the manifest are
 * skipped (a stopped run resumes), and a manifest made with other prompts or
 * seeds, or from another model, sampler settings or prompts (its
 * dataset.json), is refused before the model loads.
 * @returns images written now and images skipped.
 */
export async function generateToDataset(opts: GenerateOptions): Promise<{ written: number; skipped: number; modelDir: string }> {
  const modelDir = diffusionCheckpointDir(opts.model ?? BASE_MODEL_DIR);
  const prompts = opts.prompts.map((p) => ({ prompt: p.prompt, attributes: p.attributes, category: categoryOf(p.attributes) }));
  const r = await collectStage(
    { prompts, promptSource: opts.promptSource, perPrompt: opts.perPrompt, seed: opts.seed ?? 0, model: modelDir, sampler: opts.sampler, batchSize: opts.batchSize },
    opts.out,
    { onProgress: opts.onBatch },
  );
  return { written: r.generated, skipped: r.existing, modelDir };
}

export function registerGenerate(program: Command): void {
  const cmd = program
    .command('generate')
    .description('generate images for a file of prompts (one per line) into a dataset folder (PNGs + manifest.jsonl)')
    .requiredOption('--prompts <file>', 'one prompt per line; blank lines and # comments skipped')
    .requiredOption('--out <dir>', 'dataset folder (ids already there are skipped: resumable)')
    .option('--per-prompt <n>', 'images per prompt', '1')
    .option('--model <dir>', 'model: a diffusion checkpoint or a pretrain output folder (default: the shipped data/base-model)')
    .option('--seed <n>', 'integer seed', '0')
    .option('--batch-size <n>', 'images per sampling batch', '32');
  addSamplerOptions(cmd)
    .action(async (opts: { prompts: string; out: string; perPrompt: string; model?: string; seed: string; batchSize: string } & SamplerFlags) => {
      const prompts = readPromptsFile(opts.prompts); // every line checked before any work
      const perPrompt = intOption('--per-prompt', opts.perPrompt, 1, 100000);
      const sampler = samplerOverrides(opts);
      const seed = intOption('--seed', opts.seed, 0, 2 ** 31);
      const batchSize = intOption('--batch-size', opts.batchSize, 1, 4096);
      await initBackend();
      warnIfSlowPath();
      const r = await generateToDataset({
        prompts, promptSource: opts.prompts, perPrompt, out: opts.out, model: opts.model, seed, batchSize, sampler,
        onBatch: (done, total) => process.stderr.write(`generate ${done}/${total}\n`),
      });
      console.log(`${opts.out}: ${r.written} images written, ${r.skipped} already there (model ${r.modelDir})`);
    });

  const evalBase = program
    .command('eval-base')
    .description("judge a text-to-image model's alignment per category on the seen and unseen prompt sets (accuracy with a 95% interval bootstrapped over prompts)")
    .option('--model <dir>', 'model (default: the shipped data/base-model)')
    .option('--per-category <n>', 'images per set and category', '96')
    .option('--prompts-per-category <n>', 'most prompts per category (seeded subsample)', '24')
    .option('--seed <n>', 'seed of the prompt subsample (and of the images without --seeds)', '0')
    .option('--seeds <list>', 'image seeds, comma-separated: each cell is made once per seed and pooled')
    .option('--batch-size <n>', 'images per sampling batch', '32')
    .option('--out <dir>', 'results folder (base-eval.json + a grid per set and category; a killed evaluation rerun into it resumes; one eval-base at a time per folder)', path.join('results', 'eval-base'))
    .option('--json', 'print the results JSON');
  addSamplerOptions(evalBase)
    .action(async (opts: { model?: string; perCategory: string; promptsPerCategory: string; seed: string; seeds?: string; batchSize: string; out: string; json?: boolean } & SamplerFlags) => {
      const imagesPerCategory = intOption('--per-category', opts.perCategory, 1, 100000);
      const promptsPerCategory = intOption('--prompts-per-category', opts.promptsPerCategory, 1, 100000);
      const seed = intOption('--seed', opts.seed, 0, 2 ** 31);
      const seeds = opts.seeds !== undefined ? opts.seeds.split(',').map((v) => intOption('--seeds', v, 0, 2 ** 31)) : undefined;
      if (seeds && new Set(seeds).size !== seeds.length) throw new Error(`--seeds must name each seed once (a repeated seed draws the same images again and counts them twice), got "${opts.seeds}"`);
      const batchSize = intOption('--batch-size', opts.batchSize, 1, 4096);
      const sampler = samplerOverrides(opts);
      outFolderOption(opts.out, { files: ['base-eval.json'], what: 'eval-base results', leftovers: /^grid-/ });
      await initBackend();
      warnIfSlowPath();
      // One eval-base at a time in OUT: a second one's batches would mix with the first's in OUT/.partial.
      await withFolderLock(opts.out, EVAL_BASE_LOCK, 'eval-base', async () => {
        const ckpt = diffusionCheckpointDir(opts.model ?? BASE_MODEL_DIR);
        const sha256 = readCheckpointIndex(ckpt).sha256;
        const { model, meta, dir } = await loadModel(opts.model ?? BASE_MODEL_DIR);
        try {
          // The resume key names the weights by their sha256: read before and after loading, so that weights
          // replaced meanwhile (a run still saving into --model) cannot be keyed as the ones sampled.
          if (readCheckpointIndex(ckpt).sha256 !== sha256) throw new Error(`${ckpt}: the checkpoint changed while it was loaded (a run is saving into it?); run eval-base again when it is done`);
          // The sampled batches are kept in OUT/.partial until the results are written: a killed evaluation, run
          // again with the same settings on the same weights, samples only what it had not (the same images).
          const evalOpts = { imagesPerCategory, promptsPerCategory, seed, seeds, batchSize, sampler };
          const { key, images } = baseEvalCacheKey(sha256, meta.config.sampler, evalOpts);
          const partial = path.join(opts.out, '.partial');
          const cache = imageBatchCache(partial, key);
          if (cache.discarded) process.stderr.write(`eval-base: ${cache.discarded} images kept in ${partial} by a stopped run with other settings or weights were discarded\n`);
          if (cache.kept) process.stderr.write(`eval-base: resuming: ${cache.kept} of ${images} images were sampled by a run that stopped (${partial})\n`);
          const r = await evaluateBaseModel(model, meta.config.sampler, {
            ...evalOpts, cache,
            onBatch: (done, total) => process.stderr.write(`eval-base ${done}/${total}\n`),
          });
          const file = writeBaseEval(opts.out, r, (imgs) => encodePng(tileImages(imgs, { columns: 8, scale: 3 })), { model: dir, step: meta.step, configSeed: meta.config.seed });
          cache.remove();
          if (opts.json) process.stdout.write(fs.readFileSync(file, 'utf8'));
          else {
            const targets = baseModelTargets(r).map((t) => `  ${t.ok === null ? 'not measured' : t.ok ? 'met    ' : 'NOT met'}  ${t.target}: ${targetLine(t).value}`);
            console.log(`${alignmentTable(r)}\n\nbase-model targets:\n${targets.join('\n')}\n\n${file} (${r.seconds.toFixed(0)} s)`);
          }
        } finally {
          model.dispose({ clip: true });
        }
      });
    });
}
