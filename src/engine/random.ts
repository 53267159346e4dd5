/**
 * Seeded random streams. Every random choice in the kit draws from a `Rng`
 * made from a seed and a name, so that runs are reproducible and one stage's
 * draws never shift another's (`rng.fork('renderer')`).
 */
import seedrandom from 'seedrandom';

export class Rng {
  private readonly next: () => number;

  /** @param seed any integer or string; the same seed gives the same stream. */
  constructor(readonly seed: number | string) {
    this.next = seedrandom.alea(String(seed));
  }

  /**
   * A new independent stream named `name`, derived from this stream's seed (not
   * from its position). Names are paths: `fork('noise/3')` is
   * `fork('noise').fork(3)`, so a name holding '/' is a nested stream, not a new one.
   */
  fork(name: string | number): Rng {
    return new Rng(`${this.seed}/${name}`);
  }

  /** Uniform in [0, 1). */
  random(): number {
    return this.next();
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer uniform in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.next() < p;
  }

  /** Standard normal (Box-Muller). */
  normal(mean = 0, std = 1): number {
    const u = 1 - this.next();
    const v = this.next();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.pick: empty array');
    return items[Math.floor(this.next() * items.length)];
  }

  /** A shuffled copy (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }

  /** A 31-bit integer seed for tfjs ops that take one (`tf.randomNormal(shape, 0, 1, 'float32', seed)`). */
  tfSeed(): number {
    return Math.floor(this.next() * 2 ** 31);
  }
}
