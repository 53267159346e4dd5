import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adam, assertNoLeaks, assertStepDoesNotLeak, Rng } from '../../src/engine';
import {
  ddimSample, ddimTimesteps, toImages, upsample2, denoisingLoss, timestepWeights, depthToSpace, drawNoise, generateImages, guidedEps, imagesToTensor, makeSchedule,
  MiniClip, NULL_PROMPT, pooledTokens, qSample, SamplerConfigSchema, selfConditionInput, spaceToDepth, TextToImage, trainDiffusionStep, UnetConfigSchema,
} from '../../src/models';
import { fakeBatches, initTestBackend, maxAbsDiff, randomize, tinyConfig } from './helpers';

function tinyModel() {
  const cfg = tinyConfig();
  const clip = new MiniClip(cfg.clip);
  const model = new TextToImage(clip, cfg.diffusion);
  randomize(model.variables);
  return { cfg, clip, model, dispose: () => { model.dispose(); clip.dispose(); } };
}

test('schedules: alpha_bar decreases from ~1 to ~0, and the named arrays agree', () => {
  for (const kind of ['linear', 'cosine'] as const) {
    const s = makeSchedule(kind, 1000);
    assert.ok(s.alphasCumprod[0] > 0.999 && s.alphasCumprod[999] < 1e-4, kind);
    for (let t = 1; t < 1000; t++) assert.ok(s.alphasCumprod[t] < s.alphasCumprod[t - 1]);
    const t = 500;
    assert.ok(Math.abs(s.sqrtAlphasCumprod[t] ** 2 + s.sqrtOneMinusAlphasCumprod[t] ** 2 - 1) < 1e-6);
    assert.ok(Math.abs(s.alphasCumprod[t] / s.alphasCumprod[t - 1] - s.alphas[t]) < 1e-5);
  }
  assert.deepEqual(ddimTimesteps(1000, 4, 'trailing'), [999, 749, 499, 249]);
  assert.deepEqual(ddimTimesteps(1000, 4, 'leading'), [751, 501, 251, 1]);
  assert.throws(() => ddimTimesteps(100, 0), /DDIM steps must be an integer in 1..100/);
});

test('spaceToDepth and depthToSpace are inverse', async () => {
  await initTestBackend();
  tf.tidy(() => {
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const y = spaceToDepth(x, 2);
    assert.deepEqual(y.shape, [2, 16, 16, 12]);
    assert.equal(maxAbsDiff(depthToSpace(y, 2), x), 0);
    // pixel (0,1) of the image lands in channels 3..5 of patch (0,0)
    assert.deepEqual(Array.from(y.slice([0, 0, 0, 3], [1, 1, 1, 3]).dataSync()), Array.from(x.slice([0, 0, 1, 0], [1, 1, 1, 3]).dataSync()));
  });
});

test('UNet and loss: shapes, finite per-example loss, no leak', async () => {
  await initTestBackend();
  const m = tinyModel();
  await assertNoLeaks(() =>
    tf.tidy(() => {
      const batch = fakeBatches()(0, 3);
      const x0 = imagesToTensor(batch);
      const cond = m.model.encodePrompts(batch.map((e) => e.caption));
      assert.deepEqual(cond.context.shape, [3, 12, 16]);
      const eps = m.model.epsTheta(x0, tf.tensor1d([0, 50, 99]), cond);
      assert.deepEqual(eps.shape, [3, 32, 32, 3]);
      const loss = denoisingLoss(m.model, x0, cond, drawNoise(new Rng(0), 3, 100));
      assert.deepEqual(loss.shape, [3]);
      assert.ok(Array.from(loss.dataSync()).every((v) => Number.isFinite(v) && v > 0));
    }), 'forward');
  m.dispose();
});

test('diffusion training step: finite loss, UNet moves, text encoder frozen, no leak', async () => {
  await initTestBackend();
  const m = tinyModel();
  const opt = adam(1e-3);
  const data = fakeBatches();
  const text0 = m.clip.variables['text/token_embedding'].dataSync().slice();
  const unet0 = m.model.unet.variables['unet/conv_in/w'].dataSync().slice();
  let s = 0;
  await assertStepDoesNotLeak(() => {
    const loss = trainDiffusionStep(m.model, opt, data(s, 4), new Rng(s++), 0.5);
    assert.ok(Number.isFinite(loss) && loss > 0, `loss ${loss}`);
  }, 'trainDiffusionStep');
  assert.deepEqual(m.clip.variables['text/token_embedding'].dataSync(), text0);
  assert.ok(m.model.unet.variables['unet/conv_in/w'].dataSync().some((v, i) => v !== unet0[i]));
  opt.dispose();
  m.dispose();
});

