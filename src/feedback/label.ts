/**
 * Label a dataset with a simulated rater panel (the paper's Stage 1 with
 * simulated humans), and the agreement statistics of a dataset's store.
 */
import * as path from 'node:path';
import { ManifestRecord, readImage, readManifest } from '../world/dataset';
import { judge, Verdict } from '../world/judge';
import { RaterPanel } from '../world/raters';
import { agreementStats, AgreementStats } from './agreement';
import { raterSettings } from './panel';
import { LabelStore, NewLabel, STORE_FILE } from './store';

/** The default store of a dataset folder: DIR/labels.sqlite. */
export function defaultStorePath(dir: string): string {
  return path.join(dir, STORE_FILE);
}

/** The judge's verdict on every record of the dataset in `dir`. */
export function judgeRecords(dir: string, records: readonly ManifestRecord[] = readManifest(dir)): Map<string, Verdict> {
  return new Map(records.map((r) => [r.id, judge(r.attributes, readImage(dir, r))]));
}

export interface PanelRun {
  /** Labels written now. */
  added: number;
  /** Labels already in the store from an earlier identical run (kept as stored). */
  duplicates: number;
  /**
   * Of those, labels the panel would now give otherwise (the judge changed
   * since, e.g. a newer kit): the stored label is kept, as any label given is.
   */
  differing: number;
  /** Verdicts of every record (judged once, reused for statistics). */
  verdicts: Map<string, Verdict>;
}

/**
 * Every panel rater labels every record of the dataset in `dir`, into `store`
 * (kind 'simulated', one transaction). The request id of a label is
 * `sim:<seed>:<rater>:<settings>:<image>`, so rerunning the same panel adds
 * nothing, while a changed panel adds new rows (history is kept). Where a
 * rerun's label differs from the stored one (the judge changed in between),
 * the stored label stays and `differing` counts it: a resumed run goes on
 * with the labels its reward model was trained on.
 */
export function labelWithPanel(dir: string, store: LabelStore, panel: RaterPanel): PanelRun {
  const records = readManifest(dir);
  const verdicts = judgeRecords(dir, records);
  const labels: NewLabel[] = [];
  for (const r of records) {
    const ls = panel.label(r.id, verdicts.get(r.id)!);
    panel.raters.forEach((rater, k) => {
      labels.push({
        imageId: r.id,
        rater: rater.id,
        raterKind: 'simulated',
        label: ls[k],
        requestId: `sim:${panel.seed}:${rater.id}:${raterSettings(rater)}:${r.id}`.replace(/[^A-Za-z0-9_.:/-]/g, '_'),
      });
    });
  }
  const results = store.addMany(labels, { onConflict: 'keep' });
  const duplicates = results.filter((r) => r.duplicate).length;
  return { added: results.length - duplicates, duplicates, differing: results.filter((r) => r.differs).length, verdicts };
}

/** Agreement statistics of the store's current labels on the dataset in `dir`. */
export function datasetAgreement(dir: string, store: LabelStore, verdicts?: ReadonlyMap<string, Verdict>): AgreementStats {
  const records = readManifest(dir);
  const v = verdicts ?? judgeRecords(dir, records);
  const aligned = new Map([...v.entries()].map(([id, x]) => [id, x.aligned]));
  return agreementStats(records, store.current(), aligned, store.lastActivity());
}
