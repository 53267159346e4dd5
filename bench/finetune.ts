/**
 * Fine-tuning speed (issue 11): updates per second of the default UNet with
 * the reward-weighted loss (half model-generated, half pretraining examples,
 * batch 32), beside a plain pretraining update of the same batch in the same
 * process (their ratio is what the extra bookkeeping costs).
 */
import { initBackend } from '../src/engine';
import { adam } from '../src/engine/adam';
import { Rng } from '../src/engine/random';
import { finetuneStep } from '../src/finetune/train';
import { MiniClip, resolvePretrainConfig, TextToImage } from '../src/models';
import { trainDiffusionStep } from '../src/models/diffusion/train';
import { renderPrompt, seenPrompts } from '../src/world';
import { round } from './timing';

export async function benchFinetune(): Promise<Record<string, unknown>> {
  const info = await initBackend();
  const cfg = resolvePretrainConfig('default');
  const model = new TextToImage(new MiniClip(cfg.clip, 0), cfg.diffusion, 0);
  const prompts = seenPrompts();
  const examples = Array.from({ length: 32 }, (_, i) => ({ image: renderPrompt(prompts[i % prompts.length].attributes, i).image, caption: prompts[i % prompts.length].prompt }));
  const weighted = examples.slice(0, 16).map((e, i) => ({ ...e, id: `${i}`, weight: (i % 4) / 4, from: 'reward' as const }));
  const opt = adam(1e-4);
  const time = (f: (s: number) => unknown, n: number) => {
    f(0);
    const t0 = performance.now();
    for (let s = 1; s <= n; s++) f(s);
    return (performance.now() - t0) / n;
  };
  const n = 8;
  const ft = time((s) => finetuneStep(model, opt, weighted, examples.slice(16), 1, new Rng(`ft/${s}`)), n);
  const pre = time((s) => trainDiffusionStep(model, opt, examples, new Rng(`pre/${s}`)), n);
  opt.dispose();
  model.dispose({ clip: true });
  return {
    backend: info.active,
    batch: 32,
    finetuneStepMs: round(ft, 1),
    finetuneStepsPerSecond: round(1000 / ft, 2),
    pretrainStepMs: round(pre, 1),
    finetuneOverPretrain: round(ft / pre, 3),
  };
}
