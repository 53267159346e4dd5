import * as fs from 'node:fs';
import * as path from 'node:path';
import { removedAtExit } from '../helpers/temp';
import { Dataset, MANIFEST } from '../../src/world/dataset';
import { seenPrompts } from '../../src/world/promptSets';
import { renderPrompt } from '../../src/world/render';
import { Attributes } from '../../src/world/prompt';
import { OBJECTS } from '../../src/world/vocab';

/** A fresh temp folder, removed when the process exits. */
export function tempDir(tag: string): string {
  return removedAtExit(`t2i-feedback-${tag}-`);
}

/**
 * A small dataset of `n` seen prompts: every third image shows another
 * object than its prompt names, so the judge calls some images bad.
 */
export function smallDataset(n: number, dir = tempDir('ds'), seedPrefix = 't'): string {
  const ds = Dataset.create(dir);
  const prompts = seenPrompts().slice(0, n);
  prompts.forEach((p, i) => {
    let attrs: Attributes = p.attributes;
    if (i % 3 === 2) attrs = { ...p.attributes, object: OBJECTS.find((o) => o !== p.attributes.object)! };
    const img = renderPrompt(attrs, `${seedPrefix}/${i}`).image;
    ds.add({ id: `img-${i}`, prompt: p.prompt, attributes: p.attributes, seed: `${seedPrefix}/${i}`, source: 'render', extras: { category: p.category } }, img);
  });
  if (!fs.existsSync(path.join(dir, MANIFEST))) throw new Error('no manifest');
  return dir;
}
