import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { shownPath } from '../../src/engine/files';

test('shownPath: relative inside the working folder, absolute outside it, "." for the folder itself', () => {
  const cwd = process.cwd();
  assert.equal(shownPath(path.join(cwd, 'data', 'base-model')), path.join('data', 'base-model'));
  assert.equal(shownPath('data/base-model'), path.join('data', 'base-model'));
  assert.equal(shownPath(cwd), '.');
  const outside = path.resolve(cwd, '..', 'elsewhere', 'model');
  assert.equal(shownPath(outside), outside);
  assert.equal(shownPath(path.join('..', 'elsewhere', 'model')), outside);
});
