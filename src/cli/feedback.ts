import * as path from 'node:path';
import { Command } from 'commander';
import { initBackend } from '../engine/backend';
import { warnIfSlowPath } from '../engine/native';
import { progress } from '../engine/progress';
import { DEFAULT_BATCH_SIZE, defaultStorePath, exportLabels, formatAgreement, formatOf, imageInfo, isLoopbackUrl, readLabelFile, LabelStore, loadPrompts, serveLabels } from '../feedback';
import { readManifest } from '../world/dataset';
import { collectStage, labelStage } from '../pipeline/stages';
import { guidanceOption, intOption, outFileOption } from './options';

/** `collect`, `label`, `serve`, `export-labels`, `import-labels`: Stage 1 feedback. */
export function registerFeedback(program: Command): void {
  program
    .command('collect')
    .description('generate N images per prompt with the pretrained model into a feedback dataset (resumable: rerun to finish)')
    .requiredOption('--prompts <set>', 'seen | unseen | a text file with one prompt a line')
    .requiredOption('--out <dir>', 'dataset folder (created, or resumed when it exists)')
    .option('--per-prompt <n>', 'images per prompt', '4')
    .option('--model <dir>', 'diffusion checkpoint or pretrain output folder (default: the shipped data/base-model)')
    .option('--stand-in <p>', 'no model: render each prompt, getting one attribute wrong with probability p (for demos and tests)')
    .option('--seed <n>', 'integer base seed of the per-image seeds', '0')
    .option('--batch-size <n>', 'images per generator call', String(DEFAULT_BATCH_SIZE))
    .option('--guidance <s>', 'classifier-free guidance scale of the model (default: its checkpoint\'s)')
    .action(async (opts: { prompts: string; out: string; perPrompt: string; model?: string; standIn?: string; seed: string; batchSize: string; guidance?: string }) => {
      const prompts = loadPrompts(opts.prompts);
      const perPrompt = intOption('--per-prompt', opts.perPrompt, 1, 100000);
      const seed = intOption('--seed', opts.seed, 0, 2 ** 31);
      const batchSize = intOption('--batch-size', opts.batchSize, 1, 4096);
      let standIn: number | undefined;
      if (opts.standIn !== undefined) {
        standIn = Number(opts.standIn);
        if (!/^(\d+(\.\d*)?|\.\d+)$/.test(opts.standIn) || !(standIn >= 0 && standIn <= 1)) throw new Error(`--stand-in must be a probability in [0, 1], got "${opts.standIn}"`);
      }
      if (opts.model !== undefined && standIn !== undefined) throw new Error('use either --model or --stand-in, not both');
      if (opts.guidance !== undefined && standIn !== undefined) throw new Error('--guidance is a setting of the model; the stand-in has none');
      const sampler = opts.guidance !== undefined ? { guidanceScale: guidanceOption(opts.guidance) } : undefined;
      if (standIn === undefined) {
        await initBackend();
        warnIfSlowPath();
      }
      // The bar starts with the first batch: a run refused before any work prints only its one-line error.
      let bar: ReturnType<typeof progress> | undefined;
      let shown = 0;
      try {
        const r = await collectStage({ prompts, promptSource: opts.prompts, perPrompt, seed, batchSize, model: opts.model, sampler, standIn }, opts.out, {
          onProgress: (done, total) => {
            bar ??= progress(total, 'collect');
            bar.tick(done - shown);
            shown = done;
          },
        });
        bar?.done();
        console.log(`${opts.out}: ${r.generated} images generated, ${r.existing} already there, ${r.total} in all (${prompts.length} prompts x ${perPrompt}, source ${r.source})`);
      } finally {
        bar?.done();
      }
    });

  program
    .command('label')
    .description('label a dataset with a simulated rater panel into its label store, then print agreement statistics')
    .requiredOption('--data <dir>', 'dataset folder (manifest.jsonl + PNGs)')
    .option('--panel <spec>', 'raters: N | key=P[,key=P...][xN] joined by +, keys flip, skip, leniency (e.g. "flip=0.1,skip=0.05,leniency=0.2x3")', '3')
    .option('--seed <n>', 'integer seed of the panel', '0')
    .option('--db <file>', 'label store (default <dir>/labels.sqlite)')
    .option('--json', 'print the statistics as JSON')
    .action((opts: { data: string; panel: string; seed: string; db?: string; json?: boolean }) => {
      const r = labelStage({ panel: opts.panel, seed: intOption('--seed', opts.seed, 0, 2 ** 31), db: opts.db }, opts.data);
      if (opts.json) return void process.stdout.write(JSON.stringify({ store: r.store, added: r.added, duplicates: r.duplicates, differing: r.differing, stats: r.stats }, null, 2) + '\n');
      console.log(`${r.store}: ${r.added} labels added, ${r.duplicates} already stored (${r.raters} simulated raters, seed ${opts.seed})`);
      console.log(formatAgreement(r.stats));
    });

  program
    .command('serve')
    .description('serve the labelling web app for a dataset folder (labels go to its label store)')
    .requiredOption('--data <dir>', 'dataset folder (manifest.jsonl + PNGs)')
    .option('--port <n>', 'TCP port (0 = any free one)', '8080')
    .option('--host <addr>', 'address to listen on; 0.0.0.0 serves the whole LAN', '127.0.0.1')
    .option('--db <file>', 'label store (default <dir>/labels.sqlite)')
    .option('--log', 'log every request')
    .action(async (opts: { data: string; port: string; host: string; db?: string; log?: boolean }) => {
      const port = intOption('--port', opts.port, 0, 65535);
      if (opts.host.trim() === '') throw new Error('--host must be an address to listen on (127.0.0.1: this computer only; 0.0.0.0: the whole LAN), got ""');
      const s = await serveLabels({ dataDir: opts.data, storeFile: opts.db, host: opts.host, port, logger: !!opts.log });
      console.log(`labelling ${path.resolve(opts.data)} into ${s.store.file}`);
      for (const u of s.classUrls) console.log(`  labeller:   ${u}\n  statistics: ${u}stats`);
      if (s.classUrls.every(isLoopbackUrl)) console.log('Only this computer can open it: for a class, serve with --host 0.0.0.0 (the whole LAN).');
      console.log('Ctrl+C stops the server.');
      const stop = () => {
        void s.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  program
    .command('export-labels')
    .description('write the raw label history (every rater, every change and undo, with each image\'s prompt and category) to JSONL or CSV')
    .requiredOption('--data <dir>', 'dataset folder')
    .requiredOption('--out <file>', 'output file ending in .jsonl or .csv')
    .option('--db <file>', 'label store (default <dir>/labels.sqlite)')
    .action((opts: { data: string; out: string; db?: string }) => {
      const format = formatOf(opts.out);
      outFileOption(opts.out);
      const images = imageInfo(readManifest(opts.data, { checkFiles: false }), opts.data);
      const store = LabelStore.open(opts.db ?? defaultStorePath(opts.data), { readonly: true });
      try {
        store.bindDataset(images, opts.data);
        console.log(`${opts.out}: ${exportLabels(store, opts.out, format, images)} rows`);
      } finally {
        store.close();
      }
    });

  program
    .command('import-labels')
    .description('add rows from a JSONL or CSV export to a label store (rows already there are skipped; a file whose prompts differ from the dataset\'s is refused)')
    .requiredOption('--data <dir>', 'dataset folder')
    .requiredOption('--in <file>', 'input file ending in .jsonl or .csv')
    .option('--db <file>', 'label store (default <dir>/labels.sqlite)')
    .action((opts: { data: string; in: string; db?: string }) => {
      const format = formatOf(opts.in);
      const images = imageInfo(readManifest(opts.data, { checkFiles: false }), opts.data);
      const rows = readLabelFile(opts.in, format, images); // checked before a store is opened (or made)
      const store = LabelStore.open(opts.db ?? defaultStorePath(opts.data));
      try {
        store.bindDataset(images, opts.data);
        const r = store.importRows(rows);
        const orphans = rows.filter((row) => !images.has(row.imageId)).length;
        const note = orphans ? `; ${orphans} of the file's rows are for images ${opts.data} does not have (stored, they label no image here)` : '';
        console.log(`${store.file}: ${r.added} rows added, ${r.skipped} already stored${note}`);
      } finally {
        store.close();
      }
    });
}
