import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { readPromptsFile } from '../../src/world/promptFile';
import { removedAtExit } from '../helpers/temp';

const file = (text: string) => {
  const f = path.join(removedAtExit('t2i-prompts-'), 'prompts.txt');
  fs.writeFileSync(f, text);
  return f;
};
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

test('a prompts file reports every bad line at once, in one line', () => {
  const f = file('# a class\na red circle\nred circle\n\nthree purple blorps\ntwo stars\nfive dogs\n');
  assert.throws(() => readPromptsFile(f), (e: Error) => {
    assert.doesNotMatch(e.message, /\n/);
    assert.match(e.message, new RegExp(`^${esc(f)}:3: a count word is missing at the start of "red circle"`));
    assert.match(e.message, /; line 5: unknown object "blorps"/);
    assert.match(e.message, /; line 7: unknown count word "five"/);
    assert.match(e.message, /\(3 bad lines: fix them all, then run again\)$/);
    return true;
  });
});

test('line ends of every kind: \\n, \\r\\n and a lone \\r (old Mac files; read as one line, its second prompt was blamed)', () => {
  for (const end of ['\n', '\r\n', '\r']) {
    assert.deepEqual(readPromptsFile(file(['a red circle', 'two stars', '', '# note', 'three squares in the sea'].join(end) + end)).map((p) => [p.line, p.prompt]), [[1, 'a red circle'], [2, 'two stars'], [5, 'three squares in the sea']], JSON.stringify(end));
  }
});

test('one bad line reads as before; very many are cut after 20 with a count', () => {
  const one = readPromptsFileError(file('a star\ntwo blorps\n'));
  assert.match(one, /prompts\.txt:2: unknown object "blorps" in "two blorps"; allowed objects: /);
  assert.doesNotMatch(one, /bad lines/);
  const many = readPromptsFileError(file(Array.from({ length: 25 }, () => 'blue square').join('\n')));
  assert.match(many, /line 20: .*; and 5 more \(25 bad lines/);
  assert.doesNotMatch(many, /line 21:/);
});

function readPromptsFileError(f: string): string {
  try {
    readPromptsFile(f);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('no error');
}

test('a binary file (an image given as the prompts) is one short line, not its bytes', () => {
  const f = file('');
  fs.writeFileSync(f, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]));
  const message = readPromptsFileError(f);
  assert.match(message, /prompts\.txt is not a text file of prompts \(it holds binary data, e\.g\. an image\): give one prompt a line$/);
  assert.ok(message.length < 300, message);
});

test('a prompts file that cannot be read says why, and "seen" where a file is expected says where the set is taken', () => {
  assert.throws(() => readPromptsFile('/nonexistent/prompts.txt'), /^Error: cannot read prompts file \/nonexistent\/prompts\.txt: no such file$/);
  assert.throws(() => readPromptsFile(os.tmpdir()), /: it is a folder, not a file$/);
  assert.throws(() => readPromptsFile('seen'), /cannot read prompts file seen: no such file \("seen", the prompt set, is taken by collect, render-set and evaluate/);
});
