/**
 * The reward model's data: labelled images from Stage 1 datasets (each with
 * its label store), and the split of prompts into training and held-out.
 */
import * as fs from 'node:fs';
import { defaultStorePath, judgeRecords } from '../feedback/label';
import { imageInfo } from '../feedback/io';
import { LabelStore } from '../feedback/store';
import { Rng } from '../engine/random';
import { ManifestRecord, readManifest } from '../world/dataset';
import { Attributes, categoryOf, Category, parsePrompt } from '../world/prompt';

/** How labels become targets: one row per image (share of raters who said good), or one row per rater's label. */
export const LABEL_MODES = ['mean', 'rater'] as const;
export type LabelMode = (typeof LABEL_MODES)[number];

/** An image with its current labels (skips and retracted labels left out). */
export interface LabelledImage {
  /** Dataset folder. */
  dir: string;
  record: ManifestRecord;
  attributes: Attributes;
  category: Category;
  /** Current good/bad labels, one per rater who gave one. */
  labels: Array<'good' | 'bad'>;
}

/** Share of `labels` that are good. */
export function goodShare(labels: readonly ('good' | 'bad')[]): number {
  return labels.filter((l) => l === 'good').length / labels.length;
}

/** The full attributes of a record's prompt; an error naming the record when it is not a prompt of the grammar. */
export function promptAttributes(dir: string, r: ManifestRecord): Attributes {
  try {
    return parsePrompt(r.prompt);
  } catch (e) {
    throw new Error(`${dir}: record ${r.id}: ${(e as Error).message}`);
  }
}

/**
 * Every image of the dataset in `dir` that has at least one current good or
 * bad label in its store (default DIR/labels.sqlite). A dataset without a
 * store, or whose store has no such label, is an error.
 */
export function labelledImages(dir: string, storeFile: string = defaultStorePath(dir)): LabelledImage[] {
  const records = readManifest(dir);
  if (!fs.existsSync(storeFile)) {
    throw new Error(`${dir} has no labels (${storeFile} is missing): label it first with \`t2i-align label --data ${dir}\` or the labelling app (\`t2i-align serve\`)`);
  }
  const store = LabelStore.open(storeFile, { readonly: true });
  const byImage = new Map<string, Array<'good' | 'bad'>>();
  try {
    store.bindDataset(imageInfo(records), dir);
    for (const row of store.current()) {
      if (row.label !== 'good' && row.label !== 'bad') continue;
      if (!byImage.has(row.imageId)) byImage.set(row.imageId, []);
      byImage.get(row.imageId)!.push(row.label);
    }
  } finally {
    store.close();
  }
  const out: LabelledImage[] = [];
  for (const record of records) {
    const labels = byImage.get(record.id);
    if (!labels) continue;
    const attributes = promptAttributes(dir, record);
    out.push({ dir, record, attributes, category: categoryOf(attributes), labels });
  }
  if (out.length === 0) throw new Error(`${dir}: no image has a good or bad label in ${storeFile}`);
  return out;
}

/**
 * Held-out prompts: a seeded `fraction` of the distinct prompts (at least one,
 * and at least one left for training when there are two or more), so that no
 * prompt is on both sides of the split.
 */
export function heldOutPrompts(prompts: Iterable<string>, fraction: number, seed: number | string): Set<string> {
  if (!(fraction >= 0 && fraction < 1)) throw new Error(`held-out fraction must be in [0, 1), got ${fraction}`);
  const distinct = [...new Set(prompts)].sort();
  if (fraction === 0 || distinct.length < 2) return new Set();
  const k = Math.min(distinct.length - 1, Math.max(1, Math.round(fraction * distinct.length)));
  return new Set(new Rng(`${seed}/split`).shuffle(distinct).slice(0, k));
}

/**
 * What the images most raters called good really show, by the judge: how
 * many are aligned, how many fail each attribute, and how many ask for two
 * or more objects and show the right count (the count signal the reward can learn from).
 */
export function labelAudit(dir: string): { good: number; judgeAligned: number; wrong: Record<string, number>; countAboveOne: number; countAboveOneRight: number } {
  const good = labelledImages(dir).filter((im) => goodShare(im.labels) > 0.5);
  const verdicts = judgeRecords(dir, good.map((im) => im.record));
  const wrong: Record<string, number> = {};
  for (const v of verdicts.values()) for (const a of v.verdicts) if (!a.ok) wrong[a.attribute] = (wrong[a.attribute] ?? 0) + 1;
  const many = good.filter((im) => im.attributes.count > 1);
  return {
    good: good.length,
    judgeAligned: [...verdicts.values()].filter((v) => v.aligned).length,
    wrong,
    countAboveOne: many.length,
    countAboveOneRight: many.filter((im) => verdicts.get(im.record.id)!.verdicts.every((a) => a.attribute !== 'count' || a.ok)).length,
  };
}
