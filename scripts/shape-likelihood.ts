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
 *   node --import tsx scripts/shape-likelihood.ts [--model DIR] [--seed S]
 *       [--images N] [--t 't1,t2,...'] [--draws D] [--shapes 'a,b'] [--out DIR]
 *
 * Images per count and shape N (default 48), noise draws per timestep D (2),
 * shapes circle,square. The render keys are 'S/shape-likelihood/n/i' with S
 * defaulting to 1000, the README's tuning seed (never a reported one).
 * The error is the v-prediction error summed over each image's object boxes
 * (the rest of the image is the same for both shapes); --whole takes the whole
 * image's mean instead.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine';
import { BASE_MODEL_DIR, loadModel } from '../src/eval';
import { qSample } from '../src/models';
import { formatPrompt } from '../src/world/prompt';
import { PlacedObject, renderPrompt } from '../src/world/render';
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
      out: { type: 'string', default: path.join('results', 'shape-likelihood') },
    },
    strict: true,
  });
  const seed = intArg('seed', values.seed, 1000, 0);
  const n = intArg('images', values.images, 48, 1);
  const draws = intArg('draws', values.draws, 2, 1);
  const shapes = values.shapes!.split(',') as ObjectName[];
  for (const s of shapes) if (!OBJECTS.includes(s)) throw new Error(`--shapes takes ${OBJECTS.join(', ')}, got '${s}'`);
  if (shapes.length < 2 || new Set(shapes).size !== shapes.length) throw new Error(`--shapes needs two or more different shapes, got '${values.shapes}'`);
  await initBackend();
  const { model, dir } = await loadModel(values.model ?? BASE_MODEL_DIR);
  const T = model.schedule.timesteps;
  const ts = values.t!.split(',').map((v) => {
    const t = Number(v);
    if (!Number.isInteger(t) || t < 0 || t >= T) throw new Error(`--t takes timesteps in 0..${T - 1}, got '${v}'`);
    return t;
  });
  const S = shapes.length;
  const lines = [
    `${dir}, seed ${seed}, ${n} paired scenes per count, ${draws} noise draws per timestep, error ${values.whole ? 'over the whole image' : 'over the object boxes'}`,
    '',
    'Share of images whose own shape\'s prompt has the lowest denoising error (chance: ' + (100 / S).toFixed(0) + '%), and the mean relative margin',
    '(error under the best other prompt minus under the right one, over the right one\'s):',
    '',
    `| objects | box side (px) | image shows | ${ts.map((t) => `t = ${t}`).join(' | ')} |`,
    `|---|---|---|${ts.map(() => '---:').join('|')}|`,
  ];
  try {
    for (let count = 1; count <= MAX_COUNT; count++) {
      // Every shape's render of scene i shares its layout, sizes and color (the same key).
      const scenes = Array.from({ length: n }, (_, i) =>
        shapes.map((object) => renderPrompt({ count, object }, `${seed}/shape-likelihood/${count}/${i}`)));
      const sides = scenes.flatMap((s) => s[0].placed.map((p) => p.size));
      const images = scenes.flatMap((s) => s.map((r) => r.image)); // [n * S], image (i, shape k) at i * S + k
      const masks = scenes.flatMap((s) => s.map((r) => boxMask(r.placed, 32)));
      const prompts = shapes.map((object) => formatPrompt({ count, object }));
      const cond = model.encodePrompts(prompts.flatMap((p) => images.map(() => p))); // [S * n * S]: prompt j, image m
      const x0 = tf.tidy(() => tf.sub(tf.div(tf.tensor4d(Float32Array.from(images.flatMap((im) => Array.from(im.data))), [images.length, 32, 32, 3]), 127.5), 1) as tf.Tensor4D);
      const mask = tf.tensor4d(Float32Array.from(masks.flatMap((m) => Array.from(m))), [images.length, 32, 32, 1]);
      const right = ts.map(() => shapes.map(() => 0));
      const margin = ts.map(() => shapes.map(() => 0));
      for (const [ti, t] of ts.entries()) {
        const err = new Float64Array(S * images.length); // prompt j, image m
        for (let d = 0; d < draws; d++) {
          const rng = new Rng(`${seed}/shape-likelihood/noise/${count}/${t}/${d}`);
          const e = tf.tidy(() => {
            const eps1 = tf.randomNormal(x0.shape, 0, 1, 'float32', rng.tfSeed()) as tf.Tensor4D;
            const tsArr = new Int32Array(images.length).fill(t);
            const xt = qSample(model.schedule, x0, eps1, tsArr);
            const target = model.config.prediction === 'epsilon' ? eps1 : qSample(model.schedule, eps1, tf.neg(x0), tsArr);
            const rep = <R extends tf.Tensor>(x: R) => tf.concat(shapes.map(() => x)) as R;
            const pred = model.predict(rep(xt), tf.fill([S * images.length], t, 'float32') as tf.Tensor1D, cond);
            const sq = tf.square(tf.sub(rep(target), pred));
            return values.whole ? tf.mean(sq, [1, 2, 3]) : tf.sum(tf.mul(sq, rep(mask)), [1, 2, 3]);
          });
          const v = e.dataSync();
          for (let k = 0; k < v.length; k++) err[k] += v[k];
          e.dispose();
        }
        for (let m = 0; m < images.length; m++) {
          const shown = m % S;
          const own = err[shown * images.length + m];
          let best = Infinity;
          for (let j = 0; j < S; j++) if (j !== shown) best = Math.min(best, err[j * images.length + m]);
          if (own < best) right[ti][shown]++;
          margin[ti][shown] += (best - own) / own;
        }
      }
      tf.dispose([x0, mask, cond.context, cond.mask]);
      const side = `${Math.min(...sides)}-${Math.max(...sides)}`;
      for (const [k, object] of shapes.entries()) {
        const cells = ts.map((_, ti) => `${((100 * right[ti][k]) / n).toFixed(0)}% (${(margin[ti][k] / n >= 0 ? '+' : '') + ((100 * margin[ti][k]) / n).toFixed(1)}%)`);
        const line = `| ${count} | ${side} | ${object} | ${cells.join(' | ')} |`;
        lines.push(line);
        console.log(line);
      }
    }
  } finally {
    model.dispose({ clip: true });
  }
  fs.mkdirSync(values.out!, { recursive: true });
  fs.writeFileSync(path.join(values.out!, 'summary.md'), lines.join('\n') + '\n');
  console.log(`${values.out}/summary.md`);
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
