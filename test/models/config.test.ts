import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ConfigError, parsePretrainConfig, PRESETS, resolvePretrainConfig } from '../../src/models';

test('both presets are valid configs', () => {
  for (const name of Object.keys(PRESETS) as Array<keyof typeof PRESETS>) assert.deepEqual(resolvePretrainConfig(name), PRESETS[name]);
});

test('overrides merge deeply and arrays replace', () => {
  const c = resolvePretrainConfig('quick', { diffusion: { unet: { channels: [8, 16, 32] } }, diffusionTrain: { steps: 7 } });
  assert.deepEqual(c.diffusion.unet.channels, [8, 16, 32]);
  assert.equal(c.diffusionTrain.steps, 7);
  assert.equal(c.diffusionTrain.batchSize, PRESETS.quick.diffusionTrain.batchSize);
});

test('unknown keys and bad values are errors naming the key path', () => {
  assert.throws(() => resolvePretrainConfig('quick', { clip: { textWidht: 3 } } as never), (e: Error) => e instanceof ConfigError && /clip/.test(e.message) && /textWidht/.test(e.message));
  assert.throws(() => resolvePretrainConfig('quick', { diffusion: { schedule: 'square' } } as never), /diffusion\.schedule/);
  assert.throws(() => resolvePretrainConfig('quick', { clip: { countNegatives: 'yes' } } as never), /clip\.countNegatives/);
  assert.throws(() => resolvePretrainConfig('quick', { clip: { textHeads: 3 } }), /clip\.textHeads: 3 does not divide/);
  assert.throws(() => resolvePretrainConfig('quick', { diffusion: { unet: { attentionLevels: [5] } } }), /attentionLevels/);
  assert.throws(() => resolvePretrainConfig('quick', { diffusion: { lossWeighting: 'snr' } } as never), /diffusion\.lossWeighting/);
  assert.throws(() => resolvePretrainConfig('quick', { diffusion: { snrGamma: 0 } }), /diffusion\.snrGamma/);
  assert.throws(() => resolvePretrainConfig('quick', { diffusion: { unet: { resBlocks: 0 } } }), /diffusion\.unet\.resBlocks/);
  assert.throws(() => resolvePretrainConfig('quick', { diffusion: { unet: { pooledText: 'yes' } } } as never), /diffusion\.unet\.pooledText/);
  assert.throws(() => resolvePretrainConfig('quick', { diffusion: { unet: { selfCondition: 1 } } } as never), /diffusion\.unet\.selfCondition/);
  assert.throws(() => parsePretrainConfig({}), /seed/);
  assert.throws(() => resolvePretrainConfig('huge' as never), /unknown preset "huge"; allowed: quick, default/);
});

test('an invalid config is one line naming each bad key (a checkpoint holding one says which)', () => {
  const bad = { ...resolvePretrainConfig('quick'), diffusionTrain: { ...resolvePretrainConfig('quick').diffusionTrain, steps: -1 } };
  assert.throws(() => parsePretrainConfig(bad), (e: Error) => !e.message.includes('\n') && /^invalid pretrain config: diffusionTrain\.steps: /.test(e.message));
});