test('classifier-free guidance: scale 0 is the unconditional prediction, scale 1 the conditional', async () => {
  await initTestBackend();
  const m = tinyModel();
  tf.tidy(() => {
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const t = tf.tensor1d([10, 80]);
    const cond = m.model.encodePrompts(['two red circles', 'a heart']);
    const uncond = m.model.encodePrompts([NULL_PROMPT, NULL_PROMPT]);
    const epsC = m.model.epsTheta(x, t, cond);
    const epsU = m.model.epsTheta(x, t, uncond);
    assert.ok(maxAbsDiff(epsC, epsU) > 1e-3, 'the prompt must change the prediction for this test to mean anything');
    assert.ok(maxAbsDiff(guidedEps(m.model, x, t, cond, uncond, 0), epsU) < 1e-4);
    assert.ok(maxAbsDiff(guidedEps(m.model, x, t, cond, uncond, 1), epsC) < 1e-4);
    const g3 = guidedEps(m.model, x, t, cond, uncond, 3);
    assert.ok(maxAbsDiff(g3, tf.add(epsU, tf.mul(3, tf.sub(epsC, epsU)))) < 1e-4);
  });
  m.dispose();
});

test('DDIM sampler: same seed same images, another seed differs, an image does not depend on its batch', async () => {
  await initTestBackend();
  const m = tinyModel();
  const opts = { ...m.cfg.sampler, steps: 2 };
  const prompts = ['two red circles', 'a heart'];
  await assertNoLeaks(async () => {
    const a = await generateImages(m.model, prompts, { ...opts, seed: 5 });
    const b = await generateImages(m.model, prompts, { ...opts, seed: 5 });
    const c = await generateImages(m.model, prompts, { ...opts, seed: 6 });
    assert.equal(a.length, 2);
    assert.deepEqual([a[0].width, a[0].height, a[0].data.length], [32, 32, 3072]);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a[0].data, c[0].data);
    const alone = await generateImages(m.model, [prompts[1]], { ...opts, seed: ['5/1'] });
    // Equal up to float rounding (kernels may sum in another order for another batch size).
    const diff = Math.max(...Array.from(alone[0].data, (v, i) => Math.abs(v - a[1].data[i])));
    assert.ok(diff <= 2, `alone vs in a batch: max byte difference ${diff}`);
    const noisy = await generateImages(m.model, prompts, { ...opts, eta: 1, seed: 5 });
    assert.deepEqual(noisy, await generateImages(m.model, prompts, { ...opts, eta: 1, seed: 5 }));
  }, 'sampling');
  tf.tidy(() => {
    const x = ddimSample(m.model, prompts, { ...opts, seed: 1 });
    assert.ok(x.min().dataSync()[0] >= -1 && x.max().dataSync()[0] <= 1, 'clipSample keeps x0 in [-1, 1]');
  });
  // generateImages lets the event loop turn after each denoising step (a queue worker renews its job's lock
  // meanwhile), and draws what the synchronous sampler draws.
  const steps = 6;
  let turns = 0;
  const timer = setInterval(() => turns++, 0);
  let images;
  try {
    images = await generateImages(m.model, prompts, { ...opts, steps, seed: 9 });
  } finally {
    clearInterval(timer);
  }
  assert.ok(turns >= steps - 1, `the event loop turned ${turns} times in ${steps} steps`);
  const x = ddimSample(m.model, prompts, { ...opts, steps, seed: 9 });
  assert.deepEqual(images, await toImages(x));
  x.dispose();
  m.dispose();
});

test('guidance interval: covering every step is plain guidance, covering none is the conditional model alone, in between differs from both', async () => {
  await initTestBackend();
  const m = tinyModel();
  const opts = { ...m.cfg.sampler, steps: 4, guidanceScale: 4, eta: 0, clipSample: false, seed: 3 };
  const prompts = ['two red circles', 'a heart'];
  const ts = ddimTimesteps(m.model.schedule.timesteps, opts.steps, opts.spacing);
  await assertNoLeaks(async () => {
    tf.tidy(() => {
      const sample = (o: Partial<typeof opts> & { guidanceInterval?: [number, number] }) => ddimSample(m.model, prompts, { ...opts, ...o });
      const plain = sample({});
      const conditional = sample({ guidanceScale: 1 });
      assert.ok(maxAbsDiff(plain, conditional) > 1e-3, 'guidance must change the sample for this test to mean anything');
      assert.equal(maxAbsDiff(sample({ guidanceInterval: [0, ts[0]] }), plain), 0);
      // No timestep in [ts[0] + 1, ts[0] + 1]: every step is the conditional model alone (one pass; equal up to rounding).
      assert.ok(maxAbsDiff(sample({ guidanceInterval: [ts[0] + 1, ts[0] + 1] }), conditional) < 1e-4);
      // guidanceOutside: the scale outside the interval, so the same scale there is plain guidance again.
      assert.equal(maxAbsDiff(sample({ guidanceInterval: [ts[0] + 1, ts[0] + 1], guidanceOutside: 4 } as Partial<typeof opts>), plain), 0);
      const late = sample({ guidanceInterval: [0, ts[2]] });
      assert.ok(maxAbsDiff(late, plain) > 1e-4 && maxAbsDiff(late, conditional) > 1e-4, 'guiding the last two steps only is neither');
    });
  }, 'sampling with a guidance interval');
  assert.throws(() => SamplerConfigSchema.parse({ ...m.cfg.sampler, guidanceInterval: [600, 200] }), /lo <= hi/);
  m.dispose();
});

