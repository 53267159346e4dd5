import * as tf from '@tensorflow/tfjs';

/**
 * Run `fn` and fail if it leaves tensors behind.
 *
 * Counts `tf.memory().numTensors` before and after; `allowed` is how many new
 * tensors the caller expects to keep (e.g. variables an optimizer creates on
 * its first step). Works for sync and async functions.
 * @returns what `fn` returned.
 */
export async function assertNoLeaks<T>(fn: () => T | Promise<T>, label = 'block', allowed = 0): Promise<T> {
  const before = tf.memory().numTensors;
  const out = await fn();
  const leaked = tf.memory().numTensors - before - allowed;
  if (leaked !== 0) {
    throw new Error(`${label} leaked ${leaked} tensor(s) (${before} before, ${tf.memory().numTensors} after, ${allowed} allowed)`);
  }
  return out;
}

/**
 * Run `step` several times and fail if the tensor count grows after the first
 * call (the first may create optimizer slots and other lasting state).
 */
export async function assertStepDoesNotLeak(step: () => unknown | Promise<unknown>, label = 'step', repeats = 3): Promise<void> {
  await step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < repeats; i++) await step();
  const grown = tf.memory().numTensors - before;
  if (grown !== 0) throw new Error(`${label} leaks: ${grown} tensor(s) more after ${repeats} more calls`);
}
