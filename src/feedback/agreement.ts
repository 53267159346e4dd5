/**
 * Agreement statistics of the current labels of a dataset: labels per rater,
 * Fleiss' kappa over all raters, Cohen's kappa between each pair of raters
 * and of each rater with the judge, and the label balance per prompt category;
 * for the teacher's page also each rater's progress and last activity, humans
 * apart from simulated raters, and the most disputed images.
 * 'skip' counts as labelled but takes no part in agreement.
 */
import { Category, CATEGORIES, categoryOf } from '../world/prompt';
import { cohenKappa, fleissKappa, Label } from '../world/raters';
import { ManifestRecord } from '../world/dataset';
import { LabelRow, RATER_KINDS, RaterKind } from './store';

/** Most disputed images listed per group. */
export const DISPUTED_MAX = 12;

export interface RaterStats {
  rater: string;
  kind: string;
  good: number;
  bad: number;
  skip: number;
  /** Fraction of this rater's good/bad labels that match the judge (null without any). */
  judgeAgreement: number | null;
  /** Cohen's kappa with the judge (null when undefined). */
  judgeKappa: number | null;
  /** Images of the dataset with a current label of this rater (good + bad + skip). */
  labelled: number;
  /** ISO time of the rater's latest act (label or undo), null when not given. */
  lastActivity: string | null;
}

/** An image the raters disagree on: its current good/bad/skip votes. */
export interface DisputedImage {
  id: string;
  prompt: string;
  /** Image file in the dataset folder. */
  file: string;
  category: Category;
  good: number;
  bad: number;
  skip: number;
  /** Minority share of the good/bad votes, min(good, bad) / (good + bad): 0 = unanimous, 0.5 = split evenly. */
  disagreement: number;
  /** The judge's verdict (null when not judged). */
  judgeAligned: boolean | null;
  votes: Array<{ rater: string; kind: string; label: Label }>;
}

/** Summary of one kind of rater (humans apart from simulated raters). */
export interface KindStats {
  raters: number;
  labels: number;
  /** Fleiss' kappa among raters of this kind over images with >= 2 of their good/bad labels (null when none). */
  fleissKappa: number | null;
  fleissItems: number;
}

export interface BalanceRow {
  good: number;
  bad: number;
  skip: number;
  /** good / (good + bad), null when neither. */
  goodRate: number | null;
  /** Fraction of the category's images the judge calls aligned. */
  judgeAligned: number | null;
  images: number;
}

export interface AgreementStats {
  images: number;
  /** Images with at least one current label. */
  labelledImages: number;
  labels: number;
  raters: RaterStats[];
  /** Fleiss' kappa over images with >= 2 good/bad labels (null when none). */
  fleissKappa: number | null;
  /** Images that entered the Fleiss' kappa. */
  fleissItems: number;
  /** Cohen's kappa of each rater pair over the images both labelled good/bad (null when none). */
  pairs: Array<{ a: string; b: string; common: number; kappa: number | null; agreement: number | null }>;
  balance: Record<Category | 'all', BalanceRow>;
  /** Humans and simulated raters apart. */
  kinds: Record<RaterKind, KindStats>;
  /**
   * The most disputed images (>= 2 good/bad votes, disagreement > 0; most
   * disagreement first, then most votes), among humans and among all raters;
   * at most DISPUTED_MAX each.
   */
  disputed: { human: DisputedImage[]; all: DisputedImage[] };
}

/** Category of a manifest record: its `extras.category` tag, else derived from its attributes. */
export function recordCategory(r: ManifestRecord): Category {
  const tagged = r.extras?.category;
  if ((CATEGORIES as readonly unknown[]).includes(tagged)) return tagged as Category;
  return categoryOf({ ...r.attributes, count: r.attributes.count ?? 1 });
}

