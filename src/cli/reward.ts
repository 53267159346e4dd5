/**
 * Stage 2 commands: `train-reward`, `reward` (score images), `eval-reward`
 * (the reward vs the CLIP score against labels and the judge) and
 * `reward-ablation` (with and without the auxiliary loss, over seeds).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { initBackend } from '../engine/backend';
import { checkpointKind, hasCheckpoint, writeFileAtomic } from '../engine/checkpoint';
import { lineChartSvg } from '../eval/report';
import {
  ablationTable, auxLossAblation, BASE_CLIP_DIR, ClipScore, embedImages, evaluateReward, FrozenClip, imagesSeenInTraining, judgeEvalSet, TRAINING_IMAGES_FILE, labelEvalSet, LABEL_MODES, REWARD_INPUTS, RewardInputs, LabelMode,
  clipCheckpointDir, loadFrozenClip, recordedTrainingImages, loadRewardData, loadRewardModel, RewardScorer, rewardTable, TextEmbeddings, datasetImageEmbeddings, RewardTrainConfig, promptAttributes,
} from '../reward';
import { decodePng, formatPrompt, ImageLike, parsePrompt, readManifest, refuseRepeatedDatasets } from '../world';
import { trainRewardStage } from '../pipeline/stages';
import { forOption, intOption, numberListOption, numberOption, outFileOption, outFolderOption, repeatable } from './options';
import { makeDir } from '../engine/files';
import { fixed3 } from '../reward/metrics';


/**
 * Refuse, before any work, an --out that would lose or pollute something saved: a reward model
 * (unless --overwrite), a checkpoint of another kind (a diffusion model, a classifier: never
 * replaced), or a folder of other files (a dataset, a shipped model's folder).
 */
function checkFreshOut(out: string, overwrite?: boolean): void {
  outFolderOption(out);
  if (!fs.existsSync(out)) return;
  if (hasCheckpoint(out)) {
    let kind: unknown;
    try {
      kind = checkpointKind(out);
    } catch {
      kind = 'unreadable';
    }
    if (kind !== 'reward') throw new Error(`--out ${out} holds ${typeof kind === 'string' ? `a "${kind}" checkpoint` : 'a checkpoint'}, not a reward model: give a new or empty folder`);
    if (!overwrite) throw new Error(`--out ${out} already holds a reward model; choose another folder or pass --overwrite`);
    return;
  }
  // Weights and the list of training images alone are what a save interrupted before its checkpoint.json leaves.
  if (fs.readdirSync(out).some((f) => !f.startsWith('.') && !/^weights-[0-9a-f]+\.bin$/.test(f) && f !== TRAINING_IMAGES_FILE)) throw new Error(`--out ${out} holds files but no reward model (checkpoint.json): give a new or empty folder`);
}

/** The reward or the CLIP baseline, by `--model DIR|clip`. */
async function loadScorer(model: string, clipDir?: string): Promise<{ scorer: RewardScorer; frozen: FrozenClip; dispose: () => void }> {
  if (model === 'clip') {
    const frozen = await forOption('--clip', () => loadFrozenClip(clipDir ?? BASE_CLIP_DIR));
    return { scorer: new ClipScore(new TextEmbeddings(frozen)), frozen, dispose: () => frozen.clip.dispose() };
  }
  if (!fs.existsSync(model)) {
    throw new Error(`--model ${model}: no such folder; give a reward model folder (e.g. data/reward-model) or "clip" (lower case) for the CLIP-score baseline`);
  }
  const frozen = clipDir ? await forOption('--clip', () => loadFrozenClip(clipDir)) : undefined;
  const r = await forOption('--model', () => loadRewardModel(model, { clip: frozen })).catch((e: unknown) => {
    frozen?.clip.dispose(); // given from outside, so the loader leaves it
    throw e;
  });
  return { scorer: r.model, frozen: r.frozen, dispose: () => (r.model.dispose(), r.frozen.clip.dispose()) };
}

