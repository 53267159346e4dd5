/**
 * Does the model know a small circle from a small square? A diffusion classifier
 * (Li et al. 2023, "Your diffusion model is secretly a zero-shot classifier"):
 * renders of N circles and of N squares, paired (same layout, sizes and color),
 * are noised to timestep t, and the model's denoising error is taken under the
 * prompt that names each shape ("three circles", "three squares"), with the same
 * noise for every prompt. The prompt with the lower error is the model's reading
 * of the image at that noise level. If the model reads the shapes of four small
 * objects as well as that of one large one, it knows them and the squares of its
 * samples come from sampling; if not, training did not teach them.
 *
 * With --attribute count it reads counts instead: renders of one shape (the first
 * of --shapes) in each of --counts (default 1,2,3,4), read among the prompts
 * "a circle", "two circles", ... (whole-image error, as layouts differ).
 *
 *   node --import tsx scripts/shape-likelihood.ts [--model DIR] [--seed S]
 *       [--images N] [--t 't1,t2,...'] [--draws D] [--shapes 'a,b'] [--whole]
 *       [--attribute shape|count] [--counts 'c1,c2,...'] [--out DIR]
 *
 * Images per count and shape N (default 48), noise draws per timestep D (2),
 * shapes circle,square. The render keys are 'S/shape-likelihood/n/i' ('S/count-likelihood/n/i') with S
 * defaulting to 1000, the README's tuning seed (never a reported one).
 * The error is the denoising error (of v or eps, as the model predicts) summed over each image's object boxes
 * (the rest of the image is the same for both shapes); --whole takes the whole
 * image's mean instead. A self-conditioned model (`selfCondition`) is read with a zero
 * estimate, the input of its first sampling step and of half its training examples.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine';
import { BASE_MODEL_DIR, loadModel } from '../src/eval';
import { qSample, TextToImage } from '../src/models';
import { Attributes, formatPrompt } from '../src/world/prompt';
import { PlacedObject, Rendered, renderPrompt } from '../src/world/render';
import { MAX_COUNT, ObjectName, OBJECTS } from '../src/world/vocab';
import { Rng } from '../src/engine/random';
import { intArg } from './args';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      seed: { type: 'string' },
      images: { type: 'string' },
      t: { type: 'string', default: '100,300,500,700,900' },
      draws: { type: 'string' },
      shapes: { type: 'string', default: 'circle,square' },
      whole: { type: 'boolean', default: false },
      attribute: { type: 'string', default: 'shape' },
      counts: { type: 'string', default: '1,2,3,4' },
      out: { type: 'string', default: path.join('results', 'shape-likelihood') },
    },
    strict: true,
  });
  if (values.attribute !== 'shape' && values.attribute !== 'count') throw new Error(`--attribute must be shape or count, got '${values.attribute}'`);
  const seed = intArg('seed', values.seed, 1000, 0);
  const n = intArg('images', values.images, 48, 1);
  const draws = intArg('draws', values.draws, 2, 1);
  const shapes = values.shapes!.split(',') as ObjectName[];
  for (const s of shapes) if (!OBJECTS.includes(s)) throw new Error(`--shapes takes ${OBJECTS.join(', ')}, got '${s}'`);
  if (values.attribute === 'shape' && (shapes.length < 2 || new Set(shapes).size !== shapes.length)) throw new Error(`--shapes needs two or more different shapes, got '${values.shapes}'`);
  await initBackend();
  const { model, dir } = await loadModel(values.model ?? BASE_MODEL_DIR);
  const T = model.schedule.timesteps;
  const ts = values.t!.split(',').map((v) => {
    const t = Number(v);
    if (v.trim() === '' || !Number.isInteger(t) || t < 0 || t >= T) throw new Error(`--t takes timesteps in 0..${T - 1}, got '${v}'`);
    return t;
  });
  const counts = values.counts!.split(',').map((v) => {
    const c = Number(v);
    if (v.trim() === '' || !Number.isInteger(c) || c < 1 || c > MAX_COUNT) throw new Error(`--counts takes counts in 1..${MAX_COUNT}, got '${v}'`);
    return c;
  });
  if (values.attribute === 'count' && (counts.length < 2 || new Set(counts).size !== counts.length)) {
    throw new Error(`--counts needs two or more different counts, got '${values.counts}'`);
  }
  const byCount = values.attribute === 'count';
  // Renders of different counts share no layout, so only the whole image compares them.
  const whole = values.whole || byCount;
  const K = byCount ? counts.length : shapes.length;
  const lines = [
    `${dir}, seed ${seed}, ${n} ${byCount ? `scenes per count of ${shapes[0]}s` : 'paired scenes per count'}, ${draws} noise draws per timestep, error ${whole ? 'over the whole image' : 'over the object boxes'}`,
    '',
    `Share of images whose own ${byCount ? 'count' : 'shape'}'s prompt has the lowest denoising error (chance: ${(100 / K).toFixed(0)}%), and the mean relative margin`,
    "(error under the best other prompt minus under the right one, over the right one's):",
    '',
    `| objects | box side (px) | image shows | ${ts.map((t) => `t = ${t}`).join(' | ')} |`,
    `|---|---|---|${ts.map(() => '---:').join('|')}|`,
  ];
  const emit = (classes: Attributes[], scenes: Rendered[][], r: Readings) => {
    for (const [k, a] of classes.entries()) {
      const sides = scenes.flatMap((sc) => sc[k].placed.map((p) => p.size));
      const cells = ts.map((_, ti) => `${((100 * r.right[ti][k]) / n).toFixed(0)}% (${(r.margin[ti][k] >= 0 ? '+' : '') + ((100 * r.margin[ti][k]) / n).toFixed(1)}%)`);
      const line = `| ${a.count} | ${Math.min(...sides)}-${Math.max(...sides)} | ${a.object} | ${cells.join(' | ')} |`;
      lines.push(line);
      console.log(line);
    }
  };
  try {
    if (byCount) {
      const classes = counts.map((count) => ({ count, object: shapes[0] }));
      const scenes = Array.from({ length: n }, (_, i) => classes.map((a) => renderPrompt(a, `${seed}/count-likelihood/${a.count}/${i}`)));
      emit(classes, scenes, readings(model, classes, scenes, ts, draws, `${seed}/count-likelihood/noise`, whole));
    } else {
      for (let count = 1; count <= MAX_COUNT; count++) {
        const classes = shapes.map((object) => ({ count, object }));
        // Every shape's render of scene i shares its layout, sizes and color (the same key).
        const scenes = Array.from({ length: n }, (_, i) => classes.map((a) => renderPrompt(a, `${seed}/shape-likelihood/${count}/${i}`)));
        emit(classes, scenes, readings(model, classes, scenes, ts, draws, `${seed}/shape-likelihood/noise/${count}`, whole));
      }
    }
  } finally {
    model.dispose({ clip: true });
  }
  fs.mkdirSync(values.out!, { recursive: true });
  fs.writeFileSync(path.join(values.out!, 'summary.md'), lines.join('\n') + '\n');
  console.log(`${values.out}/summary.md`);
}

interface Readings {
  /** right[ti][k]: images of class k read as class k at timestep ts[ti]. */
  right: number[][];
  /** margin[ti][k]: summed relative margins (best other prompt's error minus the own prompt's, over the own one's). */
  margin: number[][];
}

