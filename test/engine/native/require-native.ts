// The native kernels are required by default: a test that needs them FAILS when
// they are inactive, naming why. Only `npm test -- --no-native` (which sets
// T2I_ALLOW_NO_NATIVE=1) turns that into a skip, and says so.
import * as assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { nativeStatus } from '../../../src/engine';

/** True when the native kernels are active on wasm; else fails the test (or skips it under --no-native). */
export function requireNative(t: TestContext): boolean {
  const s = nativeStatus();
  if (s.active) return true;
  if (process.env.T2I_ALLOW_NO_NATIVE === '1') {
    t.skip(`native kernels inactive (${s.reason}); allowed by --no-native`);
    return false;
  }
  assert.fail(
    `native kernels inactive: ${s.reason}. Build them (sudo apt-get install g++ make libopenblas-dev && npm run build:native), ` +
      'or run `npm test -- --no-native` to skip the tests that need them',
  );
}
