import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import {
  decodePng, encodePng, hardNegativeRates, judge, judgeDataset, MANIFEST, parsePrompt, renderPrompt, robustnessCurve,
  SHAPE_THRESHOLD, vocabulary, CATEGORIES,
} from '../world';
import { writeFileAtomic } from '../engine/checkpoint';
import { progress as makeProgress } from '../engine/progress';
import { renderSet } from '../eval/fid';
import { loadPrompts } from '../feedback/collect';
import { ExitStatus, systemErrorLine } from './errors';
import { intOption, numberListOption, numberOption, outFileOption, outFolderOption } from './options';

/** `vocab`, `render`, `render-set`, `judge` and `judge-accuracy`: the world's commands. */
export function registerWorld(program: Command): void {
  program
    .command('vocab')
    .description('print the prompt vocabulary (counts, colors, objects, backgrounds, held-out objects and combinations)')
    .option('--json', 'print one JSON object')
    .action((opts: { json?: boolean }) => {
      const v = vocabulary();
      if (opts.json) {
        process.stdout.write(JSON.stringify(v, null, 2) + '\n');
        return;
      }
      console.log(`counts:      ${v.counts.join(', ')} ("a" or "an" for one)`);
      console.log(`colors:      ${v.colors.join(', ')}`);
      console.log(`objects:     ${v.objects.join(', ')} (main: ${v.mainObject})`);
      console.log(`backgrounds: ${v.backgrounds.join(', ')}`);
      console.log(`held out:    objects ${v.heldOut.objects.join(', ')}; combinations ${v.heldOut.combinations.map((c) => `${c.color} ${c.background}`).join(', ')}`);
      console.log('             (the unseen prompts: never asked for in the feedback, kept to test generalisation; render and judge take every prompt)');
    });

  program
    .command('render')
    .description('render a prompt to a PNG')
    .requiredOption('--prompt <text>', 'e.g. "two red circles in the forest"')
    .requiredOption('--out <file.png>', 'output PNG')
    .option('--seed <n>', 'integer seed', '0')
    .option('--size <px>', 'canvas side in pixels', '32')
    .action((opts: { prompt: string; out: string; seed: string; size: string }) => {
      const attrs = parsePrompt(opts.prompt);
      outFileOption(opts.out); // a kept file (a manifest, a label store) is named as such first
      if (!/\.png$/i.test(opts.out)) throw new Error(`--out must name a .png file (render writes PNG), got "${opts.out}"`);
      const r = renderPrompt(attrs, intOption('--seed', opts.seed, -(2 ** 53) + 1, 2 ** 53 - 1), { size: intOption('--size', opts.size, 16, 1024) });
      writeFileAtomic(opts.out, encodePng(r.image));
      console.log(`${opts.out}: ${r.image.width}x${r.image.height}, ${r.scene.objects.length} ${r.scene.objects[0]?.color ?? ''} ${attrs.object}(s) on ${r.scene.place}`);
    });

  program
    .command('render-set')
    .description('fresh renders of a prompt set into a dataset folder (PNGs + manifest.jsonl), optionally blurred then noised (e.g. reference sets for fid)')
    .option('--prompts <set>', 'seen | unseen | a text file with one prompt a line (default: seen)')
    .option('--set <name>', 'the same as --prompts seen|unseen (kept for older scripts)')
    .requiredOption('--out <dir>', 'dataset folder (created; a stopped render-set into it finishes the set; a folder of another set is refused)')
    .option('--per-prompt <n>', 'renders per prompt', '1')
    .option('--seed <n>', 'integer seed of the renders and the noise', '0')
    .option('--noise <sigma>', 'Gaussian noise sigma, 0-255 scale, added after the blur', '0')
    .option('--blur <sigma>', 'Gaussian blur sigma in pixels', '0')
    .option('--size <px>', 'canvas side in pixels', '32')
    .action((opts: { prompts?: string; set?: string; out: string; perPrompt: string; seed: string; noise: string; blur: string; size: string }) => {
      if (opts.set !== undefined && opts.set !== 'seen' && opts.set !== 'unseen') throw new Error(`--set must be seen or unseen, got "${opts.set}"`);
      if (opts.set !== undefined && opts.prompts !== undefined && opts.prompts !== opts.set) throw new Error(`--set ${opts.set} and --prompts ${opts.prompts} disagree: give one of them (--set is the older name of --prompts seen|unseen)`);
      const perPrompt = intOption('--per-prompt', opts.perPrompt, 1, 100000);
      const seed = intOption('--seed', opts.seed, 0, 2 ** 31);
      const noise = numberOption('--noise', opts.noise, 0, 255);
      const blur = numberOption('--blur', opts.blur, 0, 10);
      const size = intOption('--size', opts.size, 16, 1024);
      const prompts = loadPrompts(opts.set ?? opts.prompts ?? 'seen');
      if (!fs.existsSync(path.join(opts.out, MANIFEST))) outFolderOption(opts.out, { files: [], what: 'render set' }); // an earlier set is refused by renderSet, naming its manifest
      const n = renderSet({ prompts, perPrompt, out: opts.out, seed, noise, blur, size });
      console.log(`${opts.out}: ${n} renders of ${prompts.length} prompts (noise ${noise}, blur ${blur})`);
    });

  program
    .command('judge')
    .description('check images against prompts: one (--prompt --image; exit status 0 when aligned, 1 when not) or a dataset (--manifest; exit status 0 once the verdicts are written)')
    .option('--prompt <text>', 'prompt to check against')
    .option('--image <file.png>', 'image to check')
    .option('--manifest <path>', 'dataset folder or its manifest.jsonl: judge every record')
    .option('--out <file>', 'the verdicts file of --manifest (default <dataset>/verdicts.jsonl)')
    .option('--json', 'print JSON')
    .action((opts: { prompt?: string; image?: string; manifest?: string; out?: string; json?: boolean }) => {
      if (opts.manifest) {
        if (opts.prompt || opts.image) throw new Error('use either --manifest or --prompt with --image, not both');
        const dir = path.basename(opts.manifest) === MANIFEST ? path.dirname(opts.manifest) : opts.manifest;
        const out = opts.out ?? path.join(dir, 'verdicts.jsonl');
        outFileOption(out, '--out', [out.replace(/(\.jsonl)?$/, '.summary.json')]);
        // JSON lines only: an --out naming an image or any other file replaced it (a dataset's PNG among them).
        if (!out.endsWith('.jsonl')) throw new Error(`--out must name a .jsonl file (one verdict a line; the summary goes beside it, .summary.json), got "${out}"`);
        const res = judgeDataset(dir);
        writeFileAtomic(out, res.records.map((r) => JSON.stringify(r) + '\n').join(''));
        writeFileAtomic(out.replace(/(\.jsonl)?$/, '.summary.json'), JSON.stringify(res.summary, null, 2) + '\n');
        if (opts.json) process.stdout.write(JSON.stringify({ verdicts: out, summary: res.summary }, null, 2) + '\n');
        else {
          console.log(`${res.records.length} records -> ${out}`);
          for (const [c, s] of Object.entries(res.summary)) console.log(`  ${c.padEnd(12)} ${s.aligned}/${s.n} aligned (${(100 * s.rate).toFixed(1)}%)`);
        }
        return;
      }
      if (!opts.prompt || !opts.image) throw new Error('judge needs --prompt and --image (or --manifest <dataset>)');
      if (opts.out !== undefined) throw new Error('--out goes with --manifest (the verdicts file of a dataset); the verdict on one image is printed (--json for JSON, the exit status says aligned or not)');
      let bytes: Buffer;
      try {
        bytes = fs.readFileSync(opts.image);
      } catch (e) {
        (e as NodeJS.ErrnoException).path ??= opts.image; // a read of a folder (EISDIR) names no path
        const folder = (e as NodeJS.ErrnoException).code === 'EISDIR' ? '; for every image of a dataset folder, --manifest DIR' : '';
        throw new Error(`cannot read image ${opts.image}: ${systemErrorLine(e) ?? (e as Error).message}${folder}`);
      }
      let image: ReturnType<typeof decodePng>;
      try {
        image = decodePng(bytes);
      } catch (e) {
        throw new Error(`${opts.image}: ${(e as Error).message}`);
      }
      // The world's images are square (32x32 samples, renders of any --size): anything else is a grid or a strip of
      // several, which the judge would read as one image of many objects (and slowly, at a large size).
      if (image.width !== image.height) throw new Error(`${opts.image} is ${image.width}x${image.height}; the judge reads one square image of the world (a sample is 32x32): a grid of several? Judge the dataset it came from with --manifest DIR`);
      const v = judge(opts.prompt, image);
      if (opts.json) process.stdout.write(JSON.stringify(v, null, 2) + '\n');
      else {
        console.log(`${v.aligned ? 'aligned' : 'NOT aligned'}: "${v.prompt}"`);
        for (const a of v.verdicts) console.log(`  ${a.ok ? '+' : '-'} ${a.attribute.padEnd(10)} expected ${a.expected}, saw ${a.seen}`);
      }
      if (!v.aligned) throw new ExitStatus(1, `${opts.image} is not aligned with "${v.prompt}"`);
    });

  program
    .command('judge-accuracy')
    .description("measure the judge on fresh random renders per category, clean or degraded (the robustness curve)")
    .option('--per-category <n>', 'renders per category and cell (images per kind with --hard-negatives)', '1000')
    .option('--seed <n>', 'integer seed of prompts and renders', '100000')
    .option('--noise <sigmas>', 'Gaussian noise sigmas on the 0-255 scale, comma-separated', '0')
    .option('--blur <sigmas>', 'Gaussian blur sigmas in pixels, comma-separated', '0')
    .option('--hard-negatives', 'instead: how often the judge recognises no shape in hard negatives (ovals, blobs, merged, cut, frayed shapes), per kind')
    .option('--json', 'print JSON')
    .action((opts: { perCategory: string; seed: string; noise: string; blur: string; hardNegatives?: boolean; json?: boolean }) => {
      if (opts.hardNegatives) {
        const perKind = intOption('--per-category', opts.perCategory, 1, 100000);
        const seed = intOption('--seed', opts.seed, 0, 2 ** 31);
        const rows = [];
        for (const blurSigma of numberListOption('--blur', opts.blur, 0, 10))
          for (const noiseSigma of numberListOption('--noise', opts.noise, 0, 255))
            rows.push({ noiseSigma, blurSigma, shapeThreshold: SHAPE_THRESHOLD, kinds: hardNegativeRates({ perKind, seed, noiseSigma, blurSigma }) });
        if (opts.json) {
          process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
          return;
        }
        for (const r of rows) {
          const cells = Object.entries(r.kinds).map(([k, v]) => `${k} ${v.rejected}/${v.n} (${(100 * v.rate).toFixed(1)}%)`).join('  ');
          console.log(`noise ${r.noiseSigma} blur ${r.blurSigma}, rejected at shapeScore < ${r.shapeThreshold}: ${cells}`);
        }
        return;
      }
      const perCategory = intOption('--per-category', opts.perCategory, 1, 100000);
      const noiseSigmas = numberListOption('--noise', opts.noise, 0, 255);
      const blurSigmas = numberListOption('--blur', opts.blur, 0, 10);
      // one tick a render: 100,000 a category is minutes of work
      const bar = makeProgress(CATEGORIES.length * perCategory * noiseSigmas.length * blurSigmas.length, 'judge-accuracy');
      const rows = robustnessCurve({ perCategory, seed: intOption('--seed', opts.seed, 0, 2 ** 31), noiseSigmas, blurSigmas, onImage: () => bar.tick() });
      bar.done();
      if (opts.json) {
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        return;
      }
      for (const r of rows) {
        const cells = Object.entries(r.exact).map(([c, v]) => `${c} ${(100 * v).toFixed(1)}%`).join('  ');
        console.log(`noise ${r.noiseSigma} blur ${r.blurSigma}: ${cells}`);
      }
    });
}
