/**
 * The `--panel` spec of `t2i-align label`: which simulated raters label a
 * dataset (see src/world/raters.ts for what each setting does).
 *
 *   panel    := group ('+' group)*
 *   group    := N                       N raters with the default settings
 *             | setting (',' setting)* ['x' N]   N raters (default 1) with these settings
 *   setting  := flip=P | skip=P | leniency=P     P a probability in [0, 1]
 *
 * Examples: `3`; `flip=0.1,skip=0.05,leniency=0.2x3`;
 * `flip=0.05x2+flip=0.3,leniency=0.5` (two careful raters and one sloppy one).
 * Settings a group leaves out take DEFAULT_RATER's values. parsePanelSpec
 * names raters sim-r0, sim-r1, ... in spec order; panelFromSpec names them by
 * spec and seed as well (raterName: `sim-3-s0-r0`), so a second panel labels
 * beside the first instead of replacing its labels, while rater k's draws
 * stay keyed by `sim-r<k>` and the seed (its labels do not change with its
 * name).
 */
import { createHash } from 'node:crypto';
import { RaterConfig, RaterPanel } from '../world/raters';

/** Settings of a rater the spec does not override. */
export const DEFAULT_RATER: Omit<RaterConfig, 'id'> = {
  /** A careful rater still slips now and then. */
  flipRate: 0.05,
  /** A third of partly right images pass. */
  leniency: 0.3,
  /** A few images are skipped. */
  skipRate: 0.02,
};

const KEYS: Record<string, 'flipRate' | 'skipRate' | 'leniency'> = { flip: 'flipRate', skip: 'skipRate', leniency: 'leniency' };
/** Most raters one spec may make. */
export const MAX_PANEL = 100;

function fail(spec: string, why: string): never {
  throw new Error(`--panel "${spec}": ${why}. Syntax: N | key=P[,key=P...][xN] joined by '+', keys ${Object.keys(KEYS).join(', ')}, e.g. "3" or "flip=0.1,skip=0.05,leniency=0.2x3"`);
}

/** Parse a panel spec into rater configs (validated; errors say what is wrong and show the syntax). */
export function parsePanelSpec(spec: string): RaterConfig[] {
  const s = spec.replace(/\s+/g, '');
  if (s === '') fail(spec, 'empty spec');
  const raters: RaterConfig[] = [];
  s.split('+').forEach((group, g) => {
    const where = `group ${g + 1} "${group}"`;
    if (group === '') fail(spec, `${where} is empty`);
    let n = 1;
    let body = group;
    if (/^\d+$/.test(group)) {
      n = Number(group);
      body = '';
    } else {
      const m = /^(.*?)x(\d+)$/.exec(group);
      if (m) {
        body = m[1];
        n = Number(m[2]);
        if (body === '') fail(spec, `${where} has a count but no settings`);
      }
    }
    if (!Number.isSafeInteger(n) || n < 1) fail(spec, `${where}: the rater count must be a whole number >= 1`);
    const config = { ...DEFAULT_RATER };
    const seen = new Set<string>();
    if (body !== '') {
      for (const kv of body.split(',')) {
        const m = /^([a-z]+)=(.*)$/.exec(kv);
        if (!m) fail(spec, `${where}: "${kv}" is not key=value`);
        const [, key, value] = m;
        const field = Object.hasOwn(KEYS, key) ? KEYS[key] : undefined; // not "constructor" and the like
        if (!field) fail(spec, `${where}: unknown key "${key}" (allowed: ${Object.keys(KEYS).join(', ')})`);
        if (seen.has(key)) fail(spec, `${where}: "${key}" given twice`);
        seen.add(key);
        const p = Number(value);
        if (!/^(\d+(\.\d*)?|\.\d+)$/.test(value) || !(p >= 0 && p <= 1)) fail(spec, `${where}: ${key} must be a probability in [0, 1], got "${value}"`);
        config[field] = p;
      }
    }
    for (let k = 0; k < n; k++) {
      raters.push({ id: `sim-r${raters.length}`, ...config });
      if (raters.length > MAX_PANEL) fail(spec, `more than ${MAX_PANEL} raters`);
    }
  });
  return raters;
}

/** Longest rater name the label store takes. */
const MAX_NAME = 64;

/**
 * The name of rater k of the panel `spec` with `seed`: `sim-<spec>-s<seed>-r<k>`,
 * the spec without spaces, '=' dropped, ',' as '_' and '+' as ':' (e.g.
 * "flip=0.1,skip=0.05x3" -> `sim-flip0.1_skip0.05x3-s0-r2`); a spec too long
 * for a 64-character name is replaced by the first 8 hex digits of its sha256.
 */
export function raterName(spec: string, seed: number | string, k: number): string {
  const s = spec.replace(/\s+/g, '');
  const slug = s.replace(/=/g, '').replace(/,/g, '_').replace(/\+/g, ':');
  const name = `sim-${slug}-s${String(seed).replace(/[^A-Za-z0-9_.@:-]/g, "_")}-r${k}`;
  if (name.length <= MAX_NAME && /^[A-Za-z0-9_.@:-]+$/.test(name)) return name;
  return `sim-${createHash('sha256').update(s).digest('hex').slice(0, 8)}-s${seed}-r${k}`;
}

/** A reproducible panel from a spec and a seed; raters named by raterName. */
export function panelFromSpec(spec: string, seed: number | string): RaterPanel {
  return new RaterPanel(parsePanelSpec(spec).map((r, k) => ({ ...r, id: raterName(spec, seed, k), noiseKey: r.id })), seed);
}

/** The spec of one rater's settings, e.g. "flip=0.05,skip=0.02,leniency=0.3" (used in request ids). */
export function raterSettings(r: RaterConfig): string {
  return `flip=${r.flipRate},skip=${r.skipRate},leniency=${r.leniency}`;
}