test('negative prompts: empty ones are plain guidance bit for bit, a real one changes the sample, batches slice them, a wrong count is refused', async () => {
  await initTestBackend();
  const m = tinyModel();
  const opts = { ...m.cfg.sampler, steps: 3, guidanceScale: 3, eta: 1, clipSample: false, seed: 4 };
  const prompts = ['two red circles', 'a heart', 'three stars'];
  await assertNoLeaks(async () => {
    tf.tidy(() => {
      const plain = ddimSample(m.model, prompts, opts);
      assert.equal(maxAbsDiff(ddimSample(m.model, prompts, { ...opts, negativePrompts: ['', '', ''] }), plain), 0);
      const away = ddimSample(m.model, prompts, { ...opts, negativePrompts: ['two red squares', '', 'three stars on the moon'] });
      const diffs = [0, 1, 2].map((i) => maxAbsDiff(away.slice(i, 1), plain.slice(i, 1)));
      assert.ok(diffs[0] > 1e-4 && diffs[2] > 1e-4, `a negative prompt changes its image: ${diffs}`);
      assert.equal(diffs[1], 0, 'an empty negative leaves its image as plain guidance');
    });
    const negativePrompts = ['two red squares', '', 'three stars on the moon'];
    const batched = await generateImages(m.model, prompts, { ...opts, negativePrompts, batchSize: 2 });
    const whole = await generateImages(m.model, prompts, { ...opts, negativePrompts, seed: ['4/0', '4/1', '4/2'] });
    const diff = Math.max(...batched.flatMap((im, k) => Array.from(im.data, (v, i) => Math.abs(v - whole[k].data[i]))));
    assert.ok(diff <= 2, `in batches of 2 vs one batch: max byte difference ${diff}`);
  }, 'sampling with negative prompts');
  assert.throws(() => ddimSample(m.model, prompts, { ...opts, negativePrompts: ['a square'] }), /got 1 negative prompts for 3 prompts; give one per prompt/);
  await assert.rejects(generateImages(m.model, prompts, { ...opts, negativePrompts: ['a square'] }), /got 1 negative prompts for 3 prompts/);
  m.dispose();
});

test('self-conditioned sampling: each pass gets its own previous x0, clipped (zeros at the first step); the unguided steps keep the unconditional one', () => {
  const schedule = makeSchedule('cosine', 1000);
  const calls: Array<{ b: number; sc: number[] | null; x0: number[] }> = [];
  let k = 0;
  const recorder = {
    schedule,
    selfConditioned: true,
    encodePrompts: (p: readonly string[]) => ({ context: tf.zeros([p.length, 1, 1]) as tf.Tensor3D, mask: tf.ones([p.length, 1]) as tf.Tensor2D }),
    denoise: (xt: tf.Tensor4D, t: tf.Tensor1D, _c: unknown, selfCond?: tf.Tensor4D) => {
      // x0: a different constant per call and per half, some outside [-1, 1].
      const b = xt.shape[0];
      const vals = Array.from({ length: b }, (_, i) => (k + 1) * (i + 1) * 0.4);
      k++;
      calls.push({ b, sc: selfCond ? Array.from({ length: b }, (_, i) => selfCond.slice([i, 0, 0, 0], [1, 1, 1, 1]).dataSync()[0]) : null, x0: vals });
      return tf.tidy(() => ({ x0: tf.mul(tf.onesLike(xt), tf.tensor4d(vals, [b, 1, 1, 1])) as tf.Tensor4D, eps: tf.zerosLike(xt) }));
    },
  };
  const ts = ddimTimesteps(1000, 4, 'trailing');
  // Guided at the first two steps, the conditional model alone at the last two.
  tf.dispose(ddimSample(recorder, ['a'], { steps: 4, guidanceScale: 2, spacing: 'trailing' as const, eta: 0, clipSample: true, seed: 0, guidanceInterval: [ts[1], 999] }));
  const clip = (v: number) => Math.fround(Math.max(-1, Math.min(1, v)));
  assert.deepEqual(calls.map((c) => c.b), [2, 2, 1, 1]);
  assert.deepEqual(calls[0].sc, [0, 0], 'zeros at the first step');
  assert.deepEqual(calls[1].sc, calls[0].x0.map(clip), 'each half its own previous x0, clipped');
  assert.deepEqual(calls[2].sc, [clip(calls[1].x0[0])], 'the conditional pass alone gets the conditional estimate');
  assert.deepEqual(calls[3].sc, [clip(calls[2].x0[0])]);
  const before = tf.memory().numTensors;
  calls.length = 0;
  tf.dispose(ddimSample(recorder, ['a'], { steps: 4, guidanceScale: 2, spacing: 'trailing' as const, eta: 1, clipSample: false, seed: 0 }));
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  assert.deepEqual(calls[1].sc, calls[0].x0.map(clip), 'clipped also when the sampler does not clip');
});

