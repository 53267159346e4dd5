/**
 * `evaluate` (alignment by the judge or the classifier, reward, fidelity of
 * one model) and `reproduce` (the whole paper, resumable, with the claims
 * table and the report).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { zodIssuesLine } from '../engine/zodIssues';
import { readJsonFile } from '../engine/files';
import { initBackend, warnIfSlowPath } from '../engine';
import { readVerifiedWeights } from '../engine/checkpoint';
import { progress } from '../engine/progress';
import { Rng } from '../engine/random';
import { diffusionCheckpointDir } from '../eval/base';
import { CLASSIFIER_DIR, readReadyClassifierMeta } from '../eval/classifier';
import { EVALUATORS, EvaluateResult, EvaluatorName, evaluationJson, winTieLose } from '../eval/evaluate';
import { checkedClipDir } from '../reward/checkpoint';
import { loadPrompts } from '../feedback/collect';
import { resolveReproduceConfig, reproduce } from '../pipeline/reproduce';
import { EVALUATION_FILE, evaluateStage } from '../pipeline/stages';
import { CATEGORIES, PromptEntry, seenPrompts, unseenPrompts } from '../world';
import { addSamplerOptions, forOption, intOption, jsonFileOption, outFolderOption, SamplerFlags, samplerOverrides } from './options';

/**
 * The prompts of `--prompts`, with `--prompts-per-category k` a seeded sample of k per category:
 * for seen / unseen the prompt sets' own sampler (the same prompts as `reproduce` with eval.seed = seed).
 */
function evaluationPrompts(spec: string, perCategory: number | undefined, seed: number): PromptEntry[] {
  if (perCategory !== undefined && (spec === 'seen' || spec === 'unseen')) {
    return (spec === 'seen' ? seenPrompts : unseenPrompts)({ perCategory: Object.fromEntries(CATEGORIES.map((c) => [c, perCategory])), seed });
  }
  const all = loadPrompts(spec);
  if (perCategory === undefined) return all;
  const rng = new Rng(`evaluate-prompts/${seed}`);
  return CATEGORIES.flatMap((c) => {
    const inCat = all.filter((p) => p.category === c);
    return inCat.length > perCategory ? rng.fork(c).shuffle(inCat).slice(0, perCategory) : inCat;
  });
}

const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(1) : '-');

/** The evaluation saved by `evaluate --out DIR` (or a reproduce run's eval/<model>/<set>). */
function readEvaluation(dir: string, flag: string): EvaluateResult {
  const file = path.join(dir, EVALUATION_FILE);
  if (!fs.existsSync(file)) throw new Error(`${flag} ${dir}: no ${EVALUATION_FILE} (write one with \`evaluate --out ${dir}\`)`);
  const saved = readJsonFile<{ result?: Partial<EvaluateResult> }>(file, `write it again with \`evaluate --out ${dir}\``);
  const r = saved?.result;
  if (!r || typeof r !== 'object' || !Array.isArray(r.images) || typeof r.overall !== 'object') throw new Error(`${file}: not an evaluation (no result with images and an overall cell): write it again with \`evaluate --out ${dir}\``);
  // Each image as compare reads it (a null one was a raw JavaScript error; "false" strings counted as wins, a
  // missing distance as a loss, a repeated image twice).
  const seen = new Set<string>();
  r.images.forEach((im, i) => {
    const p = ImageOutcome.safeParse(im);
    if (!p.success) throw new Error(`${file}: image ${i}: ${zodIssuesLine(p.error, ImageOutcome)}: write it again with \`evaluate --out ${dir}\``);
    const key = `${p.data.prompt}\n${p.data.k}`;
    if (seen.has(key)) throw new Error(`${file}: image ${i} ("${p.data.prompt}", k ${p.data.k}) is listed twice: write it again with \`evaluate --out ${dir}\``);
    seen.add(key);
  });
  return r as EvaluateResult;
}

/** What compare reads of each evaluated image. */
const ImageOutcome = z.object({ prompt: z.string(), k: z.number().int().min(0), judge: z.boolean(), classifier: z.boolean(), renderDistance: z.number().finite() });

