/**
 * At which noise level does the model decide an object's shape? SDEdit from renders
 * (Meng et al. 2022): each prompt's render is noised to the timestep of sampling
 * step k and the model samples the remaining steps; the judge then reads every
 * object. Starting late (little noise) shows whether the model keeps a shape it
 * is given; starting earlier, from how much noise on it draws the shape itself;
 * step 0 is ordinary sampling, from pure noise (eval-base's images of that cell).
 *
 *   node --import tsx scripts/shape-decision.ts [--model DIR] [--set seen|unseen]
 *       [--category count|color|background|combination] [--seed S] [--per-category N]
 *       [--prompts-per-category P] [--guidance G] [--guidance-at G2:LO:HI]
 *       [--steps N] [--eta E] [--no-clip] [--eps-scale L[:THI]] [--negative-object OBJ]
 *       [--negative-count D] [--zero-estimates]
 *       [--from 'k1,k2,...'] [--out DIR]
 *
 * The prompts and image seeds are eval-base's (`evalJobs`) for that seed, the
 * renders `renderPrompt(attributes, 'S/render/i')`. The sampler is the model's
 * own with G as its scale when given; --guidance-at uses scale G2 at the steps
 * with LO <= t <= HI and G at the others. S defaults to 1000, the README's
 * tuning seed (never a reported one); N and P to 96 and 8.
 * Sampler variants (each absent: the model's own setting): --steps and --eta of
 * DDIM, --no-clip (x0 estimates not clipped to [-1, 1]), and --eps-scale,
 * epsilon scaling against exposure bias (Ning et al. 2024): the noise estimate is
 * divided by L (and x0 recomputed from it) at the steps with t <= THI (default 900,
 * where sqrt(alpha_bar) is large enough not to blow up the recomputed x0). With the
 * x0 estimates clipped (the shipped sampler), the sampler recomputes eps from the
 * clipped x0, so the scaling holds where x0 stays inside [-1, 1].
 * --negative-object OBJ: a negative prompt for each prompt, the prompt with its
 * object replaced by OBJ (the empty prompt where the object is OBJ already), so
 * that guidance steers away from OBJ, e.g. from squares where circles are asked for.
 * --negative-count D: the same with the count moved by D (a whole number, not 0;
 * the empty prompt where that count is outside 1..MAX_COUNT), e.g. 1: away from
 * one object more. Both together change object and count in one negative prompt.
 * --zero-estimates: a self-conditioned model (`selfCondition`) sampled with zero
 * estimates at every step, as if it had none (what the estimate input adds).
 * `--from 0` alone is then plain sampling with that variant.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine';
import { BASE_MODEL_DIR, evalJobs, loadModel } from '../src/eval';
import { ddimSample, ddimTimesteps, Denoiser, NULL_PROMPT, TextToImage, toImages } from '../src/models';
import { judge } from '../src/world/judge';
import { Attributes, CATEGORIES, Category, formatPrompt } from '../src/world/prompt';
import { MAX_COUNT, ObjectName, OBJECTS } from '../src/world/vocab';
import { renderPrompt } from '../src/world/render';
import { intArg } from './args';

function scaleArg(name: string, value: string): number {
  const g = Number(value);
  if (value.trim() === '' || !(Number.isFinite(g) && g >= 0)) throw new Error(`--${name} needs a number >= 0, got '${value}'`);
  return g;
}

const pct = (k: number, n: number) => (n ? `${((100 * k) / n).toFixed(1)}%` : '-');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      set: { type: 'string', default: 'seen' },
      category: { type: 'string', default: 'count' },
      seed: { type: 'string' },
      'per-category': { type: 'string' },
      'prompts-per-category': { type: 'string' },
      guidance: { type: 'string' },
      'guidance-at': { type: 'string' },
      steps: { type: 'string' },
      eta: { type: 'string' },
      'no-clip': { type: 'boolean', default: false },
      'eps-scale': { type: 'string' },
      'negative-object': { type: 'string' },
      'negative-count': { type: 'string' },
      'zero-estimates': { type: 'boolean', default: false },
      from: { type: 'string', default: '49,44,39,34,29,24,19,14,0' },
      out: { type: 'string', default: path.join('results', 'shape-decision') },
    },
    strict: true,
  });
  const set = values.set;
  if (set !== 'seen' && set !== 'unseen') throw new Error(`--set must be seen or unseen, got '${set}'`);
  const category = values.category as Category;
  if (!CATEGORIES.includes(category)) throw new Error(`--category must be one of ${CATEGORIES.join(', ')}, got '${values.category}'`);
  const seed = intArg('seed', values.seed, 1000, 0, 2 ** 31);
  const imagesPerCategory = intArg('per-category', values['per-category'], 96, 1);
  const promptsPerCategory = intArg('prompts-per-category', values['prompts-per-category'], 8, 1);
  const guidance = values.guidance === undefined ? undefined : scaleArg('guidance', values.guidance);
  let at: { scale: number; lo: number; hi: number } | undefined;
  if (values['guidance-at'] !== undefined) {
    const parts = values['guidance-at'].split(':');
    const [lo, hi] = parts.slice(1).map(Number);
    if (parts.length !== 3 || !Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || lo > hi) {
      throw new Error(`--guidance-at must be G:LO:HI (a scale, then timesteps 0 <= LO <= HI), got '${values['guidance-at']}'`);
    }
    at = { scale: scaleArg('guidance-at', parts[0]), lo, hi };
  }
  const steps = values.steps === undefined ? undefined : intArg('steps', values.steps, 50, 1);
  let eta: number | undefined;
  if (values.eta !== undefined) {
    eta = Number(values.eta);
    if (values.eta.trim() === '' || !(eta >= 0 && eta <= 1)) throw new Error(`--eta needs a number in 0..1, got '${values.eta}'`);
  }
  let epsScale: { lambda: number; tMax: number } | undefined;
  if (values['eps-scale'] !== undefined) {
    const parts = values['eps-scale'].split(':');
    const [l, hi = '900'] = parts;
    const lambda = Number(l), tMax = Number(hi);
    if (parts.length > 2 || l.trim() === '' || hi.trim() === '' || !(lambda > 0) || !Number.isInteger(tMax) || tMax < 0) throw new Error(`--eps-scale must be L or L:THI (L > 0, THI a timestep), got '${values['eps-scale']}'`);
    epsScale = { lambda, tMax };
  }
  const negObject = values['negative-object'] as ObjectName | undefined;
  if (negObject !== undefined && !OBJECTS.includes(negObject)) throw new Error(`--negative-object must be one of ${OBJECTS.join(', ')}, got '${negObject}'`);
  let negCount: number | undefined;
  if (values['negative-count'] !== undefined) {
    negCount = Number(values['negative-count']);
    if (values['negative-count'].trim() === '' || !Number.isInteger(negCount) || negCount === 0) throw new Error(`--negative-count must be a whole number other than 0, got '${values['negative-count']}'`);
  }
  const negativeFor = (a: Attributes): string => {
    const n: Attributes = { ...a, ...(negObject ? { object: negObject } : {}), count: a.count + (negCount ?? 0) };
    if (n.count < 1 || n.count > MAX_COUNT || formatPrompt(n) === formatPrompt(a)) return NULL_PROMPT;
    return formatPrompt(n);
  };
  await initBackend();
  const { model, meta, dir } = await loadModel(values.model ?? BASE_MODEL_DIR);
  try {
    const base = {
      ...meta.config.sampler,
      ...(guidance !== undefined ? { guidanceScale: guidance } : {}),
      ...(steps !== undefined ? { steps } : {}),
      ...(eta !== undefined ? { eta } : {}),
      ...(values['no-clip'] ? { clipSample: false } : {}),
    };
    if (values['zero-estimates'] && !model.selfConditioned) throw new Error(`--zero-estimates: ${dir} is not self-conditioned (its unet.selfCondition is false)`);
    const scaled = epsScale ? epsScaled(model, epsScale.lambda, epsScale.tMax) : model;
    const denoiser: Denoiser = values['zero-estimates']
      ? { schedule: model.schedule, selfConditioned: false, encodePrompts: (p) => scaled.encodePrompts(p), denoise: (xt, t, cond) => scaled.denoise(xt, t, cond) }
      : scaled;
    const sampler = at ? { ...base, guidanceScale: at.scale, guidanceInterval: [at.lo, at.hi] as [number, number], guidanceOutside: base.guidanceScale } : base;
    const ts = ddimTimesteps(model.schedule.timesteps, sampler.steps, sampler.spacing);
    const from = values.from!.split(',').map((k) => {
      const n = Number(k);
      if (!Number.isInteger(n) || n < 0 || n >= ts.length) throw new Error(`--from takes sampling steps in 0..${ts.length - 1}, got '${k}'`);
      return n;
    });
    const jobs = evalJobs(set, { imagesPerCategory, promptsPerCategory, seed, seeds: [seed] }, [category]);
    const renders = jobs.map((j, i) => renderPrompt(j.entry.attributes, `${seed}/render/${i}`).image);
    const lines = [
      `${dir}, ${set} ${category} prompts, seed ${seed}, ${jobs.length} images, guidance ${base.guidanceScale}${at ? ` (${at.scale} at ${at.lo} <= t <= ${at.hi})` : ''}, ${sampler.steps} steps, eta ${sampler.eta}` +
        `${sampler.clipSample ? '' : ', x0 not clipped'}${epsScale ? `, eps / ${epsScale.lambda} at t <= ${epsScale.tMax}` : ''}${values['zero-estimates'] ? ', zero self-conditioning estimates' : ''}${negObject || negCount ? `, negative prompts with${negObject ? ` ${negObject}` : ''}${negCount ? ` count ${negCount > 0 ? '+' : ''}${negCount}` : ''}` : ''}`,
      '',
      '| start: step, timestep | steps sampled | images: object recognised | count right | objects misread | read as (misread) |',
      '|---|---:|---:|---:|---:|---|',
    ];
    const row = (label: string, steps: string, images: ReturnType<typeof renders.slice>) => {
      let recognised = 0, counted = 0, objects = 0, misread = 0;
      const as = new Map<string, number>();
      images.forEach((img, i) => {
        const v = judge(jobs[i].entry.attributes, img);
        if (v.verdicts.find((x) => x.attribute === 'object')?.ok) recognised++;
        if (v.verdicts.find((x) => x.attribute === 'count')?.ok ?? true) counted++;
        for (const o of v.observed.objects) {
          objects++;
          if (o.object !== jobs[i].entry.attributes.object) (misread++, as.set(o.object, (as.get(o.object) ?? 0) + 1));
        }
      });
      const reads = [...as].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ') || '-';
      const line = `| ${label} | ${steps} | ${recognised}/${images.length} (${pct(recognised, images.length)}) | ${pct(counted, images.length)} | ${misread}/${objects} (${pct(misread, objects)}) | ${reads} |`;
      lines.push(line);
      console.log(line);
    };
    row('the renders themselves', '0', renders);
    for (const k of from) {
      const out = [];
      for (let s = 0; s < jobs.length; s += 32) {
        const part = jobs.slice(s, s + 32);
        const images = tf.tidy(() => tf.sub(tf.div(tf.tensor4d(Float32Array.from(renders.slice(s, s + 32).flatMap((im) => Array.from(im.data))), [part.length, 32, 32, 3]), 127.5), 1) as tf.Tensor4D);
        const negativePrompts = negObject || negCount ? part.map((j) => negativeFor(j.entry.attributes)) : undefined;
        const x = ddimSample(denoiser, part.map((j) => j.entry.prompt), { ...sampler, seed: part.map((j) => j.seed), ...(k > 0 ? { init: { images, fromStep: k } } : {}), ...(negativePrompts ? { negativePrompts } : {}) });
        out.push(...(await toImages(x)));
        tf.dispose([x, images]);
      }
      row(k === 0 ? `step 0, t = ${ts[0]} (ordinary sampling)` : `step ${k}, t = ${ts[k]}`, String(ts.length - k), out);
    }
    fs.mkdirSync(values.out!, { recursive: true });
    fs.writeFileSync(path.join(values.out!, 'summary.md'), lines.join('\n') + '\n');
    console.log(`${values.out}/summary.md`);
  } finally {
    model.dispose({ clip: true });
  }
}

/** The model with its noise estimate divided by lambda at t <= tMax, x0 recomputed to match (Ning et al. 2024). */
function epsScaled(model: TextToImage, lambda: number, tMax: number): Denoiser {
  return {
    schedule: model.schedule,
    encodePrompts: (prompts) => model.encodePrompts(prompts),
    selfConditioned: model.selfConditioned,
    denoise: (xt, t, cond, selfCond) =>
      tf.tidy(() => {
        const out = model.denoise(xt, t, cond, selfCond);
        const ts = Array.from(t.dataSync());
        if (!ts.some((v) => v <= tMax)) return out;
        const lam = tf.tensor4d(ts.map((v) => (v <= tMax ? 1 / lambda : 1)), [ts.length, 1, 1, 1]);
        const ab = ts.map((v) => model.schedule.alphasCumprod[v]);
        const eps = tf.mul(out.eps, lam) as tf.Tensor4D;
        const s = tf.tensor4d(ab.map((v) => Math.sqrt(1 - v)), [ab.length, 1, 1, 1]);
        const a = tf.tensor4d(ab.map(Math.sqrt), [ab.length, 1, 1, 1]);
        return { x0: tf.div(tf.sub(xt, tf.mul(s, eps)), a) as tf.Tensor4D, eps };
      }),
  };
}

main().catch((e: Error) => {
  process.stderr.write(`shape-decision: ${e.message}\n`);
  process.exit(1);
});