test('DDIM with an oracle noise predictor recovers the image exactly (eta 0 and 1)', async () => {
  await initTestBackend();
  const schedule = makeSchedule('cosine', 1000);
  const target = tf.tidy(() => tf.mul(tf.sin(tf.range(0, 2 * 32 * 32 * 3).reshape([2, 32, 32, 3])), 0.9)) as tf.Tensor4D;
  // The oracle knows x0 = target; eps*(x_t, t) = (x_t - sqrt(alpha_bar_t) x0) / sqrt(1 - alpha_bar_t): the noise that makes x_t from it.
  const oracle = {
    schedule,
    encodePrompts: (p: readonly string[]) => ({ context: tf.zeros([p.length, 1, 1]) as tf.Tensor3D, mask: tf.ones([p.length, 1]) as tf.Tensor2D }),
    denoise: (xt: tf.Tensor4D, t: tf.Tensor1D) =>
      tf.tidy(() => {
        const ab = Array.from(t.dataSync(), (ti) => schedule.alphasCumprod[ti]);
        const x0 = tf.concat([target, target], 0) as tf.Tensor4D; // the sampler calls with [cond; uncond]
        const a = tf.tensor4d(ab.map(Math.sqrt), [ab.length, 1, 1, 1]);
        const s = tf.tensor4d(ab.map((v) => Math.sqrt(1 - v)), [ab.length, 1, 1, 1]);
        return { x0, eps: tf.div(tf.sub(xt, tf.mul(a, x0)), s) as tf.Tensor4D };
      }),
  };
  for (const eta of [0, 1]) {
    const x = ddimSample(oracle, ['a', 'b'], { steps: 5, guidanceScale: 3, spacing: 'trailing' as const, eta, clipSample: true, seed: 0 });
    assert.ok(maxAbsDiff(x, target) < 1e-3, `eta ${eta}: ${maxAbsDiff(x, target)}`);
    x.dispose();
  }
  target.dispose();
});

test('SDEdit (init): starts at the step it names from the image noised with the seed\'s own noise; a bad step or image count is refused', async () => {
  await initTestBackend();
  const schedule = makeSchedule('cosine', 1000);
  const seen: Array<{ t: number; xt: Float32Array }> = [];
  const recorder = {
    schedule,
    encodePrompts: (p: readonly string[]) => ({ context: tf.zeros([p.length, 1, 1]) as tf.Tensor3D, mask: tf.ones([p.length, 1]) as tf.Tensor2D }),
    denoise: (xt: tf.Tensor4D, t: tf.Tensor1D) => {
      seen.push({ t: t.dataSync()[0], xt: xt.slice([0, 0, 0, 0], [1, 32, 32, 3]).dataSync() as Float32Array });
      return tf.tidy(() => ({ x0: tf.zerosLike(xt), eps: tf.zerosLike(xt) }));
    },
  };
  const opts = { steps: 5, guidanceScale: 2, spacing: 'trailing' as const, eta: 1, clipSample: false, seed: ['s'] };
  const image = tf.tidy(() => tf.mul(tf.cos(tf.range(0, 32 * 32 * 3).reshape([1, 32, 32, 3])), 0.8)) as tf.Tensor4D;
  const ts = ddimTimesteps(1000, 5, 'trailing');
  tf.dispose(ddimSample(recorder, ['a'], opts));
  const noise = seen[0].xt;
  seen.length = 0;
  tf.dispose(ddimSample(recorder, ['a'], { ...opts, init: { images: image, fromStep: 3 } }));
  assert.deepEqual(seen.map((x) => x.t), ts.slice(3));
  const ab = schedule.alphasCumprod[ts[3]];
  const img = image.dataSync();
  const err = Math.max(...Array.from(seen[0].xt, (v, i) => Math.abs(v - (Math.sqrt(ab) * img[i] + Math.sqrt(1 - ab) * noise[i]))));
  assert.ok(err < 1e-5, `start: ${err}`);
  assert.throws(() => ddimSample(recorder, ['a'], { ...opts, init: { images: image, fromStep: 5 } }), /init.fromStep must be a step in 0..4, got 5/);
  assert.throws(() => ddimSample(recorder, ['a', 'b'], { ...opts, seed: 0, init: { images: image, fromStep: 1 } }), /init: got 1 images for 2 prompts/);
  image.dispose();
});

