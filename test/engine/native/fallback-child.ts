// Child process for fallback.test.ts: activates wasm under the caller's env
// (T2I_NATIVE=0, or T2I_NATIVE_ADDON pointing nowhere), runs a small training
// computation and prints {status, kernels, values} as JSON.
import * as tf from '@tensorflow/tfjs';
import { initBackend, nativeStatus } from '../../../src/engine';
import { FALLBACK_CASE, runFallbackCase } from './fallback-case';

void (async () => {
  await initBackend(process.argv[2] ?? 'wasm');
  const n0 = tf.memory().numTensors;
  const values = runFallbackCase().map((a) => Array.from(a));
  const leaked = tf.memory().numTensors - n0;
  process.stdout.write(JSON.stringify({ backend: tf.getBackend(), status: nativeStatus(), case: FALLBACK_CASE, values, leaked }) + '\n');
})();