export function registerReward(program: Command): void {
  program
    .command('train-reward')
    .description('train the reward model r(x, z) on labelled datasets (MSE to the labels + lambda x the prompt-classification loss)')
    .requiredOption('--data <dir>', 'labelled dataset folder (repeat for several)', repeatable, [])
    .requiredOption('--out <dir>', 'folder for the reward model')
    .option('--clip <dir>', 'frozen MiniCLIP checkpoint (default: the base model\'s, data/base-model/clip)')
    .option('--aux-weight <lambda>', 'weight of the prompt-classification loss (0 = off)', '0.5')
    .option('--aux-prompts <n>', 'prompts per good image in that loss: the true one + n-1 perturbed', '10')
    .option('--labels <mode>', `targets: ${LABEL_MODES.join(' | ')} (share of raters per image, or one row per label)`, 'mean')
    .option('--inputs <what>', `what the MLP reads: ${REWARD_INPUTS.join(' | ')} (u * v, or [u, v, u * v])`, 'product')
    .option('--clip-weight <k>', 'weight of the CLIP cosine added to the MLP\'s logit, then recalibrated (beyond the paper; 0 = the MLP alone)', '0')
    .option('--seed <n>', 'integer seed (weights, split, order, perturbations)', '0')
    .option('--overwrite', 'replace a checkpoint already in --out')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { data: string[]; out: string; clip?: string; auxWeight: string; auxPrompts: string; labels: string; inputs: string; clipWeight: string; seed: string; overwrite?: boolean; json?: boolean }) => {
      if (!(LABEL_MODES as readonly string[]).includes(opts.labels)) throw new Error(`--labels must be one of ${LABEL_MODES.join(', ')}, got "${opts.labels}"`);
      if (!(REWARD_INPUTS as readonly string[]).includes(opts.inputs)) throw new Error(`--inputs must be one of ${REWARD_INPUTS.join(', ')}, got "${opts.inputs}"`);
      const config: Partial<RewardTrainConfig> = {
        auxWeight: numberOption('--aux-weight', opts.auxWeight, 0, 100),
        auxPrompts: intOption('--aux-prompts', opts.auxPrompts, 2, 64),
        labels: opts.labels as LabelMode,
        inputs: opts.inputs as RewardInputs,
        clipWeight: numberOption('--clip-weight', opts.clipWeight, 0, 1000),
        seed: intOption('--seed', opts.seed, 0, 2 ** 31),
      };
      checkFreshOut(opts.out, opts.overwrite);
      if (opts.clip !== undefined) forOption('--clip', () => clipCheckpointDir(opts.clip!));
      await initBackend();
      const { seconds, run } = await trainRewardStage(config, opts.data, opts.out, { clip: opts.clip, overwrite: opts.overwrite, progress: undefined });
      const summary = {
        out: opts.out, seconds, config: run.config, rows: run.rows, bestEpoch: run.bestEpoch, epochs: run.history.length,
        heldOutPrompts: run.heldOutPrompts.length, trainPrompts: run.trainPrompts.length, heldOut: run.heldOut, datasets: run.datasets,
      };
      if (run.caution) process.stderr.write(`t2i-align: ${run.caution}\n`);
      if (opts.json) return void process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
      const h = run.heldOut;
      console.log(`${opts.out}: reward model trained in ${seconds.toFixed(1)} s on ${run.rows.train} rows (${run.trainPrompts.length} prompts; ${run.rows.goodTrain} good), best epoch ${run.bestEpoch} of ${run.history.length}`);
      const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(1) : '-');
      if (h) console.log(`held-out prompts (${run.heldOutPrompts.length}, ${h.images} images): accuracy ${pct(h.accuracy.value)}% [${pct(h.accuracy.lo)}, ${pct(h.accuracy.hi)}], ROC AUC ${fixed3(h.auc.value)} [${fixed3(h.auc.lo)}, ${fixed3(h.auc.hi)}] against the raters' majority`);
    });

  program
    .command('reward')
    .description('score images against prompts with a reward model (or --model clip: the CLIP-score baseline)')
    .requiredOption('--model <dir|clip>', 'reward model folder, or "clip"')
    .option('--manifest <dir>', 'score every image of a dataset against its own prompt')
    .option('--image <file>', 'one 32x32 PNG to score against each --prompt')
    .option('--prompt <text>', 'a prompt for --image (repeat for several)', repeatable, [])
    .option('--clip <dir>', 'MiniCLIP checkpoint (default: the one the reward model names, or data/base-model/clip)')
    .option('--json', 'print {"scores": [{"id", "prompt", "reward"}, ...]}')
    .action(async (opts: { model: string; manifest?: string; image?: string; prompt: string[]; clip?: string; json?: boolean }) => {
      if ((opts.manifest === undefined) === (opts.image === undefined)) throw new Error('give either --manifest DIR or --image FILE with --prompt');
      if (opts.image !== undefined && opts.prompt.length === 0) throw new Error('--image needs at least one --prompt');
      if (opts.manifest !== undefined && opts.prompt.length > 0) throw new Error('--prompt goes with --image; --manifest scores each image against its own prompt');
      let items: Array<{ id: string; prompt: string }>;
      let load: (frozen: FrozenClip) => { dim: number; data: Float32Array };
      if (opts.image !== undefined) {
        const prompts = opts.prompt.map((p) => formatPrompt(parsePrompt(p)));
        if (!fs.existsSync(opts.image)) throw new Error(`--image ${opts.image}: no such file`);
        let img: ImageLike;
        try {
          img = decodePng(fs.readFileSync(opts.image));
        } catch (e) {
          throw new Error(`--image ${opts.image}: ${(e as Error).message}`);
        }
        if (img.width !== 32 || img.height !== 32) throw new Error(`--image ${opts.image} is ${img.width}x${img.height}; the reward reads 32x32 images`);
        items = prompts.map((prompt) => ({ id: path.basename(opts.image!), prompt }));
        load = (frozen) => {
          const e = embedImages(frozen.clip, [img]);
          const data = new Float32Array(prompts.length * e.dim);
          prompts.forEach((_, i) => data.set(e.data, i * e.dim));
          return { dim: e.dim, data };
        };
      } else {
        const records = readManifest(opts.manifest!);
        // The prompt in the grammar's one spelling, as training and eval-reward read it (and --image above).
        items = records.map((r) => ({ id: r.id, prompt: formatPrompt(promptAttributes(opts.manifest!, r)) }));
        load = (frozen) => datasetImageEmbeddings(opts.manifest!, frozen, records);
      }
      await initBackend();
      const { scorer, frozen, dispose } = await loadScorer(opts.model, opts.clip);
      try {
        const scores = scorer.score(load(frozen), items.map((x) => x.prompt));
        const out = items.map((x, i) => ({ id: x.id, prompt: x.prompt, reward: Number(scores[i].toFixed(6)) }));
        if (opts.json) return void process.stdout.write(JSON.stringify({ model: opts.model, scores: out }) + '\n');
        for (const s of out) console.log(`${s.reward.toFixed(4)}  ${s.id}  ${s.prompt}`);
      } finally {
        dispose();
      }
    });

  program
    .command('eval-reward')
    .description('accuracy, ROC AUC and calibration of a reward model and of the CLIP score, against held-out labels and the judge')
    .requiredOption('--model <dir>', 'reward model folder')
    .option('--labels <dir>', 'labelled dataset of images the model never saw (target: raters\' majority; repeat)', repeatable, [])
    .option('--judge <dir>', 'dataset of images the model never saw (target: the judge\'s verdict; repeat)', repeatable, [])
    .option('--resamples <n>', 'bootstrap draws (over prompts) per interval', '1000')
    .option('--render-prompts <n>', 'clean renders for the true-vs-changed-prompt check', '200')
    .option('--seed <n>', 'seed of the bootstrap and the renders', '0')
    .option('--out <dir>', 'also write eval-reward.json, eval-reward.md and reliability.svg there')
    .option('--json', 'print the evaluation as JSON')
    .action(async (opts: { model: string; labels: string[]; judge: string[]; resamples: string; renderPrompts: string; seed: string; out?: string; json?: boolean }) => {
      if (opts.labels.length + opts.judge.length === 0) throw new Error('give at least one --labels DIR or --judge DIR to evaluate on');
      // Each set is its own row: one folder may be read against the labels and against the judge, not twice as one.
      refuseRepeatedDatasets(opts.labels.map((dir) => ({ dir, flag: '--labels' })));
      refuseRepeatedDatasets(opts.judge.map((dir) => ({ dir, flag: '--judge' })));
      const resamples = intOption('--resamples', opts.resamples, 10, 100000); // fewer give no interval (0: a fake [0, 0])
      const renderPrompts = intOption('--render-prompts', opts.renderPrompts, 1, 100000);
      const seed = intOption('--seed', opts.seed, 0, 2 ** 31);
      outFolderOption(opts.out, { files: ['eval-reward.json', 'ablation.json', 'ablation.md', 'reliability.svg'], what: 'eval-reward results' });
      await initBackend();
      const { model, meta, frozen } = await forOption('--model', () => loadRewardModel(opts.model));
      try {
        refuseTrainingImages(opts.model, meta.datasets ?? [], [...opts.labels, ...opts.judge], 'the data this reward model was trained on', recordedTrainingImages(opts.model, meta));
        const sets = [...opts.labels.map((d) => labelEvalSet(d, frozen)), ...opts.judge.map((d) => judgeEvalSet(d, frozen))];
        const r = evaluateReward(model, frozen, sets, { trainPrompts: meta.trainPrompts, clipThreshold: Number(meta.metrics.clipThreshold ?? 0.5) }, { resamples, seed, renderPrompts });
        const table = rewardTable(r);
        if (opts.out) {
          makeDir(opts.out);
          writeFileAtomic(path.join(opts.out, 'eval-reward.json'), JSON.stringify({ model: opts.model, ...r }, null, 2) + '\n');
          writeFileAtomic(path.join(opts.out, 'eval-reward.md'), table + '\n');
          const series = r.evals.map((e) => ({ name: `${e.scorer}: ${e.set}`, points: e.reliability.filter((b) => b.n > 0).map((b) => [b.meanScore, b.meanTarget] as [number, number]) }));
          series.push({ name: 'perfect', points: [[0, 0], [1, 1]] });
          writeFileAtomic(path.join(opts.out, 'reliability.svg'), lineChartSvg(series, { title: 'Reliability: share aligned vs mean score per bin', xLabel: 'mean score', yLabel: 'share aligned', width: 720, height: 360 }));
        }
        if (opts.json) return void process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        console.log(table);
      } finally {
        model.dispose();
        frozen.clip.dispose();
      }
    });

  program
    .command('reward-ablation')
    .description('the auxiliary-loss ablation: train with lambda and with 0 for each seed, paired effect on AUC and accuracy')
    .requiredOption('--data <dir>', 'labelled training dataset (repeat for several)', repeatable, [])
    .option('--labels <dir>', 'labelled evaluation dataset (repeat)', repeatable, [])
    .option('--judge <dir>', 'judged evaluation dataset (repeat)', repeatable, [])
    .option('--seeds <list>', 'training seeds (with 5 seeds the sign-flip test cannot go below p = 0.0625; 8 reach 0.008)', '0,1,2,3,4,5,6,7')
    .option('--aux-weight <lambda>', 'lambda of the "with" arm', '0.5')
    .option('--render-prompts <n>', 'clean renders for the true-vs-changed-prompt check (0: skip it)', '200')
    .option('--clip <dir>', 'frozen MiniCLIP checkpoint (default data/base-model/clip)')
    .option('--out <file>', 'also write the result as JSON and a markdown table (same name, .md) there')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { data: string[]; labels: string[]; judge: string[]; seeds: string; auxWeight: string; renderPrompts: string; clip?: string; out?: string; json?: boolean }) => {
      if (opts.labels.length + opts.judge.length === 0) throw new Error('give at least one --labels DIR or --judge DIR to evaluate on');
      const seeds = numberListOption('--seeds', opts.seeds, 0, 2 ** 31);
      if (seeds.some((s) => !Number.isInteger(s)) || seeds.length < 2 || seeds.length > 20) throw new Error(`--seeds must be 2..20 integers, got "${opts.seeds}"`);
      if (new Set(seeds).size !== seeds.length) throw new Error(`--seeds must name each seed once (a repeated seed would count one training twice in the paired test), got "${opts.seeds}"`);
      const auxWeight = numberOption('--aux-weight', opts.auxWeight, 1e-9, 100);
      const renderPrompts = intOption('--render-prompts', opts.renderPrompts, 0, 100000);
      if (opts.out !== undefined && !opts.out.endsWith('.json')) throw new Error(`--out must name a .json file (the markdown table goes beside it, .md), got "${opts.out}"`);
      outFileOption(opts.out, '--out', opts.out ? [opts.out.replace(/\.json$/, '.md')] : []);
      refuseTrainingImages(process.cwd(), opts.data.map((dir) => ({ dir })), [...opts.labels, ...opts.judge], 'the data these reward models train on');
      await initBackend();
      const frozen = await forOption('--clip', () => loadFrozenClip(opts.clip ?? BASE_CLIP_DIR));
      try {
        const data = loadRewardData(opts.data, frozen);
        const sets = [...opts.labels.map((d) => labelEvalSet(d, frozen)), ...opts.judge.map((d) => judgeEvalSet(d, frozen))];
        const r = await auxLossAblation(data, frozen, sets, seeds, { auxWeight }, (seed, lambda) => process.stderr.write(`reward-ablation: seed ${seed}, lambda ${lambda}\n`), renderPrompts);
        const table = ablationTable(r);
        if (opts.out) {
          makeDir(path.dirname(opts.out)); // as eval-finetune --out: its folder is made (it was refused after every model had trained)
          writeFileAtomic(opts.out, JSON.stringify(r, null, 2) + '\n');
          writeFileAtomic(opts.out.replace(/\.json$/, '.md'), table + '\n');
        }
        if (opts.json) return void process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        console.log(table);
      } finally {
        frozen.clip.dispose();
      }
    });
}

/** A test set must be images the model never saw: refuse one that holds training images (by their bytes). */
function refuseTrainingImages(base: string, training: ReadonlyArray<{ dir: string }>, testDirs: readonly string[], what: string, recorded?: ReadonlySet<string> | null): void {
  for (const d of [...new Set(testDirs)]) {
    const o = imagesSeenInTraining(base, training, d, recorded);
    if (o.shared) throw new Error(`${d}: ${o.shared} of its ${o.total} images are in ${what} (${o.trainDirs.join(', ')}): evaluate on images it never saw (collect them with another --seed)`);
    for (const m of o.missing) console.error(`t2i-align: the training data ${m} is not here${recorded === null ? `, nor the model's list of its training images (${TRAINING_IMAGES_FILE}, which reward models trained since 2026-12-07 keep)` : ''}, so ${d} is not checked against it`);
  }
}