test('v-prediction: the loss target is v, and epsTheta turns the true v into the true eps', async () => {
  await initTestBackend();
  const m = tinyModel();
  assert.equal(m.model.config.prediction, 'v');
  const s = m.model.schedule;
  tf.tidy(() => {
    const x0 = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
    const eps = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
    const t = [5, 90];
    const ab = t.map((ti) => s.alphasCumprod[ti]);
    const col = (f: (a: number) => number) => tf.tensor4d(ab.map(f), [2, 1, 1, 1]);
    const xt = tf.add(tf.mul(col(Math.sqrt), x0), tf.mul(col((a) => Math.sqrt(1 - a)), eps)) as tf.Tensor4D;
    const v = tf.sub(tf.mul(col(Math.sqrt), eps), tf.mul(col((a) => Math.sqrt(1 - a)), x0)) as tf.Tensor4D;
    const oracle = Object.create(m.model) as TextToImage;
    oracle.predict = () => v.clone();
    const cond = m.model.encodePrompts(['a heart', 'a heart']);
    assert.ok(maxAbsDiff(oracle.epsTheta(xt, tf.tensor1d(t), cond), eps) < 1e-4);
    // The loss's target is v: a predictor that returns the true v of whatever x_t it is given,
    // (sqrt(ab) x_t - x0) / sqrt(1 - ab), has loss ~0; one that returns eps (or x0) does not.
    const fromXt = (f: (xtIn: tf.Tensor4D, a: tf.Tensor4D, s: tf.Tensor4D) => tf.Tensor4D) => {
      const p = Object.create(m.model) as TextToImage;
      p.predict = (xtIn: tf.Tensor4D, tIn: tf.Tensor1D) => {
        const abs = Array.from(tIn.dataSync()).map((ti) => s.alphasCumprod[ti]);
        const c = (g: (a: number) => number) => tf.tensor4d(abs.map(g), [abs.length, 1, 1, 1]);
        return f(xtIn, c(Math.sqrt), c((a) => Math.sqrt(1 - a)));
      };
      return p;
    };
    const T = s.alphasCumprod.length;
    const draw = { t: Int32Array.from([Math.floor(0.4 * T), Math.floor(0.9 * T)]), noiseSeed: 7 }; // noisy steps, where v and eps differ
    const trueV = fromXt((xtIn, a, sd) => tf.div(tf.sub(tf.mul(a, xtIn), x0), sd) as tf.Tensor4D);
    const trueEps = fromXt((xtIn, a, sd) => tf.div(tf.sub(xtIn, tf.mul(a, x0)), sd) as tf.Tensor4D);
    const loss = (p: TextToImage) => Array.from(denoisingLoss(p, x0, cond, draw, 'none').dataSync());
    assert.ok(loss(trueV).every((l) => l < 1e-6), `loss of the true v: ${loss(trueV)}`);
    assert.ok(loss(trueEps).every((l) => l > 0.1), `loss of the true eps, not v: ${loss(trueEps)}`);
  });
  m.dispose();
});

test('upsample2: nearest x2, and its gradient (average pool x 4) equals the broadcast\'s own', async () => {
  await initTestBackend();
  tf.tidy(() => {
    const x = tf.randomNormal([2, 4, 3, 5], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([2, 8, 6, 5], 0, 1, 'float32', 2);
    const broadcast = (a: tf.Tensor) => tf.mul(a.reshape([2, 4, 1, 3, 1, 5]), tf.ones([1, 1, 2, 1, 2, 1])).reshape([2, 8, 6, 5]);
    assert.equal(maxAbsDiff(upsample2(x), broadcast(x) as tf.Tensor4D), 0);
    const want = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(broadcast(a), w)))(x);
    const got = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(upsample2(a as tf.Tensor4D), w)))(x);
    assert.ok(maxAbsDiff(got as tf.Tensor4D, want as tf.Tensor4D) < 1e-5);
  });
});

test('min-SNR loss weighting: w_t by hand, and the weighted loss is the plain loss times w_t', async () => {
  await initTestBackend();
  const m = tinyModel();
  const s = m.model.schedule;
  const t = Int32Array.from([1, 40, 99]);
  const snr = Array.from(t, (ti) => s.alphasCumprod[ti] / (1 - s.alphasCumprod[ti]));
  assert.ok(snr[0] > 5 && snr[2] < 5, `SNRs ${snr}`);
  assert.deepEqual(Array.from(timestepWeights(m.model, t)), [1, 1, 1]);
  const weighted = Object.create(m.model) as TextToImage;
  Object.defineProperty(weighted, 'config', { value: { ...m.model.config, lossWeighting: 'min-snr', snrGamma: 5 } });
  const w = timestepWeights(weighted, t);
  snr.forEach((r, i) => assert.ok(Math.abs(w[i] - Math.min(r, 5) / (r + 1)) < 1e-6, `w[${i}] = ${w[i]}`));
  const epsModel = Object.create(weighted) as TextToImage;
  Object.defineProperty(epsModel, 'config', { value: { ...weighted.config, prediction: 'epsilon' } });
  const we = timestepWeights(epsModel, t);
  assert.ok(Math.abs(we[0] - 5 / snr[0]) < 1e-6 && we[2] === 1, `eps weights ${we}`);
  tf.tidy(() => {
    const batch = fakeBatches()(0, 3);
    const x0 = imagesToTensor(batch);
    const cond = m.model.encodePrompts(batch.map((e) => e.caption));
    const draw = { t, noiseSeed: 7 };
    const plain = denoisingLoss(m.model, x0, cond, draw).dataSync();
    const got = denoisingLoss(weighted, x0, cond, draw).dataSync();
    plain.forEach((p, i) => assert.ok(Math.abs(got[i] - p * w[i]) <= 1e-6 * Math.max(1, p), `example ${i}: ${got[i]} vs ${p} x ${w[i]}`));
  });
  m.dispose();
});

