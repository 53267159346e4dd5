#!/usr/bin/env node
// `npm test`: the README's one test command, also what CI runs.
//   1. checks the system packages the tests need (g++, make and libopenblas-dev
//      for the native kernels among them) and installs them with apt where it
//      can (root + apt-get), else names each missing one and how to get it;
//   2. builds the kit (tsc), type-checks tests and benches, links the kit for notebooks;
//   3. builds the native kernels (`node scripts/build-native.js --strict`) when
//      the addon is missing, failed to build or is older than its source, and
//      stops unless `t2i-align info --json` then says native is active;
//   4. runs the unit tests (node:test, TypeScript through tsx; spec on stdout,
//      TAP in results/test.tap) and fails if any test was skipped;
//   5. executes every notebook headlessly under the tslab kernel (smoke mode).
// Options: --unit (steps 1-4 only), --notebooks (steps 1-3, 5), --no-install,
// --no-native (run without the native kernels: no g++/OpenBLAS needed, step 3
// is not run, and the tests that need native skip instead of failing; refused
// when CI is set).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const args = new Set(process.argv.slice(2));
const FLAGS = ['--unit', '--notebooks', '--no-install', '--no-native'];
const unknown = [...args].filter((a) => !FLAGS.includes(a));
if (unknown.length) {
  // a typo (--no-nativ) would otherwise run the whole suite as if no flag were given
  process.stderr.write(`npm test: unknown option ${unknown.join(', ')}; the options are ${FLAGS.join(', ')} (npm test -- --unit)\n`);
  process.exit(2);
}
const runUnit = !args.has('--notebooks');
const runNotebooks = !args.has('--unit');
const requireNative = !args.has('--no-native');
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

/** True when the linker can find OpenBLAS (`-lopenblas`, from libopenblas-dev) in a standard place. */
function hasOpenBlas() {
  const dirs = ['/usr/lib', '/usr/lib64', '/usr/local/lib'];
  for (const d of ['/usr/lib', '/usr/lib64']) {
    try {
      for (const e of fs.readdirSync(d)) if (/-linux-gnu$/.test(e)) dirs.push(path.join(d, e));
    } catch {}
  }
  return dirs.some((d) => fs.existsSync(path.join(d, 'libopenblas.so')));
}

// What the tests need from the system: [check, Debian package, why].
const NATIVE_SYSTEM = [
  [() => ok(process.env.CXX || 'c++', ['--version']), ['g++'], 'building the native kernels (native/t2i_native.cc)'],
  [() => ok('make', ['--version']), ['make'], 'building the native kernels'],
  [hasOpenBlas, ['libopenblas-dev'], 'the native kernels\' sgemm (OpenBLAS)'],
];
const SYSTEM = [
  ...(requireNative ? NATIVE_SYSTEM : []),
  [() => ok('/usr/bin/python3', ['-c', 'import nbclient, nbconvert, ipykernel']), ['jupyter-nbconvert', 'python3-nbclient', 'python3-ipykernel'], 'executing notebooks headlessly'],
  [() => ok('/usr/bin/python3', ['-c', 'import numpy']), ['python3-numpy'], 'the native sgemm yardstick in bench/'],
  [() => fs.existsSync('/usr/bin/chromium'), ['chromium'], 'the labelling app\'s browser tests (playwright-core drives Debian\'s Chromium)'],
  [() => fs.existsSync('/usr/bin/redis-server'), ['redis-server'], 'the sweep queue tests (BullMQ on a real Redis started on 127.0.0.1)'],
];

function ensureSystem() {
  const missing = SYSTEM.filter(([check]) => !check());
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.flatMap(([, p]) => p))];
  const hasApt = ok('apt-get', ['--version']);
  const canApt = process.getuid?.() === 0 && hasApt && !args.has('--no-install');
  if (canApt) {
    console.log(`npm test: installing system packages: ${pkgs.join(' ')}`);
    // Waits for another apt (unattended upgrades on a fresh machine) rather than stopping at its lock.
    sh('apt-get', ['update', '-qq', '-o', 'DPkg::Lock::Timeout=600']);
    if (sh('apt-get', ['install', '-y', '-qq', '--no-install-recommends', '-o', 'DPkg::Lock::Timeout=600', ...pkgs], { env: { ...env, DEBIAN_FRONTEND: 'noninteractive' } }) !== 0) {
      die(`apt-get could not install ${pkgs.join(' ')}`);
    }
    const still = SYSTEM.filter(([check]) => !check());
    if (still.length) die(`still missing after apt-get: ${still.map(([, p]) => p.join(' ')).join(', ')}`);
    return;
  }
  const lines = missing.map(([, p, why]) => `  ${p.join(' ')}  (for ${why})`).join('\n');
  const optOut = missing.some((m) => NATIVE_SYSTEM.includes(m)) ? '\n(or run without the native kernels: npm test -- --no-native)' : '';
  const how = hasApt ? `install them with: sudo apt-get install ${pkgs.join(' ')}` : `apt-get is not on this machine: install these Debian packages' equivalents with your system's package manager`;
  die(`missing system packages:\n${lines}\n${how}${optOut}`);
}

