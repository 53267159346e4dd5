import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { emaDecayAt, learningRateAt, resolvePretrainConfig, resumeMismatch } from '../../src/models';

test('learning rate: linear warmup, then constant or a half cosine down to 0 at the last step', () => {
  const base = { steps: 1100, batchSize: 8, learningRate: 1e-3, warmupSteps: 100, emaDecay: 0, checkpointEvery: 10 };
  const constant = { ...base, lrSchedule: 'constant' as const };
  const cosine = { ...base, lrSchedule: 'cosine' as const };
  assert.equal(learningRateAt(constant, 0), 1e-5);
  assert.equal(learningRateAt(cosine, 49), 5e-4);
  assert.equal(learningRateAt(constant, 1000), 1e-3);
  assert.equal(learningRateAt(cosine, 100), 1e-3);
  assert.ok(Math.abs(learningRateAt(cosine, 600) - 5e-4) < 1e-12, 'half way: half the peak');
  assert.ok(learningRateAt(cosine, 1099) < 1e-8 && learningRateAt(cosine, 1099) > 0);
});

test('EMA decay ramps up as (1 + n) / (10 + n) and is capped at emaDecay', () => {
  const t = { ...resolvePretrainConfig('default').diffusionTrain, emaDecay: 0.999 };
  assert.equal(emaDecayAt(t, 0), 0.1);
  assert.equal(emaDecayAt(t, 90), 0.91);
  assert.equal(emaDecayAt(t, 100000), 0.999);
});

test('resumeMismatch names each changed key; checkpointEvery may change, and steps under a constant schedule', () => {
  const a = resolvePretrainConfig('default');
  assert.equal(resumeMismatch(a, { ...a, diffusionTrain: { ...a.diffusionTrain, checkpointEvery: 7 } }, 'diffusion'), undefined);
  const constant = { ...a, diffusionTrain: { ...a.diffusionTrain, lrSchedule: 'constant' as const } };
  assert.equal(resumeMismatch(constant, { ...constant, diffusionTrain: { ...constant.diffusionTrain, steps: 9000 } }, 'diffusion'), undefined);
  assert.match(resumeMismatch(a, { ...a, diffusionTrain: { ...a.diffusionTrain, steps: 9000 } }, 'diffusion')!, new RegExp(`diffusionTrain\\.steps \\(part of the cosine schedule\\) was ${a.diffusionTrain.steps}, now 9000`));
  assert.match(resumeMismatch(a, { ...a, diffusionTrain: { ...a.diffusionTrain, warmupSteps: 5 } }, 'diffusion')!, /^diffusionTrain\.warmupSteps was 100, now 5$/);
  assert.match(resumeMismatch(a, { ...a, diffusion: { ...a.diffusion, lossWeighting: 'none' } }, 'diffusion')!, /^diffusion was .*"lossWeighting":"min-snr"/);
  // the timestep draw: absent is 'uniform'; the logit keys count only under 'logit-normal'
  const logit = { ...a, diffusionTrain: { ...a.diffusionTrain, timestepSampling: 'logit-normal' as const, logitMean: 0.4 } };
  assert.equal(resumeMismatch(a, { ...a, diffusionTrain: { ...a.diffusionTrain, timestepSampling: 'uniform', logitMean: 3 } }, 'diffusion'), undefined);
  assert.match(resumeMismatch(a, logit, 'diffusion')!, /^diffusionTrain\.timestepSampling was "uniform", now "logit-normal"; diffusionTrain\.logitMean was 0, now 0\.4$/);
  assert.match(resumeMismatch(logit, { ...logit, diffusionTrain: { ...logit.diffusionTrain, logitStd: 2 } }, 'diffusion')!, /^diffusionTrain\.logitStd was 1, now 2$/);
  // the input perturbation: absent is 0
  assert.equal(resumeMismatch(a, { ...a, diffusionTrain: { ...a.diffusionTrain, inputPerturbation: 0 } }, 'diffusion'), undefined);
  assert.match(resumeMismatch(a, { ...a, diffusionTrain: { ...a.diffusionTrain, inputPerturbation: 0.1 } }, 'diffusion')!, /^diffusionTrain\.inputPerturbation was 0, now 0\.1$/);
  // the MiniCLIP run ignores the diffusion keys
  assert.equal(resumeMismatch(a, { ...a, diffusionTrain: { ...a.diffusionTrain, learningRate: 1 } }, 'miniclip'), undefined);
});