test('resBlocks: two ResBlocks per level add their weights, keep the first block\'s names, and run', async () => {
  await initTestBackend();
  const base = tinyConfig();
  const clip = new MiniClip(base.clip);
  const one = new TextToImage(clip, base.diffusion);
  const two = new TextToImage(clip, { ...base.diffusion, unet: { ...base.diffusion.unet, resBlocks: 2 } });
  const names1 = Object.keys(one.unet.variables);
  const names2 = Object.keys(two.unet.variables);
  assert.ok(names1.every((n) => names2.includes(n)), 'a one-block checkpoint\'s names are a subset');
  assert.ok(names2.includes('unet/down/0/res1/conv1/w') && names2.includes('unet/up/1/res1/conv2/w'), names2.filter((n) => n.includes('res1')).join(','));
  tf.tidy(() => {
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const cond = two.encodePrompts(['a heart', 'two red circles']);
    assert.deepEqual(two.predict(x, tf.tensor1d([3, 60]), cond).shape, [2, 32, 32, 3]);
  });
  one.dispose();
  two.dispose();
  clip.dispose();
});

test('pooledTokens: the mean over the prompt\'s tokens, by hand; a prompt of no tokens pools to 0', () => {
  tf.tidy(() => {
    const context = tf.tensor3d([[[1, 2], [3, 6], [100, 100]], [[5, 5], [7, 7], [9, 9]]]);
    const mask = tf.tensor2d([[1, 1, 0], [0, 0, 0]]);
    assert.deepEqual(Array.from(pooledTokens(context, mask).dataSync()), [2, 4, 0, 0]);
  });
});

test('pooledText: off in a config that does not name it; on, it adds only the zero-initialised text_fc, starts as the UNet without it, learns, and is in the forward path', async () => {
  await initTestBackend();
  const base = tinyConfig();
  const { pooledText: _, ...older } = base.diffusion.unet;
  assert.equal(UnetConfigSchema.parse(older).pooledText, false);
  const clip = new MiniClip(base.clip);
  randomize(clip.variables);
  const plain = new TextToImage(clip, base.diffusion, 7);
  const pooled = new TextToImage(clip, { ...base.diffusion, unet: { ...base.diffusion.unet, pooledText: true } }, 7);
  const extra = Object.keys(pooled.unet.variables).filter((n) => !(n in plain.unet.variables));
  assert.deepEqual(extra.sort(), ['unet/time/text_fc/b', 'unet/time/text_fc/w']);
  for (const [n, v] of Object.entries(plain.unet.variables)) assert.equal(maxAbsDiff(v, pooled.unet.variables[n]), 0, n);
  randomize(plain.unet.variables, 3);
  for (const [n, v] of Object.entries(plain.unet.variables)) pooled.unet.variables[n].assign(v);
  tf.tidy(() => {
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const t = tf.tensor1d([3, 60]);
    const cond = plain.encodePrompts(['a heart', 'two red circles']);
    assert.equal(maxAbsDiff(plain.predict(x, t, cond), pooled.predict(x, t, cond)), 0, 'zero-initialised: the same prediction');
  });
  const opt = adam(1e-2);
  const data = fakeBatches();
  let s = 0;
  await assertStepDoesNotLeak(() => { trainDiffusionStep(pooled, opt, data(s, 4), new Rng(s++), 0.5); }, 'trainDiffusionStep with pooledText');
  assert.ok(pooled.unet.variables['unet/time/text_fc/w'].dataSync().some((v) => v !== 0), 'text_fc/w learns');
  tf.tidy(() => {
    const x = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
    const t = tf.tensor1d([30]);
    const cond = pooled.encodePrompts(['two red circles']);
    const learnt = pooled.predict(x, t, cond);
    for (const n of ['unet/time/text_fc/w', 'unet/time/text_fc/b']) pooled.unet.variables[n].assign(tf.zerosLike(pooled.unet.variables[n]));
    assert.ok(maxAbsDiff(learnt, pooled.predict(x, t, cond)) > 0, 'the learnt text_fc is in the forward path');
  });
  opt.dispose();
  plain.dispose();
  pooled.dispose();
  clip.dispose();
});