function safe(f: () => number): number | null {
  try {
    const v = f();
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

/** Counts of good and bad per image of `byImage`, keeping only raters `keep` accepts: [good, bad][]. */
function voteCounts(byImage: ReadonlyMap<string, ReadonlyMap<string, Label>>, keep: (rater: string) => boolean): number[][] {
  return [...byImage.values()].map((m) => {
    const ls = [...m.entries()].filter(([r]) => keep(r)).map(([, l]) => l);
    return [ls.filter((l) => l === 'good').length, ls.filter((l) => l === 'bad').length];
  });
}

/**
 * Statistics of `current` (the store's current labels) over the dataset's
 * `records`; `aligned` maps image id to the judge's verdict and
 * `lastActivity` rater to the time of their latest act (LabelStore.lastActivity).
 * Labels of ids outside the dataset are ignored.
 */
export function agreementStats(
  records: readonly ManifestRecord[],
  current: readonly LabelRow[],
  aligned: ReadonlyMap<string, boolean>,
  lastActivity: ReadonlyMap<string, string> = new Map(),
): AgreementStats {
  const category = new Map(records.map((r) => [r.id, recordCategory(r)]));
  const rows = current.filter((r) => category.has(r.imageId) && r.label !== 'retract');
  const byRater = new Map<string, LabelRow[]>();
  const byImage = new Map<string, Map<string, Label>>();
  for (const r of rows) {
    if (!byRater.has(r.rater)) byRater.set(r.rater, []);
    byRater.get(r.rater)!.push(r);
    if (!byImage.has(r.imageId)) byImage.set(r.imageId, new Map());
    byImage.get(r.imageId)!.set(r.rater, r.label as Label);
  }
  const judgeLabel = (id: string): Label => (aligned.get(id) ? 'good' : 'bad');

  const raters: RaterStats[] = [...byRater.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([rater, rs]) => {
      const decided = rs.filter((r) => r.label !== 'skip' && aligned.has(r.imageId));
      const agree = decided.filter((r) => r.label === judgeLabel(r.imageId)).length;
      return {
        rater,
        kind: rs[0].raterKind,
        good: rs.filter((r) => r.label === 'good').length,
        bad: rs.filter((r) => r.label === 'bad').length,
        skip: rs.filter((r) => r.label === 'skip').length,
        judgeAgreement: decided.length ? agree / decided.length : null,
        judgeKappa: safe(() => cohenKappa(decided.map((r) => r.label as Label), decided.map((r) => judgeLabel(r.imageId)))),
        labelled: rs.length,
        lastActivity: lastActivity.get(rater) ?? null,
      };
    });
  const kindOf = new Map(raters.map((r) => [r.rater, r.kind]));

  const fleiss = (keep: (rater: string) => boolean) => {
    const counts = voteCounts(byImage, keep).filter((c) => c[0] + c[1] >= 2);
    return { fleissKappa: counts.length ? safe(() => fleissKappa(counts)) : null, fleissItems: counts.length };
  };
  const all = fleiss(() => true);
  const kinds = {} as AgreementStats['kinds'];
  for (const kind of RATER_KINDS) {
    kinds[kind] = {
      raters: raters.filter((r) => r.kind === kind).length,
      labels: rows.filter((r) => r.raterKind === kind).length,
      ...fleiss((rater) => kindOf.get(rater) === kind),
    };
  }

  const record = new Map(records.map((r) => [r.id, r]));
  const disputed = (keep: (rater: string) => boolean): DisputedImage[] => {
    const out: DisputedImage[] = [];
    for (const [id, m] of byImage) {
      const votes = [...m.entries()].filter(([r]) => keep(r)).map(([rater, label]) => ({ rater, kind: kindOf.get(rater)!, label }));
      const good = votes.filter((v) => v.label === 'good').length;
      const bad = votes.filter((v) => v.label === 'bad').length;
      if (good + bad < 2 || good === 0 || bad === 0) continue;
      const r = record.get(id)!;
      out.push({
        id, prompt: r.prompt, file: r.file, category: category.get(id)!,
        good, bad, skip: votes.length - good - bad,
        disagreement: Math.min(good, bad) / (good + bad),
        judgeAligned: aligned.get(id) ?? null,
        votes,
      });
    }
    out.sort((a, b) => b.disagreement - a.disagreement || b.good + b.bad - (a.good + a.bad) || a.id.localeCompare(b.id));
    return out.slice(0, DISPUTED_MAX);
  };

  const names = raters.map((r) => r.rater);
  const pairs: AgreementStats['pairs'] = [];
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      const a: Label[] = [];
      const b: Label[] = [];
      for (const m of byImage.values()) {
        const la = m.get(names[i]);
        const lb = m.get(names[j]);
        if (la && lb && la !== 'skip' && lb !== 'skip') (a.push(la), b.push(lb));
      }
      const agree = a.filter((l, k) => l === b[k]).length;
      pairs.push({ a: names[i], b: names[j], common: a.length, kappa: safe(() => cohenKappa(a, b)), agreement: a.length ? agree / a.length : null });
    }
  }

  const balance = {} as AgreementStats['balance'];
  for (const c of [...CATEGORIES, 'all'] as const) {
    const ids = records.filter((r) => c === 'all' || category.get(r.id) === c).map((r) => r.id);
    const idSet = new Set(ids);
    const sel = rows.filter((r) => idSet.has(r.imageId));
    const good = sel.filter((r) => r.label === 'good').length;
    const bad = sel.filter((r) => r.label === 'bad').length;
    const judged = ids.filter((id) => aligned.has(id));
    balance[c] = {
      good,
      bad,
      skip: sel.length - good - bad,
      goodRate: good + bad ? good / (good + bad) : null,
      judgeAligned: judged.length ? judged.filter((id) => aligned.get(id)).length / judged.length : null,
      images: ids.length,
    };
  }

  return {
    images: records.length,
    labelledImages: byImage.size,
    labels: rows.length,
    raters,
    ...all,
    pairs,
    balance,
    kinds,
    disputed: { human: disputed((rater) => kindOf.get(rater) === 'human'), all: disputed(() => true) },
  };
}

