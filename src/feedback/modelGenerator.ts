/**
 * The pretrained text-to-image model (src/models) as collect's ImageGenerator:
 * DDIM with classifier-free guidance, one seed per image, the sampler
 * settings saved in the checkpoint unless overridden.
 */
import * as path from 'node:path';
import { hasCheckpoint, readCheckpointIndex } from '../engine/checkpoint';
import { loadTextToImage, readModelMeta, SHIPPED_BASE_MODEL_DIR } from '../models/checkpoint';
import { SamplerConfig } from '../models/config';
import { generateImages } from '../models/diffusion/sampler';
import { DatasetOrigin } from '../world/dataset';
import { ImageGenerator } from './collect';

export interface ModelGenerator {
  generate: ImageGenerator;
  /** The sampler settings in use. */
  sampler: SamplerConfig;
  /** Free the model's tensors. */
  dispose(): void;
}

/** The shipped pretrained model (as `t2i-align generate` uses). */
export const DEFAULT_MODEL_DIR = SHIPPED_BASE_MODEL_DIR;

/**
 * Load the diffusion checkpoint in `dir`, or in `dir/diffusion` (a pretrain
 * output folder). Call initBackend first.
 */
export async function modelGenerator(dir: string = DEFAULT_MODEL_DIR, sampler: Partial<SamplerConfig> = {}): Promise<ModelGenerator> {
  const { model, meta } = await loadTextToImage(checkpointIn(dir));
  const settings: SamplerConfig = { ...meta.config.sampler, ...sampler };
  return {
    sampler: settings,
    generate: (prompts, seeds) => generateImages(model, prompts, { ...settings, seed: seeds, batchSize: prompts.length }),
    dispose: () => model.dispose({ clip: true }),
  };
}

/** The diffusion checkpoint in `dir`, or in `dir/diffusion` (a pretrain output folder). */
function checkpointIn(dir: string): string {
  const ckpt = hasCheckpoint(dir) ? dir : path.join(dir, 'diffusion');
  if (!hasCheckpoint(ckpt)) throw new Error(`no diffusion checkpoint in ${dir} or ${ckpt} (train one with \`t2i-align pretrain\`, or use --stand-in P)`);
  return ckpt;
}

/**
 * What images of the model in `dir` with these sampler overrides are made
 * from, for a dataset's dataset.json: the weights' sha256 and the resolved
 * sampler settings (the folder is kept as `location`, not compared). Reads
 * checkpoint.json only, so a collect can be refused before the model loads.
 */
export function modelOrigin(dir: string = DEFAULT_MODEL_DIR, sampler: Partial<SamplerConfig> = {}): Pick<DatasetOrigin, 'generator' | 'location'> {
  const ckpt = checkpointIn(dir);
  const meta = readModelMeta(ckpt, 'diffusion');
  return { generator: { kind: 'model', weightsSha256: readCheckpointIndex(ckpt).sha256, sampler: { ...meta.config.sampler, ...Object.fromEntries(Object.entries(sampler).filter(([, v]) => v !== undefined)) } }, location: path.resolve(ckpt) };
}