test('selfCondition: off in a config that does not name it; on, it adds only the zero-initialised conv_in_self, starts as the UNet without it, learns from its own estimates, and the sampler feeds it the previous x0', async () => {
  await initTestBackend();
  const base = tinyConfig();
  const { selfCondition: _, ...older } = base.diffusion.unet;
  assert.equal(UnetConfigSchema.parse(older).selfCondition, false);
  const clip = new MiniClip(base.clip);
  randomize(clip.variables);
  const plain = new TextToImage(clip, base.diffusion, 7);
  const sc = new TextToImage(clip, { ...base.diffusion, unet: { ...base.diffusion.unet, selfCondition: true } }, 7);
  assert.deepEqual([plain.selfConditioned, sc.selfConditioned], [false, true]);
  const extra = Object.keys(sc.unet.variables).filter((n) => !(n in plain.unet.variables));
  assert.deepEqual(extra.sort(), ['unet/conv_in_self/b', 'unet/conv_in_self/w']);
  for (const [n, v] of Object.entries(plain.unet.variables)) assert.equal(maxAbsDiff(v, sc.unet.variables[n]), 0, `made last: ${n} starts as without it`);
  randomize(plain.unet.variables, 3);
  for (const [n, v] of Object.entries(plain.unet.variables)) sc.unet.variables[n].assign(v);
  const probe = () => tf.tidy(() => {
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const t = tf.tensor1d([3, 60]);
    const cond = sc.encodePrompts(['a heart', 'two red circles']);
    const est = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 2) as tf.Tensor4D;
    return { none: sc.predict(x, t, cond), zeros: sc.predict(x, t, cond, tf.zerosLike(est)), withEst: sc.predict(x, t, cond, est), plain: plain.predict(x, t, cond) };
  });
  let p = probe();
  assert.equal(maxAbsDiff(p.withEst, p.plain), 0, 'zero-initialised: the same prediction whatever the estimate');
  tf.dispose(Object.values(p));
  const opt = adam(1e-2);
  const data = fakeBatches();
  let s = 0;
  // Which examples get an estimate is drawn from the step's rng: a few steps make sure some do.
  for (let k = 0; k < 3; k++) await assertStepDoesNotLeak(() => { trainDiffusionStep(sc, opt, data(s, 4), new Rng(s++), 0.5); }, 'trainDiffusionStep with selfCondition');
  assert.ok(sc.unet.variables['unet/conv_in_self/w'].dataSync().some((v) => v !== 0), 'conv_in_self/w learns');
  p = probe();
  assert.ok(maxAbsDiff(p.withEst, p.zeros) > 0, 'the learnt estimate input is in the forward path');
  assert.equal(maxAbsDiff(p.none, p.zeros), 0, 'no estimate is a zero estimate');
  tf.dispose(Object.values(p));
  // The training input: the model's own clipped x0 at the loss's very x_t for the examples that use it, zeros for the others.
  tf.tidy(() => {
    const batch = data(50, 2);
    const x0 = imagesToTensor(batch);
    const cond = sc.encodePrompts(batch.map((b) => b.caption));
    const draw = drawNoise(new Rng(3), 2, sc.schedule.timesteps);
    const input = selfConditionInput(sc, x0, cond, draw, [true, false])!;
    const xt = qSample(sc.schedule, x0, tf.randomNormal(x0.shape, 0, 1, 'float32', draw.noiseSeed) as tf.Tensor4D, draw.t);
    const own = tf.clipByValue(sc.denoise(xt, tf.tensor1d(Float32Array.from(draw.t)), cond).x0, -1, 1);
    assert.equal(maxAbsDiff(input.slice(0, 1), own.slice(0, 1)), 0, 'the estimate at the same x_t');
    assert.equal(input.slice(1, 1).abs().max().dataSync()[0], 0, 'zeros where not used');
    assert.equal(selfConditionInput(sc, x0, cond, draw, [false, false]), null);
  });
  // The same steps twice from the same start give the same weights (the estimate pass is seeded as the loss is).
  const runs = [0, 1].map(() => {
    const m = new TextToImage(clip, sc.config, 7);
    for (const [n, v] of Object.entries(plain.unet.variables)) m.unet.variables[n].assign(v);
    const o = adam(1e-2);
    for (let k = 0; k < 3; k++) trainDiffusionStep(m, o, data(k, 4), new Rng(k), 0.5);
    o.dispose();
    return m;
  });
  for (const [n, v] of Object.entries(runs[0].unet.variables)) assert.equal(maxAbsDiff(v, runs[1].unet.variables[n]), 0, n);
  assert.ok(runs[0].unet.variables['unet/conv_in_self/w'].dataSync().some((v) => v !== 0), 'conv_in_self/w learns in three steps');
  runs.forEach((m) => m.dispose());
  // Sampling: the previous step's x0 goes in, so a self-conditioned sample differs from one that gets zeros throughout.
  const opts = { ...base.sampler, steps: 4, guidanceScale: 2, eta: 1, clipSample: true, seed: 9 };
  await assertNoLeaks(async () => {
    tf.tidy(() => {
      const fed = ddimSample(sc, ['two red circles'], opts);
      assert.equal(maxAbsDiff(fed, ddimSample(sc, ['two red circles'], opts)), 0, 'deterministic');
      const zerosOnly = { schedule: sc.schedule, encodePrompts: sc.encodePrompts.bind(sc), denoise: sc.denoise.bind(sc) };
      assert.ok(maxAbsDiff(fed, ddimSample(zerosOnly, ['two red circles'], opts)) > 1e-5, 'the sampler feeds the estimate');
    });
    // Outside any tidy, as a user samples: the estimates carried between steps (guided and not) are freed.
    await generateImages(sc, ['two red circles', 'a heart'], { ...opts, guidanceInterval: [0, 50] });
  }, 'sampling a self-conditioned model');
  opt.dispose();
  plain.dispose();
  sc.dispose();
  clip.dispose();
});

