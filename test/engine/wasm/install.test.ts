import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useWasm } from './compare';
import { backendInfo } from '../../../src/engine';
import { WASM_KIT_KERNELS, installWasmKernels } from '../../../src/engine/wasm';

test('initBackend(wasm) records the kit kernels; a second install changes nothing', async () => {
  await useWasm();
  assert.deepEqual([...backendInfo().kitKernels].sort(), [...WASM_KIT_KERNELS].sort());
  const before = WASM_KIT_KERNELS.map((n) => tf.getKernel(n, 'wasm')?.kernelFunc);
  assert.deepEqual(installWasmKernels(), [...WASM_KIT_KERNELS]);
  const after = WASM_KIT_KERNELS.map((n) => tf.getKernel(n, 'wasm')?.kernelFunc);
  after.forEach((f, i) => assert.equal(f, before[i], `${WASM_KIT_KERNELS[i]} was re-registered`));
  const y = tf.tidy(() => tf.matMul(tf.ones([2, 3]), tf.ones([4, 3]), false, true).dataSync());
  assert.deepEqual(Array.from(y), new Array(8).fill(3));
});
