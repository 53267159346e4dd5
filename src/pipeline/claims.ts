/**
 * The claims table: each claim of the paper with the kit's measured effect,
 * a 95% interval over fine-tuning seeds (t interval; none with one seed), a
 * paired test, and a verdict. Pure functions of evaluation results, so a
 * claim's rule can be tested on made-up numbers.
 *
 * ClaimVerdict of one measured effect, with `direction` the paper's sign:
 * - reproduced: the effect has the paper's sign, the paired test gives
 *   p < 0.05, and the interval over seeds excludes 0 (with one seed there is
 *   none, so at most mixed: an effect needs an interval over training seeds);
 * - mixed: the sign is right and only one of the test and the interval agrees;
 * - not reproduced: otherwise (no clear effect, or the opposite one).
 * An alignment part the judge calls reproduced but the independent classifier
 * does not see at all (its own verdict: not reproduced) is mixed: a gain only
 * one reader sees may be the judge's blind spot. A fidelity part needs the
 * per-image test to point the paper's way too.
 * A claim of several parts (e.g. per category) is reproduced when every part
 * is, not reproduced when none is even mixed, and mixed in between.
 * A sign-flip test over m units (prompts or seeds) cannot give p below 2 / 2^m
 * (`leastP`): with 4 prompts 0.125, 5 prompts 0.0625. Such a part is never
 * reproduced whatever its effect (at most mixed, by its interval over seeds;
 * with one seed, not reproduced); `makeClaim` names it in the claim's note, so
 * that a part held back by its prompt count is not read as evidence against
 * the paper. The floor is the design's (prompts measured), not the data's:
 * prompts whose difference came out 0 lower what the test could reach on
 * these data, but a prompt fine-tuning left unchanged is part of the result,
 * not a limit of the design, so they are not counted out.
 */
import { EvaluateResult, EvaluatorName, pairedPromptTest } from '../eval/evaluate';
import { leastSignFlipP, pairedInterval, signFlipTest } from '../reward/ablation';
import { Category, CATEGORIES } from '../world/prompt';

export const ALPHA = 0.05;
export type ClaimVerdict = 'reproduced' | 'mixed' | 'not reproduced';

export interface ClaimPart {
  name: string;
  /** Unit of this part when it differs from its claim's. */
  unit?: Claim['unit'];
  /** Mean effect (e.g. accuracy points as a fraction, FID, AUC). */
  effect: number;
  /** The paper's sign of the effect: +1 up, -1 down. */
  direction: 1 | -1;
  /** Per-seed effects (fine-tuning seeds, or reward seeds). */
  perSeed: number[];
  /** 95% t interval over seeds; null with fewer than two. */
  interval: [number, number] | null;
  /** Name of the paired test and its two-sided p. */
  test: string;
  p: number;
  /** The least p the test can give (2 / 2^units for a sign flip); absent where there is no such floor. */
  leastP?: number;
  verdict: ClaimVerdict;
  /** The same effect read by the independent classifier (alignment claims). */
  secondReader?: { effect: number; p: number; verdict: ClaimVerdict };
}

export interface Claim {
  id: string;
  /** What the paper says. */
  claim: string;
  /** What the kit measures. */
  measure: string;
  unit: 'points' | 'FID' | 'AUC' | 'win-lose';
  parts: ClaimPart[];
  verdict: ClaimVerdict;
  note?: string;
}

/** The verdict of one effect (see the file comment). */
export function partVerdict(effect: number, direction: 1 | -1, p: number, interval: [number, number] | null): ClaimVerdict {
  if (!(effect * direction > 0)) return 'not reproduced';
  const testOk = Number.isFinite(p) && p < ALPHA; // no p (NaN, or null read from JSON) is no evidence
  // With one seed there is no interval over seeds, so the test alone cannot make it reproduced (at most mixed).
  const intervalOk = interval !== null && (direction > 0 ? interval[0] > 0 : interval[1] < 0);
  if (testOk && intervalOk) return 'reproduced';
  return testOk || intervalOk ? 'mixed' : 'not reproduced';
}

/** The least two-sided p of a sign-flip test over `units` units (leastSignFlipP). */
export const leastP = leastSignFlipP;

/** The verdict of a claim from its parts' verdicts. */
export function claimVerdict(parts: readonly { verdict: ClaimVerdict }[]): ClaimVerdict {
  if (parts.length && parts.every((p) => p.verdict === 'reproduced')) return 'reproduced';
  if (parts.every((p) => p.verdict === 'not reproduced')) return 'not reproduced';
  return 'mixed';
}