test("drawNoise: 'uniform' (or absent) draws as before; 'logit-normal' puts timesteps where its mean says, within 0..T-1", () => {
  const plain = drawNoise(new Rng('draw'), 64, 1000);
  const r = new Rng('draw');
  assert.deepEqual(Array.from(plain.t), Array.from({ length: 64 }, () => r.int(0, 999)), 'uniform: the same draws as rng.int');
  assert.deepEqual(drawNoise(new Rng('draw'), 64, 1000, { timestepSampling: 'uniform' }), plain);
  const median = (m: number) => {
    const t = Array.from(drawNoise(new Rng('draw'), 4000, 1000, { timestepSampling: 'logit-normal', logitMean: m, logitStd: 1 }).t).sort((x, y) => x - y);
    assert.ok(t[0] >= 0 && t[t.length - 1] <= 999);
    return t[2000];
  };
  // median of floor(1000 sigmoid(u)) is 1000 sigmoid(mean)
  assert.ok(Math.abs(median(0) - 500) < 25, `mean 0: median ${median(0)}`);
  assert.ok(Math.abs(median(0.4) - 599) < 25, `mean 0.4: median ${median(0.4)}`);
  const spread = (s: number) => {
    const t = drawNoise(new Rng('draw'), 4000, 1000, { timestepSampling: 'logit-normal', logitStd: s }).t;
    return t.filter((v) => v < 100 || v > 899).length / t.length;
  };
  assert.ok(spread(0.5) < 0.01 && spread(1) > 0.02 && spread(1) < 0.06, 'a narrower std leaves the ends (t < 100 or > 899) alone');
});

test('input perturbation: absent or 0 draws and trains as before; on, x_t is made with eps + gamma xi while the target stays the draw\'s own (v of eps)', async () => {
  await initTestBackend();
  const plain = drawNoise(new Rng('draw'), 3, 100);
  assert.deepEqual(drawNoise(new Rng('draw'), 3, 100, { inputPerturbation: 0 }), plain, '0: the same draw, no extra seed');
  const on = drawNoise(new Rng('draw'), 3, 100, { inputPerturbation: 0.1 });
  assert.deepEqual([Array.from(on.t), on.noiseSeed], [Array.from(plain.t), plain.noiseSeed], 'the timesteps and eps are drawn first, as before');
  assert.equal(on.perturb?.gamma, 0.1);
  const m = tinyModel();
  assert.equal(m.model.schedule.timesteps, 100);
  await assertNoLeaks(async () => {
    tf.tidy(() => {
      const x0 = tf.randomUniform([3, 32, 32, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
      const cond = m.model.encodePrompts(['a heart', 'two red circles', NULL_PROMPT]);
      const inputs: tf.Tensor4D[] = [];
      const zeroPredictor = Object.create(m.model) as TextToImage;
      zeroPredictor.predict = (xt: tf.Tensor4D) => { inputs.push(tf.keep(xt.clone())); return tf.zerosLike(xt); };
      const lossPlain = denoisingLoss(zeroPredictor, x0, cond, plain, 'none');
      const lossOn = denoisingLoss(zeroPredictor, x0, cond, on, 'none');
      // with a zero prediction the loss is the target's mean square: the same target
      assert.deepEqual(Array.from(lossOn.dataSync()), Array.from(lossPlain.dataSync()));
      const eps = tf.randomNormal([3, 32, 32, 3], 0, 1, 'float32', plain.noiseSeed) as tf.Tensor4D;
      const xi = tf.randomNormal([3, 32, 32, 3], 0, 1, 'float32', on.perturb!.seed) as tf.Tensor4D;
      assert.equal(maxAbsDiff(inputs[0], qSample(m.model.schedule, x0, eps, plain.t)), 0);
      assert.ok(maxAbsDiff(inputs[1], qSample(m.model.schedule, x0, tf.add(eps, tf.mul(xi, 0.1)) as tf.Tensor4D, on.t)) < 1e-6, 'x_t by hand');
      assert.ok(maxAbsDiff(inputs[1], inputs[0]) > 1e-3, 'the perturbation moves x_t');
      tf.dispose(inputs);
    });
  }, 'the perturbed loss');
  const opt = adam(1e-3);
  const data = fakeBatches();
  let s = 0;
  await assertStepDoesNotLeak(() => {
    const loss = trainDiffusionStep(m.model, opt, data(s, 4), new Rng(s++), 0.1, { inputPerturbation: 0.1 });
    assert.ok(Number.isFinite(loss) && loss > 0, `loss ${loss}`);
  }, 'trainDiffusionStep with an input perturbation');
  opt.dispose();
  m.dispose();
});
