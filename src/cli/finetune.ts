/**
 * `finetune`: Stage 3, reward-weighted fine-tuning of the base model (src/finetune).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { initBackend, warnIfSlowPath } from '../engine';
import { writeFileAtomic } from '../engine/checkpoint';
import { BASE_MODEL_DIR } from '../eval/base';
import {
  checkSettings, compareSettings, compareWithBase, comparisonTable, drawnCountTable, finetune, FinetuneComparison, finetuneEvalPrompts, FinetunePreset,
  NORMALISATIONS, renderedDataCaution, resolveFinetuneConfig, Setting, SETTING_NAME, SETTING_NAME_RULE, settingsTable, weightAuditTable, WEIGHT_MODES,
} from '../finetune';
import { CATEGORIES } from '../world';
import { addSamplerOptions, choiceListOption, intOption, jsonFileOption, numberOption, outFileOption, repeatable, SamplerFlags, samplerOverrides } from './options';


export function registerFinetune(program: Command): void {
  program
    .command('finetune')
    .description('fine-tune the base model with the reward-weighted loss + beta x the pretraining loss (resumable: rerun the same command)')
    .requiredOption('--data <dir>', 'model-generated dataset with labels (repeat for several)', repeatable, [])
    .option('--unlabelled <dir>', 'model-generated dataset without labels, weighted by the reward model (repeat)', repeatable, [])
    .option('--reward <dir>', 'reward model folder (e.g. data/reward-model); needed unless --weights labels|threshold on labelled data only')
    .requiredOption('--out <dir>', 'output folder: a model for generate/eval-base --model (an existing run is resumed)')
    .option('--model <dir>', 'base model (default data/base-model)')
    .option('--beta <b>', 'weight of the pretraining loss (default 1)')
    .option('--weights <mode>', `weight of a generated image: ${WEIGHT_MODES.join(' | ')} (default reward)`)
    .option('--threshold <r>', 'with --weights threshold: the least reward of an unlabelled image kept (default 0.5)')
    .option('--normalise <how>', `weights: ${NORMALISATIONS.join(' | ')} (mean: divide by their mean, the default; none: as they are, the paper)`)
    .option('--steps <n>', 'updates (default: 2400, or 1000 with --quick)')
    .option('--quick', 'the quick preset: 1000 updates at 2e-4, weights divided by their mean, judged and checkpointed every 250')
    .option('--config <file>', 'JSON overrides of the fine-tuning config (keys of FinetuneConfig, e.g. {"train": {"learningRate": 1e-5}}); flags win')
    .option('--eval-guidance <s>', 'guidance scale of the progress judge (default: the model\'s own; use the scale you evaluate at)')
    .option('--seed <n>', 'integer seed of batches, dropout, timesteps and noise (default 0)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: {
      data: string[]; unlabelled: string[]; reward?: string; out: string; model?: string; beta?: string; weights?: string; threshold?: string; normalise?: string;
      steps?: string; quick?: boolean; config?: string; evalGuidance?: string; seed?: string; json?: boolean;
    }) => {
      if (opts.weights !== undefined && !(WEIGHT_MODES as readonly string[]).includes(opts.weights)) throw new Error(`--weights must be one of ${WEIGHT_MODES.join(', ')}, got "${opts.weights}"`);
      if (opts.normalise !== undefined && !(NORMALISATIONS as readonly string[]).includes(opts.normalise)) throw new Error(`--normalise must be one of ${NORMALISATIONS.join(', ')}, got "${opts.normalise}"`);
      const preset: FinetunePreset = opts.quick ? 'quick' : 'default';
      const file = opts.config !== undefined ? jsonFileOption('--config', opts.config) : {};
      const flags: Record<string, unknown> = {};
      if (opts.beta !== undefined) flags.beta = numberOption('--beta', opts.beta, 0, 1000);
      if (opts.weights !== undefined) flags.weights = opts.weights;
      if (opts.threshold !== undefined) flags.threshold = numberOption('--threshold', opts.threshold, 0, 1);
      if (opts.normalise !== undefined) flags.normalise = opts.normalise;
      if (opts.seed !== undefined) flags.seed = intOption('--seed', opts.seed, 0, 2 ** 31);
      if (opts.evalGuidance !== undefined) flags.evalGuidance = numberOption('--eval-guidance', opts.evalGuidance, 0, 100);
      // --steps joins the file's train object; a train that is no object goes on as it is, for the config's own error.
      const steps = opts.steps !== undefined ? { steps: intOption('--steps', opts.steps, 1, 10_000_000) } : {};
      const fileTrain = file.train;
      const train = fileTrain === undefined || (typeof fileTrain === 'object' && fileTrain !== null && !Array.isArray(fileTrain)) ? { ...(fileTrain ?? {}), ...steps } : fileTrain;
      const config = resolveFinetuneConfig(preset, { ...file, ...flags, train });
      if (opts.threshold !== undefined && config.weights !== 'threshold') throw new Error(`--threshold applies to --weights threshold only (these weights are ${config.weights}, which no threshold changes)`);
      const rendered = renderedDataCaution([...opts.data, ...opts.unlabelled]);
      if (rendered) process.stderr.write(`t2i-align: caution: ${rendered}\n`);
      await initBackend();
      warnIfSlowPath();
      const r = await finetune({ model: opts.model, data: opts.data, unlabelled: opts.unlabelled, reward: opts.reward, out: opts.out }, config, {
        onEval: (p) => {
          if (!opts.json) process.stderr.write(`finetune: step ${p.step}: judge accuracy ${(100 * p.accuracy.all).toFixed(1)}% at guidance ${p.guidance} (count ${(100 * p.accuracy.count).toFixed(0)}, color ${(100 * p.accuracy.color).toFixed(0)}, background ${(100 * p.accuracy.background).toFixed(0)}, combination ${(100 * p.accuracy.combination).toFixed(0)}; ${p.images} images)\n`);
        },
      });
      if (opts.json) return void process.stdout.write(JSON.stringify({ out: opts.out, config, ...r, losses: undefined }, null, 2) + '\n');
      const done = r.startStep === r.step ? `${r.step} updates (already done)` : `${r.step} updates (${r.step - r.startStep} in this call, ${r.seconds.toFixed(0)} s)`;
      console.log(`${opts.out}: ${done} on ${r.data.examples} model-generated images (mean weight ${r.data.weight.mean.toFixed(3)}) + the pretraining corpus; beta ${config.beta}, weights ${config.weights}`);
      console.log(`where the weight falls (the judge's verdicts; weights that see what it sees put more of it on aligned images than there are of them):`);
      console.log(weightAuditTable(r.data.audit));
      for (const d of r.data.datasets) {
        // Without a reward model an image without labels has no weight: said, not silently dropped.
        if (d.kind === 'labelled' && opts.reward === undefined && d.labels < d.images) {
          console.log(`${d.dir}: ${d.images - d.labels} of its ${d.images} images have no labels and no reward model weighs them (--reward DIR): left out of D_model`);
        }
      }
      console.log(`use it: npx t2i-align eval-base --model ${opts.out}`);
    });
}

/** `eval-finetune`: fine-tuned models (one per seed, of one setting or several) vs the base on the same seen prompts and fresh image seeds. */
export function registerEvalFinetune(program: Command): void {
  addSamplerOptions(program
    .command('eval-finetune')
    .description('judge accuracy of fine-tuned models (one per fine-tuning seed) vs the base model, per category, paired over seeds; --group compares several settings against one judging of the base')
    .option('--runs <dir>', 'fine-tuned model folder (repeat, one per fine-tuning seed)', repeatable, [])
    .option('--group <name=dirs>', 'a setting and its runs, NAME=DIR,DIR (repeat, one per setting; instead of --runs)', repeatable, [])
    .option('--base <dir>', 'base model (default data/base-model)')
    .option('--prompts <set>', 'seen | unseen', 'seen')
    .option('--prompts-per-category <n>', 'most prompts per category (seeded subsample)', '16')
    .option('--categories <list>', `only these categories, comma-separated (${CATEGORIES.join(', ')}; default all)`)
    .option('--per-prompt <n>', 'images per prompt', '8')
    .option('--seed <n>', 'seed of the prompt subsample and of the image seeds', '0')
    .option('--out <file>', 'also write the comparison as JSON')
    .option('--json', 'print the comparison as JSON'), "each model's checkpoint config's; given, it applies to the base and the fine-tuned models alike")
    .action(async (opts: { runs: string[]; group: string[]; base?: string; prompts: string; promptsPerCategory: string; categories?: string; perPrompt: string; seed: string; out?: string; json?: boolean } & SamplerFlags) => {
      if (opts.runs.length > 0 && opts.group.length > 0) throw new Error('give either --runs DIR (the seeds of one setting, repeated) or --group NAME=DIR,DIR (one per setting), not both');
      if (opts.runs.length === 0 && opts.group.length === 0) throw new Error('nothing to compare: give --runs DIR (repeat, one per fine-tuning seed) or --group NAME=DIR,DIR (repeat, one per setting)');
      const settings = opts.group.map(groupOption);
      const twice = settings.find((x, i) => settings.findIndex((y) => y.name === x.name) < i);
      if (twice) throw new Error(`--group ${twice.name}=... is given twice: give each setting once, with all its runs (NAME=DIR,DIR)`);
      if (opts.prompts !== 'seen' && opts.prompts !== 'unseen') throw new Error(`--prompts must be seen or unseen, got "${opts.prompts}"`);
      const k = intOption('--prompts-per-category', opts.promptsPerCategory, 1, 10000);
      const only = opts.categories === undefined ? CATEGORIES : choiceListOption('--categories', opts.categories, CATEGORIES);
      const perPrompt = intOption('--per-prompt', opts.perPrompt, 1, 10000);
      const seed = intOption('--seed', opts.seed, 0, 2 ** 31);
      const sampler = samplerOverrides(opts);
      const prompts = finetuneEvalPrompts(opts.prompts, k, seed, only);
      const base = opts.base ?? BASE_MODEL_DIR;
      outFileOption(opts.out);
      if (opts.out !== undefined && !opts.out.endsWith('.json')) throw new Error(`--out must name a .json file (the comparison as JSON), got "${opts.out}"`);
      checkSettings(base, settings.length > 0 ? settings : [{ name: 'runs', runs: opts.runs }]); // folders, before the backend starts
      await initBackend();
      warnIfSlowPath();
      const onModel = (dir: string) => process.stderr.write(`eval-finetune: ${dir}\n`);
      const c = settings.length > 0
        ? await compareSettings(base, settings, prompts, perPrompt, { seed, onModel, sampler })
        : await compareWithBase(base, opts.runs, prompts, perPrompt, seed, onModel, sampler);
      // Shown before it is saved: a folder that cannot be written loses no judging.
      if (opts.json) process.stdout.write(JSON.stringify(c, null, 2) + '\n');
      else if ('settings' in c) {
        console.log(settingsTable(c));
        for (const x of c.settings) printComparison(x, `\n## ${x.name}\n\n`);
      } else printComparison(c);
      if (opts.out) {
        fs.mkdirSync(path.dirname(opts.out), { recursive: true });
        writeFileAtomic(opts.out, JSON.stringify(c, null, 2) + '\n');
      }
    });
}

/** `--group NAME=DIR,DIR`: a setting's name and its run folders. */
function groupOption(v: string): Setting {
  const eq = v.indexOf('=');
  const name = v.slice(0, Math.max(eq, 0)).trim();
  const runs = v.slice(eq + 1).split(',').map((d) => d.trim());
  if (eq < 0 || name === '' || runs.some((d) => d === '')) throw new Error(`--group must be NAME=DIR[,DIR...] (a setting's name, then its fine-tuned model folders, comma-separated), got "${v}"`);
  if (!SETTING_NAME.test(name)) throw new Error(`--group "${v}": NAME must be ${SETTING_NAME_RULE}`);
  return { name, runs };
}

/** A comparison's category table, and the count prompts' table when it has count prompts. */
function printComparison(c: FinetuneComparison, heading = ''): void {
  console.log(heading + comparisonTable(c));
  const drawn = drawnCountTable(c);
  if (drawn) console.log(`\nCount prompts: images aligned, and how many objects the judge found\n\n${drawn}`);
}