const f3 = (x: number | null): string => (x === null ? '  n/a' : x.toFixed(3));
const pct = (x: number | null): string => (x === null ? '  n/a' : `${(100 * x).toFixed(1)}%`);

/** The statistics as a few aligned text tables (what `t2i-align label` prints). */
export function formatAgreement(s: AgreementStats): string {
  const out: string[] = [];
  out.push(`${s.labels} labels on ${s.labelledImages}/${s.images} images by ${s.raters.length} raters`);
  out.push(`Fleiss' kappa: ${f3(s.fleissKappa)} (over ${s.fleissItems} images with 2+ good/bad labels)`);
  for (const k of RATER_KINDS) {
    const ks = s.kinds[k];
    if (ks.raters) out.push(`  among ${k} raters (${ks.raters}): ${f3(ks.fleissKappa)} (over ${ks.fleissItems} images)`);
  }
  out.push('');
  const w = Math.max(16, ...s.raters.map((r) => r.rater.length)); // simulated raters' names carry their panel spec
  out.push(`${'rater'.padEnd(w)} ${'kind'.padEnd(9)} ${'good'.padStart(5)} ${'bad'.padStart(5)} ${'skip'.padStart(5)}  agree w/ judge  kappa w/ judge`);
  for (const r of s.raters) {
    out.push(`${r.rater.padEnd(w)} ${r.kind.padEnd(9)} ${String(r.good).padStart(5)} ${String(r.bad).padStart(5)} ${String(r.skip).padStart(5)}  ${pct(r.judgeAgreement).padStart(14)}  ${f3(r.judgeKappa).padStart(14)}`);
  }
  out.push('');
  out.push(`${'category'.padEnd(12)} ${'images'.padStart(6)} ${'good'.padStart(6)} ${'bad'.padStart(6)} ${'skip'.padStart(6)} ${'good rate'.padStart(10)} ${'judge aligned'.padStart(14)}`);
  for (const [c, b] of Object.entries(s.balance)) {
    out.push(`${c.padEnd(12)} ${String(b.images).padStart(6)} ${String(b.good).padStart(6)} ${String(b.bad).padStart(6)} ${String(b.skip).padStart(6)} ${pct(b.goodRate).padStart(10)} ${pct(b.judgeAligned).padStart(14)}`);
  }
  return out.join('\n');
}