const ADDON = path.join(root, 'build', 'Release', 't2i_native.node');
const BUILD_REPORT = path.join(root, 'build', 'native-build.json');

/** Why the native addon must be (re)built, or '' when it is current. */
function nativeBuildNeeded() {
  if (!fs.existsSync(ADDON)) return `${path.relative(root, ADDON)} is missing`;
  let report;
  try {
    report = JSON.parse(fs.readFileSync(BUILD_REPORT, 'utf8'));
  } catch {
    return `${path.relative(root, BUILD_REPORT)} is missing or unreadable`;
  }
  if (!report.ok) return `the last build failed (${report.reason})`;
  const built = fs.statSync(ADDON).mtimeMs;
  const newer = ['native/t2i_native.cc', 'binding.gyp'].filter((f) => fs.statSync(path.join(root, f)).mtimeMs > built);
  if (newer.length) return `${newer.join(' and ')} changed since it was built`;
  return '';
}

/** Build the native kernels when needed and stop unless they are active (the tests would otherwise skip or run slow). */
function ensureNative() {
  if (!requireNative) {
    console.log('npm test: --no-native: the native kernels are not required; tests that need them will skip');
    return;
  }
  const flag = (process.env.T2I_NATIVE || '').trim().toLowerCase();
  if (['0', 'off', 'false', 'no'].includes(flag)) {
    die(`T2I_NATIVE=${process.env.T2I_NATIVE} turns the native kernels off, but the tests require them: unset it, or run npm test -- --no-native`);
  }
  const why = nativeBuildNeeded();
  if (why) {
    console.log(`npm test: building the native kernels (${why})`);
    if (sh(process.execPath, ['scripts/build-native.js', '--strict']) !== 0) {
      die('the native kernels did not build (the reason is above, and in build/native-build.json); fix that, or run npm test -- --no-native');
    }
  }
  const r = spawnSync(process.execPath, ['bin/t2i-align.js', 'info', '--json'], { cwd: root, encoding: 'utf8', env: { ...env, T2I_BACKEND: 'wasm' } });
  let native;
  try {
    native = JSON.parse(r.stdout).native;
  } catch {
    die(`\`t2i-align info --json\` failed: ${(r.stderr || '').trim().split('\n')[0]}`);
  }
  if (!native || !native.active) {
    die(`the native kernels are not active after the build: ${native ? native.reason : 'no native status'}; fix that, or run npm test -- --no-native`);
  }
  console.log(`npm test: native kernels active (${native.reason}; ${native.library})`);
}

/**
 * The tests a TAP report marks as skipped or to-do: "ok 3 - name # SKIP reason" -> "name (reason)". A to-do test
 * passes whatever it does (node:test reports a failing one as "not ok ... # TODO" and exits 0), so it counts too.
 */
function skippedTests(tapFile) {
  const skipped = [];
  for (const line of fs.readFileSync(tapFile, 'utf8').split('\n')) {
    const m = /^\s*(?:not )?ok \d+ - (.*?) # (SKIP|TODO)\b\s*(.*)$/i.exec(line);
    if (m) skipped.push(`${m[1]} (${m[2].toLowerCase()}${m[3] ? `: ${m[3]}` : ''})`);
  }
  return skipped;
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
  const tap = path.join(root, 'results', 'test.tap');
  fs.mkdirSync(path.dirname(tap), { recursive: true });
  const status = sh(process.execPath, [
    '--import', 'tsx', '--test', '--test-concurrency=1',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${path.relative(root, tap)}`,
    ...files,
  ], { env: { ...env, ...(requireNative ? {} : { T2I_ALLOW_NO_NATIVE: '1' }) } });
  if (status !== 0) die('unit tests failed');
  const skipped = skippedTests(tap);
  if (skipped.length === 0) return;
  const list = skipped.map((s) => `  ${s}`).join('\n');
  const allowed = skipped.filter((s) => !requireNative && s.includes('allowed by --no-native'));
  if (allowed.length === skipped.length) {
    console.log(`npm test: ${skipped.length} test(s) skipped (they need the native kernels; allowed by --no-native):\n${list}`);
    return;
  }
  die(`${skipped.length} tests were skipped or marked to-do (either is a failure here; TAP report: results/test.tap):\n${list}`);
}

function notebooks() {
  const dir = path.join(root, 'notebooks');
  const nbs = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.ipynb')).sort() : [];
  if (nbs.length === 0) return;
  // The kit's kernel, by absolute paths, in the user's kernel folder (as `npm run notebooks` registers it).
  try {
    require('./notebooks.js').registerKernel({ python: '/usr/bin/python3' });
  } catch (e) {
    die(`cannot register the notebooks' kernel: ${e.message}`);
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

const inCI = Boolean(process.env.CI) && !['0', 'false'].includes(process.env.CI.toLowerCase());
if (!requireNative && inCI) die('--no-native is refused in CI (CI is set): CI must run the native kernels\' tests');
ensureSystem();
build();
ensureNative();
if (runUnit) unitTests();
if (runNotebooks) notebooks();
console.log('npm test: all passed');
