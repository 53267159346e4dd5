#!/usr/bin/env node
// Build the optional native kernels (native/t2i_native.cc -> build/Release/t2i_native.node)
// with node-gyp, against Node's own headers and Debian's OpenBLAS (libopenblas-dev).
// Run by `npm install` (package.json "install") and `npm run build:native`.
//
// It never fails the install: without a C++ compiler, OpenBLAS or node-gyp it
// prints why, writes build/native-build.json {ok:false, reason}, and the kit
// runs on the plain wasm kernels (`t2i-align info` then says why).
// T2I_NATIVE=0 (or off) skips the build. `--strict` exits 1 on failure (CI).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const buildDir = path.join(root, 'build');
const report = path.join(buildDir, 'native-build.json');
const addon = path.join(buildDir, 'Release', 't2i_native.node');
const strict = process.argv.includes('--strict');

function write(ok, reason, extra = {}) {
  fs.mkdirSync(buildDir, { recursive: true });
  fs.writeFileSync(report, JSON.stringify({ ok, reason, node: process.version, at: new Date().toISOString(), ...extra }, null, 2) + '\n');
}
function skip(reason) {
  process.stderr.write(`t2i-align: native kernels not built (${reason}); using the plain wasm kernels.\n`);
  write(false, reason);
  process.exit(strict ? 1 : 0);
}
function run(cmd, args, opts = {}) {
  return spawnSync(cmd, args, { cwd: root, encoding: 'utf8', ...opts });
}

const flag = (process.env.T2I_NATIVE || '').trim().toLowerCase();
if (['0', 'off', 'false', 'no'].includes(flag)) skip(`T2I_NATIVE=${process.env.T2I_NATIVE}`);
if (os.platform() !== 'linux' && os.platform() !== 'darwin') skip(`platform ${os.platform()} is not supported by the build script`);

// 1. A C++ compiler.
const cxx = process.env.CXX || 'c++';
const v = run(cxx, ['--version']);
if (v.error || v.status !== 0) skip(`no C++ compiler (${cxx}); install build-essential (g++, make)`);
if (run('make', ['--version']).status !== 0) skip('no make; install build-essential');

// 2. OpenBLAS: link a two-line program against it.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 't2i-blas-'));
try {
  const src = path.join(tmp, 't.cc');
  fs.writeFileSync(src, 'extern "C" void openblas_set_num_threads(int);\nextern "C" void cblas_sgemm();\nint main(){openblas_set_num_threads(1);(void)&cblas_sgemm;return 0;}\n');
  const r = run(cxx, [src, '-o', path.join(tmp, 't'), '-lopenblas']);
  if (r.status !== 0) skip('OpenBLAS not found (-lopenblas failed to link); install libopenblas-dev');
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

// 3. node-gyp: the one npm ships (npm sets npm_config_node_gyp in scripts), else next to this node's npm, else a local one.
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    process.env.npm_execpath && path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] }));
  } catch {}
  return candidates.find((c) => c && fs.existsSync(c));
}
const gyp = findNodeGyp();
if (!gyp) skip('node-gyp not found (it ships with npm)');

// 4. Headers: node-gyp must not download them (offline machines). Use npm's nodedir
// setting, else the headers next to this node binary (e.g. /usr/include/node for Debian's nodejs).
const args = [gyp, 'rebuild'];
const nodedir = process.env.npm_config_nodedir;
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (nodedir) args.push(`--nodedir=${nodedir}`);
else if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) && fs.existsSync(path.join(prefix, 'include', 'node', 'common.gypi'))) {
  args.push(`--nodedir=${prefix}`);
}
const b = run(process.execPath, args, { env: { ...process.env, npm_config_loglevel: 'warn' } });
if (b.status !== 0 || !fs.existsSync(addon)) {
  const tail = `${b.stdout || ''}${b.stderr || ''}`.trim().split('\n').slice(-6).join(' | ');
  skip(`node-gyp failed: ${tail || (b.error && b.error.message) || 'unknown error'}`);
}

// 5. Load it once in a child (a broken .so must not pass).
const check = run(process.execPath, ['-e', `const a=require(${JSON.stringify(addon)});process.stdout.write(JSON.stringify(a.info()))`]);
if (check.status !== 0) {
  fs.rmSync(addon, { force: true });
  skip(`built addon failed to load: ${(check.stderr || '').trim().split('\n')[0]}`);
}
const info = JSON.parse(check.stdout);
write(true, 'built', { library: info.config });
process.stderr.write(`t2i-align: native kernels built (${info.config}).\n`);
