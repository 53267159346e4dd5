/** Argument checks the diagnostic scripts share: a bad value is one line naming the flag (the CLI's own parsers). */
import { intOption, numberOption } from '../src/cli/options';

/**
 * A whole number in [min, max] from --name's value (digits only: "1e300" and "0x4" are refused, and so is a
 * count that would run for days), or the fallback when the flag is absent.
 */
export function intArg(name: string, value: string | undefined, fallback: number, min: number, max = 100_000): number {
  return value === undefined ? fallback : intOption(`--${name}`, value, min, max);
}

/** A decimal number in [min, max] from --name's value ("" is not 0), or undefined when the flag is absent. */
export function numberArg(name: string, value: string | undefined, min: number, max: number): number | undefined {
  return value === undefined ? undefined : numberOption(`--${name}`, value, min, max);
}
