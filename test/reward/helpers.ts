import * as tf from '@tensorflow/tfjs';
import { labelWithPanel } from '../../src/feedback/label';
import { panelFromSpec } from '../../src/feedback/panel';
import { LabelStore } from '../../src/feedback/store';
import { MiniClip } from '../../src/models/clip/model';
import { FrozenClip } from '../../src/reward/embeddings';
import { smallDataset, tempDir } from '../feedback/helpers';
import { randomize, tinyConfig } from '../models/helpers';

/** A small untrained MiniCLIP with random weights, standing in for a trained one. */
export function tinyFrozenClip(seed = 1): FrozenClip {
  const clip = new MiniClip(tinyConfig().clip, seed);
  randomize(clip.variables, seed);
  return { clip, sha256: `test-${seed}`.padEnd(64, '0'), dir: tempDir('clip') };
}

/** A dataset of `n` seen-prompt renders (every third with the wrong object) labelled by a 3-rater panel. */
export function labelledDataset(n: number, panel = 'flip=0.1,skip=0.1x3'): string {
  const dir = smallDataset(n);
  const store = LabelStore.open(`${dir}/labels.sqlite`);
  labelWithPanel(dir, store, panelFromSpec(panel, 3));
  store.close();
  return dir;
}

export function weightsOf(vars: Record<string, tf.Variable>): Float32Array[] {
  return Object.values(vars).map((v) => Float32Array.from(v.dataSync()));
}
