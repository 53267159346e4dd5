// A tiny sweep for tests: 3 seen prompts per category, 1 labelled and 1
// unlabelled image per prompt, 4 fine-tuning updates evaluated at 0, 2 and 4.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removedAtExit } from '../helpers/temp';
import { SweepConfigInput } from '../../src/sweep';

export const TINY: SweepConfigInput = {
  name: 'tiny',
  question: 'Does the machinery work?',
  settings: { labels: 1, raters: 1, unlabelled: 1, steps: 4, snapshots: 2 },
  grid: { beta: [0, 1] },
  seeds: 1,
  eval: { promptsPerCategory: 1, perPrompt: 1 },
  feedbackPromptsPerCategory: 3,
  figures: [
    { title: 'Proxy and truth over updates', x: 'step', y: ['overall', 'reward'], series: 'beta' },
    { title: 'Trade-off', x: 'fid', y: ['overall'], series: 'beta', mode: 'markers' },
  ],
};

export function tempDir(tag: string): string {
  return removedAtExit(`t2i-sweep-${tag}-`);
}

/** results.csv without the wall-seconds column (the only one that may differ between two runs of a sweep). */
export function csvWithoutSeconds(dir: string): string {
  const lines = fs.readFileSync(path.join(dir, 'results.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
  const at = lines[0].indexOf('seconds');
  return lines.map((l) => l.filter((_, i) => i !== at).join(',')).join('\n');
}
