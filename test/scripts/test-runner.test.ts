import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';

test('npm test refuses an unknown option before doing anything (a typo ran the whole suite as if none were given)', () => {
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'scripts', 'test.js'), '--no-nativ'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown option --no-nativ; the options are --unit, --notebooks, --no-install, --no-native/);
  assert.equal(r.stdout, '', 'nothing installed, built or run');
});
