import * as tf from '@tensorflow/tfjs';

/**
 * Run `fn` and fail if it leaves tensors behind.
 *
 * Counts `tf.memory().numTensors` before and after; `allowed` is how many new
 * tensors the caller expects to keep (e.g. variables an optimizer creates on
 * its first step). With none allowed, the backend's buffers are counted too
 * (a kernel's leak, which a tf.tidy inside `fn` would hide from the tensor
 * count). Works for sync and async functions.
 * @returns what `fn` returned.
 */
export async function assertNoLeaks<T>(fn: () => T | Promise<T>, label = 'block', allowed = 0): Promise<T> {
  const before = tf.memory().numTensors;
  const buffers = backendBuffers();
  const out = await fn();
  const leaked = tf.memory().numTensors - before - allowed;
  if (leaked !== 0) {
    throw new Error(`${label} leaked ${leaked} tensor(s) (${before} before, ${tf.memory().numTensors} after, ${allowed} allowed)`);
  }
  // A kernel that forgets a buffer leaks no tensor, and a tf.tidy around `fn` cannot free it: count buffers too.
  if (allowed === 0 && backendBuffers() !== buffers) throw new Error(`${label} leaked ${backendBuffers() - buffers} backend buffer(s)`);
  return out;
}

/** Buffers the active backend holds (a tensor's data, or what a kernel made and did not free). */
function backendBuffers(): number {
  return tf.engine().backend.numDataIds();
}

/**
 * Run `step` several times and fail if the tensor count grows after the first
 * call (the first may create optimizer slots and other lasting state).
 */
export async function assertStepDoesNotLeak(step: () => unknown | Promise<unknown>, label = 'step', repeats = 3): Promise<void> {
  await step();
  const before = tf.memory().numTensors;
  const buffers = backendBuffers();
  for (let i = 0; i < repeats; i++) await step();
  const grown = tf.memory().numTensors - before;
  if (grown !== 0) throw new Error(`${label} leaks: ${grown} tensor(s) more after ${repeats} more calls`);
  if (backendBuffers() !== buffers) throw new Error(`${label} leaks: ${backendBuffers() - buffers} backend buffer(s) more after ${repeats} more calls`);
}