export function registerEvaluate(program: Command): void {
  addSamplerOptions(program
    .command('evaluate')
    .description('alignment per category (judge or classifier, 95% bootstrap over prompts), mean reward and FID of a model')
    .requiredOption('--model <dir>', 'model folder (a fine-tuning or pretrain output, a diffusion checkpoint), or "base" for data/base-model')
    .requiredOption('--prompts <set>', 'seen | unseen | a text file with one prompt a line')
    .option('--prompts-per-category <k>', 'a seeded sample of k prompts per category (default: every prompt)')
    .option('--per-prompt <n>', 'images per prompt', '4')
    .option('--seed <s>', 'seed of the image seeds (the same for every model: paired) and of the prompt sample', '0')
    .option('--evaluator <name>', `who reads the images: ${EVALUATORS.join(' | ')}`, 'judge')
    .option('--reward <dir>', 'reward model folder: mean reward (and the scorer of --rejection)')
    .option('--rejection <k>', 'best of k samples by the reward model (the rejection-sampling baseline)')
    .option('--classifier <dir>', 'attribute classifier folder (default data/classifier)')
    .option('--out <dir>', 'also write DIR/evaluation.json with every image\'s outcome')
    .option('--json', 'print one JSON object'), "the model's checkpoint config's; give the same to every model you compare")
    .action(async (opts: {
      model: string; prompts: string; promptsPerCategory?: string; perPrompt: string; seed: string; evaluator: string; reward?: string; rejection?: string;
      classifier?: string; out?: string; json?: boolean;
    } & SamplerFlags) => {
      if (!(EVALUATORS as readonly string[]).includes(opts.evaluator)) throw new Error(`--evaluator must be one of ${EVALUATORS.join(', ')}, got "${opts.evaluator}"`);
      const seed = intOption('--seed', opts.seed, 0, 2 ** 31);
      const perPrompt = intOption('--per-prompt', opts.perPrompt, 1, 10000);
      const k = opts.promptsPerCategory === undefined ? undefined : intOption('--prompts-per-category', opts.promptsPerCategory, 1, 100000);
      const rejectionK = opts.rejection === undefined ? undefined : intOption('--rejection', opts.rejection, 2, 64);
      const sampler = samplerOverrides(opts);
      if (rejectionK !== undefined && !opts.reward) throw new Error('--rejection needs --reward DIR (the reward model picks the best sample)');
      if (opts.model !== 'base' && !fs.existsSync(opts.model)) throw new Error(`--model ${opts.model}: no such folder (or use "base" for the shipped base model)`);
      if (opts.reward && !fs.existsSync(opts.reward)) throw new Error(`--reward ${opts.reward}: no such folder`);
      // Each model is read, its weights checked against their sha256, before any sampling: a wrong or corrupt
      // folder (a classifier as --reward, truncated weights, ...) costs no images.
      if (opts.model !== 'base') forOption('--model', () => readVerifiedWeights(diffusionCheckpointDir(opts.model)));
      if (opts.reward) forOption('--reward', () => (readVerifiedWeights(checkedClipDir(opts.reward!)), readVerifiedWeights(opts.reward!))); // its MiniCLIP too (left behind by a copy, or retrained in place)
      forOption('--classifier', () => (readReadyClassifierMeta(opts.classifier ?? CLASSIFIER_DIR), readVerifiedWeights(opts.classifier ?? CLASSIFIER_DIR)));
      const prompts = evaluationPrompts(opts.prompts, k, seed);
      if (prompts.length * perPrompt < 2) throw new Error(`${prompts.length} prompt x --per-prompt ${perPrompt} is one image: the FID needs at least 2 (raise --per-prompt, or give more prompts)`);
      outFolderOption(opts.out, { files: ['evaluation.json'], what: 'evaluation' });
      await initBackend();
      warnIfSlowPath();
      const bar = progress(prompts.length * perPrompt * (rejectionK ?? 1), 'evaluate');
      let shown = 0;
      const r = await evaluateStage(
        { model: opts.model, prompts, perPrompt, seed, evaluator: opts.evaluator as EvaluatorName, reward: opts.reward, rejectionK, classifier: opts.classifier, ...(Object.keys(sampler).length ? { sampler } : {}) },
        opts.out,
        { onProgress: (done) => (bar.tick(done - shown), (shown = done)) },
      );
      if (shown === 0 && opts.out) {
        // Read back, not sampled (its bar stood at 0%): said so, with how to evaluate again.
        bar.tick(prompts.length * perPrompt * (rejectionK ?? 1));
        process.stderr.write(`evaluate: read back from ${path.join(opts.out, 'evaluation.json')} (the same settings and weights; remove it to evaluate again)\n`);
      }
      bar.done();
      if (opts.json) return void process.stdout.write(JSON.stringify(evaluationJson(r), null, 2) + '\n');
      console.log(`${opts.model}${rejectionK ? ` (best of ${rejectionK} by the reward)` : ''}: ${r.images.length} images, ${prompts.length} prompts x ${perPrompt}, seed ${seed}, guidance ${r.sampler.guidanceScale}, ${r.sampler.steps} steps; read by the ${r.evaluator} (the ${r.otherReader.evaluator} beside it)`);
      for (const [c, cell] of [...Object.entries(r.byCategory), ['overall', r.overall] as const]) {
        const o = c === 'overall' ? r.otherReader.overall : r.otherReader.byCategory[c as (typeof CATEGORIES)[number]]!;
        console.log(`  ${c.padEnd(12)} ${pct(cell!.accuracy).padStart(5)}% [${pct(cell!.ci95[0])}, ${pct(cell!.ci95[1])}]  n=${cell!.n} (${cell!.prompts} prompts)   ${r.otherReader.evaluator}: ${pct(o.accuracy)}%`);
      }
      console.log(`  readers agree on ${pct(r.readersAgree)}% of images; FID to renders ${r.fid.value.toFixed(2)} (${r.fid.images} images vs ${r.fid.renders} renders, ${r.fid.dim} features)${r.meanReward === null ? '' : `; mean reward ${r.meanReward.toFixed(3)}`}`);
    });

  program
    .command('compare')
    .description('win / tie / lose of two evaluations (evaluate --out DIR) on the same prompts and image seeds, for alignment and fidelity')
    .requiredOption('--a <dir>', 'evaluation folder of the first model (holds evaluation.json)')
    .requiredOption('--b <dir>', 'evaluation folder of the second model')
    .option('--evaluator <name>', `reader of alignment: ${EVALUATORS.join(' | ')}`, 'judge')
    .option('--json', 'print one JSON object')
    .action((opts: { a: string; b: string; evaluator: string; json?: boolean }) => {
      if (!(EVALUATORS as readonly string[]).includes(opts.evaluator)) throw new Error(`--evaluator must be one of ${EVALUATORS.join(', ')}, got "${opts.evaluator}"`);
      if (fs.existsSync(opts.a) && fs.existsSync(opts.b) && fs.realpathSync(opts.a) === fs.realpathSync(opts.b)) {
        throw new Error(`--a and --b name the same evaluation (${opts.a}): every image would tie; give the evaluations of two models`);
      }
      const [a, b] = [readEvaluation(opts.a, '--a'), readEvaluation(opts.b, '--b')];
      const w = winTieLose(a, b, opts.evaluator as EvaluatorName);
      if (opts.json) return void process.stdout.write(JSON.stringify({ a: opts.a, b: opts.b, evaluator: opts.evaluator, ...w }, null, 2) + '\n');
      for (const k of ['alignment', 'fidelity'] as const) {
        const x = w[k];
        console.log(`${k.padEnd(10)} win ${pct(x.win / x.n)}%  tie ${pct(x.tie / x.n)}%  lose ${pct(x.lose / x.n)}%  (${x.n} images; ${opts.a} against ${opts.b})`);
      }
    });

  program
    .command('reproduce')
    .description('the paper end to end from the shipped checkpoints: collect, label, reward, fine-tune (with and without the pretraining term, unlabelled data; SFT), evaluate, baselines, claims, report (resumable)')
    .option('--quick', 'one fine-tuning seed and small sets (about 10 minutes on 2 cores)')
    .option('--out <dir>', 'run folder (default results/reproduce/<quick|default>)')
    .option('--config <file>', 'JSON overrides of the run config (keys of ReproduceConfig, e.g. {"seeds": [0, 1]})')
    .option('--json', 'print the summary as JSON')
    .action(async (opts: { quick?: boolean; out?: string; config?: string; json?: boolean }) => {
      const preset = opts.quick ? 'quick' : 'default';
      const config = resolveReproduceConfig(preset, opts.config !== undefined ? jsonFileOption('--config', opts.config) : {});
      const out = opts.out ?? path.join('results', 'reproduce', preset);
      outFolderOption(out, { files: ['config.json', 'summary.json'], what: 'reproduce run' });
      await initBackend();
      warnIfSlowPath();
      const s = await reproduce(config, out);
      if (opts.json) return void process.stdout.write(JSON.stringify(s, null, 2) + '\n');
      console.log(fs.readFileSync(path.join(out, 'claims.md'), 'utf8'));
      console.log(`${out}: summary.json, claims.md, claims.json, report.html (${(s.seconds / 60).toFixed(1)} min)`);
    });
}