/**
 * The diffusion classifier: every image (scene i, class k) is noised to each t with one noise per
 * (t, draw) shared by all prompts, and read as the class whose prompt gives the lowest error.
 */
function readings(
  model: TextToImage, classes: readonly Attributes[], scenes: readonly Rendered[][], ts: readonly number[], draws: number, noiseKey: string, whole: boolean,
): Readings {
  const K = classes.length;
  const images = scenes.flatMap((sc) => sc.map((r) => r.image)); // image (i, class k) at i * K + k
  const prompts = classes.map(formatPrompt);
  const cond = model.encodePrompts(prompts.flatMap((p) => images.map(() => p))); // [K * images]: prompt j, image m
  const x0 = tf.tidy(() => tf.sub(tf.div(tf.tensor4d(Float32Array.from(images.flatMap((im) => Array.from(im.data))), [images.length, 32, 32, 3]), 127.5), 1) as tf.Tensor4D);
  // The boxes of every (prompt, image) pair, in the prompts' layout; none for the whole image.
  const masks = whole
    ? undefined
    : tf.tensor4d(Float32Array.from(prompts.flatMap(() => scenes.flatMap((sc) => sc.flatMap((r) => Array.from(boxMask(r.placed, 32)))))), [K * images.length, 32, 32, 1]);
  const right = ts.map(() => classes.map(() => 0));
  const margin = ts.map(() => classes.map(() => 0));
  try {
    for (const [ti, t] of ts.entries()) {
      const err = new Float64Array(K * images.length);
      for (let d = 0; d < draws; d++) {
        const rng = new Rng(`${noiseKey}/${t}/${d}`);
        const e = tf.tidy(() => {
          const eps = tf.randomNormal(x0.shape, 0, 1, 'float32', rng.tfSeed()) as tf.Tensor4D;
          const tsArr = new Int32Array(images.length).fill(t);
          const xt = qSample(model.schedule, x0, eps, tsArr);
          const target = model.config.prediction === 'epsilon' ? eps : qSample(model.schedule, eps, tf.neg(x0), tsArr);
          const rep = <R extends tf.Tensor>(x: R) => tf.concat(classes.map(() => x)) as R;
          const pred = model.predict(rep(xt), tf.fill([K * images.length], t, 'float32') as tf.Tensor1D, cond);
          const sq = tf.square(tf.sub(rep(target), pred));
          return masks ? tf.sum(tf.mul(sq, masks), [1, 2, 3]) : tf.mean(sq, [1, 2, 3]);
        });
        const v = e.dataSync();
        for (let k = 0; k < v.length; k++) err[k] += v[k];
        e.dispose();
      }
      for (let m = 0; m < images.length; m++) {
        const shown = m % K;
        const own = err[shown * images.length + m];
        let best = Infinity;
        for (let j = 0; j < K; j++) if (j !== shown) best = Math.min(best, err[j * images.length + m]);
        if (own < best) right[ti][shown]++;
        margin[ti][shown] += (best - own) / own;
      }
    }
  } finally {
    tf.dispose([x0, cond.context, cond.mask, ...(masks ? [masks] : [])]);
  }
  return { right, margin };
}

/** 1 inside the objects' boxes, 0 elsewhere: where two shapes' renders can differ. */
function boxMask(placed: readonly PlacedObject[], size: number): Float32Array {
  const m = new Float32Array(size * size);
  for (const p of placed) for (let y = p.y; y < p.y + p.size; y++) for (let x = p.x; x < p.x + p.size; x++) m[y * size + x] = 1;
  return m;
}

main().catch((e: Error) => {
  process.stderr.write(`shape-likelihood: ${e.message}\n`);
  process.exit(1);
});
