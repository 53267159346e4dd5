/**
 * The judge over a whole dataset (manifest.jsonl): one verdict per record and
 * the aligned rate per prompt category.
 */
import { readImage, readManifest } from './dataset';
import { judge } from './judge';
import { Category, CATEGORIES, categoryOf } from './prompt';

export interface RecordVerdict {
  id: string;
  prompt: string;
  category: Category;
  aligned: boolean;
  reasons: string[];
}

export interface DatasetVerdicts {
  records: RecordVerdict[];
  /** Per category (and 'all'): records judged and the fraction aligned. */
  summary: Record<Category | 'all', { n: number; aligned: number; rate: number }>;
}

/** Judge every record of the dataset in `dir` against its own attributes. */
export function judgeDataset(dir: string): DatasetVerdicts {
  const records: RecordVerdict[] = [];
  for (const r of readManifest(dir)) {
    const v = judge(r.attributes, readImage(dir, r));
    const tagged = r.extras?.category;
    const category = (CATEGORIES as readonly unknown[]).includes(tagged)
      ? (tagged as Category)
      : categoryOf({ ...r.attributes, count: r.attributes.count ?? 1 });
    records.push({ id: r.id, prompt: r.prompt, category, aligned: v.aligned, reasons: v.reasons });
  }
  const summary = {} as DatasetVerdicts['summary'];
  for (const c of [...CATEGORIES, 'all'] as const) {
    const sel = records.filter((r) => c === 'all' || r.category === c);
    const aligned = sel.filter((r) => r.aligned).length;
    summary[c] = { n: sel.length, aligned, rate: sel.length ? aligned / sel.length : 0 };
  }
  return { records, summary };
}
