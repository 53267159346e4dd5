// Every command the README, docs/ and the notebooks tell a user to run names a command the CLI has, with
// options that command takes: a renamed option would otherwise live on in the prose.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { buildProgram } from '../../src/cli/main';

const ROOT = path.join(__dirname, '..', '..');

/** The commands in `text` (`npx t2i-align CMD ...`, `bin/t2i-align.js CMD ...`) that the CLI would refuse, one line each. */
function unknownInText(text: string): string[] {
  const known = new Map(buildProgram().commands.map((c) => [c.name(), new Set(c.options.flatMap((o) => [o.long, o.short]).filter((x): x is string => !!x).concat('--help', '-h'))]));
  const problems: string[] = [];
  for (const m of text.matchAll(/(?:npx t2i-align|bin\/t2i-align\.js) ([a-z][a-z-]*)([^\n`"]*)/g)) {
    const [shown, cmd] = [m[0].slice(0, 120), m[1]];
    const flags = known.get(cmd);
    if (!flags) {
      problems.push(`unknown command ${cmd}: ${shown}`);
      continue;
    }
    const args = m[2].split(/\s(?:\||&&|;|#|>|2>)/)[0]; // up to the shell's next command, comment or redirect
    for (const f of args.match(/(?<![\w-])--[a-z][a-z0-9-]*/g) ?? []) {
      if (!flags.has(f) && !(f.startsWith('--no-') && flags.has(`--${f.slice(5)}`)) && !flags.has(`--no-${f.slice(2)}`)) problems.push(`${cmd} takes no ${f}: ${shown}`);
    }
  }
  return problems;
}

test('the checker finds an unknown command and an option its command does not take', () => {
  assert.deepEqual(unknownInText('run `npx t2i-align colect --out x` and `npx t2i-align collect --per-promt 2 --out d | tee log --nope`'), [
    'unknown command colect: npx t2i-align colect --out x',
    'collect takes no --per-promt: npx t2i-align collect --per-promt 2 --out d | tee log --nope',
  ]);
});

test('every command in the README, docs/*.md and the notebooks is one the CLI takes', () => {
  const files = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join('docs', f)), ...fs.readdirSync(path.join(ROOT, 'notebooks')).filter((f) => f.endsWith('.ipynb')).map((f) => path.join('notebooks', f))];
  let seen = 0;
  const problems = files.flatMap((f) => {
    const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
    seen += [...text.matchAll(/(?:npx t2i-align|bin\/t2i-align\.js) [a-z]/g)].length;
    return unknownInText(text).map((p) => `${f}: ${p}`);
  });
  assert.ok(seen > 100, `${seen} commands found: the pattern no longer matches the docs`);
  assert.deepEqual(problems, []);
});
