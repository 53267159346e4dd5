import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { assertKitKernel, assertMatchesCpu, useWasm } from './compare';

test('UnsortedSegmentSum exists on wasm and is the kit kernel', async () => {
  await assertKitKernel('UnsortedSegmentSum');
});

test('gather (embedding lookup) gradients match cpu, with repeated ids', async () => {
  await assertMatchesCpu('gather 2d ids', {
    shapes: [[10, 6]],
    f: (e) => tf.gather(e, tf.tensor2d([[1, 2, 2, 9], [9, 0, 1, 1]], undefined, 'int32')),
  });
  await assertMatchesCpu('gather axis 1', {
    shapes: [[3, 7, 4]],
    f: (e) => tf.gather(e, tf.tensor1d([6, 0, 6, 3], 'int32'), 1),
  });
});

test('unsortedSegmentSum matches cpu for 1-D and 2-D segment ids', async () => {
  await assertMatchesCpu('uss 1d', {
    shapes: [[6, 3, 2]],
    f: (x) => tf.unsortedSegmentSum(x, tf.tensor1d([4, 0, 4, 2, 0, 4], 'int32'), 5),
  });
  await assertMatchesCpu('uss scalar rows', {
    shapes: [[5]],
    f: (x) => tf.unsortedSegmentSum(x, tf.tensor1d([1, 1, 1, 0, 2], 'int32'), 3),
  });
});

test('unsortedSegmentSum rejects out-of-range ids by name', async () => {
  await useWasm();
  const x = tf.ones([3, 2]);
  const ids = tf.tensor1d([0, 5, 1], 'int32');
  assert.throws(() => tf.unsortedSegmentSum(x, ids, 3), /segment id 5 at 1 is outside \[0, 3\)/);
  tf.dispose([x, ids]);
});
