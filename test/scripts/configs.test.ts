// scripts/*.json: every config the README tells a user to pass with --config resolves
// against its schema (a renamed key would otherwise fail only after a long run starts),
// and every one of them is named in the README or docs.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolvePretrainRun } from '../../src/pipeline/pretrain';
import { resolveFinetuneConfig } from '../../src/finetune/config';
import { resolveReproduceConfig } from '../../src/pipeline/reproduce';

const ROOT = path.join(__dirname, '..', '..');
const configs = fs.readdirSync(path.join(ROOT, 'scripts')).filter((f) => f.endsWith('.json')).sort();
const read = (f: string): Record<string, unknown> => JSON.parse(fs.readFileSync(path.join(ROOT, 'scripts', f), 'utf8'));

test('scripts: the base-model recipe configs resolve as pretrain configs', () => {
  const pretrain = configs.filter((f) => f.startsWith('base-model-'));
  assert.ok(pretrain.includes('base-model-more.json') && pretrain.includes('base-model-lookalikes.json'), 'the fourth-run recipe (npm run recipe:base-model-r4)');
  for (const f of pretrain) {
    const { config, corpus } = resolvePretrainRun('default', read(f));
    assert.ok(config.diffusionTrain.steps > 0, f);
    assert.ok(corpus.size > 0, f);
  }
});

test('scripts: the fine-tuning configs resolve as fine-tuning configs', () => {
  const finetune = configs.filter((f) => f.startsWith('finetune-'));
  assert.ok(finetune.length > 0);
  for (const f of finetune) assert.doesNotThrow(() => resolveFinetuneConfig('default', read(f)), f);
});

test('scripts: a config with a misspelt key is refused, naming the key', () => {
  assert.throws(() => resolvePretrainRun('default', { diffusionTrain: { step: 6000 } }), /diffusionTrain\.step\b/);
  // A misspelt top-level key lists every allowed one, "corpus" (the corpus's settings) among them.
  assert.throws(() => resolvePretrainRun('default', { corpsu: { size: 10 } }), /corpsu: unknown key \(allowed: [^)]*\bdiffusionTrain\b[^)]*, corpus\)/);
  // A "__proto__" key (JSON.parse makes it an own key) is an unknown key too: it was never named, and what it held
  // was applied (its value set the merged object's prototype). Likewise in the reproduce config.
  assert.throws(() => resolvePretrainRun('default', JSON.parse('{"diffusionTrain": {"__proto__": {"inputPerturbation": 0.5}}}')), /diffusionTrain\.__proto__: unknown key/);
  assert.throws(() => resolvePretrainRun('default', JSON.parse('{"__proto__": {"seed": 5}}')), /__proto__: unknown key/);
  assert.throws(() => resolveReproduceConfig('quick', JSON.parse('{"__proto__": {"seeds": [5]}}')), /__proto__/);
});

test('scripts: every config is named in the README or docs', () => {
  const docs = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join('docs', f))];
  const text = docs.map((f) => fs.readFileSync(path.join(ROOT, f), 'utf8')).join('\n');
  for (const f of configs) assert.ok(text.includes(`scripts/${f}`), `neither the README nor docs/*.md mentions scripts/${f}`);
});