/** The 95% t interval over seeds of per-seed effects (pairedInterval); null with fewer than two seeds. */
export function seedInterval(perSeed: readonly number[]): [number, number] | null {
  if (perSeed.length < 2) return null;
  const t = pairedInterval(perSeed);
  return [t.lo, t.hi];
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Throw unless each treated evaluation has its control's prompts, images per prompt and seed. */
function checkPaired(name: string, treated: readonly EvaluateResult[], controls: readonly EvaluateResult[]): void {
  if (controls.length !== treated.length) throw new Error(`${name}: ${treated.length} treated evaluations but ${controls.length} controls`);
  treated.forEach((t, s) => {
    const c = controls[s];
    const keys = (r: EvaluateResult) => r.images.map((x) => `${x.prompt}\u0000${x.k}`).sort().join('\n');
    if (t.seed !== c.seed || t.perPrompt !== c.perPrompt || keys(t) !== keys(c)) {
      throw new Error(`${name}: the evaluations are not paired (other prompts, images per prompt or seed)`);
    }
  });
}

/** Per-image outcome of `reader` for `category` (or all), keyed by prompt and k. */
function outcomes(r: EvaluateResult, reader: EvaluatorName, category?: Category): Map<string, { prompt: string; v: number }> {
  return new Map(r.images.filter((x) => !category || x.category === category).map((x) => [`${x.prompt}\u0000${x.k}`, { prompt: x.prompt, v: x[reader] ? 1 : 0 }]));
}

/**
 * Alignment of `treated` (one evaluation per seed) minus `control` (one
 * evaluation, or one per seed), in `category` (or over all images), read by
 * `reader`: per-seed differences of accuracy, and a sign-flip test over
 * prompts of the per-image differences averaged over seeds.
 */
export function alignmentEffect(
  name: string,
  treated: readonly EvaluateResult[],
  control: EvaluateResult | readonly EvaluateResult[],
  reader: EvaluatorName = 'judge',
  category?: Category,
): Omit<ClaimPart, 'secondReader'> {
  const controls = Array.isArray(control) ? (control as EvaluateResult[]) : treated.map(() => control as EvaluateResult);
  checkPaired(name, treated, controls);
  const perImage = new Map<string, { prompt: string; d: number }>();
  const perSeed = treated.map((t, s) => {
    const a = outcomes(t, reader, category);
    const b = outcomes(controls[s], reader, category);
    if (a.size !== b.size) throw new Error(`${name}: the evaluations are not paired (${a.size} images against ${b.size})`);
    let sum = 0;
    for (const [key, x] of a) {
      const y = b.get(key);
      if (!y) throw new Error(`${name}: the evaluations are not paired (image ${key.replace('\u0000', ' #')} missing)`);
      const e = perImage.get(key) ?? { prompt: x.prompt, d: 0 };
      e.d += (x.v - y.v) / treated.length;
      perImage.set(key, e);
      sum += x.v - y.v;
    }
    return a.size ? sum / a.size : NaN;
  });
  const test = pairedPromptTest([...perImage.values()], { seed: name });
  const effect = mean(perSeed);
  const iv = seedInterval(perSeed);
  return { name, effect, direction: 1, perSeed, interval: iv, test: `sign-flip over ${test.prompts} prompts`, p: test.p, leastP: leastP(test.prompts), verdict: partVerdict(effect, 1, test.p, iv) };
}

/** Alignment effect read by the judge, with the classifier's reading beside it. */
export function alignmentPart(name: string, treated: readonly EvaluateResult[], control: EvaluateResult | readonly EvaluateResult[], category?: Category): ClaimPart {
  const j = alignmentEffect(name, treated, control, 'judge', category);
  const c = alignmentEffect(name, treated, control, 'classifier', category);
  const verdict = j.verdict === 'reproduced' && c.verdict === 'not reproduced' ? 'mixed' : j.verdict;
  return { ...j, verdict, secondReader: { effect: c.effect, p: c.p, verdict: c.verdict } };
}

/**
 * FID of `treated` minus FID of `control` per seed; the paired test is a
 * sign-flip over prompts of each image's distance to its prompt's renders.
 */
export function fidelityPart(name: string, treated: readonly EvaluateResult[], control: EvaluateResult | readonly EvaluateResult[], direction: 1 | -1): ClaimPart {
  const controls = Array.isArray(control) ? (control as EvaluateResult[]) : treated.map(() => control as EvaluateResult);
  checkPaired(name, treated, controls);
  const perSeed = treated.map((t, s) => t.fid.value - controls[s].fid.value);
  const perImage = new Map<string, { prompt: string; d: number }>();
  treated.forEach((t, s) => {
    const b = new Map(controls[s].images.map((x) => [`${x.prompt}\u0000${x.k}`, x.renderDistance]));
    for (const x of t.images) {
      const key = `${x.prompt}\u0000${x.k}`;
      const e = perImage.get(key) ?? { prompt: x.prompt, d: 0 };
      e.d += (x.renderDistance - (b.get(key) ?? NaN)) / treated.length;
      perImage.set(key, e);
    }
  });
  const test = pairedPromptTest([...perImage.values()], { seed: name });
  const effect = mean(perSeed);
  const iv = seedInterval(perSeed);
  // The test reads per-image distances, the effect FID: both must point the paper's way.
  const p = Math.sign(test.mean) === direction ? test.p : 1;
  return {
    name, unit: 'FID', effect, direction, perSeed, interval: iv, test: `sign-flip over ${test.prompts} prompts (distance to renders, mean ${test.mean >= 0 ? '+' : ''}${test.mean.toFixed(2)}${p === 1 && test.p < 1 ? ': against the FID\'s direction, so the verdict reads p as 1' : ''})`,
    p: test.p, leastP: leastP(test.prompts), verdict: partVerdict(effect, direction, p, iv),
  };
}

/** An effect measured once per seed (e.g. reward seeds), tested by an exact sign flip over seeds. */
export function seedEffectPart(name: string, perSeed: readonly number[], direction: 1 | -1): ClaimPart {
  if (perSeed.length === 0 || perSeed.some((x) => !Number.isFinite(x))) throw new Error(`${name}: a per-seed effect is missing or not finite (${perSeed.join(', ')})`);
  const effect = mean(perSeed);
  const p = perSeed.length <= 20 ? signFlipTest(perSeed) : NaN;
  const iv = seedInterval(perSeed);
  return { name, effect, direction, perSeed: [...perSeed], interval: iv, test: `exact sign-flip over ${perSeed.length} seeds`, p, leastP: leastP(perSeed.length), verdict: partVerdict(effect, direction, p, iv) };
}

/** Alignment per category (and pooled) of fine-tuned models against the base model. */
export function perCategoryParts(treated: readonly EvaluateResult[], control: EvaluateResult | readonly EvaluateResult[]): ClaimPart[] {
  return CATEGORIES.filter((c) => treated[0].images.some((x) => x.category === c)).map((c) => alignmentPart(c, treated, control, c));
}

/**
 * Build a claim from its parts (the verdict follows from theirs); parts whose test cannot reach p < ALPHA are
 * named in its note.
 */
export function makeClaim(c: Omit<Claim, 'verdict'>): Claim {
  if (c.parts.length === 0) throw new Error(`claim ${c.id}: nothing was measured`);
  const capped = c.parts.filter((p) => p.leastP !== undefined && p.leastP >= ALPHA);
  const cap = capped.length
    ? `${capped.map((p) => `${p.name} (${p.test}: p >= ${p.leastP!.toFixed(3)})`).join(', ')}: ${capped.length === 1 ? 'its test cannot' : 'their tests cannot'} reach p < ${ALPHA}, so ${capped.length === 1 ? 'this part' : 'these parts'} cannot be called reproduced whatever the effect (at most mixed where seeds give an interval)`
    : undefined;
  const note = [c.note, cap].filter((x) => x).join('; ') || undefined;
  return { ...c, ...(note ? { note } : {}), verdict: claimVerdict(c.parts) };
}

/** A p-value for a table: three decimals, or "<0.001". */
export function formatP(p: number): string {
  // a p just under ALPHA keeps a digit more, so that it never prints as 0.050 beside a verdict it passed
  return !Number.isFinite(p) ? '-' : p < 0.001 ? '<0.001' : p < ALPHA && p.toFixed(3) === ALPHA.toFixed(3) ? (Math.floor(p * 1e4) / 1e4).toFixed(4) : p.toFixed(3);
}

/** An effect or interval end in its unit: signed points (x100), AUC to 3 decimals, FID to 2. */
export function formatEffect(x: number, unit: Claim['unit']): string {
  if (!Number.isFinite(x)) return '-';
  if (unit === 'points' || unit === 'win-lose') return `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}`;
  if (unit === 'AUC') return `${x >= 0 ? '+' : ''}${x.toFixed(3)}`;
  return `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;
}

/** The claims as a Markdown table, one row per part. */
export function claimsMarkdown(claims: readonly Claim[], header = ''): string {
  const lines = [
    header,
    '| claim (paper) | what the kit measures | part | effect | 95% interval over seeds | paired test, p | part verdict | classifier reads | claim verdict |',
    '|---|---|---|---:|---|---|---|---|---|',
  ].filter((l) => l !== '');
  for (const c of claims) {
    c.parts.forEach((p, i) => {
      const u = p.unit ?? c.unit;
      const iv = p.interval ? `[${formatEffect(p.interval[0], u)}, ${formatEffect(p.interval[1], u)}]` : `- (${p.perSeed.length} seed${p.perSeed.length === 1 ? '' : 's'})`;
      const second = p.secondReader ? `${formatEffect(p.secondReader.effect, u)}, p ${formatP(p.secondReader.p)}: ${p.secondReader.verdict}` : '';
      lines.push(`| ${i === 0 ? c.claim : ''} | ${i === 0 ? `${c.measure} (${c.unit})` : ''} | ${p.name}${p.unit && p.unit !== c.unit ? ` (${p.unit})` : ''} | ${formatEffect(p.effect, u)} | ${iv} | ${p.test}: ${formatP(p.p)} | ${p.verdict} | ${second} | ${i === 0 ? `**${c.verdict}**` : ''} |`);
    });
  }
  const notes = claims.filter((c) => c.note).map((c) => `- ${c.id}: ${c.note}`);
  return [...lines, ...(notes.length ? ['', ...notes] : [])].join('\n');
}
