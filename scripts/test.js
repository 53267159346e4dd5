#!/usr/bin/env node
// `npm test`: the README's one test command, also what CI runs.
//   1. checks the system packages the tests need and installs them with apt
//      where it can (root + apt-get), else names each missing one and how to get it;
//   2. builds the kit (tsc), type-checks tests and benches, links the kit for notebooks;
//   3. runs the unit tests (node:test, TypeScript through tsx);
//   4. executes every notebook headlessly under the tslab kernel (smoke mode).
// Options: --unit (steps 1-3 only), --notebooks (steps 1, 2, 4), --no-install.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const args = new Set(process.argv.slice(2));
const runUnit = !args.has('--notebooks');
const runNotebooks = !args.has('--unit');
const env = { ...process.env, PATH: `${path.join(root, 'node_modules', '.bin')}:${process.env.PATH}` };

function sh(cmd, cmdArgs, opts = {}) {
  const r = spawnSync(cmd, cmdArgs, { stdio: 'inherit', cwd: root, env, ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}
function ok(cmd, cmdArgs) {
  const r = spawnSync(cmd, cmdArgs, { stdio: 'ignore', env });
  return !r.error && r.status === 0;
}
function die(msg) {
  process.stderr.write(`npm test: ${msg}\n`);
  process.exit(1);
}

// What the tests need from the system: [check, Debian package, why].
const SYSTEM = [
  [() => ok('/usr/bin/python3', ['-c', 'import nbclient, nbconvert, ipykernel']), ['jupyter-nbconvert', 'python3-nbclient', 'python3-ipykernel'], 'executing notebooks headlessly'],
  [() => ok('/usr/bin/python3', ['-c', 'import numpy']), ['python3-numpy'], 'the native sgemm yardstick in bench/'],
  [() => fs.existsSync('/usr/bin/chromium'), ['chromium'], 'the labelling app\'s browser tests (playwright-core drives Debian\'s Chromium)'],
];

function ensureSystem() {
  const missing = SYSTEM.filter(([check]) => !check());
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.flatMap(([, p]) => p))];
  const canApt = process.getuid?.() === 0 && ok('apt-get', ['--version']) && !args.has('--no-install');
  if (canApt) {
    console.log(`npm test: installing system packages: ${pkgs.join(' ')}`);
    sh('apt-get', ['update', '-qq']);
    if (sh('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { env: { ...env, DEBIAN_FRONTEND: 'noninteractive' } }) !== 0) {
      die(`apt-get could not install ${pkgs.join(' ')}`);
    }
    const still = SYSTEM.filter(([check]) => !check());
    if (still.length) die(`still missing after apt-get: ${still.map(([, p]) => p.join(' ')).join(', ')}`);
    return;
  }
  const lines = missing.map(([, p, why]) => `  ${p.join(' ')}  (for ${why})`).join('\n');
  die(`missing system packages:\n${lines}\ninstall them with: sudo apt-get install ${pkgs.join(' ')}`);
}

function build() {
  if (sh('npx', ['tsc', '-p', 'tsconfig.json']) !== 0) die('the TypeScript build failed');
  if (sh('npx', ['tsc', '-p', 'tsconfig.check.json']) !== 0) die('the type check of tests and benches failed');
  sh(process.execPath, ['scripts/link-self.js']);
}

function unitTests() {
  const files = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.test.ts')) files.push(path.relative(root, p));
    }
  };
  walk(path.join(root, 'test'));
  files.sort();
  console.log(`npm test: ${files.length} test files`);
  const status = sh(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...files]);
  if (status !== 0) die('unit tests failed');
}

function notebooks() {
  const dir = path.join(root, 'notebooks');
  const nbs = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.ipynb')).sort() : [];
  if (nbs.length === 0) return;
  if (!ok('/usr/bin/python3', ['-c', 'import json,sys,jupyter_client; sys.exit(0 if "tslab" in jupyter_client.kernelspec.find_kernel_specs() else 1)'])) {
    sh('npx', ['tslab', 'install', '--python=/usr/bin/python3']);
  }
  const out = path.join(root, 'results', 'notebooks');
  fs.mkdirSync(out, { recursive: true });
  for (const nb of nbs) {
    console.log(`npm test: executing notebooks/${nb}`);
    const status = sh('/usr/bin/python3', ['-m', 'nbconvert', '--to', 'notebook', '--execute',
      '--ExecutePreprocessor.kernel_name=tslab', '--ExecutePreprocessor.timeout=900',
      '--output-dir', out, path.join('notebooks', nb)], { env: { ...env, T2I_QUICK: '1' } });
    if (status !== 0) die(`notebook ${nb} failed (its executed copy, if any, is in results/notebooks/)`);
  }
}

ensureSystem();
build();
if (runUnit) unitTests();
if (runNotebooks) notebooks();
console.log('npm test: all passed');
