/**
 * The independent evaluator's commands: `train-classifier`, `classifier-accuracy`
 * and `fid` (Frechet distance between two dataset folders in the classifier's
 * feature space; `render-set --noise --blur` in ./world.ts makes reference sets).
 */
import { Command } from 'commander';
import { initBackend } from '../engine';
import { checkpointKind, hasCheckpoint } from '../engine/checkpoint';
import {
  agreementSet, agreementWithJudge, AttributeCounts, CLASSIFIER_DIR, classifierAccuracy, classifierResumeMismatch, loadClassifier,
  readClassifierMeta, resolveClassifierConfig, trainClassifier,
} from '../eval/classifier';
import { datasetImages, fidBetween } from '../eval/fid';
import { shownPath } from '../engine/files';
import { intOption, numberOption, outFolderOption } from './options';

const pct = (k: number, n: number) => `${((100 * k) / n).toFixed(1)}%`;

/**
 * What train-classifier may do with `out`: start afresh (nothing there, or
 * --overwrite), resume an unfinished run of the same config, or refuse.
 */
function outPlan(out: string, config: ReturnType<typeof resolveClassifierConfig>, overwrite?: boolean): 'fresh' | 'resume' {
  if (!hasCheckpoint(out)) return 'fresh';
  // A checkpoint of another kind (a reward model, a diffusion model) is never replaced, --overwrite or not: it was
  // deleted for a classifier (as train-reward refuses its own other kinds).
  // (One whose kind cannot be read, a corrupt checkpoint, is named below and may be replaced.)
  let kind: unknown;
  try {
    kind = checkpointKind(out);
  } catch {
    kind = undefined;
  }
  if (kind !== undefined && kind !== 'classifier') throw new Error(`--out ${out} holds ${typeof kind === 'string' ? `a "${kind}" checkpoint` : 'a checkpoint of no kind'}, not a classifier: give a new or empty folder (--overwrite replaces only a classifier)`);
  if (overwrite) return 'fresh';
  let meta;
  try {
    meta = readClassifierMeta(out);
  } catch (e) {
    throw new Error(`--out ${out}: ${(e as Error).message}; pass --overwrite to replace it`);
  }
  if (meta.step >= meta.config.train.steps) {
    throw new Error(`--out ${out} already holds a trained classifier (${meta.step} updates); choose another folder or pass --overwrite`);
  }
  const diff = classifierResumeMismatch(meta.config, config);
  if (diff) throw new Error(`--out ${out} holds an unfinished classifier run with other settings (${diff}); choose another folder or pass --overwrite`);
  return 'resume';
}

function accuracyTable(rows: Record<string, AttributeCounts>): string {
  const head = `${'category'.padEnd(12)} ${'n'.padStart(6)}  ${['exact', 'count', 'color', 'object', 'background'].map((h) => h.padStart(12)).join('')}`;
  const lines = Object.entries(rows).map(([c, a]) =>
    `${c.padEnd(12)} ${String(a.n).padStart(6)}  ${[a.exact, a.count, a.color, a.object, a.background].map((k) => pct(k, a.n).padStart(12)).join('')}`);
  return [head, ...lines].join('\n');
}

