/** Argument checks the diagnostic scripts share: a bad value is one line naming the flag. */

/** A whole number >= min from --name's value, or the fallback when the flag is absent. */
export function intArg(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number >= ${min}, got '${value}'`);
  return n;
}