export function registerEvaluator(program: Command): void {
  program
    .command('train-classifier')
    .description('train the attribute classifier (count, color, object or unknown, background) on fresh renders and hard negatives')
    .option('--quick', 'the tiny preset (seconds; for tests and demos)')
    // Not the shipped data/classifier by default: a demo run with --overwrite replaced it long before its own was ready.
    .option('--out <dir>', 'checkpoint folder (an unfinished run of the same settings there is resumed); evaluate reads it with --classifier', 'results/classifier')
    .option('--seed <n>', 'integer seed of the weights and every batch', '0')
    .option('--overwrite', 'replace a checkpoint already in --out')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { quick?: boolean; out: string; seed: string; overwrite?: boolean; json?: boolean }) => {
      const config = resolveClassifierConfig(opts.quick ? 'quick' : 'default', { seed: intOption('--seed', opts.seed, 0, 2 ** 31) });
      outFolderOption(opts.out, { files: ['checkpoint.json'], what: 'classifier checkpoint' });
      const plan = outPlan(opts.out, config, opts.overwrite);
      await initBackend();
      const run = await trainClassifier(config, { out: opts.out, resume: plan === 'resume' });
      run.classifier.dispose();
      const last = run.losses.slice(-50);
      const summary = {
        out: opts.out, preset: opts.quick ? 'quick' : 'default', resumedFrom: run.startStep, step: run.step, seconds: run.seconds,
        finalLoss: last.length ? last.reduce((a, b) => a + b, 0) / last.length : null, config,
      };
      if (opts.json) return void process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
      const from = run.startStep > 0 ? `, resumed from update ${run.startStep}` : '';
      console.log(`${shownPath(opts.out)}: classifier trained for ${run.step} updates in ${run.seconds.toFixed(1)} s${from}; mean loss of the last updates ${summary.finalLoss?.toFixed(4)}`);
      console.log(`measure it: t2i-align classifier-accuracy --model ${shownPath(opts.out)}`);
    });

  program
    .command('classifier-accuracy')
    .description("the classifier's accuracy per category and attribute on fresh renders, its 'unknown' rate on hard negatives, and its agreement with the judge")
    .option('--model <dir>', 'classifier folder (default: the shipped data/classifier)')
    .option('--per-category <n>', 'renders per category (hard negatives per kind; stand-in images per category for the agreement)', '500')
    .option('--seed <n>', 'integer seed of prompts, renders and noise (training never uses them)', '100000')
    .option('--noise <sigma>', 'Gaussian noise sigma, 0-255 scale, added after the blur', '0')
    .option('--blur <sigma>', 'Gaussian blur sigma in pixels', '0')
    .option('--json', 'print JSON')
    .action(async (opts: { model?: string; perCategory: string; seed: string; noise: string; blur: string; json?: boolean }) => {
      const perCategory = intOption('--per-category', opts.perCategory, 1, 100000);
      const seed = intOption('--seed', opts.seed, 0, 2 ** 31);
      const noise = numberOption('--noise', opts.noise, 0, 255);
      const blur = numberOption('--blur', opts.blur, 0, 10);
      await initBackend();
      const classifier = await loadClassifier(opts.model ?? CLASSIFIER_DIR);
      try {
        const accuracy = classifierAccuracy(classifier, { perCategory, seed, noise, blur });
        const agreement = agreementWithJudge(classifier, await agreementSet({ perCategory, seed, noise, blur }));
        if (opts.json) {
          process.stdout.write(JSON.stringify({ classifier: classifier.dir, step: classifier.meta.step, accuracy, agreement }, null, 2) + '\n');
          return;
        }
        console.log(`classifier ${shownPath(classifier.dir)}: ${perCategory} fresh renders per category, seed ${seed}, noise ${noise}, blur ${blur}`);
        console.log(accuracyTable({ ...accuracy.categories, all: accuracy.all }));
        const hn = Object.entries(accuracy.hardNegatives).map(([k, v]) => `${k} ${pct(v.unknown, v.n)}`).join('  ');
        console.log(`hard negatives read as 'unknown' (${perCategory} per kind): ${hn}`);
        console.log(`agreement with the judge on ${agreement.n} stand-in renders (one attribute wrong with probability 0.5): ${pct(agreement.agreement * agreement.n, agreement.n)}, Cohen's kappa ${agreement.kappa.toFixed(3)} (aligned: classifier ${pct(agreement.classifierAligned * agreement.n, agreement.n)}, judge ${pct(agreement.judgeAligned * agreement.n, agreement.n)})`);
      } finally {
        classifier.dispose();
      }
    });

  program
    .command('fid')
    .description("Frechet distance between two dataset folders in the classifier's feature space (compare FIDs of equal sample sizes only)")
    .requiredOption('--a <dir>', 'dataset folder')
    .requiredOption('--b <dir>', 'dataset folder')
    .option('--model <dir>', 'classifier folder (default: the shipped data/classifier)')
    .option('--json', 'print {fid, nA, nB, dim, classifier}')
    .action(async (opts: { a: string; b: string; model?: string; json?: boolean }) => {
      const a = datasetImages(opts.a, `--a ${opts.a}`);
      const b = datasetImages(opts.b, `--b ${opts.b}`);
      if (a.length < 2 || b.length < 2) throw new Error(`FID needs at least 2 images per dataset; --a has ${a.length}, --b has ${b.length}`);
      await initBackend();
      const classifier = await loadClassifier(opts.model ?? CLASSIFIER_DIR);
      try {
        const r = { ...fidBetween(classifier, a, b), classifier: classifier.dir };
        // With fewer images than features the covariances are rank-deficient and the FID is dominated by the sample size.
        if (Math.min(r.nA, r.nB) <= r.dim) process.stderr.write(`t2i-align: caution: ${Math.min(r.nA, r.nB)} images in the smaller set, no more than the ${r.dim} features: this FID mostly measures the sample size; compare it only with FIDs of the same sizes, or use more images\n`);
        if (opts.json) return void process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        console.log(`FID ${r.fid.toFixed(3)} between ${opts.a} (${r.nA} images) and ${opts.b} (${r.nB} images), in the ${r.dim}-d features of ${shownPath(r.classifier)}`);
      } finally {
        classifier.dispose();
      }
    });
}
